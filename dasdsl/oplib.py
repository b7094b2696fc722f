"""Signatures of the built-in ops (no torch here): argument names, types, defaults, input kinds.

The checker validates calls against these; the compiler (dasdsl.lower) holds the
torch modules, and plugins add both through dasdsl.registry.
"""

from __future__ import annotations

import attrs

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


def lookup(name: str) -> OpSpec | None:
    """A built-in or plugin op's spec, or None."""
    if name in BUILTIN_SPECS:
        return BUILTIN_SPECS[name]
    from dasdsl import registry

    plugin = registry.get(name)
    return plugin.spec if plugin is not None else None


def known_names() -> list[str]:
    from dasdsl import registry

    return sorted(set(BUILTIN_SPECS) | set(registry.names()))
