"""The documentation's examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def test_the_api_example_runs(tmp_path: Path) -> None:
    """docs/api.md's example, in a fresh interpreter from the repository root; it writes nothing (out=None)."""
    (example,) = _python_blocks(ROOT / "docs" / "api.md")
    before = sorted(p.name for p in ROOT.iterdir())
    done = subprocess.run([sys.executable, "-c", example], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "space pooling_result" in done.stdout  # the derived architecture, printed
    assert re.search(r"test accuracy 0\.\d+ on 360 samples", done.stdout), done.stdout  # 20% of 1,797 held out
    assert sorted(p.name for p in ROOT.iterdir()) == before
