"""Declarations and scopes: the input, top-level blocks, constants, op sets, ops, cells, unused definitions."""

from __future__ import annotations

from dasdsl.errors import Span, suggest
from dasdsl.lang import ast
from dasdsl.lang.passes.context import CheckState
from dasdsl.ops import registry
from dasdsl.wording import plural

INPUT_KINDS = {"image": 3, "sequence": 2, "vector": 1}
RESERVED = ("classes",)


def check_inputs(ctx: CheckState) -> None:
    """A space declares its input once."""
    m = ctx.module
    inputs = m.statements(ast.InputDecl)
    if not inputs:
        ctx.err("missing 'input' declaration", m.space.span, "add 'input image', 'input sequence' or 'input vector'")
    for extra in inputs[1:]:
        ctx.err("duplicate 'input' declaration", extra.span, "a space has one input")


def collect(ctx: CheckState) -> None:
    """Declare every constant, op set, op and cell in order; fold the constants as they come."""
    seen: dict[str, tuple[str, Span]] = {}

    def declare(name: str, kind: str, span: Span) -> bool:
        def where() -> Span:
            return ctx.name_span(span, name, after=1 if kind != "cell" else ctx.words_before_name(span))

        if name in RESERVED:
            ctx.err(f"'{name}' is reserved (the number of classes of the data)", where())
            return False
        if name in seen:
            prev_kind, prev_span = seen[name]
            ctx.err(
                f"duplicate name '{name}': already defined as {prev_kind} at line {prev_span.line}",
                where(),
                "rename one of them",
            )
            return False
        if kind in ("op", "op set") and registry.lookup(name) is not None:
            ctx.err(f"'{name}' is a built-in op and cannot be redefined", where())
            return False
        seen[name] = (kind, span)
        return True

    for stmt in ctx.module.body:
        if isinstance(stmt, ast.LetDecl):
            if declare(stmt.name, "constant", stmt.span):
                given = ctx.given.get(stmt.name)
                value = given.value if given is not None else ctx.eval(stmt.value, ctx.constants)
                ctx.constants[stmt.name] = value
        elif isinstance(stmt, ast.OpSetDecl):
            if declare(stmt.name, "op set", stmt.span):
                ctx.opsets[stmt.name] = stmt
        elif isinstance(stmt, ast.OpDefDecl):
            if declare(stmt.name, "op", stmt.span):
                ctx.opdefs[stmt.name] = stmt
                _check_params(ctx, stmt.params, stmt.span)
        elif isinstance(stmt, (ast.CellDecl, ast.CellDerive)):
            if registry.lookup(stmt.name) is not None:
                ctx.err(
                    f"'{stmt.name}' is a built-in op and cannot name a cell",
                    ctx.name_span(stmt.span, stmt.name, ctx.words_before_name(stmt.span)),
                )
            elif declare(stmt.name, "cell", stmt.span):
                ctx.cells[stmt.name] = stmt
                _check_params(ctx, stmt.params, stmt.span)


def _check_params(ctx: CheckState, params: tuple[str, ...], span: Span) -> None:
    seen: set[str] = set()
    for p in params:
        if p in seen:
            ctx.err(f"duplicate parameter '{p}'", ctx.name_span(span, p, 2))
        seen.add(p)


def input_shape(ctx: CheckState) -> None:
    """The input's kind, and its sizes when given."""
    inputs = ctx.module.statements(ast.InputDecl)
    if inputs:
        ctx.input_shape = _input(ctx, inputs[0])
        if inputs[0].classes is not None:  # `input image(1, 8, 8) classes 10`: a search result's data
            classes = ctx.positive_int(inputs[0].classes, ctx.constants, "the class count")
            if isinstance(classes, int) and classes < 2:
                ctx.err(f"the class count must be at least 2, got {classes}", inputs[0].classes.span)
            elif isinstance(classes, int):
                ctx.input_classes = classes


def _input(ctx: CheckState, decl: ast.InputDecl) -> tuple[int, ...] | None:
    where = ctx.name_span(decl.span, decl.kind, 1)
    if decl.kind not in INPUT_KINDS:
        ctx.err(
            f"unknown input kind '{decl.kind}'",
            where,
            suggest(decl.kind, INPUT_KINDS) or "expected image, sequence or vector",
        )
        return None
    ctx.input_kind = decl.kind
    if decl.shape is None:
        return None
    rank = INPUT_KINDS[decl.kind]
    if len(decl.shape) != rank:
        dims = {"image": "(C, H, W)", "sequence": "(C, L)", "vector": "(F)"}[decl.kind]
        example = {"image": "3, 32, 32", "sequence": "3, 128", "vector": "64"}[decl.kind]
        ctx.err(
            f"input {decl.kind} takes {plural(rank, 'size')} {dims}, got {len(decl.shape)}",
            _shape_span(ctx, decl),
            f"e.g. 'input {decl.kind}({example})', or 'input {decl.kind}' to take the sizes from the data",
        )
        return None
    values = [ctx.positive_int(e, ctx.constants, "an input size") for e in decl.shape]
    if any(v is None for v in values):
        return None
    return tuple(values)  # type: ignore[arg-type]


def _shape_span(ctx: CheckState, decl: ast.InputDecl) -> Span:
    """From the '(' of ``input image(3, 32)`` to its ')'."""
    kind = ctx.name_span(decl.span, decl.kind, 1)
    if ctx.lines is None or kind.line <= 0 or kind.line > len(ctx.lines):
        return decl.span
    start = ctx.lines[kind.line - 1].find("(", kind.end_column - 1)
    if start < 0:
        return decl.span
    return Span(decl.span.file, kind.line, start + 1, decl.span.end_line, decl.span.end_column)


def check_blocks(ctx: CheckState) -> None:
    """A space has one network block, one search block and one train block."""
    for extra in ctx.module.statements(ast.NetworkDecl)[1:]:
        ctx.err("duplicate 'network' block", extra.span)
    for extra in ctx.module.statements(ast.SearchDecl)[1:]:
        ctx.err("duplicate 'search' block", extra.span, "merge the entries into one search block")
    for extra in ctx.module.statements(ast.TrainDecl)[1:]:
        ctx.err("duplicate 'train' block", extra.span, "merge the entries into one train block")


def check_opsets(ctx: CheckState) -> None:
    """An op set lists at least one candidate."""
    for decl in ctx.opsets.values():
        if not decl.ops.ops:
            ctx.err(f"empty candidate list in op set '{decl.name}'", decl.ops.span, "list at least one op")


def warn_unused(ctx: CheckState) -> None:
    """Op sets, ops and cells that nothing refers to."""
    for name, decl in [*ctx.opsets.items(), *ctx.opdefs.items()]:
        if name not in ctx.used:
            kind = "op set" if isinstance(decl, ast.OpSetDecl) else "op"
            ctx.warn(f"{kind} '{name}' is never used", ctx.name_span(decl.span, name, 1))
    for name, cell in ctx.cells.items():
        if name not in ctx.used:
            ctx.warn(f"cell '{name}' is never used", ctx.name_span(cell.span, name, ctx.words_before_name(cell.span)))
