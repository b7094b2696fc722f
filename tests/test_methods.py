"""Search methods beyond vanilla DARTS, each tested for what it claims with a real search on digits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import dasdsl
from dasdsl.cli import main
from dasdsl.view.render import last_record

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "tests" / "fixtures" / "small_nb201.das"
ARCH = "arch=adam(lr = 0.03, betas = (0.5, 0.999), weight_decay = 0)"


def _search(tmp_path: Path, tag: str, *settings: str, epochs: int = 12) -> tuple[dict, dict]:
    args = [
        "run",
        str(SMALL),
        "--epochs",
        str(epochs),
        "--batch",
        "32",
        "--seed",
        "0",
        "--quiet",
        "--out",
        str(tmp_path / tag),
        "--set",
        ARCH,
    ]
    for s in settings:
        args += ["--set", s]
    assert main(args) == 0
    (run,) = (tmp_path / tag).iterdir()
    last = last_record(run)
    return last, json.loads((run / "summary.json").read_text())


def test_sigmoid_l1_annealing_crystallizes_and_shrinks_the_discretization_gap(tmp_path: Path) -> None:
    sig_log, sig = _search(
        tmp_path, "sigmoid", "gate=sigmoid(temperature = anneal(1.0 -> 0.01, exponential))", "penalty=l1(0.005)"
    )
    _, soft = _search(tmp_path, "softmax", "gate=softmax")
    values = [v for w in sig_log["gates"].values() for v in w]
    crystallized = sum(min(v, 1 - v) <= 0.05 for v in values) / len(values)
    assert sig_log["temperature"] <= 0.05
    assert crystallized >= 0.95
    assert sig["discretization_gap"] < soft["discretization_gap"]


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


def test_perturbation_discretization_runs_end_to_end(tmp_path: Path) -> None:
    _, summary = _search(tmp_path, "pt", "discretize=perturbation", epochs=2)
    (run,) = (tmp_path / "pt").iterdir()
    result = dasdsl.load(run / "result.das")
    assert result.count() == 1
    assert 0.0 <= summary["discretized_valid_acc"] <= 1.0


def test_top_k_and_constraints_from_the_command_line(tmp_path: Path) -> None:
    from dasdsl.search.constraints import best

    code = main(
        [
            "run",
            str(SMALL),
            "--epochs",
            "1",
            "--batch",
            "32",
            "--quiet",
            "--out",
            str(tmp_path),
            "--top",
            "3",
            "--set",
            "constraint=min_nonskip_per_path(1), max_skip(1)",
            "--set",
            ARCH,
        ]
    )
    assert code == 0
    (run,) = tmp_path.iterdir()
    summary = json.loads((run / "summary.json").read_text())
    scores = [entry["score"] for entry in summary["top"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 3
    gates = json.loads((run / "log.jsonl").read_text().splitlines()[-1])["gates"]
    space = dasdsl.load(run / "space.das")
    ir = space.graph((1, 8, 8), 10)
    expected = best(ir, gates, [("min_nonskip_per_path", 1), ("max_skip", 1)], top=3)
    assert [r.score for r in expected] == pytest.approx(scores)
    for i in range(1, 4):
        result = dasdsl.load(run / f"result-{i}.das")
        assert result.count() == 1
        assert "constraints: min_nonskip_per_path(1), max_skip(1) (met exactly)" in result.source
    body = (run / "result.das").read_text().split("\nspace ", 1)[1]
    assert body == (run / "result-1.das").read_text().split("\nspace ", 1)[1]


def test_impossible_constraint_fails_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "run",
            str(SMALL),
            "--epochs",
            "50",
            "--quiet",
            "--out",
            str(tmp_path),
            "--set",
            "constraint=min_nonskip_per_path(9)",
        ]
    )
    assert code == 1
    assert "no architecture of cell 'cell' satisfies min_nonskip_per_path 9" in capsys.readouterr().err
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_bf16_search_and_fp16_second_order_refusal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pooling = str(ROOT / "spaces" / "pooling.das")
    assert (
        main(
            [
                "run",
                pooling,
                "--epochs",
                "1",
                "--precision",
                "bf16",
                "--hypergradient",
                "second_order",
                "--quiet",
                "--out",
                str(tmp_path / "bf16"),
            ]
        )
        == 0
    )
    code = main(
        [
            "run",
            pooling,
            "--epochs",
            "1",
            "--precision",
            "fp16",
            "--hypergradient",
            "second_order",
            "--quiet",
            "--out",
            str(tmp_path / "fp16"),
        ]
    )
    assert code == 1
    assert "does not work under fp16" in capsys.readouterr().err
