"""Gates: how a choice point's architecture parameters become the weights that mix its candidates.

A gate is one entry of ``GATES``; the settings table (and so the checker, ``dasdsl run --help`` and
docs/search.md) and the supernet read it from here. Gates are written with tensor methods, so this
module imports no torch and ``dasdsl check`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

Tensor = Any  # a torch.Tensor; not imported here


@attrs.frozen
class Gate:
    """``weights(alpha, temperature, hard, sample)``: the mixing weights of one choice point's candidates.

    ``sample`` is true in the supernet's training forwards only: a stochastic gate whose expectation is
    known (Dirichlet) returns that expectation otherwise, so evaluations, reports and decisions are
    deterministic. ``regularizer(alpha)``, when the gate has one, is added to the architecture loss of
    every choice point with the weight the search block gives it (``anchor``, default ``anchor_default``)."""

    name: str
    doc: str
    weights: Callable[[Tensor, float, bool, bool], Tensor]
    regularizer: Callable[[Tensor], Tensor] | None = None
    anchor_default: float = 0.0
    tempered: bool = True  # takes ``temperature`` and ``hard``


def _softmax(alpha: Tensor, temperature: float, hard: bool, sample: bool) -> Tensor:
    return (alpha / temperature).softmax(dim=-1)


def _sigmoid(alpha: Tensor, temperature: float, hard: bool, sample: bool) -> Tensor:
    return (alpha / temperature).sigmoid()


def _gumbel(alpha: Tensor, temperature: float, hard: bool, sample: bool) -> Tensor:
    from torch.nn import functional  # torch is loaded by now (alpha is a tensor); kept off `dasdsl check`

    return functional.gumbel_softmax(alpha, tau=temperature, hard=hard, dim=-1)


def concentration(alpha: Tensor) -> Tensor:
    """DrNAS' Dirichlet concentration elu(alpha) + 1, written with tensor methods: alpha + 1 above 0,
    exp(alpha) at and below it (positive everywhere; value and gradient those of elu)."""
    return alpha.where(alpha > 0, alpha.clamp_max(0.0).exp() - 1.0) + 1.0


def _distributions() -> Any:
    from torch import distributions  # torch is loaded by now (alpha is a tensor); kept off `dasdsl check`

    return distributions


def _dirichlet(alpha: Tensor, temperature: float, hard: bool, sample: bool) -> Tensor:
    beta = concentration(alpha)
    if sample:  # a reparameterized sample: gradients reach alpha through it (DrNAS, Chen et al. 2021)
        return _distributions().Dirichlet(beta).rsample()
    return beta / beta.sum(dim=-1, keepdim=True)  # the distribution's mean


def _anchor(alpha: Tensor) -> Tensor:
    """DrNAS' anchor: KL(Dirichlet(elu(alpha) + 1) || Dirichlet(1, ..., 1)), which keeps the concentration
    from growing without bound (the distribution collapsing to a point) early in the search."""
    d = _distributions()
    beta = concentration(alpha)
    return d.kl_divergence(d.Dirichlet(beta), d.Dirichlet(beta.new_ones(beta.shape)))


GATES: dict[str, Gate] = {
    g.name: g
    for g in (
        Gate("softmax", "softmax(a / t): the weights sum to one (DARTS)", _softmax),
        Gate("sigmoid", "sigmoid(a / t): an independent gate per candidate (FairDARTS)", _sigmoid),
        Gate("gumbel", "Gumbel-softmax samples at temperature t; `hard = 1` for one-hot samples (GDAS, SNAS)", _gumbel),
        Gate(
            "dirichlet",
            "samples of Dirichlet(elu(a) + 1) with reparameterized gradients, the mean outside training, and the "
            "anchor regularizer KL(Dir(elu(a) + 1) || Dir(1)) weighted `anchor = 1e-3` (DrNAS)",
            _dirichlet,
            regularizer=_anchor,
            anchor_default=1e-3,
            tempered=False,
        ),
    )
}
