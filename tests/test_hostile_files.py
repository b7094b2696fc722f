"""Hostile run directories and failing disks: every file dasdsl writes goes through one primitive
(``dasdsl.files.write_atomic`` / ``append_text``), so no write follows a symbolic link planted in a run
directory (or named as an output), a dangling or over-long output path is a clear error, and a full or read-only
disk ends in a one-paragraph error that names the file and leaves nothing half-written behind.

Each table case plants something (a link, a full disk, a read-only folder), runs ``dasdsl`` in this process, and
checks the exit code, the exact error, that the victim of the link is untouched and that no temporary is left.
A full disk is simulated by making ``os.write`` fail with ENOSPC for the files of the test's folder (no root
needed); a read-only folder is a real ``chmod 0o555`` folder, or, where the tests run as root (for whom the
mode bits do not hold), one whose writes fail with EROFS.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from paths import POOLING as POOLING_PATH

import dasdsl
from dasdsl.cli import main
from dasdsl.engine import rundir
from dasdsl.errors import DasError
from dasdsl.files import NAME_MAX, fit_name

POOLING = str(POOLING_PATH)
UGLY = "space   ugly\ninput image\ncell c(w) {\n input x\n node y = x ~ [skip,   conv(3)]\n output y\n}\n" + (
    "network {\n cells c(4)\n head global_avg_pool then linear(classes)\n}\n"
)  # a valid space, not formatted: what `fmt --write` rewrites, and the victim every link points at
TINY = ["--input-shape", "1,8,8", "--classes", "4"]
ROOT_USER = os.geteuid() == 0 if hasattr(os, "geteuid") else False


# ---- shared set-up -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def npz(tmp_path_factory: pytest.TempPathFactory, learnable_npz: Callable[..., str]) -> str:
    """Small learnable image data (1, 8, 8) with 4 classes."""
    return learnable_npz(tmp_path_factory.mktemp("data") / "data.npz", n=64)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, npz: str, pooling: dasdsl.api.Space) -> Path:
    """A finished 2-epoch search (copied, never changed, by each test)."""
    out = tmp_path_factory.mktemp("finished")
    result = pooling.search(f"npz:{npz}", epochs=2, batch=16, out=out, progress=False)
    assert result is not None and result.run_dir is not None
    return result.run_dir


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging (a dangling --out used to spin forever)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    capsys.readouterr()
    with deadline(120):
        code = main(argv)
    return code, capsys.readouterr().err


def clean_error(code: int, err: str, message: str) -> None:
    """Exit 1 and one paragraph holding ``message`` (a regular expression), never an internal error."""
    assert code == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert re.search(message, err), (message, err)


def temporaries(folder: Path) -> list[Path]:
    """Files a write started and did not finish (planted links are not counted)."""
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") and not p.is_symlink()]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


# ---- planted links and dangling paths ----------------------------------------------------------------------

Setup = Callable[[Path], None]


def link(name: str, target: str) -> Setup:
    """``tmp/name`` as a symbolic link to ``tmp/target`` (replacing what is there)."""

    def plant(tmp: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            path.unlink()
        path.symlink_to(tmp / target)

    return plant


def moved_out(member: str) -> Setup:
    """The run's ``member`` moved to ``tmp/outside-member`` and linked back: reads see it, no write may."""

    def plant(tmp: Path) -> None:
        path = tmp / "RUN" / member
        path.rename(tmp / f"outside-{member}")
        path.symlink_to(tmp / f"outside-{member}")

    return plant


@pytest.fixture
def names(tmp_path: Path, finished: Path, npz: str) -> dict[str, str]:
    """The test's folder: RUN (a copy of the finished run), a victim file, an empty folder, unformatted .das
    files; returns what the argv templates name."""
    tmp = tmp_path
    shutil.copytree(finished, tmp / "RUN", symlinks=True)
    (tmp / "victim").write_text(UGLY, encoding="utf-8")
    (tmp / "elsewhere").mkdir()
    (tmp / "ugly.das").write_text(UGLY, encoding="utf-8")
    (tmp / "ugly2.das").write_text(UGLY, encoding="utf-8")
    return {"tmp": str(tmp), "run": str(tmp / "RUN"), "npz": npz, "pooling": POOLING}


