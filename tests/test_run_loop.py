"""The run loop: callbacks (every one sees every epoch; checked before any run directory exists), a stopped search's
result, the time per epoch in log.jsonl, the progress line off a terminal, an extended run's earlier result,
skipping report.html, and the bounded gate plot."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from paths import POOLING, ROOT

import dasdsl
from dasdsl import api
from dasdsl.cli import main
from dasdsl.compiler.lower import Supernet
from dasdsl.errors import DasError
from dasdsl.view import plot
from dasdsl.view.console import ProgressDisplay
from dasdsl.view.report import build_report

FAST = {"batch": 32, "seed": 0, "progress": False}


def only_dir(folder: Path) -> Path:
    (found,) = list(folder.iterdir())
    return found


# ---- callbacks ------------------------------------------------------------------------------------


def test_every_callback_sees_every_epoch_even_after_one_asks_to_stop(pooling: api.Space) -> None:
    seen: dict[str, list[int]] = {"first": [], "second": [], "third": []}

    def first(record: dict[str, Any]) -> bool:
        seen["first"].append(record["epoch"])
        return False  # stop after this epoch

    def second(record: dict[str, Any]) -> None:
        seen["second"].append(record["epoch"])
        record["epoch"] = -1  # a callback that changes its record changes no other callback's

    result = pooling.search(
        "synthetic", epochs=2, callbacks=[first, second, lambda r: seen["third"].append(r["epoch"])], **FAST
    )
    assert seen == {"first": [1], "second": [1], "third": [1]}
    assert result is not None and [r["epoch"] for r in result.history] == [1]


def test_every_training_callback_sees_every_epoch() -> None:
    seen: list[int] = []
    trained = api.train(
        ROOT / "spaces" / "darts_result.das",
        "synthetic",
        epochs=1,
        batch=32,
        progress=False,
        callbacks=[lambda r: False, lambda r: seen.append(r["epoch"])],
    )
    assert seen == [1] and len(trained.history) == 1


@pytest.mark.parametrize(
    ("callbacks", "message"),
    [
        ([5], "callbacks[0] is int 5, not a function"),
        ([print, "stop"], "callbacks[1] is str 'stop', not a function"),
        (print, "callbacks takes a list of functions, got one function"),
        ({"a": print}, "callbacks takes a list of functions, got dict"),
    ],
)
def test_bad_callbacks_are_refused_before_any_run_directory(
    pooling: api.Space, tmp_path: Path, callbacks: Any, message: str
) -> None:
    for call in (
        lambda: pooling.search("synthetic", epochs=1, out=tmp_path / "runs", callbacks=callbacks, **FAST),
        lambda: api.train(ROOT / "spaces/darts_result.das", "synthetic", out=tmp_path / "t", callbacks=callbacks),
    ):
        with pytest.raises(DasError) as caught:
            call()
        assert caught.value.errors[0].message == message
    assert not list(tmp_path.rglob("*"))  # no run directory, not even its folder


# ---- a stopped search -----------------------------------------------------------------------------


def test_a_stopped_in_memory_search_keeps_what_it_trained(pooling: api.Space) -> None:
    result = pooling.search("synthetic", epochs=3, callbacks=[lambda r: r["epoch"] < 2], **FAST)
    assert result is not None and result.stopped and result.run_dir is None
    assert isinstance(result.supernet, Supernet)  # the trained supernet, not thrown away
    assert set(result.gates) == {"pool:x->y"} and [r["epoch"] for r in result.history] == [1, 2]
    assert result.summary["stopped"] == "by a callback after epoch 2 of 3" and result.summary["epochs"] == 2
    assert result.space.to_das().splitlines()[0].startswith("# searched from ")
    assert ", 2 epochs on synthetic" in result.space.to_das().splitlines()[0]
    assert result.network is not None and result.space.count() == 1  # the gates so far, discretized


@pytest.mark.parametrize("epochs", [1, 2])  # stopped on the last epoch too
def test_a_stopped_run_returns_its_directory_and_resumes(pooling: api.Space, tmp_path: Path, epochs: int) -> None:
    stopped = pooling.search("synthetic", epochs=epochs, out=tmp_path, callbacks=[lambda r: False], **FAST)
    assert stopped is not None and stopped.stopped
    run = only_dir(tmp_path)
    assert stopped.run_dir == run and stopped.report is None
    # the directory stays a run to resume: a checkpoint, and no result, summary or report of a stopped search
    assert sorted(p.name for p in run.iterdir()) == [".lock", "checkpoint.pt", "config.json", "log.jsonl", "space.das"]
    resumed = dasdsl.resume(run, progress=False, report=False)
    assert resumed is not None and not resumed.stopped
    assert [r["epoch"] for r in resumed.history] == list(range(1, epochs + 1))
    assert (run / "result.das").read_text(encoding="utf-8") == resumed.space.to_das()


# ---- the time of each epoch -----------------------------------------------------------------------


def test_the_log_records_each_epochs_time_and_the_total(
    pooling: api.Space, tmp_path: Path, run_log: Callable[[Path], list]
) -> None:
    result = pooling.search("synthetic", epochs=3, out=tmp_path, callbacks=[lambda r: r["epoch"] < 2], **FAST)
    assert result is not None
    first = run_log(result.run_dir)
    assert all(r["seconds"] > 0 for r in first)
    assert first[1]["elapsed"] == pytest.approx(first[0]["seconds"] + first[1]["seconds"], abs=2e-3)
    resumed = dasdsl.resume(result.run_dir, progress=False, report=False)  # the total goes on across sessions
    assert resumed is not None
    log = run_log(result.run_dir)
    assert log[:2] == first and log[2]["elapsed"] == pytest.approx(first[1]["elapsed"] + log[2]["seconds"], abs=2e-3)
    assert [r["elapsed"] for r in resumed.history] == [r["elapsed"] for r in log]


def test_a_training_log_records_time(tmp_path: Path) -> None:
    trained = api.train(ROOT / "spaces/darts_result.das", "synthetic", epochs=2, batch=32, progress=False)
    one, two = trained.history
    assert one["seconds"] > 0 and two["elapsed"] == pytest.approx(one["seconds"] + two["seconds"], abs=2e-3)


# ---- the progress line ----------------------------------------------------------------------------


def test_the_epoch_line_is_one_line_when_stderr_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    record = {
        "epoch": 12,
        "train_loss": 1.23456,
        "train_acc": 0.5,
        "valid_loss": 1.5,
        "valid_acc": 0.25,
        "temperature": 1.0,
        "skip_count": 1,
    }
    ProgressDisplay().epoch(record, 100)  # stderr is captured: a file, not a terminal (80 columns for rich)
    err = capsys.readouterr().err
    line = "epoch  12/100  train loss 1.235 acc 0.500  valid loss 1.500 acc 0.250  tau 1  skips 1\n"
    assert len(line) > 80 and err == line


# ---- extending a finished run ---------------------------------------------------------------------


def test_extending_a_finished_run_keeps_its_earlier_result(pooling: api.Space, tmp_path: Path) -> None:
    done = pooling.search("synthetic", epochs=1, out=tmp_path, report=False, **FAST)
    assert done is not None and done.run_dir is not None
    run = done.run_dir
    before = {name: (run / name).read_bytes() for name in ("result.das", "summary.json")}
    extended = dasdsl.resume(run, epochs=2, progress=False, report=False)
    assert extended is not None
    assert (run / "result-epoch1.das").read_bytes() == before["result.das"]
    assert (run / "summary-epoch1.json").read_bytes() == before["summary.json"]
    assert ", 2 epochs on synthetic" in (run / "result.das").read_text(encoding="utf-8").splitlines()[0]
    assert json.loads((run / "summary.json").read_text())["epochs"] == 2


# ---- report.html ----------------------------------------------------------------------------------


def test_report_false_writes_no_report(pooling: api.Space, tmp_path: Path) -> None:
    result = pooling.search("synthetic", epochs=1, out=tmp_path, report=False, **FAST)
    assert result is not None and result.report is None and result.report_error is None
    assert not (result.run_dir / "report.html").exists()


def test_no_report_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", str(POOLING), "--data", "synthetic", "--epochs", "1", "--batch", "32", "--out", str(tmp_path)]
    assert main([*args, "--quiet", "--no-report"]) == 0
    err = capsys.readouterr().err
    run = only_dir(tmp_path)
    assert not (run / "report.html").exists() and "report:" not in err and "no report.html" not in err
    assert main(["run", "--resume", str(run), "--quiet", "--no-report"]) == 0
    assert not (run / "report.html").exists()
    assert main(["report", str(run)]) == 0 and (run / "report.html").is_file()  # written later, on demand


# ---- the gate plot is bounded ---------------------------------------------------------------------


def crafted_log(run: Path, cells: int, edges: int, candidates: int = 3, epochs: int = 3) -> None:
    """A log with cells x edges choice points (of ``candidates`` each), as a crafted log.jsonl might hold."""
    gates = {f"c{c}:e{e}->out": [1.0 / candidates] * candidates for c in range(cells) for e in range(edges)}
    lines = [
        json.dumps(
            {"epoch": i, "train_loss": 1.0, "train_acc": 0.5, "valid_loss": 1.0, "valid_acc": 0.5, "gates": gates}
        )
        for i in range(1, epochs + 1)
    ]
    run.mkdir()
    (run / "log.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (run / "config.json").write_text('{"source": "crafted.das", "search": {}}', encoding="utf-8")


@pytest.mark.parametrize(
    ("cells", "edges", "candidates", "panels", "lines"),
    [
        (1, 20, 3, 20, 3),  # few choice points: one panel each
        (1200, 1, 3, plot.MAX_PANELS, 3),  # a thousand cell types: the first MAX_PANELS
        (3, 400, 3, 3, 3),  # many points in few cell types: one panel per type, its mean
        (1, 1, 500, 1, plot.MAX_LINES),  # a point of 500 candidates: the strongest MAX_LINES
    ],
)
def test_the_gate_plot_draws_a_bounded_number_of_panels(
    tmp_path: Path, cells: int, edges: int, candidates: int, panels: int, lines: int
) -> None:
    run = tmp_path / "crafted"
    crafted_log(run, cells, edges, candidates)
    records = plot.read_log(run)
    drawn, notes = plot.gate_panels(records, {})
    assert len(drawn) == panels and max(len(p.lines) for p in drawn) == lines
    assert bool(notes) == (cells * edges > plot.MAX_PANELS or candidates > plot.MAX_LINES)
    began = time.perf_counter()
    fig = plot.gates_figure(records, {})
    assert len([ax for ax in fig.axes if ax.get_visible()]) == panels
    assert sum(len(ax.lines) for ax in fig.axes) <= panels * plot.MAX_LINES
    assert time.perf_counter() - began < 60  # 1,200 panels took over four minutes
    assert build_report(run).count('role="img"') == 2 + panels + 2 + 1  # the report's charts: the same bound


def test_a_cell_types_panel_is_the_mean_of_its_points(tmp_path: Path) -> None:
    run = tmp_path / "crafted"
    crafted_log(run, 1, plot.MAX_PANELS + 1, candidates=2, epochs=1)
    log = json.loads((run / "log.jsonl").read_text())
    log["gates"]["c0:e0->out"] = [1.0, 0.0]
    (run / "log.jsonl").write_text(json.dumps(log) + "\n")
    (panel,), notes = plot.gate_panels(plot.read_log(run), {})
    n = plot.MAX_PANELS + 1
    assert panel.title == f"cell c0: mean of {n} choice points"
    assert dict(panel.lines)["candidate 0"] == pytest.approx(((1.0 + 0.5 * (n - 1)) / n,))
    assert notes == [f"{n} choice points: one panel per cell type, each candidate's mean weight over its points"]


# ---- warm-up: weights only, then the architecture ---------------------------------------------------------


def test_a_warmup_trains_only_the_weights_first(pooling: api.Space) -> None:
    # stopped after 3 epochs of 4, so that the supernet (and its architecture parameters) can be read
    stop = [lambda r: r["epoch"] < 3]
    warm = pooling.search("synthetic", epochs=4, warmup=2, callbacks=stop, **FAST)
    cold = pooling.search("synthetic", epochs=4, callbacks=stop, **FAST)
    assert warm.settings["warmup"] == 2 and cold.settings["warmup"] == 0
    gates = [r["gates"]["pool:x->y"] for r in warm.history]
    assert gates[0] == gates[1] != gates[2]  # the gates stand still for two epochs, then move
    assert warm.history[0]["train_loss"] != warm.history[1]["train_loss"]  # while the weights train
    cold_gates = [r["gates"]["pool:x->y"] for r in cold.history]
    assert cold_gates[0] != cold_gates[1]  # without a warm-up they move from the first epoch
    # the first step that moved them is the architecture's first: after it, both searches' parameters differ
    assert not torch.equal(warm.supernet.alphas[0].detach(), cold.supernet.alphas[0].detach())


def test_a_warmup_as_long_as_the_search_is_refused(pooling: api.Space, tmp_path: Path) -> None:
    with pytest.raises(DasError) as caught:
        pooling.search("synthetic", epochs=3, warmup=3, out=tmp_path, **FAST)
    error = caught.value.errors[0]
    assert error.message == "warmup 3 is not below epochs 3: the architecture parameters would never move"
    assert error.hint == "warm up fewer epochs than the search's 3 (PC-DARTS: 15 of 50), or search longer"
    assert list(tmp_path.iterdir()) == []  # refused before any run directory
    # a flag is read the same way, and --epochs with it
    assert main(["run", str(POOLING), "--epochs", "2", "--warmup", "2", "--out", str(tmp_path), "--quiet"]) == 1
