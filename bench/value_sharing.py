"""Memory of a weight-shared value choice against the spelled-out candidates, on spaces/mobilenet.das.

Run by hand: ``python bench/value_sharing.py`` (about a minute on 2 cores). Three spellings of the same
choices (kernel 3/5/7 x expansion 3/6 in every block):

- ``shared``: the shipped space, ``mbconv(k = [3, 5, 7], expand = [3, 6])`` with ``share_values on``;
- ``lists off``: the same text with ``share_values off`` (each expanded candidate its own weights);
- ``spelled out``: the six candidates written as a list, ``[mbconv(k = 3, expand = 3), ...]``.

Each runs in its own process with one thread: the supernet is built as ``dasdsl run`` builds it, then one
full weight step (forward, cross-entropy, backward, clipping, SGD, whose momentum buffers it creates) on a
batch of ``--batch`` (64) digits-shaped images. Printed: the supernet's weights, the resident set after
importing torch and dasdsl (the baseline), the peak resident set of the weight step, and the peak's
growth over the baseline (weights, gradients, momentum and activations), with the ratio to
``spelled out``. ``--width 16 --width 64`` (the default) sets the space's C. Sharing saves weights, their
gradients and momentum; the activations of every candidate remain (each still runs on the batch), so the
saving shows in the peak where weights dominate: wide blocks, small batches.
``MALLOC_MMAP_THRESHOLD_=131072`` is set for the children so that freed blocks go back to the system.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPACE = ROOT / "spaces" / "mobilenet.das"
SPELLINGS = ("shared", "lists off", "spelled out")

CHILD = r"""
import json, resource, sys
import torch
torch.set_num_threads(1)
import dasdsl
from dasdsl.lang.settings import SearchConfig
from dasdsl.compiler.lower import Supernet
from dasdsl.engine.searcher import Searcher

text, width, share, batch = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "on", int(sys.argv[4])
space = dasdsl.loads(text, "mobilenet.das").let(C=width)
torch.manual_seed(0)
x, y = torch.randn(batch, 1, 8, 8), torch.randint(0, 10, (batch,))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
net = Supernet(space.graph((1, 8, 8), 10), gate="softmax", share_values=share)
cfg = SearchConfig(share_values=share, gate="softmax")
searcher = Searcher(net, cfg)
searcher.weight_step((x, y))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
weights = sum(p.numel() for p in net.weight_parameters())
print(json.dumps({"weights": weights, "base_kib": base, "peak_kib": peak}))
"""


def spelled_out(text: str) -> str:
    """The value lists written as candidate lists: the unshared spelling of the same choices."""

    def expand(match: re.Match[str]) -> str:
        extra = match.group(1) or ""
        ops = [f"mbconv(k = {k}, expand = {e}{extra})" for k in (3, 5, 7) for e in (3, 6)]
        return "[" + ", ".join(ops) + "]"

    return re.sub(r"mbconv\(k = \[3, 5, 7\], expand = \[3, 6\](, out = c)?\)", expand, text)


def run(text: str, width: int, share: str, batch: int) -> dict[str, int]:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, text, str(width), share, str(batch)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, action="append", help="the space's C (default 16 and 64)")
    parser.add_argument("--batch", type=int, default=64, help="images in the weight step (default 64)")
    args = parser.parse_args()
    widths = args.width or [16, 64]
    text = SPACE.read_text(encoding="utf-8")
    assert "mbconv(k = [3, 5, 7], expand = [3, 6]" in text
    texts = {"shared": (text, "on"), "lists off": (text, "off"), "spelled out": (spelled_out(text), "off")}
    print(f"batch {args.batch}, 1 thread")
    header = (
        "C",
        "spelling",
        "supernet weights",
        "baseline RSS (MiB)",
        "peak RSS (MiB)",
        "growth (MiB)",
        "growth / spelled out",
    )
    print("| " + " | ".join(header) + " |")
    print("|---|---|---|---|---|---|---|")
    for width in widths:
        rows = {name: run(t, width, share, args.batch) for name, (t, share) in texts.items()}
        reference = rows["spelled out"]["peak_kib"] - rows["spelled out"]["base_kib"]
        for name in SPELLINGS:
            r = rows[name]
            growth = r["peak_kib"] - r["base_kib"]
            print(
                f"| {width} | {name} | {r['weights']:,} | {r['base_kib'] / 1024:.0f} | {r['peak_kib'] / 1024:.0f} "
                f"| {growth / 1024:.1f} | {growth / reference:.2f} |"
            )


if __name__ == "__main__":
    main()
