"""dasdsl train's recipe: augmentations that do what they say, options that reach the run and survive a resume."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from paths import FIXTURES, SPACE_DIR

import dasdsl
from dasdsl.engine.training import Recipe, cutout, random_flip

RESULT = SPACE_DIR / "darts_result.das"


def test_cutout_zeroes_one_clipped_square_per_image() -> None:
    x = torch.ones(64, 1, 8, 8)
    out = cutout(4)(x, torch.Generator().manual_seed(0))
    zeros = (out == 0).flatten(1).sum(1)
    assert bool((zeros >= 4).all()) and bool((zeros <= 16).all()) and int((zeros == 16).sum()) > 0
    for image in out[:, 0]:  # the zeros form one rectangle
        rows, cols = (image == 0).nonzero(as_tuple=True)
        assert int((image[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] == 0).all())
    assert bool((x == 1).all())  # the input is left alone


def test_random_flip_mirrors_about_half_the_images() -> None:
    x = torch.randn(200, 1, 8, 8)
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = [bool(torch.equal(o, i.flip(-1))) for o, i in zip(out, x)]
    kept = [bool(torch.equal(o, i)) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and 70 < sum(flipped) < 130


def test_the_recipe_builds_the_augmentation_it_names() -> None:
    x = torch.ones(16, 1, 8, 8)
    g = torch.Generator().manual_seed(0)
    assert Recipe(augment="none").augmentation("image", (1, 8, 8)) is None
    assert Recipe().augmentation("vector", (64,)) is None
    only_cutout = Recipe(augment="none", cutout=4).augmentation("image", (1, 8, 8))
    assert only_cutout is not None and bool((only_cutout(x, g) == 0).any())


def test_the_train_settings_table_reads_and_rejects_recipe_values(
    load_space: Callable[[str], dasdsl.api.Space],
) -> None:
    space = load_space("darts_result")
    cfg = dasdsl.api.training_settings(space, cutout=16, augment="crop_flip", drop_path=0.2, lr=0.025)
    assert (cfg.cutout, cfg.augment, cfg.drop_path, cfg.lr, cfg.epochs) == (16, "crop_flip", 0.2, 0.025, 20)
    for key, value, message in (
        ("label_smoothing", 1.0, "label_smoothing must be a number in [0, 1), got 1.0"),
        ("cutout", -1, "cutout must be a non-negative integer, got -1"),
        ("cutout", 2.5, "cutout must be a non-negative integer, got 2.5"),
        ("augment", "mixup", "unknown augment mixup"),
        ("drop_path", 1, "drop_path must be a number in [0, 1), got 1"),
        ("momentum", 1.0, "momentum must be a number in [0, 1), got 1.0"),
        ("epochs", 0, "epochs must be a positive integer, got 0"),
    ):
        with pytest.raises(dasdsl.DasError) as caught:
            dasdsl.api.training_settings(space, **{key: value})
        assert caught.value.errors[0].message == message
        assert caught.value.errors[0].span.file == "<train settings>"


@pytest.mark.slow
def test_the_recipe_reaches_the_run_and_a_resume_keeps_it(tmp_path: Path) -> None:
    options = {"epochs": 2, "batch": 64, "seed": 0, "progress": False, "cutout": 4, "augment": "crop_flip"}
    recipe = {"momentum": 0.5, "weight_decay": 0.0, "grad_clip": 1.0, "label_smoothing": 0.1}
    full = dasdsl.train(RESULT, "digits", out=tmp_path / "full", **options, **recipe)
    plain = dasdsl.train(RESULT, "digits", out=None, **options)
    assert full.history[-1]["train_loss"] != plain.history[-1]["train_loss"]  # the options changed the training
    config = json.loads((full.run_dir / "config.json").read_text())
    assert config["recipe"] == {**recipe, "cutout": 4, "augment": "crop_flip", "auxiliary": 0.0, "drop_path": 0.0}
    stopped = dasdsl.train(RESULT, "digits", out=tmp_path / "stopped", callbacks=[lambda r: False], **options, **recipe)
    assert [r["epoch"] for r in stopped.history] == [1]
    resumed = dasdsl.api.resume_training(stopped.run_dir, progress=False)
    assert resumed.test_acc == full.test_acc
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in full.history]


SMALL_FIXED = """space small
input image
cell c {
    input x
    node y = x ~ conv(3)
    output y
}
network {
    stem conv(3, 4)
    cells c
    head global_avg_pool then linear(classes)
}
"""


def test_momentum_is_the_optimizer_s_momentum() -> None:
    """``momentum`` is SGD's: 0.9 is the default recipe exactly; 0 trains differently (plain SGD)."""
    space = dasdsl.loads(SMALL_FIXED)
    options = {"epochs": 1, "batch": 32, "seed": 0, "progress": False, "out": None}
    default = dasdsl.train(space, "synthetic", **options)
    same = dasdsl.train(space, "synthetic", momentum=0.9, **options)
    plain = dasdsl.train(space, "synthetic", momentum=0.0, **options)
    assert same.history[0]["train_loss"] == default.history[0]["train_loss"]
    assert plain.history[0]["train_loss"] != default.history[0]["train_loss"]


