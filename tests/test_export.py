"""dasdsl export: the Python module (in a fresh interpreter that cannot import dasdsl), TorchScript and ONNX
give the outputs of dasdsl's own network with the same weights, for every shipped fixed space and a searched
result of every shipped search space."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from paths import ROOT, SHIPPED

import dasdsl
from dasdsl.compiler.lower import FixedNetwork
from dasdsl.engine.data import load as load_data

FIXTURES = sorted((ROOT / "tests" / "fixtures" / "fidelity").glob("*.das"))
TOL = 1e-5


def _small_data(kind: str) -> tuple[np.ndarray, np.ndarray]:
    ds = load_data("mnist1d" if kind == "sequence" else "digits", kind)
    return ds.x_train[:96], ds.y_train[:96]


def _searched(path: Path) -> dasdsl.Space:
    """The result of a one-epoch search on 96 samples: a real result, quickly."""
    space = dasdsl.load(path)
    data = _small_data(space.input_kind)
    result = space.search(data, epochs=1, batch=32, seed=0, progress=False, finetune=0, select="gates")
    assert result is not None and result.space.count() == 1
    return result.space


# spaces/darts_v2.das, built through its train block, is the fidelity fixture's DARTS-V2 network: tested once
CASES = [p for p in SHIPPED if dasdsl.load(p).count() == 1] + [p for p in FIXTURES if p.name != "darts_v2.das"]
SEARCHED = [p for p in SHIPPED if dasdsl.load(p).count() > 1]


def _trained_statistics(net: torch.nn.Module, shape: tuple[int, ...]) -> None:
    """Batch-norm statistics away from their initial values (a few forward passes in training mode), so that
    every part of the network shows in its eval-mode output."""
    g = torch.Generator().manual_seed(0)
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(8, *shape, generator=g))
    net.eval()


def _check(space: dasdsl.Space, shape: tuple[int, ...], classes: int, tmp: Path) -> dict[str, float]:
    net = FixedNetwork(space.for_training().graph(shape, classes))  # what `dasdsl train` would have trained
    _trained_statistics(net, shape)
    weights = tmp / "model.pt"
    torch.save(net.state_dict(), weights)
    x = torch.randn(5, *shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = net(x)
    torch.save(x, tmp / "x.pt")
    diffs = {"scale": float(want.abs().max())}
    source = dasdsl.api.export(space, "python", tmp / "net.py", weights=weights, input_shape=shape, classes=classes)
    code = (
        "import sys; sys.modules['dasdsl'] = None\n"  # the file must not need dasdsl
        f"sys.path.insert(0, {str(tmp)!r})\n"
        "import torch, net\n"
        "m = net.Network()\n"
        f"m.load_state_dict(torch.load({str(weights)!r}, weights_only=True))\n"
        "m.eval()\n"
        f"with torch.no_grad(): torch.save(m(torch.load({str(tmp / 'x.pt')!r})), {str(tmp / 'y.pt')!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp)
    assert done.returncode == 0, done.stderr
    assert "dasdsl" not in source.read_text(encoding="utf-8").split('"""', 2)[2].replace("dasdsl train", "")
    diffs["python"] = float((torch.load(tmp / "y.pt") - want).abs().max())
    script = dasdsl.api.export(
        space, "torchscript", tmp / "net.pt", weights=weights, input_shape=shape, classes=classes
    )
    with torch.no_grad():
        diffs["torchscript"] = float((torch.jit.load(str(script))(x) - want).abs().max())
    import onnxruntime  # CI installs the onnx extra

    model = dasdsl.api.export(space, "onnx", tmp / "net.onnx", weights=weights, input_shape=shape, classes=classes)
    session = onnxruntime.InferenceSession(str(model))
    got = session.run(None, {"input": x.numpy()})[0]
    diffs["onnx"] = float(np.abs(got - want.numpy()).max())
    return diffs


def _assert_close(diffs: dict[str, float]) -> None:
    """Float32 agreement to 1e-5 (outputs of order 1: the exported module sums in another order than
    dasdsl's fast convolution paths, so not bit for bit)."""
    scale = diffs.pop("scale")
    assert 0.01 < scale < 100 and max(diffs.values()) <= TOL, (diffs, scale)
    print(f"max abs difference {diffs}, largest output {scale:.3g}")


@pytest.mark.slow
@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_fixed_spaces_export_to_the_same_outputs(path: Path, tmp_path: Path) -> None:
    space = dasdsl.load(path)
    shape = space.input_shape or {"image": (1, 8, 8), "sequence": (1, 40), "vector": (64,)}[space.input_kind]
    diffs = _check(space, tuple(shape), 10, tmp_path)
    _assert_close(diffs)


