"""Exact constrained discretization and exact k-best ranking of architectures.

``best(ir, weights, constraints, top, costs)`` returns the ``top`` highest-scoring
discrete architectures that are connected and satisfy every constraint. An architecture is one
decision per choice key (``dasdsl.methods.rules.Decision``), the same for every
instance of a cell type: on a node with ``keep k`` exactly k incoming choice edges
survive, each with one candidate other than ``none`` (the others are dropped,
decision None; fixed edges always survive and do not count towards k; when fewer
than k choice edges have a candidate other than ``none``, all of those survive,
as in ``decide``); on a node without ``keep`` every choice edge takes exactly one
candidate, ``none`` included. Its score is the sum of the chosen candidates' gate
weights (``dasdsl.engine.discretization.score``); without constraints the best architecture
is exactly ``decide(ir, weights)``, ties included, whenever that one is connected.

Connectivity, a rule in force always (not a constraint one can leave out): in every
cell type with choices some cell input reaches the cell output over surviving edges
whose op is not ``none`` (fixed edges count with their op; ``skip`` and pooling carry
the input). A cell that fails it ignores its input, and the network computes a
constant; since ``none`` costs nothing and weighs about as much as any op, a budget
would otherwise fill cells with it. A cell type used only as a candidate inside
other cells must be connected too, even where no chosen candidate uses it (its
decisions are then not in the result). ``discretization.disconnected_cells`` tells the
same of one architecture.

Constraints, a sequence of ``(kind, value)``:

- ``min_nonskip_per_path c`` (per cell type): every path from a cell input to the
  cell output holds at least c ops that are neither ``skip`` nor ``none``. A path
  runs over surviving edges whose op is not ``none`` (a ``none`` edge carries
  nothing); fixed edges count with their op, the edges into the output count
  nothing. A cell whose output no input reaches fails the constraint: it passes
  nothing on, so it is no architecture to guard.
- ``max_skip s`` (per cell type): at most s chosen candidates are ``skip``. Only
  choice edges count; a fixed ``skip`` edge is not a choice.
- ``max_params B`` / ``max_flops B`` (whole network): ``costs["params"]`` /
  ``costs["flops"]`` is ``(fixed_cost, {choice key: per-candidate costs})`` with
  every candidate's cost already summed over the instances of its cell type (as
  ``dasdsl.compiler.cost.candidate_params`` returns it); an architecture costs ``fixed_cost``
  plus its chosen candidates' costs (a dropped edge, or a key missing from the
  table, costs 0). The total must be at most B.

The path and skip constraints apply to every cell type that has choices (a cell
type without choices has nothing to decide); repeated kinds keep the tightest
value.

Algorithm. Cell types are independent except through budgets. Per cell type a
dynamic program runs over the cell DAG in topological order. Its state after a
node is (the capped minimum non-skip count over paths from the inputs, for each
node already decided whose value a later node or the output still reads; the
number of chosen ``skip``s). A count is capped at c, and a node no input reaches
counts as c + 1 (it imposes nothing on paths, but an output only such nodes feed
fails), so a count lies in 0..c + 1; skip counts above s are pruned. Without
``min_nonskip_per_path`` (c = 0) the count is 0 for a node some input reaches and 1
for one that none reaches: the same program checks connectivity, always. Per node
the options (which edges survive, with which candidate) are built edge by edge and
grouped by their effect on the state: for each edge whether it carries nothing, a
skip or an op. Each state holds the k best partial
architectures that reach it; a transition merges a state's list with an option
group's list (the k best of the sums, by a lazy heap), and the k best over all
transitions into a state survive. At the output the states whose count reaches c
are feasible. The cell types' k-best lists are then merged the same way. With a
frontier of f nodes, the work per node is (c+1)^f * (s+1) states times the node's
option groups (at most 3^m for m choice edges, C(m, k) * 2^k with ``keep k``)
times O(k log k). On DARTS (both cells) c = 1, s = 2 takes about 10 ms for k = 5
and 0.1 s for k = 50.

Exactness. Scores are summed exactly: every weight is a dyadic rational and is
scaled to an integer, so no rounding enters comparisons, and ``score`` is the
correctly rounded exact sum (``discretization.score`` sums in floating point and may
differ in the last bit). Ties are broken deterministically: decisions compare
key by key in ``ir.choices`` order, a chosen candidate before a dropped edge,
lower candidate indices first (the preference of ``decide``). This order is
preserved when partial architectures with the same decided keys are extended by
the same completion, so keeping k entries per state is exact: the path and skip
constraints, connectivity and the k-best list are exact for any k: the result is
the k best architectures that satisfy the constraints and are connected.

Budgets. First the k best architectures under the other constraints are taken;
if they all fit, that is the answer. Otherwise the same dynamic program runs with
(score, cost) entries and keeps, per state, every entry that fewer than k better
entries dominate in cost (all costs at most its own), after dropping entries whose
cost plus a lower bound on the cost still to come exceeds a budget: exact, for any
k and any number of budgets (one budget on DARTS: milliseconds to 1 s). When
that search would exceed ``EXACT_LIMIT`` entries and dominance tests (fronts too
large, typically with several budgets), a Lagrangian relaxation takes over: the
dual g(lambda) = max score - sum_j lambda_j * (cost_j - B_j) over connected
architectures that meet the path and skip constraints, evaluated exactly by the
same dynamic program, is an upper bound on the optimum for every lambda >= 0. For one budget
lambda walks the breakpoints of the convex piecewise-linear g, each time to the
crossing of the lines of the best infeasible and the best feasible architecture
found, until no architecture lies above the crossing: that is the exact minimum of
the dual. Several budgets are searched one lambda_j at a time the same way
(coordinate descent, which can stop above the dual minimum), then, if nothing fits
yet, with every lambda raised until something does. At most ``LAGRANGE_ROUNDS``
evaluations. Every architecture returned fits the budgets and every
``Ranked.bound`` holds the smallest dual value seen (rounded up), an upper bound
on the optimal score; the list holds the best fitting architectures met on the
way (the k best at each lambda tried), not certified to be the k best. ``bound``
is None when the answer is exact: always in the exact search, in the Lagrangian
search only for ``top=1`` when the score reaches the bound.

When no architecture satisfies the constraints, ``best`` raises ``DasError``
naming the constraint that cannot be met, or, where no architecture of a cell type
is connected at all, saying so and naming the cell.
"""

