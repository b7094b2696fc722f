"""Pictures: dasdsl render (cells, runs, results, the macro network), plot and report."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import graphviz
import numpy as np
import pytest
from paths import ROOT, SHIPPED

import dasdsl
from dasdsl import cli
from dasdsl.compiler.ir import OUTPUT
from dasdsl.engine.discretization import decide, to_module
from dasdsl.lang.printer import format_op
from dasdsl.view import render

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.skipif(not render.dot_available(), reason="graphviz's dot is not installed")


def main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def svg_text(path: Path) -> str:
    """The text a reader sees in an SVG (entities decoded)."""
    pieces = re.findall(r"<text[^>]*>([^<]*)</text>", path.read_text(encoding="utf-8"))
    return re.sub(r"\s+", " ", html.unescape(" ".join(pieces)))


def shown(label: str, weight: float, text: str) -> bool:
    """A candidate and its weight on an edge (4 digits where the weights are still close)."""
    return f"{label} {weight:.3f}" in text or f"{label} {weight:.4f}" in text


def written(out: str) -> list[Path]:
    return [Path(line) for line in out.splitlines() if line.strip()]


# -- every shipped space, SVG and PNG


@pytest.mark.parametrize("space", SHIPPED, ids=lambda p: p.stem)
def test_every_space_renders_to_svg_and_png(capsys: pytest.CaptureFixture[str], tmp_path: Path, space: Path) -> None:
    ir = dasdsl.load(space).graph()
    code, out, err = main(capsys, "render", space, "-o", tmp_path / "cells.svg")
    assert code == 0, err
    svgs = written(out)
    types = render.cell_types(ir)
    assert len(svgs) == len(types)
    if len(types) > 1:  # one file per cell type
        assert all(p.name.startswith("cells-") for p in svgs)
    text = " ".join(svg_text(p) for p in svgs)
    for graph in ir.cells.values():
        for node in graph.nodes:
            if node != OUTPUT:
                assert node in text, (space.name, node)
        for data in graph.edges.values():
            for cand in data.candidates:
                # a value list's candidates show as the list as written (conv(k = [3, 5]) · 2 candidates)
                as_written = cand.source.written
                label = cand.label if as_written is None or cand.adapter is not None else format_op(as_written)
                assert label in text, (space.name, label)
    code, out, err = main(capsys, "render", space, "-o", tmp_path / "cells.png")
    assert code == 0, err
    for png in written(out):
        data = png.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000, png


def test_the_darts_space_stays_legible(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = main(capsys, "render", ROOT / "spaces/darts.das", "-o", tmp_path / "darts.svg")
    assert code == 0
    normal = tmp_path / "darts-normal.svg"
    assert set(written(out)) == {normal, tmp_path / "darts-reduce.svg"}
    source = normal.read_text(encoding="utf-8")
    assert source.count('class="edge"') == 14 + 4 + 2  # one edge per choice point, 4 into c_k, 2 adapters
    text = svg_text(normal)
    assert text.count("sep_conv(5)") == 1  # the 8 candidates are listed once, not on 14 edges
    assert "project" in text and "reduce" in text  # input adapters (reduce in instances after a reduction)
    assert "k-2" in text and "k-1" in text  # c_{k-2}, c_{k-1}
    assert "stride 2" in svg_text(tmp_path / "darts-reduce.svg")


def test_widen_adapters_are_marked(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, _ = main(capsys, "render", ROOT / "spaces/widths.das", "-o", tmp_path / "w.svg")
    assert code == 0
    text = svg_text(tmp_path / "w.svg")
    assert "+widen 16→32" in text and "+widen 8→32" in text


def test_one_cell_and_an_unknown_cell(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = main(capsys, "render", ROOT / "spaces/darts.das", "--cell", "reduce", "-o", tmp_path / "r.pdf")
    assert code == 0 and written(out) == [tmp_path / "r.pdf"]
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    code, _, err = main(capsys, "render", ROOT / "spaces/darts.das", "--cell", "nromal", "-o", tmp_path / "x.svg")
    assert code == 1 and "no cell 'nromal'" in err and "normal" in err
    code, _, err = main(capsys, "render", ROOT / "spaces/darts.das", "-o", tmp_path / "x.jpeg")
    assert code == 1 and ".svg" in err


def test_macro_network(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = main(capsys, "render", ROOT / "spaces/darts.das", "--macro", "-o", tmp_path / "net.svg")
    assert code == 0 and written(out) == [tmp_path / "net.svg"]
    text = svg_text(tmp_path / "net.svg")
    for word in ("stem", "conv_bn(3, out = 3 * C)", "cell 7", "reduce(c = 64)", "head", "48×8×8", "256×2×2"):
        assert word in text, word
    graph = render.macro_graph(dasdsl.load(ROOT / "spaces/nb201.das"))
    assert isinstance(graph, graphviz.Digraph) and "resblock" in graph.source


def test_repr_svg() -> None:
    svg = dasdsl.load(ROOT / "spaces/darts.das")._repr_svg_()
    assert svg is not None and "<svg" in svg
    assert "cell normal" in html.unescape(svg) and "cell reduce" in html.unescape(svg)


# -- without graphviz's dot


def test_missing_dot_writes_the_source_and_says_how_to_install(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    code, out, err = main(capsys, "render", ROOT / "spaces/darts.das", "-o", tmp_path / "d.png")
    assert code == 0 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "apt-get install graphviz" in err and "brew install graphviz" in err
    for cell in ("normal", "reduce"):
        assert "digraph" in (tmp_path / f"d-{cell}.dot").read_text(encoding="utf-8")
    assert not list(tmp_path.glob("*.png"))
    assert dasdsl.load(ROOT / "spaces/pooling.das")._repr_svg_() is None


def test_dot_failing_to_start_is_the_same_as_missing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def pipe(*args: object, **kwargs: object) -> bytes:
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz.Digraph, "pipe", pipe)
    code, _, err = main(capsys, "render", ROOT / "spaces/pooling.das", "-o", tmp_path / "p.svg")
    assert code == 0 and "install graphviz" in err
    assert (tmp_path / "p.dot").is_file()


# -- runs


def fake_run(tmp_path: Path, epochs: int = 3) -> tuple[Path, dict[str, list[float]], dict[str, int | None]]:
    """A DARTS run directory as dasdsl run leaves it, with made-up gate weights (no training)."""
    from dasdsl.lang.printer import format_das

    space = dasdsl.load(ROOT / "spaces/darts.das")
    ir = space.graph()
    run = tmp_path / "darts-fake"
    run.mkdir()
    (run / "space.das").write_text((ROOT / "spaces/darts.das").read_text(encoding="utf-8"), encoding="utf-8")
    search = {"data": "digits", "epochs": epochs, "seed": 0, "discretize": "argmax", "threshold": 0.5}
    (run / "config.json").write_text(json.dumps({"source": "spaces/darts.das", "search": search}), encoding="utf-8")
    rng = np.random.default_rng(0)
    records = []
    for epoch in range(1, epochs + 1):
        gates = {}
        for key, info in ir.choices.items():
            w = np.exp(rng.normal(0, 0.5 * epoch, len(info.labels)))
            gates[key] = (w / w.sum()).tolist()
        records.append(
            {
                "epoch": epoch,
                "train_loss": 2.3 - 0.3 * epoch,
                "train_acc": 0.1 * epoch,
                "valid_loss": 2.4 - 0.3 * epoch,
                "valid_acc": 0.09 * epoch,
                "temperature": 1.0,
                "skip_count": epoch - 1,
                "entropy": {k: 2.0 - 0.1 * epoch for k in gates},
                "gates": gates,
            }
        )
    (run / "log.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records) + '{"epoch": 4, "tr', encoding="utf-8"
    )
    decisions = decide(ir, gates, "argmax")
    (run / "result.das").write_text(format_das(to_module(space, ir, decisions)), encoding="utf-8")
    summary = {"supernet_valid_acc": 0.5, "discretized_valid_acc": 0.4, "discretization_gap": 0.1, "epochs": epochs}
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return run, gates, decisions


def test_render_a_run_colours_the_edges_by_the_final_gates(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run, gates, decisions = fake_run(tmp_path)
    ir = dasdsl.load(run / "space.das").graph()
    code, _, err = main(capsys, "render", "--run", run, "-o", tmp_path / "run.svg")
    assert code == 0, err
    text = {cell: svg_text(tmp_path / f"run-{cell}.svg") for cell in ("normal", "reduce")}
    for key, index in decisions.items():
        info = ir.choices[key]
        weights = gates[key]
        if index is not None:  # the kept candidate and its final weight label the edge
            assert shown(info.labels[index], weights[index], text[info.cell_type]), key
        else:  # a dropped edge names its strongest candidate
            best = int(np.argmax(weights))
            assert shown(info.labels[best], weights[best], text[info.cell_type]), key
    source = (tmp_path / "run-normal.svg").read_text(encoding="utf-8")
    kept = sum(1 for k, i in decisions.items() if i is not None and k.startswith("normal:"))
    assert kept == 8 and source.count('stroke-dasharray="5,2"') >= 14 - kept
    assert "after epoch 3" in text["normal"]


def test_a_result_is_drawn_as_the_derived_cell(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run, _, _ = fake_run(tmp_path)
    code, out, _ = main(capsys, "render", run / "result.das", "-o", tmp_path / "result.png")
    assert code == 0 and len(written(out)) == 2
    code, out, _ = main(capsys, "render", run / "result.das", "--cell", "normal", "-o", tmp_path / "normal.svg")
    assert code == 0
    source = (tmp_path / "normal.svg").read_text(encoding="utf-8")
    assert source.count('class="edge"') == 8 + 4 + 2  # keep 2 on each of the 4 nodes
    text = svg_text(tmp_path / "normal.svg")
    assert "fixed: one op per edge" in text and "k-2" in text and "concat" in text


@pytest.mark.slow
def test_plot_and_report_of_a_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run, _, _ = fake_run(tmp_path)
    code, out, err = main(capsys, "plot", run, "-o", tmp_path / "plots")
    assert code == 0, err
    names = {p.name for p in written(out)}
    assert names == {"gates.png", "temperature.png", "loss_acc.png", "skips.png"}
    for p in written(out):
        assert p.read_bytes().startswith(PNG_MAGIC) and p.stat().st_size > 5_000
    code, out, err = main(capsys, "report", run, "-o", tmp_path / "r.html")
    assert code == 0, err
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    # the curves are inline SVG charts (no matplotlib): loss, accuracy, one per choice point (DARTS: 28),
    # temperature, entropy, skips
    assert "data:image/png" not in page
    assert page.count('role="img"') == 2 + 28 + 2 + 1
    assert page.count("<svg") == 2 + 2 + 1 + 33  # gate weights of 2 cells, 2 derived cells, the network, charts
    assert html.escape((run / "result.das").read_text(encoding="utf-8"), quote=True) in page
    assert "discretization gap" in page and "+0.100" in page
    assert_self_contained(page)


def assert_self_contained(page: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//|file:)""", page, re.I)
    assert not re.search(r"url\(|<link|<script|@import", page, re.I)
    assert "http://" not in page and "https://" not in page


