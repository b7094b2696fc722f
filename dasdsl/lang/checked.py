"""The checked space and its parts: what the checker hands to the compiler (names resolved, cells instantiated)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from dasdsl.errors import Diagnostic, Span
from dasdsl.lang import ast
from dasdsl.lang.printer import format_op
from dasdsl.ops import registry


class Unknown:
    """A value known only at compile time (``classes``) or a cell parameter checked symbolically."""

    def __init__(self, why: str) -> None:
        self.why = why

    def __repr__(self) -> str:
        return f"<{self.why}>"


class ClassesArg(Unknown):
    """An op argument whose expression reads ``classes``, left unknown by the checker: what binding the data's
    class count (``dasdsl.lang.classes.bind_classes``) evaluates and checks, with no checker to run.

    It stands in the op's ``OpRef.args`` as the value the checker found (``why`` as that value's). ``arg`` is
    the argument as written, ``param`` the op's parameter it binds (its type and bounds are checked), ``env``
    the names in scope there (constants, then the cell's or op's parameters), ``what`` the op as the checker's
    messages name it."""

    def __init__(self, why: str, arg: ast.Arg, param: registry.Param, env: Mapping[str, Any], what: str) -> None:
        super().__init__(why)
        self.arg = arg
        self.param = param
        self.env = dict(env)
        self.what = what


def instance_key(name: str, args: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The key of cell ``name`` instantiated with ``args`` (values compared by their repr, as the checker
    memoizes instances)."""
    return name, tuple(sorted((k, repr(v)) for k, v in args.items()))


@attrs.frozen
class Setting:
    """An evaluated call in the search block, e.g. ``sgd(lr = 0.025)``."""

    func: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    def kw(self) -> dict[str, Any]:
        return dict(self.kwargs)


@attrs.frozen
class Symbol:
    """A bare name in the search block (``softmax``, ``digits``, ``cosine``)."""

    name: str


@attrs.frozen
class GivenLet:
    """A value given to a ``let`` constant from outside its line: ``--let C=36``, ``Space.let(C=36)`` or the
    train block's ``let C = 36``. ``origin`` says where, for the notes on the errors it causes."""

    value: int | float
    origin: str


@attrs.frozen
class RangeValue:
    start: Any
    end: Any


# ---- checked structures ----------------------------------------------------------------


@attrs.frozen
class OpRef:
    """One resolved op (or nested cell) with its arguments by name."""

    name: str
    args: tuple[tuple[str, Any], ...]
    span: Span = attrs.field(eq=False, repr=False)
    is_cell: bool = False

    def arg(self, name: str, default: Any = None) -> Any:
        return dict(self.args).get(name, default)


@attrs.frozen
class Candidate:
    """A candidate on an edge: a chain of op steps (composite ops expanded)."""

    steps: tuple[OpRef, ...]
    source: ast.OpExpr = attrs.field(eq=False, repr=False)
    # the expansion of one op with value lists it came from (``conv(k = [3, 5])``), None for a written
    # candidate: the candidates of one group may share weights in the supernet (``share_values``)
    group: int | None = attrs.field(default=None, eq=False, repr=False)
    written: ast.OpExpr | None = attrs.field(default=None, eq=False, repr=False)  # that op, with its lists

    @property
    def label(self) -> str:
        return format_op(self.source)

    @property
    def is_none(self) -> bool:
        return len(self.steps) == 1 and registry.is_zero(self.steps[0].name)

    @property
    def is_skip(self) -> bool:
        return len(self.steps) == 1 and registry.is_identity(self.steps[0].name)

    @property
    def nested_cells(self) -> tuple[OpRef, ...]:
        return tuple(s for s in self.steps if s.is_cell)


@attrs.frozen
class Edge:
    source: str
    target: str
    candidates: tuple[Candidate, ...]
    is_choice: bool
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Node:
    name: str
    edges: tuple[Edge, ...]
    keep: int | None
    merge: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class CellInstance:
    """A cell template applied to its arguments: what the compiler lowers."""

    name: str
    type_name: str  # architecture parameters are shared by instances with the same type_name
    args: tuple[tuple[str, Any], ...]
    inputs: tuple[str, ...]
    nodes: tuple[Node, ...]  # topological order
    output: tuple[str, ...]
    output_merge: str
    input_stride: int
    unshared: bool
    span: Span = attrs.field(eq=False, repr=False)

    @property
    def edges(self) -> list[Edge]:
        return [e for n in self.nodes for e in n.edges]

    @property
    def choices(self) -> list[Edge]:
        return [e for e in self.edges if e.is_choice]

    def reaches_output(self, carries: Callable[[Edge], bool]) -> bool:
        """Whether some input reaches the output over edges that ``carries`` accepts (for a discrete
        architecture: edges kept with an op other than ``none``); a cell that fails ignores its input."""
        reached = set(self.inputs)
        for node in self.nodes:
            if any(e.source in reached and carries(e) for e in node.edges):
                reached.add(node.name)
        return any(n in reached for n in self.output)

    def structure(self) -> tuple:
        """What must agree between instances that share architecture parameters."""
        return tuple(
            (n.name, n.keep, tuple((e.source, tuple(c.label for c in e.candidates)) for e in n.edges))
            for n in self.nodes
        )


