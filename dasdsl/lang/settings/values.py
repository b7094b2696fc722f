"""The value checks and parsers both tables use: ``SettingError`` (a bad value, located within its entry),
numbers, fractions, names among choices, keyword settings, and the settings the search and train blocks share
(``data``, ``epochs``, ``batch``, ``seed``, ``grad_clip``, ...). A parser (``Parse``) turns an entry's evaluated
values, and the settings so far, into fields of the block's config record."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dasdsl.errors import did_you_mean, fail
from dasdsl.lang import ast
from dasdsl.lang.checked import RangeValue, Setting, Symbol
from dasdsl.lang.fold import is_number


class SettingError(Exception):
    """A bad search-setting value, located within its entry.

    ``index``: which value of the entry (``penalty l1(1e-3), cost(x, 1)`` has two), None for the
    entry as a whole. ``arg``: inside that value, the keyword name or positional index of the
    argument at fault (``lr`` in ``sgd(lr = -1)``), None for the whole value; ``occurrence``: which
    argument of that name, for a keyword given twice (1: the second ``lr`` of ``sgd(lr = 1, lr = 2)``).
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        index: int | None = None,
        arg: str | int | None = None,
        occurrence: int = 0,
    ):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.index = index
        self.arg = arg
        self.occurrence = occurrence  # a keyword ``arg`` given more than once: which of them (0: the first)

    def __repr__(self) -> str:
        return f"SettingError({self.message!r}, hint={self.hint!r}, index={self.index!r}, arg={self.arg!r})"


@contextmanager
def located(*, index: int | None = None, arg: str | int | None = None) -> Iterator[None]:
    """Locate the SettingErrors raised inside, unless an inner ``located`` already did."""
    try:
        yield
    except SettingError as exc:
        if exc.index is None:
            exc.index = index
        if exc.arg is None:
            exc.arg = arg
        raise


# ---- value checks ----------------------------------------------------------------------


def number(v: Any, what: str, *, integer: bool = False, positive: bool = True, non_negative: bool = False) -> Any:
    """``v`` if it is a finite number (an int where ``integer``) of the sign asked for, else a SettingError."""
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and (not integer or isinstance(v, int))
    if ok and isinstance(v, float) and not math.isfinite(v):  # inf and nan pass every comparison below
        raise SettingError(f"{what} must be a finite number, got {show(v)}")
    if not ok or (positive and v <= 0) or (non_negative and v < 0):
        sign = "positive " if positive else "non-negative " if non_negative else ""
        kind = f"a {sign}integer" if integer else f"a {sign}number"
        raise SettingError(f"{what} must be {kind}, got {show(v)}")
    return v


def fraction(v: Any, what: str) -> float:
    """A number in [0, 1): a momentum, an Adam beta."""
    if not (is_number(v) and 0 <= v < 1):  # nan fails the comparison too
        raise SettingError(f"{what} must be a number in [0, 1), got {show(v)}")
    return float(v)


def capped(v: int, what: str, limit: int, shown: str, why: str) -> int:
    """An upper bound on an integer setting: a larger value would only exhaust memory or time."""
    if v > limit:
        raise SettingError(f"{what} must be at most {shown}, got {show(v)}", why)
    return v


