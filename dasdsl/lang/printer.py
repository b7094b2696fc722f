"""AST to canonical .das text: the inverse of the parser, comments kept in place."""

from __future__ import annotations

from collections.abc import Iterable

from dasdsl.lang import ast

INDENT = "    "
LINE_WIDTH = 88

# binding strength of each expression form; higher binds tighter
_PREC = {"->": 0, "+": 1, "-": 1, "*": 2, "//": 2}
_NEG_PREC = 3
_ATOM_PREC = 4


def format_das(module: ast.Module, header: Iterable[str] = ()) -> str:
    """Print a module canonically; ``header`` lines become ``#`` comments at the top."""
    return _Printer(module.comments).module(module, list(header))


def format_op(op: ast.OpExpr | ast.Call) -> str:
    printer = _Printer(())
    return printer.op_call(op) if isinstance(op, ast.Call) else printer.op_expr(op)


def _group(stmt: object) -> str:
    """Statements of one group print without a blank line between them."""
    if isinstance(stmt, (ast.SpaceDecl, ast.InputDecl)):
        return "head"
    if isinstance(stmt, ast.LetDecl):
        return "let"
    if isinstance(stmt, (ast.OpSetDecl, ast.OpDefDecl)):
        return "ops"
    if isinstance(stmt, ast.CellDerive):
        return "derive"
    return f"block-{id(stmt)}"


