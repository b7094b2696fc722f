"""The op registry: every op's signature (for the checker), and plugin ops' builders and shape rules.

No torch here: ``dasdsl check`` imports this module, and must stay light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import attrs

from dasdsl.errors import DasError, Span, error

REQUIRED = object()

SPATIAL = frozenset({"image", "sequence"})
ALL_KINDS = frozenset({"image", "sequence", "vector"})


@attrs.frozen
class Param:
    name: str
    type: str  # "int" | "float" | "any"
    default: object = REQUIRED
    positive: bool = True

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@attrs.frozen
class OpSpec:
    """What the checker knows of an op: its parameters and the input kinds it accepts."""

    name: str
    params: tuple[Param, ...] = ()
    kinds: frozenset[str] = ALL_KINDS
    doc: str = ""

    @property
    def spatial_only(self) -> bool:
        return "vector" not in self.kinds


def _p(name: str, type_: str = "int", default: object = REQUIRED, positive: bool = True) -> Param:
    return Param(name, type_, default, positive)


_OUT = _p("out", "int", None)

BUILTIN_SPECS: dict[str, OpSpec] = {
    s.name: s
    for s in [
        OpSpec("none", (), ALL_KINDS, "zeros of the output shape (stride-aware)"),
        OpSpec("skip", (), ALL_KINDS, "identity; under stride 2 a factorized reduce"),
        OpSpec("max_pool", (_p("k"),), SPATIAL, "max pooling, padding k//2, stride from context"),
        OpSpec("avg_pool", (_p("k"),), SPATIAL, "average pooling excluding padding, stride from context"),
        OpSpec(
            "conv",
            (_p("k"), _OUT, _p("dilation", "int", 1), _p("stride", "int", None)),
            SPATIAL,
            "ReLU -> Conv -> BN",
        ),
        OpSpec("conv_bn", (_p("k"), _OUT, _p("stride", "int", None)), SPATIAL, "Conv -> BN (stems)"),
        OpSpec(
            "resblock",
            (_p("out"), _p("stride", "int", 2)),
            SPATIAL,
            "NAS-Bench-201 residual reduction block",
        ),
        OpSpec("sep_conv", (_p("k"), _OUT), SPATIAL, "(ReLU -> depthwise k -> pointwise -> BN) twice"),
        OpSpec(
            "dil_conv",
            (_p("k"), _p("dilation", "int", 2), _OUT),
            SPATIAL,
            "ReLU -> dilated depthwise -> pointwise -> BN",
        ),
        OpSpec("linear", (_p("out"),), ALL_KINDS, "fully connected layer"),
        OpSpec("relu", (), ALL_KINDS, "ReLU"),
        OpSpec("gelu", (), ALL_KINDS, "GELU"),
        OpSpec("tanh", (), ALL_KINDS, "tanh"),
        OpSpec("bn", (), ALL_KINDS, "batch normalisation"),
        OpSpec("dropout", (_p("p", "float", 0.5, positive=False),), ALL_KINDS, "dropout with probability p"),
        OpSpec("global_avg_pool", (), SPATIAL, "mean over all positions: (C, ...) -> (C)"),
        OpSpec("widen", (_p("out"),), ALL_KINDS, "a learnable 1x1 conv (no BN) to out channels: the width adapter"),
        OpSpec("flatten", (), ALL_KINDS, "(C, ...) -> (C * ...)"),
    ]
}

ZERO_OPS = frozenset({"none"})
IDENTITY_OPS = frozenset({"skip"})


@attrs.frozen
class PluginOp:
    """A user op: its spec, a builder of its torch module, its shape rule and optional costs.

    ``build(shape_in, stride, args, affine=...) -> nn.Module`` and
    ``output_shape(shape_in, stride, args) -> shape`` take shapes as (C, *spatial).
    """

    spec: OpSpec
    build: Callable[..., Any]
    output_shape: Callable[..., tuple[int, ...]]
    cost: Callable[..., dict[str, float]] | None = None


_REGISTRY: dict[str, PluginOp] = {}


def register(plugin: PluginOp) -> None:
    name = plugin.spec.name
    if name in BUILTIN_SPECS:
        raise ValueError(f"op {name!r} is built in and cannot be registered again")
    if name in _REGISTRY and _REGISTRY[name] is not plugin:
        raise ValueError(f"op {name!r} is already registered")
    _REGISTRY[name] = plugin


def get(name: str) -> PluginOp | None:
    return _REGISTRY.get(name)


def names() -> list[str]:
    return sorted(_REGISTRY)


def op(
    name: str,
    *,
    params: tuple[Param, ...] | list[Param] = (),
    kinds: tuple[str, ...] = ("image", "sequence", "vector"),
    output_shape: Callable[..., tuple[int, ...]] | None = None,
    cost: Callable[..., dict[str, float]] | None = None,
    doc: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: ``@dasdsl.op("mbconv", params=[Param("k", "int")], output_shape=...)`` on a builder."""

    def decorate(build: Callable[..., Any]) -> Callable[..., Any]:
        shape_rule = output_shape or (lambda shape, stride, args: shape)
        spec = OpSpec(name, tuple(params), frozenset(kinds), doc or (build.__doc__ or "").strip())
        register(PluginOp(spec, build, shape_rule, cost))
        return build

    return decorate


def load_plugins(modules: list[str] | tuple[str, ...], span: Span | None = None) -> None:
    """Import plugin modules; a module that fails to import is a user error, not a traceback."""
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:
            where = span or Span.unknown("<command line>")
            raise DasError(
                [
                    error(
                        f"plugin module {module!r} failed to import: {type(exc).__name__}: {exc}",
                        where,
                        "check that the module is on PYTHONPATH",
                    )
                ]
            ) from None


def lookup(name: str) -> OpSpec | None:
    """A built-in or plugin op's spec, or None."""
    if name in BUILTIN_SPECS:
        return BUILTIN_SPECS[name]
    plugin = _REGISTRY.get(name)
    return plugin.spec if plugin is not None else None


def known_names() -> list[str]:
    return sorted(set(BUILTIN_SPECS) | set(_REGISTRY))
