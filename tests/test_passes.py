"""The compiler's pass list (dasdsl.compiler.passes): every space runs through it from an empty IR with the
lint of each pass after it; the lint is a real check (a broken IR fails the pass that should have kept it);
no pass, and no lowering, changes the IR it is given."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import attrs
import pytest
from paths import ROOT, SHIPPED
from test_depth_choices import SPACE as DEPTHS  # two searched depths, one unshared cell
from test_value_choices import TINY as VALUES  # value lists on a vector space

import dasdsl
from dasdsl.compiler.ir import (
    OUTPUT,
    ChoiceInfo,
    FusionGroup,
    NetworkIR,
    lint,
    lint_adapters,
    lint_choices,
    lint_fusion,
    lint_structure,
    to_json,
)
from dasdsl.compiler.lower import FixedNetwork, Supernet
from dasdsl.compiler.passes import PASSES, lint_upto, run_passes

NESTED = """space nested
input image

cell inner(c) {
    input x
    node a = x ~ [conv(3, out = c), max_pool(3)]
    output a
}

cell outer(c) with input stride 2 {
    input x
    node y = x ~ [inner(c), sep_conv(3), conv(3, out = 2 * c)]
    node z = y ~ [skip, inner(2 * c)], x ~ conv(1, out = 2 * c)
    output z
}

