"""The IR: its typed records (one CellGraph per cell instance, one macro Graph, the choice table), keys,
lint and JSON dump.

The IR is the single source of truth for lowering, renders, counts and costs. Every node and edge is a
frozen attrs record (networkx keeps only the topology); its vocabulary is closed and documented here:

NetworkIR: ``space``, ``input_shape``, ``classes``, ``macro`` (a Graph of MacroNode and MacroEdge),
``cells`` (CellGraph by key, in the order built), ``choices`` (ChoiceInfo by architecture-parameter key).

CellGraph (one cell instance): ``key``, ``name``, ``type_name`` (the architecture type whose instances
share choices), ``args``, ``input_stride``, ``instance`` (the checked CellInstance), ``meta``; its
CellNode ``kind``:
  - ``input``  a cell input; ``arrives`` (shape from the previous item), ``shape``
    (after preprocessing), ``preprocess`` (an Adapter or None)
  - ``node``   an intermediate node; ``shape``, ``merge`` (sum | concat), ``keep``
  - ``output`` the cell output ``OUTPUT``; ``shape``, ``merge``
CellEdge: ``candidates`` (tuple of CandidateIR), ``choice`` (the architecture-parameter key, None on a
fixed edge), ``stride``, ``shape``; edges into ``OUTPUT`` have no candidates.

MacroNode ``kind``: ``data``, ``stem``, ``op``, ``head`` (with ``steps``, ``label``), ``cell`` (with
``cell_key``, ``label``), ``depth`` (a searched depth's mixture: ``choice``, ``options``, ``offset`` t,
``instances``: the repeats' node ids; its input on port i is the output t items before the end of
option i's network); each with ``shape``; MacroEdge: ``ports`` (the cell inputs, or depth options, it feeds).

``meta`` (every node, edge and cell record): what passes add, only the keys of META_KEYS: ``fusion`` on a
CellGraph (tuple of FusionGroup, from the fusion pass). Passes and their order: dasdsl.compiler.passes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import attrs
import networkx as nx

from dasdsl.errors import Span
from dasdsl.lang.checked import Candidate, CellInstance, CheckedSpace
from dasdsl.ops.shapes import Shape

OUTPUT = "<output>"
CELL_NODE_KINDS = ("input", "node", "output")
MACRO_NODE_KINDS = ("data", "stem", "cell", "op", "head", "depth")
ADAPTER_KINDS = ("reduce", "project", "widen")
N = TypeVar("N")
E = TypeVar("E")


@attrs.frozen
class Adapter:
    """A module the compiler inserted, and why."""

    kind: str  # reduce | project | widen
    shape_in: Shape
    shape_out: Shape
    reason: str


@attrs.frozen
class Step:
    """One op of a candidate chain with its resolved arguments and shapes."""

    name: str
    args: tuple[tuple[str, Any], ...]
    shape_in: Shape
    shape_out: Shape
    stride: int
    span: Span = attrs.field(eq=False, repr=False)
    cell_key: str | None = None  # a nested cell (hierarchical spaces)

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.args)


@attrs.frozen
class CandidateIR:
    label: str
    steps: tuple[Step, ...]
    shape: Shape  # after the adapter, if any
    adapter: Adapter | None
    is_none: bool
    is_skip: bool
    source: Candidate = attrs.field(eq=False, repr=False)


@attrs.frozen
class ChoiceInfo:
    """One architecture parameter vector: shared by every instance of a cell type."""

    key: str
    cell_type: str
    source: str
    target: str
    labels: tuple[str, ...]
    keep: int | None
    kind: str = "edge"  # "edge": candidates on a cell's edge; "depth": a searched number of repeats


META_KEYS: dict[str, str] = {
    "fusion": "a cell graph's fusion groups (tuple[FusionGroup, ...], set by the fusion pass): the candidates "
    "of one op and arguments on the choice edges from one source, computed together when the supernet fuses",
}
"""Every key a pass may add to a record's ``meta``, with what it holds: lint rejects any other."""


@attrs.frozen
class FusionGroup:
    """Candidates of one op and arguments on the edges from ``source``: computed once (``shared``) or as one
    batched computation (``batched``); ``members`` are (target node, candidate index) in edge order."""

    source: str
    stride: int
    label: str
    kind: str  # shared | batched
    members: tuple[tuple[str, int], ...]


