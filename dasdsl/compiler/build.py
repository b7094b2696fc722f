"""Checked space to IR: one networkx graph per cell instance and the macro graph, shapes inferred,
adapters inserted where widths or resolutions disagree (the IR's types are in dasdsl.compiler.ir)."""

from __future__ import annotations

from typing import Any

import attrs
import networkx as nx

from dasdsl.compiler.ir import (
    OUTPUT,
    Adapter,
    CandidateIR,
    ChoiceInfo,
    NetworkIR,
    Step,
    choice_key,
    lint,
)
from dasdsl.errors import Span, fail
from dasdsl.lang.checked import Candidate, CellInstance, CheckedSpace, DepthChoice, OpRef, Unknown
from dasdsl.lang.classes import bind_classes
from dasdsl.ops import registry
from dasdsl.ops.shapes import Shape, ShapeError, reduce_shape
from dasdsl.wording import shape_text


class _Builder:
    def __init__(self, space: CheckedSpace, input_shape: Shape, classes: int) -> None:
        self.space = space
        self.input_shape = input_shape
        self.classes = classes
        self.cells: dict[str, nx.DiGraph] = {}
        self.choices: dict[str, ChoiceInfo] = {}

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
            return self.cells[key].nodes[OUTPUT]["shape"], key
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
        g = nx.DiGraph(
            name=inst.name,
            type_name=inst.type_name,
            key=key,
            args=inst.args,
            input_stride=inst.input_stride,
            instance=inst,
        )
        width = _cell_width(inst)
        if width is None:
            width = arrivals[-1][0]
        target_res = arrivals[-1][1:]
        for name, arrives in zip(inst.inputs, arrivals):
            pre: Adapter | None = None
            shape = arrives
            if arrives[1:] != target_res:
                if all(a == 2 * t for a, t in zip(arrives[1:], target_res)):
                    try:
                        shape = reduce_shape(arrives, width, 2, "skip")
                    except ShapeError as exc:
                        raise fail(f"cannot reduce input '{name}' of cell '{inst.name}': {exc}", span) from None
                    pre = Adapter(
                        "reduce",
                        arrives,
                        shape,
                        f"'{name}' arrives at {shape_text(arrives[1:])}, the cell runs "
                        f"at {shape_text(target_res)}: factorized reduce",
                    )
                else:
                    raise fail(
                        f"input '{name}' of cell '{inst.name}' arrives at {shape_text(arrives[1:])}, which the cell "
                        f"cannot bring to {shape_text(target_res)}",
                        span,
                    )
            elif arrives[0] != width:
                shape = (width, *arrives[1:])
                pre = Adapter(
                    "project",
                    arrives,
                    shape,
                    f"'{name}' arrives with {arrives[0]} channels, the cell works with {width}: 1x1 ReLU-Conv-BN",
                )
            g.add_node(name, kind="input", arrives=arrives, shape=shape, preprocess=pre)
        for node in inst.nodes:
            shapes = []
            for edge in node.edges:
                src_shape = g.nodes[edge.source]["shape"]
                stride = inst.input_stride if edge.source in inst.inputs else 1
                cands, shape = self.edge(inst, edge.candidates, src_shape, stride, edge.span)
                key_ = choice_key(inst.type_name, edge.source, edge.target) if edge.is_choice else None
                if key_ is not None:
                    self.choices.setdefault(
                        key_,
                        ChoiceInfo(
                            key_, inst.type_name, edge.source, edge.target, tuple(c.label for c in cands), node.keep
                        ),
                    )
                g.add_edge(edge.source, node.name, candidates=cands, choice=key_, stride=stride, shape=shape)
                shapes.append((edge, shape))
            g.add_node(
                node.name,
                kind="node",
                merge=node.merge,
                keep=node.keep,
                shape=self.merge(node.merge, shapes, f"node '{node.name}'", node.span),
            )
        outs = [(n, g.nodes[n]["shape"]) for n in inst.output]
        for n in inst.output:
            g.add_edge(n, OUTPUT, candidates=(), choice=None, stride=1, shape=g.nodes[n]["shape"])
        g.add_node(
            OUTPUT,
            kind="output",
            merge=inst.output_merge,
            shape=self.merge(inst.output_merge, outs, f"the output of cell '{inst.name}'", inst.span),
        )
        self.cells[key] = g
        return key

    def edge(
        self,
        inst: CellInstance,
        candidates: tuple[Candidate, ...],
        shape: Shape,
        stride: int,
        span: Span,
    ) -> tuple[tuple[CandidateIR, ...], Shape]:
        built = [(c, *self.chain(c, shape, stride)) for c in candidates]
        spatial = {out[1:] for _, _, out in built}
        if len(spatial) > 1:
            detail = ", ".join(f"{c.label} -> {shape_text(out)}" for c, _, out in built)
            raise fail(f"candidates disagree in resolution: {detail}", span)
        widest = max(out[0] for _, _, out in built)
        result = []
        for cand, steps, out in built:
            target = (widest, *out[1:])
            adapter = None
            if out != target and not cand.is_none:  # a fixed edge has one candidate, always the widest
                adapter = Adapter(
                    "widen",
                    out,
                    target,
                    f"'{cand.label}' gives {out[0]} channels, the widest candidate {widest}: learnable 1x1 conv",
                )
            result.append(CandidateIR(cand.label, steps, target, adapter, cand.is_none, cand.is_skip, cand))
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
        self, macro: nx.DiGraph, choice: DepthChoice, before: list[str], group: list[str], reads: int, item: Any
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
            shapes = [macro.nodes[s]["shape"] for s in sources]
            for n, s in zip(choice.options, shapes):
                if s != shapes[0]:
                    raise fail(
                        f"the searched depth of '{name}' gives different shapes: with x {choice.options[0]} the "
                        f"network continues with {shape_text(shapes[0])}, with x {n} with {shape_text(s)}",
                        choice.span,
                        "every repeat count must keep the shape: repeat cells that keep their width and size",
                    )
            node_id = f"depth{choice.first}_{t}"
            macro.add_node(
                node_id,
                kind="depth",
                shape=shapes[0],
                choice=choice.key,
                options=choice.options,
                offset=t,
                instances=tuple(group),
                label=label,
            )
            for port, source in enumerate(sources):
                if macro.has_edge(source, node_id):
                    macro.edges[source, node_id]["ports"].append(port)
                else:
                    macro.add_edge(source, node_id, ports=[port])
            nodes.append(node_id)
        self.choices[choice.key] = ChoiceInfo(choice.key, "<network>", label, choice.key, choice.labels, None, "depth")
        return nodes

    def network(self) -> nx.DiGraph:
        net = self.space.macro
        assert net is not None
        macro = nx.DiGraph()
        macro.add_node("data", kind="data", shape=self.input_shape)
        history = ["data"]
        shape = self.input_shape
        if net.stem is not None:
            steps, shape = self.chain(net.stem, shape, 1)
            macro.add_node("stem", kind="stem", shape=shape, steps=steps, label=net.stem.label)
            macro.add_edge("data", "stem", ports=[0])
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
                arrivals = [macro.nodes[p]["shape"] for p in preds]
                key = self.cell(inst, arrivals, item.span)
                shape = self.cells[key].nodes[OUTPUT]["shape"]
                macro.add_node(node_id, kind="cell", shape=shape, cell_key=key, label=f"{inst.name}")
                for port, p in enumerate(preds):
                    if macro.has_edge(p, node_id):
                        macro.edges[p, node_id]["ports"].append(port)
                    else:
                        macro.add_edge(p, node_id, ports=[port])
            else:
                assert item.op is not None
                steps, shape = self.chain(item.op, macro.nodes[history[-1]]["shape"], 1)
                macro.add_node(node_id, kind="op", shape=shape, steps=steps, label=item.op.label)
                macro.add_edge(history[-1], node_id, ports=[0])
            history.append(node_id)
            group.append(node_id)
            if i in ends:
                following = net.items[i + 1] if i + 1 < len(net.items) else None
                reads = len(following.cell.inputs) if following is not None and following.cell is not None else 1
                history = history + self.depth(macro, ends[i], before, group, reads, item)
                shape = macro.nodes[history[-1]]["shape"]
        head_shape = shape
        if net.head is not None:
            steps, head_shape = self.chain(net.head, shape, 1)
            macro.add_node("head", kind="head", shape=head_shape, steps=steps, label=net.head.label)
        else:
            macro.add_node("head", kind="head", shape=shape, steps=(), label="")
        macro.add_edge(history[-1], "head", ports=[0])
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


