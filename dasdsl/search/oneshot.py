"""One-shot ranking: score candidate architectures with the trained supernet's weights, pick by the score.

The sum of gate weights ranks architectures by what the architecture parameters learned; on short searches
those weights stay close to uniform and the sum mostly counts which candidates are large. One-shot NAS
(SPOS, Guo et al. 2020; the weight-sharing evaluations of Yu et al. 2020 and Zhang et al. 2020) instead
evaluates each candidate sub-network with the weights it inherits from the supernet, after re-estimating its
batch-norm statistics for the sub-network alone. ``select oneshot(k = 20)`` does that for the exact k best
architectures by gate weight that meet the constraints (dasdsl.search.constraints), and keeps the one with
the best validation accuracy (then the lower validation loss, then the better gate score).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import torch

from dasdsl.compiler.build import build_ir
from dasdsl.compiler.lower import FixedNetwork
from dasdsl.lang.load import check_text
from dasdsl.lang.printer import format_das
from dasdsl.search.data import TensorPart
from dasdsl.search.discretize import Decision, to_module
from dasdsl.search.run import Run, inherit_weights, recalibrate_batchnorm
from dasdsl.search.searcher import evaluate

ONESHOT_SAMPLES = 2048  # validation samples each candidate is scored on, at most


@attrs.frozen
class Scored:
    """One candidate of the one-shot ranking."""

    decisions: Decision
    gate_score: float  # the sum of its chosen gate weights
    gate_rank: int  # its place in the ranking by gate weights, from 1
    valid_acc: float  # inherited weights, batch norm recalibrated
    valid_loss: float
    bound: float | None = None  # the Lagrangian bound of the gate ranking, where it has one

    def row(self) -> dict[str, Any]:
        return {
            "gate_rank": self.gate_rank,
            "gate_score": self.gate_score,
            "valid_acc": self.valid_acc,
            "valid_loss": self.valid_loss,
        }


def network_of(run: Run, decisions: Decision) -> FixedNetwork:
    """The discretized network of ``decisions`` with the supernet's weights and recalibrated batch norm."""
    assert run.ir is not None and run.data is not None and run.net is not None
    result = check_text(format_das(to_module(run.space, run.ir, decisions)), "<one-shot candidate>")
    fixed = FixedNetwork(build_ir(result, run.data.shape, run.data.classes)).to(run.device)
    inherit_weights(fixed, run.net, run.ir, decisions)
    recalibrate_batchnorm(fixed, run.data)
    return fixed


def score(run: Run, decisions: Decision, samples: int = ONESHOT_SAMPLES) -> tuple[float, float]:
    """(validation accuracy, validation loss) of the one-shot network of ``decisions`` on the first
    ``samples`` samples of the architecture split."""
    assert run.data is not None
    x, y = run.data.valid.head(samples)
    loss, acc = evaluate(network_of(run, decisions), TensorPart(x, y))
    return acc, loss


def rank(
    run: Run, ranked: Sequence[tuple[Decision, float, float | None]], samples: int = ONESHOT_SAMPLES
) -> list[Scored]:
    """``ranked`` (decisions, gate score, bound; best by gate weight first) scored one-shot, best first.

    The torch random state is restored afterwards, so the scoring changes nothing that follows it."""
    state = torch.get_rng_state()
    try:
        scored = []
        for i, (decisions, gate_score, bound) in enumerate(ranked, start=1):
            acc, loss = score(run, decisions, samples)
            scored.append(Scored(decisions, gate_score, i, acc, loss, bound))
    finally:
        torch.set_rng_state(state)
    return sorted(scored, key=lambda s: (-s.valid_acc, s.valid_loss, s.gate_rank))
