"""The one evaluator of the expression language: ``let`` constants, op and cell arguments, search- and train-block
values. The checker's passes fold with it (``CheckState.eval``) and so do settings given as text on the command
line or to the Python API (``dasdsl.lang.settings``), so a value reads, and fails, the same way everywhere.

Each caller says how a bare name reads (``Lookup``) and what a problem does (``Report``): the checker records it
and goes on to the next one; a setting given as text raises at the first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dasdsl.errors import Span
from dasdsl.lang import ast
from dasdsl.lang.checked import RangeValue, Setting, Unknown

Report = Callable[[str, Span, "str | None"], None]  # a problem: its message, where it lies, a hint
Lookup = Callable[[ast.Name, bool], Any]  # a bare name's value (the flag: bare names are symbols); None: reported


def is_number(v: Any) -> bool:
    """An int or a float, not a bool (``True + 1`` is no number in a space)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def fold(e: ast.Expr, lookup: Lookup, report: Report, *, symbols: bool = False) -> Any:
    """The value of ``e``; None after ``report`` said why it has none. A value not known yet (``Unknown``: ``classes``
    before the data is) passes through arithmetic unknown. ``symbols``: a call is a value, a ``Setting`` of its
    arguments (themselves folded with symbols), as in a search block; without it a call is an error."""
    if isinstance(e, (ast.Number, ast.String)):
        return e.value
    if isinstance(e, ast.Name):
        return lookup(e, symbols)
    if isinstance(e, ast.Neg):
        v = fold(e.operand, lookup, report, symbols=symbols)
        if v is None or isinstance(v, Unknown):
            return v
        if not is_number(v):
            report("'-' needs a number", e.span, None)
            return None
        return -v
    if isinstance(e, ast.BinOp):
        return _binop(e, lookup, report, symbols)
    if isinstance(e, ast.Tuple):
        items = [fold(i, lookup, report, symbols=symbols) for i in e.items]
        return None if any(i is None for i in items) else tuple(items)
    if isinstance(e, ast.Range):
        start = fold(e.start, lookup, report, symbols=symbols)
        end = fold(e.end, lookup, report, symbols=symbols)
        return None if start is None or end is None else RangeValue(start, end)
    if isinstance(e, ast.Call):
        if not symbols:
            report(f"'{e.func}(...)' is not a value here", e.span, "op calls go after '~' or in the network")
            return None
        args = [fold(v, lookup, report, symbols=True) for v in e.positional]
        kwargs = [(a.name, fold(a.value, lookup, report, symbols=True)) for a in e.args if a.name is not None]
        if any(v is None for v in args) or any(v is None for _, v in kwargs):
            return None
        return Setting(e.func, tuple(args), tuple(kwargs))  # type: ignore[arg-type]
    if isinstance(e, ast.ValueList):
        report(
            "a value list is only allowed as an argument of a candidate op (after '~')",
            e.span,
            "x ~ conv(k = [3, 5]) searches the kernel size; elsewhere give one value",
        )
        return None
    raise AssertionError(f"unknown expression {e!r}")


def _binop(e: ast.BinOp, lookup: Lookup, report: Report, symbols: bool) -> Any:
    left = fold(e.left, lookup, report, symbols=symbols)
    right = fold(e.right, lookup, report, symbols=symbols)
    if left is None or right is None:
        return None
    if isinstance(left, Unknown) or isinstance(right, Unknown):
        return left if isinstance(left, Unknown) else right
    if not (is_number(left) and is_number(right)):
        report(f"'{e.op}' needs numbers", e.span, None)
        return None
    if e.op == "//" and right == 0:
        report("division by zero", e.span, None)
        return None
    value = e.apply(left, right)
    problem = ast.folded_problem(e.op, value)
    if problem is not None:
        report(problem[0], e.span, problem[1])
        return None
    return value
