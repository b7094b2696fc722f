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
