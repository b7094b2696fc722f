"""Cell instantiation: templates checked symbolically, derived cells resolved, input strides, instance hints."""

from __future__ import annotations

import re

import attrs

from dasdsl.errors import Span, suggest
from dasdsl.lang import ast
from dasdsl.lang.checked import CellInstance, Unknown, instance_key
from dasdsl.lang.passes.bind import bind_args
from dasdsl.lang.passes.context import CheckState, Env
from dasdsl.lang.passes.dag import cell_body
from dasdsl.lang.passes.text import builtin_hint, rotate_cycle, show


def check_templates(ctx: CheckState) -> None:
    """Check every cell template, used or not, with symbolic parameters."""
    for name, decl in ctx.cells.items():
        instantiate(ctx, name, {p: Unknown(f"parameter {p}") for p in decl.params}, decl.span, symbolic=True)


def instantiate(
    ctx: CheckState, name: str, args: Env, span: Span, *, symbolic: bool = False, type_name: str | None = None
) -> CellInstance | None:
    """Cell ``name`` applied to ``args`` (memoized); None after reporting its errors.

    Errors that only these arguments cause name the instance (``span``) in their hint.
    """
    key = (*instance_key(name, args), type_name)
    if key in ctx.instances:
        return ctx.instances[key]
    ctx.instances[key] = None  # guards recursion
    first = len(ctx.diags)
    inst = _instantiate(ctx, name, args, type_name or name)
    ctx.instances[key] = inst
    if not symbolic and span.line > 0:
        # errors that only these arguments cause: say which instance
        shown = ", ".join(show(v) for v in args.values())
        context = f"in the instance {name}({shown}) at {span.line}:{span.column}"
        for i in range(first, len(ctx.diags)):
            d = ctx.diags[i]
            if d.severity == "error":
                ctx.diags[i] = attrs.evolve(d, hint=f"{d.hint}; {context}" if d.hint else context)
    return inst


def _instantiate(ctx: CheckState, name: str, args: Env, type_name: str) -> CellInstance | None:
    """Follow ``cell a = b(...)`` derivations to a cell body, then build the body."""
    decl = ctx.cells[name]
    stride: int | None = None  # the outermost declared stride wins
    seen = [name]
    while isinstance(decl, ast.CellDerive):
        env = ctx.scope(args)
        if decl.input_stride is not None:
            s = ctx.positive_int(decl.input_stride, env, "an input stride")
            if _reject_vector_stride(ctx, decl):
                return None
            if s is None:
                return None
            if not isinstance(s, Unknown):
                stride = s if stride is None else stride
        base = decl.base.func
        if base not in ctx.cells:
            ctx.err(
                f"unknown cell '{base}'",
                decl.base.span,
                suggest(base, ctx.cells) or builtin_hint(base),
            )
            return None
        if base in seen:
            _derive_cycle(ctx, seen[seen.index(base) :])
            return None
        seen.append(base)
        ctx.used.add(base)
        bound = bind_args(ctx, decl.base, ctx.cells[base].params, None, env, f"cell '{base}'")
        if bound is None:
            return None
        args, decl = bound, ctx.cells[base]
    if decl.input_stride is not None and stride is None:  # `cell reduce(c) with input stride 2 { ... }`
        env = ctx.scope(args)
        if _reject_vector_stride(ctx, decl):
            return None
        s = ctx.positive_int(decl.input_stride, env, "an input stride")
        if s is None:
            return None
        if not isinstance(s, Unknown):
            stride = s
    return cell_body(ctx, decl, args, stride or 1, type_name, ctx.cells[name])


def _derive_cycle(ctx: CheckState, members: list[str]) -> None:
    """Report ``cell a = b``, ``cell b = a`` once, at the earliest declaration in the cycle."""
    _, order, path = rotate_cycle(members, [ctx.cells[m].span.line for m in members])
    decl = ctx.cells[order[0]]
    assert isinstance(decl, ast.CellDerive)
    ctx.err(
        f"cell '{order[0]}' is derived from itself{path}",
        decl.base.span,
        "derive a cell from a cell declared with a '{ ... }' body",
    )


def _reject_vector_stride(ctx: CheckState, decl: ast.CellDecl | ast.CellDerive) -> bool:
    """Report 'with input stride' in a space whose input is vector; True when reported."""
    if ctx.input_kind != "vector":
        return False
    ctx.err(
        "'with input stride' needs image or sequence input; this space's input is vector",
        _stride_span(ctx, decl),
        "a vector has no resolution to reduce: remove 'with input stride'",
    )
    return True


def _stride_span(ctx: CheckState, decl: ast.CellDecl | ast.CellDerive) -> Span:
    """From 'with' to the end of the stride value."""
    assert decl.input_stride is not None
    value = decl.input_stride.span
    if ctx.lines is None or value.line <= 0 or value.line > len(ctx.lines):
        return value
    text = ctx.lines[value.line - 1][: value.column - 1]
    found = list(re.finditer(r"\bwith\b", text))
    if not found:
        return value
    return Span(value.file, value.line, found[-1].start() + 1, value.end_line, value.end_column)
