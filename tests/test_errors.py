"""Every error kind of the checker (and the parser's syntax errors): exact line, column, message, hint.

The plain cases, "this text gives this diagnostic", are files (tests/fixtures/errors/README.md): CASE.das, a
small, otherwise valid space with one mistake, and beside it CASE.expected, what `dasdsl check` prints for it
run from the repository root. The tests after them say what a pair of files cannot: several errors at once,
warnings, the rendering, the command line.

A new case's .expected is written on request only, never by a test run: python tests/test_errors.py CASE
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import sys
from pathlib import Path

import pytest
from paths import FIXTURES, ROOT, SPACE_DIR

import dasdsl
from dasdsl import DasError
from dasdsl.cli import main

ERRORS = FIXTURES / "errors"  # CASE.das and CASE.expected


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


# ---- one file, one diagnostic (the parser's and the checker's errors) -----------------------


def check_output(das: Path) -> tuple[int, str, str]:
    """`dasdsl check` on a fixture from the repository root: exit code, stdout, stderr. The path it prints
    is relative, so an .expected reads the same on every checkout."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(ROOT), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", das.relative_to(ROOT).as_posix()])
    return code, out.getvalue(), err.getvalue()


def cases() -> list[str]:
    """Every case named by a .das or an .expected, so that one without the other fails its test."""
    return sorted({p.stem for p in ERRORS.glob("*.das")} | {p.stem for p in ERRORS.glob("*.expected")})


ERROR_LINE = re.compile(r"^\S+:\d+:\d+: error: ", re.MULTILINE)


@pytest.mark.parametrize("case", cases())
def test_error_fixture(case: str) -> None:
    das, expected = ERRORS / f"{case}.das", ERRORS / f"{case}.expected"
    assert das.exists(), f"{expected.name} has no {das.name} beside it"
    assert expected.exists(), f"{das.name} has no {expected.name}; write it with: python tests/test_errors.py {case}"
    code, out, err = check_output(das)
    assert (code, out) == (1, "")
    assert err == expected.read_text(encoding="utf-8")
    assert len(ERROR_LINE.findall(err)) == 1  # one mistake per case


@pytest.mark.parametrize("case", ["pooling-on-vector", "conv-on-vector"])
def test_vector_hint_lists_every_op_that_accepts_a_vector(case: str) -> None:
    # the op library grows: the hint lists every op that accepts a vector, in order
    d = the_error((ERRORS / f"{case}.das").read_text(encoding="utf-8"))
    assert d.hint.startswith("vector spaces use ")
    ops = d.hint.removeprefix("vector spaces use ").split(", ")
    assert ops == sorted(ops)
    assert {"linear", "relu", "gelu", "tanh", "bn", "dropout", "skip", "none"} <= set(ops)
    assert not {"conv", "max_pool", "avg_pool", "sep_conv", "global_avg_pool"} & set(ops)


def test_syntax_error_lists_what_was_expected() -> None:
    d = the_error("space s\ninput image\nlet C = = 16\n")
    assert d.message.startswith("unexpected '='; expected ")
    assert "a number" in d.message and "a name" in d.message


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
    d = the_error((ERRORS / "unknown-op.das").read_text(encoding="utf-8"))
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


def write_expected(names: list[str]) -> int:
    """Write each case's .expected from what `dasdsl check` prints now (read it before committing it)."""
    for name in names:
        das = ERRORS / f"{name}.das"
        if not das.exists():
            print(f"no such case: {das}", file=sys.stderr)
            return 2
        code, out, err = check_output(das)
        if (code, out) != (1, "") or len(ERROR_LINE.findall(err)) != 1:
            print(f"{das}: exit {code}; a case needs exactly one error:\n{err}", file=sys.stderr)
            return 1
        (ERRORS / f"{name}.expected").write_text(err, encoding="utf-8", newline="\n")
        print(f"wrote {name}.expected:\n{err}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python tests/test_errors.py",
        description="Write tests/fixtures/errors/CASE.expected from what `dasdsl check` prints for CASE.das now.",
    )
    parser.add_argument("cases", nargs="*", metavar="CASE", help="a case to write (overwrites its .expected)")
    parser.add_argument("--missing", action="store_true", help="every case that has no .expected yet")
    args = parser.parse_args()
    missing = [c for c in cases() if not (ERRORS / f"{c}.expected").exists()] if args.missing else []
    if not args.cases and not args.missing:
        parser.error("name a CASE, or give --missing")
    if args.missing and not missing and not args.cases:
        print("every case has its .expected: nothing to write")
    sys.exit(write_expected([*args.cases, *missing]))
