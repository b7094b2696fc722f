"""AST to checked space: names resolved, constants folded, cells instantiated, all errors collected."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import attrs
import networkx as nx

from dasdsl.errors import DasError, Diagnostic, Span, did_you_mean, error, warning
from dasdsl.lang import ast
from dasdsl.lang.checked import (
    Candidate,
    CellInstance,
    CheckedSpace,
    Edge,
    NetItem,
    Network,
    Node,
    OpRef,
    RangeValue,
    Setting,
    Symbol,
    Unknown,
)
from dasdsl.ops import registry

INPUT_KINDS = {"image": 3, "sequence": 2, "vector": 1}
MERGES = ("sum", "concat")
SEARCH_KEYS = (
    "data",
    "epochs",
    "batch",
    "split",
    "seed",
    "weights",
    "arch",
    "hypergradient",
    "gate",
    "discretize",
    "penalty",
    "constraint",
    "partial_channels",
    "grad_clip",
    "precision",
    "finetune",
    "top",
    "latency_table",
)
RESERVED = ("classes",)
MAX_REPEAT = 10_000  # cells or blocks in one `x N`: a guard against typos such as `x 10000000000`


# ---- the checker ------------------------------------------------------------------------


class _Checker:
    def __init__(self, module: ast.Module, source: str | None, classes: int | None) -> None:
        self.module = module
        self.source = source
        # lines as the parser counts them (at line feeds only)
        self.lines = [line.rstrip("\r") for line in source.split("\n")] if source is not None else None
        self.diags: list[Diagnostic] = []
        self.classes = classes
        self.constants: dict[str, Any] = {}
        self.opsets: dict[str, ast.OpSetDecl] = {}
        self.opdefs: dict[str, ast.OpDefDecl] = {}
        self.cells: dict[str, ast.CellDecl | ast.CellDerive] = {}
        self.used: set[str] = set()
        self.input_kind = "image"
        self._instances: dict[tuple, CellInstance | None] = {}
        self._expanding: list[tuple[str, Span]] = []
        self._contains_itself: set[str] = set()

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

    # -- entry
    def run(self) -> CheckedSpace:
        m = self.module
        inputs = m.statements(ast.InputDecl)
        input_shape = None
        if not inputs:
            self.err(
                "missing 'input' declaration", m.space.span, "add 'input image', 'input sequence' or 'input vector'"
            )
        for extra in inputs[1:]:
            self.err("duplicate 'input' declaration", extra.span, "a space has one input")
        self._collect_names()
        if inputs:
            input_shape = self._input(inputs[0])
        networks = m.statements(ast.NetworkDecl)
        for extra in networks[1:]:
            self.err("duplicate 'network' block", extra.span)
        for extra in m.statements(ast.SearchDecl)[1:]:
            self.err("duplicate 'search' block", extra.span, "merge the entries into one search block")
        for opset in self.opsets.values():
            self._opset(opset)
        for opdef in self.opdefs.values():
            self._opdef(opdef)
        # check every cell template, used or not, with symbolic parameters; then the instances
        for name, decl in self.cells.items():
            self.instantiate(name, {p: Unknown(f"parameter {p}") for p in decl.params}, decl.span, symbolic=True)
        self._nesting_cycles()
        network = self._network(networks[0]) if networks else None
        if not networks:
            self.err("missing 'network' block", m.space.span, "add 'network { cells ... }'")
        search = self._search(m.statements(ast.SearchDecl))
        cell_types = self._cell_types(network)
        self._unused()
        diags = _dedupe(self.diags)
        if any(d.severity == "error" for d in diags):
            raise DasError(diags, self.source)
        return CheckedSpace(
            module=m,
            name=m.space.name,
            input_kind=self.input_kind,
            input_shape=input_shape,
            constants=dict(self.constants),
            macro=network,
            cell_types=cell_types,
            search_block=search,
            warnings=tuple(diags),
            source=self.source,
            checker=self,
        )

    # -- declarations
    def _collect_names(self) -> None:
        seen: dict[str, tuple[str, Span]] = {}

        def declare(name: str, kind: str, span: Span) -> bool:
            def where() -> Span:
                return self.name_span(span, name, after=1 if kind != "cell" else _words_before_name(span, self))

            if name in RESERVED:
                self.err(f"'{name}' is reserved (the number of classes of the data)", where())
                return False
            if name in seen:
                prev_kind, prev_span = seen[name]
                self.err(
                    f"duplicate name '{name}': already defined as {prev_kind} at line {prev_span.line}",
                    where(),
                    "rename one of them",
                )
                return False
            if kind in ("op", "op set") and registry.lookup(name) is not None:
                self.err(f"'{name}' is a built-in op and cannot be redefined", where())
                return False
            seen[name] = (kind, span)
            return True

        for stmt in self.module.body:
            if isinstance(stmt, ast.LetDecl):
                if declare(stmt.name, "constant", stmt.span):
                    value = self.eval(stmt.value, self.constants)
                    self.constants[stmt.name] = value
            elif isinstance(stmt, ast.OpSetDecl):
                if declare(stmt.name, "op set", stmt.span):
                    self.opsets[stmt.name] = stmt
            elif isinstance(stmt, ast.OpDefDecl):
                if declare(stmt.name, "op", stmt.span):
                    self.opdefs[stmt.name] = stmt
                    self._check_params(stmt.params, stmt.span)
            elif isinstance(stmt, (ast.CellDecl, ast.CellDerive)):
                if registry.lookup(stmt.name) is not None:
                    self.err(
                        f"'{stmt.name}' is a built-in op and cannot name a cell",
                        self.name_span(stmt.span, stmt.name, _words_before_name(stmt.span, self)),
                    )
                elif declare(stmt.name, "cell", stmt.span):
                    self.cells[stmt.name] = stmt
                    self._check_params(stmt.params, stmt.span)

    def _check_params(self, params: tuple[str, ...], span: Span) -> None:
        seen: set[str] = set()
        for p in params:
            if p in seen:
                self.err(f"duplicate parameter '{p}'", self.name_span(span, p, 2))
            seen.add(p)

    def _input(self, decl: ast.InputDecl) -> tuple[int, ...] | None:
        where = self.name_span(decl.span, decl.kind, 1)
        if decl.kind not in INPUT_KINDS:
            self.err(
                f"unknown input kind '{decl.kind}'",
                where,
                _suggest(decl.kind, INPUT_KINDS) or "expected image, sequence or vector",
            )
            return None
        self.input_kind = decl.kind
        if decl.shape is None:
            return None
        rank = INPUT_KINDS[decl.kind]
        if len(decl.shape) != rank:
            dims = {"image": "(C, H, W)", "sequence": "(C, L)", "vector": "(F)"}[decl.kind]
            example = {"image": "3, 32, 32", "sequence": "3, 128", "vector": "64"}[decl.kind]
            self.err(
                f"input {decl.kind} takes {_plural(rank, 'size')} {dims}, got {len(decl.shape)}",
                self._shape_span(decl),
                f"e.g. 'input {decl.kind}({example})', or 'input {decl.kind}' to take the sizes from the data",
            )
            return None
        values = [self.positive_int(e, self.constants, "an input size") for e in decl.shape]
        if any(v is None for v in values):
            return None
        return tuple(values)  # type: ignore[arg-type]

    def _shape_span(self, decl: ast.InputDecl) -> Span:
        """From the '(' of ``input image(3, 32)`` to its ')'."""
        kind = self.name_span(decl.span, decl.kind, 1)
        if self.lines is None or kind.line <= 0 or kind.line > len(self.lines):
            return decl.span
        start = self.lines[kind.line - 1].find("(", kind.end_column - 1)
        if start < 0:
            return decl.span
        return Span(decl.span.file, kind.line, start + 1, decl.span.end_line, decl.span.end_column)

    def _opset(self, decl: ast.OpSetDecl) -> None:
        if not decl.ops.ops:
            self.err(f"empty candidate list in op set '{decl.name}'", decl.ops.span, "list at least one op")

    def _opdef(self, decl: ast.OpDefDecl) -> None:
        env = dict(self.constants)
        env.update({p: Unknown(f"parameter {p}") for p in decl.params})
        self._expanding.append((decl.name, self.name_span(decl.span, decl.name, 1)))
        try:
            self._expand(decl.body, env)
        finally:
            self._expanding.pop()

    # -- expressions
    def eval(self, e: ast.Expr, env: dict[str, Any], *, symbols: bool = False) -> Any:
        """Fold an expression; None after reporting an error. ``symbols`` allows bare names."""
        if isinstance(e, ast.Number):
            return e.value
        if isinstance(e, ast.String):
            return e.value
        if isinstance(e, ast.Name):
            if e.id in env:
                return env[e.id]
            if e.id == "classes":
                return self.classes if self.classes is not None else Unknown("classes")
            if symbols:
                return Symbol(e.id)
            self.err(f"unknown name '{e.id}'", e.span, self._name_hint(e.id, env))
            return None
        if isinstance(e, ast.Neg):
            v = self.eval(e.operand, env, symbols=symbols)
            if v is None or isinstance(v, Unknown):
                return v
            if not _is_number(v):
                self.err("'-' needs a number", e.span)
                return None
            return -v
        if isinstance(e, ast.BinOp):
            left = self.eval(e.left, env, symbols=symbols)
            right = self.eval(e.right, env, symbols=symbols)
            if left is None or right is None:
                return None
            if isinstance(left, Unknown) or isinstance(right, Unknown):
                return left if isinstance(left, Unknown) else right
            if not (_is_number(left) and _is_number(right)):
                self.err(f"'{e.op}' needs numbers", e.span)
                return None
            if e.op == "+":
                return left + right
            if e.op == "-":
                return left - right
            if e.op == "*":
                return left * right
            if right == 0:
                self.err("division by zero", e.span)
                return None
            return left // right
        if isinstance(e, ast.Tuple):
            items = [self.eval(i, env, symbols=symbols) for i in e.items]
            return None if any(i is None for i in items) else tuple(items)
        if isinstance(e, ast.Range):
            start, end = self.eval(e.start, env, symbols=symbols), self.eval(e.end, env, symbols=symbols)
            return None if start is None or end is None else RangeValue(start, end)
        if isinstance(e, ast.Call):
            if not symbols:
                self.err(f"'{e.func}(...)' is not a value here", e.span, "op calls go after '~' or in the network")
                return None
            args = [self.eval(v, env, symbols=True) for v in e.positional]
            kwargs = [(a.name, self.eval(a.value, env, symbols=True)) for a in e.args if a.name is not None]
            if any(v is None for v in args) or any(v is None for _, v in kwargs):
                return None
            return Setting(e.func, tuple(args), tuple(kwargs))  # type: ignore[arg-type]
        raise AssertionError(f"unknown expression {e!r}")

    def _name_hint(self, name: str, env: dict[str, Any]) -> str:
        later = next((s for s in self.module.statements(ast.LetDecl) if s.name == name), None)
        if later is not None:
            return f"'{name}' is defined at line {later.span.line}; a constant must be defined before it is used"
        hint = _suggest(name, [*env, "classes"])
        if hint is not None:
            return hint
        if env:
            return "names in scope here: " + ", ".join(sorted(env, key=str.lower)) + ", classes"
        return f"define it first: let {name} = ..."

    def positive_int(self, e: ast.Expr, env: dict[str, Any], what: str, allow_zero: bool = False) -> Any:
        v = self.eval(e, env)
        if v is None or isinstance(v, Unknown):
            return v
        if not isinstance(v, int):
            self.err(f"{what} must be an integer, got {_show(v)}", e.span)
            return None
        if v < 0 or (v == 0 and not allow_zero):
            self.err(f"{what} must be {'non-negative' if allow_zero else 'positive'}, got {v}", e.span)
            return None
        return v

    # -- ops
    def _expand(self, op: ast.OpExpr, env: dict[str, Any], *, in_choice: bool = False) -> Candidate | None:
        steps: list[OpRef] = []
        ok = True
        for call in op.steps:
            refs = self._call(call, env, in_choice=in_choice and len(op.steps) == 1)
            if refs is None:
                ok = False
            else:
                steps.extend(refs)
        return Candidate(tuple(steps), op) if ok else None

    def _call(self, call: ast.Call, env: dict[str, Any], *, in_choice: bool = False) -> list[OpRef] | None:
        name = call.func
        if name in self.opsets:
            self.err(
                f"op set '{name}' is a list of candidates, not one op",
                self.name_span(call.span, name),
                f"use it alone after '~' (x ~ {name}) or inside a candidate list ([{name}, ...])",
            )
            return None
        if name in self.opdefs:
            self.used.add(name)
            decl = self.opdefs[name]
            where = self.name_span(call.span, name)
            names = [n for n, _ in self._expanding]
            if name in names:
                self._op_cycle(names.index(name), where)
                return None
            args = self._bind(call, decl.params, None, env, f"op '{name}'")
            if args is None:
                return None
            self._expanding.append((name, where))
            try:
                inner_env = dict(self.constants)
                inner_env.update(args)
                cand = self._expand(decl.body, inner_env)
            finally:
                self._expanding.pop()
            return list(cand.steps) if cand is not None else None
        if name in self.cells:
            self.used.add(name)
            decl = self.cells[name]
            args = self._bind(call, decl.params, None, env, f"cell '{name}'")
            base = self._base_decl(name)
            if base is not None:
                n_inputs = sum(len(s.names) for s in base.body if isinstance(s, ast.CellInputs))
                if n_inputs != 1:
                    self.err(
                        f"cell '{name}' has {n_inputs} inputs and cannot be used as an op",
                        self.name_span(call.span, name),
                        "a cell used as an op (a candidate on an edge) reads exactly one input",
                    )
                    return None
            if args is None:
                return None
            return [OpRef(name, tuple(args.items()), call.span, is_cell=True)]
        spec = registry.lookup(name)
        if spec is None:
            where = self.name_span(call.span, name)
            known = [*registry.known_names(), *self.opdefs, *self.cells]
            if in_choice and not call.args:
                known += list(self.opsets)
                self.err(f"unknown op or op set '{name}'", where, _suggest(name, known))
            else:
                self.err(f"unknown op '{name}'", where, _suggest(name, known))
            return None
        if self.input_kind not in spec.kinds:
            why = "pooling" if "pool" in name else "a spatial op"
            vector_ops = [n for n in registry.known_names() if not registry.lookup(n).spatial_only]  # type: ignore[union-attr]
            self.err(
                f"'{name}' is {why} and needs image or sequence input; this space's input is {self.input_kind}",
                self.name_span(call.span, name),
                "vector spaces use " + ", ".join(vector_ops),
            )
            return None
        args = self._bind(call, tuple(p.name for p in spec.params), spec, env, f"'{name}'")
        if args is None:
            return None
        return [OpRef(name, tuple(args.items()), call.span)]

    def _op_cycle(self, start: int, where: Span) -> None:
        """Report ``op a = ... b ...``, ``op b = ... a ...`` once, at the earliest definition in the cycle."""
        members = [n for n, _ in self._expanding[start:]]
        # the call inside members[i]'s body that leads to the next member
        calls = [span for _, span in self._expanding[start + 1 :]] + [where]
        first, order, path = _rotate_cycle(members, [self.opdefs[m].span.line for m in members])
        self.err(
            f"op '{order[0]}' is defined in terms of itself{path}",
            calls[first],
            "an op may only use built-in ops and ops defined without it",
        )

    def _base_decl(self, name: str) -> ast.CellDecl | None:
        """The cell body a (possibly derived) cell stands for; None for unknown bases and cycles."""
        seen: set[str] = set()
        decl = self.cells.get(name)
        while isinstance(decl, ast.CellDerive):
            if decl.name in seen:
                return None
            seen.add(decl.name)
            decl = self.cells.get(decl.base.func)
        return decl

    def _bind(
        self, call: ast.Call, params: tuple[str, ...], spec: registry.OpSpec | None, env: dict[str, Any], what: str
    ) -> dict[str, Any] | None:
        """Match positional and keyword arguments to parameters, check their types."""
        positional = [a for a in call.args if a.name is None]
        keywords = [a for a in call.args if a.name is not None]
        ok = True
        specs = {p.name: p for p in spec.params} if spec else {}
        required = [p for p in params if (specs[p].required if spec else True)]
        if len(positional) > len(params):
            if not params:
                counted = "takes no arguments"
            elif spec is None or all(p.required for p in spec.params):
                counted = f"takes {len(params)} argument{'s' if len(params) != 1 else ''}"
            else:
                counted = f"takes at most {len(params)} argument{'s' if len(params) != 1 else ''}"
            self.err(
                f"{what} {counted}, got {len(positional)}",
                positional[len(params)].span,
                _signature_hint(call.func, params, spec),
            )
            return None
        bound: dict[str, tuple[ast.Arg, Any]] = {}
        for param, arg in zip(params, positional, strict=False):
            bound[param] = (arg, None)
        for arg in keywords:
            assert arg.name is not None
            if arg.name not in params:
                self.err(
                    f"{what} has no parameter '{arg.name}'",
                    self.name_span(arg.span, arg.name),
                    _suggest(arg.name, params) or _signature_hint(call.func, params, spec),
                )
                ok = False
            elif arg.name in bound:
                self.err(f"{what} got parameter '{arg.name}' twice", arg.span)
                ok = False
            else:
                bound[arg.name] = (arg, None)
        missing = [p for p in required if p not in bound]
        if missing and ok:
            listed = ", ".join(f"'{m}'" for m in missing)
            self.err(
                f"{what} is missing argument{'s' if len(missing) > 1 else ''} {listed}",
                call.span,
                _signature_hint(call.func, params, spec),
            )
            return None
        if not ok:
            return None
        values: dict[str, Any] = {}
        for param in params:
            if param not in bound:
                values[param] = specs[param].default
                continue
            arg = bound[param][0]
            p = specs.get(param)
            if p is None or p.type == "any":
                v = self.eval(arg.value, env)
            elif p.type == "int":
                v = self.positive_int(arg.value, env, f"{what} argument '{param}'", allow_zero=not p.positive)
            else:
                v = self.eval(arg.value, env)
                if v is not None and not isinstance(v, Unknown) and not _is_number(v):
                    self.err(f"{what} argument '{param}' must be a number, got {_show(v)}", arg.value.span)
                    v = None
                elif _is_number(v) and param == "p" and not 0 <= v < 1:
                    self.err(f"{what} argument 'p' must be in [0, 1), got {v}", arg.value.span)
                    v = None
            if v is None:
                ok = False
            values[param] = v
        return values if ok else None

    # -- cells
    def instantiate(
        self, name: str, args: dict[str, Any], span: Span, *, symbolic: bool = False, type_name: str | None = None
    ) -> CellInstance | None:
        key = (name, tuple(sorted((k, repr(v)) for k, v in args.items())), type_name)
        if key in self._instances:
            return self._instances[key]
        self._instances[key] = None  # guards recursion
        first = len(self.diags)
        inst = self._instantiate(name, args, span, symbolic, type_name or name)
        self._instances[key] = inst
        if not symbolic and span.line > 0:
            # errors that only these arguments cause: say which instance
            shown = ", ".join(_show(v) for v in args.values())
            context = f"in the instance {name}({shown}) at {span.line}:{span.column}"
            for i in range(first, len(self.diags)):
                d = self.diags[i]
                if d.severity == "error":
                    self.diags[i] = attrs.evolve(d, hint=f"{d.hint}; {context}" if d.hint else context)
        return inst

    def _instantiate(
        self, name: str, args: dict[str, Any], span: Span, symbolic: bool, type_name: str
    ) -> CellInstance | None:
        decl = self.cells[name]
        stride: int | None = None  # the outermost declared stride wins
        seen = [name]
        while isinstance(decl, ast.CellDerive):
            env = dict(self.constants)
            env.update(args)
            if decl.input_stride is not None:
                s = self.positive_int(decl.input_stride, env, "an input stride")
                if self._reject_vector_stride(decl):
                    return None
                if s is None:
                    return None
                if not isinstance(s, Unknown):
                    stride = s if stride is None else stride
            base = decl.base.func
            if base not in self.cells:
                self.err(
                    f"unknown cell '{base}'",
                    decl.base.span,
                    _suggest(base, self.cells) or _builtin_hint(base),
                )
                return None
            if base in seen:
                self._derive_cycle(seen[seen.index(base) :])
                return None
            seen.append(base)
            self.used.add(base)
            bound = self._bind(decl.base, self.cells[base].params, None, env, f"cell '{base}'")
            if bound is None:
                return None
            args, decl = bound, self.cells[base]
        if decl.input_stride is not None and stride is None:  # `cell reduce(c) with input stride 2 { ... }`
            env = dict(self.constants)
            env.update(args)
            if self._reject_vector_stride(decl):
                return None
            s = self.positive_int(decl.input_stride, env, "an input stride")
            if s is None:
                return None
            if not isinstance(s, Unknown):
                stride = s
        return self._cell_body(decl, args, stride or 1, type_name, self.cells[name], symbolic)

    def _derive_cycle(self, members: list[str]) -> None:
        """Report ``cell a = b``, ``cell b = a`` once, at the earliest declaration in the cycle."""
        _, order, path = _rotate_cycle(members, [self.cells[m].span.line for m in members])
        decl = self.cells[order[0]]
        assert isinstance(decl, ast.CellDerive)
        self.err(
            f"cell '{order[0]}' is derived from itself{path}",
            decl.base.span,
            "derive a cell from a cell declared with a '{ ... }' body",
        )

    def _reject_vector_stride(self, decl: ast.CellDecl | ast.CellDerive) -> bool:
        """Report 'with input stride' in a space whose input is vector; True when reported."""
        if self.input_kind != "vector":
            return False
        self.err(
            "'with input stride' needs image or sequence input; this space's input is vector",
            self._stride_span(decl),
            "a vector has no resolution to reduce: remove 'with input stride'",
        )
        return True

    def _stride_span(self, decl: ast.CellDecl | ast.CellDerive) -> Span:
        """From 'with' to the end of the stride value."""
        assert decl.input_stride is not None
        value = decl.input_stride.span
        if self.lines is None or value.line <= 0 or value.line > len(self.lines):
            return value
        text = self.lines[value.line - 1][: value.column - 1]
        found = list(re.finditer(r"\bwith\b", text))
        if not found:
            return value
        return Span(value.file, value.line, found[-1].start() + 1, value.end_line, value.end_column)

    def _cell_name_span(self, decl: ast.CellDecl) -> Span:
        return self.name_span(decl.span, decl.name, _words_before_name(decl.span, self))

    def _source_span(self, group: ast.EdgeGroup, i: int) -> Span:
        """The i-th source of an edge group (``(x, x)``: the second ``x`` for i = 1)."""
        src = group.sources[i]
        return self.name_span(group.span, src, occurrence=group.sources[:i].count(src))

    def _cell_body(
        self,
        decl: ast.CellDecl,
        args: dict[str, Any],
        stride: int,
        type_name: str,
        outer: ast.CellDecl | ast.CellDerive,
        symbolic: bool,
    ) -> CellInstance | None:
        env = dict(self.constants)
        env.update(args)
        inputs_stmts = [s for s in decl.body if isinstance(s, ast.CellInputs)]
        outputs = [s for s in decl.body if isinstance(s, ast.CellOutput)]
        node_decls = [s for s in decl.body if isinstance(s, ast.NodeDecl)]
        ok = True
        if not inputs_stmts:
            self.err(
                f"cell '{decl.name}' has no 'input'",
                self._cell_name_span(decl),
                "add 'input x' as the cell's first line",
            )
            ok = False
        for extra in inputs_stmts[1:]:
            self.err(f"cell '{decl.name}' declares its inputs twice", extra.span, "list all inputs on one 'input' line")
            ok = False
        if not outputs:
            self.err(
                f"cell '{decl.name}' has no 'output'",
                self._cell_name_span(decl),
                "add 'output NODE' as the cell's last line",
            )
            ok = False
        for extra in outputs[1:]:
            self.err(f"cell '{decl.name}' has two outputs", extra.span, "a cell has one 'output' line")
            ok = False
        inputs = inputs_stmts[0].names if inputs_stmts else ()
        names: dict[str, Span] = {}
        for i, n in enumerate(inputs):
            if n in names:
                self.err(
                    f"duplicate name '{n}' in cell '{decl.name}'",
                    self.name_span(inputs_stmts[0].span, n, 1 + i),
                    f"the inputs of a cell have distinct names, e.g. 'input {n}0, {n}1'",
                )
                ok = False
            names[n] = inputs_stmts[0].span
        for nd in node_decls:
            if nd.name in names:
                self.err(
                    f"duplicate name '{nd.name}' in cell '{decl.name}'",
                    self.name_span(nd.span, nd.name, 1),
                    f"'{nd.name}' is already defined at line {names[nd.name].line}",
                )
                ok = False
            names[nd.name] = nd.span
        # the graph checks (cycles, reaching the output) run when the names are sound, even if some op is wrong
        graph_ok = ok and all(
            src in names and src != nd.name for nd in node_decls for group in nd.edges for src in group.sources
        )
        graph = nx.DiGraph()
        graph.add_nodes_from(names)
        nodes: dict[str, Node] = {}
        for nd in node_decls:
            node = self._node(nd, env, names, graph, decl.name, report_unknown=bool(inputs_stmts))
            if node is None:
                ok = False
            elif nd.name not in nodes:
                nodes[nd.name] = node
        if not outputs:
            return None
        out = outputs[0]
        merge = out.merge or "sum"
        if out.merge is not None and out.merge not in MERGES:
            self.err(
                f"unknown output merge '{out.merge}'",
                self.name_span(out.span, out.merge, 1),
                _suggest(out.merge, MERGES) or "use concat(...) or sum(...)",
            )
            ok = False
        listed: set[str] = set()
        for i, o in enumerate(out.names):
            if o not in names:
                self.err(
                    f"unknown node '{o}' in the output of cell '{decl.name}'",
                    self.name_span(out.span, o, (1 if out.merge is None else 0) + i),
                    _suggest(o, names),
                )
                ok = graph_ok = False
            elif o in listed:
                self.err(
                    f"node '{o}' appears twice in the output of cell '{decl.name}'",
                    self.name_span(out.span, o, (1 if out.merge is None else 0) + i),
                )
                ok = False
            listed.add(o)
        if not graph_ok:
            return None
        try:
            topo = list(nx.topological_sort(graph))
        except nx.NetworkXUnfeasible:
            cycle = nx.find_cycle(graph)
            u, v = cycle[0]
            path = " -> ".join([u] + [b for _, b in cycle])
            nd = next(n for n in node_decls if n.name == v)
            self.err(
                f"cycle in cell '{decl.name}': {path}",
                self.name_span(nd.span, u, 3),
                "a cell is a DAG: a node may only read inputs and nodes that do not depend on it",
            )
            ok = False
        # every node must reach the output; inputs that nothing reads are warnings
        reaching = set(out.names)
        for o in out.names:
            reaching |= nx.ancestors(graph, o)
        for nd in node_decls:
            if nd.name not in reaching:
                self.err(
                    f"node '{nd.name}' does not reach the output of cell '{decl.name}'",
                    self.name_span(nd.span, nd.name, 1),
                    f"use '{nd.name}' in a later node or in the output",
                )
                ok = False
        for n in inputs:
            if n not in reaching:
                self.warn(
                    f"input '{n}' of cell '{decl.name}' is never read (dead input)",
                    self.name_span(inputs_stmts[0].span, n, 1),
                    "remove it, or read it in a node",
                )
        if not ok:
            return None
        self._dead_nodes(decl, node_decls, nodes, inputs, out.names, names, topo)
        order = [n for n in topo if n in nodes]
        return CellInstance(
            name=outer.name,
            type_name=type_name,
            args=tuple(args.items()),
            inputs=tuple(inputs),
            nodes=tuple(nodes[n] for n in order),
            output=tuple(out.names),
            output_merge=merge,
            input_stride=stride,
            unshared=outer.unshared,
            span=outer.span,
        )

    def _dead_nodes(
        self,
        decl: ast.CellDecl,
        node_decls: list[ast.NodeDecl],
        nodes: dict[str, Node],
        inputs: tuple[str, ...],
        output: tuple[str, ...],
        names: dict[str, Span],
        topo: list[str],
    ) -> None:
        """Warn about nodes that are always zero or whose value never reaches the output.

        ``topo`` is the cell's names (inputs and nodes) in topological order.
        """
        live = nx.DiGraph()
        live.add_nodes_from(names)
        zero: set[str] = set()
        for name in topo:
            node = nodes.get(name)
            if node is None:
                continue
            for e in node.edges:
                if e.source not in zero and not all(c.is_none for c in e.candidates):
                    live.add_edge(e.source, e.target)
            if not any(live.has_edge(e.source, name) for e in node.edges):
                zero.add(name)
        affecting = set(output)
        for o in output:
            affecting |= nx.ancestors(live, o)
        for nd in node_decls:
            if nd.name in zero:
                self.warn(
                    f"node '{nd.name}' of cell '{decl.name}' is always zero (dead node)",
                    self.name_span(nd.span, nd.name, 1),
                    "every edge into it is 'none' or reads a node that is always zero",
                )
            elif nd.name not in affecting:
                self.warn(
                    f"node '{nd.name}' of cell '{decl.name}' never affects the output (dead node)",
                    self.name_span(nd.span, nd.name, 1),
                    "every path from it to the output goes through 'none'",
                )
        for n in inputs:
            if n not in affecting and any(e.source == n for node in nodes.values() for e in node.edges):
                self.warn(
                    f"input '{n}' of cell '{decl.name}' never affects the output (dead input)",
                    self.name_span(names[n], n, 1),
                    "every edge from it is 'none'",
                )

    def _node(
        self,
        nd: ast.NodeDecl,
        env: dict[str, Any],
        names: dict[str, Span],
        graph: nx.DiGraph,
        cell: str,
        *,
        report_unknown: bool = True,
    ) -> Node | None:
        """One node; ``report_unknown`` is off when the cell lacks its 'input' line (reported once)."""
        ok = True
        edges: list[Edge] = []
        seen_sources: set[str] = set()
        for group in nd.edges:
            choice, cands = self._candidates(group.candidates, env)
            if cands is None:
                ok = False
            for i, src in enumerate(group.sources):
                if src not in names:
                    if report_unknown:
                        self.err(
                            f"unknown node '{src}' in cell '{cell}'",
                            self._source_span(group, i),
                            _suggest(src, names),
                        )
                    ok = False
                    continue
                if src == nd.name:
                    self.err(f"node '{nd.name}' reads itself", self._source_span(group, i), "a cell is a DAG")
                    ok = False
                    continue
                if src in seen_sources:
                    self.err(
                        f"node '{nd.name}' reads '{src}' twice",
                        self._source_span(group, i),
                        "one edge per source; list candidates in []",
                    )
                    ok = False
                    continue
                seen_sources.add(src)
                graph.add_edge(src, nd.name)
                if cands is not None:
                    edges.append(Edge(src, nd.name, cands, choice, group.span))
        keep = None
        if nd.keep is not None:
            keep = self.positive_int(nd.keep, env, "keep", allow_zero=True)
            fan_in = sum(len(g.sources) for g in nd.edges)
            if keep is None:
                ok = False
            elif keep == 0:
                self.err(
                    f"keep 0 on node '{nd.name}' keeps no edge",
                    nd.keep.span,
                    f"keep between 1 and {fan_in}, or no 'keep' to keep every edge",
                )
                ok = False
            elif not isinstance(keep, Unknown) and keep > fan_in:
                self.err(
                    f"keep {keep} is larger than the fan-in of node '{nd.name}' ({_plural(fan_in, 'edge')})",
                    nd.keep.span,
                    f"keep at most {fan_in}",
                )
                ok = False
            elif isinstance(keep, Unknown):
                keep = None
            elif ok and keep > (live := sum(1 for e in edges if any(not c.is_none for c in e.candidates))):
                self.err(
                    f"keep {keep} on node '{nd.name}', but only {live} of its {_plural(fan_in, 'edge')} "
                    f"{'has' if live == 1 else 'have'} a candidate other than 'none'",
                    nd.keep.span,
                    "'keep' never keeps a 'none' edge: add candidates or lower keep",
                )
                ok = False
        merge = nd.merge or "sum"
        if nd.merge is not None and nd.merge not in MERGES:
            self.err(f"unknown merge '{nd.merge}'", self.name_span(nd.span, nd.merge, 3), _suggest(nd.merge, MERGES))
            ok = False
        if not ok:
            return None
        return Node(nd.name, tuple(edges), keep, merge, nd.span)

    def _candidates(
        self, cands: ast.OpList | ast.OpExpr, env: dict[str, Any]
    ) -> tuple[bool, tuple[Candidate, ...] | None]:
        """(is_choice, candidates) for the right side of '~'."""
        if isinstance(cands, ast.OpExpr):
            if len(cands.steps) == 1 and not cands.steps[0].args and cands.steps[0].func in self.opsets:
                name = cands.steps[0].func
                self.used.add(name)
                opset = self.opsets[name]
                if not opset.ops.ops:
                    return True, None  # reported at the op set
                return True, self._list(opset.ops, env, (name,))
            cand = self._expand(cands, env, in_choice=True)
            return False, None if cand is None else (cand,)
        if not cands.ops:
            self.err("empty candidate list", cands.span, "list at least one op, e.g. [skip, conv(3)]")
            return True, None
        return True, self._list(cands, env)

    def _list(self, ops: ast.OpList, env: dict[str, Any], within: tuple[str, ...] = ()) -> tuple[Candidate, ...] | None:
        result: list[Candidate] = []
        ok = True
        labels: set[str] = set()
        for op in ops.ops:
            if len(op.steps) == 1 and not op.steps[0].args and op.steps[0].func in self.opsets:
                name = op.steps[0].func
                self.used.add(name)
                if name in within:
                    path = " -> ".join([*within[within.index(name) :], name])
                    self.err(
                        f"op set '{name}' contains itself: {path}",
                        op.span,
                        "an op set may list other sets, but not itself",
                    )
                    ok = False
                    continue
                inner = self._list(self.opsets[name].ops, env, (*within, name))
                parts = inner or ()
                ok = ok and inner is not None
            else:
                cand = self._expand(op, env, in_choice=True)
                parts = (cand,) if cand is not None else ()
                ok = ok and cand is not None
            for cand in parts:
                label = cand.label
                if label in labels:
                    self.err(f"duplicate candidate '{label}'", op.span, "each candidate may appear once in a choice")
                    ok = False
                labels.add(label)
                result.append(cand)
        return tuple(result) if ok else None

    # -- network
    def _network(self, net: ast.NetworkDecl) -> Network | None:
        stems = [s for s in net.body if isinstance(s, ast.Stem)]
        heads = [s for s in net.body if isinstance(s, ast.Head)]
        cells = [s for s in net.body if isinstance(s, ast.Cells)]
        for extra in stems[1:]:
            self.err("duplicate 'stem'", extra.span)
        for extra in heads[1:]:
            self.err("duplicate 'head'", extra.span)
        if not cells:
            self.err("the network has no 'cells'", net.span, "add 'cells NAME(args) x N'")
        stem = self._expand(stems[0].op, self.constants) if stems else None
        head = self._expand(heads[0].op, self.constants) if heads else None
        items: list[NetItem] = []
        index = 0
        for line in cells:
            for item in line.items:
                repeat = 1
                if item.repeat is not None:
                    r = self.positive_int(item.repeat, self.constants, "a repeat count")
                    if isinstance(r, int) and r > MAX_REPEAT:
                        self.err(
                            f"a repeat count of {r:,} is more than a network can hold (at most {MAX_REPEAT:,})",
                            item.repeat.span,
                        )
                        r = None
                    repeat = r if isinstance(r, int) else 1
                name = item.call.func
                if name in self.cells:
                    self.used.add(name)
                    decl = self.cells[name]
                    args = self._bind(item.call, decl.params, None, self.constants, f"cell '{name}'")
                    if args is None:
                        continue
                    for _ in range(repeat):
                        type_name = f"{name}#{index}" if decl.unshared else name
                        inst = self.instantiate(name, args, item.span, type_name=type_name)
                        index += 1
                        if inst is not None:
                            items.append(NetItem(inst, None, item.span))
                elif name not in self.opdefs and name not in self.opsets and registry.lookup(name) is None:
                    self.err(
                        f"unknown cell or op '{name}'",
                        self.name_span(item.call.span, name),
                        _suggest(name, [*self.cells, *self.opdefs, *registry.known_names()]),
                    )
                else:
                    cand = self._expand(ast.OpExpr((item.call,), span=item.call.span), self.constants)
                    if cand is not None:
                        items.extend(NetItem(None, cand, item.span) for _ in range(repeat))
        return Network(stem, tuple(items), head)

    def _cell_types(self, network: Network | None) -> dict[str, CellInstance]:
        """One instance per architecture type; shared instances must agree in their choices."""
        types: dict[str, CellInstance] = {}
        if network is None:
            return types
        # each instance with the span and name of its use, for the error
        pending = [(item.cell, item.span, item.cell.name) for item in network.items if item.cell]
        while pending:
            inst, span, used_as = pending.pop(0)
            if inst.type_name in types:
                difference = _difference(types[inst.type_name], inst)
                if difference is not None:
                    self.err(
                        f"instances of cell '{inst.name}' differ but share architecture parameters: {difference}",
                        self.name_span(span, used_as),
                        f"declare 'unshared cell {inst.name}' to give each instance its own architecture parameters",
                    )
                continue
            types[inst.type_name] = inst
            for edge in inst.edges:
                for cand in edge.candidates:
                    for ref in cand.nested_cells:
                        if self.cells[ref.name].unshared:
                            self.err(
                                f"cell '{ref.name}' is used as an op and cannot be unshared",
                                self.name_span(ref.span, ref.name),
                                f"remove 'unshared' from the declaration of '{ref.name}'",
                            )
                            continue
                        if ref.name in self._contains_itself:
                            continue
                        nested = self.instantiate(ref.name, dict(ref.args), ref.span)
                        if nested is not None:
                            pending.append((nested, ref.span, ref.name))
        return types

    def _nesting_cycles(self) -> None:
        """A cell used as an op inside itself, directly or through other cells, has no finite architecture."""
        graph = nx.DiGraph()
        spans: dict[tuple[str, str], Span] = {}
        for inst in self._instances.values():
            if inst is None:
                continue
            for edge in inst.edges:
                for cand in edge.candidates:
                    for ref in cand.nested_cells:
                        graph.add_edge(inst.name, ref.name)
                        key = (inst.name, ref.name)
                        span = self.name_span(ref.span, ref.name)
                        if key not in spans or (span.line, span.column) < (spans[key].line, spans[key].column):
                            spans[key] = span
        for cycle in sorted(nx.simple_cycles(graph), key=lambda c: sorted(c)):
            _, order, path = _rotate_cycle(cycle, [self.cells[m].span.line for m in cycle])
            self._contains_itself.update(order)
            self.err(
                f"cell '{order[0]}' contains itself{path}",
                spans[(order[0], order[1 % len(order)])],
                "a cell used as an op may not use, directly or through other cells, the cell it is in",
            )

    # -- search
    def _search(self, blocks: list[ast.SearchDecl]) -> dict[str, tuple[Any, ...]]:
        result: dict[str, tuple[Any, ...]] = {}
        for block in blocks[:1]:
            for entry in block.entries:
                if entry.key not in SEARCH_KEYS:
                    self.err(
                        f"unknown search setting '{entry.key}'",
                        self.name_span(entry.span, entry.key),
                        _suggest(entry.key, SEARCH_KEYS) or "see docs/language.md for the settings",
                    )
                    continue
                if entry.key in result:
                    self.err(f"search setting '{entry.key}' is given twice", self.name_span(entry.span, entry.key))
                    continue
                values = tuple(self.eval(v, self.constants, symbols=True) for v in entry.values)
                if all(v is not None for v in values):
                    result[entry.key] = values
        return result

    # -- warnings
    def _unused(self) -> None:
        for name, decl in [*self.opsets.items(), *self.opdefs.items()]:
            if name not in self.used:
                kind = "op set" if isinstance(decl, ast.OpSetDecl) else "op"
                self.warn(f"{kind} '{name}' is never used", self.name_span(decl.span, name, 1))
        for name, decl in self.cells.items():
            if name not in self.used:
                self.warn(
                    f"cell '{name}' is never used", self.name_span(decl.span, name, _words_before_name(decl.span, self))
                )


def _rotate_cycle(members: list[str], lines: list[int]) -> tuple[int, list[str], str]:
    """A cycle rotated to start at the member with the earliest line (``lines[i]`` is ``members[i]``'s).

    Returns that member's index in ``members``, the rotated members, and the path text for a message:
    ``": a -> b -> a"``, or ``""`` for a single member.
    """
    first = lines.index(min(lines))
    order = members[first:] + members[:first]
    path = ": " + " -> ".join([*order, order[0]]) if len(order) > 1 else ""
    return first, order, path


def _suggest(name: str, choices: Iterable[str]) -> str | None:
    """``did you mean X?`` for a misspelled name; also catches short names one edit away (c2 for c1)."""
    choices = sorted(set(choices) - {name})
    hint = did_you_mean(name, choices)
    if hint is not None or len(name) < 2:
        return hint
    close = [c for c in choices if _edit_distance(name.lower(), c.lower()) <= 1]
    return "did you mean " + " or ".join(close[:3]) + "?" if close else None


def _edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _words_before_name(span: Span, checker: _Checker) -> int:
    if checker.lines is None or span.line <= 0:
        return 1
    text = checker.lines[span.line - 1][span.column - 1 :]
    return 2 if text.startswith("unshared") else 1


def _show_args(inst: CellInstance) -> str:
    return f"{inst.name}({', '.join(_show(v) for _, v in inst.args)})"


def _difference(a: CellInstance, b: CellInstance) -> str | None:
    """What differs between two instances of one cell type, in words; None when they agree."""
    if a.structure() == b.structure():
        return None
    for na, nb in zip(a.nodes, b.nodes, strict=False):
        if na.keep != nb.keep:
            return (
                f"node '{na.name}' keeps {_plural(na.keep, 'edge')} in {_show_args(a)} "
                f"and {_plural(nb.keep, 'edge')} in {_show_args(b)}"
            )
    return f"their choices differ in {_show_args(a)} and {_show_args(b)}"


def _plural(n: int | None, word: str) -> str:
    if n is None:
        return f"every {word}"
    return f"{n} {word}{'s' if n != 1 else ''}"


def _builtin_hint(name: str) -> str | None:
    if registry.lookup(name) is not None:
        return f"'{name}' is an op; a cell is derived from another cell"
    return None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _show(v: Any) -> str:
    if isinstance(v, Symbol):
        return v.name
    if isinstance(v, str):
        return f'"{v}"'
    return repr(v)


def _signature_hint(name: str, params: tuple[str, ...], spec: registry.OpSpec | None) -> str:
    if spec is None:
        return f"signature: {name}({', '.join(params)})"
    parts = [
        p.name if p.required else f"{p.name} = {_show(p.default) if p.default is not None else '...'}"
        for p in spec.params
    ]
    return f"signature: {name}({', '.join(parts)})"


def _dedupe(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple] = set()
    out = []
    for d in diags:
        key = (d.severity, d.message, d.span.line, d.span.column)
        if key not in seen:
            seen.add(key)
            out.append(d)
    out.sort(key=lambda d: (d.span.line, d.span.column, d.severity != "error"))
    return out


def check(module: ast.Module, source: str | None = None, *, classes: int | None = None) -> CheckedSpace:
    """Resolve and check a parsed module; raise DasError listing every error found."""
    return _Checker(module, source, classes).run()
