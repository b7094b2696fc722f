"""Train the benchmark's table: a uniform random sample of cells and reference cells, once each with the
fixed recipe on one thread (seed 0), and a few cells on three seeds to measure seed noise.

    python bench/quality/table.py [--cells 120] [--fitting 40] [--jobs 2]

Writes bench/quality/table.csv (appending: rows already there are kept, so a killed run continues);
``python bench/quality/report.py`` summarizes it. Each job trains on one thread; two jobs on two cores
take about 4-5 minutes for 120 cells on the development machine.

``--fitting N`` adds, per parameter budget (``cells.budgets``), N cells drawn uniformly from those that fit
it and are not yet in the table (kind ``fitting:p25``, ``fitting:p50``), so that a budgeted search is
ranked among enough cells of its budget (one job: about 3.5 s per cell).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable, Iterator
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cells  # noqa: E402  (the benchmark's own module, next to this script)

HERE = Path(__file__).resolve().parent
TABLE = cells.TABLE
FIELDS = ("cell", "kind", "seed", "valid_acc", "test_acc", "params", "seconds")
REFERENCES = {
    "all-none": ("none",) * 6,
    "all-skip": ("skip",) * 6,
    "all-conv1": ("conv(1)",) * 6,
    "all-conv3": ("conv(3)",) * 6,
    "all-pool": ("avg_pool(3)",) * 6,
}


def random_cells(n: int, seed: int = 0) -> list[cells.Cell]:
    """n distinct cells drawn uniformly from the 15,625."""
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(cells.OPS) ** len(cells.EDGES), size=n, replace=False)
    return [cells.cell_at(int(index)) for index in picked]


def fitting_cells(n: int, budget: int, kind: str, rows: list[dict[str, str]], seed: int) -> list[cells.Cell]:
    """n distinct cells drawn uniformly (seeded) from the cells fitting the budget (params <= budget) that the
    table does not hold under another kind: cells it holds as ``kind`` are drawn again, so a second run, or
    a larger n, keeps the cells of the first."""
    taken = {r["cell"] for r in rows if r["kind"] != kind}
    fit = [c for c in cells.all_cells() if cells.params(c) <= budget]
    out: list[cells.Cell] = []
    for index in np.random.default_rng(seed).permutation(len(fit)):
        cell = fit[index]
        if cells.name(cell) not in taken:
            out.append(cell)
            if len(out) == n:
                break
    return out


def read_table() -> list[dict[str, str]]:
    return cells.read_rows(TABLE)


def run_appending(
    path: Path, fields: tuple[str, ...], job: Callable[[Any], dict], todo: list, workers: int
) -> Iterator[dict]:
    """Run ``job`` over ``todo`` in ``workers`` spawned processes, appending each row to the CSV as it finishes
    (so a killed run keeps what it did), and yield it."""
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fields)
        if new:
            writer.writeheader()
        with get_context("spawn").Pool(workers) as pool:
            for row in pool.imap(job, todo):
                writer.writerow({k: row[k] for k in fields})
                f.flush()
                yield row


def _job(args: tuple[cells.Cell, int, str]) -> dict:
    cell, seed, kind = args
    return {**cells.train_cell(cell, seed), "kind": kind}


def train_missing(jobs: list[tuple[cells.Cell, int, str]], workers: int) -> None:
    """Train the (cell, seed, kind) jobs not yet in the table, appending each row as it finishes."""
    done = {(r["cell"], int(r["seed"])) for r in read_table()}
    todo = [j for j in jobs if (cells.name(j[0]), j[1]) not in done]
    for i, row in enumerate(run_appending(TABLE, FIELDS, _job, todo, workers)):
        print(
            f"[{i + 1}/{len(todo)}] {row['kind']:10s} {row['cell']} seed {row['seed']}: "
            f"test {row['test_acc']:.4f} ({row['seconds']:.1f} s)",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=120)
    ap.add_argument("--fitting", type=int, default=0, help="cells per parameter budget, drawn among those that fit")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    sample = random_cells(args.cells)
    jobs = [(c, 0, f"reference:{k}") for k, c in REFERENCES.items()]
    jobs += [(c, 0, "random") for c in sample]
    noise = [REFERENCES["all-conv3"], *sample[:4]]  # seed noise: 3 seeds on five cells
    jobs += [(c, s, "seed-noise") for c in noise for s in (1, 2)]
    train_missing(jobs, args.jobs)
    if args.fitting:
        for seed, (budget, limit) in enumerate(cells.budgets(read_table()).items(), start=1):
            kind = f"fitting:{budget}"
            train_missing(
                [(c, 0, kind) for c in fitting_cells(args.fitting, limit, kind, read_table(), seed)], args.jobs
            )


if __name__ == "__main__":
    main()