def show(v: Any) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10**ast.MAX_DIGITS:
        # (a caller's own value: Python will not turn an int of over 4300 digits into text)
        return f"a number of about {int(abs(v).bit_length() * math.log10(2)) + 1} digits"
    if isinstance(v, Symbol):
        return v.name
    if isinstance(v, Setting):
        return f"{v.func}(...)"
    if isinstance(v, tuple):
        return "(" + ", ".join(show(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, RangeValue):
        return f"{show(v.start)} -> {show(v.end)}"
    return repr(v)


def name_in(v: Any, what: str, choices: tuple[str, ...], *, bare: bool = False) -> str:
    """The name ``v`` gives, one of ``choices``; ``bare``: a plain name, never called (``fp16``, not ``fp16(1)``)."""
    name = v.name if isinstance(v, Symbol) else v.func if isinstance(v, Setting) else None
    if name not in choices:
        raise SettingError(
            f"unknown {what} {show(v)}", did_you_mean(str(name), choices) or f"expected {', '.join(choices)}"
        )
    if bare and isinstance(v, Setting):
        raise SettingError(f"{what} {name} takes no arguments", f"write it as a plain name: {name}")
    return name  # type: ignore[return-value]


def no_kwargs(v: Any, what: str) -> None:
    """A call of positional values only (``l1(1e-3)``): a keyword argument is an error located at it."""
    if isinstance(v, Setting) and v.kwargs:
        key = v.kwargs[0][0]
        raise SettingError(
            f"{what} takes no keyword settings, got '{key}'", f"write {what}(...) with values only", arg=key
        )


def keywords(v: Any, what: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if isinstance(v, Symbol):
        return {}
    seen: set[str] = set()
    for occurrence, (key, _) in enumerate(v.kwargs):
        if key in seen:  # located at the second one: the occurrence-th argument of that name
            raise SettingError(
                f"{what} got setting '{key}' twice",
                f"give '{key}' once",
                arg=key,
                occurrence=[k for k, _ in v.kwargs[:occurrence]].count(key),
            )
        seen.add(key)
    kw = v.kw()
    for key in kw:
        if key not in allowed:
            hint = did_you_mean(key, allowed) or f"it takes {', '.join(allowed)}"
            raise SettingError(f"{what} has no setting '{key}'", hint, arg=key)
    if v.args:
        raise SettingError(f"{what} takes keyword settings only, e.g. {what}({allowed[0]} = ...)", arg=0)
    return kw


# ---- the parsers: evaluated values (and the settings so far) to SearchConfig fields ------

Parse = Callable[[tuple[Any, ...], Mapping[str, Any]], dict[str, Any]]


def single(fn: Callable[[Any, Mapping[str, Any]], dict[str, Any]]) -> Parse:
    """A setting of one value (``_parse`` rejects more); its errors are located at value 0."""

    def parse(values: tuple[Any, ...], c: Mapping[str, Any]) -> dict[str, Any]:
        with located(index=0):
            return fn(values[0], c)

    return parse


def each(field: str, fn: Callable[[Any], Any]) -> Parse:
    """A setting of a list of values, each turned into one item of ``field``."""

    def parse(values: tuple[Any, ...], c: Mapping[str, Any]) -> dict[str, Any]:
        items = []
        for i, v in enumerate(values):
            with located(index=i):
                items.append(fn(v))
        return {field: tuple(items)}

    return parse


# Upper bounds of the integer settings: far beyond any real search, they stop typos such as
# `epochs 10000000000` that would only run out of memory or time (docs/search.md, "Ranges").
MAX_EPOCHS = 10**6
MAX_BATCH = 2**20
MAX_TOP = 10**4
SEED_LIMIT = 2**32  # seeds are 0 .. 2**32 - 1: numpy's range, and the run's derived seeds fit torch's 64 bits


def integer_setting(key: str, *, positive: bool = True, at_most: tuple[int, str] | None = None) -> Parse:
    """A positive (else non-negative) integer setting, at most ``at_most`` = (limit, limit as shown)."""

    def parse(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
        value = number(v, key, integer=True, positive=positive, non_negative=not positive)
        if at_most is not None:
            capped(value, key, *at_most, "a larger value would only run out of memory or time")
        return {key: value}

    return single(parse)


def seed_setting(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    if not (isinstance(v, int) and not isinstance(v, bool) and 0 <= v < SEED_LIMIT):
        raise SettingError(f"seed must be a non-negative integer below 2**32, got {show(v)}")
    return {"seed": v}


def data_setting(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    name, path = _spec(v)
    if path:
        check_file_name(path, f"data {name}")
    return {"data": f"{name}:{path}" if path else name}


def split_setting(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(v, (int, float)) or not 0 < v < 1:
        raise SettingError(f"split must be a fraction between 0 and 1, got {show(v)}")
    return {"split": float(v)}


def grad_clip_setting(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    return {"grad_clip": float(number(v, "grad_clip"))}


def check_file_name(path: str, what: str) -> None:
    """A file name the operating system can take: no NUL character (a .das string may hold one)."""
    if "\x00" in path:
        raise SettingError(f"{what} names a file with a NUL character in it: {path!r}", "check the file name")


def number_setting(key: str, *, positive: bool = True) -> Parse:
    """A finite number (positive, else non-negative) for the field of the same name."""

    def parse(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
        return {key: float(number(v, key, positive=positive, non_negative=not positive))}

    return single(parse)


def fraction_setting(key: str) -> Parse:
    """A probability-like number in [0, 1) for the field of the same name."""
    return single(lambda v, c: {key: fraction(v, key)})


def data_flag(text: str) -> str:
    """``--data npz:PATH`` means ``data npz("PATH")``."""
    if ":" in text and "(" not in text:
        name, path = text.split(":", 1)
        return f'{name}("{path}")'
    return text


def is_source(data: Any) -> bool:
    """Whether a ``data=`` value names a source (a built-in name, ``npz:PATH``, a .npz path, a search block's
    value) rather than holding the data itself (arrays, datasets): the one test the API and the stages share."""
    return data is None or isinstance(data, (str, os.PathLike, Symbol, Setting))


def parse_spec(spec: Any) -> tuple[str, str | None]:
    """('digits', None) or ('npz', 'path') from a search-block value or a --data string."""
    try:
        return _spec(spec)
    except SettingError as exc:
        raise fail(exc.message, "<search settings>", exc.hint) from None


def _spec(spec: Any) -> tuple[str, str | None]:
    if isinstance(spec, Symbol):
        return spec.name, None
    if isinstance(spec, Setting):
        if len(spec.args) != 1 or not isinstance(spec.args[0], str):
            raise SettingError(f"data source {spec.func}(...) takes one path in double quotes")
        return spec.func, spec.args[0]
    text = str(spec).strip()
    if "(" in text and text.endswith(")"):
        name, path = text[:-1].split("(", 1)
        return name.strip(), path.strip().strip("\"'")
    if ":" in text:
        name, path = text.split(":", 1)
        return name.strip(), path
    return text, None


def das_string(text: str) -> str:
    """A .das string literal: in double quotes, backslashes and quotes escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
