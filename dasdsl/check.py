"""AST to checked space: names resolved, constants folded, cells instantiated, all errors collected."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import attrs
import networkx as nx

from dasdsl import ast, oplib
from dasdsl.errors import DasError, Diagnostic, Span, did_you_mean, error, warning
from dasdsl.printer import format_op

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
    "warmup",
    "valid_every",
    "finetune",
    "top",
)
RESERVED = ("classes",)


class Unknown:
    """A value known only at compile time (``classes``) or a cell parameter checked symbolically."""

    def __init__(self, why: str) -> None:
        self.why = why

    def __repr__(self) -> str:
        return f"<{self.why}>"


@attrs.frozen
class Setting:
    """An evaluated call in the search block, e.g. ``sgd(lr = 0.025)``."""

    func: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    def kw(self) -> dict[str, Any]:
        return dict(self.kwargs)


@attrs.frozen
class Symbol:
    """A bare name in the search block (``softmax``, ``digits``, ``cosine``)."""

    name: str


@attrs.frozen
class RangeValue:
    start: Any
    end: Any


# ---- checked structures ----------------------------------------------------------------


@attrs.frozen
class OpRef:
    """One resolved op (or nested cell) with its arguments by name."""

    name: str
    args: tuple[tuple[str, Any], ...]
    span: Span = attrs.field(eq=False, repr=False)
    is_cell: bool = False

    def arg(self, name: str, default: Any = None) -> Any:
        return dict(self.args).get(name, default)


@attrs.frozen
class Candidate:
    """A candidate on an edge: a chain of op steps (composite ops expanded)."""

    steps: tuple[OpRef, ...]
    source: ast.OpExpr = attrs.field(eq=False, repr=False)

    @property
    def label(self) -> str:
        return format_op(self.source)

    @property
    def is_none(self) -> bool:
        return len(self.steps) == 1 and self.steps[0].name in oplib.ZERO_OPS

    @property
    def is_skip(self) -> bool:
        return len(self.steps) == 1 and self.steps[0].name in oplib.IDENTITY_OPS

    @property
    def nested_cells(self) -> tuple[OpRef, ...]:
        return tuple(s for s in self.steps if s.is_cell)


@attrs.frozen
class Edge:
    source: str
    target: str
    candidates: tuple[Candidate, ...]
    is_choice: bool
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Node:
    name: str
    edges: tuple[Edge, ...]
    keep: int | None
    merge: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class CellInstance:
    """A cell template applied to its arguments: what the compiler lowers."""

    name: str
    type_name: str  # architecture parameters are shared by instances with the same type_name
    args: tuple[tuple[str, Any], ...]
    inputs: tuple[str, ...]
    nodes: tuple[Node, ...]  # topological order
    output: tuple[str, ...]
    output_merge: str
    input_stride: int
    unshared: bool
    span: Span = attrs.field(eq=False, repr=False)

    @property
    def edges(self) -> list[Edge]:
        return [e for n in self.nodes for e in n.edges]

    @property
    def choices(self) -> list[Edge]:
        return [e for e in self.edges if e.is_choice]

    def structure(self) -> tuple:
        """What must agree between instances that share architecture parameters."""
        return tuple(
            (n.name, n.keep, tuple((e.source, tuple(c.label for c in e.candidates)) for e in n.edges))
            for n in self.nodes
        )


@attrs.frozen
class NetItem:
    """One element of the macro sequence: a cell instance or a plain op."""

    cell: CellInstance | None
    op: Candidate | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Network:
    stem: Candidate | None
    items: tuple[NetItem, ...]
    head: Candidate | None


@attrs.frozen
class CheckedSpace:
    """A space whose names are resolved and whose cells are instantiated for the network."""

    module: ast.Module
    name: str
    input_kind: str
    input_shape: tuple[int, ...] | None
    constants: dict[str, Any]
    network: Network | None
    cell_types: dict[str, CellInstance]  # one representative instance per architecture type
    search: dict[str, tuple[Any, ...]]
    warnings: tuple[Diagnostic, ...]
    source: str | None = None
    checker: Any = attrs.field(default=None, eq=False, repr=False)

    def instantiate(self, name: str, args: dict[str, Any]) -> CellInstance:
        """A nested cell instance (hierarchical spaces) for the compiler."""
        inst = self.checker.instantiate(name, args, Span.unknown())
        assert inst is not None
        return inst


# ---- the checker ------------------------------------------------------------------------


class _Checker:
    def __init__(self, module: ast.Module, source: str | None, classes: int | None) -> None:
        self.module = module
        self.source = source
        self.lines = source.splitlines() if source is not None else None
        self.diags: list[Diagnostic] = []
        self.classes = classes
        self.constants: dict[str, Any] = {}
        self.opsets: dict[str, ast.OpSetDecl] = {}
        self.opdefs: dict[str, ast.OpDefDecl] = {}
        self.cells: dict[str, ast.CellDecl | ast.CellDerive] = {}
        self.used: set[str] = set()
        self.input_kind = "image"
        self._instances: dict[tuple, CellInstance | None] = {}
        self._expanding: list[str] = []

    # -- diagnostics
    def err(self, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(error(message, span, hint))

    def warn(self, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(warning(message, span, hint))

    def name_span(self, span: Span, name: str, after: int = 0) -> Span:
        """The span of ``name`` as a whole word on the statement's first line, skipping ``after`` words."""
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
        m = re.compile(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])").search(text, pos, end)
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
        network = self._network(networks[0]) if networks else None
        if not networks:
            self.err("missing 'network' block", m.space.span, "add 'network { cells ... }'")
        # check every cell template, used or not, with symbolic parameters
        for name, decl in self.cells.items():
            self.instantiate(name, {p: Unknown(f"parameter {p}") for p in decl.params}, decl.span, symbolic=True)
        search = self._search(m.statements(ast.SearchDecl))
        self._unused()
        cell_types = self._cell_types(network)
        diags = _dedupe(self.diags)
        if any(d.severity == "error" for d in diags):
            raise DasError(diags, self.source)
        return CheckedSpace(
            module=m,
            name=m.space.name,
            input_kind=self.input_kind,
            input_shape=input_shape,
            constants=dict(self.constants),
            network=network,
            cell_types=cell_types,
            search=search,
            warnings=tuple(diags),
            source=self.source,
            checker=self,
        )

    # -- declarations
    def _collect_names(self) -> None:
        seen: dict[str, tuple[str, Span]] = {}

        def declare(name: str, kind: str, span: Span) -> bool:
            where = self.name_span(span, name, after=1 if kind != "cell" else _words_before_name(span, self))
            if name in RESERVED:
                self.err(f"'{name}' is reserved (the number of classes of the data)", where)
                return False
            if name in seen:
                prev_kind, prev_span = seen[name]
                self.err(
                    f"duplicate name '{name}': already defined as {prev_kind} at line {prev_span.line}",
                    where,
                    "rename one of them",
                )
                return False
            if kind in ("op", "op set") and oplib.lookup(name) is not None:
                self.err(f"'{name}' is a built-in op and cannot be redefined", where)
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
                if oplib.lookup(stmt.name) is not None:
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
                did_you_mean(decl.kind, INPUT_KINDS) or "expected image, sequence or vector",
            )
            return None
        self.input_kind = decl.kind
        if decl.shape is None:
            return None
        rank = INPUT_KINDS[decl.kind]
        if len(decl.shape) != rank:
            dims = {"image": "(C, H, W)", "sequence": "(C, L)", "vector": "(F)"}[decl.kind]
            self.err(f"input {decl.kind} takes {rank} sizes {dims}, got {len(decl.shape)}", decl.span)
            return None
        values = [self.positive_int(e, self.constants, "an input size") for e in decl.shape]
        if any(v is None for v in values):
            return None
        return tuple(values)  # type: ignore[arg-type]

    def _opset(self, decl: ast.OpSetDecl) -> None:
        if not decl.ops.ops:
            self.err(f"empty candidate list in op set '{decl.name}'", decl.ops.span, "list at least one op")

    def _opdef(self, decl: ast.OpDefDecl) -> None:
        env = dict(self.constants)
        env.update({p: Unknown(f"parameter {p}") for p in decl.params})
        self._expand(decl.body, env)

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
            self.err(f"unknown name '{e.id}'", e.span, did_you_mean(e.id, [*env, "classes"]))
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
            args = [self.eval(a.value, env, symbols=True) for a in e.args if a.name is None]
            kwargs = [(a.name, self.eval(a.value, env, symbols=True)) for a in e.args if a.name is not None]
            if any(v is None for v in args) or any(v is None for _, v in kwargs):
                return None
            return Setting(e.func, tuple(args), tuple(kwargs))  # type: ignore[arg-type]
        raise AssertionError(f"unknown expression {e!r}")

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
    def _expand(self, op: ast.OpExpr, env: dict[str, Any]) -> Candidate | None:
        steps: list[OpRef] = []
        ok = True
        for call in op.steps:
            refs = self._call(call, env)
            if refs is None:
                ok = False
            else:
                steps.extend(refs)
        return Candidate(tuple(steps), op) if ok else None

    def _call(self, call: ast.Call, env: dict[str, Any]) -> list[OpRef] | None:
        name = call.func
        where = self.name_span(call.span, name)
        if name in self.opsets:
            self.err(
                f"op set '{name}' is a list of candidates, not one op",
                where,
                "use it alone after '~' (x ~ " + name + ")",
            )
            return None
        if name in self.opdefs:
            self.used.add(name)
            decl = self.opdefs[name]
            if name in self._expanding:
                self.err(f"op '{name}' is defined in terms of itself", where)
                return None
            args = self._bind(call, decl.params, None, env, f"op '{name}'")
            if args is None:
                return None
            self._expanding.append(name)
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
            if args is None:
                return None
            return [OpRef(name, tuple(args.items()), call.span, is_cell=True)]
        spec = oplib.lookup(name)
        if spec is None:
            known = [*oplib.known_names(), *self.opdefs, *self.cells]
            self.err(f"unknown op '{name}'", where, did_you_mean(name, known))
            return None
        if self.input_kind not in spec.kinds:
            why = "pooling" if "pool" in name else "a spatial op"
            self.err(
                f"'{name}' is {why} and needs image or sequence input; this space's input is {self.input_kind}",
                where,
                "vector spaces use linear, relu, gelu, tanh, bn, dropout, skip, none",
            )
            return None
        args = self._bind(call, tuple(p.name for p in spec.params), spec, env, f"'{name}'")
        if args is None:
            return None
        return [OpRef(name, tuple(args.items()), call.span)]

    def _bind(
        self, call: ast.Call, params: tuple[str, ...], spec: oplib.OpSpec | None, env: dict[str, Any], what: str
    ) -> dict[str, Any] | None:
        """Match positional and keyword arguments to parameters, check their types."""
        positional = [a for a in call.args if a.name is None]
        keywords = [a for a in call.args if a.name is not None]
        ok = True
        specs = {p.name: p for p in spec.params} if spec else {}
        required = [p for p in params if (specs[p].required if spec else True)]
        if len(positional) > len(params):
            self.err(
                f"{what} takes at most {len(params)} argument{'s' if len(params) != 1 else ''}, got {len(positional)}",
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
                    did_you_mean(arg.name, params) or _signature_hint(call.func, params, spec),
                )
                ok = False
            elif arg.name in bound:
                self.err(f"{what} got parameter '{arg.name}' twice", arg.span)
                ok = False
            else:
                bound[arg.name] = (arg, None)
        missing = [p for p in required if p not in bound]
        if missing and ok:
            self.err(f"{what} is missing argument '{missing[0]}'", call.span, _signature_hint(call.func, params, spec))
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
        inst = self._instantiate(name, args, span, symbolic, type_name or name)
        self._instances[key] = inst
        return inst

    def _instantiate(
        self, name: str, args: dict[str, Any], span: Span, symbolic: bool, type_name: str
    ) -> CellInstance | None:
        decl = self.cells[name]
        stride = 1
        seen = [name]
        while isinstance(decl, ast.CellDerive):
            env = dict(self.constants)
            env.update(args)
            if decl.input_stride is not None:
                s = self.positive_int(decl.input_stride, env, "an input stride")
                if self.input_kind == "vector":
                    self.err(
                        "a stride needs image or sequence input; this space's input is vector", decl.input_stride.span
                    )
                    return None
                if s is None:
                    return None
                if not isinstance(s, Unknown):
                    stride = s if stride == 1 else stride
            base = decl.base.func
            if base not in self.cells:
                self.err(f"unknown cell '{base}'", decl.base.span, did_you_mean(base, self.cells))
                return None
            if base in seen:
                self.err(f"cell '{seen[0]}' is derived from itself", decl.base.span)
                return None
            seen.append(base)
            self.used.add(base)
            bound = self._bind(decl.base, self.cells[base].params, None, env, f"cell '{base}'")
            if bound is None:
                return None
            args, decl = bound, self.cells[base]
        return self._cell_body(decl, args, stride, type_name, self.cells[name], symbolic)

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
            self.err(f"cell '{decl.name}' has no 'input'", decl.span, "add 'input x' as the cell's first line")
            return None
        for extra in inputs_stmts[1:]:
            self.err(f"cell '{decl.name}' declares its inputs twice", extra.span, "list all inputs on one 'input' line")
            ok = False
        if not outputs:
            self.err(f"cell '{decl.name}' has no 'output'", decl.span, "add 'output NODE' as the cell's last line")
            return None
        for extra in outputs[1:]:
            self.err(f"cell '{decl.name}' has two outputs", extra.span)
            ok = False
        inputs = inputs_stmts[0].names
        names: dict[str, Span] = {}
        for i, n in enumerate(inputs):
            if n in names:
                self.err(f"duplicate name '{n}' in cell '{decl.name}'", self.name_span(inputs_stmts[0].span, n, 1 + i))
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
        graph = nx.DiGraph()
        graph.add_nodes_from(names)
        nodes: dict[str, Node] = {}
        for nd in node_decls:
            node = self._node(nd, env, names, graph, decl.name)
            if node is None:
                ok = False
            elif nd.name not in nodes:
                nodes[nd.name] = node
        out = outputs[0]
        merge = out.merge or "sum"
        if out.merge is not None and out.merge not in MERGES:
            self.err(
                f"unknown output merge '{out.merge}'",
                self.name_span(out.span, out.merge, 1),
                did_you_mean(out.merge, MERGES) or "use concat(...) or sum(...)",
            )
            ok = False
        for o in out.names:
            if o not in names:
                self.err(
                    f"unknown node '{o}' in output",
                    self.name_span(out.span, o, 1 if out.merge is None else 0),
                    did_you_mean(o, names),
                )
                ok = False
        if not ok:
            return None
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            cycle = None
        if cycle:
            u, v = cycle[0]
            path = " -> ".join([u] + [b for _, b in cycle])
            nd = next(n for n in node_decls if n.name == v)
            self.err(
                f"cycle in cell '{decl.name}': {path}",
                self.name_span(nd.span, u, 3),
                "a cell is a DAG: a node may only read inputs and nodes that do not depend on it",
            )
            return None
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
                )
        if not ok:
            return None
        order = [n for n in nx.topological_sort(graph) if n in nodes]
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

    def _node(
        self, nd: ast.NodeDecl, env: dict[str, Any], names: dict[str, Span], graph: nx.DiGraph, cell: str
    ) -> Node | None:
        ok = True
        edges: list[Edge] = []
        seen_sources: set[str] = set()
        for group in nd.edges:
            choice, cands = self._candidates(group.candidates, env)
            if cands is None:
                ok = False
            for _i, src in enumerate(group.sources):
                where = self.name_span(group.span, src)
                if src not in names:
                    self.err(f"unknown node '{src}' in cell '{cell}'", where, did_you_mean(src, names))
                    ok = False
                    continue
                if src == nd.name:
                    self.err(f"node '{nd.name}' reads itself", where, "a cell is a DAG")
                    ok = False
                    continue
                if src in seen_sources:
                    self.err(
                        f"node '{nd.name}' reads '{src}' twice", where, "one edge per source; list candidates in []"
                    )
                    ok = False
                    continue
                seen_sources.add(src)
                graph.add_edge(src, nd.name)
                if cands is not None:
                    edges.append(Edge(src, nd.name, cands, choice, group.span))
        keep = None
        if nd.keep is not None:
            keep = self.positive_int(nd.keep, env, "keep")
            if keep is None:
                ok = False
            elif not isinstance(keep, Unknown) and keep > len(nd.edges and [s for g in nd.edges for s in g.sources]):
                fan_in = sum(len(g.sources) for g in nd.edges)
                self.err(
                    f"keep {keep} is larger than the fan-in of node '{nd.name}' ({fan_in} edges)",
                    nd.keep.span,
                    f"keep at most {fan_in}",
                )
                ok = False
            elif isinstance(keep, Unknown):
                keep = None
        merge = nd.merge or "sum"
        if nd.merge is not None and nd.merge not in MERGES:
            self.err(
                f"unknown merge '{nd.merge}'", self.name_span(nd.span, nd.merge, 3), did_you_mean(nd.merge, MERGES)
            )
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
                return True, self._list(opset.ops, env)
            cand = self._expand(cands, env)
            return False, None if cand is None else (cand,)
        if not cands.ops:
            self.err("empty candidate list", cands.span, "list at least one op, e.g. [skip, conv(3)]")
            return True, None
        return True, self._list(cands, env)

    def _list(self, ops: ast.OpList, env: dict[str, Any]) -> tuple[Candidate, ...] | None:
        result: list[Candidate] = []
        ok = True
        labels: set[str] = set()
        for op in ops.ops:
            if len(op.steps) == 1 and not op.steps[0].args and op.steps[0].func in self.opsets:
                self.used.add(op.steps[0].func)
                inner = self._list(self.opsets[op.steps[0].func].ops, env)
                parts = inner or ()
                ok = ok and inner is not None
            else:
                cand = self._expand(op, env)
                parts = (cand,) if cand is not None else ()
                ok = ok and cand is not None
            for cand in parts:
                if cand.label in labels:
                    self.err(
                        f"duplicate candidate '{cand.label}'", op.span, "each candidate may appear once in a choice"
                    )
                    ok = False
                labels.add(cand.label)
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
        pending = [item.cell for item in network.items if item.cell is not None]
        while pending:
            inst = pending.pop(0)
            if inst.type_name in types:
                if types[inst.type_name].structure() != inst.structure():
                    self.err(
                        f"instances of cell '{inst.name}' differ in their choices but share architecture parameters",
                        inst.span,
                        f"declare it 'unshared cell {inst.name}'",
                    )
                continue
            types[inst.type_name] = inst
            for edge in inst.edges:
                for cand in edge.candidates:
                    for ref in cand.nested_cells:
                        if self.cells[ref.name].unshared:
                            self.err(f"cell '{ref.name}' is used as a candidate and cannot be unshared", ref.span)
                            continue
                        nested = self.instantiate(ref.name, dict(ref.args), ref.span)
                        if nested is not None:
                            pending.append(nested)
        return types

    # -- search
    def _search(self, blocks: list[ast.SearchDecl]) -> dict[str, tuple[Any, ...]]:
        result: dict[str, tuple[Any, ...]] = {}
        for block in blocks[:1]:
            for entry in block.entries:
                where = self.name_span(entry.span, entry.key)
                if entry.key not in SEARCH_KEYS:
                    self.err(
                        f"unknown search setting '{entry.key}'",
                        where,
                        did_you_mean(entry.key, SEARCH_KEYS) or "see docs/language.md for the settings",
                    )
                    continue
                if entry.key in result:
                    self.err(f"search setting '{entry.key}' is given twice", where)
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


def _words_before_name(span: Span, checker: _Checker) -> int:
    if checker.lines is None or span.line <= 0:
        return 1
    text = checker.lines[span.line - 1][span.column - 1 :]
    return 2 if text.startswith("unshared") else 1


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _show(v: Any) -> str:
    if isinstance(v, Symbol):
        return v.name
    if isinstance(v, str):
        return f'"{v}"'
    return repr(v)


def _signature_hint(name: str, params: tuple[str, ...], spec: oplib.OpSpec | None) -> str:
    if spec is None:
        return f"{name}({', '.join(params)})"
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
