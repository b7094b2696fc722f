"""Searched depth: ``cells b(C) x [1, 2, 3]`` is read, checked, counted and printed; the supernet builds the
most repeats and mixes the outputs after each count under a gate; the result writes the chosen count."""

from __future__ import annotations

import itertools
import json
import random

import pytest
import torch
from test_search import _finite_difference, _rel  # the unrolled objective and its finite differences

import dasdsl
from dasdsl.compiler.cost import costs, depth_extremes, repeat_costs
from dasdsl.compiler.lower import FixedNetwork, Supernet, count_parameters
from dasdsl.engine.constraints import best_over_depths
from dasdsl.engine.discretization import to_module
from dasdsl.engine.searcher import Searcher, gate_penalty
from dasdsl.lang.printer import format_das
from dasdsl.lang.settings import SearchConfig

SPACE = """\
space d
input image

let C = 8

unshared cell b(c) {
    input x
    node y = x ~ [conv(3), conv(5)]
    output y
}

cell s(c) {
    input x
    node y = x ~ [conv(3), skip, conv(k = [5, 7])]
    output y
}

network {
    stem  conv_bn(3, out = C)
    cells b(C) x [1, 2, 3], s(C) x [2, 4]
    head  global_avg_pool then linear(classes)
}
"""


def test_a_depth_choice_counts_each_option_and_prints_back() -> None:
    space = dasdsl.loads(SPACE)
    # b is unshared: 2, 4 or 8 architectures with 1, 2 or 3 repeats; s is shared: its 4 once per option
    assert space.count() == (2 + 4 + 8) * (4 * 2)
    assert [(d.options, d.labels) for d in space.macro.depths] == [
        ((1, 2, 3), ("x 1", "x 2", "x 3")),
        ((2, 4), ("x 2", "x 4")),
    ]
    assert len(space.macro.items) == 3 + 4  # the most repeats are instantiated
    assert format_das(space.module) == SPACE
    assert dasdsl.loads(format_das(space.module)).module == space.module


@pytest.mark.parametrize(
    ("depth", "message", "column"),
    [
        ("[]", "empty depth list", 18),
        ("[1, 1]", "repeat count 1 appears twice in the list", 22),
        ("[0, 2]", "a repeat count must be positive, got 0", 19),
        ("[2.5]", "a repeat count must be an integer, got 2.5", 19),
    ],
)
def test_bad_depth_lists_are_located(depth: str, message: str, column: int) -> None:
    with pytest.raises(dasdsl.DasError) as caught:
        dasdsl.loads(SPACE.replace("b(C) x [1, 2, 3]", f"b(C) x {depth}"), "bad.das")
    [diag] = caught.value.errors
    assert (diag.message, diag.span.line, diag.span.column) == (message, 20, column)


def test_every_option_must_keep_the_shape() -> None:
    text = SPACE.replace("cells b(C) x [1, 2, 3]", "cells b(C), d(2 * C) x [1, 2]")
    text = text.replace(
        "network {",
        "cell d(c) with input stride 2 {\n    input x\n    node y = x ~ conv(3, out = c)\n    output y\n}\n\nnetwork {",
    )
    with pytest.raises(
        dasdsl.DasError,
        match=r"the searched depth of 'd' gives different shapes: with x 1 the network continues with 16x4x4, "
        r"with x 2 with 16x2x2",
    ):
        dasdsl.loads(text).graph((1, 8, 8), 10)


