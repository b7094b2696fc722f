"""Text or file to checked space: the language layer's one entry point (plugins first, then parse and check)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dasdsl.files import read_text
from dasdsl.lang.check import check
from dasdsl.lang.checked import CheckedSpace
from dasdsl.lang.parse import parse
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
