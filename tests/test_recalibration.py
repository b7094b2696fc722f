"""Inherited weights are evaluated with batch-norm statistics of the discretized network itself."""

from __future__ import annotations

import pytest
import torch
from paths import ROOT

import dasdsl
from dasdsl.engine.data import load, split_data
from dasdsl.engine.run import recalibrate_batchnorm


def test_recalibration_re_estimates_the_statistics_of_the_network_itself() -> None:
    space = dasdsl.load(ROOT / "spaces" / "darts_result.das")
    data = split_data(load("digits", "image"), 0.5, 0, torch.device("cpu"))
    torch.manual_seed(0)
    net = space.network(data.shape, data.classes).eval()
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    first = norms[0]
    for m in norms:  # statistics from somewhere else, as the supernet's are
        m.running_mean.fill_(5.0)
        m.running_var.fill_(9.0)
    seen: list[torch.Tensor] = []
    hook = first.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach()))
    recalibrate_batchnorm(net, data, samples=128)
    hook.remove()
    assert len(seen) == 2 and all(len(x) == 64 for x in seen)  # two whole batches of 64
    dims = [d for d in range(seen[0].dim()) if d != 1]
    want = torch.stack([x.mean(dim=dims) for x in seen]).mean(0)  # the cumulative average of the batch means
    assert torch.allclose(first.running_mean, want, atol=1e-6)
    assert first.momentum == 0.1 and not net.training  # momentum and mode restored


def test_the_summary_reports_both_figures_and_names_the_test_network(capsys: pytest.CaptureFixture[str]) -> None:
    space = dasdsl.load(ROOT / "spaces" / "pooling.das")
    result = space.search("synthetic", epochs=1, batch=16, seed=0, progress=False)
    assert result is not None
    summary = result.summary
    assert summary["recalibrated_gap"] == pytest.approx(
        summary["supernet_valid_acc"] - summary["recalibrated_valid_acc"]
    )
    assert summary["test_network"] == "inherited weights, batch norm recalibrated"
    tuned = space.search("synthetic", epochs=1, batch=16, seed=0, finetune=1, progress=False)
    assert tuned is not None and tuned.summary["test_network"] == "fine-tuned 1 epochs"
    from dasdsl.view.console import summary_text

    text = summary_text(result.space, summary, None)
    assert "with its batch-norm statistics recalibrated:" in text
    assert "test accuracy of the discretized network (inherited weights, batch norm recalibrated):" in text


def test_figures_near_chance_are_explained() -> None:
    from dasdsl.view.console import summary_text

    space = dasdsl.load(ROOT / "spaces" / "darts_result.das")  # a derived architecture: no choices left
    base = {
        "supernet_valid_acc": 0.9,
        "discretized_valid_acc": 0.1,
        "discretization_gap": 0.8,
        "recalibrated_valid_acc": 0.12,
        "recalibrated_gap": 0.78,
        "discretized_test_acc": 0.11,
        "test_network": "inherited weights, batch norm recalibrated",
        "classes": 10,
    }
    text = summary_text(space, base, None)
    assert "note: the recalibrated valid and test accuracy are near chance (1/10 = 0.100)" in text
    assert "`dasdsl train result.das`" in text
    assert "the architecture was checked to be connected" in text  # only then are the inherited weights blamed
    good = {**base, "recalibrated_valid_acc": 0.85, "discretized_test_acc": 0.83}
    assert "near chance" not in summary_text(space, good, None)
    one = {**base, "recalibrated_valid_acc": 0.85}
    assert "note: the test accuracy is near chance" in summary_text(space, one, None)
    tuned = {**base, "finetuned_valid_acc": 0.11, "test_network": "fine-tuned 3 epochs"}
    assert "near chance" not in summary_text(space, tuned, None)  # a fine-tuned figure is the architecture's
