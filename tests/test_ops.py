"""The op modules' fast paths compute exactly what the plain torch modules compute."""

from __future__ import annotations

import itertools

import pytest
import torch
from paths import ROOT
from torch import nn

import dasdsl
from dasdsl.engine.searcher import Searcher, _layout_of
from dasdsl.lang.settings import resolve
from dasdsl.ops import registry
from dasdsl.ops.modules import Conv1d, Conv2d, useful_taps


def _reference(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The plain nn.ConvNd computation with the same weight."""
    plain = nn.Conv2d if isinstance(conv, nn.Conv2d) else nn.Conv1d
    return plain._conv_forward(conv, x, conv.weight, conv.bias)


CASES = [
    # (spatial size, kernel, dilation, stride, depthwise)
    (n, k, d, s, dw)
    for n, k, d, s, dw in itertools.product((1, 2, 3, 4, 5, 6, 8), (1, 3, 5, 7), (1, 2, 3), (1, 2, 3), (True, False))
    if not (k == 1 and d > 1)
]


@pytest.mark.parametrize("n,k,d,s,depthwise", CASES)
@pytest.mark.parametrize("rank,channels_last", [(2, False), (2, True), (1, False)])
def test_tight_conv_equals_plain_conv(n, k, d, s, depthwise, rank, channels_last):
    torch.manual_seed(n * 100 + k * 10 + d + s)
    c = 6
    cls = Conv2d if rank == 2 else Conv1d
    groups, pad = (c if depthwise else 1), d * (k - 1) // 2
    conv = cls(c, c, k, stride=s, padding=pad, dilation=d, groups=groups, bias=not depthwise).double()
    x = torch.randn(3, c, *([n] * rank), dtype=torch.float64)
    if channels_last:
        conv = conv.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    got = conv(x)
    want = _reference(conv, x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    grad_out = torch.randn_like(want)
    got_grads = torch.autograd.grad(got, [x, conv.weight], grad_out)
    want_grads = torch.autograd.grad(want, [x, conv.weight], grad_out)
    for g, w in zip(got_grads, want_grads):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_useful_taps_crop_what_only_reads_padding():
    # a dilated 5x5 kernel on a 2-wide map: only the centre tap ever reads the input
    assert useful_taps(2, 5, 2, 4, 1) == (2, 2)
    # a 5x5 kernel on a 2-wide map: the outer ring reads padding only
    assert useful_taps(2, 5, 1, 2, 1) == (1, 3)
    # on an 8-wide map every tap of a 3x3 kernel is used
    assert useful_taps(8, 3, 1, 1, 1) == (0, 2)


def test_stand_in_weights_keep_the_weights_memory_layout():
    """The unrolled and perturbed weights of second_order keep the channels-last layout of the real ones
    (an NCHW stand-in kernel silently turns the whole supernet's activations NCHW, 1.3x slower)."""
    w = torch.randn(48, 1, 3, 3).contiguous(memory_format=torch.channels_last)
    t = torch.randn(48, 1, 3, 3, requires_grad=True)
    out = _layout_of(t * 2, w)
    assert out.stride() == w.stride()
    out.sum().backward()
    assert torch.equal(t.grad, torch.full_like(t, 2.0))


@pytest.mark.slow
def test_second_order_runs_channels_last_throughout():
    """Every convolution of a second-order step of the DARTS space sees a channels-last input."""
    space = dasdsl.load(ROOT / "spaces" / "darts.das")
    net = space.supernet((1, 8, 8), 10)
    searcher = Searcher(net, resolve(space.search_block))
    layouts: list[bool] = []

    def record(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        x = args[0]
        if x.shape[1] > 1 and x.shape[2] > 1 and x.is_contiguous():  # unambiguous NCHW
            layouts.append(False)
        else:
            layouts.append(True)

    for module in net.modules():
        if isinstance(module, Conv2d):
            module.register_forward_pre_hook(record)
    x = torch.randn(8, 1, 8, 8)
    y = torch.arange(8) % 10
    searcher.arch_step((x, y), (x, y))
    assert layouts and all(layouts)


@pytest.mark.parametrize("stride", [1, 2])
def test_dilated_fast_paths_have_exact_second_derivatives(stride):
    """The exact hypergradient differentiates through the backward pass: the phase conv (whose
    backward restacks the phases from the saved input) and the every-d-th conv must support that."""
    torch.manual_seed(stride)
    conv = Conv2d(2, 2, 3, stride=stride, padding=2, dilation=2, groups=2, bias=False).double()
    conv = conv.to(memory_format=torch.channels_last)
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    weight = conv.weight

    def f(inp: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return conv._conv_forward(inp, w, None)

    assert torch.autograd.gradcheck(f, (x, weight))
    assert torch.autograd.gradgradcheck(f, (x, weight))


@pytest.mark.parametrize("size", [(5, 5), (7, 4), (9,)])
def test_a_stride_2_resblock_runs_on_odd_sizes_as_its_shape_rule_says(size: tuple[int, ...]) -> None:
    """The shortcut's pool rounds up as the stride-2 conv does (5 -> 3 on both paths): the shape rule and the
    module agree on every size the rule takes (an odd size crashed in the sum before)."""
    op = registry.get("resblock")
    shape = (4, *size)
    out = op.output_shape(shape, 1, {"out": 6, "stride": 2})
    y = op.build(shape, 1, {"out": 6, "stride": 2}, affine=True)(torch.randn(2, *shape))
    assert tuple(y.shape[1:]) == tuple(out) == (6, *((n + 1) // 2 for n in size))
