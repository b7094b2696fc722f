"""Exact counts of the distinct discrete architectures a checked space encodes.

A node with ``keep k`` keeps k distinct incoming edges and never picks ``none``
on them (the DARTS count); a node without ``keep`` keeps every edge with one
candidate each, ``none`` included (the NAS-Bench-201 count). Cells that share
architecture parameters count once. A cell used as a candidate inside another
cell (hierarchical spaces) has one architecture wherever it is used, and its
choices only matter when some chosen candidate uses it; the count handles this
exactly by summing over which nested cells are in use.

An architecture is disconnected when some cell in use has no path from an input
to its output over edges whose op is not ``none``: that cell ignores its input
and the network computes a constant, so no search returns it
(dasdsl.engine.constraints). Per cell type a dynamic program over which nodes an
input reaches counts the connected configurations (its states are the subsets of
the nodes still read later, a handful in every shipped cell); nested cells count
as above, each cell in use connected.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from itertools import product
from math import prod

import attrs

from dasdsl.lang.checked import Candidate, CellInstance, CheckedSpace, Network, Node

# Cells used as candidates on more than one edge (not in the network's line): the count sums over which of
# them are in use, 3^N steps, so the checker refuses more (passes.network.cell_types). A nested cell used on
# one edge only does not count: its configurations fold into that candidate's.
MAX_SHARED_NESTED = 8


@attrs.frozen
class SpaceStats:
    cell_types: int
    nodes: int
    edges: int
    choice_points: int
    architectures: int
    disconnected: int = 0  # of the architectures: those in which a cell ignores its input (never searched out)


def _allowed(cand: Candidate, in_use: frozenset[str]) -> bool:
    return all(ref.name in in_use for ref in cand.nested_cells)


Weight = Callable[[Candidate], int]  # a candidate's configurations: 1, or those of the nested cells it uses


def _one(cand: Candidate) -> int:
    return 1


def _node_ways(node: Node, reached: frozenset[str], in_use: frozenset[str], weight: Weight) -> tuple[int, int]:
    """The node's configurations in which some reached source carries into it, and those in which none does."""
    if node.keep is None:
        total = miss = 1
        for edge in node.edges:
            allowed = [c for c in edge.candidates if _allowed(c, in_use)]
            total *= sum(map(weight, allowed))
            miss *= (
                sum(weight(c) for c in allowed if c.is_none) if edge.source in reached else sum(map(weight, allowed))
            )
        return total - miss, miss
    weights = [sum(weight(c) for c in e.candidates if not c.is_none and _allowed(c, in_use)) for e in node.edges]
    total = _elementary_symmetric(weights, node.keep)
    miss = _elementary_symmetric([0 if e.source in reached else w for e, w in zip(node.edges, weights)], node.keep)
    return total - miss, miss


def _cell_count(cell: CellInstance, in_use: frozenset[str], weight: Weight = _one) -> tuple[int, int]:
    """Discrete configurations of one cell type, nested cells limited to ``in_use``: (all, connected); a
    candidate stands for ``weight`` configurations (those of the nested cells only it uses)."""
    last: dict[str, int] = {}  # a node or input -> the last node that reads it (the output: past the end)
    for i, node in enumerate(cell.nodes):
        for edge in node.edges:
            last[edge.source] = i
    for name in cell.output:
        last[name] = len(cell.nodes)
    states: dict[frozenset[str], int] = {frozenset(n for n in cell.inputs if n in last): 1}
    for i, node in enumerate(cell.nodes):
        new: dict[frozenset[str], int] = defaultdict(int)
        for reached, ways in states.items():
            hit, miss = _node_ways(node, reached, in_use, weight)
            still = frozenset(n for n in reached if last[n] > i)
            if hit:
                new[still | {node.name} if last.get(node.name, -1) > i else still] += ways * hit
            if miss:
                new[still] += ways * miss
        states = new
    total = sum(states.values())
    return total, sum(ways for reached, ways in states.items() if any(n in reached for n in cell.output))


def _elementary_symmetric(values: list[int], k: int) -> int:
    """Sum over k-subsets of the product of their values."""
    e = [1] + [0] * k
    for v in values:
        for j in range(k, 0, -1):
            e[j] += e[j - 1] * v
    return e[k]


def count_architectures(space: CheckedSpace) -> int:
    """The exact count; a searched depth (``x [1, 2, 3]``) sums over its options the architectures of the
    network with that many repeats (a cell type shared by the repeats counts once in each option)."""
    return _tally(space)[0]


def count_disconnected(space: CheckedSpace) -> int:
    """How many of the counted architectures are disconnected (a cell in use ignores its input)."""
    total, connected = _tally(space)
    return total - connected


def _tally(space: CheckedSpace) -> tuple[int, int]:
    """(architectures, connected ones), summed over the options of searched depths."""
    network = space.macro
    items = list(network.items) if network is not None else []
    types = space.cell_types
    # cells of the macro network are always in use (or, by a depth, from some count on); the others are used
    # only as ops inside cells
    top = sorted({item.cell.type_name for item in items if item.cell is not None} & set(types))
    top = top or [name for name in types if not _is_nested(types, name)]
    return _count(types, top, _over_depths(network, items, top))


Over = Callable[[dict[str, int]], int]  # the sum over depth combinations of the product of the present types'


