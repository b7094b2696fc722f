"""Searches end to end: run directories, determinism, kill and resume, bad input, `dasdsl train`.

Real processes on real (tiny) data, no mocks. What a run writes, its determinism and resuming a finished
run go through the Python API (``dasdsl.api``), which the CLI calls; the CLI keeps its own end-to-end
tests: a search in a subprocess (byte-identical to the API's), SIGKILL and ``--resume``, exit codes and
messages for bad input, ``dasdsl train``. Subprocesses run with one thread each (as this process does,
see conftest.py), so results are comparable between runs and the tests stay light on a shared machine;
cheap error cases go through ``dasdsl.cli.main`` in-process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import numpy as np
import pytest
import torch
from paths import POOLING as POOLING_PATH
from paths import ROOT

from dasdsl import api
from dasdsl.cli import main
from dasdsl.engine.device import pick_device
from dasdsl.engine.rundir import untimed
from dasdsl.errors import DasError
from dasdsl.lang import settings
from dasdsl.lang.settings import SearchConfig

POOLING = str(POOLING_PATH)
CHOICE_KEY = "pool:x->y"  # the one choice point of spaces/pooling.das
EPOCHS = 6
CKPT = "checkpoint.pt"
SEARCH = ["--data", "digits", "--epochs", str(EPOCHS), "--batch", "32", "--seed", "3"]
RECORD_KEYS = {"train_loss", "train_acc", "valid_loss", "valid_acc", "temperature", "skip_count", "entropy", "gates"}
ENV = {k: v for k, v in os.environ.items() if k != "DASDSL_DEBUG"} | {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONPATH": str(ROOT),
}


# -- helpers


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "dasdsl", *args]


def dasdsl(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args), cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)


def only_dir(folder: Path) -> Path:
    dirs = [p for p in folder.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def load_ckpt(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def assert_clean_error(code: int, err: str, *patterns: str) -> None:
    """Exit 1, one paragraph, no traceback, no 'internal error', and the message says what went wrong."""
    assert code == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert "\n\n" not in err.strip(), err
    for pattern in patterns:
        assert re.search(pattern, err), (pattern, err)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``dasdsl ARGS`` in this process; an exception escaping main() fails the test (it would be a traceback)."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


# -- the reference search, twice with the same seed: through the API in this process and, at the same time,
# through `dasdsl run` in a subprocess (separate folders)


@attrs.frozen
class Reference:
    tmp: Path
    a: Path  # searched by api.search in this process
    b: Path  # searched by `dasdsl run` in a subprocess
    result: api.SearchResult  # a's
    cli: tuple[int, str, str]  # b's exit code, stdout, stderr


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, pooling: api.Space) -> Reference:
    tmp = tmp_path_factory.mktemp("reference")
    with open(tmp / "b.out", "w") as out, open(tmp / "b.err", "w") as err:
        proc = subprocess.Popen(
            command("run", POOLING, *SEARCH, "--out", str(tmp / "runs_b"), "--quiet"),
            cwd=tmp,
            env=ENV,
            stdout=out,
            stderr=err,
        )
        try:
            result = pooling.search("digits", epochs=EPOCHS, batch=32, seed=3, out=tmp / "runs_a", progress=False)
            code = proc.wait(timeout=300)
        finally:
            proc.kill()  # a no-op once it exited
            proc.wait()
    assert result is not None
    cli = (code, (tmp / "b.out").read_text(), (tmp / "b.err").read_text())
    return Reference(tmp, only_dir(tmp / "runs_a"), only_dir(tmp / "runs_b"), result, cli)


# -- 1. end to end


@pytest.mark.slow
def test_run_writes_a_complete_run_directory(reference: Reference, run_log: Callable[[Path], list]) -> None:
    code, out, err = reference.cli
    assert code == 0, err
    assert "Traceback" not in err
    assert "test accuracy of the discretized network" in out
    run, result = reference.a, reference.result
    assert result.run_dir == run
    assert {p.name for p in run.iterdir()} == {
        "config.json",
        "space.das",
        "log.jsonl",
        "checkpoint.pt",
        "result.das",
        "summary.json",
        "report.html",
        ".lock",  # held by the process that wrote the directory
    }
    assert result.report == run / "report.html"
    assert (run / "space.das").read_text(encoding="utf-8") == Path(POOLING).read_text(encoding="utf-8")

    # log.jsonl: one strict-JSON record per epoch, the result's history
    log = run_log(run)
    assert log == list(result.history)
    assert [r["epoch"] for r in log] == list(range(1, EPOCHS + 1))
    for r in log:
        assert r.keys() >= RECORD_KEYS
        assert set(r["gates"]) == {CHOICE_KEY} and set(r["entropy"]) == {CHOICE_KEY}
        assert len(r["gates"][CHOICE_KEY]) == 2 and sum(r["gates"][CHOICE_KEY]) == pytest.approx(1.0, abs=1e-5)
        assert 0.0 <= r["train_acc"] <= 1.0 and 0.0 <= r["valid_acc"] <= 1.0
        assert r["temperature"] == 1.0 and r["skip_count"] == 0  # softmax, constant; no skip candidate

    # config.json: every resolved setting, and it rebuilds the same configuration
    meta = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert meta["source"] == POOLING
    search = meta["search"]
    assert SearchConfig.from_json(search) == settings.SEARCH.resolve(settings.SEARCH.entries_of(result.settings))
    assert set(search) == {f.name for f in attrs.fields(SearchConfig)}
    assert (search["data"], search["epochs"], search["batch"], search["seed"]) == ("digits", EPOCHS, 32, 3)
    assert SearchConfig.from_json(search).to_json() == search

    # checkpoint.pt: loadable without pickle, at the last epoch
    ckpt = load_ckpt(run / "checkpoint.pt")
    assert ckpt["epoch"] == EPOCHS
    assert ckpt["model"] and all(isinstance(t, torch.Tensor) for t in ckpt["model"].values())
    assert all(torch.isfinite(t).all() for t in ckpt["model"].values() if t.is_floating_point())
    assert json.loads(ckpt["config"]) == search

    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary == result.summary
    assert summary["epochs"] == EPOCHS
    for key in ("supernet_valid_acc", "discretized_valid_acc", "discretized_test_acc"):
        assert 0.0 <= summary[key] <= 1.0


def test_result_is_a_fixed_space_with_a_provenance_header(
    reference: Reference, run_log: Callable[[Path], list]
) -> None:
    result = reference.a / "result.das"
    text = result.read_text(encoding="utf-8")
    assert text == reference.result.space.to_das()
    checked = api.load(result)
    assert checked.count() == 1
    ir = checked.graph()
    assert not ir.has_choices and not ir.choices  # 0 choice points
    assert isinstance(checked.network(), torch.nn.Module)  # it compiles to a plain network

    header = [line[1:].strip() for line in text.splitlines() if line.startswith("#")]
    first = header[0]
    assert f"searched from {POOLING}" in first and "seed 3" in first and f"{EPOCHS} epochs" in first
    # the gate weights of every choice point, as in the last log record, the argmax starred and chosen
    gates = run_log(reference.a)[-1]["gates"]
    assert gates == reference.result.gates
    for key, weights in gates.items():
        (line,) = [h for h in header if h.startswith(f"{key}:")]
        labels = ["max_pool(3)", "avg_pool(3)"]
        best = int(np.argmax(weights))
        for i, (label, w) in enumerate(zip(labels, weights)):
            assert f"{'*' if i == best else ''}{label} {w:.3f}" in line, line
        assert f"~ {labels[best]}" in text


# -- 2. determinism


def test_same_seed_same_result(reference: Reference, run_log: Callable[[Path], list]) -> None:
    """The API in this process and `dasdsl run` in another (its own hash seed, its own torch) agree to the byte."""
    a, b = reference.a, reference.b
    assert (a / "result.das").read_bytes() == (b / "result.das").read_bytes()
    assert untimed(run_log(a)) == untimed(run_log(b))  # the same records but for their times
    assert (a / "config.json").read_bytes() == (b / "config.json").read_bytes()
    assert (a / "summary.json").read_bytes() == (b / "summary.json").read_bytes()
    assert_same_tensors(load_ckpt(a / "checkpoint.pt")["model"], load_ckpt(b / "checkpoint.pt")["model"])


# -- 3. kill and resume


def start_and_kill(tmp: Path, epochs: int) -> tuple[Path, int] | None:
    """Start a search and SIGKILL it once an epoch is logged and checkpointed: (run dir, records at the kill),
    or None when the search finished before the kill landed."""
    out = tmp / f"killed_{epochs}"
    args = [*SEARCH[:2], "--epochs", str(epochs), *SEARCH[4:]]
    with open(tmp / f"killed_{epochs}.err", "w+") as err:
        proc = subprocess.Popen(
            command("run", POOLING, *args, "--out", str(out), "--quiet"),
            cwd=tmp,
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                logs = list(out.glob("*/log.jsonl"))  # a record and a checkpoint: the kill lands in a later epoch
                if logs and logs[0].read_text(encoding="utf-8").count("\n") >= 1 and logs[0].with_name(CKPT).exists():
                    break
                time.sleep(0.005)
        finally:
            proc.kill()  # SIGKILL; a no-op if it already exited, and the return code tells
            code = proc.wait(timeout=30)
        err.seek(0)
        assert code in (0, -signal.SIGKILL), err.read()
    run = only_dir(out)
    if code == 0:
        return None
    assert not (run / "result.das").exists()
    return run, (run / "log.jsonl").read_text(encoding="utf-8").count("\n")


@pytest.mark.slow
def test_kill_and_resume_equals_an_uninterrupted_run(
    reference: Reference, tmp_path: Path, run_log: Callable[[Path], list]
) -> None:
    killed = start_and_kill(tmp_path, EPOCHS)
    full = reference.a
    if killed is None:  # the search outpaced the poll: a longer one, with its own uninterrupted reference
        epochs = 4 * EPOCHS
        killed = start_and_kill(tmp_path, epochs)
        assert killed is not None, "the search finished before it could be killed, twice"
        ref = dasdsl(
            tmp_path, "run", POOLING, *SEARCH[:2], "--epochs", str(epochs), *SEARCH[4:], "--out", "ref", "--quiet"
        )
        assert ref.returncode == 0, ref.stderr
        full = only_dir(tmp_path / "ref")
    run, logged = killed
    epochs = run_log(full)[-1]["epoch"]
    assert load_ckpt(run / CKPT)["epoch"] >= 1  # the resume starts from a checkpoint, not from scratch
    assert 1 <= logged < epochs and not (run / "result.das").exists()

    resumed = dasdsl(tmp_path, "run", "--resume", str(run), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert "test accuracy of the discretized network" in resumed.stdout
    assert (run / "result.das").read_text(encoding="utf-8") == (full / "result.das").read_text(encoding="utf-8")
    got, want = load_ckpt(run / "checkpoint.pt"), load_ckpt(full / "checkpoint.pt")
    assert got["epoch"] == want["epoch"] == epochs
    assert_same_tensors(got["model"], want["model"])
    log = run_log(run)
    assert len(log) == epochs and [r["epoch"] for r in log] == list(range(1, epochs + 1))
    assert untimed(log) == untimed(run_log(full))
    assert json.loads((run / "summary.json").read_text()) == json.loads((full / "summary.json").read_text())


# -- 4. bad input: one clear paragraph, exit 1, nothing earlier lost


def bad_npz(tmp: Path, case: str) -> str:
    x = np.random.default_rng(1).normal(0, 1, (40, 1, 8, 8)).astype(np.float32)
    y = np.arange(40) % 4
    nan_x = x.copy()
    nan_x[5, 0, 2, 2] = np.nan
    arrays = {
        "names": {"inputs": x, "labels": y},
        "negative": {"x": x, "y": y - 1},
        "huge": {"x": x, "y": np.where(y == 3, 10**12, y)},
        "float_labels": {"x": x, "y": y + 0.5},
        "vectors": {"x": x.reshape(40, -1), "y": y},
        "five_d": {"x": x[:, :, None], "y": y},
        "nan": {"x": nan_x, "y": y},
        "objects": {"x": np.array([[1.0, 2.0], [3.0]], dtype=object), "y": np.arange(2)},
        "empty_test": {"x": x, "y": y, "x_test": x[:0], "y_test": y[:0]},
        "mismatch": {"x": x, "y": y[:-1]},
    }[case]
    path = tmp / f"{case}.npz"
    np.savez(path, **arrays)
    return str(path)


def bad_cifar(tmp: Path, case: str) -> str:
    folder = tmp / "cifar"
    folder.mkdir()
    if case == "garbage":
        for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
            (folder / name).write_bytes(b"not a pickle")
    return str(folder)


@pytest.mark.parametrize(
    ("data", "patterns"),
    [
        ("npz:/no/such.npz", [r"npz: no file /no/such\.npz"]),
        ("cifar10:/no/such/dir", [r"cifar10: no folder /no/such/dir"]),
        ("cifar10:{empty}", [r"cifar10: missing .*data_batch_1", r"hint: the folder must hold"]),
        ("cifar10:{garbage}", [r"data_batch_1 is not a CIFAR-10 python batch"]),
        ("npz:{names}", [r"has no array x or y; it holds inputs, labels", r"hint: name the arrays x and y"]),
        ("npz:{negative}", [r"negative labels"]),
        ("npz:{huge}", [r"labels run up to 1000000000000"]),
        ("npz:{float_labels}", [r"labels y have dtype float64; expected integers"]),
        ("npz:{vectors}", [r"shape \(64,\), but the space's input is image"]),
        ("npz:{five_d}", [r"shape \(1, 1, 8, 8\), but the space's input is image"]),
        ("npz:{nan}", [r"NaN"]),
        ("npz:{objects}", [r"cannot read the arrays"]),
        ("npz:{empty_test}", [r"no test samples"]),
        ("npz:{mismatch}", [r"x has shape \(40, 1, 8, 8\) but y \(39,\); expected one label per sample"]),
        ("digts", [r"unknown data source 'digts'", r"hint: did you mean digits\?"]),
    ],
)
def test_bad_data(capsys: pytest.CaptureFixture[str], tmp_path: Path, data: str, patterns: list[str]) -> None:
    if "{" in data:
        source, case = data[:-1].split(":{")
        data = f"{source}:" + (bad_npz if source == "npz" else bad_cifar)(tmp_path, case)
    out = tmp_path / "runs"
    code, _, err = cli(capsys, "run", POOLING, "--data", data, "--epochs", "1", "--batch", "8", "--out", str(out))
    assert_clean_error(code, err, *patterns)
    # a failed start may leave config.json and space.das behind, but nothing that looks like a search
    for leftover in out.glob("*/*"):
        assert leftover.name in ("config.json", "space.das"), leftover


@pytest.mark.slow
def test_bad_data_in_a_real_process(tmp_path: Path) -> None:
    proc = dasdsl(tmp_path, "run", POOLING, "--data", "digts", "--out", str(tmp_path / "runs"), "--quiet")
    assert_clean_error(proc.returncode, proc.stderr, r"unknown data source 'digts'", r"did you mean digits\?")


@pytest.mark.parametrize(
    ("setting", "patterns"),
    [
        ("no_such_key=1", [r"unknown search setting 'no_such_key'"]),
        ("weights=sgd(lr = -1)", [r"sgd lr must be a positive number, got -1"]),
        ("gate=softmx", [r"unknown gate softmx", r"did you mean softmax\?"]),
        ("noequals", [r"--set takes KEY=VALUE"]),
    ],
)
def test_bad_settings(capsys: pytest.CaptureFixture[str], tmp_path: Path, setting: str, patterns: list[str]) -> None:
    out = tmp_path / "runs"
    code, _, err = cli(capsys, "run", POOLING, "--set", setting, "--epochs", "1", "--out", str(out))
    assert_clean_error(code, err, *patterns)
    assert not out.exists()  # settings are checked before a run directory is made


@pytest.mark.parametrize("target", ["empty", "missing", "file"])
def test_resume_of_something_else(capsys: pytest.CaptureFixture[str], tmp_path: Path, target: str) -> None:
    path = tmp_path / target
    if target == "empty":
        path.mkdir()
    elif target == "file":
        path.write_text("x")
    code, _, err = cli(capsys, "run", "--resume", str(path))
    assert_clean_error(code, err, r"is not a run directory")


@pytest.fixture
def small_run(tmp_path: Path, pooling: api.Space, learnable_npz: Callable[..., str]) -> Path:
    """A finished 2-epoch search on .npz data, in-process."""
    data = learnable_npz(tmp_path / "data.npz")
    result = pooling.search(f"npz:{data}", epochs=2, batch=16, out=tmp_path / "runs", progress=False)
    assert result is not None
    assert result.run_dir == only_dir(tmp_path / "runs")
    return result.run_dir


def snapshot(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run.iterdir()}


@pytest.mark.parametrize("damage", ["checkpoint", "space", "data"])
def test_failed_resume_keeps_the_run(
    capsys: pytest.CaptureFixture[str], small_run: Path, tmp_path: Path, damage: str
) -> None:
    if damage == "checkpoint":  # a truncated file (e.g. a copy cut short)
        ckpt = small_run / "checkpoint.pt"
        ckpt.write_bytes(ckpt.read_bytes()[:200])
        patterns = [r"cannot read checkpoint"]
    elif damage == "space":  # space.das edited after the run: the checkpoint no longer fits
        space = small_run / "space.das"
        space.write_text(space.read_text().replace("avg_pool(3)]", "avg_pool(3), skip]"))
        patterns = [r"space.das changed since the checkpoint in .* was written"]
    else:  # the data moved away
        (tmp_path / "data.npz").unlink()
        patterns = [r"npz: no file"]
    before = snapshot(small_run)
    code, _, err = cli(capsys, "run", "--resume", str(small_run), "--quiet")
    assert_clean_error(code, err, *patterns)
    assert snapshot(small_run) == before  # nothing deleted, truncated or rewritten


def test_resume_of_a_finished_run_rewrites_the_same_result(small_run: Path) -> None:
    before = snapshot(small_run)
    result = api.resume(small_run, progress=False)
    assert result is not None and result.run_dir == small_run
    assert result.space.to_das().encode() == before["result.das"]
    assert [r["epoch"] for r in result.history] == [1, 2]
    after = snapshot(small_run)
    before.pop("report.html", None)  # the report embeds freshly drawn images; the results are what must match
    after.pop("report.html", None)
    assert after == before


def test_resume_with_damaged_config(capsys: pytest.CaptureFixture[str], small_run: Path) -> None:
    (small_run / "config.json").write_text("{not json")
    before = snapshot(small_run)
    code, _, err = cli(capsys, "run", "--resume", str(small_run), "--quiet")
    assert_clean_error(code, err, r"config\.json")
    assert snapshot(small_run) == before


def test_resume_before_the_first_checkpoint_keeps_one_record_per_epoch(
    small_run: Path, run_log: Callable[[Path], list]
) -> None:
    # the state a SIGKILL leaves between appending epoch 1's record and renaming its checkpoint into place
    (small_run / "checkpoint.pt").unlink()
    (small_run / "result.das").unlink()
    log = small_run / "log.jsonl"
    log.write_text(log.read_text().splitlines(keepends=True)[0])
    result = api.resume(small_run, progress=False)
    assert result is not None
    assert [r["epoch"] for r in run_log(small_run)] == [1, 2]
    assert run_log(small_run) == list(result.history)


PLUGIN_SPACE = """space plugged
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


