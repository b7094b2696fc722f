"""The op registry: one record (:class:`OpDef`) per op, built-in or plugin, in one dict.

An op's record is everything the pipeline knows of it: its signature and the input kinds it
accepts (for the checker), its shape rule (for the IR), its torch builder (for the lowering),
an optional cost hook, and flags for the few roles other code reads (``zero``: the op that
contributes nothing, ``identity``: the op that passes its input on).

Built-in ops (:mod:`dasdsl.ops.builtin`) and plugin ops (``@dasdsl.op`` in a user module) are
registered the same way: a module that calls :func:`register` (through :func:`define` or
:func:`op`) when it is imported. The registry loads the built-in module the way it loads plugin
modules, by name, on first use (:func:`_ensure_builtins`): ``builtin`` imports ``registry``,
and ``registry`` never imports ``builtin`` statically, so the import graph has no cycle and
every lookup still sees the built-ins.

No torch here: ``dasdsl check`` imports this module, and must stay light (the built-in
module imports torch only inside its builders).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from dasdsl.errors import Span, did_you_mean, fail
from dasdsl.ops.shapes import Shape

REQUIRED = object()

SPATIAL = frozenset({"image", "sequence"})
ALL_KINDS = frozenset({"image", "sequence", "vector"})

ShapeRule = Callable[[Shape, int, dict[str, Any]], Shape]

BUILTIN_MODULE = "dasdsl.ops.builtin"


@attrs.frozen
class Param:
    """An op parameter: ``type`` is "int", "float" or "any"; an "int" must be positive (or, with
    ``positive=False``, non-negative); a number with ``bounds=(lo, hi)`` must lie in [lo, hi)."""

    name: str
    type: str  # "int" | "float" | "any"
    default: object = REQUIRED
    positive: bool = True
    bounds: tuple[float, float] | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def same_shape(shape: Shape, stride: int, args: dict[str, Any]) -> Shape:
    """The default shape rule: the output has the input's shape."""
    return shape


@attrs.frozen
class OpDef:
    """One op, built in or plugin.

    ``output_shape(shape_in, stride, args) -> shape`` and
    ``build(shape_in, stride, args, affine=...) -> nn.Module`` take shapes as (C, *spatial);
    ``stride`` comes from the context (a cell's input stride), ``args`` are the checked arguments.
    ``cost(shape_in, stride, args) -> {measure: value}`` is an optional hook (built-ins have none:
    their costs are measured on the built module).
    ``plugin``: the lowering wraps the module in a shape guard and reports a failed build as a
    user error. ``zero``/``identity``: the op is ``none``/``skip``. ``what``: what the checker
    calls a spatial-only op given the wrong input kind ("pooling" or "a spatial op").
    """

    name: str
    output_shape: ShapeRule = attrs.field(repr=False)
    build: Callable[..., Any] = attrs.field(repr=False)
    params: tuple[Param, ...] = ()
    kinds: frozenset[str] = ALL_KINDS
    doc: str = ""
    cost: Callable[..., dict[str, float]] | None = attrs.field(default=None, repr=False)
    plugin: bool = True
    zero: bool = False
    identity: bool = False
    what: str = "a spatial op"

    @property
    def spatial_only(self) -> bool:
        return "vector" not in self.kinds


_REGISTRY: dict[str, OpDef] = {}
_builtins_loaded = False


def _ensure_builtins() -> None:
    """Import the built-in ops' module once, by name like a plugin module (see the module docstring)."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True  # before the import: its own register() calls come back here
    try:
        importlib.import_module(BUILTIN_MODULE)
    except BaseException:
        _builtins_loaded = False
        raise


def register(opdef: OpDef) -> OpDef:
    """Add an op to the registry; a name already taken raises ValueError."""
    _ensure_builtins()
    name = opdef.name
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not opdef:
        if not existing.plugin:
            raise ValueError(f"op {name!r} is built in and cannot be registered again")
        raise ValueError(f"op {name!r} is already registered")
    _REGISTRY[name] = opdef
    return opdef


def define(
    name: str,
    *,
    output_shape: ShapeRule = same_shape,
    params: Iterable[Param] = (),
    kinds: Iterable[str] = ALL_KINDS,
    doc: str = "",
    cost: Callable[..., dict[str, float]] | None = None,
    plugin: bool = True,
    zero: bool = False,
    identity: bool = False,
    what: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register the decorated builder as op ``name`` (its docstring is the doc if ``doc`` is empty).

    The one way ops get defined: :func:`op` (plugins) and :mod:`dasdsl.ops.builtin` both use it.
    ``what`` defaults by name, as the checker always has: "pooling" if the name has "pool" in it."""

    def decorate(build: Callable[..., Any]) -> Callable[..., Any]:
        opdef = OpDef(
            name,
            output_shape,
            build,
            tuple(params),
            frozenset(kinds),
            doc or (build.__doc__ or "").strip(),
            cost,
            plugin,
            zero,
            identity,
            what if what is not None else ("pooling" if "pool" in name else "a spatial op"),
        )
        register(opdef)
        return build

    return decorate


def op(
    name: str,
    *,
    params: tuple[Param, ...] | list[Param] = (),
    kinds: tuple[str, ...] = ("image", "sequence", "vector"),
    output_shape: ShapeRule | None = None,
    cost: Callable[..., dict[str, float]] | None = None,
    doc: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: ``@dasdsl.op("mbconv", params=[Param("k", "int")], output_shape=...)`` on a builder."""
    return define(name, output_shape=output_shape or same_shape, params=params, kinds=kinds, doc=doc, cost=cost)


def load_plugins(modules: list[str] | tuple[str, ...], span: Span | None = None) -> None:
    """Import plugin modules; a module that fails to import is a user error, not a traceback."""
    _ensure_builtins()  # first, so that a plugin reusing a built-in name is told so
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:
            where = span or Span.unknown("<command line>")
            raise fail(
                f"plugin module {module!r} failed to import: {type(exc).__name__}: {exc}",
                where,
                "check that the module is on PYTHONPATH",
            ) from None


def lookup(name: str) -> OpDef | None:
    """A built-in or plugin op's record, or None."""
    _ensure_builtins()
    return _REGISTRY.get(name)


def get(name: str) -> OpDef:
    """A built-in or plugin op's record; an unknown name raises KeyError (with "did you mean")."""
    opdef = lookup(name)
    if opdef is None:
        hint = did_you_mean(name, _REGISTRY)
        raise KeyError(f"unknown op {name!r}" + (f"; {hint}" if hint else ""))
    return opdef


def known_names() -> list[str]:
    _ensure_builtins()
    return sorted(_REGISTRY)


def is_zero(name: str) -> bool:
    """Whether ``name`` is the zero op (``none``)."""
    opdef = lookup(name)
    return opdef is not None and opdef.zero


def is_identity(name: str) -> bool:
    """Whether ``name`` is the identity op (``skip``)."""
    opdef = lookup(name)
    return opdef is not None and opdef.identity
