"""Nothing already written is lost or silently changed: edited inputs, concurrent writers, SIGTERM,
and validation before a run directory exists."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import dasdsl
from dasdsl.cli import main
from dasdsl.search import rundir

ROOT = Path(__file__).resolve().parent.parent
POOLING = ROOT / "spaces" / "pooling.das"
ENV = {k: v for k, v in os.environ.items() if k != "DASDSL_DEBUG"} | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


@pytest.fixture
def stopped_run(tmp_path: Path) -> Path:
    """A 3-epoch search on synthetic data stopped by a callback after its first epoch: a run to resume."""
    result = dasdsl.load(POOLING).search(
        "synthetic", epochs=3, batch=16, seed=0, out=tmp_path / "runs", progress=False, callbacks=[lambda r: False]
    )
    assert result is None
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


def test_an_unedited_run_resumes_to_the_uninterrupted_result(stopped_run: Path, tmp_path: Path) -> None:
    resumed = dasdsl.resume(stopped_run, progress=False)
    full = dasdsl.load(POOLING).search("synthetic", epochs=3, batch=16, seed=0, out=tmp_path / "full", progress=False)
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
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "dasdsl: interrupted; what was written so far is kept" in err and "Traceback" not in err
    state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] >= 1
    assert not (ckpt.parent / "result.das").exists()
