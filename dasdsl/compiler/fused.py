"""Torch lowering of the fusion groups (dasdsl.compiler.fuse): one computation per group of candidates.

The candidates keep their own modules and parameters (state dicts, weight inheritance and the second-order
step's functional calls see no difference); a fused computation reads their weights at every forward and
puts them side by side. Exactness: every output channel is computed from the same inputs and weights as
its candidate computes it; only the order of floating-point additions inside a kernel may differ.
"""

from __future__ import annotations

import torch
from torch import nn

from dasdsl.compiler.fuse import FusionGroup
from dasdsl.ops.modules import tight_conv

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


def _stages(module: nn.Module) -> list[tuple[nn.Module, nn.Module, nn.Module]] | None:
    """(depthwise, pointwise, BN) per ReLU-conv stage of a sep_conv / dil_conv module, None if it is not
    one (a stage with a bias, a BN without running statistics or momentum: left unfused)."""
    layers = list(module.children()) if isinstance(module, nn.Sequential) else []
    if not layers or len(layers) % 4:
        return None
    stages = []
    for i in range(0, len(layers), 4):
        relu, dw, pw, bn = layers[i : i + 4]
        ok = (
            isinstance(relu, nn.ReLU)
            and isinstance(dw, _CONV)
            and isinstance(pw, _CONV)
            and isinstance(bn, _BN)
            and dw.groups == dw.in_channels == dw.out_channels
            and pw.groups == 1
            and all(k == 1 for k in pw.kernel_size)
            and dw.bias is None
            and pw.bias is None
            and dw.padding_mode == "zeros"
            and not isinstance(dw.padding, str)
            and bn.momentum is not None
        )
        if not ok:
            return None
        stages.append((dw, pw, bn))
    return stages


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
        with torch.no_grad():
            for b, m, v in zip(bns, mean.split(width), var.split(width)):
                b.running_mean.copy_(m)
                b.running_var.copy_(v)
                b.num_batches_tracked.add_(1)
    return y


def _pointwise(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    rank = x.dim() - 2
    w = weight.reshape(*weight.shape, *(1,) * rank)
    return tight_conv(x, w, None, (1,) * rank, (0,) * rank, (1,) * rank, 1)


class BatchedStack:
    """A group of ReLU-conv stacks on E edges, stage by stage: the first depthwise convolution reads the
    source's ReLU once with a channel multiplier E (output channel c * E + e is edge e's channel c), its
    pointwise convolution is one matrix product whose weight is block diagonal up to that interleaving
    (output channels edge by edge), later stages are one depthwise convolution of all E x C channels and
    one block-diagonal pointwise convolution; one batch norm per stage."""

    def __init__(self, stages: list[list[tuple[nn.Module, nn.Module, nn.Module]]]) -> None:
        self.stages = [list(zip(*members)) for members in zip(*stages)]  # per stage: (dws, pws, bns)
        self.edges = len(stages)

    def __call__(self, relu_x: torch.Tensor) -> list[torch.Tensor]:
        e = self.edges
        h = relu_x
        for s, (dws, pws, bns) in enumerate(self.stages):
            dw = dws[0]
            c = h.shape[1] if s == 0 else h.shape[1] // e
            if s == 0:
                weight = torch.stack([current_weight(m) for m in dws], 1).flatten(0, 1)  # c-major
                h = tight_conv(h, weight, None, dw.stride, dw.padding, dw.dilation, c)
            else:
                h = nn.functional.relu(h)
                weight = torch.cat([current_weight(m) for m in dws])
                h = tight_conv(h, weight, None, dw.stride, dw.padding, dw.dilation, e * c)
            blocks = torch.block_diag(*[current_weight(m).flatten(1) for m in pws])  # (E*O, E*C), e-major
            if s == 0 and e > 1:  # columns in the depthwise output's order, c * E + e
                blocks = blocks.reshape(blocks.shape[0], e, c).transpose(1, 2).flatten(1)
            h = batch_norm(_pointwise(h, blocks), list(bns))
        return list(h.chunk(e, dim=1))


class SourceFusion:
    """The fused groups of one source of a cell: what each candidate of each group computes from the
    source's value, as {edge name: {candidate index: tensor}} for the edges' mixtures to read."""

    def __init__(self, groups: tuple[FusionGroup, ...], edge_modules: dict[str, tuple[str, nn.Module]]) -> None:
        """``edge_modules``: per target node, the edge's name and its MixedEdge."""
        self.edge_modules = edge_modules
        self.shared: list[tuple[nn.Module, list[tuple[str, int]]]] = []
        self.batched: list[tuple[BatchedStack, list[tuple[str, int]]]] = []
        for group in groups:
            members = [(edge_modules[t][0], i) for t, i in group.members]
            modules = [edge_modules[t][1].candidates[i] for t, i in group.members]
            if group.kind == "shared":
                self.shared.append((modules[0], members))
                continue
            stages = [_stages(m) for m in modules]
            if all(s is not None and len(s) == len(stages[0]) for s in stages):  # else left to the edges
                self.batched.append((BatchedStack(stages), members))  # type: ignore[arg-type]

    def __call__(self, x: torch.Tensor) -> dict[str, dict[int, torch.Tensor]]:
        first = next(iter(self.edge_modules.values()))[1]
        x = first.mixed_input(x)  # partial channels: the part every edge of this source mixes
        given: dict[str, dict[int, torch.Tensor]] = {}
        for module, members in self.shared:
            y = module(x)
            for name, i in members:
                given.setdefault(name, {})[i] = y
        if self.batched:
            relu_x = nn.functional.relu(x)  # once per source, for every ReLU-conv candidate of every edge
            for stack, members in self.batched:
                for (name, i), y in zip(members, stack(relu_x)):
                    given.setdefault(name, {})[i] = y
        return given
