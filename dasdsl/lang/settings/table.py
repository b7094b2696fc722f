"""The table engine: a ``SettingsTable`` of ``SearchSetting`` records checks, resolves, reads Python and
command-line values, and documents one block's settings. .das text from the command line or the Python API is
read with the checker's own evaluator of the expression language (``dasdsl.lang.fold``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from dasdsl.errors import DasError, Span, fail, suggest
from dasdsl.lang import ast
from dasdsl.lang.checked import Symbol
from dasdsl.lang.fold import fold
from dasdsl.lang.parse import parse
from dasdsl.lang.settings.values import Parse, SettingError, das_string, show


@attrs.frozen
class Flag:
    """A ``dasdsl run`` flag that sets a search setting of the same name."""

    help: str
    type: Callable[[str], Any] | None = None  # argparse type; None keeps the text
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    das: Callable[[str], str] | None = None  # the flag's text to .das syntax, where it differs


@attrs.frozen
class SearchSetting:
    """One search-block key: how it is read, its default, its flag and its doc."""

    name: str
    parse: Parse  # (evaluated values, the settings so far as SearchConfig fields) -> the fields it sets
    fields: tuple[str, ...]  # the SearchConfig fields it may set
    default: str | None  # in .das syntax, as shown to users; None: off unless given
    doc: str  # one line of markdown
    flag: Flag | None = None
    many: bool = False  # takes a comma-separated list of values
    default_note: str = ""  # markdown after the default, e.g. where it differs by space
    file: bool = False  # takes a file name: a Python str or Path is quoted as a .das string

    @property
    def option(self) -> str | None:
        return f"--{self.name.replace('_', '-')}" if self.flag is not None else None

    @property
    def switch(self) -> bool:
        """An ``on`` / ``off`` setting (``fuse``): Python's True and False mean on and off."""
        return self.default in ("on", "off")


