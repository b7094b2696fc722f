"""Horizontal fusion (dasdsl.compiler.fuse and .fused): the groups the IR pass forms, and the fused supernet
computing what the unfused one computes, in float64: outputs, every gradient, batch-norm statistics and the
first-order, second-order and exact hypergradients, on every shipped search space, with partial channels,
stochastic gates and shared value lists. Tolerance: 1e-10 relative (the order of additions inside a kernel
is all that may differ; the differences measured are 1e-16 to 1e-13)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from paths import ROOT

import dasdsl
from dasdsl.compiler.fuse import cell_groups, describe
from dasdsl.compiler.lower import CellModule, Supernet
from dasdsl.engine.searcher import Searcher
from dasdsl.lang.settings import SearchConfig

TOL = 1e-10
SHAPES = {"mlp": (64,), "seq1d": (1, 40)}
SEARCH_SPACES = ["darts", "nb201", "nb201_digits", "hierarchical", "widths", "pooling", "knobs", "seq1d", "mlp"]
SEARCH_SPACES += ["mobilenet"]
SMALLER = {"darts": {"C": 4}, "hierarchical": {"C": 4}}  # the same structure, faster in float64


def _space(name: str, full: bool = False) -> dasdsl.Space:
    space = dasdsl.load(ROOT / "spaces" / f"{name}.das")
    return space.let(**SMALLER[name]) if name in SMALLER and not full else space


def _twins(name: str, full: bool = False, **options: object) -> tuple[Supernet, Supernet]:
    """The unfused and the fused supernet of a shipped space, float64, same weights, alphas far from uniform;
    ``full``: at the space's own width."""
    ir = _space(name, full).graph(SHAPES.get(name, (1, 8, 8)), 10)
    torch.manual_seed(0)
    plain = Supernet(ir, fuse=False, **options).double()  # type: ignore[arg-type]
    fused = Supernet(ir, fuse=True, **options).double()  # type: ignore[arg-type]
    fused.load_state_dict(plain.state_dict())
    with torch.no_grad():
        for a, b in zip(plain.arch_parameters(), fused.arch_parameters()):
            a.normal_()
            b.copy_(a)
    return plain, fused


def _batch(name: str, n: int = 4, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *SHAPES.get(name, (1, 8, 8)), generator=g, dtype=torch.float64)
    return x, torch.randint(0, 10, (n,), generator=g)


