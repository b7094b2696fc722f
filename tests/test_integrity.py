"""Nothing already written is lost or silently changed: edited inputs, concurrent writers, SIGTERM,
and validation before a run directory exists."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from paths import POOLING, ROOT

import dasdsl
from dasdsl.cli import main
from dasdsl.engine import rundir

ENV = {k: v for k, v in os.environ.items() if k != "DASDSL_DEBUG"} | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


@pytest.fixture
def stopped_run(tmp_path: Path, pooling: dasdsl.api.Space) -> Path:
    """A 3-epoch search on synthetic data stopped by a callback after its first epoch: a run to resume."""
    result = pooling.search(
        "synthetic", epochs=3, batch=16, seed=0, out=tmp_path / "runs", progress=False, callbacks=[lambda r: False]
    )
    assert result is not None and result.stopped  # a result marked stopped; the run directory resumes
    (run,) = (tmp_path / "runs").iterdir()
    assert (run / "checkpoint.pt").is_file() and not (run / "result.das").exists()
    return run


def _files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run.iterdir())}


def test_an_edit_that_still_fits_the_checkpoint_is_refused(
    stopped_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Swapping the two candidates keeps every tensor's shape: without the space's hash the resume would
    silently continue a different search and write its result under the old header."""
    space = stopped_run / "space.das"
    text = space.read_text(encoding="utf-8")
    assert "[max_pool(3), avg_pool(3)]" in text
    space.write_text(text.replace("[max_pool(3), avg_pool(3)]", "[avg_pool(3), max_pool(3)]"), encoding="utf-8")
    before = _files(stopped_run)
    assert main(["run", "--resume", str(stopped_run), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"space.das changed since the checkpoint in {stopped_run} was written" in err
    assert "Traceback" not in err
    assert _files(stopped_run) == before  # nothing rewritten, trimmed or deleted


def test_edited_settings_are_refused(stopped_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = json.loads((stopped_run / "config.json").read_text())
    config["search"]["w_lr"] = 0.5
    (stopped_run / "config.json").write_text(json.dumps(config))
    assert main(["run", "--resume", str(stopped_run), "--quiet"]) == 1
    assert "the settings in config.json changed since the checkpoint" in capsys.readouterr().err


def test_an_unedited_run_resumes_to_the_uninterrupted_result(
    stopped_run: Path, tmp_path: Path, pooling: dasdsl.api.Space
) -> None:
    resumed = dasdsl.resume(stopped_run, progress=False)
    full = pooling.search("synthetic", epochs=3, batch=16, seed=0, out=tmp_path / "full", progress=False)
    assert resumed is not None and full is not None
    assert resumed.space.to_das() == full.space.to_das()


def test_a_second_writer_is_refused(stopped_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """While one process holds the run directory (a search or resume going on), another resume is refused."""
    before = _files(stopped_run)
    with rundir.locked(stopped_run):
        assert main(["run", "--resume", str(stopped_run), "--quiet"]) == 1
        err = capsys.readouterr().err
        assert f"{stopped_run} is in use by another dasdsl process" in err and "Traceback" not in err
    assert _files(stopped_run) == before
    assert main(["run", "--resume", str(stopped_run), "--quiet"]) == 0  # free again: it resumes


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch", "100000"], "batch 100000 is larger than the data split (96 / 96)"),
        (["--batch", "1"], "batch 1: batch normalisation needs at least 2 samples per batch"),
    ],
)
def test_a_run_that_cannot_train_leaves_no_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = main(["run", str(POOLING), "--data", "synthetic", "--epochs", "1", *args, "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_sigterm_is_handled_like_ctrl_c(tmp_path: Path) -> None:
    """A killed run (SIGTERM, as a scheduler sends) says so in one line and keeps its last checkpoint."""
    args = ["run", str(POOLING), "--data", "synthetic", "--epochs", "400", "--batch", "16"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dasdsl", *args, "--out", str(tmp_path / "runs")],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    ckpt = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = list((tmp_path / "runs").glob("*/checkpoint.pt")) if (tmp_path / "runs").exists() else []
        if found:
            ckpt = found[0]
            break
        time.sleep(0.05)
    assert ckpt is not None, "no checkpoint appeared"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "dasdsl: interrupted; what was written so far is kept" in err and "Traceback" not in err
    state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] >= 1
    assert not (ckpt.parent / "result.das").exists()


# ---- outputs are checked before any work -------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            ["run", str(POOLING), "--epochs", "1", "--out", "{file}"],
            "is a file; the folder for run directories must be",
        ),
        (["train", str(ROOT / "spaces/darts_result.das"), "--out", "{file}"], "is a file; the folder for run"),
        (["render", str(POOLING), "-o", "{folder}"], "is a folder; the picture needs a file name"),
        (["render", str(POOLING), "-o", "{missing}/p.svg"], "cannot write the picture"),
        (["compile", str(POOLING), "--graph", "{missing}/g.json"], "cannot write the graph file"),
        (["profile", str(POOLING), "-o", "{folder}"], "is a folder; the latency table needs a file name"),
        (["report", "{folder}", "-o", "{missing}/r.html"], "cannot write the report"),
        (["plot", "{folder}", "-o", "{file}"], "is a file; the folder for the plots must be a folder"),
    ],
)
def test_bad_output_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], message: str) -> None:
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder").mkdir()
    names = {"file": tmp_path / "a_file", "folder": tmp_path / "a_folder", "missing": tmp_path / "no" / "such"}
    args = [a.format(**names) for a in command]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(args) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing made, nothing timed and then lost


