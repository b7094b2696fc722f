"""Every error kind of the checker (and the parser's syntax errors): exact line, column, message, hint.

Each case is a small, otherwise valid space with one mistake, written out in full.
"""

from __future__ import annotations

import pytest
from paths import SPACE_DIR

import dasdsl
from dasdsl import DasError
from dasdsl.cli import main


def diagnostics(text: str) -> tuple:
    with pytest.raises(DasError) as info:
        dasdsl.loads(text, "bad.das")
    return info.value.diagnostics


def errors(text: str) -> list:
    return [d for d in diagnostics(text) if d.severity == "error"]


def the_error(text: str):
    found = errors(text)
    assert len(found) == 1, "\n".join(f"{d.span.line}:{d.span.column}: {d.message}" for d in found)
    return found[0]


def where(d) -> tuple[int, int, str]:
    return (d.span.line, d.span.column, d.message)


# ---- syntax errors (the parser) -------------------------------------------------------
# The parser lists the tokens it expected after a ';'; these tests pin the head of the
# message (what was found), the position and the hint.

SYNTAX = [
    pytest.param(
        """\
space s
input image
let C = = 16
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(C)
}
""",
        (3, 9, "unexpected '='"),
        None,
        id="unexpected-token",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x [skip, conv(3)]
    output y
}
network {
    cells c(8)
}
""",
        (5, 16, "unexpected '['"),
        "an edge is written 'source ~ op' or '(a, b) ~ [op1, op2]'",
        id="missing-tilde",
    ),
    pytest.param(
        """\
space s
input image
let C = 16 $
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(C)
}
""",
        (3, 12, "unexpected character '$'"),
        None,
        id="unexpected-character",
    ),
    pytest.param(
        """\
space s
input image
let C = 16;
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(C)
}
""",
        (3, 11, "unexpected character ';'"),
        "statements end at the end of a line; no ';' is needed",
        id="semicolon",
    ),
    pytest.param(
        """\
space s
input image
ops o = [skip, conv(3)
cell c(k) {
    input x
    node y = x ~ o
    output y
}
network {
    cells c(8)
}
""",
        # newlines inside brackets are not statement ends, so the parser notices at the next token
        (4, 1, "unexpected 'cell'"),
        "the '[' at line 3, column 9 is not closed",
        id="unclosed-bracket",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(8)
""",
        (9, 15, "unexpected end of file"),
        "a '{' block is not closed",
        id="unclosed-brace",
    ),
    pytest.param(
        """\
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(8)
}
""",
        (1, 1, "unexpected 'input'"),
        "a .das file starts with 'space NAME'",
        id="missing-space-header",
    ),
]


@pytest.mark.parametrize(("text", "expected", "hint"), SYNTAX)
def test_syntax_error(text: str, expected: tuple[int, int, str], hint: str | None) -> None:
    d = the_error(text)
    line, column, head = expected
    assert (d.span.line, d.span.column) == (line, column)
    assert d.message.split("; expected")[0] == head
    assert d.hint == hint


def test_syntax_error_lists_what_was_expected() -> None:
    d = the_error("space s\ninput image\nlet C = = 16\n")
    assert d.message.startswith("unexpected '='; expected ")
    assert "a number" in d.message and "a name" in d.message


# ---- semantic errors (the checker) ------------------------------------------------------

VECTOR_HINT = "vector spaces use bn, dropout, ... (every op that accepts a vector)"

CHECK = [
    # -- unknown names
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, sepconv(3)]
    output y
}
network {
    cells c(8)
}
""",
        (5, 25, "unknown op 'sepconv'"),
        "did you mean sep_conv or conv or mbconv?",
        id="unknown-op",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    node z = (x, yy) ~ [skip, conv(3)]
    output z
}
network {
    cells c(8)
}
""",
        (6, 18, "unknown node 'yy' in cell 'c'"),
        "did you mean y?",
        id="unknown-node-in-edge",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output yy
}
network {
    cells c(8)
}
""",
        (6, 12, "unknown node 'yy' in the output of cell 'c'"),
        "did you mean y?",
        id="unknown-node-in-output",
    ),
    pytest.param(
        """\
