"""The checker's results on good spaces: folded constants, instantiated cells, expanded ops, exact counts."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from paths import SPACE_DIR

import dasdsl
from dasdsl.lang.checked import CheckedSpace, Unknown
from dasdsl.lang.count import count_architectures, space_stats


def labels(edge) -> list[str]:
    return [c.label for c in edge.candidates]


def steps(candidate) -> list[tuple[str, dict]]:
    return [(s.name, dict(s.args)) for s in candidate.steps]


# ---- constants --------------------------------------------------------------------------


def test_constants_are_folded() -> None:
    space = dasdsl.loads(
        """\
space s
input image(3, S, S + 0)
let C = 16
let D = (C + 2) * 3 // 2
let S = 32
let N = -C + 2 * D
cell c(k) {
    input x
    node y = x ~ [skip, conv(3, out = k)]
    output y
}
network {
    stem conv_bn(3, out = D - 3)
    cells c(D)
}
""",
        "ok.das",
    )
    assert space.constants == {"C": 16, "D": 27, "S": 32, "N": 38}
    assert space.input_shape == (3, 32, 32)
    assert space.macro.stem is not None
    assert steps(space.macro.stem) == [("conv_bn", {"k": 3, "out": 24, "stride": None})]
    (item,) = space.macro.items
    assert item.cell.args == (("k", 27),)
    conv = item.cell.nodes[0].edges[0].candidates[1]
    assert steps(conv) == [("conv", {"k": 3, "out": 27, "dilation": 1, "stride": None})]


def test_constants_fold_into_the_input_shape() -> None:
    space = dasdsl.loads(
        """\
space s
input sequence(C, L * 2)
let C = 4
let L = 64
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(C)
}
""",
        "ok.das",
    )
    # constants are folded before the input line is checked, wherever they are defined
    assert space.input_kind == "sequence"
    assert space.input_shape == (4, 128)


def test_classes_is_known_at_compile_time() -> None:
    text = (SPACE_DIR / "darts.das").read_text(encoding="utf-8")
    space = dasdsl.loads(text, "darts.das")
    linear = space.macro.head.steps[-1]
    assert linear.name == "linear"
    assert isinstance(linear.arg("out"), Unknown)
    fixed = dasdsl.check(dasdsl.parse(text, "darts.das"), text, classes=10)
    assert fixed.macro.head.steps[-1].arg("out") == 10


# ---- cells --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def darts(load_space: Callable[[str], CheckedSpace]) -> CheckedSpace:
    return load_space("darts")


def test_darts_network_instantiates_every_cell(darts: CheckedSpace) -> None:
    items = darts.macro.items
    assert len(items) == 8
    assert all(item.op is None for item in items)
    assert [item.cell.name for item in items] == [
        "normal",
        "normal",
        "reduce",
        "normal",
        "normal",
        "reduce",
        "normal",
        "normal",
    ]
    assert [dict(item.cell.args)["c"] for item in items] == [16, 16, 32, 32, 32, 64, 64, 64]
    assert [item.cell.input_stride for item in items] == [1, 1, 2, 1, 1, 2, 1, 1]
    assert [item.cell.type_name for item in items] == [item.cell.name for item in items]


def test_darts_cell_templates(darts: CheckedSpace) -> None:
    assert list(darts.cell_types) == ["normal", "reduce"]
    normal = darts.cell_types["normal"]
    assert normal.inputs == ("s0", "s1")
    assert normal.output == ("n0", "n1", "n2", "n3")
    assert normal.output_merge == "concat"
    assert [n.name for n in normal.nodes] == ["n0", "n1", "n2", "n3"]
    assert [n.keep for n in normal.nodes] == [2, 2, 2, 2]
    assert [[e.source for e in n.edges] for n in normal.nodes] == [
        ["s0", "s1"],
        ["s0", "s1", "n0"],
        ["s0", "s1", "n0", "n1"],
        ["s0", "s1", "n0", "n1", "n2"],
    ]
    assert len(normal.edges) == len(normal.choices) == 14
    assert labels(normal.edges[0]) == [
        "none",
        "skip",
        "max_pool(3)",
        "avg_pool(3)",
        "sep_conv(3)",
        "sep_conv(5)",
        "dil_conv(3, dilation = 2)",
        "dil_conv(5, dilation = 2)",
    ]
    dil = normal.edges[0].candidates[7]
    assert steps(dil) == [("dil_conv", {"k": 5, "dilation": 2, "out": None})]


def test_derived_cell_has_the_structure_of_its_base(darts: CheckedSpace) -> None:
    normal, reduce = darts.cell_types["normal"], darts.cell_types["reduce"]
    assert reduce.input_stride == 2 and normal.input_stride == 1
    assert reduce.structure() == normal.structure()
    assert reduce.type_name == "reduce"  # its own architecture parameters


def test_derived_cell_binds_the_base_arguments() -> None:
    space = dasdsl.loads(
        """\
