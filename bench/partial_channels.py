"""Peak memory of one DARTS supernet weight step, full channels vs PC-DARTS ``partial_channels 4``.

Run by hand: ``python bench/partial_channels.py [--batch 32]``. Each configuration runs in its own
process; peak memory is the growth of the process's maximum resident set during one forward and
backward pass (C=16, 8 cells, 3x32x32 input, the "paper" configuration of DARTS' search).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import gc, json, resource, sys, time
import torch
torch.set_num_threads(1)
import dasdsl
k, batch = int(sys.argv[1]), int(sys.argv[2])
space = dasdsl.load(sys.argv[3])
net = space.supernet((3, 32, 32), 10, partial_channels=k)
x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
gc.collect()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
torch.nn.functional.cross_entropy(net(x), y).backward()
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"k": k, "peak_mib": (after - before) / 1024, "seconds": seconds}))
"""


def measure(k: int, batch: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(k), str(batch), str(ROOT / "spaces" / "darts.das")],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = {}
    for k in (1, 4):
        runs = sorted((measure(k, args.batch) for _ in range(args.repeats)), key=lambda r: r["peak_mib"])
        rows[k] = runs[len(runs) // 2]
        print(
            f"partial_channels {k}: peak step memory {rows[k]['peak_mib']:.0f} MiB, "
            f"step {rows[k]['seconds']:.2f} s (median of {args.repeats} processes)"
        )
    ratio = rows[1]["peak_mib"] / rows[4]["peak_mib"]
    print(f"memory ratio full / partial_channels 4: {ratio:.2f}x (target >= 2x): {'ok' if ratio >= 2 else 'LOW'}")


if __name__ == "__main__":
    main()
