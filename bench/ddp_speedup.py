"""Speed-up of a multi-process search over one process: ``dasdsl run --nproc N`` against ``--nproc 1``.

Run by hand: ``python bench/ddp_speedup.py [--space spaces/darts.das] [--epochs 1] [--device cpu|cuda]``.
On a CPU machine each process gets one torch thread (gloo); on a GPU machine with several GPUs each
process gets one GPU (nccl). Prints wall time per configuration and the speed-up, same global batch.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(nproc: int, args: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "dasdsl",
            "run",
            args.space,
            "--epochs",
            str(args.epochs),
            "--batch",
            str(args.batch),
            "--device",
            args.device,
            "--out",
            tmp,
            "--quiet",
            "--set",
            f"hypergradient={args.hypergradient}",
        ]
        if nproc > 1:
            cmd += ["--nproc", str(nproc)]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--space", default=str(ROOT / "spaces" / "darts.das"))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--hypergradient", default="second_order")
    parser.add_argument("--nproc", type=int, default=2)
    args = parser.parse_args()
    one = timed(1, args)
    many = timed(args.nproc, args)
    print(
        f"{Path(args.space).name}, {args.epochs} epoch(s), global batch {args.batch}, {args.hypergradient}, "
        f"device {args.device}"
    )
    print(f"  1 process : {one:7.1f} s")
    print(
        f"  {args.nproc} processes: {many:7.1f} s   speed-up {one / many:.2f}x (includes start-up and the "
        "end-of-run discretization, which rank 0 does alone)"
    )


if __name__ == "__main__":
    main()
