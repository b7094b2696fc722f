"""Hostile data (issue 24): every form ``data=`` takes is validated in one place before a run directory exists,
a run records what data it searched and resume refuses other data, and ``data=`` is the same everywhere.

Each hostile form asserts the exact message and that no run directory was made. Small: the pooling space
(one choice point), one epoch, a few hundred samples.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from paths import POOLING
from torch.utils.data import DataLoader, Dataset, TensorDataset

import dasdsl
from dasdsl.cli import main
from dasdsl.engine.data import _holdout_order, _sample_positions

RNG = np.random.default_rng(0)
X = RNG.normal(size=(300, 1, 8, 8)).astype(np.float32)
Y = (np.arange(300) % 3).astype(np.int64)
FORMS = "a source name, arrays (x, y) or (x, y, x_test, y_test), or torch datasets train / (train, test)"


class Labels(Dataset):
    """A map-style dataset with the labels given (no ``targets``: labels are read item by item)."""

    def __init__(self, labels: list[Any]) -> None:
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, Any]:
        return torch.full((1, 8, 8), float(i % 3)), self.labels[i]


def _tensors() -> TensorDataset:
    return TensorDataset(torch.tensor(X), torch.tensor(Y))


def _first_fractional() -> int:
    """The item the fixed sample of the training part reads first in ``Labels([0.5, 1, 2, 0] * 20)``."""
    train, _ = _holdout_order(80)
    return int(next(i for i in train[_sample_positions(len(train))] if i % 4 == 0))


HOSTILE: list[tuple[str, Any, dict[str, Any], str, str | None]] = [
    ("two-numbers", (5, 3), {}, "data: x is a single int (5), not an array of samples", None),
    (
        "ragged",
        ([[1.0, 2.0], [3.0]], [0, 1]),
        {},
        "data: x is ragged: its samples differ in shape",
        "give samples of one shape",
    ),
    (
        "loader-pair",
        (DataLoader(_tensors()), DataLoader(_tensors())),
        {},
        "data: a DataLoader pair is not data dasdsl can draw its own batches from",
        "pass the dataset behind it: data=(train_loader.dataset, test_loader.dataset) (dasdsl batches, shuffles "
        "and splits it by the run's batch, seed and split settings)",
    ),
    (
        "one-loader",
        DataLoader(_tensors()),
        {},
        "data: a DataLoader is not data dasdsl can draw its own batches from",
        "pass the dataset behind it: data=loader.dataset (dasdsl batches, shuffles and splits it by the run's "
        "batch, seed and split settings)",
    ),
    ("dict", {"x": X, "y": Y}, {}, "data: got a dict", f"data must be {FORMS}"),
    ("three-arrays", (X, Y, X), {}, "data: got a tuple of 3 items", f"data must be {FORMS}"),
    (
        "dataset-and-array",
        (_tensors(), Y),
        {},
        "data: 2 items mixing torch datasets and other things",
        f"data must be {FORMS}",
    ),
    (
        "object-labels",
        (X, np.array(["a", "b", "c"] * 100, dtype=object)),
        {},
        "data: y holds Python objects, not numbers (samples of different shapes?)",
        None,
    ),
    (
        "dataset-fractional-label",
        Labels([0.5, 1, 2, 0] * 20),
        {},
        "item {frac} of the training dataset: the label 0.5 is fractional; labels must be integer class indices "
        "0 .. K-1",
        None,
    ),
    (
        "dataset-word-label",
        Labels(["cat"] * 80),
        {},
        "item {first} of the training dataset: the label is str 'cat', not a class index",
        "a dataset item must be (input, label) with the label an integer class index 0 .. K-1",
    ),
    (
        "dataset-one-class",
        Labels([1] * 80),
        {},
        "data 'datasets': every training label is 1: one class, nothing to tell apart",
        None,
    ),
    (
        "dataset-stray-label",
        Labels([0, 1, 2] * 30 + [10**6]),
        {},
        "data 'datasets': labels run up to 1000000, more classes than the 91 samples",
        "labels must be class indices 0 .. K-1",
    ),
    (
        "dataset-classes-below-labels",
        _tensors(),
        {"classes": 2},
        "data: labels run up to 2, but classes = 2",
        "give classes=3 or more",
    ),
    (
        "arrays-classes-below-labels",
        (X, Y),
        {"classes": 2},
        "data: labels run up to 2, but classes = 2",
        "give classes=3 or more",
    ),
    (
        "dataset-nan-input",
        TensorDataset(torch.full((40, 1, 8, 8), float("nan")), torch.tensor([0, 1] * 20)),
        {},
        "item {nan} of the training dataset: the input contains NaN or infinite values",
        None,
    ),
    (
        "dataset-not-pairs",
        TensorDataset(torch.tensor(X)),
        {},
        "item 0 of the training dataset is a tuple, not a pair (input, label)",
        "a dataset item must be (input, label), as torchvision's datasets and TensorDataset give",
    ),
]


@pytest.mark.parametrize(
    ("data", "options", "message", "hint"), [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE]
)
def test_hostile_data_is_a_clear_error_before_any_run_directory(
    tmp_path: Path, data: Any, options: dict[str, Any], message: str, hint: str | None, pooling: dasdsl.api.Space
) -> None:
    space = pooling
    first = int(_holdout_order(80)[0][0])
    with pytest.raises(dasdsl.DasError) as caught:
        space.search(data, epochs=1, batch=8, out=tmp_path, progress=False, **options)
    error = caught.value.errors[0]
    assert error.message == message.format(frac=_first_fractional(), first=first, nan=int(_holdout_order(40)[0][0]))
    assert error.hint == hint
    assert list(tmp_path.iterdir()) == []  # no run directory


# -- what a run records of its data, and resume


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory: pytest.TempPathFactory, pooling: dasdsl.api.Space) -> Path:
    """A search on the caller's arrays stopped after its first epoch (of two)."""
    out = tmp_path_factory.mktemp("runs")
    space = pooling
    space.search((X, Y), epochs=2, batch=16, seed=0, out=out, progress=False, callbacks=[lambda record: False])
    (run,) = out.iterdir()
    return run


