"""The ground-truth benchmark's space: NAS-Bench-201's cell (6 edges, 5 candidates, 15,625 cells) in a
lean macro network on scikit-learn's digits, and the fixed recipe every cell is trained with.

The macro network is deliberately weak on its own (a pointwise stem, one cell per stage, a pointwise
strided reduction): only the cell's convolutions and pooling see neighbouring pixels, so the cell
decides the accuracy. ``train_cell`` trains one cell with the recipe on one thread and returns its
validation and test accuracy; ``search_text`` is the same network with every edge a choice. ``params``
counts a cell's parameters without training it, and ``budgets`` names the two parameter budgets a
budgeted search is held to.
"""

from __future__ import annotations

import csv
import functools
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

import dasdsl

OPS = ("none", "skip", "conv(1)", "conv(3)", "avg_pool(3)")
EDGES = (("n1", "x"), ("n2", "x"), ("n2", "n1"), ("n3", "x"), ("n3", "n1"), ("n3", "n2"))
RECIPE = {"epochs": 20, "batch": 64, "lr": 0.05}  # SGD momentum 0.9, cosine, random shifts (dasdsl train)

SPACE = Path(__file__).resolve().parents[2] / "spaces" / "nb201_digits.das"
TABLE = Path(__file__).resolve().parent / "table.csv"
DIGITS = ((1, 8, 8), 10)  # scikit-learn digits: input shape, classes
BUDGETS = {"p25": 25, "p50": 50}  # name -> percentile of the random cells' parameter counts
SEARCH_NODES = (
    "    node n1 = x ~ nb201\n",
    "    node n2 = (x, n1) ~ nb201\n",
    "    node n3 = (x, n1, n2) ~ nb201\n",
)


def _network() -> str:
    """The shipped space without its comments and search block (the benchmark names its own settings)."""
    text = SPACE.read_text(encoding="utf-8")
    text = text[re.search(r"^space ", text, re.M).start() : text.index("\nsearch {")].rstrip() + "\n"  # type: ignore[union-attr]
    assert all(line in text for line in SEARCH_NODES), f"{SPACE} no longer has the benchmark's cell"
    return text


Cell = tuple[str, ...]  # the op on each of EDGES, in order


def cell_text(cell: Cell) -> str:
    """The benchmark's network with this cell, as .das text."""
    text = _network()
    for node, line in zip(("n1", "n2", "n3"), SEARCH_NODES):
        edges = ", ".join(f"{src} ~ {op}" for (dst, src), op in zip(EDGES, cell) if dst == node)
        text = text.replace(line, f"    node {node} = {edges}\n")
    return text


def search_text() -> str:
    """The benchmark's network with every edge a choice among the five candidates (the search space)."""
    return _network()


def name(cell: Cell) -> str:
    """NAS-Bench-201's string: |op~0|+|op~0|op~1|+|op~0|op~1|op~2| with our op spellings."""
    ops = [op.replace("(", "").replace(")", "") for op in cell]
    return f"|{ops[0]}~0|+|{ops[1]}~0|{ops[2]}~1|+|{ops[3]}~0|{ops[4]}~1|{ops[5]}~2|"


def cell_at(index: int) -> Cell:
    """The cell numbered ``index`` (0 to 15,624): its base-5 digits, first edge least significant."""
    ops = []
    for _ in EDGES:
        index, op = divmod(index, len(OPS))
        ops.append(OPS[op])
    return tuple(ops)


def all_cells() -> list[Cell]:
    """The 15,625 cells, in index order."""
    return [cell_at(i) for i in range(len(OPS) ** len(EDGES))]


def from_name(text: str) -> Cell:
    ops = re.findall(r"\|([a-z_0-9]+)~\d", text)
    spelled = {op.replace("(", "").replace(")", ""): op for op in OPS}
    return tuple(spelled[o] for o in ops)


def cell_of(space: Any) -> Cell:
    """The cell of a derived .das (a search's result): the op on each edge."""
    text = space.to_das() if hasattr(space, "to_das") else str(space)
    found: dict[tuple[str, str], str] = {}
    for node, body in re.findall(r"node (n\d) = (.*)", text):
        for src, op in re.findall(r"(\w+) ~ ([a-z_]+(?:\(\d+\))?)", body):
            found[(node, src)] = op
    return tuple(found.get(edge, "none") for edge in EDGES)


def train_cell(cell: Cell, seed: int = 0) -> dict[str, Any]:
    """Train the cell's network with the fixed recipe on one thread: validation accuracy after the
    last epoch (the 10% of the training data dasdsl train holds out), held-out test accuracy, time."""
    torch.set_num_threads(1)
    space = dasdsl.loads(cell_text(cell), "<bench cell>")
    start = time.perf_counter()
    result = space.train(data="digits", seed=seed, out=None, progress=False, **RECIPE)
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in result.network.parameters())
    return {
        "cell": name(cell),
        "seed": seed,
        "valid_acc": round(result.history[-1]["valid_acc"], 4),
        "test_acc": round(result.test_acc, 4),
        "params": params,
        "seconds": round(seconds, 2),
    }


def _count_params(cell: Cell) -> int:
    """The parameters of the cell's fixed network for digits, built (not trained) with dasdsl."""
    network = dasdsl.loads(cell_text(cell), "<bench cell>").network(*DIGITS)
    return sum(p.numel() for p in network.parameters())


@functools.cache
def _param_costs() -> tuple[int, dict[tuple[int, str], int]]:
    """The all-none network's parameters, and what each (edge, op) adds to them (both stages' cells)."""
    empty = ("none",) * len(EDGES)
    base = _count_params(empty)
    costs = {(i, op): _count_params((*empty[:i], op, *empty[i + 1 :])) - base for i in range(len(EDGES)) for op in OPS}
    return base, costs


def params(cell: Cell) -> int:
    """The cell's network's parameter count (table.csv's ``params``): a base plus one cost per edge's op."""
    base, costs = _param_costs()
    return base + sum(costs[i, op] for i, op in enumerate(cell))


def check_params(rows: Iterable[Mapping[str, str]]) -> int:
    """Assert ``params`` gives every row's recorded count; the number of rows checked."""
    checked = 0
    for row in rows:
        got = params(from_name(row["cell"]))
        assert got == int(row["params"]), f"{row['cell']}: params() says {got}, the table {row['params']}"
        checked += 1
    return checked


def read_rows(path: Path) -> list[dict[str, str]]:
    """A benchmark CSV's rows (none before its first run)."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def budgets(rows: Iterable[Mapping[str, str]] | None = None) -> dict[str, int]:
    """The parameter budgets, p25 and p50: those percentiles (method "lower", so each is a real cell's count)
    of the parameter counts of the table's ``random`` rows (``rows``, else table.csv's)."""
    counts = [int(r["params"]) for r in (read_rows(TABLE) if rows is None else rows) if r["kind"] == "random"]
    return {b: int(np.percentile(counts, q, method="lower")) for b, q in BUDGETS.items()}
