"""The shapes pass: the network walked in order, every macro node, cell graph, node and edge with its
shape, no adapter yet (dasdsl.compiler.adapters adds them).

Structure and shapes are one walk because a cell graph's identity is its arrival shapes (the same cell at
other input shapes is another graph) and a searched depth's mixture is valid only if every repeat count
gives the same shape. Where shapes disagree the walk records the shape the consumer works at: an input's
``shape`` is the cell's width at the cell's resolution (``arrives`` keeps what came), a candidate's shape
is the widest candidate's on its edge.
"""

from __future__ import annotations

from typing import Any

import attrs

from dasdsl.compiler.ir import (
    OUTPUT,
    CandidateIR,
    CellEdge,
    CellGraph,
    CellNode,
    GraphDraft,
    MacroEdge,
    MacroNode,
    NetworkIR,
    Step,
    choice_key,
)
from dasdsl.errors import Span, fail
from dasdsl.lang.checked import Candidate, CellInstance, CheckedSpace, DepthChoice, OpRef, Unknown
from dasdsl.ops import registry
from dasdsl.ops.shapes import Shape, ShapeError, reduce_shape
from dasdsl.wording import shape_text

_Macro = GraphDraft[MacroNode, MacroEdge]


def infer_shapes(ir: NetworkIR) -> NetworkIR:
    """The pass: ``ir`` with its macro graph and cell graphs, shaped (``ir`` itself is not changed)."""
    walk = _Walk(ir.space, ir.input_shape, ir.classes)
    macro = walk.network()
    return attrs.evolve(ir, macro=macro.freeze(), cells=walk.cells)