def protected(tmp: Path) -> dict[str, bytes]:
    """What no write may touch: the victim, files moved out of the run, the folder a link points at."""
    files = [tmp / "victim", *tmp.glob("outside-*"), *(tmp / "elsewhere").rglob("*")]
    return {str(p): p.read_bytes() for p in files}


SEARCH_1 = ["--data", "npz:{npz}", "--epochs", "1", "--batch", "16", "--quiet"]
EXTEND = ["run", "--resume", "{run}", "--epochs", "3", "--quiet"]  # one more epoch of the finished run
LINKED = "it is a symbolic link (to {tmp}/victim), and dasdsl never writes through one"

# (id, what to plant, argv, exit code, the error it must print (None: it succeeds)): links, dangling and long paths
LINK_CASES: list[tuple[str, list[Setup], list[str], int, str | None]] = [
    ("report-tmp-link", [link("RUN/report.html.tmp", "victim")], ["report", "{run}"], 0, None),
    ("report-link", [link("RUN/report.html", "victim")], ["report", "{run}"], 1,
     "{run}/report.html: error: refusing to write the report {run}/report.html: " + LINKED),
    ("report-out-link", [link("out.html", "victim")], ["report", "{run}", "-o", "{tmp}/out.html"], 1,
     "refusing to write the report {tmp}/out.html: " + LINKED),
    ("report-out-dangling", [link("out.html", "nowhere")], ["report", "{run}", "-o", "{tmp}/out.html"], 1,
     "refusing to write the report {tmp}/out.html: it is a symbolic link (to {tmp}/nowhere)"),
    ("plot-folder-link", [link("RUN/plots", "elsewhere")], ["plot", "{run}"], 1,
     "refusing to write into the folder for the plots {run}/plots: it is a symbolic link"),
    ("plot-file-link", [link("RUN/plots/gates.png", "victim")], ["plot", "{run}"], 1,
     "refusing to write the plot {run}/plots/gates.png: " + LINKED),
    ("plot-out-dangling", [link("out", "nowhere")], ["plot", "{run}", "-o", "{tmp}/out/plots"], 1,
     "cannot make the folder for the plots {tmp}/out/plots: {tmp}/out is a symbolic link that points nowhere"),
    ("render-out-link", [link("x.svg", "victim")], ["render", "{pooling}", "-o", "{tmp}/x.svg"], 1,
     "refusing to write the picture {tmp}/x.svg: " + LINKED),
    ("compile-graph-link", [link("g.json", "victim")], ["compile", "{pooling}", *TINY, "--graph", "{tmp}/g.json"],
     1, "refusing to write the graph file {tmp}/g.json: " + LINKED),
    ("export-link", [link("net.py", "victim")], ["export", "{run}/result.das", *TINY, "-o", "{tmp}/net.py"], 1,
     "refusing to write the export file {tmp}/net.py: " + LINKED),
    ("export-device", [], ["export", "{run}/result.das", *TINY, "--format", "torchscript", "-o", "/dev/full"], 1,
     "refusing to write the export file /dev/full: it is not a regular file (a device, pipe or socket)"),
    ("profile-link", [link("lat.json", "victim")], ["profile", "{pooling}", *TINY, "-o", "{tmp}/lat.json"], 1,
     "refusing to write the latency table {tmp}/lat.json: " + LINKED),
    ("fmt-write-link", [link("a.das", "victim")], ["fmt", "--write", "{tmp}/a.das"], 1,
     "refusing to write the .das file {tmp}/a.das: " + LINKED),
    ("fmt-write-tmp-link", [link("ugly.das.fmt.tmp", "victim")], ["fmt", "--write", "{tmp}/ugly.das"], 0, None),
    ("lock-link", [link("RUN/.lock", "victim")], ["run", "--resume", "{run}", "--quiet"], 1,
     "refusing to write the lock file {run}/.lock: " + LINKED),
    ("lock-dangling", [link("RUN/.lock", "nowhere")], ["run", "--resume", "{run}", "--quiet"], 1,
     "refusing to write the lock file {run}/.lock: it is a symbolic link (to {tmp}/nowhere)"),
    ("resume-log-link", [moved_out("log.jsonl")], EXTEND, 1,
     "refusing to write the run log {run}/log.jsonl: it is a symbolic link (to {tmp}/outside-log.jsonl)"),
    ("resume-checkpoint-link", [moved_out("checkpoint.pt")], EXTEND, 1,
     "refusing to write the file {run}/checkpoint.pt: it is a symbolic link (to {tmp}/outside-checkpoint.pt)"),
    ("resume-checkpoint-tmp-link", [link("RUN/checkpoint.pt.tmp", "victim")], EXTEND, 0, None),
    ("resume-result-link", [moved_out("result.das")], EXTEND, 1,
     "refusing to write the file {run}/result.das: it is a symbolic link (to {tmp}/outside-result.das)"),
    ("run-out-dangling", [link("out", "nowhere")], ["run", "{pooling}", *SEARCH_1, "--out", "{tmp}/out"], 1,
     "cannot make the folder for run directories {tmp}/out: {tmp}/out is a symbolic link that points nowhere "
     "({tmp}/nowhere)"),
    ("run-out-below-dangling", [link("out", "nowhere")], ["run", "{pooling}", *SEARCH_1, "--out", "{tmp}/out/a"],
     1, "cannot make the folder for run directories {tmp}/out/a: {tmp}/out is a symbolic link that points nowhere"),
    ("train-out-dangling", [link("out", "nowhere")], ["train", "{run}/result.das", *SEARCH_1, "--out", "{tmp}/out"],
     1, "cannot make the folder for run directories {tmp}/out: {tmp}/out is a symbolic link that points nowhere"),
    ("run-out-long-name", [], ["run", "{pooling}", *SEARCH_1, "--out", "{tmp}/" + "x" * 300], 1,
     "cannot write the folder for run directories {tmp}/" + "x" * 300 + ": File name too long"),
    ("check-long-path", [], ["check", "{tmp}/" + "x" * 300 + ".das"], 1,
     "cannot read {tmp}/" + "x" * 300 + ".das: File name too long"),
    ("report-long-path", [], ["report", "{tmp}/" + "x" * 300], 1,  # any OSError no check foresaw: one paragraph
     "error: cannot use {tmp}/" + "x" * 300 + ": File name too long"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("setup", "argv", "code", "message"), [c[1:] for c in LINK_CASES], ids=[c[0] for c in LINK_CASES]
)
def test_no_write_follows_a_link(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    names: dict[str, str],
    setup: list[Setup],
    argv: list[str],
    code: int,
    message: str | None,
) -> None:
    for plant in setup:
        plant(tmp_path)
    before = protected(tmp_path)
    got, err = cli(capsys, [a.format(**names) for a in argv])
    if message is None:
        assert got == 0, err
    else:
        clean_error(got, err, re.escape(message.format(**names)))
        assert got == code
    assert protected(tmp_path) == before, "a write followed a link"
    assert not (tmp_path / "nowhere").exists(), "a write followed a dangling link"
    assert temporaries(tmp_path) == []
    assert not list((tmp_path / "out").iterdir()) if (tmp_path / "out").is_dir() else True


def test_the_cases_are_distinct() -> None:
    ids = [c[0] for c in LINK_CASES] + [c[0] for c in DISK_CASES] + [c[0] for c in READ_ONLY_CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 40


# ---- a full disk ------------------------------------------------------------------------------------------


def fill_disk(monkeypatch: pytest.MonkeyPatch, folder: Path, match: str = "", partial: bool = False) -> None:
    """From now on writes to the files under ``folder`` whose path holds ``match`` fail with ENOSPC (after
    writing half of the first buffer where ``partial``): the disk is full. Files are told apart by the path
    each descriptor was opened with."""
    paths: dict[int, str] = {}
    real_open, real_write = os.open, os.write

    def fake_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
        fd = real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]
        paths[fd] = os.path.abspath(os.fsdecode(path))  # type: ignore[arg-type]
        started.discard(fd)
        return fd

    started: set[int] = set()

    def fake_write(fd: int, data: bytes) -> int:
        path = paths.get(fd, "")
        if path.startswith(str(folder)) and match in path:
            if partial and fd not in started:
                started.add(fd)
                return real_write(fd, bytes(data)[: max(len(data) // 2, 1)])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "write", fake_write)


FULL = "No space left on device"


def no_run_dir(folder: str) -> Callable[[Path], None]:
    def check(tmp: Path) -> None:
        assert not (tmp / folder).exists() or list((tmp / folder).iterdir()) == [], "a half-made run directory"

    return check


def run_without(member: str) -> Callable[[Path], None]:
    def check(tmp: Path) -> None:
        (run,) = (tmp / "runs").iterdir()
        assert not (run / member).exists() and (run / "space.das").is_file()

    return check


def absent(*names: str) -> Callable[[Path], None]:
    def check(tmp: Path) -> None:
        assert [n for n in names if (tmp / n).exists()] == []

    return check


def unformatted(*names: str) -> Callable[[Path], None]:
    def check(tmp: Path) -> None:
        assert [(tmp / n).read_text(encoding="utf-8") for n in names] == [UGLY] * len(names)

    return check


# (id, the paths that cannot be written (under the test's folder), argv, the errors, what must hold after)
DISK_CASES: list[tuple[str, str, list[str], list[str], Callable[[Path], None]]] = [
    ("run-full", "", ["run", "{pooling}", *SEARCH_1, "--out", "{tmp}/runs"],
     [f"error: cannot write the file {{tmp}}/runs/pooling-{{any}}/space.das: {FULL}"], no_run_dir("runs")),
    ("run-checkpoint-full", "checkpoint.pt", ["run", "{pooling}", *SEARCH_1, "--out", "{tmp}/runs"],
     [f"error: cannot write the file {{tmp}}/runs/pooling-{{any}}/checkpoint.pt: {FULL}"],
     run_without("checkpoint.pt")),
    ("resume-log-full", "log.jsonl", EXTEND, [f"error: cannot write the run log {{run}}/log.jsonl: {FULL}"],
     absent()),
    ("train-full", "", ["train", "{run}/result.das", *SEARCH_1, "--out", "{tmp}/tr"],
     [f"error: cannot write the file {{tmp}}/tr/pooling_result-train-{{any}}/space.das: {FULL}"], no_run_dir("tr")),
    ("export-python-full", "", ["export", "{run}/result.das", *TINY, "-o", "{tmp}/net.py"],
     [f"error: cannot write the export file {{tmp}}/net.py: {FULL}"], absent("net.py")),
    ("export-torchscript-full", "", ["export", "{run}/result.das", *TINY, "--format=torchscript", "-o", "{tmp}/n.pt"],
     [f"error: cannot write the export file {{tmp}}/n.pt: {FULL}"], absent("n.pt")),
    ("export-onnx-full", "", ["export", "{run}/result.das", *TINY, "--format", "onnx", "-o", "{tmp}/n.onnx"],
     [f"error: cannot write the export file {{tmp}}/n.onnx: {FULL}"], absent("n.onnx")),
    ("fmt-write-full", "", ["fmt", "--write", "{tmp}/ugly.das", "{tmp}/ugly2.das"],
     [f"cannot write the .das file {{tmp}}/ugly.das: {FULL}", f"cannot write the .das file {{tmp}}/ugly2.das: {FULL}"],
     unformatted("ugly.das", "ugly2.das")),
    ("report-full", "", ["report", "{run}"], [f"error: cannot write the report {{run}}/report.html: {FULL}"], absent()),
    ("report-out-full", "", ["report", "{run}", "-o", "{tmp}/r.html"],
     [f"error: cannot write the report {{tmp}}/r.html: {FULL}"], absent("r.html")),
    ("plot-full", "", ["plot", "{run}"], [f"error: cannot write the plot {{run}}/plots/gates.png: {FULL}"],
     absent("RUN/plots/gates.png")),
    ("compile-graph-full", "", ["compile", "{pooling}", *TINY, "--graph", "{tmp}/g.json"],
     [f"error: cannot write the graph file {{tmp}}/g.json: {FULL}"], absent("g.json")),
    ("render-full", "", ["render", "{pooling}", "-o", "{tmp}/x.svg"],
     [f"error: cannot write the picture {{tmp}}/x.svg: {FULL}"], absent("x.svg")),
    ("profile-full", "", ["profile", "{pooling}", *TINY, "--repeats", "1", "--warmup", "0", "-o", "{tmp}/lat.json"],
     [f"error: cannot write the latency table {{tmp}}/lat.json: {FULL}"], absent("lat.json")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("match", "argv", "messages", "after"), [c[1:] for c in DISK_CASES], ids=[c[0] for c in DISK_CASES]
)
def test_a_full_disk_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, names: dict[str, str],
    match: str, argv: list[str], messages: list[str], after: Callable[[Path], None],
) -> None:  # fmt: skip
    run_before = snapshot(tmp_path / "RUN")
    fill_disk(monkeypatch, tmp_path, match, partial=match == "log.jsonl")
    code, err = cli(capsys, [a.format(**names) for a in argv])
    monkeypatch.undo()
    for message in messages:
        pattern = ".*".join(re.escape(part.format(**names)) for part in message.split("{any}"))
        clean_error(code, err, pattern)
    assert err.count(": error: ") == len(messages), err  # one paragraph per file
    assert temporaries(tmp_path) == [], "a write left its temporary behind"
    run_after = snapshot(tmp_path / "RUN")
    if argv == EXTEND:  # a resume to 3 epochs records them first and keeps the 2-epoch result beside result.das
        run_before.pop("config.json"), run_after.pop("config.json")
        for kept, original in (("result-epoch2.das", "result.das"), ("summary-epoch2.json", "summary.json")):
            assert run_after.pop(kept) == run_before[original]  # a copy: result.das itself is as it was
    # the rest (the log cut back included) is as it was
    assert run_after == run_before, "the run directory changed"
    after(tmp_path)


def test_a_write_cut_short_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The primitive itself: half of the data written, then ENOSPC: the old file stays, the temporary goes."""
    from dasdsl.files import append_text, write_atomic

    target = tmp_path / "f.txt"
    target.write_text("old\n", encoding="utf-8")
    fill_disk(monkeypatch, tmp_path, partial=True)
    with pytest.raises(DasError, match=re.escape(f"cannot write the table {target}: {FULL}")):
        write_atomic(target, "new\n" * 1000, "table")
    with pytest.raises(DasError, match=re.escape(f"cannot write the log {target}: {FULL}")):
        append_text(target, "more\n" * 1000, "log")
    monkeypatch.undo()
    assert target.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


# ---- a read-only folder -----------------------------------------------------------------------------------


@pytest.fixture
def read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, finished: Path) -> Iterator[tuple[Path, str]]:
    """A copy of the finished run (with an unformatted a.das) that cannot be written, and how the system says
    so: a real ``chmod 0o555`` for a normal user; as root, for whom mode bits do not hold, every write and
    mkdir under it fails with EROFS, as on a read-only mount."""
    folder = tmp_path / "ro"
    shutil.copytree(finished, folder, symlinks=True)
    (folder / "a.das").write_text(UGLY, encoding="utf-8")
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()  # root (with CAP_DAC_OVERRIDE) writes all the same
    except PermissionError:
        yield folder, "user"
        folder.chmod(0o755)
        return
    (folder / "probe").unlink()
    folder.chmod(0o755)
    assert ROOT_USER, "chmod 0o555 did not make a folder read-only for a normal user"
    inside = str(folder)
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def under(path: object) -> bool:
        full = os.path.abspath(os.fsdecode(path))  # type: ignore[arg-type]
        return full == inside or full.startswith(inside + os.sep)

    def refuse(path: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))  # type: ignore[arg-type]

    real_open, real_mkdir = os.open, os.mkdir

    def fake_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if flags & writes and under(path):
            refuse(path)
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    def fake_mkdir(path: object, *args: object, **kwargs: object) -> None:
        if under(path):
            refuse(path)
        real_mkdir(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    yield folder, "root"


# (id, argv ({ro}: the read-only folder), the error as root (EROFS), the error as a user (chmod 0o555))
READ_ONLY_CASES = [
    ("ro-run", ["run", "{pooling}", *SEARCH_1, "--out", "{ro}/runs"],
     "cannot make the folder for run directories {ro}/runs: Read-only file system",
     "cannot write the folder for run directories {ro}/runs: permission denied in {ro}"),
    ("ro-train", ["train", "{ro}/result.das", *SEARCH_1, "--out", "{ro}/tr"],
     "cannot make the folder for run directories {ro}/tr: Read-only file system",
     "cannot write the folder for run directories {ro}/tr: permission denied in {ro}"),
    ("ro-fmt", ["fmt", "--write", "{ro}/a.das"],
     "cannot write the .das file {ro}/a.das: Read-only file system",
     "cannot write the .das file {ro}/a.das: Permission denied"),
    ("ro-report", ["report", "{ro}"],
     "cannot write the report {ro}/report.html: Read-only file system",
     "cannot write the report {ro}/report.html: Permission denied"),
    ("ro-plot", ["plot", "{ro}"],
     "cannot make the folder for the plots {ro}/plots: Read-only file system",
     "cannot make the folder for the plots {ro}/plots: Permission denied"),
    ("ro-export", ["export", "{ro}/result.das", *TINY, "--format", "torchscript", "-o", "{ro}/n.pt"],
     "cannot write the export file {ro}/n.pt: Read-only file system",
     "cannot write the export file {ro}/n.pt: permission denied"),
    ("ro-resume", ["run", "--resume", "{ro}", "--quiet"],
     "cannot lock {ro}: {ro}/.lock: Read-only file system",
     "cannot write the file {ro}/"),  # as a user the .lock there opens; the finished run's result is rewritten
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "as_root", "as_user"), [c[1:] for c in READ_ONLY_CASES], ids=[c[0] for c in READ_ONLY_CASES]
)
def test_a_read_only_folder_is_a_clear_error(
    capsys: pytest.CaptureFixture[str],
    read_only: tuple[Path, str],
    npz: str,
    argv: list[str],
    as_root: str,
    as_user: str,
) -> None:
    folder, who = read_only
    before = snapshot(folder)
    names = {"ro": str(folder), "npz": npz, "pooling": POOLING}
    code, err = cli(capsys, [a.format(**names) for a in argv])
    message = as_root if who == "root" else as_user
    clean_error(code, err, re.escape(message.format(**names)))
    assert snapshot(folder) == before
    assert temporaries(folder) == []


# ---- names too long, names all taken -------------------------------------------------------------------------


def test_fit_name() -> None:
    long_a, long_b = "a" * 300 + "x", "a" * 300 + "y"
    assert fit_name("pooling", "-20260101-120000") == "pooling-20260101-120000"
    a, b = fit_name(long_a, "-20260101-120000"), fit_name(long_b, "-20260101-120000")
    assert a != b and len(a.encode()) == len(b.encode()) == NAME_MAX
    assert a.startswith("a" * 200) and a.endswith("-20260101-120000")
    wide = fit_name("é" * 200, ".onnx")  # two bytes each: never cut inside a character
    assert len(wide.encode()) <= NAME_MAX and wide.endswith(".onnx") and wide.startswith("é" * 100)


def test_a_long_space_name_runs_trains_and_exports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, npz: str
) -> None:
    """A 250-letter space name (which `check` accepts) used to end run and train in ENAMETOOLONG (exit 3)."""
    name = "s" * 250
    space = tmp_path / "long.das"
    space.write_text(Path(POOLING).read_text(encoding="utf-8").replace("space pooling", f"space {name}"))
    search = [a.format(npz=npz) for a in SEARCH_1]
    code, err = cli(capsys, ["run", str(space), *search, "--out", str(tmp_path / "runs")])
    assert code == 0, err
    (run,) = (tmp_path / "runs").iterdir()
    assert len(run.name.encode()) <= NAME_MAX and run.name.startswith("s" * 200)
    assert (run / "space.das").read_text(encoding="utf-8") == space.read_text(encoding="utf-8")
    code, err = cli(capsys, ["train", str(run / "result.das"), *search, "--out", str(tmp_path / "trained")])
    assert code == 0, err
    (trained,) = (tmp_path / "trained").iterdir()
    assert len(trained.name.encode()) <= NAME_MAX and (trained / "model.pt").is_file()
    monkeypatch.chdir(tmp_path)  # the default export file is named after the space
    code, err = cli(capsys, ["export", str(run / "result.das"), *TINY, "--format", "onnx"])
    assert code == 0, err
    (exported,) = tmp_path.glob("*.onnx")
    assert len(exported.name.encode()) <= NAME_MAX and exported.name.startswith("s" * 200)


def test_every_run_directory_name_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Names taken (by folders, files or dangling links) are skipped, and the search for one ends."""
    monkeypatch.setattr(rundir.time, "strftime", lambda fmt: "20260101-120000")
    (tmp_path / "s-20260101-120000").symlink_to(tmp_path / "nowhere")
    (tmp_path / "s-20260101-120000-2").write_text("")
    assert rundir.new_run_dir(tmp_path, "s").name == "s-20260101-120000-3"
    for n in range(4, 1000):
        (tmp_path / f"s-20260101-120000-{n}").symlink_to(tmp_path / "nowhere")
    with deadline(30), pytest.raises(DasError, match="s-20260101-120000 to s-20260101-120000-999 are all taken"):
        rundir.new_run_dir(tmp_path, "s")


# ---- the Python API, and what a write keeps -------------------------------------------------------------------


def test_the_api_refuses_a_dangling_out(tmp_path: Path, npz: str, pooling: dasdsl.api.Space) -> None:
    (tmp_path / "out").symlink_to(tmp_path / "nowhere")
    space = pooling
    with deadline(60), pytest.raises(DasError, match="is a symbolic link that points nowhere"):
        space.search(f"npz:{npz}", epochs=1, out=tmp_path / "out", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_the_api_on_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, finished: Path, npz: str, pooling: dasdsl.api.Space
) -> None:
    space = pooling
    fill_disk(monkeypatch, tmp_path)
    with pytest.raises(DasError, match=re.escape(FULL)):
        space.search(f"npz:{npz}", epochs=1, batch=16, out=tmp_path / "runs", progress=False)
    with pytest.raises(DasError, match=re.escape(f"cannot write the report {tmp_path}/r.html: {FULL}")):
        dasdsl.api.report(finished, tmp_path / "r.html")
    with pytest.raises(DasError, match=re.escape(f"cannot write the export file {tmp_path}/n.pt: {FULL}")):
        dasdsl.api.export(finished / "result.das", "torchscript", tmp_path / "n.pt", input_shape=(1, 8, 8), classes=4)
    monkeypatch.undo()
    assert list((tmp_path / "runs").iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


def test_fmt_write_keeps_the_file_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.das"
    path.write_text(UGLY, encoding="utf-8")
    path.chmod(0o640)
    code, err = cli(capsys, ["fmt", "--write", str(path)])
    assert code == 0, err
    assert path.read_text(encoding="utf-8") != UGLY and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.das"]


def test_an_os_error_no_check_foresaw_is_one_paragraph() -> None:
    """The command line's last resort (dasdsl.cli.main): which file, the system's reason, what to do."""
    from dasdsl.files import file_system_error

    named = file_system_error(OSError(errno.EROFS, os.strerror(errno.EROFS), "/mnt/ro/x"))
    assert named.render() == (
        "/mnt/ro/x: error: cannot use /mnt/ro/x: Read-only file system\n"
        "  hint: that file system is read-only: name a folder on a writable disk"
    )
    unnamed = file_system_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    assert unnamed.render().startswith("<file system>: error: a file could not be read or written: " + FULL)
