"""Checked space to IR: the data checked against the space, then the compiler's passes
(dasdsl.compiler.passes: shapes, adapters, choices, fusion) over an empty IR."""

from __future__ import annotations

from dasdsl.compiler.ir import NetworkIR, lint
from dasdsl.compiler.passes import run_passes
from dasdsl.errors import fail
from dasdsl.lang.checked import CheckedSpace
from dasdsl.lang.classes import bind_classes
from dasdsl.ops.shapes import Shape
from dasdsl.wording import shape_text


def build_ir(space: CheckedSpace, input_shape: Shape, classes: int) -> NetworkIR:
    """Lower a checked space, for data of ``input_shape`` (C, *spatial) and ``classes`` classes."""
    rank = {"image": 3, "sequence": 2, "vector": 1}[space.input_kind]
    where = next((s.span for s in space.module.body if type(s).__name__ == "InputDecl"), space.module.span)
    if len(input_shape) != rank:
        raise fail(
            f"the data has shape {shape_text(input_shape)}, but the space's input is {space.input_kind} ({rank} sizes)",
            where,
        )
    if space.input_shape is not None and tuple(space.input_shape) != tuple(input_shape):
        raise fail(
            f"the space declares input {shape_text(space.input_shape)}, "
            f"but the data has shape {shape_text(input_shape)}",
            where,
        )
    declared = space.input_classes
    if declared is not None and classes > declared:
        raise fail(f"the space declares {declared} classes, but the data's labels run up to {classes - 1}", where)
    classes = declared or classes  # a stated class count sizes the classifier, also where some class is absent
    space = bind_classes(space, classes)  # `classes` in the space's op arguments, evaluated
    ir = run_passes(NetworkIR(space, tuple(input_shape), classes))
    lint(ir)
    return ir
