"""One self-contained HTML page per search run: the space, the settings, the curves, the
gate weights, the derived cells, the discretization gap and the result text.

Images are embedded (PNG as base64, SVG inline) and the page links nothing outside
itself, so it can be mailed or archived as one file. Every section falls back on its
own: without graphviz's ``dot`` the cell pictures become their ``.dot`` source and a
line on how to install graphviz; a missing file leaves a note in its place.
"""

from __future__ import annotations

import base64
import html
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dasdsl.errors import DasError, Span, error

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


def _fail(message: str, hint: str | None = None) -> DasError:
    return DasError([error(message, Span.unknown("<command line>"), hint)])


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


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


def _png(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<div class="figure"><img alt="{_esc(alt)}" src="data:image/png;base64,{encoded}"></div>'


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
    rows = [
        f"<tr><th>{_esc(k)}</th><td>{_esc(json.dumps(v) if not isinstance(v, str) else v)}</td></tr>"
        for k, v in config.items()
        if k != "search"
    ]
    search = config.get("search")
    if isinstance(search, dict):
        rows += [
            f"<tr><th>{_esc(k)}</th><td>{_esc(json.dumps(v) if not isinstance(v, str) else v)}</td></tr>"
            for k, v in search.items()
        ]
    return "<table>" + "".join(rows) + "</table>"


def _gap(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return _note("summary.json is missing: the run has not finished")
    names = {
        "supernet_valid_acc": "supernet, valid accuracy",
        "discretized_valid_acc": "discretized (inherited weights), valid accuracy",
        "discretization_gap": "discretization gap (supernet - discretized)",
        "finetuned_valid_acc": "discretized after fine-tuning, valid accuracy",
        "discretized_test_acc": "discretized, test accuracy",
        "epochs": "search epochs",
    }
    rows = []
    for key, value in summary.items():
        shown = f"{value:+.3f}" if key == "discretization_gap" and isinstance(value, float) else value
        if isinstance(shown, float):
            shown = f"{shown:.3f}"
        cls = ""
        if key == "discretization_gap" and isinstance(value, (int, float)):
            cls = " gap-pos" if value > 0 else " gap-neg"
        rows.append(f'<tr><th>{_esc(names.get(key, key))}</th><td class="num{cls}">{_esc(shown)}</td></tr>')
    return "<table>" + "".join(rows) + "</table>"


def _curves(run_dir: Path) -> str:
    from dasdsl.plot import figures, png_bytes

    try:
        figs = figures(run_dir)
    except DasError as exc:
        return _note(exc.diagnostics[0].message if exc.diagnostics else str(exc))
    titles = {
        "loss_acc": "loss and accuracy",
        "gates": "gate weights of every choice point",
        "temperature": "temperature and gate entropy",
        "skips": "skip connections kept",
    }
    parts = []
    for name in ("loss_acc", "gates", "temperature", "skips"):
        parts.append(f"<h3>{_esc(titles[name])}</h3>" + _png(png_bytes(figs[name]), titles[name]))
    return "\n".join(parts)


def _graphs_html(graphs: list[tuple[str, Any]]) -> str:
    """Inline SVGs of graphviz graphs; their .dot source and the install hint without graphviz."""
    from dasdsl.render import INSTALL_HINT, GraphvizNotFoundError, svg_text

    parts = []
    for title, graph in graphs:
        try:
            parts.append(f'<h3>{_esc(title)}</h3><div class="figure">{inline_svg(svg_text(graph))}</div>')
        except GraphvizNotFoundError:
            if not parts or "graphviz" not in parts[0]:
                parts.insert(0, _note(f"graphviz's 'dot' program was not found: {INSTALL_HINT} to see the pictures"))
            parts.append(f"<h3>{_esc(title)} (graphviz source)</h3><pre>{_esc(graph.source)}</pre>")
    return "\n".join(parts)


def _ir_for(space: Any, config: dict[str, Any] | None) -> Any:
    from dasdsl.render import load_ir

    data = None
    if config and isinstance(config.get("search"), dict):
        data = config["search"].get("data")
    return load_ir(space, data=data)


def _plugins(config: dict[str, Any] | None) -> list[str]:
    plugins = (config or {}).get("plugins") or []
    return [p for p in plugins if isinstance(p, str)]


def _weights(run_dir: Path, config: dict[str, Any] | None) -> str:
    import dasdsl
    from dasdsl.render import cell_graph, cell_types, load_run

    text = _read(run_dir / "space.das")
    if text is None:
        return _note("space.das is missing")
    space = dasdsl.loads(text, str(run_dir / "space.das"), _plugins(config))
    ir = _ir_for(space, config)
    run = load_run(run_dir, ir)
    if run is None:
        return _note("log.jsonl holds no epochs yet")
    return _graphs_html([(f"cell {t}", cell_graph(ir, t, run)) for t in cell_types(ir)])


def _derived(run_dir: Path, config: dict[str, Any] | None) -> str:
    import dasdsl
    from dasdsl.render import cell_graph, cell_types, network_graph

    text = _read(run_dir / "result.das")
    if text is None:
        return _note("result.das is missing: the run has not finished")
    result = dasdsl.loads(text, str(run_dir / "result.das"), _plugins(config))
    ir = _ir_for(result, config)
    graphs = [(f"cell {t}", cell_graph(ir, t)) for t in cell_types(ir)]
    graphs.append(("network", network_graph(ir)))
    return _graphs_html(graphs)


def _text(path: Path) -> str:
    text = _read(path)
    if text is None:
        return _note(f"{path.name} is missing")
    return f"<pre>{_esc(text)}</pre>"


def build_report(run_dir: str | Path) -> str:
    """The HTML text of a run's report."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise _fail(f"{run_dir} is not a run directory")
    config = _json(run_dir / "config.json")
    if config is None and not (run_dir / "space.das").is_file():
        raise _fail(f"{run_dir} is not a run directory (no config.json / space.das)")
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
    page = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>dasdsl run {_esc(run_dir.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>dasdsl run {_esc(run_dir.name)}</h1>",
        f'<p class="sub">{_esc(sub)}<br>report written {_esc(time.strftime("%Y-%m-%d %H:%M:%S"))}</p>',
        _section("Result", lambda: _gap(summary)),
        _section("Curves", lambda: _curves(run_dir)),
        _section("Gate weights at the end of the search", lambda: _weights(run_dir, config)),
        _section("Derived architecture (result.das)", lambda: _derived(run_dir, config)),
        _section("result.das", lambda: _text(run_dir / "result.das")),
        _section("Search space (space.das)", lambda: _text(run_dir / "space.das")),
        _section("Settings (config.json)", lambda: _settings(config)),
        "</body></html>",
    ]
    return "\n".join(page) + "\n"


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report (by default RUN_DIR/report.html) and return its path."""
    path = Path(out) if out is not None else Path(run_dir) / "report.html"
    text = build_report(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def report_after_run(run_dir: str | Path) -> Path | None:
    """The end of ``dasdsl run``: write report.html, never fail the run (a line on stderr instead)."""
    try:
        path = write_report(run_dir)
    except Exception as exc:  # noqa: BLE001 - the run itself succeeded
        print(f"dasdsl: no report.html ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None
    print(f"report: {path}", file=sys.stderr)
    return path
