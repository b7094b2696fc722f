"""Text to AST: the Lark grammar, a newline post-lexer, the tree-to-AST builder, syntax errors."""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from dasdsl.errors import DasError, Span, error, fail
from dasdsl.files import read_text
from dasdsl.lang import ast

GRAMMAR_NAME = "das.lark"


def grammar_text() -> str:
    """The grammar, from the installed package or, in a source checkout, from grammars/."""
    packaged = resources.files("dasdsl").joinpath("grammars").joinpath(GRAMMAR_NAME)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    source_tree = Path(__file__).resolve().parents[2] / "grammars" / GRAMMAR_NAME
    return source_tree.read_text(encoding="utf-8")


class _Repeat:
    """The ``x N`` of an op chain, until op_expr takes it apart."""

    def __init__(self, children: list) -> None:
        self.children = children


class _BracketNewlines:
    """Post-lexer: newlines inside (...) and [...] are not statement ends; runs of them are one."""

    always_accept = ("_NL",)

    def __init__(self) -> None:
        self.open: list[Token] = []  # the brackets still open where the last parse stopped

    def process(self, stream):
        # No look-ahead buffering here: the contextual lexer lexes each token in
        # the parser state reached by the tokens already yielded.
        depth = 0
        last_was_newline = False
        self.open = []
        for tok in stream:
            if tok.type == "_NL":
                if depth == 0 and not last_was_newline:
                    last_was_newline = True
                    yield tok
                continue
            last_was_newline = False
            if tok.type in ("LPAR", "LSQB"):
                depth += 1
                self.open.append(tok)
            elif tok.type in ("RPAR", "RSQB") and depth > 0:
                depth -= 1
                self.open.pop()
            yield tok


class _CommentSink:
    """Collects comment tokens during one parse (lark calls it from the lexer)."""

    def __init__(self) -> None:
        self.tokens: list[Token] = []

    def __call__(self, tok: Token) -> Token:
        self.tokens.append(tok)
        return tok


_SINK = _CommentSink()
_BRACKETS = _BracketNewlines()


@functools.cache
def _parser() -> Lark:
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        postlex=_BRACKETS,
        lexer_callbacks={"COMMENT": _SINK},
        cache=True,  # a parse table cached in the temp folder: fast start of every later process
    )


def parse(text: str, file: str = "<string>") -> ast.Module:
    """Parse .das text into an AST; raise DasError (never anything else) on bad input."""
    _SINK.tokens = []  # (the post-lexer resets _BRACKETS.open itself when it starts)
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise DasError([_syntax_error(exc, text, file)], text) from None
    too_deep = _too_deep(tree, file)
    if too_deep is not None:
        raise DasError([too_deep], text)
    try:
        module = _Builder(file).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, DasError):
            raise DasError(exc.orig_exc.diagnostics, text) from None
        raise
    # lines as lark counts them: at "\n" only (str.splitlines also splits at \f, \v, \x85, \u2028, ...)
    lines = text.split("\n") if _SINK.tokens else []
    comments = tuple(_comment(tok, lines) for tok in _SINK.tokens)
    return ast.Module(module.space, module.body, comments, span=module.span)


# Deeper parse trees (e.g. `1 + 1 + ... + 1` with hundreds of terms, or `------1`) would
# overflow the Python stack in the recursive tree transformer, printer and checker.
MAX_DEPTH = 100


def _too_deep(tree: Tree, file: str) -> Any:
    """An error at the first parse-tree node nested deeper than MAX_DEPTH, else None (no recursion)."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            meta = node.meta
            span = Span(file, meta.line, meta.column, meta.end_line, meta.end_column)
            return error(
                f"expression nested too deeply (more than {MAX_DEPTH} levels)",
                span,
                "split it into smaller 'let' constants",
            )
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))
    return None


def parse_file(path: str | Path) -> ast.Module:
    return parse(read_text(path, ".das file"), str(path))


def _comment(tok: Token, lines: list[str]) -> ast.Comment:
    """``lines``: the text split at line feeds, as lark counts lines."""
    line_text = lines[tok.line - 1]
    own_line = line_text[: tok.column - 1].strip() == ""
    return ast.Comment(str(tok).rstrip(), tok.line, own_line)


# ---- syntax errors ----------------------------------------------------------------

# terminals with a literal text (LPAR, UNSHARED, ...) are described by it: '(' or 'unshared'
_TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a string",
    "_NL": "end of line",
    "$END": "end of file",
}


def _describe_terminal(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    try:
        pattern = _parser().get_terminal(name).pattern
    except KeyError:
        return name.lower()
    if pattern.type == "str":
        return f"'{pattern.value}'"
    return name.lower()


def _expected_text(expected: set[str]) -> str:
    words = sorted({_describe_terminal(t) for t in expected if not t.startswith("__")})
    if not words:
        return ""
    if len(words) > 6:
        words = [*words[:6], "..."]
    return "expected " + ", ".join(words)


def _lines(text: str) -> list[str]:
    """The lines as lark counts them (split at line feeds only), without a final empty one or CRs."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return lines


