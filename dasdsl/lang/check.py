"""AST to checked space: the checker's passes run in order, then every diagnostic is reported at once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import attrs

from dasdsl.errors import DasError, Diagnostic, Span
from dasdsl.lang import ast
from dasdsl.lang.checked import Candidate, CellInstance, CheckedSpace, GivenLet, instance_key
from dasdsl.lang.passes import bind, cells, names, network, search_block
from dasdsl.lang.passes.context import CheckState
from dasdsl.lang.passes.dag import MERGES
from dasdsl.lang.passes.names import INPUT_KINDS, RESERVED
from dasdsl.lang.passes.network import MAX_REPEAT
from dasdsl.lang.passes.text import show
from dasdsl.lang.settings import SEARCH_KEYS

__all__ = ["INPUT_KINDS", "MAX_REPEAT", "MERGES", "PASSES", "RESERVED", "SEARCH_KEYS", "check"]

Pass = Callable[[CheckState], None]

# The order matters: each pass reads what the ones before it found. Diagnostics are sorted by
# position at the end, but the order they were found in decides ties and which duplicate is kept.
PASSES: tuple[Pass, ...] = (
    names.check_inputs,  # one 'input' declaration
    names.collect,  # constants folded; op sets, ops and cells declared; duplicate and reserved names
    names.input_shape,  # the input's kind and sizes
    names.check_blocks,  # one 'network' block, one 'search' block, one 'train' block
    names.check_opsets,  # no empty op set
    bind.check_opdefs,  # each op definition's body expanded with unknown parameters
    cells.check_templates,  # each cell template instantiated with unknown parameters
    network.nesting_cycles,  # no cell used as an op inside itself
    network.resolve,  # the network block: stem, cells (instantiated with their arguments) and head
    search_block.evaluate,  # the search block's settings
    search_block.evaluate_train,  # the train block's settings and constants
    network.cell_types,  # one instance per architecture type, nested cells included
    names.warn_unused,  # op sets, ops and cells never used
)


def check(
    module: ast.Module,
    source: str | None = None,
    *,
    classes: int | None = None,
    given: Mapping[str, GivenLet] | None = None,
) -> CheckedSpace:
    """Resolve and check a parsed module; raise DasError listing every error found.

    ``given``: constants that take other values than their let lines say (``--let C=36``); the errors they
    cause are located in this module's file, each with a note saying which value came from where. A train
    block's constants are checked the same way: the network they build must check too."""
    ctx = _run(module, source, classes, dict(given or {}))
    diags = _dedupe(ctx.diags)
    if any(d.severity == "error" for d in diags):
        raise DasError(_noted(diags, ctx), source)
    runs = [ctx]
    if ctx.train_lets:
        runs.append(_check_train_lets(module, source, classes, ctx))
    # first: the nested instances' op arguments may read `classes` too, and every read counts below
    repeats, nested = _repeats(ctx), _nested(ctx)
    return CheckedSpace(
        module=module,
        name=module.space.name,
        input_kind=ctx.input_kind,
        input_shape=ctx.input_shape,
        input_classes=ctx.input_classes,
        constants=dict(ctx.constants),
        macro=ctx.network,
        cell_types=ctx.cell_types,
        search_block=ctx.search,
        train_block=ctx.train,
        train_lets=dict(ctx.train_lets),
        warnings=tuple(diags),
        source=source,
        cell_decls=dict(ctx.cells),
        classes=classes,
        classes_args=tuple(arg for run in runs for arg in run.classes_args),
        classes_elsewhere=any(run.classes_reads != run.classes_arg_reads for run in runs),
        repeats=repeats,
        nested=nested,
    )


def _run(module: ast.Module, source: str | None, classes: int | None, given: dict[str, GivenLet]) -> CheckState:
    ctx = CheckState(module, source, classes, given)
    for run in PASSES:
        run(ctx)
    return ctx