from __future__ import annotations

import heapq
import math
import numbers
from bisect import bisect_right, insort
from collections import defaultdict
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import attrs
import networkx as nx

from dasdsl.compiler.ir import OUTPUT, NetworkIR
from dasdsl.engine.discretization import Decision, disconnected_cells
from dasdsl.errors import DasError, Span, did_you_mean, fail
from dasdsl.wording import plural

__all__ = ["EXACT_LIMIT", "KINDS", "Ranked", "best", "best_over_depths", "connected_or_best"]

KINDS = ("min_nonskip_per_path", "max_skip", "max_params", "max_flops")
MEASURES = {"max_params": "params", "max_flops": "flops"}
UNITS = {"params": "parameters", "flops": "FLOPs"}
EXACT_LIMIT = 1_000_000  # entries created and dominance tests made by the exact budget search (~4 s) before
# the Lagrangian search takes over
LAGRANGE_ROUNDS = 200  # evaluations of the dual function by the Lagrangian search, at most
DROP = 1 << 30  # the code of a dropped edge: sorts after every candidate index

Entry = tuple[int, tuple[int, ...], tuple[int, ...]]  # (-score, decision codes, costs), all exact integers


@attrs.frozen
class Ranked:
    """One architecture of the ranking."""

    decisions: Decision
    score: float
    bound: float | None = None  # for budget constraints: an upper bound on the optimal score (None when exact)


# ---- the problem, in exact integers ---------------------------------------------------------


@attrs.frozen
class _Edge:
    """A choice edge into a node: its classes (path weight: None nothing, 0 skip, 1 op; is skip; indices)."""

    source: str
    key: str
    classes: tuple[tuple[int | None, bool, tuple[int, ...]], ...]


@attrs.frozen
class _Step:
    """One intermediate node of a cell, in processing order."""

    node: str
    keep: int | None
    fixed: tuple[tuple[str, int], ...]  # fixed edges that carry something: (source, path weight)
    edges: tuple[_Edge, ...]  # choice edges, in key order

    @property
    def sources(self) -> list[str]:
        return [s for s, _ in self.fixed] + [e.source for e in self.edges]


@attrs.frozen
class _Cell:
    name: str
    span: Span
    keys: tuple[str, ...]
    steps: tuple[_Step, ...]
    outputs: tuple[str, ...]  # what the output reads
    longest: int  # ops on the longest input-to-output path (edges that are not all 'none')


@attrs.frozen
class _PathLimits:
    min_nonskip: int  # 0: no path constraint, but the output must be reached (connectivity)
    max_skip: int | None  # None: skips not counted


@attrs.frozen
class _Budget:
    kind: str
    value: Any  # as the user gave it
    limit: int  # scaled
    fixed: int  # scaled
    per_key: dict[str, tuple[int, ...]]  # scaled
    scale: int  # the integers are the costs times this

    def of(self, key: str, index: int | None) -> int:
        if index is None:
            return 0
        costs = self.per_key.get(key)
        return costs[index] if costs is not None else 0


class _TooLargeError(Exception):
    """The exact budget search outgrew EXACT_LIMIT."""


def _exact(x: Any) -> Fraction:
    if isinstance(x, numbers.Rational):
        return Fraction(int(x.numerator), int(x.denominator))
    f = float(x)
    if not math.isfinite(f):
        raise ValueError(f"{f} is not finite")
    return Fraction(f)


def _scaled(values: dict[Any, Sequence[Fraction]]) -> tuple[dict[Any, tuple[int, ...]], int]:
    """Integers with a common scale: every value times the least common denominator."""
    scale = 1
    for vs in values.values():
        for v in vs:
            scale = math.lcm(scale, v.denominator)
    return {k: tuple(int(v * scale) for v in vs) for k, vs in values.items()}, scale


def _amount(x: Fraction) -> str:
    return f"{x.numerator:,}" if x.denominator == 1 else f"{float(x):g}"


