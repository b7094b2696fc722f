"""One self-contained HTML page per search run: the space, the settings, the curves, the
gate weights, the derived cells, the discretization gap and the result text.

Images are inline SVG (the curves drawn by ``dasdsl.view.chart``) and the page links nothing outside
itself, so it can be mailed or archived as one file. Every section falls back on its
own: without graphviz's ``dot`` the cell pictures become their ``.dot`` source and a
line on how to install graphviz; a missing file leaves a note in its place.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dasdsl.engine.data import describe, ir_for, run_shape
from dasdsl.engine.rundir import read_config, run_data
from dasdsl.errors import DasError, fail
from dasdsl.files import make_folder, write_atomic
from dasdsl.lang.load import check_text
from dasdsl.view.chart import line_chart
from dasdsl.view.plot import PALETTE, gate_panels, read_log, space_labels
from dasdsl.view.render import (
    INSTALL_HINT,
    GraphvizNotFoundError,
    _esc,
    cell_graphs,
    load_run,
    network_graph,
    space_svg,
    svg_text,
)

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1.5em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
.sub { color: #666; margin-top: 0; }
pre { background: #f6f8fa; border: 1px solid #e3e6ea; border-radius: 6px; padding: 0.8em 1em; overflow-x: auto;
      font-size: 0.85em; line-height: 1.35; }
table { border-collapse: collapse; font-size: 0.92em; }
td, th { border-bottom: 1px solid #e5e5e5; padding: 0.25em 1.2em 0.25em 0; text-align: left; vertical-align: top; }
th { color: #555; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.figure { margin: 0.8em 0 1.6em 0; overflow-x: auto; }
.figure img, .figure svg { max-width: 100%; height: auto; }
.note { color: #8a5300; background: #fff6e5; border: 1px solid #f0d9a8; border-radius: 6px; padding: 0.5em 0.8em; }
.gap-pos { color: #b03a2e; } .gap-neg { color: #1e7b34; }
"""


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _json(path: Path) -> dict[str, Any] | None:
    text = _read(path)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def inline_svg(svg: str) -> str:
    """graphviz's SVG as an inline element: no XML prolog, doctype, comments or namespace URLs."""
    svg = re.sub(r"<\?xml.*?\?>", "", svg, flags=re.S)
    svg = re.sub(r"<!DOCTYPE.*?>", "", svg, flags=re.S)
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    return svg.strip()


def _section(title: str, build: Callable[[], str]) -> str:
    """A section whose content falls back to a note when it cannot be built."""
    try:
        body = build()
    except Exception as exc:  # noqa: BLE001 - a report shows what it can
        body = _note(f"could not build this section: {type(exc).__name__}: {exc}")
    return f"<h2>{_esc(title)}</h2>\n{body}\n"


def _settings(config: dict[str, Any] | None) -> str:
    if config is None:
        return _note("config.json is missing or damaged")

    def row(k: str, v: Any) -> str:
        return f"<tr><th>{_esc(k)}</th><td>{_esc(json.dumps(v) if not isinstance(v, str) else v)}</td></tr>"

    rows = [row(k, v) for k, v in config.items() if k != "search"]
    search = config.get("search")
    if isinstance(search, dict):
        rows += [row(k, v) for k, v in search.items()]
    return "<table>" + "".join(rows) + "</table>"


