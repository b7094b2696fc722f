"""Binding ``classes``, the data's class count, in a checked space: the op arguments that read it evaluated
and checked where the checker left them (``ClassesArg``), not the checker run again.

The checker checks a space with ``classes`` unknown and records every op argument that reads it
(``linear(classes)``); binding evaluates each with the count and checks it against its parameter, as the
checker would have, and puts the values in the space's instances. Two cases genuinely depend on the count
beyond an argument's value, and for those the space is checked with it: a space that reads ``classes``
anywhere else (a constant, a cell's argument, a repeat count, ``keep``, a stride, a value list, an input
size, a setting: the structure, the instances and their diagnostics follow from the count), and a count
that breaks an argument (``linear(classes - 20)`` with 10 classes), where the checker words the errors
with everything they cause, as it always has.
"""

from __future__ import annotations

from typing import Any

import attrs

from dasdsl.lang.check import check
from dasdsl.lang.checked import Candidate, CellInstance, CheckedSpace, ClassesArg, Edge, Network, OpRef
from dasdsl.lang.passes.bind import arg_value
from dasdsl.lang.passes.context import CheckState


def bind_classes(space: CheckedSpace, classes: int) -> CheckedSpace:
    """``space`` for data of ``classes`` classes: the same record the checker gives when it is told the
    count (``check(module, source, classes=classes)``), its instances' ``classes`` arguments evaluated."""
    if space.classes == classes:
        return space
    base = space.unbound or space
    if base.classes is not None or base.classes_elsewhere:
        return _checked(base, classes)  # checked with another count, or the structure depends on it
    state = CheckState(base.module, base.source, classes)  # the expression language with `classes` known
    values = {id(a): arg_value(state, a.arg, a.param, a.env, a.what, a.param.name) for a in base.classes_args}
    if any(d.severity == "error" for d in state.diags):
        return _checked(base, classes)  # raises the checker's errors
    bound = _Substitution(values)
    return attrs.evolve(
        base,
        macro=bound.network(base.macro),
        cell_types={k: bound.instance(v) for k, v in base.cell_types.items()},
        nested={k: bound.instance(v) if v is not None else None for k, v in base.nested.items()},
        classes=classes,
        unbound=base,
    )


def _checked(base: CheckedSpace, classes: int) -> CheckedSpace:
    """The space checked with the count (what ``bind_classes`` does where the count decides more than values)."""
    return attrs.evolve(check(base.module, base.source, classes=classes), unbound=base)


class _Substitution:
    """The checked structures with each ClassesArg replaced by its value; an instance shared by several places
    stays shared."""

    def __init__(self, values: dict[int, Any]) -> None:
        self.values = values
        self.instances: dict[int, CellInstance] = {}

    def network(self, net: Network | None) -> Network | None:
        if net is None:
            return None
        items = tuple(
            attrs.evolve(item, cell=self.instance(item.cell) if item.cell is not None else None, op=self.cand(item.op))
            for item in net.items
        )
        return attrs.evolve(net, stem=self.cand(net.stem), items=items, head=self.cand(net.head))

    def instance(self, inst: CellInstance) -> CellInstance:
        if id(inst) not in self.instances:
            nodes = tuple(attrs.evolve(n, edges=tuple(self.edge(e) for e in n.edges)) for n in inst.nodes)
            self.instances[id(inst)] = attrs.evolve(inst, nodes=nodes)
        return self.instances[id(inst)]

    def edge(self, edge: Edge) -> Edge:
        return attrs.evolve(edge, candidates=tuple(self.cand(c) for c in edge.candidates))

    def cand(self, cand: Candidate | None) -> Candidate | None:
        if cand is None:
            return None
        return attrs.evolve(cand, steps=tuple(self.ref(s) for s in cand.steps))

    def ref(self, ref: OpRef) -> OpRef:
        if not any(isinstance(v, ClassesArg) for _, v in ref.args):
            return ref
        return attrs.evolve(ref, args=tuple((k, self._value(v)) for k, v in ref.args))

    def _value(self, v: Any) -> Any:
        return self.values[id(v)] if isinstance(v, ClassesArg) else v
