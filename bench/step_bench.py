"""Step time and memory of dasdsl's DARTS supernet against the hand-written baseline (bench/darts_baseline.py).

Run by hand: ``python bench/step_bench.py --config small --repeats 3`` (a minute or two on a 2-core
machine) or ``--config paper`` (C=16, 8 cells, batch 32: DARTS' CIFAR-10 search; several minutes).

First checks that the two compute the same thing: the baseline's weights and alphas are copied into
dasdsl's supernet by structure (``darts_baseline.weight_mapping``), the training losses must agree to
1e-5 in float32, and the second-order alpha gradients to 1e-4 relative in float64 (in float32 both
are dominated by rounding: the finite difference divides an O(1e-3) relative noise in the alpha
gradient by R = 0.01 / ||v||, so even the baseline against itself differs by percents).
Then times, alternating the two implementations in one process after one warm-up each:
(a) a weight step (forward, cross-entropy, backward, gradient clipping, SGD step),
(b) a first-order and (c) a second-order architecture step (hypergradient and Adam step; each code
base's own way: DARTS' first-order ``loss.backward()`` also computes the weight gradients, dasdsl
differentiates for the alphas only),
and measures each step's peak memory in a child process per implementation and step: the peak
resident set during its first full-batch step less the resident set before it (the growth of the
maximum resident set; momentum buffers created beforehand; one-time allocations of the first
call, small beside the activations, are included, and so is memory that glibc's heap keeps after a
free: ``MALLOC_MMAP_THRESHOLD_=131072`` in the environment leaves out most of that).

``--threads`` (default 2) should not exceed the idle cores: on a loaded machine, OpenMP threads that
wait for a descheduled sibling make every step many times slower, for both implementations.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import attrs
import torch
from torch import nn

from dasdsl.compiler.lower import Supernet
from dasdsl.lang.settings import SearchConfig
from dasdsl.search.searcher import Searcher


def _sibling(name: str):
    """A module of bench/ by path (bench/ is no package, and stays off sys.path for the tests' sake)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


db = _sibling("darts_baseline")

CONFIGS = {
    "small": {"C": 8, "layers": 5, "batch": 16, "shape": (3, 32, 32)},
    "paper": {"C": 16, "layers": 8, "batch": 32, "shape": (3, 32, 32)},
    "tiny": {"C": 4, "layers": 5, "batch": 4, "shape": (3, 16, 16)},  # for tests and quick looks
}
CLASSES = 10
STEPS = ("weight", "first_order", "second_order")
CFG = SearchConfig(gate="softmax")  # DARTS' optimizer settings and gate, shared by both implementations


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


class Pair:
    """The baseline and the dasdsl supernet with the same weights and alphas, each with its optimizers."""

    def __init__(self, config: dict, seed: int = 0, only: str | None = None) -> None:
        """``only``: build just "baseline" or "dasdsl" (memory measurements), with unrelated weights."""
        torch.manual_seed(seed)
        c, layers, shape = config["C"], config["layers"], config["shape"]
        self.eta = CFG.w_lr
        if only != "dasdsl":
            self.base = db.Network(c, CLASSES, layers, nn.CrossEntropyLoss(), in_channels=shape[0])
            with torch.no_grad():  # far from uniform, so that a mix-up of edges or ops would show in the loss
                for a in self.base.arch_parameters():
                    a.normal_()
            self.b_opt = db.weight_optimizer(self.base, CFG.w_lr, CFG.w_momentum, CFG.w_weight_decay)
            self.architect = db.Architect(
                self.base, CFG.w_momentum, CFG.w_weight_decay, CFG.a_lr, CFG.a_betas, CFG.a_weight_decay
            )
        if only != "baseline":
            space = db.dasdsl_space(c, layers)
            self.ir = space.graph(shape, CLASSES)
            self.net = Supernet(self.ir)
            self.searcher = Searcher(self.net, CFG)
        if only is None:
            n_base, n_net = db.count_weights(self.base), sum(p.numel() for p in self.net.weight_parameters())
            assert n_base == n_net, f"weights: baseline {n_base}, dasdsl {n_net}"
            self.weights = n_base
            db.copy_into_dasdsl(self.base, self.net, self.ir)

    # -- one step of each kind, for each implementation
    def baseline_step(self, kind: str, train, valid) -> None:
        if kind == "weight":
            db.weight_step(self.base, self.b_opt, *train, grad_clip=CFG.grad_clip)
        else:
            self.architect.step(*train, *valid, self.eta, self.b_opt, unrolled=kind == "second_order")

    def dasdsl_step(self, kind: str, train, valid) -> None:
        if kind == "weight":
            self.searcher.weight_step(train)
        else:
            self.searcher.cfg = attrs.evolve(self.searcher.cfg, hypergradient=kind)
            self.searcher.arch_step(train, valid)

    def step(self, impl: str, kind: str, train, valid) -> None:
        (self.baseline_step if impl == "baseline" else self.dasdsl_step)(kind, train, valid)

    # -- what the two compute
    def losses(self, batch) -> tuple[float, float]:
        x, y = batch
        with torch.no_grad():
            return float(self.base._loss(x, y)), float(nn.functional.cross_entropy(self.net(x), y))

    def second_order(self, train, valid) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Both second-order alpha gradients (no Adam step), in the baseline's (normal, reduce) layout."""
        self.architect.backward(*train, *valid, self.eta, self.b_opt, unrolled=True)
        base = [a.grad.clone() for a in self.base.arch_parameters()]
        ours = db.alphas_as_baseline(self.searcher.second_order(train, valid), self.net, self.ir, self.base)
        return base, ours


def batches(config: dict, batch: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    make = lambda: (  # noqa: E731
        torch.randn(batch, *config["shape"], generator=g),
        torch.randint(0, CLASSES, (batch,), generator=g),
    )
    return make(), make()


def relative(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    num = sum(float((x - y).pow(2).sum()) for x, y in zip(a, b)) ** 0.5
    return num / sum(float(x.pow(2).sum()) for x in a) ** 0.5


def check(config: dict, check_batch: int) -> dict:
    """Same loss (float32, the benchmark's batch) and same second-order alpha gradient (float64)."""
    pair = Pair(config)
    train, valid = batches(config, config["batch"])
    lb, ld = pair.losses(train)
    assert abs(lb - ld) <= 1e-5, f"training loss: baseline {lb}, dasdsl {ld}"
    with default_dtype(torch.float64):
        pair64 = Pair(config)
        train, valid = batches(config, check_batch)
        for p in (pair64.baseline_step, pair64.dasdsl_step):  # momentum buffers: the unrolled step uses them
            p("weight", train, valid)
        base, ours = pair64.second_order(train, valid)
    rel = relative(base, ours)
    assert rel <= 1e-4, f"second-order alpha gradient differs by {rel:.2e} relative"
    return {"weights": pair.weights, "loss_baseline": lb, "loss_dasdsl": ld, "grad_rel": rel}


def timings(config: dict, repeats: int) -> dict[str, dict[str, list[float]]]:
    pair = Pair(config)
    train, valid = batches(config, config["batch"])
    times: dict[str, dict[str, list[float]]] = {k: {"baseline": [], "dasdsl": []} for k in STEPS}
    for impl in ("baseline", "dasdsl"):  # warm-up; also creates the momentum buffers the unrolled step reads
        for kind in STEPS:
            pair.step(impl, kind, train, valid)
    for r in range(repeats):
        for kind in STEPS:
            order = ("baseline", "dasdsl") if r % 2 == 0 else ("dasdsl", "baseline")
            for impl in order:
                start = time.perf_counter()
                pair.step(impl, kind, train, valid)
                times[kind][impl].append(time.perf_counter() - start)
    return times


def child(config_name: str, impl: str, kind: str, threads: int) -> None:
    """In a fresh process: peak-memory growth (MiB) of one full-batch step, printed as JSON."""
    torch.set_num_threads(threads)
    config = CONFIGS[config_name]
    pair = Pair(config, only=impl)
    # the momentum buffers of a search under way (the unrolled step reads them), without a step that
    # would raise the peak before the measurement
    opt = pair.b_opt if impl == "baseline" else pair.searcher.w_opt
    for group in opt.param_groups:
        for p in group["params"]:
            opt.state[p]["momentum_buffer"] = torch.zeros_like(p)
    train, valid = batches(config, config["batch"])
    gc.collect()
    before = reset_peak()
    start = time.perf_counter()
    pair.step(impl, kind, train, valid)
    seconds = time.perf_counter() - start
    print(json.dumps({"peak_mib": (peak() - before) / 1024, "seconds": seconds}))


def _status(key: str) -> int:
    """A /proc/self/status memory field in KiB."""
    with open("/proc/self/status") as f:
        return int(f.read().split(f"{key}:")[1].split()[0])


def reset_peak() -> int:
    """Start a peak measurement; returns the current resident set in KiB.

    A process started by fork + exec inherits the parent's ru_maxrss on Linux (the bench process holds
    two supernets), so its growth would read 0; resetting the peak (VmHWM) through
    /proc/self/clear_refs avoids that. Elsewhere, the growth of ru_maxrss."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak() -> int:
    try:
        return _status("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory(config_name: str, impl: str, kind: str, threads: int) -> float:
    cmd = [sys.executable, __file__, "--child", impl, kind, "--config", config_name, "--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"memory child {impl} {kind} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="small")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--check-batch", type=int, default=4, help="batch of the float64 gradient check")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory child processes")
    parser.add_argument("--child", nargs=2, metavar=("IMPL", "STEP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.config, *args.child, args.threads)
        return
    torch.set_num_threads(args.threads)
    config = CONFIGS[args.config]
    shape = "x".join(map(str, config["shape"]))
    print(
        f"config {args.config}: C={config['C']}, {config['layers']} cells, batch {config['batch']}, {shape}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats}"
    )
    start = time.perf_counter()
    ok = check(config, args.check_batch)
    print(
        f"check: {ok['weights']:,} weights in both; loss baseline {ok['loss_baseline']:.7f}, dasdsl "
        f"{ok['loss_dasdsl']:.7f} (|diff| {abs(ok['loss_baseline'] - ok['loss_dasdsl']):.1e} <= 1e-5); "
        f"second-order alpha gradient (float64, batch {args.check_batch}) relative diff "
        f"{ok['grad_rel']:.1e} <= 1e-4 ({time.perf_counter() - start:.0f} s)"
    )
    sys.stdout.flush()
    times = timings(config, args.repeats)
    peaks = {}
    if not args.no_memory:
        for kind in STEPS:
            for impl in ("baseline", "dasdsl"):
                peaks[kind, impl] = memory(args.config, impl, kind, args.threads)
    print(f"\n{'step':<14}{'baseline s':>11}{'dasdsl s':>10}{'ratio':>8}{'base MiB':>10}{'dasdsl MiB':>11}{'ratio':>8}")
    for kind in STEPS:
        tb, td = (statistics.median(times[kind][impl]) for impl in ("baseline", "dasdsl"))
        row = f"{kind:<14}{tb:>11.3f}{td:>10.3f}{td / tb:>8.2f}"
        if peaks:
            mb, md = peaks[kind, "baseline"], peaks[kind, "dasdsl"]
            row += f"{mb:>10.0f}{md:>11.0f}{md / mb if mb > 0 else float('nan'):>8.2f}"
        print(row)
    print(
        "ratio = dasdsl / baseline (below 1: dasdsl faster or smaller); memory: growth of the peak resident set "
        "during one full-batch step, each in its own process"
    )
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
