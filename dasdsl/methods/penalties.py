"""Penalties on the gates, added to the architecture loss: each registered once by name.

``term(x)`` is the penalty of one choice point before its weight lambda, where ``x`` is the point's
gate weights, or its architecture parameters for a penalty ``on_alpha``; the terms are summed over
the choice points, or averaged for a penalty ``mean``. The ``cost`` penalty has no term here: it is
the expected cost of the candidates, which the searcher computes from the cost model
(dasdsl.compiler.cost). A weight may be ramped over the search (``beta(0 -> 50, linear)``).
Written with tensor methods: no torch import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

Tensor = Any  # a torch.Tensor; not imported here


@attrs.frozen
class Penalty:
    name: str
    doc: str
    term: Callable[[Tensor], Tensor] | None  # None: the expected cost (``cost(measure, lambda)``)
    on_alpha: bool = False  # term of the architecture parameters, not of the gate weights
    mean: bool = False  # averaged over the choice points, not summed


def _l1(w: Tensor) -> Tensor:
    return w.abs().sum()


def _entropy(w: Tensor) -> Tensor:
    p = w / w.sum()
    return -(p * p.clamp_min(1e-12).log()).sum()


def _zero_one(w: Tensor) -> Tensor:
    """FairDARTS' zero-one loss: push every gate to 0 or 1."""
    return -((w - 0.5) ** 2).mean()


def _beta(alpha: Tensor) -> Tensor:
    """beta-DARTS' Beta-Decay regularization (Ye et al. 2022): log-sum-exp of the architecture parameters.
    Its gradient is the softmax of the parameters, so it pulls them down together and keeps their spread
    from being decided by their scale: the gates' weights stay comparable across the search."""
    return alpha.logsumexp(dim=-1)


PENALTIES: dict[str, Penalty] = {
    p.name: p
    for p in (
        Penalty("l1", "`l1(lambda)`: lambda times the sum of the gate weights' magnitudes (sparsity)", _l1),
        Penalty("entropy", "`entropy(lambda)`: lambda times the entropy of the normalised gate weights", _entropy),
        Penalty("zero_one", "`zero_one(lambda)`: pushes each gate weight towards 0 or 1 (FairDARTS)", _zero_one),
        Penalty(
            "beta",
            "`beta(lambda)` or `beta(0 -> 50, linear)`: lambda times the mean over choice points of the "
            "log-sum-exp of their architecture parameters (beta-DARTS)",
            _beta,
            on_alpha=True,
            mean=True,
        ),
        Penalty(
            "cost",
            "`cost(params | flops | latency, lambda)`: lambda times the expected cost of the candidates, "
            "relative to the largest architecture",
            None,
        ),
    )
}