def _parse(
    ir: NetworkIR, constraints: Any, costs: Mapping[str, Any] | None
) -> tuple[_PathLimits, list[tuple[str, Any, str]], list[str]]:
    """(path/skip context, budgets as (kind, value, measure), the constraints as the user wrote them)."""
    items = list(constraints.items()) if isinstance(constraints, Mapping) else list(constraints)
    c, s = 0, None
    budgets: dict[str, tuple[str, Any, str]] = {}
    shown = []
    for item in items:
        try:
            kind, value = item
        except (TypeError, ValueError):
            raise fail(
                f"a constraint is a pair (kind, value), not {item!r}", ir.space.module.span.file, source=ir.space.source
            ) from None
        if kind not in KINDS:
            hint = did_you_mean(str(kind), KINDS)
            raise fail(
                f"unknown constraint '{kind}'",
                ir.space.module.span.file,
                hint or "constraints are " + ", ".join(KINDS),
                source=ir.space.source,
            )
        shown.append(f"{kind} {value}")
        if kind in ("min_nonskip_per_path", "max_skip"):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise fail(
                    f"{kind} needs a non-negative integer, got {value!r}",
                    ir.space.module.span.file,
                    source=ir.space.source,
                )
            if kind == "min_nonskip_per_path":
                c = max(c, int(value))
            else:
                s = int(value) if s is None else min(s, int(value))
            continue
        measure = MEASURES[kind]
        try:
            bound = _exact(value)
        except (TypeError, ValueError):
            raise fail(
                f"{kind} needs a finite number, got {value!r}", ir.space.module.span.file, source=ir.space.source
            ) from None
        if costs is None or measure not in costs:
            raise fail(
                f"{kind} needs the cost table costs['{measure}'] = (fixed cost, {{choice key: per-candidate costs}})",
                ir.space.module.span.file,
                source=ir.space.source,
            )
        if kind not in budgets or bound < _exact(budgets[kind][1]):
            budgets[kind] = (kind, value, measure)
    return _PathLimits(c, s), list(budgets.values()), shown


def _cells(ir: NetworkIR) -> list[_Cell]:
    """Every cell type with choices, prepared for the dynamic program (in ir.choices order of first key)."""
    position = {k: i for i, k in enumerate(ir.choices)}
    graphs: dict[str, Any] = {}
    for g in ir.cells.values():
        graphs.setdefault(g.type_name, g)
    by_type: dict[str, list[str]] = {}
    for key, info in ir.choices.items():
        by_type.setdefault(info.cell_type, []).append(key)
    cells = []
    for type_name, keys in by_type.items():
        g = graphs[type_name]
        rank = {n: i for i, n in enumerate(g.nodes)}
        order = list(nx.lexicographical_topological_sort(g.topology, key=rank.__getitem__))
        steps = []
        for v in order:
            if g.nodes[v].kind != "node":
                continue
            fixed, edges = [], []
            for u in g.predecessors(v):
                data = g.edges[u, v]
                cands = data.candidates
                if data.choice is None:
                    c0 = cands[0]
                    if not c0.is_none:
                        fixed.append((u, 0 if c0.is_skip else 1))
                    continue
                key = data.choice
                none = tuple(i for i, c in enumerate(cands) if c.is_none)
                skip = tuple(i for i, c in enumerate(cands) if c.is_skip)
                op = tuple(i for i, c in enumerate(cands) if not c.is_none and not c.is_skip)
                if g.nodes[v].keep is None:
                    classes = [(None, False, none), (0, True, skip), (1, False, op)]
                else:
                    classes = [(None, False, (DROP,)), (0, True, skip), (1, False, op)]
                edges.append(_Edge(u, key, tuple(cl for cl in classes if cl[2])))
            edges.sort(key=lambda e: position[e.key])
            keep = g.nodes[v].keep
            if keep is not None:  # as decide: at most the choice edges that have a candidate other than none
                keep = min(keep, sum(1 for e in edges if any(w is not None for w, _, _ in e.classes)))
            steps.append(_Step(v, keep, tuple(fixed), tuple(edges)))
        longest: dict[str, float] = {}
        for v in order:
            if g.nodes[v].kind == "input":
                longest[v] = 0
                continue
            best_in = -math.inf
            for u in g.predecessors(v):
                cands = g.edges[u, v].candidates
                if v != OUTPUT and all(c.is_none for c in cands):
                    continue
                best_in = max(best_in, longest[u] + (v != OUTPUT))
            longest[v] = best_in
        span = g.instance.span
        out_long = longest[OUTPUT]
        cells.append(
            _Cell(
                type_name,
                span,
                tuple(keys),
                tuple(steps),
                tuple(g.predecessors(OUTPUT)),
                int(out_long) if out_long != -math.inf else 0,
            )
        )
    return cells


# ---- entries and keepers --------------------------------------------------------------------


def _perm(done: tuple[int, ...], more: tuple[int, ...]) -> tuple[tuple[int, ...] | None, tuple[int, ...]]:
    """How to interleave codes over key positions ``done`` and ``more`` into key order."""
    both = done + more
    order = sorted(range(len(both)), key=both.__getitem__)
    merged = tuple(both[i] for i in order)
    return (None if order == list(range(len(both))) else tuple(order)), merged


def _combine(a: Entry, b: Entry, perm: tuple[int, ...] | None) -> Entry:
    codes = a[1] + b[1]
    if perm is not None:
        codes = tuple([codes[i] for i in perm])
    return (a[0] + b[0], codes, tuple([x + y for x, y in zip(a[2], b[2])]) if a[2] else b[2])


