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
    """``weights(alpha, temperature, hard)``: the mixing weights of one choice point's candidates."""

    name: str
    doc: str
    weights: Callable[[Tensor, float, bool], Tensor]


def _softmax(alpha: Tensor, temperature: float, hard: bool) -> Tensor:
    return (alpha / temperature).softmax(dim=-1)


def _sigmoid(alpha: Tensor, temperature: float, hard: bool) -> Tensor:
    return (alpha / temperature).sigmoid()


def _gumbel(alpha: Tensor, temperature: float, hard: bool) -> Tensor:
    from torch.nn import functional  # torch is loaded by now (alpha is a tensor); kept off `dasdsl check`

    return functional.gumbel_softmax(alpha, tau=temperature, hard=hard, dim=-1)


GATES: dict[str, Gate] = {
    g.name: g
    for g in (
        Gate("softmax", "softmax(a / t): the weights sum to one (DARTS)", _softmax),
        Gate("sigmoid", "sigmoid(a / t): an independent gate per candidate (FairDARTS)", _sigmoid),
        Gate("gumbel", "Gumbel-softmax samples at temperature t; `hard = 1` for one-hot samples (GDAS, SNAS)", _gumbel),
    )
}
