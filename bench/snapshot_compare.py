"""Compare two folders written by bench/snapshot.sh: every file the same, times and run-directory timestamps aside.

    python3 bench/snapshot_compare.py BEFORE AFTER

Text files compare exactly after the run directories' timestamps and the checkout's path are masked (and, in
the commands' printed output, durations such as ``3.2 s``); JSON and log.jsonl compare as data without their
time fields; checkpoints and model.pt compare tensor by tensor (dtype, shape, sum and sum of absolute values,
exactly). Prints each file that differs and a count; exit status 1 when any differs.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

TIMED = {"seconds", "elapsed", "time", "wall_seconds", "started", "finished"}
STAMP = re.compile(r"\d{8}-\d{6}(-\d+)?")
SKIPPED = (".html", ".svg", ".png")  # pictures and pages embed times; their data is in the files compared


def untimed(x: Any) -> Any:
    """A JSON value without its time fields, timestamps masked."""
    if isinstance(x, dict):
        return {k: untimed(v) for k, v in x.items() if k not in TIMED and not k.endswith("_seconds")}
    if isinstance(x, list):
        return [untimed(v) for v in x]
    if isinstance(x, str):
        return STAMP.sub("STAMP", x)
    return x


def tensors(x: Any, key: str = "") -> str:
    """A checkpoint's contents as text: each tensor by dtype, shape and two exact sums, other values as data."""
    import torch  # noqa: PLC0415  (only checkpoints need it)

    if isinstance(x, dict):
        return "".join(tensors(v, f"{key}/{k}") for k, v in sorted(x.items(), key=lambda kv: str(kv[0])))
    if isinstance(x, (list, tuple)):
        return "".join(tensors(v, f"{key}/{i}") for i, v in enumerate(x))
    if isinstance(x, torch.Tensor):
        d = x.double()
        return f"{key}:{x.dtype}:{tuple(x.shape)}:{d.sum().item()!r}:{d.abs().sum().item()!r}\n"
    return f"{key}:{untimed(x)!r}\n"


def comparable(path: Path, root: Path) -> str:
    if path.suffix == ".pt":
        import torch  # noqa: PLC0415

        return tensors(torch.load(path, weights_only=True))
    text = path.read_text(errors="replace").replace(str(root), "ROOT")
    if path.suffix == ".jsonl":
        return "\n".join(json.dumps(untimed(json.loads(line))) for line in text.splitlines() if line.strip())
    if path.suffix == ".json":
        return json.dumps(untimed(json.loads(text)), indent=1)
    text = STAMP.sub("STAMP", text)
    return re.sub(r"\b\d+(\.\d+)? ?s\b", "Ns", text) if path.suffix == ".txt" else text


def files(root: Path) -> dict[str, Path]:
    return {
        STAMP.sub("STAMP", str(p.relative_to(root))): p
        for p in root.rglob("*")
        if p.is_file() and p.suffix not in SKIPPED
    }


def main(before: Path, after: Path) -> int:
    fa, fb = files(before), files(after)
    same = differ = 0
    for name in sorted(fa.keys() | fb.keys()):
        if name not in fa or name not in fb:
            print("only in one:", name)
            differ += 1
        elif comparable(fa[name], before) == comparable(fb[name], after):
            same += 1
        else:
            print("DIFFERS:", name)
            differ += 1
    print(f"{same} files identical (times and timestamps aside), {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()))
