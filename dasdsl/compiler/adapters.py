"""The adapters pass: a module wherever a shape that arrives differs from the shape its consumer works at
(the shapes pass decided both), with the reason ``dasdsl compile`` prints.

An input that arrives at twice the cell's resolution gets a factorized reduce, one that arrives with other
channels a 1x1 projection; a candidate narrower than the widest on its edge gets a learnable 1x1 widening
(``none`` is zeros at any width and needs none).
"""

from __future__ import annotations

import attrs

from dasdsl.compiler.ir import Adapter, CandidateIR, CellEdge, CellGraph, CellNode, NetworkIR
from dasdsl.ops.shapes import Shape
from dasdsl.wording import shape_text


def insert_adapters(ir: NetworkIR) -> NetworkIR:
    """The pass: a copy of ``ir`` with every input's ``preprocess`` and every candidate's ``adapter`` set."""
    return attrs.evolve(ir, cells={key: _cell(g) for key, g in ir.cells.items()})


def _cell(g: CellGraph) -> CellGraph:
    inputs = [d for d in g.nodes.values() if d.kind == "input"]
    target_res = inputs[-1].arrives[1:] if inputs and inputs[-1].arrives else ()

    def node(name: str, d: CellNode) -> CellNode:
        if d.kind != "input" or d.arrives is None or d.arrives == d.shape:
            return d
        return attrs.evolve(d, preprocess=_preprocess(name, d.arrives, d.shape, target_res))

    def edge(u: str, v: str, e: CellEdge) -> CellEdge:
        if not e.candidates:
            return e
        source = g.nodes[u].shape
        return attrs.evolve(e, candidates=tuple(_widened(c, source) for c in e.candidates))

    return g.with_records(node, edge)


def _preprocess(name: str, arrives: Shape, shape: Shape, target_res: Shape) -> Adapter:
    if arrives[1:] != shape[1:]:
        return Adapter(
            "reduce",
            arrives,
            shape,
            f"'{name}' arrives at {shape_text(arrives[1:])}, the cell runs at {shape_text(target_res)}: "
            "factorized reduce",
        )
    return Adapter(
        "project",
        arrives,
        shape,
        f"'{name}' arrives with {arrives[0]} channels, the cell works with {shape[0]}: 1x1 ReLU-Conv-BN",
    )


def _widened(cand: CandidateIR, source: Shape) -> CandidateIR:
    out = cand.steps[-1].shape_out if cand.steps else source
    if out == cand.shape or cand.is_none:  # a fixed edge has one candidate, always the widest
        return cand
    reason = f"'{cand.label}' gives {out[0]} channels, the widest candidate {cand.shape[0]}: learnable 1x1 conv"
    return attrs.evolve(cand, adapter=Adapter("widen", out, cand.shape, reason))
