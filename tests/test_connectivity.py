"""Connectivity: no search returns an architecture in which a cell ignores its input (issue 23).

The brute force here enumerates every architecture of small spaces with ``none``, decides connectivity by
spelling out the input-to-output paths over the IR's edges (kept, op not ``none``), and checks the exact
k-best search, the budget searches, the discretization rules' fallback and ``check``'s count against it.
"""

from __future__ import annotations

import itertools
import random
from fractions import Fraction
from typing import Any

import pytest
import torch
from paths import ROOT

import dasdsl
from dasdsl.compiler.cost import candidate_params
from dasdsl.compiler.ir import OUTPUT, CellEdge, NetworkIR
from dasdsl.engine import constraints
from dasdsl.engine.constraints import best, best_over_depths, connected_or_best
from dasdsl.engine.discretization import Decision, connected, decide, disconnected_cells
from dasdsl.engine.run import Run, discretize
from dasdsl.errors import DasError
from dasdsl.lang.count import count_architectures, count_disconnected, space_stats
from dasdsl.lang.settings import SearchConfig

DROP = 1 << 30
HEAD = "network {{\n    cells {cells}\n    head global_avg_pool then linear(classes)\n}}\n"


def _space(cells: str, network: str) -> str:
    return "space t\ninput image\n" + cells + HEAD.format(cells=network)


NB = _space(
    "cell a(c) {\n    input x\n    node n1 = x ~ [none, skip, conv(3)]\n    node n2 = (x, n1) ~ [none, skip, conv(3)]\n"
    "    node n3 = (x, n1, n2) ~ [none, conv(1), avg_pool(3)]\n    output n3\n}\n",
    "a(4)",
)
KEEP = _space(  # DARTS-style keep 2 nodes (none in the set, never picked there), then a node that may cut the cell
    "cell a(c) {\n    input x, y\n    node p = (x, y) ~ [none, skip, conv(1)] keep 2\n"
    "    node q = (x, y, p) ~ [none, conv(3), avg_pool(3)] keep 2\n    node r = (p, q) ~ [none, skip]\n"
    "    output r\n}\n",
    "a(4)",
)
FIXED = _space(  # fixed edges: avg_pool carries the input, a fixed none carries nothing
    "cell a(c) {\n    input x\n    node n1 = x ~ [none, conv(1)]\n    node n2 = n1 ~ avg_pool(3), x ~ [none, skip]\n"
    "    node n3 = x ~ none, n2 ~ [none, conv(3), skip]\n    output n3\n}\n",
    "a(4)",
)
TWO = _space(  # two cell types, each of which can be cut on its own
    "cell a(c) {\n    input x\n    node n1 = x ~ [none, skip, conv(1)]\n    node n2 = (x, n1) ~ [none, conv(3)]\n"
    "    output n2\n}\n"
    "cell b(c) {\n    input x\n    node m1 = x ~ [none, avg_pool(3), conv(1)]\n    node m2 = m1 ~ [none, skip]\n"
    "    output concat(m1, m2)\n}\n",
    "a(4), b(4)",
)
SPACES = {"nb": NB, "keep": KEEP, "fixed": FIXED, "two": TWO}


def _ir(text: str) -> NetworkIR:
    return dasdsl.loads(text).graph((1, 8, 8), 10)


# ---- brute force ----------------------------------------------------------------------------


def _assignments(ir: NetworkIR) -> list[Decision]:
    """Every architecture: one candidate per edge without keep; k edges with a non-none candidate with keep."""
    per_node: dict[tuple[str, str], list[str]] = {}
    for key, info in ir.choices.items():
        per_node.setdefault((info.cell_type, info.target), []).append(key)
    options = []
    for keys in per_node.values():
        keep = ir.choices[keys[0]].keep
        if keep is None:
            options.append(
                [dict(zip(keys, c)) for c in itertools.product(*(range(len(ir.choices[k].labels)) for k in keys))]
            )
            continue
        real = {k: [i for i, label in enumerate(ir.choices[k].labels) if label != "none"] for k in keys}
        node = []
        for kept in itertools.combinations(keys, keep):
            for combo in itertools.product(*(real[k] for k in kept)):
                d: Decision = dict.fromkeys(keys)
                d.update(zip(kept, combo))
                node.append(d)
        options.append(node)
    out = []
    for parts in itertools.product(*options):
        d = {}
        for p in parts:
            d.update(p)
        out.append({k: d[k] for k in ir.choices})
    return out


