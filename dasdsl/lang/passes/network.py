"""The network block: stem, cells and head resolved; cell types shared across instances; nesting cycles."""

from __future__ import annotations

import math

import networkx as nx

from dasdsl.errors import Span, suggest
from dasdsl.lang import ast
from dasdsl.lang.checked import CellInstance, DepthChoice, NetItem, Network
from dasdsl.lang.count import MAX_SHARED_NESTED, shared_nested
from dasdsl.lang.passes.bind import bind_args, expand
from dasdsl.lang.passes.cells import instantiate
from dasdsl.lang.passes.context import CheckState
from dasdsl.lang.passes.text import rotate_cycle, show
from dasdsl.ops import registry
from dasdsl.wording import plural

MAX_REPEAT = 10_000  # cells or blocks in one `x N`: a guard against typos such as `x 10000000000`
# The combinations of a network's searched depths (`x [1, 2, 3]` twice: 9). A search ranks its result over
# every combination (compiler.ir.NetworkIR.depth_combinations), so the network is refused past this;
# spaces/mobilenet.das has 18.
MAX_DEPTH_COMBINATIONS = 10_000


def nesting_cycles(ctx: CheckState) -> None:
    """A cell used as an op inside itself, directly or through other cells, has no finite architecture."""
    graph = nx.DiGraph()
    spans: dict[tuple[str, str], Span] = {}
    for inst in ctx.instances.values():
        if inst is None:
            continue
        for edge in inst.edges:
            for cand in edge.candidates:
                for ref in cand.nested_cells:
                    graph.add_edge(inst.name, ref.name)
                    key = (inst.name, ref.name)
                    span = ctx.name_span(ref.span, ref.name)
                    if key not in spans or (span.line, span.column) < (spans[key].line, spans[key].column):
                        spans[key] = span
    for cycle in sorted(nx.simple_cycles(graph), key=lambda c: sorted(c)):
        _, order, path = rotate_cycle(cycle, [ctx.cells[m].span.line for m in cycle])
        ctx.contains_itself.update(order)
        ctx.err(
            f"cell '{order[0]}' contains itself{path}",
            spans[(order[0], order[1 % len(order)])],
            "a cell used as an op may not use, directly or through other cells, the cell it is in",
        )


def resolve(ctx: CheckState) -> None:
    """The first network block into ``ctx.network``: its cells instantiated with their arguments."""
    m = ctx.module
    networks = m.statements(ast.NetworkDecl)
    if networks:
        ctx.network = _network(ctx, networks[0])
    else:
        ctx.err("missing 'network' block", m.space.span, "add 'network { cells ... }'")


def _network(ctx: CheckState, net: ast.NetworkDecl) -> Network:
    stems = [s for s in net.body if isinstance(s, ast.Stem)]
    heads = [s for s in net.body if isinstance(s, ast.Head)]
    cells = [s for s in net.body if isinstance(s, ast.Cells)]
    for extra in stems[1:]:
        ctx.err("duplicate 'stem'", extra.span)
    for extra in heads[1:]:
        ctx.err("duplicate 'head'", extra.span)
    if not cells:
        ctx.err("the network has no 'cells'", net.span, "add 'cells NAME(args) x N'")
    stem = expand(ctx, stems[0].op, ctx.constants) if stems else None
    head = expand(ctx, heads[0].op, ctx.constants) if heads else None
    items: list[NetItem] = []
    depths: list[DepthChoice] = []
    index = 0  # cells so far: an unshared cell's instances are types of their own
    too_many = _too_many_depths(ctx, [item for line in cells for item in line.items])
    for line in cells:
        for item in line.items:
            if item is too_many:
                ctx.used.add(item.call.func)  # reported at its list; not also as unused
                continue
            options = _depth_options(ctx, item)
            repeat = max(options) if options else _repeat(ctx, item)
            name = item.call.func
            if options and name not in ctx.cells:
                ctx.err(
                    f"a searched depth repeats a cell; '{name}' is not a cell",
                    item.repeat.span,  # type: ignore[union-attr]
                    "write the block as a cell (cell NAME(c) { ... }) to search how often it repeats",
                )
                continue
            if name in ctx.cells:
                ctx.used.add(name)
                decl = ctx.cells[name]
                args = bind_args(ctx, item.call, decl.params, None, ctx.constants, f"cell '{name}'")
                if args is None:
                    continue
                if options:
                    key = f"depth:{len(items)}:{name}"
                    depths.append(DepthChoice(key, len(items), options, item.span))
                for _ in range(repeat):
                    type_name = f"{name}#{index}" if decl.unshared else name
                    inst = instantiate(ctx, name, args, item.span, type_name=type_name)
                    index += 1
                    if inst is not None:
                        items.append(NetItem(inst, None, item.span))
            elif name not in ctx.opdefs and name not in ctx.opsets and registry.lookup(name) is None:
                ctx.err(
                    f"unknown cell or op '{name}'",
                    ctx.name_span(item.call.span, name),
                    suggest(name, [*ctx.cells, *ctx.opdefs, *registry.known_names()]),
                )
            else:
                cand = expand(ctx, ast.OpExpr((item.call,), span=item.call.span), ctx.constants)
                if cand is not None:
                    items.extend(NetItem(None, cand, item.span) for _ in range(repeat))
    return Network(stem, tuple(items), head, tuple(depths))


