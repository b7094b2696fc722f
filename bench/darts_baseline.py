"""A hand-written DARTS search supernet and architect, the baseline that bench/step_bench.py times dasdsl against.

Written in the style of the DARTS reference code (quark0/darts, ``model_search.py`` and
``architect.py``), not copied from it: an ``OPS`` dict, a ``MixedOp`` that sums every op,
``none`` included, under its softmax weight, cells of 4 steps concatenating the last 4 states,
reduction cells at 1/3 and 2/3 of the depth, and an ``Architect`` whose second-order step
deep-copies the model (``new`` + ``_construct_model_from_theta``), takes the virtual SGD step
with momentum and weight decay, and estimates the Hessian-vector product by central finite
differences with R = 0.01 / ||v||.

Conventions shared with dasdsl's ``spaces/darts.das``, so that both compute the same function:
BatchNorm without affine parameters inside cells, an affine BatchNorm in the stem. One
difference from the reference code: DARTS' ``MixedOp`` appends ``BatchNorm2d(C, affine=False)``
to the pooling ops; ``spaces/darts.das`` has plain pooling candidates, so the baseline has too
(``POOL_BN`` documents the choice; it adds no parameters either way).

The second half maps a baseline's tensors onto a dasdsl supernet by structure (cells in order,
edges in DARTS order, ops by name) and checks every shape, so that a benchmark compares the
same mathematics.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

ROOT = Path(__file__).resolve().parent.parent

PRIMITIVES = [
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
]
POOL_BN = False  # DARTS' reference MixedOp has True; spaces/darts.das has no BN after pooling

# -- ops (DARTS operations.py)


class ReLUConvBN(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int, affine: bool = True
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride, padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, padding=0, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride, padding, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, 1, padding=0, bias=False),
            nn.BatchNorm2d(c_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, 1, padding, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, padding=0, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Zero(nn.Module):
    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        assert c_out % 2 == 0
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


OPS = {
    "none": lambda c, stride, affine: Zero(stride),
    "avg_pool_3x3": lambda c, stride, affine: nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False),
    "max_pool_3x3": lambda c, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
    "skip_connect": lambda c, stride, affine: Identity() if stride == 1 else FactorizedReduce(c, c, affine=affine),
    "sep_conv_3x3": lambda c, stride, affine: SepConv(c, c, 3, stride, 1, affine=affine),
    "sep_conv_5x5": lambda c, stride, affine: SepConv(c, c, 5, stride, 2, affine=affine),
    "dil_conv_3x3": lambda c, stride, affine: DilConv(c, c, 3, stride, 2, 2, affine=affine),
    "dil_conv_5x5": lambda c, stride, affine: DilConv(c, c, 5, stride, 4, 2, affine=affine),
}

# -- the search network (DARTS model_search.py)


class MixedOp(nn.Module):
    """sum over all primitives of weight * op(x); ``none`` is computed (zeros) and weighted like the rest."""

    def __init__(self, c: int, stride: int) -> None:
        super().__init__()
        self._ops = nn.ModuleList()
        for primitive in PRIMITIVES:
            op = OPS[primitive](c, stride, False)
            if POOL_BN and "pool" in primitive:
                op = nn.Sequential(op, nn.BatchNorm2d(c, affine=False))
            self._ops.append(op)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self._ops))


class Cell(nn.Module):
    def __init__(
        self,
        steps: int,
        multiplier: int,
        c_prev_prev: int,
        c_prev: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, c, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, c, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, 1, 0, affine=False)
        self._steps = steps
        self._multiplier = multiplier
        self._ops = nn.ModuleList()
        for i in range(steps):
            for j in range(2 + i):
                stride = 2 if reduction and j < 2 else 1
                self._ops.append(MixedOp(c, stride))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self._steps):
            s = sum(self._ops[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        return torch.cat(states[-self._multiplier :], dim=1)


class Network(nn.Module):
    """The DARTS search network; ``alphas_normal`` / ``alphas_reduce`` are not module parameters,
    so ``parameters()`` are the weights only, as in the reference code."""

    def __init__(
        self,
        c: int,
        num_classes: int,
        layers: int,
        criterion: nn.Module,
        steps: int = 4,
        multiplier: int = 4,
        stem_multiplier: int = 3,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self._C = c
        self._num_classes = num_classes
        self._layers = layers
        self._criterion = criterion
        self._steps = steps
        self._multiplier = multiplier
        self._stem_multiplier = stem_multiplier
        self._in_channels = in_channels

        c_curr = stem_multiplier * c
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_curr),
        )
        c_prev_prev, c_prev, c_curr = c_curr, c_curr, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            if i in (layers // 3, 2 * layers // 3):
                c_curr *= 2
                reduction = True
            else:
                reduction = False
            cell = Cell(steps, multiplier, c_prev_prev, c_prev, c_curr, reduction, reduction_prev)
            reduction_prev = reduction
            self.cells.append(cell)
            c_prev_prev, c_prev = c_prev, multiplier * c_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)
        self._initialize_alphas()

    def to_device(self, device: torch.device) -> Network:
        """The module and its alphas (plain tensors, which ``nn.Module.to`` does not move) on ``device``."""
        self.to(device)
        self.alphas_normal = self.alphas_normal.detach().to(device).requires_grad_(True)
        self.alphas_reduce = self.alphas_reduce.detach().to(device).requires_grad_(True)
        self._arch_parameters = [self.alphas_normal, self.alphas_reduce]
        return self

    def new(self) -> Network:
        model_new = Network(
            self._C,
            self._num_classes,
            self._layers,
            self._criterion,
            self._steps,
            self._multiplier,
            self._stem_multiplier,
            self._in_channels,
        )
        model_new.to_device(self.classifier.weight.device)
        for x, y in zip(model_new.arch_parameters(), self.arch_parameters()):
            x.data.copy_(y.data)
        return model_new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            alphas = self.alphas_reduce if cell.reduction else self.alphas_normal
            weights = F.softmax(alphas, dim=-1)
            s0, s1 = s1, cell(s0, s1, weights)
        out = self.global_pooling(s1)
        return self.classifier(out.view(out.size(0), -1))

    def _loss(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self._criterion(self(x), target)

    def _initialize_alphas(self) -> None:
        k = sum(2 + i for i in range(self._steps))
        self.alphas_normal = (1e-3 * torch.randn(k, len(PRIMITIVES))).requires_grad_(True)
        self.alphas_reduce = (1e-3 * torch.randn(k, len(PRIMITIVES))).requires_grad_(True)
        self._arch_parameters = [self.alphas_normal, self.alphas_reduce]

    def arch_parameters(self) -> list[torch.Tensor]:
        return self._arch_parameters


# -- the bilevel steps (DARTS train_search.py and architect.py)


def _concat(xs) -> torch.Tensor:
    return torch.cat([x.view(-1) for x in xs])


class Architect:
    def __init__(
        self,
        model: Network,
        momentum: float = 0.9,
        weight_decay: float = 3e-4,
        arch_lr: float = 3e-4,
        arch_betas: tuple[float, float] = (0.5, 0.999),
        arch_weight_decay: float = 1e-3,
    ) -> None:
        self.network_momentum = momentum
        self.network_weight_decay = weight_decay
        self.model = model
        self.optimizer = torch.optim.Adam(
            self.model.arch_parameters(), lr=arch_lr, betas=arch_betas, weight_decay=arch_weight_decay
        )

    def step(self, input_train, target_train, input_valid, target_valid, eta, network_optimizer, unrolled) -> None:
        self.backward(input_train, target_train, input_valid, target_valid, eta, network_optimizer, unrolled)
        self.optimizer.step()

    def backward(self, input_train, target_train, input_valid, target_valid, eta, network_optimizer, unrolled) -> None:
        """The hypergradient into the alphas' ``.grad`` (``step`` without the Adam update)."""
        self.optimizer.zero_grad()
        if unrolled:
            self._backward_step_unrolled(input_train, target_train, input_valid, target_valid, eta, network_optimizer)
        else:
            self._backward_step(input_valid, target_valid)

    def _backward_step(self, input_valid, target_valid) -> None:
        loss = self.model._loss(input_valid, target_valid)
        loss.backward()

    def _compute_unrolled_model(self, x, target, eta, network_optimizer) -> Network:
        loss = self.model._loss(x, target)
        theta = _concat(self.model.parameters()).data
        try:
            moment = _concat(network_optimizer.state[v]["momentum_buffer"] for v in self.model.parameters()).mul_(
                self.network_momentum
            )
        except KeyError:
            moment = torch.zeros_like(theta)
        dtheta = _concat(torch.autograd.grad(loss, self.model.parameters())).data + self.network_weight_decay * theta
        return self._construct_model_from_theta(theta.sub(eta * (moment + dtheta)))

    def _backward_step_unrolled(self, input_train, target_train, input_valid, target_valid, eta, network_optimizer):
        unrolled_model = self._compute_unrolled_model(input_train, target_train, eta, network_optimizer)
        unrolled_loss = unrolled_model._loss(input_valid, target_valid)
        unrolled_loss.backward()
        dalpha = [v.grad for v in unrolled_model.arch_parameters()]
        vector = [v.grad.data for v in unrolled_model.parameters()]
        implicit_grads = self._hessian_vector_product(vector, input_train, target_train)
        for g, ig in zip(dalpha, implicit_grads):
            g.data.sub_(eta * ig.data)
        for v, g in zip(self.model.arch_parameters(), dalpha):
            if v.grad is None:
                v.grad = g.data.clone()
            else:
                v.grad.data.copy_(g.data)

    def _construct_model_from_theta(self, theta: torch.Tensor) -> Network:
        model_new = self.model.new()
        model_dict = self.model.state_dict()
        params, offset = {}, 0
        for k, v in self.model.named_parameters():
            v_length = int(np.prod(v.size()))
            params[k] = theta[offset : offset + v_length].view(v.size())
            offset += v_length
        assert offset == len(theta)
        model_dict.update(params)
        model_new.load_state_dict(model_dict)
        return model_new

    def _hessian_vector_product(self, vector, x, target, r: float = 1e-2) -> list[torch.Tensor]:
        R = r / _concat(vector).norm()  # noqa: N806
        for p, v in zip(self.model.parameters(), vector):
            p.data.add_(R * v)
        loss = self.model._loss(x, target)
        grads_p = torch.autograd.grad(loss, self.model.arch_parameters())
        for p, v in zip(self.model.parameters(), vector):
            p.data.sub_(2 * R * v)
        loss = self.model._loss(x, target)
        grads_n = torch.autograd.grad(loss, self.model.arch_parameters())
        for p, v in zip(self.model.parameters(), vector):
            p.data.add_(R * v)
        return [(x - y).div_(2 * R) for x, y in zip(grads_p, grads_n)]


