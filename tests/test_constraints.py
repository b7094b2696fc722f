"""Constrained discretization and k-best ranking against brute-force enumeration.

The brute force here enumerates every architecture of a space (decisions per choice
key, as ``decide`` reads them), checks the constraints on each one directly (every
input-to-output path spelled out), and sorts by exact score, ties by the decisions
in key order (a chosen index before a dropped edge, lower indices first). Every
cell type must be connected (some input-to-output path), with or without constraints:
tests/test_connectivity.py tests that rule on its own.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, reject, settings
from hypothesis import strategies as st
from hypothesis_budget import examples
from paths import ROOT

import dasdsl
from dasdsl.compiler.cost import candidate_params
from dasdsl.compiler.ir import OUTPUT, NetworkIR
from dasdsl.engine import constraints
from dasdsl.engine.constraints import Ranked, best
from dasdsl.engine.discretization import Decision, connected, decide, score
from dasdsl.errors import DasError

OPS = ["none", "skip", "conv(1)", "conv(3)", "avg_pool(3)"]
DROP = 1 << 30
PROPERTY = settings(max_examples=examples(120), deadline=None, suppress_health_check=list(HealthCheck))


def _ir(text: str) -> NetworkIR:
    return dasdsl.loads(text).graph((1, 8, 8), 10)


# ---- brute force ----------------------------------------------------------------------------


def _graphs(ir: NetworkIR) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for g in ir.cells.values():
        out.setdefault(g.type_name, g)
    return out


def _type_archs(ir: NetworkIR, type_name: str) -> list[Decision]:
    """Every assignment of the type's choice keys: keep k -> k choice edges (with a non-none candidate)."""
    per_node: dict[str, list[str]] = {}
    for key, info in ir.choices.items():
        if info.cell_type == type_name:
            per_node.setdefault(info.target, []).append(key)
    node_options = []
    for keys in per_node.values():
        keep = ir.choices[keys[0]].keep
        real = {k: [i for i, lab in enumerate(ir.choices[k].labels) if lab != "none"] for k in keys}
        options = []
        if keep is None:
            for combo in itertools.product(*(range(len(ir.choices[k].labels)) for k in keys)):
                options.append(dict(zip(keys, combo)))
        else:
            live = [k for k in keys if real[k]]
            for kept in itertools.combinations(live, min(keep, len(live))):
                for combo in itertools.product(*(real[k] for k in kept)):
                    d: Decision = dict.fromkeys(keys)
                    d.update(zip(kept, combo))
                    options.append(d)
        node_options.append(options)
    archs = []
    for parts in itertools.product(*node_options):
        d = {}
        for p in parts:
            d.update(p)
        archs.append(d)
    return archs


def _path_counts(ir: NetworkIR, g: Any, d: Decision) -> list[int]:
    """Ops other than skip and none on every input-to-output path (spelled out one by one)."""
    out: dict[str, list[tuple[str, int]]] = {}
    for (u, v), data in g.edges.items():
        if v == OUTPUT:
            out.setdefault(u, []).append((v, 0))
            continue
        if data.choice is None:
            label = data.candidates[0].label
        else:
            index = d[data.choice]
            if index is None:
                continue
            label = ir.choices[data.choice].labels[index]
        if label != "none":
            out.setdefault(u, []).append((v, 0 if label == "skip" else 1))
    counts: list[int] = []

    def walk(node: str, ops: int) -> None:
        if node == OUTPUT:
            counts.append(ops)
            return
        for nxt, w in out.get(node, []):
            walk(nxt, ops + w)

    for n, node in g.nodes.items():
        if node.kind == "input":
            walk(n, 0)
    return counts