def test_plot_without_epochs_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = main(capsys, "plot", tmp_path)
    assert code == 1 and "log.jsonl" in err


def test_a_failing_report_never_fails_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dasdsl.view import report

    def broken(run_dir: Path, out: Path | None = None) -> Path:
        raise RuntimeError("no room on the page")

    monkeypatch.setattr(report, "write_report", broken)
    space = ROOT / "spaces/pooling.das"
    result = dasdsl.load(space).search("synthetic", epochs=1, out=tmp_path / "api", progress=False)
    assert result is not None and result.report is None
    assert result.report_error == "RuntimeError: no room on the page"
    assert (result.run_dir / "result.das").read_text(encoding="utf-8") == result.space.to_das()
    code, _, err = main(
        capsys, "run", space, "--epochs", "1", "--data", "synthetic", "--out", tmp_path / "cli", "--quiet"
    )
    assert code == 0 and "dasdsl: no report.html (RuntimeError: no room on the page)" in err


def test_report_without_dot_shows_the_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dasdsl.view.report import write_report

    run, _, _ = fake_run(tmp_path)
    monkeypatch.setattr(render, "dot_available", lambda: False)
    page = write_report(run).read_text(encoding="utf-8")
    assert "apt-get install graphviz" in page and "digraph" in page
    assert page.count("<svg") == page.count('role="img"') == 33  # only the curves (drawn without graphviz)


