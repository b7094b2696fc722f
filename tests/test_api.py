"""The public Python API: ``dasdsl.load(...).search(...)``, results, resume, train, data of the caller's own.

Small and fast: the pooling space (one choice point) and the small NAS-Bench-201 fixture, one to three
epochs on small data, no progress display.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from paths import POOLING as POOLING_PATH

import dasdsl
import dasdsl.api
from dasdsl.cli import main
from dasdsl.engine.data import synthetic
from dasdsl.engine.rundir import untimed
from dasdsl.lang.settings import SEARCH, SearchConfig

POOLING = str(POOLING_PATH)


def only_dir(folder: Path) -> Path:
    dirs = [p for p in folder.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


# -- where a search writes


def test_out_none_writes_nothing(
    pooling: dasdsl.api.Space, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digits: tuple
) -> None:
    monkeypatch.chdir(tmp_path)
    result = pooling.search(digits[:2], epochs=1, batch=32, seed=0, progress=False)
    assert result is not None
    assert result.run_dir is None and result.report is None
    assert list(tmp_path.iterdir()) == []
    assert len(result.history) == 1 and result.history[0]["epoch"] == 1
    assert result.space.count() == 1 and result.top == (result.space,)


def test_out_folder_holds_what_the_result_says(
    pooling: dasdsl.api.Space, tmp_path: Path, digits: tuple, run_log: Callable[[Path], list]
) -> None:
    result = pooling.search(digits, epochs=2, batch=32, seed=0, out=tmp_path, progress=False)
    assert result is not None
    run = only_dir(tmp_path)
    assert result.run_dir == run
    assert (run / "result.das").read_text(encoding="utf-8") == result.space.to_das()
    assert run_log(run) == list(result.history)
    assert [r["epoch"] for r in result.history] == [1, 2]
    assert json.loads((run / "summary.json").read_text(encoding="utf-8")) == result.summary
    recorded = SearchConfig.from_json(json.loads((run / "config.json").read_text(encoding="utf-8"))["search"])
    # the same settings by the table's names (the caller's arrays are no source the settings could name)
    assert recorded == SEARCH.resolve(SEARCH.entries_of({"data": "arrays", **result.settings}))
    assert result.gates == result.history[-1]["gates"]


def test_api_and_cli_write_the_same_result(
    pooling: dasdsl.api.Space, tmp_path: Path, run_log: Callable[[Path], list]
) -> None:
    args = ["run", POOLING, "--data", "synthetic", "--epochs", "2", "--seed", "0", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "cli")]) == 0
    result = pooling.search("synthetic", epochs=2, seed=0, out=tmp_path / "api", progress=False)
    assert result is not None
    cli_run, api_run = only_dir(tmp_path / "cli"), only_dir(tmp_path / "api")
    assert (api_run / "result.das").read_bytes() == (cli_run / "result.das").read_bytes()
    assert untimed(run_log(api_run)) == untimed(run_log(cli_run))  # the same records but for their times
    assert (api_run / "config.json").read_bytes() == (cli_run / "config.json").read_bytes()


# -- settings by name


def test_settings_by_name_reach_the_run(pooling: dasdsl.api.Space) -> None:
    result = pooling.search(
        "synthetic",
        epochs=2,
        seed=2,
        progress=False,
        gate="sigmoid(temperature = anneal(2.0 -> 0.5))",
        batch=32,
        penalty=["l1(0.005)"],
        arch="adam(lr = 0.01)",
    )
    assert result is not None
    s = result.settings
    assert (s["batch"], s["seed"], s["epochs"], s["data"]) == (32, 2, 2, "synthetic")
    assert s["gate"] == "sigmoid(temperature = anneal(2.0 -> 0.5, exponential), hard = 0)"
    assert s["arch"] == "adam(lr = 0.01, betas = (0.5, 0.999), weight_decay = 0.001)"
    assert s["penalty"] == ["l1(0.005)"]
    assert [r["temperature"] for r in result.history] == pytest.approx([2.0, 0.5])  # the annealing, epoch by epoch
    (gates,) = result.gates.values()
    assert sum(gates) != pytest.approx(1.0, abs=1e-3)  # sigmoid gates: independent, not a distribution


def test_an_empty_list_drops_the_spaces_penalties() -> None:
    text = Path(POOLING).read_text(encoding="utf-8").replace("search {", "search {\n    penalty l1(0.01), entropy(1)")
    space = dasdsl.loads(text)
    kept = space.search("synthetic", epochs=1, progress=False)
    dropped = space.search("synthetic", epochs=1, progress=False, penalty=[])
    assert kept is not None and dropped is not None
    assert kept.settings["penalty"] == ["l1(0.01)", "entropy(1.0)"]
    assert dropped.settings["penalty"] == []


def test_unknown_setting_name_is_refused_with_a_hint(pooling: dasdsl.api.Space, tmp_path: Path) -> None:
    with pytest.raises(dasdsl.DasError, match=r"dasdsl.search\(\) got an unknown keyword 'gat'") as info:
        pooling.search("synthetic", epochs=1, out=tmp_path, progress=False, gat="softmax")
    assert "did you mean gate?" in str(info.value)
    with pytest.raises(dasdsl.DasError, match=r"unknown gate softmx") as info:
        pooling.search("synthetic", epochs=1, out=tmp_path, progress=False, gate="softmx")
    assert "did you mean softmax?" in str(info.value)
    with pytest.raises(dasdsl.DasError, match=r"sgd lr must be a positive number"):
        pooling.search("synthetic", epochs=1, out=tmp_path, progress=False, weights="sgd(lr = -1)")
    assert list(tmp_path.iterdir()) == []  # settings are checked before a run directory is made


# -- the caller's own data


def test_arrays_x_y(pooling: dasdsl.api.Space, digits: tuple) -> None:
    x, y = digits[0], digits[1]
    assert x.shape == (640, 1, 8, 8) and x.dtype == np.float32 and np.issubdtype(y.dtype, np.integer)
    result = pooling.search((x, y), epochs=1, batch=32, seed=0, progress=False)
    assert result is not None
    assert "data" not in result.settings  # the caller's data is no source a search could name: given again
    text = result.space.to_das()
    assert "epochs on arrays" in text.splitlines()[0]  # the header says what the data was
    assert "data digits" not in text and "data arrays" not in text  # and the block names no source it did not use
    assert dasdsl.loads(text).search_block.get("data") is None


def test_arrays_with_a_test_part(pooling: dasdsl.api.Space, digits: tuple) -> None:
    x_test, y_test = digits[2:]
    result = pooling.search(digits, epochs=1, batch=32, seed=0, progress=False)
    assert result is not None
    # the discretized network's test accuracy is a count over exactly the given test samples
    correct = result.summary["discretized_test_acc"] * len(x_test)
    assert correct == pytest.approx(round(correct), abs=1e-6)
    result.network.eval()
    with torch.no_grad():
        predicted = result.network(torch.from_numpy(x_test)).argmax(1).numpy()
    assert result.summary["discretized_test_acc"] == pytest.approx(float((predicted == y_test).mean()))
    # training the result from scratch uses the search's data by default, with the same test part
    trained = result.train(epochs=1, batch=32, progress=False)
    assert trained.test_samples == len(x_test)
    assert len(trained.history) == 1 and 0.0 <= trained.test_acc <= 1.0


def test_float_labels_that_are_whole_numbers(pooling: dasdsl.api.Space, digits: tuple) -> None:
    x, y, x_test, y_test = digits
    as_int = pooling.search(digits, epochs=1, batch=32, seed=0, progress=False)
    float_labels = (x, y.astype(np.float64), x_test, y_test.astype(np.float32))
    as_float = pooling.search(float_labels, epochs=1, batch=32, seed=0, progress=False)
    assert as_int is not None and as_float is not None
    assert as_float.space.to_das() == as_int.space.to_das()
    with pytest.raises(dasdsl.DasError, match=r"labels must be integer class indices"):
        pooling.search((x, y + 0.5), epochs=1, progress=False)


class StreamedDigits(torch.utils.data.Dataset):
    """A dataset that only answers one sample at a time, and remembers what was asked."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self._x, self._y = x, y
        self.targets = [int(v) for v in y]  # labels without reading samples (as torchvision's datasets)
        self.asked: list[Any] = []

    def __len__(self) -> int:
        return len(self._x)

    def __getitem__(self, index: Any) -> tuple[torch.Tensor, int]:
        self.asked.append(index)
        return torch.from_numpy(self._x[index]), int(self._y[index])

    def __iter__(self) -> Any:
        raise AssertionError("a search must read samples by index, not iterate over the dataset")

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a search must not copy the dataset into an array")


