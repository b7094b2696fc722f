"""Shapes and the helpers of ops' shape rules: (C, *spatial) in, stride from context, (C, *spatial) out.

Pure Python (no torch) so that the IR passes can infer shapes without building modules; each
op's own rule is in its registry record (dasdsl.ops.builtin for the built-in ones).
A shape is a tuple: (C, H, W) for images, (C, L) for sequences, (F,) for vectors.
"""

from __future__ import annotations

from collections.abc import Callable

from dasdsl.wording import shape_text

Shape = tuple[int, ...]


class ShapeError(Exception):
    """An op cannot take the shape it is given; the IR builder adds the .das location."""


def conv_size(size: int, k: int, stride: int, padding: int, dilation: int = 1) -> int:
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def require_spatial(shape: Shape, name: str) -> None:
    if len(shape) < 2:
        raise ShapeError(f"'{name}' needs an image or sequence, got a vector of {shape[0]} features")


def map_spatial(shape: Shape, fn: Callable[[int], int], name: str) -> Shape:
    require_spatial(shape, name)
    sizes = tuple(fn(s) for s in shape[1:])
    if any(s < 1 for s in sizes):
        raise ShapeError(f"'{name}' shrinks {shape_text(shape[1:])} to nothing")
    return (shape[0], *sizes)


def _even_for_reduce(shape: Shape, name: str) -> None:
    odd = [s for s in shape[1:] if s % 2]
    if odd:
        raise ShapeError(
            f"'{name}' with stride 2 is a factorized reduce, which needs even sizes; got {shape_text(shape[1:])}"
        )


def reduce_shape(shape: Shape, c_out: int, stride: int, name: str) -> Shape:
    """Factorized reduce (DARTS): two offset 1x1 convs of stride 2, concatenated."""
    if stride != 2:
        raise ShapeError(f"'{name}' can only reduce by stride 2, not {stride}")
    require_spatial(shape, name)
    _even_for_reduce(shape, name)
    if c_out % 2:
        raise ShapeError(f"a factorized reduce needs an even channel count, got {c_out}")
    return (c_out, *(s // 2 for s in shape[1:]))