@attrs.frozen
class SettingsTable:
    """The settings one block of a space takes (``search``, ``train``): how each reads, checks, resolves
    onto its config class, becomes a flag and a keyword and is documented (``SEARCH``, ``TRAIN``)."""

    block: str  # the block's keyword
    config: type  # SearchConfig or TrainConfig: an attrs class whose defaults are the table's
    settings: tuple[SearchSetting, ...]

    @property
    def by_name(self) -> dict[str, SearchSetting]:
        return {s.name: s for s in self.settings}

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.settings)

    @property
    def flagged(self) -> tuple[SearchSetting, ...]:
        return tuple(s for s in self.settings if s.flag is not None)

    @property
    def where(self) -> str:
        """Where a bad value of the block is reported: it may come from the command line, so no span."""
        return f"<{self.block} settings>"

    def _unknown(self, key: str) -> tuple[str, str]:
        hint = suggest(key, self.keys) or "see docs/language.md for the settings"
        return f"unknown {self.block} setting '{key}'", hint

    def check_entry(self, key: str, values: tuple[Any, ...]) -> list[SettingError]:
        """The problems of one entry of the block (evaluated values), each located by index and arg.

        Values are checked against the defaults (``weights sgd(momentum = 0.5)`` keeps the default
        ``lr``); every value of a list setting is checked, so one entry may have several problems.
        """
        setting = self.by_name.get(key)
        if setting is None:
            return [SettingError(*self._unknown(key))]
        current = MappingProxyType(attrs.asdict(self.config(), recurse=False))
        parts = [((v,), i) for i, v in enumerate(values)] if setting.many else [(values, None)]
        problems = []
        for part, index in parts:
            try:
                self._parse(setting, part, current)
            except SettingError as exc:
                if index is not None:
                    exc.index = index
                problems.append(exc)
        return problems

    def _parse(self, setting: SearchSetting, values: tuple[Any, ...], current: Mapping[str, Any]) -> dict[str, Any]:
        if not setting.many and len(values) != 1:
            lists = [s.name for s in self.settings if s.many]
            raise SettingError(
                f"{self.block} setting '{setting.name}' takes one value, got {len(values)}",
                f"only {' and '.join(lists)} take a list" if lists else "give one value",
                index=1 if values else None,
            )
        return setting.parse(values, current)

    def resolve(self, entries: dict[str, tuple[Any, ...]], base: Any = None) -> Any:
        """Evaluated entries (see dasdsl.lang.check) on top of ``base`` (default: the table's defaults), in order;
        a bad value raises DasError without a location (the values may come from the command line)."""
        c: dict[str, Any] = attrs.asdict(base if base is not None else self.config(), recurse=False)
        for key, values in entries.items():
            setting = self.by_name.get(key)
            if setting is None:
                message, hint = self._unknown(key)
                raise fail(message, self.where, hint)
            try:
                c.update(self._parse(setting, values, MappingProxyType(c)))
            except SettingError as exc:
                raise fail(exc.message, self.where, exc.hint) from None
        return self.config(**c)

    # -- the command line and the Python API

    def entries_of(self, settings: Mapping[str, Any]) -> dict[str, tuple[Any, ...]]:
        """Settings by name (Python values or .das text, ``npz:PATH`` as on the command line; None: not given)
        as evaluated entries of the block; an unknown name or a value that does not read is a DasError."""
        return {
            # an empty list: none of a listed setting (``penalty=[]`` drops the defaults' penalties)
            key: ()
            if isinstance(value, (list, tuple)) and not value
            else self.parse_flag(key, self._das_text(key, value))
            for key, value in settings.items()
            if value is not None
        }

    def _das_text(self, key: str, value: Any) -> str:
        """A Python value as .das text: True / False as ``on`` / ``off`` for a switch (``fuse=False``), else
        as 1 / 0; numbers as numbers; a dict as the keyword settings of the setting's default kind
        (``weights={"lr": 0.05}``: ``sgd(lr = 0.05)``); a tuple inside a dict as a tuple (``betas``); lists
        (penalties, constraints) joined with commas; strings as .das syntax."""
        setting = self.by_name.get(key)
        if isinstance(value, bool):
            if setting is not None and setting.switch:
                return "on" if value else "off"
            return "1" if value else "0"
        if isinstance(value, int) and value.bit_length() > 333:  # over 100 digits: the limit of a .das number
            raise fail(
                f"{self.block} setting '{key}': a number of {value.bit_length()} bits is too long",
                self.where,
                "at most 100 digits",
            )
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, dict):
            return self._call_text(key, setting, value)
        if isinstance(value, (list, tuple)):
            return ", ".join(self._das_text(key, v) for v in value)
        if setting is not None and setting.file and isinstance(value, (str, os.PathLike)):
            path = os.fspath(value)
            if isinstance(path, str) and not path.startswith('"'):  # a file name, not .das text
                return das_string(path)
        return str(value)

    def _call_text(self, key: str, setting: SearchSetting | None, value: dict[Any, Any]) -> str:
        """``{"lr": 0.05}`` as ``sgd(lr = 0.05)``: keyword settings of the kind the setting's default names."""
        kind = (setting.default or "").split("(")[0].strip() if setting is not None else ""
        if setting is None or setting.many or not kind.isidentifier():
            raise fail(f"{self.block} setting '{key}' takes no dict of keyword settings", self.where)
        args = []
        for name, v in value.items():
            if not (isinstance(name, str) and name.isidentifier()):
                raise fail(f"{self.block} setting '{key}': {name!r} is not a setting name", self.where)
            if isinstance(v, tuple):
                text = "(" + ", ".join(self._das_text(key, x) for x in v) + ("," if len(v) == 1 else "") + ")"
            else:
                text = self._das_text(key, v) if not isinstance(v, bool) else ("1" if v else "0")
            args.append(f"{name} = {text}")
        return f"{kind}({', '.join(args)})"

    def parse_flag(self, key: str, value: object) -> tuple[Any, ...]:
        """The block values of a flag's or keyword's value (``--data npz:PATH``, ``--epochs 5``)."""
        setting = self.by_name.get(key)  # an unknown key is parse_override's error
        flag = setting.flag if setting is not None else None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**ast.MAX_DIGITS:
            # (str() of an int of over 4300 digits raises ValueError)
            raise fail(f"cannot read the setting '{key}': number too long ({show(value)})", self.where, ast.LONG_HINT)
        text = str(value)
        if flag is not None and flag.das is not None:
            text = flag.das(text)
        return self.parse_override(key, text)

    def parse_override(self, key: str, text: str) -> tuple[Any, ...]:
        """A command-line value in .das syntax (``--set weights="sgd(lr = 0.1)"``), evaluated like the block.

        Raises DasError for an unknown key or a value that does not read; the value itself is
        checked by ``resolve``.
        """
        what = f"cannot read the setting '{key} {text if len(text) <= 60 else text[:57] + '...'}'"
        if key not in self.by_name:
            message, hint = self._unknown(key)
            raise fail(f"{what}: {message}", self.where, hint)
        source = f"space cli\n{self.block} {{\n    {key} {text}\n}}\n"
        try:
            module = parse(source, "<command line>")
        except DasError as exc:
            first = exc.errors[0]
            raise fail(f"{what}: {first.message}", self.where, first.hint) from None
        blocks = [s for s in module.body if isinstance(s, (ast.SearchDecl, ast.TrainDecl))]
        entries = [e for b in blocks for e in b.entries if isinstance(e, ast.SearchEntry)]
        if len(module.body) != 1 or len(entries) != 1 or entries[0].key != key:
            raise fail(f"{what}: expected a value in .das syntax", self.where, "e.g. --set 'weights=sgd(lr = 0.05)'")
        try:
            return tuple(evaluate_value(v) for v in entries[0].values)
        except SettingError as exc:
            raise fail(f"{what}: {exc.message}", self.where, exc.hint) from None

    # -- documentation

    def markdown(self) -> str:
        """The markdown table of every setting (docs/search.md holds exactly this; tests keep them equal)."""
        rows = ["| setting | default | flag | meaning |", "|---|---|---|---|"]
        for s in self.settings:
            default = f"`{s.default}`" if s.default is not None else "none"
            if s.default_note:
                default += f" ({s.default_note})"
            flag = f"`{s.option}`" if s.option else ""
            rows.append(f"| `{s.name}` | {_cell(default)} | {flag} | {_cell(s.doc)} |")
        return "\n".join(rows) + "\n"


