"""What the exact convolution fast paths (dasdsl.ops.modules._TightConv) and the channels-last stand-in weights
of the second-order step (dasdsl.engine.searcher._layout_of) buy on the DARTS space and the 8x8 digits.

Run by hand: ``python bench/conv_paths.py [--repeats 5] [--threads 2]`` (about two minutes).

The baseline is measured in the same process: the same supernet with every convolution computed
by ``nn.ConvNd``'s own forward and the stand-in weights left in whatever layout their arithmetic
gives (what dasdsl did before). First checks in float64 that both compute the same loss and the same
second-order architecture gradient, then alternates them: one second-order architecture step and
one weight step per timing, medians over ``--repeats`` after one warm-up each.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

import dasdsl
from dasdsl.engine import searcher as search
from dasdsl.engine.searcher import Searcher
from dasdsl.lang.settings import resolve
from dasdsl.ops import modules as ops

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def plain() -> Iterator[None]:
    """Plain torch convolutions and no layout fix-up, for the duration."""
    tight_forward, layout_of = ops._TightConv._conv_forward, search._layout_of

    def plain_forward(self, x, weight, bias):  # noqa: ANN001, ANN202
        base = nn.Conv2d if isinstance(self, nn.Conv2d) else nn.Conv1d
        return base._conv_forward(self, x, weight, bias)

    ops._TightConv._conv_forward = plain_forward
    search._layout_of = lambda t, ref: t
    try:
        yield
    finally:
        ops._TightConv._conv_forward, search._layout_of = tight_forward, layout_of


@contextmanager
def fast() -> Iterator[None]:
    """dasdsl as it is."""
    yield


def searcher(dtype: torch.dtype = torch.float32) -> Searcher:
    torch.manual_seed(0)
    space = dasdsl.load(ROOT / "spaces" / "darts.das")
    net = space.supernet((1, 8, 8), 10).to(dtype)
    return Searcher(net, resolve(space.search_block))


def batch(n: int, dtype: torch.dtype, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g, dtype=dtype), torch.randint(0, 10, (n,), generator=g)


def check() -> str:
    """Loss and second-order architecture gradient of the two paths, float64, same weights and batch."""
    s = searcher(torch.float64)
    train, valid = batch(16, torch.float64, 1), batch(16, torch.float64, 2)
    s.weight_step(train)  # a momentum buffer, so that the unrolled step uses it too
    results = []
    for context in (plain, fast):
        with context():
            loss = float(s._loss({}, train).detach())
            grads = torch.cat([g.flatten() for g in s.second_order(train, valid)])
        results.append((loss, grads))
    (l_plain, g_plain), (lfast, gfast) = results
    rel = float((g_plain - gfast).norm() / g_plain.norm())
    assert abs(l_plain - lfast) < 1e-10 and rel < 1e-8, (l_plain, lfast, rel)
    return (
        f"check (float64): loss |diff| {abs(l_plain - lfast):.1e}, second-order alpha gradient relative diff {rel:.1e}"
    )


def time_step(s: Searcher, train: tuple, valid: tuple) -> float:
    start = time.perf_counter()
    s.net.train()
    s.arch_step(train, valid)
    s.weight_step(train)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(check())
    s = searcher()
    train, valid = batch(64, torch.float32, 3), batch(64, torch.float32, 4)
    runs: dict[str, list[float]] = {"plain": [], "fast": []}
    contexts: dict[str, Callable] = {"plain": plain, "fast": fast}
    for i in range(args.repeats + 1):
        for name, context in contexts.items():
            with context():
                t = time_step(s, train, valid)
            if i:  # the first round warms up oneDNN's primitive caches
                runs[name].append(t)
    p, f = statistics.median(runs["plain"]), statistics.median(runs["fast"])
    print(
        f"one second-order architecture step + one weight step, spaces/darts.das, batch 64 of 1x8x8, "
        f"{args.threads} threads, median of {args.repeats}:"
    )
    print(f"  plain torch convolutions: {p:.2f} s")
    print(f"  dasdsl fast paths:        {f:.2f} s   ratio {f / p:.2f} ({p / f:.2f}x faster)")


if __name__ == "__main__":
    main()