def _meta() -> Mapping[str, Any]:
    return MappingProxyType({})


@attrs.frozen
class CellNode:
    """A node of a cell graph. ``input``: ``arrives`` (the shape from the previous item), ``shape`` (after
    ``preprocess``, an Adapter or None); ``node``: ``shape``, ``merge``, ``keep``; ``output``: ``shape``,
    ``merge``."""

    kind: str  # input | node | output
    shape: Shape
    arrives: Shape | None = None
    preprocess: Adapter | None = None
    merge: str | None = None  # sum | concat
    keep: int | None = None
    meta: Mapping[str, Any] = attrs.field(factory=_meta)

    def attributes(self) -> dict[str, Any]:
        """The node in the IR's vocabulary, in the order ``dasdsl compile --graph`` writes it."""
        if self.kind == "input":
            return {"kind": self.kind, "arrives": self.arrives, "shape": self.shape, "preprocess": self.preprocess}
        if self.kind == "node":
            return {"kind": self.kind, "merge": self.merge, "keep": self.keep, "shape": self.shape}
        return {"kind": self.kind, "merge": self.merge, "shape": self.shape}


@attrs.frozen
class CellEdge:
    """An edge of a cell graph: its ``candidates`` (none on the edges into OUTPUT), ``choice`` (the
    architecture-parameter key, None on a fixed edge), the ``stride`` its ops run at, its output ``shape``."""

    candidates: tuple[CandidateIR, ...]
    choice: str | None
    stride: int
    shape: Shape
    meta: Mapping[str, Any] = attrs.field(factory=_meta)

    def attributes(self) -> dict[str, Any]:
        return {"candidates": self.candidates, "choice": self.choice, "stride": self.stride, "shape": self.shape}


@attrs.frozen
class MacroNode:
    """A node of the macro graph: ``data``; ``stem``, ``op``, ``head`` (``steps``, ``label``); ``cell``
    (``cell_key``, ``label``); ``depth``, a searched depth's mixture (``choice``, ``options``, ``offset`` t,
    ``instances``: the repeats' node ids; its input on port i is the output t items before the end of
    option i's network). Each with its output ``shape``."""

    kind: str  # one of MACRO_NODE_KINDS
    shape: Shape
    label: str = ""
    steps: tuple[Step, ...] = ()
    cell_key: str | None = None
    choice: str | None = None
    options: tuple[int, ...] = ()
    offset: int = 0
    instances: tuple[str, ...] = ()
    meta: Mapping[str, Any] = attrs.field(factory=_meta)

    def attributes(self) -> dict[str, Any]:
        head = {"kind": self.kind, "shape": self.shape}
        if self.kind == "data":
            return head
        if self.kind == "cell":
            return {**head, "cell_key": self.cell_key, "label": self.label}
        if self.kind == "depth":
            return {
                **head,
                "choice": self.choice,
                "options": self.options,
                "offset": self.offset,
                "instances": self.instances,
                "label": self.label,
            }
        return {**head, "steps": self.steps, "label": self.label}


@attrs.frozen
class MacroEdge:
    """An edge of the macro graph: the ``ports`` it feeds (the target cell's inputs, or depth options)."""

    ports: tuple[int, ...]
    meta: Mapping[str, Any] = attrs.field(factory=_meta)

    def attributes(self) -> dict[str, Any]:
        return {"ports": list(self.ports)}


@attrs.frozen(eq=False)
class Graph(Generic[N, E]):
    """A DAG of typed records: one record per node and per edge, in networkx's orders (nodes as added, edges
    by source), and the bare networkx topology for predecessors and topological orders."""

    nodes: Mapping[str, N]
    edges: Mapping[tuple[str, str], E]
    topology: nx.DiGraph = attrs.field(repr=False)

    def with_records(
        self, node: Callable[[str, N], N] | None = None, edge: Callable[[str, str, E], E] | None = None
    ) -> Any:
        """A copy with every node record replaced by ``node(n, record)`` and every edge record by
        ``edge(u, v, record)``; the topology is shared (it is never changed after freezing)."""
        nodes = {n: node(n, r) for n, r in self.nodes.items()} if node else dict(self.nodes)
        edges = {(u, v): edge(u, v, r) for (u, v), r in self.edges.items()} if edge else dict(self.edges)
        return attrs.evolve(self, nodes=MappingProxyType(nodes), edges=MappingProxyType(edges))

    def predecessors(self, node: str) -> list[str]:
        return list(self.topology.predecessors(node))

    def in_edges(self, node: str) -> list[tuple[str, str]]:
        return list(self.topology.in_edges(node))

    def in_degree(self, node: str) -> int:
        return int(self.topology.in_degree(node))

    def has_edge(self, u: str, v: str) -> bool:
        return (u, v) in self.edges


