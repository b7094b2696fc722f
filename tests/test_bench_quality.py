"""bench/quality: the ground-truth table is complete, its names round-trip, and a row can be reproduced."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import dasdsl

ROOT = Path(__file__).resolve().parent.parent
QUALITY = ROOT / "bench" / "quality"
sys.path.insert(0, str(QUALITY))
import cells  # noqa: E402  (bench/quality's own module)


def _rows(name: str) -> list[dict[str, str]]:
    with open(QUALITY / name, newline="") as f:
        return list(csv.DictReader(f))


def test_the_table_holds_the_sample_the_references_and_the_seed_noise() -> None:
    rows = _rows("table.csv")
    kinds = Counter(r["kind"] for r in rows)
    random_cells = {r["cell"] for r in rows if r["kind"] == "random"}
    assert kinds["random"] == len(random_cells) >= 100  # distinct cells, seed 0
    assert {k for k in kinds if k.startswith("reference:")} == {
        "reference:all-none",
        "reference:all-skip",
        "reference:all-conv1",
        "reference:all-conv3",
        "reference:all-pool",
    }
    seeds: dict[str, set[int]] = {}
    for r in rows:
        seeds.setdefault(r["cell"], set()).add(int(r["seed"]))
    assert sum(s == {0, 1, 2} for s in seeds.values()) >= 5
    found = {r["cell"] for r in _rows("searches.csv")}
    assert found <= {r["cell"] for r in rows if r["seed"] == "0"}  # every found cell is priced by the table


def test_cell_names_and_texts_round_trip() -> None:
    cell = ("conv(3)", "skip", "none", "avg_pool(3)", "conv(1)", "conv(3)")
    assert cells.name(cell) == "|conv3~0|+|skip~0|none~1|+|avg_pool3~0|conv1~1|conv3~2|"
    assert cells.from_name(cells.name(cell)) == cell
    space = dasdsl.loads(cells.cell_text(cell))
    assert space.count() == 1 and cells.cell_of(space) == cell
    assert dasdsl.loads(cells.search_text()).count() == 5**6


@pytest.mark.slow
def test_a_table_row_is_reproduced() -> None:
    """The all-conv(3) reference trained again with the recipe (a fresh one-thread process): the same figures
    on the machine that made the table; within the seed noise on another CPU, whose kernels round differently."""
    (row,) = [r for r in _rows("table.csv") if r["kind"] == "reference:all-conv3"]
    code = (
        f"import json, sys; sys.path.insert(0, {str(QUALITY)!r}); import cells; "
        f"print(json.dumps(cells.train_cell(cells.from_name({row['cell']!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    again = json.loads(done.stdout.strip().splitlines()[-1])
    assert again["params"] == int(row["params"])
    assert abs(again["test_acc"] - float(row["test_acc"])) <= 0.03
