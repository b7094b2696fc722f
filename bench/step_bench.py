"""Step time and memory of dasdsl's DARTS supernet, with and without the fusion pass, against the hand-written
baseline (bench/darts_baseline.py), and how far each is from the machine's dense-matmul speed.

Run by hand: ``python bench/step_bench.py --config small --repeats 3`` (a minute or two on a 2-core
machine) or ``--config paper`` (C=16, 8 cells, batch 32: DARTS' CIFAR-10 search; several minutes).

Three implementations: ``baseline``, dasdsl ``unfused`` (``fuse off``) and dasdsl ``fused`` (the default).
First checks that they compute the same thing: the baseline's weights and alphas are copied into
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

Efficiency: the weight step's FLOPs from the cost model (the supernet's conv and linear MACs per sample,
every candidate but ``none``, times 2 FLOPs per MAC, times the batch, times 3 for the forward and the two
products of the backward pass) divided by its median time, next to the GFLOP/s of a large dense matrix
product (``torch.mm``) on the same threads and device: the fraction of the machine's limit the step reaches.

``--device cuda`` and ``--precision bf16`` (autocast, for all three implementations) measure on a GPU:
memory is then the growth of ``torch.cuda.max_memory_allocated`` during the step.

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

from dasdsl.compiler.cost import candidate_flops
from dasdsl.compiler.lower import Supernet
from dasdsl.engine.searcher import Searcher
from dasdsl.lang.settings import SearchConfig


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
IMPLS = ("baseline", "unfused", "fused")
CFG = SearchConfig(gate="softmax")  # DARTS' optimizer settings and gate, shared by both implementations
DEVICE = torch.device("cpu")  # set by --device
PRECISION = "fp32"  # set by --precision


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


class Pair:
    """The baseline and the dasdsl supernet (fused, and unfused) with the same weights and alphas, each with
    its optimizers; ``net`` and ``searcher`` are the fused (default) supernet's."""

    def __init__(self, config: dict, seed: int = 0, only: str | None = None, precision: str | None = None) -> None:
        """``only``: build just "baseline", "unfused" or "fused" (memory measurements), unrelated weights;
        ``precision``: the dasdsl searchers' (default: --precision)."""
        torch.manual_seed(seed)
        c, layers, shape = config["C"], config["layers"], config["shape"]
        self.eta = CFG.w_lr
        cfg = attrs.evolve(CFG, precision=precision or PRECISION)
        if only in (None, "baseline"):
            self.base = db.Network(c, CLASSES, layers, nn.CrossEntropyLoss(), in_channels=shape[0]).to_device(DEVICE)
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
        self.searchers: dict[str, Searcher] = {}
        for impl in ("unfused", "fused"):
            if only in (None, impl):
                net = Supernet(self.ir, fuse=impl == "fused").to(DEVICE)
                self.searchers[impl] = Searcher(net, cfg)
        if only in (None, "fused"):
            self.searcher = self.searchers["fused"]
            self.net = self.searcher.net
        if only is None:
            n_base, n_net = db.count_weights(self.base), sum(p.numel() for p in self.net.weight_parameters())
            assert n_base == n_net, f"weights: baseline {n_base}, dasdsl {n_net}"
            self.weights = n_base
            for searcher in self.searchers.values():
                db.copy_into_dasdsl(self.base, searcher.net, self.ir)

    # -- one step of each kind, for each implementation
    def baseline_step(self, kind: str, train, valid) -> None:
        if kind == "weight":
            db.weight_step(self.base, self.b_opt, *train, grad_clip=CFG.grad_clip)
        else:
            self.architect.step(*train, *valid, self.eta, self.b_opt, unrolled=kind == "second_order")

    def dasdsl_step(self, kind: str, train, valid, impl: str = "fused") -> None:
        searcher = self.searchers[impl]
        if kind == "weight":
            searcher.weight_step(train)
        else:
            searcher.cfg = attrs.evolve(searcher.cfg, hypergradient=kind)
            searcher.arch_step(train, valid)

    def step(self, impl: str, kind: str, train, valid) -> None:
        if impl == "baseline":
            with torch.autocast(DEVICE.type, dtype=torch.bfloat16, enabled=PRECISION == "bf16"):
                self.baseline_step(kind, train, valid)
        else:
            self.dasdsl_step(kind, train, valid, impl)
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()

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
        torch.randn(batch, *config["shape"], generator=g).to(DEVICE),
        torch.randint(0, CLASSES, (batch,), generator=g).to(DEVICE),
    )
    return make(), make()