def test_the_supernet_mixes_the_outputs_after_each_count() -> None:
    space = dasdsl.loads(SPACE)
    ir = space.graph((1, 8, 8), 10)
    mixtures = {n: d for n, d in ir.macro.nodes.items() if d.kind == "depth"}
    assert {d.choice: (d.options, d.instances) for d in mixtures.values()} == {
        "depth:0:b": ((1, 2, 3), ("0", "1", "2")),
        "depth:3:s": ((2, 4), ("3", "4", "5", "6")),
    }
    assert ir.choices["depth:0:b"].labels == ("x 1", "x 2", "x 3") and ir.choices["depth:0:b"].kind == "depth"
    torch.manual_seed(0)
    net = space.supernet((1, 8, 8), 10).eval()
    x = torch.randn(3, 1, 8, 8)
    outputs = {}
    net.items["depth0_0"].register_forward_hook(lambda m, args, out: outputs.update(args=args, out=out))
    with torch.no_grad():
        net(x)
    w = net.gate_weights()["depth:0:b"]
    assert torch.allclose(outputs["out"], sum(wi * y for wi, y in zip(w, outputs["args"])), atol=1e-6)


def test_the_expected_cost_is_exact_for_every_discrete_choice() -> None:
    """At one-hot gate weights the cost penalty times the largest cost plus the fixed cost is the parameter
    count of the network the decisions print: depths drop their repeats' costs with them."""
    space = dasdsl.loads(SPACE)
    ir = space.graph((1, 8, 8), 10)
    cfg = SearchConfig(penalties=(("cost", "params", 1.0),), gate="softmax", anchor=0.0)
    penalty = gate_penalty(cfg, ir)
    assert penalty is not None
    fixed, per_choice = costs(ir, "params")
    _, largest = depth_extremes(ir, fixed, per_choice, repeat_costs(ir, "params"))
    net = space.supernet((1, 8, 8), 10)
    rng = random.Random(0)
    seen = set()
    for _ in range(12):
        decisions = {k: rng.randrange(len(c.labels)) for k, c in ir.choices.items()}
        seen.add((decisions["depth:0:b"], decisions["depth:3:s"]))
        one_hot = {
            k: torch.nn.functional.one_hot(torch.tensor(i), len(ir.choices[k].labels)).float()
            for k, i in decisions.items()
        }
        net.gate_weights = lambda sample=False, w=one_hot: w  # noqa: ARG005
        fixed_net = FixedNetwork(dasdsl.loads(format_das(to_module(space, ir, decisions))).graph((1, 8, 8), 10))
        assert fixed + largest * float(penalty(net, 0)) == pytest.approx(count_parameters(fixed_net), abs=1e-2)
    assert len(seen) >= 4


TINY = """space tiny
input vector
cell c {
    input x
    node h = x ~ [linear(out = [4, 6]) then tanh x [1, 2], skip]
    output h
}
network {
    cells c x [1, 2]
    head linear(classes)
}
"""


def test_exact_hypergradient_with_depths_and_a_value_choice_matches_finite_differences() -> None:
    """A searched network depth, a searched chain depth and a value list, weights shared."""
    torch.manual_seed(0)
    net = Supernet(dasdsl.loads(TINY).graph((4,), 3), share_values=True).double()
    with torch.no_grad():
        for a in net.arch_parameters():
            a.copy_(torch.randn_like(a))
    searcher = Searcher(net, SearchConfig(hypergradient="exact", w_lr=0.5, w_momentum=0.0, w_weight_decay=0.0))
    assert "depth:0:c" in searcher.net.choice_keys
    train = (torch.randn(32, 4, dtype=torch.float64), torch.randint(0, 3, (32,)))
    valid = (torch.randn(32, 4, dtype=torch.float64), torch.randint(0, 3, (32,)))
    assert _rel(searcher.hypergradient(train, valid), _finite_difference(searcher, train, valid)) < 1e-4


@pytest.mark.slow
def test_a_search_writes_the_chosen_count_and_refuses_what_it_cannot_rank(tmp_path) -> None:  # noqa: ANN001
    space = dasdsl.loads(SPACE + "\nsearch {\n    gate    softmax\n    penalty cost(flops, 0.1)\n}\n")
    result = space.search("digits", epochs=1, out=None, progress=False)
    assert result is not None and result.space.count() == 1
    network = result.space.to_das().split("network {")[1]
    assert "[" not in network and "s(C)" in network
    trained = result.space.train("digits", epochs=1, progress=False)
    assert trained.test_samples == 360
    path = tmp_path / "d.das"
    path.write_text(SPACE, encoding="utf-8")
    dasdsl.api.render(path, tmp_path / "net.svg", macro=True, data="digits")
    svg = (tmp_path / "net.svg").read_text(encoding="utf-8")
    assert "b x [1, 2, 3]" in svg and "s x [2, 4]" in svg