@pytest.fixture(scope="module")
def pooling_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    assert cli.main(["run", str(ROOT / "spaces/pooling.das"), "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    (run,) = out.iterdir()
    return run


@pytest.mark.slow
def test_a_real_run_writes_its_report_and_renders_its_gates(
    capsys: pytest.CaptureFixture[str], pooling_run: Path, tmp_path: Path
) -> None:
    page = (pooling_run / "report.html").read_text(encoding="utf-8")  # written by dasdsl run itself
    assert 'role="img"' in page and "<svg" in page and "pooling_result" in page
    assert_self_contained(page)
    last = json.loads((pooling_run / "log.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    weights = last["gates"]["pool:x->y"]
    code, out, err = main(capsys, "render", "--run", pooling_run, "-o", tmp_path / "pool.svg")
    assert code == 0, err
    text = svg_text(tmp_path / "pool.svg")
    kept = int(np.argmax(weights))
    labels = ["max_pool(3)", "avg_pool(3)"]
    assert shown(labels[kept], weights[kept], text) and shown(labels[1 - kept], weights[1 - kept], text)
    code, out, _ = main(capsys, "plot", pooling_run)
    assert code == 0 and {p.name for p in written(out)} == {"gates.png", "temperature.png", "loss_acc.png", "skips.png"}
