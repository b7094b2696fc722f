"""End-to-end search time: ``dasdsl run spaces/darts.das --epochs 5`` on the built-in digits data, with the
fusion pass (``--fuse on``, the default) and without it (``--fuse off``), in turns, in one session.

Run by hand: ``python bench/search.py [--epochs 5] [--threads 2] [--rounds 1] [--fuse both|on|off]``.
Targets: under 5 minutes on the 2-core development machine (issue 4); with the pass at most 0.6x the time
without it (issue 17). Prints each run's wall time, the final accuracies, and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def search(space: str, epochs: int, threads: int, fuse: str) -> tuple[float, dict, dict]:
    """One search in its own process: (wall seconds, the last log record, summary.json)."""
    from dasdsl.view.plot import read_log

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        cmd = [
            sys.executable,
            "-c",
            f"import torch, sys; torch.set_num_threads({threads}); from dasdsl.cli import main; sys.exit(main())",
            "run",
            space,
            "--epochs",
            str(epochs),
            "--fuse",
            fuse,
            "--out",
            tmp,
            "--quiet",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(proc.stderr)
            raise SystemExit(proc.returncode)
        (run,) = Path(tmp).iterdir()
        return wall, read_log(run)[-1], json.loads((run / "summary.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--space", default=str(ROOT / "spaces" / "darts.das"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="searches per setting, in turns")
    parser.add_argument("--fuse", choices=("both", "on", "off"), default="both")
    args = parser.parse_args()
    settings = ("off", "on") if args.fuse == "both" else (args.fuse,)
    walls: dict[str, list[float]] = {s: [] for s in settings}
    for r in range(args.rounds):
        for fuse in settings if r % 2 == 0 else settings[::-1]:
            wall, last, summary = search(args.space, args.epochs, args.threads, fuse)
            walls[fuse].append(wall)
            print(
                f"{Path(args.space).name}, fuse {fuse}: {args.epochs} epochs in {wall:.1f} s wall "
                f"({wall / 60:.2f} min, target < 5 min: {'ok' if wall < 300 else 'SLOW'}), torch threads "
                f"{args.threads}; final valid acc: "
                f"supernet {last['valid_acc']:.3f}, discretized {summary['discretized_valid_acc']:.3f}",
                flush=True,
            )
    if len(settings) == 2:
        on, off = statistics.median(walls["on"]), statistics.median(walls["off"])
        print(f"median wall: fuse on {on:.1f} s, fuse off {off:.1f} s, ratio {on / off:.2f} (target <= 0.6)")


if __name__ == "__main__":
    main()
