"""Gate weights to a discrete architecture, written back as an ordinary .das AST.

The rules themselves (argmax, threshold, perturbation) are in dasdsl.methods.rules; this module
gives them the IR's choice points and turns their decisions into the result's cells. It also tells
whether a decision leaves a cell that ignores its input (``disconnected_cells``): a rule's decision
may, and the search then takes the best connected architecture instead
(``dasdsl.engine.constraints.connected_or_best``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from dasdsl.compiler.ir import NetworkIR, choice_key, edge_norm_key
from dasdsl.lang import ast
from dasdsl.lang.checked import Candidate, CellInstance, CheckedSpace, Edge
from dasdsl.methods.rules import RULES, Accuracy, Decision, NodeChoices, RuleInputs


@attrs.frozen
class Discrete:
    """A discretized architecture: the decisions, their scores, and the result module."""

    decisions: Decision
    module: ast.Module
    score: float


def node_choices(ir: NetworkIR, weights: Mapping[str, Sequence[float]]) -> list[NodeChoices]:
    """The IR's choice points grouped by the node they enter, as the rules see them."""
    nodes = []
    for keys in ir.choices_by_node().values():
        info = ir.choices[keys[0]]
        beta = weights.get(edge_norm_key(info.cell_type, info.target))  # PC-DARTS edge normalization
        nodes.append(
            NodeChoices(
                tuple(keys),
                tuple(tuple(ir.choices[k].labels) for k in keys),
                info.keep,
                tuple(beta) if beta is not None else None,
            )
        )
    return nodes


def decide(
    ir: NetworkIR,
    weights: Mapping[str, Sequence[float]],
    rule: str = "argmax",
    threshold: float = 0.5,
    accuracy: Accuracy | None = None,
    seed: int = 0,
) -> Decision:
    """Pick candidates per choice point from gate weights by a rule of dasdsl.methods.rules."""
    context = RuleInputs(threshold, accuracy, seed, tuple(ir.choices))
    decisions = RULES[rule].decide(node_choices(ir, weights), weights, context)
    for key, info in ir.choices.items():  # a searched depth always keeps one count: the heaviest if dropped
        if info.kind == "depth" and decisions.get(key) is None:
            w = list(weights[key])
            decisions[key] = w.index(max(w))
    return decisions


def disconnected_cells(space: CheckedSpace, decisions: Decision) -> list[str]:
    """The cell types in use whose output no input reaches through a kept op other than ``none``
    under ``decisions``: such a cell ignores its input and the network computes a constant.

    In use: the network's cells (of a searched depth the first ``x n`` repeats the decisions keep) and
    the cells their chosen candidates use, nested or not; a fixed edge counts with its op. A fixed
    space (no choices) takes empty decisions."""
    types = space.cell_types

    def chosen(inst: CellInstance, edge: Edge) -> Candidate | None:
        if not edge.is_choice:
            return edge.candidates[0]
        index = decisions.get(choice_key(inst.type_name, edge.source, edge.target))
        return None if index is None else edge.candidates[index]

    if space.macro is not None:
        todo = [item.cell.type_name for item in _present_items(space, decisions) if item.cell is not None]
    else:
        nested = {
            ref.name for inst in types.values() for e in inst.edges for c in e.candidates for ref in c.nested_cells
        }
        todo = [t for t in types if t not in nested]
    seen: set[str] = set()
    out = []
    while todo:
        name = todo.pop(0)
        if name in seen or name not in types:
            continue
        seen.add(name)
        inst = types[name]
        picked = {(e.source, e.target): chosen(inst, e) for e in inst.edges}
        todo += [ref.name for c in picked.values() if c is not None for ref in c.nested_cells]
        carrying = {edge for edge, c in picked.items() if c is not None and not c.is_none}
        if not inst.reaches_output(lambda e, carrying=carrying: (e.source, e.target) in carrying):
            out.append(name)
    return out


def connected(space: CheckedSpace, decisions: Decision) -> bool:
    """Whether every cell in use passes its input on (``disconnected_cells`` is empty)."""
    return not disconnected_cells(space, decisions)


def score(ir: NetworkIR, weights: Mapping[str, Sequence[float]], decisions: Decision) -> float:
    """Sum of the chosen candidates' gate weights: the ranking used for the top-k list."""
    return float(sum(weights[k][i] for k, i in decisions.items() if i is not None))


def _substitute(node: Any, mapping: dict[str, ast.Expr]) -> Any:
    """Replace cell-parameter names in expressions (derived cells with other arguments)."""
    if isinstance(node, ast.Name) and node.id in mapping:
        return mapping[node.id]
    if isinstance(node, tuple):
        return tuple(_substitute(n, mapping) for n in node)
    if attrs.has(type(node)):
        changes = {}
        for f in attrs.fields(type(node)):
            if f.name in ("span", "text"):
                continue
            value = getattr(node, f.name)
            new = _substitute(value, mapping)
            if new is not value:
                changes[f.name] = new
        return attrs.evolve(node, **changes) if changes else node
    return node


