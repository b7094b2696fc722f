"""Summarize the benchmark: the table's percentiles, its discrimination and seed noise, each search
configuration's found cells (table accuracy, percentile, time), and random search at equal wall time;
then the same under each parameter budget, ranked among the table's cells that fit it, against random
search among those cells and the size heuristic (the fitting cell with the most parameters); last, how well
one-shot scores rank the cells (bench/quality/oneshot_tau.csv, where it exists).

    python bench/quality/report.py            # prints markdown (docs/search.md quotes it)

Random search at equal wall time is simulated on the table, as NAS-Bench-201 does: with a budget of
T seconds it trains N = max(1, floor(T / t)) cells, t the median training time of the table's random
cells, drawn without replacement from the uniform sample, and keeps the one with the best validation
accuracy; its figure is the mean test accuracy (and the chance of reaching the 90th percentile) over
10,000 draws. A cell's percentile is the share of the compared cells whose test accuracy is at most its
own, times 100 (``percentile_of``), everywhere.
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cells  # noqa: E402  (the benchmark's own modules, next to this script)
import searches  # noqa: E402
import table  # noqa: E402

DRAWS = 10_000
WALL_TIMES = (30.0, 60.0, 120.0)  # seconds: random search restricted to a budget, before any budgeted search
ONESHOT_TAU = Path(__file__).resolve().parent / "oneshot_tau.csv"  # bench/quality/oneshot_tau.py's rows
PERCENTILE = "percentile: the share of the compared cells with test accuracy at most the cell's, x 100"
Row = dict[str, str]


def md(cell: str) -> str:
    """A cell's name inside a markdown table cell: its bars escaped."""
    return cell.replace("|", "\\|")


def percentile_of(acc: float, sample: np.ndarray) -> float:
    """The share of the uniform sample scoring at most ``acc`` (0-100)."""
    return 100.0 * float((sample <= acc).mean())


def random_search(valid: np.ndarray, test: np.ndarray, n: int, p90: float, seed: int = 0) -> tuple[float, float]:
    """Random search simulated on a sample: n cells drawn without replacement, the best by validation
    accuracy kept; its mean test accuracy and its chance of reaching ``p90``, over DRAWS draws."""
    rng = np.random.default_rng(seed)
    n = min(n, len(valid))
    picks = np.empty(DRAWS)
    for d in range(DRAWS):
        idx = rng.choice(len(valid), size=n, replace=False)
        picks[d] = test[idx[np.argmax(valid[idx])]]
    return float(picks.mean()), float((picks >= p90).mean())


def fitting_rows(rows: list[Row], budget: str, limits: dict[str, int]) -> list[Row]:
    """The table's cells that fit a parameter budget (params <= limits[budget]), one row each: seed 0, kind
    ``random`` or ``fitting:B`` for a budget B at least as large, each drawn uniformly from a set holding all
    the cells that fit, so together a uniform sample of them (``fitting:p25`` cells are no uniform sample
    of the cells that fit p50: they would weigh the cells without conv(3) twice)."""
    kinds = {"random"} | {f"fitting:{b}" for b, n in limits.items() if n >= limits[budget]}
    out: dict[str, Row] = {}
    for r in rows:
        if r["kind"] in kinds and int(r["seed"]) == 0 and int(r["params"]) <= limits[budget]:
            out.setdefault(r["cell"], r)
    return list(out.values())


def size_heuristic(rows: list[Row]) -> tuple[int, float, int]:
    """The size heuristic on a set of cells: pick the one with the most parameters. Its parameter count, the
    mean test accuracy over the cells tied at that count, and how many are tied."""
    most = max(int(r["params"]) for r in rows)
    tied = [float(r["test_acc"]) for r in rows if int(r["params"]) == most]
    return most, float(np.mean(tied)), len(tied)


def _column(rows: list[Row], key: str) -> np.ndarray:
    return np.array([float(r[key]) for r in rows])


def _wall_time(runs: list[dict]) -> float:
    return statistics.median(float(r["seconds"]) for r in runs)