MacroGraph = Graph[MacroNode, MacroEdge]


@attrs.frozen(eq=False)
class CellGraph(Graph[CellNode, CellEdge]):
    """One cell instance (a cell type at its arguments, arrival shapes and input stride): its graph, and
    what it is: ``key`` (its id in NetworkIR.cells), ``instance`` (the checked CellInstance it lowers, whose
    ``name``, ``type_name`` (the architecture type whose instances share choices), ``args`` and
    ``input_stride`` it reads); ``meta``: what passes add (META_KEYS)."""

    key: str = attrs.field(kw_only=True)
    instance: CellInstance = attrs.field(kw_only=True, repr=False)
    meta: Mapping[str, Any] = attrs.field(kw_only=True, factory=_meta)

    @property
    def name(self) -> str:
        return self.instance.name

    @property
    def type_name(self) -> str:
        return self.instance.type_name

    @property
    def args(self) -> tuple[tuple[str, Any], ...]:
        return self.instance.args

    @property
    def input_stride(self) -> int:
        return self.instance.input_stride

    def attributes(self) -> dict[str, Any]:
        """The cell's graph-level items in the IR's vocabulary, as ``dasdsl compile --graph`` writes them."""
        return {
            "name": self.name,
            "type_name": self.type_name,
            "key": self.key,
            "args": self.args,
            "input_stride": self.input_stride,
        }


class GraphDraft(Generic[N, E]):
    """A graph under construction (the shapes pass's): nodes and edges with their records, in the order
    added; ``freeze`` makes the Graph. The draft's networkx graph becomes the topology as it is, so the
    predecessors keep the order their edges were added in (a node's inputs, a cell's output order)."""

    def __init__(self) -> None:
        self.topology = nx.DiGraph()
        self.nodes: dict[str, N] = {}
        self.edges: dict[tuple[str, str], E] = {}

    def add_node(self, node: str, record: N) -> None:
        self.topology.add_node(node)
        self.nodes[node] = record

    def add_edge(self, u: str, v: str, record: E) -> None:
        self.topology.add_edge(u, v)
        self.edges[u, v] = record

    def freeze(self, cls: type[Graph[N, E]] = Graph, **fields: Any) -> Any:
        """The Graph (or ``cls``, with ``fields``): records in networkx's node and edge orders."""
        nodes = {n: self.nodes[n] for n in self.topology.nodes}
        edges = {(u, v): self.edges[u, v] for u, v in self.topology.edges}
        return cls(nodes=MappingProxyType(nodes), edges=MappingProxyType(edges), topology=self.topology, **fields)


def empty_macro() -> MacroGraph:
    return GraphDraft[MacroNode, MacroEdge]().freeze()


@attrs.frozen(eq=False)
class NetworkIR:
    """The whole IR: the macro graph, one CellGraph per cell instance (by key, in the order built) and the
    architecture-parameter table. Passes return a new NetworkIR (attrs.evolve); none changes its input."""

    space: CheckedSpace
    input_shape: Shape
    classes: int
    macro: MacroGraph = attrs.field(factory=empty_macro)
    cells: Mapping[str, CellGraph] = attrs.field(factory=dict)
    choices: Mapping[str, ChoiceInfo] = attrs.field(factory=dict)

    @property
    def kind(self) -> str:
        return self.space.input_kind

    @property
    def has_choices(self) -> bool:
        return bool(self.choices)

    def order(self) -> list[str]:
        """Macro nodes in execution order."""
        return list(nx.topological_sort(self.macro.topology))

    def depth_nodes(self) -> dict[str, MacroNode]:
        """Per depth choice key its mixture node (offset 0): options and instances."""
        return {d.choice: d for d in self.macro.nodes.values() if d.kind == "depth" and d.offset == 0}

    def depth_combinations(self) -> list[dict[str, int]]:
        """Every combination of the searched depths' counts, as the option index per depth key."""
        depths = self.depth_nodes()
        return [dict(zip(depths, c)) for c in itertools.product(*(range(len(d.options)) for d in depths.values()))]

    def left_out(self, chosen: Mapping[str, int | None]) -> list[str]:
        """The repeats (macro node ids) that the counts ``chosen`` (option index per depth key; missing or
        None: the first option) leave out of the network."""
        out: list[str] = []
        for key, d in self.depth_nodes().items():
            out += d.instances[d.options[chosen.get(key) or 0] :]
        return out

    def choices_by_node(self) -> dict[tuple[str, str], list[str]]:
        """The choice keys grouped by the node they feed, ``(cell_type, target)``, in ``choices`` order."""
        by_node: dict[tuple[str, str], list[str]] = {}
        for key, info in self.choices.items():
            by_node.setdefault((info.cell_type, info.target), []).append(key)
        return by_node

    def type_names(self) -> dict[str, str]:
        """Per macro cell node its cell's architecture type."""
        return {n: self.cells[d.cell_key].type_name for n, d in self.macro.nodes.items() if d.cell_key is not None}


