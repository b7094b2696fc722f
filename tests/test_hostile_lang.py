"""Hostile input to the language front end (issue 24): value lists and searched depths that multiply into
millions of candidates or combinations, and ``let`` constants given bad values from outside their line
(``--let C=-1``, ``Space.let(C=nan)``, ``train { let C = -1 }``).

A blow-up is counted before anything is expanded and refused past a stated limit (``MAX_CANDIDATES``,
``MAX_DEPTH_COMBINATIONS``) at the offending list, with the number; a given constant is read like a number
in the file and the space is checked with it in place, so its errors point into the user's file with a note
saying where the value came from. Each CLI case asserts the exact ``FILE:LINE:COL: error: MESSAGE`` lines.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

import dasdsl
from dasdsl.cli import main
from dasdsl.errors import DasError
from dasdsl.lang import count
from dasdsl.lang.count import MAX_SHARED_NESTED
from dasdsl.lang.passes import bind, choices
from dasdsl.lang.passes.bind import MAX_CHAIN_STEPS
from dasdsl.lang.passes.choices import MAX_CANDIDATES
from dasdsl.lang.passes.network import MAX_DEPTH_COMBINATIONS

TEN = "[1, 3, 5, 7, 9, 11, 13, 15, 17, 19]"  # ten kernel sizes


def image_space(edge: str, network: str = "cells c", top: str = "") -> str:
    """A one-cell image space whose only node reads ``s0 ~ EDGE`` (on line 6 when ``top`` is one line)."""
    return f"""\
space s
input image
{top}
cell c {{
    input s0
    node n0 = s0 ~ {edge}
    output n0
}}

network {{
    stem  conv_bn(3, out = 8)
    {network}
    head  global_avg_pool then linear(classes)
}}
"""


def chain(lists: int) -> str:
    """``conv(k = TEN) then ...``: one candidate per combination, 10 ** lists of them."""
    return " then ".join([f"conv(k = {TEN})"] * lists)


def depth_space(*depths: str, shared: bool = False) -> str:
    """A vector space whose network line repeats cell b (2 candidates) with the given ``x ...`` each."""
    items = ", ".join(f"b x {d}" for d in depths)
    return f"""\
space d
input vector

{"" if shared else "unshared "}cell b {{
    input x
    node h = x ~ [linear(8), linear(16)]
    output h
}}

