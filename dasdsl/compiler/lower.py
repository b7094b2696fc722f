"""IR to torch: a supernet that mixes every choice under gates, or a plain fixed network.

The forward walks the IR's execution plan (no generated code, no exec). Gate
weights are computed once per forward from the architecture parameters and read
by every cell through a shared ForwardState, so all instances of a cell type use
the same weights.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import attrs
import networkx as nx
import torch
from torch import nn

from dasdsl.compiler.fused import SourceFusion, current_weight
from dasdsl.compiler.ir import OUTPUT, Adapter, CandidateIR, FusionGroup, NetworkIR, Step, edge_norm_key
from dasdsl.errors import fail
from dasdsl.methods.gates import GATES
from dasdsl.ops import registry
from dasdsl.ops.modules import build_adapter
from dasdsl.wording import plural, shape_text


class ForwardState:
    """Shared by a network and its cells: the gate weights of the current forward, and the drop-path
    probability of a fixed network in training (DARTS' evaluation recipe; 0 elsewhere)."""

    def __init__(self) -> None:
        self.weights: dict[str, torch.Tensor] = {}
        self.drop_prob = 0.0


def gate_weights(
    alpha: torch.Tensor, gate: str, temperature: float, hard: bool = False, sample: bool = False
) -> torch.Tensor:
    """Mixing weights from architecture parameters, by the gate's definition in dasdsl.methods.gates;
    ``sample``: a training forward (a stochastic gate with a known mean returns the mean otherwise)."""
    if gate not in GATES:
        raise ValueError(f"unknown gate {gate!r}; expected one of {', '.join(GATES)}")
    return GATES[gate].weights(alpha, temperature, hard, sample)


def _adapter_module(adapter: Adapter, affine: bool) -> nn.Module:
    rank = len(adapter.shape_in) - 1
    return build_adapter(adapter.kind, adapter.shape_in[0], adapter.shape_out[0], rank, affine)


class Chain(nn.Sequential):
    """A candidate: its op steps, then its width adapter if it has one."""


def build_candidate(cand: CandidateIR, ir: NetworkIR, ctx: ForwardState, affine: bool, mixed: bool) -> nn.Module:
    modules: list[nn.Module] = [build_step(step, ir, ctx, affine, mixed) for step in cand.steps]
    if cand.adapter is not None:
        adapter = _adapter_module(cand.adapter, affine)
        adapter.is_adapter = True  # its own weights: a value list's sharing stops at the candidate's own ops
        modules.append(adapter)
    return modules[0] if len(modules) == 1 else Chain(*modules)


WEIGHT_LIMIT = 2**30  # bytes of float32 weights one op may hold: beyond it a width is a typo, not a model


def _check_size(step: Step) -> None:
    """An absurd width (``out = 100000000``) is an error that says what it would cost, not an allocation
    failure: the op's dense weights are at most C_in x C_out x k^rank floats (depthwise ops hold fewer)."""
    c_in, c_out = step.shape_in[0], step.shape_out[0]
    k = step.kwargs.get("k")
    taps = int(k) ** (len(step.shape_in) - 1) if isinstance(k, int) else 1
    weights = max(c_in * c_out * taps, c_in * int(step.kwargs.get("expand") or 1) * c_out)
    if 4 * weights > WEIGHT_LIMIT:
        raise fail(
            f"'{step.name}' from {c_in} to {c_out} channels would need about {4 * weights / 2**30:,.1f} GiB "
            f"of weights ({weights:,} floats)",
            step.span,
            "check the op's width (out = ...) and the cell arguments that set it",
        )


def build_step(step: Step, ir: NetworkIR, ctx: ForwardState, affine: bool, mixed: bool) -> nn.Module:
    if step.cell_key is not None:
        return CellModule(ir, step.cell_key, ctx, affine, mixed, single_input=True)
    op = registry.get(step.name)
    _check_size(step)
    if not op.plugin:
        return op.build(step.shape_in, step.stride, step.kwargs, affine=affine)
    try:
        module = op.build(step.shape_in, step.stride, step.kwargs, affine=affine)
    except Exception as exc:
        raise fail(f"plugin op '{step.name}' failed to build: {type(exc).__name__}: {exc}", step.span) from None
    return PluginGuard(module, step)


class PluginGuard(nn.Module):
    """Checks that a plugin op's output has the shape its ``output_shape`` rule declared."""

    def __init__(self, module: nn.Module, step: Step) -> None:
        super().__init__()
        self.op = module
        self.step = step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.op(x)
        if tuple(y.shape[1:]) != tuple(self.step.shape_out):
            got = shape_text(y.shape[1:])
            want = shape_text(self.step.shape_out)
            raise fail(
                f"plugin op '{self.step.name}' returned shape {got}, but its output_shape rule declared {want}",
                self.step.span,
                "fix the plugin's output_shape or its module",
            )
        return y


class MixedEdge(nn.Module):
    """sum_i w_i * op_i(x) over the candidates of one choice; ``none`` contributes nothing and is skipped."""

    mixes_whole_input = True  # its output is the mixture of its candidates on its whole input (fusion reads it)

    def __init__(
        self,
        key: str,
        candidates: list[nn.Module],
        is_none: list[bool],
        ctx: ForwardState,
        groups: list[int | None] | None = None,
    ) -> None:
        super().__init__()
        self.key = key
        self.candidates = nn.ModuleList(candidates)
        self.active = [i for i, z in enumerate(is_none) if not z]
        self.ctx = ctx
        self.groups = groups or [None] * len(candidates)  # candidates of one value list share a group id

    def share_values(self) -> None:
        """The candidates of each value list (``conv(k = [3, 5, 7])``) take their weights from the largest one."""
        for group in {g for g in self.groups if g is not None}:
            share_weights([m for m, g in zip(self.candidates, self.groups) if g == group])

    def mixed_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the candidates read of the edge's input (all of it here; a part under partial channels)."""
        return x

    def forward(self, x: torch.Tensor, given: dict[int, torch.Tensor] | None = None) -> torch.Tensor:
        """``given``: candidates' outputs computed elsewhere (by the fusion pass), by candidate index."""
        ws = self.ctx.weights[self.key].unbind(0)
        out = None
        for i in self.active:
            y = given[i] if given is not None and i in given else self.candidates[i](x)
            # one accumulator, added to in place: fewer short-lived full-size tensors (less heap growth)
            out = y * ws[i] if out is None else out.addcmul_(y, ws[i])
        if out is None:  # only `none` on this edge
            return x.mul(0.0)
        return out


_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Linear)


