"""Costs read off the IR: parameters, FLOPs and measured latency, per candidate of every choice.

Every measure has the same structure, ``(fixed, {choice key: per-candidate tuple})``:
``fixed`` is the cost outside every choice (stem, head, macro ops, input adapters of
cells), and each candidate's cost is summed over all instances of its cell type
(instances share architecture parameters, so they make the same decision). A
discrete architecture costs ``fixed`` plus the chosen candidates' costs. One entry
point, :func:`costs`, serves ``params``, ``flops`` and ``latency``.

- ``params``: trainable parameters with affine BatchNorm (as in a fixed network).
- ``flops``: multiply-accumulates (MACs) of the convolution and linear layers, per
  sample, for the shapes of the IR: a convolution costs
  ``C_out * prod(output spatial) * C_in / groups * prod(kernel)``, a linear layer
  ``out * in`` per position; biases, BatchNorm, activations, pooling and the
  gate mixing count 0. Counted by forward hooks on a meta-device forward of one
  sample (real tensors on CPU if a plugin op cannot run on ``meta``), so strides,
  padding and factorized reduces get their exact output sizes. Only
  ``nn.Conv1d/2d/3d`` and ``nn.Linear`` modules count (also inside plugin ops).
- ``latency``: forward time in milliseconds per batch, the median of R runs after
  warm-up, measured by :func:`profile_latency` (``dasdsl profile``) on one device
  and read back from its JSON table.

Adapters are part of costs: a ``widen`` adapter (the learnable 1x1 conv that brings a
narrow candidate to the widest width) counts in its candidate's cost, so a narrow
candidate cannot look free; ``reduce`` and ``project`` adapters of cell inputs are
in ``fixed``. A cell used as a candidate (hierarchical spaces) counts whole, at
supernet size, inside its outer candidate.
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import nn

from dasdsl.compiler.ir import NetworkIR
from dasdsl.compiler.lower import MixedEdge, Supernet, count_parameters
from dasdsl.errors import DasError, fail
from dasdsl.files import read_text
from dasdsl.wording import shape_text

MEASURES = ("params", "flops", "latency")
LATENCY_FORMAT = "dasdsl-latency/1"
_MEASURE_AGAIN = "measure it again for this space: dasdsl profile SPACE -o FILE"  # the hint of a bad latency table
Costs = tuple[float, dict[str, tuple[float, ...]]]


@attrs.frozen
class ParamSummary:
    supernet: int  # trainable weights of the supernet as searched (BN not affine)
    supernet_shared: int  # the same with the candidates of each value list sharing weights (share_values on)
    smallest: int  # the smallest discrete architecture (affine BN, adapters included)
    largest: int
    candidate_params: dict[str, tuple[int, ...]]  # choice key -> params of each candidate, all instances


def _top_level_edges(net: Supernet) -> list[MixedEdge]:
    """The mixed edges that are not inside another choice's candidate (those count with their candidate)."""
    nested = {
        id(m)
        for outer in net.modules()
        if isinstance(outer, MixedEdge)
        for m in outer.candidates.modules()
        if isinstance(m, MixedEdge)
    }
    return [m for m in net.modules() if isinstance(m, MixedEdge) and id(m) not in nested]


def candidate_params(ir: NetworkIR) -> tuple[int, dict[str, list[int]]]:
    """(parameters outside every choice, per choice key the parameters of each candidate)."""
    with torch.device("meta"):
        net = Supernet(ir, affine=True, fuse=False)
    per_choice: dict[str, list[int]] = {}
    inside = 0
    # a cell used as a candidate counts whole (at supernet size) inside its outer candidate
    for module in _top_level_edges(net):
        counts = [count_parameters(c) for c in module.candidates]
        inside += sum(counts)
        acc = per_choice.setdefault(module.key, [0] * len(counts))
        for i, n in enumerate(counts):
            acc[i] += n
    weights = count_parameters(net) - sum(p.numel() for p in net.arch_parameters())
    return weights - inside, per_choice


