"""Plugin ops registered by name from user modules (``--plugin mypkg.ops``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import attrs

from dasdsl.errors import DasError, Span, error
from dasdsl.oplib import BUILTIN_SPECS, OpSpec, Param


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
