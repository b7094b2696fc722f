"""The compiler: IR shapes and adapters, exact parameter counts against the reference code, lowering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from paths import ROOT, SHIPPED

import dasdsl
from dasdsl.cli import main
from dasdsl.compiler.ir import OUTPUT
from dasdsl.compiler.lower import MixedEdge, count_parameters, gate_weights
from dasdsl.errors import DasError

FIDELITY = ROOT / "tests" / "fixtures" / "fidelity"

NB201_MACRO = """
network {
    stem  conv_bn(3, out = 16)
    cells cell(16) x 5, resblock(32, stride = 2), cell(32) x 5, resblock(64, stride = 2), cell(64) x 5
    head  bn then relu then global_avg_pool then linear(classes)
}
"""


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("nb201_all_conv3", 1_531_546),  # NAS-Bench-201, every edge nor_conv_3x3
        ("nb201_all_skip", 73_306),
        ("nb201_all_none", 73_306),
        ("nb201_mixed_a", 1_288_506),
        ("nb201_mixed_b", 129_306),
        ("darts_v2", 3_349_342),  # DARTS paper, CIFAR-10 evaluation network, no auxiliary head
        ("darts_v1", 3_169_414),
    ],
)
def test_fixed_network_parameter_counts_match_reference(fixture: str, expected: int) -> None:
    net = dasdsl.load(FIDELITY / f"{fixture}.das").network((3, 32, 32), 10)
    assert count_parameters(net) == expected
    assert not any(isinstance(m, MixedEdge) for m in net.modules())
    out = net.eval()(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)


def test_darts_search_supernet_matches_darts_search_code() -> None:
    # DARTS' train_search.py logs "param size = 1.930618MB" for C=16, 8 cells, CIFAR-10:
    # BN affine=False inside cells, affine stem BN.
    net = dasdsl.load(ROOT / "spaces" / "darts.das").supernet((3, 32, 32), 10)
    assert sum(p.numel() for p in net.weight_parameters()) == 1_930_618
    assert len(net.arch_parameters()) == 28  # 14 edges x (normal, reduce), shared by all 8 cells
    assert all(a.numel() == 8 for a in net.arch_parameters())


@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_space_compiles_and_trains_one_step(path: Path) -> None:
    space = dasdsl.load(path)
    ir = space.graph()
    net = space.supernet()
    x = torch.randn(4, *ir.input_shape)
    loss = net(x).logsumexp(dim=1).mean()
    loss.backward()
    assert all(a.grad is not None for a in net.arch_parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.weight_parameters())


def test_widths_gets_exactly_the_adapters_the_brief_describes() -> None:
    ir = dasdsl.load(ROOT / "spaces" / "widths.das").graph((1, 8, 8), 10)
    (g,) = ir.cells.values()
    cands = g.edges["x", "y"].candidates
    adapters = {c.label: c.adapter for c in cands}
    assert adapters["conv(3, out = 32)"] is None
    assert adapters["conv(3, out = 16)"].kind == "widen"
    assert adapters["conv(3, out = 16)"].shape_in[0] == 16
    assert adapters["skip"].kind == "widen"
    assert adapters["skip"].shape_in[0] == 8  # c
    assert all(c.shape[0] == 32 for c in cands)
    assert all(d.preprocess is None for d in g.nodes.values() if d.kind == "input")
    # the weighted sum is defined and equals the sum of adapted candidates
    net = dasdsl.load(ROOT / "spaces" / "widths.das").supernet((1, 8, 8), 10)
    (mixed,) = [m for m in net.modules() if isinstance(m, MixedEdge)]
    x = torch.randn(3, 8, 8, 8)
    w = torch.tensor([0.2, 0.5, 0.3])
    net.ctx.weights = {mixed.key: w}
    expected = sum(w[i] * mixed.candidates[i](x) for i in range(3))
    assert torch.allclose(mixed(x), expected, atol=1e-6)
    assert mixed(x).shape == (3, 32, 8, 8)


def test_darts_reduction_inputs_are_preprocessed_like_darts() -> None:
    ir = dasdsl.load(ROOT / "spaces" / "darts.das").graph((3, 32, 32), 10)
    kinds = []
    for node in ir.order():
        d = ir.macro.nodes[node]
        if d.kind == "cell":
            g = ir.cells[d.cell_key]
            kinds.append(tuple(g.nodes[s].preprocess.kind for s in ("s0", "s1")))
    # the cell after each reduction sees s0 at twice the resolution: factorized reduce
    assert kinds == [
        ("project", "project"),
        ("project", "project"),
        ("project", "project"),
        ("reduce", "project"),
        ("project", "project"),
        ("project", "project"),
        ("reduce", "project"),
        ("project", "project"),
    ]
    assert ir.macro.nodes["head"].shape == (10,)


def test_gates_and_temperature() -> None:
    a = torch.tensor([0.7, -0.4])
    w = gate_weights(a, "softmax", 1.0)
    assert torch.allclose(w, torch.stack([torch.sigmoid(a[0] - a[1]), 1 - torch.sigmoid(a[0] - a[1])]))
    assert torch.allclose(gate_weights(a, "sigmoid", 2.0), torch.sigmoid(a / 2.0))
    hard = gate_weights(a, "gumbel", 1.0, hard=True)
    assert sorted(hard.tolist()) == [0.0, 1.0]
    net = dasdsl.load(ROOT / "spaces" / "pooling.das").supernet((1, 8, 8), 10, gate="softmax(temperature = 1.0)")
    with torch.no_grad():
        net.alphas[0].copy_(torch.tensor([1.0, 0.0]))
    warm = net.gate_weights()[net.choice_keys[0]]
    net.temperature = 0.1
    cold = net.gate_weights()[net.choice_keys[0]]
    assert cold[0] > warm[0] > 0.5


def test_unshared_cells_get_their_own_arch_parameters() -> None:
    net = dasdsl.load(ROOT / "spaces" / "mlp.das").supernet()
    assert len(net.arch_parameters()) == 4  # 2 unshared layers x 2 choices


def test_network_refuses_a_space_with_choices() -> None:
    with pytest.raises(DasError, match="choice points"):
        dasdsl.load(ROOT / "spaces" / "nb201.das").network((3, 32, 32), 10)


def _space(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.das"
    path.write_text(text)
    return path


def test_odd_resolution_reduce_is_a_compile_error_with_location(tmp_path: Path) -> None:
    path = _space(
        tmp_path,
        "space s\ninput image\n\ncell c(w) {\n    input x\n    node y = x ~ skip\n    output y\n}\n"
        "cell r(w) = c(w) with input stride 2\n\nnetwork {\n    cells r(8)\n    head global_avg_pool then "
        "linear(classes)\n}\n",
    )
    with pytest.raises(DasError) as exc:
        dasdsl.load(path).graph((8, 7, 7), 10)
    d = exc.value.diagnostics[0]
    assert (d.span.line, d.span.column) == (6, 18)
    assert "factorized reduce, which needs even sizes; got 7x7" in d.message


def test_input_shape_disagreeing_with_data(tmp_path: Path) -> None:
    path = _space(
        tmp_path,
        "space s\ninput image(3, 32, 32)\ncell c(w) {\n    input x\n    node y = x ~ skip\n"
        "    output y\n}\nnetwork {\n    cells c(3)\n    head global_avg_pool then linear(classes)\n}\n",
    )
    with pytest.raises(DasError) as exc:
        dasdsl.load(path).graph((1, 8, 8), 10)
    d = exc.value.diagnostics[0]
    assert (d.span.line, d.span.column) == (2, 1)
    assert d.message == "the space declares input 3x32x32, but the data has shape 1x8x8"


def test_linear_on_an_image_is_a_compile_error(tmp_path: Path) -> None:
    path = _space(
        tmp_path,
        "space s\ninput image\ncell c(w) {\n    input x\n    node y = x ~ skip\n"
        "    output y\n}\nnetwork {\n    cells c(1)\n    head linear(classes)\n}\n",
    )
    with pytest.raises(DasError) as exc:
        dasdsl.load(path).graph((1, 8, 8), 10)
    d = exc.value.diagnostics[0]
    assert (d.span.line, d.span.column) == (10, 10)
    assert "'linear' needs a vector" in d.message and "add global_avg_pool or flatten" in d.message


PLUGIN_SPACE = """space p
input image
cell c(w) {{
    input x
    node y = x ~ [skip, {op}]
    output y
}}
network {{
    cells c(4)
    head global_avg_pool then linear(classes)
}}
"""


def test_plugin_op_is_registered_lowered_and_counted(tmp_path: Path) -> None:
    path = _space(tmp_path, PLUGIN_SPACE.format(op="test_scale"))
    space = dasdsl.load(path, plugins=["tests.plugins.good_ops"])
    net = space.supernet((4, 8, 8), 3)
    assert net(torch.randn(2, 4, 8, 8)).shape == (2, 3)
    assert space.count() == 2


def test_plugin_op_with_a_wrong_shape_is_reported_at_its_location(tmp_path: Path) -> None:
    path = _space(tmp_path, PLUGIN_SPACE.format(op="test_liar(out = 6)"))
    space = dasdsl.load(path, plugins=["tests.plugins.good_ops"])
    with pytest.raises(DasError) as exc:
        space.supernet((4, 8, 8), 3)(torch.randn(2, 4, 8, 8))
    d = exc.value.diagnostics[0]
    assert (d.span.line, d.span.column) == (5, 25)
    assert "plugin op 'test_liar' returned shape 4x8x8, but its output_shape rule declared 6x8x8" in d.message


def test_plugin_module_that_fails_to_import(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(ROOT / "spaces" / "pooling.das"), "--plugin", "no_such_module_xyz"])
    err = capsys.readouterr().err
    assert code == 1
    assert "plugin module 'no_such_module_xyz' failed to import: ModuleNotFoundError" in err
    assert "Traceback" not in err


def test_unknown_plugin_op_names_the_location(tmp_path: Path) -> None:
    path = _space(tmp_path, PLUGIN_SPACE.format(op="test_scal"))
    with pytest.raises(DasError) as exc:
        dasdsl.load(path, plugins=["tests.plugins.good_ops"])
    d = exc.value.diagnostics[0]
    assert (d.span.line, d.span.column) == (5, 25)
    assert d.message.startswith("unknown op") and "'test_scal'" in d.message
    assert "test_scale" in (d.hint or "")


def test_compile_cli_prints_cells_choices_adapters_and_params(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "g.json"
    code = main(["compile", str(ROOT / "spaces" / "widths.das"), "--data", "digits", "--graph", str(out_json)])
    out = capsys.readouterr().out
    assert code == 0
    assert "choice x -> y: conv(3, out = 16) | conv(3, out = 32) | skip" in out
    assert out.count("widen") == 2
    assert "discrete architectures from" in out
    graph = json.loads(out_json.read_text())
    cell = next(iter(graph["cells"].values()))
    assert {n["id"] for n in cell["nodes"]} == {"x", "y", OUTPUT}


def test_nb201_compile_reports_the_extreme_architectures(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["compile", str(ROOT / "spaces" / "nb201.das"), "--input-shape", "3,32,32", "--classes", "10"])
    out = capsys.readouterr().out
    assert code == 0
    assert "discrete architectures from 73,306 to 1,531,546" in out


def test_compile_cli_usage_error_on_bad_shape(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["compile", str(ROOT / "spaces" / "widths.das"), "--input-shape", "3,x"])
    assert exc.value.code == 2


# ---- mbconv: the op added in one place (dasdsl/ops/builtin.py) ----------------------------------

MBCONV = """\
space mb
input {kind}
cell blk(c) {{
    input x
    node y = x ~ {op}
    output y
}}
network {{
    stem  conv_bn(3, out = 8)
    cells blk(8)
    head  global_avg_pool then linear(classes)
}}
"""


def test_mbconv_parameters_and_shapes() -> None:
    """1x1 expand 8 -> 48, depthwise 3x3, 1x1 project 48 -> 8, three affine BNs: 1,408 weights; the
    stem conv_bn(3, out = 8) on digits 88 and the head 90."""
    space = dasdsl.loads(MBCONV.format(kind="image", op="mbconv(3)"))
    net = space.network((1, 8, 8), 10)
    assert count_parameters(net) == 1408 + 88 + 90
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    wider = dasdsl.loads(MBCONV.format(kind="image", op="mbconv(5, expand = 3, out = 8)")).network((1, 8, 8), 10)
    # 8*24 + 2*24 + 24*25 + 2*24 + 24*8 + 2*8
    assert count_parameters(wider) == 192 + 48 + 600 + 48 + 192 + 16 + 88 + 90


def test_mbconv_on_sequences_and_under_stride() -> None:
    space = dasdsl.loads(MBCONV.format(kind="sequence", op="[mbconv(3), mbconv(7, expand = 3)]"))
    ir = space.graph((1, 40), 10)
    assert ir.cells[next(iter(ir.cells))].nodes[OUTPUT].shape == (8, 40)
    assert space.supernet((1, 40), 10)(torch.randn(2, 1, 40)).shape == (2, 10)
    strided = MBCONV.format(kind="image", op="[mbconv(3), max_pool(3)]").replace(
        "cell blk(c) {", "cell blk(c) with input stride 2 {"
    )
    ir = dasdsl.loads(strided).graph((1, 8, 8), 10)
    assert ir.cells[next(iter(ir.cells))].nodes[OUTPUT].shape == (8, 4, 4)


def test_mbconv_arguments_are_checked() -> None:
    with pytest.raises(DasError, match="'mbconv' has no parameter 'expnd'"):
        dasdsl.loads(MBCONV.format(kind="image", op="mbconv(3, expnd = 6)"))
    with pytest.raises(DasError, match="needs image or sequence input"):
        dasdsl.loads(MBCONV.format(kind="vector", op="mbconv(3)").replace("stem  conv_bn(3, out = 8)\n", ""))