def _token_text(tok: Token) -> str:
    if tok.type == "_NL":
        return "end of line"
    if tok.type == "$END":
        return "end of file"
    return f"'{tok}'"


def _syntax_error(exc: UnexpectedInput, text: str, file: str) -> Any:
    lines = _lines(text)
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "?"
        span = Span(file, exc.line, exc.column, exc.line, exc.column + 1)
        return error(f"unexpected character {ch!r}", span, _hint_for_char(ch))
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        line = len(lines)
        col = len(lines[-1]) + 1
        expected = exc.expected
        msg = "unexpected end of file"
        exp = _expected_text(set(expected))
        if exp:
            msg += f"; {exp}"
        hint = _unclosed_bracket(line, text, at_end=True) or (
            "a '{' block is not closed" if "RBRACE" in expected else None
        )
        return error(msg, Span(file, line, max(col, 1), line, max(col, 1) + 1), hint)
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    line, col = tok.line, tok.column
    if tok.type == "_NL":
        # the newline token starts at the end of the offending line
        end = col + 1
    else:
        end = (tok.end_column or col + len(str(tok))) if tok.end_line == tok.line else col + len(str(tok))
    msg = f"unexpected {_token_text(tok)}"
    exp = _expected_text(set(exc.expected))
    if exp:
        msg += f"; {exp}"
    hint = _unclosed_bracket(line, text) or _hint_for_token(tok, set(exc.expected), exc)
    return error(msg, Span(file, line, col, line, end), hint)


# a line that starts a statement: after an unclosed '(' or '[' on an earlier line, the likely culprit
_STATEMENT_START = re.compile(
    r"[\t ]*(?:(?:space|input|let|ops|op|unshared|cell|node|output|network|search|stem|cells|head)\b|\})"
)


def _unclosed_bracket(line: int, text: str, at_end: bool = False) -> str | None:
    """A hint naming the innermost '(' or '[' left open: at the end of the file, or when the error is on a
    later line that starts a statement.

    Newlines inside brackets are dropped, so an unclosed bracket runs on into the next
    statements and the parser stops somewhere there, far from the real mistake.
    """
    if not _BRACKETS.open:
        return None
    bracket = _BRACKETS.open[-1]
    lines = text.split("\n")
    if not at_end and (bracket.line >= line or not _STATEMENT_START.match(lines[line - 1])):
        return None
    return f"the '{bracket}' at line {bracket.line}, column {bracket.column} is not closed"


def _hint_for_char(ch: str) -> str | None:
    if ch == "'":
        return "strings use double quotes"
    if ch in ";":
        return "statements end at the end of a line; no ';' is needed"
    if ch == "/":
        return "integer division is written '//'"
    if not ch.isascii() and (ch.isalnum() or ch == "_"):
        return "names are written with ASCII letters, digits and '_'"
    return None


def _hint_for_token(tok: Token, expected: set[str], exc: UnexpectedToken) -> str | None:
    state_rules = " ".join(str(r) for r in getattr(exc, "considered_rules", []) or [])
    if "TILDE" in expected:
        return "an edge is written 'source ~ op' or '(a, b) ~ [op1, op2]'"
    if tok.type == "_NL" and "RSQB" in expected:
        return "a '[' list is not closed"
    if tok.type == "_NL" and "RPAR" in expected:
        return "a '(' is not closed"
    if "SPACE" in expected or (tok.line == 1 and "space" in state_rules):
        return "a .das file starts with 'space NAME'"
    if tok.type == "NAME" and tok.line > 1 and "_NL" in expected:
        return "put each statement on its own line"
    return None


# ---- parse tree -> AST ----------------------------------------------------------------