space s
input image
let Width = 16
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    stem conv_bn(3, out = Widht)
    cells c(Width)
}
""",
        (10, 27, "unknown name 'Widht'"),
        "did you mean Width?",
        id="unknown-constant",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(n)]
    output y
}
network {
    cells c(8)
}
""",
        (5, 30, "unknown name 'n'"),
        "names in scope here: k, classes",
        id="unknown-name-in-cell",
    ),
    pytest.param(
        """\
space s
input image
let A = B + 1
let B = 2
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(A)
}
""",
        (3, 9, "unknown name 'B'"),
        "'B' is defined at line 4; a constant must be defined before it is used",
        id="constant-used-before-definition",
    ),
    pytest.param(
        """\
space s
input image
cell normal(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells normla(8)
}
""",
        (9, 11, "unknown cell or op 'normla'"),
        "did you mean normal?",
        id="unknown-cell-in-network",
    ),
    pytest.param(
        """\
space s
input image
cell normal(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
cell reduce(k) = normla(k) with input stride 2
network {
    cells normal(8), reduce(16)
}
""",
        (8, 18, "unknown cell 'normla'"),
        "did you mean normal?",
        id="unknown-cell-in-derived-cell",
    ),
    pytest.param(
        """\
space s
input image
ops darts = [skip, conv(3), max_pool(3)]
cell c(k) {
    input x
    node y = x ~ dart
    output y
}
network {
    cells c(8)
}
""",
        (6, 18, "unknown op or op set 'dart'"),
        "did you mean darts?",
        id="unknown-op-set",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(8)
}
search {
    epoch 5
}
""",
        (12, 5, "unknown search setting 'epoch'"),
        "did you mean epochs?",
        id="unknown-search-setting",
    ),
    pytest.param(
        """\
space s
input imag
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(8)
}
""",
        (2, 7, "unknown input kind 'imag'"),
        "did you mean image?",
        id="unknown-input-kind",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    node z = (x, y) ~ [skip, conv(3)] merge cat
    output z
}
network {
    cells c(8)
}
""",
        (6, 45, "unknown merge 'cat'"),
        "did you mean concat?",
        id="unknown-merge",
    ),
    # -- duplicates
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
cell c(k) {
    input x
    node y = x ~ [skip, max_pool(3)]
    output y
}
network {
    cells c(8)
}
""",
        (8, 6, "duplicate name 'c': already defined as cell at line 3"),
        "rename one of them",
        id="duplicate-cell",
    ),
    pytest.param(
        """\
space s
input image
let C = 16
let C = 32
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(C)
}
""",
        (4, 5, "duplicate name 'C': already defined as constant at line 3"),
        "rename one of them",
        id="duplicate-constant",
    ),
    pytest.param(
        """\