def relative(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    num = sum(float((x - y).pow(2).sum()) for x, y in zip(a, b)) ** 0.5
    return num / sum(float(x.pow(2).sum()) for x in a) ** 0.5


def check(config: dict, check_batch: int) -> dict:
    """Same loss (float32, the benchmark's batch) and same second-order alpha gradient (float64), for the
    baseline and both dasdsl supernets (on a GPU without TF32, which rounds to 10 bits)."""
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    pair = Pair(config, precision="fp32")
    train, valid = batches(config, config["batch"])
    lb, ld = pair.losses(train)
    with torch.no_grad():
        lu = float(nn.functional.cross_entropy(pair.searchers["unfused"].net(train[0]), train[1]))
    for name, value in (("fused", ld), ("unfused", lu)):
        assert abs(lb - value) <= 1e-5, f"training loss: baseline {lb}, dasdsl {name} {value}"
    with default_dtype(torch.float64):
        pair64 = Pair(config, precision="fp32")
        train, valid = batches(config, check_batch)
        for impl in IMPLS:  # momentum buffers: the unrolled step uses them
            pair64.step(impl, "weight", train, valid)
        base, ours = pair64.second_order(train, valid)
        unfused = pair64.searchers["unfused"].second_order(train, valid)
        unfused = db.alphas_as_baseline(unfused, pair64.searchers["unfused"].net, pair64.ir, pair64.base)
    rel = relative(base, ours)
    assert rel <= 1e-4, f"second-order alpha gradient differs by {rel:.2e} relative"
    torch.backends.cudnn.allow_tf32 = True  # torch's defaults again for the timings
    return {
        "weights": pair.weights,
        "loss_baseline": lb,
        "loss_dasdsl": ld,
        "loss_unfused": lu,
        "grad_rel": rel,
        "grad_rel_fusion": relative(unfused, ours),
    }


def timings(config: dict, repeats: int) -> dict[str, dict[str, list[float]]]:
    """Per step kind and implementation, the times of ``repeats`` steps, the implementations in turns."""
    pair = Pair(config)
    train, valid = batches(config, config["batch"])
    times: dict[str, dict[str, list[float]]] = {k: {impl: [] for impl in IMPLS} for k in STEPS}
    for impl in IMPLS:  # warm-up; also creates the momentum buffers the unrolled step reads
        for kind in STEPS:
            pair.step(impl, kind, train, valid)
    for r in range(repeats):
        for kind in STEPS:
            order = IMPLS[r % 3 :] + IMPLS[: r % 3]  # each implementation first in turn
            for impl in order:
                start = time.perf_counter()
                pair.step(impl, kind, train, valid)
                times[kind][impl].append(time.perf_counter() - start)
    return times


def step_flops(config: dict) -> float:
    """FLOPs of one weight step by the cost model: 3 x 2 x (the supernet's MACs per sample) x batch."""
    ir = db.dasdsl_space(config["C"], config["layers"]).graph(config["shape"], CLASSES)
    fixed, per_choice = candidate_flops(ir)
    macs = fixed + sum(sum(row) for row in per_choice.values())
    return 3 * 2 * macs * config["batch"]


def matmul_gflops(n: int, repeats: int = 5) -> float:
    """GFLOP/s of an n x n float32 matrix product (``torch.mm``) on this device and thread count: the
    machine's practical limit for dense work."""
    a, b = (torch.randn(n, n, device=DEVICE) for _ in range(2))
    dtype = torch.bfloat16 if PRECISION == "bf16" else torch.float32
    a, b = a.to(dtype), b.to(dtype)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        torch.mm(a, b)
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times[1:]) / 1e9