def _rel(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    """The largest relative difference over pairs of tensors (0 for two zero tensors)."""
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        scale = max(float(x.norm()), float(y.norm()))
        worst = max(worst, float((x - y).norm()) / scale if scale > 0 else 0.0)
    return worst


def _fused_sources(net: Supernet) -> int:
    return sum(len(m.fusion) for m in net.modules() if isinstance(m, CellModule))


def _loss_and_grads(net: Supernet, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, list]:
    x, y = batch
    torch.manual_seed(7)  # dropout candidates (mlp.das) draw the same masks in both
    out = net(x)
    loss = torch.nn.functional.cross_entropy(out, y)
    params = list(net.parameters())
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return out.detach(), [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def test_the_pass_groups_a_darts_cell_by_source_op_and_stride() -> None:
    ir = dasdsl.load(ROOT / "spaces" / "darts.das").graph((1, 8, 8), 10)
    normal = next(g for g in ir.cells.values() if g.type_name == "normal")
    reduce = next(g for g in ir.cells.values() if g.type_name == "reduce")
    groups = cell_groups(normal)
    # 5 sources (s0, s1, n0, n1, n2) x 6 fusable candidates (2 pools, 2 sep_conv, 2 dil_conv)
    assert len(groups) == 30
    by = {(g.source, g.label): g for g in groups}
    assert by["s0", "sep_conv(3)"].members == (("n0", 4), ("n1", 4), ("n2", 4), ("n3", 4))
    assert by["n1", "max_pool(3)"].kind == "shared" and by["n1", "max_pool(3)"].members == (("n2", 2), ("n3", 2))
    assert by["n2", "dil_conv(5, dilation = 2)"].members == (("n3", 7),)
    assert {g.label for g in groups} == {
        "max_pool(3)",
        "avg_pool(3)",
        "sep_conv(3)",
        "sep_conv(5)",
        "dil_conv(3, dilation = 2)",
        "dil_conv(5, dilation = 2)",
    }
    strides = {(g.source, g.stride) for g in cell_groups(reduce)}
    assert ("s0", 2) in strides and ("s1", 2) in strides and ("n0", 1) in strides
    assert describe(groups)[0] == (
        "fused from s0 (4 edges): max_pool(3), avg_pool(3) computed once; sep_conv(3), sep_conv(5), "
        "dil_conv(3, dilation = 2), dil_conv(5, dilation = 2) batched"
    )


def test_skip_none_chains_and_adapters_stay_out_of_groups() -> None:
    ir = dasdsl.load(ROOT / "spaces" / "widths.das").graph((1, 8, 8), 10)
    labels = {g.label for cell in ir.cells.values() for g in cell_groups(cell)}
    assert "skip" not in labels and "none" not in labels
    assert not any("out = 16" in label for label in labels)  # a candidate with a width adapter


@pytest.mark.parametrize("name", SEARCH_SPACES)
def test_fused_supernet_computes_what_the_unfused_one_computes(name: str) -> None:
    plain, fused = _twins(name)
    if name not in ("mlp", "mobilenet"):  # those two have nothing to group (linear ops; mbconv)
        assert _fused_sources(fused) > 0
    assert _fused_sources(plain) == 0
    batch = _batch(name)
    out_p, grads_p = _loss_and_grads(plain, batch)
    out_f, grads_f = _loss_and_grads(fused, batch)
    assert _rel([out_p], [out_f]) <= TOL
    assert _rel(grads_p, grads_f) <= TOL  # every weight and every architecture parameter
    assert any(float(g.abs().max()) > 0 for g in grads_f[: len(grads_f) // 2])  # gradients really flowed
    state_p, state_f = plain.state_dict(), fused.state_dict()
    assert state_p.keys() == state_f.keys()  # checkpoints and weight inheritance see the same names
    running = [k for k in state_p if "running" in k]
    assert _rel([state_p[k] for k in running], [state_f[k] for k in running]) <= TOL
    plain.eval()
    fused.eval()
    with torch.no_grad():
        assert _rel([plain(batch[0])], [fused(batch[0])]) <= TOL


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["first_order", "second_order", "exact"])
@pytest.mark.parametrize("name", ["darts", "nb201_digits", "hierarchical", "seq1d", "pooling"])
def test_hypergradients_agree(name: str, kind: str) -> None:
    plain, fused = _twins(name)
    train, valid = _batch(name, 3, seed=2), _batch(name, 3, seed=3)
    results = []
    for net in (plain, fused):
        searcher = Searcher(net, SearchConfig(gate="softmax", hypergradient=kind))
        searcher.weight_step(train)  # momentum buffers, which the unrolled step reads
        results.append(searcher.hypergradient(train, valid))
    assert any(float(g.abs().max()) > 0 for g in results[1])
    assert _rel(*results) <= TOL


@pytest.mark.slow
def test_partial_channels_and_stochastic_gates() -> None:
    for options in ({"partial_channels": 4}, {"gate": "gumbel", "hard": True}, {"gate": "sigmoid"}):
        # partial channels at C = 16: a quarter is 4 channels (of 1 at C = 4, a batch norm over 16 numbers
        # makes gradients cancel to 1e-10 of their terms, and rounding then shows relative to them)
        plain, fused = _twins("darts", full="partial_channels" in options, **options)
        batch = _batch("darts")
        out_p, grads_p = _loss_and_grads(plain, batch)  # seeded: the same Gumbel draws for both
        out_f, grads_f = _loss_and_grads(fused, batch)
        assert _rel([out_p], [out_f]) <= TOL, options
        assert _rel(grads_p, grads_f) <= TOL, options
        if "partial_channels" in options:  # edge normalization's betas get their gradient too
            assert len(fused.betas) > 0


SHARED_LIST = """
space shared
input image
cell c(c) {
    input x
    node a = x ~ [none, skip, sep_conv(k = [3, 5]), max_pool(3)]
    node b = (x, a) ~ [none, skip, sep_conv(k = [3, 5]), max_pool(3)]
    output concat(a, b)
}
network {
    stem  conv_bn(3, out = 8)
    cells c(8) x 2
    head  global_avg_pool then linear(classes)
}
"""


def test_value_lists_sharing_weights_fuse_exactly() -> None:
    ir = dasdsl.loads(SHARED_LIST, "shared.das").graph((1, 8, 8), 10)
    torch.manual_seed(0)
    plain = Supernet(ir, share_values=True, fuse=False).double()
    fused = Supernet(ir, share_values=True, fuse=True).double()
    fused.load_state_dict(plain.state_dict())
    labels = {g.label for g in cell_groups(next(iter(ir.cells.values())))}
    assert {"sep_conv(k = 3)", "sep_conv(k = 5)"} <= labels
    batch = _batch("shared")
    out_p, grads_p = _loss_and_grads(plain, batch)
    out_f, grads_f = _loss_and_grads(fused, batch)
    assert _rel([out_p], [out_f]) <= TOL
    assert _rel(grads_p, grads_f) <= TOL
    # the 3x3 candidate reads the centre of the 5x5 one's weight: its gradient lands there, in both
    names = [n for n, _ in fused.named_parameters()]
    assert not any(n.endswith("candidates.2.1.weight") for n in names)  # sep_conv(k = 3)'s own: gone


def test_switching_fusion_off_runs_each_candidate_module() -> None:
    """With the pass the candidates' own convolutions are not called (one batched call does their work)."""
    calls = {"plain": 0, "fused": 0}
    plain, fused = _twins("darts")
    for key, net in (("plain", plain), ("fused", fused)):
        edge = net.items["0"].edges["s0->n0"]
        edge.candidates[4][1].register_forward_hook(lambda *_, key=key: calls.__setitem__(key, calls[key] + 1))
        net(_batch("darts")[0])
    assert calls == {"plain": 1, "fused": 0}


@pytest.mark.slow
def test_search_steps_stay_together_for_several_steps() -> None:
    """The whole bilevel loop in float64: two second-order architecture steps and weight steps (Adam and
    SGD with momentum) leave the same architecture parameters and weights."""
    plain, fused = _twins("darts")
    nets = []
    for net in (plain, fused):
        searcher = Searcher(net, SearchConfig(gate="softmax", hypergradient="second_order"))
        for step in range(2):
            searcher.step(_batch("darts", 3, seed=10 + step), _batch("darts", 3, seed=20 + step))
        nets.append([p.detach() for p in net.parameters()])
    moved = _rel([p.detach() for p in _twins("darts")[0].parameters()], nets[0])
    assert moved > 1e-4  # the steps changed the parameters
    assert _rel(*nets) <= TOL


def test_the_fuse_setting_reaches_the_search() -> None:
    space = dasdsl.load(ROOT / "spaces" / "pooling.das")
    on, off = (space.search("digits", epochs=1, out=None, progress=False, seed=0, fuse=f) for f in ("on", "off"))
    assert on is not None and off is not None
    assert on.settings["fuse"] is True and off.settings["fuse"] is False
    for key, gates in on.gates.items():
        assert torch.allclose(torch.tensor(gates), torch.tensor(off.gates[key]), atol=1e-4)


@pytest.mark.slow
def test_compile_reports_the_groups() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dasdsl", "compile", str(ROOT / "spaces" / "nb201_digits.das")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "fused from x (3 edges): avg_pool(3) computed once; conv(1), conv(3) batched" in done.stdout
    assert "fusion: " in done.stdout and "groups over all cell instances" in done.stdout