space s
input image
let o = 3
ops o = [skip, conv(3)]
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(o)
}
""",
        (4, 5, "duplicate name 'o': already defined as constant at line 3"),
        "rename one of them",
        id="duplicate-op-set-and-constant",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    node y = x ~ [skip, max_pool(3)]
    output y
}
network {
    cells c(8)
}
""",
        (6, 10, "duplicate name 'y' in cell 'c'"),
        "'y' is already defined at line 5",
        id="duplicate-node",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x, x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(8)
}
""",
        (4, 14, "duplicate name 'x' in cell 'c'"),
        "the inputs of a cell have distinct names, e.g. 'input x0, x1'",
        id="duplicate-input",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(3), skip]
    output y
}
network {
    cells c(8)
}
""",
        (5, 34, "duplicate candidate 'skip'"),
        "each candidate may appear once in a choice",
        id="duplicate-candidate",
    ),
    pytest.param(
        """\
space s
input image
cell c(k, k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(8, 8)
}
""",
        (3, 11, "duplicate parameter 'k'"),
        None,
        id="duplicate-parameter",
    ),
    pytest.param(
        """\
space s
input image
let classes = 10
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(8)
}
""",
        (3, 5, "'classes' is reserved (the number of classes of the data)"),
        None,
        id="reserved-name",
    ),
    pytest.param(
        """\
space s
input image
ops conv = [skip, max_pool(3)]
cell c(k) {
    input x
    node y = x ~ [skip, max_pool(3)]
    output y
}
network {
    cells c(8)
}
""",
        (3, 5, "'conv' is a built-in op and cannot be redefined"),
        None,
        id="builtin-redefined",
    ),
    # -- graph structure
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node a = (x, b) ~ [skip, conv(3)]
    node b = a ~ [skip, conv(3)]
    output b
}
network {
    cells c(8)
}
""",
        (6, 14, "cycle in cell 'c': a -> b -> a"),
        "a cell is a DAG: a node may only read inputs and nodes that do not depend on it",
        id="cycle",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = (x, y) ~ [skip, conv(3)]
    output y
}
network {
    cells c(8)
}
""",
        (5, 18, "node 'y' reads itself"),
        "a cell is a DAG",
        id="node-reads-itself",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = (x, x) ~ [skip, conv(3)]
    output y
}
network {
    cells c(8)
}
""",
        (5, 18, "node 'y' reads 'x' twice"),
        "one edge per source; list candidates in []",
        id="node-reads-twice",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    node z = x ~ [skip, max_pool(3)]
    output y
}
network {
    cells c(8)
}
""",
        (6, 10, "node 'z' does not reach the output of cell 'c'"),
        "use 'z' in a later node or in the output",
        id="node-does-not-reach-output",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
}
network {
    cells c(8)
}
""",
        (3, 6, "cell 'c' has no 'output'"),
        "add 'output NODE' as the cell's last line",
        id="cell-without-output",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(8)
}
""",
        (3, 6, "cell 'c' has no 'input'"),
        "add 'input x' as the cell's first line",
        id="cell-without-input",
    ),
    # -- keep
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x0, x1
    node y = (x0, x1) ~ [skip, conv(3)] keep 3
    output y
}
network {
    cells c(8)
}
""",
        (5, 46, "keep 3 is larger than the fan-in of node 'y' (2 edges)"),
        "keep at most 2",
        id="keep-larger-than-fan-in",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x0, x1
    node y = (x0, x1) ~ [skip, conv(3)] keep 0
    output y
}
network {
    cells c(8)
}
""",
        (5, 46, "keep 0 on node 'y' keeps no edge"),
        "keep between 1 and 2, or no 'keep' to keep every edge",
        id="keep-zero",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x0, x1
    node y = (x0, x1) ~ [skip, conv(3)] keep 1.5
    output y
}
network {
    cells c(8)
}
""",
        (5, 46, "keep must be an integer, got 1.5"),
        None,
        id="keep-float",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x0, x1
    node y = x0 ~ [none, skip], x1 ~ none keep 2
    output y
}
network {
    cells c(8)
}
""",
        (5, 48, "keep 2 on node 'y', but only 1 of its 2 edges has a candidate other than 'none'"),
        "'keep' never keeps a 'none' edge: add candidates or lower keep",
        id="keep-more-than-non-none-edges",
    ),
    # -- empty candidate lists
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ []
    output y
}
network {
    cells c(8)
}
""",
        (5, 18, "empty candidate list"),
        "list at least one op, e.g. [skip, conv(3)]",
        id="empty-inline-list",
    ),
    pytest.param(
        """\
