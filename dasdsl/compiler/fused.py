"""Torch lowering of the fusion groups (dasdsl.compiler.fuse): one computation per group of candidates.

The candidates keep their own modules and parameters (state dicts, weight inheritance and the second-order
step's functional calls see no difference); a fused computation reads their weights at every forward and
puts them side by side. Exactness: every output channel is computed from the same inputs and weights as
its candidate computes it; only the order of floating-point additions inside a kernel may differ.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dasdsl.compiler.ir import FusionGroup
from dasdsl.ops.modules import FactorizedReduce, tight_conv

_CONV = (nn.Conv1d, nn.Conv2d)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d)


def current_weight(conv: nn.Module) -> torch.Tensor:
    """A convolution's weight as its forward would read it: a value list's shared candidate reads a slice
    of the largest candidate's weight (dasdsl.compiler.lower.share_weights)."""
    shared = getattr(conv, "shared_from", None)
    if shared is not None:
        source, index = shared
        return source.weight[index]
    return conv.weight


Stage = tuple[nn.Module, nn.Module | None, nn.Module]  # (conv, pointwise or None, BN) after a ReLU


def _stages(module: nn.Module) -> list[Stage] | None:
    """The ReLU-conv stages of a ``sep_conv`` / ``dil_conv`` (ReLU, depthwise, pointwise, BN) or ``conv``
    (ReLU, conv, BN) module, None if it is not one of those (a conv with a bias, string padding, a BN
    without momentum: left unfused). Only a first stage may be a full convolution."""
    layers = list(module.children()) if isinstance(module, nn.Sequential) else []
    stages: list[Stage] = []
    i = 0
    while i < len(layers):
        if not isinstance(layers[i], nn.ReLU) or i + 2 >= len(layers):
            return None
        conv, second = layers[i + 1], layers[i + 2]
        pointwise = second if isinstance(second, _CONV) else None
        bn = layers[i + 3] if pointwise is not None and i + 3 < len(layers) else second
        i += 4 if pointwise is not None else 3
        convs = [conv] if pointwise is None else [conv, pointwise]
        ok = (
            isinstance(bn, _BN)
            and bn.momentum is not None
            and all(isinstance(c, _CONV) and c.bias is None and c.padding_mode == "zeros" for c in convs)
            and not isinstance(conv.padding, str)
        )
        if pointwise is None:  # a full convolution, the first stage only
            ok = ok and conv.groups == 1 and not stages
        else:
            ok = ok and conv.groups == conv.in_channels == conv.out_channels and pointwise.groups == 1
            ok = ok and all(k == 1 for k in pointwise.kernel_size)
        if not ok:
            return None
        stages.append((conv, pointwise, bn))
    return stages or None


def batch_norm(x: torch.Tensor, bns: list[nn.Module]) -> torch.Tensor:
    """The batch norms of the group's candidates at once, on their channels side by side; each keeps its
    own running statistics (updated exactly as its own forward would)."""
    first = bns[0]
    tracked = first.running_mean is not None
    mean = torch.cat([b.running_mean for b in bns]) if tracked else None
    var = torch.cat([b.running_var for b in bns]) if tracked else None
    weight = torch.cat([b.weight for b in bns]) if first.affine else None
    bias = torch.cat([b.bias for b in bns]) if first.affine else None
    training = first.training or not tracked
    y = nn.functional.batch_norm(x, mean, var, weight, bias, training, first.momentum, first.eps)
    if training and tracked and mean is not None and var is not None:
        width = first.num_features
        with torch.no_grad():  # three calls for the whole group (torch's multi-tensor ops, as optimizers use)
            torch._foreach_copy_([b.running_mean for b in bns], list(mean.split(width)))
            torch._foreach_copy_([b.running_var for b in bns], list(var.split(width)))
            torch._foreach_add_([b.num_batches_tracked for b in bns], 1)
    return y


