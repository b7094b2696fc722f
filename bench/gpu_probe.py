"""Where a GPU weight step's time goes (issue 17's device check): step times per implementation, then the
profile of one fused weight step. ``python3 bench/gpu_probe.py`` on a lent GPU machine."""

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import step_bench as sb  # noqa: E402

sb.DEVICE = torch.device("cuda")
config = sb.CONFIGS["small"]
pair = sb.Pair(config)
train, valid = sb.batches(config, config["batch"])
for impl in sb.IMPLS:
    times = []
    for _ in range(4):
        start = time.perf_counter()
        pair.step(impl, "weight", train, valid)
        times.append(time.perf_counter() - start)
    print(impl, "weight step s:", " ".join(f"{t:.3f}" for t in times), flush=True)
from torch.profiler import ProfilerActivity, profile  # noqa: E402

with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
    pair.step("fused", "weight", train, valid)
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
print(prof.key_averages().table(sort_by="self_device_time_total", row_limit=8))