space s
input image
ops nothing = []
cell c(k) {
    input x
    node y = x ~ nothing
    output y
}
network {
    cells c(8)
}
""",
        (3, 15, "empty candidate list in op set 'nothing'"),
        "list at least one op",
        id="empty-op-set",
    ),
    # -- arguments
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, max_pool(3, 2)]
    output y
}
network {
    cells c(8)
}
""",
        (5, 37, "'max_pool' takes 1 argument, got 2"),
        "signature: max_pool(k)",
        id="too-many-positional",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip(1), conv(3)]
    output y
}
network {
    cells c(8)
}
""",
        (5, 24, "'skip' takes no arguments, got 1"),
        "signature: skip()",
        id="argument-to-op-without-parameters",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, sep_conv]
    output y
}
network {
    cells c(8)
}
""",
        (5, 25, "'sep_conv' is missing argument 'k'"),
        "signature: sep_conv(k, out = ...)",
        id="missing-required-argument",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, dil_conv(3, dilaton = 2)]
    output y
}
network {
    cells c(8)
}
""",
        (5, 37, "'dil_conv' has no parameter 'dilaton'"),
        "did you mean dilation?",
        id="unknown-keyword",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(3, k = 5)]
    output y
}
network {
    cells c(8)
}
""",
        (5, 33, "'conv' got parameter 'k' twice"),
        None,
        id="argument-given-twice",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(3.5)]
    output y
}
network {
    cells c(8)
}
""",
        (5, 30, "'conv' argument 'k' must be an integer, got 3.5"),
        None,
        id="float-where-integer-needed",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, dropout(1.5)]
    output y
}
network {
    cells c(8)
}
""",
        (5, 33, "'dropout' argument 'p' must be in [0, 1), got 1.5"),
        None,
        id="probability-out-of-range",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(8, 3)
}
""",
        (9, 16, "cell 'c' takes 1 argument, got 2"),
        "signature: c(k)",
        id="cell-too-many-arguments",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c x 2
}
""",
        (9, 11, "cell 'c' is missing argument 'k'"),
        "signature: c(k)",
        id="cell-missing-argument",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(8) x 0
}
""",
        (9, 18, "a repeat count must be positive, got 0"),
        None,
        id="repeat-zero",
    ),
    # -- vector inputs and input shapes
    pytest.param(
        """\
space s
input vector
cell m(k) {
    input x
    node h = x ~ [linear(k), skip]
    output h
}
cell r(k) = m(k) with input stride 2
network {
    cells m(32), r(32)
}
""",
        (8, 18, "'with input stride' needs image or sequence input; this space's input is vector"),
        "a vector has no resolution to reduce: remove 'with input stride'",
        id="stride-on-vector",
    ),
    pytest.param(
        """\
space s
input vector
cell down(k) with input stride 2 {
    input x
    node h = x ~ [linear(k), skip]
    output h
}
network {
    cells down(32)
}
""",
        (3, 14, "'with input stride' needs image or sequence input; this space's input is vector"),
        "a vector has no resolution to reduce: remove 'with input stride'",
        id="stride-on-vector-cell-declaration",
    ),
    pytest.param(
        """\
space s
input vector
cell m(k) {
    input x
    node h = x ~ [linear(k), max_pool(3)]
    output h
}
network {
    cells m(32)
}
""",
        (5, 30, "'max_pool' is pooling and needs image or sequence input; this space's input is vector"),
        VECTOR_HINT,
        id="pooling-on-vector",
    ),
    pytest.param(
        """\
space s
input vector
cell m(k) {
    input x
    node h = x ~ [linear(k), conv(3)]
    output h
}
network {
    cells m(32)
}
""",
        (5, 30, "'conv' is a spatial op and needs image or sequence input; this space's input is vector"),
        VECTOR_HINT,
        id="conv-on-vector",
    ),
    pytest.param(
        """\
space s
input image(3, 32)
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(8)
}
""",
        (2, 12, "input image takes 3 sizes (C, H, W), got 2"),
        "e.g. 'input image(3, 32, 32)', or 'input image' to take the sizes from the data",
        id="input-shape-wrong-rank",
    ),
    pytest.param(
        """\
space s
input image(3, 0, 32)
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(8)
}
""",
        (2, 16, "an input size must be positive, got 0"),
        None,
        id="input-size-zero",
    ),
    pytest.param(
        """\
space s
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(8)
}
""",
        (1, 1, "missing 'input' declaration"),
        "add 'input image', 'input sequence' or 'input vector'",
        id="missing-input-declaration",
    ),
    # -- constants
    pytest.param(
        """\
space s
input image
let C = 16 // 0
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(C)
}
""",
        (3, 9, "division by zero"),
        None,
        id="division-by-zero",
    ),
    pytest.param(
        """\
space s
input image
let Z = 0
let C = 16 // (Z * 2)
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(C)
}
""",
        (4, 9, "division by zero"),
        None,
        id="division-by-folded-zero",
    ),
    # -- recursion
    pytest.param(
        """\
