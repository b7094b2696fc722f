"""Search the benchmark's space with each configuration on three seeds, and price what each finds by the
table: the found cell trained with the same fixed recipe as every cell of the table.

    python bench/quality/searches.py [--configs darts,beta,...] [--seeds 0,1,2] [--budgets none,p25,p50] [--jobs 2]

Each search runs through the public API (``dasdsl.loads(text).search(...)``) on one thread, on the
built-in digits data; settings not named in a configuration are dasdsl's defaults. A budget (``p25``,
``p50``: ``cells.budgets``) adds ``constraint max_params(N)`` to the configuration's settings. Appends to
bench/quality/searches.csv (rows already there are kept) and trains found cells missing from
table.csv (kind ``found``). ``python bench/quality/report.py`` summarizes both.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cells  # noqa: E402  (the benchmark's own modules, next to this script)
import table  # noqa: E402

import dasdsl  # noqa: E402

HERE = Path(__file__).resolve().parent
SEARCHES = HERE / "searches.csv"
FIELDS = (
    "config",
    "seed",
    "seconds",
    "cell",
    "supernet_acc",
    "inherited_acc",
    "recalibrated_acc",
    "max_gate",
    "settings",
    "budget",
    "entropy",
    "oneshot",
    "expected_cost",
)

# name -> search settings (by their .das names); everything else is the default. The configurations above
# "defaults" ran before one-shot selection and the adaptive budget existed: OLD pins what they did then.
OLD = {"select": "gates", "budget": "off"}
CONFIGS: dict[str, dict[str, Any]] = {
    "darts-1st": {"gate": "softmax", "hypergradient": "first_order", "arch": "adam(lr = 3e-4)", "penalty": [], **OLD},
    "darts-2nd": {"gate": "softmax", "hypergradient": "second_order", "arch": "adam(lr = 3e-4)", "penalty": [], **OLD},
    "beta": {"gate": "softmax", "arch": "adam(lr = 3e-4)", "penalty": "beta(0 -> 50, linear)", **OLD},
    "dirichlet": {"gate": "dirichlet", "arch": "adam(lr = 3e-4)", "penalty": [], **OLD},
    "sigmoid-l1-anneal": {
        "gate": "sigmoid(temperature = anneal(1.0 -> 0.01, exponential))",
        "arch": "adam(lr = 3e-4)",
        "penalty": "l1(0.005)",
        **OLD,
    },
    "perturbation": {"gate": "softmax", "arch": "adam(lr = 3e-4)", "penalty": [], "discretize": "perturbation", **OLD},
    "darts-1st-lr3e-3": {"gate": "softmax", "arch": "adam(lr = 3e-3)", "penalty": [], **OLD},
    "beta-lr3e-3": {"gate": "softmax", "arch": "adam(lr = 3e-3)", "penalty": "beta(0 -> 50, linear)", **OLD},
    "dirichlet-lr3e-3": {"gate": "dirichlet", "arch": "adam(lr = 3e-3)", "penalty": [], **OLD},
    # the defaults until 2026-12-07 (gate dirichlet, Adam 3e-4, the budget at discretization only)
    "defaults-2026-11": {"gate": "dirichlet", "arch": "adam(lr = 3e-4)", "penalty": [], **OLD},
    # today's defaults: dirichlet, Adam 3e-2, entropy(0 -> 0.1, linear), budget adaptive, oneshot(k = 100, finetune = 4)
    "defaults": {},
    "defaults-ft2": {"select": "oneshot(k = 100, finetune = 2)"},  # the defaults until the k100-ft4 rows
    # what each part of today's defaults brings (the defaults' "decisive" gates: Adam 3e-2 and the entropy ramp)
    "decisive-gates": {"select": "gates"},  # no one-shot ranking: the best gate sum that fits
    "decisive-oneshot-k20": {"select": "oneshot(k = 20, finetune = 2)"},
    "decisive-oneshot-k100": {"select": "oneshot(k = 100, finetune = 2)"},
    "decisive-oneshot-k100-ft4": {"select": "oneshot(k = 100, finetune = 4)"},  # = today's defaults, named
    "decisive-budget-off": {"budget": "off", "select": "oneshot(k = 20, finetune = 2)"},
    "decisive-budget-off-k100": {"budget": "off", "select": "oneshot(k = 100, finetune = 2)"},
    "defaults-warmup15": {"warmup": 15},  # today's defaults with PC-DARTS' warm-up: 15 of the 50 epochs weights only
}


def budgeted(settings: dict[str, Any], budget: str, limits: dict[str, int]) -> dict[str, Any]:
    """The configuration's settings held to a parameter budget (``none``: unchanged): ``max_params(N)`` is
    added to the constraints it already names."""
    if budget == "none":
        return settings
    given = settings.get("constraint", [])
    return {
        **settings,
        "constraint": [*([given] if isinstance(given, str) else given), f"max_params({limits[budget]})"],
    }


def mean_entropy(summary: dict[str, Any], history: list[dict[str, Any]]) -> float:
    """The mean normalized gate entropy at the end: the summary's ``final_entropy``, else the mean of the last
    epoch's per-choice entropies (nan where neither is recorded)."""
    if summary.get("final_entropy") is not None:
        return float(summary["final_entropy"])
    values = list((history[-1].get("entropy") or {}).values()) if history else []
    return sum(values) / len(values) if values else float("nan")