def problem_span(entry: ast.SearchEntry, problem: SettingError) -> Span:
    """Where in ``entry`` a problem of ``check_entry`` lies: the argument, the value or the entry."""
    if problem.index is None or not 0 <= problem.index < len(entry.values):
        return entry.span
    value = entry.values[problem.index]
    if problem.arg is not None and isinstance(value, ast.Call):
        if isinstance(problem.arg, int):
            positional = [a for a in value.args if a.name is None]
            found = positional[problem.arg] if problem.arg < len(positional) else None
        else:
            named = [a for a in value.args if a.name == problem.arg]
            found = named[problem.occurrence] if problem.occurrence < len(named) else None
        if found is not None and found.span.line > 0:
            return found.span
    return value.span


def evaluate_value(e: ast.Expr) -> Any:
    """A block value without constants, folded by the checker's evaluator (``dasdsl.lang.fold``) with every bare
    name a symbol (``classes`` too: no data is known here).

    Raises SettingError (no index) at the first problem, with the checker's message and hint (``-softmax``,
    ``1 // 0``).
    """
    return fold(e, _symbol, _refuse, symbols=True)


def _symbol(e: ast.Name, symbols: bool) -> Symbol:
    return Symbol(e.id)


def _refuse(message: str, span: Span, hint: str | None) -> None:
    raise SettingError(message, hint)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
