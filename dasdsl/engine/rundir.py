"""Run directories: the files a search or training run holds, written atomically, read tolerantly.

``runs/<space>-<timestamp>/`` holds ``space.das`` (the space as searched), ``config.json`` (every
resolved setting), ``log.jsonl`` (one record per epoch), ``checkpoint.pt`` (written atomically every
epoch), ``.lock`` (held while a process writes the directory), and at the end ``result.das``
(``result-K.das`` for the k best), ``summary.json`` and ``report.html``. A training run holds
``config.json``, ``log.jsonl``, ``model.pt`` and ``summary.json``.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import filelock
import torch

from dasdsl.errors import DasError, fail
from dasdsl.files import append_text, fit_name, make_folder, read_text, refuse_link, write_atomic
from dasdsl.lang.checked import CheckedSpace
from dasdsl.lang.load import check_text

SPACE = "space.das"
CONFIG = "config.json"
LOG = "log.jsonl"
CHECKPOINT = "checkpoint.pt"
RESULT = "result.das"
SUMMARY = "summary.json"
MODEL = "model.pt"
# model.pt: {"format", "model" (state dict), "space", "input_shape", "classes", "settings", "epochs_done"}
MODEL_FORMAT = "dasdsl-model/1"
LOCK = ".lock"  # held (filelock) by the one process that writes the run directory


@contextlib.contextmanager
def locked(run_dir: str | Path) -> Iterator[None]:
    """Hold the run directory for this process: a second search or resume of it is refused, not interleaved.
    A ``.lock`` that is a symbolic link (a run directory is data) is refused, never followed."""
    path = Path(run_dir) / LOCK
    refuse_link(path, "lock file")
    lock = filelock.FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise fail(
            f"{run_dir} is in use by another dasdsl process (a search or a resume that is still running)",
            "<run>",
            "wait for it to end or stop it (its last checkpoint is kept), then resume; "
            "two processes must not write one run directory",
        ) from None
    except OSError as exc:  # a link planted after the check (filelock opens with O_NOFOLLOW), a read-only disk
        refuse_link(path, "lock file")
        raise fail(f"cannot lock {run_dir}: {path}: {exc.strerror or exc}", str(path)) from None
    try:
        yield
    finally:
        lock.release()


def new_run_dir(root: str | Path, name: str, files: Mapping[str, str | bytes] | None = None) -> Path:
    """A fresh ``root/<name>-<timestamp>[-n]`` folder holding ``files`` (name -> content). The name is cut to
    what a file system takes (``fit_name``); where any of it cannot be written (a full or read-only disk) the
    folder is removed again and the DasError says why: no half-made run directory is left behind."""
    root = make_folder(root, "folder for run directories")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        path = root / fit_name(name, f"-{stamp}" + (f"-{n}" if n > 1 else ""))
        try:
            path.mkdir()  # not exists() then mkdir(): two runs started in the same second both win
            break
        except FileExistsError:  # taken (by a folder, a file or a link): the next number
            continue
        except OSError as exc:
            raise fail(f"cannot make the run directory {path}: {exc.strerror or exc}", str(path)) from None
    else:
        raise fail(
            f"cannot make a run directory in {root}: {name}-{stamp} to {name}-{stamp}-999 are all taken", "<run>"
        )
    try:
        for member, content in (files or {}).items():
            write_atomic(path / member, content, "file")
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return path


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM held back while a file is written, then delivered: a KeyboardInterrupt raised inside
    ``torch.save``'s writer callback surfaces as a RuntimeError of its C++ writer ("unexpected pos"), which
    would turn a clean stop into an internal error. Only the main thread can hold signals back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    saved = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
        for s in dict.fromkeys(caught):
            signal.raise_signal(s)  # now, with the caller's handler in place


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` into memory, then ``write_atomic``: a reader sees the old or the new file, never half, a
    full disk leaves no partial temporary; a Ctrl-C or SIGTERM during the write takes effect once it is done."""
    with _signals_deferred():
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        write_atomic(path, buffer.getvalue(), "file")


def json_text(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2) + "\n"


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, json_text(data))


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """One record per line, synced: a kill loses at most the line being written; a link there is refused."""
    append_text(path, json.dumps(record) + "\n", "run log")


def trim_log(run_dir: Path, epochs: int) -> None:
    """Drop the records written after the last complete checkpoint: those epochs are redone."""
    log = run_dir / LOG
    if log.exists():
        lines = read_text(log, "log", missing_ok=True).splitlines()
        if len(lines) > epochs:
            write_atomic(log, "".join(line + "\n" for line in lines[:epochs]))


def load_checkpoint(path: Path, device: torch.device) -> dict:
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise fail(f"no checkpoint in {path.parent}", "<run>", "the run stopped before its first epoch ended") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file is a user-level problem
        raise fail(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}", "<run>") from None


def checked_checkpoint(state: Any, path: Path, epochs: int, parts: tuple[str, ...]) -> dict[str, Any]:
    """A checkpoint's contents, each part of the type and shape this version writes, before any of it is used:
    ``epoch`` a whole number of epochs from 0 to ``epochs``, ``torch_rng`` the CPU generator's byte state, ``model``
    a state dict of tensors, the other ``parts`` dicts. A checkpoint is data: one edited or copied from elsewhere
    is a DasError naming the file and the part, never a crash further on."""
    problem = _checkpoint_problem(state, epochs, parts)
    if problem is not None:
        raise fail(
            f"checkpoint {path} does not fit this run: {problem}",
            "<run>",
            "the checkpoint was edited or comes from another program; the files are left as they are",
        )
    return state


