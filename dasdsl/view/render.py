"""Pictures of spaces, searches and results: graphviz renders of cells and of the macro network.

A cell is drawn left to right in the style of the DARTS paper: the inputs c_{k-2}, c_{k-1}
as green boxes, the intermediate nodes as blue boxes, the output c_k in yellow. Each
choice point is one edge, labelled with its candidates (a candidate set used on several
edges, such as DARTS' eight ops, is named on the edge and listed once in the title);
a fixed edge is labelled with its op. Adapters the compiler inserted are orange: input
preprocessing (``project``, ``reduce``) as a dashed node in front of the input, ``widen``
on the candidates it applies to.

With a run (``--run RUN_DIR``) the choice edges are coloured and sized by the final gate
weights (the last record of log.jsonl), the kept edges (the decisions of result.das) are
solid and the dropped ones dashed, and every edge names its top candidates with their
weights. A fixed space (a search result) comes out as the clean derived cell.

Only ``graphviz`` (the Python package) is needed to build the graphs; turning them into
SVG, PNG or PDF needs graphviz's ``dot`` binary. Without it :func:`write_graphs`
writes the ``.dot`` source instead and says how to install graphviz.
"""

from __future__ import annotations

import html
import itertools
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import graphviz

from dasdsl.compiler.ir import OUTPUT, CellEdge, CellGraph, NetworkIR
from dasdsl.engine.constraints import connected_or_best
from dasdsl.engine.data import ir_for
from dasdsl.engine.discretization import decide, result_cell_name
from dasdsl.engine.rundir import last_record, read_config, read_space
from dasdsl.errors import DasError, fail
from dasdsl.files import fit_name, make_folder, write_atomic
from dasdsl.lang import ast
from dasdsl.lang.printer import format_op
from dasdsl.lang.settings import SearchConfig
from dasdsl.wording import shape_text

FORMATS = ("svg", "png", "pdf")
INSTALL_HINT = "install graphviz (apt-get install graphviz / brew install graphviz)"
PNG_DPI = 144

FONT = "Helvetica"
INPUT_FILL = "#d4edd1"  # the DARTS paper's colours: inputs green, nodes blue, output yellow
NODE_FILL = "#d4e4f7"
OUTPUT_FILL = "#fbeeac"
ADAPTER = "#d2691e"
ADAPTER_FILL = "#fdebd9"
EDGE = "#37474f"
MUTED = "#8c8c8c"
DROPPED = "#c4c4c4"
# kept edges: from a light to a deep blue as the gate weight grows (within the cell)
_RAMP = ((0.0, (0x8C, 0xB6, 0xE0)), (0.5, (0x3A, 0x7D, 0xC2)), (1.0, (0x08, 0x2A, 0x6E)))
TARGET_COLORS = ("#1f5fa8", "#2e7d32", "#c2185b", "#6a3fa0", "#00838f", "#5d4037", "#827717", "#37474f")
CELL_FILLS = ("#d4e4f7", "#f7d9d4", "#dcefd6", "#efe0f5", "#fbeeac", "#d9f1f1")


class GraphvizNotFoundError(RuntimeError):
    """graphviz's ``dot`` binary is not installed (or not on PATH)."""


# ---- run data --------------------------------------------------------------------------


@attrs.frozen
class RunGates:
    """What a search run says about its choice points."""

    weights: dict[str, list[float]]  # choice key -> final gate weights (last log.jsonl record)
    decisions: dict[str, int | None]  # choice key -> kept candidate index, None: edge dropped
    epoch: int | None
    name: str
    rule: str = "argmax"


def load_run(
    run_dir: str | Path,
    ir: NetworkIR,
    *,
    record: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    result: Any = None,
) -> RunGates | None:
    """Final gate weights and decisions of a run for the choice points of ``ir``; None without a log.
    ``record`` (the last log.jsonl record), ``config`` (config.json) and ``result`` (result.das, checked)
    where they are read already."""

    run_dir = Path(run_dir)
    if record is None:
        record = last_record(run_dir)
    if record is None or not isinstance(record.get("gates"), dict):
        return None
    weights = {k: [float(x) for x in v] for k, v in record["gates"].items() if k in ir.choices}
    weights = {k: v for k, v in weights.items() if len(v) == len(ir.choices[k].labels)}
    search = (config if config is not None else read_config(run_dir)).get("search", {})
    cfg = SearchConfig.from_json(search) if isinstance(search, dict) else SearchConfig()
    decisions: dict[str, int | None] = {}
    if len(weights) == len(ir.choices):
        decisions = connected_or_best(ir, weights, decide(ir, weights, cfg.discretize, cfg.threshold))
    decisions.update(_result_decisions(run_dir / "result.das", ir, result))
    epoch = record.get("epoch")
    return RunGates(weights, decisions, epoch if isinstance(epoch, int) else None, run_dir.name, cfg.discretize)