@pytest.mark.slow
def test_resume_of_a_run_with_plugin_ops(capsys: pytest.CaptureFixture[str], tmp_path: Path, plugin: str) -> None:
    """The plugins a run started with are recorded in config.json; --resume asks for them by name."""
    space = tmp_path / "plugged.das"
    space.write_text(PLUGIN_SPACE)
    args = ["run", str(space), "--data", "synthetic", "--epochs", "1", "--batch", "16", "--out", str(tmp_path / "runs")]
    code, _, err = cli(capsys, *args, "--plugin", plugin, "--quiet")
    assert code == 0, err
    run = only_dir(tmp_path / "runs")
    assert json.loads((run / "config.json").read_text())["plugins"] == ["tests.plugins.good_ops"]
    before = (run / "result.das").read_text()
    # a fresh process: in this one the plugin's ops stay registered from the first run
    refused = dasdsl(ROOT, "run", "--resume", str(run), "--quiet")  # the run directory names the module...
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "searched with the plugin op module tests.plugins.good_ops" in refused.stderr
    assert "add --plugin tests.plugins.good_ops" in refused.stderr  # ...but only the user's word imports it
    done = dasdsl(ROOT, "run", "--resume", str(run), "--plugin", plugin, "--quiet")
    assert done.returncode == 0, done.stderr
    assert (run / "result.das").read_text() == before