@attrs.frozen
class NetItem:
    """One element of the macro sequence: a cell instance or a plain op."""

    cell: CellInstance | None
    op: Candidate | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class DepthChoice:
    """A searched depth, ``cells block(C) x [1, 2, 3]``: the items from ``first`` on are the most repeats
    (``max(options)`` instances); the network's output after the group mixes its output after each option."""

    key: str  # its architecture parameter's key
    first: int  # index in Network.items of the group's first instance
    options: tuple[int, ...]  # the repeat counts, as written
    span: Span = attrs.field(eq=False, repr=False)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(f"x {n}" for n in self.options)


@attrs.frozen
class Network:
    stem: Candidate | None
    items: tuple[NetItem, ...]
    head: Candidate | None
    depths: tuple[DepthChoice, ...] = ()  # searched depths, in network order


@attrs.frozen
class CheckedSpace:
    """A space whose names are resolved and whose cells are instantiated for the network.

    Later stages read only this record, never the checker: the compiler the instances (``macro``,
    ``cell_types``, and ``nested`` for cells used as ops), discretization the declarations (``cell_decls``)
    and the network's repeat counts (``repeats``). ``classes`` is left unknown where the data decides it;
    ``dasdsl.lang.classes.bind_classes`` gives the space for a class count."""

    module: ast.Module
    name: str
    input_kind: str
    input_shape: tuple[int, ...] | None
    constants: dict[str, Any]
    macro: Network | None  # the network block, resolved
    cell_types: dict[str, CellInstance]  # one representative instance per architecture type
    search_block: dict[str, tuple[Any, ...]]
    warnings: tuple[Diagnostic, ...]
    train_block: dict[str, tuple[Any, ...]] = attrs.field(factory=dict)  # the train block's settings
    train_lets: dict[str, int | float] = attrs.field(factory=dict)  # its constants, applied when training
    source: str | None = None
    input_classes: int | None = None  # `input image(1, 8, 8) classes 10`; None: from the data
    # the cell declarations by name (a derived cell's `cell a = b(...)` too)
    cell_decls: Mapping[str, ast.CellDecl | ast.CellDerive] = attrs.field(factory=dict, eq=False, repr=False)
    # the `x N` of each item of the network's cells lines, in order: 1 where absent and for a searched depth
    # (whose counts are in macro.depths)
    repeats: tuple[int, ...] = attrs.field(default=(), eq=False, repr=False)
    # every cell used as an op, instantiated with the arguments it is used with (by instance_key), nested
    # cells' own nested cells included; None where an instance failed after the check (the compiler refuses it)
    nested: Mapping[tuple, CellInstance | None] = attrs.field(factory=dict, eq=False, repr=False)
    # the class count `classes` stands for (None: unknown, as the checker leaves it) and, for a bound space,
    # the space as checked, which binding another count starts from
    classes: int | None = attrs.field(default=None, eq=False, repr=False)
    # where the space reads `classes`: the op arguments that read it, in the order the checker evaluated them
    # (with the train block's constants too), and whether it reads it anywhere else (a constant, cell argument,
    # repeat count, keep, stride, value list, input size or setting: the structure depends on it)
    classes_args: tuple[ClassesArg, ...] = attrs.field(default=(), eq=False, repr=False)
    classes_elsewhere: bool = attrs.field(default=False, eq=False, repr=False)
    unbound: CheckedSpace | None = attrs.field(default=None, eq=False, repr=False)

    def instantiate(self, name: str, args: dict[str, Any]) -> CellInstance:
        """A nested cell instance (hierarchical spaces) for the compiler, as the checker instantiated it."""
        inst = self.nested.get(instance_key(name, args))
        assert inst is not None, f"cell {name}{args} was not instantiated by the checker"
        return inst
