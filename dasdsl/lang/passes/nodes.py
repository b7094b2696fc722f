"""One node of a cell: its edges (sources and candidates), 'keep' and merge."""

from __future__ import annotations

import networkx as nx

from dasdsl.errors import Span, suggest
from dasdsl.lang import ast
from dasdsl.lang.checked import Edge, Node, Unknown
from dasdsl.lang.passes.choices import candidates
from dasdsl.lang.passes.context import CheckState, Env
from dasdsl.wording import plural

MERGES = ("sum", "concat")


def _source_span(ctx: CheckState, group: ast.EdgeGroup, i: int) -> Span:
    """The i-th source of an edge group (``(x, x)``: the second ``x`` for i = 1)."""
    src = group.sources[i]
    return ctx.name_span(group.span, src, occurrence=group.sources[:i].count(src))


def check_node(
    ctx: CheckState,
    nd: ast.NodeDecl,
    env: Env,
    names: dict[str, Span],
    graph: nx.DiGraph,
    cell: str,
    *,
    report_unknown: bool = True,
) -> Node | None:
    """One node; ``report_unknown`` is off when the cell lacks its 'input' line (reported once)."""
    ok = True
    edges: list[Edge] = []
    seen_sources: set[str] = set()
    for group in nd.edges:
        choice, cands = candidates(ctx, group.candidates, env)
        if cands is None:
            ok = False
        for i, src in enumerate(group.sources):
            if src not in names:
                if report_unknown:
                    ctx.err(f"unknown node '{src}' in cell '{cell}'", _source_span(ctx, group, i), suggest(src, names))
                ok = False
                continue
            if src == nd.name:
                ctx.err(f"node '{nd.name}' reads itself", _source_span(ctx, group, i), "a cell is a DAG")
                ok = False
                continue
            if src in seen_sources:
                ctx.err(
                    f"node '{nd.name}' reads '{src}' twice",
                    _source_span(ctx, group, i),
                    "one edge per source; list candidates in []",
                )
                ok = False
                continue
            seen_sources.add(src)
            graph.add_edge(src, nd.name)
            if cands is not None:
                edges.append(Edge(src, nd.name, cands, choice, group.span))
    keep: int | None = None
    if nd.keep is not None:
        keep, keep_ok = _keep(ctx, nd, nd.keep, env, edges, edges_ok=ok)
        ok = ok and keep_ok
    merge = nd.merge or "sum"
    if nd.merge is not None and nd.merge not in MERGES:
        ctx.err(f"unknown merge '{nd.merge}'", ctx.name_span(nd.span, nd.merge, 3), suggest(nd.merge, MERGES))
        ok = False
    if not ok:
        return None
    return Node(nd.name, tuple(edges), keep, merge, nd.span)


def _keep(
    ctx: CheckState, nd: ast.NodeDecl, expr: ast.Expr, env: Env, edges: list[Edge], *, edges_ok: bool
) -> tuple[int | None, bool]:
    """A node's 'keep' (None: every edge, or not known yet) and whether it is sound."""
    keep = ctx.positive_int(expr, env, "keep", allow_zero=True)
    fan_in = sum(len(g.sources) for g in nd.edges)
    if keep is None:
        return None, False
    if isinstance(keep, Unknown):
        return None, True
    if keep == 0:
        ctx.err(
            f"keep 0 on node '{nd.name}' keeps no edge",
            expr.span,
            f"keep between 1 and {fan_in}, or no 'keep' to keep every edge",
        )
        return None, False
    if keep > fan_in:
        ctx.err(
            f"keep {keep} is larger than the fan-in of node '{nd.name}' ({plural(fan_in, 'edge')})",
            expr.span,
            f"keep at most {fan_in}",
        )
        return None, False
    live = sum(1 for e in edges if any(not c.is_none for c in e.candidates))
    if edges_ok and keep > live:
        ctx.err(
            f"keep {keep} on node '{nd.name}', but only {live} of its {plural(fan_in, 'edge')} "
            f"{'has' if live == 1 else 'have'} a candidate other than 'none'",
            expr.span,
            "'keep' never keeps a 'none' edge: add candidates or lower keep",
        )
        return None, False
    return keep, True