@functools.lru_cache(maxsize=64)
def _enumerate(text: str) -> tuple[NetworkIR, list[tuple[Decision, dict[str, int | None], dict[str, int]]]]:
    """The IR and every architecture with its per-type shortest path count (None: no path) and skip count."""
    ir = _ir(text)
    graphs = _graphs(ir)
    types = list(dict.fromkeys(info.cell_type for info in ir.choices.values()))
    per_type = []
    for t in types:
        rows = []
        for d in _type_archs(ir, t):
            counts = _path_counts(ir, graphs[t], d)
            skips = sum(1 for k, i in d.items() if i is not None and ir.choices[k].labels[i] == "skip")
            rows.append((d, min(counts) if counts else None, skips))
        per_type.append(rows)
    archs = []
    for combo in itertools.product(*per_type):
        d = {}
        for part, _, _ in combo:
            d.update(part)
        d = {k: d[k] for k in ir.choices}
        archs.append((d, {t: c for t, (_, c, _) in zip(types, combo)}, {t: s for t, (_, _, s) in zip(types, combo)}))
    return ir, archs


def _scaled_weights(weights: dict[str, list[float]]) -> tuple[dict[str, list[int]], int]:
    """Weights as integers over a common denominator, so that brute-force sums are exact and fast."""
    exact = {k: [Fraction(w) for w in ws] for k, ws in weights.items()}
    scale = 1
    for ws in exact.values():
        for w in ws:
            scale = max(scale, w.denominator)  # powers of two: the largest is a common multiple
    return {k: [int(w * scale) for w in ws] for k, ws in exact.items()}, scale


def _exact_score(weights: dict[str, list[float]], d: Decision) -> Fraction:
    ints, scale = _scaled_weights(weights)
    return Fraction(sum(ints[k][i] for k, i in d.items() if i is not None), scale)


def _order(d: Decision) -> tuple[int, ...]:
    return tuple(DROP if i is None else i for i in d.values())


def _cost(table: tuple[int, dict[str, list[int]]], d: Decision) -> int:
    fixed, per = table
    return fixed + sum(per[k][i] for k, i in d.items() if i is not None and k in per)


def _brute(
    text: str,
    weights: dict[str, list[float]],
    c: int = 0,
    s: int | None = None,
    budgets: dict[str, tuple[Any, int]] | None = None,
) -> list[tuple[Fraction, Decision]]:
    """Every architecture satisfying the constraints, best first: (exact score, decisions)."""
    _, archs = _enumerate(text)
    ints, scale = _scaled_weights(weights)
    budgets = budgets or {}
    ok = []
    for d, paths, skips in archs:
        if any(p is None or p < c for p in paths.values()):  # a cell that passes nothing on is never returned
            continue
        if s is not None and any(n > s for n in skips.values()):
            continue
        if any(_cost(table, d) > limit for table, limit in budgets.values()):
            continue
        ok.append((-sum(ints[k][i] for k, i in d.items() if i is not None), _order(d), d))
    ok.sort(key=lambda row: row[:2])
    return [(Fraction(-neg, scale), d) for neg, _, d in ok]


def _check_against(found: list[Ranked], expected: list[tuple[Fraction, Decision]], top: int) -> None:
    assert [r.decisions for r in found] == [d for _, d in expected[:top]]
    assert [r.score for r in found] == [float(sc) for sc, _ in expected[:top]]
    assert all(r.bound is None for r in found)


def _check_feasible(found: list[Ranked], expected: list[tuple[Fraction, Decision]]) -> None:
    """The Lagrangian search: fitting architectures, sorted, under a valid bound; exact where it says so."""
    feasible = {_order(d): sc for sc, d in expected}
    optimum = expected[0][0]
    assert found
    for r in found:
        assert _order(r.decisions) in feasible
        assert r.score == float(feasible[_order(r.decisions)])
        assert r.bound is None or Fraction(r.bound) >= optimum
    assert [r.score for r in found] == sorted((r.score for r in found), reverse=True)
    assert found[0].score <= float(optimum)
    if all(r.bound is None for r in found):
        _check_against(found, expected, len(found))


# ---- random spaces --------------------------------------------------------------------------


