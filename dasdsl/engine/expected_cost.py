"""The supernet's expected cost under its gate weights, and the adaptive multiplier that holds it to a budget.

A penalty ``cost(params, w)`` and a budget constraint ``max_params(N)`` both read the expected cost
E(w) = fixed + sum over choice keys of sum_i w_i * cost_i (+ each searched depth's repeats, weighted by the
probability of the counts that reach them), with costs from dasdsl.compiler.cost summed over the instances
of a cell type. On a node with ``keep k`` the expectation is taken per edge, every incoming edge counted,
although only k survive discretization: there the expected cost is an upper estimate.

``BudgetMultipliers`` is the Lagrangian that makes the search use a budget while it trains (ProxylessNAS,
FBNet and TuNAS fold a resource term into the architecture loss; here its weight is adapted, not hand-set):
the architecture loss gains sum_j lambda_j * E_j(w) / B_j, and after every architecture step
lambda_j <- max(0, lambda_j + rate * (E_j(w) / B_j - 1)), dual ascent on the constraint E_j <= B_j.
The multiplier grows while the supernet is over budget and shrinks back to 0 once it is under, so the
gate weights end near the budget without a weight to tune per space.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import torch

from dasdsl.compiler.cost import costs, depth_extremes, repeat_costs
from dasdsl.compiler.ir import NetworkIR
from dasdsl.lang.settings import SearchConfig

BUDGET_MEASURES = {"max_params": "params", "max_flops": "flops"}
GAIN = 20.0  # the proportional part of a multiplier, in steps of its integral part (see multipliers)


@attrs.define
class CostModel:
    """One measure's costs on the scale of the largest discrete architecture (1.0 = the largest)."""

    measure: str
    fixed: float  # the cost outside every choice, over ``largest``
    largest: float  # the largest discrete architecture's cost, in the measure's units
    per_choice: dict[str, torch.Tensor]
    depth: dict[str, list[tuple[int, float, dict[str, torch.Tensor]]]]  # key -> (position, own, per-choice row)
    options: dict[str, tuple[int, ...]]  # a searched depth's counts
    _placed: dict[tuple[torch.device, torch.dtype], CostModel] = attrs.field(factory=dict, repr=False)

    @classmethod
    def of(
        cls, cfg: SearchConfig, ir: NetworkIR, measure: str, counted: tuple[Any, Any] | None = None
    ) -> CostModel | None:
        """The model of ``measure`` for ``ir``; None when every architecture costs nothing. ``counted``: the
        measure's ``costs`` and ``repeat_costs`` where the caller has them already (counting is not free)."""
        table = cfg.latency_table if measure == "latency" else None
        (fixed, per_choice), repeats = counted or (costs(ir, measure, table=table), repeat_costs(ir, measure, table))
        _, largest = depth_extremes(ir, fixed, per_choice, repeats)
        if largest <= 0:
            return None
        depth = {
            key: [
                (
                    position,
                    repeats.fixed[node] / largest,
                    {k: torch.tensor(r, dtype=torch.float32) / largest for k, r in repeats.per_choice[node].items()},
                )
                for position, node in enumerate(d.instances)
            ]
            for key, d in ir.depth_nodes().items()
        }
        return cls(
            measure,
            float(fixed) / largest,
            float(largest),
            {k: torch.tensor(v, dtype=torch.float32) / largest for k, v in per_choice.items()},
            depth,
            {key: tuple(d.options) for key, d in ir.depth_nodes().items()},
        )

    def on(self, like: torch.Tensor) -> CostModel:
        """This model with its tensors on ``like``'s device and dtype (converted once)."""
        where = (like.device, like.dtype)
        if where not in self._placed:
            self._placed[where] = CostModel(
                self.measure,
                self.fixed,
                self.largest,
                {k: c.to(like.device, like.dtype) for k, c in self.per_choice.items()},
                {
                    key: [(p, f, {k: c.to(like.device, like.dtype) for k, c in row.items()}) for p, f, row in reps]
                    for key, reps in self.depth.items()
                },
                self.options,
            )
        return self._placed[where]

    def variable(self, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The expected cost of the choices under ``weights`` (differentiable), over the largest cost."""
        model = self.on(next(iter(weights.values())))
        total = next(iter(weights.values())).new_zeros(())
        for key, c in model.per_choice.items():
            total = total + (weights[key] * c).sum()
        for key, reps in model.depth.items():
            # a repeat is there with probability P(count > its position); the per-key term above counted it
            # once, so it adds (P - 1) times its expected cost
            wd = weights[key]
            for position, own, row in reps:
                present = sum((wd[i] for i, n in enumerate(self.options[key]) if n > position), wd.new_zeros(()))
                expected = own + sum(((weights[k] * c).sum() for k, c in row.items()), wd.new_zeros(()))
                total = total + (present - 1) * expected
        return total

    def expected(self, weights: Mapping[str, torch.Tensor]) -> float:
        """The expected cost in the measure's own units (parameters, MACs, ms)."""
        with torch.no_grad():
            return float(self.fixed + self.variable(weights)) * self.largest


class BudgetMultipliers:
    """One adaptive Lagrange multiplier per budget constraint (see the module docstring)."""

    def __init__(self, cfg: SearchConfig, ir: NetworkIR, counted: Mapping[str, tuple[Any, Any]] | None = None) -> None:
        """``counted``: per measure its ``costs`` and ``repeat_costs``, where the run has them already."""
        self.rate = cfg.budget_rate
        self.budgets: list[tuple[str, float, CostModel]] = []  # (constraint kind, budget, model)
        if cfg.budget != "adaptive":
            return
        tightest: dict[str, float] = {}
        for kind, value in cfg.constraints:
            if kind in BUDGET_MEASURES:
                tightest[kind] = min(float(value), tightest.get(kind, float("inf")))
        for kind, value in tightest.items():
            measure = BUDGET_MEASURES[kind]
            model = CostModel.of(cfg, ir, measure, (counted or {}).get(measure))
            if model is not None and value > 0:
                self.budgets.append((kind, value, model))
        self.lambdas = [0.0] * len(self.budgets)

    def __bool__(self) -> bool:
        return bool(self.budgets)

    def ratios(self, weights: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
        """E_j(w) / B_j for each budget, differentiable in ``weights``."""
        return [(m.fixed + m.variable(weights)) * (m.largest / value) for _, value, m in self.budgets]

    def multipliers(self, ratios: list[float]) -> list[float]:
        """The weights of the cost terms now: the integral lambda_j plus GAIN times the excess E_j / B_j - 1
        (the augmented Lagrangian's proportional part, which damps the overshoot of plain dual ascent), at
        least 0."""
        return [max(0.0, lam + GAIN * self.rate * (r - 1.0)) for lam, r in zip(self.lambdas, ratios)]

    def term(self, weights: Mapping[str, torch.Tensor]) -> torch.Tensor | None:
        """sum_j mu_j * E_j / B_j, the part of the architecture loss; None while every weight is 0."""
        ratios = self.ratios(weights)
        mus = self.multipliers([float(r.detach()) for r in ratios])
        if not any(mus):
            return None
        return sum((mu * r for mu, r in zip(mus, ratios) if mu), ratios[0].new_zeros(()))

    def update(self, weights: Mapping[str, torch.Tensor]) -> None:
        """One dual-ascent step on each multiplier, from the expected costs after an architecture step."""
        with torch.no_grad():
            ratios = [float(r) for r in self.ratios(weights)]
        self.lambdas = [max(0.0, lam + self.rate * (r - 1.0)) for lam, r in zip(self.lambdas, ratios)]

    def report(self, weights: Mapping[str, torch.Tensor]) -> dict[str, dict[str, float]]:
        """Per constraint: the expected cost, the budget and the multiplier now (for the log and summary)."""
        return {
            kind: {"expected": m.expected(weights), "budget": value, "multiplier": lam}
            for (kind, value, m), lam in zip(self.budgets, self.lambdas)
        }

    def state_dict(self) -> list[float]:
        return list(self.lambdas)

    def load_state_dict(self, state: list[float] | None) -> None:
        if state is None:  # a checkpoint written before multipliers existed
            return
        if len(state) != len(self.lambdas) or not all(isinstance(x, float) for x in state):
            raise ValueError(f"the checkpoint holds {state!r} as budget multipliers, expected {len(self.lambdas)}")
        self.lambdas = list(state)