@pytest.mark.slow
@pytest.mark.parametrize("path", SEARCHED, ids=lambda p: p.name)
def test_searched_results_export_to_the_same_outputs(path: Path, tmp_path: Path) -> None:
    space = _searched(path)
    x, _ = _small_data(space.input_kind)
    diffs = _check(space, tuple(x.shape[1:]), 10, tmp_path)
    _assert_close(diffs)


def test_model_pt_of_dasdsl_train_loads_into_the_exported_module(tmp_path: Path) -> None:
    space = _searched(ROOT / "spaces" / "pooling.das")
    trained = space.train("digits", epochs=1, batch=64, out=tmp_path / "runs", progress=False)
    assert trained.run_dir is not None
    out = dasdsl.api.export(space, "python", tmp_path / "net.py", weights=trained.run_dir / "model.pt", data="digits")
    from dasdsl.compiler.export import import_python

    module = import_python(out)
    saved = torch.load(trained.run_dir / "model.pt", weights_only=True)
    assert saved["format"] == "dasdsl-model/1" and saved["space"] == space.to_das()
    module.load_state_dict(saved["model"])  # strict: no renaming
    module.eval()
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        assert float((module(x) - trained.network.eval()(x)).abs().max()) <= TOL


def test_export_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(dasdsl.DasError, match=r"still has 6 choice points"):
        dasdsl.api.export(ROOT / "spaces" / "nb201.das", "python", tmp_path / "x.py")
    with pytest.raises(dasdsl.DasError, match=r"unknown export format 'keras'"):
        dasdsl.api.export(ROOT / "spaces" / "darts_result.das", "keras", tmp_path / "x.py")
    torch.save({"items.nothing.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(dasdsl.DasError, match=r"do not fit this network") as caught:
        dasdsl.api.export(
            ROOT / "spaces" / "darts_result.das", "python", tmp_path / "x.py", weights=tmp_path / "bad.pt"
        )
    message = caught.value.errors[0].message  # one paragraph: counts and the first few names, not every key
    assert "1 unexpected (first: items.nothing.weight)" in message and " missing (first: " in message
    assert len(message) < 400
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(dasdsl.DasError, match=r"cannot read weights"):
        dasdsl.api.export(
            ROOT / "spaces" / "darts_result.das", "python", tmp_path / "x.py", weights=tmp_path / "junk.pt"
        )
    assert not (tmp_path / "x.py").exists()  # nothing written on an error


def test_onnx_without_its_extra_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dasdsl.compiler import export as exporter

    monkeypatch.setattr(exporter, "onnx", None)  # as on a machine without the extra
    with pytest.raises(dasdsl.DasError, match=r"needs the onnx package") as info:
        dasdsl.api.export(ROOT / "spaces" / "darts_result.das", "onnx", tmp_path / "x.onnx")
    assert "pip install 'dasdsl[onnx]'" in str(info.value)
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.slow
def test_cli_export(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dasdsl",
            "export",
            str(ROOT / "spaces" / "darts_result.das"),
            "--format",
            "torchscript",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "torchscript: darts_result.pt (freshly initialized weights (no --weights))" in done.stdout
    assert torch.jit.load(str(tmp_path / "darts_result.pt"))(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    bad = subprocess.run(
        [sys.executable, "-m", "dasdsl", "export", str(ROOT / "spaces" / "nb201.das")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "choice points" in bad.stderr


@pytest.mark.slow
def test_let_gives_the_darts_evaluation_network(tmp_path: Path) -> None:
    """DARTS searches at C = 16 and evaluates at C = 36: DARTS-V2 at C = 36, 20 cells, 10 classes has 3,349,342
    weights (the paper's 3.3M, without the auxiliary head)."""
    text = (ROOT / "tests" / "fixtures" / "fidelity" / "darts_v2.das").read_text(encoding="utf-8")
    searched = tmp_path / "darts_v2_c16.das"
    searched.write_text(text.replace("let C = 36", "let C = 16"), encoding="utf-8")
    small = sum(p.numel() for p in dasdsl.load(searched).network((3, 32, 32), 10).parameters())
    evaluated = dasdsl.load(searched).let(C=36)
    assert sum(p.numel() for p in evaluated.network((3, 32, 32), 10).parameters()) == 3_349_342 != small
    done = subprocess.run(
        [sys.executable, "-m", "dasdsl", "export", str(searched), "--let", "C=36", "-o", "v2.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    source = (tmp_path / "v2.py").read_text(encoding="utf-8")
    assert "3,349,342 parameters" in source
    print(f"DARTS-V2 export at C=36: {len(source.splitlines())} lines")
    bad = subprocess.run(
        [sys.executable, "-m", "dasdsl", "export", str(searched), "--let", "D=36"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "--let D=36: space 'darts_v2' has no constant D (its constants: C)" in bad.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "dasdsl", "train", str(searched), "--let", "C"], capture_output=True, text=True
    )
    assert usage.returncode == 2 and "expected NAME=VALUE (e.g. C=36)" in usage.stderr