def _result_decisions(path: Path, ir: NetworkIR, result: Any = None) -> dict[str, int | None]:
    """Decisions as result.das records them (it also drops nodes that no longer reach the output);
    ``result`` is result.das checked already, else it is read from ``path``."""
    if result is None:
        if not path.is_file():
            return {}
        try:
            result = read_space(path.parent, path.name, plugins=[])
        except (DasError, OSError, UnicodeDecodeError):
            return {}
    decisions: dict[str, int | None] = {}
    for key, info in ir.choices.items():
        name = result_cell_name(ir.space.module, info.cell_type)
        if name not in result.cell_types:
            continue
        edge = next(
            (e for e in result.cell_types[name].edges if (e.source, e.target) == (info.source, info.target)), None
        )
        if edge is None:
            decisions[key] = None
            continue
        label = edge.candidates[0].label
        index = next(
            (i for i, c in enumerate(info.labels) if label == c or label.startswith(c + " then widen")),
            None,
        )
        if index is not None:
            decisions[key] = index
    return decisions


# ---- helpers ---------------------------------------------------------------------------


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _small(text: str, color: str = MUTED, size: int = 9) -> str:
    return f'<FONT POINT-SIZE="{size}" COLOR="{color}">{text}</FONT>'


def _html(text: str) -> str:
    return f"<{text}>"


def _ramp(t: float) -> str:
    t = min(max(t, 0.0), 1.0)
    for (t0, c0), (t1, c1) in itertools.pairwise(_RAMP):
        if t <= t1:
            f = (t - t0) / (t1 - t0)
            return "#" + "".join(f"{round(a + (b - a) * f):02x}" for a, b in zip(c0, c1))
    return "#" + "".join(f"{c:02x}" for c in _RAMP[-1][1])


def _wrap(items: Sequence[str], width: int) -> list[str]:
    lines, line = [], ""
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "")
        if line and len(line) + 1 + len(piece) > width:
            lines.append(line)
            line = piece
        else:
            line = f"{line} {piece}" if line else piece
    if line:
        lines.append(line)
    return lines


def _named_sets(module: ast.Module) -> dict[tuple[str, ...], str]:
    """Candidate label tuples of the space's ``ops NAME = [...]`` sets, by their labels."""
    opsets = {s.name: s for s in module.body if isinstance(s, ast.OpSetDecl)}

    def expand(name: str, seen: frozenset[str]) -> list[str]:
        labels: list[str] = []
        for op in opsets[name].ops.ops:
            step = op.steps[0]
            if len(op.steps) == 1 and not step.args and step.func in opsets and step.func not in seen:
                labels += expand(step.func, seen | {step.func})
            else:
                labels.append(format_op(op))
        return labels

    found: dict[tuple[str, ...], str] = {}
    for name in opsets:
        found.setdefault(tuple(expand(name, frozenset({name}))), name)
    return found


def cell_types(ir: NetworkIR) -> dict[str, list[str]]:
    """Architecture types in network order (nested cells last), each with its cell-graph keys."""
    order = [d.cell_key for d in map(ir.macro.nodes.__getitem__, ir.order()) if d.kind == "cell"]
    order += [k for k in ir.cells if k not in order]
    types: dict[str, list[str]] = {}
    for key in dict.fromkeys(order):
        types.setdefault(ir.cells[key].type_name, []).append(key)
    return types


def _signature(g: CellGraph) -> str:
    args = ", ".join(f"{k} = {v}" for k, v in g.args)
    return f"{g.name}({args})" if args else g.name


def _input_names(inputs: Sequence[str], nested: bool) -> dict[str, str]:
    """c_{k-2}, c_{k-1} for the inputs of a network cell (DARTS' notation); nested cells keep their names."""
    if nested:
        return {n: f"<B>{_esc(n)}</B>" for n in inputs}
    k = len(inputs)
    return {n: f"<B>c<SUB>k-{k - i}</SUB></B>" for i, n in enumerate(inputs)}


