"""The hand-written DARTS baseline of bench/ computes what dasdsl's supernet computes, so that
bench/step_bench.py compares like with like: same parameter counts, same loss and the same
first- and second-order alpha gradients after the structural weight mapping."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch
from paths import ROOT
from torch import nn

import dasdsl
from dasdsl.compiler.lower import Supernet


def _step_bench():
    """bench/step_bench.py by path; it loads its siblings (darts_baseline) itself."""
    if "step_bench" not in sys.modules:
        spec = importlib.util.spec_from_file_location("step_bench", ROOT / "bench" / "step_bench.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["step_bench"] = module
        spec.loader.exec_module(module)
    return sys.modules["step_bench"]


sb = _step_bench()
db = sb.db
TINY = sb.CONFIGS["tiny"]  # C=4, 5 cells, 3x16x16, batch 4
_rel = sb.relative


def test_parameter_counts_match_the_paper_configuration() -> None:
    torch.manual_seed(0)
    base = db.Network(16, 10, 8, nn.CrossEntropyLoss())
    ir = db.dasdsl_space(16, 8).graph((3, 32, 32), 10)
    net = Supernet(ir)
    assert db.count_weights(base) == sum(p.numel() for p in net.weight_parameters()) == 1_930_618
    names, alphas = db.weight_mapping(base, net, ir)
    assert len(names) == len(base.state_dict())
    assert len(alphas["normal"]) == len(alphas["reduce"]) == 14


@pytest.mark.parametrize(("c", "layers"), [(4, 5), (8, 5), (4, 3), (4, 8)])
def test_layouts_agree(c: int, layers: int) -> None:
    """The generated space has the baseline's cells: reductions at layers // 3 and 2 * layers // 3."""
    base = db.Network(c, 10, layers, nn.CrossEntropyLoss(), in_channels=3)
    net = db.dasdsl_space(c, layers).supernet((3, 16, 16), 10)
    kinds = [db._cell_type(cell) for _, cell in db._cells(net)]
    assert kinds == ["reduce" if cell.reduction else "normal" for cell in base.cells]
    assert db.count_weights(base) == sum(p.numel() for p in net.weight_parameters())


def test_small_space_text_and_paper_file() -> None:
    assert db.space_text(16, 8) == (ROOT / "spaces" / "darts.das").read_text()
    text = db.space_text(8, 5)
    assert "let C = 8\n" in text
    assert "cells normal(C), reduce(2 * C), normal(2 * C), reduce(4 * C), normal(4 * C)\n" in text
    spelled = text.replace("normal(C), ", "normal(C) x 1, ").replace("normal(2 * C), ", "normal(2 * C) x 1, ")
    a, b = (dasdsl.loads(t).graph((3, 16, 16), 10) for t in (text, spelled))
    assert [a.macro.nodes[n].cell_key for n in a.order()] == [b.macro.nodes[n].cell_key for n in b.order()]
    assert list(a.choices) == list(b.choices)


def test_mapping_follows_structure() -> None:
    pair = sb.Pair(TINY)
    names, alphas = db.weight_mapping(pair.base, pair.net, pair.ir)
    # PRIMITIVES order (none, max, avg, skip, ...) against darts.das' (none, skip, max, avg, ...)
    assert alphas["columns"] == [0, 2, 3, 1, 4, 5, 6, 7]
    assert names["cells.0._ops.2._ops.4.op.1.weight"] == "items.0.edges.s0->n1.candidates.4.1.weight"
    assert names["cells.1._ops.1._ops.3.conv_1.weight"] == "items.1.edges.s1->n0.candidates.1.conv_1.weight"
    assert names["cells.2.preprocess0.conv_2.weight"] == "items.2.preprocess.0.conv_2.weight"
    sd_b, sd_d = pair.base.state_dict(), pair.net.state_dict()
    for a, b in names.items():
        assert sd_b[a].shape == sd_d[b].shape
        assert torch.equal(sd_b[a], sd_d[b])
    for kind, rows in (("normal", pair.base.alphas_normal), ("reduce", pair.base.alphas_reduce)):
        for k, i in enumerate(alphas[kind]):
            assert torch.equal(pair.net.alphas[i][alphas["columns"]], rows[k].detach())


def test_same_loss_and_a_wrong_mapping_shows() -> None:
    pair = sb.Pair(TINY)
    train, _ = sb.batches(TINY, TINY["batch"])
    lb, ld = pair.losses(train)
    assert abs(lb - ld) <= 1e-5
    with torch.no_grad():  # exchange two ops' alphas on one edge: the loss must notice
        a = pair.net.alphas[3]
        a[[4, 7]] = a[[7, 4]].clone()
    assert abs(pair.losses(train)[1] - lb) > 1e-4


@pytest.mark.slow
def test_same_weight_step_and_first_order_gradient() -> None:
    pair = sb.Pair(TINY)
    train, valid = sb.batches(TINY, TINY["batch"])
    lb, _ = db.weight_step(pair.base, pair.b_opt, *train)
    ld, _ = pair.searcher.weight_step(train)
    assert abs(lb - ld) <= 1e-5
    names, _ = db.weight_mapping(pair.base, pair.net, pair.ir)
    sd_b, sd_d = pair.base.state_dict(), pair.net.state_dict()
    for a, b in names.items():
        if sd_b[a].is_floating_point():
            torch.testing.assert_close(sd_b[a], sd_d[b], rtol=1e-4, atol=1e-5)
    pair.architect.backward(*train, *valid, pair.eta, pair.b_opt, unrolled=False)
    base = [a.grad for a in pair.base.arch_parameters()]
    ours = db.alphas_as_baseline(pair.searcher.first_order(valid), pair.net, pair.ir, pair.base)
    assert _rel(base, ours) <= 1e-4


@pytest.mark.slow
def test_same_second_order_gradient_float32() -> None:
    """As the benchmark runs them: float32, momentum buffers from one weight step."""
    pair = sb.Pair(TINY)
    train, valid = sb.batches(TINY, TINY["batch"])
    pair.baseline_step("weight", train, valid)
    pair.dasdsl_step("weight", train, valid)
    base, ours = pair.second_order(train, valid)
    first = db.alphas_as_baseline(pair.searcher.first_order(valid), pair.net, pair.ir, pair.base)
    assert _rel(base, ours) <= 1e-3
    assert _rel(base, first) > 1e-2  # the second-order term is really there


@pytest.mark.slow
def test_the_benchmark_check_passes() -> None:
    ok = sb.check(TINY, check_batch=2)
    assert ok["weights"] == 136_182
    assert ok["grad_rel"] <= 1e-4