def _carried(ir: NetworkIR, data: CellEdge, d: Decision) -> str | None:
    """The label an edge carries under ``d`` (None: dropped)."""
    if data.choice is None:
        return data.candidates[0].label
    index = d[data.choice]
    return None if index is None else ir.choices[data.choice].labels[index]


def _paths(ir: NetworkIR, d: Decision) -> dict[str, list[int]]:
    """Per cell type, the ops other than skip and none on every input-to-output path (spelled out)."""
    out: dict[str, list[int]] = {}
    for g in ir.cells.values():
        name = g.type_name
        if name in out:
            continue
        succ: dict[str, list[tuple[str, int]]] = {}
        for (u, v), data in g.edges.items():
            label = "skip" if v == OUTPUT else _carried(ir, data, d)
            if label is not None and label != "none":
                succ.setdefault(u, []).append((v, 0 if label == "skip" else 1))
        counts: list[int] = []

        def walk(node: str, ops: int, counts: list[int] = counts, succ: dict = succ) -> None:
            if node == OUTPUT:
                counts.append(ops)
            for nxt, w in succ.get(node, []):
                walk(nxt, ops + w)

        for n, node in g.nodes.items():
            if node.kind == "input":
                walk(n, 0)
        out[name] = counts
    return out


def _brute(
    ir: NetworkIR,
    weights: dict[str, list[float]],
    c: int = 0,
    s: int | None = None,
    budget: tuple[dict[str, list[int]], int] | None = None,
    connected_only: bool = True,
) -> list[tuple[Fraction, Decision]]:
    """The architectures that satisfy the constraints (and are connected), best first as ``best`` orders them."""
    rows = []
    for d in _assignments(ir):
        paths = _paths(ir, d)
        if connected_only and not all(paths.values()):
            continue
        if c > 0 and any(not p or min(p) < c for p in paths.values()):
            continue
        skips: dict[str, int] = {}
        for k, i in d.items():
            if i is not None and ir.choices[k].labels[i] == "skip":
                skips[ir.choices[k].cell_type] = skips.get(ir.choices[k].cell_type, 0) + 1
        if s is not None and any(n > s for n in skips.values()):
            continue
        if budget is not None and sum(budget[0][k][i] for k, i in d.items() if i is not None) > budget[1]:
            continue
        score = sum((Fraction(weights[k][i]) for k, i in d.items() if i is not None), Fraction(0))
        rows.append((-score, tuple(DROP if i is None else i for i in d.values()), d))
    rows.sort(key=lambda r: r[:2])
    return [(-neg, d) for neg, _, d in rows]


def _weights(ir: NetworkIR, seed: int) -> dict[str, list[float]]:
    rng = random.Random(seed)
    return {
        k: [float(rng.randint(0, 3)) / 4 if seed % 2 else rng.random() for _ in info.labels]
        for k, info in ir.choices.items()
    }


# ---- (a) the exact k-best search against brute force ----------------------------------------