def weight_optimizer(model: Network, lr: float = 0.025, momentum: float = 0.9, weight_decay: float = 3e-4):
    return torch.optim.SGD(model.parameters(), lr, momentum=momentum, weight_decay=weight_decay)


def weight_step(model: Network, optimizer: torch.optim.Optimizer, x, target, grad_clip: float = 5.0):
    """One step of DARTS' ``train`` loop on the weights; returns (loss, accuracy)."""
    optimizer.zero_grad()
    logits = model(x)
    loss = model._criterion(logits, target)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return float(loss.detach()), float((logits.argmax(1) == target).float().mean())


# -- the same network in dasdsl, and the weight mapping


def space_text(c: int, layers: int) -> str:
    """spaces/darts.das with ``let C = c`` and ``layers`` cells, reductions at layers // 3 and 2 * layers // 3
    (the baseline's layout)."""
    text = (ROOT / "spaces" / "darts.das").read_text()
    r1, r2 = layers // 3, 2 * layers // 3
    assert 0 < r1 < r2 < layers, f"{layers} cells do not fit the DARTS layout"
    groups = [("normal(C)", r1), ("reduce(2 * C)", 1), ("normal(2 * C)", r2 - r1 - 1)]
    groups += [("reduce(4 * C)", 1), ("normal(4 * C)", layers - r2 - 1)]
    items = [name if n == 1 else f"{name} x {n}" for name, n in groups if n > 0]
    text, n_let = re.subn(r"(?m)^let C = \d+$", f"let C = {c}", text)
    text, n_cells = re.subn(r"(?m)^(\s*cells ).*$", lambda m: m.group(1) + ", ".join(items), text)
    assert n_let == 1 and n_cells == 1, "spaces/darts.das no longer has one 'let C' and one 'cells' line"
    return text


