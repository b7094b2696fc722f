"""Torch modules of the built-in ops, rank-polymorphic, defined as in the DARTS and NAS-Bench-201 code.

Convolutions have no bias and are followed by BatchNorm; ``affine`` is False inside
the supernet and True in fixed networks. ``rank`` is the number of spatial
dimensions: 2 for images, 1 for sequences, 0 for vectors.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dasdsl.shapes import Shape


def conv_cls(rank: int) -> type[nn.Module]:
    return {1: nn.Conv1d, 2: nn.Conv2d}[rank]


def bn(channels: int, rank: int, affine: bool) -> nn.Module:
    return (nn.BatchNorm1d if rank <= 1 else nn.BatchNorm2d)(channels, affine=affine)


class Zero(nn.Module):
    """``none``: zeros of the output shape (stride-aware), kept in the graph for its shape."""

    def __init__(self, stride: int, rank: int) -> None:
        super().__init__()
        self.stride = stride
        self.rank = rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1 or self.rank == 0:
            return x.mul(0.0)
        index = (slice(None), slice(None)) + (slice(None, None, self.stride),) * self.rank
        return x[index].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the resolution: ReLU, two 1x1 stride-2 convs offset by one pixel, concat, BN (DARTS)."""

    def __init__(self, c_in: int, c_out: int, rank: int, affine: bool) -> None:
        super().__init__()
        assert c_out % 2 == 0
        conv = conv_cls(rank)
        self.rank = rank
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = conv(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = conv(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = bn(c_out, rank, affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = x[(slice(None), slice(None)) + (slice(1, None),) * self.rank]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def relu_conv_bn(
    c_in: int, c_out: int, k: int, stride: int, padding: int, dilation: int, rank: int, affine: bool
) -> nn.Sequential:
    conv = conv_cls(rank)
    return nn.Sequential(
        nn.ReLU(inplace=False),
        conv(c_in, c_out, k, stride=stride, padding=padding, dilation=dilation, bias=False),
        bn(c_out, rank, affine),
    )


def sep_conv(c_in: int, c_out: int, k: int, stride: int, rank: int, affine: bool) -> nn.Sequential:
    conv, pad = conv_cls(rank), k // 2
    return nn.Sequential(
        nn.ReLU(inplace=False),
        conv(c_in, c_in, k, stride=stride, padding=pad, groups=c_in, bias=False),
        conv(c_in, c_in, 1, padding=0, bias=False),
        bn(c_in, rank, affine),
        nn.ReLU(inplace=False),
        conv(c_in, c_in, k, stride=1, padding=pad, groups=c_in, bias=False),
        conv(c_in, c_out, 1, padding=0, bias=False),
        bn(c_out, rank, affine),
    )


def dil_conv(c_in: int, c_out: int, k: int, stride: int, dilation: int, rank: int, affine: bool) -> nn.Sequential:
    conv = conv_cls(rank)
    return nn.Sequential(
        nn.ReLU(inplace=False),
        conv(c_in, c_in, k, stride=stride, padding=dilation * (k - 1) // 2, dilation=dilation, groups=c_in, bias=False),
        conv(c_in, c_out, 1, padding=0, bias=False),
        bn(c_out, rank, affine),
    )


class ResBlock(nn.Module):
    """NAS-Bench-201's residual block: ReLU-Conv-BN 3x3 (stride s), ReLU-Conv-BN 3x3, plus a shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int, rank: int, affine: bool) -> None:
        super().__init__()
        self.conv_a = relu_conv_bn(c_in, c_out, 3, stride, 1, 1, rank, affine)
        self.conv_b = relu_conv_bn(c_out, c_out, 3, 1, 1, 1, rank, affine)
        if stride == 2:
            pool = {1: nn.AvgPool1d, 2: nn.AvgPool2d}[rank]
            self.shortcut: nn.Module = nn.Sequential(
                pool(kernel_size=2, stride=2, padding=0), conv_cls(rank)(c_in, c_out, 1, bias=False)
            )
        elif c_in != c_out:
            self.shortcut = relu_conv_bn(c_in, c_out, 1, 1, 0, 1, rank, affine)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class GlobalAvgPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=tuple(range(2, x.dim())))


def build_op(name: str, args: dict[str, Any], shape_in: Shape, stride: int, affine: bool) -> nn.Module:
    """A built-in op's module for an input of ``shape_in`` (C, *spatial) under ``stride``."""
    rank = len(shape_in) - 1
    c = shape_in[0]
    out = args.get("out") or c
    s = args.get("stride") if args.get("stride") is not None else stride
    if name == "none":
        return Zero(s, rank)
    if name == "skip":
        return nn.Identity() if s == 1 else FactorizedReduce(c, c, rank, affine)
    if name == "max_pool":
        k = args["k"]
        return {1: nn.MaxPool1d, 2: nn.MaxPool2d}[rank](k, stride=s, padding=k // 2)
    if name == "avg_pool":
        k = args["k"]
        pool = {1: nn.AvgPool1d, 2: nn.AvgPool2d}[rank]
        return pool(k, stride=s, padding=k // 2, count_include_pad=False)
    if name == "conv":
        k, d = args["k"], args.get("dilation") or 1
        return relu_conv_bn(c, out, k, s, d * (k - 1) // 2, d, rank, affine)
    if name == "conv_bn":
        k = args["k"]
        return nn.Sequential(conv_cls(rank)(c, out, k, stride=s, padding=k // 2, bias=False), bn(out, rank, affine))
    if name == "resblock":
        return ResBlock(c, args["out"], s, rank, affine)
    if name == "sep_conv":
        return sep_conv(c, out, args["k"], s, rank, affine)
    if name == "dil_conv":
        return dil_conv(c, out, args["k"], s, args.get("dilation") or 2, rank, affine)
    if name == "linear":
        return nn.Linear(c, args["out"])
    if name == "widen":
        return build_adapter("widen", c, args["out"], rank, affine)
    if name == "relu":
        return nn.ReLU(inplace=False)
    if name == "gelu":
        return nn.GELU()
    if name == "tanh":
        return nn.Tanh()
    if name == "bn":
        return bn(c, rank, affine)
    if name == "dropout":
        return nn.Dropout(args.get("p", 0.5))
    if name == "global_avg_pool":
        return GlobalAvgPool()
    if name == "flatten":
        return nn.Flatten()
    raise AssertionError(f"no module for op {name!r}")


def build_adapter(kind: str, c_in: int, c_out: int, rank: int, affine: bool) -> nn.Module:
    """Modules the compiler inserts: ``reduce`` (factorized reduce), ``project`` (1x1 ReLU-Conv-BN),
    ``widen`` (a learnable 1x1 conv that projects a narrower candidate to the widest width)."""
    if kind == "reduce":
        return FactorizedReduce(c_in, c_out, rank, affine)
    if kind == "project":
        if rank == 0:
            return nn.Sequential(nn.ReLU(inplace=False), nn.Linear(c_in, c_out, bias=False), bn(c_out, 0, affine))
        return relu_conv_bn(c_in, c_out, 1, 1, 0, 1, rank, affine)
    if kind == "widen":
        if rank == 0:
            return nn.Linear(c_in, c_out, bias=False)
        return conv_cls(rank)(c_in, c_out, 1, bias=False)
    raise AssertionError(f"unknown adapter kind {kind!r}")
