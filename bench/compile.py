"""Compile time: spaces/darts.das (C=16, 8 cells, 3x32x32) from text to a torch supernet.

Run by hand: ``python bench/compile.py``. Prints the median of each stage over 5 runs.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

from dasdsl.check import check
from dasdsl.ir import build_ir
from dasdsl.lower import Supernet
from dasdsl.parse import _parser, parse

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    torch.set_num_threads(1)
    _parser()
    text = (ROOT / "spaces" / "darts.das").read_text()
    rows: dict[str, list[float]] = {"parse": [], "check": [], "ir": [], "lower": [], "total": []}
    for _ in range(5):
        t0 = time.perf_counter()
        module = parse(text, "darts.das")
        t1 = time.perf_counter()
        space = check(module, text, classes=10)
        t2 = time.perf_counter()
        ir = build_ir(space, (3, 32, 32), 10)
        t3 = time.perf_counter()
        Supernet(ir)
        t4 = time.perf_counter()
        for key, value in zip(rows, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
            rows[key].append(value)
    for key, values in rows.items():
        print(f"{key:>6}: {1e3 * statistics.median(values):8.1f} ms (median of 5)")
    total = statistics.median(rows["total"])
    print(f"darts.das to supernet: {total:.2f} s (target < 2 s): {'ok' if total < 2 else 'SLOW'}")


if __name__ == "__main__":
    main()
