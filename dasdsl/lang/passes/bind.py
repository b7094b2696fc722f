"""Op calls: composite ops expanded, names resolved, arguments bound to signatures from the op registry."""

from __future__ import annotations

from typing import Any

from dasdsl.errors import Span, suggest
from dasdsl.lang import ast
from dasdsl.lang.checked import Candidate, ClassesArg, OpRef, Unknown
from dasdsl.lang.fold import is_number
from dasdsl.lang.passes.context import CheckState, Env
from dasdsl.lang.passes.text import rotate_cycle, show, signature_hint
from dasdsl.ops import registry


def check_opdefs(ctx: CheckState) -> None:
    """Expand each op definition's body once, its parameters unknown."""
    for decl in ctx.opdefs.values():
        env = ctx.scope({p: Unknown(f"parameter {p}") for p in decl.params})
        ctx.expanding.append((decl.name, ctx.name_span(decl.span, decl.name, 1)))
        try:
            expand(ctx, decl.body, env)
        finally:
            ctx.expanding.pop()


MAX_CHAIN_REPEAT = 1_000  # `conv(3) x N` inside a cell: a guard against typos such as `x 100000`
# The op steps one chain expands to, ops defined with repeats expanded (`op a = conv(3) x 1000`,
# `op b = a x 1000` would be a million): each step is a module of the network.
MAX_CHAIN_STEPS = 10_000


def expand(ctx: CheckState, op: ast.OpExpr, env: Env, *, in_choice: bool = False) -> Candidate | None:
    """A chain of op calls as one candidate, composite ops replaced by their steps, ``x N`` repeated; None
    after errors."""
    steps: list[OpRef] = []
    ok = True
    times = 1
    if op.repeat is not None:
        if isinstance(op.repeat, ast.ValueList):
            ctx.err(
                "a searched repeat count (x [1, 2]) is only allowed on a candidate (after '~')",
                op.repeat.span,
                "write one count (x 2) here",
            )
            return None
        n = ctx.positive_int(op.repeat, env, "a repeat count")
        if n is None:
            return None
        if isinstance(n, int) and n > MAX_CHAIN_REPEAT:
            ctx.err(
                f"a repeat count of {n:,} is more than a chain can hold (at most {MAX_CHAIN_REPEAT:,})", op.repeat.span
            )
            return None
        times = n if isinstance(n, int) else 1  # unknown (a parameter): checked per instance
    for call in op.steps:  # expanded once, then repeated
        refs = _call(ctx, call, env, in_choice=in_choice and len(op.steps) == 1)
        if refs is None:
            ok = False
        else:
            steps.extend(refs)
    if ok and len(steps) * times > MAX_CHAIN_STEPS:  # ops defined as repeats of repeats multiply
        ctx.err(
            f"this chain expands to {len(steps) * times:,} op steps (at most {MAX_CHAIN_STEPS:,})",
            op.repeat.span if op.repeat is not None else op.span,
            "an op defined with 'x N' repeats every step of its body N times: repeat less",
        )
        return None
    return Candidate(tuple(steps) * times, op) if ok else None


def _call(ctx: CheckState, call: ast.Call, env: Env, *, in_choice: bool = False) -> list[OpRef] | None:
    name = call.func
    if name in ctx.opsets:
        ctx.err(
            f"op set '{name}' is a list of candidates, not one op",
            ctx.name_span(call.span, name),
            f"use it alone after '~' (x ~ {name}) or inside a candidate list ([{name}, ...])",
        )
        return None
    if name in ctx.opdefs:
        return _call_opdef(ctx, call, env)
    if name in ctx.cells:
        return _call_cell(ctx, call, env)
    spec = registry.lookup(name)
    if spec is None:
        where = ctx.name_span(call.span, name)
        known = [*registry.known_names(), *ctx.opdefs, *ctx.cells]
        if in_choice and not call.args:
            known += list(ctx.opsets)
            ctx.err(f"unknown op or op set '{name}'", where, suggest(name, known))
        else:
            ctx.err(f"unknown op '{name}'", where, suggest(name, known))
        return None
    if ctx.input_kind not in spec.kinds:
        why = spec.what
        vector_ops = [n for n in registry.known_names() if not registry.lookup(n).spatial_only]  # type: ignore[union-attr]
        ctx.err(
            f"'{name}' is {why} and needs image or sequence input; this space's input is {ctx.input_kind}",
            ctx.name_span(call.span, name),
            "vector spaces use " + ", ".join(vector_ops),
        )
        return None
    args = bind_args(ctx, call, tuple(p.name for p in spec.params), spec, env, f"'{name}'")
    if args is None:
        return None
    return [OpRef(name, tuple(args.items()), call.span)]


def _call_opdef(ctx: CheckState, call: ast.Call, env: Env) -> list[OpRef] | None:
    """A defined op: its body's steps, expanded with the call's arguments."""
    name = call.func
    ctx.used.add(name)
    decl = ctx.opdefs[name]
    where = ctx.name_span(call.span, name)
    names = [n for n, _ in ctx.expanding]
    if name in names:
        _op_cycle(ctx, names.index(name), where)
        return None
    args = bind_args(ctx, call, decl.params, None, env, f"op '{name}'")
    if args is None:
        return None
    ctx.expanding.append((name, where))
    try:
        cand = expand(ctx, decl.body, ctx.scope(args))
    finally:
        ctx.expanding.pop()
    return list(cand.steps) if cand is not None else None