def _over_depths(network: Network | None, items: list, top: list[str]) -> Over:
    """Given a count per top type, the sum over the combinations of the searched depths of the product over the
    types present, without enumerating them where it factorizes: a type present in every combination (used
    outside the depths, or by a depth's first repeat) is a common factor, and a type used only from the
    (j+1)-th repeat of one depth on is present when that depth's count exceeds j, so

        sum = prod(always present) * prod over depths of (sum over its counts n of prod(types with j < n)).

    A type whose presence hangs on two depths (none can: a repeated cell is shared or its repeats are types
    of their own) would sum over every combination, at most MAX_DEPTH_COMBINATIONS (the checker's)."""
    if network is None or not network.depths:
        return lambda counts: prod(counts[name] for name in top)
    group_of: dict[int, tuple[int, int]] = {}  # item index -> (which depth choice, position in its group)
    for g, depth in enumerate(network.depths):
        for j in range(max(depth.options)):
            group_of[depth.first + j] = (g, j)
    first: dict[str, tuple[int, int] | None] = {}  # type -> (depth, earliest position), None: always present
    two_depths = False
    for i, item in enumerate(items):
        if item.cell is None:
            continue
        name = item.cell.type_name
        where = group_of.get(i)
        if where is None or where[1] == 0 or first.get(name, where) is None:
            first[name] = None
        elif name in first:
            two_depths = two_depths or first[name][0] != where[0]  # type: ignore[index]
            first[name] = (where[0], min(where[1], first[name][1]))  # type: ignore[index]
        else:
            first[name] = where
    depths = network.depths
    if not two_depths:

        def factored(counts: dict[str, int]) -> int:
            value = prod(counts[name] for name, at in first.items() if at is None)
            for g, depth in enumerate(depths):
                later = [(at[1], counts[name]) for name, at in first.items() if at is not None and at[0] == g]
                value *= sum(prod(ways for j, ways in later if j < n) for n in depth.options)
            return value

        return factored
    present = [
        {
            it.cell.type_name
            for i, it in enumerate(items)
            if it.cell is not None and (i not in group_of or group_of[i][1] < combo[group_of[i][0]])
        }
        for combo in product(*(d.options for d in depths))
    ]
    return lambda counts: sum(prod(counts[name] for name in names) for names in present)


def _count(types: dict[str, CellInstance], top: list[str], over: Over) -> tuple[int, int]:
    """Architectures and connected ones, the top types' counts summed over the depths by ``over``.

    A nested cell that one edge alone uses is in use exactly when that edge picks it: its configurations
    multiply that candidate's (a weight). The others are in use or not together: exact(U) counts the
    configurations of the top types and of U in which exactly U is in use (for the connected ones, every cell
    of the top types and of U connected), by inclusion and exclusion over the subsets of them (at most
    MAX_SHARED_NESTED cells, the checker's)."""
    nested = sorted(set(types) - set(top))
    always = frozenset(types[name].name for name in top)
    edges = _edges_using(types)
    folded = frozenset(name for name in nested if len(edges.get(name, ())) == 1)
    shared = [name for name in nested if len(edges.get(name, ())) > 1]  # the rest: never in use
    result = []
    for which in (0, 1):
        exact: list[int] = []  # by bit mask over ``shared``: a subset's masks are below its own
        for mask in range(1 << len(shared)):
            used = [name for i, name in enumerate(shared) if mask >> i & 1]
            weighted = _Weighted(types, always | folded | frozenset(used), folded, which)
            at_most = over({name: weighted.count(name) for name in top}) * prod(map(weighted.count, used))
            smaller = mask
            while smaller:  # each proper subset of the mask, the empty one last
                smaller = (smaller - 1) & mask
                rest = [name for i, name in enumerate(shared) if (mask & ~smaller) >> i & 1]
                at_most -= exact[smaller] * prod(map(weighted.count, rest))
            exact.append(at_most)
        result.append(sum(exact))
    return result[0], result[1]


def _edges_using(types: dict[str, CellInstance]) -> dict[str, set[tuple[str, int]]]:
    """Per nested cell, the edges (cell type, edge index) that use it in some candidate."""
    edges: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for type_name, cell in types.items():
        for i, edge in enumerate(cell.edges):
            for cand in edge.candidates:
                for ref in cand.nested_cells:
                    edges[ref.name].add((type_name, i))
    return edges


def shared_nested(types: dict[str, CellInstance], top: set[str]) -> list[str]:
    """The cells not in ``top`` that several edges use as a candidate: the count sums over which are in use."""
    return [name for name, where in _edges_using(types).items() if len(where) > 1 and name not in top]


class _Weighted:
    """Counts of cell types in which each candidate weighs the configurations of the single-use nested cells
    it uses (``which``: 0 all of them, 1 the connected ones), nested cells limited to ``allowed``."""

    def __init__(self, types: dict[str, CellInstance], allowed: frozenset[str], folded: frozenset[str], which: int):
        self.types, self.allowed, self.folded, self.which = types, allowed, folded, which
        self.memo: dict[str, int] = {}

    def weight(self, cand: Candidate) -> int:
        return prod(self.count(name) for name in {ref.name for ref in cand.nested_cells} if name in self.folded)

    def count(self, name: str) -> int:
        if name not in self.memo:
            self.memo[name] = _cell_count(self.types[name], self.allowed, self.weight)[self.which]
        return self.memo[name]


def _is_nested(types: dict[str, CellInstance], name: str) -> bool:
    return any(
        ref.name == name for cell in types.values() for e in cell.edges for c in e.candidates for ref in c.nested_cells
    )


def space_stats(space: CheckedSpace) -> SpaceStats:
    cells = list(space.cell_types.values())
    total, connected = _tally(space)
    return SpaceStats(
        cell_types=len(cells),
        nodes=sum(len(c.nodes) for c in cells),
        edges=sum(len(c.edges) for c in cells),
        choice_points=sum(len(c.choices) for c in cells) + (len(space.macro.depths) if space.macro else 0),
        architectures=total,
        disconnected=total - connected,
    )