class _Best:
    """Keeps the k best entries (score, then decisions)."""

    def __init__(self, k: int) -> None:
        self.k = k

    def prune(self, entries: list[Entry], rest: tuple[int, ...] | None = None) -> list[Entry]:
        if len(entries) <= self.k:
            entries.sort()
            return entries
        return heapq.nsmallest(self.k, entries)

    def product(self, a: list[Entry], b: list[Entry], perm: tuple[int, ...] | None) -> list[Entry]:
        """The k best sums of an entry of a and one of b (both sorted): a lazy heap over the grid."""
        if not a or not b:
            return []
        if self.k == 1:
            return [_combine(a[0], b[0], perm)]
        heap = [(_combine(a[0], b[0], perm), 0, 0)]
        seen = {(0, 0)}
        out = []
        while heap and len(out) < self.k:
            e, i, j = heapq.heappop(heap)
            out.append(e)
            for i2, j2 in ((i + 1, j), (i, j + 1)):
                if i2 < len(a) and j2 < len(b) and (i2, j2) not in seen:
                    seen.add((i2, j2))
                    heapq.heappush(heap, (_combine(a[i2], b[j2], perm), i2, j2))
        return out


class _Front:
    """Keeps the entries that fewer than k better entries dominate in cost; drops those that cannot fit."""

    def __init__(self, k: int, limits: tuple[int, ...], budget: int) -> None:
        self.k = k
        self.limits = limits
        self.budget = budget  # entries left to create

    def product(self, a: list[Entry], b: list[Entry], perm: tuple[int, ...] | None) -> list[Entry]:
        self.budget -= len(a) * len(b)
        if self.budget < 0:
            raise _TooLargeError
        return [_combine(x, y, perm) for x in a for y in b]

    def prune(self, entries: list[Entry], rest: tuple[int, ...] | None = None) -> list[Entry]:
        if rest is not None:
            entries = [e for e in entries if all(c + r <= m for c, r, m in zip(e[2], rest, self.limits))]
        entries.sort()
        kept: list[Entry] = []
        if len(self.limits) == 1:
            seen: list[int] = []
            for e in entries:
                if bisect_right(seen, e[2][0]) < self.k:
                    kept.append(e)
                    insort(seen, e[2][0])
            return kept
        for e in entries:
            n = 0
            self.budget -= len(kept)
            for f in kept:
                if all(x <= y for x, y in zip(f[2], e[2])):
                    n += 1
                    if n >= self.k:
                        break
            if n < self.k:
                kept.append(e)
        if self.budget < 0:
            raise _TooLargeError
        return kept


# ---- the dynamic program --------------------------------------------------------------------


def _node_options(
    step: _Step,
    ctx: _PathLimits,
    keeper: Any,
    weights: Mapping[str, Sequence[int]],
    costs: Sequence[_Budget],
    position: Mapping[str, int],
) -> tuple[list[tuple[tuple[tuple[str, int], ...], int, list[Entry]]], tuple[int, ...]]:
    """The node's options grouped by effect: (live in-edges (source, path weight), skips, entries)."""
    s = ctx.max_skip
    zero = (0,) * len(costs)
    groups: dict[tuple, list[Entry]] = {((), 0, 0): [(0, (), zero)]}
    done: tuple[int, ...] = ()
    for n, edge in enumerate(step.edges):
        perm, done = _perm(done, (position[edge.key],))
        left = len(step.edges) - n - 1
        options = []
        for w, is_skip, indices in edge.classes:
            entries = [
                (0, (DROP,), zero)
                if i == DROP
                else (-weights[edge.key][i], (i,), tuple(b.of(edge.key, i) for b in costs))
                for i in indices
            ]
            options.append((w, is_skip, keeper.prune(entries)))
        new: dict[tuple, list[Entry]] = defaultdict(list)
        for (ws, sk, kept), entries in groups.items():
            for w, is_skip, choice in options:
                nsk = sk + is_skip if s is not None else 0
                if s is not None and nsk > s:
                    continue
                nkept = 0
                if step.keep is not None:
                    nkept = kept + (w is not None)
                    if nkept > step.keep or nkept + left < step.keep:
                        continue
                new[((*ws, w), nsk, nkept)].extend(keeper.product(entries, choice, perm))
        groups = {g: keeper.prune(es) for g, es in new.items()}
    result = []
    for (ws, sk, _), entries in groups.items():
        if not entries:
            continue
        live = step.fixed + tuple((e.source, w) for e, w in zip(step.edges, ws) if w is not None)
        result.append((live, sk, entries))
    return result, done


