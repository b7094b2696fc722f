"""Compile time against the number of cells: parse, check, IR and torch supernet for 10, 100 and 1,000 cells.

Run by hand: ``python bench/compile_scaling.py [--repeats 3] [--sizes 10 100 1000]``.

Two kinds of generated space, both printed:
- ``distinct``: N cell templates ``c0 .. c(N-1)``, each used once (N templates to check, N cell
  types in the IR, N x 5 choices, so N x 5 alpha vectors);
- ``repeat``: one template used ``x N`` (one template to check, N instances in the IR and the
  supernet, 5 shared choices).
The cell is small so that 1,000 of them fit in memory: 2 nodes, 5 edges of 3 candidates
(none, skip, sep_conv(3)), C=4 on 3x8x8 inputs, no reductions. Lowering is the IR
(``build_ir``: shapes, adapters, choices) plus the torch ``Supernet`` construction; a constant
time per cell from 10 to 1,000 cells means linear scaling.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import torch

from dasdsl.compiler.build import build_ir
from dasdsl.compiler.lower import Supernet
from dasdsl.lang.check import check
from dasdsl.lang.parse import _parser, parse

SHAPE = (3, 8, 8)
CELL = """cell {name}(c) {{
    input s0, s1
    node n0 = (s0, s1) ~ ops keep 2
    node n1 = (s0, s1, n0) ~ ops keep 2
    output concat(n0, n1)
}}"""


def generated_space(cells: int, kind: str) -> str:
    lines = ["space scaling", "input image", "let C = 4", "ops ops = [none, skip, sep_conv(3)]"]
    if kind == "distinct":
        lines += [CELL.format(name=f"c{i}") for i in range(cells)]
        items = ", ".join(f"c{i}(C)" for i in range(cells))
    else:
        lines.append(CELL.format(name="c"))
        items = f"c(C) x {cells}"
    lines += [
        "network {",
        "    stem conv_bn(3, out = C)",
        f"    cells {items}",
        "    head global_avg_pool then linear(classes)",
        "}",
    ]
    return "\n".join(lines) + "\n"


STAGES = ("parse", "check", "ir", "torch")


def compile_once(
    text: str, shape: tuple[int, ...] = SHAPE, file: str = "scaling.das"
) -> tuple[dict[str, float], int, int]:
    """Seconds per stage, and the supernet's weight and alpha-vector counts."""
    t0 = time.perf_counter()
    module = parse(text, file)
    t1 = time.perf_counter()
    space = check(module, text, classes=10)
    t2 = time.perf_counter()
    ir = build_ir(space, shape, 10)
    t3 = time.perf_counter()
    net = Supernet(ir)
    t4 = time.perf_counter()
    weights = sum(p.numel() for p in net.weight_parameters())
    return dict(zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3))), weights, len(net.alphas)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeats", type=int, default=3, help="median of this many (1 for the largest size)")
    parser.add_argument("--kinds", nargs="+", default=["distinct", "repeat"], choices=["distinct", "repeat"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    _parser()  # the grammar is loaded once per process; not part of any row
    for kind in args.kinds:
        print(f"\n{kind}: {'N templates used once' if kind == 'distinct' else 'one template x N'}")
        header = "".join(f"{s + ' ms':>10}" for s in (*STAGES, "total"))
        print(f"{'cells':>6}{header}{'us/cell':>10}{'weights':>10}{'alphas':>8}")
        per_cell = {}
        for n in args.sizes:
            text = generated_space(n, kind)
            repeats = 1 if n == max(args.sizes) and len(args.sizes) > 1 else args.repeats
            runs = []
            for _ in range(repeats):
                gc.collect()
                runs.append(compile_once(text))
            times = {s: statistics.median(r[0][s] for r in runs) for s in STAGES}
            total = sum(times.values())
            per_cell[n] = total / n
            cols = "".join(f"{1e3 * times[s]:>10.1f}" for s in STAGES)
            print(f"{n:>6}{cols}{1e3 * total:>10.1f}{1e6 * per_cell[n]:>10.0f}{runs[0][1]:>10,}{runs[0][2]:>8}")
        lo, hi = min(args.sizes), max(args.sizes)
        print(f"time per cell, {hi} cells against {lo}: {per_cell[hi] / per_cell[lo]:.2f}x (1.0 = linear)")


if __name__ == "__main__":
    main()