space s
input image
cell normal(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
cell reduce(k) = reduce(k) with input stride 2
network {
    cells normal(8), reduce(16)
}
""",
        (8, 18, "cell 'reduce' is derived from itself"),
        "derive a cell from a cell declared with a '{ ... }' body",
        id="cell-derived-from-itself",
    ),
    pytest.param(
        """\
space s
input image
cell a(k) = b(k)
cell b(k) = a(k) with input stride 2
network {
    cells a(8), b(16)
}
""",
        (3, 13, "cell 'a' is derived from itself: a -> b -> a"),
        "derive a cell from a cell declared with a '{ ... }' body",
        id="cells-derived-from-each-other",
    ),
    pytest.param(
        """\
space s
input image
op deep(k) = conv(k) then deep(k)
cell c(k) {
    input x
    node y = x ~ [skip, deep(3)]
    output y
}
network {
    cells c(8)
}
""",
        (3, 27, "op 'deep' is defined in terms of itself"),
        "an op may only use built-in ops and ops defined without it",
        id="op-defined-in-terms-of-itself",
    ),
    pytest.param(
        """\
space s
input image
op f(k) = g(k)
op g(k) = conv(k) then f(k)
cell c(k) {
    input x
    node y = x ~ [skip, f(3)]
    output y
}
network {
    cells c(8)
}
""",
        (3, 11, "op 'f' is defined in terms of itself: f -> g -> f"),
        "an op may only use built-in ops and ops defined without it",
        id="ops-defined-in-terms-of-each-other",
    ),
    # -- cells used as ops, shared architecture parameters
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    node z = (x, y) ~ [skip, conv(3)] keep k // 8
    output z
}
network {
    cells c(8), c(16)
}
""",
        (
            10,
            17,
            "instances of cell 'c' differ but share architecture parameters: "
            "node 'z' keeps 1 edge in c(8) and 2 edges in c(16)",
        ),
        "declare 'unshared cell c' to give each instance its own architecture parameters",
        id="shared-instances-differ",
    ),
    pytest.param(
        """\
space s
input image
cell pair(k) {
    input a, b
    node y = (a, b) ~ [skip, conv(3)]
    output y
}
cell c(k) {
    input x
    node y = x ~ [skip, pair(k)]
    output y
}
network {
    cells c(8)
}
""",
        (10, 25, "cell 'pair' has 2 inputs and cannot be used as an op"),
        "a cell used as an op (a candidate on an edge) reads exactly one input",
        id="two-input-cell-used-as-op",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, c(k)]
    output y
}
network {
    cells c(8)
}
""",
        (5, 25, "cell 'c' contains itself"),
        "a cell used as an op may not use, directly or through other cells, the cell it is in",
        id="cell-contains-itself",
    ),
    pytest.param(
        """\
space s
input image
unshared cell inner(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
cell c(k) {
    input x
    node y = x ~ [max_pool(3), inner(k)]
    output y
}
network {
    cells c(8)
}
""",
        (10, 32, "cell 'inner' is used as an op and cannot be unshared"),
        "remove 'unshared' from the declaration of 'inner'",
        id="unshared-cell-used-as-op",
    ),
    pytest.param(
        """\
space s
input image
ops o = [skip, conv(3)]
cell c(k) {
    input x
    node y = x ~ o then bn
    output y
}
network {
    cells c(8)
}
""",
        (6, 18, "op set 'o' is a list of candidates, not one op"),
        "use it alone after '~' (x ~ o) or inside a candidate list ([o, ...])",
        id="op-set-used-as-one-op",
    ),
    pytest.param(
        """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(k - 8)]
    output y
}
network {
    cells c(16), c(8)
}
""",
        (5, 30, "'conv' argument 'k' must be positive, got 0"),
        "in the instance c(8) at 9:18",
        id="error-of-one-instance",
    ),
]


@pytest.mark.parametrize(("text", "expected", "hint"), CHECK)
def test_check_error(text: str, expected: tuple[int, int, str], hint: str | None) -> None:
    d = the_error(text)
    assert where(d) == expected
    if hint is VECTOR_HINT:
        # the op library grows: the hint lists every op that accepts a vector, in order
        assert d.hint.startswith("vector spaces use ")
        ops = d.hint.removeprefix("vector spaces use ").split(", ")
        assert ops == sorted(ops)
        assert {"linear", "relu", "gelu", "tanh", "bn", "dropout", "skip", "none"} <= set(ops)
        assert not {"conv", "max_pool", "avg_pool", "sep_conv", "global_avg_pool"} & set(ops)
    else:
        assert d.hint == hint
    assert d.span.file == "bad.das"


def test_error_of_one_instance_keeps_its_hint_and_names_the_instance() -> None:
    text = """\
