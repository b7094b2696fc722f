"""Robustness: whatever the text, dasdsl.loads raises DasError with sane spans, or nothing at all."""

from __future__ import annotations

import contextlib
import re
import signal
import threading
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_budget import examples
from paths import ROOT, SHIPPED

import dasdsl
from dasdsl import format_das
from dasdsl.errors import DasError, Diagnostic
from dasdsl.lang import ast

SOURCES = [p.read_text(encoding="utf-8") for p in SHIPPED]

LOADS_SECONDS = 5.0  # per text; the shipped spaces load in milliseconds
FUZZ = settings(max_examples=examples(1000), deadline=None, suppress_health_check=list(HealthCheck))


def _check_diagnostic(d: Diagnostic, text: str, n_lines: int) -> None:
    span = d.span
    assert 1 <= span.line <= n_lines, f"line {span.line} outside 1..{n_lines}: {d}"
    assert span.column >= 1, f"column {span.column} < 1: {d}"
    assert d.message, d
    assert isinstance(d.render(text), str)


class TookTooLongError(Exception):
    """Raised in the middle of loads by a timer: a hang is a bug too (and must not stall the suite)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise TookTooLongError(f"dasdsl.loads ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    # fires again every second after the first: an exception raised in a gc callback is swallowed
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def assert_loads_cleanly(text: str) -> None:
    """Only DasError may escape loads; each diagnostic points into the text and renders."""
    # lines as the parser counts them: split at "\n" only; a text ending in "\n" has an
    # empty last line there, where an end-of-file error may point
    n_lines = text.count("\n") + 1
    try:
        with time_limit(LOADS_SECONDS):
            space = dasdsl.loads(text)
    except DasError as exc:
        assert exc.diagnostics
        assert any(d.severity == "error" for d in exc.diagnostics)
        for d in exc.diagnostics:
            _check_diagnostic(d, text, n_lines)
        assert isinstance(exc.render(), str)
        assert isinstance(str(exc), str)
    else:
        for w in space.warnings:
            _check_diagnostic(w, text, n_lines)


# ---- random text ---------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


KEYWORD_WORDS = _words(
    "space input let ops op cell node output keep merge then with network stem cells head search unshared x"
)
# names the shipped spaces use: ops, cells, nodes, constants, arguments, search values
NAME_WORDS = _words(
    "darts nb201 normal reduce stage block c C s0 s1 n0 n1 n2 n3 a b y z concat sum classes stride "
    "image sequence vector none skip conv conv_bn sep_conv dil_conv max_pool avg_pool resblock "
    "linear relu bn global_avg_pool dilation out data epochs gate softmax gumbel tau sgd lr digits"
)
NUMBER_WORDS = ["0", "1", "2", "3", "16", "0.5", "3e-4", ".5", "1E+3", "99999999999999999999"]
STRING_WORDS = ['"digits"', '"a\\"b"', '""']
WORDS = KEYWORD_WORDS + NAME_WORDS + NUMBER_WORDS + STRING_WORDS
PUNCT = ["{", "}", "(", ")", "[", "]", "~", ",", "=", "*", "//", "+", "-", "->", "#", "# note", "\\"]
SEPARATORS = [" ", " ", " ", "", "\n", "\n    ", "\r\n", "\t"]

vocabulary_text = st.lists(
    st.tuples(st.sampled_from(WORDS + PUNCT + ["\n"]), st.sampled_from(SEPARATORS)), max_size=60
).map(lambda pairs: "".join(tok + sep for tok, sep in pairs))
prefixes = st.sampled_from(["", "space s\n", "space s\ninput image\n", "space s\ninput image\nlet C = 16\n"])


@FUZZ
@given(st.one_of(st.text(), st.builds(lambda p, t: p + t, prefixes, vocabulary_text)))
def test_random_text_raises_only_das_errors(text: str) -> None:
    assert_loads_cleanly(text)


# ---- mutations of the shipped spaces ---------------------------------------------------------

_TOKEN = re.compile(r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"|#[^\n]*|->|//|[A-Za-z0-9_.]+|\S')


def _tokens(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _TOKEN.finditer(text)]


@st.composite
def mutated_spaces(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SOURCES), label="space")
    for _ in range(draw(st.integers(min_value=1, max_value=3), label="mutations")):
        kind = draw(
            st.sampled_from(
                ["delete", "duplicate", "swap", "replace", "replace_alike", "del_line", "dup_line", "truncate"]
            ),
            label="kind",
        )
        if kind in ("del_line", "dup_line"):
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1), label="line")
            lines[i : i + 1] = [] if kind == "del_line" else [lines[i], lines[i]]
            text = "\n".join(lines)
            continue
        if kind == "truncate":
            text = text[: draw(st.integers(0, len(text)), label="at")]
            continue
        spans = _tokens(text)
        if not spans:
            continue
        i = draw(st.integers(0, len(spans) - 1), label="token")
        a, b = spans[i]
        if kind == "delete":
            text = text[:a] + text[b:]
        elif kind == "duplicate":
            text = text[:b] + " " + text[a:b] + text[b:]
        elif kind == "replace":
            text = text[:a] + draw(st.sampled_from(WORDS + PUNCT), label="new") + text[b:]
        elif kind == "replace_alike":
            # a name by a name, a number by a number: still valid syntax, so the checker gets it
            token = text[a:b]
            alike = NUMBER_WORDS if token[0].isdigit() or token[0] == "." else NAME_WORDS
            if token[0].isalnum() or token[0] in "._":
                text = text[:a] + draw(st.sampled_from(alike), label="new") + text[b:]
        else:
            j = draw(st.integers(0, len(spans) - 1), label="other")
            (a, b), (c, d) = sorted([spans[i], spans[j]])
            if b <= c:
                text = text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]
    return text


@pytest.mark.skipif(not SOURCES, reason="no spaces/*.das")
@FUZZ
@given(mutated_spaces())
def test_mutated_spaces_raise_only_das_errors(text: str) -> None:
    assert_loads_cleanly(text)


# ---- well-formed texts with random meaning ----------------------------------------------------
# Random ASTs over a small pool of names, printed: always valid syntax, so they reach the checker.

POOL = ["C", "c", "k", "x", "y", "s0", "s1", "n0", "n1", "normal", "reduce", "darts", "block", "classes", "stride"]
OPS = _words("none skip conv conv_bn sep_conv dil_conv max_pool avg_pool resblock linear relu bn global_avg_pool")
pool_names = st.sampled_from(POOL)
op_names = st.sampled_from(OPS + POOL)
KEYS = _words("data epochs batch split seed weights arch gate hypergradient discretize penalty top lr")
leaves = st.one_of(
    st.sampled_from([0, 1, 2, 3, 16, 10**30]).map(ast.Number),
    st.sampled_from([0.0, 0.5, 2.5, 1e300]).map(ast.Number),
    st.sampled_from([*POOL, "softmax", "digits", "sgd", "cosine", "zzz"]).map(ast.Name),
    st.sampled_from(["", "digits", "a\\b"]).map(ast.String),
)


def _args(children: st.SearchStrategy) -> st.SearchStrategy:
    arg_names = st.none() | st.sampled_from(["out", "k", "dilation", "stride", "p", "lr", "tau", "c", "zz"])
    return st.lists(st.builds(ast.Arg, arg_names, children), max_size=3).map(tuple)


exprs = st.recursive(
    leaves,
    lambda children: st.one_of(
        children.map(ast.Neg),
        st.builds(ast.BinOp, st.sampled_from(["+", "-", "*", "//"]), children, children),
        st.lists(children, min_size=1, max_size=3).map(lambda items: ast.Tuple(tuple(items))),
        st.builds(ast.Range, children, children),
        st.builds(ast.Call, op_names, _args(children)),
    ),
    max_leaves=4,
)
op_calls = st.builds(ast.Call, op_names, _args(exprs))
op_exprs = st.lists(op_calls, min_size=1, max_size=2).map(lambda steps: ast.OpExpr(tuple(steps)))
op_lists = st.lists(op_exprs, max_size=4).map(lambda ops: ast.OpList(tuple(ops)))
params = st.lists(pool_names, max_size=2).map(tuple)
sources = st.lists(pool_names, min_size=1, max_size=3).map(tuple)
cell_stmts = st.one_of(
    sources.map(ast.CellInputs),
    st.builds(
        ast.NodeDecl,
        pool_names,
        st.lists(st.builds(ast.EdgeGroup, sources, op_lists | op_exprs), min_size=1, max_size=2).map(tuple),
        st.none() | exprs,
        st.none() | st.sampled_from(["sum", "concat", "max"]),
    ),
    pool_names.map(lambda n: ast.CellOutput((n,))),
    st.builds(ast.CellOutput, sources, st.sampled_from(["sum", "concat", "max"])),
)
top_stmts = st.one_of(
    st.builds(
        ast.InputDecl,
        st.sampled_from(["image", "sequence", "vector", "graph"]),
        st.none() | st.lists(exprs, min_size=1, max_size=3).map(tuple),
    ),
    st.builds(ast.LetDecl, pool_names, exprs),
    st.builds(ast.OpSetDecl, pool_names, op_lists),
    st.builds(ast.OpDefDecl, pool_names, params, op_exprs),
    st.builds(
        ast.CellDecl,
        pool_names,
        params,
        st.lists(cell_stmts, min_size=1, max_size=5).map(tuple),
        st.booleans(),
        input_stride=st.none() | exprs,
    ),
    st.builds(ast.CellDerive, pool_names, params, op_calls, st.none() | exprs, st.booleans()),
    st.lists(
        st.one_of(
            op_exprs.map(ast.Stem),
            op_exprs.map(ast.Head),
            st.lists(st.builds(ast.CellItem, op_calls, st.none() | exprs), min_size=1, max_size=3).map(
                lambda items: ast.Cells(tuple(items))
            ),
        ),
        min_size=1,
        max_size=3,
    ).map(lambda body: ast.NetworkDecl(tuple(body))),
    st.lists(
        st.builds(ast.SearchEntry, st.sampled_from(KEYS), st.lists(exprs, min_size=1, max_size=2).map(tuple)),
        max_size=3,
    ).map(lambda entries: ast.SearchDecl(tuple(entries))),
)
# most texts declare an input and end in a plausible network, so that more get past the first errors
_INPUT = ast.InputDecl("image")
_NETWORK = ast.NetworkDecl(
    (
        ast.Stem(ast.OpExpr((ast.Call("conv_bn", (ast.Arg(None, ast.Number(3)),)),))),
        ast.Cells(tuple(ast.CellItem(ast.Call(n, (ast.Arg(None, ast.Name("C")),))) for n in ["normal", "reduce"])),
        ast.Head(ast.OpExpr((ast.Call("global_avg_pool"), ast.Call("linear", (ast.Arg(None, ast.Name("classes")),))))),
    )
)
well_formed = st.builds(
    lambda head, stmts, tail: format_das(ast.Module(ast.SpaceDecl("s"), (*head, *stmts, *tail))),
    st.sampled_from([(), (_INPUT,), (_INPUT, ast.LetDecl("C", ast.Number(16)))]),
    st.lists(top_stmts, max_size=8),
    st.sampled_from([(), (_NETWORK,)]),
)


@settings(FUZZ, max_examples=examples(500))  # slower per example: a module is built and printed first
@given(well_formed)
def test_well_formed_texts_raise_only_das_errors(text: str) -> None:
    assert_loads_cleanly(text)


@pytest.mark.parametrize("text", SOURCES, ids=[p.name for p in SHIPPED])
def test_shipped_spaces_load(text: str) -> None:
    assert_loads_cleanly(text)


_CELL = "cell c {\n    input x\n    node y = x ~ skip\n    output y\n}\n"
EDGE_CASES = {
    "empty": "",
    "newline": "\n",
    "space-only": "space",
    "no-input": "space s\n",
    "crlf": "space s\r\n",
    "unclosed-cell-at-eof": "space s\ninput image\ncell c {\n",
    # deep parse trees: an error, not a RecursionError
    "3000-negations": "space s\ninput image\nlet a = " + "-" * 3000 + "1\n",
    "3000-term-sum": "space s\ninput image\nlet a = " + "1 + " * 3000 + "1\n",
    "3000-parentheses": "space s\ninput image\nlet a = " + "(" * 3000 + "1" + ")" * 3000 + "\n",
    "1000-nested-calls": "space s\ninput image\nsearch {\n    gate " + "f(" * 1000 + ")" * 1000 + "\n}\n",
    # characters str.splitlines() takes for line breaks but the parser does not
    "form-feed-and-nel": "space s\ninput image\f# a comment after a form feed\nlet a = \x85\n",
    "line-separator": "space s\u2028x\n",
    "byte-order-mark": "\ufeffspace s\n",
    "unicode-digits": "space s\ninput image(\u0663, \u0664\u0665, 2)\n",
    # cycles between op sets
    "op-set-contains-itself": "space s\nops a = [a]\n" + _CELL.replace("~ skip", "~ a"),
    "op-sets-contain-each-other": "space s\ninput image\nops a = [b]\nops b = [skip, a]\n"
    + _CELL.replace("~ skip", "~ a")
    + "network {\n    cells c\n}\n",
    # a repeat count far beyond any real network: an error, not a hang
    "huge-cell-repeat": "space s\ninput image\n" + _CELL + "network {\n    cells c x 99999999999999999999\n}\n",
    "huge-op-repeat": "space s\ninput image\nnetwork {\n    cells relu x 99999999999999999999\n}\n",
}


@pytest.mark.parametrize("text", list(EDGE_CASES.values()), ids=list(EDGE_CASES))
def test_edge_case_texts(text: str) -> None:
    assert_loads_cleanly(text)


# ---- classic typos give a good error -------------------------------------------------------


def _error_of(text: str) -> Diagnostic:
    with pytest.raises(DasError) as info:
        dasdsl.loads(text)
    assert_loads_cleanly(text)
    return info.value.errors[0]


def _darts_with(old: str, new: str) -> str:
    text = (ROOT / "spaces" / "darts.das").read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


def test_misspelled_op() -> None:
    text = _darts_with("sep_conv(3), sep_conv(5)", "sep_cnv(3), sep_conv(5)")
    d = _error_of(text)
    assert "unknown op 'sep_cnv'" in d.message
    assert d.hint is not None and "did you mean sep_conv?" in d.hint
    line = text.split("\n")[d.span.line - 1]
    assert line[d.span.column - 1 :].startswith("sep_cnv")


def test_missing_tilde() -> None:
    text = _darts_with("node n1 = (s0, s1, n0) ~ darts", "node n1 = (s0, s1, n0) darts")
    d = _error_of(text)
    assert "unexpected 'darts'" in d.message
    assert d.span.line == text.split("\n").index("    node n1 = (s0, s1, n0) darts          keep 2") + 1
    assert d.hint is not None and "~" in d.hint


def test_unclosed_bracket() -> None:
    # the list runs on into the next statements (newlines inside brackets do not count),
    # so the hint must name the bracket that is left open
    text = _darts_with("dil_conv(5, dilation = 2),\n]", "dil_conv(5, dilation = 2),\n")
    d = _error_of(text)
    assert d.message.startswith("unexpected")
    assert "']'" in d.message
    assert d.hint == "the '[' at line 10, column 13 is not closed"
    assert text.split("\n")[9][12] == "["


def test_unclosed_bracket_in_a_cell() -> None:
    text = _darts_with("(s0, s1) ~ darts              keep 2", "(s0, s1) ~ [skip, conv(3)")
    d = _error_of(text)
    assert d.hint is not None and "'[' at line 17" in d.hint and "is not closed" in d.hint


def test_unclosed_brace() -> None:
    text = "space s\ninput image\ncell c {\n    input x\n    node y = x ~ skip\n    output y\n"
    d = _error_of(text)
    assert "unexpected end of file" in d.message
    assert d.hint == "a '{' block is not closed"
    assert d.span.line == 6


def test_unclosed_paren() -> None:
    d = _error_of("space s\ninput image\nlet C = (1 + 2\nlet D = 3\n")
    assert d.message.startswith("unexpected 'let'")
    assert d.hint == "the '(' at line 3, column 9 is not closed"
    d = _error_of("space s\ninput image\nlet C = (1 + 2\n")
    assert d.message.startswith("unexpected end of file")
    assert d.hint == "the '(' at line 3, column 9 is not closed"


def test_an_error_inside_a_multi_line_list_is_not_blamed_on_the_bracket() -> None:
    d = _error_of("space s\nops a = [skip,\n    conv(3) conv(5)]\n")
    assert d.message.startswith("unexpected 'conv'")
    assert d.span.line == 3
    assert d.hint is None or "not closed" not in d.hint


def test_too_deep_nesting_is_an_error() -> None:
    d = _error_of(EDGE_CASES["3000-term-sum"])
    assert d.message == "expression nested too deeply (more than 100 levels)"
    assert d.span.line == 3
    d = _error_of(EDGE_CASES["3000-negations"])
    assert d.message == "expression nested too deeply (more than 100 levels)"
