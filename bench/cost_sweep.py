"""The cost penalty at work: one short search per lambda of ``penalty cost(params, lambda)``, same seed.

Run by hand: ``python bench/cost_sweep.py [--space spaces/nb201.das] [--epochs 3] [--finetune 0]``.
For each lambda it prints the discretized network's parameter count and MACs (per sample, conv and
linear layers) and its valid accuracy (with the weights inherited from the supernet, and after
``--finetune`` epochs of training if asked), then whether the parameter count is non-increasing in
lambda. One torch thread by default: the development machine is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--space", default=str(ROOT / "spaces" / "nb201.das"))
    parser.add_argument("--data", default="digits")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--measure", default="params", choices=["params", "flops"])
    parser.add_argument("--lambdas", default="0,0.1,0.3,1,3")
    parser.add_argument("--arch-lr", default=None, help="Adam lr of the architecture (default: the space's)")
    parser.add_argument("--finetune", type=int, default=0, help="train each result N epochs before its accuracy")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import dasdsl
    from dasdsl.cli import main as cli
    from dasdsl.compiler.cost import costs
    from dasdsl.compiler.lower import FixedNetwork, count_parameters
    from dasdsl.engine import data as data_mod
    from dasdsl.view.plot import read_log

    lambdas = [float(x) for x in args.lambdas.split(",")]
    ds = data_mod.load(args.data, dasdsl.load(args.space).input_kind)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for lam in lambdas:
            out = Path(tmp) / f"lambda-{lam}"
            argv = ["run", args.space, "--data", args.data, "--epochs", str(args.epochs), "--seed", str(args.seed)]
            argv += ["--device", "cpu", "--out", str(out), "--quiet", "--set", f"penalty=cost({args.measure}, {lam})"]
            if args.arch_lr:
                argv += ["--set", f"arch=adam(lr = {args.arch_lr})"]
            if args.finetune:
                argv += ["--finetune", str(args.finetune)]
            start = time.perf_counter()
            log = io.StringIO()
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                code = cli(argv)
            if code != 0:
                raise SystemExit(f"dasdsl run failed for lambda {lam} (exit {code}):\n{log.getvalue()}")
            wall = time.perf_counter() - start
            (run,) = out.iterdir()
            summary = json.loads((run / "summary.json").read_text())
            result = dasdsl.load(run / "result.das")
            records = read_log(run)
            ir = result.graph(ds.shape, ds.classes)
            params = count_parameters(FixedNetwork(ir))
            macs = costs(ir, "flops")[0]
            chosen = Counter(
                label for g in ir.cells.values() for d in g.edges.values() for label in [c.label for c in d.candidates]
            )
            rows.append(
                (
                    lam,
                    params,
                    macs,
                    summary["discretized_valid_acc"],
                    summary.get("finetuned_valid_acc"),
                    records[-1]["valid_acc"],
                    wall,
                    chosen,
                )
            )
            print(f"lambda {lam:g} done in {wall:.0f} s", file=sys.stderr)
    space = Path(args.space).name
    print(
        f"{space} on {args.data}: {args.epochs} search epochs, seed {args.seed}, penalty cost({args.measure}, lambda), "
        f"torch threads {args.threads}" + (f", arch lr {args.arch_lr}" if args.arch_lr else "")
    )
    tune = f"  ft{args.finetune} acc" if args.finetune else ""
    print(f"{'lambda':>7} {'params':>9} {'MACs':>11}  {'supernet':>8}  {'discr.':>6}{tune}  ops of the cell edges")
    for lam, params, macs, acc, ft, sup, _, chosen in rows:
        ft_text = f"  {ft:9.3f}" if args.finetune else ""
        ops = ", ".join(f"{label} x{n}" for label, n in sorted(chosen.items()))
        print(f"{lam:7g} {params:9,d} {macs:11,d}  {sup:8.3f}  {acc:6.3f}{ft_text}  {ops}")
    counts = [r[1] for r in rows]
    monotone = all(b <= a for a, b in itertools.pairwise(counts))
    print(f"params non-increasing in lambda: {'yes' if monotone else 'NO'} ({' >= '.join(f'{c:,}' for c in counts)})")


if __name__ == "__main__":
    main()
