"""The wheel ships the grammar, and an installed package used from another folder finds it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from paths import ROOT


@pytest.mark.slow
def test_wheel_contains_grammar_and_parses_from_elsewhere(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("dasdsl-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        assert "dasdsl/grammars/das.lark" in zf.namelist()
        zf.extractall(site)
    # run from an unrelated folder with only the unpacked wheel on the path
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import dasdsl, sys; print(dasdsl.__file__); sys.exit(__import__('dasdsl.cli').cli.main())",
            "check",
            str(ROOT / "spaces" / "nb201.das"),
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith(str(site))
    assert "15,625 architectures" in out.stdout


def test_python_dash_m_runs_the_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "dasdsl", "check", str(ROOT / "spaces" / "darts.das")], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "1,076,746,950,455,072,400 architectures" in out.stdout
