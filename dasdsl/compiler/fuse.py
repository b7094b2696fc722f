"""Horizontal fusion, an IR pass: the candidates of the same op and arguments on the choice edges that read
the same source (under the same stride) form one group, lowered to one computation (dasdsl.compiler.fused).

In a DARTS cell every input feeds 2-5 edges and every edge applies the same candidate kinds to it with its
own weights. A group of weightless ops (pooling) is computed once and read by every edge of the group; a
group of ReLU-conv stacks (``sep_conv``, ``dil_conv``, ``conv``) shares one ReLU of the source and runs
each stage once for all its edges: one depthwise convolution with a channel multiplier (or one convolution
to all the edges' channels), one pointwise convolution of the edges' channels side by side, one batch
norm. When the edges of a source have the same candidates, their gate-weighted sums run together too.
Gate weights, ``none``, partial channels and everything after the candidates keep their meaning. The pass
returns a copy of the IR with each cell graph's groups under ``meta["fusion"]``; a supernet built with
``fuse`` on lowers them, and ``dasdsl compile`` reports them.
"""

from __future__ import annotations

import attrs

from dasdsl.compiler.ir import OUTPUT, CandidateIR, CellGraph, FusionGroup, NetworkIR

SHARED_OPS = ("max_pool", "avg_pool")  # no weights: every edge of the group reads the same tensor
BATCHED_OPS = ("sep_conv", "dil_conv", "conv")  # ReLU-conv-BN stages: batched stage by stage; also `skip`
# under a stride (a factorized reduce: ReLU, two offset 1x1 convolutions, BN)


def _fusable(cand: CandidateIR) -> str | None:
    """The group kind a candidate can join, or None (chains, nested cells, width adapters, other ops)."""
    if len(cand.steps) != 1 or cand.adapter is not None or cand.steps[0].cell_key is not None:
        return None
    step = cand.steps[0]
    if step.name == "skip" and step.stride > 1 and len(step.shape_in) > 1:  # a factorized reduce: two 1x1 convs
        return "batched"
    return "shared" if step.name in SHARED_OPS else "batched" if step.name in BATCHED_OPS else None


def cell_groups(g: CellGraph) -> tuple[FusionGroup, ...]:
    """The fusion groups of one cell graph, by source in the graph's node order, then by candidate order."""
    found: dict[tuple[str, int, str, str], list[tuple[str, int]]] = {}
    for (u, v), e in g.edges.items():
        if v == OUTPUT or e.choice is None:
            continue
        for i, cand in enumerate(e.candidates):
            kind = _fusable(cand)
            if kind is not None:
                found.setdefault((u, e.stride, cand.label, kind), []).append((v, i))
    return tuple(FusionGroup(u, stride, label, kind, tuple(m)) for (u, stride, label, kind), m in found.items())


def fuse(ir: NetworkIR) -> NetworkIR:
    """The pass: a copy of ``ir`` whose every cell graph carries its fusion groups (``meta["fusion"]``)."""
    cells = {key: attrs.evolve(g, meta={**g.meta, "fusion": cell_groups(g)}) for key, g in ir.cells.items()}
    return attrs.evolve(ir, cells=cells)


def describe(groups: tuple[FusionGroup, ...]) -> list[str]:
    """Per source of one cell graph, a line for ``dasdsl compile``: its edges, what is shared, what is batched."""
    by_source: dict[tuple[str, int], list[FusionGroup]] = {}
    for group in groups:
        by_source.setdefault((group.source, group.stride), []).append(group)
    lines = []
    for (source, stride), found in by_source.items():
        edges = len({t for g in found for t, _ in g.members})
        shared = [g.label for g in found if g.kind == "shared"]
        batched = [g.label for g in found if g.kind == "batched"]
        parts = ([f"{', '.join(shared)} computed once"] if shared else []) + (
            [f"{', '.join(batched)} batched"] if batched else []
        )
        under = f", stride {stride}" if stride != 1 else ""
        lines.append(f"fused from {source} ({edges} edge{'s' if edges != 1 else ''}{under}): {'; '.join(parts)}")
    return lines


def summary(ir: NetworkIR) -> str:
    """One line for ``dasdsl compile``: how many candidates the pass groups, into how many computations."""
    groups = [grp for g in ir.cells.values() for grp in g.meta["fusion"]]
    if not groups:
        return "fusion: nothing to group (sep_conv, dil_conv, conv and pooling candidates on choice edges are)"
    members = sum(len(grp.members) for grp in groups)
    shared = sum(len(grp.members) for grp in groups if grp.kind == "shared")
    return (
        f"fusion: {members:,} candidates in {len(groups):,} groups over all cell instances ({members - shared:,} "
        f"ReLU-conv candidates batched, {shared:,} pooling candidates computed once per source); "
        "`fuse off` in the search block (or --fuse off) runs each candidate on its own"
    )
