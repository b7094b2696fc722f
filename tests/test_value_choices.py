"""Searched values: ``conv(k = [3, 5, 7])`` is a choice over the expanded candidates, counted, printed and
checked like any candidate list; in the supernet the candidates of one list share the largest one's weights."""

from __future__ import annotations

import pytest
import torch
from test_search import _finite_difference, _rel  # the unrolled objective and its finite differences

import dasdsl
from dasdsl.compiler.lower import FixedNetwork, MixedEdge, Supernet, count_parameters, shared_state_dict
from dasdsl.engine.run import inherit_weights
from dasdsl.engine.searcher import Searcher
from dasdsl.lang.printer import format_das
from dasdsl.lang.settings import SearchConfig

C = 4


def image_space(edge: str = "conv(k = [3, 5, 7])", search: str = "") -> str:
    return f"""\
space values
input image

let C = {C}

cell c(c) {{
    input s0
    node n0 = s0 ~ {edge}
    node n1 = n0 ~ [mbconv(k = [3, 5], expand = [2, 3]), skip]
    output n1
}}

network {{
    stem  conv_bn(3, out = C)
    cells c(C)
    head  global_avg_pool then linear(classes)
}}
{search}"""


def test_value_lists_expand_count_and_print_back() -> None:
    space = dasdsl.loads(image_space())
    assert space.count() == 3 * 5  # three kernels; four mbconvs and skip
    ir = space.graph((1, 8, 8), 10)
    labels = [info.labels for info in ir.choices.values()]
    assert labels == [
        ("conv(k = 3)", "conv(k = 5)", "conv(k = 7)"),
        (
            "mbconv(k = 3, expand = 2)",
            "mbconv(k = 3, expand = 3)",
            "mbconv(k = 5, expand = 2)",
            "mbconv(k = 5, expand = 3)",
            "skip",
        ),
    ]
    assert format_das(space.module) == image_space()  # canonical: fmt keeps the lists as written
    assert dasdsl.loads(format_das(space.module)).module == space.module


@pytest.mark.parametrize(
    ("edge", "message", "column"),
    [
        ("conv(k = [])", "empty value list", 29),
        ("conv(k = [3, 3])", "value 3 appears twice in the list", 33),
        ("conv(k = [3, 2.5])", "mixed types in value list: integers, numbers", 29),
        ("conv(3, stride = [1, 2])", "argument 'stride' of 'conv' cannot take a value list", 37),
    ],
)
def test_bad_value_lists_are_located(edge: str, message: str, column: int) -> None:
    with pytest.raises(dasdsl.DasError) as caught:
        dasdsl.loads(image_space(edge), "bad.das")
    [diag] = caught.value.errors
    assert (diag.message, diag.span.line, diag.span.column) == (message, 8, column)


def test_a_value_list_outside_a_candidate_is_an_error() -> None:
    text = (
        image_space().replace("conv_bn(3, out = C)", "conv_bn([3, 5], out = C)")
        + "search {\n    weights sgd(lr = [1])\n}\n"
    )
    with pytest.raises(dasdsl.DasError) as caught:
        dasdsl.loads(text, "bad.das")
    wanted = "a value list is only allowed as an argument of a candidate op (after '~')"
    assert [(d.message, d.span.line) for d in caught.value.errors] == [(wanted, 14), (wanted, 19)]


def _conv_weights(edge: MixedEdge) -> list[tuple[int, ...]]:
    return [tuple(p.shape) for p in edge.parameters() if p.dim() == 4]


def test_shared_candidates_hold_the_largest_kernel_once() -> None:
    ir = dasdsl.loads(image_space()).graph((1, 8, 8), 10)
    torch.manual_seed(0)
    separate, shared = Supernet(ir), Supernet(ir, share_values=True)
    edge = shared.items["0"].edges["s0->n0"]
    assert _conv_weights(edge) == [(C, C, 7, 7)]  # conv(k = 3) and conv(k = 5) read it
    assert _conv_weights(separate.items["0"].edges["s0->n0"]) == [(C, C, 3, 3), (C, C, 5, 5), (C, C, 7, 7)]
    mb_separate = sum(p.numel() for p in separate.items["0"].edges["n0->n1"].parameters() if p.dim() == 4)
    mb_shared = sum(p.numel() for p in shared.items["0"].edges["n0->n1"].parameters() if p.dim() == 4)
    assert mb_shared == C * 3 * C + C * 3 * 25 + C * 3 * C  # mbconv(k = 5, expand = 3): expand, depthwise, project
    assert mb_separate > 2 * mb_shared
    assert count_parameters(separate) - count_parameters(shared) == C * C * (9 + 25) + mb_separate - mb_shared


