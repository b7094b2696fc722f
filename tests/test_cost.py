"""Cost-aware search: exact FLOPs, adapters in every cost, the latency table, and the cost penalty at work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from paths import POOLING, ROOT

import dasdsl
from dasdsl.cli import main
from dasdsl.compiler.cost import costs, extremes, param_summary
from dasdsl.engine.discretization import to_module
from dasdsl.engine.searcher import gate_penalty
from dasdsl.errors import DasError
from dasdsl.lang.printer import format_das
from dasdsl.lang.settings import SEARCH, SearchConfig

WIDTHS = ROOT / "spaces" / "widths.das"

# a normal and a reduction cell on a 3x8x8 input with 4 channels: every MAC can be counted by hand
TINY = """space tiny
input image

cell normal(c) {
    input x
    node y = x ~ [conv(3), conv(1), skip, max_pool(3)]
    output y
}

cell reduce(c) = normal(c) with input stride 2

network {
    stem  conv_bn(3, out = 4)
    cells normal(4) x 2, reduce(4)
    head  global_avg_pool then linear(classes)
}
"""


def test_flops_of_a_hand_computable_space() -> None:
    ir = dasdsl.loads(TINY, "tiny.das").graph((3, 8, 8), 10)
    fixed, per = costs(ir, "flops")
    # stem: 4 out channels x 8x8 positions x 3 in channels x 3x3 kernel; head: linear 4 -> 10
    assert fixed == 4 * 64 * 3 * 9 + 4 * 10
    # two normal cells at 8x8: conv(3) 4x64x4x9, conv(1) 4x64x4, skip and max_pool free
    assert per["normal:x->y"] == (2 * 4 * 64 * 4 * 9, 2 * 4 * 64 * 4, 0, 0)
    # the reduction cell at stride 2 (8x8 -> 4x4); skip is a factorized reduce: two 1x1 convs 4 -> 2
    assert per["reduce:x->y"] == (4 * 16 * 4 * 9, 4 * 16 * 4, 2 * (2 * 16 * 4), 0)
    p_fixed, p_per = costs(ir, "params")
    assert p_fixed == (4 * 3 * 9 + 2 * 4) + (4 * 10 + 10)  # conv_bn with affine BN, linear with bias
    assert p_per["normal:x->y"] == (2 * (4 * 4 * 9 + 8), 2 * (4 * 4 + 8), 0, 0)
    assert extremes(ir, fixed, per) == (fixed, fixed + 2 * 4 * 64 * 4 * 9 + 4 * 16 * 4 * 9)


def _fixed_network_cost(space, ir, decisions: dict[str, int], measure: str) -> float:  # noqa: ANN001
    result = dasdsl.loads(format_das(to_module(space, ir, decisions)), "result.das")
    fixed_ir = result.graph(ir.input_shape, ir.classes)
    assert not fixed_ir.has_choices
    total, per = costs(fixed_ir, measure)
    assert per == {}
    return total


def test_params_and_flops_include_the_widen_adapters() -> None:
    space = dasdsl.load(WIDTHS)
    ir = space.graph((1, 8, 8), 10)
    key = "widths:x->y"
    assert ir.choices[key].labels == ("conv(3, out = 16)", "conv(3, out = 32)", "skip")
    fixed_p, params = costs(ir, "params")
    fixed_f, flops = costs(ir, "flops")
    # the narrow candidates pay for their 1x1 widen conv to 32 channels (8x8 positions)
    assert params[key] == (16 * 8 * 9 + 2 * 16 + 16 * 32, 32 * 8 * 9 + 2 * 32, 8 * 32)
    assert flops[key] == (16 * 64 * 8 * 9 + 32 * 64 * 16, 32 * 64 * 8 * 9, 32 * 64 * 8)
    assert fixed_f == 8 * 64 * 1 * 9 + 32 * 10
    assert param_summary(ir).candidate_params[key] == params[key]
    # each discrete architecture, compiled from the .das it discretizes to, costs fixed + its candidate
    for i in range(3):
        assert _fixed_network_cost(space, ir, {key: i}, "params") == fixed_p + params[key][i]
        assert _fixed_network_cost(space, ir, {key: i}, "flops") == fixed_f + flops[key][i]


def test_cost_penalty_is_the_normalised_expected_cost() -> None:
    space = dasdsl.load(WIDTHS)
    ir = space.graph((1, 8, 8), 10)
    net = space.supernet((1, 8, 8), 10)
    with torch.no_grad():
        net.arch_parameters()[0].copy_(torch.tensor([0.3, -0.2, 0.1]))
    fixed, params = costs(ir, "params")
    largest = fixed + max(params["widths:x->y"])
    penalty = gate_penalty(SearchConfig(gate="softmax", penalties=(("cost", "params", 0.5),)), ir)
    assert penalty is not None
    value = penalty(net, 0)
    w = torch.softmax(torch.tensor([0.3, -0.2, 0.1]), -1)
    expected = 0.5 * float((w * torch.tensor(params["widths:x->y"], dtype=torch.float32)).sum()) / largest
    assert float(value.detach()) == pytest.approx(expected, rel=1e-5)
    (grad,) = torch.autograd.grad(value, net.arch_parameters())
    assert grad[2] < 0 < grad[1]  # descent raises the cheapest candidate (skip), lowers the dearest
    assert gate_penalty(SearchConfig(gate="softmax", penalties=(("cost", "params", 0.0),)), ir) is None


def test_latency_table_round_trips_into_a_search(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    table_path = tmp_path / "latency.json"
    code = main(
        [
            *("profile", str(POOLING), "--device", "cpu", "--repeats", "3", "--warmup", "1", "--batch", "16"),
            *("-o", str(table_path)),
        ]
    )
    assert code == 0
    assert "pool:x->y" in capsys.readouterr().out
    table = json.loads(table_path.read_text())
    assert table["format"] == "dasdsl-latency/1"
    assert (table["input_shape"], table["classes"], table["batch"], table["repeats"]) == ([1, 8, 8], 10, 16, 3)
    assert set(table["choices"]) == {"pool:x->y"}
    row = table["choices"]["pool:x->y"]
    assert set(row) == {"max_pool(3)", "avg_pool(3)"}
    assert table["fixed"] > 0 and all(ms > 0 for ms in row.values())

    ir = dasdsl.load(POOLING).graph((1, 8, 8), 10)
    fixed, per = costs(ir, "latency", table=table_path)
    assert fixed == table["fixed"]
    assert per == {"pool:x->y": (row["max_pool(3)"], row["avg_pool(3)"])}
    with pytest.raises(DasError, match="measured for input 1x8x8 and 10 classes, the search runs on 3x8x8"):
        costs(dasdsl.load(POOLING).graph((3, 8, 8), 10), "latency", table=table_path)
    with pytest.raises(DasError, match="needs a latency table"):
        costs(ir, "latency")

    result = dasdsl.load(POOLING).search(
        epochs=1, device="cpu", progress=False, penalty="cost(latency, 0.1)", latency_table=table_path
    )
    assert result is not None
    cfg = SEARCH.resolve(SEARCH.entries_of(result.settings))
    assert cfg.penalties == (("cost", "latency", 0.1),)
    assert cfg.latency_table == str(table_path.resolve())
    penalty = gate_penalty(cfg, ir)
    assert penalty is not None
    net = dasdsl.load(POOLING).supernet((1, 8, 8), 10)
    largest = fixed + max(per["pool:x->y"])
    w = torch.softmax(net.arch_parameters()[0].detach(), -1)
    expected = 0.1 * float((w * torch.tensor(per["pool:x->y"])).sum()) / largest
    assert float(penalty(net, 0).detach()) == pytest.approx(expected, rel=1e-5)


def test_latency_penalty_without_a_table_fails_before_the_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    with pytest.raises(DasError, match="needs a latency table"):
        dasdsl.load(POOLING).search(epochs=1, out=runs, progress=False, penalty="cost(latency, 0.1)")
    assert not runs.exists()


def _search_gates(lam: float) -> tuple[list[float], str]:
    result = dasdsl.load(WIDTHS).search(
        "digits",
        epochs=2,
        seed=0,
        device="cpu",
        progress=False,
        penalty=f"cost(params, {lam})",
        arch="adam(lr = 0.01)",
        select="gates",  # the argmax of the priced gates, not a one-shot ranking
    )
    assert result is not None
    return result.history[-1]["gates"]["widths:x->y"], result.space.to_das()


def test_params_penalty_drives_the_cheapest_candidate_up() -> None:
    # skip (its 8 -> 32 widen conv: 256 parameters) is the cheapest candidate of spaces/widths.das
    free, _ = _search_gates(0.0)
    priced, result = _search_gates(3.0)
    assert priced[2] > free[2] + 0.05, (free, priced)
    assert max(range(3), key=lambda i: priced[i]) == 2, priced
    assert "skip then widen(32)" in result
