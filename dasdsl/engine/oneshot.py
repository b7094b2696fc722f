"""One-shot ranking: score candidate architectures with the trained supernet's weights, pick by the score.

The sum of gate weights ranks architectures by what the architecture parameters learned; on short searches
those weights stay close to uniform and the sum mostly counts which candidates are large. One-shot NAS
(SPOS, Guo et al. 2020; the weight-sharing evaluations of Yu et al. 2020 and Zhang et al. 2020) instead
evaluates each candidate sub-network with the weights it inherits from the supernet, after re-estimating its
batch-norm statistics for the sub-network alone. ``select oneshot(k = 20)`` does that for the exact k best
architectures by gate weight that meet the constraints (dasdsl.engine.constraints), and keeps the one with
the best validation accuracy (then the lower validation loss, then the better gate score);
``oneshot(k = 20, finetune = 2)`` first trains each for two epochs from its inherited weights on the first
ONESHOT_SAMPLES of the weight split (a short warm-started training is a better proxy of stand-alone
accuracy than inherited weights alone; on digits it found better cells under a budget, docs/search.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import torch

from dasdsl.compiler.build import build_ir
from dasdsl.compiler.lower import FixedNetwork
from dasdsl.engine.data import Part, TensorPart
from dasdsl.engine.discretization import Decision, to_module
from dasdsl.engine.run import Run, inherit_weights, recalibrate_batchnorm
from dasdsl.engine.searcher import evaluate
from dasdsl.engine.training import train_fixed
from dasdsl.errors import DasError
from dasdsl.lang.load import check_text
from dasdsl.lang.printer import format_das

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
            "valid_loss": self.valid_loss if math.isfinite(self.valid_loss) else None,  # JSON has no inf
        }


def network_of(run: Run, decisions: Decision, finetune: int = 0, text: str | None = None) -> FixedNetwork:
    """The discretized network of ``decisions`` with the supernet's weights and recalibrated batch norm,
    then trained ``finetune`` epochs on the weight split (the search's weight learning rate, cosine).
    ``text``: the decisions' result as .das text, where the caller printed it already."""
    assert run.ir is not None and run.data is not None and run.net is not None
    if text is None:
        text = format_das(to_module(run.space, run.ir, decisions))
    result = check_text(text, "<one-shot candidate>")
    fixed = FixedNetwork(build_ir(result, run.data.shape, run.data.classes)).to(run.device)
    inherit_weights(fixed, run.net, run.ir, decisions)
    recalibrate_batchnorm(fixed, run.data)
    if finetune:  # on the first ONESHOT_SAMPLES of the weight split: the cost stays bounded on large data
        part = attrs.evolve(run.data, train=_head(run.data.train), valid=_head(run.data.valid))
        train_fixed(fixed, part, finetune, min(run.cfg.batch, len(part.train)), run.cfg.w_lr, run.cfg.seed)
    return fixed


def _head(part: Part, samples: int = ONESHOT_SAMPLES) -> TensorPart:
    return TensorPart(*part.head(samples))


def score(
    run: Run, decisions: Decision, samples: int = ONESHOT_SAMPLES, finetune: int = 0, text: str | None = None
) -> tuple[float, float]:
    """(validation accuracy, validation loss) of the one-shot network of ``decisions`` on the first
    ``samples`` samples of the architecture split; a fine-tune whose loss diverges scores (0, inf), the
    worst score, instead of ending a search whose epochs are done."""
    assert run.data is not None
    try:
        network = network_of(run, decisions, finetune, text)
    except DasError:  # train_fixed's "the training loss became nan": this candidate cannot be scored
        return 0.0, math.inf
    x, y = run.data.valid.head(samples)
    loss, acc = evaluate(network, TensorPart(x, y))
    return acc, (loss if math.isfinite(loss) else math.inf)


def rank(
    run: Run,
    ranked: Sequence[tuple[Decision, float, float | None]],
    samples: int = ONESHOT_SAMPLES,
    finetune: int = 0,
    texts: Sequence[str] | None = None,
) -> list[Scored]:
    """``ranked`` (decisions, gate score, bound; best by gate weight first) scored one-shot, best first.

    Each candidate is scored from the same random state (a fine-tune draws its batches and augmentations
    from it), and the torch random state is restored afterwards, so the scoring changes nothing that
    follows it. ``texts``: the candidates' results as .das text, where the caller printed them already."""
    state = torch.get_rng_state()
    try:
        scored = []
        for i, (decisions, gate_score, bound) in enumerate(ranked, start=1):
            torch.set_rng_state(state)
            acc, loss = score(run, decisions, samples, finetune, texts[i - 1] if texts is not None else None)
            scored.append(Scored(decisions, gate_score, i, acc, loss, bound))
    finally:
        torch.set_rng_state(state)
    return sorted(scored, key=lambda s: (-s.valid_acc, s.valid_loss, s.gate_rank))