def test_a_small_kernel_is_the_centre_of_the_large_one_and_its_gradient_lands_there() -> None:
    ir = dasdsl.loads(image_space()).graph((1, 8, 8), 10)
    torch.manual_seed(0)
    net = Supernet(ir, share_values=True)
    edge = net.items["0"].edges["s0->n0"]
    small, large = edge.candidates[0], edge.candidates[2]  # conv(k = 3), conv(k = 7)
    big = large[1].weight  # ReLU -> conv -> BN
    x = torch.randn(2, C, 8, 8)
    reference = torch.nn.functional.conv2d(torch.relu(x), big[:, :, 2:5, 2:5], padding=1)
    assert torch.allclose(small[1](torch.relu(x)), reference, atol=1e-6)
    small(x).square().sum().backward()
    grad = big.grad
    assert grad is not None and float(grad[:, :, 2:5, 2:5].abs().sum()) > 0
    outside = grad.clone()
    outside[:, :, 2:5, 2:5] = 0
    assert float(outside.abs().sum()) == 0.0


def test_the_discretized_network_inherits_the_slice_it_used() -> None:
    ir = dasdsl.loads(image_space()).graph((1, 8, 8), 10)
    torch.manual_seed(0)
    net = Supernet(ir, share_values=True)
    keys = list(ir.choices)
    decisions = {keys[0]: 1, keys[1]: 2}  # conv(k = 5); mbconv(k = 5, expand = 2)
    text = image_space("conv(k = 5)").replace(
        "[mbconv(k = [3, 5], expand = [2, 3]), skip]", "mbconv(k = 5, expand = 2)"
    )
    fixed = FixedNetwork(dasdsl.loads(text).graph((1, 8, 8), 10))
    missing = inherit_weights(fixed, net, ir, decisions)
    norms = {n for n, m in fixed.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    assert missing and all(name.rsplit(".", 1)[0] in norms for name in missing)  # only the affine BN parameters
    big = net.items["0"].edges["s0->n0"].candidates[2][1].weight
    assert torch.equal(fixed.items["0"].edges["s0->n0"][1].weight, big[:, :, 1:6, 1:6])
    depthwise = net.items["0"].edges["n0->n1"].candidates[3][3].weight  # mbconv(k = 5, expand = 3)'s
    assert torch.equal(fixed.items["0"].edges["n0->n1"][3].weight, depthwise[: 2 * C])
    assert set(net.state_dict()) < set(shared_state_dict(net))


TINY = """space tiny
input vector
cell c {
    input x
    node h = x ~ [linear(out = [6, 8]) then tanh, skip]
    node o = (x, h) ~ [linear(out = [5, 7]) then tanh, linear(5) then gelu]
    output o
}
network {
    cells c
    head linear(classes)
}
"""


def test_exact_hypergradient_with_shared_values_matches_finite_differences() -> None:
    torch.manual_seed(0)
    net = Supernet(dasdsl.loads(TINY, "tiny.das").graph((4,), 3), share_values=True).double()
    assert any(hasattr(m, "shared_from") for m in net.modules())
    with torch.no_grad():
        for a in net.arch_parameters():
            a.copy_(torch.randn_like(a))
    searcher = Searcher(net, SearchConfig(hypergradient="exact", w_lr=0.5, w_momentum=0.0, w_weight_decay=0.0))
    train = (torch.randn(32, 4, dtype=torch.float64), torch.randint(0, 3, (32,)))
    valid = (torch.randn(32, 4, dtype=torch.float64), torch.randint(0, 3, (32,)))
    assert _rel(searcher.hypergradient(train, valid), _finite_difference(searcher, train, valid)) < 1e-4


@pytest.mark.slow
def test_a_search_writes_the_chosen_values_and_off_keeps_weights_apart() -> None:
    space = dasdsl.loads(image_space(search="search {\n    gate softmax\n}\n"))
    result = space.search("digits", epochs=1, out=None, progress=False)
    assert result is not None
    text = result.space.to_das()
    assert "conv(k = " in text and "[" not in text.split("network {")[0].split("cell c(c) {")[1]
    assert result.space.count() == 1
    trained = result.space.train("digits", epochs=1, progress=False)
    assert trained.test_samples == 360
    off = space.search("digits", epochs=1, out=None, progress=False, share_values="off")
    assert off is not None and off.settings["share_values"] is False and result.settings["share_values"] is True


def test_the_picture_shows_a_value_list_as_written(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "values.das"
    path.write_text(image_space(), encoding="utf-8")
    dasdsl.api.render(path, tmp_path / "cell.svg", data="digits")
    svg = (tmp_path / "cell.svg").read_text(encoding="utf-8")
    assert "conv(k = [3, 5, 7])" in svg and "3 candidates" in svg
    assert "mbconv(k = [3, 5], expand = [2, 3])" in svg and "4 candidates" in svg


def test_constraints_and_top_k_rank_the_expanded_candidates() -> None:
    space = dasdsl.loads(image_space(search="search {\n    gate softmax\n}\n"))
    ir = space.graph((1, 8, 8), 10)
    from dasdsl.compiler.cost import param_summary

    summary = param_summary(ir)
    budget = summary.smallest + 200  # room for a little more than the smallest choices
    result = space.search("digits", epochs=1, out=None, progress=False, constraint=f"max_params({budget})", top=2)
    assert result is not None and len(result.top) == 2
    for found in result.top:
        fixed = FixedNetwork(found.graph((1, 8, 8), 10))
        assert count_parameters(fixed) <= budget
        assert "[" not in found.to_das().split("cell c(c) {")[1].split("}")[0]  # plain ops, values chosen
