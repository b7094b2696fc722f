"""The compiler's passes, in order: each a function NetworkIR -> NetworkIR with one job, and the lint of
what holds after it (torch.fx's requires -> call -> ensures; sqlglot's ordered optimizer RULES).

``build_ir`` (dasdsl.compiler.build) checks the data against the space, then runs PASSES over an empty IR
(the space, the input shape, the classes). No pass changes the IR it is given. To list them:
``python -m dasdsl.compiler.passes``.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from dasdsl.compiler.adapters import insert_adapters
from dasdsl.compiler.choices import collect_choices
from dasdsl.compiler.fuse import fuse
from dasdsl.compiler.ir import NetworkIR, lint_adapters, lint_choices, lint_fusion, lint_structure
from dasdsl.compiler.shapes import infer_shapes


@attrs.frozen
class Pass:
    """One IR pass: its ``name``, a one-line ``doc``, the function and the lint of what it guarantees."""

    name: str
    doc: str
    run: Callable[[NetworkIR], NetworkIR]
    ensures: Callable[[NetworkIR], None]


PASSES: tuple[Pass, ...] = (
    Pass(
        "shapes",
        "walk the network: macro nodes, depth mixtures and one cell graph per instance, every value shaped",
        infer_shapes,
        lint_structure,
    ),
    Pass(
        "adapters",
        "a reduce, projection or widening wherever a value arrives other than its consumer works",
        insert_adapters,
        lint_adapters,
    ),
    Pass(
        "choices",
        "the architecture-parameter table: one vector per choice edge of a cell type and per searched depth",
        collect_choices,
        lint_choices,
    ),
    Pass(
        "fusion",
        "group the candidates of one op on the choice edges from one source (computed together if fused)",
        fuse,
        lint_fusion,
    ),
)


def run_passes(
    ir: NetworkIR, passes: tuple[Pass, ...] = PASSES, after: Callable[[Pass, NetworkIR], None] | None = None
) -> NetworkIR:
    """``ir`` through ``passes`` in order; ``after(pass, ir)`` is called with each pass's result (the tests
    lint there)."""
    for p in passes:
        ir = p.run(ir)
        if after is not None:
            after(p, ir)
    return ir


def lint_upto(ir: NetworkIR, done: Pass, passes: tuple[Pass, ...] = PASSES) -> None:
    """The invariants that hold once ``done`` and the passes before it have run: theirs, in order."""
    for p in passes[: passes.index(done) + 1]:
        p.ensures(ir)


def describe(passes: tuple[Pass, ...] = PASSES) -> str:
    """The pass list, one numbered line each with its doc."""
    width = max(len(p.name) for p in passes)
    return "\n".join(f"{i}. {p.name:<{width}}  {p.doc}" for i, p in enumerate(passes, 1))


if __name__ == "__main__":
    print(describe())
