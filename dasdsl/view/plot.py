"""Curves of a search run from its log.jsonl: gate weights, temperature, loss and accuracy, skips.

Figures are drawn with matplotlib's object-oriented API on the Agg canvas (no pyplot, so
no global backend is switched and nothing needs a display); matplotlib is imported only when a figure is drawn
(report.html draws its curves as SVG, ``dasdsl.view.chart``, from the same data: ``gate_panels``).
"""

from __future__ import annotations

import io
import itertools
import math
from pathlib import Path
from typing import Any

import attrs

from dasdsl.compiler.ir import choice_key
from dasdsl.engine.rundir import read_records, read_space
from dasdsl.errors import DasError, fail
from dasdsl.files import make_folder, write_atomic

PLOTS = ("gates", "temperature", "loss_acc", "skips")
DPI = 110
PALETTE = (
    "#4c72b0",
    "#dd8452",
    "#55a868",
    "#c44e52",
    "#8172b3",
    "#937860",
    "#da8bc3",
    "#8c8c8c",
    "#ccb974",
    "#64b5cd",
    "#1b9e77",
    "#e7298a",
)


def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """The complete records of a run's log.jsonl (a line cut short by a kill is skipped)."""
    path = Path(run_dir) / "log.jsonl"
    if not Path(run_dir).is_dir():
        raise fail(f"{run_dir} is not a run directory", "<command line>")
    if not path.is_file():
        raise fail(f"{run_dir} has no log.jsonl", "<command line>", "the run has not finished an epoch yet")
    records = read_records(path)
    if not records:
        raise fail(f"{path} holds no epochs yet", "<command line>", "plot once the run has finished an epoch")
    return records


def choice_labels(run_dir: str | Path) -> dict[str, list[str]]:
    """Candidate labels per choice key, from the run's space.das (empty if it cannot be read)."""
    try:
        space = read_space(run_dir)
    except (DasError, OSError, UnicodeDecodeError, ImportError):
        return {}
    return space_labels(space)


def space_labels(space: Any) -> dict[str, list[str]]:
    """Candidate labels per choice key of a checked space."""

    labels: dict[str, list[str]] = {}
    for type_name, inst in space.cell_types.items():
        for edge in inst.choices:
            labels[choice_key(type_name, edge.source, edge.target)] = [c.label for c in edge.candidates]
    return labels


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # about 0.6 s: only when a figure is drawn
    from matplotlib.figure import Figure  # (the same)

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _epochs(records: list[dict[str, Any]]) -> list[int]:
    return [int(r.get("epoch", i + 1)) for i, r in enumerate(records)]


def _style(ax: Any, epochs: list[int], ylabel: str | None = None, *, panel: bool = False) -> None:
    """Common axis look; ``panel`` is the smaller variant of the per-choice gate panels."""
    if not panel:
        ax.set_xlabel("epoch", fontsize=9)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=7 if panel else 8)
    ax.grid(True, alpha=0.3, linewidth=0.5 if panel else 0.6)
    ax.spines[["top", "right"]].set_visible(False)
    if len(epochs) <= (8 if panel else 12):
        ax.set_xticks(epochs)
    if len(epochs) == 1:
        ax.set_xlim(epochs[0] - 1, epochs[0] + 1)


def _marker(epochs: list[int]) -> str | None:
    return "o" if len(epochs) <= 30 else None


# Bounds of the gate figure: a panel takes about 0.2 s to draw, and a log may name any number of choice points
# (DARTS: 28; a crafted 70 KB log: over a thousand, four minutes of drawing).
MAX_PANELS = 36  # more choice points than this: one panel per cell type, the mean over its choice points
MAX_LINES = 12  # candidates drawn per panel: those with the highest final weight
MAX_KEYS = 10_000  # choice points read from the log


@attrs.frozen
class Panel:
    """One panel of the gate figure: a title and a line per candidate (label, one weight per epoch)."""

    title: str
    lines: tuple[tuple[str, tuple[float, ...]], ...]
    best: str  # the candidate with the highest final weight, drawn thicker