def dasdsl_space(c: int, layers: int):
    """The checked dasdsl space of the baseline's layout; C=16 with 8 cells is spaces/darts.das itself."""
    import dasdsl

    if (c, layers) == (16, 8):
        return dasdsl.load(ROOT / "spaces" / "darts.das")
    return dasdsl.loads(space_text(c, layers), f"darts_C{c}_L{layers}.das")


# dasdsl's candidate labels in spaces/darts.das -> DARTS primitive names
LABELS = {
    "none": "none",
    "skip": "skip_connect",
    "max_pool(3)": "max_pool_3x3",
    "avg_pool(3)": "avg_pool_3x3",
    "sep_conv(3)": "sep_conv_3x3",
    "sep_conv(5)": "sep_conv_5x5",
    "dil_conv(3, dilation = 2)": "dil_conv_3x3",
    "dil_conv(5, dilation = 2)": "dil_conv_5x5",
}


def _state_pairs(prefix_b: str, mod_b: nn.Module, prefix_d: str, mod_d: nn.Module) -> dict[str, str]:
    """Baseline -> dasdsl names of two modules of the same structure; the baseline's ``op.`` wrapper
    (ReLUConvBN, SepConv, DilConv) is the only allowed difference in local names."""
    local_b = {re.sub(r"^op\.", "", k): k for k in mod_b.state_dict()}
    sd_d = mod_d.state_dict()
    assert set(local_b) == set(sd_d), f"{prefix_b} vs {prefix_d}: {sorted(local_b)} != {sorted(sd_d)}"
    sd_b = mod_b.state_dict()
    out = {}
    for local, name_b in local_b.items():
        assert sd_b[name_b].shape == sd_d[local].shape, f"{prefix_b}{name_b}: shape differs from {prefix_d}{local}"
        out[prefix_b + name_b] = prefix_d + local
    return out