def _cell_width(inst: CellInstance) -> int | None:
    """The width a cell works at: its parameter ``c``, else its first parameter (if an integer)."""
    args = dict(inst.args)
    value = args.get("c", next(iter(args.values()), None)) if args else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def build_ir(space: CheckedSpace, input_shape: Shape, classes: int) -> NetworkIR:
    """Lower a checked space, for data of ``input_shape`` (C, *spatial) and ``classes`` classes."""
    rank = {"image": 3, "sequence": 2, "vector": 1}[space.input_kind]
    where = next((s.span for s in space.module.body if type(s).__name__ == "InputDecl"), space.module.span)
    if len(input_shape) != rank:
        raise fail(
            f"the data has shape {shape_text(input_shape)}, but the space's input is {space.input_kind} ({rank} sizes)",
            where,
        )
    if space.input_shape is not None and tuple(space.input_shape) != tuple(input_shape):
        raise fail(
            f"the space declares input {shape_text(space.input_shape)}, "
            f"but the data has shape {shape_text(input_shape)}",
            where,
        )
    declared = space.input_classes
    if declared is not None and classes > declared:
        raise fail(f"the space declares {declared} classes, but the data's labels run up to {classes - 1}", where)
    classes = declared or classes  # a stated class count sizes the classifier, also where some class is absent
    space = bind_classes(space, classes)  # `classes` in the space's op arguments, evaluated
    builder = _Builder(space, tuple(input_shape), classes)
    macro = builder.network()
    ir = NetworkIR(space, tuple(input_shape), classes, macro, builder.cells, builder.choices)
    lint(ir)
    return ir
