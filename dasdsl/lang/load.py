"""Text or file to checked space: the language layer's one entry point (plugins first, then parse and check)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dasdsl.errors import DasError, Diagnostic, Span
from dasdsl.lang.check import check
from dasdsl.lang.checked import CheckedSpace
from dasdsl.lang.parse import parse
from dasdsl.ops.registry import load_plugins


def read_source(path: str | Path) -> str:
    """A .das file's text; a missing or unreadable file is a user error."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DasError([Diagnostic("error", f"no such file: {path}", Span.unknown(str(path)))]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DasError([Diagnostic("error", f"cannot read {path}: {exc}", Span.unknown(str(path)))]) from None


def check_text(text: str, file: str = "<string>", plugins: Sequence[str] = ()) -> CheckedSpace:
    """Import the plugin modules named, then parse and check ``text``."""
    load_plugins(tuple(plugins))
    return check(parse(text, file), text)


def check_file(path: str | Path, plugins: Sequence[str] = ()) -> CheckedSpace:
    return check_text(read_source(path), str(path), plugins)
