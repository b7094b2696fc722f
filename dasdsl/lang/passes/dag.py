"""A cell's body as a DAG: its inputs, nodes and output; cycles, nodes that miss the output, dead nodes."""

from __future__ import annotations

from typing import Any

import networkx as nx

from dasdsl.errors import Span, suggest
from dasdsl.lang import ast
from dasdsl.lang.checked import CellInstance, Node
from dasdsl.lang.passes.context import CheckState
from dasdsl.lang.passes.nodes import MERGES, check_node


def cell_body(
    ctx: CheckState,
    decl: ast.CellDecl,
    args: dict[str, Any],
    stride: int,
    type_name: str,
    outer: ast.CellDecl | ast.CellDerive,
) -> CellInstance | None:
    """The instance of ``decl``'s body with ``args``; ``outer`` is the cell as named (derived or not)."""
    env = ctx.scope(args)
    inputs_stmts = [s for s in decl.body if isinstance(s, ast.CellInputs)]
    outputs = [s for s in decl.body if isinstance(s, ast.CellOutput)]
    node_decls = [s for s in decl.body if isinstance(s, ast.NodeDecl)]
    ok = _check_lines(ctx, decl, inputs_stmts, outputs)
    inputs = inputs_stmts[0].names if inputs_stmts else ()
    names: dict[str, Span] = {}
    ok = _declare_names(ctx, decl, inputs_stmts, node_decls, names) and ok
    # the graph checks (cycles, reaching the output) run when the names are sound, even if some op is wrong
    graph_ok = ok and all(
        src in names and src != nd.name for nd in node_decls for group in nd.edges for src in group.sources
    )
    graph = nx.DiGraph()
    graph.add_nodes_from(names)
    nodes: dict[str, Node] = {}
    for nd in node_decls:
        node = check_node(ctx, nd, env, names, graph, decl.name, report_unknown=bool(inputs_stmts))
        if node is None:
            ok = False
        elif nd.name not in nodes:
            nodes[nd.name] = node
    if not outputs:
        return None
    out = outputs[0]
    merge = out.merge or "sum"
    sound, known = _check_output(ctx, decl, out, names)
    ok = ok and sound
    graph_ok = graph_ok and known
    if not graph_ok:
        return None
    try:
        topo = list(nx.topological_sort(graph))
    except nx.NetworkXUnfeasible:
        cycle = nx.find_cycle(graph)
        u, v = cycle[0]
        path = " -> ".join([u] + [b for _, b in cycle])
        nd = next(n for n in node_decls if n.name == v)
        ctx.err(
            f"cycle in cell '{decl.name}': {path}",
            ctx.name_span(nd.span, u, 3),
            "a cell is a DAG: a node may only read inputs and nodes that do not depend on it",
        )
        ok = False
    ok = _check_reach(ctx, decl, graph, inputs_stmts, node_decls, out) and ok
    if not ok:
        return None
    _dead_nodes(ctx, decl, node_decls, nodes, inputs, out.names, names, topo)
    order = [n for n in topo if n in nodes]
    return CellInstance(
        name=outer.name,
        type_name=type_name,
        args=tuple(args.items()),
        inputs=tuple(inputs),
        nodes=tuple(nodes[n] for n in order),
        output=tuple(out.names),
        output_merge=merge,
        input_stride=stride,
        unshared=outer.unshared,
        span=outer.span,
    )


def _cell_name_span(ctx: CheckState, decl: ast.CellDecl) -> Span:
    return ctx.name_span(decl.span, decl.name, ctx.words_before_name(decl.span))


def _check_lines(
    ctx: CheckState, decl: ast.CellDecl, inputs_stmts: list[ast.CellInputs], outputs: list[ast.CellOutput]
) -> bool:
    """One 'input' line and one 'output' line; False when reported."""
    ok = True
    if not inputs_stmts:
        ctx.err(
            f"cell '{decl.name}' has no 'input'",
            _cell_name_span(ctx, decl),
            "add 'input x' as the cell's first line",
        )
        ok = False
    for extra in inputs_stmts[1:]:
        ctx.err(f"cell '{decl.name}' declares its inputs twice", extra.span, "list all inputs on one 'input' line")
        ok = False
    if not outputs:
        ctx.err(
            f"cell '{decl.name}' has no 'output'",
            _cell_name_span(ctx, decl),
            "add 'output NODE' as the cell's last line",
        )
        ok = False
    for extra in outputs[1:]:
        ctx.err(f"cell '{decl.name}' has two outputs", extra.span, "a cell has one 'output' line")
        ok = False
    return ok