@st.composite
def cell_spaces(draw: Callable[..., Any], max_choices: int = 6) -> str:
    """A random small space: 1-2 inputs, 2-4 nodes, random fan-in, candidates, fixed edges, keep; 1-2 cell types."""
    inputs = ["x", "y"][: draw(st.integers(1, 2))]
    n_nodes = draw(st.integers(2, 4))
    two_types = draw(st.integers(0, 3)) == 0
    limit = max_choices // 2 if two_types else max_choices
    lines, names, read = [], [], set()
    choices = 0
    for j in range(n_nodes):
        avail = inputs + names
        sources = draw(st.lists(st.sampled_from(avail), min_size=1, max_size=min(3, len(avail)), unique=True))
        groups, live_choices = [], 0
        for src in sources:
            read.add(src)
            if choices < limit and draw(st.integers(0, 4)) > 0:
                cands = draw(st.lists(st.sampled_from(OPS), min_size=1, max_size=5, unique=True))
                groups.append(f"{src} ~ [{', '.join(cands)}]")
                choices += 1
                live_choices += any(c != "none" for c in cands)
            else:
                groups.append(f"{src} ~ {draw(st.sampled_from(OPS[1:]))}")
        line = f"    node n{j} = {', '.join(groups)}"
        if live_choices and draw(st.booleans()):
            line += f" keep {draw(st.integers(1, live_choices))}"
        lines.append(line)
        names.append(f"n{j}")
    sinks = [n for n in names if n not in read]
    outs = sorted(set(sinks) | set(draw(st.lists(st.sampled_from(names), max_size=2))), key=names.index)
    output = outs[0] if len(outs) == 1 else f"concat({', '.join(outs)})"
    derived = "cell b(c) = a(c)\n" if two_types else ""
    cells = "a(4), b(4)" if two_types else "a(4)"
    return (
        f"space t\ninput image\ncell a(c) {{\n    input {', '.join(inputs)}\n"
        + "\n".join(lines)
        + f"\n    output {output}\n}}\n{derived}network {{\n    cells {cells}\n"
        + "    head global_avg_pool then linear(classes)\n}\n"
    )


def _weights(ir: NetworkIR, seed: int, ties: bool) -> dict[str, list[float]]:
    """Random gate weights; with ``ties`` small integers, so that scores tie often (and sum exactly)."""
    rng = random.Random(seed)
    if ties:
        return {k: [float(rng.randint(0, 2)) for _ in info.labels] for k, info in ir.choices.items()}
    return {k: [rng.random() for _ in info.labels] for k, info in ir.choices.items()}


def _random_costs(ir: NetworkIR, seed: int) -> tuple[int, dict[str, list[int]]]:
    rng = random.Random(seed)
    return rng.randint(0, 5), {k: [rng.randint(0, 9) for _ in info.labels] for k, info in ir.choices.items()}


def _magnitude(n: int) -> str:
    return "0" if n == 0 else "1-9" if n < 10 else "10-99" if n < 100 else "100+"


def _has_keep(ir: NetworkIR) -> bool:
    return any(info.keep is not None for info in ir.choices.values())


def _space(text: str) -> NetworkIR:
    try:
        ir, _ = _enumerate(text)
    except DasError:
        reject()
    if not ir.choices:
        reject()
    return ir


# ---- property tests -------------------------------------------------------------------------


@PROPERTY
@given(
    text=cell_spaces(),
    seed=st.integers(0, 2**32 - 1),
    ties=st.booleans(),
    c=st.integers(0, 3),
    s=st.one_of(st.none(), st.integers(0, 3)),
)
def test_path_and_skip_constraints_match_brute_force(text: str, seed: int, ties: bool, c: int, s: int | None) -> None:
    ir = _space(text)
    weights = _weights(ir, seed, ties)
    cons = [("min_nonskip_per_path", c)] + ([("max_skip", s)] if s is not None else [])
    expected = _brute(text, weights, c, s)
    event(f"architectures: {_magnitude(len(_enumerate(text)[1]))}, feasible: {_magnitude(len(expected))}")
    event(f"cell types: {len(set(i.cell_type for i in ir.choices.values()))}, keep: {_has_keep(ir)}")
    if not expected:
        with pytest.raises(DasError) as info:
            best(ir, weights, cons)
        message = info.value.diagnostics[0].message
        assert message.startswith("no architecture of cell")
        assert any(word in message for word in ("min_nonskip_per_path", "max_skip", "is connected"))
        return
    _check_against(best(ir, weights, cons), expected, 1)
    _check_against(best(ir, weights, cons, top=5), expected, 5)
    if c == 0 and s is None and connected(ir.space, decide(ir, weights)):
        assert best(ir, weights)[0].decisions == decide(ir, weights)