def _run(
    cell: _Cell,
    ctx: _PathLimits,
    keeper: Any,
    weights: Mapping[str, Sequence[int]],
    costs: Sequence[_Budget],
    position: Mapping[str, int],
    rest: Sequence[tuple[int, ...]] | None = None,
) -> tuple[dict[tuple[int, int], list[Entry]], tuple[int, ...]]:
    """The DP over one cell type: {(capped output count, skips): entries}, and the key positions of the codes."""
    c, s = ctx.min_nonskip, ctx.max_skip
    zero = (0,) * len(costs)
    last: dict[str, int] = {}
    for i, step in enumerate(cell.steps):
        for src in step.sources:
            last[src] = i
    for src in cell.outputs:
        last[src] = len(cell.steps)
    frontier: list[str] = []
    states: dict[tuple[tuple[int, ...], int], list[Entry]] = {((), 0): [(0, (), zero)]}
    done: tuple[int, ...] = ()
    for i, step in enumerate(cell.steps):
        options, node_pos = _node_options(step, ctx, keeper, weights, costs, position)
        perm, merged = _perm(done, node_pos)
        index = {n: j for j, n in enumerate(frontier)}
        stay = [j for j, n in enumerate(frontier) if last.get(n, -1) > i]
        groups = [(tuple((index.get(src, -1), w) for src, w in live), sk, es) for live, sk, es in options]
        new: dict[tuple[tuple[int, ...], int], list[Entry]] = defaultdict(list)
        for (counts, sk), entries in states.items():
            for live, gsk, choice in groups:
                nsk = sk + gsk
                if s is not None and nsk > s:
                    continue
                cv = c + 1  # c + 1: no input reaches the node
                for j, w in live:
                    base = counts[j] if j >= 0 else 0
                    if base > c:
                        continue
                    v = min(base + w, c)
                    if v < cv:
                        cv = v
                ncounts = (*[counts[j] for j in stay], cv)
                new[(ncounts, nsk)].extend(keeper.product(entries, choice, perm))
        limit = rest[i] if rest is not None else None
        states = {}
        for st, es in new.items():
            kept = keeper.prune(es, limit)
            if kept:
                states[st] = kept
        frontier = [frontier[j] for j in stay] + [step.node]
        done = merged
    index = {n: j for j, n in enumerate(frontier)}
    out: dict[tuple[int, int], list[Entry]] = defaultdict(list)
    for (counts, sk), entries in states.items():
        oc = min([c + 1] + [counts[index[n]] if n in index else 0 for n in cell.outputs])
        out[(oc, sk)].extend(entries)
    return {k: keeper.prune(es) for k, es in out.items()}, done


# ---- the search -----------------------------------------------------------------------------


class _Problem:
    def __init__(
        self,
        ir: NetworkIR,
        weights: Mapping[str, Sequence[float]],
        ctx: _PathLimits,
        budgets: list[tuple[str, Any, str]],
        costs: Mapping[str, Any] | None,
    ) -> None:
        self.ir = ir
        self.ctx = ctx
        self.keys = list(ir.choices)
        self.position = {k: i for i, k in enumerate(self.keys)}
        exact: dict[str, list[Fraction]] = {}
        for key, info in ir.choices.items():
            if key not in weights:
                raise ValueError(f"no gate weights for choice '{key}'")
            values = list(weights[key])
            if len(values) != len(info.labels):
                raise ValueError(f"choice '{key}' has {len(info.labels)} candidates but {len(values)} gate weights")
            try:
                exact[key] = [_exact(v) for v in values]
            except ValueError:
                raise fail(
                    f"the gate weights of '{key}' are not all finite: {values}",
                    ir.space.module.span.file,
                    source=ir.space.source,
                ) from None
        self.weights_exact = exact
        self.weights, self.scale = _scaled(exact)
        self.budgets: list[_Budget] = []
        for kind, value, measure in budgets:
            assert costs is not None
            fixed, table = costs[measure]
            try:
                raw = {"<fixed>": [_exact(fixed)], "<limit>": [_exact(value)]}
                for key, vs in table.items():
                    if key in ir.choices:
                        raw[key] = [_exact(v) for v in vs]
                        if len(raw[key]) != len(ir.choices[key].labels):
                            raise fail(
                                f"costs['{measure}'] gives {len(raw[key])} costs for choice '{key}', which has "
                                f"{len(ir.choices[key].labels)} candidates",
                                ir.space.module.span.file,
                                source=ir.space.source,
                            )
            except (TypeError, ValueError):
                raise fail(
                    f"costs['{measure}'] holds a value that is not a finite number",
                    ir.space.module.span.file,
                    source=ir.space.source,
                ) from None
            ints, scale = _scaled(raw)
            per_key = {k: v for k, v in ints.items() if not k.startswith("<")}
            self.budgets.append(_Budget(kind, value, ints["<limit>"][0], ints["<fixed>"][0], per_key, scale))
        self.cells = _cells(ir)

    # -- decoding
    def decisions(self, codes: tuple[int, ...], positions: tuple[int, ...]) -> Decision:
        got = {self.keys[p]: (None if code == DROP else code) for p, code in zip(positions, codes)}
        return {k: got.get(k) for k in self.keys}

    def exact_score(self, d: Decision) -> Fraction:
        return sum((self.weights_exact[k][i] for k, i in d.items() if i is not None), Fraction(0))

    def cost(self, b: _Budget, d: Decision) -> int:
        return b.fixed + sum(b.of(k, i) for k, i in d.items())

    # -- rank mode: the k best under the path and skip constraints, for the given integer weights
    def rank(self, k: int, weights: Mapping[str, Sequence[int]]) -> list[Decision] | _Cell:
        """The k best architectures, or the first cell type that has no feasible architecture."""
        ctx = self.ctx
        keeper = _Best(k)
        acc: list[Entry] = [(0, (), ())]
        done: tuple[int, ...] = ()
        for cell in self.cells:
            finals, positions = _run(cell, ctx, keeper, weights, (), self.position)
            feasible = keeper.prune([e for (oc, _), es in finals.items() if oc == ctx.min_nonskip for e in es])
            if not feasible:
                return cell
            perm, done = _perm(done, positions)
            acc = keeper.product(acc, feasible, perm)
        return [self.decisions(e[1], done) for e in acc]

    # -- exact budget mode
    def fronts(self, k: int) -> list[Decision]:
        budgets = self.budgets
        limits = tuple(b.limit for b in budgets)
        keeper = _Front(k, limits, EXACT_LIMIT)
        lb = {cell.name: [self.step_lb(step) for step in cell.steps] for cell in self.cells}
        cell_lb = {name: tuple(map(sum, zip(*ls))) if ls else (0,) * len(budgets) for name, ls in lb.items()}
        fixed = tuple(b.fixed for b in budgets)
        acc: list[Entry] = [(0, (), (0,) * len(budgets))]
        done: tuple[int, ...] = ()
        for n, cell in enumerate(self.cells):
            others = [cell_lb[c.name] for c in self.cells if c is not cell]
            base = tuple(map(sum, zip(fixed, *others)))
            steps = lb[cell.name]
            rest = [tuple(map(sum, zip(base, *steps[i + 1 :]))) for i in range(len(steps))]
            finals, positions = _run(cell, self.ctx, keeper, self.weights, budgets, self.position, rest)
            feasible = keeper.prune([e for (oc, _), es in finals.items() if oc == self.ctx.min_nonskip for e in es])
            perm, done = _perm(done, positions)
            later = [cell_lb[c.name] for c in self.cells[n + 1 :]]
            acc = keeper.prune(keeper.product(acc, feasible, perm), tuple(map(sum, zip(fixed, *later))))
        acc = [e for e in acc if all(f + c <= m for f, c, m in zip(fixed, e[2], limits))]
        return [self.decisions(e[1], done) for e in acc[:k]]

    def step_lb(self, step: _Step) -> tuple[int, ...]:
        """A lower bound on each budget's cost of a node's choice edges."""
        out = []
        for b in self.budgets:
            mins = []
            for e in step.edges:
                real = [i for _, _, idx in e.classes for i in idx if i != DROP]
                none = [i for w, _, idx in e.classes if w is None for i in idx if i != DROP]
                if step.keep is None:
                    mins.append(min(b.of(e.key, i) for i in real + none))
                elif real:
                    mins.append(min(b.of(e.key, i) for i in real))
            out.append(sum(mins) if step.keep is None else sum(sorted(mins)[: step.keep]))
        return tuple(out)


