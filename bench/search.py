"""End-to-end search time: ``dasdsl run spaces/darts.das --epochs 5`` on the built-in digits data.

Run by hand: ``python bench/search.py [--epochs 5] [--threads 2]``. Target (issue 4): under 5 minutes
on the 2-core development machine. Prints the wall time and the per-epoch time from the run's log.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--space", default=str(ROOT / "spaces" / "darts.das"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    from dasdsl.view.plot import read_log

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        cmd = [
            sys.executable,
            "-c",
            f"import torch, sys; torch.set_num_threads({args.threads}); from dasdsl.cli import main; sys.exit(main())",
            "run",
            args.space,
            "--epochs",
            str(args.epochs),
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
        records = read_log(run)
        summary = json.loads((run / "summary.json").read_text())
    print(
        f"{Path(args.space).name}: {args.epochs} epochs in {wall:.1f} s wall ({wall / 60:.2f} min, "
        f"target < 5 min: {'ok' if wall < 300 else 'SLOW'}), torch threads {args.threads}"
    )
    print(
        f"final valid acc: supernet {records[-1]['valid_acc']:.3f}, discretized {summary['discretized_valid_acc']:.3f}"
    )


if __name__ == "__main__":
    main()
