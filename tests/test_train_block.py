"""The train block: dasdsl train's settings in the space, read through the train settings table like the
search block's; its ``let`` constants build the network that trains and exports; flags win over it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from paths import ROOT

import dasdsl
from dasdsl.compiler.lower import FixedNetwork
from dasdsl.lang import settings
from dasdsl.lang.printer import format_das

DOC = ROOT / "docs" / "search.md"
START, END = "<!-- train-settings-table:start", "<!-- train-settings-table:end -->"

TRAIN = """\
train {
    let C = 6
    epochs          1
    cutout          2
    augment         none
    label_smoothing 0.1
}
"""


def space_text(train: str = TRAIN, choice: str = "conv(3)") -> str:
    return f"""\
space tiny
input image

let C = 4

cell c(c) {{
    input s0
    node n0 = s0 ~ {choice}
    output n0
}}

network {{
    stem  conv_bn(3, out = C)
    cells c(C)
    head  global_avg_pool then linear(classes)
}}

{train}"""


def params(space: dasdsl.Space) -> int:
    return sum(p.numel() for p in FixedNetwork(space.graph((1, 8, 8), 10)).parameters())


def test_the_doc_holds_exactly_the_generated_train_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1
    start = text.index("\n", text.index(START)) + 1
    assert text[start : text.index(END)] == settings.TRAIN.markdown()


def test_the_block_is_read_checked_and_printed_back() -> None:
    space = dasdsl.loads(space_text())
    assert space.train_lets == {"C": 6}
    cfg = settings.TRAIN.resolve(space.train_block)
    assert (cfg.epochs, cfg.cutout, cfg.augment, cfg.label_smoothing, cfg.lr) == (1, 2, "none", 0.1, 0.05)
    assert format_das(space.module) == space_text()  # canonical already: fmt changes nothing
    assert dasdsl.loads(format_das(space.module)).module == space.module


@pytest.mark.parametrize(
    ("entry", "message", "where", "hint"),
    [
        ("cutot 2", "unknown train setting 'cutot'", (19, 5), "did you mean cutout?"),
        ("gate softmax", "unknown train setting 'gate'", (19, 5), None),  # a search setting, not a train one
        ("drop_path 1.5", "drop_path must be a number in [0, 1), got 1.5", (19, 15), None),
        ("augment mixup", "unknown augment mixup", (19, 13), None),
        ("epochs 0", "epochs must be a positive integer, got 0", (19, 12), None),
        ("let D = 3", "train block: 'let D' names no constant of the space (its constants: C)", (19, 9), None),
        ('let C = "wide"', "train block: 'let C' needs a number", (19, 13), None),
    ],
)
def test_a_bad_entry_is_located(entry: str, message: str, where: tuple[int, int], hint: str | None) -> None:
    with pytest.raises(dasdsl.DasError) as caught:
        dasdsl.loads(space_text(f"train {{\n    {entry}\n}}\n"), "bad.das")
    [diag] = caught.value.errors
    assert diag.message == message
    assert (diag.span.line, diag.span.column) == where
    if hint is not None:
        assert diag.hint == hint


def test_twice_is_an_error() -> None:
    with pytest.raises(dasdsl.DasError) as caught:
        dasdsl.loads(space_text("train {\n    let C = 5\n    let C = 6\n    epochs 1\n    epochs 2\n}\ntrain {\n}\n"))
    assert [d.message for d in caught.value.errors] == [
        "train block: constant 'C' is given twice",
        "train setting 'epochs' is given twice",
        "duplicate 'train' block",
    ]


@pytest.mark.slow
def test_the_block_trains_flags_win_and_the_run_records_it(tmp_path: Path) -> None:
    space = dasdsl.loads(space_text())
    trained = dasdsl.train(space, "digits", out=tmp_path, progress=False)
    config = json.loads((trained.run_dir / "config.json").read_text())
    assert (config["epochs"], config["recipe"]["cutout"], config["recipe"]["augment"]) == (1, 2, "none")
    assert config["recipe"]["label_smoothing"] == 0.1
    wide = sum(p.numel() for p in trained.network.parameters())
    assert wide == params(space.let(C=6)) != params(space)  # built with the block's C = 6
    assert "let C = 6" in (trained.run_dir / "space.das").read_text()
    overridden = dasdsl.train(space.let(C=3), "digits", cutout=0, epochs=2, progress=False)
    assert sum(p.numel() for p in overridden.network.parameters()) == params(space.let(C=3))
    assert len(overridden.history) == 2
    path = tmp_path / "tiny.das"
    path.write_text(space_text(), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "dasdsl", "train", str(path), "--let", "C=5", "--cutout", "1", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert f"parameters: {params(space.let(C=5)):,}" in done.stdout
    assert "training with epochs 1, label_smoothing 0.1, augment none, cutout 1; let C = 5 " in done.stderr
    acc = float(done.stdout.split("test accuracy: ")[1].split()[0])
    assert ("near chance (1/10 = 0.100)" in done.stdout) == (acc < 0.2)  # explained exactly when it is near
    run_dir = Path(done.stderr.split("run directory: ")[1].split()[0])
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["recipe"]["cutout"], config["recipe"]["augment"], config["epochs"]) == (1, "none", 1)


def test_export_builds_the_network_train_builds(tmp_path: Path) -> None:
    space = dasdsl.loads(space_text())
    out = dasdsl.api.export(space, "python", tmp_path / "net.py", input_shape=(1, 8, 8), classes=10)
    namespace: dict = {}
    exec(compile(out.read_text(), str(out), "exec"), namespace)  # noqa: S102 - our own generated module
    assert sum(p.numel() for p in namespace["Network"]().parameters()) == params(space.let(C=6))


def test_a_search_copies_the_block_into_its_result() -> None:
    space = dasdsl.loads(space_text(choice="[conv(3), skip]"))
    result = space.search("digits", epochs=1, out=None, progress=False)
    assert result is not None
    assert result.space.train_lets == {"C": 6}
    assert result.space.train_block == space.train_block
    assert "train {\n    let C = 6" in result.space.to_das()


def test_darts_v2_trains_at_the_papers_size(load_space: Callable[[str], dasdsl.api.Space]) -> None:
    """The shipped DARTS-V2 space is searched-size text with DARTS' evaluation recipe as its train block."""
    space = load_space("darts_v2")
    cfg = dasdsl.api.training_settings(space)
    assert (cfg.epochs, cfg.batch, cfg.lr, cfg.cutout, cfg.auxiliary, cfg.drop_path) == (600, 96, 0.025, 16, 0.4, 0.2)
    assert cfg.augment == "crop_flip"
    evaluated = space.let(**space.train_lets)
    sizes = [sum(p.numel() for p in FixedNetwork(s.graph((3, 32, 32), 10)).parameters()) for s in (space, evaluated)]
    assert sizes == [246_106, 3_349_342]
