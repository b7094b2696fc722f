"""Shape rules of the built-in ops: (C, *spatial) in, stride from context, (C, *spatial) out.

Pure Python (no torch) so that the IR passes can infer shapes without building modules.
A shape is a tuple: (C, H, W) for images, (C, L) for sequences, (F,) for vectors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Shape = tuple[int, ...]


class ShapeError(Exception):
    """An op cannot take the shape it is given; the IR builder adds the .das location."""


def conv_size(size: int, k: int, stride: int, padding: int, dilation: int = 1) -> int:
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def _spatial(shape: Shape, name: str) -> None:
    if len(shape) < 2:
        raise ShapeError(f"'{name}' needs an image or sequence, got a vector of {shape[0]} features")


def _map_spatial(shape: Shape, fn: Callable[[int], int], name: str) -> Shape:
    _spatial(shape, name)
    sizes = tuple(fn(s) for s in shape[1:])
    if any(s < 1 for s in sizes):
        raise ShapeError(f"'{name}' shrinks {'x'.join(map(str, shape[1:]))} to nothing")
    return (shape[0], *sizes)


def _even_for_reduce(shape: Shape, name: str) -> None:
    odd = [s for s in shape[1:] if s % 2]
    if odd:
        raise ShapeError(
            f"'{name}' with stride 2 is a factorized reduce, which needs even sizes; "
            f"got {'x'.join(map(str, shape[1:]))}"
        )


def reduce_shape(shape: Shape, c_out: int, stride: int, name: str) -> Shape:
    """Factorized reduce (DARTS): two offset 1x1 convs of stride 2, concatenated."""
    if stride != 2:
        raise ShapeError(f"'{name}' can only reduce by stride 2, not {stride}")
    _spatial(shape, name)
    _even_for_reduce(shape, name)
    if c_out % 2:
        raise ShapeError(f"a factorized reduce needs an even channel count, got {c_out}")
    return (c_out, *(s // 2 for s in shape[1:]))


def op_shape(name: str, args: dict[str, Any], shape: Shape, stride: int) -> Shape:
    """Output shape of a built-in op."""
    c = shape[0]
    out = args.get("out") or c
    own_stride = args.get("stride")
    s = own_stride if own_stride is not None else stride
    if name == "none":
        if len(shape) == 1:
            return shape
        return _map_spatial(shape, lambda n: (n - 1) // s + 1, name)
    if name == "skip":
        if s == 1:
            return shape
        return reduce_shape(shape, c, s, name)
    if name in ("max_pool", "avg_pool"):
        k = args["k"]
        return _map_spatial(shape, lambda n: conv_size(n, k, s, k // 2), name)
    if name in ("conv", "conv_bn", "sep_conv", "dil_conv"):
        k = args["k"]
        d = args.get("dilation") or 1
        if name == "sep_conv":
            d = 1
        pad = d * (k - 1) // 2
        return (out, *_map_spatial(shape, lambda n: conv_size(n, k, s, pad, d), name)[1:])
    if name == "resblock":
        return (args["out"], *_map_spatial(shape, lambda n: conv_size(n, 3, s, 1), name)[1:])
    if name == "widen":
        return (args["out"], *shape[1:])
    if name == "linear":
        if len(shape) != 1:
            raise ShapeError(
                f"'linear' needs a vector, got shape {'x'.join(map(str, shape))}; add global_avg_pool or flatten"
            )
        return (args["out"],)
    if name in ("relu", "gelu", "tanh", "bn", "dropout"):
        return shape
    if name == "global_avg_pool":
        _spatial(shape, name)
        return (c,)
    if name == "flatten":
        n = 1
        for size in shape:
            n *= size
        return (n,)
    raise AssertionError(f"no shape rule for op {name!r}")