network {{
    cells {items}
    head  linear(classes)
}}
"""


def counts(n: int) -> str:
    return "[" + ", ".join(str(i) for i in range(1, n + 1)) + "]"


def _clean(err: str) -> None:
    assert "Traceback" not in err and "internal error" not in err, err


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if ": error: " in line]


def _column(text: str, line: int, needle: str, occurrence: int = 0) -> int:
    """The 1-based column of the ``occurrence``-th ``needle`` on ``line``."""
    starts = [m.start() for m in re.finditer(re.escape(needle), text.splitlines()[line - 1])]
    return starts[occurrence] + 1


def _check(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, *argv: str) -> tuple[Path, str]:
    path = tmp_path / "bad.das"
    path.write_text(text, encoding="utf-8")
    assert main(["check", str(path), *argv]) == 1
    err = capsys.readouterr().err
    _clean(err)
    return path, err


# ---- combinatorial blow-ups --------------------------------------------------------------------------


def _never_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused means not computed: expanding a value list fails the test at once instead of running out of
    time or memory."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a refused edge was expanded")

    monkeypatch.setattr(choices, "_expanded", refuse)


BLOWUPS = [
    # (id, edge, the number of candidates, where the error points: the edge's list or its op)
    ("six-lists-in-a-list", f"[skip, {chain(6)}]", "1,000,001", "["),
    ("ten-lists-in-a-list", f"[skip, {chain(10)}]", "10,000,000,001", "["),
    ("six-lists-one-op", chain(6), "1,000,000", "conv"),
    ("lists-and-a-searched-repeat", f"conv(k = {TEN}) then conv(k = {TEN}) x {counts(11)}", "1,100", "conv"),
    ("just-past-the-limit", f"[skip, {chain(3)}]", "1,001", "["),
]


@pytest.mark.parametrize(("edge", "number", "at"), [c[1:] for c in BLOWUPS], ids=[c[0] for c in BLOWUPS])
def test_an_edge_of_too_many_candidates_is_refused_before_it_is_expanded(
    edge: str,
    number: str,
    at: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _never_expanded(monkeypatch)
    text = image_space(edge)
    path, err = _check(tmp_path, capsys, text)
    column = _column(text, 6, at)
    assert _error_lines(err) == [
        f"{path}:6:{column}: error: this edge expands to {number} candidates (at most {MAX_CANDIDATES:,})"
    ], err
    assert "hint: every value list multiplies the candidates of its op" in err


def test_op_sets_count_into_the_edge_and_a_set_inside_itself_does_not_hang(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _never_expanded(monkeypatch)
    top = f"ops big = [{chain(3)}]\nops loop = [loop, skip]"
    text = image_space("[big, max_pool(k = [3, 5])]", top=top).replace(
        "output n0", "node n1 = n0 ~ loop\n    output n1"
    )
    path, err = _check(tmp_path, capsys, text)
    assert _error_lines(err) == [
        f"{path}:4:13: error: op set 'loop' contains itself: loop -> loop",
        f"{path}:7:20: error: this edge expands to 1,002 candidates (at most {MAX_CANDIDATES:,})",
    ], err


def test_an_edge_at_the_limit_checks_and_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "wide.das"
    path.write_text(image_space(chain(3)), encoding="utf-8")
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().out == (
        f"{path}: ok: 1 cell type, 1 node, 1 edge, 1 choice point, 1,000 architectures (~1.00e3)\n"
    )


def test_repeats_of_repeated_ops_are_refused_at_the_repeat(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``op a = conv(3) x 1000``, ``op b = a x 1000``: a million steps in one candidate, refused where ``b``
    repeats ``a`` (exactly at the limit, ``a x 10``, checks)."""
    text = image_space("[b, skip]", top="op a = conv(3) x 1000\nop b = a x 1000")
    path, err = _check(tmp_path, capsys, text)
    assert _error_lines(err) == [
        f"{path}:4:12: error: this chain expands to 1,000,000 op steps (at most {MAX_CHAIN_STEPS:,})"
    ], err
    path.write_text(text.replace("a x 1000", "a x 10"), encoding="utf-8")
    assert main(["check", str(path)]) == 0


