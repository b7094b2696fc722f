"""Text or file to checked space: the language layer's one entry point (plugins first, then parse and check)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from dasdsl.errors import DasError, did_you_mean, error
from dasdsl.files import read_text
from dasdsl.lang import ast
from dasdsl.lang.check import check
from dasdsl.lang.checked import CheckedSpace
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


def with_lets(space: CheckedSpace, values: Mapping[str, int | float], plugins: Sequence[str] = ()) -> CheckedSpace:
    """The space with some of its ``let`` constants given other values, checked again: the DARTS evaluation
    trains a cell searched at C = 16 at C = 36 (``dasdsl train RESULT.das --let C=36``)."""
    lets = {s.name: s for s in space.module.body if isinstance(s, ast.LetDecl)}
    for name, value in values.items():
        if name not in lets:
            known = ", ".join(lets) or "none"
            raise DasError(
                [
                    error(
                        f"--let {name}: space '{space.name}' has no constant {name} (its constants: {known})",
                        space.module.space.span,
                        did_you_mean(name, lets) or "a constant is declared with `let NAME = value`",
                    )
                ]
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DasError([error(f"--let {name}: a number is needed, got {value!r}", lets[name].span)])
    body = tuple(_given(s, values) for s in space.module.body)
    shown = ", ".join(f"{k}={v}" for k, v in values.items())
    file = f"{space.module.space.span.file} (with {shown})"
    return check_text(format_das(attrs.evolve(space.module, body=body)), file, plugins)


def for_training(space: CheckedSpace, plugins: Sequence[str] = ()) -> CheckedSpace:
    """The space as ``dasdsl train`` and ``dasdsl export`` build it: the train block's ``let`` constants given
    (``train { let C = 36 }``). Constants the caller already gave (``--let``) are no longer in the block."""
    return with_lets(space, space.train_lets, plugins) if space.train_lets else space


def _given(stmt: ast.TopStmt, values: Mapping[str, int | float]) -> ast.TopStmt:
    """A top-level statement with the given constants: a ``let`` takes its new value; a train block loses its
    own ``let`` of that name (the value given wins, and the text says which value the network was built with)."""
    if isinstance(stmt, ast.LetDecl) and stmt.name in values:
        return attrs.evolve(stmt, value=ast.Number(values[stmt.name], span=stmt.value.span))
    if isinstance(stmt, ast.TrainDecl):
        kept = tuple(e for e in stmt.entries if not (isinstance(e, ast.LetDecl) and e.name in values))
        return attrs.evolve(stmt, entries=kept)
    return stmt
