"""The ``dasdsl`` command line: argument parsing, printing and exit codes live here only."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dasdsl import api
from dasdsl.engine.discretization import disconnected_cells
from dasdsl.errors import DasError, Span, error
from dasdsl.files import check_output_file, file_system_error, read_text, write_atomic
from dasdsl.lang.count import space_stats
from dasdsl.lang.parse import parse
from dasdsl.lang.printer import format_das
from dasdsl.lang.settings import RUN_SETTING_FLAGS, SEARCH, SEARCH_KEYS, TRAIN, SettingsTable, parse_override
from dasdsl.view.console import ProgressDisplay, summary_text
from dasdsl.wording import plural, shape_text

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
    status = EXIT_OK
    for file in args.files:
        try:
            space = _with_lets(api.load(file, plugins=args.plugin), args)  # checked with the constants given
        except DasError as exc:
            print(exc.render(), file=sys.stderr)
            status = EXIT_ERRORS
            continue
        for w in space.warnings:
            print(w.render(space.source), file=sys.stderr)
        s = space_stats(space)
        # a disconnected architecture (a cell ignores its input) counts in the space but no search returns it
        cut = f", {s.disconnected:,} of them disconnected (never returned by a search)" if s.disconnected else ""
        print(
            f"{file}: ok: {plural(s.cell_types, 'cell type')}, {plural(s.nodes, 'node')}, "
            f"{plural(s.edges, 'edge')}, {plural(s.choice_points, 'choice point')}, "
            f"{s.architectures:,} architecture{'s' if s.architectures != 1 else ''} (~{_power_of_ten(s.architectures)})"
            + cut
        )
    return status


def cmd_fmt(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for file in args.files:
        path = Path(file)
        try:
            text = read_text(path, ".das file")
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
                try:
                    write_atomic(path, formatted, ".das file")
                except DasError as exc:  # a full disk, a link: this file is as it was; on to the next
                    print(exc.render(), file=sys.stderr)
                    status = EXIT_ERRORS
                    continue
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


def _data_for(space: api.Space, args: argparse.Namespace) -> tuple[tuple[int, ...], int]:
    """Shape and classes from --input-shape/--classes, the rest from --data or the space's data."""
    if args.input_shape is not None and args.classes is not None:
        return args.input_shape, args.classes
    if args.data is None and space.input_shape is not None and space.input_classes is not None:
        return args.input_shape or space.input_shape, args.classes or space.input_classes  # a result states both
    shape, classes = api.describe(space, args.data)
    return args.input_shape or space.input_shape or shape, args.classes or classes


def cmd_compile(args: argparse.Namespace) -> int:
    if args.graph:
        check_output_file(args.graph, "graph file")
    space = api.load(args.file, plugins=args.plugin)
    for w in space.warnings:
        print(w.render(space.source), file=sys.stderr)
    ir = space.graph(*_data_for(space, args))
    print(api.compile_report(ir))
    if args.graph:
        write_atomic(args.graph, json.dumps(api.graph_json(ir), indent=1), "graph file")
        print(f"graph written to {args.graph}", file=sys.stderr)
    return EXIT_OK


def add_setting_flags(parser: argparse.ArgumentParser, table: SettingsTable) -> None:
    """One flag per flagged setting of ``table`` (``--data``, ``--epochs``, ...), ``dest`` the setting's name:
    argument parsing lives here, built from the table's records."""
    for s in table.flagged:
        assert s.flag is not None and s.option is not None
        kwargs: dict[str, Any] = {"default": None, "help": s.flag.help}
        if s.flag.type is not None:
            kwargs["type"] = s.flag.type
        if s.flag.choices is not None:
            kwargs["choices"] = s.flag.choices
        if s.flag.metavar is not None:
            kwargs["metavar"] = s.flag.metavar
        parser.add_argument(s.option, dest=s.name, **kwargs)


