"""Printer and parser are inverses: shipped spaces, identity fixtures, generated modules, comments."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_budget import examples
from paths import FIXTURES, SHIPPED

from dasdsl import format_das, parse
from dasdsl.lang import ast
from dasdsl.lang.parse import grammar_text

IDENTITY = sorted((FIXTURES / "identity").glob("*.das"))

# Every quoted word of the grammar is a keyword; contextual lexing makes many of them legal
# names, but generated names avoid them all.
KEYWORDS = frozenset(re.findall(r'"([A-Za-z_]+)"', grammar_text()))
NUMBER_RE = re.search(r"^NUMBER: /(.*)/$", grammar_text(), re.MULTILINE).group(1)

# Comments found independently of the parser: a '#' outside a string runs to the end of the line.
_COMMENT_OR_STRING = re.compile(r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"|#[^\n]*')


def comment_texts(text: str) -> Counter[str]:
    return Counter(m.group().rstrip() for m in _COMMENT_OR_STRING.finditer(text) if m.group().startswith("#"))


def fmt(text: str) -> str:
    return format_das(parse(text))


def _id(path: Path) -> str:
    return path.name


def test_keywords_read_from_the_grammar() -> None:
    assert {"space", "cell", "node", "keep", "merge", "then", "x", "unshared"} <= KEYWORDS


# ---- shipped spaces ------------------------------------------------------------------------


def test_there_are_shipped_spaces_and_fixtures() -> None:
    assert SHIPPED, "no spaces/*.das found"
    assert len(IDENTITY) >= 5


@pytest.mark.parametrize("path", SHIPPED, ids=_id)
def test_shipped_space_roundtrips(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    module = parse(text, str(path))
    printed = format_das(module)
    assert parse(printed) == module
    assert fmt(printed) == printed, "format_das is not idempotent"


@pytest.mark.parametrize("path", SHIPPED, ids=_id)
def test_shipped_space_is_canonical(path: Path) -> None:
    """What `dasdsl fmt --check` enforces: the shipped files are already formatted."""
    text = path.read_text(encoding="utf-8")
    assert fmt(text) == text, f"{path.name} is not canonical; run `dasdsl fmt --write {path}`"


def test_fmt_check_accepts_the_shipped_spaces_and_fixtures(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from dasdsl.cli import main

    assert main(["fmt", "--check", *map(str, SHIPPED), *map(str, IDENTITY)]) == 0
    messy = tmp_path / "messy.das"
    messy.write_text("space   messy\ninput image\nlet C=16\n", encoding="utf-8")
    assert main(["fmt", "--check", str(messy)]) == 1
    assert "would reformat" in capsys.readouterr().err


@pytest.mark.parametrize("path", SHIPPED, ids=_id)
def test_shipped_space_keeps_its_comments(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert comment_texts(fmt(text)) == comment_texts(text)


# ---- identity fixtures ----------------------------------------------------------------------


@pytest.mark.parametrize("path", IDENTITY, ids=_id)
def test_identity_fixture_prints_back_unchanged(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    printed = fmt(text)
    assert printed == text
    assert parse(printed) == parse(text)


@pytest.mark.parametrize("path", IDENTITY, ids=_id)
def test_identity_fixture_keeps_its_comments(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert comment_texts(fmt(text)) == comment_texts(text)


def test_fixtures_cover_the_listed_forms() -> None:
    """The identity corpus really contains the forms it is meant to pin down."""
    corpus = "\n".join(p.read_text(encoding="utf-8") for p in IDENTITY)
    for form in [
        "(1 + 2) * 3",
        "10 - (4 - 3)",
        "-(-1)",
        "2 * -C",
        "(1,)",
        "5.0 -> 0.05",
        "(1 -> 2) -> 3",
        "3e-4",
        '\\"',
        "lr = ",
        " then ",
        "keep 2",
        "merge concat",
        "unshared cell",
        "with input stride 2",
        "# at the end of the file",
    ]:
        assert form in corpus, form
    assert corpus.count("ops long = [\n") == 1  # a multi-line op list kept as written


@pytest.mark.parametrize(
    ("source", "canonical"),
    [
        ("space s\nlet a = --1\n", "space s\n\nlet a = -(-1)\n"),
        ("space s\nlet a = (-a) * ((b))\n", "space s\n\nlet a = -a * b\n"),
        ("space s\nlet a = (a - b) - c\n", "space s\n\nlet a = a - b - c\n"),
        ("space s\nlet a = 1 -> (2)\n", "space s\n\nlet a = 1 -> 2\n"),
        ("space s\nop o() = f()\n", "space s\n\nop o = f\n"),
        ("space s\nsearch {\n  gate gumbel 5\n}\n", "space s\n\nsearch {\n    gate gumbel(5)\n}\n"),
        ("\n\nspace s\ninput   image( 3,4 ,5 )\n\n\n", "space s\ninput image(3, 4, 5)\n"),
        ("space s\nops o = [a,\n  b\n]\n", "space s\n\nops o = [a, b]\n"),
    ],
)
def test_non_canonical_input_is_normalised(source: str, canonical: str) -> None:
    assert fmt(source) == canonical
    assert parse(canonical) == parse(source)


@pytest.mark.parametrize(
    ("source", "canonical"),
    [
        # lines count at "\n" only: a form feed or NEL before a comment does not shift it
        ("space s\f\nlet a = 1  # c\n", "space s\n\nlet a = 1  # c\n"),
        ("space s  # \x85\nlet a = 1  # c\n", "space s  #\n\nlet a = 1  # c\n"),
        ("space s\ninput image\f# c\n", "space s\ninput image  # c\n"),
        ('space s\r\ninput image  # c\r\nlet a = "x"  # d\r\n', 'space s\ninput image  # c\n\nlet a = "x"  # d\n'),
    ],
)
def test_comments_next_to_odd_line_breaks(source: str, canonical: str) -> None:
    assert fmt(source) == canonical


@pytest.mark.parametrize(
    "source",
    [
        "space s\nlet x = (1,  # a\n  2)\ncell c {\n    input a\n    node n = a ~ [skip,  # b\n        conv(3)]\n"
        "    output n\n}\n",
        "space s\nsearch {\n  gate gumbel(tau = 1,  # c\n     hard = 0)  # c2\n}\n",
        "space s\nnetwork {\n  cells a(1,  # d\n  2) x 2\n  # d2\n}\n",
        "space s\nlet a = 1 + \\\n  2  # e\nlet b = 1\n",
        "space s\nops o = [a(1,  # f\n  2), b,\n  c]  # g\nlet z = 1\n",
        "space s  # h\n# i\n\n\n# j\n",
    ],
)
def test_comments_inside_multi_line_statements_survive(source: str) -> None:
    """Comments inside a statement that the printer puts on one line move, but none is lost."""
    printed = fmt(source)
    assert comment_texts(printed) == comment_texts(source)
    assert parse(printed) == parse(source)
    assert fmt(printed) == printed


# ---- generated modules ---------------------------------------------------------------------

_FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
names = st.builds(
    lambda a, b: a + b if a + b not in KEYWORDS else a + b + "_",
    st.sampled_from(_FIRST),
    st.text(_FIRST + "0123456789", max_size=5),
)
name_tuples = st.lists(names, min_size=1, max_size=4).map(tuple)


_DIGITS = st.text("0123456789", min_size=1, max_size=4)


@st.composite
def spelled_numbers(draw: st.DrawFn) -> ast.Number:
    """A source spelling such as 007, 1., .5, 1.50 or 3e-4 that the printer must keep as written."""
    whole, frac = draw(_DIGITS), draw(_DIGITS)
    text = draw(st.sampled_from([whole, whole + ".", whole + "." + frac, "." + frac]))
    if draw(st.booleans()):
        text += draw(st.sampled_from(["e", "E"])) + draw(st.sampled_from(["", "+", "-"])) + draw(_DIGITS)
    assert re.fullmatch(NUMBER_RE, text), text  # the grammar's NUMBER
    return ast.Number(int(text) if text.isdigit() else float(text), text)


numbers = st.one_of(
    st.integers(min_value=0, max_value=10**20).map(ast.Number),
    st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)
    .filter(lambda f: math.copysign(1.0, f) > 0)
    .map(ast.Number),
    spelled_numbers().filter(lambda n: math.isfinite(n.value)),  # 1e999 is an error of the parser
)
# no newline in a string; quotes and backslashes are escaped by the printer
strings = st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=8).map(ast.String)
leaves = st.one_of(numbers, names.map(ast.Name), strings)


def _args(exprs: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(st.builds(ast.Arg, st.none() | names, exprs), max_size=3).map(tuple)


def _compound(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        children.map(ast.Neg),
        st.builds(ast.BinOp, st.sampled_from(["+", "-", "*", "//"]), children, children),
        st.lists(children, min_size=1, max_size=3).map(lambda items: ast.Tuple(tuple(items))),  # no () in the grammar
        st.builds(ast.Range, children, children),
        st.builds(ast.Call, names, _args(children)),
    )


exprs = st.recursive(leaves, _compound, max_leaves=6)
small_exprs = st.recursive(leaves, _compound, max_leaves=3)

op_calls = st.builds(ast.Call, names, _args(small_exprs))
op_exprs = st.lists(op_calls, min_size=1, max_size=3).map(lambda steps: ast.OpExpr(tuple(steps)))
op_lists = st.lists(op_exprs, max_size=10).map(lambda ops: ast.OpList(tuple(ops)))
params = st.lists(names, max_size=3).map(tuple)

edge_groups = st.builds(ast.EdgeGroup, name_tuples, st.one_of(op_lists, op_exprs))
node_decls = st.builds(
    ast.NodeDecl,
    names,
    st.lists(edge_groups, min_size=1, max_size=3).map(tuple),
    st.none() | small_exprs,
    st.none() | names,
)
cell_outputs = st.one_of(
    names.map(lambda n: ast.CellOutput((n,), None)),
    st.builds(ast.CellOutput, name_tuples, names),
)
cell_stmts = st.one_of(name_tuples.map(ast.CellInputs), node_decls, cell_outputs)

cell_items = st.builds(ast.CellItem, op_calls, st.none() | small_exprs)
net_stmts = st.one_of(
    op_exprs.map(ast.Stem),
    op_exprs.map(ast.Head),
    st.lists(cell_items, min_size=1, max_size=4).map(lambda items: ast.Cells(tuple(items))),
)
search_entries = st.builds(ast.SearchEntry, names, st.lists(exprs, min_size=1, max_size=3).map(tuple))

top_stmts = st.one_of(
    st.builds(ast.InputDecl, names, st.none() | st.lists(small_exprs, min_size=1, max_size=3).map(tuple)),
    st.builds(ast.LetDecl, names, exprs),
    st.builds(ast.OpSetDecl, names, op_lists),
    st.builds(ast.OpDefDecl, names, params, op_exprs),
    st.builds(
        ast.CellDecl,
        names,
        params,
        st.lists(cell_stmts, min_size=1, max_size=5).map(tuple),
        st.booleans(),
        input_stride=st.none() | small_exprs,
    ),
    st.builds(ast.CellDerive, names, params, op_calls, st.none() | small_exprs, st.booleans()),
    st.lists(net_stmts, min_size=1, max_size=4).map(lambda body: ast.NetworkDecl(tuple(body))),
    st.lists(search_entries, max_size=4).map(lambda entries: ast.SearchDecl(tuple(entries))),
)
modules = st.builds(ast.Module, names.map(ast.SpaceDecl), st.lists(top_stmts, max_size=6).map(tuple))


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(modules)
def test_generated_module_roundtrips(module: ast.Module) -> None:
    text = format_das(module)
    back = parse(text)
    assert back == module
    assert repr(back) == repr(module)  # also tells 1 from 1.0, which == does not
    assert format_das(back) == text


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exprs)
def test_generated_expression_roundtrips(expr: ast.Expr) -> None:
    module = ast.Module(ast.SpaceDecl("s"), (ast.LetDecl("v", expr), ast.SearchDecl((ast.SearchEntry("k", (expr,)),))))
    text = format_das(module)
    assert parse(text) == module
    assert repr(parse(text)) == repr(module)


comment_bodies = st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=10)


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(modules, st.data())
def test_inserted_comments_survive_formatting(module: ast.Module, data: st.DataObject) -> None:
    """Comments added anywhere in a printed module: none lost, none duplicated, fmt idempotent."""
    lines = format_das(module).split("\n")[:-1]
    count = data.draw(st.integers(min_value=1, max_value=6), label="comments")
    for i in range(count):
        at = data.draw(st.integers(min_value=0, max_value=len(lines)), label="line")
        body = data.draw(comment_bodies, label="body")
        comment = f"#{i}{body}"
        if at < len(lines) and data.draw(st.booleans(), label="trailing"):
            lines[at] += "  " + comment
        else:
            lines.insert(at, " " * data.draw(st.integers(0, 4), label="indent") + comment)
    text = "\n".join(lines) + "\n"
    printed = fmt(text)
    assert comment_texts(printed) == comment_texts(text)
    assert parse(printed) == module
    assert fmt(printed) == printed