# ---- cells -----------------------------------------------------------------------------


@attrs.define
class _Sets:
    """Names for candidate sets used on several edges; listed once in the title."""

    named: dict[tuple[str, ...], str]
    used: dict[str, tuple[str, ...]] = attrs.Factory(dict)

    def name_for(self, labels: tuple[str, ...], uses: int) -> str | None:
        name = self.named.get(labels)
        if name is None and len(labels) >= 5 and uses >= 2:
            name = f"set {chr(ord('A') + sum(1 for n in self.used if n.startswith('set ')))}"
            self.named[labels] = name
        if name is not None:
            self.used.setdefault(name, labels)
        return name

    def legend(self, width: int = 96) -> list[str]:
        lines = []
        for name, labels in self.used.items():
            wrapped = _wrap(list(labels), width)
            lines.append(f"<B>{_esc(name)}</B> = [{_esc(wrapped[0])}")
            lines += ["    " + _esc(w) for w in wrapped[1:]]
            lines[-1] += "]"
        return lines


def _add_cell(
    g: graphviz.Digraph,
    ir: NetworkIR,
    keys: list[str],
    run: RunGates | None,
    sets: _Sets,
    prefix: str,
    nested: bool,
) -> list[str]:
    """Draw the cell type whose graphs are ``keys`` (shapes from the first) into ``g``; returns title lines."""
    cell = ir.cells[keys[0]]
    inst = cell.instance
    node_id = {n: f"{prefix}{n if n != OUTPUT else 'output'}" for n in cell.nodes}
    uses: dict[tuple[str, ...], int] = {}  # candidate sets of the choice points, with their counts
    for d in cell.edges.values():
        if d.choice:
            labels = tuple(c.label for c in d.candidates)
            uses[labels] = uses.get(labels, 0) + 1
    n_choices = sum(uses.values())
    names = _input_names(inst.inputs, nested)

    def _box(n: str, label: str, fill: str, color: str) -> None:
        g.node(node_id[n], _html(label), shape="box", style="rounded,filled", fillcolor=fill, color=color)

    # inputs, with the preprocessing the compiler inserted in front of them
    fed_by: dict[str, str] = {}
    for n in inst.inputs:
        d = cell.nodes[n]
        label = f"{names[n]}<BR/>" + _small(
            f"{_esc(n)} · {shape_text(d.arrives or (), '×')}" if not nested else shape_text(d.shape, "×")
        )
        _box(n, label, INPUT_FILL, "#6a9f64")
        fed_by[n] = node_id[n]
        lines = _adapter_lines(ir, keys, n)
        if lines:
            aid = f"{prefix}{n}__adapter"
            g.node(
                aid,
                _html("<BR/>".join(lines)),
                shape="box",
                style="dashed,filled,rounded",
                fillcolor=ADAPTER_FILL,
                color=ADAPTER,
                fontcolor=ADAPTER,
            )
            g.edge(node_id[n], aid, color=ADAPTER, style="dashed", arrowsize="0.6")
            fed_by[n] = aid
    with g.subgraph() as same:  # inputs (or their adapters) side by side at the left
        same.attr(rank="same")
        for n in inst.inputs:
            same.node(fed_by[n])

    # intermediate nodes and the output
    for n, d in cell.nodes.items():
        if d.kind == "node":
            extra = f" · keep {d.keep}" if d.keep and n_choices else ""
            sub = d.merge if d.merge != "sum" and cell.in_degree(n) > 1 else ""
            text = " · ".join(x for x in (shape_text(d.shape, "×"), sub) if x) + extra
            _box(n, f"<B>{_esc(n)}</B><BR/>{_small(text)}", NODE_FILL, "#5b86b5")
        elif d.kind == "output":
            head = "<B>output</B>" if nested else "<B>c<SUB>k</SUB></B>"
            merge = d.merge if cell.in_degree(n) > 1 else ""
            text = " · ".join(x for x in (merge, shape_text(d.shape, "×")) if x)
            _box(n, f"{head}<BR/>{_small(text)}", OUTPUT_FILL, "#b59d2f")

    # edges: one per choice point (bundled candidates), one per fixed op
    strengths = {}
    if run is not None:
        for d in cell.edges.values():
            if d.choice in run.weights:
                strengths[d.choice] = _strength(d.candidates, run.weights[d.choice])
    lo, hi = (min(strengths.values()), max(strengths.values())) if strengths else (0.0, 1.0)
    common = None
    if run is None and len(uses) == 1 and sum(uses.values()) >= 2:
        common = sets.name_for(*next(iter(uses.items())))
    # edges into one node share a colour (where colour does not show gate weights): which label
    # belongs to which edge stays clear where edges cross
    inner = [n for n, d in cell.nodes.items() if d.kind == "node"]
    target_color = {n: TARGET_COLORS[i % len(TARGET_COLORS)] for i, n in enumerate(inner)}
    for (u, v), d in cell.edges.items():
        src = fed_by.get(u, node_id[u])
        if v == OUTPUT:
            g.edge(src, node_id[v], color=MUTED, arrowsize="0.7")
            continue
        if d.choice and run is not None and d.choice in run.weights:
            t = _emphasis(strengths[d.choice], lo, hi, len(d.candidates))
            attrs_ = _weighted_edge(d, run.weights[d.choice], run.decisions.get(d.choice, -1), t)
        elif d.choice:
            attrs_ = _choice_edge(d, sets, uses, common, target_color[v])
        else:
            attrs_ = _fixed_edge(d, target_color[v])
        g.edge(src, node_id[v], **attrs_)

    # title
    head = f'<FONT POINT-SIZE="16"><B>cell {_esc(cell.type_name)}</B></FONT>'
    sigs = list(dict.fromkeys(_signature(ir.cells[k]) for k in keys))
    if len(keys) > 1:
        head += "  " + _esc(f"shared by {len(keys)} instances: {', '.join(sigs)}")
    elif sigs[0] != cell.type_name:
        head += "  " + _esc(sigs[0])
    title = [head]
    parts = []
    if n_choices:
        parts.append(f"{n_choices} choice point{'s' if n_choices != 1 else ''}")
        if common is not None:  # set only without a run
            parts[-1] += f", each picks one op of {common}"
    else:
        parts.append("fixed: one op per edge")
    if cell.input_stride != 1:
        parts.append(f"stride {cell.input_stride} on the edges from the input{'s' if len(inst.inputs) > 1 else ''}")
    if len(keys) > 1:
        parts.append(f"shapes for {_signature(cell)}")
    title.append(_esc(" · ".join(parts)))
    if run is not None and n_choices:
        epoch = f"after epoch {run.epoch}" if run.epoch is not None else "at the end"
        where = f"gate weights {epoch} of run {run.name}"
        if len(" · ".join(parts)) + len(where) > 90:
            title.append(_esc(where))
        else:
            title[-1] += _esc(f" · {where}")
        title.append(
            _small(
                f'<FONT COLOR="{_ramp(1.0)}">solid: kept</FONT>'
                + _esc(f" ({run.rule}) · ")
                + f'<FONT COLOR="{MUTED}">dashed: dropped</FONT>'
                + _esc(" · colour and width: the strongest non-none weight · labels: top candidates"),
                "#444444",
                10,
            )
        )
    return title