def test_constraints_and_top_k_rank_over_depths_exactly() -> None:
    """best_over_depths against brute force: every architecture of the space (every count, every candidate
    of the repeats that count keeps), its parameter count from the network it prints."""
    space = dasdsl.loads(SPACE)
    ir = space.graph((1, 8, 8), 10)
    rng = random.Random(3)
    weights = {k: [rng.random() for _ in c.labels] for k, c in ir.choices.items()}
    budget = 6000
    tables = {"params": costs(ir, "params")}
    found = best_over_depths(ir, weights, [("max_params", budget)], 3, tables, {"params": repeat_costs(ir, "params")})
    truth = {}
    keys = list(ir.choices)
    for combo in itertools.product(*(range(len(c.labels)) for c in ir.choices.values())):
        decisions = dict(zip(keys, combo))
        text = format_das(to_module(space, ir, decisions))
        if text in truth:
            continue  # the same network: a left-out repeat's choice differs
        printed = dasdsl.loads(text)
        params = count_parameters(FixedNetwork(printed.graph((1, 8, 8), 10)))
        kept = [k for k in keys if _kept(ir, decisions, k)]
        truth[text] = (sum(weights[k][decisions[k]] for k in kept), params)
    assert len(truth) == space.count() == 112
    feasible = sorted(((sc, t) for t, (sc, p) in truth.items() if p <= budget), reverse=True)
    assert [round(r.score, 9) for r in found] == [round(sc, 9) for sc, _ in feasible[:3]]
    assert [format_das(to_module(space, ir, r.decisions)) for r in found] == [t for _, t in feasible[:3]]


def _kept(ir, decisions, key):  # noqa: ANN001, ANN202 - is this choice in the network the decisions print?
    info = ir.choices[key]
    if info.kind == "depth":
        return True
    for d in ir.depth_nodes().values():
        count = d.options[decisions[d.choice]]
        for node in d.instances[count:]:
            if ir.cells[ir.macro.nodes[node].cell_key].type_name == info.cell_type:
                kept_elsewhere = any(
                    ir.cells[ir.macro.nodes[n].cell_key].type_name == info.cell_type for n in d.instances[:count]
                )
                if not kept_elsewhere:
                    return False
    return True


@pytest.mark.slow
def test_a_latency_table_times_each_repeat_and_prices_the_depth(tmp_path) -> None:  # noqa: ANN001
    from dasdsl.compiler.cost import profile_latency

    space = dasdsl.loads(SPACE)
    ir = space.graph((1, 8, 8), 10)
    table = profile_latency(ir, batch=8, repeats=2, warmup=1)
    assert set(table["depth_repeats"]) == {"0", "1", "2", "3", "4", "5", "6"}
    for node, row in table["depth_repeats"].items():  # each repeat's candidates: its share of the totals
        for key, times in row["choices"].items():
            assert all(0 <= times[label] <= table["choices"][key][label] + 1e-9 for label in times), (node, key)
    repeats = repeat_costs(ir, "latency", table)
    assert repeats.per_choice["0"]["b#0:x->y"] == [table["choices"]["b#0:x->y"][c] for c in ("conv(3)", "conv(5)")]
    path = tmp_path / "latency.json"
    path.write_text(json.dumps(table), encoding="utf-8")
    result = space.search(
        "digits", epochs=1, out=None, progress=False, penalty="cost(latency, 0.5)", latency_table=path
    )
    assert result is not None and result.space.count() == 1
    del table["depth_repeats"]
    with pytest.raises(dasdsl.DasError, match="has no times per repeat of this space's searched depths"):
        repeat_costs(ir, "latency", table)


