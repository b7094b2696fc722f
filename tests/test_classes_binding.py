"""The checked space as the compiler and discretization read it: data (instances, nested instances, cell
declarations, repeat counts), no checker; binding ``classes`` evaluates the op arguments that read it, the
checker not run again, and gives the IR and the errors that checking the space with the count gives."""

from __future__ import annotations

from pathlib import Path

import pytest

import dasdsl
import dasdsl.lang.check
import dasdsl.lang.classes
from dasdsl.compiler.build import build_ir
from dasdsl.compiler.dump import compile_report
from dasdsl.errors import DasError
from dasdsl.lang.checked import CheckedSpace, ClassesArg, Unknown
from dasdsl.lang.classes import bind_classes
from dasdsl.lang.parse import parse

SPACES = Path(__file__).resolve().parent.parent / "spaces"

# classes in op arguments only: in a cell's body, in an op definition, in a nested cell, in the head;
# two instances of the outer cell with different arguments, so the nested cell has two instances too
IN_ARGUMENTS = """\
space s
input image

op head_op(k) = global_avg_pool then linear(classes + k - k)

cell inner(w) {
    input x
    node y = x ~ [skip, conv(3, out = w), conv(1, out = classes * 0 + w)]
    output y
}

cell outer(w) {
    input x
    node a = x ~ [inner(w), conv(3, out = w * classes // classes)]
    output a
}

network {
    stem  conv(3, out = 8)
    cells outer(8) x 2, outer(16)
    head  head_op(3)
}
"""


def _checked(text: str, file: str = "s.das") -> CheckedSpace:
    return dasdsl.check(parse(text, file), text)


def _ir_text(space: CheckedSpace, shape: tuple[int, ...], classes: int) -> str:
    return compile_report(build_ir(space, shape, classes))


def _as_before(space: CheckedSpace, shape: tuple[int, ...], classes: int) -> tuple[str, CheckedSpace]:
    """The IR's text and the space as build_ir made them before: the space checked again with the count."""
    checked = dasdsl.check(space.module, space.source, classes=classes)
    return _ir_text(checked, shape, classes), checked


@pytest.mark.parametrize(
    ("text", "shape", "classes"),
    [
        ((SPACES / "hierarchical.das").read_text(), (1, 8, 8), 10),
        (
            (SPACES / "hierarchical.das").read_text().replace("cells stage(C) x 2", "cells stage(C), stage(2 * C)"),
            (1, 8, 8),
            3,
        ),
        ((SPACES / "mobilenet.das").read_text(), (1, 16, 16), 10),  # searched depths
        (IN_ARGUMENTS, (3, 8, 8), 7),
    ],
    ids=["hierarchical", "hierarchical-two-widths", "depth-choices", "classes-in-arguments"],
)
def test_binding_classes_gives_the_ir_of_checking_with_the_count_without_the_checker(
    text: str, shape: tuple[int, ...], classes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = _checked(text)
    before, checked = _as_before(space, shape, classes)
    monkeypatch.setattr(dasdsl.lang.check, "_run", _refused)
    monkeypatch.setattr(dasdsl.lang.classes, "check", _refused)
    bound = bind_classes(space, classes)
    assert _ir_text(space, shape, classes) == before
    assert (bound.macro, bound.cell_types, dict(bound.nested)) == (
        checked.macro,
        checked.cell_types,
        dict(checked.nested),
    )
    assert bound.classes == classes and bound.unbound is space


def _refused(*args: object, **kwargs: object) -> None:
    raise AssertionError("the checker ran again")


def test_the_checker_leaves_classes_arguments_for_binding() -> None:
    space = _checked(IN_ARGUMENTS)
    head = space.macro.head.steps[-1]
    assert head.name == "linear" and isinstance(head.arg("out"), ClassesArg)
    assert isinstance(head.arg("out"), Unknown) and repr(head.arg("out")) == "<classes>"
    assert not space.classes_elsewhere and space.classes is None
    bound = bind_classes(space, 7)
    assert bound.macro.head.steps[-1].arg("out") == 7
    assert bind_classes(bound, 7) is bound
    assert bind_classes(bound, 5).macro.head.steps[-1].arg("out") == 5  # from the space as checked


def test_the_checked_space_holds_data_not_the_checker() -> None:
    space = dasdsl.load(SPACES / "hierarchical.das")
    assert not hasattr(space, "checker")
    assert set(space.cell_decls) == {"block", "stage"}
    assert space.repeats == (2,)
    (key, block), *rest = space.nested.items()
    assert not rest and key == ("block", (("c", "16"),)) and block.name == "block"
    assert space.instantiate("block", {"c": 16}) is block


def test_a_class_count_that_breaks_an_argument_is_the_checkers_error() -> None:
    text = IN_ARGUMENTS.replace("conv(1, out = classes * 0 + w)", "conv(1, out = w - classes)")
    space = _checked(text)
    with pytest.raises(DasError) as caught:
        build_ir(space, (3, 8, 8), 8)
    (error,) = caught.value.diagnostics
    assert (error.span.line, error.span.column) == (8, 57)
    assert error.message == "'conv' argument 'out' must be positive, got 0"
    assert error.hint == "in the instance inner(8) at 14:19"  # outer(16)'s inner(16) has 8 channels
    with pytest.raises(DasError) as checked:
        dasdsl.check(space.module, space.source, classes=8)
    assert str(caught.value) == str(checked.value)


def test_a_head_that_a_class_count_breaks() -> None:
    text = (SPACES / "pooling.das").read_text().replace("linear(classes)", "linear(classes - 20)")
    with pytest.raises(DasError) as caught:
        build_ir(_checked(text, "pooling.das"), (1, 8, 8), 10)
    (error,) = [d for d in caught.value.diagnostics if d.severity == "error"]
    assert error.message == "'linear' argument 'out' must be positive, got -10"
    assert (error.span.line, error.span.column) == (16, 39)


@pytest.mark.parametrize(
    "change",
    [
        ("cells outer(8) x 2, outer(16)", "cells outer(classes) x 2"),  # a cell's argument
        ("cells outer(8) x 2, outer(16)", "cells outer(8) x classes"),  # a repeat count
        ("space s\n", "space s\nlet K = classes\n"),  # a constant
    ],
    ids=["cell-argument", "repeat", "constant"],
)
def test_where_the_count_decides_the_structure_the_space_is_checked_with_it(change: tuple[str, str]) -> None:
    """A cell's arguments, a repeat count, a constant: the instances follow from the count, so binding checks
    the space with it (the one case besides a failing argument where it does)."""
    space = _checked(IN_ARGUMENTS.replace(*change))
    assert space.classes_elsewhere
    before, checked = _as_before(space, (3, 8, 8), 4)
    assert _ir_text(space, (3, 8, 8), 4) == before
    assert bind_classes(space, 4).macro == checked.macro