def _adapter_lines(ir: NetworkIR, keys: list[str], name: str) -> list[str]:
    """The preprocessing of input ``name``: the first instance's adapter, and the kinds other instances need."""
    first = ir.cells[keys[0]].nodes[name].preprocess
    lines = []
    if first is not None:
        lines.append(
            f"<B>{_esc(first.kind)}</B>"
            + _small(f"<BR/>{shape_text(first.shape_in, '×')} → {shape_text(first.shape_out, '×')}", ADAPTER, 8)
        )
    others: dict[str, int] = {}
    for key in keys[1:]:
        pre = ir.cells[key].nodes[name].preprocess
        if pre is not None and (first is None or pre.kind != first.kind):
            others[pre.kind] = others.get(pre.kind, 0) + 1
    for kind, n in others.items():
        where = f"{n} other instance{'s' if n != 1 else ''}" if first is not None else f"{n} of {len(keys)} instances"
        lines.append(f"<B>{_esc(kind)}</B>" + _small(f" in {where}", ADAPTER, 8))
    return lines


def _emphasis(strength: float, lo: float, hi: float, n: int) -> float:
    """0..1: how strong an edge is among the cell's edges (differences under 0.02 count as none),
    or how far its weight is above uniform, whichever is larger."""
    relative = (strength - lo) / max(hi - lo, 0.02)
    uniform = 1.0 / max(n, 1)
    absolute = (strength - uniform) / (1.0 - uniform) if n > 1 else 1.0
    return min(max(relative, absolute, 0.0), 1.0)