space s
input image
cell c(k) {
    input x0, x1
    node y = (x0, x1) ~ [skip, conv(3)] keep k
    output y
}
network {
    cells c(1), c(3)
}
"""
    d = the_error(text)
    assert where(d) == (5, 46, "keep 3 is larger than the fan-in of node 'y' (2 edges)")
    assert d.hint == "keep at most 2; in the instance c(3) at 9:17"


def test_missing_network_block() -> None:
    text = """\
space s
input image
"""
    assert [where(d) for d in errors(text)] == [(1, 1, "missing 'network' block")]


def test_caret_covers_the_culprit_token() -> None:
    d = the_error(CHECK[0].values[0])  # unknown op 'sepconv'
    assert (d.span.end_line, d.span.end_column) == (5, 25 + len("sepconv"))


# ---- several errors, warnings, rendering ---------------------------------------------------

THREE_ERRORS = """\
space s
input image
let C = 16
cell c(k) {
    input x0, x1
    node y = (x0, x1) ~ [skip, sepconv(3)] keep 3
    output y
}
network {
    stem conv_bn(3, out = D)
    cells c(C)
}
"""


def test_independent_errors_are_all_reported_in_line_order() -> None:
    assert [where(d) for d in errors(THREE_ERRORS)] == [
        (6, 32, "unknown op 'sepconv'"),
        (6, 49, "keep 3 is larger than the fan-in of node 'y' (2 edges)"),
        (10, 27, "unknown name 'D'"),
    ]


def test_errors_in_separate_statements_are_all_reported() -> None:
    text = """\
space s
input image
let A = 1 // 0
ops o = []
op f(k) = conv(k) then f(k)
cell c(k) {
    input x
    node y = x ~ [skip, maxpool(3)]
    output yy
}
cell r(k) = q(k) with input stride 2
network {
    cells c(8), r(16), d(3)
}
search {
    epoch 5
}
"""
    assert [where(d)[:2] for d in errors(text)] == [
        (3, 9),
        (4, 9),
        (5, 24),
        (8, 25),
        (9, 12),
        (11, 13),
        (13, 24),
        (16, 5),
    ]


def test_errors_in_one_cell_are_all_reported() -> None:
    text = """\
space s
input image
cell c(k) {
    input x, y
    node a = (x, b) ~ [skip, convv(3)]
    node b = a ~ [skip, conv(3)]
    node d = x ~ conv(3)
    output b
}
network {
    cells c(8)
}
"""
    assert [(d.severity, *where(d)) for d in diagnostics(text)] == [
        ("warning", 4, 14, "input 'y' of cell 'c' is never read (dead input)"),
        ("error", 5, 30, "unknown op 'convv'"),
        ("error", 6, 14, "cycle in cell 'c': a -> b -> a"),
        ("error", 7, 10, "node 'd' does not reach the output of cell 'c'"),
    ]


def test_rendered_error_has_location_source_line_caret_and_hint() -> None:
    text = """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, sepconv(3)]
    output y
}
network {
    cells c(8)
}
"""
    with pytest.raises(DasError) as info:
        dasdsl.loads(text, "bad.das")
    lines = info.value.render().splitlines()
    assert lines[0] == "bad.das:5:25: error: unknown op 'sepconv'"
    assert lines[1].strip() == "node y = x ~ [skip, sepconv(3)]"
    source, caret = lines[1], lines[2]
    assert source[caret.index("^") :].startswith("sepconv")
    assert caret.strip() == "^" * len("sepconv")
    assert lines[3] == "  hint: did you mean sep_conv or conv or mbconv?"
    assert str(info.value) == info.value.render()


def test_rendered_caret_starts_under_the_column() -> None:
    with pytest.raises(DasError) as info:
        dasdsl.loads(THREE_ERRORS, "bad.das")
    rendered = info.value.render().splitlines()
    for d in info.value.errors:
        header = f"bad.das:{d.span.line}:{d.span.column}: error: {d.message}"
        i = rendered.index(header)
        source, caret = rendered[i + 1], rendered[i + 2]
        indent = len(source) - len(THREE_ERRORS.splitlines()[d.span.line - 1])
        assert caret.index("^") - indent == d.span.column - 1


DEAD_INPUT = """\
space s
input image
ops unused = [skip, conv(3)]
cell c(k) {
    input x0, x1
    node y = x0 ~ [skip, conv(3)]
    output y
}
cell spare(k) {
    input x
    node y = x ~ skip
    output y
}
network {
    cells c(8)
}
"""


def test_warnings_do_not_fail_the_check() -> None:
    space = dasdsl.loads(DEAD_INPUT, "ok.das")
    assert [(w.severity, *where(w)) for w in space.warnings] == [
        ("warning", 3, 5, "op set 'unused' is never used"),
        ("warning", 5, 15, "input 'x1' of cell 'c' is never read (dead input)"),
        ("warning", 9, 6, "cell 'spare' is never used"),
    ]
    rendered = space.warnings[1].render(DEAD_INPUT)
    assert rendered.splitlines()[0] == "ok.das:5:15: warning: input 'x1' of cell 'c' is never read (dead input)"


def test_dead_nodes_are_warnings() -> None:
    text = """\
