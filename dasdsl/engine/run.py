"""One search run's state and its pieces: the epoch loop (``Run``), its checkpoint, the discretization
and weight inheritance at its end, and the result's header and data.

``dasdsl.engine.workflow`` strings these together; the files they write are ``dasdsl.engine.rundir``'s, the
training of fixed networks is ``dasdsl.engine.training``'s.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch

from dasdsl.compiler.build import build_ir
from dasdsl.compiler.cost import costs, repeat_costs
from dasdsl.compiler.ir import NetworkIR
from dasdsl.compiler.lower import FixedNetwork, MixedEdge, Supernet, entropy, shared_state_dict
from dasdsl.engine import data as data_mod
from dasdsl.engine import rundir
from dasdsl.engine.constraints import best_over_depths, connected_or_best
from dasdsl.engine.data import Split, TensorPart
from dasdsl.engine.device import seed_everything
from dasdsl.engine.discretization import Decision, decide, header_lines, score, to_module
from dasdsl.engine.distributed import SINGLE, World, shard
from dasdsl.engine.expected_cost import BudgetMultipliers
from dasdsl.engine.rundir import CHECKPOINT, checked_checkpoint
from dasdsl.engine.searcher import Searcher, evaluate, gate_penalty
from dasdsl.engine.training import batches, check_batch
from dasdsl.errors import DasError, fail
from dasdsl.files import append_text
from dasdsl.lang import ast
from dasdsl.lang.checked import CheckedSpace
from dasdsl.lang.printer import format_das
from dasdsl.lang.settings import LEGACY, SearchConfig, check_config, resolve
from dasdsl.methods.rules import RULES, Accuracy


@attrs.define
class Run:
    """Everything one search run needs; ``search()`` drives it."""

    space: CheckedSpace
    cfg: SearchConfig
    device: torch.device
    out: Path | None  # set once the data and the supernet are ready, so a failed start leaves no folder
    source_path: str
    data: Split | None = None
    ir: NetworkIR | None = None
    net: Supernet | None = None
    searcher: Searcher | None = None
    start_epoch: int = 0
    world: World = SINGLE
    budget: dict[str, Any] | None = None  # the cost tables of the budget constraints, built once in setup
    repeats: dict[str, Any] | None = None  # the searched depths' repeats' own costs, for the same measures

    def setup(self, data: Split | None = None) -> None:
        """Data, IR, supernet and searcher; ``data`` is the API's own data, else the settings' source is loaded."""
        seed_everything(self.cfg.seed)
        if data is None:
            data = data_mod.source_split(
                self.cfg.data, self.space.input_kind, self.cfg.split, self.cfg.seed, self.device
            )
        self.data = data
        check_batch(self.cfg.batch, data, self.world.size)  # before a run directory exists
        self.ir = build_ir(self.space, self.data.shape, self.data.classes)
        if not self.ir.has_choices:
            raise fail(
                f"space '{self.space.name}' has no choices to search",
                "<run>",
                "train it directly with 'dasdsl train FILE'",
            )
        torch.manual_seed(self.cfg.seed)
        self.net = supernet_of(self.ir, self.cfg)
        self.net.to(self.device)
        if self.cfg.constraints or self.cfg.top > 1:  # an impossible constraint is reported before any training
            self.budget = budget_costs(self.ir, self.cfg)
            self.repeats = {m: repeat_costs(self.ir, m) for m in self.budget}
            uniform = {k: [1.0 / len(c.labels)] * len(c.labels) for k, c in self.ir.choices.items()}
            best_over_depths(self.ir, uniform, self.cfg.constraints, 1, self.budget, self.repeats)
        counted = {m: (self.budget[m], self.repeats[m]) for m in self.budget or {}}  # counted once, used twice
        self.searcher = Searcher(
            self.net,
            self.cfg,
            gate_penalty(self.cfg, self.ir),
            world=self.world,
            budget=BudgetMultipliers(self.cfg, self.ir, counted),
        )
        if self.out is not None and not (self.out / CHECKPOINT).exists():  # killed before its first checkpoint
            self.trim_log(0)

    # -- persistence
    def save(self, epoch: int) -> None:
        assert self.net is not None and self.searcher is not None
        if not self.world.main or self.out is None:  # an in-memory search (the API's out=None) writes nothing
            return
        state = {
            "epoch": epoch,
            "model": self.net.state_dict(),
            "search": self.searcher.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "config": json.dumps(self.cfg.to_json()),
            "fingerprint": self.fingerprint(),
        }
        rundir.save_atomic(state, self.out / CHECKPOINT)

    def fingerprint(self) -> dict[str, str]:
        """Content hashes of the space and of the resolved settings (but ``epochs``, which a resume may raise,
        ``fuse``, which changes how the supernet runs, not what it computes, and settings at the value runs had
        before the setting existed, so that their checkpoints still match)."""
        settings = {
            k: v
            for k, v in self.cfg.to_json().items()
            if k not in ("epochs", "fuse") and not (k in LEGACY and LEGACY[k] == v)  # as before they existed
        }
        return {
            "space": hashlib.sha256((self.space.source or "").encode("utf-8")).hexdigest(),
            "settings": hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8")).hexdigest(),
        }

    def restore(self) -> None:
        assert self.net is not None and self.searcher is not None
        state = checked_checkpoint(
            rundir.load_checkpoint(self.out / CHECKPOINT, self.device),
            self.out / CHECKPOINT,
            self.cfg.epochs,
            ("search",),
        )
        saved = state.get("fingerprint")
        if isinstance(saved, dict):  # checkpoints written before fingerprints have none
            now = self.fingerprint()
            changed = [
                what
                for what, name in (("space", "space.das"), ("settings", "config.json"))
                if saved.get(what) != now[what]
            ]
            if changed:
                files = " and ".join(
                    {"space": "space.das", "settings": "the settings in config.json"}[c] for c in changed
                )
                raise fail(
                    f"{files} changed since the checkpoint in {self.out} was written: resuming would continue a "
                    "different search under the old run's name",
                    "<run>",
                    "put the file back as it was, or start a new run with the changed space or settings; "
                    "the run directory is left as it is",
                )
        try:
            self.net.load_state_dict(state["model"])
            self.searcher.load_state_dict(state["search"])
            torch.set_rng_state(state["torch_rng"].cpu())
            self.start_epoch = state["epoch"]
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise fail(
                f"checkpoint {self.out / CHECKPOINT} does not fit this run ({type(exc).__name__}: {first})",
                "<run>",
                "was space.das or config.json edited, or the checkpoint copied from another run? the files are "
                "left as they are",
            ) from None
        self.trim_log(self.start_epoch)

    def trim_log(self, epochs: int) -> None:
        """Drop the records written after the last complete checkpoint: those epochs are redone."""
        if self.world.main and self.out is not None:
            rundir.trim_log(self.out, epochs)

    def _diverged(self, message: str) -> DasError:
        if self.out is None:
            kept = "nothing was written (an in-memory search)"
        elif (self.out / CHECKPOINT).exists():
            kept = f"the last complete checkpoint is kept in {self.out}"
        else:
            kept = "no epoch completed, so there is no checkpoint"
        return fail(
            message, "<run>", f'{kept}; lower the learning rate (--set weights="sgd(lr = ...)") or the gradient clip'
        )

    # -- the loop
    def gate_weights(self) -> dict[str, list[float]]:
        assert self.net is not None
        with torch.no_grad():
            self.net.hard = False
            w = {k: v.detach().cpu().tolist() for k, v in self.net.gate_weights().items()}
            self.net.hard = self.cfg.hard
        return w

    def skip_count(self, weights: dict[str, list[float]]) -> int:
        assert self.ir is not None
        decisions = connected_or_best(
            self.ir, weights, decide(self.ir, weights, self.cfg.discretize, self.cfg.threshold)
        )
        return sum(1 for k, i in decisions.items() if i is not None and self.ir.choices[k].labels[i] == "skip")

    def epoch(self, epoch: int, progress: Callable[[int, int, dict], None] | None = None) -> dict[str, Any]:
        assert self.data is not None and self.searcher is not None and self.net is not None
        d, cfg = self.data, self.cfg
        self.searcher.new_epoch(epoch)
        lr = self.searcher._lr()
        train_idx = batches(len(d.train), cfg.batch, cfg.seed, epoch)
        valid_idx = batches(len(d.valid), cfg.batch, cfg.seed + 1, epoch)
        steps = min(len(train_idx), len(valid_idx))
        losses, accs = [], []
        trace = os.environ.get("DASDSL_TRACE_ARCH")
        for s in range(steps):
            ti, vi = shard(train_idx[s], self.world), shard(valid_idx[s], self.world)
            loss, acc = self.searcher.step(d.train.take(ti), d.valid.take(vi))
            if trace:  # DASDSL_TRACE_ARCH=PREFIX: every step's architecture parameters, one file per process
                weights = [a.detach().cpu().tolist() for a in self.net.arch_parameters()]
                append_text(f"{trace}.rank{self.world.rank}.jsonl", json.dumps(weights) + "\n", "trace file")
            if not np.isfinite(loss):
                raise self._diverged(f"the training loss became {loss} at epoch {epoch + 1}, step {s + 1}")
            losses.append(loss)
            accs.append(acc)
            if progress:
                progress(s + 1, steps, {"loss": float(np.mean(losses)), "acc": float(np.mean(accs))})
        self.searcher.end_epoch()
        valid_loss, valid_acc = evaluate(self.net, d.valid)
        if not np.isfinite(valid_loss):  # the last weight step diverged: keep it out of the log and checkpoint
            raise self._diverged(f"the validation loss became {valid_loss} at the end of epoch {epoch + 1}")
        weights = self.gate_weights()
        budget = {}
        if self.searcher.budget is not None:  # the expected cost against each budget, and its multiplier
            with torch.no_grad():
                budget = {"budget": self.searcher.budget.report(self.net.gate_weights())}
        return {
            "epoch": epoch + 1,
            "train_loss": float(np.mean(losses)),
            "train_acc": float(np.mean(accs)),
            "valid_loss": valid_loss,
            "valid_acc": valid_acc,
            "lr": lr,
            "temperature": float(self.net.temperature),
            "skip_count": self.skip_count(weights),
            "entropy": {k: entropy(torch.tensor(w)) for k, w in weights.items()},
            "gates": weights,
            **budget,
        }


def inherit_weights(
    fixed: FixedNetwork, supernet: Supernet, ir: NetworkIR, decisions: dict[str, int | None]
) -> list[str]:
    """Copy the supernet's weights into the discretized network; returns the names it had no source for
    (the affine parameters of BatchNorms that are not affine in the supernet: they keep weight 1, bias 0)."""
    source = shared_state_dict(supernet)  # a value list's candidates: their slices of the shared weights
    mixed_prefix: dict[str, str] = {}
    for name, module in supernet.named_modules():
        if isinstance(module, MixedEdge):
            chosen = decisions.get(module.key)
            if chosen is not None:
                mixed_prefix[name + "."] = f"{name}.candidates.{chosen}."
    prefixes = sorted(mixed_prefix, key=len)  # outer choices first, then cells nested in them
    items = _kept_items(ir, decisions)
    target = fixed.state_dict()
    missing = []
    for name in target:
        src_name = name
        parts = name.split(".", 2)
        if parts[0] == "items" and parts[1] in items:  # a searched depth: the supernet's item of that place
            src_name = ".".join(["items", items[parts[1]], *parts[2:]])
        for prefix in prefixes:
            replacement = mixed_prefix[prefix]
            if src_name.startswith(prefix) and not src_name.startswith(replacement):
                src_name = replacement + src_name[len(prefix) :]
        if src_name in source and source[src_name].shape == target[name].shape:
            target[name] = source[src_name].clone()
        else:
            missing.append(name)
    fixed.load_state_dict(target)
    return missing


def _kept_items(ir: NetworkIR, decisions: dict[str, int | None]) -> dict[str, str]:
    """Item ids of the discretized network to the supernet's: a searched depth drops the repeats past the
    chosen count, so the items after it sit at other places (an empty map without searched depths)."""
    if not ir.depth_nodes():
        return {}
    dropped = set(ir.left_out(decisions))
    kept = sorted(
        (node for node, d in ir.macro.nodes.items() if d.kind in ("cell", "op") and node not in dropped),
        key=int,
    )
    return {str(j): node for j, node in enumerate(kept)}


def discretize(run: Run) -> tuple[list[tuple[str, dict[str, int | None], float, float | None]], dict[str, list[float]]]:
    """The ranked results as (.das text, decisions, score, optimality bound or None) and the final gate weights.

    Without constraints and with ``top 1`` this is the discretization rule itself where its architecture is
    connected, else the best connected one by gate weight (``connected_or_best``: a cell that ignores its
    input is never returned); with constraints, ``top k`` or ``select oneshot(k = K)`` it is the exact
    constrained k-best search of dasdsl.engine.constraints over the gate weights (the K best, for one-shot
    scoring), which returns connected architectures only."""
    assert run.ir is not None
    weights = run.gate_weights()
    cfg = run.cfg
    count = max(cfg.top, cfg.select_k) if cfg.oneshot else cfg.top  # one-shot selection scores the k best
    if cfg.constraints or count > 1:
        tables = run.budget if run.budget is not None else budget_costs(run.ir, cfg)
        repeats = run.repeats if run.repeats is not None else {m: repeat_costs(run.ir, m) for m in tables}
        choice_weights = {k: w for k, w in weights.items() if k in run.ir.choices}
        ranked = [
            (r.decisions, r.score, r.bound)
            for r in best_over_depths(run.ir, choice_weights, cfg.constraints, count, tables, repeats)
        ]
    else:
        if RULES[cfg.discretize].needs_accuracy:
            current, accuracy = supernet_accuracy(run)
            decisions = decide(run.ir, current, cfg.discretize, cfg.threshold, accuracy, cfg.seed)
        else:
            decisions = decide(run.ir, weights, cfg.discretize, cfg.threshold)
        decisions = connected_or_best(run.ir, weights, decisions)
        ranked = [(decisions, score(run.ir, weights, decisions), None)]
    results = [(format_das(to_module(run.space, run.ir, d)), d, sc, bound) for d, sc, bound in ranked]
    return results, weights


def gate_summary(ir: NetworkIR, weights: dict[str, list[float]], decisions: Decision) -> dict[str, Any]:
    """How decisive the gates ended: the mean normalized entropy over the choice points (1 = uniform,
    0 = one-hot) and each decided choice's margin, its chosen weight minus the strongest other candidate's
    (negative where a constraint or the one-shot ranking chose against the gates; dropped edges have none)."""
    margins = {}
    for key in ir.choices:
        chosen = decisions.get(key)
        w = weights[key]
        if chosen is not None and len(w) > 1:
            margins[key] = w[chosen] - max(x for i, x in enumerate(w) if i != chosen)
    entropies = [entropy(torch.tensor(weights[k])) for k in ir.choices]
    return {
        "final_entropy": sum(entropies) / len(entropies) if entropies else 0.0,
        "margins": margins,
    }


def budget_costs(ir: NetworkIR, cfg: SearchConfig) -> dict[str, Any]:
    """The cost tables the budget constraints (max_params, max_flops) of ``cfg`` need."""

    measures = {kind.removeprefix("max_") for kind, _ in cfg.constraints if kind in ("max_params", "max_flops")}
    return {m: costs(ir, m) for m in measures}


def supernet_accuracy(run: Run, samples: int = 512) -> tuple[dict[str, list[float]], Accuracy]:
    """For rules that weigh candidates by the supernet's accuracy (DARTS-PT): the gate weights now, and the
    validation accuracy on up to ``samples`` samples under other gate weights for the choice points."""
    assert run.net is not None and run.ir is not None and run.data is not None
    net, ir = run.net, run.ir
    x, y = run.data.valid.head(samples)
    with torch.no_grad():
        base = {k: v.detach().clone() for k, v in net.gate_weights().items()}

    def accuracy(weights: dict[str, list[float]]) -> float:
        trial = dict(base)
        for key, w in weights.items():
            trial[key] = torch.tensor(w, dtype=base[key].dtype, device=base[key].device)
        net.fixed_weights = trial
        try:
            return evaluate(net, TensorPart(x, y))[1]
        finally:
            net.fixed_weights = None

    return {k: base[k].tolist() for k in ir.choices}, accuracy


RECALIBRATION_SAMPLES = 512


def recalibrate_batchnorm(net: torch.nn.Module, data: Split, samples: int = RECALIBRATION_SAMPLES) -> None:
    """Inherited weights keep the supernet's batch-norm statistics, which describe each candidate's input as
    part of a weighted mixture; one-shot NAS re-estimates them for the sub-network alone before evaluating it:
    reset, then a cumulative average over ``samples`` training samples in train mode, without gradients."""
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch weighs the same
    was_training = net.training
    net.train()
    n = min(samples, len(data.train))
    size = min(64, n)
    with torch.no_grad():
        for start in range(0, n - size + 1, size):  # whole batches only: batch norm needs two samples
            net(data.train.take(torch.arange(start, start + size))[0])
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    net.train(was_training)


def supernet_of(ir: NetworkIR, cfg: SearchConfig) -> Supernet:
    """The supernet a search with ``cfg`` trains (``Space.supernet`` builds the same: one default gate)."""
    return Supernet(
        ir,
        gate=cfg.gate,
        temperature=cfg.tau0,
        hard=cfg.hard,
        partial_channels=cfg.partial_channels,
        share_values=cfg.share_values,
        fuse=cfg.fuse,
    )


def config_for(space: CheckedSpace, overrides: dict[str, tuple[Any, ...]]) -> SearchConfig:
    """The space's search block, then the command line's settings; refused before any training where the
    settings cannot go together (``discretize perturbation`` with ``top 3`` or a constraint)."""
    base = resolve(space.search_block)
    if "data" not in space.search_block:
        base = attrs.evolve(base, data=data_mod.default_source(space.input_kind))
    return check_config(resolve(overrides, base) if overrides else base)


def result_header(
    source: str,
    cfg: SearchConfig,
    epochs_done: int,
    supernet_acc: float,
    discrete_acc: float,
    ir: NetworkIR,
    weights: dict[str, list[float]],
    decisions: dict[str, int | None],
    rank: tuple[int, int] = (1, 1),
    bound: float | None = None,
    oneshot: dict[str, Any] | None = None,
) -> list[str]:
    head = [
        f"searched from {source}, seed {cfg.seed}, {epochs_done} epochs on {cfg.data}, "
        f"valid acc {supernet_acc:.3f} (supernet) / {discrete_acc:.3f} (discretized)",
        f"score {score(ir, weights, decisions):.3f} (sum of the chosen candidates' gate weights)"
        + (f", rank {rank[0]} of the top {rank[1]}" if rank[1] > 1 else ""),
    ]
    if cfg.constraints:
        head.append("constraints: " + ", ".join(f"{k}({v:g})" for k, v in cfg.constraints) + " (met exactly)")
    if bound is not None:
        head.append(f"budget search: the optimal score is at most {bound:.3f} (Lagrangian bound)")
    if oneshot is not None:
        head.append(
            f"selected one-shot: valid acc {oneshot['valid_acc']:.3f} with the supernet's weights and recalibrated"
            " batch norm"
            + (f", fine-tuned {oneshot['finetune']} epochs" if oneshot.get("finetune") else "")
            + f", best of the {oneshot['k']} best by gate weights (it was number {oneshot['gate_rank']}"
            " by gate weights)"
        )
    return head + header_lines(ir, weights, decisions)


def with_data(module: ast.Module, data: str, shape: tuple[int, ...], classes: int) -> ast.Module:
    """Record in the result the data the search really used: its input shape and classes on the ``input`` line
    (``input image(1, 8, 8) classes 10``: the result builds and exports with nothing else), and in its search
    block a source that loads again. Data of the caller's own (arrays, datasets) has no name to write: the block
    loses its ``data`` entry (the header says what the data was)."""
    body = tuple(
        attrs.evolve(
            stmt, shape=tuple(ast.Number(s, span=stmt.span) for s in shape), classes=ast.Number(classes, span=stmt.span)
        )
        if isinstance(stmt, ast.InputDecl)
        else stmt
        for stmt in module.body
    )
    module = attrs.evolve(module, body=body)
    name, path = data_mod.parse_spec(data)
    entry = None
    if name in data_mod.SOURCES:
        value: ast.Expr = ast.Call(name, (ast.Arg(None, ast.String(path)),)) if path else ast.Name(name)
        entry = ast.SearchEntry("data", (value,))
    body = []
    found = False
    for stmt in module.body:
        if isinstance(stmt, ast.SearchDecl):
            found = True
            entries = tuple(e for e in stmt.entries if e.key != "data")
            if entry is None and not entries:
                continue  # a block that named only the data
            stmt = ast.SearchDecl((entry, *entries) if entry is not None else entries)
        body.append(stmt)
    if not found and entry is not None:
        body.append(ast.SearchDecl((entry,)))
    return attrs.evolve(module, body=tuple(body))