# ---- data ----------------------------------------------------------------------------------------


def _npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def test_a_bare_npz_path_is_the_npz_source(tmp_path: Path, pooling: dasdsl.api.Space) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 1, 8, 8)).astype(np.float32), np.arange(40) % 3
    path = _npz(tmp_path / "arrays.npz", x=x, y=y)
    assert pooling.graph(data=str(path)).classes == 3


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"y": np.zeros(40, dtype=np.int64)}, "every training label is 0: one class, nothing to tell apart"),
        ({"x": np.ones((40, 1, 8, 8), dtype=np.complex64)}, "inputs are complex64, not real numbers"),
        ({"y": np.arange(40) + 0.5}, "npz: labels y have dtype float64; expected integers"),
    ],
)
def test_bad_arrays(tmp_path: Path, arrays: dict[str, np.ndarray], message: str, pooling: dasdsl.api.Space) -> None:
    base = {"x": np.random.default_rng(0).normal(size=(40, 1, 8, 8)).astype(np.float32), "y": np.arange(40) % 3}
    path = _npz(tmp_path / "bad.npz", **(base | arrays))
    with pytest.raises(dasdsl.DasError, match=message):
        pooling.graph(data=f"npz:{path}")


@pytest.mark.slow
def test_a_missing_class_is_noted(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(40, 1, 8, 8)).astype(np.float32)
    path = _npz(tmp_path / "gap.npz", x=x, y=np.where(np.arange(40) % 2 == 0, 0, 2))
    done = subprocess.run(
        [sys.executable, "-m", "dasdsl", "compile", str(POOLING), "--data", str(path)],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "dasdsl: warning: data 'npz': labels run up to 2 but class 1 never occurs" in done.stderr


# ---- damaged run files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    ['{"epoch": "x", "gates": "y"}', '{"epoch": 1, "gates": {"pool:x->y": [null, 2]}}', "[]", "garbage"],
)
@pytest.mark.parametrize("command", ["plot", "render", "resume"])
def test_a_damaged_log_is_a_clear_error(
    stopped_run: Path, capsys: pytest.CaptureFixture[str], line: str, command: str
) -> None:
    log = stopped_run / "log.jsonl"
    log.write_text(line + "\n" + log.read_text(encoding="utf-8"), encoding="utf-8")
    args = {
        "plot": ["plot", str(stopped_run)],
        "render": ["render", "--run", str(stopped_run), "-o", str(stopped_run.parent / "x.svg")],
        "resume": ["run", "--resume", str(stopped_run), "--quiet"],
    }[command]
    before = _files(stopped_run)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"{log} is damaged: line 1 is not an epoch record" in err and "internal error" not in err
    assert _files(stopped_run) == before


# ---- extending a run -----------------------------------------------------------------------------


def test_a_finished_run_is_extended(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pooling: dasdsl.api.Space, run_log: Callable[[Path], list]
) -> None:
    """--resume RUN_DIR --epochs N runs the epochs up to N with the schedules re-planned for N, rewrites the
    result and records the new count; fewer epochs, or any other setting, is refused with the reason."""
    space = pooling
    done = space.search("synthetic", epochs=2, batch=16, seed=0, out=tmp_path / "runs", progress=False)
    assert done is not None and done.run_dir is not None
    run = done.run_dir
    assert main(["run", "--resume", str(run), "--epochs", "1", "--quiet"]) == 1
    assert "was searched for 2 epochs; resuming it with 1 epochs can only extend it" in capsys.readouterr().err
    assert main(["run", "--resume", str(run), "--epochs", "4", "--batch", "8", "--quiet"]) == 1
    assert "(only --epochs extends it); drop --batch" in capsys.readouterr().err
    assert main(["run", "--resume", str(run), "--epochs", "4", "--quiet"]) == 0
    log = run_log(run)
    assert [r["epoch"] for r in log] == [1, 2, 3, 4]
    assert json.loads((run / "config.json").read_text())["search"]["epochs"] == 4
    assert "4 epochs on synthetic" in (run / "result.das").read_text().splitlines()[0]
    assert torch.load(run / "checkpoint.pt", weights_only=True)["epoch"] == 4
    # epoch 3 starts where a 4-epoch cosine schedule has it: lr_min + (lr - lr_min) (1 + cos(pi 2/4)) / 2
    assert log[2]["lr"] == pytest.approx(0.001 + (0.025 - 0.001) * 0.5)
    assert main(["run", "--resume", str(run), "--quiet"]) == 0  # and resumes as a 4-epoch run from now on