# -- FLOPs (MACs of conv and linear layers, per sample)

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def layer_macs(module: nn.Module, output: torch.Tensor) -> int:
    """Multiply-accumulates of one conv or linear call, per sample (``output`` has a batch dimension)."""
    per_sample = math.prod(output.shape[1:])
    if isinstance(module, _CONVS):
        return per_sample * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return per_sample * module.in_features
    return 0


def _count_flops(ir: NetworkIR, device: str, repeats: InstanceCosts | None = None) -> tuple[int, dict[str, list[int]]]:
    """(MACs outside every choice, per choice key per candidate), all instances; with ``repeats`` also each
    searched depth's repeat's own share, filled in."""
    with torch.device(device):
        net = Supernet(ir, affine=True, fuse=False)
    net.eval()
    owner: dict[int, tuple[str, int]] = {}
    per_choice: dict[str, list[int]] = {}
    for edge in _top_level_edges(net):
        per_choice.setdefault(edge.key, [0] * len(edge.candidates))
        for i, cand in enumerate(edge.candidates):
            for m in cand.modules():
                owner[id(m)] = (edge.key, i)
    node_of = {id(m): node for node in (repeats.fixed if repeats else ()) for m in net.items[node].modules()}
    fixed = 0

    def hook(module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        nonlocal fixed
        macs = layer_macs(module, output)
        where = owner.get(id(module))
        if where is None:
            fixed += macs
        else:
            per_choice[where[0]][where[1]] += macs
        node = node_of.get(id(module))
        if node is not None and repeats is not None:
            if where is None:
                repeats.fixed[node] += macs
            else:
                row = repeats.per_choice[node].setdefault(where[0], [0.0] * len(per_choice[where[0]]))
                row[where[1]] += macs

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (*_CONVS, nn.Linear))]
    try:
        with torch.no_grad():
            net(torch.zeros(1, *ir.input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
    return fixed, per_choice


@attrs.frozen
class InstanceCosts:
    """The repeats of the searched depths, each with its own cost (the totals sum every repeat): outside its
    choices, and per choice key of its candidates. A repeat past the chosen depth costs nothing."""

    fixed: dict[str, float]  # macro node -> cost outside its choices
    per_choice: dict[str, dict[str, list[float]]]  # macro node -> choice key -> cost of each candidate

    def without(
        self, fixed: float, per_choice: Mapping[str, Sequence[float]], absent: Sequence[str]
    ) -> tuple[float, dict[str, list[float]]]:
        """The totals ``(fixed, per_choice)`` less the costs of the ``absent`` repeats."""
        table = {k: list(v) for k, v in per_choice.items()}
        for node in absent:
            for key, row in self.per_choice[node].items():
                if key in table:
                    table[key] = [a - b for a, b in zip(table[key], row)]
        return fixed - sum(self.fixed[node] for node in absent), table


def _repeats(ir: NetworkIR) -> InstanceCosts:
    nodes = [node for d in ir.depth_nodes().values() for node in d.instances]
    return InstanceCosts({n: 0.0 for n in nodes}, {n: {} for n in nodes})


def repeat_costs(ir: NetworkIR, measure: str, table: str | Path | Mapping[str, Any] | None = None) -> InstanceCosts:
    """Each searched depth's repeats' own costs, for the expected cost over depths: ``params`` and ``flops``
    counted, ``latency`` read from the table of ``dasdsl profile`` (its ``depth_repeats``)."""
    repeats = _repeats(ir)
    if not repeats.fixed:
        return repeats
    if measure == "flops":
        _count_flops(ir, "meta", repeats)
        return repeats
    if measure == "latency":
        if table is None:
            costs(ir, "latency")  # the error that names the missing table
        _, loaded, where = _latency_table(ir, table)  # type: ignore[arg-type]
        rows = loaded.get("depth_repeats")
        if not isinstance(rows, Mapping) or set(rows) != set(repeats.fixed):
            raise fail(
                f"latency table {where} has no times per repeat of this space's searched depths", where, _MEASURE_AGAIN
            )
        try:
            for node, row in rows.items():
                repeats.fixed[node] = float(row["fixed"])
                for key, times in row["choices"].items():
                    repeats.per_choice[node][key] = [float(times[label]) for label in ir.choices[key].labels]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise fail(f"latency table {where} has a damaged 'repeats' entry", where, _MEASURE_AGAIN) from None
        return repeats
    with torch.device("meta"):
        net = Supernet(ir, affine=True, fuse=False)
    top = _top_level_edges(net)
    for node in repeats.fixed:
        inside = {id(m) for m in net.items[node].modules()}
        edges = [e for e in top if id(e) in inside]
        for edge in edges:
            repeats.per_choice[node][edge.key] = [float(count_parameters(c)) for c in edge.candidates]
        chosen = sum(sum(row) for row in repeats.per_choice[node].values())
        repeats.fixed[node] = float(count_parameters(net.items[node])) - chosen
    return repeats


def depth_extremes(
    ir: NetworkIR, fixed: float, per_choice: Mapping[str, Sequence[float]], repeats: InstanceCosts
) -> tuple[float, float]:
    """``extremes`` over every combination of the searched depths' counts: the repeats a count leaves out
    take their costs with them."""
    if not ir.depth_nodes():
        return extremes(ir, fixed, per_choice)
    found = [extremes(ir, *repeats.without(fixed, per_choice, ir.left_out(c))) for c in ir.depth_combinations()]
    return min(low for low, _ in found), max(high for _, high in found)


def candidate_flops(ir: NetworkIR) -> tuple[int, dict[str, list[int]]]:
    """(MACs outside every choice, per choice key the MACs of each candidate), per sample, all instances."""
    try:
        return _count_flops(ir, "meta")
    except DasError:
        raise
    except Exception:  # noqa: BLE001 - a plugin op that cannot run on meta tensors: count on real ones
        return _count_flops(ir, "cpu")


# -- latency (measured per device, stored as a JSON table)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_ms(fn: Callable[[], Any], device: torch.device, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine() or "cpu"


def profile_latency(
    ir: NetworkIR,
    device: torch.device | str = "cpu",
    batch: int = 64,
    repeats: int = 10,
    warmup: int = 3,
    seed: int = 0,
    threads: int | None = None,
) -> dict[str, Any]:
    """Forward time (ms per batch of ``batch``, median of ``repeats`` after ``warmup`` runs) of every candidate,
    on ``threads`` CPU threads where given (``torch.set_num_threads``: the process keeps that setting).

    Each candidate runs alone on the input its edge sees in a forward of the whole
    network (eval mode, affine BN, no autograd); times add up over the instances
    of a cell type. The fixed part is a forward of the network with every choice
    replaced by its recorded output. ``none`` costs 0.
    """
    device = torch.device(device)
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    net = Supernet(ir, affine=True, fuse=False).to(device).eval()
    edges = _top_level_edges(net)
    seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def record(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        seen[id(module)] = (args[0].detach(), output.detach())

    x = torch.randn(batch, *ir.input_shape, device=device)
    repeat_nodes = list(_repeats(ir).fixed)  # a searched depth's repeats: each also timed on its own
    node_of = {id(m): n for n in repeat_nodes for m in net.items[n].modules()}
    arrived: dict[str, tuple] = {}

    def arrive(node: str) -> Callable[..., None]:
        return lambda module, args: arrived.__setitem__(node, tuple(a.detach() for a in args))

    handles = [e.register_forward_hook(record) for e in edges]
    handles += [net.items[n].register_forward_pre_hook(arrive(n)) for n in repeat_nodes]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    per_choice: dict[str, list[float]] = {}
    per_repeat: dict[str, dict[str, list[float]]] = {n: {} for n in repeat_nodes}
    with torch.no_grad():
        net.ctx.weights = net.gate_weights()  # cells nested in candidates read their gates
        try:
            for edge in edges:
                acc = per_choice.setdefault(edge.key, [0.0] * len(edge.candidates))
                own = (
                    per_repeat[node_of[id(edge)]].setdefault(edge.key, [0.0] * len(edge.candidates))
                    if id(edge) in node_of
                    else None
                )
                inp = seen[id(edge)][0]
                for i in edge.active:
                    cand = edge.candidates[i]
                    ms = _median_ms(lambda c=cand, x=inp: c(x), device, repeats, warmup)
                    acc[i] += ms
                    if own is not None:
                        own[i] += ms
        finally:
            net.ctx.weights = {}
        for edge in edges:  # the rest of the network: every choice answers with its recorded output
            edge.forward = (lambda out: lambda *_a, **_k: out)(seen[id(edge)][1])  # type: ignore[method-assign]
        # the choices answer with their records; a searched depth's mixture still mixes (its time is fixed)
        net.fixed_weights = {k: w for k, w in net.gate_weights().items() if ir.choices[k].kind == "depth"}
        try:
            fixed = _median_ms(lambda: net(x), device, repeats, warmup)
            repeat_fixed = {
                n: _median_ms(lambda m=net.items[n], a=arrived[n]: m(*a), device, repeats, warmup) for n in repeat_nodes
            }
        finally:
            for edge in edges:
                del edge.forward
            net.fixed_weights = None
    labels = {key: ir.choices[key].labels for key in per_choice}
    return {
        "format": LATENCY_FORMAT,
        "space": ir.space.name,
        "input_shape": list(ir.input_shape),
        "classes": ir.classes,
        "device": device.type,
        "device_name": _device_name(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "batch": batch,
        "repeats": repeats,
        "warmup": warmup,
        "unit": "ms per batch (median)",
        "fixed": fixed,
        "choices": {key: dict(zip(labels[key], times)) for key, times in per_choice.items()},
        # a searched depth's repeats, each on its own (part of the totals above): the expected latency over depths
        "depth_repeats": {
            n: {
                "fixed": repeat_fixed[n],
                "choices": {key: dict(zip(labels[key], times)) for key, times in per_repeat[n].items()},
            }
            for n in repeat_nodes
        },
    }


def _top_level_keys(ir: NetworkIR) -> list[str]:
    """Choice keys on the edges of the cells the macro network runs (the keys every cost lists)."""
    keys: list[str] = []
    for node in ir.order():
        data = ir.macro.nodes[node]
        if data.cell_key is None:
            continue
        for d in ir.cells[data.cell_key].edges.values():
            if d.choice is not None and d.choice not in keys:
                keys.append(d.choice)
    return keys


def latency_costs(ir: NetworkIR, table: str | Path | Mapping[str, Any]) -> Costs:
    """Read a latency table (a path or the loaded JSON) and check that it was measured for this IR."""
    return _latency_table(ir, table)[0]


def _latency_table(ir: NetworkIR, table: str | Path | Mapping[str, Any]) -> tuple[Costs, Mapping[str, Any], str]:
    """(the costs, the table, where it came from), checked against this IR."""
    where = "<latency table>"
    if not isinstance(table, Mapping):
        where = str(table)
        try:
            table = json.loads(read_text(table, "latency table", missing_ok=True))
        except FileNotFoundError:
            raise fail(
                f"no latency table {where}", where, f"measure one for this space: dasdsl profile SPACE -o {where}"
            ) from None
        except (OSError, ValueError) as exc:
            raise fail(f"cannot read latency table {where}: {exc}", where, _MEASURE_AGAIN) from None
    if not isinstance(table, Mapping) or table.get("format") != LATENCY_FORMAT:
        raise fail(f"{where} is not a dasdsl latency table (format {LATENCY_FORMAT})", where, _MEASURE_AGAIN)
    measured = (list(table.get("input_shape", [])), table.get("classes"))
    if measured != (list(ir.input_shape), ir.classes):
        shape = shape_text(table.get("input_shape", []))
        raise fail(
            f"latency table {where} was measured for input {shape} and {table.get('classes')} classes, "
            f"the search runs on {shape_text(ir.input_shape)} and {ir.classes} classes",
            where,
            _MEASURE_AGAIN,
        )
    choices = table.get("choices")
    if not isinstance(choices, Mapping):
        raise fail(f"latency table {where} has no 'choices'", where, _MEASURE_AGAIN)
    per_choice: dict[str, tuple[float, ...]] = {}
    for key in _top_level_keys(ir):
        row = choices.get(key)
        if not isinstance(row, Mapping):
            raise fail(f"latency table {where} has no entry for choice '{key}'", where, _MEASURE_AGAIN)
        missing = [label for label in ir.choices[key].labels if label not in row]
        if missing:
            raise fail(
                f"latency table {where} has no time for {', '.join(missing)} on choice '{key}'", where, _MEASURE_AGAIN
            )
        per_choice[key] = tuple(float(row[label]) for label in ir.choices[key].labels)
    extra = sorted(set(choices) - set(per_choice))
    if extra:
        raise fail(f"latency table {where} has choices this space lacks: {', '.join(extra)}", where, _MEASURE_AGAIN)
    return (float(table.get("fixed", 0.0)), per_choice), table, where


def costs(ir: NetworkIR, measure: str, table: str | Path | Mapping[str, Any] | None = None) -> Costs:
    """``(fixed cost, {choice key: cost of each candidate, summed over all instances})`` for
    ``params`` (parameters), ``flops`` (MACs of conv and linear layers per sample) or ``latency``
    (ms per batch, read from ``table``, a file written by ``dasdsl profile`` or its loaded JSON)."""
    if measure == "params":
        fixed, per = candidate_params(ir)
    elif measure == "flops":
        fixed, per = candidate_flops(ir)
    elif measure == "latency":
        if table is None:
            raise fail(
                "the latency cost needs a latency table",
                "<search settings>",
                'measure one with dasdsl profile SPACE -o latency.json, then --set latency_table="latency.json"',
            )
        return latency_costs(ir, table)
    else:
        raise ValueError(f"unknown cost measure {measure!r}; expected one of {', '.join(MEASURES)}")
    return fixed, {k: tuple(v) for k, v in per.items()}


def extremes(ir: NetworkIR, fixed: float, per_choice: Mapping[str, Sequence[float]]) -> tuple[float, float]:
    """Cost of the cheapest and of the most expensive discrete architecture.

    A node without ``keep`` takes one candidate per edge (``none`` included); a node
    with ``keep k`` keeps its k cheapest (dearest) edges, never with ``none``.
    """
    smallest = largest = fixed
    for node_keys in ir.choices_by_node().values():
        # choices of cells used as candidates are inside their outer candidate
        keys = [key for key in node_keys if key in per_choice]
        if not keys:
            continue
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
    return smallest, largest


def param_summary(ir: NetworkIR) -> ParamSummary:
    with torch.device("meta"):
        supernet, shared = Supernet(ir, fuse=False), Supernet(ir, share_values=True, fuse=False)
    supernet_params, shared_params = (sum(p.numel() for p in n.weight_parameters()) for n in (supernet, shared))
    fixed, per_choice = candidate_params(ir)
    smallest, largest = (round(x) for x in depth_extremes(ir, fixed, per_choice, repeat_costs(ir, "params")))
    per = {k: tuple(v) for k, v in per_choice.items()}
    return ParamSummary(supernet_params, shared_params, smallest, largest, per)
