"""dasdsl train's recipe: augmentations that do what they say, options that reach the run and survive a resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import dasdsl
from dasdsl.search.run import Recipe, cutout, random_flip

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "spaces" / "darts_result.das"


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
    assert Recipe(label_smoothing=1.0, cutout=-1, augment="mixup").problems() == [
        "label_smoothing must be in [0, 1), got 1.0",
        "cutout must be a non-negative integer (pixels), got -1",
        "augment must be one of auto, shift, crop_flip, none, got 'mixup'",
    ]


def test_the_recipe_reaches_the_run_and_a_resume_keeps_it(tmp_path: Path) -> None:
    options = {"epochs": 2, "batch": 64, "seed": 0, "progress": False, "cutout": 4, "augment": "crop_flip"}
    recipe = {"weight_decay": 0.0, "grad_clip": 1.0, "label_smoothing": 0.1}
    full = dasdsl.train(RESULT, "digits", out=tmp_path / "full", **options, **recipe)
    plain = dasdsl.train(RESULT, "digits", out=None, **options)
    assert full.history[-1]["train_loss"] != plain.history[-1]["train_loss"]  # the options changed the training
    config = json.loads((full.run_dir / "config.json").read_text())
    assert config["recipe"] == {**recipe, "cutout": 4, "augment": "crop_flip"}
    stopped = dasdsl.train(RESULT, "digits", out=tmp_path / "stopped", callbacks=[lambda r: False], **options, **recipe)
    assert [r["epoch"] for r in stopped.history] == [1]
    resumed = dasdsl.api.resume_training(stopped.run_dir, progress=False)
    assert resumed.test_acc == full.test_acc
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in full.history]


def test_bad_recipe_values_are_errors_not_tracebacks(tmp_path: Path) -> None:
    with pytest.raises(dasdsl.DasError, match=r"label_smoothing must be in \[0, 1\), got 1.5"):
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