space s
input image
cell base(a, b) {
    input x
    node y = x ~ [conv(3, out = a), conv(5, out = b)]
    output y
}
cell wide(c) = base(c, 2 * c)
cell down(c) = wide(c + 1) with input stride 2
network {
    cells base(1, 2), wide(4), down(8)
}
""",
        "ok.das",
    )
    cells = [item.cell for item in space.macro.items]
    assert [c.name for c in cells] == ["base", "wide", "down"]
    assert [c.input_stride for c in cells] == [1, 1, 2]
    outs = [[dict(cand.steps[0].args)["out"] for cand in c.edges[0].candidates] for c in cells]
    assert outs == [[1, 2], [4, 8], [9, 18]]


def test_cell_declared_with_an_input_stride() -> None:
    space = dasdsl.loads(
        """\
space s
input image
cell down(k) with input stride 2 {
    input x
    node y = x ~ [skip, conv(3, out = k)]
    output y
}
cell same(k) = down(k)
cell more(k) = down(k) with input stride 4
network {
    cells down(8), same(8), more(8)
}
""",
        "ok.das",
    )
    assert [item.cell.input_stride for item in space.macro.items] == [2, 2, 4]


def test_cells_reuse_arguments_and_keep_may_depend_on_them() -> None:
    space = dasdsl.loads(
        """\
space s
input image
cell c(k) {
    input x0, x1
    node y = (x0, x1) ~ [skip, conv(3)] keep k
    output y
}
network {
    cells c(1) x 2
}
""",
        "ok.das",
    )
    assert [item.cell.nodes[0].keep for item in space.macro.items] == [1, 1]


def test_composite_ops_are_expanded_into_steps() -> None:
    space = dasdsl.loads(
        """\
space s
input image
op conv_relu(k, w) = conv_bn(k, out = w) then relu
op twice(k) = conv_relu(k, 8) then conv_relu(k, 16)
cell c(k) {
    input x
    node y = x ~ [skip, twice(3), conv_relu(5, k)]
    output y
}
network {
    cells c(4)
}
""",
        "ok.das",
    )
    cell = space.cell_types["c"]
    skip, twice, conv_relu = cell.edges[0].candidates
    assert steps(skip) == [("skip", {})]
    assert steps(twice) == [
        ("conv_bn", {"k": 3, "out": 8, "stride": None}),
        ("relu", {}),
        ("conv_bn", {"k": 3, "out": 16, "stride": None}),
        ("relu", {}),
    ]
    assert steps(conv_relu) == [("conv_bn", {"k": 5, "out": 4, "stride": None}), ("relu", {})]
    assert [skip.label, twice.label, conv_relu.label] == ["skip", "twice(3)", "conv_relu(5, k)"]
    assert space.warnings == ()


def test_op_sets_are_spliced_into_candidate_lists() -> None:
    space = dasdsl.loads(
        """\