def best(
    ir: NetworkIR,
    weights: Mapping[str, Sequence[float]],
    constraints: Sequence[tuple[str, Any]] | Mapping[str, Any] = (),
    top: int = 1,
    costs: Mapping[str, Any] | None = None,
) -> list[Ranked]:
    """The ``top`` highest-scoring architectures that satisfy ``constraints``, best first.

    Only connected architectures count: some input of every cell type with choices reaches
    its output through ops other than ``none`` (see the module docstring). Exact for the
    path and skip constraints and for budgets whose cost/score fronts stay within
    ``EXACT_LIMIT`` entries (``bound`` None); beyond that a Lagrangian search returns
    feasible architectures with ``bound``, an upper bound on the optimal score (see the
    module docstring). Ties in score are broken by the decisions, key by key in
    ``ir.choices`` order, a chosen candidate before a dropped edge, lower indices first.
    Fewer than ``top`` entries come back when fewer architectures satisfy the constraints;
    none at all raises ``DasError``.
    """
    if isinstance(top, bool) or not isinstance(top, numbers.Integral) or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    top = int(top)
    ctx, budgets, shown = _parse(ir, constraints, costs)
    prob = _Problem(ir, weights, ctx, budgets, costs)
    ranked = prob.rank(top, prob.weights)
    if isinstance(ranked, _Cell):
        raise _cell_error(prob, ranked)
    if not budgets or all(all(prob.cost(b, d) <= b.limit for b in prob.budgets) for d in ranked):
        return [Ranked(d, float(prob.exact_score(d))) for d in ranked]
    others = [x for x in shown if x.split()[0] not in MEASURES]
    for b in prob.budgets:
        cheapest = prob.rank(1, {k: [-x for x in b.per_key.get(k, (0,) * len(v))] for k, v in prob.weights.items()})
        assert isinstance(cheapest, list)
        low = prob.cost(b, cheapest[0])
        if low > b.limit:
            unit = UNITS[MEASURES[b.kind]]
            what = "the smallest connected architecture" + (f" that satisfies {', '.join(others)}" if others else "")
            raise fail(
                f"no architecture satisfies {b.kind} {b.value}: {what} has {_amount(Fraction(low, b.scale))} {unit}",
                ir.space.module.span.file,
                source=ir.space.source,
            )
    try:
        found = prob.fronts(top)
    except _TooLargeError:
        return _lagrange(prob, top)
    if not found:
        raise fail(
            "no architecture satisfies " + ", ".join(shown) + " at once, though each budget alone can be met",
            ir.space.module.span.file,
            source=ir.space.source,
        )
    return [Ranked(d, float(prob.exact_score(d))) for d in found]