@PROPERTY
@given(
    text=cell_spaces(),
    seed=st.integers(0, 2**32 - 1),
    ties=st.booleans(),
    c=st.integers(0, 2),
    s=st.one_of(st.none(), st.integers(0, 2)),
    quantiles=st.lists(st.floats(0, 1), min_size=1, max_size=2),
    lagrange=st.booleans(),
)
def test_budgets_match_brute_force(
    text: str, seed: int, ties: bool, c: int, s: int | None, quantiles: list[float], lagrange: bool
) -> None:
    """Exact budgets equal brute force; the Lagrangian search returns fitting architectures under its bound."""
    ir = _space(text)
    weights = _weights(ir, seed, ties)
    tables = {"params": _random_costs(ir, seed + 1), "flops": _random_costs(ir, seed + 2)}
    base = _brute(text, weights, c, s)
    if not base:
        return
    budgets = {}
    for (measure, table), q in zip(tables.items(), quantiles):
        values = sorted(_cost(table, d) for _, d in base)
        budgets[f"max_{measure}"] = (table, int(values[int(q * (len(values) - 1))]))
    cons = [("min_nonskip_per_path", c), *([("max_skip", s)] if s is not None else [])]
    cons += [(kind, limit) for kind, (_, limit) in budgets.items()]
    expected = _brute(text, weights, c, s, budgets)
    binding = not expected or expected[: min(5, len(base))] != base[:5]
    event(f"budgets: {len(budgets)}, feasible: {_magnitude(len(expected))}, binding: {binding}, lagrange: {lagrange}")
    saved = constraints.EXACT_LIMIT
    constraints.EXACT_LIMIT = 0 if lagrange else saved
    try:
        if not expected:
            with pytest.raises(DasError, match=r"no architecture satisfies|Lagrangian search found no"):
                best(ir, weights, cons, costs=tables)
            return
        if not lagrange:
            _check_against(best(ir, weights, cons, costs=tables), expected, 1)
            _check_against(best(ir, weights, cons, top=5, costs=tables), expected, 5)
            return
        try:
            found = best(ir, weights, cons, top=3, costs=tables)
        except DasError as exc:  # several budgets: the subgradient search may miss every fitting architecture
            assert len(budgets) == 2 and "Lagrangian search found no" in str(exc)
            return
    finally:
        constraints.EXACT_LIMIT = saved
    _check_feasible(found, expected)


# ---- unit tests on the shipped spaces -------------------------------------------------------


@pytest.mark.parametrize("name", ["nb201", "darts", "hierarchical", "seq1d", "mlp"])
def test_unconstrained_is_decide(name: str) -> None:
    ir = dasdsl.load(ROOT / "spaces" / f"{name}.das").graph()
    for seed in range(6):
        weights = _weights(ir, seed, ties=seed % 2 == 1)
        found = best(ir, weights)
        if not connected(ir.space, decide(ir, weights)):  # decide's architecture is never returned then
            assert connected(ir.space, found[0].decisions)
            continue
        assert found[0].decisions == decide(ir, weights)
        assert found[0].score == pytest.approx(score(ir, weights, decide(ir, weights)))
        assert found[0].bound is None
    equal = {k: [0.5] * len(info.labels) for k, info in ir.choices.items()}
    if connected(ir.space, decide(ir, equal)):
        assert best(ir, equal)[0].decisions == decide(ir, equal)
    else:  # all tie and decide takes none everywhere: the first connected architecture in key order instead
        expected = {k: 0 for k in ir.choices} | {"cell:x->n3": 1}
        assert name in ("nb201", "seq1d") and best(ir, equal)[0].decisions == expected


def _nb201_text() -> str:
    return (ROOT / "spaces" / "nb201.das").read_text(encoding="utf-8")