class _Walk:
    def __init__(self, space: CheckedSpace, input_shape: Shape, classes: int) -> None:
        self.space = space
        self.input_shape = input_shape
        self.classes = classes
        self.cells: dict[str, CellGraph] = {}

    # -- ops
    def chain(self, cand: Candidate, shape: Shape, stride: int) -> tuple[tuple[Step, ...], Shape]:
        steps = []
        for i, ref in enumerate(cand.steps):
            s = stride if i == 0 else 1
            out, cell_key = self.step_shape(ref, shape, s)
            steps.append(Step(ref.name, ref.args, shape, out, s, ref.span, cell_key))
            shape = out
        return tuple(steps), shape

    def step_shape(self, ref: OpRef, shape: Shape, stride: int) -> tuple[Shape, str | None]:
        args = dict(ref.args)
        unknown = [k for k, v in args.items() if isinstance(v, Unknown)]
        assert not unknown, f"unresolved arguments {unknown} in {ref.name}"
        if ref.is_cell:
            inst = self.space.instantiate(ref.name, args)
            if len(inst.inputs) != 1:
                raise fail(
                    f"cell '{ref.name}' is used as a candidate and must have one input, not {len(inst.inputs)}",
                    ref.span,
                )
            inst = attrs.evolve(inst, input_stride=stride)
            key = self.cell(inst, [shape], ref.span)
            return self.cells[key].nodes[OUTPUT].shape, key
        try:
            return tuple(registry.get(ref.name).output_shape(shape, stride, args)), None
        except ShapeError as exc:
            raise fail(f"{exc} (input shape {shape_text(shape)})", ref.span) from None

    # -- cells
    def cell(self, inst: CellInstance, arrivals: list[Shape], span: Span) -> str:
        key = f"{inst.type_name}({', '.join(f'{k}={v}' for k, v in inst.args)})@" + ",".join(
            shape_text(a) for a in arrivals
        )
        if inst.input_stride != 1:
            key += f"/s{inst.input_stride}"
        if key in self.cells:
            return key
        g: GraphDraft[CellNode, CellEdge] = GraphDraft()
        for name, arrives in zip(inst.inputs, arrivals):
            shape = self.input_shape_at(inst, name, arrives, arrivals, span)
            g.add_node(name, CellNode("input", shape, arrives=arrives))
        for node in inst.nodes:
            shapes = []
            for edge in node.edges:
                src_shape = g.nodes[edge.source].shape
                stride = inst.input_stride if edge.source in inst.inputs else 1
                cands, shape = self.edge(edge.candidates, src_shape, stride, edge.span)
                key_ = choice_key(inst.type_name, edge.source, edge.target) if edge.is_choice else None
                g.add_edge(edge.source, node.name, CellEdge(cands, key_, stride, shape))
                shapes.append((edge, shape))
            shape = self.merge(node.merge, shapes, f"node '{node.name}'", node.span)
            g.add_node(node.name, CellNode("node", shape, merge=node.merge, keep=node.keep))
        outs = [(n, g.nodes[n].shape) for n in inst.output]
        for n, shape in outs:
            g.add_edge(n, OUTPUT, CellEdge((), None, 1, shape))
        shape = self.merge(inst.output_merge, outs, f"the output of cell '{inst.name}'", inst.span)
        g.add_node(OUTPUT, CellNode("output", shape, merge=inst.output_merge))
        self.cells[key] = g.freeze(CellGraph, key=key, instance=inst)
        return key

    def input_shape_at(self, inst: CellInstance, name: str, arrives: Shape, arrivals: list[Shape], span: Span) -> Shape:
        """The shape input ``name`` works at in the cell: the cell's width (its parameter ``c``, else its
        first, else the last input's channels) at the last input's resolution; a resolution twice the
        cell's is reduced, any other is an error."""
        width = _cell_width(inst)
        if width is None:
            width = arrivals[-1][0]
        elif width < 1:  # a width the cell's argument gives: the cell would build tensors of no channels
            raise fail(
                f"cell '{inst.name}' works at width {width} (its argument "
                f"'{'c' if 'c' in dict(inst.args) else next(iter(dict(inst.args)))}'), which must be positive",
                span,
                "a cell's width is its parameter c, else its first parameter: the channels it works at",
            )
        target_res = arrivals[-1][1:]
        if arrives[1:] != target_res:
            if all(a == 2 * t for a, t in zip(arrives[1:], target_res)):
                try:
                    return reduce_shape(arrives, width, 2, "skip")
                except ShapeError as exc:
                    raise fail(f"cannot reduce input '{name}' of cell '{inst.name}': {exc}", span) from None
            raise fail(
                f"input '{name}' of cell '{inst.name}' arrives at {shape_text(arrives[1:])}, which the cell "
                f"cannot bring to {shape_text(target_res)}",
                span,
            )
        if arrives[0] != width:
            return (width, *arrives[1:])
        return arrives

    def edge(
        self, candidates: tuple[Candidate, ...], shape: Shape, stride: int, span: Span
    ) -> tuple[tuple[CandidateIR, ...], Shape]:
        """The edge's candidates, each at the widest candidate's shape (the adapters pass widens the others)."""
        built = [(c, *self.chain(c, shape, stride)) for c in candidates]
        spatial = {out[1:] for _, _, out in built}
        if len(spatial) > 1:
            detail = ", ".join(f"{c.label} -> {shape_text(out)}" for c, _, out in built)
            raise fail(f"candidates disagree in resolution: {detail}", span)
        widest = max(out[0] for _, _, out in built)
        result = [
            CandidateIR(cand.label, steps, (widest, *out[1:]), None, cand.is_none, cand.is_skip, cand)
            for cand, steps, out in built
        ]
        return tuple(result), (widest, *next(iter(spatial)))

    def merge(self, how: str, shapes: list[tuple[Any, Shape]], what: str, span: Span) -> Shape:
        if not shapes:
            raise fail(f"{what} has no inputs", span)
        spatial = {s[1:] for _, s in shapes}
        if len(spatial) > 1:
            raise fail(
                f"the edges into {what} disagree in resolution: " + ", ".join(shape_text(s) for _, s in shapes), span
            )
        if how == "concat":
            return (sum(s[0] for _, s in shapes), *next(iter(spatial)))
        widths = {s[0] for _, s in shapes}
        if len(widths) > 1:
            raise fail(
                f"the edges into {what} disagree in width ({', '.join(str(s[0]) for _, s in shapes)} "
                "channels) and are summed",
                span,
                "give the ops the same 'out', or merge by concat",
            )
        return shapes[0][1]

    # -- macro
    def depth(
        self, macro: _Macro, choice: DepthChoice, before: list[str], group: list[str], reads: int, item: Any
    ) -> list[str]:
        """The mixture nodes after a searched depth's repeats: for each of the ``reads`` outputs the next item
        reads (offset t = reads - 1 ... 0), sum_i w_i * (the output t items before the end with options[i]
        repeats). Every option must give the same shapes."""
        name = item.cell.name if item.cell is not None else "item"
        label = f"{name} x [{', '.join(map(str, choice.options))}]"
        nodes = []
        for t in reversed(range(reads)):
            sources = []
            for n in choice.options:
                sequence = before + group[:n]
                sources.append(sequence[-1 - t] if len(sequence) > t else sequence[0])
            shapes = [macro.nodes[s].shape for s in sources]
            for n, s in zip(choice.options, shapes):
                if s != shapes[0]:
                    raise fail(
                        f"the searched depth of '{name}' gives different shapes: with x {choice.options[0]} the "
                        f"network continues with {shape_text(shapes[0])}, with x {n} with {shape_text(s)}",
                        choice.span,
                        "every repeat count must keep the shape: repeat cells that keep their width and size",
                    )
            node_id = f"depth{choice.first}_{t}"
            record = MacroNode(
                "depth",
                shapes[0],
                label=label,
                choice=choice.key,
                options=choice.options,
                offset=t,
                instances=tuple(group),
            )
            macro.add_node(node_id, record)
            _connect(macro, sources, node_id)
            nodes.append(node_id)
        return nodes

    def network(self) -> _Macro:
        net = self.space.macro
        assert net is not None
        macro: _Macro = GraphDraft()
        macro.add_node("data", MacroNode("data", self.input_shape))
        history = ["data"]
        shape = self.input_shape
        if net.stem is not None:
            steps, shape = self.chain(net.stem, shape, 1)
            macro.add_node("stem", MacroNode("stem", shape, label=net.stem.label, steps=steps))
            _connect(macro, ["data"], "stem")
            history = ["stem"]
        ends = {d.first + max(d.options) - 1: d for d in net.depths}
        starts = {d.first for d in net.depths}
        before: list[str] = []  # the history before the current depth group
        group: list[str] = []  # its repeats so far
        for i, item in enumerate(net.items):
            node_id = f"{i}"
            if i in starts:
                before, group = list(history), []
            if item.cell is not None:
                inst = item.cell
                k = len(inst.inputs)
                preds = history[-k:]
                preds = [preds[0]] * (k - len(preds)) + preds
                arrivals = [macro.nodes[p].shape for p in preds]
                key = self.cell(inst, arrivals, item.span)
                shape = self.cells[key].nodes[OUTPUT].shape
                macro.add_node(node_id, MacroNode("cell", shape, label=f"{inst.name}", cell_key=key))
                _connect(macro, preds, node_id)
            else:
                assert item.op is not None
                steps, shape = self.chain(item.op, macro.nodes[history[-1]].shape, 1)
                macro.add_node(node_id, MacroNode("op", shape, label=item.op.label, steps=steps))
                _connect(macro, [history[-1]], node_id)
            history.append(node_id)
            group.append(node_id)
            if i in ends:
                following = net.items[i + 1] if i + 1 < len(net.items) else None
                reads = len(following.cell.inputs) if following is not None and following.cell is not None else 1
                history = history + self.depth(macro, ends[i], before, group, reads, item)
                shape = macro.nodes[history[-1]].shape
        head_shape = shape
        if net.head is not None:
            steps, head_shape = self.chain(net.head, shape, 1)
            macro.add_node("head", MacroNode("head", head_shape, label=net.head.label, steps=steps))
        else:
            macro.add_node("head", MacroNode("head", shape))
        _connect(macro, [history[-1]], "head")
        if head_shape != (self.classes,):
            span = self.space.module.span
            for stmt in self.space.module.body:
                if type(stmt).__name__ == "NetworkDecl":
                    span = stmt.span
            raise fail(
                f"the network ends with shape {shape_text(head_shape)}, but the data has {self.classes} classes",
                span,
                "end the head with linear(classes)",
            )
        return macro


def _connect(macro: _Macro, sources: list[str], target: str) -> None:
    """Edges from ``sources`` (port i from sources[i]) into ``target``; a source read twice feeds both ports."""
    for port, source in enumerate(sources):
        if (source, target) in macro.edges:
            macro.edges[source, target] = MacroEdge((*macro.edges[source, target].ports, port))
        else:
            macro.add_edge(source, target, MacroEdge((port,)))


def _cell_width(inst: CellInstance) -> int | None:
    """The width a cell works at: its parameter ``c``, else its first parameter (if an integer)."""
    args = dict(inst.args)
    value = args.get("c", next(iter(args.values()), None)) if args else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
