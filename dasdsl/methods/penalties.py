"""Penalties on the gate weights, added to the architecture loss: each registered once by name.

``term(w)`` is the penalty of one choice point's gate weights ``w`` before its weight lambda; the
``cost`` penalty has none here: its term is the expected cost of the candidates, which the searcher
computes from the cost model (dasdsl.compiler.cost). Written with tensor methods: no torch import.
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


def _l1(w: Tensor) -> Tensor:
    return w.abs().sum()


def _entropy(w: Tensor) -> Tensor:
    p = w / w.sum()
    return -(p * p.clamp_min(1e-12).log()).sum()


def _zero_one(w: Tensor) -> Tensor:
    """FairDARTS' zero-one loss: push every gate to 0 or 1."""
    return -((w - 0.5) ** 2).mean()


PENALTIES: dict[str, Penalty] = {
    p.name: p
    for p in (
        Penalty("l1", "`l1(lambda)`: lambda times the sum of the gate weights' magnitudes (sparsity)", _l1),
        Penalty("entropy", "`entropy(lambda)`: lambda times the entropy of the normalised gate weights", _entropy),
        Penalty("zero_one", "`zero_one(lambda)`: pushes each gate weight towards 0 or 1 (FairDARTS)", _zero_one),
        Penalty(
            "cost",
            "`cost(params | flops | latency, lambda)`: lambda times the expected cost of the candidates, "
            "relative to the largest architecture",
            None,
        ),
    )
}