def as_json(value: Any) -> str:
    """A summary field as CSV text: JSON, empty where the search did not record it."""
    return "" if value is None else json.dumps(value, default=str)


def run_search(config: str, seed: int, budget: str = "none") -> dict[str, Any]:
    """One search of the benchmark's space on one thread, and its row."""
    torch.set_num_threads(1)
    settings = budgeted(CONFIGS[config], budget, cells.budgets())
    space = dasdsl.loads(cells.search_text(), "<bench search space>")
    start = time.perf_counter()
    result = space.search(data="digits", seed=seed, out=None, progress=False, **settings)
    seconds = time.perf_counter() - start
    gates = result.history[-1]["gates"]
    s = result.summary
    return {
        "config": config,
        "seed": seed,
        "seconds": round(seconds, 2),
        "cell": cells.name(cells.cell_of(result.space)),
        "supernet_acc": round(s["supernet_valid_acc"], 4),
        "inherited_acc": round(s["discretized_valid_acc"], 4),
        "recalibrated_acc": round(s.get("recalibrated_valid_acc", float("nan")), 4),
        "max_gate": round(sum(max(w) for w in gates.values()) / len(gates), 4),
        "settings": repr(settings),
        "budget": budget,
        "entropy": round(mean_entropy(s, result.history), 4),
        "oneshot": as_json(s.get("oneshot")),
        "expected_cost": as_json(s.get("expected_cost")),
    }


def _job(args: tuple[str, int, str]) -> dict[str, Any]:
    return run_search(*args)


def read_searches() -> list[dict[str, str]]:
    """searches.csv's rows; a row written before a column existed has it empty (``budget``: none)."""
    rows = [{**dict.fromkeys(FIELDS, ""), **r} for r in cells.read_rows(SEARCHES)]
    return [{**r, "budget": r["budget"] or "none"} for r in rows]


def upgrade_columns() -> None:
    """Rewrite searches.csv with today's columns where it was written with fewer, before appending to it."""
    with open(SEARCHES, newline="") as f:
        header = next(csv.reader(f), [])
    if tuple(header) != FIELDS:
        rows = read_searches()
        with open(SEARCHES, "w", newline="") as f:
            writer = csv.DictWriter(f, FIELDS)
            writer.writeheader()
            writer.writerows({k: r[k] for k in FIELDS} for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--budgets", default="none", help="none, p25, p50 (comma-separated)")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    if SEARCHES.exists():
        upgrade_columns()
    done = {(r["config"], int(r["seed"]), r["budget"]) for r in read_searches()}
    todo = [
        (c, int(s), b)
        for b in args.budgets.split(",")
        for c in args.configs.split(",")
        for s in args.seeds.split(",")
        if (c, int(s), b) not in done
    ]
    for row in table.run_appending(SEARCHES, FIELDS, _job, todo, args.jobs):
        print(
            f"{row['config']:20s} {row['budget']:4s} seed {row['seed']}: {row['cell']} in {row['seconds']:.1f} s "
            f"(supernet {row['supernet_acc']:.3f}, max gate {row['max_gate']:.3f})",
            flush=True,
        )
    found = {cells.from_name(r["cell"]) for r in read_searches()}
    table.train_missing([(c, 0, "found") for c in sorted(found)], args.jobs)


if __name__ == "__main__":
    main()
