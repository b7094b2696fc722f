"""dasdsl: a declarative language and compiler for differentiable architecture search.

``dasdsl.load(path).search(...)``, ``dasdsl.resume(run_dir)``, ``dasdsl.train(space)``: see dasdsl.api and docs/api.md.
(``dasdsl.engine`` is the package that runs searches and trainings: data, the bilevel step, discretization,
run directories.)
"""

from __future__ import annotations

from dasdsl.api import SearchResult, Space, TrainResult, load, loads, resume, search, train
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
    "SearchResult",
    "Span",
    "Space",
    "TrainResult",
    "check",
    "format_das",
    "load",
    "loads",
    "op",
    "parse",
    "parse_file",
    "resume",
    "search",
    "train",
]
__version__ = "0.1.0"