def test_pick_device(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pick_device("cpu") == torch.device("cpu")
    for name in ("gpu", "cuda:", "cuda:x", "cuda:-1", "cuda1"):
        with pytest.raises(DasError, match="unknown device"):
            pick_device(name)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("cuda", "cuda:0"):
        with pytest.raises(DasError, match="no CUDA device is available"):
            pick_device(name)
    assert pick_device("auto") == torch.device("cpu")
    # cuda:N, as a process of a multi-GPU search asks for its own GPU (no GPU needed to build the device)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pick_device("cuda:1") == torch.device("cuda", 1)
    assert pick_device("cuda") == torch.device("cuda")
    with pytest.raises(DasError, match="has 2 CUDA devices"):
        pick_device("cuda:2")


# -- 5. dasdsl train


@pytest.mark.slow
def test_train_a_search_result(reference: Reference, tmp_path: Path, run_log: Callable[[Path], list]) -> None:
    result = shutil.copy(reference.a / "result.das", tmp_path / "result.das")
    proc = dasdsl(tmp_path, "train", str(result), "--epochs", "2", "--batch", "32", "--out", "trained", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    match = re.search(r"test accuracy: (\d\.\d+)", proc.stdout)
    assert match and 0.0 <= float(match.group(1)) <= 1.0, proc.stdout
    run = only_dir(tmp_path / "trained")
    saved = load_ckpt(run / "model.pt")
    assert saved["format"] == "dasdsl-model/1" and saved["epochs_done"] == 2
    assert saved["space"] == (tmp_path / "result.das").read_text() and saved["classes"] == 10
    assert saved["settings"] == {
        "epochs": 2,
        "batch": 32,
        "lr": 0.05,
        "seed": 0,
        "momentum": 0.9,
        "weight_decay": 3e-4,
        "grad_clip": 5.0,
        "label_smoothing": 0.0,
        "cutout": 0,
        "augment": "auto",
        "auxiliary": 0.0,
        "drop_path": 0.0,
    }
    state = saved["model"]
    assert state and all(isinstance(t, torch.Tensor) for t in state.values())
    log = run_log(run)
    assert [r["epoch"] for r in log] == [1, 2]
    assert all({"train_loss", "train_acc", "valid_loss", "valid_acc"} <= r.keys() for r in log)
    assert json.loads((run / "summary.json").read_text())["test_acc"] == pytest.approx(float(match.group(1)), abs=1e-3)


def test_train_refuses_a_space_with_choices(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "trained"
    code, _, err = cli(capsys, "train", POOLING, "--data", "synthetic", "--epochs", "1", "--out", str(out))
    assert_clean_error(code, err, r"choice point")
    assert not out.exists()


# -- 6. a diverging search


@pytest.mark.parametrize(
    ("data", "lr", "epochs"),
    [
        ("npz", "1e30", 3),  # (with torch 2.13 on CPU:) nan in epoch 1, before any checkpoint
        ("npz", "1e6", 3),  # nan in epoch 2: epoch 1's checkpoint is kept
        ("npz", "1e5", 3),  # huge losses, but finite: the search finishes
        ("synthetic", "1e6", 4),  # finite training losses, but the last step of epoch 1 overflows the weights
    ],
)
def test_diverging_search(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    data: str,
    lr: str,
    epochs: int,
    learnable_npz: Callable[..., str],
    run_log: Callable[[Path], list],
) -> None:
    """Whatever the outcome: exit 0 or a one-paragraph error about nan/inf, strict JSON in the log, and the
    last complete checkpoint loadable, finite and in step with the log."""
    if data == "npz":
        data = "npz:" + learnable_npz(tmp_path / "data.npz", n=160)
    out = tmp_path / "runs"
    args = ["run", POOLING, "--data", data, "--epochs", str(epochs), "--batch", "16", "--seed", "0"]
    code, _, err = cli(capsys, *args, "--set", f"weights=sgd(lr = {lr})", "--out", str(out), "--quiet")
    run = only_dir(out)
    log = run_log(run) if (run / "log.jsonl").exists() else []  # strict JSON: no NaN or Infinity
    if code == 0:
        assert (run / "result.das").exists() and len(log) == epochs
    else:
        assert_clean_error(code, err, r"loss became (nan|inf|-inf)")
        assert not (run / "result.das").exists()
        if log:  # the last complete epoch's checkpoint is kept, loadable and finite
            ckpt = load_ckpt(run / "checkpoint.pt")
            assert ckpt["epoch"] == len(log)
            assert all(torch.isfinite(t).all() for t in ckpt["model"].values() if t.is_floating_point())
            assert "the last complete checkpoint is kept" in err
        else:
            assert not (run / "checkpoint.pt").exists()
            assert "no epoch completed" in err
