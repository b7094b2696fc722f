"""Summarize the benchmark: the table's percentiles, its discrimination and seed noise, each search
configuration's found cells (table accuracy, percentile, time), and random search at equal wall time.

    python bench/quality/report.py            # prints markdown (docs/search.md quotes it)

Random search at equal wall time is simulated on the table, as NAS-Bench-201 does: with a budget of
T seconds it trains N = max(1, floor(T / t)) cells, t the median training time of the table's random
cells, drawn without replacement from the uniform sample, and keeps the one with the best validation
accuracy; its figure is the mean test accuracy (and the chance of reaching the 90th percentile) over
10,000 draws.
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import searches  # noqa: E402  (the benchmark's own modules, next to this script)
import table  # noqa: E402

DRAWS = 10_000


def md(cell: str) -> str:
    """A cell's name inside a markdown table cell: its bars escaped."""
    return cell.replace("|", "\\|")


def percentile_of(acc: float, sample: np.ndarray) -> float:
    """The share of the uniform sample scoring at most ``acc`` (0-100)."""
    return 100.0 * float((sample <= acc).mean())


def random_search(valid: np.ndarray, test: np.ndarray, n: int, p90: float, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    n = min(n, len(valid))
    picks = np.empty(DRAWS)
    for d in range(DRAWS):
        idx = rng.choice(len(valid), size=n, replace=False)
        picks[d] = test[idx[np.argmax(valid[idx])]]
    return float(picks.mean()), float((picks >= p90).mean())


def main() -> None:
    rows = table.read_table()
    base = [r for r in rows if r["kind"] == "random" and int(r["seed"]) == 0]
    test = np.array([float(r["test_acc"]) for r in base])
    valid = np.array([float(r["valid_acc"]) for r in base])
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

    found = searches.read_searches()
    if not found:
        return
    print("\n## Search configurations x seeds (found cell's table accuracy, percentile, wall time)\n")
    print(
        "| configuration | seed | found cell | test acc | pct | time (s) | supernet | inherited | recalibrated "
        "| mean max gate |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    per_config: dict[str, list[dict]] = defaultdict(list)
    for r in found:
        acc = by_cell.get(r["cell"], {}).get(0, float("nan"))
        per_config[r["config"]].append({**r, "acc": acc})
        print(
            f"| {r['config']} | {r['seed']} | `{md(r['cell'])}` | {acc:.4f} | {percentile_of(acc, test):.0f} | "
            f"{float(r['seconds']):.1f} | {float(r['supernet_acc']):.3f} | {float(r['inherited_acc']):.3f} | "
            f"{float(r['recalibrated_acc']):.3f} | {float(r['max_gate']):.3f} |"
        )
    print("\n## Per configuration, against random search at equal wall time\n")
    print(
        "| configuration | mean test acc | seeds >= p90 | median time (s) | random search cells | random search "
        "mean test acc | random search P(>= p90) |\n|---|---|---|---|---|---|---|"
    )
    for config, runs in per_config.items():
        accs = [r["acc"] for r in runs]
        t = statistics.median(float(r["seconds"]) for r in runs)
        n = max(1, int(t // seconds))
        rs_mean, rs_p90 = random_search(valid, test, n, pct[90])
        hits = sum(a >= pct[90] for a in accs)
        print(f"| {config} | {np.mean(accs):.4f} | {hits}/{len(accs)} | {t:.1f} | {n} | {rs_mean:.4f} | {rs_p90:.2f} |")


if __name__ == "__main__":
    main()
