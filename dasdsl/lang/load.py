"""Text or file to checked space: the language layer's one entry point (plugins first, then parse and check)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from dasdsl.errors import Span, did_you_mean, fail
from dasdsl.files import read_text
from dasdsl.lang import ast
from dasdsl.lang.check import check
from dasdsl.lang.checked import CheckedSpace, GivenLet
from dasdsl.lang.parse import parse
from dasdsl.lang.printer import format_das
from dasdsl.ops.registry import load_plugins


def read_source(path: str | Path) -> str:
    """A .das file's text; a missing, unreadable, huge or non-UTF-8 file is a user error."""
    return read_text(path, ".das file")


def check_text(text: str, file: str = "<string>", plugins: Sequence[str] = ()) -> CheckedSpace:
    """Import the plugin modules named, then parse and check ``text``."""
    load_plugins(tuple(plugins))
    return check(parse(text, file), text)


def check_file(path: str | Path, plugins: Sequence[str] = ()) -> CheckedSpace:
    return check_text(read_source(path), str(path), plugins)


def with_lets(
    space: CheckedSpace,
    values: Mapping[str, int | float | str],
    plugins: Sequence[str] = (),
    *,
    given_by: str = "--let {name}={value}",
) -> CheckedSpace:
    """The space with some of its ``let`` constants given other values, checked again: the DARTS evaluation
    trains a cell searched at C = 16 at C = 36 (``dasdsl train RESULT.das --let C=36``).

    A value is validated like a number written in the file (a string is read as one: ``"36"``, ``"-1"``,
    ``"1e400"`` is too large), then the space is checked with it, so an error points at the user's file
    with a note naming ``given_by`` (formatted with the constant's name and value)."""
    lets = {s.name: s for s in space.module.body if isinstance(s, ast.LetDecl)}
    given: dict[str, GivenLet] = {}
    for name, value in values.items():
        origin = given_by.format(name=name, value=value)
        if name not in lets:
            known = ", ".join(lets) or "none"
            raise fail(
                f"{origin}: space '{space.name}' has no constant {name} (its constants: {known})",
                space.module.space.span,
                did_you_mean(name, lets) or "a constant is declared with `let NAME = value`",
            )
        number, problem = _let_value(value)
        if problem is not None:
            raise fail(f"{origin}: {problem[0]}", lets[name].value.span, problem[1], source=space.source)
        given[name] = GivenLet(number, origin)  # type: ignore[arg-type]
    check(space.module, space.source, given=given)  # errors located in the user's file, noting the values
    body = tuple(_given(s, {k: g.value for k, g in given.items()}) for s in space.module.body)
    shown = ", ".join(f"{k}={g.value}" for k, g in given.items())
    file = f"{space.module.space.span.file} (with {shown})"
    return check_text(format_das(attrs.evolve(space.module, body=body)), file, plugins)


def _let_value(value: object) -> tuple[int | float | None, tuple[str, str] | None]:
    """A given constant's value and, when it is no number a .das file could hold, (why, hint)."""
    hint = "give a number, e.g. C=36"
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text.startswith("-") else text
        if not _NUMBER.fullmatch(digits):
            return None, (f"expected a number, got {value!r}", hint)
        try:
            number = ast.number_value(digits)
        except ast.NumberError as exc:
            return None, (exc.message, exc.hint)
        return (-number if text.startswith("-") else number), None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, (f"a number is needed, got {value!r}", hint)
    if isinstance(value, float) and not math.isfinite(value):
        return None, (f"{value} is not a finite number", ast.FINITE_HINT)
    if isinstance(value, int) and abs(value) >= 10**ast.MAX_DIGITS:
        return None, (f"number too long: more than {ast.MAX_DIGITS} digits", ast.LONG_HINT)
    return value, None


_NUMBER = re.compile(r"([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][+-]?[0-9]+)?")  # the grammar's NUMBER


def for_training(space: CheckedSpace, plugins: Sequence[str] = ()) -> CheckedSpace:
    """The space as ``dasdsl train`` and ``dasdsl export`` build it: the train block's ``let`` constants given
    (``train { let C = 36 }``). Constants the caller already gave (``--let``) are no longer in the block."""
    if not space.train_lets:
        return space
    return with_lets(space, space.train_lets, plugins, given_by="the train block's 'let {name} = {value}'")


def _given(stmt: ast.TopStmt, values: Mapping[str, int | float]) -> ast.TopStmt:
    """A top-level statement with the given constants: a ``let`` takes its new value; a train block loses its
    own ``let`` of that name (the value given wins, and the text says which value the network was built with)."""
    if isinstance(stmt, ast.LetDecl) and stmt.name in values:
        return attrs.evolve(stmt, value=_literal(values[stmt.name], stmt.value.span))
    if isinstance(stmt, ast.TrainDecl):
        kept = tuple(e for e in stmt.entries if not (isinstance(e, ast.LetDecl) and e.name in values))
        return attrs.evolve(stmt, entries=kept)
    return stmt


def _literal(value: int | float, span: Span) -> ast.Expr:
    """A number as the parser reads it: a negative one is ``-`` applied to a number."""
    if value < 0:
        return ast.Neg(ast.Number(-value, span=span), span=span)
    return ast.Number(value, span=span)
