"""The ``dasdsl`` command line: argument parsing, printing and exit codes live here only."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from dasdsl.errors import DasError

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
# `dasdsl run` flags that set a search setting of the same name
RUN_SETTING_FLAGS = (
    "data",
    "epochs",
    "batch",
    "seed",
    "split",
    "hypergradient",
    "gate",
    "finetune",
    "precision",
    "top",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _power_of_ten(n: int) -> str:
    if n == 0:
        return "0"
    digits = len(str(n)) - 1
    mantissa = n / 10**digits
    return f"{mantissa:.2f}e{digits}"


def cmd_check(args: argparse.Namespace) -> int:
    import dasdsl
    from dasdsl.lang.count import space_stats

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
            f"{file}: ok: {_plural(s.cell_types, 'cell type')}, {_plural(s.nodes, 'node')}, "
            f"{_plural(s.edges, 'edge')}, {_plural(s.choice_points, 'choice point')}, "
            f"{s.architectures:,} architecture{'s' if s.architectures != 1 else ''} (~{_power_of_ten(s.architectures)})"
        )
    return status


def cmd_fmt(args: argparse.Namespace) -> int:
    from dasdsl.lang.parse import parse
    from dasdsl.lang.printer import format_das

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
    from dasdsl.search import data

    if args.input_shape is not None and args.classes is not None:
        return args.input_shape, args.classes
    shape, classes = data.describe(space, args.data)
    return args.input_shape or shape, args.classes or classes


def compile_report(ir) -> str:
    """The text `dasdsl compile` prints: per cell its nodes and shapes, choices, adapters; parameter counts."""
    from dasdsl.compiler.cost import param_summary
    from dasdsl.compiler.ir import OUTPUT

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
    from dasdsl.compiler.ir import to_json

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


class _Progress:
    """A rich progress bar per epoch; silent with --quiet."""

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.quiet = quiet
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=quiet,
            transient=True,
        )
        self.task = None

    def __enter__(self) -> _Progress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def start(self, description: str) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(description, total=None, stats="")

    def update(self, done: int, total: int, stats: dict) -> None:
        text = "  ".join(f"{k} {v:.3f}" for k, v in stats.items())
        self.bar.update(self.task, completed=done, total=total, stats=text)

    def log(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, highlight=False)


def _overrides(args: argparse.Namespace) -> dict:
    from dasdsl.lang.settings import parse_override

    found: dict = {}
    for key in RUN_SETTING_FLAGS:
        value = getattr(args, key, None)
        if value is not None:
            found[key] = parse_override(key, _das_value(key, value))
    for item in args.set or []:
        if "=" not in item:
            raise DasError([_usage_diag(f"--set takes KEY=VALUE, got {item!r}")])
        key, value = item.split("=", 1)
        found[key.strip()] = parse_override(key.strip(), value)
    return found


def _das_value(key: str, value: object) -> str:
    text = str(value)
    if key == "data" and ":" in text and "(" not in text:
        name, path = text.split(":", 1)
        return f'{name}("{path}")'
    return text


def _usage_diag(message: str):  # noqa: ANN202
    from dasdsl.errors import Span, error

    return error(message, Span.unknown("<command line>"))


def _append_jsonl(path: Path, record: dict) -> None:
    import json
    import os

    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def cmd_run(args: argparse.Namespace) -> int:
    import json
    import os
    import shutil

    import dasdsl
    from dasdsl.lang.settings import SearchConfig
    from dasdsl.search import distributed
    from dasdsl.search import run as r

    if args.nproc and args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _launch(args.nproc)
    device = r.pick_device(args.device)
    world = distributed.from_environment(device)
    if world.distributed and device.type == "cuda":
        device = r.pick_device(f"cuda:{world.local_rank}")
    quiet = args.quiet or not world.main
    if args.resume:
        given = [f"--{k.replace('_', '-')}" for k in RUN_SETTING_FLAGS if getattr(args, k) is not None]
        if args.space or args.set or given:
            drop = ", ".join(given or (["SPACE"] if args.space else ["--set"]))
            message = f"--resume continues a run with the settings it started with; drop {drop}"
            raise DasError([_usage_diag(message)])
        out = Path(args.resume)
        if not (out / "config.json").is_file() or not (out / "space.das").is_file():
            raise DasError([_usage_diag(f"{out} is not a run directory (no config.json / space.das)")])
        try:
            meta = json.loads((out / "config.json").read_text(encoding="utf-8"))
            cfg = SearchConfig.from_json(meta["search"])
            source = str(meta["source"])
            recorded = meta.get("plugins") or []  # the plugin modules the run started with
            if not isinstance(recorded, list) or not all(isinstance(m, str) for m in recorded):
                raise TypeError(f"plugins must be a list of module names, not {recorded!r}")
        except (ValueError, KeyError, TypeError) as exc:
            message = f"{out / 'config.json'} is damaged ({type(exc).__name__}: {exc}); the run cannot be resumed"
            raise DasError([_usage_diag(message)]) from None
        plugins = list(dict.fromkeys([*recorded, *args.plugin]))
        space_file = out / "space.das"
        space = dasdsl.loads(space_file.read_text(encoding="utf-8"), str(space_file), plugins=plugins)
        run = r.Run(space, cfg, device, out, source, world=world)
        run.setup()
        if (out / r.CHECKPOINT).exists():
            run.restore()
    else:
        if not args.space:
            raise DasError([_usage_diag("dasdsl run needs a SPACE file (or --resume RUN_DIR)")])
        space = dasdsl.load(args.space, plugins=args.plugin)
        if world.main:
            for w in space.warnings:
                print(w.render(space.source), file=sys.stderr)
        cfg = r.config_for(space, _overrides(args))
        source = args.space
        run = r.Run(space, cfg, device, None, source, world=world)
        run.setup()  # data and supernet first: a bad start leaves no run directory behind
        out = None
        if world.main:
            out = r.new_run_dir(args.out, space.name)
            shutil.copyfile(args.space, out / "space.das")
            meta = {
                "source": source,
                "device": str(device),
                "processes": world.size,
                "plugins": args.plugin,
                "search": cfg.to_json(),
            }
            (out / "config.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        out = Path(str(distributed.broadcast_object(str(out) if out else "", world)))
        run.out = out
    assert run.data is not None and run.net is not None and run.ir is not None
    if world.main:
        print(f"run directory: {out}" + (f" ({world.size} processes)" if world.distributed else ""), file=sys.stderr)
    log = out / "log.jsonl"
    with _Progress(quiet) as progress:
        for epoch in range(run.start_epoch, cfg.epochs):
            progress.start(f"search epoch {epoch + 1}/{cfg.epochs}")
            record = run.epoch(epoch, progress.update)
            if world.main:
                _append_jsonl(log, record)
            run.save(epoch + 1)
            progress.log(
                f"epoch {epoch + 1:>3}/{cfg.epochs}  train loss {record['train_loss']:.3f} "
                f"acc {record['train_acc']:.3f}  valid loss {record['valid_loss']:.3f} "
                f"acc {record['valid_acc']:.3f}  tau {record['temperature']:.3g}  "
                f"skips {record['skip_count']}"
            )
        if world.main:
            _finish_run(run, out, source, progress)
    distributed.finish(world)
    return EXIT_OK


def _launch(nproc: int) -> int:
    """``dasdsl run --nproc N``: the same command under torchrun, one process per rank."""
    import subprocess

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


def _finish_run(run, out: Path, source: str, progress: _Progress) -> None:  # noqa: ANN001
    """Discretize, measure the gap, fine-tune if asked, write result.das, summary.json and the report."""
    import json

    import dasdsl
    from dasdsl.lang.printer import format_das
    from dasdsl.search import run as r
    from dasdsl.search.searcher import evaluate

    cfg, device = run.cfg, run.device
    ranked, weights = r.discretize(run)
    _, supernet_acc = evaluate(run.net, run.data.x_valid, run.data.y_valid)
    finals = []
    for index, (text, decisions, _, bound) in enumerate(ranked, start=1):
        result = dasdsl.loads(text, str(out / "result.das"))  # plugin ops are registered by now
        fixed = result.network(run.data.shape, run.data.classes).to(device)
        r.inherit_weights(fixed, run.net, run.ir, decisions)
        _, discrete_acc = evaluate(fixed, run.data.x_valid, run.data.y_valid)
        header = r.result_header(
            source, cfg, cfg.epochs, supernet_acc, discrete_acc, run.ir, weights, decisions, (index, len(ranked)), bound
        )
        finals.append((result, fixed, discrete_acc, format_das(r.with_data(result.module, cfg.data), header)))
    result, fixed, discrete_acc, text = finals[0]
    summary = {
        "supernet_valid_acc": supernet_acc,
        "discretized_valid_acc": discrete_acc,
        "discretization_gap": supernet_acc - discrete_acc,
        "epochs": cfg.epochs,
    }
    if len(finals) > 1:
        summary["top"] = [
            {"file": f"result-{i}.das", "score": ranked[i - 1][2], "discretized_valid_acc": f[2]}
            for i, f in enumerate(finals, start=1)
        ]
    if cfg.finetune:
        progress.start(f"fine-tune {cfg.finetune} epochs")
        r.train_fixed(fixed, run.data, cfg.finetune, cfg.batch, cfg.w_lr, cfg.seed, progress=progress.update)
        summary["finetuned_valid_acc"] = evaluate(fixed, run.data.x_valid, run.data.y_valid)[1]
    summary["discretized_test_acc"] = evaluate(fixed, run.data.x_test, run.data.y_test)[1]
    r.write_text_atomic(out / "result.das", text)
    if len(finals) > 1:
        for i, final in enumerate(finals, start=1):
            r.write_text_atomic(out / f"result-{i}.das", final[3])
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(_summary_text(result, summary, out))
    from dasdsl.view.report import report_after_run

    report_after_run(out)  # never fails the run: a line on stderr when the report cannot be written


def _summary_text(result, summary: dict, out: Path) -> str:  # noqa: ANN001
    import attrs

    from dasdsl.lang import ast
    from dasdsl.lang.printer import format_das

    lines = ["derived architecture:"]
    cells_only = attrs.evolve(
        result.module, body=tuple(s for s in result.module.body if isinstance(s, (ast.CellDecl, ast.NetworkDecl)))
    )
    lines += ["  " + line for line in format_das(cells_only).splitlines()[1:] if line.strip()]
    lines.append("")
    lines.append(
        f"valid accuracy: supernet {summary['supernet_valid_acc']:.3f}, discretized with inherited weights "
        f"{summary['discretized_valid_acc']:.3f} (gap {summary['discretization_gap']:+.3f})"
    )
    if "finetuned_valid_acc" in summary:
        lines.append(f"after fine-tuning: valid accuracy {summary['finetuned_valid_acc']:.3f}")
    lines.append(f"test accuracy of the discretized network: {summary['discretized_test_acc']:.3f}")
    for entry in summary.get("top", []):
        lines.append(
            f"  {entry['file']}: score {entry['score']:.3f}, valid accuracy with inherited weights "
            f"{entry['discretized_valid_acc']:.3f}"
        )
    lines.append(f"result: {out / 'result.das'}")
    return "\n".join(lines)


def cmd_train(args: argparse.Namespace) -> int:
    import json

    import dasdsl
    from dasdsl.search import data as data_mod
    from dasdsl.search import run as r
    from dasdsl.search.searcher import evaluate

    device = r.pick_device(args.device)
    space = dasdsl.load(args.file, plugins=args.plugin)
    spec = data_mod.spec_for(space, args.data)
    ds = data_mod.load(spec, space.input_kind)  # 'npz:PATH' and search-block values alike
    split = r.split_data(ds, 0.9, args.seed, device)
    r.seed_everything(args.seed)
    net = space.network(split.shape, split.classes).to(device)
    out = r.new_run_dir(args.out, f"{space.name}-train")
    (out / "config.json").write_text(
        json.dumps(
            {
                "source": args.file,
                "data": str(spec),
                "epochs": args.epochs,
                "batch": args.batch,
                "lr": args.lr,
                "seed": args.seed,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    augment = r.random_shift(max(1, split.shape[-1] // 8)) if space.input_kind == "image" else None
    print(f"run directory: {out}", file=sys.stderr)
    with _Progress(args.quiet) as progress:

        def on_epoch(record: dict) -> None:
            _append_jsonl(out / "log.jsonl", record)
            progress.log(
                f"epoch {record['epoch']:>3}/{args.epochs}  train loss {record['train_loss']:.3f} "
                f"acc {record['train_acc']:.3f}  valid acc {record['valid_acc']:.3f}"
            )
            progress.start(f"train epoch {record['epoch'] + 1}/{args.epochs}")

        progress.start(f"train epoch 1/{args.epochs}")
        r.train_fixed(
            net, split, args.epochs, args.batch, args.lr, args.seed, augment, progress.update, on_epoch=on_epoch
        )
    _, test_acc = evaluate(net, split.x_test, split.y_test)
    r.save_atomic(net.state_dict(), out / "model.pt")
    (out / "summary.json").write_text(json.dumps({"test_acc": test_acc, "epochs": args.epochs}) + "\n")
    print(f"test accuracy: {test_acc:.3f} ({len(split.x_test)} samples); model: {out / 'model.pt'}")
    return EXIT_OK


def cmd_profile(args: argparse.Namespace) -> int:
    import json

    import torch

    import dasdsl
    from dasdsl.compiler.cost import profile_latency
    from dasdsl.lang.settings import SearchConfig
    from dasdsl.search import run as r

    for name, least in (("batch", 1), ("repeats", 1), ("warmup", 0), ("threads", 1)):
        value = getattr(args, name)
        if value is not None and value < least:
            raise DasError([_usage_diag(f"--{name} must be at least {least}, got {value}")])
    device = r.pick_device(args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    space = dasdsl.load(args.space, plugins=args.plugin)
    for w in space.warnings:
        print(w.render(space.source), file=sys.stderr)
    shape, classes = _data_for(space, args)
    ir = space.graph(shape, classes)
    batch = args.batch
    if batch is None:
        given = space.search_block.get("batch", (None,))[0]
        batch = given if isinstance(given, int) and not isinstance(given, bool) and given > 0 else SearchConfig().batch
    table = profile_latency(ir, device, batch=batch, repeats=args.repeats, warmup=args.warmup)
    table["source"] = args.space
    out = Path(args.output)
    r.write_text_atomic(out, json.dumps(table, indent=2) + "\n")
    lines = [
        f"latency of space {ir.space.name} ({_fmt_shape(ir.input_shape)}, {ir.classes} classes) on "
        f"{table['device']} ({table['device_name']}, {_plural(table['threads'], 'thread')}): ms per batch of "
        f"{batch}, median of {args.repeats} runs after {args.warmup} warm-up, summed over cell instances",
        f"  {'fixed part':<40} {table['fixed']:10.3f}",
    ]
    for key, row in table["choices"].items():
        lines.append(f"  {key}")
        lines += [f"    {label:<38} {ms:10.3f}" for label, ms in row.items()]
    print("\n".join(lines))
    print(f"latency table written to {out}", file=sys.stderr)
    return EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    from dasdsl.view.render import render_command

    return render_command(
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


def cmd_plot(args: argparse.Namespace) -> int:
    from dasdsl.view.plot import plot_run

    for path in plot_run(args.run_dir, args.output):
        print(path)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from dasdsl.view.report import write_report

    print(write_report(args.run_dir, args.output))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    from dasdsl.lang.settings import HYPERGRADIENTS, PRECISIONS

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

    p = sub.add_parser("run", help="search a space and write the result as .das")
    p.add_argument("space", nargs="?", metavar="SPACE")
    p.add_argument("--data", default=None, help="digits, mnist1d, synthetic, cifar10:PATH, npz:PATH")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--split", type=float, default=None, help="share of the training data for the weights")
    p.add_argument("--hypergradient", choices=HYPERGRADIENTS, default=None)
    p.add_argument("--gate", default=None, help='e.g. softmax or "sigmoid(temperature = anneal(5.0 -> 0.05))"')
    p.add_argument("--finetune", type=int, default=None, metavar="N", help="fine-tune the result N epochs")
    p.add_argument("--top", type=int, default=None, metavar="K", help="write the K best architectures")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any search setting, in .das syntax")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--out", default="runs", help="folder for run directories (default runs/)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue an interrupted run")
    p.add_argument("--nproc", type=int, default=None, metavar="N", help="search with N processes (torchrun)")
    p.add_argument("--precision", choices=PRECISIONS, default=None, help="autocast precision")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("train", help="train a fixed architecture (a search result) from scratch")
    p.add_argument("file", metavar="RESULT.das")
    p.add_argument("--data", default=None)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="runs")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE")
    p.add_argument("--quiet", action="store_true")
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
        print(
            "dasdsl: interrupted; what was written so far is kept (a run resumes with --resume RUN_DIR)",
            file=sys.stderr,
        )
        return 130
    except Exception as exc:  # an internal bug: one paragraph, the traceback only on request
        import os
        import traceback

        if os.environ.get("DASDSL_DEBUG"):
            traceback.print_exc()
        print(
            f"dasdsl: internal error: {type(exc).__name__}: {exc}\nThis is a bug in dasdsl, not in your input; "
            "set DASDSL_DEBUG=1 to see the traceback and please report it.",
            file=sys.stderr,
        )
        return 3