def _strength(cands: Sequence[Any], weights: Sequence[float]) -> float:
    real = [w for c, w in zip(cands, weights) if not c.is_none]
    return max(real) if real else max(weights)


def _fixed_edge(d: CellEdge, color: str) -> dict[str, str]:
    cand = d.candidates[0]
    if cand.is_none:
        return {"label": _html(_small(_esc(cand.label), MUTED, 10)), "color": DROPPED, "style": "dashed"}
    return {
        "label": _html(f'<FONT POINT-SIZE="11">{_esc(cand.label)}</FONT>'),
        "color": color,
        "fontcolor": color,
        "penwidth": "1.6",
    }


def _candidate_line(cand: Any) -> str:
    line = f'<FONT POINT-SIZE="9">{_esc(cand.label)}</FONT>'
    if cand.adapter is not None:
        a = cand.adapter
        line += _small(f" +widen {a.shape_in[0]}→{a.shape_out[0]}", ADAPTER, 8)
    return line


def _value_lists_folded(cands: Any) -> list[str]:
    """One line per candidate, the candidates of a value list (``conv(k = [3, 5, 7])``) as that one op with
    their number: the picture shows the searched values as written."""
    rows: list[str] = []
    seen: set[int] = set()
    for cand in cands:
        group = cand.source.group
        if group is None or cand.adapter is not None:
            rows.append(_candidate_line(cand))
        elif group not in seen:
            seen.add(group)
            n = sum(1 for c in cands if c.source.group == group)
            written = f'<FONT POINT-SIZE="9">{_esc(format_op(cand.source.written))}</FONT>'
            rows.append(written + _small(f" {n} candidates", MUTED, 8))
    return rows


def _choice_edge(
    d: CellEdge, sets: _Sets, uses: dict[tuple[str, ...], int], common: str | None, color: str
) -> dict[str, str]:
    """A choice edge of a space: its candidate set by name (listed in the title) or its candidates."""
    cands = d.candidates
    labels = tuple(c.label for c in cands)
    adapted = [c for c in cands if c.adapter is not None]
    name = sets.name_for(labels, uses.get(labels, 1)) if common is not None or len(labels) > 4 else None
    if name is not None and name == common:
        rows = [_candidate_line(c) for c in adapted]  # every edge has it: the title says so once
    elif name is not None and len(labels) > 4:
        rows = [f'<FONT POINT-SIZE="10"><I>{_esc(name)}</I></FONT>'] + [_candidate_line(c) for c in adapted]
    else:
        rows = _value_lists_folded(cands)
    tooltip = f"{d.choice}: " + " | ".join(labels)
    return {
        "label": _html("<BR/>".join(rows)) if rows else "",
        "color": color,
        "fontcolor": color,
        "penwidth": "1.3",
        "arrowsize": "0.7",
        "tooltip": tooltip,
    }


def _table(rows: list[str]) -> str:
    """Label rows in a borderless table: its padding keeps a thick edge off the text."""
    cells = "".join(f"<TR><TD>{r}</TD></TR>" for r in rows)
    return f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{cells}</TABLE>'


def _weighted_edge(d: CellEdge, weights: Sequence[float], chosen: int | None, t: float) -> dict[str, str]:
    """A choice edge of a run: kept solid and coloured by its weight, dropped dashed and grey.
    The kept edge names its candidate and the runner-up, a dropped edge its strongest candidate."""
    cands = d.candidates
    order = sorted(range(len(cands)), key=lambda i: -weights[i])
    digits = 4 if max(weights) - min(weights) < 0.01 else 3
    kept = chosen is not None and chosen >= 0 and not cands[chosen].is_none
    tooltip = f"{d.choice}: " + ", ".join(f"{cands[i].label} {weights[i]:.{digits}f}" for i in order)
    if kept:
        c = cands[chosen]
        rows = [f'<FONT POINT-SIZE="11"><B>{_esc(c.label)}</B> {weights[chosen]:.{digits}f}</FONT>']
        if c.adapter is not None:
            rows[-1] += _small(f" +widen {c.adapter.shape_in[0]}→{c.adapter.shape_out[0]}", ADAPTER, 8)
        rows += [_small(f"{_esc(cands[i].label)} {weights[i]:.{digits}f}", MUTED, 9) for i in order if i != chosen][:1]
        return {
            "label": _html(_table(rows)),
            "color": _ramp(t),
            "penwidth": f"{1.6 + 3.0 * t:.2f}",
            "fontcolor": _ramp(1.0),
            "tooltip": tooltip,
        }
    rows = [_small(f"{_esc(cands[i].label)} {weights[i]:.{digits}f}", MUTED, 9) for i in order[:1]]
    return {
        "label": _html(_table(rows)),
        "color": DROPPED,
        "penwidth": "0.9",
        "style": "dashed",
        "arrowsize": "0.6",
        "tooltip": tooltip,
    }


