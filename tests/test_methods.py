"""Search methods beyond vanilla DARTS, each tested for what it claims with a real search on digits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from paths import SMALL_NB201 as SMALL

import dasdsl
from dasdsl.api import Space
from dasdsl.engine.rundir import untimed

ARCH = "adam(lr = 0.03, betas = (0.5, 0.999), weight_decay = 0)"


def _search(space: dasdsl.api.Space, *, epochs: int = 12, **named: Any) -> dasdsl.api.SearchResult:
    named.setdefault("select", "gates")  # these tests are about what the gates learn, not the one-shot ranking
    result = space.search(epochs=epochs, batch=32, seed=0, progress=False, arch=ARCH, **named)
    assert result is not None
    return result


@pytest.mark.slow
def test_sigmoid_l1_annealing_crystallizes_and_shrinks_the_discretization_gap(small_nb201: Space) -> None:
    sig = _search(small_nb201, gate="sigmoid(temperature = anneal(1.0 -> 0.01, exponential))", penalty="l1(0.005)")
    soft = _search(small_nb201, gate="softmax")
    sig_log = sig.history[-1]
    values = [v for w in sig_log["gates"].values() for v in w]
    crystallized = sum(min(v, 1 - v) <= 0.05 for v in values) / len(values)
    assert sig_log["temperature"] <= 0.05
    assert crystallized >= 0.95
    assert sig.summary["discretization_gap"] < soft.summary["discretization_gap"]


def test_partial_channels_run_and_edge_normalization(tmp_path: Path, load_space: Callable[[str], Space]) -> None:
    space = load_space("darts")
    net = space.supernet((1, 8, 8), 10, partial_channels=4)
    assert len(net.arch_parameters()) == 28 + 2 * 4  # 14 choices x 2 cell types, plus beta for n0..n3 of each
    y = net(torch.randn(4, 1, 8, 8))
    y.sum().backward()
    assert all(p.grad is not None for p in net.arch_parameters())
    full = sum(p.numel() for p in space.supernet((1, 8, 8), 10).weight_parameters())
    assert sum(p.numel() for p in net.weight_parameters()) < full / 3


def test_partial_channels_refuses_width_changing_candidates(load_space: Callable[[str], Space]) -> None:
    space = load_space("widths")
    with pytest.raises(dasdsl.DasError, match="partial_channels 4 needs candidates that keep their input width"):
        space.supernet((1, 8, 8), 10, partial_channels=4)


@pytest.mark.slow
def test_perturbation_discretization_runs_end_to_end(small_nb201: Space) -> None:
    result = _search(small_nb201, discretize="perturbation", epochs=2)
    assert result.settings["discretize"] == "perturbation"
    assert result.space.count() == 1
    assert 0.0 <= result.summary["discretized_valid_acc"] <= 1.0


@pytest.mark.slow
def test_top_k_and_constraints(tmp_path: Path, small_nb201: Space) -> None:
    from dasdsl.engine.constraints import best

    result = small_nb201.search(
        epochs=1,
        batch=32,
        out=tmp_path,
        progress=False,
        top=3,
        constraint=["min_nonskip_per_path(1)", "max_skip(1)"],
        arch=ARCH,
        select="gates",  # the k best by gate weights, in that order (one-shot selection: test_budget_search)
    )
    assert result is not None
    scores = [entry["score"] for entry in result.summary["top"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 3
    gates = result.history[-1]["gates"]
    ir = small_nb201.graph((1, 8, 8), 10)
    expected = best(ir, gates, [("min_nonskip_per_path", 1), ("max_skip", 1)], top=3)
    assert [r.score for r in expected] == pytest.approx(scores)
    assert len(result.top) == 3 and result.top[0] is result.space
    for i, top in enumerate(result.top, start=1):
        assert top.count() == 1
        assert "constraints: min_nonskip_per_path(1), max_skip(1) (met exactly)" in top.source
        assert (result.run_dir / f"result-{i}.das").read_text() == top.to_das()
    body = (result.run_dir / "result.das").read_text().split("\nspace ", 1)[1]
    assert body == (result.run_dir / "result-1.das").read_text().split("\nspace ", 1)[1]


def test_impossible_constraint_fails_before_training(tmp_path: Path, small_nb201: Space) -> None:
    space = small_nb201
    with pytest.raises(dasdsl.DasError, match="no architecture of cell 'cell' satisfies min_nonskip_per_path 9"):
        space.search(epochs=50, out=tmp_path, progress=False, constraint="min_nonskip_per_path(9)")
    assert not any(tmp_path.iterdir())


def test_bf16_search_and_fp16_second_order_refusal(pooling: Space) -> None:
    result = pooling.search(epochs=1, precision="bf16", hypergradient="second_order", progress=False)
    assert result is not None and result.settings["precision"] == "bf16"
    with pytest.raises(dasdsl.DasError, match="does not work under fp16"):
        pooling.search(epochs=1, precision="fp16", hypergradient="second_order", progress=False)


# ---- DrNAS' Dirichlet gate and beta-DARTS' regularization ------------------------------------


def test_dirichlet_gate_samples_in_training_and_gives_its_mean_otherwise() -> None:
    from torch.distributions import Dirichlet, kl_divergence

    from dasdsl.compiler.lower import gate_weights
    from dasdsl.methods.gates import GATES

    alpha = torch.tensor([-0.5, 0.0, 1.0], requires_grad=True)
    beta = torch.nn.functional.elu(alpha) + 1
    mean = gate_weights(alpha, "dirichlet", 1.0)
    assert torch.allclose(mean, beta / beta.sum())
    torch.manual_seed(0)
    samples = torch.stack([gate_weights(alpha, "dirichlet", 1.0, sample=True) for _ in range(4000)])
    assert torch.allclose(samples.sum(1), torch.ones(4000)) and len({tuple(s.tolist()) for s in samples[:10]}) == 10
    assert torch.allclose(samples.mean(0), beta / beta.sum(), atol=0.01)  # the samples' mean is the mean
    samples[:, 2].sum().backward()  # reparameterized: the sample carries a gradient to alpha
    assert alpha.grad is not None and float(alpha.grad.abs().sum()) > 0
    anchor = GATES["dirichlet"].regularizer
    assert anchor is not None
    assert float(anchor(torch.zeros(5))) == pytest.approx(0.0, abs=1e-6)  # Dir(1) against itself
    expected = kl_divergence(Dirichlet(beta.detach()), Dirichlet(torch.ones(3)))
    assert float(anchor(alpha.detach())) == pytest.approx(float(expected))


def _penalty_value(search: str, alphas: list[list[float]], epoch: int) -> float:
    from dasdsl.engine.searcher import gate_penalty
    from dasdsl.lang import settings as s

    space = dasdsl.load(SMALL)
    cfg = s.resolve({k: s.parse_override(k, v) for k, v in (line.split(" ", 1) for line in search.splitlines())})
    net = space.supernet((1, 8, 8), 10, gate=cfg.gate)
    with torch.no_grad():
        for a, values in zip(net.alphas, alphas):
            a.copy_(torch.tensor(values))
    penalty = gate_penalty(cfg, space.graph((1, 8, 8), 10))
    assert penalty is not None
    return float(penalty(net, epoch).detach())


def test_beta_penalty_is_the_mean_log_sum_exp_with_its_weight_ramped(small_nb201: Space) -> None:
    torch.manual_seed(0)
    net = small_nb201.supernet((1, 8, 8), 10)
    alphas = [torch.randn(len(a)).tolist() for a in net.alphas]
    lse = sum(torch.tensor(a).logsumexp(0) for a in alphas) / len(alphas)
    ramp = "gate softmax\nepochs 11\npenalty beta(0 -> 50, linear)"  # softmax: no anchor term
    assert _penalty_value(ramp, alphas, 0) == 0.0
    assert _penalty_value(ramp, alphas, 5) == pytest.approx(25 * float(lse), rel=1e-6)
    assert _penalty_value(ramp, alphas, 10) == pytest.approx(50 * float(lse), rel=1e-6)
    assert _penalty_value("gate softmax\npenalty beta(2)", alphas, 3) == pytest.approx(2 * float(lse), rel=1e-6)
    cosine = "gate softmax\nepochs 11\npenalty beta(0 -> 50, cosine)"
    assert _penalty_value(cosine, alphas, 5) == pytest.approx(25 * float(lse), rel=1e-6)
    assert _penalty_value(cosine, alphas, 2) < _penalty_value(ramp, alphas, 2)  # slow start


def test_dirichlet_anchor_is_added_unless_turned_off(small_nb201: Space) -> None:
    from torch.distributions import Dirichlet, kl_divergence

    alphas = [[0.5, -0.2, 0.1, 0.0, 0.3]] * 6
    beta = torch.nn.functional.elu(torch.tensor(alphas[0])) + 1
    one = float(kl_divergence(Dirichlet(beta), Dirichlet(torch.ones(5))))
    count = len(small_nb201.supernet((1, 8, 8), 10).alphas)
    assert _penalty_value("gate dirichlet", alphas[:count], 0) == pytest.approx(1e-3 * count * one, rel=1e-5)
    half = _penalty_value("gate dirichlet(anchor = 0.5)", alphas[:count], 0)
    assert half == pytest.approx(0.5 * count * one, rel=1e-5)
    from dasdsl.engine.searcher import gate_penalty
    from dasdsl.lang import settings as s

    off = {"gate": "dirichlet(anchor = 0)", "penalty": "entropy(0)"}  # the anchor and the default entropy ramp
    cfg = s.resolve({key: s.parse_override(key, value) for key, value in off.items()})
    assert gate_penalty(cfg, small_nb201.graph((1, 8, 8), 10)) is None


@pytest.mark.slow
def test_beta_regularization_keeps_the_architecture_parameters_down(tmp_path: Path, small_nb201: Space) -> None:
    def mean_lse(run: str, **named: str) -> float:
        result = _search(small_nb201, epochs=3, out=tmp_path / run, gate="softmax", **named)
        model = torch.load(result.run_dir / "checkpoint.pt", weights_only=True)["model"]
        alphas = [v for k, v in model.items() if k.startswith("alphas.")]
        assert len(alphas) == 6
        return float(sum(a.logsumexp(0) for a in alphas) / len(alphas))

    plain = mean_lse("plain")
    beta = mean_lse("beta", penalty="beta(0 -> 50, linear)")
    assert plain > 1.55  # log 5 = 1.609 at the start; DARTS' alphas drift
    assert beta < plain - 0.05  # the penalty's gradient, softmax(alpha), pulls them all down


@pytest.mark.slow
def test_a_dirichlet_search_is_deterministic_and_evaluates_the_mean(small_nb201: Space) -> None:
    first = _search(small_nb201, epochs=2, gate="dirichlet")
    second = _search(small_nb201, epochs=2, gate="dirichlet")
    assert first.settings["gate"] == "dirichlet(anchor = 0.001)"
    assert untimed(first.history) == untimed(second.history) and first.space.to_das() == second.space.to_das()
    gates = first.history[-1]["gates"]
    assert all(sum(w) == pytest.approx(1.0) for w in gates.values())
