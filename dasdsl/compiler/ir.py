"""The IR: its types (one networkx graph per cell instance and one for the macro network), keys, lint and JSON dump.

The IR is the single source of truth for lowering, renders, counts and costs. Its
vocabulary is closed and documented here:

cell graph (``nx.DiGraph``), node ``kind``:
  - ``input``  a cell input; ``arrives`` (shape from the previous item), ``shape``
    (after preprocessing), ``preprocess`` (an Adapter or None)
  - ``node``   an intermediate node; ``shape``, ``merge`` (sum | concat), ``keep``
  - ``output`` the cell output ``OUTPUT``; ``shape``, ``merge``
cell graph edge attributes: ``candidates`` (tuple of CandidateIR), ``choice`` (the
architecture-parameter key, None on a fixed edge), ``stride``, ``shape``; edges into
``OUTPUT`` have no candidates.

macro graph node ``kind``: ``data``, ``stem``, ``cell`` (with ``cell_key``), ``op``,
``head``, ``depth`` (a searched depth's mixture: ``choice``, ``options``, ``offset`` t, ``instances``: the
repeats' node ids; its input on port i is the output t items before the end of option i's network);
each with ``shape``; edges carry ``ports`` (the cell inputs, or depth options, they feed).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import attrs
import networkx as nx

from dasdsl.errors import Span
from dasdsl.lang.checked import Candidate, CheckedSpace
from dasdsl.ops.shapes import Shape

OUTPUT = "<output>"
CELL_NODE_KINDS = ("input", "node", "output")
MACRO_NODE_KINDS = ("data", "stem", "cell", "op", "head", "depth")
ADAPTER_KINDS = ("reduce", "project", "widen")


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


@attrs.define
class NetworkIR:
    space: CheckedSpace
    input_shape: Shape
    classes: int
    macro: nx.DiGraph
    cells: dict[str, nx.DiGraph]
    choices: dict[str, ChoiceInfo]

    @property
    def kind(self) -> str:
        return self.space.input_kind

    @property
    def has_choices(self) -> bool:
        return bool(self.choices)

    def order(self) -> list[str]:
        """Macro nodes in execution order."""
        return list(nx.topological_sort(self.macro))

    def depth_nodes(self) -> dict[str, dict[str, Any]]:
        """Per depth choice key the attributes of its mixture node (offset 0): options and instances."""
        return {d["choice"]: d for _, d in self.macro.nodes(data=True) if d["kind"] == "depth" and d["offset"] == 0}

    def depth_combinations(self) -> list[dict[str, int]]:
        """Every combination of the searched depths' counts, as the option index per depth key."""
        depths = self.depth_nodes()
        return [dict(zip(depths, c)) for c in itertools.product(*(range(len(d["options"])) for d in depths.values()))]

    def left_out(self, chosen: Mapping[str, int | None]) -> list[str]:
        """The repeats (macro node ids) that the counts ``chosen`` (option index per depth key; missing or
        None: the first option) leave out of the network."""
        out: list[str] = []
        for key, d in self.depth_nodes().items():
            out += d["instances"][d["options"][chosen.get(key) or 0] :]
        return out

    def choices_by_node(self) -> dict[tuple[str, str], list[str]]:
        """The choice keys grouped by the node they feed, ``(cell_type, target)``, in ``choices`` order."""
        by_node: dict[tuple[str, str], list[str]] = {}
        for key, info in self.choices.items():
            by_node.setdefault((info.cell_type, info.target), []).append(key)
        return by_node


def choice_key(cell_type: str, source: str, target: str) -> str:
    return f"{cell_type}:{source}->{target}"


def edge_norm_key(cell_type: str, node: str) -> str:
    """The key of a node's edge-normalization weights (PC-DARTS), beside the choice keys."""
    return f"{cell_type}:{node}:edges"


def lint(ir: NetworkIR) -> None:
    """Invariants every pass must keep; a failure is a compiler bug, not a user error."""
    assert nx.is_directed_acyclic_graph(ir.macro)
    for data in ir.macro.nodes.values():
        assert data["kind"] in MACRO_NODE_KINDS
    for g in ir.cells.values():
        assert nx.is_directed_acyclic_graph(g)
        for _, data in g.nodes(data=True):
            assert data["kind"] in CELL_NODE_KINDS
        for u, v, data in g.edges(data=True):
            if v == OUTPUT:
                continue
            assert data["candidates"], f"edge {u}->{v} without candidates"
            for cand in data["candidates"]:
                assert cand.shape == data["shape"], (u, v, cand.label, cand.shape, data["shape"])
                if cand.adapter is not None:
                    assert cand.adapter.kind in ADAPTER_KINDS


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
    """networkx node-link data of the macro graph and of every cell graph, JSON-ready."""

    def graph(g: nx.DiGraph) -> dict[str, Any]:
        h = nx.DiGraph()
        h.graph.update({k: _jsonable(v) for k, v in g.graph.items() if k != "instance"})
        for n, d in g.nodes(data=True):
            h.add_node(n, **{k: _jsonable(v) for k, v in d.items()})
        for u, v, d in g.edges(data=True):
            h.add_edge(u, v, **{k: _jsonable(val) for k, val in d.items()})
        return nx.node_link_data(h, edges="edges")

    return {
        "space": ir.space.name,
        "input_shape": list(ir.input_shape),
        "classes": ir.classes,
        "macro": graph(ir.macro),
        "cells": {key: graph(g) for key, g in ir.cells.items()},
        "choices": {k: _jsonable(v) for k, v in ir.choices.items()},
    }