space s
input image
cell c(k) {
    input x0, x1
    node a = x0 ~ none
    node b = (a, x1) ~ [skip, conv(3)]
    node d = x0 ~ conv(3)
    node e = (b, d) ~ [skip, conv(3)], x1 ~ none
    output e
}
network {
    cells c(8)
}
"""
    space = dasdsl.loads(text, "ok.das")
    assert [where(w) for w in space.warnings] == [
        (5, 10, "node 'a' of cell 'c' is always zero (dead node)"),
    ]
    text = text.replace("node e = (b, d) ~ [skip, conv(3)], x1 ~ none", "node e = b ~ [skip, conv(3)], d ~ none")
    space = dasdsl.loads(text, "ok.das")
    assert [where(w) for w in space.warnings] == [
        (4, 11, "input 'x0' of cell 'c' never affects the output (dead input)"),
        (5, 10, "node 'a' of cell 'c' is always zero (dead node)"),
        (7, 10, "node 'd' of cell 'c' never affects the output (dead node)"),
    ]


def test_warnings_are_reported_alongside_errors() -> None:
    text = DEAD_INPUT.replace("cells c(8)", "cells c(8, 1)")
    found = diagnostics(text)
    assert [(d.severity, d.span.line) for d in found] == [
        ("warning", 3),
        ("warning", 5),
        ("warning", 9),
        ("error", 15),
    ]


# ---- the command line ---------------------------------------------------------------------


BAD = """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, sepconv(3)]
    output y
}
network {
    cells c(8)
}
"""


def test_cli_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(SPACE_DIR / "darts.das")]) == 0
    out = capsys.readouterr().out
    assert "1,076,746,950,455,072,400 architectures" in out


def test_cli_check_counts_nb201(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(SPACE_DIR / "nb201.das")]) == 0
    assert "15,625 architectures" in capsys.readouterr().out


def test_cli_check_bad_file(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.das"
    bad.write_text(BAD, encoding="utf-8")
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[0] == f"{bad}:5:25: error: unknown op 'sepconv'"
    assert "Traceback" not in err


def test_cli_check_good_and_bad_files(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.das"
    bad.write_text(BAD, encoding="utf-8")
    assert main(["check", str(SPACE_DIR / "nb201.das"), str(bad)]) == 1
    captured = capsys.readouterr()
    assert "15,625 architectures" in captured.out
    assert "unknown op 'sepconv'" in captured.err


def test_cli_missing_file(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.das"
    assert main(["check", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"{missing}: error: no such file: {missing}"]


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["check"], ["check", "--bogus", str(SPACE_DIR / "darts.das")]])
def test_cli_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert "Traceback" not in capsys.readouterr().err
