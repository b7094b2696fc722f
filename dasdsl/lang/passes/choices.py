"""The right side of '~': one op chain, an op set, or a candidate list, resolved to candidates."""

from __future__ import annotations

from dasdsl.lang import ast
from dasdsl.lang.checked import Candidate
from dasdsl.lang.passes.bind import expand
from dasdsl.lang.passes.context import Context, Env


def candidates(ctx: Context, cands: ast.OpList | ast.OpExpr, env: Env) -> tuple[bool, tuple[Candidate, ...] | None]:
    """(is_choice, candidates) for the right side of '~'."""
    if isinstance(cands, ast.OpExpr):
        if len(cands.steps) == 1 and not cands.steps[0].args and cands.steps[0].func in ctx.opsets:
            name = cands.steps[0].func
            ctx.used.add(name)
            opset = ctx.opsets[name]
            if not opset.ops.ops:
                return True, None  # reported at the op set
            return True, _list(ctx, opset.ops, env, (name,))
        cand = expand(ctx, cands, env, in_choice=True)
        return False, None if cand is None else (cand,)
    if not cands.ops:
        ctx.err("empty candidate list", cands.span, "list at least one op, e.g. [skip, conv(3)]")
        return True, None
    return True, _list(ctx, cands, env)


def _list(ctx: Context, ops: ast.OpList, env: Env, within: tuple[str, ...] = ()) -> tuple[Candidate, ...] | None:
    """A candidate list, op sets in it flattened (``within``: the sets being flattened, for cycles)."""
    result: list[Candidate] = []
    ok = True
    labels: set[str] = set()
    for op in ops.ops:
        if len(op.steps) == 1 and not op.steps[0].args and op.steps[0].func in ctx.opsets:
            name = op.steps[0].func
            ctx.used.add(name)
            if name in within:
                path = " -> ".join([*within[within.index(name) :], name])
                ctx.err(
                    f"op set '{name}' contains itself: {path}",
                    op.span,
                    "an op set may list other sets, but not itself",
                )
                ok = False
                continue
            inner = _list(ctx, ctx.opsets[name].ops, env, (*within, name))
            parts = inner or ()
            ok = ok and inner is not None
        else:
            cand = expand(ctx, op, env, in_choice=True)
            parts = (cand,) if cand is not None else ()
            ok = ok and cand is not None
        for cand in parts:
            label = cand.label
            if label in labels:
                ctx.err(f"duplicate candidate '{label}'", op.span, "each candidate may appear once in a choice")
                ok = False
            labels.add(label)
            result.append(cand)
    return tuple(result) if ok else None
