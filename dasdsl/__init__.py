"""dasdsl: a declarative language and compiler for differentiable architecture search."""

from __future__ import annotations

from pathlib import Path

from dasdsl.check import CheckedSpace, check
from dasdsl.errors import DasError, Diagnostic, Span
from dasdsl.oplib import Param
from dasdsl.parse import parse, parse_file
from dasdsl.printer import format_das
from dasdsl.registry import op

__all__ = [
    "CheckedSpace",
    "DasError",
    "Diagnostic",
    "Param",
    "Span",
    "check",
    "format_das",
    "load",
    "loads",
    "op",
    "parse",
    "parse_file",
]
__version__ = "0.1.0"


def loads(text: str, file: str = "<string>", plugins: list[str] | tuple[str, ...] = ()) -> CheckedSpace:
    """Parse and check .das text."""
    from dasdsl.registry import load_plugins

    load_plugins(plugins)
    return check(parse(text, file), text)


def load(path: str | Path, plugins: list[str] | tuple[str, ...] = ()) -> CheckedSpace:
    """Parse and check a .das file: the entry point of the Python API."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DasError([Diagnostic("error", f"no such file: {path}", Span.unknown(str(path)))]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DasError([Diagnostic("error", f"cannot read {path}: {exc}", Span.unknown(str(path)))]) from None
    return loads(text, str(path), plugins)