def share_weights(modules: list[nn.Module]) -> None:
    """Weight entanglement (Once-for-All, NNI's value choices): the candidates of one value list read their
    convolution and linear weights from the largest candidate's, the smaller kernels at its kernel's
    centre, the narrower widths in its first channels and a shallower repeat of a chain in its first
    layers, so the weights grow with the largest candidate, not with the number of candidates. Batch norms
    stay per candidate (each sees its own statistics). A candidate whose layers do not line up with the
    largest one's keeps its own weights."""
    largest = max(modules, key=lambda m: sum(layer.weight.numel() for layer in _layers(m, [])))
    big = _layers(largest, [])
    for module in modules:
        small = _layers(module, [])
        # a chain repeated fewer times (conv(3) x [1, 2, 3]) reads the first layers of the deepest
        if module is largest or [type(m) for m in small] != [type(m) for m in big[: len(small)]]:
            continue
        for layer, source in zip(small, big):
            _read_from(layer, source)


def _layers(module: nn.Module, out: list) -> list:
    """The convolution and linear layers of a candidate's ops, in order (its width adapter left out)."""
    if getattr(module, "is_adapter", False):
        return out
    if isinstance(module, _WEIGHTED):
        out.append(module)
    for child in module.children():
        _layers(child, out)
    return out