def test_torch_datasets_stream_and_match_arrays(pooling: dasdsl.api.Space, digits: tuple) -> None:
    x, y, x_test, y_test = digits
    train, test = StreamedDigits(x, y), StreamedDigits(x_test, y_test)
    streamed = pooling.search((train, test), epochs=1, batch=32, seed=0, progress=False)
    assert streamed is not None
    # every sample was read through __getitem__, one index at a time
    assert all(type(i) is int for i in train.asked + test.asked)
    assert set(train.asked) == set(range(len(x))) and set(test.asked) == set(range(len(x_test)))
    # training the result from scratch reads the same datasets again, with the given test part
    assert streamed.train(epochs=1, batch=32, progress=False).test_samples == len(x_test)
    # the same data as arrays: the same seeded cut of the training data, the same batches, the same result;
    # only the data's name differs (the dataset's class name, where arrays are called "arrays")
    arrays = pooling.search(digits, epochs=1, batch=32, seed=0, progress=False)
    assert arrays is not None
    assert "data" not in streamed.settings
    assert streamed.space.to_das() == arrays.space.to_das().replace("arrays", "StreamedDigits")
    assert untimed(streamed.history) == untimed(arrays.history)
    assert streamed.summary == arrays.summary


# -- callbacks, stopping and resuming


