"""The search block: known keys, each given once, values folded with bare names kept as symbols, settings
that cannot go together."""

from __future__ import annotations

from typing import Any

from dasdsl.errors import DasError, suggest
from dasdsl.lang import ast
from dasdsl.lang.passes.context import Context
from dasdsl.lang.settings import SEARCH_KEYS, check_entry, combination_problem, problem_span, resolve


def evaluate(ctx: Context) -> None:
    """Fold the first search block's entries into ``ctx.search`` (duplicate blocks are the names pass's)."""
    result: dict[str, tuple[Any, ...]] = {}
    entries: dict[str, ast.SearchEntry] = {}
    for block in ctx.module.statements(ast.SearchDecl)[:1]:
        for entry in block.entries:
            if entry.key not in SEARCH_KEYS:
                ctx.err(
                    f"unknown search setting '{entry.key}'",
                    ctx.name_span(entry.span, entry.key),
                    suggest(entry.key, SEARCH_KEYS) or "see docs/language.md for the settings",
                )
                continue
            if entry.key in result:
                ctx.err(f"search setting '{entry.key}' is given twice", ctx.name_span(entry.span, entry.key))
                continue
            values = tuple(ctx.eval(v, ctx.constants, symbols=True) for v in entry.values)
            if all(v is not None for v in values):
                validate_entry(ctx, entry, values)
                result[entry.key] = values
                entries[entry.key] = entry
    check_together(ctx, result, entries)
    ctx.search = result


def validate_entry(ctx: Context, entry: ast.SearchEntry, values: tuple[Any, ...]) -> None:
    """Check one evaluated entry's values with the settings table: the code ``resolve`` runs, so
    ``dasdsl check`` rejects what ``dasdsl run`` would, at the value's or argument's own location."""
    for problem in check_entry(entry.key, values):
        ctx.err(problem.message, problem_span(entry, problem), problem.hint)


def check_together(ctx: Context, result: dict[str, tuple[Any, ...]], entries: dict[str, ast.SearchEntry]) -> None:
    """Settings of the block that cannot go together (``discretize perturbation`` with ``top 3``), reported at
    the discretization rule; a run checks its final configuration the same way (``settings.check_config``)."""
    if "discretize" not in result or not ({"top", "constraint"} & result.keys()):
        return
    try:
        cfg = resolve({k: result[k] for k in ("discretize", "top", "constraint") if k in result})
    except DasError:
        return  # a bad value: reported at the entry already
    problem = combination_problem(cfg)
    if problem is not None:
        entry = entries["discretize"]
        ctx.err(problem[0], entry.values[0].span if entry.values else entry.span, problem[1])
