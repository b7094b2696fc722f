"""bench/quality: the ground-truth table is complete, its names round-trip, and a row can be reproduced."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from paths import ROOT

import dasdsl

QUALITY = ROOT / "bench" / "quality"
sys.path.insert(0, str(QUALITY))
import cells  # noqa: E402  (bench/quality's own modules)
import oneshot_tau  # noqa: E402
import report  # noqa: E402
import table  # noqa: E402


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


def test_params_counts_every_table_row_without_training() -> None:
    rows = _rows("table.csv")
    assert cells.check_params(rows) == len(rows)
    empty, conv3 = ("none",) * 6, ("conv(3)",) * 6
    assert cells.params(empty) == cells.params(("skip",) * 6) == cells.params(("avg_pool(3)",) * 6)
    one = {op: cells.params(("none",) * 5 + (op,)) - cells.params(empty) for op in cells.OPS}
    assert cells.params(conv3) == cells.params(empty) + 6 * one["conv(3)"]  # additive over edges
    assert len(cells.all_cells()) == len(set(cells.all_cells())) == 5**6
    assert cells.all_cells()[: len(cells.OPS)] == [(op,) + ("none",) * 5 for op in cells.OPS]


def _row(cell: str, kind: str = "random", params: int = 100, valid: float = 0.5, test: float = 0.5) -> dict[str, str]:
    values = {"cell": cell, "kind": kind, "seed": "0", "valid_acc": valid, "test_acc": test, "params": params}
    return {k: str(v) for k, v in {**values, "seconds": 1.0}.items()}


def test_budgets_are_the_random_cells_lower_percentiles() -> None:
    rows = [_row(f"c{i}", params=p) for i, p in enumerate((10, 20, 30, 40, 50))]
    rows += [_row("big", "reference:all-conv3", params=1)]  # only the random cells count
    assert cells.budgets(rows) == {"p25": 20, "p50": 30}
    table_rows = _rows("table.csv")
    limits = cells.budgets()
    assert limits == cells.budgets(table_rows) and limits["p25"] <= limits["p50"]
    assert set(limits.values()) <= {int(r["params"]) for r in table_rows if r["kind"] == "random"}


def test_fitting_cells_fit_are_new_and_kept_when_more_are_asked() -> None:
    rows = _rows("table.csv")
    limit = cells.budgets(rows)["p25"]
    ten = table.fitting_cells(10, limit, "fitting:p25", rows, seed=1)
    others = {r["cell"] for r in rows if r["kind"] != "fitting:p25"}
    assert len(set(ten)) == 10 and all(cells.params(c) <= limit and cells.name(c) not in others for c in ten)
    assert table.fitting_cells(20, limit, "fitting:p25", rows, seed=1)[:10] == ten


def test_percentile_counts_the_cells_at_most_as_accurate() -> None:
    sample = np.array([0.1, 0.2, 0.2, 0.4])
    assert report.percentile_of(0.2, sample) == 75.0
    assert report.percentile_of(0.05, sample) == 0.0
    assert report.percentile_of(0.4, sample) == 100.0


def test_fitting_rows_are_a_uniform_sample_of_the_cells_that_fit() -> None:
    limits = {"p25": 100, "p50": 200}
    rows = [
        _row("a", params=100),
        _row("b", "fitting:p25", params=100),
        _row("c", "fitting:p50", params=100),
        _row("d", "fitting:p50", params=200),
        _row("e", params=300),  # too large
        _row("f", "found", params=100),  # not drawn uniformly
        {**_row("a", "seed-noise", params=100), "seed": "1"},
    ]
    names = {b: sorted(r["cell"] for r in report.fitting_rows(rows, b, limits)) for b in limits}
    assert names == {"p25": ["a", "b", "c"], "p50": ["a", "c", "d"]}  # fitting:p25 cells only rank under p25


def test_size_heuristic_means_the_tied_largest_cells() -> None:
    rows = [_row("a", params=10, test=0.9), _row("b", params=30, test=0.2), _row("c", params=30, test=0.6)]
    assert report.size_heuristic(rows) == (30, pytest.approx(0.4), 2)
    assert report.size_heuristic(rows[:2]) == (30, pytest.approx(0.2), 1)


def test_random_search_among_fitting_cells_at_equal_wall_time() -> None:
    fit = [_row("a", valid=0.9, test=0.3), _row("b", valid=0.5, test=0.8), _row("c", valid=0.1, test=0.1)]
    n, mean, p90 = report.random_among(fit, 3.5)  # 1 s per cell: all three trained, the best valid kept
    assert (n, mean, p90) == (3, pytest.approx(0.3), 0.0)
    n, mean, p90 = report.random_among(fit, 0.5)  # at least one cell: a uniform pick
    assert n == 1 and mean == pytest.approx(0.4, abs=0.01) and p90 == pytest.approx(1 / 3, abs=0.02)


def test_decisions_pick_the_cell_on_the_search_space_ir() -> None:
    from dasdsl.engine.discretization import to_module
    from dasdsl.lang.printer import format_das

    space = dasdsl.loads(cells.search_text())
    ir = space.graph(*cells.DIGITS)
    for cell in (("conv(3)", "skip", "none", "avg_pool(3)", "conv(1)", "conv(3)"), cells.cell_at(4321)):
        decisions = oneshot_tau.decisions_of(ir, cell)
        assert set(decisions) == set(ir.choices) and oneshot_tau.cell_of_decisions(ir, decisions) == cell
        assert cells.cell_of(format_das(to_module(space, ir, decisions))) == cell  # the network it builds
    dropped = {**oneshot_tau.decisions_of(ir, ("conv(3)",) * 6), "cell:x->n1": None}
    assert oneshot_tau.cell_of_decisions(ir, dropped) == ("none",) + ("conv(3)",) * 5


def test_agreement_is_kendall_tau_b_and_spearman() -> None:
    tau, p, rho = oneshot_tau.agreement([1, 2, 3, 4], [10, 20, 30, 40])
    assert (tau, rho) == (pytest.approx(1.0), pytest.approx(1.0)) and p < 0.1
    assert oneshot_tau.agreement([4, 3, 2, 1], [10, 20, 30, 40])[0] == pytest.approx(-1.0)
    tau, _, _ = oneshot_tau.agreement([1, 1, 2], [1, 2, 3])  # a tie: tau-b, 2 / sqrt(2 * 3)
    assert tau == pytest.approx(2 / np.sqrt(6))
    assert all(np.isnan(oneshot_tau.agreement([0.5, 0.5, 0.5], [1, 2, 3])))  # no ranking to compare
    assert all(np.isnan(oneshot_tau.agreement([1.0], [2.0])))


def test_uniform_cells_are_the_first_random_ones_or_a_fixed_draw_of_the_fitting() -> None:
    rows = _rows("table.csv")
    limits = cells.budgets(rows)
    first = [cells.from_name(r["cell"]) for r in rows if r["kind"] == "random"][:50]
    assert oneshot_tau.uniform_cells(rows, "none", limits) == first
    fit = oneshot_tau.uniform_cells(rows, "p50", limits)
    assert len(set(fit)) == 50 and all(cells.params(c) <= limits["p50"] for c in fit)
    assert {cells.name(c) for c in fit} <= {r["cell"] for r in report.fitting_rows(rows, "p50", limits)}
    assert oneshot_tau.uniform_cells(rows, "p50", limits) == fit  # the same cells for every search seed


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
