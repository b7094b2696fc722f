"""The ``dasdsl`` command line: argument parsing, printing and exit codes live here only."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from dasdsl.errors import DasError

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _power_of_ten(n: int) -> str:
    if n == 0:
        return "0"
    digits = len(str(n)) - 1
    mantissa = n / 10**digits
    return f"{mantissa:.2f}e{digits}"


def cmd_check(args: argparse.Namespace) -> int:
    import dasdsl
    from dasdsl.count import space_stats

    status = EXIT_OK
    for file in args.files:
        try:
            space = dasdsl.load(file, plugins=args.plugin)
        except DasError as exc:
            print(exc.render(), file=sys.stderr)
            status = EXIT_ERRORS
            continue
        for w in space.warnings:
            print(w.render(space.source), file=sys.stderr)
        s = space_stats(space)
        print(
            f"{file}: ok: {s.cell_types} cell type{'s' if s.cell_types != 1 else ''}, {s.nodes} nodes, "
            f"{s.edges} edges, {s.choice_points} choice points, "
            f"{s.architectures:,} architectures (~{_power_of_ten(s.architectures)})"
        )
    return status


def cmd_fmt(args: argparse.Namespace) -> int:
    from dasdsl.parse import parse
    from dasdsl.printer import format_das

    status = EXIT_OK
    for file in args.files:
        path = Path(file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{file}: error: cannot read: {exc}", file=sys.stderr)
            status = EXIT_ERRORS
            continue
        try:
            formatted = format_das(parse(text, file))
        except DasError as exc:
            print(exc.render(), file=sys.stderr)
            status = EXIT_ERRORS
            continue
        if args.check:
            if formatted != text:
                print(f"{file}: would reformat", file=sys.stderr)
                status = EXIT_ERRORS
        elif args.write:
            if formatted != text:
                tmp = path.with_name(path.name + ".fmt.tmp")
                tmp.write_text(formatted, encoding="utf-8")
                tmp.replace(path)
                print(f"{file}: reformatted", file=sys.stderr)
        else:
            sys.stdout.write(formatted)
    return status


def _shape_arg(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(p) for p in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a shape: {text!r} (expected e.g. 3,32,32)") from None
    if not shape or any(s <= 0 for s in shape):
        raise argparse.ArgumentTypeError(f"not a shape: {text!r} (expected positive sizes, e.g. 3,32,32)")
    return shape


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape)


def _data_for(space, args: argparse.Namespace) -> tuple[tuple[int, ...], int]:
    from dasdsl import data

    if args.input_shape is not None and args.classes is not None:
        return args.input_shape, args.classes
    spec = args.data or (space.search.get("data", (None,))[0]) or data.default_source(space.input_kind)
    ds = data.load(spec, space.input_kind)
    return args.input_shape or ds.shape, args.classes or ds.classes


def compile_report(ir) -> str:
    """The text `dasdsl compile` prints: per cell its nodes and shapes, choices, adapters; parameter counts."""
    from dasdsl.cost import param_summary
    from dasdsl.ir import OUTPUT

    lines = [f"space {ir.space.name}: input {ir.kind} {_fmt_shape(ir.input_shape)}, {ir.classes} classes"]
    lines.append("")
    lines.append("network:")
    for node in ir.order():
        d = ir.macro.nodes[node]
        what = d["kind"] if d["kind"] in ("data", "stem", "head") else (d.get("cell_key") or d.get("label"))
        label = d.get("label", "")
        extra = f"  {label}" if d["kind"] in ("stem", "head", "op") and label else ""
        lines.append(f"  {node:>5}  {what}{extra}  -> {_fmt_shape(d['shape'])}")
    adapters = 0
    for key, g in ir.cells.items():
        lines.append("")
        lines.append(f"cell {key}  (architecture type {g.graph['type_name']}, input stride {g.graph['input_stride']})")
        lines.append(f"  {'node':<10} {'kind':<7} {'shape':<12} notes")
        for n, d in g.nodes(data=True):
            notes = []
            if d["kind"] == "input" and d["preprocess"] is not None:
                notes.append(f"arrives {_fmt_shape(d['arrives'])}, {d['preprocess'].kind} adapter")
            if d.get("merge") and d["kind"] != "input":
                notes.append(d["merge"])
            if d.get("keep"):
                notes.append(f"keep {d['keep']}")
            name = "output" if n == OUTPUT else n
            lines.append(f"  {name:<10} {d['kind']:<7} {_fmt_shape(d['shape']):<12} {', '.join(notes)}")
        for u, v, d in g.edges(data=True):
            if v == OUTPUT:
                continue
            cands = d["candidates"]
            kind = "choice" if d["choice"] else "fixed "
            stride = f" stride {d['stride']}" if d["stride"] != 1 else ""
            lines.append(f"  {kind} {u} -> {v}{stride}: " + " | ".join(c.label for c in cands))
        for n, d in g.nodes(data=True):
            if d["kind"] == "input" and d["preprocess"] is not None:
                adapters += 1
                lines.append(
                    f"  adapter {n}: {d['preprocess'].kind} {_fmt_shape(d['preprocess'].shape_in)} -> "
                    f"{_fmt_shape(d['preprocess'].shape_out)} ({d['preprocess'].reason})"
                )
        for u, v, d in g.edges(data=True):
            for c in d["candidates"]:
                if c.adapter is not None:
                    adapters += 1
                    lines.append(
                        f"  adapter {u} -> {v} [{c.label}]: {c.adapter.kind} "
                        f"{_fmt_shape(c.adapter.shape_in)} -> {_fmt_shape(c.adapter.shape_out)} "
                        f"({c.adapter.reason})"
                    )
    p = param_summary(ir)
    lines.append("")
    lines.append(f"{len(ir.cells)} cell graphs, {len(ir.choices)} architecture parameter vectors, {adapters} adapters")
    lines.append(
        f"parameters: supernet {p.supernet:,}; discrete architectures from {p.smallest:,} to {p.largest:,} "
        "(affine BN, adapters included)"
    )
    return "\n".join(lines)


def cmd_compile(args: argparse.Namespace) -> int:
    import json

    import dasdsl
    from dasdsl.ir import to_json

    space = dasdsl.load(args.file, plugins=args.plugin)
    for w in space.warnings:
        print(w.render(space.source), file=sys.stderr)
    shape, classes = _data_for(space, args)
    ir = space.graph(shape, classes)
    print(compile_report(ir))
    if args.graph:
        Path(args.graph).write_text(json.dumps(to_json(ir), indent=1), encoding="utf-8")
        print(f"graph written to {args.graph}", file=sys.stderr)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dasdsl", description="Differentiable architecture search from .das files.")
    parser.add_argument("--version", action="version", version="dasdsl 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("check", help="parse and check spaces; print their size")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE", help="import a module of plugin ops")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("fmt", help="print spaces in canonical form")
    p.add_argument("files", nargs="+", metavar="FILE")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="exit 1 if a file is not formatted")
    group.add_argument("--write", action="store_true", help="rewrite files in place")
    p.set_defaults(func=cmd_fmt)

    p = sub.add_parser("compile", help="lower a space: shapes, choices, adapters, parameter counts")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--input-shape", type=_shape_arg, default=None, metavar="C,H,W", help="e.g. 3,32,32")
    p.add_argument("--classes", type=int, default=None, help="number of classes")
    p.add_argument("--data", default=None, help="take shape and classes from a data source (digits, mnist1d, ...)")
    p.add_argument("--graph", default=None, metavar="OUT.json", help="write the IR as networkx node-link JSON")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE", help="import a module of plugin ops")
    p.set_defaults(func=cmd_compile)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return func(args)
    except DasError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_ERRORS
    except KeyboardInterrupt:
        print("dasdsl: interrupted", file=sys.stderr)
        return 130