def test_a_searched_chain_depth_expands_each_chain_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """``conv(3) x [1, ..., 1000]``: 1,000 candidates of up to 1,000 steps; each chain's body is expanded once
    and repeated, not bound call by call (500,500 calls per instance before)."""
    calls = 0
    bound = bind._call

    def counting(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        return bound(*args, **kwargs)

    monkeypatch.setattr(bind, "_call", counting)
    space = dasdsl.loads(image_space(f"conv(3) x {counts(1000)}"))
    assert space.count() == 1000
    [edge] = space.cell_types["c"].edges
    assert [len(c.steps) for c in edge.candidates] == list(range(1, 1001))
    assert calls < 3 * 1000  # the template, the network's instance, stem and head


def test_too_many_depth_combinations_are_refused_at_the_list_that_passes_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three ``x [1, ..., 100]`` on one line: 10^6 combinations, refused at the third list; nothing counted."""

    def never(*args: object) -> None:
        raise AssertionError("a refused network was counted")

    monkeypatch.setattr(count, "_count", never)
    text = depth_space(counts(100), counts(100), counts(100))
    path, err = _check(tmp_path, capsys, text)
    column = _column(text, 11, "[", 2)
    assert _error_lines(err) == [
        f"{path}:11:{column}: error: the searched depths of this network make 1,000,000 combinations "
        f"(at most {MAX_DEPTH_COMBINATIONS:,})"
    ], err
    assert "warning" not in err  # cell b is used: not also reported as unused


# ---- exact counts without enumerating ----------------------------------------------------------------


def _never_enumerated(monkeypatch: pytest.MonkeyPatch) -> None:
    """The count's sum over depth combinations factorizes: enumerating them fails the test at once."""
    monkeypatch.setattr(count, "product", lambda *args: pytest.fail("the count enumerated depth combinations"))


def _brute_force(space_text: str, depths: list[tuple[int, ...]], written: list[str]) -> tuple[int, int]:
    """(architectures, disconnected) summed over every combination of the depths, each counted as the space
    with plain ``x N`` repeats: independent of how the checker sums over depths."""
    total = cut = 0
    for combo in itertools.product(*depths):
        text = space_text
        for old, n in zip(written, combo, strict=True):
            text = text.replace(f"x {old}", f"x {n}", 1)
        space = dasdsl.loads(text)
        total += space.count()
        cut += count.count_disconnected(space)
    return total, cut


@pytest.mark.parametrize("shared", [False, True], ids=["unshared", "shared"])
def test_the_count_over_depths_factorizes_and_matches_brute_force(
    shared: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = depth_space("[1, 2, 3]", "[2, 4]", shared=shared).replace(
        "[linear(8), linear(16)]", "[linear(8), none, skip]"
    )
    expected = _brute_force(text, [(1, 2, 3), (2, 4)], ["[1, 2, 3]", "[2, 4]"])
    space = dasdsl.loads(text)

    _never_enumerated(monkeypatch)
    assert (space.count(), count.count_disconnected(space)) == expected
    assert expected[1] > 0  # the disconnected ones are counted too


def test_the_largest_allowed_depths_count_exactly_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two ``x [1, ..., 100]`` of an unshared cell of 2 candidates: (2 + 4 + ... + 2^100)^2, no enumeration."""
    _never_enumerated(monkeypatch)
    space = dasdsl.loads(depth_space(counts(100), counts(100)))
    assert space.count() == (2**101 - 2) ** 2


NESTED_DEPTHS = """\
space h
input vector

cell inner {
    input x
    node h = x ~ [linear(8), relu, none]
    output h
}

unshared cell outer {
    input x
    node h = x ~ [inner, linear(8), none]
    output h
}

network {
    cells outer x [1, 2], outer x [1, 2, 3]
    head  linear(classes)
}
"""


def test_nested_cells_with_depths_count_without_enumerating(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cell used as an op inside the repeats of two depths: the sum over whether it is in use goes outside,
    the depths still factorize; brute force agrees. With x [1, ..., 100] twice (201 cell types) this took
    52 s, one count per combination."""
    expected = _brute_force(NESTED_DEPTHS, [(1, 2), (1, 2, 3)], ["[1, 2]", "[1, 2, 3]"])
    space = dasdsl.loads(NESTED_DEPTHS)
    _never_enumerated(monkeypatch)
    assert (space.count(), count.count_disconnected(space)) == expected
    big = dasdsl.loads(NESTED_DEPTHS.replace("[1, 2]", counts(100)).replace("[1, 2, 3]", counts(100)))
    assert big.count() > 10**60


def _brute_force_nested(space: dasdsl.Space) -> tuple[int, int]:
    """(architectures, connected ones) by brute force: every candidate on every edge of every cell type, the
    choices of cells not in use forgotten (no ``keep`` nodes here)."""
    types = space.cell_types
    top = {item.cell.type_name for item in space.macro.items if item.cell is not None}
    edges = [(t, e.source, e.target, e) for t, cell in types.items() for e in cell.edges]
    seen: set[tuple] = set()
    connected: set[tuple] = set()
    for picks in itertools.product(*(range(len(e.candidates)) for *_, e in edges)):
        choice = {(t, src, dst): e.candidates[p] for (t, src, dst, e), p in zip(edges, picks, strict=True)}
        used = _in_use(types, top, choice)
        arch = tuple(sorted((key, picks[i]) for i, key in enumerate(choice) if key[0] in used))
        seen.add(arch)
        if all(
            types[t].reaches_output(lambda e, t=t, choice=choice: not choice[(t, e.source, e.target)].is_none)
            for t in used
        ):
            connected.add(arch)
    return len(seen), len(connected)


def _in_use(types: dict, top: set[str], choice: dict) -> set[str]:
    """The cells in use: the network's, and those the chosen candidates of cells in use name."""
    used, todo = set(top), list(top)
    while todo:
        t = todo.pop()
        for (owner, _, _), cand in choice.items():
            for ref in cand.nested_cells if owner == t else ():
                if ref.name not in used:
                    used.add(ref.name)
                    todo.append(ref.name)
    return used


NESTED = """\
space h
input vector

cell leaf {
    input x
    node h = x ~ [linear(4), relu, none]
    output h
}

cell mid {
    input x
    node h = x ~ [leaf, tanh]
    node k = h ~ [skip, none]
    output k
}

cell shared {
    input x
    node h = x ~ [linear(4), none]
    output h
}

cell outer {
    input x
    node a = x ~ [mid, shared, relu]
    node b = a ~ [shared, skip, none]
    output b
}

network {
    cells outer x 2
    head  linear(classes)
}
"""


def test_nested_cells_count_exactly_against_brute_force() -> None:
    """``leaf`` is used by one edge only (its configurations fold into that candidate), ``shared`` by two
    (counted over whether it is in use): both agree with brute force."""
    space = dasdsl.loads(NESTED)
    total, connected = _brute_force_nested(space)
    assert (space.count(), count.count_disconnected(space)) == (total, total - connected)
    assert 0 < connected < total


def test_many_nested_cells_count_without_trying_every_subset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thirty cells, each a candidate of one edge: 2 configurations each, 60 architectures; counted with a few
    dozen cell counts, not one per subset of the nested cells (2^30 before: 14 cells took a minute)."""
    n = 30
    inner = "".join(
        f"cell i{k} {{\n    input x\n    node h = x ~ [linear({k + 1}), relu]\n    output h\n}}\n" for k in range(n)
    )
    outer = (
        "cell outer {\n    input x\n    node h = x ~ [" + ", ".join(f"i{k}" for k in range(n)) + "]\n    output h\n}\n"
    )
    space = dasdsl.loads(f"space h\ninput vector\n{inner}{outer}network {{\n    cells outer\n}}\n")
    calls = 0
    counted = count._cell_count

    def counting(*args: object) -> tuple[int, int]:
        nonlocal calls
        calls += 1
        assert calls <= 10 * n, "the count tries subsets of the nested cells"
        return counted(*args)

    monkeypatch.setattr(count, "_cell_count", counting)
    assert (space.count(), count.count_disconnected(space)) == (2 * n, 0)


def test_too_many_cells_offered_on_several_edges_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thirty cells each offered on two edges: the count would sum over 2^30 sets of cells in use; refused at
    the first cell past MAX_SHARED_NESTED, never counted. At the limit the space checks."""

    def space(n: int) -> str:
        inner = "".join(
            f"cell i{k} {{\n    input x\n    node h = x ~ [linear({k + 1}), relu]\n    output h\n}}\n" for k in range(n)
        )
        both = ", ".join(f"i{k}" for k in range(n))
        outer = f"cell outer {{\n    input x\n    node h = x ~ [{both}]\n    node k = h ~ [{both}]\n    output k\n}}\n"
        return f"space h\ninput vector\n{inner}{outer}network {{\n    cells outer\n}}\n"

    path = tmp_path / "ok.das"
    path.write_text(space(MAX_SHARED_NESTED), encoding="utf-8")
    assert main(["check", str(path)]) == 0
    monkeypatch.setattr(count, "_count", lambda *args: pytest.fail("a refused space was counted"))
    path, err = _check(tmp_path, capsys, space(30))
    line = 3 + MAX_SHARED_NESTED * 5  # cell i8's declaration
    assert _error_lines(err) == [
        f"{path}:{line}:6: error: 30 cells are candidates on more than one edge (at most {MAX_SHARED_NESTED}): "
        "counting the architectures would sum over 2^30 choices of the cells in use"
    ], err


# ---- constants given bad values ----------------------------------------------------------------------

LET_SPACE = """\
space s
input vector
let C = 16

cell layer(c) {
    input x
    node h = x ~ [linear(c), linear(c * 2)]
    output h
}

network {
    cells layer(C) x 2
    head  linear(classes)
}
"""

NOT_POSITIVE = [
    (7, 26, "'linear' argument 'out' must be positive, got -1"),
    (7, 37, "'linear' argument 'out' must be positive, got -2"),
]
NOT_INTEGER = [
    (7, 26, "'linear' argument 'out' must be an integer, got 2.5"),
    (7, 37, "'linear' argument 'out' must be an integer, got 5.0"),
]
GIVEN = [
    # (id, --let value, errors, the hint every error ends with)
    ("negative", "-1", NOT_POSITIVE, "built with C = -1 from --let C=-1, not line 3's C = 16"),
    ("fraction", "2.5", NOT_INTEGER, "built with C = 2.5 from --let C=2.5, not line 3's C = 16"),
    ("nan", "nan", [(3, 9, "--let C=nan: expected a number, got 'nan'")], "give a number, e.g. C=36"),
    ("inf", "inf", [(3, 9, "--let C=inf: expected a number, got 'inf'")], "give a number, e.g. C=36"),
    (
        "1e400",
        "1e400",
        [(3, 9, "--let C=1e400: number too large: 1e400 is not a finite number")],
        "a number in a .das file must be finite (at most about 1.8e308)",
    ),
    (
        "long",
        "9" * 101,
        [(3, 9, f"--let C={'9' * 101}: number too long: 101 digits (at most 100)")],
        "a number in a .das file has at most 100 digits",
    ),
    ("word", "wide", [(3, 9, "--let C=wide: expected a number, got 'wide'")], "give a number, e.g. C=36"),
]


@pytest.mark.parametrize("command", ["check", "export", "train"])
@pytest.mark.parametrize(("value", "errors", "hint"), [c[1:] for c in GIVEN], ids=[c[0] for c in GIVEN])
def test_a_bad_let_value_is_an_error_in_the_users_file(
    command: str,
    value: str,
    errors: list[tuple[int, int, str]],
    hint: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "s.das"
    path.write_text(LET_SPACE, encoding="utf-8")
    out = tmp_path / "out"
    extra = {"check": [], "export": ["-o", str(out / "s.py")], "train": ["--out", str(out), "--quiet"]}[command]
    assert main([command, str(path), "--let", f"C={value}", *extra]) == 1
    err = capsys.readouterr().err
    _clean(err)
    assert _error_lines(err) == [f"{path}:{line}:{col}: error: {message}" for line, col, message in errors], err
    hints = [line for line in err.splitlines() if line.startswith("  hint: ")]
    assert len(hints) == len(errors) and all(h.endswith(hint) for h in hints), err
    assert not out.exists()  # refused before anything is written
    assert path.read_text(encoding="utf-8") == LET_SPACE


def test_check_with_a_good_let_value_counts_that_network(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.das"
    path.write_text(LET_SPACE, encoding="utf-8")
    assert main(["check", str(path), "--let", "C=32"]) == 0
    assert (
        capsys.readouterr().out
        == f"{path}: ok: 1 cell type, 1 node, 1 edge, 1 choice point, 2 architectures (~2.00e0)\n"
    )


def test_check_validates_the_train_blocks_constants(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``train { let C = -1 }`` builds a network train and export refuse: check refuses it, at the use."""
    text = LET_SPACE + "\ntrain {\n    epochs 1\n    let C = -1\n}\n"
    path, err = _check(tmp_path, capsys, text)
    assert _error_lines(err) == [f"{path}:{line}:{col}: error: {message}" for line, col, message in NOT_POSITIVE]
    hints = [line for line in err.splitlines() if line.startswith("  hint: ")]
    note = "built with C = -1 from the train block's 'let C' (line 18), not line 3's C = 16"
    assert len(hints) == 2 and all(h.endswith(note) for h in hints), err
    # export and train build the network with the block's constants: the same errors, nothing written
    out = tmp_path / "out"
    for argv in (["export", str(path), "-o", str(out / "s.py")], ["train", str(path), "--out", str(out), "--quiet"]):
        assert main(argv) == 1
        assert _error_lines(capsys.readouterr().err) == _error_lines(err)
    assert not out.exists()
    # the file itself is wrong: a --let that would win over the block's value does not hide it
    assert main(["check", str(path), "--let", "C=8"]) == 1
    assert _error_lines(capsys.readouterr().err) == _error_lines(err)


def test_a_let_given_with_the_train_blocks_constants_is_checked_with_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--let D=2`` and the block's ``let C = 2`` are each fine, together they build ``linear(0)``: the
    network both build is the one checked, and each error names both values."""
    text = LET_SPACE.replace("let C = 16\n", "let C = 16\nlet D = 1\n").replace("layer(C)", "layer(C - D)")
    text += "\ntrain {\n    let C = 2\n}\n"
    path = tmp_path / "s.das"
    path.write_text(text, encoding="utf-8")
    assert main(["check", str(path)]) == 0
    assert main(["check", str(path), "--let", "D=2"]) == 1
    err = capsys.readouterr().err
    _clean(err)
    assert _error_lines(err) == [
        f"{path}:8:26: error: 'linear' argument 'out' must be positive, got 0",
        f"{path}:8:37: error: 'linear' argument 'out' must be positive, got 0",
    ], err
    note = (
        "built with C = 2 from the train block's 'let C' (line 18), not line 3's C = 16; "
        "built with D = 2 from --let D=2, not line 4's D = 1"
    )
    hints = [line for line in err.splitlines() if line.startswith("  hint: ")]
    assert len(hints) == 2 and all(h.endswith(note) for h in hints), err


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "'linear' argument 'out' must be positive, got -1"),
        (float("nan"), "space.let(C=nan): nan is not a finite number"),
        (float("inf"), "space.let(C=inf): inf is not a finite number"),
        (True, "space.let(C=True): a number is needed, got True"),
        (10**100, f"space.let(C={10**100}): number too long: more than 100 digits"),
        ("1e400", "space.let(C='1e400'): number too large: 1e400 is not a finite number"),
    ],
    ids=["negative", "nan", "inf", "bool", "long", "1e400-text"],
)
def test_space_let_raises_a_located_das_error(value: object, message: str, tmp_path: Path) -> None:
    path = tmp_path / "s.das"
    path.write_text(LET_SPACE, encoding="utf-8")
    space = dasdsl.load(path)
    with pytest.raises(DasError) as caught:
        space.let(C=value)
    first = caught.value.errors[0]
    assert (first.span.file, first.message) == (str(path), message)
    assert first.span.line in (3, 7)  # the let line, or the use of the constant: the user's file either way


def test_a_negative_constant_prints_and_reads_back() -> None:
    """The printer's Neg(Number) form: ``let U = -3`` where a negative value is fine (an unused constant)."""
    space = dasdsl.loads(LET_SPACE.replace("let C = 16\n", "let C = 16\nlet U = 1\n"))
    given = space.let(U=-3, C="8")
    assert "let U = -3\n" in given.to_das() and "let C = 8\n" in given.to_das()
    assert given.constants == {"C": 8, "U": -3}
    assert dasdsl.loads(given.to_das()).module == given.module


NONPOSITIVE_WIDTH = """space neg
input image
cell pool(c) {
    input x
    node y = x ~ [max_pool(3), avg_pool(3)]
    output y
}
network {
    stem conv(3, 8)
    cells pool(WIDTH)
    head global_avg_pool then linear(classes)
}
"""


@pytest.mark.parametrize(("width", "classes", "shown"), [("-7", 10, "-7"), ("0", 10, "0"), ("classes - 10", 3, "-7")])
def test_a_cell_width_below_one_is_an_error_at_the_cell(width: str, classes: int, shown: str) -> None:
    """A cell argument that makes the cell's width 0 or negative (written, or through ``classes``) is the user's
    error at the cells item; it was an internal error from torch ("negative dimension") before."""
    space = dasdsl.loads(NONPOSITIVE_WIDTH.replace("WIDTH", width), file="neg.das")
    with pytest.raises(DasError) as caught:
        space.graph((1, 8, 8), classes)
    error = caught.value.errors[0]
    assert error.message == f"cell 'pool' works at width {shown} (its argument 'c'), which must be positive"
    assert (error.span.file, error.span.line, error.span.column) == ("neg.das", 10, 11)
    assert error.hint == "a cell's width is its parameter c, else its first parameter: the channels it works at"