def _graph_attrs() -> dict[str, str]:
    return {
        "rankdir": "LR",
        "fontname": FONT,
        "labelloc": "t",
        "labeljust": "l",
        "nodesep": "0.3",
        "ranksep": "0.55",
        "pad": "0.25",
        "bgcolor": "white",
        "newrank": "true",
    }


def _node_attrs() -> dict[str, str]:
    return {"fontname": FONT, "fontsize": "13", "margin": "0.12,0.05", "penwidth": "1.2"}


def _edge_attrs() -> dict[str, str]:
    return {"fontname": FONT, "fontsize": "10", "arrowsize": "0.8"}


def _title(lines: list[str], legend: list[str]) -> str:
    body = '<BR ALIGN="LEFT"/>'.join(lines)
    if legend:
        body += '<BR ALIGN="LEFT"/>' + '<BR ALIGN="LEFT"/>'.join(_small(x, "#444444", 10) for x in legend)
    return _html(body + '<BR ALIGN="LEFT"/>')


def _nested_types(ir: NetworkIR) -> set[str]:
    top = set(ir.type_names().values())
    return {g.type_name for g in ir.cells.values()} - top


@attrs.frozen
class _Facts:
    """What every cell picture of one IR needs: its cell types, the nested ones, the named candidate sets."""

    types: dict[str, list[str]]
    nested: set[str]
    named: dict[tuple[str, ...], str]


def _facts(ir: NetworkIR) -> _Facts:
    return _Facts(cell_types(ir), _nested_types(ir), _named_sets(ir.space.module))


def cell_graph(ir: NetworkIR, type_name: str, run: RunGates | None = None) -> graphviz.Digraph:
    """One cell type as a graphviz Digraph (renders in Jupyter; ``.pipe(format="svg")``)."""
    return _cell_graph(ir, type_name, run, _facts(ir))


def cell_graphs(
    ir: NetworkIR, run: RunGates | None = None, types: Sequence[str] | None = None
) -> list[tuple[str, graphviz.Digraph]]:
    """Every cell type (or ``types``) as its own Digraph, by type name."""
    facts = _facts(ir)
    return [(t, _cell_graph(ir, t, run, facts)) for t in (types if types is not None else facts.types)]


def _cell_graph(ir: NetworkIR, type_name: str, run: RunGates | None, facts: _Facts) -> graphviz.Digraph:
    keys = facts.types[type_name]
    g = graphviz.Digraph(
        name=re.sub(r"\W", "_", type_name), graph_attr=_graph_attrs(), node_attr=_node_attrs(), edge_attr=_edge_attrs()
    )
    sets = _Sets(dict(facts.named))  # a copy: naming an unnamed set adds to it
    title = _add_cell(g, ir, keys, run, sets, "", type_name in facts.nested)
    g.attr(label=_title(title, sets.legend()))
    if run is not None and len(ir.cells[keys[0]].edges) > 8:
        g.attr(rankdir="TB")  # many labelled edges: top to bottom keeps the picture compact and legible
    return g


def space_graph(ir: NetworkIR, run: RunGates | None = None, types: Sequence[str] | None = None) -> graphviz.Digraph:
    """Every cell type (or ``types``) as one Digraph, one cluster per cell."""
    facts = _facts(ir)
    types = list(types) if types is not None else list(facts.types)
    if len(types) == 1:
        return _cell_graph(ir, types[0], run, facts)
    g = graphviz.Digraph(
        name=re.sub(r"\W", "_", ir.space.name),
        graph_attr={**_graph_attrs(), "compound": "true"},
        node_attr=_node_attrs(),
        edge_attr=_edge_attrs(),
    )
    sets = _Sets(dict(facts.named))
    # dot stacks the clusters of a left-to-right graph bottom up: add them last to first
    for i, t in reversed(list(enumerate(types))):
        with g.subgraph(name=f"cluster_{i}") as sub:
            title = _add_cell(sub, ir, facts.types[t], run, sets, f"c{i}_", t in facts.nested)
            sub.attr(label=_title(title, []), style="rounded", color="#cfcfcf", margin="14")
    legend = sets.legend()
    head = f'<FONT POINT-SIZE="18"><B>space {_esc(ir.space.name)}</B></FONT>'
    g.attr(label=_title([head], legend))
    return g