def _gap(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return _note("summary.json is missing: the run has not finished")
    names = {
        "supernet_valid_acc": "supernet, valid accuracy",
        "discretized_valid_acc": "discretized (inherited weights), valid accuracy",
        "discretization_gap": "discretization gap (supernet - discretized)",
        "recalibrated_valid_acc": "discretized, batch-norm statistics recalibrated, valid accuracy",
        "recalibrated_gap": "gap after recalibration (supernet - recalibrated)",
        "finetuned_valid_acc": "discretized after fine-tuning, valid accuracy",
        "discretized_test_acc": "discretized, test accuracy",
        "test_network": "the network the test accuracy measures",
        "epochs": "search epochs",
    }
    names["final_entropy"] = "gates: mean normalized entropy at the end (1 uniform, 0 one-hot)"
    rows = []
    for key, value in summary.items():
        if isinstance(value, (dict, list)):  # margins, expected costs, one-shot scores: their own tables
            continue
        shown = f"{value:+.3f}" if key.endswith("_gap") and isinstance(value, float) else value
        if isinstance(shown, float):
            shown = f"{shown:.3f}"
        cls = ""
        if key.endswith("_gap") and isinstance(value, (int, float)):
            cls = " gap-pos" if value > 0 else " gap-neg"
        rows.append(f'<tr><th>{_esc(names.get(key, key))}</th><td class="num{cls}">{_esc(shown)}</td></tr>')
    return "<table>" + "".join(rows) + "</table>"


def _cell(value: Any, digits: int = 3, sign: bool = False) -> str:
    """A table cell of a number from a run's files, which are data: anything else is shown as text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"<td class='num'>{value:{'+' if sign else ''}.{digits}f}</td>"
    return f"<td>{_esc(value)}</td>"


def _decision(summary: dict[str, Any] | None) -> str:
    """The one-shot scores of the candidates, the budgets' expected costs and the choices' margins."""
    if summary is None:
        return _note("summary.json is missing: the run has not finished")
    parts = []
    budgets = summary.get("expected_cost")
    if isinstance(budgets, dict) and budgets:
        rows = "".join(
            f"<tr><th>{_esc(k)}</th>{_cell(b.get('budget'), 0)}{_cell(b.get('expected'), 0)}"
            f"{_cell(b.get('multiplier'), 4)}</tr>"
            for k, b in budgets.items()
            if isinstance(b, dict)
        )
        parts.append(
            "<table><tr><th>budget</th><th>limit</th><th>expected cost at the end</th><th>multiplier</th></tr>"
            f"{rows}</table>"
        )
    scored = summary.get("oneshot")
    if isinstance(scored, list) and scored:
        rows = "".join(
            f"<tr>{_cell(r.get('gate_rank'), 0)}{_cell(r.get('gate_score'))}{_cell(r.get('valid_acc'))}"
            f"{_cell(r.get('valid_loss'))}<td>{'chosen' if r.get('chosen') is True else ''}</td></tr>"
            for r in scored
            if isinstance(r, dict)
        )
        parts.append(
            "<p>One-shot ranking: the best architectures by gate weights, each scored with the supernet's weights "
            "and recalibrated batch norm (validation accuracy), best score first.</p><table><tr><th>rank by gates"
            f"</th><th>gate score</th><th>valid acc</th><th>valid loss</th><th></th></tr>{rows}</table>"
        )
    margins = summary.get("margins")
    if isinstance(margins, dict) and margins:
        rows = "".join(f"<tr><th>{_esc(k)}</th>{_cell(v, sign=True)}</tr>" for k, v in margins.items())
        parts.append(f"<table><tr><th>choice</th><th>margin (chosen - strongest other)</th></tr>{rows}</table>")
    return "\n".join(parts) if parts else _note("no budget, one-shot ranking or margins recorded")


def loss_acc_charts(records: Sequence[dict[str, Any]]) -> list[str]:
    """Cross-entropy and accuracy per epoch, train and valid, as two inline SVG charts."""
    epochs = [int(r.get("epoch", i + 1)) for i, r in enumerate(records)]
    return [
        line_chart(
            what,
            epochs,
            [
                (split, [r.get(f"{split}_{key}", math.nan) for r in records], c)
                for split, c in (("train", "#4c72b0"), ("valid", "#dd8452"))
            ],
            ylabel=what,
        )
        for what, key in (("cross-entropy", "loss"), ("accuracy", "acc"))
    ]


def _graphs_html(graphs: list[tuple[str, Any]]) -> str:
    """Inline SVGs of graphviz graphs; their .dot source and the install hint without graphviz."""

    parts = []
    for title, graph in graphs:
        try:
            parts.append(f'<h3>{_esc(title)}</h3><div class="figure">{inline_svg(svg_text(graph))}</div>')
        except GraphvizNotFoundError:
            if not parts or "graphviz" not in parts[0]:
                parts.insert(0, _note(f"graphviz's 'dot' program was not found: {INSTALL_HINT} to see the pictures"))
            parts.append(f"<h3>{_esc(title)} (graphviz source)</h3><pre>{_esc(graph.source)}</pre>")
    return "\n".join(parts)


class _RunFiles:
    """The files of a run directory, each read, parsed or built once per report. A failure is kept
    and raised again in every section that needs it, so that each section falls back on its own."""

    def __init__(self, run_dir: Path, config: dict[str, Any] | None) -> None:
        self.dir = run_dir
        self.config = config
        self._memo: dict[str, tuple[bool, Any]] = {}

    def _once(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self._memo:
            try:
                self._memo[key] = (True, build())
            except Exception as exc:  # noqa: BLE001 - raised again below, in each section that needs it
                self._memo[key] = (False, exc)
        ok, value = self._memo[key]
        if not ok:
            raise value
        return value

    def text(self, name: str) -> str | None:
        return self._once(f"text {name}", lambda: _read(self.dir / name))

    def space(self, name: str) -> Any:
        """space.das or result.das, parsed and checked; None where the file is missing."""

        def build() -> Any:
            text = self.text(name)
            if text is None:
                return None
            return check_text(text, str(self.dir / name))  # plugin ops only if this process has them already

        return self._once(f"space {name}", build)

    def records(self) -> list[dict[str, Any]]:
        return self._once("log", lambda: read_log(self.dir))

    def ir(self, space: Any) -> Any:
        """The IR of space.das or result.das for the run's data, described once for both."""
        recorded = run_shape(self.config, self.dir)  # what the run recorded of its data: nothing to load
        if recorded is not None:
            return ir_for(space, *recorded)
        data = run_data(self.config)
        if data is None:
            return ir_for(space)  # each space's own data, as render does
        shape, classes = self._once("data", lambda: describe(space, data))
        return ir_for(space, shape, classes)

    def labels(self) -> dict[str, list[str]]:
        """Candidate labels per choice key; empty where space.das cannot be read (as plot.choice_labels)."""

        try:
            space = self.space("space.das")
        except (DasError, OSError, UnicodeDecodeError, ImportError):
            return {}
        return {} if space is None else space_labels(space)

    def curves(self) -> str:
        """The curves of ``dasdsl plot`` as inline SVG charts (``dasdsl.view.chart``): no plotting library to
        import, a few milliseconds to draw."""
        try:
            records = self.records()
            panels, notes = gate_panels(records, self.labels())
        except DasError as exc:
            return _note(exc.diagnostics[0].message if exc.diagnostics else str(exc))
        epochs = [int(r.get("epoch", i + 1)) for i, r in enumerate(records)]

        def column(key: str) -> list[float]:
            return [r.get(key, math.nan) for r in records]

        entropy = []
        for r in records:
            values = list((r.get("entropy") or {}).values())
            entropy.append(sum(values) / len(values) if values else math.nan)
        colors: dict[str, str] = {}

        def color(name: str) -> str:
            return colors.setdefault(name, PALETTE[len(colors) % len(PALETTE)])

        charts = {
            "loss and accuracy": loss_acc_charts(records),
            "gate weights of every choice point": [
                line_chart(
                    p.title,
                    epochs,
                    [(name, ys, color(name)) for name, ys in p.lines],
                    ylabel="gate weight",
                    width=250,
                    height=170,
                )
                for p in panels
            ],
            "temperature and gate entropy": [
                line_chart("gate temperature", epochs, [("temperature", column("temperature"), "#c44e52")]),
                line_chart("mean gate entropy", epochs, [("entropy", entropy, "#8172b3")], ylim=(0, 1.05)),
            ],
            "skip connections kept": [
                line_chart(
                    "skip connections among the kept edges", epochs, [("skips", column("skip_count"), "#55a868")]
                )
            ],
        }
        parts = []
        for title, svgs in charts.items():
            extra = "".join(_note(n) for n in notes) if title.startswith("gate") else ""
            parts.append(f'<h3>{_esc(title)}</h3>{extra}<div class="figure">{"".join(svgs)}</div>')
        return "\n".join(parts)

    def cells(self, name: str) -> str:
        """The cells of space.das with the final gate weights, or those of result.das and its network."""

        space = self.space(name)
        if space is None:
            missing = "space.das is missing" if name == "space.das" else f"{name} is missing: the run has not finished"
            return _note(missing)
        ir = self.ir(space)
        if name != "space.das":
            graphs = [(f"cell {t}", g) for t, g in cell_graphs(ir)]
            return _graphs_html([*graphs, ("network", network_graph(ir))])
        try:
            record = self.records()[-1]
        except DasError:
            record = None
        try:
            result = self.space("result.das")
        except (DasError, OSError, UnicodeDecodeError):
            result = None  # load_run reads it again and finds no decisions in it
        run = None
        if record is not None:
            run = load_run(self.dir, ir, record=record, config=self.config or {}, result=result)
        if run is None:
            return _note("log.jsonl holds no epochs yet")
        return _graphs_html([(f"cell {t}", g) for t, g in cell_graphs(ir, run)])

    def source(self, name: str) -> str:
        text = self.text(name)
        if text is None:
            return _note(f"{name} is missing")
        return f"<pre>{_esc(text)}</pre>"


def build_report(run_dir: str | Path) -> str:
    """The HTML text of a run's report."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise fail(f"{run_dir} is not a run directory", "<command line>")
    config = read_config(run_dir, optional=True)
    if config is None and not (run_dir / "space.das").is_file():
        raise fail(f"{run_dir} is not a run directory (no config.json / space.das)", "<command line>")
    summary = _json(run_dir / "summary.json")
    search = (config or {}).get("search") or {}
    facts = [f"source {config.get('source')}" if config and config.get("source") else None]
    if isinstance(search, dict):
        facts += [f"data {search.get('data')}", f"{search.get('epochs')} epochs", f"seed {search.get('seed')}"]
    if config and config.get("device"):
        facts.append(f"device {config['device']}")
    if summary is not None and isinstance(summary.get("discretization_gap"), (int, float)):
        facts.append(f"discretization gap {summary['discretization_gap']:+.3f}")
    sub = " · ".join(f for f in facts if f)
    run = _RunFiles(run_dir, config)
    page = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>dasdsl run {_esc(run_dir.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>dasdsl run {_esc(run_dir.name)}</h1>",
        f'<p class="sub">{_esc(sub)}<br>report written {_esc(time.strftime("%Y-%m-%d %H:%M:%S"))}</p>',
        _section("Result", lambda: _gap(summary)),
        _section("How the result was decided", lambda: _decision(summary)),
        _section("Curves", run.curves),
        _section("Gate weights at the end of the search", lambda: run.cells("space.das")),
        _section("Derived architecture (result.das)", lambda: run.cells("result.das")),
        _section("result.das", lambda: run.source("result.das")),
        _section("Search space (space.das)", lambda: run.source("space.das")),
        _section("Settings (config.json)", lambda: _settings(config)),
        "</body></html>",
    ]
    return "\n".join(page) + "\n"


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report (by default RUN_DIR/report.html) and return its path."""
    path = Path(out) if out is not None else Path(run_dir) / "report.html"
    text = build_report(run_dir)
    make_folder(path.parent, "folder for the report")
    return write_atomic(path, text, "report")


def result_html(space: Any, summary: dict[str, Any], history: Sequence[dict[str, Any]], run_dir: Path | None) -> str:
    """A search result as a notebook shows it (``SearchResult._repr_html_``): the derived cells, the
    accuracies (which network each measures) and the loss and accuracy per epoch."""
    where = f" &mdash; run directory <code>{_esc(str(run_dir))}</code>" if run_dir is not None else ""
    parts = [f"<h3>Search result: {_esc(space.name)}{where}</h3>"]
    svg = space_svg(space)
    parts.append(f'<div class="figure">{inline_svg(svg)}</div>' if svg else _note(f"no picture: {INSTALL_HINT}"))
    parts.append(_gap(summary))
    if history:
        parts.append(f'<div class="figure">{"".join(loss_acc_charts(history))}</div>')
    return "\n".join(parts)
