"""Compile time: spaces/darts.das (C=16, 8 cells, 3x32x32) from text to a torch supernet.

Run by hand: ``python bench/compile.py``. Prints the median of each stage over 5 runs.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
from pathlib import Path

import torch

from dasdsl.lang.parse import _parser

ROOT = Path(__file__).resolve().parent.parent


def _compile_scaling():
    """bench/compile_scaling.py by path (bench/ is no package)."""
    if "compile_scaling" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "compile_scaling", Path(__file__).resolve().with_name("compile_scaling.py")
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules["compile_scaling"] = module
        spec.loader.exec_module(module)
    return sys.modules["compile_scaling"]


def main() -> None:
    compile_once = _compile_scaling().compile_once
    torch.set_num_threads(1)
    _parser()
    text = (ROOT / "spaces" / "darts.das").read_text()
    rows: dict[str, list[float]] = {"parse": [], "check": [], "ir": [], "lower": [], "total": []}
    for _ in range(5):
        stages = compile_once(text, (3, 32, 32), "darts.das")[0]
        times = (stages["parse"], stages["check"], stages["ir"], stages["torch"])
        for key, value in zip(rows, (*times, sum(times))):
            rows[key].append(value)
    for key, values in rows.items():
        print(f"{key:>6}: {1e3 * statistics.median(values):8.1f} ms (median of 5)")
    total = statistics.median(rows["total"])
    print(f"darts.das to supernet: {total:.2f} s (target < 2 s): {'ok' if total < 2 else 'SLOW'}")


if __name__ == "__main__":
    main()