# ---- training runs: checkpoints and resume -------------------------------------------------------


def test_a_stopped_training_resumes_to_the_uninterrupted_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = ROOT / "spaces" / "darts_result.das"
    space = dasdsl.load(result)
    common = {"epochs": 3, "batch": 32, "lr": 0.05, "seed": 0, "progress": False}
    full = dasdsl.train(space, "synthetic", out=tmp_path / "full", **common)
    stopped = dasdsl.train(space, "synthetic", out=tmp_path / "part", callbacks=[lambda r: False], **common)
    assert [r["epoch"] for r in stopped.history] == [1]
    run = stopped.run_dir
    assert run is not None and (run / "model.pt").is_file() and (run / "checkpoint.pt").is_file()
    assert main(["train", "--resume", str(run), "--epochs", "5"]) == 1  # the settings it started with
    assert "drop --epochs" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert "test accuracy:" in capsys.readouterr().out
    got = torch.load(run / "model.pt", weights_only=True)
    want = torch.load(full.run_dir / "model.pt", weights_only=True)
    assert {k: v for k, v in got.items() if k != "model"} == {k: v for k, v in want.items() if k != "model"}
    got, want = got["model"], want["model"]
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got)
    assert rundir.untimed(rundir.read_records(run / "log.jsonl")) == rundir.untimed(
        rundir.read_records(full.run_dir / "log.jsonl")
    )  # the same records but for their times


def test_an_absurd_width_says_what_it_would_cost(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "wide.das"
    path.write_text(POOLING.read_text().replace("conv_bn(3, out = 8)", "conv_bn(3, out = 1000000000)"))
    assert main(["compile", str(path), "--data", "digits"]) == 1
    err = capsys.readouterr().err
    assert "'conv_bn' from 1 to 1000000000 channels would need about 33.5 GiB of weights" in err
    assert f"{path}:" in err and "^^^" in err and "Traceback" not in err


def test_an_npy_file_given_as_npz(tmp_path: Path, pooling: dasdsl.api.Space) -> None:
    np.save(tmp_path / "a.npy", np.zeros((8, 1, 8, 8)))
    with pytest.raises(dasdsl.DasError, match=r"holds a single array \(a .npy file\), not named arrays x and y"):
        pooling.graph(data=f"npz:{tmp_path / 'a.npy'}")


def test_a_kill_during_a_checkpoint_write_is_a_clean_interrupt(tmp_path: Path) -> None:
    """SIGTERM (handled as Ctrl-C) while torch.save writes used to surface as a RuntimeError of its C++ writer
    ("unexpected pos"), an internal error; the write now finishes and the interrupt follows it."""
    import os
    import signal
    import threading
    import time

    from dasdsl.engine import rundir

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    outcomes = []
    try:
        for _ in range(10):
            threading.Thread(target=lambda: (time.sleep(0.005), os.kill(os.getpid(), signal.SIGTERM))).start()
            try:
                rundir.save_atomic({"x": torch.zeros(3_000_000)}, tmp_path / "checkpoint.pt")
                time.sleep(0.05)
                outcomes.append("late")
            except KeyboardInterrupt:
                outcomes.append("interrupt")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert "interrupt" in outcomes and set(outcomes) <= {"interrupt", "late"}  # never a RuntimeError
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["x"].shape == (3_000_000,)


@pytest.mark.parametrize("block", ["data digits", 'data npz("{npz}")'])
def test_a_training_whose_data_came_from_the_search_block_resumes(tmp_path: Path, block: str) -> None:
    """config.json records the data as text that loads again (it recorded the search block value's repr,
    "Symbol(name='digits')", which resume could not load), and an old run with that repr resumes too."""
    npz = tmp_path / "data.npz"
    rng = np.random.default_rng(0)
    np.savez(
        npz,
        x=rng.normal(size=(80, 1, 8, 8)).astype(np.float32),
        y=rng.integers(0, 3, 80),
        x_test=rng.normal(size=(20, 1, 8, 8)).astype(np.float32),
        y_test=rng.integers(0, 3, 20),
    )
    text = (ROOT / "spaces" / "pooling.das").read_text(encoding="utf-8")
    fixed = re.sub(r"search \{.*?\}", "search {\n    " + block.format(npz=npz) + "\n}", text, flags=re.S)
    fixed = fixed.replace("[max_pool(3), avg_pool(3)]", "max_pool(3)")
    space = dasdsl.loads(fixed, "fixed.das")
    assert space.count() == 1
    stopped = dasdsl.train(
        space, out=tmp_path / "runs", epochs=2, batch=16, progress=False, callbacks=[lambda r: False]
    )
    run = stopped.run_dir
    recorded = json.loads((run / "config.json").read_text())["data"]
    assert recorded == ("digits" if block == "data digits" else f"npz:{npz}")
    resumed = dasdsl.api.resume_training(run, progress=False)
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    if block == "data digits":  # a run directory written before the fix
        config = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps({**config, "data": "Symbol(name='digits')"}))
        assert dasdsl.api.resume_training(run, progress=False).test_acc == resumed.test_acc