def test_run_records_its_data(stopped_run: Path) -> None:
    recorded = json.loads((stopped_run / "config.json").read_text())["data_fingerprint"]
    assert {k: v for k, v in recorded.items() if k != "sha256"} == {
        "source": "arrays",
        "samples": 240,
        "test_samples": 60,
        "shape": [1, 8, 8],
        "classes": 3,
    }
    assert len(recorded["sha256"]) == 64


OTHER_DATA = [
    (
        "fewer-samples",
        (X[:200], Y[:200]),
        "the run searched 240 training and 60 test samples of shape (1, 8, 8); this data has 160 training and 40 "
        "test samples of shape (1, 8, 8)",
    ),
    (
        "other-values",
        (X[::-1].copy(), Y),
        "the run searched other samples: the same number (240 training and 60 test samples of shape (1, 8, 8)) "
        "and classes, but other values",
    ),
    (
        "datasets-not-arrays",
        _tensors(),
        "the run searched the caller's arrays; this data is the caller's torch datasets",
    ),
    ("more-classes", (X, Y), None),
]


@pytest.mark.parametrize(("data", "difference"), [c[1:] for c in OTHER_DATA], ids=[c[0] for c in OTHER_DATA])
def test_resume_refuses_other_data(stopped_run: Path, data: Any, difference: str | None) -> None:
    before = {p.name: p.read_bytes() for p in stopped_run.iterdir() if p.is_file()}
    options = {"classes": 5} if difference is None else {}
    with pytest.raises(dasdsl.DasError) as caught:
        dasdsl.resume(stopped_run, data=data, progress=False, **options)
    error = caught.value.errors[0]
    difference = difference or "the run searched data of 3 classes; this data has 5"
    assert error.message == (
        f"{stopped_run} was searched on other data: {difference}; resuming would continue another search"
    )
    assert error.hint == (
        "pass the data the run used, or start a new run with this data; the run directory is left as it is"
    )
    assert {p.name: p.read_bytes() for p in stopped_run.iterdir() if p.is_file()} == before


