"""Where a run computes and from which seeds: the device a name stands for, and seeding every random
generator a run draws from (Python's, NumPy's, torch's)."""

from __future__ import annotations

import random
import re

import numpy as np
import torch

from dasdsl.errors import fail
from dasdsl.wording import plural


def pick_device(name: str | torch.device) -> torch.device:
    """cpu, cuda (the current GPU), cuda:N (GPU number N) or auto (cuda where there is one, else cpu); a
    ``torch.device`` of those kinds too."""
    if isinstance(name, torch.device):
        name = str(name)
    if not isinstance(name, str):
        raise fail(
            f"device must be a name or a torch.device, got {type(name).__name__}", "<run>", "cpu, cuda, cuda:N or auto"
        )
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    found = re.fullmatch(r"cuda(?::([0-9]+))?", name)
    if found is None:
        raise fail(f"unknown device {name!r}", "<run>", "use cpu, cuda, cuda:N or auto")
    if not torch.cuda.is_available():
        raise fail(f"device {name!r} asked for, but no CUDA device is available", "<run>", "use the device cpu or auto")
    if found[1] is None:
        return torch.device("cuda")
    index, count = int(found[1]), torch.cuda.device_count()
    if index >= count:
        raise fail(
            f"device {name!r} asked for, but this machine has {plural(count, 'CUDA device')}",
            "<run>",
            f"use cuda:0 to cuda:{count - 1}, cuda or auto" if count > 1 else "use cuda:0, cuda or auto",
        )
    return torch.device("cuda", index)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
