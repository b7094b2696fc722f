"""Front-end speed: parse + check of spaces/darts.das, and scaling with the number of cells.

Run by hand: ``python bench/frontend.py``. Prints medians; the per-cell time of the
largest space against the smallest shows whether the front end scales linearly.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

import dasdsl
from dasdsl.lang.check import check
from dasdsl.lang.parse import _parser, parse

ROOT = Path(__file__).resolve().parent.parent


def generated_space(cells: int) -> str:
    """A space of ``cells`` distinct DARTS-like cell templates, all used by the network."""
    lines = ["space generated", "input image", "let C = 8", "ops darts = [none, skip, max_pool(3), sep_conv(3)]"]
    for i in range(cells):
        lines += [
            f"cell c{i}(c) {{",
            "    input s0, s1",
            "    node n0 = (s0, s1) ~ darts keep 2",
            "    node n1 = (s0, s1, n0) ~ darts keep 2",
            "    output concat(n0, n1)",
            "}",
        ]
    items = ", ".join(f"c{i}(C)" for i in range(cells))
    lines += [
        "network {",
        "    stem conv_bn(3, out = C)",
        f"    cells {items}",
        "    head global_avg_pool then linear(classes)",
        "}",
    ]
    return "\n".join(lines) + "\n"


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    torch.set_num_threads(1)
    start = time.perf_counter()
    _parser()
    print(f"grammar load (once per process): {1e3 * (time.perf_counter() - start):.1f} ms")
    text = (ROOT / "spaces" / "darts.das").read_text()
    t_parse = median_time(lambda: parse(text, "darts.das"), 30)
    t_load = median_time(lambda: dasdsl.loads(text, "darts.das"), 30)
    print(f"spaces/darts.das: parse {1e3 * t_parse:.1f} ms, parse + check {1e3 * t_load:.1f} ms (median of 30)")
    print(f"{'cells':>6} {'lines':>7} {'parse ms':>9} {'check ms':>9} {'total ms':>9} {'us/cell':>8}")
    per_cell = {}
    for n in (10, 100, 500, 1000):
        src = generated_space(n)
        repeats = 9 if n <= 100 else 3
        tp = median_time(lambda src=src: parse(src, "gen.das"), repeats)
        module = parse(src, "gen.das")
        tc = median_time(lambda module=module, src=src: check(module, src), repeats)
        per_cell[n] = (tp + tc) / n
        print(
            f"{n:>6} {src.count(chr(10)):>7} {1e3 * tp:>9.1f} {1e3 * tc:>9.1f} {1e3 * (tp + tc):>9.1f} "
            f"{1e6 * per_cell[n]:>8.0f}"
        )
    ratio = per_cell[1000] / per_cell[10]
    print(f"time per cell, 1000 cells vs 10 cells: {ratio:.2f}x (1.0 = linear)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
