"""Search methods beyond vanilla DARTS, each tested for what it claims with a real search on digits."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import dasdsl

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "tests" / "fixtures" / "small_nb201.das"
ARCH = "adam(lr = 0.03, betas = (0.5, 0.999), weight_decay = 0)"


def _search(*, epochs: int = 12, **named: str) -> dasdsl.api.SearchResult:
    result = dasdsl.load(SMALL).search(epochs=epochs, batch=32, seed=0, progress=False, arch=ARCH, **named)
    assert result is not None
    return result


@pytest.mark.slow
def test_sigmoid_l1_annealing_crystallizes_and_shrinks_the_discretization_gap() -> None:
    sig = _search(gate="sigmoid(temperature = anneal(1.0 -> 0.01, exponential))", penalty="l1(0.005)")
    soft = _search(gate="softmax")
    sig_log = sig.history[-1]
    values = [v for w in sig_log["gates"].values() for v in w]
    crystallized = sum(min(v, 1 - v) <= 0.05 for v in values) / len(values)
    assert sig_log["temperature"] <= 0.05
    assert crystallized >= 0.95
    assert sig.summary["discretization_gap"] < soft.summary["discretization_gap"]


def test_partial_channels_run_and_edge_normalization(tmp_path: Path) -> None:
    space = dasdsl.load(ROOT / "spaces" / "darts.das")
    net = space.supernet((1, 8, 8), 10, partial_channels=4)
    assert len(net.arch_parameters()) == 28 + 2 * 4  # 14 choices x 2 cell types, plus beta for n0..n3 of each
    y = net(torch.randn(4, 1, 8, 8))
    y.sum().backward()
    assert all(p.grad is not None for p in net.arch_parameters())
    full = sum(p.numel() for p in space.supernet((1, 8, 8), 10).weight_parameters())
    assert sum(p.numel() for p in net.weight_parameters()) < full / 3


def test_partial_channels_refuses_width_changing_candidates() -> None:
    space = dasdsl.load(ROOT / "spaces" / "widths.das")
    with pytest.raises(dasdsl.DasError, match="partial_channels 4 needs candidates that keep their input width"):
        space.supernet((1, 8, 8), 10, partial_channels=4)


@pytest.mark.slow
def test_perturbation_discretization_runs_end_to_end() -> None:
    result = _search(discretize="perturbation", epochs=2)
    assert result.settings["discretize"] == "perturbation"
    assert result.space.count() == 1
    assert 0.0 <= result.summary["discretized_valid_acc"] <= 1.0


def test_top_k_and_constraints(tmp_path: Path) -> None:
    from dasdsl.search.constraints import best

    result = dasdsl.load(SMALL).search(
        epochs=1,
        batch=32,
        out=tmp_path,
        progress=False,
        top=3,
        constraint=["min_nonskip_per_path(1)", "max_skip(1)"],
        arch=ARCH,
    )
    assert result is not None
    scores = [entry["score"] for entry in result.summary["top"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 3
    gates = result.history[-1]["gates"]
    ir = dasdsl.load(SMALL).graph((1, 8, 8), 10)
    expected = best(ir, gates, [("min_nonskip_per_path", 1), ("max_skip", 1)], top=3)
    assert [r.score for r in expected] == pytest.approx(scores)
    assert len(result.top) == 3 and result.top[0] is result.space
    for i, top in enumerate(result.top, start=1):
        assert top.count() == 1
        assert "constraints: min_nonskip_per_path(1), max_skip(1) (met exactly)" in top.source
        assert (result.run_dir / f"result-{i}.das").read_text() == top.to_das()
    body = (result.run_dir / "result.das").read_text().split("\nspace ", 1)[1]
    assert body == (result.run_dir / "result-1.das").read_text().split("\nspace ", 1)[1]


def test_impossible_constraint_fails_before_training(tmp_path: Path) -> None:
    space = dasdsl.load(SMALL)
    with pytest.raises(dasdsl.DasError, match="no architecture of cell 'cell' satisfies min_nonskip_per_path 9"):
        space.search(epochs=50, out=tmp_path, progress=False, constraint="min_nonskip_per_path(9)")
    assert not any(tmp_path.iterdir())


def test_bf16_search_and_fp16_second_order_refusal() -> None:
    pooling = dasdsl.load(ROOT / "spaces" / "pooling.das")
    result = pooling.search(epochs=1, precision="bf16", hypergradient="second_order", progress=False)
    assert result is not None and result.settings["precision"] == "bf16"
    with pytest.raises(dasdsl.DasError, match="does not work under fp16"):
        pooling.search(epochs=1, precision="fp16", hypergradient="second_order", progress=False)
