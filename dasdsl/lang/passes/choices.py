"""The right side of '~': one op chain, an op set, or a candidate list, resolved to candidates; an op with
value lists (``conv(k = [3, 5, 7])``) stands for one candidate per combination of its values."""

from __future__ import annotations

import itertools
import math
from typing import Any

import attrs

from dasdsl.lang import ast
from dasdsl.lang.checked import Candidate, Unknown
from dasdsl.lang.passes.bind import expand
from dasdsl.lang.passes.context import CheckState, Env
from dasdsl.lang.passes.text import show
from dasdsl.ops import registry

UNSEARCHABLE = ("stride",)  # a value list here would change the edge's shape between candidates

# The candidates one edge may expand to. Value lists multiply (``conv(k = [3, 5, 7]) then conv(k = [3, 5, 7])``
# is 9 candidates, six lists of ten values a million), so an edge is counted before it is expanded and refused
# past this: each candidate is a module in the supernet, and the largest shipped edge has 8.
MAX_CANDIDATES = 1_000


def candidates(ctx: CheckState, cands: ast.OpList | ast.OpExpr, env: Env) -> tuple[bool, tuple[Candidate, ...] | None]:
    """(is_choice, candidates) for the right side of '~'; an edge of more than MAX_CANDIDATES candidates is
    refused before any is built."""
    size = _size(ctx, cands, (), {})
    if size > MAX_CANDIDATES:
        ctx.err(
            f"this edge expands to {size:,} candidates (at most {MAX_CANDIDATES:,})",
            cands.span,
            "every value list multiplies the candidates of its op: search fewer values, or split the choice "
            "over several nodes",
        )
        return True, None
    if isinstance(cands, ast.OpExpr):
        if len(cands.steps) == 1 and not cands.steps[0].args and cands.steps[0].func in ctx.opsets:
            name = cands.steps[0].func
            ctx.used.add(name)
            opset = ctx.opsets[name]
            if not opset.ops.ops:
                return True, None  # reported at the op set
            return True, _list(ctx, opset.ops, env, (name,))
        if _lists(cands):
            return True, _expanded(ctx, cands, env)
        cand = expand(ctx, cands, env, in_choice=True)
        return False, None if cand is None else (cand,)
    if not cands.ops:
        ctx.err("empty candidate list", cands.span, "list at least one op, e.g. [skip, conv(3)]")
        return True, None
    return True, _list(ctx, cands, env)


def _list(ctx: CheckState, ops: ast.OpList, env: Env, within: tuple[str, ...] = ()) -> tuple[Candidate, ...] | None:
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
        elif _lists(op):
            expanded = _expanded(ctx, op, env)
            parts = expanded or ()
            ok = ok and expanded is not None
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


def _size(ctx: CheckState, cands: ast.OpList | ast.OpExpr, within: tuple[str, ...], sets: dict[str, int]) -> int:
    """How many candidates the right side of '~' stands for, counted without expanding it: an op with value
    lists stands for the product of their lengths (times its repeat counts), an op set for the sum of its
    members (``sets``: op sets counted so far; a set inside itself counts 0, reported where it is flattened)."""
    if isinstance(cands, ast.OpList):
        return sum(_size(ctx, op, within, sets) for op in cands.ops)
    if len(cands.steps) == 1 and not cands.steps[0].args and cands.steps[0].func in ctx.opsets:
        name = cands.steps[0].func
        if name in within:
            return 0
        if name not in sets:
            sets[name] = _size(ctx, ctx.opsets[name].ops, (*within, name), sets)
        return sets[name]
    lengths = [len(cands.steps[i].args[j].value.items) for i, j in _lists(cands) if i >= 0]  # type: ignore[union-attr]
    repeats = len(cands.repeat.items) if isinstance(cands.repeat, ast.ValueList) else 1
    return repeats * math.prod(lengths)


# ---- searched values ------------------------------------------------------------------


