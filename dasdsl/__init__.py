"""dasdsl: a declarative language and compiler for differentiable architecture search."""

from __future__ import annotations

from dasdsl.api import Space, load, loads
from dasdsl.errors import DasError, Diagnostic, Span
from dasdsl.lang.check import check
from dasdsl.lang.checked import CheckedSpace
from dasdsl.lang.parse import parse, parse_file
from dasdsl.lang.printer import format_das
from dasdsl.ops.registry import Param, op

__all__ = [
    "CheckedSpace",
    "DasError",
    "Diagnostic",
    "Param",
    "Span",
    "Space",
    "check",
    "format_das",
    "load",
    "loads",
    "op",
    "parse",
    "parse_file",
]
__version__ = "0.1.0"