def _read_from(layer: nn.Module, source: nn.Module) -> None:
    """``layer``'s weight (and bias) become a slice of ``source``'s, taken afresh before every forward."""
    want, have = tuple(layer.weight.shape), tuple(source.weight.shape)
    if len(want) != len(have) or any(w > h for w, h in zip(want, have)):
        return
    if (layer.bias is None) != (source.bias is None):
        return
    index = (
        slice(0, want[0]),
        slice(0, want[1]),
        *(slice((h - w) // 2, (h - w) // 2 + w) for w, h in zip(want[2:], have[2:])),
    )
    del layer._parameters["weight"]
    if layer.bias is not None:
        del layer._parameters["bias"]
    layer.shared_from = (source, index)  # a tuple: not registered as a submodule, so counted once
    layer.register_forward_pre_hook(_take_slices)
    _take_slices(layer, ())


def _take_slices(layer: nn.Module, inputs: object) -> None:
    source, index = layer.shared_from
    layer.weight = current_weight(layer)  # the one definition of the slice a shared layer reads
    if source.bias is not None:
        layer.bias = source.bias[: index[0].stop]


def shared_state_dict(net: nn.Module) -> dict[str, torch.Tensor]:
    """``net``'s state dict with the weights that value-list candidates read from a larger one, sliced as
    they use them: what a network built from one candidate needs (weight inheritance)."""
    state = dict(net.state_dict())
    for name, module in net.named_modules():
        if hasattr(module, "shared_from"):
            _take_slices(module, ())
            state[f"{name}.weight"] = module.weight.detach()
            if module.bias is not None:
                state[f"{name}.bias"] = module.bias.detach()
    return state


class DepthMixture(nn.Module):
    """A searched depth: sum_i w_i * (the network's output with options[i] repeats), one input per option."""

    def __init__(self, key: str, ctx: ForwardState) -> None:
        super().__init__()
        self.key = key
        self.ctx = ctx

    def forward(self, *outputs: torch.Tensor) -> torch.Tensor:
        ws = self.ctx.weights[self.key].unbind(0)
        out = outputs[0] * ws[0]
        for y, w in zip(outputs[1:], ws[1:]):
            out = out + y * w
        return out


class PartialMixedEdge(MixedEdge):
    """PC-DARTS (Xu et al. 2020): only 1/k of the channels go through the mixture, the rest bypass it
    (max-pooled under a stride), then the channels are shuffled so that every channel takes turns."""

    mixes_whole_input = False

    def __init__(
        self,
        key: str,
        candidates: list[nn.Module],
        is_none: list[bool],
        ctx: ForwardState,
        k: int,
        stride: int,
        rank: int,
        groups: list[int | None] | None = None,
    ) -> None:
        super().__init__(key, candidates, is_none, ctx, groups)
        self.k = k
        self.stride = stride
        self.rank = rank

    def mixed_input(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, : x.shape[1] // self.k]

    def forward(self, x: torch.Tensor, given: dict[int, torch.Tensor] | None = None) -> torch.Tensor:
        c = x.shape[1]
        part, rest = x[:, : c // self.k], x[:, c // self.k :]
        mixed = super().forward(part, given)
        if self.stride > 1:
            pool = nn.functional.max_pool2d if self.rank == 2 else nn.functional.max_pool1d
            rest = pool(rest, self.stride, self.stride)
        out = torch.cat([mixed, rest], dim=1)
        n, spatial = out.shape[0], out.shape[2:]
        return out.reshape(n, self.k, c // self.k, *spatial).transpose(1, 2).reshape(n, c, *spatial)


def _partial_candidates(cands: tuple[CandidateIR, ...], k: int, span_edge: str) -> tuple[CandidateIR, ...]:
    """The candidates rebuilt for 1/k of the channels; only width-keeping candidates qualify."""
    out = []
    for cand in cands:
        if cand.adapter is not None or any(s.cell_key or s.shape_out[0] != s.shape_in[0] for s in cand.steps):
            step = cand.steps[0]
            raise fail(
                f"partial_channels {k} needs candidates that keep their input width; "
                f"'{cand.label}' on edge {span_edge} does not",
                step.span,
                "remove partial_channels or the 'out =' of this candidate",
            )
        steps = []
        for s in cand.steps:
            if s.shape_in[0] % k:
                raise fail(
                    f"partial_channels {k} does not divide the {s.shape_in[0]} channels of edge {span_edge}", s.span
                )
            steps.append(
                attrs.evolve(
                    s, shape_in=(s.shape_in[0] // k, *s.shape_in[1:]), shape_out=(s.shape_out[0] // k, *s.shape_out[1:])
                )
            )
        out.append(attrs.evolve(cand, steps=tuple(steps), shape=(cand.shape[0] // k, *cand.shape[1:])))
    return tuple(out)


class CellModule(nn.Module):
    """One cell instance: preprocessing of its inputs, then its nodes in topological order."""

    def __init__(
        self,
        ir: NetworkIR,
        key: str,
        ctx: ForwardState,
        affine: bool,
        mixed: bool,
        single_input: bool = False,
        partial: int = 1,
    ) -> None:
        super().__init__()
        g = ir.cells[key]
        self.ctx = ctx
        # node -> (edge-norm key, per incoming edge its position in the node's beta, None on a fixed edge)
        self.norm: dict[str, tuple[str, tuple[int | None, ...]]] = {}
        self.key = key
        self.inputs = [n for n, d in g.nodes.items() if d.kind == "input"]
        self.preprocess = nn.ModuleList(
            [_adapter_module(pre, affine) if (pre := g.nodes[n].preprocess) else nn.Identity() for n in self.inputs]
        )
        self.edges = nn.ModuleDict()
        self.edge_shapes: dict[str, tuple[int, ...]] = {}
        self.plan: list[tuple[str, str, list[tuple[str, str]]]] = []
        order = [n for n in nx.lexicographical_topological_sort(g.topology) if g.nodes[n].kind == "node"]
        for node in order:
            incoming = []
            positions: list[int | None] = []  # of the choice edges among the node's choice edges
            n_choices = 0
            for src in g.predecessors(node):
                data = g.edges[src, node]
                name = f"{src}->{node}"
                edge_name = name.replace(".", "_")
                cands = data.candidates
                if data.choice is not None and mixed:
                    built = _partial_candidates(cands, partial, name) if partial > 1 else cands
                    modules = [build_candidate(c, ir, ctx, affine, mixed) for c in built]
                    is_none = [c.is_none for c in cands]
                    groups = [c.source.group for c in cands]
                    if partial > 1:
                        stride, rank = data.stride, len(data.shape) - 1
                        module: nn.Module = PartialMixedEdge(
                            data.choice, modules, is_none, ctx, partial, stride, rank, groups
                        )
                    else:
                        module = MixedEdge(data.choice, modules, is_none, ctx, groups)
                else:
                    assert len(cands) == 1, f"edge {name} has {len(cands)} candidates in a fixed network"
                    module = build_candidate(cands[0], ir, ctx, affine, mixed)
                self.edges[edge_name] = module
                self.edge_shapes[edge_name] = tuple(data.shape)
                incoming.append((src, edge_name))
                positions.append(n_choices if data.choice is not None else None)
                n_choices += data.choice is not None
            if mixed and partial > 1 and n_choices > 1:
                self.norm[node] = (edge_norm_key(g.type_name, node), tuple(positions))
            self.plan.append((node, g.nodes[node].merge, incoming))
        self.output = [u for u, _ in g.in_edges(OUTPUT)]
        self.output_merge = g.nodes[OUTPUT].merge
        self.single_input = single_input
        self.fusion: dict[str, SourceFusion] = {}  # per source its fused computations (fuse(); not submodules)
        self.fusion_groups: tuple[FusionGroup, ...] = g.meta.get("fusion", ())  # the fusion pass's

    def fuse(self) -> None:
        """Lower the IR's fusion groups of this cell (dasdsl.compiler.fuse): from now on each source's edges
        read their grouped candidates' outputs from one computation per group."""
        by_source: dict[str, list[FusionGroup]] = {}
        for group in self.fusion_groups:
            by_source.setdefault(group.source, []).append(group)
        for src, groups in by_source.items():
            edges = {
                node: (name, self.edges[name], self.edge_shapes[name])
                for node, _, incoming in self.plan
                for s, name in incoming
                if s == src and isinstance(self.edges[name], MixedEdge)
            }
            self.fusion[src] = SourceFusion(tuple(groups), edges)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.single_input:
            inputs = inputs[:1] * len(self.inputs)
        values = {n: pre(x) for n, pre, x in zip(self.inputs, self.preprocess, inputs)}
        if self.fusion:
            return self._forward_fused(values)
        for node, merge, incoming in self.plan:
            values[node] = self._node(node, merge, incoming, [self.edges[name](values[src]) for src, name in incoming])
        return _merge(self.output_merge, [values[n] for n in self.output])

    def _forward_fused(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """Source by source: once a source's value exists, its fused groups run and its edges mix."""
        outs: dict[str, torch.Tensor] = {}

        def emit(src: str) -> None:
            x = values[src]
            if src in self.fusion:
                outs.update(self.fusion[src].outputs(x))
            for name in self.out_edges.get(src, ()):
                if name not in outs:
                    outs[name] = self.edges[name](x)

        for n in self.inputs:
            emit(n)
        for node, merge, incoming in self.plan:
            values[node] = self._node(node, merge, incoming, [outs.pop(name) for _, name in incoming])
            emit(node)
        return _merge(self.output_merge, [values[n] for n in self.output])

    @functools.cached_property
    def out_edges(self) -> dict[str, list[str]]:
        """Per source the names of the edges that read it, in execution order."""
        out: dict[str, list[str]] = {}
        for _, _, incoming in self.plan:
            for src, name in incoming:
                out.setdefault(src, []).append(name)
        return out

    def _node(self, node: str, merge: str, incoming: list[tuple[str, str]], outs: list[torch.Tensor]) -> torch.Tensor:
        """A node's value from its incoming edges' outputs: drop-path, edge normalization, merge."""
        drop = self.ctx.drop_prob if self.training else 0.0
        if drop > 0:
            outs = [
                o if isinstance(self.edges[n], nn.Identity) else _drop_path(o, drop)
                for o, (_, n) in zip(outs, incoming)
            ]
        if node in self.norm:  # edge normalization: each choice edge weighted by softmax(beta)
            key, positions = self.norm[node]
            beta = self.ctx.weights[key]
            outs = [o if j is None else o * beta[j] for o, j in zip(outs, positions)]
        return _merge(merge, outs)


def _drop_path(x: torch.Tensor, p: float) -> torch.Tensor:
    """DARTS' drop-path: each sample's edge output zeroed with probability p, the rest scaled by 1 / (1 - p)."""
    keep = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device, dtype=x.dtype).bernoulli_(1 - p)
    return x * keep / (1 - p)


def _merge(how: str, tensors: list[torch.Tensor]) -> torch.Tensor:
    if len(tensors) == 1:
        return tensors[0]
    if how == "concat":
        return torch.cat(tensors, dim=1)
    out = tensors[0] + tensors[1]  # a new tensor (an input may be another node's value), then in place
    for t in tensors[2:]:
        out.add_(t)
    return out


def _sequential(steps: tuple[Step, ...], ir: NetworkIR, ctx: ForwardState, affine: bool) -> nn.Module:
    if not steps:
        return nn.Identity()
    return nn.Sequential(*[build_step(s, ir, ctx, affine, mixed=False) for s in steps])


class Network(nn.Module):
    """The macro network: stem, cells and ops in sequence (cells read the k previous outputs), head."""

    def __init__(self, ir: NetworkIR, affine: bool, mixed: bool, partial: int = 1) -> None:
        super().__init__()
        self.ctx = ForwardState()
        order = ir.order()
        self.plan: list[tuple[str, list[int]]] = []
        self.items = nn.ModuleDict()
        position = {"data": 0}
        for node in order:
            data = ir.macro.nodes[node]
            if data.kind == "data":
                continue
            if data.kind == "cell":
                assert data.cell_key is not None
                module: nn.Module = CellModule(ir, data.cell_key, self.ctx, affine, mixed, partial=partial)
            elif data.kind == "depth":
                assert data.choice is not None
                module = DepthMixture(data.choice, self.ctx)
            else:
                # stem, head and macro-level blocks keep affine BN, as in the DARTS and NAS-Bench-201 search code
                module = _sequential(data.steps, ir, self.ctx, affine=True)
            ports: dict[int, int] = {}
            for pred in ir.macro.predecessors(node):
                for port in ir.macro.edges[pred, node].ports:
                    ports[port] = position[pred]
            self.items[node] = module
            self.plan.append((node, [ports[p] for p in sorted(ports)]))
            position[node] = len(position)
        self.aux_after: str | None = None  # the cell whose output feeds the auxiliary head, if any
        self.aux_logits: torch.Tensor | None = None  # the auxiliary head's logits of the last training forward
        # channels-last pays for the depthwise convolutions of image spaces on CPU (bench/compile.py, docs)
        self.channels_last = len(ir.input_shape) == 3
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        outputs = [x]
        for node, reads in self.plan:
            outputs.append(self.items[node](*[outputs[i] for i in reads]))
            if node == self.aux_after and self.training:
                self.aux_logits = self.auxiliary(outputs[-1])
        return outputs[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)


class FixedNetwork(Network):
    """A space with no choices left: plain modules, affine BatchNorm, no mixing machinery; with ``auxiliary``,
    DARTS' auxiliary head (training only, its parameters under ``auxiliary.``)."""

    def __init__(self, ir: NetworkIR, auxiliary: bool = False) -> None:
        if ir.has_choices:  # a user's mistake (training a space before searching it), located at its name
            first = next(iter(ir.choices.values()))
            n = len(ir.choices)
            raise fail(
                f"space '{ir.space.name}' still has {plural(n, 'choice point')} "
                f"(first: {first.key}); a fixed network needs one op per edge",
                ir.space.module.space.span,
                "search it with 'dasdsl run', or build space.supernet(...)",
            )
        super().__init__(ir, affine=True, mixed=False)
        if auxiliary:
            self._attach_auxiliary(ir)

    def _attach_auxiliary(self, ir: NetworkIR) -> None:
        """DARTS' auxiliary head after the cell at 2/3 of the depth (cell index 2n // 3 of n cells), in
        training only: ReLU, average pooling to 2x2 (5x5 stride 3 on an 8x8 map, as DARTS' CIFAR head;
        adaptive elsewhere), 1x1 conv to 128, BN, ReLU, 2x2 conv to 768, BN, ReLU, linear to the classes."""
        cells = [node for node, _ in self.plan if isinstance(self.items[node], CellModule)]
        if len(ir.input_shape) != 3 or not cells:
            raise fail(
                "the auxiliary head needs an image network with cells",
                ir.space.module.space.span,
                "train without --auxiliary",
            )
        self.aux_after = cells[2 * len(cells) // 3]
        shape = ir.macro.nodes[self.aux_after].shape
        c, size = shape[0], shape[1:]
        pool: nn.Module = (
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False)
            if tuple(size) == (8, 8)
            else nn.AdaptiveAvgPool2d(2)
        )
        self.auxiliary = nn.Sequential(
            nn.ReLU(inplace=False),
            pool,
            nn.Conv2d(c, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
            nn.Flatten(),
            nn.Linear(768, ir.classes),
        )
        if self.channels_last:
            self.auxiliary.to(memory_format=torch.channels_last)


class Supernet(Network):
    """Every choice mixed under a gate; architecture parameters apart from weights."""

    def __init__(
        self,
        ir: NetworkIR,
        gate: str = "softmax",
        temperature: float = 1.0,
        hard: bool = False,
        affine: bool = False,
        partial_channels: int = 1,
        share_values: bool = False,
        fuse: bool = True,
    ) -> None:
        if fuse and any("fusion" not in g.meta for g in ir.cells.values()):
            raise ValueError("a fused supernet needs an IR through the fusion pass (dasdsl.compiler.passes)")
        super().__init__(ir, affine=affine, mixed=True, partial=partial_channels)
        if share_values:
            for module in self.modules():
                if isinstance(module, MixedEdge):
                    module.share_values()
        self.fused = fuse
        for module in self.modules():
            if isinstance(module, CellModule) and fuse:
                module.fuse()
        if gate not in GATES:
            raise ValueError(f"unknown gate {gate!r}")
        self.gate = gate
        self.temperature = temperature
        self.hard = hard
        self.choice_keys = list(ir.choices)
        self.fixed_weights: dict[str, torch.Tensor] | None = None  # set to evaluate one architecture
        self.alphas = nn.ParameterList(
            [nn.Parameter(1e-3 * torch.randn(len(ir.choices[k].labels))) for k in self.choice_keys]
        )
        # PC-DARTS edge normalization: one weight vector per node over its incoming choice edges
        norms: dict[str, int] = {}
        for module in self.modules():
            if isinstance(module, CellModule):
                for key, positions in module.norm.values():
                    norms[key] = sum(j is not None for j in positions)
        self.edge_keys = sorted(norms)
        self.betas = nn.ParameterList([nn.Parameter(1e-3 * torch.randn(norms[k])) for k in self.edge_keys])

    def arch_parameters(self) -> list[nn.Parameter]:
        return [*self.alphas, *self.betas]

    def weight_parameters(self) -> Iterator[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return (p for p in self.parameters() if id(p) not in arch)

    def gate_weights(self, sample: bool = False) -> dict[str, torch.Tensor]:
        """The weights of every choice point; ``sample``: as in a training forward (stochastic gates sample)."""
        weights = {
            k: gate_weights(a, self.gate, self.temperature, self.hard, sample)
            for k, a in zip(self.choice_keys, self.alphas)
        }
        weights.update({k: torch.softmax(b, dim=-1) for k, b in zip(self.edge_keys, self.betas)})
        return weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fixed_weights is not None:
            self.ctx.weights = self.fixed_weights
        else:
            self.ctx.weights = self.gate_weights(sample=self.training)
        try:
            return self.run(x)
        finally:
            self.ctx.weights = {}


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters (BN weight and bias included, running statistics excluded)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def entropy(w: torch.Tensor) -> float:
    p = w / w.sum()
    return float(-(p * torch.log(p.clamp_min(1e-12))).sum()) / math.log(max(len(w), 2))
