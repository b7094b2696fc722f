"""How well one-shot scores rank the benchmark's cells: Kendall tau (tau-b) and Spearman between the one-shot
validation accuracy on a trained supernet and the table's stand-alone test accuracy, as the field measures the
search phase (Yu et al. 2020, "Evaluating the search phase of NAS"; Zhang et al. 2020).

    python bench/quality/oneshot_tau.py [--seeds 0,1,2] [--budgets none,p50] [--settings '{}'] [--k 20] [--out CSV]
    python bench/quality/oneshot_tau.py --seeds 0 --budgets none --settings '{"epochs": 2}' --out /tmp/tau_smoke.csv

Per seed and budget (``p50``: ``constraint max_params(N)``, ``cells.budgets``) one in-memory search of the
benchmark's space on one thread, with the settings of ``--settings`` (.das names; ``{}``: dasdsl's defaults)
and ``select oneshot(k = K)``. On its supernet, each architecture is scored one-shot
(``dasdsl.engine.oneshot``: inherited weights, batch norm recalibrated):

- the k candidates ``select oneshot`` ranks: the exact k best by gate weight that meet the constraints;
  candidates the table lacks are trained with the fixed recipe first (kind ``oneshot-candidate``, seed 0);
- 50 uniform cells of the table: its first 50 ``random`` cells, or under a budget 50 of the cells that fit it
  (``report.fitting_rows``), drawn with seed 0, the same for every search seed.

Appends a row per (seed, budget) to bench/quality/oneshot_tau.csv (``--out``) as each finishes; a (seed, budget,
settings, k, dasdsl's commit) already there is not run again. The row holds tau and Spearman for the k
candidates and for the 50 cells, tau between the gate score and the test accuracy on the k candidates (the
ranking one-shot replaces), the picks of both rankings with their test accuracy, and every score (JSON) to
analyse again. The dasdsl imported is the one measured: ``PYTHONPATH=CHECKOUT`` measures another checkout's
code (its commit is recorded) with this benchmark.
``python bench/quality/report.py`` prints the same summary as the end of a run.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cells  # noqa: E402  (the benchmark's own modules, next to this script)
import report  # noqa: E402
import searches  # noqa: E402
import table  # noqa: E402

import dasdsl  # noqa: E402
from dasdsl.compiler.ir import NetworkIR  # noqa: E402
from dasdsl.engine import oneshot, workflow  # noqa: E402
from dasdsl.engine.run import Run, config_for, discretize  # noqa: E402
from dasdsl.engine.searcher import evaluate  # noqa: E402
from dasdsl.lang.settings import SEARCH, SearchConfig  # noqa: E402

UNIFORM = 50  # uniform cells scored on each supernet
DRAW_SEED = 0  # the draw of the uniform cells under a budget: the same cells for every search seed
FIELDS = (
    "seed",
    "budget",
    "settings",
    "config",
    "commit",
    "seconds",
    "scoring_seconds",
    "supernet_acc",
    "k",
    "finetune",
    "n_k",
    "tau_k",
    "p_k",
    "spearman_k",
    "tau_gates_k",
    "p_gates_k",
    "tau_50",
    "p_50",
    "spearman_50",
    "oneshot_pick",
    "oneshot_pick_acc",
    "oneshot_pick_gate_rank",
    "gates_pick",
    "gates_pick_acc",
    "best_k_acc",
    "candidates",
    "uniform",
)
Row = dict[str, str]


# ---- cells and decisions ------------------------------------------------------------------------


def _edge_keys(ir: NetworkIR) -> list[str]:
    """The choice key of each of cells.EDGES, in order (one cell type, shared by both stages)."""
    by_edge = {(info.target, info.source): key for key, info in ir.choices.items()}
    assert set(by_edge) == set(cells.EDGES), f"the IR's choices {sorted(by_edge)} are not the benchmark's edges"
    return [by_edge[edge] for edge in cells.EDGES]


def cell_of_decisions(ir: NetworkIR, decisions: dict[str, int | None]) -> cells.Cell:
    """The benchmark cell of a search's decisions: the chosen label on each edge (a dropped edge: none)."""
    keys = _edge_keys(ir)
    return tuple(
        "none" if decisions.get(key) is None else ir.choices[key].labels[decisions[key]]  # type: ignore[index]
        for key in keys
    )


