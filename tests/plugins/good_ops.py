"""A plugin module for the tests: a squeeze-excite style op and one that lies about its shape."""

from __future__ import annotations

import torch
from torch import nn

import dasdsl
from dasdsl.ops.registry import Param


class _Scale(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain.view(1, -1, *([1] * (x.dim() - 2)))


@dasdsl.op("test_scale", kinds=("image", "sequence"), cost=lambda shape, stride, args: {"params": shape[0]})
def build_scale(shape, stride, args, affine=True):
    return _Scale(shape[0])


@dasdsl.op(
    "test_liar",
    params=[Param("out", "int")],
    kinds=("image", "sequence"),
    output_shape=lambda shape, stride, args: (args["out"], *shape[1:]),
)
def build_liar(shape, stride, args, affine=True):
    return nn.Identity()  # keeps the input width, not `out`
