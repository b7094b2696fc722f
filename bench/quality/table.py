"""Train the benchmark's table: a uniform random sample of cells and reference cells, once each with the
fixed recipe on one thread (seed 0), and a few cells on three seeds to measure seed noise.

    python bench/quality/table.py [--cells 120] [--jobs 2]

Writes bench/quality/table.csv (appending: rows already there are kept, so a killed run continues);
``python bench/quality/report.py`` summarizes it. Each job trains on one thread; two jobs on two cores
take about 4-5 minutes for 120 cells on the development machine.
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
TABLE = HERE / "table.csv"
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
    out = []
    for index in picked:
        ops = []
        for _ in cells.EDGES:
            index, op = divmod(int(index), len(cells.OPS))
            ops.append(cells.OPS[op])
        out.append(tuple(ops))
    return out


def read_rows(path: Path) -> list[dict[str, str]]:
    """A benchmark CSV's rows (none before its first run)."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_table() -> list[dict[str, str]]:
    return read_rows(TABLE)


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
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    sample = random_cells(args.cells)
    jobs = [(c, 0, f"reference:{k}") for k, c in REFERENCES.items()]
    jobs += [(c, 0, "random") for c in sample]
    noise = [REFERENCES["all-conv3"], *sample[:4]]  # seed noise: 3 seeds on five cells
    jobs += [(c, s, "seed-noise") for c in noise for s in (1, 2)]
    train_missing(jobs, args.jobs)


if __name__ == "__main__":
    main()
