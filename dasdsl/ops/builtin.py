"""The built-in ops, each defined once: signature, shape rule and torch builder.

They are registered exactly as plugin ops are, through :func:`dasdsl.ops.registry.define`
(``@dasdsl.op`` is the same decorator with ``plugin=True``); the registry imports this module
by name on first use. Adding a built-in op is one block here (and, if it needs a new torch
module, a class or factory in :mod:`dasdsl.ops.modules`; a new class there declares
``export_values`` and ``dasdsl export`` copies it from that source).

Shape rules take (C, *spatial) and the stride of the context; an op with its own ``stride``
argument uses that instead. Builders get the same and ``affine`` (False inside a supernet).
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from dasdsl.ops.registry import REQUIRED, SPATIAL, Param, ShapeRule, define, same_shape
from dasdsl.ops.shapes import Shape, ShapeError, conv_size, map_spatial, reduce_shape, require_spatial
from dasdsl.wording import shape_text

builtin_op = functools.partial(define, plugin=False)  # `define` as plugins use it, marked built in

Args = dict[str, Any]


def _torch() -> tuple[ModuleType, ModuleType]:
    """(dasdsl.ops.modules, torch.nn), imported by the builders only: torch stays off `dasdsl check`."""
    from torch import nn  # torch: kept off `dasdsl check`, which reads only the signatures

    from dasdsl.ops import modules  # torch, likewise

    return modules, nn


def _p(name: str, type_: str = "int", default: object = REQUIRED, positive: bool = True) -> Param:
    return Param(name, type_, default, positive)


_OUT = _p("out", "int", None)


def _stride(stride: int, args: Args) -> int:
    """The op's own ``stride`` argument if it has one, else the context's."""
    own = args.get("stride")
    return own if own is not None else stride


def _out(shape: Shape, args: Args) -> int:
    """The ``out`` argument, or the input width when it is left out."""
    return args.get("out") or shape[0]


# -- zero and identity


def _none_shape(shape: Shape, stride: int, args: Args) -> Shape:
    if len(shape) == 1:
        return shape
    s = _stride(stride, args)
    return map_spatial(shape, lambda n: (n - 1) // s + 1, "none")


@builtin_op("none", output_shape=_none_shape, zero=True)
def _none(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """zeros of the output shape (stride-aware)"""
    modules, _ = _torch()
    return modules.Zero(_stride(stride, args), len(shape) - 1)


def _skip_shape(shape: Shape, stride: int, args: Args) -> Shape:
    s = _stride(stride, args)
    return shape if s == 1 else reduce_shape(shape, shape[0], s, "skip")


@builtin_op("skip", output_shape=_skip_shape, identity=True)
def _skip(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """identity; under stride 2 a factorized reduce"""
    modules, nn = _torch()
    if _stride(stride, args) == 1:
        return nn.Identity()
    return modules.FactorizedReduce(shape[0], shape[0], len(shape) - 1, affine)


# -- pooling


def _pool_shape(name: str) -> ShapeRule:
    def rule(shape: Shape, stride: int, args: Args) -> Shape:
        k, s = args["k"], _stride(stride, args)
        return map_spatial(shape, lambda n: conv_size(n, k, s, k // 2), name)

    return rule


@builtin_op("max_pool", params=[_p("k")], kinds=SPATIAL, output_shape=_pool_shape("max_pool"), what="pooling")
def _max_pool(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """max pooling, padding k//2, stride from context"""
    _, nn = _torch()
    k = args["k"]
    return {1: nn.MaxPool1d, 2: nn.MaxPool2d}[len(shape) - 1](k, stride=_stride(stride, args), padding=k // 2)


@builtin_op("avg_pool", params=[_p("k")], kinds=SPATIAL, output_shape=_pool_shape("avg_pool"), what="pooling")
def _avg_pool(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """average pooling excluding padding, stride from context"""
    _, nn = _torch()
    k = args["k"]
    pool = {1: nn.AvgPool1d, 2: nn.AvgPool2d}[len(shape) - 1]
    return pool(k, stride=_stride(stride, args), padding=k // 2, count_include_pad=False)


def _global_avg_pool_shape(shape: Shape, stride: int, args: Args) -> Shape:
    require_spatial(shape, "global_avg_pool")
    return (shape[0],)


@builtin_op("global_avg_pool", kinds=SPATIAL, output_shape=_global_avg_pool_shape, what="pooling")
def _global_avg_pool(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """mean over all positions: (C, ...) -> (C)"""
    modules, _ = _torch()
    return modules.GlobalAvgPool()


# -- convolutions


def _conv_shape(name: str) -> ShapeRule:
    """Convolutions of kernel k (dilation d, padding d*(k-1)//2) to ``out`` channels (default: the input's)."""

    def rule(shape: Shape, stride: int, args: Args) -> Shape:
        k, d, s = args["k"], args.get("dilation") or 1, _stride(stride, args)
        pad = d * (k - 1) // 2
        return (_out(shape, args), *map_spatial(shape, lambda n: conv_size(n, k, s, pad, d), name)[1:])

    return rule


@builtin_op(
    "conv",
    params=[_p("k"), _OUT, _p("dilation", "int", 1), _p("stride", "int", None)],
    kinds=SPATIAL,
    output_shape=_conv_shape("conv"),
)
def _conv(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """ReLU -> Conv -> BN"""
    modules, _ = _torch()
    k, d = args["k"], args["dilation"]
    s = _stride(stride, args)
    return modules.relu_conv_bn(shape[0], _out(shape, args), k, s, d * (k - 1) // 2, d, len(shape) - 1, affine)


@builtin_op(
    "conv_bn", params=[_p("k"), _OUT, _p("stride", "int", None)], kinds=SPATIAL, output_shape=_conv_shape("conv_bn")
)
def _conv_bn(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """Conv -> BN (stems)"""
    modules, _ = _torch()
    return modules.conv_bn(shape[0], _out(shape, args), args["k"], _stride(stride, args), len(shape) - 1, affine)


@builtin_op("sep_conv", params=[_p("k"), _OUT], kinds=SPATIAL, output_shape=_conv_shape("sep_conv"))
def _sep_conv(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """(ReLU -> depthwise k -> pointwise -> BN) twice"""
    modules, _ = _torch()
    return modules.sep_conv(shape[0], _out(shape, args), args["k"], _stride(stride, args), len(shape) - 1, affine)


@builtin_op(
    "dil_conv",
    params=[_p("k"), _p("dilation", "int", 2), _OUT],
    kinds=SPATIAL,
    output_shape=_conv_shape("dil_conv"),
)
def _dil_conv(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """ReLU -> dilated depthwise -> pointwise -> BN"""
    modules, _ = _torch()
    c, k, d, s, rank = shape[0], args["k"], args["dilation"], _stride(stride, args), len(shape) - 1
    return modules.dil_conv(c, _out(shape, args), k, s, d, rank, affine)


@builtin_op(
    "mbconv",
    params=[_p("k"), _p("expand", "int", 6), _OUT],
    kinds=SPATIAL,
    output_shape=_conv_shape("mbconv"),
)
def _mbconv(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """MobileNetV2 / ProxylessNAS inverted bottleneck: 1x1 expand -> BN -> ReLU6 -> depthwise k -> BN -> ReLU6
    -> 1x1 project -> BN (no residual inside: a cell's sum adds it)"""
    modules, nn = _torch()
    c, k, s, rank = shape[0], args["k"], _stride(stride, args), len(shape) - 1
    wide, conv = c * args["expand"], modules.conv_cls(rank)
    return nn.Sequential(
        conv(c, wide, 1, bias=False),
        modules.bn(wide, rank, affine),
        nn.ReLU6(inplace=False),
        conv(wide, wide, k, stride=s, padding=(k - 1) // 2, groups=wide, bias=False),
        modules.bn(wide, rank, affine),
        nn.ReLU6(inplace=False),
        conv(wide, _out(shape, args), 1, bias=False),
        modules.bn(_out(shape, args), rank, affine),
    )


def _resblock_shape(shape: Shape, stride: int, args: Args) -> Shape:
    s = _stride(stride, args)
    return (args["out"], *map_spatial(shape, lambda n: conv_size(n, 3, s, 1), "resblock")[1:])


@builtin_op("resblock", params=[_p("out"), _p("stride", "int", 2)], kinds=SPATIAL, output_shape=_resblock_shape)
def _resblock(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """NAS-Bench-201 residual reduction block"""
    modules, _ = _torch()
    return modules.ResBlock(shape[0], args["out"], _stride(stride, args), len(shape) - 1, affine)


def _widen_shape(shape: Shape, stride: int, args: Args) -> Shape:
    return (args["out"], *shape[1:])


@builtin_op("widen", params=[_p("out")], output_shape=_widen_shape)
def _widen(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """a learnable 1x1 conv (no BN) to out channels: the width adapter"""
    modules, _ = _torch()
    return modules.build_adapter("widen", shape[0], args["out"], len(shape) - 1, affine)


# -- vectors


def _linear_shape(shape: Shape, stride: int, args: Args) -> Shape:
    if len(shape) != 1:
        raise ShapeError(f"'linear' needs a vector, got shape {shape_text(shape)}; add global_avg_pool or flatten")
    return (args["out"],)


@builtin_op("linear", params=[_p("out")], output_shape=_linear_shape)
def _linear(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """fully connected layer"""
    _, nn = _torch()
    return nn.Linear(shape[0], args["out"])


def _flatten_shape(shape: Shape, stride: int, args: Args) -> Shape:
    n = 1
    for size in shape:
        n *= size
    return (n,)


@builtin_op("flatten", output_shape=_flatten_shape)
def _flatten(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """(C, ...) -> (C * ...)"""
    _, nn = _torch()
    return nn.Flatten()


# -- shape-preserving


@builtin_op("relu", output_shape=same_shape)
def _relu(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """ReLU"""
    _, nn = _torch()
    return nn.ReLU(inplace=False)


@builtin_op("gelu", output_shape=same_shape)
def _gelu(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """GELU"""
    _, nn = _torch()
    return nn.GELU()


@builtin_op("tanh", output_shape=same_shape)
def _tanh(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """tanh"""
    _, nn = _torch()
    return nn.Tanh()


@builtin_op("bn", output_shape=same_shape)
def _bn(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """batch normalisation"""
    modules, _ = _torch()
    return modules.bn(shape[0], len(shape) - 1, affine)


@builtin_op("dropout", params=[Param("p", "float", 0.5, positive=False, bounds=(0, 1))], output_shape=same_shape)
def _dropout(shape: Shape, stride: int, args: Args, *, affine: bool) -> Any:
    """dropout with probability p"""
    _, nn = _torch()
    return nn.Dropout(args.get("p", 0.5))