def test_resume_without_the_callers_data_says_to_pass_it_again(stopped_run: Path, capsys: Any) -> None:
    with pytest.raises(dasdsl.DasError) as caught:
        dasdsl.resume(stopped_run, progress=False)
    error = caught.value.errors[0]
    assert error.message == (
        f"{stopped_run} searched data given from Python (the caller's arrays), which a run directory does not hold"
    )
    assert error.hint == (
        f"pass the same data again: dasdsl.resume({str(stopped_run)!r}, data=...); the command line cannot load "
        "data given from Python"
    )
    assert main(["run", "--resume", str(stopped_run), "--quiet"]) == 1
    assert "searched data given from Python (the caller's arrays)" in capsys.readouterr().err


def test_render_run_on_callers_data_uses_the_recorded_shape(stopped_run: Path, tmp_path: Path) -> None:
    rendered = dasdsl.api.render(run_dir=stopped_run, out=tmp_path / "cells.dot")
    assert rendered.paths and rendered.paths[0].is_file()


def test_old_run_without_fingerprint_resumes_and_old_render_says_what_to_do(stopped_run: Path, tmp_path: Path) -> None:
    import shutil

    old = tmp_path / "old"
    shutil.copytree(stopped_run, old)
    config = json.loads((old / "config.json").read_text())
    del config["data_fingerprint"]  # as written before data fingerprints
    (old / "config.json").write_text(json.dumps(config))
    with pytest.raises(dasdsl.DasError) as caught:
        dasdsl.api.render(run_dir=old, out=tmp_path / "cells.dot")
    assert caught.value.errors[0].message == (
        f"{old} searched data given from Python (arrays), which the run directory does not hold and the command "
        "line cannot load again"
    )
    with pytest.warns(UserWarning, match=r"records no fingerprint of its data \(written before dasdsl recorded one\)"):
        result = dasdsl.resume(old, data=(X[:200], Y[:200]), progress=False)  # unknown data: accepted, as before
    assert result is not None and len(result.history) == 2


