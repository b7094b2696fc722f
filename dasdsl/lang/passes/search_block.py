"""The search block: known keys, each given once, values folded with bare names kept as symbols."""

from __future__ import annotations

from typing import Any

from dasdsl.errors import suggest
from dasdsl.lang import ast
from dasdsl.lang.passes.context import Context
from dasdsl.lang.settings import SEARCH_KEYS, check_entry, problem_span


def evaluate(ctx: Context) -> None:
    """Fold the first search block's entries into ``ctx.search`` (duplicate blocks are the names pass's)."""
    result: dict[str, tuple[Any, ...]] = {}
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
    ctx.search = result


def validate_entry(ctx: Context, entry: ast.SearchEntry, values: tuple[Any, ...]) -> None:
    """Check one evaluated entry's values with the settings table: the code ``resolve`` runs, so
    ``dasdsl check`` rejects what ``dasdsl run`` would, at the value's or argument's own location."""
    for problem in check_entry(entry.key, values):
        ctx.err(problem.message, problem_span(entry, problem), problem.hint)