def _declare_names(
    ctx: CheckState,
    decl: ast.CellDecl,
    inputs_stmts: list[ast.CellInputs],
    node_decls: list[ast.NodeDecl],
    names: dict[str, Span],
) -> bool:
    """Fill ``names`` with the inputs and nodes and where each is declared; False after a duplicate."""
    ok = True
    inputs = inputs_stmts[0].names if inputs_stmts else ()
    for i, n in enumerate(inputs):
        if n in names:
            ctx.err(
                f"duplicate name '{n}' in cell '{decl.name}'",
                ctx.name_span(inputs_stmts[0].span, n, 1 + i),
                f"the inputs of a cell have distinct names, e.g. 'input {n}0, {n}1'",
            )
            ok = False
        names[n] = inputs_stmts[0].span
    for nd in node_decls:
        if nd.name in names:
            ctx.err(
                f"duplicate name '{nd.name}' in cell '{decl.name}'",
                ctx.name_span(nd.span, nd.name, 1),
                f"'{nd.name}' is already defined at line {names[nd.name].line}",
            )
            ok = False
        names[nd.name] = nd.span
    return ok


def _check_output(
    ctx: CheckState, decl: ast.CellDecl, out: ast.CellOutput, names: dict[str, Span]
) -> tuple[bool, bool]:
    """The output line's merge and names: (the line is sound, every name in it is an input or a node)."""
    sound = known = True
    if out.merge is not None and out.merge not in MERGES:
        ctx.err(
            f"unknown output merge '{out.merge}'",
            ctx.name_span(out.span, out.merge, 1),
            suggest(out.merge, MERGES) or "use concat(...) or sum(...)",
        )
        sound = False
    listed: set[str] = set()
    for i, o in enumerate(out.names):
        if o not in names:
            ctx.err(
                f"unknown node '{o}' in the output of cell '{decl.name}'",
                ctx.name_span(out.span, o, (1 if out.merge is None else 0) + i),
                suggest(o, names),
            )
            sound = known = False
        elif o in listed:
            ctx.err(
                f"node '{o}' appears twice in the output of cell '{decl.name}'",
                ctx.name_span(out.span, o, (1 if out.merge is None else 0) + i),
            )
            sound = False
        listed.add(o)
    return sound, known


def _check_reach(
    ctx: CheckState,
    decl: ast.CellDecl,
    graph: nx.DiGraph,
    inputs_stmts: list[ast.CellInputs],
    node_decls: list[ast.NodeDecl],
    out: ast.CellOutput,
) -> bool:
    """Every node must reach the output (False when one does not); inputs that nothing reads are warnings."""
    ok = True
    reaching = set(out.names)
    for o in out.names:
        reaching |= nx.ancestors(graph, o)
    for nd in node_decls:
        if nd.name not in reaching:
            ctx.err(
                f"node '{nd.name}' does not reach the output of cell '{decl.name}'",
                ctx.name_span(nd.span, nd.name, 1),
                f"use '{nd.name}' in a later node or in the output",
            )
            ok = False
    inputs = inputs_stmts[0].names if inputs_stmts else ()
    for n in inputs:
        if n not in reaching:
            ctx.warn(
                f"input '{n}' of cell '{decl.name}' is never read (dead input)",
                ctx.name_span(inputs_stmts[0].span, n, 1),
                "remove it, or read it in a node",
            )
    return ok


def _dead_nodes(
    ctx: CheckState,
    decl: ast.CellDecl,
    node_decls: list[ast.NodeDecl],
    nodes: dict[str, Node],
    inputs: tuple[str, ...],
    output: tuple[str, ...],
    names: dict[str, Span],
    topo: list[str],
) -> None:
    """Warn about nodes that are always zero or whose value never reaches the output.

    ``topo`` is the cell's names (inputs and nodes) in topological order.
    """
    live = nx.DiGraph()
    live.add_nodes_from(names)
    zero: set[str] = set()
    for name in topo:
        node = nodes.get(name)
        if node is None:
            continue
        for e in node.edges:
            if e.source not in zero and not all(c.is_none for c in e.candidates):
                live.add_edge(e.source, e.target)
        if not any(live.has_edge(e.source, name) for e in node.edges):
            zero.add(name)
    affecting = set(output)
    for o in output:
        affecting |= nx.ancestors(live, o)
    for nd in node_decls:
        if nd.name in zero:
            ctx.warn(
                f"node '{nd.name}' of cell '{decl.name}' is always zero (dead node)",
                ctx.name_span(nd.span, nd.name, 1),
                "every edge into it is 'none' or reads a node that is always zero",
            )
        elif nd.name not in affecting:
            ctx.warn(
                f"node '{nd.name}' of cell '{decl.name}' never affects the output (dead node)",
                ctx.name_span(nd.span, nd.name, 1),
                "every path from it to the output goes through 'none'",
            )
    for n in inputs:
        if n not in affecting and any(e.source == n for node in nodes.values() for e in node.edges):
            ctx.warn(
                f"input '{n}' of cell '{decl.name}' never affects the output (dead input)",
                ctx.name_span(names[n], n, 1),
                "every edge from it is 'none'",
            )
