"""Torch modules of the built-in ops and the compiler's adapters, rank-polymorphic, defined as in the DARTS
and NAS-Bench-201 code. dasdsl.ops.builtin builds the ops from these; build_adapter the adapters.

Convolutions have no bias and are followed by BatchNorm; ``affine`` is False inside
the supernet and True in fixed networks. ``rank`` is the number of spatial
dimensions: 2 for images, 1 for sequences, 0 for vectors.

The classes with ``export_values`` are also the helpers of ``dasdsl export``'s plain-PyTorch file, which
copies them from this source (dasdsl.compiler.export.helper_source): the first paragraph of the
docstring, a constructor taking the ``export_values`` and the built child modules, and ``forward`` as
written here. Their ``forward`` therefore uses only ``torch`` and ``nn``, compiles with ``torch.jit.script``
and exports to ONNX (no indices or dims built at run time); what they build (``conv_cls``'s fast
convolutions) stays in their constructors, which are not copied.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import torch
from torch import nn

from dasdsl.ops.shapes import conv_size


def useful_taps(n: int, k: int, dilation: int, padding: int, stride: int) -> tuple[int, int]:
    """The first and last kernel tap that ever reads a real input element (not padding) along a
    dimension of ``n`` elements; the taps outside never touch the input and contribute exactly 0."""
    length = conv_size(n, k, stride, padding, dilation)
    hits = [t for t in range(k) if any(0 <= j * stride - padding + dilation * t < n for j in range(length))]
    return (hits[0], hits[-1]) if hits else (0, k - 1)


Dims = tuple[int, ...]


@functools.cache
def _crop(spatial: Dims, kernel: Dims, dilation: Dims, padding: Dims, stride: Dims) -> tuple[Dims, Dims]:
    """Per spatial dimension, the taps to drop at each end of the kernel and the padding left."""
    drops, pads = [], []
    for n, k, d, p, s in zip(spatial, kernel, dilation, padding, stride):
        lo, hi = useful_taps(n, k, d, p, s)
        m = min(lo, k - 1 - hi, p // d)
        drops.append(m)
        pads.append(p - d * m)
    return tuple(drops), tuple(pads)


class _TightConv:
    """A convolution that computes exactly what ``nn.ConvNd`` computes, cheaper on small inputs.

    DARTS' cells run 5x5 and dilated kernels on 4x4 and 2x2 maps, where most taps only ever read
    zero padding; oneDNN still pays for them (a dilated 5x5 depthwise conv on a 2x2 map costs 15x a
    3x3 one), and its dilated kernels are slow on any map. Taps that never reach the input are
    cropped (symmetrically, so the output size stays), a depthwise conv cropped to one tap is a
    per-channel scale, a 1x1 conv of a channels-last image is a matrix product, and a dilated conv
    becomes an undilated one of the inputs it reads (every d-th under a stride of d, the d x d
    phases under stride 1). The parameters are those of ``nn.ConvNd``: same names, same
    gradients (the cropped taps' gradient is exactly 0, as it is for the full kernel).
    """

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if self.padding_mode != "zeros" or isinstance(self.padding, str) or x.dim() != len(self.kernel_size) + 2:
            return super()._conv_forward(x, weight, bias)  # type: ignore[misc]
        return tight_conv(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)


def tight_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: Dims,
    padding: Dims,
    dilation: Dims,
    groups: int,
) -> torch.Tensor:
    """``nn.functional.convNd`` with zero padding, computed as :class:`_TightConv` describes (also the
    batched convolutions of the fusion pass, dasdsl.compiler.fused)."""
    rank = weight.dim() - 2
    kernel = tuple(weight.shape[2:])
    drops, pads = _crop(tuple(x.shape[2:]), kernel, dilation, padding, stride)
    if any(drops):
        index = (slice(None), slice(None), *(slice(m, k - m) for m, k in zip(drops, kernel)))
        weight = weight[index]
    taps = tuple(weight.shape[2:])
    if all(t == 1 for t in taps) and not any(pads):
        strided = x[(slice(None), slice(None), *(slice(None, None, s) for s in stride))]
        if groups == x.shape[1] == weight.shape[0]:  # depthwise, one tap: a scale
            shape = (1, -1) + (1,) * rank  # in the input's dtype, as the conv would be under autocast
            y = strided * weight.reshape(shape).to(strided.dtype)
            return y if bias is None else y + bias.reshape(shape).to(strided.dtype)
        if groups == 1 and rank == 2 and x.stride(1) == 1:
            # pointwise on channels-innermost (NHWC) memory: a matrix product; the result is channels-last
            y = nn.functional.linear(strided.permute(0, 2, 3, 1), weight.flatten(1), bias)
            return y.permute(0, 3, 1, 2)
    conv = nn.functional.conv2d if rank == 2 else nn.functional.conv1d
    d = dilation[0]
    if d > 1 and all(e == d for e in dilation) and all(p % d == 0 for p in pads):
        if all(s % d == 0 for s in stride):
            # every output reads only the inputs at multiples of d: an undilated conv of those
            step = tuple(s // d for s in stride)
            every_d = x[(slice(None), slice(None), *(slice(None, None, d),) * rank)]
            return conv(every_d, weight, bias, step, tuple(p // d for p in pads), 1, groups)
        phased = x.device.type == "cpu" and rank == 2 and tuple(stride) == (1, 1) and x.stride(1) == 1
        if phased and all(n % d == 0 for n in x.shape[2:]):  # measured on oneDNN only
            return _phase_conv(x, weight, bias, d, tuple(p // d for p in pads), groups)
    return conv(x, weight, bias, stride, pads, dilation, groups)


def _phase_conv(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, d: int, padding: tuple[int, ...], groups: int
) -> torch.Tensor:
    """A stride-1 conv with dilation d of a channels-last image as an undilated conv of its d x d phases.

    Output (a*d + r) reads inputs (a + t - p/d)*d + r: the phase r only. The phases are stacked on the
    batch axis (one copy in NHWC memory, and one back), which oneDNN runs 1.1-3.5x faster than the
    dilated kernel on the maps of DARTS' cells. The copy is not kept for the backward pass: the conv
    keeps ``x`` instead, as a plain conv would, and the backward pass stacks the phases again."""
    n, c, h, w = x.shape

    def stack(t: torch.Tensor) -> torch.Tensor:
        nhwc = t.permute(0, 2, 3, 1).reshape(n, h // d, d, w // d, d, c)
        return nhwc.permute(0, 2, 4, 1, 3, 5).reshape(n * d * d, h // d, w // d, c).permute(0, 3, 1, 2)

    phases = stack(x)
    copy = id(phases)  # not the tensor: autograd keeps the hooks, and with them what they refer to

    def pack(t: torch.Tensor) -> Any:
        return x if id(t) == copy else (t,)

    def unpack(packed: Any) -> torch.Tensor:
        return packed[0] if isinstance(packed, tuple) else stack(packed)

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        y = nn.functional.conv2d(phases, weight, bias, 1, padding, 1, groups)
    c_out = y.shape[1]
    back = y.permute(0, 2, 3, 1).reshape(n, d, d, h // d, w // d, c_out).permute(0, 3, 1, 4, 2, 5)
    return back.reshape(n, h, w, c_out).permute(0, 3, 1, 2)


class Conv1d(_TightConv, nn.Conv1d):
    pass


class Conv2d(_TightConv, nn.Conv2d):
    pass


def conv_cls(rank: int) -> type[nn.Module]:
    return {1: Conv1d, 2: Conv2d}[rank]


def bn(channels: int, rank: int, affine: bool) -> nn.Module:
    return (nn.BatchNorm1d if rank <= 1 else nn.BatchNorm2d)(channels, affine=affine)


class Zero(nn.Module):
    """`none`: zeros of the output shape (every `stride`-th position under a stride).

    Kept in the graph for its shape; the input's rank (x.dim() - 2) is ``rank``."""

    export_values: ClassVar[tuple[str, ...]] = ("stride",)

    def __init__(self, stride: int, rank: int) -> None:
        super().__init__()
        self.stride = stride
        self.rank = rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1 or x.dim() == 2:
            return x.mul(0.0)
        if x.dim() == 3:
            return x[:, :, :: self.stride].mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the resolution: ReLU, two 1x1 stride-2 convs offset by one position, concatenated, BN (DARTS)."""

    export_values: ClassVar[tuple[str, ...]] = ()

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
        shifted = x[:, :, 1:] if x.dim() == 3 else x[:, :, 1:, 1:]
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


def conv_bn(c_in: int, c_out: int, k: int, stride: int, rank: int, affine: bool) -> nn.Sequential:
    return nn.Sequential(
        conv_cls(rank)(c_in, c_out, k, stride=stride, padding=k // 2, bias=False), bn(c_out, rank, affine)
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
    """NAS-Bench-201's residual block: two ReLU-Conv-BN and a shortcut.

    ReLU-Conv-BN 3x3 (stride s), ReLU-Conv-BN 3x3; the shortcut is an average pool and a 1x1 conv under
    stride 2, a 1x1 ReLU-Conv-BN to another width, else the identity."""

    export_values: ClassVar[tuple[str, ...]] = ()

    def __init__(self, c_in: int, c_out: int, stride: int, rank: int, affine: bool) -> None:
        super().__init__()
        self.conv_a = relu_conv_bn(c_in, c_out, 3, stride, 1, 1, rank, affine)
        self.conv_b = relu_conv_bn(c_out, c_out, 3, 1, 1, 1, rank, affine)
        if stride == 2:
            pool = {1: nn.AvgPool1d, 2: nn.AvgPool2d}[rank]
            # ceil_mode: an odd size n goes to (n + 1) / 2 as through the stride-2 conv (an even size as before)
            self.shortcut: nn.Module = nn.Sequential(
                pool(kernel_size=2, stride=2, padding=0, ceil_mode=True), conv_cls(rank)(c_in, c_out, 1, bias=False)
            )
        elif c_in != c_out:
            self.shortcut = relu_conv_bn(c_in, c_out, 1, 1, 0, 1, rank, affine)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class GlobalAvgPool(nn.Module):
    """The mean over every spatial position."""

    export_values: ClassVar[tuple[str, ...]] = ()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            return x.mean(dim=2)
        return x.mean(dim=(2, 3))


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
