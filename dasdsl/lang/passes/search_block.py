"""The search and train blocks: known keys, each given once, values folded with bare names kept as symbols,
settings that cannot go together; the train block's ``let`` constants name constants of the space."""

from __future__ import annotations

from typing import Any

from dasdsl.errors import DasError, did_you_mean, suggest
from dasdsl.lang import ast
from dasdsl.lang.fold import is_number
from dasdsl.lang.passes.context import CheckState
from dasdsl.lang.settings import SEARCH, TRAIN, SettingsTable, combination_problem, problem_span, resolve


def evaluate(ctx: CheckState) -> None:
    """Fold the first search block's entries into ``ctx.search`` (duplicate blocks are the names pass's)."""
    entries: dict[str, ast.SearchEntry] = {}
    for block in ctx.module.statements(ast.SearchDecl)[:1]:
        ctx.search = _entries(ctx, SEARCH, block.entries, entries)
    check_together(ctx, ctx.search, entries)


def evaluate_train(ctx: CheckState) -> None:
    """Fold the first train block's settings into ``ctx.train`` and its ``let`` constants into
    ``ctx.train_lets``: each names a constant of the space, once, with a number."""
    for block in ctx.module.statements(ast.TrainDecl)[:1]:
        ctx.train = _entries(ctx, TRAIN, block.settings, {})
        for let in block.lets:
            if let.name in ctx.given:
                continue  # a value given from outside wins over the block's (and the network is built with it)
            where = ctx.name_span(let.span, let.name, after=1)
            if let.name not in ctx.constants:
                known = ", ".join(ctx.constants) or "none"
                ctx.err(
                    f"train block: 'let {let.name}' names no constant of the space (its constants: {known})",
                    where,
                    did_you_mean(let.name, ctx.constants) or "declare it at the top: let NAME = value",
                )
                continue
            if let.name in ctx.train_lets:
                ctx.err(f"train block: constant '{let.name}' is given twice", where)
                continue
            value = ctx.eval(let.value, ctx.constants)
            if value is None:
                continue
            if not is_number(value):
                ctx.err(f"train block: 'let {let.name}' needs a number", let.value.span)
                continue
            ctx.train_lets[let.name] = value


def _entries(
    ctx: CheckState, table: SettingsTable, block: tuple[ast.SearchEntry, ...], entries: dict[str, ast.SearchEntry]
) -> dict[str, tuple[Any, ...]]:
    """A block's entries, evaluated and checked with its settings table (``entries`` collects them by key)."""
    result: dict[str, tuple[Any, ...]] = {}
    for entry in block:
        if entry.key not in table.keys:
            ctx.err(
                f"unknown {table.block} setting '{entry.key}'",
                ctx.name_span(entry.span, entry.key),
                suggest(entry.key, table.keys) or "see docs/language.md for the settings",
            )
            continue
        if entry.key in result:
            ctx.err(f"{table.block} setting '{entry.key}' is given twice", ctx.name_span(entry.span, entry.key))
            continue
        values = tuple(ctx.eval(v, ctx.constants, symbols=True) for v in entry.values)
        if all(v is not None for v in values):
            validate_entry(ctx, entry, values, table)
            result[entry.key] = values
            entries[entry.key] = entry
    return result


def validate_entry(
    ctx: CheckState, entry: ast.SearchEntry, values: tuple[Any, ...], table: SettingsTable = SEARCH
) -> None:
    """Check one evaluated entry's values with the settings table: the code ``resolve`` runs, so
    ``dasdsl check`` rejects what ``dasdsl run`` (or ``train``) would, at the value's or argument's location."""
    for problem in table.check_entry(entry.key, values):
        ctx.err(problem.message, problem_span(entry, problem), problem.hint)


def check_together(ctx: CheckState, result: dict[str, tuple[Any, ...]], entries: dict[str, ast.SearchEntry]) -> None:
    """Settings of the block that cannot go together (``discretize perturbation`` with ``top 3``, ``warmup`` not
    below ``epochs``), reported at the setting the problem names; a run checks its final configuration the same
    way (``settings.check_config``), flags and keywords included."""
    together = [keys for keys in (("discretize", "top", "constraint"), ("warmup", "epochs")) if keys[0] in result]
    given = {k: result[k] for keys in together for k in keys[1:] if k in result}
    if not given:
        return
    try:
        cfg = resolve({**{keys[0]: result[keys[0]] for keys in together}, **given})
    except DasError:
        return  # a bad value: reported at the entry already
    problem = combination_problem(cfg)
    if problem is not None:
        entry = entries[problem[2]]
        ctx.err(problem[0], entry.values[0].span if entry.values else entry.span, problem[1])
