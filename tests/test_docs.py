"""The documentation's examples run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from paths import ROOT


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.slow
def test_the_api_example_runs(tmp_path: Path) -> None:
    """docs/api.md's example, in a fresh interpreter from the repository root; it writes nothing (out=None)."""
    (example,) = _python_blocks(ROOT / "docs" / "api.md")
    before = sorted(p.name for p in ROOT.iterdir())
    done = subprocess.run([sys.executable, "-c", example], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "space pooling_result" in done.stdout  # the derived architecture, printed
    assert re.search(r"test accuracy 0\.\d+ on 360 samples", done.stdout), done.stdout  # 20% of 1,797 held out
    assert sorted(p.name for p in ROOT.iterdir()) == before


@pytest.mark.slow
def test_the_readme_quick_start_ends_with_an_architecture_well_above_chance(tmp_path: Path) -> None:
    """The README's first command, as written after the install: a search, a fine-tune, a test accuracy that
    means something (chance on digits is 0.1)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Quick start\n\n```sh\n(.*?)```", readme, flags=re.S)
    assert block is not None
    first = block.group(1).splitlines()[0]
    command = first.split("&&", 1)[1].split("#", 1)[0].split()
    assert command[:2] == ["dasdsl", "run"] and (ROOT / command[2]).is_file()
    done = subprocess.run(
        [sys.executable, "-m", "dasdsl", *command[1:2], str(ROOT / command[2]), *command[3:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    assert "derived architecture:" in done.stdout
    found = re.search(r"test accuracy of the discretized network \(fine-tuned (\d+) epochs\): (0\.\d+)", done.stdout)
    assert found is not None, done.stdout
    assert float(found.group(2)) > 0.9
    assert len(list((tmp_path / "runs").glob("nb201_digits-*/result.das"))) == 1


PLUGIN_SPACE = """space plugged
input image

cell mixed(c) with input stride 2 {
    input x
    node y = x ~ [my_mbconv(3), my_mbconv(k = [3, 5], expand = 2), skip]
    output y
}

network {
    stem  conv_bn(3, out = 8)
    cells mixed(8)
    head  global_avg_pool then linear(classes)
}
"""

PLUGIN_CHECK = """
import torch, dasdsl
space = dasdsl.load("plugged.das", plugins=["doc_ops"])
print(space.count())
net = space.supernet((1, 8, 8), 10)
print(tuple(net(torch.randn(2, 1, 8, 8)).shape))
fixed = dasdsl.loads(open("plugged.das").read().replace(
    "[my_mbconv(3), my_mbconv(k = [3, 5], expand = 2), skip]", "my_mbconv(5, out = 8)"), plugins=["doc_ops"])
print(tuple(fixed.network((1, 8, 8), 10)(torch.randn(2, 1, 8, 8)).shape))
"""


def test_the_plugin_example_of_the_language_reference_registers_a_working_op(tmp_path: Path) -> None:
    """docs/language.md section 5's plugin module, as written: the builder signature the registry calls
    (``build(shape, stride, args, affine=...)``), its shape rule, value lists and an input stride."""
    (example,) = _python_blocks(ROOT / "docs" / "language.md")
    (tmp_path / "doc_ops.py").write_text(example, encoding="utf-8")
    (tmp_path / "plugged.das").write_text(PLUGIN_SPACE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", PLUGIN_CHECK], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["4", "(2, 10)", "(2, 10)"]  # 1 + 2 (a value list) + skip candidates