# ---- the macro network -----------------------------------------------------------------


def network_graph(ir: NetworkIR) -> graphviz.Digraph:
    """The macro network: data, stem, cells and ops in order, head; every item with its output shape."""
    g = graphviz.Digraph(
        name=re.sub(r"\W", "_", ir.space.name) + "_network",
        graph_attr={**_graph_attrs(), "rankdir": "TB", "ranksep": "0.35", "nodesep": "0.5"},
        node_attr={**_node_attrs(), "shape": "box", "style": "rounded,filled"},
        edge_attr=_edge_attrs(),
    )
    fills: dict[str, str] = {}
    order = ir.order()
    pos = {n: i for i, n in enumerate(order)}
    for n in order:
        d = ir.macro.nodes[n]
        kind = d.kind
        shape = _small(shape_text(d.shape, "×"), "#555555", 10)
        if kind == "data":
            g.node(n, _html(f"<B>input</B> {_esc(ir.kind)}<BR/>{shape}"), fillcolor=INPUT_FILL, color="#6a9f64")
        elif kind in ("stem", "head", "op"):
            text = f"<B>{kind}</B> {_esc(d.label)}<BR/>{shape}" if d.label else f"<B>{kind}</B>"
            fill = OUTPUT_FILL if kind == "head" else "#eeeeee"
            g.node(n, _html(text), fillcolor=fill, color="#8a8a8a")
        elif kind == "depth":  # a searched depth: the mixture of the outputs after each repeat count
            text = f"<B>depth</B> {_esc(d.label)}<BR/>{shape}"
            g.node(n, _html(text), fillcolor="#fff3d6", color=ADAPTER, shape="hexagon")
        else:
            assert d.cell_key is not None
            cg = ir.cells[d.cell_key]
            type_name = cg.type_name
            fill = fills.setdefault(type_name, CELL_FILLS[len(fills) % len(CELL_FILLS)])
            notes = [shape_text(d.shape, "×")]
            if cg.input_stride != 1:
                notes.insert(0, f"stride {cg.input_stride}")
            pre = [f"{i}: {a.kind}" for i in cg.instance.inputs if (a := cg.nodes[i].preprocess)]
            text = f"<B>cell {_esc(n)}</B>  {_esc(_signature(cg))}<BR/>{_small(_esc(' · '.join(notes)), '#555555', 10)}"
            if pre:
                text += "<BR/>" + _small(_esc("adapters " + ", ".join(pre)), ADAPTER, 8)
            g.node(n, _html(text), fillcolor=fill, color="#5b86b5")
    for (u, v), e in ir.macro.edges.items():
        target = ir.macro.nodes[v]
        label = ""
        if target.kind == "depth":  # which repeat counts read this output
            label = ", ".join(f"x {target.options[p]}" for p in e.ports)
        if target.cell_key is not None:
            inputs = ir.cells[target.cell_key].instance.inputs
            if len(inputs) > 1:  # which input an edge feeds; a one-input cell needs no note
                label = ", ".join(inputs[p] for p in e.ports)
        consecutive = pos[v] - pos[u] == 1
        g.edge(
            u,
            v,
            label=_html(_small(_esc(label), MUTED, 8)) if label else "",
            color=EDGE if consecutive else MUTED,
            style="solid" if consecutive else "dashed",
            weight="10" if consecutive else "1",
        )
    title = f'<FONT POINT-SIZE="16"><B>network of space {_esc(ir.space.name)}</B></FONT>'
    sub = _esc(f"input {ir.kind} {shape_text(ir.input_shape, '×')}, {ir.classes} classes; shapes after each item")
    g.attr(label=_title([title, sub], []))
    return g


# ---- output ----------------------------------------------------------------------------


def dot_available() -> bool:
    return shutil.which("dot") is not None


