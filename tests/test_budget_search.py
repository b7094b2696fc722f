"""Search that decides under a budget: the adaptive cost multiplier, one-shot selection, gate statistics."""

from __future__ import annotations

import itertools
import math

import attrs
import numpy as np
import pytest
import torch

from dasdsl.compiler.build import build_ir
from dasdsl.compiler.cost import costs
from dasdsl.engine import oneshot, workflow
from dasdsl.engine.data import user_split
from dasdsl.engine.discretization import connected
from dasdsl.engine.expected_cost import BudgetMultipliers, CostModel
from dasdsl.engine.run import Run, config_for, discretize, gate_summary
from dasdsl.lang.load import check_text

SMALL = """space small
input image
ops s = [none, skip, conv(1), conv(3)]
cell c(ch) {
    input x
    node n1 = x ~ s
    node n2 = (x, n1) ~ s
    output n2
}
network {
    stem conv_bn(1, out = 4)
    cells c(4)
    head global_avg_pool then linear(classes)
}
"""


def _data(n: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(0, 1, (n, 1, 8, 8)).astype(np.float32)
    x[:, 0, :4, :4] += y[:, None, None] * 0.7  # a class signal in one corner: convolutions help
    return x, y.astype(np.int64)


def _run(**settings: object) -> Run:
    """A small search on the caller's arrays, set up and run in memory (no run directory)."""
    settings = {"epochs": 6, "batch": 32, **settings}
    block = "".join(f"    {key} {value}\n" for key, value in settings.items())
    text = SMALL + "search {\n" + block + "}\n"
    space = check_text(text, "small.das")
    cfg = config_for(space, {})
    split = user_split(_data(), space.input_kind, cfg.split, cfg.seed, torch.device("cpu"), None)
    run = workflow.start(
        space, cfg, torch.device("cpu"), out_root=None, source="small.das", source_text=text, data=split
    )
    workflow.search_epochs(run)
    return run


def _params_range() -> tuple[float, float, float]:
    """(cost with uniform gate weights, of the smallest, of the largest architecture) of the small space."""
    space = check_text(SMALL, "small.das")
    ir = build_ir(space, (1, 8, 8), 3)
    fixed, per = costs(ir, "params")
    uniform = fixed + sum(sum(v) / len(v) for v in per.values())
    return uniform, fixed + sum(min(v) for v in per.values()), fixed + sum(max(v) for v in per.values())


def test_adaptive_budget_holds_the_expected_cost_at_the_budget() -> None:
    uniform, low, _ = _params_range()
    budget = round(low + 0.5 * (uniform - low))  # well below what uniform gates cost
    settings = {"arch": "adam(lr = 0.05, betas = (0.5, 0.999), weight_decay = 0)", "epochs": 8}
    run = _run(**settings, constraint=f"max_params({budget})")
    assert run.searcher is not None and run.searcher.budget is not None
    report = run.searcher.budget.report(run.net.gate_weights())["max_params"]
    assert report["budget"] == budget
    assert abs(report["expected"] / budget - 1) <= 0.05, report
    # the same search with the budget acting only at discretization ends far above it
    off = _run(**settings, constraint=f"max_params({budget})", budget="off")
    assert off.searcher is not None and off.searcher.budget is None
    model = CostModel.of(off.cfg, off.ir, "params")
    assert model is not None
    assert model.expected(off.net.gate_weights()) > 1.2 * budget


def test_multiplier_rises_over_budget_and_falls_back_to_zero_under_it() -> None:
    run = _run(epochs=1)
    uniform, _, _ = _params_range()
    cfg = attrs.evolve(run.cfg, constraints=(("max_params", uniform / 2),), budget="adaptive", budget_rate=0.1)
    mult = BudgetMultipliers(cfg, run.ir)
    weights = run.net.gate_weights()
    ratio = float(mult.ratios(weights)[0].detach())
    assert ratio == pytest.approx(CostModel.of(cfg, run.ir, "params").expected(weights) / (uniform / 2))
    mult.update(weights)
    assert mult.lambdas[0] == pytest.approx(0.1 * (ratio - 1))
    assert mult.term(weights) is not None
    loose = attrs.evolve(cfg, constraints=(("max_params", 10 * uniform),))
    under = BudgetMultipliers(loose, run.ir)
    under.lambdas = [0.05]
    under.update(weights)
    assert under.lambdas == [0.0]  # under budget: the multiplier goes back to zero, never below
    assert under.term(weights) is None


def _all_architectures(ir) -> list[dict[str, int]]:  # noqa: ANN001
    keys = list(ir.choices)
    return [dict(zip(keys, c)) for c in itertools.product(*(range(len(ir.choices[k].labels)) for k in keys))]


@pytest.mark.parametrize("finetune", [0, 1])
def test_oneshot_selects_the_best_score_among_the_exact_k_best(finetune: int) -> None:
    k = 6
    run = _run(select=f"oneshot(k = {k}, finetune = {finetune})", epochs=3)
    ranked, weights = discretize(run)
    # the candidates are exactly the k best connected architectures by gate score (brute force)
    every = [d for d in _all_architectures(run.ir) if connected(run.space, d)]
    scores = sorted((sum(weights[key][i] for key, i in d.items()) for d in every), reverse=True)
    assert len(ranked) == k
    assert [r[2] for r in ranked] == pytest.approx(scores[:k], abs=1e-12)
    # one-shot scores computed one by one, each from the random state the ranking starts from
    state = torch.get_rng_state()
    by_hand = []
    for _, d, _, _ in ranked:
        torch.set_rng_state(state)
        by_hand.append(oneshot.score(run, d, finetune=finetune))
    torch.set_rng_state(state)
    finished = workflow.finish(run, [])
    rows = finished.summary["oneshot"]
    assert [r["valid_acc"] for r in sorted(rows, key=lambda r: r["gate_rank"])] == [a for a, _ in by_hand]
    best_index = min(range(k), key=lambda i: (-by_hand[i][0], by_hand[i][1], i))
    (chosen,) = [r for r in rows if r["chosen"]]
    assert chosen["gate_rank"] == best_index + 1
    assert finished.summary["selection"] == f"oneshot(k = {k}, finetune = {finetune})"
    assert f"it was number {best_index + 1} by gate weights" in finished.texts[0]
    assert ("fine-tuned 1 epochs" in finished.texts[0]) == (finetune == 1)


def test_oneshot_with_top_writes_the_best_scores_first() -> None:
    run = _run(select="oneshot(k = 5, finetune = 0)", top=3, epochs=2)
    finished = workflow.finish(run, [])
    rows = finished.summary["oneshot"]
    assert len(rows) == 5 and len(finished.texts) == 3
    for text, row in zip(finished.texts, rows[:3]):  # rows are best score first
        assert f"selected one-shot: valid acc {row['valid_acc']:.3f}" in text
        assert f"it was number {row['gate_rank']} by gate weights" in text


def test_a_diverging_finetune_scores_worst_and_the_search_still_ends() -> None:
    run = _run(select="oneshot(k = 3, finetune = 1)", epochs=1)
    run.cfg = attrs.evolve(run.cfg, w_lr=1e30)  # the candidates' fine-tune diverges
    finished = workflow.finish(run, [])
    rows = finished.summary["oneshot"]
    assert all(r["valid_acc"] == 0.0 and r["valid_loss"] is None for r in rows)
    assert [r["gate_rank"] for r in rows] == [1, 2, 3]  # all equally bad: the gate order decides


def test_oneshot_scoring_leaves_the_random_state_alone() -> None:
    run = _run(epochs=1)
    ranked, _ = discretize(run)
    before = torch.get_rng_state()
    oneshot.rank(run, [(d, s, b) for _, d, s, b in ranked])
    assert torch.equal(before, torch.get_rng_state())


def test_gate_summary_on_a_hand_built_gate_state() -> None:
    run = _run(epochs=1)
    keys = list(run.ir.choices)
    weights = {
        keys[0]: [0.7, 0.1, 0.1, 0.1],
        keys[1]: [0.25, 0.25, 0.25, 0.25],
        keys[2]: [0.0, 0.0, 1.0, 0.0],
    }
    decisions = {keys[0]: 0, keys[1]: 3, keys[2]: 1}
    stats = gate_summary(run.ir, weights, decisions)
    h0 = -(0.7 * math.log(0.7) + 3 * 0.1 * math.log(0.1)) / math.log(4)
    assert stats["final_entropy"] == pytest.approx((h0 + 1.0 + 0.0) / 3, abs=1e-6)
    assert stats["margins"] == pytest.approx({keys[0]: 0.6, keys[1]: 0.0, keys[2]: -1.0})


def test_summary_records_entropy_margins_and_expected_cost() -> None:
    uniform, _, _ = _params_range()
    run = _run(constraint=f"max_params({round(uniform)})", epochs=2)
    finished = workflow.finish(run, [])
    s = finished.summary
    weights = finished.gates
    assert s["final_entropy"] == pytest.approx(gate_summary(run.ir, weights, discretize(run)[0][0][1])["final_entropy"])
    assert set(s["margins"]) <= set(run.ir.choices)
    assert s["expected_cost"]["max_params"]["budget"] == round(uniform)
