"""Discretization rules: gate weights to one candidate per edge (or the edge dropped), each registered once.

A rule sees the choice points grouped by the node they enter (``NodeChoices``: plain data, no IR) and
the gate weights; a rule that needs the supernet's validation accuracy under other gate weights
(``perturbation``) gets it as a function. The settings table (and so the checker and the docs) and
the searcher read ``RULES``. No torch here.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence

import attrs

Decision = dict[str, int | None]  # choice key -> chosen candidate index, None: the edge is dropped
Weights = Mapping[str, Sequence[float]]
Accuracy = Callable[[dict[str, list[float]]], float]  # the supernet's accuracy under these gate weights


@attrs.frozen
class NodeChoices:
    """The choice points on the edges into one node, in source order."""

    keys: tuple[str, ...]
    labels: tuple[tuple[str, ...], ...]  # per key: the candidates' labels
    keep: int | None  # ``keep k`` on the node: k edges survive; None: every edge keeps a candidate
    beta: tuple[float, ...] | None = None  # PC-DARTS edge normalization weights, per edge


@attrs.frozen
class RuleInputs:
    value: float = 0.5  # the rule's number, e.g. threshold(0.5)
    accuracy: Accuracy | None = None
    seed: int = 0
    order: tuple[str, ...] | None = None  # the choice keys in the space's order (default: node by node)


@attrs.frozen
class Rule:
    name: str
    doc: str
    decide: Callable[[Sequence[NodeChoices], Weights, RuleInputs], Decision]
    takes_value: bool = False  # written ``rule(value)``
    needs_accuracy: bool = False  # without an accuracy function (per-epoch skip counts, renders) it ranks as argmax


def _ranked(
    nodes: Sequence[NodeChoices], weights: Weights, strongest: Callable[[str, list[float], tuple], int]
) -> Decision:
    """One candidate per edge on nodes without ``keep``; on ``keep k`` nodes the k edges whose strongest
    non-``none`` candidate (times the edge's beta) weighs most, each with that candidate."""
    decisions: Decision = {}
    for node in nodes:
        if node.keep is None:
            for key, labels in zip(node.keys, node.labels):
                decisions[key] = strongest(key, list(weights[key]), labels)
            continue
        scored = []
        for order, (key, labels) in enumerate(zip(node.keys, node.labels)):
            w = list(weights[key])
            real = [i for i, label in enumerate(labels) if label != "none"]
            if not real:
                decisions[key] = None
                continue
            best = max(real, key=lambda i: w[i])
            strength = w[best] * (node.beta[order] if node.beta is not None else 1.0)
            scored.append((-strength, order, key, best))
        scored.sort()
        for rank, (_, _, key, best) in enumerate(scored):
            decisions[key] = best if rank < node.keep else None
    return decisions


def _argmax(nodes: Sequence[NodeChoices], weights: Weights, ctx: RuleInputs) -> Decision:
    return _ranked(nodes, weights, lambda key, w, labels: max(range(len(w)), key=lambda i: w[i]))


def _threshold(nodes: Sequence[NodeChoices], weights: Weights, ctx: RuleInputs) -> Decision:
    def strongest(key: str, w: list[float], labels: tuple) -> int:
        best = max(range(len(w)), key=lambda i: w[i])
        if w[best] < ctx.value:
            none = [i for i, label in enumerate(labels) if label == "none"]
            return none[0] if none else best
        return best

    return _ranked(nodes, weights, strongest)


def _perturbation(nodes: Sequence[NodeChoices], weights: Weights, ctx: RuleInputs) -> Decision:
    """DARTS-PT (Wang et al. 2021): on each edge keep the op whose removal hurts the supernet's validation
    accuracy most, fixing edges one at a time in a seeded order; on keep-k nodes keep the k edges whose
    removal hurts most. No fine-tuning between decisions."""
    if ctx.accuracy is None:
        return _argmax(nodes, weights, ctx)
    accuracy = ctx.accuracy
    node_of = {key: node for node in nodes for key in node.keys}
    labels_of = {key: labels for node in nodes for key, labels in zip(node.keys, node.labels)}
    current = {key: [float(x) for x in weights[key]] for key in labels_of}
    order = list(ctx.order if ctx.order is not None else labels_of)
    random.Random(ctx.seed).shuffle(order)
    decisions: Decision = {}
    for key in order:
        labels = labels_of[key]
        drops = []
        for i in range(len(labels)):
            if labels[i] == "none" and node_of[key].keep is not None:
                drops.append(float("-inf"))  # `none` is never chosen on a keep-k node
                continue
            removed = list(current[key])
            removed[i] = 0.0
            drops.append(-accuracy({**current, key: removed}))  # the larger the drop, the lower the accuracy
        best = max(range(len(labels)), key=lambda i: (drops[i], current[key][i]))
        decisions[key] = best
        current[key] = [1.0 if i == best else 0.0 for i in range(len(labels))]
    for node in nodes:
        if node.keep is None:
            continue
        hurt = []
        for index, key in enumerate(node.keys):
            hurt.append((accuracy({**current, key: [0.0] * len(current[key])}), index, key))
        hurt.sort()
        for rank, (_, _, key) in enumerate(hurt):
            if rank >= node.keep:
                decisions[key] = None
                current[key] = [0.0] * len(current[key])
    return decisions


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule(
            "argmax",
            "each edge keeps its strongest candidate; on `keep k` nodes the k edges with the strongest "
            "non-`none` candidates survive (DARTS)",
            _argmax,
        ),
        Rule(
            "threshold",
            "`threshold(t)`: as argmax, but an edge whose strongest gate is below t takes `none` (sigmoid gates)",
            _threshold,
            takes_value=True,
        ),
        Rule(
            "perturbation",
            "keep the candidate whose removal hurts the supernet's validation accuracy most (DARTS-PT)",
            _perturbation,
            needs_accuracy=True,
        ),
    )
}
