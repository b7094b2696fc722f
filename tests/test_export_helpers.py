"""The exported file's helper classes (Zero, FactorizedReduce, ResBlock, GlobalAvgPool) are copied from
dasdsl.ops.modules: each copy, built from a module made the way the compiler makes it, has that module's
state-dict keys and computes what it computes (outputs, batch-norm statistics, gradients; train and eval
mode; random inputs of several shapes, strides and widths), in Python and under TorchScript."""

from __future__ import annotations

import importlib.util
import inspect
import random
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from dasdsl.compiler import export
from dasdsl.ops import modules as ops_modules
from dasdsl.ops import registry
from dasdsl.ops.shapes import ShapeError

Build = Callable[[random.Random], tuple[nn.Module, tuple[int, ...]]]


def _op(name: str, rank: int, stride: int, args: dict[str, int] | None = None) -> Build:
    """The op ``name`` built as the compiler builds it for a fixed network (affine batch norms), on an input
    of random width and size, odd sizes included: (module, input shape without the batch); an ``args`` value 0
    is a random width."""

    op = registry.get(name)

    def build(rng: random.Random) -> tuple[nn.Module, tuple[int, ...]]:
        while True:  # an input the op's shape rule takes, as the checker would have required
            sizes = [rng.randint(2, 9) for _ in range(rank)]
            shape = (2 * rng.randint(1, 6), *sizes)
            kwargs = {k: (2 * rng.randint(1, 6) if v == 0 else v) for k, v in (args or {}).items()}
            try:
                op.output_shape(shape, stride, kwargs)
            except ShapeError:
                continue
            return op.build(shape, stride, kwargs, affine=True), shape

    return build


def _adapter(kind: str, rank: int, affine: bool) -> Build:
    """An adapter the compiler inserts (``build_adapter``), between random widths."""

    def build(rng: random.Random) -> tuple[nn.Module, tuple[int, ...]]:
        c_in, c_out = rng.randint(1, 9), 2 * rng.randint(1, 6)
        shape = (c_in, *(2 * rng.randint(1, 5) for _ in range(rank)))  # even sizes, as reduce_shape requires
        return ops_modules.build_adapter(kind, c_in, c_out, rank, affine), shape

    return build


def _same_width(rng: random.Random) -> tuple[nn.Module, tuple[int, ...]]:
    """A stride-1 resblock to its own width: the identity shortcut."""
    c = 2 * rng.randint(1, 6)
    shape = (c, rng.randint(2, 9), rng.randint(2, 9))
    return registry.get("resblock").build(shape, 1, {"out": c, "stride": 1}, affine=True), shape


CASES: dict[str, Build] = {
    **{f"none-rank{r}-stride{s}": _op("none", r, s) for r in (0, 1, 2) for s in (1, 2) if r or s == 1},
    **{f"skip-rank{r}-stride2": _op("skip", r, 2) for r in (1, 2)},
    **{f"reduce-rank{r}-affine{a}": _adapter("reduce", r, a) for r in (1, 2) for a in (True, False)},
    **{f"resblock-rank{r}-stride{s}": _op("resblock", r, 1, {"out": 0, "stride": s}) for r in (1, 2) for s in (1, 2)},
    "resblock-same-width": _same_width,
    **{f"global_avg_pool-rank{r}": _op("global_avg_pool", r, 1) for r in (1, 2)},
}


def _copied(classes: set[type]) -> set[type]:
    return {c for c in classes if c.__module__ == ops_modules.__name__ and "export_values" in vars(c)}


def _exported(module: nn.Module, folder: Path) -> nn.Module:
    """``module`` as the exported file writes it (its helper classes, then the expression), imported from a
    file that imports only torch (TorchScript reads its source from there)."""
    w = export._Writer()
    expr = w.expr(module)
    source = "\n\n\n".join(
        ["from __future__ import annotations\n\nimport torch\nfrom torch import nn", *w.helper_sources()]
    )
    source += f"\n\n\nMODULE = {expr}\n"
    assert "dasdsl" not in source and "import" not in source.split("from torch import nn", 1)[1]
    path = folder / f"helper_{abs(hash(source))}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded.MODULE


def _randomize(module: nn.Module, g: torch.Generator) -> None:
    """Random weights and batch-norm statistics, so that every part shows in the output."""
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                t.copy_(
                    torch.rand(t.shape, generator=g) + 0.5
                    if "running_var" in name
                    else torch.randn(t.shape, generator=g)
                )


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    """Equal up to float32 summation order (dasdsl's convolutions take faster paths than torch's own)."""
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_exported_helpers_behave_as_the_modules_of_ops(case: str, tmp_path: Path) -> None:
    rng = random.Random(case)
    g = torch.Generator().manual_seed(len(case))
    for _ in range(3):
        ours, shape = CASES[case](rng)
        _randomize(ours, g)
        theirs = _exported(ours, tmp_path)
        assert [(k, v.shape) for k, v in theirs.state_dict().items()] == [
            (k, v.shape) for k, v in ours.state_dict().items()
        ]
        theirs.load_state_dict(ours.state_dict())
        x = torch.randn(rng.randint(2, 5), *shape, generator=g)
        for mode in ("train", "eval"):
            ours.train(mode == "train")
            theirs.train(mode == "train")
            xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
            ya, yb = ours(xa), theirs(xb)
            _close(yb, ya)
            weight = torch.randn(ya.shape, generator=g)
            (ya * weight).sum().backward()
            (yb * weight).sum().backward()
            assert xa.grad is not None and xb.grad is not None
            _close(xb.grad, xa.grad)
            for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
                assert p.grad is not None and q.grad is not None, name
                _close(q.grad, p.grad)
            for (_, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items(), strict=True):
                _close(b, a)  # the batch norms' running statistics after a training step
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.10+ deprecates TorchScript
            script = torch.jit.script(theirs.eval())  # with the statistics of the step
        ours.eval()
        with torch.no_grad():
            _close(script(x), ours(x))


def test_every_module_class_of_ops_is_exported_and_tested() -> None:
    """A class added to dasdsl.ops.modules is either a torch module the exporter spells out or a copied
    helper (``export_values``), and then it has a case above: the copy cannot go untested."""
    classes = {c for c in vars(ops_modules).values() if inspect.isclass(c) and issubclass(c, nn.Module)}
    spelled = {c for c in classes if any(issubclass(c, base) for base, _ in export.TORCH_ARGS)}
    helpers = _copied(classes)
    assert classes == spelled | helpers, classes - spelled - helpers
    rng = random.Random(0)
    built = {type(m) for build in CASES.values() for m in build(rng)[0].modules()}
    assert helpers <= built, helpers - built
    assert {c.__name__ for c in helpers} == {"Zero", "FactorizedReduce", "ResBlock", "GlobalAvgPool"}


def test_a_copied_helper_is_its_source_in_ops() -> None:
    """The exported class carries the forward of dasdsl.ops.modules word for word, and its docstring's summary."""
    source = export.helper_source(ops_modules.Zero, ())
    forward = inspect.getsource(ops_modules.Zero.forward)
    assert source.endswith(forward)
    assert source.startswith(
        'class Zero(nn.Module):\n    """`none`: zeros of the output shape (every `stride`-th position under a '
        'stride)."""\n\n    def __init__(self, stride: int) -> None:\n        super().__init__()\n'
        "        self.stride = stride\n\n    def forward("
    )