def gate_panels(records: list[dict[str, Any]], labels: dict[str, list[str]]) -> tuple[list[Panel], list[str]]:
    """The panels of the gate figure and notes on what was left out: one panel per choice point, or where there
    are more than MAX_PANELS, one per cell type with each candidate's mean weight over the type's choice points;
    at most MAX_PANELS panels and MAX_LINES lines each, whatever the log holds."""
    gates = records[-1].get("gates", {})
    keys = list(itertools.islice(gates, MAX_KEYS))
    if not keys:
        raise fail("the log records no gate weights", "<command line>")
    notes = [f"only the first {MAX_KEYS} of {len(gates)} choice points were read"] if len(gates) > MAX_KEYS else []

    def series(key: str) -> dict[str, list[float]]:
        width = len(gates[key])
        names = labels.get(key, [])
        if len(names) != width:
            names = [f"candidate {i}" for i in range(width)]
        per_epoch = [r.get("gates", {}).get(key) for r in records]
        return {
            name: [w[i] if isinstance(w, list) and len(w) == width else math.nan for w in per_epoch]
            for i, name in enumerate(names)
        }

    groups: dict[str, list[str]] = {}
    if len(keys) > MAX_PANELS:
        for key in keys:
            groups.setdefault(key.partition(":")[0], []).append(key)
        notes.append(
            f"{len(keys)} choice points: one panel per cell type, each candidate's mean weight over its points"
        )
    else:
        groups = {key: [key] for key in keys}
    if len(groups) > MAX_PANELS:
        notes.append(f"only the first {MAX_PANELS} of {len(groups)} panels are drawn")
    panels = []
    for name, members in itertools.islice(groups.items(), MAX_PANELS):
        sums: dict[str, list[float]] = {}
        counts: dict[str, int] = {}
        for key in members:
            for label, ys in series(key).items():
                sums[label] = [a + b for a, b in zip(sums[label], ys)] if label in sums else list(ys)
                counts[label] = counts.get(label, 0) + 1
        lines = {label: tuple(v / counts[label] for v in ys) for label, ys in sums.items()}
        ranked = sorted(lines, key=lambda label: -_final(lines[label]))
        if len(ranked) > MAX_LINES:
            notes.append(f"{_short(name)}: the {MAX_LINES} of {len(ranked)} candidates with the highest final weight")
        kept = set(ranked[:MAX_LINES])
        title = _short(name) if len(members) == 1 else f"cell {name}: mean of {len(members)} choice points"
        panels.append(Panel(title, tuple((k, v) for k, v in lines.items() if k in kept), ranked[0]))
    return panels, notes


def _final(ys: tuple[float, ...]) -> float:
    last = ys[-1] if ys else math.nan
    return last if math.isfinite(last) else -math.inf


