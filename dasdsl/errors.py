"""Source spans, diagnostics and the one error type every user mistake becomes."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import attrs


@attrs.frozen
class Span:
    """A region of a source file; lines and columns count from 1, end is exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def unknown(cls, file: str = "<generated>") -> Span:
        return cls(file, 0, 0, 0, 0)


NO_SPAN = Span.unknown()


@attrs.frozen
class Diagnostic:
    """One error or warning, with where it happened and an optional hint."""

    severity: str  # "error" | "warning"
    message: str
    span: Span
    hint: str | None = None

    def render(self, source: str | None = None) -> str:
        """Compiler-style text: location, message, the source line, a caret, the hint."""
        where = self.span.file
        if self.span.line > 0:
            where += f":{self.span.line}:{self.span.column}"
        out = [f"{where}: {self.severity}: {self.message}"]
        text = _source_line(self.span, source)
        if text is not None:
            start = max(self.span.column - 1, 0)
            if self.span.end_line == self.span.line and self.span.end_column > self.span.column:
                width = self.span.end_column - self.span.column
            else:
                width = max(len(text.rstrip()) - start, 1)
            width = max(1, min(width, max(len(text) - start, 1)))
            out.append(f"    {text.rstrip()}")
            out.append("    " + _caret_padding(text, start) + "^" * width)
        if self.hint:
            out.append(f"  hint: {self.hint}")
        return "\n".join(out)


def _caret_padding(text: str, start: int) -> str:
    """Spaces under the source line up to the culprit, keeping tabs as tabs."""
    return "".join("\t" if ch == "\t" else " " for ch in text[:start])


def _source_line(span: Span, source: str | None) -> str | None:
    if span.line <= 0:
        return None
    if source is None:
        try:
            with open(span.file, "rb") as f:  # a file the parser has read already; bounded all the same
                source = f.read(16 * 1024 * 1024).decode("utf-8-sig", errors="replace")
        except OSError:
            return None
    lines = source.split("\n")  # lines as the parser counts them; splitlines() also splits at \f, \x85, ...
    if span.line > len(lines):
        return None
    return lines[span.line - 1]


class DasError(Exception):
    """Every user mistake dasdsl detects: one or more diagnostics, never a traceback."""

    def __init__(self, diagnostics: Iterable[Diagnostic], source: str | None = None) -> None:
        self.diagnostics = tuple(diagnostics)
        self.source = source
        assert self.diagnostics, "DasError needs at least one diagnostic"
        super().__init__(self.render())

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    def render(self) -> str:
        return "\n".join(d.render(self.source) for d in self.diagnostics)


def error(message: str, span: Span, hint: str | None = None) -> Diagnostic:
    return Diagnostic("error", message, span, hint)


def fail(message: str, where: Span | str, hint: str | None = None, *, source: str | None = None) -> DasError:
    """The one constructor for "an error at a place, with a hint": ``where`` is a span in ``source``, or for an
    error about no source text (a command-line argument, a run directory, a file) the pseudo-file it names,
    such as ``"<run>"`` or a path, rendered as ``<run>: error: ...``."""
    span = where if isinstance(where, Span) else Span.unknown(where)
    return DasError([error(message, span, hint)], source)


def warning(message: str, span: Span, hint: str | None = None) -> Diagnostic:
    return Diagnostic("warning", message, span, hint)


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest known names, or None when nothing is close."""
    close = difflib.get_close_matches(name, sorted(set(choices)), n=3, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(close) + "?"


def suggest(name: str, choices: Iterable[str]) -> str | None:
    """``did you mean X?`` for a misspelled name; also catches short names one edit away (c2 for c1)."""
    others = sorted(set(choices) - {name})
    hint = did_you_mean(name, others)
    if hint is not None or len(name) < 2:
        return hint
    close = [c for c in others if _edit_distance(name.lower(), c.lower()) <= 1]
    return "did you mean " + " or ".join(close[:3]) + "?" if close else None


def _edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
