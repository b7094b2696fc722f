"""How exactly the fused supernet reproduces the unfused one, per shipped search space (float64): the largest
relative difference of the outputs, of all gradients (weights and architecture parameters) and of the
first-order, second-order and exact hypergradients. ``tests/test_fusion.py`` asserts each is below 1e-10;
this prints the figures it reaches. ``python bench/fusion_exactness.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

from dasdsl.engine.searcher import Searcher
from dasdsl.lang.settings import SearchConfig

ROOT = Path(__file__).resolve().parent.parent


def _tests():
    """tests/test_fusion.py by path: its twins, batches and relative difference are the measurement."""
    spec = importlib.util.spec_from_file_location("test_fusion", ROOT / "tests" / "test_fusion.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["test_fusion"] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    torch.set_num_threads(2)
    tf = _tests()
    print(f"{'space':<14}{'outputs':>10}{'gradients':>11}{'first':>10}{'second':>10}{'exact':>10}")
    worst = 0.0
    for name in tf.SEARCH_SPACES:
        plain, fused = tf._twins(name)
        batch = tf._batch(name)
        out_p, grads_p = tf._loss_and_grads(plain, batch)
        out_f, grads_f = tf._loss_and_grads(fused, batch)
        row = [tf._rel([out_p], [out_f]), tf._rel(grads_p, grads_f)]
        for kind in ("first_order", "second_order", "exact"):
            plain, fused = tf._twins(name)
            train, valid = tf._batch(name, 3, seed=2), tf._batch(name, 3, seed=3)
            found = []
            for net in (plain, fused):
                torch.manual_seed(7)  # dropout candidates (mlp.das) draw the same masks in both
                searcher = Searcher(net, SearchConfig(gate="softmax", hypergradient=kind))
                searcher.weight_step(train)
                found.append(searcher.hypergradient(train, valid))
            row.append(tf._rel(*found))
        worst = max(worst, *row)
        print(f"{name:<14}" + "".join(f"{v:>10.1e} " for v in row))
    print(f"largest relative difference: {worst:.1e} (tests/test_fusion.py asserts <= {tf.TOL:.0e})")


if __name__ == "__main__":
    main()