def _cells(supernet) -> list[tuple[str, Any]]:
    from dasdsl.compiler.lower import CellModule

    return [(name, m) for name, m in supernet.items.items() if isinstance(m, CellModule)]


def _cell_type(cell) -> str:
    from dasdsl.compiler.lower import MixedEdge

    types = {e.key.split(":")[0] for e in cell.edges.values() if isinstance(e, MixedEdge)}
    assert len(types) == 1, types
    return types.pop()


def _edge_names(steps: int) -> list[tuple[str, str]]:
    """DARTS edge order: node i's edges from s0, s1, n0, ..., n(i-1); as (source, node) names of dasdsl."""
    return [(src, f"n{i}") for i in range(steps) for src in ["s0", "s1", *(f"n{k}" for k in range(i))]]


def weight_mapping(baseline: Network, supernet, ir) -> tuple[dict[str, str], dict[str, list[int]]]:
    """(baseline state_dict name -> supernet state_dict name, alpha map).

    The alpha map sends ``"normal"`` / ``"reduce"`` to the index in ``supernet.alphas`` of each baseline
    row (edge), and ``"columns"`` to the dasdsl candidate index of each baseline column (PRIMITIVES).
    Every tensor of both sides is paired exactly once, with equal shapes.
    """
    from dasdsl.compiler.lower import MixedEdge

    names: dict[str, str] = {}
    stem = supernet.items["stem"]
    assert len(stem) == 1 and len(stem[0]) == 2, "expected a conv_bn stem"
    names.update(_state_pairs("stem.", baseline.stem, "items.stem.0.", stem[0]))
    head = supernet.items["head"]
    assert isinstance(head[-1], nn.Linear), "expected a linear classifier last in the head"
    names.update(_state_pairs("classifier.", baseline.classifier, f"items.head.{len(head) - 1}.", head[-1]))

    cells = _cells(supernet)
    assert len(cells) == len(baseline.cells), f"{len(cells)} dasdsl cells, {len(baseline.cells)} baseline cells"
    edges = _edge_names(baseline._steps)
    columns: list[int] | None = None
    for i, (cell_b, (key, cell_d)) in enumerate(zip(baseline.cells, cells)):
        kind = _cell_type(cell_d)
        assert kind == ("reduce" if cell_b.reduction else "normal"), f"cell {i}: dasdsl {kind}, baseline differs"
        assert cell_d.inputs == ["s0", "s1"], cell_d.inputs
        for j in range(2):
            names.update(
                _state_pairs(
                    f"cells.{i}.preprocess{j}.",
                    getattr(cell_b, f"preprocess{j}"),
                    f"items.{key}.preprocess.{j}.",
                    cell_d.preprocess[j],
                )
            )
        assert len(cell_b._ops) == len(edges) == len(cell_d.edges)
        for k, (src, node) in enumerate(edges):
            edge = cell_d.edges[f"{src}->{node}"]
            assert isinstance(edge, MixedEdge) and edge.key == f"{kind}:{src}->{node}", edge
            labels = [LABELS[label] for label in ir.choices[edge.key].labels]
            assert sorted(labels) == sorted(PRIMITIVES), labels
            cols = [labels.index(p) for p in PRIMITIVES]
            assert columns in (None, cols)
            columns = cols
            for p, c in enumerate(cols):
                names.update(
                    _state_pairs(
                        f"cells.{i}._ops.{k}._ops.{p}.",
                        cell_b._ops[k]._ops[p],
                        f"items.{key}.edges.{src}->{node}.candidates.{c}.",
                        edge.candidates[c],
                    )
                )
    sd_b, sd_d = baseline.state_dict(), supernet.state_dict()
    assert set(names) == set(sd_b), sorted(set(sd_b) - set(names))[:5]
    unpaired = set(sd_d) - set(names.values()) - {n for n in sd_d if n.startswith("alphas.")}
    assert not unpaired and len(set(names.values())) == len(names), sorted(unpaired)[:5]
    keys = supernet.choice_keys
    alphas = {kind: [keys.index(f"{kind}:{src}->{node}") for src, node in edges] for kind in ("normal", "reduce")}
    assert sorted(alphas["normal"] + alphas["reduce"]) == list(range(len(keys))), "alphas not paired one to one"
    alphas["columns"] = columns
    return names, alphas


@torch.no_grad()
def copy_into_dasdsl(baseline: Network, supernet, ir) -> None:
    """Copy the baseline's weights, BN statistics and alphas into the supernet."""
    names, alphas = weight_mapping(baseline, supernet, ir)
    sd_b, sd_d = baseline.state_dict(), supernet.state_dict()
    for name_b, name_d in names.items():
        sd_d[name_d].copy_(sd_b[name_b])
    cols = alphas["columns"]
    for kind, rows in (("normal", baseline.alphas_normal), ("reduce", baseline.alphas_reduce)):
        for k, index in enumerate(alphas[kind]):
            supernet.alphas[index][cols] = rows[k]


def alphas_as_baseline(values: list[torch.Tensor], supernet, ir, baseline: Network) -> list[torch.Tensor]:
    """dasdsl per-choice tensors (alphas or their gradients) laid out as the baseline's (normal, reduce)."""
    _, alphas = weight_mapping(baseline, supernet, ir)
    cols = alphas["columns"]
    return [torch.stack([values[i][cols] for i in alphas[kind]]) for kind in ("normal", "reduce")]


def count_weights(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