def _base_decl(space: CheckedSpace, name: str) -> tuple[ast.CellDecl, dict[str, ast.Expr], tuple[str, ...], bool]:
    """The CellDecl a (possibly derived) cell stands on, the parameter substitution, its params, unshared."""
    decls = space.cell_decls
    decl = decls[name]
    params, unshared = decl.params, decl.unshared
    mapping: dict[str, ast.Expr] = {}
    while isinstance(decl, ast.CellDerive):
        base = decls[decl.base.func]
        positional = [a.value for a in decl.base.args if a.name is None]
        keywords = {a.name: a.value for a in decl.base.args if a.name is not None}
        step: dict[str, ast.Expr] = {}
        for i, p in enumerate(base.params):
            expr = positional[i] if i < len(positional) else keywords[p]
            step[p] = _substitute(expr, mapping)
        mapping = step
        decl = base
    return decl, mapping, params, unshared


def _edge_op(cand: Candidate, adapter_width: ast.Expr | None) -> ast.OpExpr:
    op = cand.source
    if adapter_width is None:
        return op
    widen = ast.Call("widen", (ast.Arg(None, adapter_width),))
    return ast.OpExpr((*op.steps, widen))


def _widest_expr(ir: NetworkIR, inst: CellInstance, src: str, dst: str, index: int) -> ast.Expr | None:
    """The width a narrower candidate is widened to, as an expression of the cell's parameters."""
    for g in ir.cells.values():
        if g.type_name != inst.type_name or not g.has_edge(src, dst):
            continue
        cands = g.edges[src, dst].candidates
        if cands[index].adapter is None:
            return None
        widest = max(cands, key=lambda c: c.steps[-1].shape_out[0] if not c.is_none else -1)
        last = widest.source.source.steps[-1]
        out = {a.name: a.value for a in last.args}.get("out")
        return out if out is not None else ast.Number(widest.steps[-1].shape_out[0])
    return None


def _cell_result(
    space: CheckedSpace, ir: NetworkIR, inst: CellInstance, decisions: Decision, new_name: str
) -> ast.CellDecl:
    base, mapping, params, unshared = _base_decl(space, inst.name)
    edges_by_node: dict[str, list[ast.EdgeGroup]] = {}
    for node in inst.nodes:
        groups = []
        for edge in node.edges:
            if edge.is_choice:
                index = decisions.get(choice_key(inst.type_name, edge.source, edge.target))
                if index is None:
                    continue
                widest = _widest_expr(ir, inst, edge.source, edge.target, index)
                op = _edge_op(edge.candidates[index], widest)
            else:
                op = edge.candidates[0].source
            groups.append(ast.EdgeGroup((edge.source,), op))
        edges_by_node[node.name] = groups
    # drop nodes that no longer reach the output (their only readers lost their edges)
    alive = set(inst.output)
    for node in reversed(inst.nodes):
        if node.name in alive:
            alive.update(s for g in edges_by_node[node.name] for s in g.sources)
    body: list[ast.CellStmt] = []
    for stmt in base.body:
        if isinstance(stmt, ast.NodeDecl):
            if stmt.name not in alive or not edges_by_node.get(stmt.name):
                continue
            body.append(ast.NodeDecl(stmt.name, tuple(edges_by_node[stmt.name]), None, stmt.merge))
        else:
            body.append(stmt)
    stride = ast.Number(inst.input_stride) if inst.input_stride != 1 else None
    body_t = tuple(_substitute(s, mapping) for s in body) if mapping else tuple(body)
    return ast.CellDecl(new_name, params, body_t, unshared and "#" not in inst.type_name, stride)


def result_cell_name(module: ast.Module, type_name: str) -> str:
    """The name a cell type's cell gets in the result: an unshared instance ``name#i`` becomes
    ``name_i`` (with ``_`` appended while that names another cell or op of ``module``)."""
    if "#" not in type_name:
        return type_name
    taken = {s.name for s in module.body if isinstance(s, (ast.CellDecl, ast.CellDerive, ast.OpDefDecl))}
    name, index = type_name.split("#")
    candidate = f"{name}_{index}"
    while candidate in taken:
        candidate += "_"
    return candidate