def print_table(rows: list[Row]) -> None:
    """The uniform sample's percentiles, the references, the discrimination and the seed noise."""
    base = [r for r in rows if r["kind"] == "random" and int(r["seed"]) == 0]
    test = _column(base, "test_acc")
    seconds = statistics.median(float(r["seconds"]) for r in base)
    pct = {p: float(np.percentile(test, p)) for p in (50, 75, 90)}
    by_cell: dict[str, dict[int, float]] = defaultdict(dict)
    for r in rows:
        by_cell[r["cell"]][int(r["seed"])] = float(r["test_acc"])

    print(f"## Table: {len(base)} random cells (seed 0), one thread, median {seconds:.1f} s per cell\n")
    print("| p50 | p75 | p90 | max |\n|---|---|---|---|")
    print(f"| {pct[50]:.4f} | {pct[75]:.4f} | {pct[90]:.4f} | {test.max():.4f} |\n")
    print("| reference | test acc | percentile |\n|---|---|---|")
    for r in rows:
        if r["kind"].startswith("reference:") and int(r["seed"]) == 0:
            acc = float(r["test_acc"])
            print(f"| {r['kind'][10:]} `{md(r['cell'])}` | {acc:.4f} | {percentile_of(acc, test):.0f} |")
    ordered = np.sort(test)
    worst_third = float(ordered[: len(ordered) // 3].mean())
    noisy = {c: s for c, s in by_cell.items() if len(s) >= 3}
    spreads = [np.std(list(s.values()), ddof=1) for s in noisy.values()]
    noise = float(np.mean(spreads)) if spreads else float("nan")
    print(
        f"\nDiscrimination: worst third mean {worst_third:.4f}, best {test.max():.4f}, spread "
        f"{test.max() - worst_third:.4f}; seed noise (std over 3 seeds, mean of {len(noisy)} cells) {noise:.4f}\n"
    )
    print("| cell | seed 0 | seed 1 | seed 2 | std |\n|---|---|---|---|---|")
    for c, s in noisy.items():
        v = [s[k] for k in sorted(s)]
        print(f"| `{md(c)}` | " + " | ".join(f"{x:.4f}" for x in v[:3]) + f" | {np.std(v, ddof=1):.4f} |")


def print_searches(rows: list[Row], found: list[Row]) -> None:
    """The unconstrained searches: each seed's found cell ranked in the uniform sample, then each configuration
    against random search at equal wall time and the size heuristic (the sample's largest cell)."""
    base = [r for r in rows if r["kind"] == "random" and int(r["seed"]) == 0]
    test, valid = _column(base, "test_acc"), _column(base, "valid_acc")
    seconds = statistics.median(float(r["seconds"]) for r in base)
    p90 = float(np.percentile(test, 90))
    acc_of = {r["cell"]: float(r["test_acc"]) for r in rows if int(r["seed"]) == 0}
    size_params, size_acc, size_tied = size_heuristic(base)
    print("\n## Search configurations x seeds (found cell's table accuracy, percentile, wall time)\n")
    print(
        "| configuration | seed | found cell | test acc | pct | time (s) | supernet | inherited | recalibrated "
        "| mean max gate |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    per_config: dict[str, list[dict]] = defaultdict(list)
    for r in found:
        acc = acc_of.get(r["cell"], float("nan"))
        per_config[r["config"]].append({**r, "acc": acc})
        print(
            f"| {r['config']} | {r['seed']} | `{md(r['cell'])}` | {acc:.4f} | {percentile_of(acc, test):.0f} | "
            f"{float(r['seconds']):.1f} | {float(r['supernet_acc']):.3f} | {float(r['inherited_acc']):.3f} | "
            f"{float(r['recalibrated_acc']):.3f} | {float(r['max_gate']):.3f} |"
        )
    largest = max(cells.all_cells(), key=cells.params)
    print(
        f"\n## Per configuration, against random search at equal wall time and the size heuristic\n\n"
        f"Size heuristic: the random sample's largest cell ({size_params} params, {size_tied} tied): "
        f"test acc {size_acc:.4f}; the largest of all 15,625 is `{md(cells.name(largest))}` "
        f"({cells.params(largest)} params, test acc {acc_of.get(cells.name(largest), float('nan')):.4f}).\n"
    )
    print(
        "| configuration | mean test acc | seeds >= p90 | median time (s) | random search cells | random search "
        "mean test acc | random search P(>= p90) | size heuristic |\n|---|---|---|---|---|---|---|---|"
    )
    for config, runs in per_config.items():
        accs = [r["acc"] for r in runs]
        t = _wall_time(runs)
        n = max(1, int(t // seconds))
        rs_mean, rs_p90 = random_search(valid, test, n, p90)
        hits = sum(a >= p90 for a in accs)
        print(
            f"| {config} | {np.mean(accs):.4f} | {hits}/{len(accs)} | {t:.1f} | {n} | {rs_mean:.4f} | {rs_p90:.2f} | "
            f"{size_acc:.4f} |"
        )


def print_budgets(rows: list[Row], found: list[Row], limits: dict[str, int]) -> None:
    """Under each parameter budget: the fitting cells' accuracies, the size heuristic, random search among the
    fitting cells, and each budgeted search's found cells ranked among the fitting cells."""
    random_params = [int(r["params"]) for r in rows if r["kind"] == "random"]
    fit = {b: fitting_rows(rows, b, limits) for b in limits}
    acc_of = {r["cell"]: float(r["test_acc"]) for r in rows if int(r["seed"]) == 0}
    print(
        "\n## Under a parameter budget\n\n"
        f"Budgets: the 25th and 50th percentiles (method lower) of the {len(random_params)} random cells' "
        "parameter counts. A budget's fitting cells are the table's seed-0 cells with params <= budget of kind "
        "random or fitting:B for a budget B at least as large (together a uniform sample of the cells that fit); "
        f"{PERCENTILE}, among those cells.\n"
    )
    print("| budget | params <= | fitting cells of 15,625 | ranked | p50 | p90 | max |\n|---|---|---|---|---|---|---|")
    everywhere = [cells.params(c) for c in cells.all_cells()]
    for b, n in limits.items():
        test = _column(fit[b], "test_acc")
        print(
            f"| {b} | {n} | {sum(p <= n for p in everywhere)} | {len(test)} | {np.percentile(test, 50):.4f} | "
            f"{np.percentile(test, 90):.4f} | {test.max():.4f} |"
        )
    print(
        "\nSize heuristic: the fitting cell with the most parameters, over the table's fitting cells (the "
        "15,625 are not all trained); tied cells: their mean test accuracy.\n"
    )
    print("| budget | params | cells tied | test acc | pct |\n|---|---|---|---|---|")
    size: dict[str, float] = {}
    for b in limits:
        most, size[b], tied = size_heuristic(fit[b])
        print(f"| {b} | {most} | {tied} | {size[b]:.4f} | {percentile_of(size[b], _column(fit[b], 'test_acc')):.0f} |")
    print(
        "\nRandom search among the fitting cells at equal wall time: floor(T / t) cells, t the fitting cells' "
        "median training time, best by validation accuracy kept; mean test acc and P(>= the fitting p90).\n"
    )
    print("| budget | t (s) | " + " | ".join(f"T = {t:.0f} s" for t in WALL_TIMES) + " |")
    print("|---|---|" + "---|" * len(WALL_TIMES))
    for b in limits:
        line = [random_among(fit[b], t) for t in WALL_TIMES]
        print(
            f"| {b} | {_wall_time(fit[b]):.1f} | "
            + " | ".join(f"{n} cells: {m:.4f}, P {p:.2f}" for n, m, p in line)
            + " |"
        )
    runs: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in found:
        if r["budget"] != "none":
            runs[r["config"], r["budget"]].append({**r, "acc": acc_of.get(r["cell"], float("nan"))})
    if not runs:
        print("\nNo budgeted searches yet (`python bench/quality/searches.py --budgets p25,p50`).")
        return
    print(
        "\n### Budgeted searches x seeds (found cell's table accuracy, percentile among the fitting cells)\n\n"
        "| configuration | budget | seed | found cell | test acc | pct | params | fits | time (s) | entropy |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )
    for (config, b), group in runs.items():
        test = _column(fit[b], "test_acc")
        for r in group:
            n = cells.params(cells.from_name(r["cell"]))
            print(
                f"| {config} | {b} | {r['seed']} | `{md(r['cell'])}` | {r['acc']:.4f} | "
                f"{percentile_of(r['acc'], test):.0f} | {n} | {'yes' if n <= limits[b] else '**NO**'} | "
                f"{float(r['seconds']):.1f} | {r['entropy']} |"
            )
    print(
        "\n| configuration | budget | mean test acc | seeds >= fitting p90 | random search cells | random search "
        "mean | random search P(>= p90) | size heuristic | margin over random search | margin over size |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )
    for (config, b), group in runs.items():
        accs = [r["acc"] for r in group]
        p90 = float(np.percentile(_column(fit[b], "test_acc"), 90))
        n, rs_mean, rs_p90 = random_among(fit[b], _wall_time(group))
        mean = float(np.mean(accs))
        print(
            f"| {config} | {b} | {mean:.4f} | {sum(a >= p90 for a in accs)}/{len(accs)} | {n} | {rs_mean:.4f} | "
            f"{rs_p90:.2f} | {size[b]:.4f} | {mean - rs_mean:+.4f} | {mean - size[b]:+.4f} |"
        )


def random_among(fit: list[Row], wall_time: float) -> tuple[int, float, float]:
    """Random search among a budget's fitting cells at a wall time: the cells it trains, its mean test
    accuracy and its chance of reaching the fitting cells' p90."""
    test = _column(fit, "test_acc")
    n = max(1, int(wall_time // _wall_time(fit)))
    return (n, *random_search(_column(fit, "valid_acc"), test, n, float(np.percentile(test, 90))))


def print_oneshot_tau(rows: list[Row]) -> None:
    """How one-shot scores rank the cells (bench/quality/oneshot_tau.py): each search's Kendall tau-b and
    Spearman against the table's test accuracy, the picks' test accuracy; then the means per budget."""
    print(
        "\n## One-shot ranking against the table (Kendall tau-b, Spearman)\n\n"
        "On each search's supernet: the k candidates `select oneshot` scores (the k best by gate weight that meet "
        "the constraints) and 50 uniform cells of the table, scored with inherited weights and recalibrated batch "
        "norm; tau gates k: the gate score's tau on the same k candidates. Picks: one-shot's and the gates' "
        "(the best candidate by gate weight), with the best test accuracy among the k.\n"
    )
    print(
        "| budget | seed | settings | fine-tune | dasdsl | search (s) | tau k | spearman k | tau gates k | tau 50 "
        "| spearman 50 | one-shot pick | gates pick | best of k |\n" + "|---" * 14 + "|"
    )
    for r in rows:
        print(
            f"| {r['budget']} | {r['seed']} | `{r['settings']}` | {r.get('finetune') or 0} | {r['commit']} | "
            f"{float(r['seconds']):.1f} | "
            f"{r['tau_k']} | {r['spearman_k']} | {r['tau_gates_k']} | {r['tau_50']} | {r['spearman_50']} | "
            f"`{md(r['oneshot_pick'])}` {float(r['oneshot_pick_acc']):.4f} | `{md(r['gates_pick'])}` "
            f"{float(r['gates_pick_acc']):.4f} | {float(r['best_k_acc']):.4f} |"
        )
    groups: dict[tuple[str, str, str, str], list[Row]] = defaultdict(list)
    for r in rows:
        groups[r["budget"], r["settings"], r.get("finetune") or "0", r["commit"]].append(r)
    columns = ("tau_k", "spearman_k", "tau_gates_k", "tau_50", "spearman_50", "oneshot_pick_acc", "gates_pick_acc")
    print("\n| budget | settings | fine-tune | dasdsl | seeds | " + " | ".join(f"mean {c}" for c in columns) + " |")
    print("|---|---|---|---|" + "---|" * len(columns))
    for (budget, settings, finetune, commit), group in groups.items():
        means = [np.nanmean([float(r[c]) for r in group]) for c in columns]
        row = f"| {budget} | `{settings}` | {finetune} | {commit} | {len(group)} | "
        print(row + " | ".join(f"{m:.4f}" for m in means) + " |")


def main() -> None:
    rows = table.read_table()
    cells.check_params(rows)
    print_table(rows)
    found = searches.read_searches()
    unconstrained = [r for r in found if r["budget"] == "none"]
    if unconstrained:
        print_searches(rows, unconstrained)
    print_budgets(rows, found, cells.budgets(rows))
    if ONESHOT_TAU.exists():
        print_oneshot_tau(cells.read_rows(ONESHOT_TAU))


if __name__ == "__main__":
    main()