CHAIN = """\
space chain
input image

let C = 8

cell c(c) {
    input x
    node y = x ~ [conv(k = [3, 5]) x [1, 2], skip]
    node z = y ~ conv(3) x 2
    output z
}

network {
    stem  conv_bn(3, out = C)
    cells c(C)
    head  global_avg_pool then linear(classes)
}
"""


def test_a_chain_repeats_inside_a_cell_and_its_count_is_searched() -> None:
    space = dasdsl.loads(CHAIN)
    assert space.count() == 5  # conv(k = 3), conv(k = 5), each once or twice; skip
    assert format_das(space.module) == CHAIN
    ir = space.graph((1, 8, 8), 10)
    [choice] = ir.choices.values()
    assert choice.labels == ("conv(k = 3)", "conv(k = 5)", "conv(k = 3) x 2", "conv(k = 5) x 2", "skip")
    fixed = [d for d in ir.cells[next(iter(ir.cells))].edges.values() if d.choice is None and d.candidates]
    assert [len(d.candidates[0].steps) for d in fixed] == [2]  # conv(3) x 2: two steps
    torch.manual_seed(0)
    net = Supernet(ir, share_values=True)
    edge = net.items["0"].edges["x->y"]
    # the deepest, widest candidate holds the weights; the others read its first layers' centres
    assert [sum(p.numel() for p in c.parameters()) for c in edge.candidates] == [0, 0, 0, 2 * 8 * 8 * 25, 0]
    small, large = edge.candidates[2], edge.candidates[3]  # conv(k = 3) x 2, conv(k = 5) x 2
    first, second = (m for m in large.modules() if isinstance(m, torch.nn.Conv2d))
    layers = [m for m in small.modules() if isinstance(m, torch.nn.Conv2d)]
    x = torch.randn(2, 8, 8, 8)
    small(x)  # the slices are taken in the forward
    assert torch.equal(layers[0].weight, first.weight[:, :, 1:4, 1:4])
    assert torch.equal(layers[1].weight, second.weight[:, :, 1:4, 1:4])


@pytest.mark.parametrize(
    ("edge", "message"),
    [
        ("conv(3) x []", "empty repeat list"),
        ("conv(3) x [2, 2]", "repeat count 2 appears twice in the list"),
        ("conv(3) x [0, 1]", "a repeat count must be positive, got 0"),
    ],
)
def test_bad_chain_repeats_are_errors(edge: str, message: str) -> None:
    with pytest.raises(dasdsl.DasError) as caught:
        dasdsl.loads(CHAIN.replace("conv(3) x 2", edge))
    assert [d.message for d in caught.value.errors] == [message]


def test_a_repeat_list_outside_a_candidate_is_an_error() -> None:
    with pytest.raises(dasdsl.DasError) as caught:
        dasdsl.loads(CHAIN.replace("conv_bn(3, out = C)", "conv_bn(3, out = C) x [1, 2]"))
    assert [d.message for d in caught.value.errors] == [
        "a searched repeat count (x [1, 2]) is only allowed on a candidate (after '~')"
    ]
    fixed = dasdsl.loads(CHAIN.replace("cells c(C)", "cells c(C), conv(3) x 1"))  # a plain count anywhere
    assert fixed.count() == 5


@pytest.mark.slow
def test_a_searched_chain_depth_discretizes_to_a_plain_count() -> None:
    space = dasdsl.loads(CHAIN + "\nsearch {\n    gate softmax\n}\n")
    result = space.search("digits", epochs=1, out=None, progress=False)
    assert result is not None and result.space.count() == 1
    cell = result.space.to_das().split("cell c(c) {")[1].split("}")[0]
    assert "[" not in cell and "node z = y ~ conv(3) x 2" in cell
    fixed = result.space.network((1, 8, 8), 10)
    assert fixed(torch.randn(2, 1, 8, 8)).shape == (2, 10)