@pytest.mark.parametrize("name", sorted(SPACES))
def test_best_is_the_k_best_connected_architectures(name: str) -> None:
    text = SPACES[name]
    ir = _ir(text)
    for seed in range(4):
        weights = _weights(ir, seed)
        rng = random.Random(seed + 100)
        costs = {k: [rng.randint(0, 9) for _ in info.labels] for k, info in ir.choices.items()}
        every = _brute(ir, weights)
        budget = sorted(sum(costs[k][i] for k, i in d.items() if i is not None) for _, d in every)[len(every) // 3]
        cases: list[tuple[list[tuple[str, Any]], dict[str, Any]]] = [
            ([], {}),
            ([("max_params", budget)], {"budget": (costs, budget)}),
            ([("max_skip", 1)], {"s": 1}),
            ([("min_nonskip_per_path", 1)], {"c": 1}),
            ([("max_params", budget), ("max_skip", 1)], {"budget": (costs, budget), "s": 1}),
        ]
        for cons, kw in cases:
            expected = _brute(ir, weights, **kw)
            if not expected:
                with pytest.raises(DasError):
                    best(ir, weights, cons, costs={"params": (0, costs)})
                continue
            for top in (1, 3, 10, 1000):
                found = best(ir, weights, cons, top, costs={"params": (0, costs)})
                assert [r.decisions for r in found] == [d for _, d in expected[:top]], (name, seed, cons, top)
                assert [r.score for r in found] == [float(sc) for sc, _ in expected[:top]]
                assert all(r.bound is None for r in found)
                assert all(connected(ir.space, r.decisions) for r in found)


@pytest.mark.parametrize("name", ["nb", "fixed", "two"])
def test_disconnected_architectures_exist_and_are_skipped(name: str) -> None:
    """The spaces do hold cut cells, and without the rule some would rank first (as in issue 23)."""
    ir = _ir(SPACES[name])
    weights = {k: [2.0 if label == "none" else 0.25 for label in info.labels] for k, info in ir.choices.items()}
    unfiltered = _brute(ir, weights, connected_only=False)
    assert not connected(ir.space, unfiltered[0][1])
    assert disconnected_cells(ir.space, unfiltered[0][1])
    found = best(ir, weights, top=5)
    assert [r.decisions for r in found] == [d for _, d in _brute(ir, weights)[:5]]


def test_lagrangian_search_returns_connected_architectures(monkeypatch: pytest.MonkeyPatch) -> None:
    ir = _ir(NB)
    monkeypatch.setattr(constraints, "EXACT_LIMIT", 0)
    for seed in range(3):
        weights = {
            k: [1.0 + random.Random(seed).random()] + [0.5] * (len(info.labels) - 1) for k, info in ir.choices.items()
        }
        costs = {
            k: [0 if label == "none" else 1 + 3 * (label == "conv(3)") for label in info.labels]
            for k, info in ir.choices.items()
        }
        for budget in (1, 2, 5):
            found = best(ir, weights, [("max_params", budget)], top=3, costs={"params": (0, costs)})
            feasible = {tuple(d.values()): sc for sc, d in _brute(ir, weights, budget=(costs, budget))}
            for r in found:
                assert connected(ir.space, r.decisions)
                assert float(feasible[tuple(r.decisions.values())]) == r.score


def test_best_over_depths_returns_connected_architectures() -> None:
    text = NB.replace("cells a(4)", "cells a(4) x [1, 2]")
    ir = _ir(text)
    weights = {k: [0.9, 0.1, 0.2] if info.kind != "depth" else [0.3, 0.6] for k, info in ir.choices.items()}
    found = best_over_depths(ir, weights, (), top=6)
    assert len(found) == 6
    for r in found:
        assert connected(ir.space, r.decisions)
    cell = {k: w for k, w in weights.items() if ir.choices[k].kind != "depth"}
    sub = _ir(NB)
    assert found[0].score == pytest.approx(float(_brute(sub, cell)[0][0]) + 0.6)


def test_no_connected_architecture_names_the_cell() -> None:
    text = _space("cell a(c) {\n    input x\n    node n = x ~ [none]\n    output n\n}\n", "a(4)")
    ir = _ir(text)
    with pytest.raises(DasError) as info:
        best(ir, {"a:x->n": [1.0]})
    assert info.value.diagnostics[0].message.startswith(
        "no architecture of cell 'a' is connected: in every one no input reaches the output through ops other than none"
    )
    stats = space_stats(dasdsl.loads(text))
    assert (stats.architectures, stats.disconnected) == (1, 1)


# ---- (b) issue 23: none heaviest and a tight parameter budget --------------------------------


def test_tight_budget_with_none_heaviest_is_connected() -> None:
    ir = dasdsl.load(ROOT / "spaces" / "nb201_digits.das").graph()
    fixed, per_choice = candidate_params(ir)
    weights = {k: [0.3, 0.17, 0.18, 0.19, 0.16] for k in ir.choices}  # none weighs most on every edge
    budget = fixed + min(min(c for c in costs if c > 0) for costs in per_choice.values())
    table = {"params": (fixed, per_choice)}
    found = best(ir, weights, [("max_params", budget)], top=3, costs=table)
    expected = _brute(ir, weights, budget=({k: list(v) for k, v in per_choice.items()}, budget - fixed))
    assert [r.decisions for r in found] == [d for _, d in expected[:3]]
    for r in found:
        assert connected(ir.space, r.decisions)
        labels = [ir.choices[k].labels[i] for k, i in r.decisions.items() if i is not None]
        assert labels.count("none") < 6
    # the old answer, every edge none, is the heaviest and fits, but computes a constant
    every_none = {k: 0 for k in ir.choices}
    assert disconnected_cells(ir.space, every_none) == ["cell"]
    assert (
        _brute(ir, weights, budget=({k: list(v) for k, v in per_choice.items()}, 0), connected_only=False)[0][1]
        == every_none
    )


# ---- (c) the discretization rules fall back to the best connected architecture ---------------


def test_connected_or_best_keeps_a_connected_rule_decision() -> None:
    ir = _ir(NB)
    for rule, threshold in (("argmax", 0.5), ("threshold", 0.5)):
        weights = {k: [0.1, 0.2, 0.7] for k in ir.choices}
        decisions = decide(ir, weights, rule, threshold)
        assert connected(ir.space, decisions)
        assert connected_or_best(ir, weights, decisions) == decisions
        low = {k: [0.3, 0.2, 0.4] for k in ir.choices}  # threshold 0.5: every edge takes none
        cut = decide(ir, low, rule, threshold)
        if rule == "threshold":
            assert not connected(ir.space, cut)
            fallback = connected_or_best(ir, low, cut)
            assert fallback == best(ir, low)[0].decisions
            assert connected(ir.space, fallback)


def _run(text: str, cfg: SearchConfig, none_bias: float, other: float = 0.0) -> Run:
    """A run whose supernet's architecture parameters are ``none_bias`` for none, about ``other`` else."""
    space = dasdsl.loads(text, "t.das")
    ir = space.graph((1, 8, 8), 10)
    net = space.supernet((1, 8, 8), 10, gate=cfg.gate)
    with torch.no_grad():
        for key, alpha in zip(net.choice_keys, net.alphas):
            labels = ir.choices[key].labels
            alpha.copy_(
                torch.tensor([none_bias if label == "none" else other - 0.1 * i for i, label in enumerate(labels)])
            )
    return Run(space, cfg, torch.device("cpu"), None, "t.das", ir=ir, net=net)


@pytest.mark.parametrize(
    "cfg", [SearchConfig(gate="softmax"), SearchConfig(gate="sigmoid", discretize="threshold", threshold=0.9)]
)
def test_run_discretize_never_returns_a_cut_cell(cfg: SearchConfig) -> None:
    run = _run(NB, cfg, none_bias=3.0)
    assert run.ir is not None
    weights = run.gate_weights()
    assert not connected(run.ir.space, decide(run.ir, weights, cfg.discretize, cfg.threshold))
    results, _ = discretize(run)
    (text, decisions, _, bound) = results[0]
    assert connected(run.ir.space, decisions)
    assert decisions == best(run.ir, {k: weights[k] for k in run.ir.choices})[0].decisions
    assert bound is None and "node n3" in text
    assert run.skip_count(weights) == sum(
        1 for k, i in decisions.items() if i is not None and run.ir.choices[k].labels[i] == "skip"
    )
    # a connected decision stands as the rule made it
    run = _run(NB, cfg, none_bias=-3.0, other=3.0)
    weights = run.gate_weights()
    (_, decisions, _, _) = discretize(run)[0][0]
    assert decisions == decide(run.ir, weights, cfg.discretize, cfg.threshold)


def test_disconnected_cells_follow_depths_and_nesting() -> None:
    """A cell a searched depth leaves out, or a nested cell no chosen candidate uses, cuts nothing."""
    text = _space(
        "unshared cell a(c) {\n    input x\n    node n = x ~ [none, conv(1)]\n    output n\n}\n"
        "cell inner(c) {\n    input x\n    node i = x ~ [none, skip]\n    output i\n}\n"
        "cell b(c) {\n    input x\n    node m = x ~ [conv(3), inner(c)]\n    output m\n}\n",
        "b(4), a(4) x [1, 2]",
    )
    space = dasdsl.loads(text)
    ir = space.graph((1, 8, 8), 10)
    depth = next(k for k, info in ir.choices.items() if info.kind == "depth")
    ok = {k: 1 for k in ir.choices} | {depth: 0}
    assert disconnected_cells(space, ok) == []
    assert disconnected_cells(space, ok | {"a#2:x->n": 0}) == []  # the second repeat is left out
    assert disconnected_cells(space, ok | {"a#2:x->n": 0, depth: 1}) == ["a#2"]
    assert disconnected_cells(space, ok | {"inner:x->i": 0}) == ["inner"]  # b uses inner
    assert disconnected_cells(space, ok | {"inner:x->i": 0, "b:x->m": 0}) == []  # b picks conv(3)
    assert set(disconnected_cells(space, ok | {"a#1:x->n": 0, "inner:x->i": 0})) == {"a#1", "inner"}
    # the search and the count agree: each option of the depth counts the cut repeats present in it
    weights = {k: [0.9, 0.1] for k in ir.choices}
    for r in best_over_depths(ir, weights, (), top=20):
        assert connected(space, r.decisions)
    # b: conv(3), or inner with none or skip (3; connected: 2); a#1, a#2: none or conv(1) (2; connected: 1);
    # x 1: 3 * 2 = 6 (connected 2), x 2: 3 * 2 * 2 = 12 (connected 2)
    archs, cut = 18, 18 - 4
    assert count_architectures(space) == archs
    assert count_disconnected(space) == cut


# ---- (d) check's count of disconnected architectures -----------------------------------------


@pytest.mark.parametrize("name", sorted(SPACES))
def test_disconnected_count_matches_brute_force(name: str) -> None:
    text = SPACES[name]
    ir = _ir(text)
    archs = _assignments(ir)
    cut = sum(1 for d in archs if not all(_paths(ir, d).values()))
    space = dasdsl.loads(text)
    assert count_architectures(space) == len(archs)
    assert count_disconnected(space) == cut
    assert space_stats(space).disconnected == cut


def test_nb201_digits_has_341_disconnected_cells() -> None:
    space = dasdsl.load(ROOT / "spaces" / "nb201_digits.das")
    ir = space.graph()
    archs = _assignments(ir)
    cut = sum(1 for d in archs if not all(_paths(ir, d).values()))
    assert (len(archs), cut) == (15_625, 341)
    stats = space_stats(space)
    assert (stats.architectures, stats.disconnected) == (15_625, 341)
    assert count_disconnected(dasdsl.load(ROOT / "spaces" / "darts.das")) == 0  # keep nodes never pick none


def test_check_prints_the_disconnected_count(capsys: pytest.CaptureFixture[str]) -> None:
    from dasdsl.cli import main

    assert main(["check", str(ROOT / "spaces" / "nb201_digits.das"), str(ROOT / "spaces" / "darts.das")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("15,625 architectures (~1.56e4), 341 of them disconnected (never returned by a search)")
    assert out[1].endswith("architectures (~1.08e18)")  # none left out where there are none