def choice_key(cell_type: str, source: str, target: str) -> str:
    return f"{cell_type}:{source}->{target}"


def edge_norm_key(cell_type: str, node: str) -> str:
    """The key of a node's edge-normalization weights (PC-DARTS), beside the choice keys."""
    return f"{cell_type}:{node}:edges"


def _broken(what: str) -> AssertionError:
    return AssertionError(f"IR lint: {what} (a compiler bug, not a user error)")


def lint_structure(ir: NetworkIR) -> None:
    """After the shapes pass: the macro graph and every cell graph are DAGs of the closed vocabulary, every
    node and edge shaped, every candidate as wide as its edge, every macro cell's graph present, the head
    at the class count; meta keys only from META_KEYS."""
    if not nx.is_directed_acyclic_graph(ir.macro.topology):
        raise _broken("the macro graph has a cycle")
    for n, d in ir.macro.nodes.items():
        if d.kind not in MACRO_NODE_KINDS:
            raise _broken(f"macro node {n} of kind {d.kind!r}")
        if d.kind == "cell" and d.cell_key not in ir.cells:
            raise _broken(f"macro node {n} names no cell graph ({d.cell_key})")
        _lint_meta(d.meta, f"macro node {n}")
    if ir.macro.nodes and ir.macro.nodes["head"].shape != (ir.classes,):
        raise _broken(f"the head gives {ir.macro.nodes['head'].shape}, not ({ir.classes},)")
    for key, g in ir.cells.items():
        if g.key != key or not nx.is_directed_acyclic_graph(g.topology):
            raise _broken(f"cell graph {key} is not a DAG under its own key")
        _lint_meta(g.meta, f"cell {key}")
        for n, d in g.nodes.items():
            if d.kind not in CELL_NODE_KINDS:
                raise _broken(f"node {n} of cell {key} of kind {d.kind!r}")
        for (u, v), e in g.edges.items():
            if v == OUTPUT:
                continue
            if not e.candidates:
                raise _broken(f"edge {u}->{v} of cell {key} without candidates")
            for cand in e.candidates:
                if cand.shape != e.shape:
                    raise _broken(f"candidate {cand.label} on {u}->{v} of {key}: {cand.shape}, edge {e.shape}")
                for step in cand.steps:
                    if step.cell_key is not None and step.cell_key not in ir.cells:
                        raise _broken(f"candidate {cand.label} on {u}->{v} of {key} names no cell graph")


def _lint_meta(meta: Mapping[str, Any], where: str) -> None:
    unknown = set(meta) - set(META_KEYS)
    if unknown:
        raise _broken(f"{where} has meta keys {sorted(unknown)} outside META_KEYS")