def _too_many_depths(ctx: CheckState, items: list[ast.CellItem]) -> ast.CellItem | None:
    """The item whose depth list takes the network past MAX_DEPTH_COMBINATIONS, reported at that list with
    the network's number, counted from the lists' lengths (None when the network is within the limit)."""
    lists = [item for item in items if isinstance(item.repeat, ast.ValueList)]
    total = math.prod(len(item.repeat.items) for item in lists)  # type: ignore[union-attr]
    if total <= MAX_DEPTH_COMBINATIONS:
        return None
    so_far = 1
    for item in lists:
        so_far *= len(item.repeat.items)  # type: ignore[union-attr]
        if so_far > MAX_DEPTH_COMBINATIONS:
            ctx.err(
                f"the searched depths of this network make {total:,} combinations (at most {MAX_DEPTH_COMBINATIONS:,})",
                item.repeat.span,  # type: ignore[union-attr]
                "a search ranks its result over every combination of the depths: list fewer counts",
            )
            return item
    return None


def _depth_options(ctx: CheckState, item: ast.CellItem) -> tuple[int, ...] | None:
    """The repeat counts of ``x [1, 2, 3]`` (None: a plain ``x N``; an empty tuple after an error)."""
    if not isinstance(item.repeat, ast.ValueList):
        return None
    return ctx.repeat_counts(item.repeat, ctx.constants, "depth", (MAX_REPEAT, "a network")) or ()


def _repeat(ctx: CheckState, item: ast.CellItem) -> int:
    """The item's ``x N`` (1 when absent or wrong)."""
    if item.repeat is None or isinstance(item.repeat, ast.ValueList):
        return 1
    r = ctx.positive_int(item.repeat, ctx.constants, "a repeat count")
    if isinstance(r, int) and r > MAX_REPEAT:
        ctx.err(
            f"a repeat count of {r:,} is more than a network can hold (at most {MAX_REPEAT:,})",
            item.repeat.span,
        )
        r = None
    return r if isinstance(r, int) else 1


def cell_types(ctx: CheckState) -> None:
    """One instance per architecture type; shared instances must agree in their choices."""
    types: dict[str, CellInstance] = {}
    ctx.cell_types = types
    if ctx.network is None:
        return
    # each instance with the span and name of its use, for the error
    pending = [(item.cell, item.span, item.cell.name) for item in ctx.network.items if item.cell]
    while pending:
        inst, span, used_as = pending.pop(0)
        if inst.type_name in types:
            difference = _difference(types[inst.type_name], inst)
            if difference is not None:
                ctx.err(
                    f"instances of cell '{inst.name}' differ but share architecture parameters: {difference}",
                    ctx.name_span(span, used_as),
                    f"declare 'unshared cell {inst.name}' to give each instance its own architecture parameters",
                )
            continue
        types[inst.type_name] = inst
        for edge in inst.edges:
            for cand in edge.candidates:
                for ref in cand.nested_cells:
                    if ctx.cells[ref.name].unshared:
                        ctx.err(
                            f"cell '{ref.name}' is used as an op and cannot be unshared",
                            ctx.name_span(ref.span, ref.name),
                            f"remove 'unshared' from the declaration of '{ref.name}'",
                        )
                        continue
                    if ref.name in ctx.contains_itself:
                        continue
                    nested = instantiate(ctx, ref.name, dict(ref.args), ref.span)
                    if nested is not None:
                        pending.append((nested, ref.span, ref.name))
    _too_many_shared(ctx, types)


def _too_many_shared(ctx: CheckState, types: dict[str, CellInstance]) -> None:
    """Refuse more than MAX_SHARED_NESTED cells used as candidates on several edges: the count of
    architectures sums over which of them are in use (lang.count), 2^N cases."""
    top = {item.cell.type_name for item in ctx.network.items if item.cell is not None}  # type: ignore[union-attr]
    shared = shared_nested(types, top)
    if len(shared) > MAX_SHARED_NESTED:
        name = shared[MAX_SHARED_NESTED]
        ctx.err(
            f"{len(shared)} cells are candidates on more than one edge (at most {MAX_SHARED_NESTED}): "
            f"counting the architectures would sum over 2^{len(shared)} choices of the cells in use",
            ctx.name_span(ctx.cells[name].span, name, ctx.words_before_name(ctx.cells[name].span)),
            "offer each of these cells on one edge (a derived copy, cell b2 = b, is a cell of its own)",
        )


def _show_args(inst: CellInstance) -> str:
    return f"{inst.name}({', '.join(show(v) for _, v in inst.args)})"


def _difference(a: CellInstance, b: CellInstance) -> str | None:
    """What differs between two instances of one cell type, in words; None when they agree."""
    if a.structure() == b.structure():
        return None
    for na, nb in zip(a.nodes, b.nodes, strict=False):
        if na.keep != nb.keep:
            return (
                f"node '{na.name}' keeps {plural(na.keep, 'edge')} in {_show_args(a)} "
                f"and {plural(nb.keep, 'edge')} in {_show_args(b)}"
            )
    return f"their choices differ in {_show_args(a)} and {_show_args(b)}"