def child(config_name: str, impl: str, kind: str, threads: int) -> None:
    """In a fresh process: peak-memory growth (MiB) of one full-batch step, printed as JSON."""
    torch.set_num_threads(threads)
    config = CONFIGS[config_name]
    pair = Pair(config, only=impl)
    # the momentum buffers of a search under way (the unrolled step reads them), without a step that
    # would raise the peak before the measurement
    opt = pair.b_opt if impl == "baseline" else pair.searchers[impl].w_opt
    for group in opt.param_groups:
        for p in group["params"]:
            opt.state[p]["momentum_buffer"] = torch.zeros_like(p)
    train, valid = batches(config, config["batch"])
    gc.collect()
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = reset_peak()
    start = time.perf_counter()
    pair.step(impl, kind, train, valid)
    seconds = time.perf_counter() - start
    grown = (torch.cuda.max_memory_allocated() - before) / 2**20 if DEVICE.type == "cuda" else (peak() - before) / 1024
    print(json.dumps({"peak_mib": grown, "seconds": seconds}))


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
    cmd += ["--device", DEVICE.type, "--precision", PRECISION]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"memory child {impl} {kind} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]


def main() -> None:
    global DEVICE, PRECISION
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="small")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--matmul", type=int, default=2048, help="size of the dense matrix product (limit)")
    parser.add_argument("--check-batch", type=int, default=4, help="batch of the float64 gradient check")
    parser.add_argument("--no-check", action="store_true", help="skip the agreement check")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory child processes")
    parser.add_argument("--child", nargs=2, metavar=("IMPL", "STEP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    DEVICE, PRECISION = torch.device(args.device), args.precision
    if args.child:
        child(args.config, *args.child, args.threads)
        return
    torch.set_num_threads(args.threads)
    config = CONFIGS[args.config]
    shape = "x".join(map(str, config["shape"]))
    where = torch.cuda.get_device_name() if DEVICE.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(
        f"config {args.config}: C={config['C']}, {config['layers']} cells, batch {config['batch']}, {shape}; "
        f"torch {torch.__version__}, {args.device} ({where}), {args.precision}, median of {args.repeats}"
    )
    start = time.perf_counter()
    if not args.no_check:
        ok = check(config, args.check_batch)
        print(
            f"check: {ok['weights']:,} weights in all three; loss baseline {ok['loss_baseline']:.7f}, unfused "
            f"{ok['loss_unfused']:.7f}, fused {ok['loss_dasdsl']:.7f} (|diff| <= 1e-5); second-order alpha "
            f"gradient (float64, batch {args.check_batch}): fused vs baseline {ok['grad_rel']:.1e} <= 1e-4, "
            f"fused vs unfused {ok['grad_rel_fusion']:.1e} ({time.perf_counter() - start:.0f} s)"
        )
        sys.stdout.flush()
    times = timings(config, args.repeats)
    peaks = {}
    if not args.no_memory:
        for kind in STEPS:
            for impl in IMPLS:
                peaks[kind, impl] = memory(args.config, impl, kind, args.threads)
    print(
        f"\n{'step':<14}{'baseline s':>11}{'unfused s':>10}{'fused s':>9}{'unf/base':>9}{'fused/base':>11}"
        f"{'fused/unf':>10}" + (f"{'base MiB':>10}{'unf MiB':>9}{'fused MiB':>10}{'fused/base':>11}" if peaks else "")
    )
    med = {(k, i): statistics.median(times[k][i]) for k in STEPS for i in IMPLS}
    for kind in STEPS:
        tb, tu, tf = (med[kind, impl] for impl in IMPLS)
        row = f"{kind:<14}{tb:>11.3f}{tu:>10.3f}{tf:>9.3f}{tu / tb:>9.2f}{tf / tb:>11.2f}{tf / tu:>10.2f}"
        if peaks:
            mb, mu, mf = (peaks[kind, impl] for impl in IMPLS)
            row += f"{mb:>10.0f}{mu:>9.0f}{mf:>10.0f}{mf / mb if mb > 0 else float('nan'):>11.2f}"
        print(row)
    print(
        "ratios of times (below 1: faster); memory: growth of the peak "
        + ("allocated CUDA memory" if DEVICE.type == "cuda" else "resident set")
        + " during one full-batch step, each in its own process"
    )
    flops = step_flops(config)
    limit = matmul_gflops(args.matmul)
    print(
        f"\nefficiency of the weight step: {flops / 1e9:.2f} GFLOP by the cost model; dense {args.matmul}x"
        f"{args.matmul} matmul {limit:.1f} GFLOP/s"
    )
    for impl in IMPLS:
        rate = flops / med["weight", impl] / 1e9
        print(f"  {impl:<9} {rate:8.2f} GFLOP/s = {100 * rate / limit:.3g} % of the matmul's")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