def best_over_depths(
    ir: NetworkIR,
    weights: Mapping[str, Sequence[float]],
    constraints: Sequence[tuple[str, Any]] | Mapping[str, Any] = (),
    top: int = 1,
    costs: Mapping[str, Any] | None = None,
    repeats: Mapping[str, Any] | None = None,
) -> list[Ranked]:
    """``best`` for a space with searched depths (``x [1, 2, 3]``): exact over every combination of counts.

    For each combination the repeats past the counts are left out: the choice keys only they have drop
    out (their decision is the heaviest candidate, which the result never shows), and their costs leave
    the budget tables (``repeats[measure]``: each repeat's own cost, ``dasdsl.compiler.cost.repeat_costs``).
    The rankings of the combinations, each scored with its counts' gate weights, merge into one."""
    depths = ir.depth_nodes()
    if not depths:
        return best(ir, weights, constraints, top, costs)
    cells = ir.type_names()
    merged: list[tuple[Fraction, int, Ranked]] = []
    failure: DasError | None = None
    for order, depth_part in enumerate(ir.depth_combinations()):
        absent = ir.left_out(depth_part)
        gone = {cells[n] for n in absent if n in cells} - {t for n, t in cells.items() if n not in absent}
        kept = {k: info for k, info in ir.choices.items() if info.kind != "depth" and info.cell_type not in gone}
        sub = attrs.evolve(ir, choices=kept)
        sub_costs = None
        if costs is not None:
            sub_costs = {}
            for measure, (fixed, table) in costs.items():
                if repeats is not None:
                    fixed, table = repeats[measure].without(fixed, table, absent)
                sub_costs[measure] = (fixed, {k: list(v) for k, v in table.items() if k in kept})
        try:
            ranked = (
                best(sub, {k: weights[k] for k in kept}, constraints, top, sub_costs) if kept else [Ranked({}, 0.0)]
            )
        except DasError as exc:
            failure = failure or exc
            continue
        depth_score = sum((_exact(weights[key][i]) for key, i in depth_part.items()), Fraction(0))
        for r in ranked:
            decisions = dict(r.decisions)
            for key, info in ir.choices.items():
                if key not in decisions and info.kind != "depth":
                    w = list(weights[key])
                    decisions[key] = w.index(max(w))  # a left-out repeat's choice: not in the result
            decisions.update(depth_part)
            ordered = {k: decisions[k] for k in ir.choices}
            score = _exact(r.score) + depth_score
            merged.append((score, order, Ranked(ordered, float(score), r.bound)))
    if not merged:
        assert failure is not None
        raise failure
    merged.sort(key=lambda e: (-e[0], e[1]))
    return [r for _, _, r in merged[:top]]


def connected_or_best(ir: NetworkIR, weights: Mapping[str, Sequence[float]], decisions: Decision) -> Decision:
    """A discretization rule's ``decisions`` where every cell in use is connected, else the best connected
    architecture by the same score, the sum of the chosen gate weights (``best_over_depths`` without
    constraints). The rules (argmax, threshold(t), perturbation) decide edge by edge and may leave a cell
    whose output no input reaches, e.g. all ``none``: that network computes a constant."""
    if not disconnected_cells(ir.space, decisions):
        return decisions
    return best_over_depths(ir, {k: weights[k] for k in ir.choices})[0].decisions


# ---- errors ---------------------------------------------------------------------------------


def _cell_error(prob: _Problem, cell: _Cell) -> DasError:
    ctx = prob.ctx
    c, s = ctx.min_nonskip, ctx.max_skip
    name = f"no architecture of cell '{cell.name}'"
    keeper = _Best(1)
    finals, _ = _run(cell, _PathLimits(0, None), keeper, prob.weights, (), prob.position)
    if not any(oc == 0 for oc, _ in finals):
        return fail(
            f"{name} is connected: in every one no input reaches the output through ops other than none, "
            "so the cell would ignore its input and the network compute a constant",
            cell.span,
            source=prob.ir.space.source,
        )
    if c > 0:
        finals, _ = _run(cell, _PathLimits(c, None), keeper, prob.weights, (), prob.position)
        if not any(oc == c for oc, _ in finals):
            if cell.longest < c:
                why = f"its longest input-to-output path has {plural(cell.longest, 'edge')}"
            else:
                most = max((oc for oc, _ in finals if oc <= c), default=0)
                why = (
                    "every architecture of it has an input-to-output path with at most "
                    f"{plural(most, 'op')} other than skip and none"
                )
            return fail(f"{name} satisfies min_nonskip_per_path {c}: {why}", cell.span, source=prob.ir.space.source)
    if s is not None:
        edges = sum(len(step.edges) for step in cell.steps)
        finals, _ = _run(cell, _PathLimits(0, edges), keeper, prob.weights, (), prob.position)
        fewest = min(sk for oc, sk in finals if oc == 0)
        if fewest > s:
            forced = [e.key for step in cell.steps for e in step.edges if all(is_skip for _, is_skip, _ in e.classes)]
            why = f"every connected architecture of it chooses skip on at least {plural(fewest, 'edge')}"
            if forced:
                why += " (" + ", ".join(forced) + " offer only skip)"
            return fail(f"{name} satisfies max_skip {s}: {why}", cell.span, source=prob.ir.space.source)
    return fail(
        f"{name} satisfies min_nonskip_per_path {c} and max_skip {s} together: each can be met alone, "
        "but no architecture of it meets both",
        cell.span,
        source=prob.ir.space.source,
    )