def render_bytes(graph: graphviz.Digraph, fmt: str) -> bytes:
    """SVG, PNG or PDF bytes of ``graph``; raises GraphvizNotFoundError without graphviz's dot."""
    if not dot_available():
        raise GraphvizNotFoundError("dot")
    if fmt == "png":
        graph = graph.copy()
        graph.graph_attr["dpi"] = str(PNG_DPI)
    try:
        return graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise GraphvizNotFoundError("dot") from None


def svg_text(graph: graphviz.Digraph) -> str:
    return render_bytes(graph, "svg").decode("utf-8")


def macro_graph(space: Any, input_shape: tuple[int, ...] | None = None, classes: int | None = None) -> graphviz.Digraph:
    """The macro network of a CheckedSpace (stem, cells, ops, head with shapes) as a graphviz Digraph."""
    return network_graph(ir_for(space, input_shape, classes))


def cells_graph(space: Any, input_shape: tuple[int, ...] | None = None, classes: int | None = None) -> graphviz.Digraph:
    """Every cell type of a CheckedSpace as one graphviz Digraph (a cluster per cell)."""
    return space_graph(ir_for(space, input_shape, classes))


def space_svg(space: Any) -> str | None:
    """The cells of a CheckedSpace as SVG text (its ``_repr_svg_``); None where that cannot be drawn."""
    try:
        return svg_text(cells_graph(space))
    except (GraphvizNotFoundError, DasError):
        return None


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "cell"


def select_types(ir: NetworkIR, cell: str | None) -> list[str]:
    """Cell types to draw: all, or those matching ``cell`` (a type name, a cell name or an instance key)."""
    types = cell_types(ir)
    if cell is None:
        return list(types)
    chosen = [t for t, keys in types.items() if cell in (t, t.split("#")[0], ir.cells[keys[0]].name) or cell in keys]
    if not chosen:
        raise fail(f"space '{ir.space.name}' has no cell '{cell}'", "<command line>", f"its cells: {', '.join(types)}")
    return chosen


def outputs_for(out: Path, names: list[str]) -> list[Path]:
    """``out`` itself for one picture, else ``out-<name>.ext`` per picture."""
    if len(names) == 1:
        return [out]
    return [out.with_name(fit_name(f"{out.stem}-{_slug(n)}", out.suffix)) for n in names]


def write_graphs(graphs: list[tuple[graphviz.Digraph, Path]]) -> tuple[list[Path], bool]:
    """Write every graph in the format of its path's suffix. Returns (paths, dot_missing): without
    graphviz's dot the .dot sources are written next to the requested files instead."""
    written = []
    try:
        for graph, path in graphs:
            fmt = path.suffix.lstrip(".").lower()
            make_folder(path.parent, "folder for the picture")
            data = graph.source if fmt in ("dot", "gv") else render_bytes(graph, fmt)
            write_atomic(path, data, "picture")
            written.append(path)
    except GraphvizNotFoundError:
        dots = []
        for graph, path in graphs:
            dot = path.with_suffix(".dot")
            write_atomic(dot, graph.source, "graphviz source")
            dots.append(dot)
        return dots, True
    return written, False


def missing_dot_line(dots: list[Path], fmt: str) -> str:
    more = f" (and {len(dots) - 1} more)" if len(dots) > 1 else ""
    return (
        f"dasdsl: graphviz's 'dot' program was not found, so wrote {dots[0]}{more} instead; "
        f"{INSTALL_HINT}, then rerun or run: dot -T{fmt} {dots[0]} -o {dots[0].with_suffix('.' + fmt)}"
    )


def write_ir(
    ir: NetworkIR, out: Path, *, cell: str | None = None, macro: bool = False, run: RunGates | None = None
) -> tuple[list[Path], bool]:
    """Pictures of an IR's cells (one file per cell type, or only ``cell``) or of its macro network, in the
    format of ``out``'s suffix; returns (paths, dot_missing) as ``write_graphs``."""
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in (*FORMATS, "dot", "gv"):
        raise fail(
            f"cannot write '{out.suffix or out.name}' files",
            "<command line>",
            "name the output .svg, .png, .pdf or .dot",
        )
    if macro:
        return write_graphs([(network_graph(ir), out)])
    types = select_types(ir, cell)
    return write_graphs([(graph, p) for (_, graph), p in zip(cell_graphs(ir, run, types), outputs_for(out, types))])