space s
input image
ops pools = [max_pool(3), avg_pool(3)]
ops convs = [conv(1), conv(3)]
ops all = [none, pools, convs]
cell c(k) {
    input x
    node a = x ~ all
    node b = (x, a) ~ [skip, pools, sep_conv(3)]
    node d = a ~ pools
    node e = (b, d) ~ skip
    output e
}
network {
    cells c(8)
}
""",
        "ok.das",
    )
    cell = space.cell_types["c"]
    a, b, d, _e = cell.nodes
    assert labels(a.edges[0]) == ["none", "max_pool(3)", "avg_pool(3)", "conv(1)", "conv(3)"]
    assert [labels(edge) for edge in b.edges] == [["skip", "max_pool(3)", "avg_pool(3)", "sep_conv(3)"]] * 2
    assert labels(d.edges[0]) == ["max_pool(3)", "avg_pool(3)"]
    assert [edge.is_choice for edge in cell.edges] == [True, True, True, True, False, False]
    assert space.warnings == ()


def test_plain_ops_in_the_network_sequence(load_space: Callable[[str], CheckedSpace]) -> None:
    space = load_space("nb201")
    items = space.macro.items
    assert len(items) == 17
    blocks = [item.op for item in items if item.op is not None]
    assert [steps(b) for b in blocks] == [
        [("resblock", {"out": 32, "stride": 2})],
        [("resblock", {"out": 64, "stride": 2})],
    ]
    assert [dict(item.cell.args)["c"] for item in items if item.cell is not None] == [16] * 5 + [32] * 5 + [64] * 5


def test_search_settings_are_evaluated(darts: CheckedSpace) -> None:
    assert darts.search_block["epochs"] == (50,)
    assert darts.search_block["split"] == (0.5,)
    weights = darts.search_block["weights"][0]
    assert weights.func == "sgd"
    assert weights.kw()["lr"] == 0.025
    assert darts.search_block["arch"][0].kw()["betas"] == (0.5, 0.999)


def test_example_spaces_have_no_warnings(load_space: Callable[[str], CheckedSpace]) -> None:
    for name in ("darts", "nb201"):
        assert load_space(name).warnings == ()


# ---- counting ------------------------------------------------------------------------------


def test_darts_and_nb201_counts(darts: CheckedSpace, load_space: Callable[[str], CheckedSpace]) -> None:
    # per DARTS cell: node i has i + 2 inputs, keeps 2 of them with one of 7 non-none ops
    per_cell = 1
    for fan_in in (2, 3, 4, 5):
        per_cell *= (fan_in * (fan_in - 1) // 2) * 7**2
    assert count_architectures(darts) == per_cell**2 == 1_076_746_950_455_072_400
    assert count_architectures(load_space("nb201")) == 5**6 == 15_625
    stats = space_stats(darts)
    assert (stats.cell_types, stats.nodes, stats.edges, stats.choice_points) == (2, 8, 28, 28)


KEEP = """\
space s
input image
cell c(k) {
    input s0, s1
    node n0 = (s0, s1) ~ [none, skip, conv(3)] keep 1
    node n1 = (s0, s1, n0) ~ [none, skip] keep 2
    output concat(n0, n1)
}
network {
    cells c(8) x 3
}
"""


def test_count_with_keep_drops_none() -> None:
    # n0: pick 1 of 2 edges, 2 non-none ops: 4; n1: pick 2 of 3 edges, 1 non-none op: 3
    assert count_architectures(dasdsl.loads(KEEP, "ok.das")) == 4 * 3


def test_count_without_keep_includes_none() -> None:
    text = KEEP.replace(" keep 1", "").replace(" keep 2", "")
    # n0: 3 ops on each of 2 edges; n1: 2 ops on each of 3 edges
    assert count_architectures(dasdsl.loads(text, "ok.das")) == 3**2 * 2**3


def test_count_fixed_edges_and_keep_on_fixed_edges() -> None:
    text = KEEP.replace("[none, skip, conv(3)] keep 1", "conv(3)").replace("[none, skip] keep 2", "skip keep 2")
    # every edge is fixed; keep 2 of 3 fixed edges still chooses which two survive
    assert count_architectures(dasdsl.loads(text, "ok.das")) == 3


def test_count_unshared_cells_per_instance() -> None:
    shared = count_architectures(dasdsl.loads(KEEP, "ok.das"))
    unshared = dasdsl.loads(KEEP.replace("cell c(k)", "unshared cell c(k)"), "ok.das")
    assert len(unshared.cell_types) == 3
    assert count_architectures(unshared) == shared**3


def test_count_shared_and_unshared_mixed() -> None:
    text = """\