def _check_train_lets(module: ast.Module, source: str | None, classes: int | None, ctx: CheckState) -> CheckState:
    """The space checked again with the train block's constants given: ``train { let C = -1 }`` builds a
    network that ``dasdsl train`` and ``export`` would refuse, so ``check`` refuses it, at the use. Returns
    that check's state (where it reads ``classes`` matters to binding the class count)."""
    given = dict(ctx.given)
    for block in module.statements(ast.TrainDecl)[:1]:
        for let in block.lets:
            if let.name in ctx.train_lets and let.name not in given:
                where = f"the train block's 'let {let.name}' (line {let.span.line})"
                given[let.name] = GivenLet(ctx.train_lets[let.name], where)
    trained = _run(module, source, classes, given)
    errors = [d for d in _dedupe(trained.diags) if d.severity == "error"]
    if errors:
        raise DasError(_noted(errors, trained), source)
    return trained


def _repeats(ctx: CheckState) -> tuple[int, ...]:
    """The ``x N`` of each item of the network's cells lines, in order (1 where absent, and for a searched
    depth, whose counts are the network's depth choices)."""
    counts: list[int] = []
    for net in ctx.module.statements(ast.NetworkDecl)[:1]:
        for line in net.body:
            if isinstance(line, ast.Cells):
                for item in line.items:
                    value = 1
                    if item.repeat is not None and not isinstance(item.repeat, ast.ValueList):
                        value = ctx.eval(item.repeat, dict(ctx.constants))
                    counts.append(value if isinstance(value, int) else 1)
    return tuple(counts)


def _nested(ctx: CheckState) -> dict[tuple, CellInstance | None]:
    """Every cell used as an op (in the network, in its cells, in those cells' nested cells), instantiated with
    each argument list it is used with: the instances the compiler lowers. After the check, as the compiler
    used to ask the checker for them: what fails here is refused by the compiler, not reported again."""
    nested: dict[tuple, CellInstance | None] = {}
    pending: list[Candidate] = []

    def visit(inst: CellInstance | None) -> None:
        if inst is not None:
            pending.extend(c for e in inst.edges for c in e.candidates)

    net = ctx.network
    if net is not None:
        pending.extend(c for c in (net.stem, net.head) if c is not None)
        for item in net.items:
            visit(item.cell)
            if item.op is not None:
                pending.append(item.op)
    while pending:
        for ref in pending.pop().nested_cells:
            key = instance_key(ref.name, dict(ref.args))
            if key not in nested:
                nested[key] = cells.instantiate(ctx, ref.name, dict(ref.args), Span.unknown())
                visit(nested[key])
    return nested


def _noted(diags: list[Diagnostic], ctx: CheckState) -> list[Diagnostic]:
    """The errors, each noting the constants given other values (they caused it: without them it checked)."""
    if not ctx.given:
        return diags
    notes = []
    for let in ctx.module.statements(ast.LetDecl):
        if let.name in ctx.given:
            given = ctx.given[let.name]
            written = _text(ctx, let.value.span)
            instead = f", not line {let.span.line}'s {let.name} = {written}" if written else ""
            notes.append(f"built with {let.name} = {show(given.value)} from {given.origin}{instead}")
    note = "; ".join(notes)
    return [
        attrs.evolve(d, hint=f"{d.hint}; {note}" if d.hint else note) if d.severity == "error" and note else d
        for d in diags
    ]


def _text(ctx: CheckState, span: Span) -> str | None:
    """The source text of a one-line span."""
    if ctx.lines is None or span.line <= 0 or span.line != span.end_line or span.line > len(ctx.lines):
        return None
    return ctx.lines[span.line - 1][span.column - 1 : span.end_column - 1] or None


def _dedupe(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """One diagnostic per severity, message and position (the first found), sorted by position, errors first."""
    seen: set[tuple] = set()
    out: list[Diagnostic] = []
    for d in diags:
        key = (d.severity, d.message, d.span.line, d.span.column)
        if key not in seen:
            seen.add(key)
            out.append(d)
    out.sort(key=lambda d: (d.span.line, d.span.column, d.severity != "error"))
    return out