class _Printer:
    """One method per AST class; comments are emitted by source line as statements pass."""

    def __init__(self, comments: Iterable[ast.Comment]) -> None:
        self.pending = sorted(comments, key=lambda c: c.line)

    # ---- comments
    def _before(self, line: int) -> list[str]:
        """Own-line comments that stand before source line ``line``."""
        if line <= 0:
            return []
        taken = [c for c in self.pending if c.line < line]
        self.pending = [c for c in self.pending if c.line >= line]
        return [c.text for c in taken]

    def _trailing(self, line: int) -> str:
        if line <= 0:
            return ""
        taken = [c for c in self.pending if c.line == line and not c.own_line]
        if not taken:
            return ""
        self.pending = [c for c in self.pending if c not in taken]
        return "  " + " ".join(c.text for c in taken)

    def _lines_for(self, stmt: object, text_lines: list[str], indent: str) -> list[str]:
        span = stmt.span  # type: ignore[attr-defined]
        out = [indent + c for c in self._before(span.line)]
        text_lines = list(text_lines)
        text_lines[-1] += self._trailing(span.end_line)
        out.extend(indent + t if t else t for t in text_lines)
        return out

    # ---- module
    def module(self, module: ast.Module, header: list[str]) -> str:
        lines = [("# " + h if h else "#").rstrip() for h in header]
        stmts: list[object] = [module.space, *module.body]
        previous: str | None = None
        for stmt in stmts:
            group = _group(stmt)
            if previous is not None and group != previous:
                lines.append("")
            previous = group
            # comments before the statement first: rendering an op list takes comments by line
            lines.extend(self._before(stmt.span.line))  # type: ignore[attr-defined]
            lines.extend(self._lines_for(stmt, self.statement(stmt), ""))
        rest = [c.text for c in self.pending]
        if rest:
            lines.append("")
            lines.extend(rest)
        return "\n".join(lines).rstrip("\n") + "\n"

    def statement(self, stmt: object) -> list[str]:
        method = getattr(self, "stmt_" + type(stmt).__name__)
        return method(stmt)

    def stmt_SpaceDecl(self, s: ast.SpaceDecl) -> list[str]:
        return [f"space {s.name}"]

    def stmt_InputDecl(self, s: ast.InputDecl) -> list[str]:
        shape = "" if s.shape is None else "(" + ", ".join(self.expr(e) for e in s.shape) + ")"
        classes = "" if s.classes is None else f" classes {self.expr(s.classes)}"
        return [f"input {s.kind}{shape}{classes}"]

    def stmt_LetDecl(self, s: ast.LetDecl) -> list[str]:
        return [f"let {s.name} = {self.expr(s.value)}"]

    def stmt_OpSetDecl(self, s: ast.OpSetDecl) -> list[str]:
        return self.op_list(s.ops, f"ops {s.name} = ", "")

    def stmt_OpDefDecl(self, s: ast.OpDefDecl) -> list[str]:
        return [f"op {s.name}{self.params(s.params)} = {self.op_expr(s.body)}"]

    def stmt_CellDecl(self, s: ast.CellDecl) -> list[str]:
        prefix = "unshared " if s.unshared else ""
        stride = "" if s.input_stride is None else f" with input stride {self.expr(s.input_stride)}"
        lines = [f"{prefix}cell {s.name}{self.params(s.params)}{stride} {{"]
        lines[0] += self._trailing(s.span.line)
        bodies = [(stmt, self.cell_stmt(stmt)) for stmt in s.body]
        width = max((len(text) for stmt, (text, opts) in bodies if opts), default=0)
        for stmt, (text, opts) in bodies:
            line = f"{text.ljust(width)}  {opts}" if opts else text
            lines.extend(self._lines_for(stmt, [line], INDENT))
        lines.extend(INDENT + c for c in self._before(s.span.end_line))
        lines.append("}")
        return lines

    def stmt_CellDerive(self, s: ast.CellDerive) -> list[str]:
        prefix = "unshared " if s.unshared else ""
        text = f"{prefix}cell {s.name}{self.params(s.params)} = {self.op_call(s.base)}"
        if s.input_stride is not None:
            text += f" with input stride {self.expr(s.input_stride)}"
        return [text]

    def stmt_NetworkDecl(self, s: ast.NetworkDecl) -> list[str]:
        return self.block("network", s, [(stmt, self.net_stmt(stmt)) for stmt in s.body], 5)

    def stmt_SearchDecl(self, s: ast.SearchDecl) -> list[str]:
        entries = [(e, (e.key, ", ".join(self.expr(v) for v in e.values))) for e in s.entries]
        width = max((len(e.key) for e in s.entries), default=0)
        return self.block("search", s, entries, width)

    def stmt_TrainDecl(self, s: ast.TrainDecl) -> list[str]:
        rows = [
            (e, ("let", f"{e.name} = {self.expr(e.value)}"))
            if isinstance(e, ast.LetDecl)
            else (e, (e.key, ", ".join(self.expr(v) for v in e.values)))
            for e in s.entries
        ]
        width = max((len(e.key) for e in s.settings), default=0)
        return self.block("train", s, rows, width)

    def block(self, keyword: str, s: object, rows: list, width: int) -> list[str]:
        span = s.span  # type: ignore[attr-defined]
        lines = [f"{keyword} {{" + self._trailing(span.line)]
        for stmt, (key, value) in rows:
            key = key if isinstance(stmt, ast.LetDecl) else key.ljust(width)  # `let C = 36` is not a column
            lines.extend(self._lines_for(stmt, [f"{key} {value}"], INDENT))
        lines.extend(INDENT + c for c in self._before(span.end_line))
        lines.append("}")
        return lines

    # ---- cells and network
    def cell_stmt(self, stmt: ast.CellStmt) -> tuple[str, str]:
        """The statement's text, and its trailing options (aligned in a column)."""
        if isinstance(stmt, ast.CellInputs):
            return "input " + ", ".join(stmt.names), ""
        if isinstance(stmt, ast.CellOutput):
            if stmt.merge is None:
                return f"output {stmt.names[0]}", ""
            return f"output {stmt.merge}({', '.join(stmt.names)})", ""
        edges = ", ".join(self.edge_group(e) for e in stmt.edges)
        opts = []
        if stmt.keep is not None:
            opts.append(f"keep {self.expr(stmt.keep)}")
        if stmt.merge is not None:
            opts.append(f"merge {stmt.merge}")
        return f"node {stmt.name} = {edges}", " ".join(opts)

    def edge_group(self, e: ast.EdgeGroup) -> str:
        sources = e.sources[0] if len(e.sources) == 1 else "(" + ", ".join(e.sources) + ")"
        if isinstance(e.candidates, ast.OpList):
            cands = "[" + ", ".join(self.op_expr(o) for o in e.candidates.ops) + "]"
        else:
            cands = self.op_expr(e.candidates)
        return f"{sources} ~ {cands}"

    def net_stmt(self, stmt: ast.NetStmt) -> tuple[str, str]:
        if isinstance(stmt, ast.Stem):
            return "stem", self.op_expr(stmt.op)
        if isinstance(stmt, ast.Head):
            return "head", self.op_expr(stmt.op)
        items = []
        for item in stmt.items:
            text = self.op_call(item.call)
            if item.repeat is not None:
                text += f" x {self.expr(item.repeat)}"
            items.append(text)
        return "cells", ", ".join(items)

    # ---- ops
    def op_list(self, ops: ast.OpList, prefix: str, indent: str) -> list[str]:
        items = [self.op_expr(o) for o in ops.ops]
        one_line = prefix + "[" + ", ".join(items) + "]"
        inner = [c for c in self.pending if ops.span.line < c.line <= ops.span.end_line]
        if (len(indent + one_line) <= LINE_WIDTH and not inner) or not items:
            return [one_line]
        lines = [prefix + "[" + self._trailing(ops.span.line)]
        for group in _rows(ops.ops, items, LINE_WIDTH - len(indent + INDENT)):
            first_line = group[0][0].span.line
            lines.extend(INDENT + c for c in self._before(first_line))
            row = " ".join(text + "," for _, text in group)
            lines.append(INDENT + row + self._trailing(group[-1][0].span.line))
        lines.extend(INDENT + c for c in self._before(ops.span.end_line))
        lines.append("]")
        return lines

    def op_expr(self, o: ast.OpExpr) -> str:
        chain = " then ".join(self.op_call(c) for c in o.steps)
        return chain if o.repeat is None else f"{chain} x {self.expr(o.repeat, _NEG_PREC)}"

    def op_call(self, c: ast.Call) -> str:
        if not c.args:
            return c.func
        return f"{c.func}({self.args(c.args)})"

    def params(self, params: tuple[str, ...]) -> str:
        return "(" + ", ".join(params) + ")" if params else ""

    def args(self, args: tuple[ast.Arg, ...]) -> str:
        return ", ".join(self.expr(a.value) if a.name is None else f"{a.name} = {self.expr(a.value)}" for a in args)

    # ---- expressions
    def expr(self, e: ast.Expr, context: int = -1) -> str:
        text, prec = self._expr(e)
        return f"({text})" if prec <= context else text

    def _expr(self, e: ast.Expr) -> tuple[str, int]:
        if isinstance(e, ast.Number):
            return _number_text(e), _ATOM_PREC
        if isinstance(e, ast.String):
            return '"' + e.value.replace("\\", "\\\\").replace('"', '\\"') + '"', _ATOM_PREC
        if isinstance(e, ast.Name):
            return e.id, _ATOM_PREC
        if isinstance(e, ast.Call):
            return f"{e.func}({self.args(e.args)})", _ATOM_PREC
        if isinstance(e, ast.Tuple):
            inner = ", ".join(self.expr(i) for i in e.items)
            return ("(" + inner + ",)" if len(e.items) == 1 else "(" + inner + ")"), _ATOM_PREC
        if isinstance(e, ast.Neg):
            # a negated negation keeps its parentheses: -(-1), never --1
            return "-" + self.expr(e.operand, _NEG_PREC), _NEG_PREC
        if isinstance(e, ast.Range):
            return f"{self.expr(e.start, 0)} -> {self.expr(e.end, 0)}", 0
        if isinstance(e, ast.ValueList):
            return "[" + ", ".join(self.expr(i) for i in e.items) + "]", _ATOM_PREC
        assert isinstance(e, ast.BinOp), f"unknown expression {e!r}"
        prec = _PREC[e.op]
        # left-associative: the right operand needs parentheses at equal precedence
        return f"{self.expr(e.left, prec - 1)} {e.op} {self.expr(e.right, prec)}", prec


