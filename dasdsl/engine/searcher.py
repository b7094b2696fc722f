"""Bilevel search (DARTS): architecture steps on validation batches, weight steps on training batches.

The short contract of NASLib's optimizers: ``new_epoch``, ``step(train, valid)``,
``end_epoch``; a new hypergradient or penalty plugs in by overriding one method.
Hypergradients of L_val(w - xi * dL_train/dw, alpha) with respect to alpha:

- ``first_order``: dL_val(w, alpha)/dalpha, the unrolled step ignored;
- ``second_order``: as the DARTS paper, the Hessian-vector product by central
  finite differences, no deep copy of the model (functional parameters);
- ``exact``: autograd through the unrolled step (torch.func), no finite-difference error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.parallel import DistributedDataParallel

from dasdsl.compiler.ir import NetworkIR
from dasdsl.compiler.lower import Supernet
from dasdsl.engine.data import Part
from dasdsl.engine.distributed import SINGLE, World, average
from dasdsl.engine.expected_cost import BudgetMultipliers, CostModel
from dasdsl.errors import fail
from dasdsl.lang.settings import SearchConfig
from dasdsl.methods.gates import GATES
from dasdsl.methods.penalties import PENALTIES, Penalty

Batch = tuple[torch.Tensor, torch.Tensor]


def scheduled(start: float, end: float, schedule: str, epoch: int, epochs: int) -> float:
    """start -> end over a run of ``epochs`` at ``epoch``: constant, linear, exponential or cosine;
    the end value at the last epoch."""
    if schedule == "constant":
        return start
    if epochs <= 1:  # no room to anneal: the end value from the last epoch on
        return end if epoch >= epochs - 1 else start
    t = min(max(epoch / (epochs - 1), 0.0), 1.0)
    if schedule == "linear":
        return start + (end - start) * t
    if schedule == "exponential":
        return start * (end / start) ** t
    return end + 0.5 * (start - end) * (1 + math.cos(math.pi * t))


def temperature_at(cfg: SearchConfig, epoch: int) -> float:
    """tau0 -> tau1 over the run."""
    return scheduled(cfg.tau0, cfg.tau1, cfg.tau_schedule, epoch, cfg.epochs)


class Searcher:
    """Owns the supernet's two optimizers and runs one bilevel step at a time."""

    def __init__(
        self,
        net: Supernet,
        cfg: SearchConfig,
        penalty: Callable[[Supernet, int], torch.Tensor] | None = None,
        world: World = SINGLE,
        budget: BudgetMultipliers | None = None,
    ):
        self.net = net
        self.cfg = cfg
        self.penalty = penalty
        self.budget = budget if budget else None  # the adaptive multipliers of max_params / max_flops
        self.world = world
        if world.distributed and cfg.hypergradient == "exact":
            raise fail(
                "the exact hypergradient runs in one process; with several use second_order", "<search settings>"
            )
        if cfg.precision == "fp16" and cfg.hypergradient != "first_order":
            raise fail(
                f"the {cfg.hypergradient} hypergradient does not work under fp16 (its finite "
                "differences and unrolled step underflow)",
                "<search settings>",
                "use --precision bf16, or hypergradient first_order",
            )
        # weights: averaged by DistributedDataParallel; architecture: all-reduced in each hypergradient
        self.model: nn.Module = net
        if world.distributed:
            ids = [world.local_rank] if next(net.parameters()).is_cuda else None
            self.model = DistributedDataParallel(net, device_ids=ids, find_unused_parameters=True)
        self.device_type = next(net.parameters()).device.type
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision)
        self.scaler = torch.amp.GradScaler(self.device_type, enabled=cfg.precision == "fp16")
        self.arch = net.arch_parameters()
        arch_ids = {id(a) for a in self.arch}
        named = [(n, p) for n, p in net.named_parameters() if id(p) not in arch_ids]
        self.w_names = [n for n, _ in named]
        self.weights = [p for _, p in named]
        self.w_opt = torch.optim.SGD(
            self.weights, lr=cfg.w_lr, momentum=cfg.w_momentum, weight_decay=cfg.w_weight_decay
        )
        self.a_opt = torch.optim.Adam(self.arch, lr=cfg.a_lr, betas=cfg.a_betas, weight_decay=cfg.a_weight_decay)
        t_max = max(cfg.epochs, 1)
        if cfg.w_schedule == "cosine":
            self.schedule: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                self.w_opt, t_max, eta_min=cfg.w_lr_min
            )
        else:
            self.schedule = torch.optim.lr_scheduler.LambdaLR(self.w_opt, lambda _: 1.0)
        self.loss_fn = nn.CrossEntropyLoss()
        self.epoch = 0

    # -- the NASLib-style contract
    def new_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.net.temperature = temperature_at(self.cfg, epoch)

    def end_epoch(self) -> None:
        self.schedule.step()

    def step(self, train: Batch, valid: Batch) -> tuple[float, float]:
        """One architecture step (none in the ``warmup`` epochs), then one weight step; returns (train loss, train
        accuracy)."""
        if not self.net.training:  # train() walks every module: only after an evaluation switched to eval mode
            self.net.train()
        if self.epoch >= self.cfg.warmup:
            self.arch_step(train, valid)
        return self.weight_step(train)

    # -- steps
    def _autocast(self) -> torch.autocast:
        return torch.autocast(
            self.device_type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        )

    def _full(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits for the loss: float32 under autocast, untouched otherwise (float64 networks stay float64)."""
        return logits.float() if self.amp_dtype is not None else logits

    def _reduce(self, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        return average(tensors, self.world)

    def weight_step(self, train: Batch) -> tuple[float, float]:
        x, y = train
        self.w_opt.zero_grad(set_to_none=True)
        with self._autocast():
            logits = self.model(x)
            loss = self.loss_fn(self._full(logits), y)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.w_opt)
        nn.utils.clip_grad_norm_(self.weights, self.cfg.grad_clip)
        self.scaler.step(self.w_opt)
        self.scaler.update()
        for a in self.arch:
            a.grad = None
        return float(loss.detach()), float((logits.argmax(1) == y).float().mean())

    def arch_step(self, train: Batch, valid: Batch) -> None:
        self.a_opt.zero_grad(set_to_none=True)
        grads = self.hypergradient(train, valid)
        value = None if self.penalty is None else self.penalty(self.net, self.epoch)
        if self.budget is not None:
            term = self.budget.term(self.net.gate_weights())
            if term is not None:
                value = term if value is None else value + term
        if value is not None and value.requires_grad:  # not when every weight is 0 (a ramp's first epoch)
            extra = torch.autograd.grad(value, self.arch, allow_unused=True)
            grads = [g if e is None else g + e for g, e in zip(grads, extra)]
        for a, g in zip(self.arch, grads):
            a.grad = g.detach()
        self.a_opt.step()
        if self.budget is not None:
            self.budget.update(self.net.gate_weights())

    def hypergradient(self, train: Batch, valid: Batch) -> list[torch.Tensor]:
        method = self.cfg.hypergradient
        if method == "first_order":
            return self.first_order(valid)
        if method == "second_order":
            return self.second_order(train, valid)
        if method == "exact":
            return self.exact(train, valid)
        raise ValueError(f"unknown hypergradient {method!r}")

    # -- hypergradients
    def _loss(self, params: dict[str, torch.Tensor], batch: Batch) -> torch.Tensor:
        x, y = batch
        with self._autocast():
            return self.loss_fn(self._full(functional_call(self.net, params, (x,), strict=False)), y)

    def _arch_grad(self, loss: torch.Tensor) -> list[torch.Tensor]:
        return self._reduce(_filled(torch.autograd.grad(loss, self.arch, allow_unused=True), self.arch))

    def first_order(self, valid: Batch) -> list[torch.Tensor]:
        return self._arch_grad(self._loss({}, valid))

    def _virtual_step(
        self, grads: list[torch.Tensor], lr: float, start: list[torch.Tensor] | None = None
    ) -> list[torch.Tensor]:
        """w - lr * (momentum buffer * mu + grad + weight_decay * w): the SGD step DARTS unrolls.

        ``start`` replaces w (differentiable copies for the exact hypergradient); the momentum
        buffers are always those of the real weights."""
        out = []
        for w, x, g in zip(self.weights, start or self.weights, grads):
            d = g + self.cfg.w_weight_decay * x
            buf = self.w_opt.state.get(w, {}).get("momentum_buffer")
            if buf is not None:
                d = d + self.cfg.w_momentum * buf
            out.append(_layout_of(x - lr * d, w))
        return out

    def _lr(self) -> float:
        return float(self.w_opt.param_groups[0]["lr"])

    def second_order(self, train: Batch, valid: Batch) -> list[torch.Tensor]:
        lr = self._lr()
        g_train = torch.autograd.grad(self._loss({}, train), self.weights, allow_unused=True)
        g_train = self._reduce(_filled(g_train, self.weights))
        unrolled = [w.detach().requires_grad_(True) for w in self._virtual_step(list(g_train), lr)]
        loss_v = self._loss(dict(zip(self.w_names, unrolled)), valid)
        inputs = [*self.arch, *unrolled]
        both = self._reduce(_filled(torch.autograd.grad(loss_v, inputs, allow_unused=True), inputs))
        d_alpha, v = both[: len(self.arch)], both[len(self.arch) :]
        norm = torch.sqrt(sum((t * t).sum() for t in v))
        if float(norm) == 0.0:
            return d_alpha
        eps = 0.01 / norm
        plus = {n: _layout_of(w + eps * d, w).detach() for n, w, d in zip(self.w_names, self.weights, v)}
        minus = {n: _layout_of(w - eps * d, w).detach() for n, w, d in zip(self.w_names, self.weights, v)}
        g_plus = self._arch_grad(self._loss(plus, train))
        g_minus = self._arch_grad(self._loss(minus, train))
        return [da - lr * (gp - gm) / (2 * eps) for da, gp, gm in zip(d_alpha, g_plus, g_minus)]

    def exact(self, train: Batch, valid: Batch) -> list[torch.Tensor]:
        lr = self._lr()
        params = [w.detach().requires_grad_(True) for w in self.weights]
        loss_t = self._loss(dict(zip(self.w_names, params)), train)
        g_train = torch.autograd.grad(loss_t, params, create_graph=True, allow_unused=True)
        unrolled = self._virtual_step(_filled(g_train, params), lr, start=params)
        return self._arch_grad(self._loss(dict(zip(self.w_names, unrolled)), valid))

    # -- state for checkpoints
    def state_dict(self) -> dict:
        return {
            "w_opt": self.w_opt.state_dict(),
            "a_opt": self.a_opt.state_dict(),
            "schedule": self.schedule.state_dict(),
            **({"budget": self.budget.state_dict()} if self.budget is not None else {}),
        }

    def load_state_dict(self, state: dict) -> None:
        self.w_opt.load_state_dict(state["w_opt"])
        self.a_opt.load_state_dict(state["a_opt"])
        self.schedule.load_state_dict(state["schedule"])
        if self.budget is not None:
            self.budget.load_state_dict(state.get("budget"))

    def stretch(self, epochs: int, epoch: int) -> None:
        """An extended run (``--resume RUN_DIR --epochs N``): the weights' cosine schedule re-planned for
        ``epochs``, at ``epoch``, as a run started with that many epochs has it there."""
        if not isinstance(self.schedule, torch.optim.lr_scheduler.CosineAnnealingLR):
            return
        t_max = max(epochs, 1)
        lr = self.cfg.w_lr_min + (self.cfg.w_lr - self.cfg.w_lr_min) * (1 + math.cos(math.pi * epoch / t_max)) / 2
        self.schedule.T_max = t_max
        for group in self.w_opt.param_groups:
            group["lr"] = lr
        self.schedule._last_lr = [lr for _ in self.w_opt.param_groups]  # what get_last_lr() reports


def _filled(grads: Sequence[torch.Tensor | None], like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``torch.autograd.grad(..., allow_unused=True)``'s gradients with zeros for the unused inputs."""
    return [torch.zeros_like(t) if g is None else g for t, g in zip(like, grads)]


def _layout_of(t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """``t`` in the memory layout of the weight ``ref``: stand-in weights computed from gradients come
    out NCHW, and one NCHW kernel turns every later activation NCHW, which costs the channels-last
    supernet a fifth of its step time on CPU."""
    if t.stride() == ref.stride():
        return t
    return torch.empty_like(ref, dtype=t.dtype).copy_(t)  # differentiable: copy_ has a backward


def evaluate(net: nn.Module, part: Part, batch: int = 256) -> tuple[float, float]:
    """(mean loss, accuracy) over a data part, in eval mode."""
    was_training = net.training
    net.eval()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    total, correct = 0.0, 0
    with torch.no_grad():
        for x, y in part.chunks(batch):
            logits = net(x)
            total += float(loss_fn(logits, y))
            correct += int((logits.argmax(1) == y).sum())
    net.train(was_training)
    return total / max(len(part), 1), correct / max(len(part), 1)


def gate_penalty(cfg: SearchConfig, ir: NetworkIR) -> Callable[[Supernet, int], torch.Tensor] | None:
    """The penalties of the search block and the gate's own regularizer, as ``penalty(net, epoch)``.

    l1, entropy and zero-one act on each choice point's gate weights, beta on its architecture
    parameters (averaged over the choice points), the dirichlet gate's anchor on its concentration;
    a ramped weight (``beta(0 -> 50, linear)``) is taken at the epoch. The cost term is
    ``lambda * sum over choices of sum_i w_i * cost_i / cost of the largest architecture`` (costs from
    dasdsl.compiler.cost, summed over the instances of a cell type). On a node with ``keep k`` the
    expectation is still taken per edge, sum_i w_i cost_i on every incoming edge, although only k
    edges survive discretization. Choices of cells used inside candidates have no cost term of
    their own: they count whole inside their outer candidate.
    """
    terms = [
        (PENALTIES[k], arg, lam)
        for k, arg, lam in cfg.penalties
        if PENALTIES[k].term is not None and (lam > 0 or (arg is not None and arg[0] > 0))
    ]
    gate = GATES[cfg.gate]
    if gate.regularizer is not None and cfg.anchor > 0:
        terms.append((Penalty("anchor", "", gate.regularizer, on_alpha=True), None, cfg.anchor))
    cost_terms = [(measure, lam) for k, measure, lam in cfg.penalties if PENALTIES[k].term is None and lam > 0]
    priced = [(lam, model) for measure, lam in cost_terms if (model := CostModel.of(cfg, ir, measure)) is not None]
    if not terms and not priced:
        return None
    keys = list(ir.choices)  # not the PC-DARTS edge normalization weights: they are no gates

    def penalty(net: Supernet, epoch: int) -> torch.Tensor:
        weights = net.gate_weights()
        alphas = dict(zip(net.choice_keys, net.alphas))
        total = torch.zeros(())
        for p, arg, lam in terms:
            if arg is not None:  # a ramp: (start, schedule) -> lam over the search
                lam = scheduled(arg[0], lam, arg[1], epoch, cfg.epochs)
            if lam == 0 or p.term is None or not keys:
                continue
            source = alphas if p.on_alpha else weights
            term = sum((p.term(source[key]) for key in keys), torch.zeros(()))
            total = total + lam * (term / len(keys) if p.mean else term)
        if weights:  # every gate weight lives on the supernet's device, in its dtype
            for lam, model in priced:
                total = total + lam * model.variable(weights)
        return total

    return penalty
