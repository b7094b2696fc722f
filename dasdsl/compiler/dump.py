"""The text `dasdsl compile` prints for an IR: per cell its nodes and shapes, choices, adapters; parameter counts."""

from __future__ import annotations

from dasdsl.compiler import fuse as fusion
from dasdsl.compiler.cost import param_summary
from dasdsl.compiler.ir import OUTPUT, NetworkIR
from dasdsl.wording import shape_text


def compile_report(ir: NetworkIR) -> str:
    """The text `dasdsl compile` prints: per cell its nodes and shapes, choices, adapters; parameter counts."""

    lines = [f"space {ir.space.name}: input {ir.kind} {shape_text(ir.input_shape)}, {ir.classes} classes"]
    lines.append("")
    lines.append("network:")
    for node in ir.order():
        d = ir.macro.nodes[node]
        what = d["kind"] if d["kind"] in ("data", "stem", "head") else (d.get("cell_key") or d.get("label"))
        label = d.get("label", "")
        extra = f"  {label}" if d["kind"] in ("stem", "head", "op") and label else ""
        lines.append(f"  {node:>5}  {what}{extra}  -> {shape_text(d['shape'])}")
    adapters = 0
    for key, g in ir.cells.items():
        lines.append("")
        lines.append(f"cell {key}  (architecture type {g.graph['type_name']}, input stride {g.graph['input_stride']})")
        lines.append(f"  {'node':<10} {'kind':<7} {'shape':<12} notes")
        for n, d in g.nodes(data=True):
            notes = []
            if d["kind"] == "input" and d["preprocess"] is not None:
                notes.append(f"arrives {shape_text(d['arrives'])}, {d['preprocess'].kind} adapter")
            if d.get("merge") and d["kind"] != "input":
                notes.append(d["merge"])
            if d.get("keep"):
                notes.append(f"keep {d['keep']}")
            name = "output" if n == OUTPUT else n
            lines.append(f"  {name:<10} {d['kind']:<7} {shape_text(d['shape']):<12} {', '.join(notes)}")
        for u, v, d in g.edges(data=True):
            if v == OUTPUT:
                continue
            cands = d["candidates"]
            kind = "choice" if d["choice"] else "fixed "
            stride = f" stride {d['stride']}" if d["stride"] != 1 else ""
            lines.append(f"  {kind} {u} -> {v}{stride}: " + " | ".join(c.label for c in cands))
        lines += [f"  {line}" for line in fusion.describe(fusion.cell_groups(g))]
        for n, d in g.nodes(data=True):
            if d["kind"] == "input" and d["preprocess"] is not None:
                adapters += 1
                lines.append(
                    f"  adapter {n}: {d['preprocess'].kind} {shape_text(d['preprocess'].shape_in)} -> "
                    f"{shape_text(d['preprocess'].shape_out)} ({d['preprocess'].reason})"
                )
        for u, v, d in g.edges(data=True):
            for c in d["candidates"]:
                if c.adapter is not None:
                    adapters += 1
                    lines.append(
                        f"  adapter {u} -> {v} [{c.label}]: {c.adapter.kind} "
                        f"{shape_text(c.adapter.shape_in)} -> {shape_text(c.adapter.shape_out)} "
                        f"({c.adapter.reason})"
                    )
    p = param_summary(ir)
    lines.append("")
    lines.append(f"{len(ir.cells)} cell graphs, {len(ir.choices)} architecture parameter vectors, {adapters} adapters")
    lines.append(fusion.summary(ir))
    shared = f" ({p.supernet_shared:,} with its value lists sharing weights)" if p.supernet_shared != p.supernet else ""
    lines.append(
        f"parameters: supernet {p.supernet:,}{shared}; discrete architectures from {p.smallest:,} to {p.largest:,} "
        "(affine BN, adapters included)"
    )
    return "\n".join(lines)