def lint_adapters(ir: NetworkIR) -> None:
    """After the adapters pass: every shape disagreement has an adapter that bridges exactly it (an input
    that arrives other than the cell works; a candidate narrower than its edge), and no adapter bridges
    nothing."""
    for key, g in ir.cells.items():
        for n, d in g.nodes.items():
            if d.kind != "input":
                continue
            pre = d.preprocess
            if (d.arrives != d.shape) != (pre is not None):
                raise _broken(f"input {n} of {key} arrives {d.arrives}, works at {d.shape}, adapter {pre}")
            if pre is not None and (
                pre.kind not in ADAPTER_KINDS or (pre.shape_in, pre.shape_out) != (d.arrives, d.shape)
            ):
                raise _broken(f"input {n} of {key}: adapter {pre.kind} {pre.shape_in} -> {pre.shape_out}")
        for (u, v), e in g.edges.items():
            for cand in e.candidates:
                out = cand.steps[-1].shape_out if cand.steps else g.nodes[u].shape
                wanted = out != cand.shape and not cand.is_none
                a = cand.adapter
                if wanted != (a is not None):
                    raise _broken(f"candidate {cand.label} on {u}->{v} of {key}: gives {out}, adapter {a}")
                if a is not None and (a.kind != "widen" or (a.shape_in, a.shape_out) != (out, cand.shape)):
                    raise _broken(f"candidate {cand.label} on {u}->{v} of {key}: adapter {a.kind}")


def lint_choices(ir: NetworkIR) -> None:
    """After the choices pass: every choice edge and searched depth has its parameter vector (one entry per
    candidate, or per repeat count), and every vector belongs to an edge or a depth."""
    used: set[str] = set()
    for key, g in ir.cells.items():
        for (u, v), e in g.edges.items():
            if e.choice is None:
                continue
            info = ir.choices.get(e.choice)
            if info is None or info.kind != "edge" or info.cell_type != g.type_name:
                raise _broken(f"choice edge {u}->{v} of {key} has no parameter vector {e.choice}")
            if (info.source, info.target) != (u, v) or len(info.labels) != len(e.candidates):
                raise _broken(f"parameter vector {e.choice} does not match edge {u}->{v} of {key}")
            used.add(e.choice)
    for n, d in ir.macro.nodes.items():
        if d.kind == "depth":
            info = ir.choices.get(d.choice or "")
            if info is None or info.kind != "depth" or len(info.labels) != len(d.options):
                raise _broken(f"depth mixture {n} has no parameter vector {d.choice}")
            used.add(info.key)
    if set(ir.choices) != used:
        raise _broken(f"parameter vectors {sorted(set(ir.choices) - used)} belong to no edge or depth")


def lint_fusion(ir: NetworkIR) -> None:
    """After the fusion pass: every cell graph has its fusion groups, and each group's members are distinct
    candidates of one label on choice edges from the group's source, under its stride."""
    for key, g in ir.cells.items():
        groups = g.meta.get("fusion")
        if groups is None:
            raise _broken(f"cell {key} has no fusion groups")
        seen: set[tuple[str, str, int]] = set()
        for group in groups:
            for target, index in group.members:
                e = g.edges.get((group.source, target))
                if e is None or e.choice is None or e.stride != group.stride:
                    raise _broken(f"fusion group {group.label} of {key}: no choice edge {group.source}->{target}")
                member = (group.source, target, index)
                if e.candidates[index].label != group.label or member in seen:
                    raise _broken(f"fusion group {group.label} of {key}: member {target}[{index}]")
                seen.add(member)


def lint(ir: NetworkIR) -> None:
    """Every invariant of a finished IR (each pass's ``ensures``, dasdsl.compiler.passes): a failure is a
    compiler bug, not a user error."""
    for check in (lint_structure, lint_adapters, lint_choices, lint_fusion):
        check(ir)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (Adapter, Step, CandidateIR, ChoiceInfo)):
        return {
            f.name: _jsonable(getattr(value, f.name))
            for f in attrs.fields(type(value))
            if f.name not in ("span", "source")
        }
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def to_json(ir: NetworkIR) -> dict[str, Any]:
    """networkx node-link data of the macro graph and of every cell graph, JSON-ready (meta left out)."""

    def graph(g: Graph[Any, Any], items: dict[str, Any]) -> dict[str, Any]:
        h = nx.DiGraph()
        h.graph.update({k: _jsonable(v) for k, v in items.items()})
        for n, d in g.nodes.items():
            h.add_node(n, **{k: _jsonable(v) for k, v in d.attributes().items()})
        for (u, v), d in g.edges.items():
            h.add_edge(u, v, **{k: _jsonable(val) for k, val in d.attributes().items()})
        return nx.node_link_data(h, edges="edges")

    return {
        "space": ir.space.name,
        "input_shape": list(ir.input_shape),
        "classes": ir.classes,
        "macro": graph(ir.macro, {}),
        "cells": {key: graph(g, g.attributes()) for key, g in ir.cells.items()},
        "choices": {k: _jsonable(v) for k, v in ir.choices.items()},
    }