def _call_cell(ctx: CheckState, call: ast.Call, env: Env) -> list[OpRef] | None:
    """A cell used as an op: a reference the compiler instantiates; it must read exactly one input."""
    name = call.func
    ctx.used.add(name)
    decl = ctx.cells[name]
    args = bind_args(ctx, call, decl.params, None, env, f"cell '{name}'")
    base = _base_decl(ctx, name)
    if base is not None:
        n_inputs = sum(len(s.names) for s in base.body if isinstance(s, ast.CellInputs))
        if n_inputs != 1:
            ctx.err(
                f"cell '{name}' has {n_inputs} inputs and cannot be used as an op",
                ctx.name_span(call.span, name),
                "a cell used as an op (a candidate on an edge) reads exactly one input",
            )
            return None
    if args is None:
        return None
    return [OpRef(name, tuple(args.items()), call.span, is_cell=True)]


def _op_cycle(ctx: CheckState, start: int, where: Span) -> None:
    """Report ``op a = ... b ...``, ``op b = ... a ...`` once, at the earliest definition in the cycle."""
    members = [n for n, _ in ctx.expanding[start:]]
    # the call inside members[i]'s body that leads to the next member
    calls = [span for _, span in ctx.expanding[start + 1 :]] + [where]
    first, order, path = rotate_cycle(members, [ctx.opdefs[m].span.line for m in members])
    ctx.err(
        f"op '{order[0]}' is defined in terms of itself{path}",
        calls[first],
        "an op may only use built-in ops and ops defined without it",
    )


def _base_decl(ctx: CheckState, name: str) -> ast.CellDecl | None:
    """The cell body a (possibly derived) cell stands for; None for unknown bases and cycles."""
    seen: set[str] = set()
    decl = ctx.cells.get(name)
    while isinstance(decl, ast.CellDerive):
        if decl.name in seen:
            return None
        seen.add(decl.name)
        decl = ctx.cells.get(decl.base.func)
    return decl


def bind_args(
    ctx: CheckState, call: ast.Call, params: tuple[str, ...], spec: registry.OpDef | None, env: Env, what: str
) -> dict[str, Any] | None:
    """Match positional and keyword arguments to parameters, check their types."""
    positional = [a for a in call.args if a.name is None]
    keywords = [a for a in call.args if a.name is not None]
    ok = True
    specs = {p.name: p for p in spec.params} if spec else {}
    required = [p for p in params if (specs[p].required if spec else True)]
    if len(positional) > len(params):
        if not params:
            counted = "takes no arguments"
        elif spec is None or all(p.required for p in spec.params):
            counted = f"takes {len(params)} argument{'s' if len(params) != 1 else ''}"
        else:
            counted = f"takes at most {len(params)} argument{'s' if len(params) != 1 else ''}"
        ctx.err(
            f"{what} {counted}, got {len(positional)}",
            positional[len(params)].span,
            signature_hint(call.func, params, spec),
        )
        return None
    bound: dict[str, ast.Arg] = {}
    for param, arg in zip(params, positional, strict=False):
        bound[param] = arg
    for arg in keywords:
        assert arg.name is not None
        if arg.name not in params:
            ctx.err(
                f"{what} has no parameter '{arg.name}'",
                ctx.name_span(arg.span, arg.name),
                suggest(arg.name, params) or signature_hint(call.func, params, spec),
            )
            ok = False
        elif arg.name in bound:
            ctx.err(f"{what} got parameter '{arg.name}' twice", arg.span)
            ok = False
        else:
            bound[arg.name] = arg
    missing = [p for p in required if p not in bound]
    if missing and ok:
        listed = ", ".join(f"'{m}'" for m in missing)
        ctx.err(
            f"{what} is missing argument{'s' if len(missing) > 1 else ''} {listed}",
            call.span,
            signature_hint(call.func, params, spec),
        )
        return None
    if not ok:
        return None
    values: dict[str, Any] = {}
    for param in params:
        if param not in bound:
            values[param] = specs[param].default
            continue
        v = _arg_value(ctx, bound[param], specs.get(param), env, what, param)
        if v is None:
            ok = False
        values[param] = v
    return values if ok else None


def _arg_value(ctx: CheckState, arg: ast.Arg, p: registry.Param | None, env: Env, what: str, param: str) -> Any:
    """One argument's value, checked against its parameter's type; None after an error.

    An op's argument that reads ``classes`` while it is unknown is a ClassesArg: binding the data's class
    count evaluates and checks it there, without the checker."""
    reads = ctx.classes_reads
    value = arg_value(ctx, arg, p, env, what, param)
    if p is not None and ctx.classes_reads > reads and isinstance(value, Unknown):
        value = ClassesArg(value.why, arg, p, env, what)
        ctx.classes_args.append(value)
        ctx.classes_arg_reads += ctx.classes_reads - reads
    return value


def arg_value(ctx: CheckState, arg: ast.Arg, p: registry.Param | None, env: Env, what: str, param: str) -> Any:
    """One argument's value, checked against its parameter's type; None after an error."""
    if p is None or p.type == "any":
        return ctx.eval(arg.value, env)
    if p.type == "int":
        return ctx.positive_int(arg.value, env, f"{what} argument '{param}'", allow_zero=not p.positive)
    v = ctx.eval(arg.value, env)
    if v is not None and not isinstance(v, Unknown) and not is_number(v):
        ctx.err(f"{what} argument '{param}' must be a number, got {show(v)}", arg.value.span)
        return None
    if is_number(v) and p.bounds is not None and not p.bounds[0] <= v < p.bounds[1]:
        ctx.err(f"{what} argument '{param}' must be in [{p.bounds[0]}, {p.bounds[1]}), got {v}", arg.value.span)
        return None
    return v