space s
input image
cell a(k) {
    input x
    node y = x ~ [skip, conv(3), max_pool(3)]
    output y
}
unshared cell b(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
cell r(k) = a(k) with input stride 2
network {
    cells a(8) x 2, b(8) x 2, r(16), a(16), b(16)
}
"""
    # a: 3 (shared by 3 instances); r: 3 (its own parameters); b: 2 per instance, 3 instances
    assert count_architectures(dasdsl.loads(text, "ok.das")) == 3 * 3 * 2**3


# ---- hierarchical spaces: brute force -------------------------------------------------------


def _cell_configs(cell) -> list[tuple]:
    """Every discrete configuration of one cell, as a tuple of (node, ((source, candidate label), ...))."""
    per_node = []
    for node in cell.nodes:
        options = []
        if node.keep is None:
            for choice in itertools.product(*[[(e.source, c) for c in e.candidates] for e in node.edges]):
                options.append(choice)
        else:
            for kept in itertools.combinations(node.edges, node.keep):
                for choice in itertools.product(
                    *[[(e.source, c) for c in e.candidates if not c.is_none] for e in kept]
                ):
                    options.append(choice)
        per_node.append([(node.name, opt) for opt in options])
    return list(itertools.product(*per_node))


def _brute_force(space: CheckedSpace) -> int:
    """Distinct architectures: every configuration of every cell type, ignoring cells no chosen op uses."""
    top = {item.cell.type_name for item in space.macro.items if item.cell is not None}
    names = list(space.cell_types)
    configs = {name: _cell_configs(space.cell_types[name]) for name in names}
    seen = set()
    for combo in itertools.product(*[configs[n] for n in names]):
        chosen = dict(zip(names, combo))
        used = set(top)
        frontier = list(top)
        while frontier:
            name = frontier.pop()
            for _node, option in chosen[name]:
                for _source, cand in option:
                    for ref in cand.nested_cells:
                        if ref.name not in used:
                            used.add(ref.name)
                            frontier.append(ref.name)
        key = tuple(
            (n, tuple((node, tuple((s, c.label) for s, c in opt)) for node, opt in chosen[n]))
            for n in names
            if n in used
        )
        seen.add(key)
    return len(seen)


HIERARCHICAL = """\
space h
input image
cell inner(c) {
    input x
    node y = x ~ [conv(3), skip]
    output y
}
cell outer(c) {
    input x
    node a = x ~ [inner(c), max_pool(3), none]
    node b = (x, a) ~ [inner(c), skip]
    output b
}
network {
    stem conv_bn(3, out = 8)
    cells outer(8) x 2
    head global_avg_pool then linear(classes)
}
"""


def test_hierarchical_count_by_hand() -> None:
    space = dasdsl.loads(HIERARCHICAL, "ok.das")
    # outer: 3 * 2 * 2 = 12 configurations; the 2 with a in {max_pool, none} and b = (skip, skip)
    # do not use inner, the other 10 do and multiply by inner's 2: 2 + 10 * 2
    assert count_architectures(space) == 22 == _brute_force(space)


def test_hierarchical_cell_also_in_the_network() -> None:
    text = HIERARCHICAL.replace("cells outer(8) x 2", "cells outer(8) x 2, inner(8)")
    space = dasdsl.loads(text, "ok.das")
    # inner is always in use now: 12 * 2
    assert count_architectures(space) == 24 == _brute_force(space)


def test_hierarchical_count_nested_twice_with_keep() -> None:
    text = """\
space h
input image
cell leaf(c) {
    input x
    node y = x ~ [none, conv(3), sep_conv(3)]
    output y
}
cell mid(c) {
    input x
    node a = x ~ [leaf(c), skip, none]
    node b = (x, a) ~ [leaf(c), max_pool(3), none] keep 1
    output b
}
cell top(c) {
    input s0, s1
    node n0 = (s0, s1) ~ [mid(c), leaf(c), none] keep 1
    node n1 = (s1, n0) ~ [mid(c), avg_pool(3), none] keep 1
    output concat(n0, n1)
}
cell down(c) = top(c) with input stride 2
network {
    cells top(8), down(16), top(8)
}
"""
    space = dasdsl.loads(text, "ok.das")
    assert set(space.cell_types) == {"top", "down", "mid", "leaf"}
    expected = _brute_force(space)
    assert count_architectures(space) == expected
    assert expected > 0


def test_hierarchical_example_space(load_space: Callable[[str], CheckedSpace]) -> None:
    space = load_space("hierarchical")
    assert count_architectures(space) == _brute_force(space)


def test_nested_cell_instance_for_the_compiler() -> None:
    space = dasdsl.loads(HIERARCHICAL, "ok.das")
    inner = space.instantiate("inner", {"c": 8})
    assert inner.name == "inner"
    assert [c.label for c in inner.edges[0].candidates] == ["conv(3)", "skip"]
    ref = space.cell_types["outer"].nodes[0].edges[0].candidates[0].steps[0]
    assert ref.is_cell and ref.name == "inner" and ref.args == (("c", 8),)


# ---- random hierarchical spaces: count == brute force -----------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis_budget import examples  # noqa: E402

PLAIN_OPS = ["none", "skip", "conv(3)", "max_pool(3)"]


@st.composite
def hierarchical_spaces(draw) -> str:
    """A top cell with 2 inputs, up to 2 nested one-input cells; a cell only uses cells declared before it."""
    n_nested = draw(st.integers(1, 2))
    lines = ["space r", "input image"]
    available: list[str] = []

    def cell(name: str, inputs: list[str], max_nodes: int) -> None:
        lines.append(f"cell {name}(c) {{")
        lines.append("    input " + ", ".join(inputs))
        readable = list(inputs)
        unread: list[str] = []
        n_nodes = draw(st.integers(1, max_nodes))
        for i in range(n_nodes):
            sources = draw(st.lists(st.sampled_from(readable), min_size=1, max_size=2, unique=True))
            unread = [n for n in unread if n not in sources] + [f"v{i}"]
            pool = PLAIN_OPS + [f"{n}(c)" for n in available]
            cands = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
            keep = draw(st.sampled_from([None, *range(1, len(sources) + 1)])) if cands != ["none"] else None
            text = f"    node v{i} = ({', '.join(sources)}) ~ [{', '.join(cands)}]"
            lines.append(text + (f" keep {keep}" if keep else ""))
            readable.append(f"v{i}")
        # every node reaches the output: the output reads the nodes no other node reads
        lines.append(f"    output concat({', '.join(unread)})" if len(unread) > 1 else f"    output {unread[0]}")
        lines.append("}")

    for j in range(n_nested):
        cell(f"sub{j}", ["x"], 2)
        available.append(f"sub{j}")
    cell("main", ["s0", "s1"], 2)
    lines += ["network {", "    cells main(8) x 2", "}", ""]
    return "\n".join(lines)


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hierarchical_spaces())
def test_random_hierarchical_counts_match_brute_force(text: str) -> None:
    space = dasdsl.loads(text, "random.das")  # dead nodes are warnings, never errors
    assert count_architectures(space) == _brute_force(space)