def gates_figure(records: list[dict[str, Any]], labels: dict[str, list[str]], title: str = "") -> Any:
    """A grid of small panels (``gate_panels``), one line per candidate; one legend for all."""
    panels, notes = gate_panels(records, labels)
    epochs = _epochs(records)
    n = len(panels)
    cols = min(7, max(1, math.ceil(math.sqrt(n * 1.5))))
    rows = math.ceil(n / cols)
    fig = _figure(max(4.2, 2.25 * cols), 1.75 * rows + 0.9 + 0.2 * len(notes))
    axes = fig.subplots(rows, cols, squeeze=False)
    colors: dict[str, str] = {}
    handles: dict[str, Any] = {}
    for ax, panel in zip(axes.flat, panels):
        for name, ys in panel.lines:
            color = colors.setdefault(name, PALETTE[len(colors) % len(PALETTE)])
            (line,) = ax.plot(
                epochs,
                list(ys),
                color=color,
                linewidth=2.0 if name == panel.best else 1.1,
                marker=_marker(epochs),
                markersize=2.5,
                label=name,
            )
            if len(handles) < MAX_LEGEND:
                handles.setdefault(name, line)
        ax.set_title(panel.title, fontsize=8.5)
        _style(ax, epochs, panel=True)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("epoch", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("gate weight", fontsize=8)
    legend = fig.legend(
        list(handles.values()),
        list(handles),
        loc="outside lower center",
        ncol=min(len(handles), 8 if cols >= 5 else 4),
        fontsize=8.5,
        frameon=False,
    )
    for handle in legend.legend_handles:
        handle.set_linewidth(1.6)
    if title or notes:
        fig.suptitle("\n".join([title, *notes]).strip(), fontsize=11 if not notes else 9)
    return fig


MAX_LEGEND = 24  # candidate names in the legend


def _short(key: str) -> str:
    """``normal:s0->n0`` as ``normal  s0 → n0``."""
    cell, _, edge = key.partition(":")
    return f"{cell}  {edge.replace('->', ' → ')}" if edge else key


def temperature_figure(records: list[dict[str, Any]]) -> Any:
    """The gate temperature and the mean gate entropy per epoch."""
    epochs = _epochs(records)
    fig = _figure(8.0, 3.0)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(epochs, [r.get("temperature", float("nan")) for r in records], color="#c44e52", marker=_marker(epochs))
    ax1.set_title("gate temperature", fontsize=10)
    _style(ax1, epochs, "temperature")
    ax1.yaxis.get_major_formatter().set_useOffset(False)
    entropy = []
    for r in records:
        values = list((r.get("entropy") or {}).values())
        entropy.append(sum(values) / len(values) if values else float("nan"))
    ax2.plot(epochs, entropy, color="#8172b3", marker=_marker(epochs))
    ax2.set_title("mean gate entropy", fontsize=10)
    _style(ax2, epochs, "entropy (1 = uniform)")
    ax2.set_ylim(0, 1.05)
    return fig


def loss_acc_figure(records: list[dict[str, Any]]) -> Any:
    """Train and valid loss and accuracy per epoch."""
    epochs = _epochs(records)
    fig = _figure(8.0, 3.0)
    ax1, ax2 = fig.subplots(1, 2)
    for ax, what in ((ax1, "loss"), (ax2, "acc")):
        for split, color in (("train", "#4c72b0"), ("valid", "#dd8452")):
            values = [r.get(f"{split}_{what}", float("nan")) for r in records]
            ax.plot(epochs, values, color=color, marker=_marker(epochs), label=split)
        ax.set_title("loss" if what == "loss" else "accuracy", fontsize=10)
        _style(ax, epochs, "cross-entropy" if what == "loss" else "accuracy")
        ax.legend(fontsize=8, frameon=False)
    return fig


def skips_figure(records: list[dict[str, Any]]) -> Any:
    """How many kept edges are skip connections, per epoch (DARTS' collapse shows up here)."""
    epochs = _epochs(records)
    fig = _figure(5.0, 3.0)
    ax = fig.subplots()
    ax.plot(epochs, [r.get("skip_count", float("nan")) for r in records], color="#55a868", marker=_marker(epochs))
    ax.set_title("skip connections among the kept edges", fontsize=10)
    _style(ax, epochs, "skip count")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_ylim(bottom=0)
    return fig


def figures(
    run_dir: str | Path,
    *,
    records: list[dict[str, Any]] | None = None,
    labels: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Every figure of a run by name (see PLOTS); ``records`` (read_log's) and ``labels`` (choice_labels')
    where they are read already."""
    if records is None:
        records = read_log(run_dir)
    if labels is None:
        labels = choice_labels(run_dir)
    return {
        "gates": gates_figure(records, labels, f"gate weights per choice point ({Path(run_dir).name})"),
        "temperature": temperature_figure(records),
        "loss_acc": loss_acc_figure(records),
        "skips": skips_figure(records),
    }


def png_bytes(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write gates.png, temperature.png, loss_acc.png and skips.png; by default into RUN_DIR/plots."""
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "plots"
    figs = figures(run_dir)
    make_folder(out, "folder for the plots", link_ok=out_dir is not None)  # RUN_DIR/plots: no link out of it
    return [write_atomic(out / f"{name}.png", png_bytes(fig), "plot") for name, fig in figs.items()]
