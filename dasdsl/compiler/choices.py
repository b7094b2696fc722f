"""The choices pass: the architecture-parameter table, one ChoiceInfo per choice edge of a cell type and
per searched depth, in the order the network is walked (the order of the supernet's alphas)."""

from __future__ import annotations

import attrs

from dasdsl.compiler.ir import ChoiceInfo, NetworkIR, Step


def collect_choices(ir: NetworkIR) -> NetworkIR:
    """The pass: a copy of ``ir`` with its ``choices``. The walk is the shapes pass's: macro items in order;
    in a cell, edges in the order the cell declares them, each after the nested cells of its candidates;
    a searched depth after its repeats. The first instance of a cell type names its choices."""
    assert ir.space.macro is not None
    depths = {d.key: d for d in ir.space.macro.depths}
    choices: dict[str, ChoiceInfo] = {}
    seen: set[str] = set()

    def steps(chain: tuple[Step, ...]) -> None:
        for step in chain:
            if step.cell_key is not None:
                cell(step.cell_key)

    def cell(key: str) -> None:
        if key in seen:
            return
        seen.add(key)
        g = ir.cells[key]
        for node in g.instance.nodes:
            for declared in node.edges:
                e = g.edges[declared.source, node.name]
                for cand in e.candidates:
                    steps(cand.steps)
                if e.choice is not None:
                    labels = tuple(c.label for c in e.candidates)
                    info = ChoiceInfo(e.choice, g.type_name, declared.source, declared.target, labels, node.keep)
                    choices.setdefault(e.choice, info)

    for d in ir.macro.nodes.values():
        if d.kind == "cell":
            assert d.cell_key is not None
            cell(d.cell_key)
        elif d.kind == "depth":
            assert d.choice is not None
            if d.choice not in choices:
                choice = depths[d.choice]
                choices[d.choice] = ChoiceInfo(d.choice, "<network>", d.label, d.choice, choice.labels, None, "depth")
        else:
            steps(d.steps)
    return attrs.evolve(ir, choices=choices)