def decisions_of(ir: NetworkIR, cell: cells.Cell) -> dict[str, int | None]:
    """The decisions that pick ``cell``: for each choice key, the index of its edge's op among the labels."""
    return {key: ir.choices[key].labels.index(op) for key, op in zip(_edge_keys(ir), cell)}


# ---- the measures -------------------------------------------------------------------------------


def agreement(scores: Sequence[float], truth: Sequence[float]) -> tuple[float, float, float]:
    """(Kendall tau-b, its two-sided p-value, Spearman's rho) between a ranking's scores and the ground truth;
    nan where either side is constant (no ranking to compare) or has fewer than two values."""
    if len(scores) < 2 or len(set(scores)) < 2 or len(set(truth)) < 2:
        return float("nan"), float("nan"), float("nan")
    tau = stats.kendalltau(scores, truth)  # variant "b": ties on either side count as ties
    rho = stats.spearmanr(scores, truth)
    return float(tau.statistic), float(tau.pvalue), float(rho.statistic)


def uniform_cells(rows: list[Row], budget: str, limits: dict[str, int], n: int = UNIFORM) -> list[cells.Cell]:
    """The uniform cells scored on every supernet: the table's first n ``random`` cells (seed 0); under a budget,
    n of the table's cells that fit it (``report.fitting_rows``: a uniform sample of them), drawn with DRAW_SEED
    and kept in the table's order."""
    if budget == "none":
        pool = [r for r in rows if r["kind"] == "random" and int(r["seed"]) == 0]
        return [cells.from_name(r["cell"]) for r in pool[:n]]
    pool = report.fitting_rows(rows, budget, limits)
    picked = sorted(np.random.default_rng(DRAW_SEED).choice(len(pool), size=min(n, len(pool)), replace=False))
    return [cells.from_name(pool[i]["cell"]) for i in picked]


def test_accuracies(rows: list[Row]) -> dict[str, float]:
    """The table's test accuracy of each cell it holds trained with seed 0, by name."""
    return {r["cell"]: float(r["test_acc"]) for r in rows if int(r["seed"]) == 0}


# ---- one search and its measures ----------------------------------------------------------------


def search_settings(settings: dict[str, Any], seed: int, budget: str, k: int, finetune: int) -> dict[str, Any]:
    """The search's settings by their .das names: ``settings``, one-shot selection of k (each fine-tuned
    ``finetune`` epochs), the seed, the budget."""
    chosen = {**settings, "select": f"oneshot(k = {k}, finetune = {finetune})", "seed": seed}
    return searches.budgeted(chosen, budget, cells.budgets())


def run_search(settings: dict[str, Any]) -> tuple[Run, float]:
    """An in-memory search of the benchmark's space with these settings, all its epochs run; and its time."""
    space = dasdsl.loads(cells.search_text(), "<bench search space>")
    cfg = config_for(space, SEARCH.entries_of(settings))
    start = time.perf_counter()
    run = workflow.start(
        space, cfg, torch.device("cpu"), out_root=None, source="<bench search space>", source_text=space.to_das()
    )
    workflow.search_epochs(run)
    return run, time.perf_counter() - start