# ---- the Lagrangian search ------------------------------------------------------------------


def _round_up(x: Fraction) -> float:
    f = float(x)
    return math.nextafter(f, math.inf) if Fraction(f) < x else f


def _lagrange(prob: _Problem, top: int) -> list[Ranked]:
    """Feasible architectures and an upper bound on the optimum from the Lagrangian dual (see the module)."""
    budgets = prob.budgets
    limit = [Fraction(b.limit, b.scale) for b in budgets]
    feasible: dict[tuple[int, ...], tuple[Fraction, Decision]] = {}
    seen: dict[tuple[int, ...], tuple[Fraction, list[Fraction]]] = {}
    calls = [0]

    def stats(d: Decision) -> tuple[Fraction, list[Fraction]]:
        key = tuple(DROP if d[k] is None else d[k] for k in prob.keys)
        if key not in seen:
            seen[key] = (prob.exact_score(d), [Fraction(prob.cost(b, d), b.scale) for b in budgets])
            if all(x <= m for x, m in zip(seen[key][1], limit)):
                feasible[key] = (seen[key][0], d)
        return seen[key]

    def evaluate(lams: list[Fraction]) -> tuple[Fraction, Decision]:
        """g(lambda) = max over architectures of score - sum_j lambda_j (cost_j - B_j), and the maximizer."""
        calls[0] += 1
        mod = {
            key: [
                w - sum((lam * Fraction(b.of(key, i), b.scale) for lam, b in zip(lams, budgets) if lam), Fraction(0))
                for i, w in enumerate(ws)
            ]
            for key, ws in prob.weights_exact.items()
        }
        ints, _ = _scaled(mod)
        found = prob.rank(top, ints)
        assert isinstance(found, list) and found
        for d in found:
            stats(d)
        score, cost = stats(found[0])
        return score - sum((lam * (c - m) for lam, c, m in zip(lams, cost, limit)), Fraction(0)), found[0]

    spread = sum((max(ws) - min(ws) for ws in prob.weights_exact.values()), Fraction(0)) or Fraction(1)
    units = [
        spread / (Fraction(sum(max(v) - min(v) for v in b.per_key.values()), b.scale) or Fraction(1)) for b in budgets
    ]
    lams = [Fraction(0)] * len(budgets)
    bound, _ = evaluate(lams)

    def coordinate(j: int, lams: list[Fraction]) -> tuple[Fraction, list[Fraction]]:
        """The minimum of g along lambda_j >= 0, the others fixed: walk the breakpoints of the dual."""

        def at(lam: Fraction) -> list[Fraction]:
            return [lam if i == j else v for i, v in enumerate(lams)]

        def intercept(d: Decision) -> Fraction:
            score, cost = stats(d)
            return score - sum(
                (v * (c - m) for i, (v, c, m) in enumerate(zip(lams, cost, limit)) if i != j), Fraction(0)
            )

        g, lo = evaluate(at(Fraction(0)))
        best_g, best_lam = g, Fraction(0)
        if stats(lo)[1][j] <= limit[j]:
            return best_g, at(best_lam)  # the slope at 0 is not negative: 0 minimizes g along j
        lam = lams[j] or units[j]
        while calls[0] < LAGRANGE_ROUNDS:
            g, hi = evaluate(at(lam))
            if g < best_g:
                best_g, best_lam = g, lam
            if stats(hi)[1][j] <= limit[j]:
                break
            lo, lam = hi, lam * 2
        else:
            return best_g, at(best_lam)
        while calls[0] < LAGRANGE_ROUNDS:
            c_lo, c_hi = stats(lo)[1][j], stats(hi)[1][j]
            lam = (intercept(lo) - intercept(hi)) / (c_lo - c_hi)
            g, x = evaluate(at(lam))
            if g < best_g:
                best_g, best_lam = g, lam
            if g <= intercept(lo) - lam * (c_lo - limit[j]):
                break  # nothing lies above the crossing: lam minimizes g along j
            if stats(x)[1][j] > limit[j]:
                lo = x
            else:
                hi = x
        return best_g, at(best_lam)

    for _ in range(LAGRANGE_ROUNDS):
        start = bound
        for j in range(len(budgets)):
            g, lams = coordinate(j, lams)
            bound = min(bound, g)
        if len(budgets) == 1 or bound == start or calls[0] >= LAGRANGE_ROUNDS:
            break
    scale = Fraction(1)
    while not feasible and calls[0] < 2 * LAGRANGE_ROUNDS:  # push every cost down until something fits
        g, _ = evaluate([max(v, u) * scale for v, u in zip(lams, units)])
        bound = min(bound, g)
        scale *= 2
    if not feasible:
        raise fail(
            "the Lagrangian search found no architecture that satisfies "
            + ", ".join(f"{b.kind} {b.value}" for b in budgets)
            + " (the space is too large for the exact search; each budget alone can be met)",
            prob.ir.space.module.span.file,
            source=prob.ir.space.source,
        )
    ranked = sorted(feasible.items(), key=lambda kv: (-kv[1][0], kv[0]))[:top]
    exact = top == 1 and ranked[0][1][0] >= bound
    return [Ranked(d, float(s), None if exact else _round_up(bound)) for _, (s, d) in ranked]
