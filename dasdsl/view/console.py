"""What a run shows on the terminal: the progress display, one line per epoch, the final summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dasdsl.engine.discretization import disconnected_cells
from dasdsl.lang import ast
from dasdsl.lang.printer import format_das


class ProgressDisplay:
    """A rich progress bar per epoch on stderr and a line per finished epoch; silent when ``quiet``."""

    def __init__(self, quiet: bool = False) -> None:
        # soft_wrap: a line is never broken at the console's width (80 columns when stderr is a file or pipe,
        # which would split an epoch line as "tau 1 \nskips 1"); a terminal wraps long lines itself
        self.console = Console(stderr=True, soft_wrap=True)
        self.quiet = quiet
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=quiet,
            transient=True,
        )
        self.task: Any = None
        self.live = False  # the live display starts with the first bar: an early error prints alone

    def __enter__(self) -> ProgressDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.bar.__exit__(*exc)

    def start(self, description: str) -> None:
        if not self.live:
            self.bar.__enter__()
            self.live = True
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(description, total=None, stats="")

    def update(self, done: int, total: int, stats: dict[str, float]) -> None:
        text = "  ".join(f"{k} {v:.3f}" for k, v in stats.items())
        self.bar.update(self.task, completed=done, total=total, stats=text)

    def epoch(self, record: dict[str, Any], epochs: int) -> None:
        self.log(epoch_line(record, epochs))

    def log(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, highlight=False)


def epoch_line(record: dict[str, Any], epochs: int) -> str:
    """One finished epoch of a search (gate temperature and skips included) or of a training run."""
    head = f"epoch {record['epoch']:>3}/{epochs}  train loss {record['train_loss']:.3f} acc {record['train_acc']:.3f}"
    if "temperature" not in record:
        return f"{head}  valid acc {record['valid_acc']:.3f}"
    return (
        f"{head}  valid loss {record['valid_loss']:.3f} acc {record['valid_acc']:.3f}  "
        f"tau {record['temperature']:.3g}  skips {record['skip_count']}"
    )


def _near_chance(summary: dict[str, Any], space: Any) -> list[str]:
    """A line explaining figures of the weight-inherited network that sit near chance, which a reader would
    otherwise take for the architecture's quality; the inherited weights are blamed only once the derived
    architecture ``space`` is checked to be connected (a cell that ignores its input computes a constant)."""
    classes = summary.get("classes")
    if not classes or "finetuned_valid_acc" in summary:
        return []
    chance = 1.0 / classes
    figures = {
        "recalibrated valid": summary.get("recalibrated_valid_acc"),
        "test": summary.get("discretized_test_acc"),
    }
    near = [k for k, v in figures.items() if v is not None and v < 1.5 * chance + 0.05]
    if not near:
        return []
    cut = disconnected_cells(space, {})
    if cut:
        return [
            f"note: the {' and '.join(near)} accuracy {'is' if len(near) == 1 else 'are'} near chance "
            f"(1/{classes} = {chance:.3f}): no input reaches the output of cell {', '.join(map(repr, cut))} through "
            "an op other than none, so the network computes a constant"
        ]
    return [
        f"note: the {' and '.join(near)} accuracy {'is' if len(near) == 1 else 'are'} near chance "
        f"(1/{classes} = {chance:.3f}); the architecture was checked to be connected (an input reaches every "
        "cell's output), so this is because the weights come from the supernet, where every candidate "
        "trained inside a mixture: it says little about the architecture. "
        "Fine-tune it (`finetune N` / `--finetune N`) or train it (`dasdsl train result.das`) to measure it."
    ]


def _decision_lines(summary: dict[str, Any]) -> list[str]:
    """How the result was decided: how decisive the gates ended, the budget during the search, the one-shot
    ranking that picked it."""
    lines = []
    if "final_entropy" in summary:
        margins = list(summary.get("margins", {}).values())
        smallest = f", smallest margin of a choice {min(margins):+.3f}" if margins else ""
        lines.append(
            f"gates: mean normalized entropy {summary['final_entropy']:.2f} (1 = uniform, 0 = one-hot){smallest}"
        )
    for kind, b in summary.get("expected_cost", {}).items():
        lines.append(
            f"budget {kind}({b['budget']:g}): the supernet's expected cost ended at {b['expected']:,.0f} "
            f"({b['expected'] / b['budget']:.0%} of it; multiplier {b['multiplier']:.3g})"
        )
    rows = summary.get("oneshot", [])
    chosen = [r for r in rows if r.get("chosen")]
    if chosen:
        c = chosen[0]
        lines.append(
            f"selected by {summary.get('selection', 'oneshot')} among the {len(rows)} best by gate weights: one-shot "
            f"valid accuracy {c['valid_acc']:.3f} (number {c['gate_rank']} by gate weights; the first by gate "
            f"weights scored {min(rows, key=lambda r: r['gate_rank'])['valid_acc']:.3f})"
        )
    return lines


def summary_text(result: Any, summary: dict[str, Any], out: Path | None) -> str:
    """The end of a search: the derived cells and network, the accuracies, the files written."""
    lines = ["derived architecture:"]
    cells_only = attrs.evolve(
        result.module, body=tuple(s for s in result.module.body if isinstance(s, (ast.CellDecl, ast.NetworkDecl)))
    )
    lines += ["  " + line for line in format_das(cells_only).splitlines()[1:] if line.strip()]
    lines.append("")
    lines.append(
        f"valid accuracy: supernet {summary['supernet_valid_acc']:.3f}, discretized with inherited weights "
        f"{summary['discretized_valid_acc']:.3f} (gap {summary['discretization_gap']:+.3f})"
    )
    if "recalibrated_valid_acc" in summary:
        lines.append(
            f"  with its batch-norm statistics recalibrated: {summary['recalibrated_valid_acc']:.3f} "
            f"(gap {summary['recalibrated_gap']:+.3f}); inherited statistics describe the supernet's mixtures, "
            "recalibrated ones the discretized network alone"
        )
    lines += _decision_lines(summary)
    if "finetuned_valid_acc" in summary:
        lines.append(f"after fine-tuning: valid accuracy {summary['finetuned_valid_acc']:.3f}")
    which = f" ({summary['test_network']})" if "test_network" in summary else ""
    lines.append(f"test accuracy of the discretized network{which}: {summary['discretized_test_acc']:.3f}")
    lines += _near_chance(summary, result)
    for entry in summary.get("top", []):
        lines.append(
            f"  {entry['file']}: score {entry['score']:.3f}, valid accuracy with inherited weights "
            f"{entry['discretized_valid_acc']:.3f}"
        )
    if out is not None:
        lines.append(f"result: {out / 'result.das'}")
    return "\n".join(lines)