def test_callbacks_see_every_epoch(pooling: dasdsl.api.Space) -> None:
    seen: list[dict[str, Any]] = []
    result = pooling.search("synthetic", epochs=2, batch=32, seed=0, progress=False, callbacks=[seen.append])
    assert result is not None
    assert [r["epoch"] for r in seen] == [1, 2]
    assert seen == list(result.history)


def test_stopped_search_resumes_to_the_uninterrupted_result(
    pooling: dasdsl.api.Space, tmp_path: Path, run_log: Callable[[Path], list]
) -> None:
    settings = {"epochs": 3, "batch": 32, "seed": 1, "progress": False}
    full = pooling.search("synthetic", **settings)
    assert full is not None

    def stop_after_first(record: dict[str, Any]) -> bool:
        return record["epoch"] < 1

    stopped = pooling.search("synthetic", out=tmp_path, callbacks=[stop_after_first], **settings)
    assert stopped is not None and stopped.stopped and stopped.run_dir == only_dir(tmp_path)
    run = only_dir(tmp_path)
    assert (run / "checkpoint.pt").is_file() and not (run / "result.das").exists()
    assert [r["epoch"] for r in run_log(run)] == [1]

    resumed = dasdsl.resume(run, progress=False)  # the top-level name the docs give
    assert resumed is not None and resumed.run_dir == run
    assert resumed.space.to_das() == full.space.to_das()
    assert (run / "result.das").read_text(encoding="utf-8") == full.space.to_das()
    assert untimed(resumed.history) == untimed(full.history)
    assert resumed.summary == full.summary


# -- training


def test_result_train_trains_the_derived_network(pooling: dasdsl.api.Space) -> None:
    result = pooling.search("synthetic", epochs=1, batch=32, seed=0, progress=False)
    assert result is not None
    trained = result.train(epochs=1, batch=32, progress=False)
    assert len(trained.history) == 1 and trained.history[0]["epoch"] == 1
    assert trained.test_samples == len(synthetic("image")[2])  # the synthetic source's test part
    assert trained.run_dir is None and 0.0 <= trained.test_acc <= 1.0
    assert sum(p.numel() for p in trained.network.parameters()) == sum(
        p.numel() for p in result.space.network((1, 8, 8), 4).parameters()
    )


def test_train_refuses_a_space_with_choices(pooling: dasdsl.api.Space) -> None:
    with pytest.raises(dasdsl.DasError, match=r"choice point"):
        dasdsl.api.train(pooling, "synthetic", epochs=1, progress=False)


# -- inspecting a space


def test_render_and_count(pooling: dasdsl.api.Space, load_space: Callable[[str], dasdsl.api.Space]) -> None:
    graph = pooling.render(input_shape=(1, 8, 8), classes=10)
    assert type(graph).__name__ == "Digraph"
    assert re.search(r"\bpool\b", graph.source)
    assert "max_pool(3)" in graph.source and "avg_pool(3)" in graph.source
    assert load_space("nb201").count() == 15625


@pytest.mark.slow
def test_same_seed_same_gates(small_nb201: dasdsl.api.Space) -> None:
    space = small_nb201
    first = dasdsl.api.search(space, "synthetic", epochs=1, batch=32, seed=5, progress=False)
    second = dasdsl.api.search(space, "synthetic", epochs=1, batch=32, seed=5, progress=False)
    assert first is not None and second is not None
    assert first.gates == second.gates
    assert first.space.to_das() == second.space.to_das()


PLUGGED = """space plugged
input image

cell c(w) {
    input x
    node y = x ~ [skip, test_scale]
    output y
}

network {
    stem  conv_bn(3, out = 4)
    cells c(4)
    head  global_avg_pool then linear(classes)
}
"""


def test_plugins_given_to_search_are_recorded(tmp_path: Path, plugin: str) -> None:
    space = dasdsl.loads(PLUGGED, "plugged.das", plugins=[plugin])
    result = dasdsl.api.search(space, "synthetic", epochs=1, batch=16, out=tmp_path, progress=False, plugins=[plugin])
    assert result is not None and result.run_dir is not None
    assert json.loads((result.run_dir / "config.json").read_text())["plugins"] == ["tests.plugins.good_ops"]


def test_space_search_records_the_plugins_the_space_was_loaded_with(tmp_path: Path, plugin: str) -> None:
    space = dasdsl.loads(PLUGGED, "plugged.das", plugins=[plugin])
    result = space.search("synthetic", epochs=1, batch=16, out=tmp_path, progress=False)
    assert result is not None and result.run_dir is not None
    assert json.loads((result.run_dir / "config.json").read_text())["plugins"] == ["tests.plugins.good_ops"]
