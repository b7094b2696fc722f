"""Multi-process search: a real 2-process gloo run on CPU against a single-process run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

SPACE = """space ddp
input vector
cell c {
    input x
    node h = x ~ [linear(8) then tanh, linear(8) then gelu]
    node o = (x, h) ~ [linear(8) then tanh, linear(8) then gelu]
    output o
}
network {
    cells c
    head  linear(classes)
}
"""

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")


def _cmd(tmp_path: Path, out: str, epochs: int, batch: int, *extra: str) -> list[str]:
    """``python -m dasdsl run`` of the test space on synthetic data, quiet, into ``tmp_path / out``."""
    space = tmp_path / "ddp.das"
    space.write_text(SPACE)
    return [
        sys.executable,
        "-m",
        "dasdsl",
        "run",
        str(space),
        "--data",
        "synthetic",
        "--epochs",
        str(epochs),
        "--batch",
        str(batch),
        "--out",
        str(tmp_path / out),
        "--quiet",
        *extra,
    ]


def _run(tmp_path: Path, tag: str, *extra: str, epochs: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DASDSL_TRACE_ARCH": str(tmp_path / tag)}
    cmd = _cmd(tmp_path, f"runs-{tag}", epochs, 16, "--seed", "3", "--hypergradient", "second_order", *extra)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def _trace(path: Path) -> list[np.ndarray]:
    return [np.concatenate([np.asarray(a) for a in json.loads(line)]) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_two_gloo_processes_match_each_other_and_one_process(tmp_path: Path) -> None:
    two = _run(tmp_path, "two", "--nproc", "2")
    assert two.returncode == 0, two.stderr
    one = _run(tmp_path, "one")
    assert one.returncode == 0, one.stderr
    rank0, rank1 = _trace(tmp_path / "two.rank0.jsonl"), _trace(tmp_path / "two.rank1.jsonl")
    single = _trace(tmp_path / "one.rank0.jsonl")
    assert len(rank0) == len(rank1) == len(single) > 0
    for a, b, c in zip(rank0, rank1, single):
        assert np.array_equal(a, b)  # identical architecture parameters on every process after every step
        assert np.allclose(a, c, atol=1e-5, rtol=0)  # and the same as one process with the same global batch
    (run_two,) = (tmp_path / "runs-two").iterdir()
    (run_one,) = (tmp_path / "runs-one").iterdir()
    assert (run_two / "result.das").read_text() == (run_one / "result.das").read_text()
    assert json.loads((run_two / "config.json").read_text())["processes"] == 2


@pytest.mark.slow
def test_batch_must_split_over_the_processes(tmp_path: Path) -> None:
    out = subprocess.run(
        _cmd(tmp_path, "runs", 1, 15, "--nproc", "2"),
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1
    assert "batch 15 does not split evenly over 2 processes" in out.stderr


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the worker processes")
def test_a_killed_worker_ends_the_job_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    cmd = _cmd(tmp_path, "runs", 400, 16, "--nproc", "2")
    proc = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    checkpoint = None
    while time.time() < deadline and checkpoint is None:
        found = list((tmp_path / "runs").glob("*/checkpoint.pt")) if (tmp_path / "runs").exists() else []
        checkpoint = found[0] if found else None
        time.sleep(0.2)
    assert checkpoint is not None, "no checkpoint within 120 s"
    workers = [w for launcher in _children(proc.pid) for w in _children(launcher)]
    assert workers, "no worker processes found"
    os.kill(workers[-1], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "a search process failed" in err and "resume with 'dasdsl run --resume RUN_DIR'" in err
    state = torch.load(checkpoint, weights_only=True)
    assert state["epoch"] >= 1
