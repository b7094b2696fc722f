"""The .das abstract syntax tree: frozen attrs classes; spans never take part in equality."""

from __future__ import annotations

import math
from typing import Union

import attrs

from dasdsl.errors import NO_SPAN, Span


def _span() -> Span:
    return attrs.field(default=NO_SPAN, eq=False, repr=False, kw_only=True)


# ---- expressions ------------------------------------------------------------


# A number in a .das file has at most this many digits, and so has every number the checker folds
# (``let B = A * A``): far beyond any width, count or budget, and far below Python's limit on converting
# integers to text (4300 digits), which every message showing the number would otherwise run into.
MAX_DIGITS = 100
LONG_HINT = f"a number in a .das file has at most {MAX_DIGITS} digits"
FINITE_HINT = "a number in a .das file must be finite (at most about 1.8e308)"


class NumberError(ValueError):
    """A number's spelling that stands for no usable value: too many digits, or beyond the finite floats."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def number_value(text: str) -> int | float:
    """The value a number's spelling stands for: an int for digits only, else a float.

    Raises NumberError for a spelling of more than MAX_DIGITS digits or one beyond the finite floats
    (``1e999``)."""
    digits = sum(ch in "0123456789" for ch in text)
    if digits > MAX_DIGITS:
        raise NumberError(f"number too long: {digits} digits (at most {MAX_DIGITS})", LONG_HINT)
    value: int | float = int(text) if text.isascii() and text.isdigit() else float(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise NumberError(f"number too large: {text} is not a finite number", FINITE_HINT)
    return value


def folded_problem(op: str, value: object) -> tuple[str, str] | None:
    """Why the result of folding ``op`` (``+ - * //``) is unusable, as (message, hint); None when it is fine.

    Not finite (``1e300 * 1e300``), or more than MAX_DIGITS digits (``let B = A * A`` over and over)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"number too large: the result of '{op}' is not a finite number", FINITE_HINT
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**MAX_DIGITS:
        return f"number too large: the result of '{op}' has more than {MAX_DIGITS} digits", LONG_HINT
    return None


@attrs.frozen
class Number:
    value: int | float
    text: str | None = attrs.field(default=None, eq=False, repr=False)  # spelling kept by fmt
    span: Span = _span()


@attrs.frozen
class String:
    value: str
    span: Span = _span()


@attrs.frozen
class Name:
    id: str
    span: Span = _span()


@attrs.frozen
class Arg:
    """A call argument: positional when ``name`` is None, else ``name = value``."""

    name: str | None
    value: Expr
    span: Span = _span()


@attrs.frozen
class Call:
    """``func(args)``; in op position also a bare op name (no args)."""

    func: str
    args: tuple[Arg, ...] = ()
    span: Span = _span()

    @property
    def positional(self) -> tuple[Expr, ...]:
        return tuple(a.value for a in self.args if a.name is None)


@attrs.frozen
class BinOp:
    op: str  # "+", "-", "*", "//"
    left: Expr
    right: Expr
    span: Span = _span()

    def apply(self, left: int | float, right: int | float) -> int | float:
        """The operator on two numbers; the caller reports ``// 0`` first."""
        if self.op == "+":
            return left + right
        if self.op == "-":
            return left - right
        if self.op == "*":
            return left * right
        return left // right


@attrs.frozen
class Neg:
    operand: Expr
    span: Span = _span()


@attrs.frozen
class Tuple:
    items: tuple[Expr, ...]
    span: Span = _span()


@attrs.frozen
class Range:
    """``start -> end``: an annealing range in the search block."""

    start: Expr
    end: Expr
    span: Span = _span()


@attrs.frozen
class ValueList:
    """``[3, 5, 7]`` as an op's argument on an edge: one candidate per value (docs/language.md, "Searched
    values"); anywhere else the checker reports it."""

    items: tuple[Expr, ...]
    span: Span = _span()


Expr = Union[Number, String, Name, Call, BinOp, Neg, Tuple, Range, ValueList]


# ---- ops --------------------------------------------------------------------


@attrs.frozen
class OpExpr:
    """One op or a chain ``a then b then c`` applied in order; ``x N`` repeats the whole chain N times and
    ``x [1, 2, 3]`` (a ValueList, candidates only) searches how many times."""

    steps: tuple[Call, ...]
    span: Span = _span()
    repeat: Expr | None = None


@attrs.frozen
class OpList:
    """A bracketed candidate list ``[a, b, c]``."""

    ops: tuple[OpExpr, ...]
    span: Span = _span()


# ---- top-level statements -----------------------------------------------------


@attrs.frozen
class SpaceDecl:
    name: str
    span: Span = _span()


@attrs.frozen
class InputDecl:
    kind: str  # image | sequence | vector
    shape: tuple[Expr, ...] | None = None
    span: Span = _span()
    classes: Expr | None = None  # ``input image(1, 8, 8) classes 10``: the class count, where stated


@attrs.frozen
class LetDecl:
    name: str
    value: Expr
    span: Span = _span()


@attrs.frozen
class OpSetDecl:
    name: str
    ops: OpList
    span: Span = _span()


@attrs.frozen
class OpDefDecl:
    name: str
    params: tuple[str, ...]
    body: OpExpr
    span: Span = _span()


# ---- cells ------------------------------------------------------------------


@attrs.frozen
class CellInputs:
    names: tuple[str, ...]
    span: Span = _span()


@attrs.frozen
class EdgeGroup:
    """``sources ~ candidates``: one edge from each source, all with the same candidates.

    ``candidates`` is an OpList (a choice), or an OpExpr that names an op set
    (a choice) or a single op (a fixed edge); the checker tells which.
    """

    sources: tuple[str, ...]
    candidates: OpList | OpExpr
    span: Span = _span()


@attrs.frozen
class NodeDecl:
    name: str
    edges: tuple[EdgeGroup, ...]
    keep: Expr | None = None
    merge: str | None = None  # None means sum
    span: Span = _span()


@attrs.frozen
class CellOutput:
    names: tuple[str, ...]
    merge: str | None = None  # "concat" | "sum" | None for a single node
    span: Span = _span()


CellStmt = Union[CellInputs, NodeDecl, CellOutput]


@attrs.frozen
class CellDecl:
    name: str
    params: tuple[str, ...]
    body: tuple[CellStmt, ...]
    unshared: bool = False
    input_stride: Expr | None = None  # ``cell reduce(c) with input stride 2 { ... }``
    span: Span = _span()


@attrs.frozen
class CellDerive:
    """``cell reduce(c) = normal(c) with input stride 2``."""

    name: str
    params: tuple[str, ...]
    base: Call
    input_stride: Expr | None = None
    unshared: bool = False
    span: Span = _span()


# ---- network and search --------------------------------------------------------


@attrs.frozen
class Stem:
    op: OpExpr
    span: Span = _span()


@attrs.frozen
class Head:
    op: OpExpr
    span: Span = _span()


@attrs.frozen
class CellItem:
    """A cell (or a block op such as resblock) in the macro sequence, ``x N`` times; ``x [1, 2, 3]`` (a
    ValueList) searches the number of repeats."""

    call: Call
    repeat: Expr | None = None
    span: Span = _span()


@attrs.frozen
class Cells:
    items: tuple[CellItem, ...]
    span: Span = _span()


NetStmt = Union[Stem, Head, Cells]


@attrs.frozen
class NetworkDecl:
    body: tuple[NetStmt, ...]
    span: Span = _span()


@attrs.frozen
class SearchEntry:
    key: str
    values: tuple[Expr, ...]
    span: Span = _span()


@attrs.frozen
class SearchDecl:
    entries: tuple[SearchEntry, ...]
    span: Span = _span()


@attrs.frozen
class TrainDecl:
    """How ``dasdsl train`` trains the space: settings like the search block's, and ``let`` constants given
    other values for training (DARTS trains a cell searched at C = 16 at C = 36), in source order."""

    entries: tuple[SearchEntry | LetDecl, ...]
    span: Span = _span()

    @property
    def settings(self) -> tuple[SearchEntry, ...]:
        return tuple(e for e in self.entries if isinstance(e, SearchEntry))

    @property
    def lets(self) -> tuple[LetDecl, ...]:
        return tuple(e for e in self.entries if isinstance(e, LetDecl))


TopStmt = Union[InputDecl, LetDecl, OpSetDecl, OpDefDecl, CellDecl, CellDerive, NetworkDecl, SearchDecl, TrainDecl]


@attrs.frozen
class Comment:
    """A ``#`` comment; kept so that fmt does not lose it, never part of equality."""

    text: str  # including the leading '#'
    line: int
    own_line: bool


@attrs.frozen
class Module:
    """One .das file."""

    space: SpaceDecl
    body: tuple[TopStmt, ...]
    comments: tuple[Comment, ...] = attrs.field(default=(), eq=False, repr=False)
    span: Span = _span()

    def statements(self, kind: type) -> list:
        return [s for s in self.body if isinstance(s, kind)]
