"""Hostile export inputs (issue 24): a backslash in the .das path, weights of another architecture with the same
tensor shapes, a state dict with a key that is no name, an absurd input shape; and model.pt's recorded shape and
classes used by export. Each ends in a clear error with nothing written (or, for the path, a working file)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from paths import ROOT

import dasdsl
from dasdsl.cli import main
from dasdsl.compiler.lower import FixedNetwork

POOLING = (ROOT / "spaces" / "pooling.das").read_text()
MAX = POOLING.replace("[max_pool(3), avg_pool(3)]", "max_pool(3)")
AVG = POOLING.replace("[max_pool(3), avg_pool(3)]", "avg_pool(3)")


def _model_pt(path: Path, text: str, shape: list[int], classes: int) -> Path:
    """A model.pt as ``dasdsl train`` writes it, for the space ``text``."""
    net = FixedNetwork(dasdsl.loads(text).graph(tuple(shape), classes))
    record = {"format": "dasdsl-model/1", "model": net.state_dict(), "space": text, "input_shape": shape}
    torch.save({**record, "classes": classes, "settings": {}, "epochs_done": 1}, path)
    return path


@pytest.mark.parametrize("format", ["python", "torchscript"])
def test_backslash_in_the_das_path_is_escaped(tmp_path: Path, format: str) -> None:
    folder = tmp_path / "C:\\Users\\ada"  # a Windows path's characters, as one folder name here
    folder.mkdir()
    das = folder / 'net"\\u00e9.das'
    das.write_text(MAX, encoding="utf-8")
    out = tmp_path / ("net.py" if format == "python" else "net.pt")
    dasdsl.api.export(das, format, out, input_shape=(1, 8, 8), classes=3)
    if format == "python":
        spec = importlib.util.spec_from_file_location("exported_net", out)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # the file imports: its docstring is a valid literal
        assert str(das) in module.__doc__  # and reads back as the path, character for character
        assert module.Network()(torch.zeros(2, 1, 8, 8)).shape == (2, 3)
    else:
        assert torch.jit.load(str(out))(torch.zeros(2, 1, 8, 8)).shape == (2, 3)


def test_weights_of_another_architecture_are_refused(tmp_path: Path) -> None:
    weights = _model_pt(tmp_path / "model.pt", MAX, [1, 8, 8], 3)  # max pooling: the same tensors as avg
    (tmp_path / "avg.das").write_text(AVG, encoding="utf-8")
    with pytest.raises(dasdsl.DasError) as caught:
        dasdsl.api.export(tmp_path / "avg.das", "python", tmp_path / "x.py", weights=weights)
    error = caught.value.errors[0]
    assert error.message == (
        f"the weights in {weights} were trained for another architecture: the space that {weights} records builds "
        "another network than the one exported (even where the tensor shapes agree)"
    )
    assert error.hint == "export the .das (with the --let values) that the weights were trained with"
    assert not (tmp_path / "x.py").exists()
    (tmp_path / "max.das").write_text("# the same space, formatted otherwise\n" + MAX, encoding="utf-8")
    path = dasdsl.api.export(tmp_path / "max.das", "python", tmp_path / "y.py", weights=weights)
    assert path.is_file()  # the same architecture, written differently: accepted


def test_export_uses_the_shape_and_classes_model_pt_records(tmp_path: Path) -> None:
    weights = _model_pt(tmp_path / "model.pt", MAX, [1, 8, 8], 3)
    (tmp_path / "max.das").write_text(MAX, encoding="utf-8")  # its own data: digits, 10 classes
    out = tmp_path / "net.py"
    assert main(["export", str(tmp_path / "max.das"), "--weights", str(weights), "-o", str(out)]) == 0
    assert "Input 1x8x8, 3 classes" in out.read_text()


def test_integer_key_in_a_state_dict_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save({0: torch.zeros(1)}, tmp_path / "odd.pt")
    (tmp_path / "max.das").write_text(MAX, encoding="utf-8")
    code = main(
        ["export", str(tmp_path / "max.das"), "--weights", str(tmp_path / "odd.pt"), "-o", str(tmp_path / "x.py")]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'odd.pt'} holds no state dict: its key 0 is a int, not a parameter name" in err
    assert not (tmp_path / "x.py").exists()


@pytest.mark.slow
def test_absurd_input_shape_is_refused_before_building(tmp_path: Path) -> None:
    ABSURD = ["--input-shape", "1,100000,100000", "--classes", "3", "-o", str(tmp_path / "x.onnx")]  # noqa: N806
    (tmp_path / "max.das").write_text(MAX, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "dasdsl", "export", str(tmp_path / "max.das"), "--format", "onnx", *ABSURD],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 1, done.stderr
    assert (
        "the input has shape 1x100000x100000: 10,000,000,000 values per sample, more than the 268,435,456 an "
        "export handles" in done.stderr
    )
    assert not (tmp_path / "x.onnx").exists()


def test_weights_trained_with_train_block_lets_export(tmp_path: Path) -> None:
    """model.pt records the space as trained (its train block's ``let`` given): the same network, not refused."""
    text = MAX.replace("conv_bn(3, out = 8)", "conv_bn(3, out = C)").replace(
        "space pooling", "space pooling\nlet C = 8"
    )
    (tmp_path / "s.das").write_text(text + "\ntrain {\n    let C = 4\n}\n", encoding="utf-8")
    x = torch.randn(120, 1, 8, 8).numpy()
    trained = dasdsl.train(tmp_path / "s.das", (x, [i % 3 for i in range(120)]), epochs=1, batch=16, out=tmp_path)
    assert trained.run_dir is not None
    path = dasdsl.api.export(tmp_path / "s.das", "python", tmp_path / "n.py", weights=trained.run_dir / "model.pt")
    assert "Input 1x8x8, 3 classes, " in path.read_text()
