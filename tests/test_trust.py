"""A .das file and a run directory are data: loading them never runs code, and reads are bounded."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from paths import POOLING, SPACE_DIR

import dasdsl
from dasdsl.cli import main
from dasdsl.errors import DasError

CIFAR_SPACE = """\
space tiny
input image
cell c(w) {{
    input x
    node y = x ~ [max_pool(3), avg_pool(3)]
    output y
}}
network {{
    stem  conv_bn(3, out = 8)
    cells c(8)
    head  global_avg_pool then linear(classes)
}}
search {{
    data cifar10("{folder}")
}}
"""


class _WritesAFile:
    """What a crafted pickle can do on load: call any function it names, here open(marker, "w")."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def _batches(folder: Path, poison: object | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), b"labels": rng.integers(0, 10, 20).tolist()}
        if poison is not None and name == "data_batch_3":
            d[b"extra"] = poison
        with open(folder / name, "wb") as f:
            pickle.dump(d, f)
    return folder


def test_cifar_batches_load(tmp_path: Path) -> None:
    folder = _batches(tmp_path / "cifar")
    space = dasdsl.loads(CIFAR_SPACE.format(folder=folder))
    ir = space.graph()
    assert ir.input_shape == (3, 32, 32) and ir.classes == 10


@pytest.mark.parametrize("command", ["compile", "profile", "render", "run"])
def test_a_crafted_cifar_batch_runs_nothing(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    folder = _batches(tmp_path / "cifar", _WritesAFile(marker))
    space = tmp_path / "tiny.das"
    space.write_text(CIFAR_SPACE.format(folder=folder), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main([command, str(space), *(["--out", "runs"] if command == "run" else [])]) == 1
    err = capsys.readouterr().err
    assert not marker.exists()  # the pickle's call was refused, not made
    assert "data_batch_3 is not a CIFAR-10 python batch" in err
    assert "io.open, which no CIFAR-10 batch holds (refused, not run)" in err
    assert "Traceback" not in err and not (tmp_path / "runs").exists()


def test_the_library_refuses_it_too(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    folder = _batches(tmp_path / "cifar", _WritesAFile(marker))
    with pytest.raises(DasError, match="no CIFAR-10 batch holds"):
        dasdsl.loads(CIFAR_SPACE.format(folder=folder)).graph()
    assert not marker.exists()


# ---- bounded, tolerant reads -------------------------------------------------------------------


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_file_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "/dev/zero"]) == 1
    assert "/dev/zero is larger than 16 MiB: not a .das file" in capsys.readouterr().err
    assert main(["fmt", "/dev/zero"]) == 1
    assert "larger than 16 MiB" in capsys.readouterr().err


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_latency_table_is_refused(tmp_path: Path) -> None:
    text = POOLING.read_text(encoding="utf-8")
    text = text.replace("search {", 'search {\n    latency_table "/dev/zero"\n    penalty cost(latency, 0.1)')
    space = dasdsl.loads(text)
    with pytest.raises(DasError, match="larger than 16 MiB: not a latency table"):
        space.search("synthetic", epochs=1, progress=False)


def test_a_byte_order_mark_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bom.das"
    path.write_bytes(b"\xef\xbb\xbf" + (SPACE_DIR / "nb201.das").read_bytes())
    assert main(["check", str(path)]) == 0
    assert "15,625 architectures" in capsys.readouterr().out
    assert dasdsl.load(path).count() == 15625


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"space s\n\xff\xfe\n", "is not UTF-8 text"), (None, "is a folder, not a .das file")],
)
def test_unreadable_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    path = tmp_path / "x.das"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