network {
    stem  conv_bn(3, out = 8)
    cells outer(8), outer(8)
    head  global_avg_pool then linear(classes)
}
"""

TEST_SPACES = {"depths": (DEPTHS, (1, 8, 8), 10), "values": (VALUES, (4,), 3), "nested": (NESTED, (1, 16, 16), 10)}


def _shipped(path: Any) -> NetworkIR:
    return dasdsl.load(path).graph()


def _test_space(name: str) -> NetworkIR:
    text, shape, classes = TEST_SPACES[name]
    return dasdsl.loads(text, f"{name}.das").graph(shape, classes)


def _state(ir: NetworkIR) -> Any:
    """Everything an IR holds, to compare before and after: its JSON, its choice table and every meta."""
    metas = {key: dict(g.meta) for key, g in ir.cells.items()}
    return to_json(ir), dict(ir.choices), metas, list(ir.cells), [id(g) for g in ir.cells.values()]


def _through_passes(built: NetworkIR) -> list[str]:
    """Run the pass list from an empty IR of ``built``'s space, linting after each pass what it guarantees;
    the result must be ``built`` (build_ir's). Returns the passes run."""
    done: list[str] = []

    def after(p: Any, ir: NetworkIR) -> None:
        lint_upto(ir, p)
        done.append(p.name)

    ir = run_passes(NetworkIR(built.space, built.input_shape, built.classes), after=after)
    lint(ir)
    assert to_json(ir) == to_json(built)
    assert ir.choices == built.choices
    assert {k: g.meta["fusion"] for k, g in ir.cells.items()} == {k: g.meta["fusion"] for k, g in built.cells.items()}
    return done


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_space_passes_the_lint_after_every_pass(path: Any) -> None:
    assert _through_passes(_shipped(path)) == [p.name for p in PASSES]


@pytest.mark.parametrize("name", sorted(TEST_SPACES))
def test_depths_value_lists_and_nested_cells_pass_the_lint_after_every_pass(name: str) -> None:
    ir = _test_space(name)
    assert _through_passes(ir) == [p.name for p in PASSES]
    if name == "nested":  # a nested cell is its own graph, at its own input shape and stride
        assert {g.type_name for g in ir.cells.values()} == {"inner", "outer"}
        assert any(k.startswith("inner(c=8)@8x16x16/s2") for k in ir.cells)
    if name == "depths":
        assert [info.kind for info in ir.choices.values()].count("depth") == 2


def test_the_pass_list_is_ordered_named_and_documented_in_one_line_each() -> None:
    assert [p.name for p in PASSES] == ["shapes", "adapters", "choices", "fusion"]
    assert all(p.doc and "\n" not in p.doc and p.run.__doc__ for p in PASSES)
    done = subprocess.run(
        [sys.executable, "-m", "dasdsl.compiler.passes"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [[f"{i}.", p.name] for i, p in enumerate(PASSES, 1)]
    assert all(p.doc in line for p, line in zip(PASSES, lines))


def test_no_pass_changes_the_ir_it_is_given() -> None:
    built = _shipped(ROOT / "spaces" / "darts.das")
    ir = NetworkIR(built.space, built.input_shape, built.classes)
    for p in PASSES:
        before = _state(ir)
        out = p.run(ir)
        assert _state(ir) == before, p.name
        assert out is not ir
        ir = out


@pytest.mark.parametrize("fuse", [True, False])
def test_lowering_leaves_the_callers_ir_as_it_was(fuse: bool) -> None:
    """Building a supernet once wrote the fusion groups into the IR it was given; now they are the fusion
    pass's, read from the IR."""
    ir = _shipped(ROOT / "spaces" / "darts.das")
    before = _state(ir)
    net = Supernet(ir, fuse=fuse)
    assert _state(ir) == before
    cells = [m for m in net.modules() if type(m).__name__ == "CellModule"]
    assert bool(any(m.fusion for m in cells)) == fuse
    assert all(m.fusion_groups == ir.cells[m.key].meta["fusion"] for m in cells)
    FixedNetwork(_shipped(ROOT / "spaces" / "darts_result.das"))
    assert _state(ir) == before


def test_a_fused_supernet_needs_the_fusion_pass() -> None:
    ir = _shipped(ROOT / "spaces" / "pooling.das")
    upto = run_passes(NetworkIR(ir.space, ir.input_shape, ir.classes), PASSES[:-1])
    with pytest.raises(ValueError, match="needs an IR through the fusion pass"):
        Supernet(upto, fuse=True)
    assert Supernet(upto, fuse=False)  # unfused lowering reads no groups


# ---- the lint is a real check: each broken invariant fails, with what broke -----------------------------------


def test_the_lint_checks_a_partial_ir_by_what_its_passes_guarantee() -> None:
    """After the shapes pass the widths space's candidates are as wide as their edge but not yet widened: the
    partial lint holds, the adapters' lint does not (the final lint would fail on a partial IR)."""
    built = _shipped(ROOT / "spaces" / "widths.das")
    shaped = PASSES[0].run(NetworkIR(built.space, built.input_shape, built.classes))
    lint_upto(shaped, PASSES[0])
    with pytest.raises(AssertionError, match=r"candidate conv\(3, out = 16\) on x->y .* adapter None"):
        lint_adapters(shaped)
    with pytest.raises(AssertionError, match="has no parameter vector"):
        lint_choices(shaped)
    with pytest.raises(AssertionError, match="adapter None"):
        lint(shaped)


def _evolve_cell(ir: NetworkIR, **changes: Any) -> NetworkIR:
    key, g = next(iter(ir.cells.items()))
    return attrs.evolve(ir, cells={**ir.cells, key: attrs.evolve(g, **changes)})


def test_a_missing_adapter_fails_the_lint() -> None:
    ir = _shipped(ROOT / "spaces" / "widths.das")
    g = next(iter(ir.cells.values()))
    stripped = g.with_records(
        edge=lambda u, v, e: attrs.evolve(e, candidates=tuple(attrs.evolve(c, adapter=None) for c in e.candidates))
    )
    with pytest.raises(AssertionError, match=r"gives \(16, 8, 8\), adapter None"):
        lint(_evolve_cell(ir, nodes=stripped.nodes, edges=stripped.edges))
    darts = _shipped(ROOT / "spaces" / "darts.das")
    g = next(iter(darts.cells.values()))
    unbridged = g.with_records(node=lambda n, d: attrs.evolve(d, preprocess=None) if d.kind == "input" else d)
    with pytest.raises(AssertionError, match=r"input s0 of .* arrives \(48, 8, 8\), works at \(16, 8, 8\)"):
        lint(_evolve_cell(darts, nodes=unbridged.nodes))


def test_shapes_kinds_and_meta_keys_outside_the_vocabulary_fail_the_lint() -> None:
    ir = _shipped(ROOT / "spaces" / "pooling.das")
    with pytest.raises(AssertionError, match=r"meta keys \['fused'\] outside META_KEYS"):
        lint_structure(_evolve_cell(ir, meta={"fused": ()}))
    g = next(iter(ir.cells.values()))
    wrong = g.with_records(node=lambda n, d: attrs.evolve(d, kind="merge") if n == OUTPUT else d)
    with pytest.raises(AssertionError, match="of kind 'merge'"):
        lint_structure(_evolve_cell(ir, nodes=wrong.nodes))
    narrow = g.with_records(edge=lambda u, v, e: attrs.evolve(e, shape=(1, 1, 1)) if e.candidates else e)
    with pytest.raises(AssertionError, match=r"candidate max_pool\(3\) on x->y"):
        lint_structure(_evolve_cell(ir, edges=narrow.edges))
    head = ir.macro.with_records(node=lambda n, d: attrs.evolve(d, shape=(9,)) if n == "head" else d)
    with pytest.raises(AssertionError, match=r"the head gives \(9,\), not \(10,\)"):
        lint_structure(attrs.evolve(ir, macro=head))


def test_a_stale_or_missing_parameter_vector_fails_the_lint() -> None:
    ir = _shipped(ROOT / "spaces" / "pooling.das")
    (key,) = ir.choices
    stale = ChoiceInfo("pool:x->z", "pool", "x", "z", ("a",), None)
    with pytest.raises(AssertionError, match=r"parameter vectors \['pool:x->z'\] belong to no edge or depth"):
        lint_choices(attrs.evolve(ir, choices={**ir.choices, "pool:x->z": stale}))
    with pytest.raises(AssertionError, match="has no parameter vector"):
        lint_choices(attrs.evolve(ir, choices={}))
    short = attrs.evolve(ir.choices[key], labels=ir.choices[key].labels[:1])
    with pytest.raises(AssertionError, match="does not match edge"):
        lint_choices(attrs.evolve(ir, choices={key: short}))


def test_a_wrong_fusion_group_fails_the_lint() -> None:
    ir = _shipped(ROOT / "spaces" / "pooling.das")
    (group, *rest) = next(iter(ir.cells.values())).meta["fusion"]
    twice = attrs.evolve(group, members=group.members * 2)
    with pytest.raises(AssertionError, match=r"fusion group max_pool\(3\) of .*: member y\[0\]"):
        lint_fusion(_evolve_cell(ir, meta={"fusion": (twice, *rest)}))
    elsewhere = FusionGroup("y", 1, group.label, group.kind, group.members)
    with pytest.raises(AssertionError, match="no choice edge y->y"):
        lint_fusion(_evolve_cell(ir, meta={"fusion": (elsewhere,)}))
    with pytest.raises(AssertionError, match="has no fusion groups"):
        lint_fusion(_evolve_cell(ir, meta={}))


@pytest.mark.parametrize("path", [*SHIPPED, "nested"], ids=lambda p: getattr(p, "stem", p))
def test_a_nodes_inputs_keep_the_order_they_are_declared_in(path: Any) -> None:
    """Lowering builds a node's edges, and concatenates a cell's outputs, in predecessor order: the order
    the cell declares them (``node z = y ~ [...], x ~ skip``: y, then x), not the nodes' order."""
    ir = _test_space(path) if path == "nested" else _shipped(path)
    for g in ir.cells.values():
        for node in g.instance.nodes:
            assert g.predecessors(node.name) == [e.source for e in node.edges], (g.key, node.name)
        assert [u for u, _ in g.in_edges(OUTPUT)] == list(g.instance.output), g.key