def _let_arg(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` of ``--let``: the value stays text, read as a number the way the file's numbers are
    (``lang.load.with_lets``), so a bad one is an error at the constant's let line that quotes it."""
    name, eq, value = text.partition("=")
    if not eq or not name.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. C=36), got {text!r}")
    return name.strip(), value


def _add_let_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--let",
        action="append",
        default=[],
        type=_let_arg,
        metavar="NAME=VALUE",
        help="give a let constant another value, e.g. C=36",
    )


def _with_lets(space: api.Space, args: argparse.Namespace) -> api.Space:
    """``space`` with the ``--let`` constants given (an error they cause names the flag)."""
    return space.with_constants(dict(args.let), given_by="--let {name}={value}") if args.let else space


def _load_with_lets(args: argparse.Namespace) -> api.Space:
    """The space of ``args.file`` with the ``--let`` constants given."""
    return _with_lets(api.load(args.file, plugins=args.plugin), args)


def cmd_export(args: argparse.Namespace) -> int:
    space = _load_with_lets(args)
    for w in space.warnings:
        print(w.render(space.source), file=sys.stderr)
    path = api.export(
        space,
        args.format,
        args.output,
        weights=args.weights,
        data=args.data,
        input_shape=args.input_shape,
        classes=args.classes,
    )
    weights = f"the weights of {args.weights}" if args.weights else "freshly initialized weights (no --weights)"
    if args.format == "python":
        weights = f"load {args.weights or 'model.pt'} into Network() (see the file's docstring)"
    print(f"{args.format}: {path} ({weights})")
    return EXIT_OK


def _usage_diag(message: str):  # noqa: ANN202
    return error(message, Span.unknown("<command line>"))


def _settings_from(args: argparse.Namespace) -> dict:
    """The search settings given on the command line: the flags of the settings table, then --set KEY=VALUE."""

    found: dict = {key: getattr(args, key) for key in RUN_SETTING_FLAGS if getattr(args, key, None) is not None}
    for item in args.set or []:
        if "=" not in item:
            raise DasError([_usage_diag(f"--set takes KEY=VALUE, got {item!r}")])
        key, value = (part.strip() for part in item.split("=", 1))
        if key not in SEARCH_KEYS:
            parse_override(key, value)  # raises the settings table's "unknown search setting" error
        found[key] = value
    return found


def cmd_run(args: argparse.Namespace) -> int:
    if args.nproc is not None and args.nproc < 1:
        raise DasError([_usage_diag(f"--nproc must be at least 1, got {args.nproc}")])
    if args.nproc and args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _launch(args.nproc)
    main_rank = os.environ.get("RANK", "0") == "0"
    quiet = args.quiet or not main_rank

    def announce(out: Path) -> None:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        print(f"run directory: {out}" + (f" ({size} processes)" if size > 1 else ""), file=sys.stderr)

    with ProgressDisplay(quiet) as display:
        if args.resume:
            given = [
                f"--{k.replace('_', '-')}" for k in RUN_SETTING_FLAGS if k != "epochs" and getattr(args, k) is not None
            ]
            if args.space or args.set or given:
                drop = ", ".join(given or (["SPACE"] if args.space else ["--set"]))
                keeps = "--resume continues a run with the settings it started with (only --epochs extends it)"
                message = f"{keeps}; drop {drop}"
                raise DasError([_usage_diag(message)])
            result = api.resume(
                args.resume,
                progress=display,
                device=args.device,
                plugins=args.plugin,
                epochs=args.epochs,
                on_run_dir=announce,
                report=not args.no_report,
            )
        else:
            if not args.space:
                raise DasError([_usage_diag("dasdsl run needs a SPACE file (or --resume RUN_DIR)")])
            space = api.load(args.space, plugins=args.plugin)
            if main_rank:
                for w in space.warnings:
                    print(w.render(space.source), file=sys.stderr)
            result = api.search(
                space,
                out=args.out,
                progress=display,
                device=args.device,
                plugins=args.plugin,
                source=args.space,
                on_run_dir=announce,
                report=not args.no_report,
                **_settings_from(args),
            )
    if result is not None:
        print(summary_text(result.space, result.summary, result.run_dir))
        if result.report is not None:
            print(f"report: {result.report}", file=sys.stderr)
        elif result.report_error is not None:
            print(f"dasdsl: no report.html ({result.report_error})", file=sys.stderr)
    return EXIT_OK


def _launch(nproc: int) -> int:
    """``dasdsl run --nproc N``: the same command under torchrun, one process per rank."""

    argv = [a for a in sys.argv[1:]]
    cleaned, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        cleaned.append(a)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "dasdsl",
        *cleaned,
    ]
    code = subprocess.call(cmd)
    if code != 0:
        print(
            f"dasdsl: a search process failed (exit code {code}); the other processes were stopped. The last "
            "complete checkpoint in the run directory is intact: resume with 'dasdsl run --resume RUN_DIR'.",
            file=sys.stderr,
        )
        return EXIT_ERRORS
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    given = [s.option for s in TRAIN.flagged if getattr(args, s.name) is not None]
    given += ["--let"] if args.let else []
    if args.resume and (args.file or given):
        drop = ", ".join(given or ["RESULT.das"])
        raise DasError(
            [_usage_diag(f"--resume continues a training run with the settings it started with; drop {drop}")]
        )
    if not args.resume and not args.file:
        raise DasError([_usage_diag("dasdsl train needs a RESULT.das file (or --resume RUN_DIR)")])
    space: api.Space | None = None  # the architecture trained (not known here on --resume)
    with ProgressDisplay(args.quiet) as display:
        if args.resume:
            print(f"run directory: {args.resume}", file=sys.stderr)
            trained = api.resume_training(args.resume, progress=display, device=args.device, plugins=args.plugin)
        else:
            options = {s.name: getattr(args, s.name) for s in TRAIN.flagged if s.name != "data"}
            space = _load_with_lets(args)
            given = {name: space.constants[name] for name, _ in args.let}  # as read (--let C=36: 36)
            _print_training(space, api.training_settings(space, **options), given)
            trained = api.train(  # flags not given (None): the space's train block, else the table's defaults
                space,
                args.data,
                out=args.out,
                progress=display,
                device=args.device,
                on_run_dir=lambda out: print(f"run directory: {out}", file=sys.stderr),
                **options,
            )
    model = trained.run_dir / "model.pt" if trained.run_dir is not None else None
    sizes = [(n.startswith("auxiliary."), p.numel()) for n, p in trained.network.named_parameters()]
    params = sum(k for aux, k in sizes if not aux)
    aux = sum(k for is_aux, k in sizes if is_aux)
    extra = f", plus {aux:,} in the auxiliary head (training only)" if aux else ""
    print(f"parameters: {params:,}{extra}")
    print(f"test accuracy: {trained.test_acc:.3f} ({trained.test_samples} samples); model: {model}")
    chance = 1 / trained.classes
    cut = disconnected_cells(space, {}) if space is not None else []
    if trained.test_acc < 1.5 * chance + 0.05 and cut:
        print(
            f"note: that is near chance (1/{trained.classes} = {chance:.3f}): no input reaches the output of cell "
            f"{', '.join(map(repr, cut))} through an op other than none, so the network computes a constant"
        )
    elif trained.test_acc < 1.5 * chance + 0.05:
        epochs = len(trained.history)
        print(
            f"note: that is near chance (1/{trained.classes} = {chance:.3f}): the network has not learned"
            f" the task in {plural(epochs, 'epoch')}; train longer (--epochs) or check --lr and"
            " the data"
        )
    return EXIT_OK


def _print_training(space: api.Space, cfg: Any, given: dict[str, float]) -> None:
    """What will train: the settings that differ from the defaults, and the constants the train block gives."""
    changed = [f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in cfg.to_json().items()]
    defaults = TRAIN.config().to_json()
    shown = [text for text, (k, v) in zip(changed, cfg.to_json().items()) if k != "data" and v != defaults[k]]
    lets = [f"{k} = {v:g}" for k, v in {**space.train_lets, **given}.items()]
    if shown or lets:
        parts = ", ".join(shown) + ("; " if shown and lets else "") + (f"let {', '.join(lets)}" if lets else "")
        print(f"training with {parts} (the train block, then flags; the rest as default)", file=sys.stderr)


def cmd_profile(args: argparse.Namespace) -> int:
    options = {"batch": args.batch, "repeats": args.repeats, "warmup": args.warmup, "threads": args.threads}
    api.check_profile_options(**options, flags=True)  # before any work: the space, its data, the timing
    check_output_file(args.output, "latency table")
    space = api.load(args.space, plugins=args.plugin)
    for w in space.warnings:
        print(w.render(space.source), file=sys.stderr)
    ir = space.graph(*_data_for(space, args))
    out = Path(args.output)
    table = api.profile(ir, out, device=args.device, **options, source=args.space)
    lines = [
        f"latency of space {ir.space.name} ({shape_text(ir.input_shape)}, {ir.classes} classes) on "
        f"{table['device']} ({table['device_name']}, {plural(table['threads'], 'thread')}): ms per batch of "
        f"{table['batch']}, median of {args.repeats} runs after {args.warmup} warm-up, summed over cell instances",
        f"  {'fixed part':<40} {table['fixed']:10.3f}",
    ]
    for key, row in table["choices"].items():
        lines.append(f"  {key}")
        lines += [f"    {label:<38} {ms:10.3f}" for label, ms in row.items()]
    print("\n".join(lines))
    print(f"latency table written to {out}", file=sys.stderr)
    return EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    rendered = api.render(
        args.file,
        args.output,
        cell=args.cell,
        run_dir=args.run,
        macro=args.macro,
        data=args.data,
        input_shape=args.input_shape,
        classes=args.classes,
        plugins=args.plugin,
    )
    for note in rendered.notes:
        print(note, file=sys.stderr)
    if rendered.missing_dot is not None:
        print(rendered.missing_dot, file=sys.stderr)
    else:
        for path in rendered.paths:
            print(path)
    return EXIT_OK


def cmd_plot(args: argparse.Namespace) -> int:
    for path in api.plot(args.run_dir, args.output):
        print(path)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    print(api.report(args.run_dir, args.output))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dasdsl", description="Differentiable architecture search from .das files.")
    parser.add_argument("--version", action="version", version="dasdsl 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("check", help="parse and check spaces; print their size")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE", help="import a module of plugin ops")
    _add_let_flag(p)
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

    p = sub.add_parser("export", help="write a fixed architecture as plain PyTorch, TorchScript or ONNX")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", choices=api.EXPORT_FORMATS, default="python", help="default: python")
    p.add_argument("-o", "--output", default=None, metavar="FILE", help="default: SPACE_NAME.py / .pt / .onnx")
    p.add_argument("--weights", default=None, metavar="MODEL.pt", help="the model.pt that dasdsl train wrote")
    p.add_argument("--input-shape", type=_shape_arg, default=None, metavar="C,H,W", help="e.g. 3,32,32")
    p.add_argument("--classes", type=int, default=None, help="number of classes")
    p.add_argument("--data", default=None, help="take shape and classes from a data source (digits, mnist1d, ...)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE", help="import a module of plugin ops")
    _add_let_flag(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("run", help="search a space and write the result as .das")
    p.add_argument("space", nargs="?", metavar="SPACE")
    add_setting_flags(p, SEARCH)  # --data, --epochs, ...: the search block's flagged settings
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any search setting, in .das syntax")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--out", default="runs", help="folder for run directories (default runs/)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue an interrupted run")
    p.add_argument("--nproc", type=int, default=None, metavar="N", help="search with N processes (torchrun)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--no-report", action="store_true", help="skip report.html (dasdsl report RUN_DIR writes it later)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("train", help="train a fixed architecture (a search result) from scratch")
    p.add_argument("file", nargs="?", metavar="RESULT.das")
    add_setting_flags(p, TRAIN)  # --data, --epochs, ... --drop-path: the train block's settings
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue a killed training run")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="runs")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE")
    p.add_argument("--quiet", action="store_true")
    _add_let_flag(p)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("profile", help="time every candidate on this device: a latency table for cost(latency, ...)")
    p.add_argument("space", metavar="SPACE")
    p.add_argument("--data", default=None, help="take shape and classes from a data source (digits, mnist1d, ...)")
    p.add_argument("--input-shape", type=_shape_arg, default=None, metavar="C,H,W", help="e.g. 3,32,32")
    p.add_argument("--classes", type=int, default=None, help="number of classes")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--batch", type=int, default=None, help="batch size timed (default: the space's, else 64)")
    p.add_argument("--repeats", type=int, default=10, help="timed runs per candidate; the median is kept")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads while timing")
    p.add_argument("-o", "--output", default="latency.json", metavar="FILE", help="the JSON table (latency.json)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE", help="import a module of plugin ops")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("render", help="draw a space's cells (or its network) with graphviz: SVG, PNG or PDF")
    p.add_argument("file", nargs="?", metavar="FILE", help="a .das space or result (default: the run's space.das)")
    p.add_argument("-o", "--output", default=None, metavar="OUT", help="OUT.svg, OUT.png or OUT.pdf (default FILE.svg)")
    p.add_argument("--cell", default=None, metavar="NAME", help="draw only this cell (default: one file per cell)")
    p.add_argument("--run", default=None, metavar="RUN_DIR", help="colour the edges by a run's final gate weights")
    p.add_argument("--macro", action="store_true", help="draw the macro network: stem, cells, ops, head")
    p.add_argument("--data", default=None, help="take shape and classes from a data source (digits, mnist1d, ...)")
    p.add_argument("--input-shape", type=_shape_arg, default=None, metavar="C,H,W", help="e.g. 3,32,32")
    p.add_argument("--classes", type=int, default=None, help="number of classes")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE", help="import a module of plugin ops")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("plot", help="plot a run's curves: gate weights, temperature, loss and accuracy, skips")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("-o", "--output", default=None, metavar="DIR", help="folder for the PNGs (default RUN_DIR/plots)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("report", help="write one self-contained HTML page about a run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("-o", "--output", default=None, metavar="OUT.html", help="default RUN_DIR/report.html")
    p.set_defaults(func=cmd_report)
    return parser


def _warning_line(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> str:
    return f"dasdsl: warning: {message}\n"


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    signal.signal(signal.SIGTERM, _terminated)  # a kill is handled like Ctrl-C: message, checkpoint kept
    warnings.formatwarning = _warning_line  # a note about the user's data reads as one line, not a code location
    try:
        return func(args)
    except DasError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_ERRORS
    except KeyboardInterrupt:
        print(
            "dasdsl: interrupted; what was written so far is kept (a run resumes with --resume RUN_DIR)",
            file=sys.stderr,
        )
        return 130
    except OSError as exc:  # the file system refused something no check foresaw: the user's to fix, not a bug
        print(file_system_error(exc).render(), file=sys.stderr)
        return EXIT_ERRORS
    except Exception as exc:  # an internal bug: one paragraph, the traceback only on request
        if os.environ.get("DASDSL_DEBUG"):
            traceback.print_exc()
        print(
            f"dasdsl: internal error: {type(exc).__name__}: {exc}\nThis is a bug in dasdsl, not in your input; "
            "set DASDSL_DEBUG=1 to see the traceback and please report it.",
            file=sys.stderr,
        )
        return 3