def to_module(space: CheckedSpace, ir: NetworkIR, decisions: Decision) -> ast.Module:
    """The discretized space as an AST: every choice replaced by its decision."""
    types = space.cell_types
    cell_names = {t.split("#")[0] for t in types}
    new_cells: dict[str, ast.CellDecl] = {}
    used_nested: set[str] = set()
    for type_name, inst in types.items():
        cell = _cell_result(space, ir, inst, decisions, result_cell_name(space.module, type_name))
        new_cells[type_name] = cell
        for stmt in cell.body:
            if isinstance(stmt, ast.NodeDecl):
                for g in stmt.edges:
                    used_nested.update(c.func for c in g.candidates.steps if c.func in cell_names)
    present = _present_items(space, decisions)
    network_types = [item.cell.type_name for item in present if item.cell]
    keep_types = set(network_types) | used_nested
    body: list[ast.TopStmt] = []
    emitted_cells = False
    for stmt in space.module.body:
        if isinstance(stmt, ast.OpSetDecl):
            continue
        if isinstance(stmt, (ast.CellDecl, ast.CellDerive)):
            if not emitted_cells:
                emitted_cells = True
                body.extend(cell for t, cell in new_cells.items() if t in keep_types)
            continue
        if isinstance(stmt, ast.NetworkDecl):
            body.append(_network(stmt, space, new_cells, decisions))
            continue
        body.append(stmt)
    result = ast.Module(ast.SpaceDecl(f"{space.name}_result"), tuple(body))
    return _drop_unused_ops(result)


def _present_items(space: CheckedSpace, decisions: Decision) -> list:
    """The network's items that the decisions keep: a searched depth keeps its first ``x n`` repeats."""
    net = space.macro
    if net is None:
        return []
    dropped: set[int] = set()
    for depth in net.depths:
        chosen = depth.options[_depth_index(decisions, depth.key)]
        dropped.update(range(depth.first + chosen, depth.first + max(depth.options)))
    return [item for i, item in enumerate(net.items) if i not in dropped]


def _depth_index(decisions: Decision, key: str) -> int:
    chosen = decisions.get(key)
    return chosen if chosen is not None else 0


def _network(
    net: ast.NetworkDecl, space: CheckedSpace, new_cells: dict[str, ast.CellDecl], decisions: Decision
) -> ast.NetworkDecl:
    """Rewrite the cells lines where unshared cells became one cell per instance and where a searched depth
    (``x [1, 2, 3]``) became the chosen count."""
    depths = {d.first: d for d in (space.macro.depths if space.macro else ())}
    if not any("#" in t for t in new_cells) and not depths:
        return net
    index = 0  # cell instances so far: unshared cells are numbered by it
    written = 0  # items of the cells lines so far (space.repeats has their counts, in order)
    position = 0  # network items so far, cells and ops (a searched depth's item has its largest count)
    stmts: list[ast.NetStmt] = []
    for stmt in net.body:
        if not isinstance(stmt, ast.Cells):
            stmts.append(stmt)
            continue
        items: list[ast.CellItem] = []
        for item in stmt.items:
            decl = space.cell_decls.get(item.call.func)
            depth = depths.get(position) if isinstance(item.repeat, ast.ValueList) else None
            count = space.repeats[written]
            written += 1
            chosen = count
            if depth is not None:
                count, chosen = max(depth.options), depth.options[_depth_index(decisions, depth.key)]
                item = attrs.evolve(item, repeat=ast.Number(chosen) if chosen > 1 else None)
            position += count
            if decl is None or not decl.unshared:
                items.append(item)
                index += count if decl is not None else 0
                continue
            for j in range(count):
                type_name = f"{item.call.func}#{index}"
                if j < chosen:
                    items.append(ast.CellItem(attrs.evolve(item.call, func=new_cells[type_name].name)))
                index += 1
        stmts.append(ast.Cells(tuple(items)))
    return ast.NetworkDecl(tuple(stmts))


def _drop_unused_ops(module: ast.Module) -> ast.Module:
    used: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, ast.Call):
            used.add(node.func)
        if isinstance(node, tuple):
            for n in node:
                visit(n)
        elif attrs.has(type(node)):
            for f in attrs.fields(type(node)):
                if f.name != "span":
                    visit(getattr(node, f.name))

    for _ in range(3):  # op definitions may use each other
        used.clear()
        visit(module.body)
        body = tuple(s for s in module.body if not isinstance(s, ast.OpDefDecl) or s.name in used)
        if body == module.body:
            break
        module = attrs.evolve(module, body=body)
    return module


def header_lines(ir: NetworkIR, weights: Mapping[str, Sequence[float]], decisions: Decision) -> list[str]:
    """Comment lines recording every choice point's final gate weights and the decision."""
    lines = ["gate weights at the end of the search (* chosen):"]
    for key, info in ir.choices.items():
        chosen = decisions.get(key)
        parts = [
            f"{'*' if i == chosen else ''}{label} {w:.3f}"
            for i, (label, w) in enumerate(zip(info.labels, weights[key]))
        ]
        lines.append(f"  {key}: " + ", ".join(parts) + ("  (edge dropped)" if chosen is None else ""))
    return lines