def test_min_nonskip_removes_all_skip_paths_on_nb201() -> None:
    text = _nb201_text()
    ir = _ir(text)
    g = next(iter(ir.cells.values()))
    rng = random.Random(1)
    weights = {k: [0.2 + 0.1 * rng.random(), 1.0, 0.3 * rng.random(), 0.3 * rng.random(), 0.1] for k in ir.choices}
    assert 0 in _path_counts(ir, g, decide(ir, weights))  # unconstrained: the all-skip cell
    found = best(ir, weights, [("min_nonskip_per_path", 1)], top=5)
    for r in found:
        assert 0 not in _path_counts(ir, g, r.decisions)
    _check_against(found, _brute(text, weights, c=1), 5)


def test_max_skip_on_darts() -> None:
    ir = dasdsl.load(ROOT / "spaces" / "darts.das").graph()
    rng = random.Random(2)
    weights = {k: [rng.random() * 0.5 for _ in info.labels] for k, info in ir.choices.items()}
    for k, info in ir.choices.items():
        weights[k][info.labels.index("skip")] = 1.0
    for s in (0, 1, 3):
        found = best(ir, weights, [("max_skip", s)], top=4)
        assert len(found) == 4
        for r in found:
            for t in ("normal", "reduce"):
                chosen = [ir.choices[k].labels[i] for k, i in r.decisions.items() if i is not None and k.startswith(t)]
                assert chosen.count("skip") == s  # skip weighs most, so the limit binds
                assert len(chosen) == 8
    # max_skip 0 is the same as taking skip out of the candidates
    no_skip = {
        k: [(-1e9 if lab == "skip" else w) for w, lab in zip(ws, ir.choices[k].labels)] for k, ws in weights.items()
    }
    assert best(ir, weights, [("max_skip", 0)])[0].decisions == decide(ir, no_skip)


def test_top_k_is_sorted_deterministic_and_short_when_few_exist() -> None:
    text = (
        "space t\ninput image\ncell a(c) {\n    input x\n    node n = x ~ [skip, conv(1)]\n    output n\n}\n"
        "network {\n    cells a(4)\n    head global_avg_pool then linear(classes)\n}\n"
    )
    ir = _ir(text)
    found = best(ir, {"a:x->n": [0.5, 0.5]}, top=5)
    assert [r.decisions for r in found] == [{"a:x->n": 0}, {"a:x->n": 1}]
    assert best(ir, {"a:x->n": [0.5, 0.5]}, [("max_skip", 0)], top=5) == [Ranked({"a:x->n": 1}, 0.5)]
    ir = dasdsl.load(ROOT / "spaces" / "darts.das").graph()
    weights = _weights(ir, 7, ties=True)
    first = best(ir, weights, [("min_nonskip_per_path", 1), ("max_skip", 2)], top=20)
    assert first == best(ir, weights, [("min_nonskip_per_path", 1), ("max_skip", 2)], top=20)
    keys = [(-Fraction(r.score), _order(r.decisions)) for r in first]
    assert keys == sorted(keys) and len(set(keys)) == 20


NESTED = """space h
input image
cell block(c) {
    input x
    node a = x ~ [conv(1), skip]
    node b = a ~ [skip, conv(3), none]
    output b
}
cell outer(c) {
    input x
    node p = x ~ [skip, conv(1), avg_pool(3)]
    node q = p ~ [block(c), conv(3), skip]
    node r = (x, q) ~ [none, skip, conv(1)] keep 1
    output r
}
network {
    cells outer(4)
    head global_avg_pool then linear(classes)
}
"""


def test_nested_cell_types_with_interleaved_keys() -> None:
    """A cell used as a candidate: its keys sit between the outer cell's in ir.choices; ties break by key order."""
    ir, _ = _enumerate(NESTED)
    assert [info.cell_type for info in ir.choices.values()] == ["outer", "block", "block", "outer", "outer", "outer"]
    for seed in range(4):
        weights = _weights(ir, seed, ties=seed % 2 == 0)
        for c, s in [(0, None), (1, None), (2, 1), (0, 0), (3, 2)]:
            cons = [("min_nonskip_per_path", c)] + ([("max_skip", s)] if s is not None else [])
            expected = _brute(NESTED, weights, c, s)
            if not expected:  # c = 3 exceeds the nested cell's longest path
                with pytest.raises(DasError, match="satisfies min_nonskip_per_path"):
                    best(ir, weights, cons, top=10)
                continue
            _check_against(best(ir, weights, cons, top=10), expected, 10)


