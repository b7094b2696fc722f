"""The state every pass reads and writes: the module, diagnostics, symbol tables, expression folding."""

from __future__ import annotations

import re
from typing import Any

from dasdsl.errors import Diagnostic, Span, error, suggest, warning
from dasdsl.lang import ast
from dasdsl.lang.checked import CellInstance, ClassesArg, GivenLet, Network, Symbol, Unknown
from dasdsl.lang.fold import fold
from dasdsl.lang.passes.text import show

Env = dict[str, Any]  # names in scope: constants, then parameters


class CheckState:
    """One check of one module: what the passes have found so far, and the helpers they share."""

    def __init__(
        self, module: ast.Module, source: str | None, classes: int | None, given: dict[str, GivenLet] | None = None
    ) -> None:
        self.module = module
        self.given = given or {}  # constants given other values (their let lines are not evaluated)
        self.source = source
        # lines as the parser counts them (at line feeds only)
        self.lines = [line.rstrip("\r") for line in source.split("\n")] if source is not None else None
        self.diags: list[Diagnostic] = []
        self.classes = classes
        # where `classes` is read while unknown: every read, and the op arguments that read it (ClassesArg)
        # with the reads they account for; reads outside them mean the structure depends on the class count
        self.classes_reads = 0
        self.classes_args: list[ClassesArg] = []
        self.classes_arg_reads = 0
        # symbol tables, filled by the names pass
        self.constants: Env = {}
        self.opsets: dict[str, ast.OpSetDecl] = {}
        self.opdefs: dict[str, ast.OpDefDecl] = {}
        self.cells: dict[str, ast.CellDecl | ast.CellDerive] = {}
        self.used: set[str] = set()  # op sets, ops and cells referred to; the rest are warned about
        self.input_kind = "image"
        # bookkeeping shared by expansion and instantiation
        self.instances: dict[tuple, CellInstance | None] = {}  # by (name, args, type name); None while building
        self.expanding: list[tuple[str, Span]] = []  # op defs being expanded, with the call into each
        self.contains_itself: set[str] = set()  # cells on a nesting cycle
        # the results the final assembly reads
        self.input_shape: tuple[int, ...] | None = None
        self.input_classes: int | None = None  # stated by `input ... classes N`
        self.network: Network | None = None
        self.search: dict[str, tuple[Any, ...]] = {}
        self.train: dict[str, tuple[Any, ...]] = {}
        self.train_lets: dict[str, int | float] = {}
        self.cell_types: dict[str, CellInstance] = {}
        self.value_groups = 0  # value lists expanded so far: each expansion's candidates share one group id

    # -- diagnostics
    def err(self, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(error(message, span, hint))

    def warn(self, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(warning(message, span, hint))

    def name_span(self, span: Span, name: str, after: int = 0, *, occurrence: int = 0) -> Span:
        """The span of ``name`` as a whole word on the statement's first line, skipping ``after`` words.

        ``occurrence`` picks a later appearance of the name (``(x, x)``: 1 for the second ``x``).
        """
        if self.lines is None or span.line <= 0 or span.line > len(self.lines):
            return span
        text = self.lines[span.line - 1]
        start = span.column - 1
        end = span.end_column - 1 if span.end_line == span.line else len(text)
        pos = start
        for _ in range(after):
            m = re.compile(r"\S+").search(text, pos, end)
            if not m:
                break
            pos = m.end()
        pattern = re.compile(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])")
        m = pattern.search(text, pos, end)
        for _ in range(occurrence):
            if not m:
                break
            m = pattern.search(text, m.end(), end)
        if not m:
            return span
        return Span(span.file, span.line, m.start() + 1, span.line, m.end() + 1)

    def words_before_name(self, span: Span) -> int:
        """Words before a cell's name in its declaration: ``cell`` or ``unshared cell``."""
        if self.lines is None or span.line <= 0:
            return 1
        text = self.lines[span.line - 1][span.column - 1 :]
        return 2 if text.startswith("unshared") else 1

    # -- expressions
    def eval(self, e: ast.Expr, env: Env, *, symbols: bool = False) -> Any:
        """Fold an expression (``dasdsl.lang.fold``, the one evaluator); None after reporting an error.
        ``symbols`` allows bare names."""
        return fold(e, lambda name, symbols: self._lookup(name, env, symbols), self.err, symbols=symbols)

    def _lookup(self, e: ast.Name, env: Env, symbols: bool) -> Any:
        """A bare name: a constant or parameter in scope, then ``classes``, then (``symbols``) itself."""
        if e.id in env:
            return env[e.id]
        if e.id == "classes":
            self.classes_reads += self.classes is None  # binding the count reads it (lang.classes)
            return self.classes if self.classes is not None else Unknown("classes")
        if symbols:
            return Symbol(e.id)
        self.err(f"unknown name '{e.id}'", e.span, self._name_hint(e.id, env))
        return None

    def _name_hint(self, name: str, env: Env) -> str:
        later = next((s for s in self.module.statements(ast.LetDecl) if s.name == name), None)
        if later is not None:
            return f"'{name}' is defined at line {later.span.line}; a constant must be defined before it is used"
        hint = suggest(name, [*env, "classes"])
        if hint is not None:
            return hint
        if env:
            return "names in scope here: " + ", ".join(sorted(env, key=str.lower)) + ", classes"
        return f"define it first: let {name} = ..."

    def positive_int(self, e: ast.Expr, env: Env, what: str, allow_zero: bool = False) -> Any:
        v = self.eval(e, env)
        if v is None or isinstance(v, Unknown):
            return v
        if not isinstance(v, int):
            self.err(f"{what} must be an integer, got {show(v)}", e.span)
            return None
        if v < 0 or (v == 0 and not allow_zero):
            self.err(f"{what} must be {'non-negative' if allow_zero else 'positive'}, got {v}", e.span)
            return None
        return v

    def repeat_counts(
        self, values: ast.ValueList, env: Env, what: str, limit: tuple[int, str] | None = None
    ) -> tuple[int, ...] | None:
        """The counts of a searched repeat (``x [1, 2, 3]`` of a network cell or of a chain): positive integers,
        each once, at most ``limit`` = (count, what cannot hold more); None after reporting an error. A count
        not known yet (a cell parameter) stands in as its position: it is checked per instance."""
        if not values.items:
            self.err(f"empty {what} list", values.span, "list the repeat counts to search, e.g. x [1, 2, 3]")
            return None
        counts: list[int] = []
        for e in values.items:
            n = self.positive_int(e, env, "a repeat count")
            if n is None:
                return None
            if isinstance(n, Unknown):
                n = len(counts) + 1
            if limit is not None and n > limit[0]:
                self.err(f"a repeat count of {n:,} is more than {limit[1]} can hold (at most {limit[0]:,})", e.span)
                return None
            if n in counts:
                self.err(f"repeat count {n} appears twice in the list", e.span, "list each count once")
                return None
            counts.append(n)
        return tuple(counts)

    def scope(self, args: Env) -> Env:
        """The constants, then ``args`` over them: the names in scope inside a cell or op body."""
        env = dict(self.constants)
        env.update(args)
        return env