def test_bad_recipe_values_are_errors_not_tracebacks(tmp_path: Path) -> None:
    with pytest.raises(dasdsl.DasError, match=r"label_smoothing must be a number in \[0, 1\), got 1.5"):
        dasdsl.train(RESULT, "digits", label_smoothing=1.5, progress=False)
    done = subprocess.run(
        [sys.executable, "-m", "dasdsl", "train", str(RESULT), "--augment", "mixup"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and "invalid choice: 'mixup'" in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "dasdsl", "train", str(RESULT), "--grad-clip", "0", "--epochs", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 1 and "grad_clip must be a positive number, got 0.0" in done.stderr
    assert "Traceback" not in done.stderr


def test_darts_auxiliary_head_parameters_and_loss() -> None:
    """DARTS-V2 at C = 36, 20 cells, 10 classes: 3,349,342 weights, and 476,426 in the auxiliary head (DARTS'
    AuxiliaryHeadCIFAR on the 576 channels after the second reduction: 576*128 + 2*128 + 128*768*4 + 2*768
    + 768*10 + 10), which DARTS' count_parameters_in_MB leaves out."""
    from dasdsl.compiler.lower import FixedNetwork

    space = dasdsl.load(FIXTURES / "fidelity" / "darts_v2.das")
    net = FixedNetwork(space.graph((3, 32, 32), 10), auxiliary=True)
    sizes = {aux: 0 for aux in (True, False)}
    for name, p in net.named_parameters():
        sizes[name.startswith("auxiliary.")] += p.numel()
    assert sizes[False] == 3_349_342
    assert sizes[True] == 576 * 128 + 2 * 128 + 128 * 768 * 4 + 2 * 768 + 768 * 10 + 10 == 476_426
    net.train()
    logits = net(torch.randn(2, 3, 32, 32))
    assert logits.shape == net.aux_logits.shape == (2, 10)
    net.eval()
    net.aux_logits = None
    net(torch.randn(2, 3, 32, 32))
    assert net.aux_logits is None  # evaluation does not run the head


def test_drop_path_drops_whole_samples_of_non_identity_edges_in_training_only(
    load_space: Callable[[str], dasdsl.api.Space],
) -> None:
    from dasdsl.compiler.lower import FixedNetwork, _drop_path

    torch.manual_seed(0)
    x = torch.ones(4000, 3, 2, 2)
    y = _drop_path(x, 0.2)
    per_sample = y.flatten(1)
    assert bool(((per_sample == 0).all(1) | (per_sample == 1.25).all(1)).all())  # whole samples, rescaled
    assert 0.17 < float((per_sample[:, 0] == 0).float().mean()) < 0.23
    net = FixedNetwork(load_space("darts_result").graph((1, 8, 8), 10))
    net.ctx.drop_prob = 0.5
    x = torch.randn(8, 1, 8, 8)
    net.eval()
    assert torch.equal(net(x), net(x))  # no dropping in evaluation
    net.train()
    torch.manual_seed(1)
    a = net(x)
    torch.manual_seed(2)
    assert not torch.allclose(a, net(x))


@pytest.mark.slow
def test_the_full_recipe_trains_and_reports_the_auxiliary_head(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dasdsl",
            "train",
            str(RESULT),
            "--epochs",
            "2",
            "--auxiliary",
            "0.4",
            "--drop-path",
            "0.2",
            "--cutout",
            "4",
            "--out",
            "runs",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "parameters: 168,666, plus " in done.stdout and "in the auxiliary head (training only)" in done.stdout
    (run,) = (tmp_path / "runs").iterdir()
    saved = torch.load(run / "model.pt", weights_only=True)
    assert any(k.startswith("auxiliary.") for k in saved["model"])
    assert saved["settings"]["auxiliary"] == 0.4 and saved["settings"]["drop_path"] == 0.2
    exported = dasdsl.api.export(RESULT, "python", tmp_path / "net.py", weights=run / "model.pt", data="digits")
    assert "class Network" in exported.read_text()  # the head is left out: it only trains
