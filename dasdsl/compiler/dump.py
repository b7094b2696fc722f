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
        what = d.kind if d.kind in ("data", "stem", "head") else (d.cell_key or d.label)
        extra = f"  {d.label}" if d.kind in ("stem", "head", "op") and d.label else ""
        lines.append(f"  {node:>5}  {what}{extra}  -> {shape_text(d.shape)}")
    adapters = 0
    for key, g in ir.cells.items():
        lines.append("")
        lines.append(f"cell {key}  (architecture type {g.type_name}, input stride {g.input_stride})")
        lines.append(f"  {'node':<10} {'kind':<7} {'shape':<12} notes")
        for n, d in g.nodes.items():
            notes = []
            if d.kind == "input" and d.preprocess is not None:
                notes.append(f"arrives {shape_text(d.arrives or ())}, {d.preprocess.kind} adapter")
            if d.merge and d.kind != "input":
                notes.append(d.merge)
            if d.keep:
                notes.append(f"keep {d.keep}")
            name = "output" if n == OUTPUT else n
            lines.append(f"  {name:<10} {d.kind:<7} {shape_text(d.shape):<12} {', '.join(notes)}")
        for (u, v), e in g.edges.items():
            if v == OUTPUT:
                continue
            kind = "choice" if e.choice else "fixed "
            stride = f" stride {e.stride}" if e.stride != 1 else ""
            lines.append(f"  {kind} {u} -> {v}{stride}: " + " | ".join(c.label for c in e.candidates))
        lines += [f"  {line}" for line in fusion.describe(g.meta["fusion"])]
        for n, d in g.nodes.items():
            pre = d.preprocess
            if d.kind == "input" and pre is not None:
                adapters += 1
                lines.append(
                    f"  adapter {n}: {pre.kind} {shape_text(pre.shape_in)} -> {shape_text(pre.shape_out)} "
                    f"({pre.reason})"
                )
        for (u, v), e in g.edges.items():
            for c in e.candidates:
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
