"""The search block: known keys, each given once, values folded with bare names kept as symbols."""

from __future__ import annotations

from typing import Any

from dasdsl.lang import ast
from dasdsl.lang.passes.context import Context
from dasdsl.lang.passes.text import suggest

SEARCH_KEYS = (
    "data",
    "epochs",
    "batch",
    "split",
    "seed",
    "weights",
    "arch",
    "hypergradient",
    "gate",
    "discretize",
    "penalty",
    "constraint",
    "partial_channels",
    "grad_clip",
    "precision",
    "finetune",
    "top",
    "latency_table",
)


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
    """Check one evaluated entry's values against the settings table (to come: dasdsl.lang.settings).

    Called once per known key given once whose values folded without errors; reports through
    ``ctx.err``/``ctx.warn``. It checks nothing yet: the search block's behaviour is unchanged.
    """