def _lists(op: ast.OpExpr) -> list[tuple[int, int]]:
    """(step, argument) positions of the op's value lists; (-1, -1) for a searched repeat count (x [1, 2])."""
    found = [
        (i, j)
        for i, call in enumerate(op.steps)
        for j, arg in enumerate(call.args)
        if isinstance(arg.value, ast.ValueList)
    ]
    return found + ([(-1, -1)] if isinstance(op.repeat, ast.ValueList) else [])


def _expanded(ctx: CheckState, op: ast.OpExpr, env: Env) -> tuple[Candidate, ...] | None:
    """One candidate per combination of the op's listed values, in the order written (the last list varies
    fastest), all of one group; None after reporting a bad list."""
    # a searched repeat (x [1, 2]): its counts, the slowest-varying part; at most MAX_CHAIN_REPEAT (expand's check)
    counts = ctx.repeat_counts(op.repeat, env, "repeat") if isinstance(op.repeat, ast.ValueList) else (None,)
    positions = [p for p in _lists(op) if p != (-1, -1)]
    ok = counts is not None
    for i, j in positions:
        ok = _check_list(ctx, op.steps[i], op.steps[i].args[j], j, env) and ok
    if not ok or counts is None:
        return None
    ctx.value_groups += 1
    lists = [op.steps[i].args[j].value.items for i, j in positions]  # type: ignore[union-attr]
    out = []
    for count, values in itertools.product(counts, itertools.product(*lists)):
        chosen = dict(zip(positions, values))
        repeat = op.repeat if count is None else (ast.Number(count) if count > 1 else None)
        steps = tuple(
            attrs.evolve(
                call,
                args=tuple(
                    attrs.evolve(arg, value=chosen[(i, j)]) if (i, j) in chosen else arg
                    for j, arg in enumerate(call.args)
                ),
            )
            for i, call in enumerate(op.steps)
        )
        cand = expand(ctx, attrs.evolve(op, steps=steps, repeat=repeat), env, in_choice=True)
        if cand is None:
            return None
        out.append(attrs.evolve(cand, group=ctx.value_groups, written=op))
    return tuple(out)


def _check_list(ctx: CheckState, call: ast.Call, arg: ast.Arg, position: int, env: Env) -> bool:
    """A value list is not empty, sits on a searchable argument, and holds distinct values of one type."""
    values = arg.value
    assert isinstance(values, ast.ValueList)
    if not values.items:
        ctx.err("empty value list", values.span, "list at least one value, e.g. k = [3, 5]")
        return False
    spec = registry.lookup(call.func) if call.func not in ctx.opdefs and call.func not in ctx.cells else None
    if spec is not None:
        names = [p.name for p in spec.params]
        positional = sum(1 for a in call.args[:position] if a.name is None)
        name = arg.name if arg.name is not None else names[positional] if positional < len(names) else None
        param = next((p for p in spec.params if p.name == name), None)
        if param is not None and (param.type == "any" or param.name in UNSEARCHABLE):
            searchable = [p.name for p in spec.params if p.type != "any" and p.name not in UNSEARCHABLE]
            ctx.err(
                f"argument '{param.name}' of '{call.func}' cannot take a value list",
                values.span,
                f"'{call.func}' searches " + ", ".join(searchable)
                if searchable
                else f"'{call.func}' has no searchable argument",
            )
            return False
    evaluated = [ctx.eval(item, env) for item in values.items]
    if any(v is None for v in evaluated):
        return False
    kinds = {_kind(v) for v in evaluated if not isinstance(v, Unknown)}
    if len(kinds) > 1:
        ctx.err(
            f"mixed types in value list: {', '.join(sorted(kinds))}",
            values.span,
            "the values of one list are all integers (k = [3, 5]) or all numbers (p = [0.1, 0.2])",
        )
        return False
    seen: list[Any] = []
    for item, v in zip(values.items, evaluated):
        if not isinstance(v, Unknown) and v in seen:
            ctx.err(f"value {show(v)} appears twice in the list", item.span, "list each value once")
            return False
        seen.append(v)
    return True


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integers"
    if isinstance(v, float):
        return "numbers"
    if isinstance(v, str):
        return "strings"
    return type(v).__name__
