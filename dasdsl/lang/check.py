"""AST to checked space: the checker's passes run in order, then every diagnostic is reported at once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from dasdsl.errors import DasError, Diagnostic, Span
from dasdsl.lang import ast
from dasdsl.lang.checked import CellInstance, CheckedSpace
from dasdsl.lang.passes import bind, cells, names, network, search_block
from dasdsl.lang.passes.context import Context
from dasdsl.lang.passes.dag import MERGES
from dasdsl.lang.passes.names import INPUT_KINDS, RESERVED
from dasdsl.lang.passes.network import MAX_REPEAT
from dasdsl.lang.settings import SEARCH_KEYS

__all__ = ["INPUT_KINDS", "MAX_REPEAT", "MERGES", "PASSES", "RESERVED", "SEARCH_KEYS", "Checker", "check"]

Pass = Callable[[Context], None]

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

    def __init__(self, ctx: Context) -> None:
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


def check(module: ast.Module, source: str | None = None, *, classes: int | None = None) -> CheckedSpace:
    """Resolve and check a parsed module; raise DasError listing every error found."""
    ctx = Context(module, source, classes)
    for run in PASSES:
        run(ctx)
    diags = _dedupe(ctx.diags)
    if any(d.severity == "error" for d in diags):
        raise DasError(diags, source)
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
