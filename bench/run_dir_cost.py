"""What a run directory adds to a small search: the same one-epoch search of spaces/pooling.das on digits with
``out=None``, with ``out=folder`` (space.das, config.json, log, checkpoint, result, summary, report.html), and with
``out=folder, report=False``; medians of N runs in one process after a warm-up, one torch thread; and the first
``out=folder`` run of the process, which also pays for the report's imports.

    python bench/run_dir_cost.py [N]

Runs on code without the ``report`` keyword too (that row is then skipped), so the figure before a change can be
taken from an older checkout with the same script.
"""

from __future__ import annotations

import inspect
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from dasdsl import api

ROOT = Path(__file__).resolve().parent.parent


def timed(space: api.Space, **options: object) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        if options.pop("out", None):
            options["out"] = tmp
        start = time.perf_counter()
        space.search("digits", epochs=1, batch=64, seed=0, progress=False, select="gates", **options)
        return time.perf_counter() - start


def main() -> None:
    torch.set_num_threads(1)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    space = api.load(ROOT / "spaces" / "pooling.das")
    timed(space)  # warm-up: imports, the data
    first = timed(space, out=True)  # the first run directory of the process: the report's imports too
    modes = {"out=None": {}, "out=folder": {"out": True}}
    if "report" in inspect.signature(api.search).parameters:
        modes["out=folder, report=False"] = {"out": True, "report": False}
    medians = {}
    for name, options in modes.items():
        medians[name] = statistics.median(timed(space, **dict(options)) for _ in range(n))
    base = medians["out=None"]
    print(f"{'first out=folder':28s} {first:7.3f} s  (+{first - base:6.3f} s: the report's imports, once per process)")
    for name, seconds in medians.items():
        print(f"{name:28s} {seconds:7.3f} s  (+{seconds - base:6.3f} s, x{seconds / base:5.2f} of out=None)")


if __name__ == "__main__":
    main()
