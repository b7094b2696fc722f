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
    """DrNAS' Dirichlet concentration elu(alpha) + 1: positive, and the identity plus one for alpha >= 0."""
    from torch.nn import functional  # torch is loaded by now (alpha is a tensor); kept off `dasdsl check`

    return functional.elu(alpha) + 1.0


def _dirichlet(alpha: Tensor, temperature: float, hard: bool, sample: bool) -> Tensor:
    from torch.distributions import Dirichlet  # torch is loaded by now; kept off `dasdsl check`

    beta = concentration(alpha)
    if sample:  # a reparameterized sample: gradients reach alpha through it (DrNAS, Chen et al. 2021)
        return Dirichlet(beta).rsample()
    return beta / beta.sum(dim=-1, keepdim=True)  # the distribution's mean


def _anchor(alpha: Tensor) -> Tensor:
    """DrNAS' anchor: KL(Dirichlet(elu(alpha) + 1) || Dirichlet(1, ..., 1)), which keeps the concentration
    from growing without bound (the distribution collapsing to a point) early in the search."""
    from torch.distributions import Dirichlet, kl_divergence  # torch is loaded by now; kept off `dasdsl check`

    beta = concentration(alpha)
    return kl_divergence(Dirichlet(beta), Dirichlet(beta.new_ones(beta.shape)))


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