def measure(seed: int, budget: str, settings: dict[str, Any], k: int, finetune: int) -> dict[str, Any]:
    """One search, its k candidates and the uniform cells scored one-shot (as ``select`` scores them: each from
    the same random state), ground truth trained where missing."""
    torch.set_num_threads(1)
    chosen = search_settings(settings, seed, budget, k, finetune)
    run, seconds = run_search(chosen)
    assert run.ir is not None and run.net is not None and run.data is not None
    print(f"seed {seed} budget {budget}: searched in {seconds:.1f} s", flush=True)
    start = time.perf_counter()
    ranked, _ = discretize(run)
    state = torch.get_rng_state()
    scored = oneshot.rank(run, [(d, sc, bound) for _, d, sc, bound in ranked], finetune=finetune)  # best first
    by_gates = sorted(scored, key=lambda s: s.gate_rank)
    drawn = uniform_cells(table.read_table(), budget, cells.budgets())
    uniform = []
    for c in drawn:
        torch.set_rng_state(state)
        uniform.append((c, oneshot.score(run, decisions_of(run.ir, c), finetune=finetune)[0]))
    _, supernet_acc = evaluate(run.net, run.data.valid)
    scoring = time.perf_counter() - start
    candidates = [cell_of_decisions(run.ir, s.decisions) for s in by_gates]
    table.train_missing([(c, 0, "oneshot-candidate") for c in candidates], workers=1)
    truth = test_accuracies(table.read_table())
    acc_k = [truth[cells.name(c)] for c in candidates]
    acc_50 = [truth[cells.name(c)] for c, _ in uniform]
    tau_k, p_k, rho_k = agreement([s.valid_acc for s in by_gates], acc_k)
    tau_g, p_g, _ = agreement([s.gate_score for s in by_gates], acc_k)
    tau_50, p_50, rho_50 = agreement([a for _, a in uniform], acc_50)
    pick, first = cell_of_decisions(run.ir, scored[0].decisions), candidates[0]
    return {
        "seed": seed,
        "budget": budget,
        "settings": json.dumps(settings, sort_keys=True),
        "config": json.dumps(run.cfg.to_json(), sort_keys=True),
        "commit": _commit(),
        "seconds": round(seconds, 2),
        "scoring_seconds": round(scoring, 2),
        "supernet_acc": round(supernet_acc, 4),
        "k": k,
        "finetune": finetune,
        "n_k": len(by_gates),
        "tau_k": round(tau_k, 4),
        "p_k": round(p_k, 4),
        "spearman_k": round(rho_k, 4),
        "tau_gates_k": round(tau_g, 4),
        "p_gates_k": round(p_g, 4),
        "tau_50": round(tau_50, 4),
        "p_50": round(p_50, 4),
        "spearman_50": round(rho_50, 4),
        "oneshot_pick": cells.name(pick),
        "oneshot_pick_acc": truth[cells.name(pick)],
        "oneshot_pick_gate_rank": scored[0].gate_rank,
        "gates_pick": cells.name(first),
        "gates_pick_acc": truth[cells.name(first)],
        "best_k_acc": max(acc_k),
        "candidates": json.dumps(
            [
                [cells.name(c), s.gate_rank, round(s.gate_score, 4), round(s.valid_acc, 4), round(s.valid_loss, 4), a]
                for c, s, a in zip(candidates, by_gates, acc_k)
            ]
        ),
        "uniform": json.dumps([[cells.name(c), round(v, 4), a] for (c, v), a in zip(uniform, acc_50)]),
    }


def _commit() -> str:
    """The last commit that changed the dasdsl the search ran (a run's defaults are its code's), with + where its
    dasdsl/ has local changes."""
    git = ["git", "-C", str(Path(dasdsl.__file__).resolve().parents[1])]
    last = [*git, "log", "-1", "--format=%h", "HEAD", "--", "dasdsl"]
    head = subprocess.run(last, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "dasdsl"], capture_output=True, text=True).stdout
    return head + ("+" if dirty.strip() else "")


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append one row to the CSV (its header first where the file is new)."""
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        if new:
            writer.writeheader()
        writer.writerow({k: row[k] for k in FIELDS})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--budgets", default="none,p50", help="none, p25, p50 (comma-separated)")
    ap.add_argument("--settings", default="{}", help="search settings by their .das names, as a JSON object")
    ap.add_argument("--k", type=int, default=20, help="select oneshot(k = K)")
    ap.add_argument("--finetune", type=int, default=SearchConfig().select_finetune, help="select oneshot(finetune = F)")
    ap.add_argument("--out", type=Path, default=report.ONESHOT_TAU)
    args = ap.parse_args()
    torch.set_num_threads(1)
    settings = json.loads(args.settings)
    commit = _commit()
    done = {
        (r["seed"], r["budget"], r["settings"], r["k"], r.get("finetune") or "0", r["commit"])
        for r in cells.read_rows(args.out)
    }
    for budget in args.budgets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            key = (str(seed), budget, json.dumps(settings, sort_keys=True), str(args.k), str(args.finetune), commit)
            if key in done:
                continue
            row = measure(seed, budget, settings, args.k, args.finetune)
            append_row(args.out, row)
            print(
                f"seed {seed} budget {budget}: tau k {row['tau_k']:+.3f} (gates {row['tau_gates_k']:+.3f}), "
                f"tau 50 {row['tau_50']:+.3f}; one-shot pick {row['oneshot_pick_acc']:.4f}, "
                f"gates pick {row['gates_pick_acc']:.4f}",
                flush=True,
            )
    report.print_oneshot_tau(cells.read_rows(args.out))


if __name__ == "__main__":
    main()
