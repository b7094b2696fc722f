"""Costs read off the IR: parameter counts of the supernet and of discrete architectures.

Discrete counts use affine BatchNorm (as in a fixed network) and include every
inserted adapter, so a narrow candidate cannot look free because of its 1x1 projection.
Instances that share architecture parameters make the same decision, so each
candidate's cost is summed over all instances of its cell type.
"""

from __future__ import annotations

from collections import defaultdict

import attrs
import torch

from dasdsl.ir import NetworkIR
from dasdsl.lower import MixedEdge, Supernet, count_parameters


@attrs.frozen
class ParamSummary:
    supernet: int  # trainable weights of the supernet as searched (BN not affine)
    smallest: int  # the smallest discrete architecture (affine BN, adapters included)
    largest: int
    candidate_params: dict[str, tuple[int, ...]]  # choice key -> params of each candidate, all instances


def candidate_params(ir: NetworkIR) -> tuple[int, dict[str, list[int]]]:
    """(parameters outside every choice, per choice key the parameters of each candidate)."""
    with torch.device("meta"):
        net = Supernet(ir, affine=True)
    per_choice: dict[str, list[int]] = {}
    inside = 0
    nested = {
        id(m)
        for outer in net.modules()
        if isinstance(outer, MixedEdge)
        for m in outer.candidates.modules()
        if isinstance(m, MixedEdge)
    }
    for module in net.modules():
        # a cell used as a candidate counts whole (at supernet size) inside its outer candidate
        if isinstance(module, MixedEdge) and id(module) not in nested:
            counts = [count_parameters(c) for c in module.candidates]
            inside += sum(counts)
            acc = per_choice.setdefault(module.key, [0] * len(counts))
            for i, n in enumerate(counts):
                acc[i] += n
    weights = count_parameters(net) - sum(p.numel() for p in net.arch_parameters())
    return weights - inside, per_choice


def param_summary(ir: NetworkIR) -> ParamSummary:
    with torch.device("meta"):
        supernet = Supernet(ir)
    supernet_params = sum(p.numel() for p in supernet.weight_parameters())
    fixed, per_choice = candidate_params(ir)
    smallest = largest = fixed
    by_node: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key, info in ir.choices.items():
        if key in per_choice:  # choices of cells used as candidates are inside their outer candidate
            by_node[(info.cell_type, info.target)].append(key)
    for keys in by_node.values():
        info = ir.choices[keys[0]]
        if info.keep is None:
            for key in keys:
                smallest += min(per_choice[key])
                largest += max(per_choice[key])
        else:
            lows, highs = [], []
            for key in keys:
                real = [n for n, label in zip(per_choice[key], ir.choices[key].labels) if label != "none"]
                lows.append(min(real) if real else 0)
                highs.append(max(real) if real else 0)
            smallest += sum(sorted(lows)[: info.keep])
            largest += sum(sorted(highs, reverse=True)[: info.keep])
    return ParamSummary(supernet_params, smallest, largest, {k: tuple(v) for k, v in per_choice.items()})
