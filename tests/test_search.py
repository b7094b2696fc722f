"""The bilevel search: hypergradients against finite differences, and real learning on the pooling choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from paths import ROOT
from torch.func import functional_call

import dasdsl
from dasdsl.engine.searcher import Searcher, temperature_at
from dasdsl.lang.settings import SearchConfig

TINY = """space tiny
input vector
cell c {
    input x
    node h = x ~ [linear(6) then tanh, linear(6) then gelu, skip]
    node o = (x, h) ~ [linear(5) then tanh, linear(5) then gelu]
    output o
}
network {
    cells c
    head linear(classes)
}
"""


def _setup(method: str) -> tuple[Searcher, tuple, tuple]:
    torch.manual_seed(0)
    space = dasdsl.loads(TINY, "tiny.das")
    net = space.supernet((4,), 3, gate="softmax").double()  # deterministic gates: finite differences apply
    with torch.no_grad():
        for a in net.arch_parameters():
            a.copy_(torch.randn_like(a))
    cfg = SearchConfig(hypergradient=method, w_lr=0.5, w_momentum=0.0, w_weight_decay=0.0, gate="softmax")
    train = (torch.randn(32, 4, dtype=torch.float64), torch.randint(0, 3, (32,)))
    valid = (torch.randn(32, 4, dtype=torch.float64), torch.randint(0, 3, (32,)))
    return Searcher(net, cfg), train, valid


def _unrolled_val_loss(searcher: Searcher, train: tuple, valid: tuple) -> torch.Tensor:
    """L_val(w - xi * dL_train/dw, alpha), the objective the hypergradient differentiates."""
    net, xi = searcher.net, searcher.cfg.w_lr
    params = {n: p.detach().requires_grad_(True) for n, p in zip(searcher.w_names, searcher.weights)}
    loss_t = torch.nn.functional.cross_entropy(functional_call(net, params, (train[0],), strict=False), train[1])
    grads = torch.autograd.grad(loss_t, list(params.values()))
    stepped = {n: (p - xi * g).detach() for (n, p), g in zip(params.items(), grads)}
    return torch.nn.functional.cross_entropy(functional_call(net, stepped, (valid[0],), strict=False), valid[1])


def _finite_difference(searcher: Searcher, train: tuple, valid: tuple, h: float = 1e-5) -> list[torch.Tensor]:
    out = []
    with torch.no_grad():
        for a in searcher.net.arch_parameters():
            g = torch.zeros_like(a)
            for i in range(a.numel()):
                old = a.view(-1)[i].item()
                a.view(-1)[i] = old + h
                with torch.enable_grad():
                    up = _unrolled_val_loss(searcher, train, valid).item()
                a.view(-1)[i] = old - h
                with torch.enable_grad():
                    down = _unrolled_val_loss(searcher, train, valid).item()
                a.view(-1)[i] = old
                g.view(-1)[i] = (up - down) / (2 * h)
            out.append(g)
    return out


def _rel(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    num = torch.sqrt(sum(((x - y) ** 2).sum() for x, y in zip(a, b)))
    den = torch.sqrt(sum((y**2).sum() for y in b))
    return float(num / den)


def test_exact_hypergradient_matches_finite_differences() -> None:
    searcher, train, valid = _setup("exact")
    fd = _finite_difference(searcher, train, valid)
    exact = searcher.hypergradient(train, valid)
    assert _rel(exact, fd) < 1e-4


def test_darts_second_order_estimate_is_close_and_first_order_is_not() -> None:
    searcher, train, valid = _setup("second_order")
    exact = searcher.exact(train, valid)
    second = searcher.hypergradient(train, valid)
    first = searcher.first_order(valid)
    assert _rel(second, exact) < 1e-2
    assert _rel(first, exact) > 1e-2  # the unrolled step matters at this learning rate: the test can fail


@pytest.mark.parametrize(
    ("schedule", "expected_mid"),
    [("constant", 5.0), ("linear", 2.525), ("exponential", 0.5), ("cosine", 2.525)],
)
def test_temperature_schedules(schedule: str, expected_mid: float) -> None:
    tau1 = 5.0 if schedule == "constant" else 0.05
    cfg = SearchConfig(epochs=3, tau0=5.0, tau1=tau1, tau_schedule=schedule)
    assert temperature_at(cfg, 0) == pytest.approx(5.0)
    assert temperature_at(cfg, 1) == pytest.approx(expected_mid)
    assert temperature_at(cfg, 2) == pytest.approx(tau1)


def _spike_task(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling is right: class 1 carries one bright pixel, class 0 the same mass spread evenly.

    The pooling space is linear up to its pooling (conv, BN, pool, global average, linear), so
    with average pooling both classes have the same features: only max pooling can solve it."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 0.1, (n, 1, 8, 8)).astype(np.float32)
    for i in range(n):
        if y[i]:
            x[i, 0, rng.integers(0, 8), rng.integers(0, 8)] += 4.0
        else:
            x[i] += 4.0 / 64
    return x, y


def _offset_task(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Average pooling is right: the class is the sign of a small shift of the mean, and every image
    carries two large spikes of random sign that dominate any max (or min) over a window."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 1.0, (n, 1, 8, 8)).astype(np.float32) + np.where(y, 0.4, -0.4)[:, None, None, None]
    for i in range(n):
        for _ in range(2):
            x[i, 0, rng.integers(0, 8), rng.integers(0, 8)] += rng.choice([-12.0, 12.0])
    return x, y


@pytest.mark.slow
@pytest.mark.parametrize(("task", "winner"), [(_spike_task, "max_pool(3)"), (_offset_task, "avg_pool(3)")])
def test_search_learns_the_right_pooling(task, winner: str) -> None:  # noqa: ANN001
    x, y = task(1200, 0)
    result = dasdsl.load(ROOT / "spaces" / "pooling.das").search(
        (x, y.astype(np.int64)),
        epochs=10,
        batch=32,
        seed=0,
        progress=False,
        arch="adam(lr = 0.05, betas = (0.5, 0.999), weight_decay = 0)",
        weights="sgd(lr = 0.05, momentum = 0.9, weight_decay = 3e-4)",
        select="gates",  # what the gates learn (the one-shot ranking picks by a short fine-tune instead)
    )
    assert result is not None
    assert f"node y = x ~ {winner}" in result.space.to_das()
    (gates,) = result.history[-1]["gates"].values()
    labels = ["max_pool(3)", "avg_pool(3)"]
    assert gates[labels.index(winner)] > 0.9


SPACES = ["darts", "nb201", "widths", "mlp", "hierarchical", "seq1d", "pooling", "mobilenet"]


@pytest.mark.parametrize("name", SPACES)
def test_one_hot_supernet_equals_the_fixed_network_it_prints(name: str) -> None:
    """Differential test of search and printing: the emitted .das, with inherited weights, computes
    exactly what the supernet computes under one-hot gate weights on the chosen candidates."""
    from dasdsl.engine.discretization import decide, to_module
    from dasdsl.engine.run import inherit_weights
    from dasdsl.lang.printer import format_das

    torch.manual_seed(1)
    space = dasdsl.load(ROOT / "spaces" / f"{name}.das")
    shape = {"mlp": (64,), "seq1d": (1, 40)}.get(name, (1, 8, 8))
    ir = space.graph(shape, 10)
    net = space.supernet(shape, 10, share_values=True)  # mobilenet: value lists and searched depths
    weights = {k: torch.softmax(torch.randn(len(c.labels)), 0).tolist() for k, c in ir.choices.items()}
    decisions = decide(ir, weights)
    text = format_das(to_module(space, ir, decisions))
    fixed = dasdsl.loads(text, "result.das").network(shape, 10)
    missing = inherit_weights(fixed, net, ir, decisions)
    affine_bn = {
        f"{m}.{p}"
        for m, mod in fixed.named_modules()
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm)
        for p in ("weight", "bias")
    }
    assert set(missing) <= affine_bn  # everything else comes from the supernet
    net.fixed_weights = {
        k: torch.nn.functional.one_hot(torch.tensor(i), len(ir.choices[k].labels)).float()
        if i is not None
        else torch.zeros(len(ir.choices[k].labels))
        for k, i in decisions.items()
    }
    net.eval()
    fixed.eval()
    x = torch.randn(5, *shape)
    with torch.no_grad():
        assert torch.allclose(net(x), fixed(x), atol=1e-5)