# ---- infeasible constraints and bad input ---------------------------------------------------


def test_infeasible_path_constraint_names_the_cell() -> None:
    ir = dasdsl.load(ROOT / "spaces" / "darts.das").graph()
    weights = _weights(ir, 0, ties=False)
    with pytest.raises(DasError) as info:
        best(ir, weights, [("min_nonskip_per_path", 5)])
    message = info.value.diagnostics[0].message
    assert message == (
        "no architecture of cell 'normal' satisfies min_nonskip_per_path 5: "
        "its longest input-to-output path has 4 edges"
    )
    with pytest.raises(DasError) as info:
        best(ir, weights, [("min_nonskip_per_path", 2)])
    assert "at most 1 op other than skip and none" in info.value.diagnostics[0].message
    assert "darts.das" in str(info.value)  # rendered with the cell's location


def test_infeasible_skip_constraint() -> None:
    text = (
        "space t\ninput image\ncell a(c) {\n    input x\n    node n = x ~ [skip]\n"
        "    node m = n ~ [none, skip, conv(1)]\n    output m\n}\n"
        "network {\n    cells a(4)\n    head global_avg_pool then linear(classes)\n}\n"
    )
    ir = _ir(text)
    weights = {k: [1.0] * len(info.labels) for k, info in ir.choices.items()}
    with pytest.raises(DasError, match=r"max_skip 0: .*at least 1 edge \(a:x->n offer only skip\)"):
        best(ir, weights, [("max_skip", 0)])
    # m ~ none leaves no path at all: a cell that passes nothing on does not satisfy the guard
    with pytest.raises(DasError, match="satisfies min_nonskip_per_path 2"):
        best(ir, weights, [("min_nonskip_per_path", 2)])
    # m keeps one edge: conv from x (1 op on the path) or skip from d (2 ops, 1 skip)
    text = (
        "space t\ninput image\ncell a(c) {\n    input x\n    node b = x ~ conv(3)\n    node d = b ~ conv(3)\n"
        "    node m = x ~ [conv(1)], d ~ [skip] keep 1\n    output m\n}\n"
        "network {\n    cells a(4)\n    head global_avg_pool then linear(classes)\n}\n"
    )
    ir = _ir(text)
    weights = {"a:x->m": [1.0], "a:d->m": [1.0]}
    assert best(ir, weights, [("min_nonskip_per_path", 2)])[0].decisions == {"a:x->m": None, "a:d->m": 0}
    assert best(ir, weights, [("max_skip", 0)])[0].decisions == {"a:x->m": 0, "a:d->m": None}
    with pytest.raises(DasError) as info:
        best(ir, weights, [("min_nonskip_per_path", 2), ("max_skip", 0)])
    assert info.value.diagnostics[0].message == (
        "no architecture of cell 'a' satisfies min_nonskip_per_path 2 and max_skip 0 together: "
        "each can be met alone, but no architecture of it meets both"
    )


def test_bad_constraints() -> None:
    ir = _ir(_nb201_text())
    weights = _weights(ir, 0, ties=False)
    with pytest.raises(DasError, match="unknown constraint 'max_skips'") as info:
        best(ir, weights, [("max_skips", 1)])
    assert info.value.diagnostics[0].hint.startswith("did you mean max_skip")
    with pytest.raises(DasError, match=r"max_params needs the cost table costs\['params'\]"):
        best(ir, weights, [("max_params", 10)])
    with pytest.raises(DasError, match="non-negative integer"):
        best(ir, weights, [("max_skip", -1)])
    with pytest.raises(ValueError, match="top"):
        best(ir, weights, top=0)
    weights["cell:x->n1"][0] = float("nan")
    with pytest.raises(DasError, match="not all finite"):
        best(ir, weights)


# ---- budgets on NAS-Bench-201 ---------------------------------------------------------------