@v_args(meta=True)
class _Builder(Transformer):
    """Turns Lark's parse tree into ast nodes carrying spans."""

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def _span(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return Span.unknown(self.file)
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok_span(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column)

    # -- top level
    def start(self, meta: Any, children: list) -> ast.Module:
        space, *body = children
        return ast.Module(space, tuple(body), span=self._span(meta))

    def space_decl(self, meta: Any, children: list) -> ast.SpaceDecl:
        return ast.SpaceDecl(str(children[0]), span=self._span(meta))

    def input_decl(self, meta: Any, children: list) -> ast.InputDecl:
        shape = next((c for c in children[1:] if isinstance(c, tuple)), None)
        classes = next((c.children[0] for c in children[1:] if isinstance(c, Tree)), None)
        return ast.InputDecl(str(children[0]), shape, span=self._span(meta), classes=classes)

    def shape(self, meta: Any, children: list) -> tuple:
        return tuple(children)

    def let_decl(self, meta: Any, children: list) -> ast.LetDecl:
        return ast.LetDecl(str(children[0]), children[1], span=self._span(meta))

    def opset_decl(self, meta: Any, children: list) -> ast.OpSetDecl:
        return ast.OpSetDecl(str(children[0]), children[1], span=self._span(meta))

    def op_list(self, meta: Any, children: list) -> ast.OpList:
        return ast.OpList(tuple(children), span=self._span(meta))

    def opdef_decl(self, meta: Any, children: list) -> ast.OpDefDecl:
        if len(children) == 3:
            name, params, body = children
        else:
            (name, body), params = children, ()
        return ast.OpDefDecl(str(name), params, body, span=self._span(meta))

    def params(self, meta: Any, children: list) -> tuple[str, ...]:
        return tuple(str(c) for c in children)

    # -- cells
    @staticmethod
    def _cell_head(children: list) -> tuple[bool, str, tuple[str, ...], list]:
        """``unshared? cell NAME params?``: the flag, the name, the parameters, and the children after them."""
        unshared = isinstance(children[0], Token) and children[0].type == "UNSHARED"
        if unshared:
            children = children[1:]
        name, rest = str(children[0]), list(children[1:])
        params: tuple[str, ...] = ()
        if rest and isinstance(rest[0], tuple):  # a Token is a str, never a tuple
            params = rest.pop(0)
        return unshared, name, params, rest

    def cell_decl(self, meta: Any, children: list) -> ast.CellDecl:
        unshared, name, params, rest = self._cell_head(children)
        stride = None
        if rest and not isinstance(rest[0], (ast.CellInputs, ast.NodeDecl, ast.CellOutput)):
            stride = rest.pop(0)
        return ast.CellDecl(name, params, tuple(rest), unshared, stride, span=self._span(meta))

    def cell_derive(self, meta: Any, children: list) -> ast.CellDerive:
        unshared, name, params, rest = self._cell_head(children)
        base_tok = rest.pop(0)
        args: tuple[ast.Arg, ...] = ()
        if rest and isinstance(rest[0], list):
            args = tuple(rest.pop(0))
        stride = rest.pop(0) if rest else None
        base = ast.Call(str(base_tok), args, span=self._tok_span(base_tok))
        return ast.CellDerive(name, params, base, stride, unshared, span=self._span(meta))

    def derive_with(self, meta: Any, children: list) -> ast.Expr:
        key, value = children
        if str(key) != "stride":
            raise fail(
                f"unknown cell modifier 'input {key}'", self._tok_span(key), "the modifier is 'with input stride N'"
            )
        return value

    def cell_inputs(self, meta: Any, children: list) -> ast.CellInputs:
        return ast.CellInputs(tuple(str(c) for c in children), span=self._span(meta))

    def node_decl(self, meta: Any, children: list) -> ast.NodeDecl:
        name = str(children[0])
        edges = tuple(c for c in children[1:] if isinstance(c, ast.EdgeGroup))
        options: dict[str, Any] = {}
        for c in children[1:]:
            if isinstance(c, tuple):
                kind, value, span = c
                if kind in options:
                    raise fail(f"'{kind}' is given twice on node '{name}'", span, f"give '{kind}' once")
                options[kind] = value
        return ast.NodeDecl(name, edges, options.get("keep"), options.get("merge"), span=self._span(meta))

    def keep(self, meta: Any, children: list) -> tuple:
        return ("keep", children[0], self._span(meta))

    def merge(self, meta: Any, children: list) -> tuple:
        return ("merge", str(children[0]), self._span(meta))

    def edge_group(self, meta: Any, children: list) -> ast.EdgeGroup:
        return ast.EdgeGroup(children[0], children[1], span=self._span(meta))

    def sources(self, meta: Any, children: list) -> tuple[str, ...]:
        return tuple(str(c) for c in children)

    def candidates(self, meta: Any, children: list) -> ast.OpList | ast.OpExpr:
        return children[0]

    def cell_output(self, meta: Any, children: list) -> ast.CellOutput:
        return ast.CellOutput((str(children[0]),), None, span=self._span(meta))

    def cell_output_merge(self, meta: Any, children: list) -> ast.CellOutput:
        return ast.CellOutput(tuple(str(c) for c in children[1:]), str(children[0]), span=self._span(meta))

    # -- ops
    def op_expr(self, meta: Any, children: list) -> ast.OpExpr:
        repeat = children[-1].children[0] if children and isinstance(children[-1], _Repeat) else None
        calls = tuple(children[:-1] if repeat is not None else children)
        return ast.OpExpr(calls, span=self._span(meta), repeat=repeat)

    def op_repeat(self, meta: Any, children: list) -> _Repeat:
        return _Repeat(children)

    def op_call(self, meta: Any, children: list) -> ast.Call:
        args = tuple(children[1]) if len(children) > 1 else ()
        return ast.Call(str(children[0]), args, span=self._span(meta))

    def call_args(self, meta: Any, children: list) -> list:
        return list(children)

    def arg(self, meta: Any, children: list) -> ast.Arg:
        return ast.Arg(None, children[0], span=self._span(meta))

    def kwarg(self, meta: Any, children: list) -> ast.Arg:
        return ast.Arg(str(children[0]), children[1], span=self._span(meta))

    def value_list(self, meta: Any, children: list) -> ast.ValueList:
        return ast.ValueList(tuple(c for c in children if c is not None), span=self._span(meta))

    # -- network
    def network_decl(self, meta: Any, children: list) -> ast.NetworkDecl:
        return ast.NetworkDecl(tuple(children), span=self._span(meta))

    def stem(self, meta: Any, children: list) -> ast.Stem:
        return ast.Stem(children[0], span=self._span(meta))

    def head(self, meta: Any, children: list) -> ast.Head:
        return ast.Head(children[0], span=self._span(meta))

    def cells(self, meta: Any, children: list) -> ast.Cells:
        return ast.Cells(tuple(children), span=self._span(meta))

    def cell_item(self, meta: Any, children: list) -> ast.CellItem:
        repeat = children[1] if len(children) > 1 else None
        return ast.CellItem(children[0], repeat, span=self._span(meta))

    # -- search
    def search_decl(self, meta: Any, children: list) -> ast.SearchDecl:
        return ast.SearchDecl(tuple(children), span=self._span(meta))

    def train_decl(self, meta: Any, children: list) -> ast.TrainDecl:
        return ast.TrainDecl(tuple(c for c in children if c is not None), span=self._span(meta))

    def search_entry(self, meta: Any, children: list) -> ast.SearchEntry:
        return ast.SearchEntry(str(children[0]), tuple(children[1:]), span=self._span(meta))

    def setting(self, meta: Any, children: list) -> ast.Expr:
        return children[0]

    def spaced_setting(self, meta: Any, children: list) -> ast.Call:
        name, value = children
        if value.type == "NUMBER":
            span = self._tok_span(value)
            arg_value: ast.Expr = ast.Number(self._number_value(str(value), span), str(value), span=span)
        else:
            arg_value = ast.Name(str(value), span=self._tok_span(value))
        return ast.Call(str(name), (ast.Arg(None, arg_value, span=arg_value.span),), span=self._span(meta))

    # -- expressions
    def number(self, meta: Any, children: list) -> ast.Number:
        span = self._span(meta)
        return ast.Number(self._number_value(str(children[0]), span), str(children[0]), span=span)

    @staticmethod
    def _number_value(text: str, span: Span) -> int | float:
        """The literal's value; a located error for one too long or not finite (``1e999``)."""
        try:
            return ast.number_value(text)
        except ast.NumberError as exc:
            raise fail(exc.message, span, exc.hint) from None

    def string(self, meta: Any, children: list) -> ast.String:
        raw = str(children[0])[1:-1]
        return ast.String(raw.replace('\\"', '"').replace("\\\\", "\\"), span=self._span(meta))

    def name(self, meta: Any, children: list) -> ast.Name:
        return ast.Name(str(children[0]), span=self._span(meta))

    def call(self, meta: Any, children: list) -> ast.Call:
        return ast.Call(str(children[0]), tuple(children[1]), span=self._span(meta))

    def _binop(op: str):  # noqa: N805 - a factory used at class-definition time
        def method(self: _Builder, meta: Any, children: list) -> ast.BinOp:
            return ast.BinOp(op, children[0], children[1], span=self._span(meta))

        return method

    add = _binop("+")
    sub = _binop("-")
    mul = _binop("*")
    floordiv = _binop("//")

    def neg(self, meta: Any, children: list) -> ast.Neg:
        return ast.Neg(children[0], span=self._span(meta))

    def range(self, meta: Any, children: list) -> ast.Range:
        return ast.Range(children[0], children[1], span=self._span(meta))

    def tuple(self, meta: Any, children: list) -> ast.Tuple:
        return ast.Tuple(tuple(children), span=self._span(meta))