def test_resume_with_the_same_data_continues(stopped_run: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(stopped_run, copy)
    result = dasdsl.resume(copy, data=(X, Y), progress=False)
    assert result is not None and [r["epoch"] for r in result.history] == [1, 2]


def test_resume_of_a_source_run_refuses_another_source(tmp_path: Path, pooling: dasdsl.api.Space) -> None:
    space = pooling
    space.search("synthetic", epochs=2, batch=16, out=tmp_path, progress=False, callbacks=[lambda r: False])
    (run,) = tmp_path.iterdir()
    with pytest.raises(dasdsl.DasError) as caught:
        dasdsl.resume(run, data=(X, Y), progress=False)
    assert caught.value.errors[0].message == (
        f"{run} was searched on other data: the run searched the data source 'synthetic'; this data is the "
        "caller's arrays; resuming would continue another search"
    )


# -- data= everywhere, and a result that states its data


def test_data_is_accepted_by_every_verb(tmp_path: Path, pooling: dasdsl.api.Space) -> None:
    space = pooling
    data = (X, Y)
    assert space.graph(data=data).classes == 3
    assert space.supernet(data=data)(torch.tensor(X[:2])).shape == (2, 3)
    assert dasdsl.api.describe(space, data) == ((1, 8, 8), 3)
    assert dasdsl.api.describe(space, _tensors()) == ((1, 8, 8), 3)
    assert space.render(tmp_path / "p.dot", data=data)
    fixed = dasdsl.loads(POOLING.read_text().replace("[max_pool(3), avg_pool(3)]", "max_pool(3)"))
    assert fixed.network(data=data)(torch.tensor(X[:2])).shape == (2, 3)
    path = dasdsl.api.export(fixed, "python", tmp_path / "net.py", data=data)
    assert "Input 1x8x8, 3 classes" in path.read_text()


def test_a_result_states_its_input_shape_and_classes(tmp_path: Path, pooling: dasdsl.api.Space) -> None:
    space = pooling
    result = space.search((X, Y), epochs=1, batch=16, out=tmp_path, progress=False, classes=4)
    assert result is not None
    assert "input image(1, 8, 8) classes 4" in result.space.to_das()
    assert result.space.input_shape == (1, 8, 8) and result.space.input_classes == 4
    assert result.space.network()(torch.tensor(X[:2])).shape == (2, 4)
    out = tmp_path / "result.py"
    assert main(["export", str(result.run_dir / "result.das"), "-o", str(out)]) == 0
    assert "Input 1x8x8, 4 classes" in out.read_text()


def test_input_classes_statement_is_checked() -> None:
    text = POOLING.read_text().replace("input image", "input image(1, 8, 8) classes 3")
    space = dasdsl.loads(text)
    assert space.input_classes == 3
    assert dasdsl.api.describe(space) == ((1, 8, 8), 10)  # the space's own data (digits) is still digits
    with pytest.raises(dasdsl.DasError) as caught:
        space.graph(data="digits")
    assert caught.value.errors[0].message == "the space declares 3 classes, but the data's labels run up to 9"
    with pytest.raises(dasdsl.DasError) as caught:
        dasdsl.loads(POOLING.read_text().replace("input image", "input image classes 1"))
    assert caught.value.errors[0].message == "the class count must be at least 2, got 1"


def test_a_stray_label_outside_the_checked_sample_is_a_clear_error_when_drawn(
    tmp_path: Path, pooling: dasdsl.api.Space
) -> None:
    """With ``classes`` given, a dataset without ``targets`` is checked on a fixed sample only; an item outside
    it whose label is beyond the classes is refused when a batch draws it, not an IndexError in the loss."""
    labels: list[Any] = [i % 3 for i in range(600)]
    sampled = set(_holdout_order(600)[0][_sample_positions(480)].tolist())
    stray = next(i for i in _holdout_order(600)[0].tolist() if i not in sampled)
    labels[stray] = 7
    with pytest.raises(dasdsl.DasError) as caught:
        pooling.search(Labels(labels), classes=3, epochs=1, batch=8, progress=False, out=None)
    error = caught.value.errors[0]
    assert error.message == (
        f"item {stray} of the dataset has label 7, outside the 3 classes 0 .. 2 (only a fixed sample of 256 items "
        "was checked before the run)"
    )
    assert error.hint == "labels must be class indices 0 .. K-1; give classes= to size the classifier"


def test_an_npz_path_is_a_source_in_every_form(tmp_path: Path, pooling: dasdsl.api.Space) -> None:
    np.savez(tmp_path / "d.npz", x=X, y=Y)
    space = pooling
    for given in (tmp_path / "d.npz", str(tmp_path / "d.npz"), f"npz:{tmp_path / 'd.npz'}"):
        assert space.graph(data=given).classes == 3
        result = space.search(given, epochs=1, batch=16, progress=False)
        assert result is not None and result.settings["data"] == f"npz:{tmp_path / 'd.npz'}"


def test_a_training_run_records_its_data_and_resume_checks_it(tmp_path: Path) -> None:
    fixed = tmp_path / "fixed.das"
    fixed.write_text(POOLING.read_text().replace("[max_pool(3), avg_pool(3)]", "max_pool(3)"), encoding="utf-8")
    stop = [lambda record: False]
    trained = dasdsl.train(fixed, (X, Y), epochs=2, batch=16, out=tmp_path / "runs", progress=False, callbacks=stop)
    run = trained.run_dir
    assert run is not None
    config = json.loads((run / "config.json").read_text())
    assert config["data"] == "arrays" and config["data_fingerprint"]["samples"] == 240  # not the space's digits
    with pytest.raises(dasdsl.DasError) as caught:
        dasdsl.api.resume_training(run, progress=False)
    assert caught.value.errors[0].message == (
        f"{run} trained on data given from Python (the caller's arrays), which a run directory does not hold"
    )
    with pytest.raises(dasdsl.DasError) as caught:
        dasdsl.api.resume_training(run, data=(X[:200], Y[:200]), progress=False)
    assert caught.value.errors[0].message == (
        f"{run} was trained on other data: the run trained on 240 training and 60 test samples of shape (1, 8, 8); "
        "this data has 160 training and 40 test samples of shape (1, 8, 8); resuming would continue another training"
    )
    assert len(dasdsl.api.resume_training(run, data=(X, Y), progress=False).history) == 2