def _rows(ops: tuple[ast.OpExpr, ...], texts: list[str], width: int) -> list[list]:
    """Rows of a broken list: the source's own line breaks, else greedy filling to ``width``."""
    rows: list[list] = []
    for op, text in zip(ops, texts, strict=False):
        if rows:
            last_op, _ = rows[-1][-1]
            same_source_line = op.span.line > 0 and op.span.line == last_op.span.line
            used = sum(len(t) + 2 for _, t in rows[-1])
            fits = used + len(text) + 1 <= width
            if fits and (same_source_line or (op.span.line <= 0 and last_op.span.line <= 0)):
                rows[-1].append((op, text))
                continue
        rows.append([(op, text)])
    return rows


def _number_text(n: ast.Number) -> str:
    """The source spelling when it still means the same value, else a canonical one."""
    if n.text is not None:
        try:
            parsed = ast.number_value(n.text)
        except ast.NumberError:  # a spelling the parser refuses (a node built in code, e.g. 1e999): kept,
            return n.text  # so that reading the text back says what is wrong, where
        if parsed == n.value and type(parsed) is type(n.value):
            return n.text
    if isinstance(n.value, bool) or not isinstance(n.value, (int, float)):
        raise TypeError(f"not a number: {n.value!r}")
    assert n.value >= 0, "negative numbers are Neg(Number)"
    return repr(n.value)
