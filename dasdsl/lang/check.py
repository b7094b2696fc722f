"""AST to checked space: the checker's passes run in order, then every diagnostic is reported at once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from dasdsl.errors import DasError, Diagnostic, Span
from dasdsl.lang import ast
from dasdsl.lang.checked import CellInstance, CheckedSpace, GivenLet
from dasdsl.lang.passes import bind, cells, names, network, search_block
from dasdsl.lang.passes.context import CheckState
from dasdsl.lang.passes.dag import MERGES
from dasdsl.lang.passes.names import INPUT_KINDS, RESERVED
from dasdsl.lang.passes.network import MAX_REPEAT
from dasdsl.lang.passes.text import show
from dasdsl.lang.settings import SEARCH_KEYS

__all__ = ["INPUT_KINDS", "MAX_REPEAT", "MERGES", "PASSES", "RESERVED", "SEARCH_KEYS", "Checker", "check"]

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


class Checker:
    """What later stages may still ask of a checked module (``CheckedSpace.checker``).

    ``instantiate`` builds nested cells for the compiler; ``cells``, ``eval`` and ``classes`` serve
    discretization and the IR. Diagnostics found after the check are not reported.
    """

    def __init__(self, ctx: CheckState) -> None:
        self.ctx = ctx

    @property
    def cells(self) -> dict[str, ast.CellDecl | ast.CellDerive]:
        return self.ctx.cells

    @property
    def classes(self) -> int | None:
        return self.ctx.classes

    def eval(self, e: ast.Expr, env: dict[str, Any], *, symbols: bool = False) -> Any:
        return self.ctx.eval(e, env, symbols=symbols)

    def instantiate(
        self, name: str, args: dict[str, Any], span: Span, *, symbolic: bool = False, type_name: str | None = None
    ) -> CellInstance | None:
        return cells.instantiate(self.ctx, name, args, span, symbolic=symbolic, type_name=type_name)


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
    if ctx.train_lets:
        _check_train_lets(module, source, classes, ctx)
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
        checker=Checker(ctx),
    )


def _run(module: ast.Module, source: str | None, classes: int | None, given: dict[str, GivenLet]) -> CheckState:
    ctx = CheckState(module, source, classes, given)
    for run in PASSES:
        run(ctx)
    return ctx


def _check_train_lets(module: ast.Module, source: str | None, classes: int | None, ctx: CheckState) -> None:
    """The space checked again with the train block's constants given: ``train { let C = -1 }`` builds a
    network that ``dasdsl train`` and ``export`` would refuse, so ``check`` refuses it, at the use."""
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