@pytest.fixture(scope="module")
def nb201() -> tuple[str, NetworkIR, dict[str, Any]]:
    text = _nb201_text()
    ir, _ = _enumerate(text)
    fixed, per_choice = candidate_params(ir)
    flops = {k: [0, 1, 3, 9, 2] for k in ir.choices}  # synthetic second measure
    return text, ir, {"params": (fixed, per_choice), "flops": (0, flops)}


def test_params_budget_matches_brute_force_on_nb201(nb201: tuple[str, NetworkIR, dict[str, Any]]) -> None:
    text, ir, costs = nb201
    fixed = costs["params"][0]
    weights = _weights(ir, 3, ties=False)
    assert sum(1 for _ in _enumerate(text)[1]) == 15_625
    for budget in (fixed + 243_040 + 28_000, fixed + 2 * 243_040, fixed + 3 * 243_040 + 2 * 28_000):
        for cons in ([("max_params", budget)], [("max_params", budget), ("min_nonskip_per_path", 1)]):
            c = dict(cons).get("min_nonskip_per_path", 0)
            expected = _brute(text, weights, c, None, {"max_params": (costs["params"], budget)})
            _check_against(best(ir, weights, cons, top=5, costs=costs), expected, 5)
    both = [("max_params", fixed + 2 * 243_040), ("max_flops", 12), ("max_skip", 2)]
    expected = _brute(
        text,
        weights,
        0,
        2,
        {"max_params": (costs["params"], fixed + 2 * 243_040), "max_flops": (costs["flops"], 12)},
    )
    _check_against(best(ir, weights, both, top=5, costs=costs), expected, 5)


def test_budget_too_small(nb201: tuple[str, NetworkIR, dict[str, Any]]) -> None:
    _, ir, costs = nb201
    weights = _weights(ir, 0, ties=False)
    fixed = costs["params"][0]
    with pytest.raises(DasError) as info:
        best(ir, weights, [("max_params", fixed - 1)], costs=costs)
    assert info.value.diagnostics[0].message == (
        f"no architecture satisfies max_params {fixed - 1}: the smallest connected architecture has {fixed:,} "
        "parameters"
    )
    with pytest.raises(DasError, match=f"that satisfies max_skip 1 has {fixed:,} parameters"):
        best(ir, weights, [("max_skip", 1), ("max_params", 5)], costs=costs)
    # one edge without none: params allow skip or pool, flops only conv; each budget fits alone, not both
    text = (
        "space t\ninput image\ncell a(c) {\n    input x\n    node n = x ~ [skip, conv(1), avg_pool(3)]\n"
        "    output n\n}\nnetwork {\n    cells a(4)\n    head global_avg_pool then linear(classes)\n}\n"
    )
    ir = _ir(text)
    tight = {"params": (0, {"a:x->n": [0, 1, 0]}), "flops": (0, {"a:x->n": [1, 0, 1]})}
    weights = {"a:x->n": [0.1, 0.2, 0.3]}
    assert best(ir, weights, [("max_flops", 0)], costs=tight)[0].decisions == {"a:x->n": 1}
    with pytest.raises(DasError, match="at once, though each budget alone can be met"):
        best(ir, weights, [("max_params", 0), ("max_flops", 0)], costs=tight)


@pytest.mark.slow
def test_lagrangian_fallback_on_nb201(nb201: tuple[str, NetworkIR, dict[str, Any]], monkeypatch: Any) -> None:
    text, ir, costs = nb201
    fixed = costs["params"][0]
    monkeypatch.setattr(constraints, "EXACT_LIMIT", 0)
    for seed in range(3):
        weights = _weights(ir, seed, ties=False)
        for budget in (fixed + 243_040 + 28_000, fixed + 2 * 243_040 + 28_000):
            expected = _brute(text, weights, 0, None, {"max_params": (costs["params"], budget)})
            found = best(ir, weights, [("max_params", budget)], costs=costs)
            _check_feasible(found, expected)
            both = {"max_params": (costs["params"], budget), "max_flops": (costs["flops"], 14)}
            found = best(ir, weights, [("max_params", budget), ("max_flops", 14)], top=3, costs=costs)
            _check_feasible(found, _brute(text, weights, 0, None, both))