def _checkpoint_problem(state: Any, epochs: int, parts: tuple[str, ...]) -> str | None:
    """What is wrong with a checkpoint's contents (see ``checked_checkpoint``); None: nothing."""
    if not isinstance(state, dict):
        return f"it holds a {type(state).__name__}, not a dict of the run's state"
    missing = [p for p in ("epoch", "model", "torch_rng", *parts) if p not in state]
    if missing:
        return f"it has no {', '.join(repr(m) for m in missing)}"
    epoch = state["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= epochs:
        return f"'epoch' must be a whole number of epochs from 0 to {epochs}, got {epoch!r}"
    rng = state["torch_rng"]
    if not (isinstance(rng, torch.Tensor) and rng.dtype == torch.uint8 and rng.dim() == 1):
        shown = f"a {rng.dtype} tensor of shape {tuple(rng.shape)}" if isinstance(rng, torch.Tensor) else repr(rng)[:80]
        return f"'torch_rng' must be the random generator's state (a 1-D uint8 tensor), got {shown}"
    model = state["model"]
    if not (
        isinstance(model, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items())
    ):
        return "'model' must be a state dict (parameter names to tensors)"
    for part in parts:
        if not isinstance(state[part], dict):
            return f"'{part}' must be a dict, got {type(state[part]).__name__}"
    return None


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_FIELDS: dict[str, Any] = {  # what each field of an epoch record must hold
    "epoch": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
    "skip_count": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    **{k: _number for k in ("train_loss", "train_acc", "valid_loss", "valid_acc", "lr", "temperature")},
    **{k: lambda v: _number(v) and v >= 0 for k in ("seconds", "elapsed")},
    "entropy": lambda v: isinstance(v, dict) and all(_number(x) for x in v.values()),
    "gates": lambda v: (
        isinstance(v, dict) and all(isinstance(w, list) and w and all(_number(x) for x in w) for w in v.values())
    ),
}


# The fields of an epoch record that are wall-clock times: the only ones two runs of the same search differ in.
TIMES = ("seconds", "elapsed")


def untimed(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Epoch records without their times (``TIMES``): what runs of the same search, resumed or not, repeat."""
    return [{k: v for k, v in r.items() if k not in TIMES} for r in records]


def read_records(path: Path) -> list[dict[str, Any]]:
    """The epoch records of a JSONL log; [] without the file. A last line cut short by a kill is skipped; any
    other line that is no well-formed record is a DasError naming the line (never a crash further on)."""
    if not path.is_file():
        return []
    lines = read_text(path, "log", missing_ok=True).splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except ValueError:
            if number == len(lines):
                continue  # the line a kill cut short
            record = None
        bad = (
            [k for k, ok in _FIELDS.items() if k in record and not ok(record[k])]
            if isinstance(record, dict)
            else ["the line"]
        )
        if bad:
            raise fail(
                f"{path} is damaged: line {number} is not an epoch record ({', '.join(bad)})",
                "<run>",
                "the log was edited or copied in part: restore it, or start a new run",
            )
        records.append(record)
    return records


def last_record(run_dir: str | Path) -> dict[str, Any] | None:
    """The last complete record of a run's log.jsonl, or None."""
    records = read_records(Path(run_dir) / LOG)
    return records[-1] if records else None


def read_config(run_dir: str | Path, *, optional: bool = False) -> dict[str, Any] | None:
    """A run's config.json; where it is missing, damaged or no JSON object: {} (None with ``optional``)."""
    path = Path(run_dir) / CONFIG
    try:
        config = json.loads(read_text(path, "run configuration", missing_ok=True))
    except (OSError, ValueError, DasError):
        config = None
    if not isinstance(config, dict):
        return None if optional else {}
    return config


def run_plugins(config: dict[str, Any] | None) -> list[str]:
    """The plugin modules a run's config.json names (to ask the user for; never imported from here)."""
    return [p for p in (config or {}).get("plugins") or [] if isinstance(p, str)]


def require_plugins(run_dir: str | Path, recorded: Sequence[str], given: Sequence[str]) -> None:
    """A run directory is data: the plugin modules it names are imported only when the user names them too."""
    missing = [m for m in recorded if m not in given]
    if missing:
        named = " ".join(f"--plugin {m}" for m in missing)
        raise fail(
            f"{run_dir} was searched with the plugin op module{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}; dasdsl imports only modules the user names",
            "<run>",
            f"if you trust {'them' if len(missing) > 1 else 'it'}, add {named} (plugins={missing!r} from Python)",
        )


def run_data(config: dict[str, Any] | None) -> Any:
    """The data spec of a run's config.json (its search settings), or None."""
    search = (config or {}).get("search")
    return search.get("data") if isinstance(search, dict) else None


def read_space(run_dir: str | Path, name: str = SPACE, plugins: Sequence[str] = ()) -> CheckedSpace:
    """space.das or result.das of a run directory, checked; plugin modules only as the caller names them."""
    path = Path(run_dir) / name
    return check_text(read_text(path, ".das file"), str(path), plugins)
