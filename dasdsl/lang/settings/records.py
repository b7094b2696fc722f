"""The config records a block's settings resolve to: ``SearchConfig`` (``dasdsl run``) and ``TrainConfig``
(``dasdsl train``), each a frozen attrs class of plain JSON-able fields whose defaults are the tables' defaults, so
that a run's config.json records exactly what ran."""

from __future__ import annotations

from typing import Any

import attrs

from dasdsl.methods import rules


@attrs.frozen
class SearchConfig:
    data: str = "digits"
    epochs: int = 50
    warmup: int = 0  # epochs that train only the weights before the architecture parameters move
    batch: int = 64
    split: float = 0.5
    seed: int = 0
    # weights: SGD with a cosine schedule and gradient clipping (DARTS)
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    w_schedule: str = "cosine"
    grad_clip: float = 5.0
    # architecture: Adam (DARTS)
    a_lr: float = 3e-2  # Adam moves a parameter about lr per step: 3e-4 left gates uniform (bench/quality)
    a_betas: tuple[float, float] = (0.5, 0.999)
    a_weight_decay: float = 1e-3
    hypergradient: str = "first_order"
    gate: str = "dirichlet"  # chosen by bench/quality (docs/search.md, "Choosing the defaults")
    tau0: float = 1.0
    tau1: float = 1.0
    tau_schedule: str = "constant"
    hard: bool = False
    anchor: float = 1e-3  # the weight of the gate's regularizer (dirichlet: DrNAS' anchor)
    discretize: str = "argmax"
    threshold: float = 0.5
    penalties: tuple[tuple[str, Any, float], ...] = (("entropy", (0.0, "linear"), 0.1),)  # (kind, argument, lambda)
    constraints: tuple[tuple[str, int | float], ...] = ()
    partial_channels: int = 1
    share_values: bool = True  # the candidates of a value list share weights (weight entanglement)
    fuse: bool = True  # the fusion pass (dasdsl.compiler.fuse): same results, fewer and larger kernels
    finetune: int = 0
    top: int = 1
    select: str = "oneshot"  # gates | oneshot: how the result is picked among the exact k best by gate weights
    select_k: int = 100  # oneshot: how many of the k best architectures are scored with inherited weights
    select_finetune: int = 4  # oneshot: epochs each is trained from its inherited weights before it is scored
    budget: str = "adaptive"  # adaptive | off: how a max_params / max_flops constraint acts during the search
    budget_rate: float = 0.05  # adaptive: the step of the constraint's multiplier per architecture step
    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast; fp16 with loss scaling)
    latency_table: str | None = None  # JSON of `dasdsl profile`, read by cost(latency, ...)

    @property
    def oneshot(self) -> bool:
        """Whether the result is picked by one-shot scores (``select oneshot``); a rule that weighs candidates
        by the supernet's accuracy itself (``perturbation``) picks its own architecture instead."""
        return self.select == "oneshot" and not rules.RULES[self.discretize].needs_accuracy

    def to_json(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in attrs.fields(SearchConfig)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchConfig:
        """The configuration a config.json records; a setting it does not name (written before the setting
        existed) takes the value that reproduces what that run did (``LEGACY``), not today's default."""
        fields = {f.name for f in attrs.fields(cls)}
        values = {k: as_tuples(v) for k, v in data.items() if k in fields}
        return cls(**{**{k: v for k, v in LEGACY.items() if k not in values}, **values})


# What a run directory written before these settings existed did: one-shot selection and the adaptive budget
# came later. A resumed old run keeps its behaviour, and its settings fingerprint leaves these out.
LEGACY: dict[str, Any] = {"select": "gates", "select_k": 20, "select_finetune": 0, "budget": "off", "budget_rate": 0.05}


@attrs.frozen
class TrainConfig:
    """How ``dasdsl train`` trains a fixed network: the space's ``train`` block, then flags or keywords."""

    data: str | None = None  # None: the search block's data, else the input kind's default source
    epochs: int = 20
    batch: int = 64
    lr: float = 0.05
    seed: int = 0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    label_smoothing: float = 0.0
    augment: str = "auto"
    cutout: int = 0
    auxiliary: float = 0.0  # the auxiliary head's loss weight (DARTS: 0.4); 0: no head
    drop_path: float = 0.0  # reached at the end, ramped linearly from 0 (DARTS: 0.2)

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


def as_tuples(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(as_tuples(x) for x in v)
    return v