def _pointwise(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    rank = x.dim() - 2
    w = weight.reshape(*weight.shape, *(1,) * rank)
    return tight_conv(x, w, None, (1,) * rank, (0,) * rank, (1,) * rank, 1)


class BatchedStack:
    """A group of ReLU-conv stacks on E edges, stage by stage (every edge's output channels side by side,
    edge by edge). A first depthwise convolution reads the source's ReLU once with a channel multiplier E
    (output channel c * E + e is edge e's channel c) and its pointwise convolution is one matrix product
    whose weight is block diagonal up to that interleaving; a first full convolution (``conv``) is one
    convolution to all edges' channels; later stages are one depthwise convolution of all E x C channels
    and one block-diagonal pointwise convolution. One batch norm per stage."""

    def __init__(self, stages: list[list[Stage]]) -> None:
        self.stages = [list(zip(*members)) for members in zip(*stages)]  # per stage: (convs, pws, bns)
        self.edges = len(stages)

    def __call__(self, relu_x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Each edge's outputs, and all of them side by side (edge-major channels)."""
        e = self.edges
        h = relu_x
        for s, (convs, pws, bns) in enumerate(self.stages):
            conv = convs[0]
            c = h.shape[1] if s == 0 else h.shape[1] // e
            if pws[0] is None:  # a full convolution of the shared input: the edges' filters stacked
                weight = torch.cat([current_weight(m) for m in convs])
                h = tight_conv(h, weight, None, conv.stride, conv.padding, conv.dilation, 1)
            else:
                if s == 0:  # depthwise with a channel multiplier: channels c-major
                    weight = torch.stack([current_weight(m) for m in convs], 1).flatten(0, 1)
                    h = tight_conv(h, weight, None, conv.stride, conv.padding, conv.dilation, c)
                else:
                    h = nn.functional.relu(h)
                    weight = torch.cat([current_weight(m) for m in convs])
                    h = tight_conv(h, weight, None, conv.stride, conv.padding, conv.dilation, e * c)
                blocks = torch.block_diag(*[current_weight(m).flatten(1) for m in pws])  # (E*O, E*C), e-major
                if s == 0 and e > 1:  # columns in the depthwise output's order, c * E + e
                    blocks = blocks.reshape(blocks.shape[0], e, c).transpose(1, 2).flatten(1)
                h = _pointwise(h, blocks)
            h = batch_norm(h, list(bns))
        return list(h.chunk(e, dim=1)), h


class BatchedReduce:
    """A group of factorized reduces (``skip`` under a stride) on E edges: from the source's shared ReLU,
    one strided 1x1 convolution for all edges' first halves, one for their second halves (the input offset
    by one), the halves put edge by edge, one batch norm."""

    def __init__(self, modules: list[FactorizedReduce]) -> None:
        self.modules = modules
        self.edges = len(modules)

    def __call__(self, relu_x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        e, first = self.edges, self.modules[0]
        rank = relu_x.dim() - 2
        ones, twos = (1,) * rank, (2,) * rank
        shifted = relu_x[(slice(None), slice(None)) + (slice(1, None),) * first.rank]
        halves = []
        for x, convs in ((relu_x, [m.conv_1 for m in self.modules]), (shifted, [m.conv_2 for m in self.modules])):
            weight = torch.cat([current_weight(c) for c in convs])
            y = tight_conv(x, weight, None, twos, (0,) * rank, ones, 1)
            halves.append(y.movedim(1, -1).unflatten(-1, (e, -1)))  # channels last, per edge
        # edge e's channels: its first half, then its second; concatenated with channels innermost, so that
        # the result keeps the channels-last layout of the rest of the cell
        h = torch.cat(halves, dim=-1).flatten(-2).movedim(-1, 1)
        h = batch_norm(h, [m.bn for m in self.modules])
        return list(h.chunk(e, dim=1)), h


class SourceFusion:
    """The fused groups of one source of a cell and the mixtures of the choice edges that read it.

    ``outputs(x)`` gives every such edge's output. When the edges have the same candidates (a DARTS cell),
    the mixtures run together too: each candidate's term is one product for all E edges (the group's
    outputs side by side, a shared output broadcast over the edges), accumulated in candidate order into
    one tensor whose edge e is edge e's output. Otherwise each edge mixes on its own, reading the groups'
    outputs."""

    def __init__(
        self, groups: tuple[FusionGroup, ...], edge_modules: dict[str, tuple[str, nn.Module, tuple[int, ...]]]
    ) -> None:
        """``edge_modules``: per target node, the edge's name, its MixedEdge and its output shape."""
        self.edge_modules = [(name, module) for name, module, _ in edge_modules.values()]
        self.shapes = {shape for _, _, shape in edge_modules.values()}
        self.shared: list[tuple[nn.Module, list[tuple[str, int]]]] = []
        self.batched: list[tuple[BatchedStack | BatchedReduce, list[tuple[str, int]]]] = []
        for group in groups:
            members = [(edge_modules[t][0], i) for t, i in group.members]
            modules = [edge_modules[t][1].candidates[i] for t, i in group.members]
            if group.kind == "shared":
                self.shared.append((modules[0], members))
                continue
            if all(isinstance(m, FactorizedReduce) for m in modules):
                if all(m.bn.momentum is not None for m in modules):
                    self.batched.append((BatchedReduce(modules), members))  # type: ignore[arg-type]
                continue
            stages = [_stages(m) for m in modules]
            if all(s is not None and len(s) == len(stages[0]) for s in stages):  # else left to the edges
                self.batched.append((BatchedStack(stages), members))  # type: ignore[arg-type]
        self.together = self._mix_together()

    def _mix_together(self) -> dict[int, str] | None:
        """Per candidate index how its term is formed when all edges mix at once ("batched", "shared",
        "identity", "each"), or None when the edges differ (candidates, gates, partial channels)."""
        edges = [m for _, m in self.edge_modules]
        first = edges[0]
        if len(edges) < 2 or len(self.shapes) > 1 or not first.mixes_whole_input:
            return None
        for edge in edges[1:]:
            if (
                not edge.mixes_whole_input
                or edge.active != first.active
                or len(edge.candidates) != len(first.candidates)
            ):
                return None
        how: dict[int, str] = {}
        every = {name for name, _ in self.edge_modules}
        for i in first.active:
            batched = [mem for _, mem in self.batched if {n for n, j in mem if j == i} == every]
            shared = [mem for _, mem in self.shared if {n for n, j in mem if j == i} == every]
            kinds = {type(e.candidates[i]) for e in edges}
            if batched:
                how[i] = "batched"
            elif shared:
                how[i] = "shared"
            elif kinds == {nn.Identity}:
                how[i] = "identity"
            else:
                how[i] = "each"
        return how

    def _given(self, x: torch.Tensor) -> tuple[dict[str, dict[int, torch.Tensor]], dict[int, torch.Tensor]]:
        """The groups' outputs: per edge per candidate index, and per candidate index the whole (all edges'
        channels side by side for a batched group, the one tensor of a shared group)."""
        given: dict[str, dict[int, torch.Tensor]] = {}
        whole: dict[int, torch.Tensor] = {}
        for module, members in self.shared:
            y = module(x)
            whole[members[0][1]] = y
            for name, i in members:
                given.setdefault(name, {})[i] = y
        if self.batched:
            relu_x = nn.functional.relu(x)  # once per source, for every ReLU-conv candidate of every edge
            for stack, members in self.batched:
                parts, y = stack(relu_x)
                whole[members[0][1]] = y
                for (name, i), part in zip(members, parts):
                    given.setdefault(name, {})[i] = part
        return given, whole

    def outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every choice edge's output from the source's value ``x``, by edge name."""
        first = self.edge_modules[0][1]
        part = first.mixed_input(x)  # partial channels: the part every edge of this source mixes
        given, whole = self._given(part)
        if self.together is None:
            return {name: edge(x, given.get(name)) for name, edge in self.edge_modules}
        edges = [edge for _, edge in self.edge_modules]
        e, rank = len(edges), x.dim() - 2
        weights = torch.stack([first.ctx.weights[edge.key] for edge in edges])  # (E, candidates)
        # the sum starts from zeros laid out as a batched group's output (the edges' channels side by side,
        # so that each edge's output is channels-innermost like its candidates'); 0 + y * w is y * w exactly.
        # A fresh tensor, not a view: in-place sums on a view would make autograd hand the gradient back
        # through a channels-first copy of the whole
        template = next((whole[i] for i, how in self.together.items() if how == "batched"), None)
        out = None if template is None else torch.zeros_like(template.unflatten(1, (e, -1)))  # no view: see below
        for i, how in self.together.items():
            if how == "batched":  # (N, E * C, ...) as (N, E, C, ...): edge e's channels are block e
                y = whole[i].unflatten(1, (e, -1))
            elif how == "shared":
                y = whole[i].unsqueeze(1)
            elif how == "identity":
                y = x.unsqueeze(1)
            else:
                y = torch.stack([edge.candidates[i](x) for edge in edges], 1)
            w = weights[:, i].reshape(1, e, *(1,) * (rank + 1))
            out = y * w if out is None else out.addcmul_(y, w)
        if out is None:  # only `none` on these edges
            return {name: x.mul(0.0) for name, _ in self.edge_modules}
        return dict(zip((name for name, _ in self.edge_modules), _EdgeOutputs.apply(out)))


class _EdgeOutputs(torch.autograd.Function):
    """``out.unbind(1)``: the edges' outputs from their mixture side by side, whose backward lays the edges'
    gradients out as ``out`` is laid out (autograd's own would stack them edge-major, and every kernel of the
    backward pass after it would then read a channels-first gradient against channels-last activations)."""

    @staticmethod
    def forward(ctx: Any, out: torch.Tensor) -> tuple[torch.Tensor, ...]:
        ctx.layout = (out.shape, out.stride(), out.dtype, out.device)
        return out.unbind(1)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor | None) -> torch.Tensor:
        shape, stride, dtype, device = ctx.layout
        g = torch.empty_strided(shape, stride, dtype=dtype, device=device)
        for k, gk in enumerate(grads):
            if gk is None:
                g[:, k].zero_()
            else:
                g[:, k].copy_(gk)
        return g
