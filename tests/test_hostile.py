"""Hostile input: numbers Python will not convert, non-finite and out-of-range settings, keywords given twice,
settings that cannot go together, odd characters, empty files. Each must end in a located one-paragraph error
(exit 1), never an internal error or a traceback; a refused run leaves no run directory behind.

Each case is a whole file: a small valid space with one thing wrong, and the exact error lines
``FILE:LINE:COL: error: MESSAGE`` that ``dasdsl check`` (or ``dasdsl run``) must print, no more.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_budget import examples
from paths import POOLING, ROOT

from dasdsl.api import Space
from dasdsl.cli import main
from dasdsl.errors import DasError
from dasdsl.lang import settings as s

SPACE = """\
space s
input image
cell c(k) {
    input x
    node y = x ~ [skip, conv(3)]
    output y
}
network {
    cells c(8)
    head  global_avg_pool then linear(classes)
}
"""
LONG = "1" * 5000  # Python refuses int() of more than 4300 digits
SEARCH_LINE = SPACE.count("\n") + 2  # the first entry of a search block appended to SPACE


def searching(*entries: str) -> str:
    """SPACE with a search block of these entries (the first on line SEARCH_LINE)."""
    return SPACE + "search {\n" + "".join(f"    {e}\n" for e in entries) + "}\n"


def edit(old: str, new: str) -> str:
    assert old in SPACE
    return SPACE.replace(old, new)


def at(line: int, col: int, message: str) -> tuple[int, int, str]:
    return (line, col, message)


def entry(col: int, message: str, line: int = SEARCH_LINE) -> tuple[int, int, str]:
    """An error in the search block, at column ``col`` of its first entry (or of ``line``)."""
    return (line, col, message)


TOO_LONG_5000 = "number too long: 5000 digits (at most 100)"

# (id, file text, [(line, column, message), ...]): `dasdsl check` prints exactly these errors
CHECK = [
    # ---- numbers Python will not convert, numbers that are not finite
    ("long-let", SPACE.replace("input image\n", f"input image\nlet C = {LONG}\n"), [at(3, 9, TOO_LONG_5000)]),
    ("long-cell-argument", edit("cells c(8)", f"cells c({LONG})"), [at(9, 13, TOO_LONG_5000)]),
    ("long-repeat-count", edit("cells c(8)", f"cells c(8) x {LONG}"), [at(9, 18, TOO_LONG_5000)]),
    ("long-op-argument", edit("conv(3)", f"conv({LONG})"), [at(5, 30, TOO_LONG_5000)]),
    ("long-setting", searching(f"epochs {LONG}"), [entry(12, TOO_LONG_5000)]),
    ("long-setting-keyword", searching(f"weights sgd(lr = {LONG})"), [entry(22, TOO_LONG_5000)]),
    ("long-float", searching("split 0." + "5" * 5000), [entry(11, "number too long: 5001 digits (at most 100)")]),
    ("101-digits", searching("seed " + "9" * 101), [entry(10, "number too long: 101 digits (at most 100)")]),
    ("inf-seed", searching("seed 1e999"), [entry(10, "number too large: 1e999 is not a finite number")]),
    ("inf-lr", searching("weights sgd(lr = 1e999)"), [entry(22, "number too large: 1e999 is not a finite number")]),
    (
        "inf-repeat-count",
        edit("cells c(8)", "cells c(8) x 1e999"),
        [at(9, 18, "number too large: 1e999 is not a finite number")],
    ),
    (
        "inf-folded",
        searching("weights sgd(lr = 1e300 * 1e300)"),
        [entry(22, "number too large: the result of '*' is not a finite number")],
    ),
    (
        "huge-folded-constant",
        SPACE.replace("input image\n", "input image\nlet A = " + "9" * 60 + "\nlet B = A * A\n"),
        [at(4, 9, "number too large: the result of '*' has more than 100 digits")],
    ),
    (
        "inf-cost-weight",
        searching("penalty cost(params, 1e200 * 1e200)"),
        [entry(26, "number too large: the result of '*' is not a finite number")],
    ),
    ("inf-spaced-weight", searching("penalty l1 1e999"), [entry(16, "number too large: 1e999 is not a finite number")]),
    # ---- seeds
    ("negative-seed", searching("seed -1"), [entry(10, "seed must be a non-negative integer below 2**32, got -1")]),
    (
        "seed-2**32",
        searching("seed 4294967296"),
        [entry(10, "seed must be a non-negative integer below 2**32, got 4294967296")],
    ),
    (
        "huge-seed",
        searching("seed " + "9" * 30),
        [entry(10, f"seed must be a non-negative integer below 2**32, got {'9' * 30}")],
    ),
    ("float-seed", searching("seed 1.5"), [entry(10, "seed must be a non-negative integer below 2**32, got 1.5")]),
    # ---- float settings: finite, in range
    ("nan-lr", searching("weights sgd(lr = nan)"), [entry(17, "sgd lr must be a positive number, got nan")]),
    (
        "momentum-1",
        searching("weights sgd(momentum = 1)"),
        [entry(17, "sgd momentum must be a number in [0, 1), got 1")],
    ),
    (
        "negative-momentum",
        searching("weights sgd(momentum = -0.5)"),
        [entry(17, "sgd momentum must be a number in [0, 1), got -0.5")],
    ),
    (
        "negative-weight-decay",
        searching("weights sgd(weight_decay = -1)"),
        [entry(17, "weight_decay must be a non-negative number, got -1")],
    ),
    (
        "negative-adam-weight-decay",
        searching("arch adam(weight_decay = -0.001)"),
        [entry(15, "weight_decay must be a non-negative number, got -0.001")],
    ),
    (
        "negative-lr-min",
        searching("weights sgd(lr_min = -1)"),
        [entry(17, "lr_min must be a non-negative number, got -1")],
    ),
    (
        "beta-1.5",
        searching("arch adam(betas = (0.5, 1.5))"),
        [entry(15, "adam betas must each be in [0, 1), got (0.5, 1.5)")],
    ),
    (
        "negative-beta",
        searching("arch adam(betas = (-0.1, 0.9))"),
        [entry(15, "adam betas must each be in [0, 1), got (-0.1, 0.9)")],
    ),
    ("zero-grad-clip", searching("grad_clip 0"), [entry(15, "grad_clip must be a positive number, got 0")]),
    (
        "zero-end-temperature",
        searching("gate sigmoid(temperature = anneal(5.0 -> 0, cosine))"),
        [entry(18, "end temperature must be a positive number, got 0")],
    ),
    (
        "anneal-three-values",
        searching("gate sigmoid(temperature = anneal(5.0 -> 0.05, cosine, 3))"),
        [entry(18, "anneal takes a range and a schedule: anneal(5.0 -> 0.05, cosine), got 3 values")],
    ),
    (
        "inf-constraint",
        searching("constraint max_params(1e308 * 10)"),
        [entry(27, "number too large: the result of '*' is not a finite number")],
    ),
    # ---- integer settings: positive and bounded
    ("epochs-too-many", searching("epochs 1000001"), [entry(12, "epochs must be at most 1000000, got 1000001")]),
    ("batch-too-big", searching("batch 1048577"), [entry(11, "batch must be at most 1048576 (2**20), got 1048577")]),
    ("top-too-many", searching("top 10001"), [entry(9, "top must be at most 10000, got 10001")]),
    ("negative-finetune", searching("finetune -1"), [entry(14, "finetune must be a non-negative integer, got -1")]),
    ("finetune-too-many", searching("finetune 1000001"), [entry(14, "finetune must be at most 1000000, got 1000001")]),
    ("float-top", searching("top 2.5"), [entry(9, "top must be a positive integer, got 2.5")]),
    # ---- keywords given twice, arguments where none belong
    ("lr-twice", searching("weights sgd(lr = 0.1, lr = 0.2)"), [entry(27, "sgd got setting 'lr' twice")]),
    (
        "lr-three-times",
        searching("weights sgd(lr = 0.1, lr = 0.2, lr = 0.3)"),
        [entry(27, "sgd got setting 'lr' twice")],
    ),
    ("hard-twice", searching("gate gumbel(hard = 1, hard = 0)"), [entry(27, "gumbel got setting 'hard' twice")]),
    (
        "betas-twice",
        searching("arch adam(lr = 0.1, betas = (0.5, 0.9), betas = (0.5, 0.9))"),
        [entry(45, "adam got setting 'betas' twice")],
    ),
    ("precision-called", searching("precision fp16(1)"), [entry(15, "precision fp16 takes no arguments")]),
    ("argmax-called", searching("discretize argmax(2)"), [entry(16, "discretization rule argmax takes no arguments")]),
    ("penalty-keyword", searching("penalty l1(1e-3, w = 2)"), [entry(22, "l1 takes no keyword settings, got 'w'")]),
    # ---- settings that cannot go together
    (
        "perturbation-top",
        searching("discretize perturbation", "top 3"),
        [
            entry(
                16,
                "discretize perturbation picks one architecture by the supernet's accuracy; it cannot rank the top 3",
            )
        ],
    ),
    (
        "perturbation-constraint",
        searching("constraint max_skip(1)", "discretize perturbation"),
        [
            entry(
                16,
                "discretize perturbation picks one architecture by the supernet's accuracy; it cannot meet constraints",
                SEARCH_LINE + 1,
            )
        ],
    ),
    (
        "perturbation-top-constraint",
        searching("discretize perturbation", "top 2", "constraint max_params(1e6)"),
        [
            entry(
                16,
                "discretize perturbation picks one architecture by the supernet's accuracy; "
                "it cannot rank the top 2 or meet constraints",
            )
        ],
    ),
    # ---- file names the system cannot take
    (
        "nul-latency-table",
        searching('latency_table "a\x00b"'),
        [entry(19, "latency_table names a file with a NUL character in it: 'a\\x00b'")],
    ),
    (
        "nul-data-path",
        searching('data npz("a\x00b")'),
        [entry(10, "data npz names a file with a NUL character in it: 'a\\x00b'")],
    ),
    # ---- odd characters, odd files
    (
        "accented-name",
        SPACE.replace("input image\n", "input image\nlet café = 3\n"),
        [at(3, 8, "unexpected character 'é'")],
    ),
    ("greek-name", SPACE.replace("input image\n", "input image\nlet α = 3\n"), [at(3, 5, "unexpected character 'α'")]),
    ("fullwidth-name", edit("cell c(k)", "cell ｃ(k)"), [at(3, 6, "unexpected character 'ｃ'")]),
    ("zero-width-space", edit("cell c(k)", "cell c\u200b(k)"), [at(3, 7, "unexpected character '\\u200b'")]),
    ("line-separator", SPACE.replace("space s\n", "space s\u2028"), [at(1, 8, "unexpected character '\\u2028'")]),
    (
        "nul-character",
        SPACE.replace("input image\n", "input image\n\x00\n"),
        [at(3, 1, "unexpected character '\\x00'")],
    ),
    ("empty-file", "", [at(1, 1, "unexpected end of file; expected 'space', end of line")]),
    ("only-comments", "# a space\n# of nothing\n", [at(2, 13, "unexpected end of file; expected 'space'")]),
    (
        "deeply-nested",
        edit("cells c(8)", "cells c(" + "(1 + " * 150 + "1" + ")" * 150 + ")"),
        [at(9, 479, "expression nested too deeply (more than 100 levels)")],
    ),
    (
        "huge-repeat-count",
        edit("cells c(8)", "cells c(8) x 99999999999999999999"),
        [at(9, 18, "a repeat count of 99,999,999,999,999,999,999 is more than a network can hold (at most 10,000)")],
    ),
    (
        "huge-keep",
        edit("[skip, conv(3)]", "[skip, conv(3)] keep 99999999999999999999"),
        [at(5, 39, "keep 99999999999999999999 is larger than the fan-in of node 'y' (1 edge)")],
    ),
]


def _clean(err: str) -> None:
    assert "Traceback" not in err and "internal error" not in err, err


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if ": error: " in line]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CHECK], ids=[c[0] for c in CHECK])
def test_check_refuses_hostile_input(
    text: str, expected: list[tuple[int, int, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.das"
    path.write_bytes(text.encode("utf-8"))
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    _clean(err)
    assert _error_lines(err) == [f"{path}:{line}:{col}: error: {message}" for line, col, message in expected], err


def test_the_cases_are_many_and_distinct() -> None:
    ids = [c[0] for c in CHECK] + [c[0] for c in RUN]
    assert len(ids) == len(set(ids)) and len(ids) >= 30


def test_fmt_refuses_a_long_literal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fmt parses first: the same located error, and the file stays as it was."""
    path = tmp_path / "bad.das"
    text = edit("cells c(8)", f"cells c({LONG})")
    path.write_text(text, encoding="utf-8")
    assert main(["fmt", str(path)]) == 1
    err = capsys.readouterr().err
    _clean(err)
    assert _error_lines(err) == [f"{path}:9:13: error: {TOO_LONG_5000}"]
    assert path.read_text(encoding="utf-8") == text


# ---- run: errors in the final settings (the command line's included), before any training -----------

RUN_SPACE = searching("discretize perturbation")
SETTINGS_ERROR = "<search settings>: error: "

# (id, space text, extra arguments of `dasdsl run`, the one error line)
RUN = [
    (
        "run-perturbation-top",
        RUN_SPACE,
        ["--top", "3"],
        SETTINGS_ERROR
        + "discretize perturbation picks one architecture by the supernet's accuracy; it cannot rank the top 3",
    ),
    (
        "run-perturbation-constraint",
        RUN_SPACE,
        ["--set", "constraint=max_skip(1)"],
        SETTINGS_ERROR
        + "discretize perturbation picks one architecture by the supernet's accuracy; it cannot meet constraints",
    ),
    (
        "run-top-then-perturbation",
        searching("top 2"),
        ["--set", "discretize=perturbation"],
        SETTINGS_ERROR
        + "discretize perturbation picks one architecture by the supernet's accuracy; it cannot rank the top 2",
    ),
    (
        "run-inf-lr",
        SPACE,
        ["--set", "weights=sgd(lr = 1e999)"],
        SETTINGS_ERROR
        + "cannot read the setting 'weights sgd(lr = 1e999)': number too large: 1e999 is not a finite number",
    ),
    (
        "run-folded-inf-temperature",
        SPACE,
        ["--set", "gate=softmax(temperature = 1e308 * 10)"],
        SETTINGS_ERROR + "cannot read the setting 'gate softmax(temperature = 1e308 * 10)': "
        "number too large: the result of '*' is not a finite number",
    ),
    (
        "run-negative-seed",
        SPACE,
        ["--seed", "-1"],
        SETTINGS_ERROR + "seed must be a non-negative integer below 2**32, got -1",
    ),
    (
        "run-huge-seed",
        SPACE,
        ["--seed", "9" * 25],
        SETTINGS_ERROR + f"seed must be a non-negative integer below 2**32, got {'9' * 25}",
    ),
    (
        "run-lr-twice",
        SPACE,
        ["--set", "weights=sgd(lr = 0.1, lr = 0.2)"],
        SETTINGS_ERROR + "sgd got setting 'lr' twice",
    ),
    (
        "run-batch-too-big",
        SPACE,
        ["--batch", "2000000"],
        SETTINGS_ERROR + "batch must be at most 1048576 (2**20), got 2000000",
    ),
    (
        "run-beta-1",
        SPACE,
        ["--set", "arch=adam(betas = (0.9, 1))"],
        SETTINGS_ERROR + "adam betas must each be in [0, 1), got (0.9, 1)",
    ),
    (
        "run-long-literal-in-file",
        edit("cells c(8)", f"cells c({LONG})"),
        [],
        "{path}:9:13: error: " + TOO_LONG_5000,
    ),
]


@pytest.mark.parametrize(("text", "args", "expected"), [c[1:] for c in RUN], ids=[c[0] for c in RUN])
def test_run_refuses_before_training(
    text: str, args: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "space.das"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "runs"
    assert main(["run", str(path), "--epochs", "1", "--device", "cpu", "--out", str(out), *args]) == 1
    err = capsys.readouterr().err
    _clean(err)
    assert _error_lines(err) == [expected.format(path=path)], err
    assert not out.exists() or not any(out.iterdir()), "a refused run left a run directory behind"


# ---- the settings table never fails with anything but DasError ---------------------------------------------

_NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "-1e999", "1e308 * 10", "0", "-0", "2**63", LONG, "9" * 101]),
)
_STRINGS = st.text(max_size=20).map(lambda t: '"' + re.sub(r'["\\\n]', "", t) + '"')  # .das strings
_TEXTS = st.one_of(
    _NUMBERS.map(str),
    st.text(max_size=40),
    _STRINGS,
    _STRINGS.map("npz({})".format),
    st.text(alphabet='0123456789.e+-*/(),=-> "\\x_', max_size=40),
    st.builds(
        "{}({} = {})".format,
        st.sampled_from(
            ["sgd", "adam", "softmax", "gumbel", "sigmoid", "l1", "cost", "max_params", "threshold", "npz"]
        ),
        st.sampled_from(["lr", "momentum", "weight_decay", "betas", "lr_min", "temperature", "hard", "schedule", "w"]),
        _NUMBERS.map(str),
    ),
    st.builds(
        "{}({}, {})".format,
        st.sampled_from(["cost", "anneal", "max_skip", "l1", "cifar10", "threshold"]),
        st.one_of(_NUMBERS.map(str), st.sampled_from(["params", "flops", "1 -> 2", '"x"', "(1, 2)"])),
        _NUMBERS.map(str),
    ),
)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=list(HealthCheck))
@given(key=st.sampled_from(s.SEARCH_KEYS), text=_TEXTS)
def test_settings_raise_only_das_errors(key: str, text: str) -> None:
    try:
        cfg = s.check_config(s.resolve({key: s.parse_override(key, text)}))
    except DasError as exc:
        assert exc.errors and all(d.message for d in exc.errors)
        return
    for value in (cfg.w_lr, cfg.a_lr, cfg.grad_clip, cfg.tau0, cfg.tau1, cfg.threshold, cfg.w_momentum):
        assert math.isfinite(value)
    assert 0 <= cfg.seed < 2**32 and 1 <= cfg.epochs <= s.MAX_EPOCHS and 1 <= cfg.batch <= s.MAX_BATCH


@settings(max_examples=examples(200), deadline=None, suppress_health_check=list(HealthCheck))
@given(key=st.sampled_from(s.SEARCH_KEYS), value=st.one_of(_NUMBERS, st.just(10**5000), st.text(max_size=20)))
def test_python_values_raise_only_das_errors(key: str, value: object) -> None:
    """What the API hands on (``dasdsl.search(space, seed=...)``): a Python value of a setting."""
    try:
        s.resolve({key: s.parse_flag(key, value)})
    except DasError as exc:
        assert exc.errors


# ---- the other commands and the Python API -----------------------------------------------------

RESULT = ROOT / "spaces" / "darts_result.das"
WIDE = POOLING.read_text(encoding="utf-8").replace("conv_bn(3, out = 8)", "conv_bn(3, out = 100000000)")

# (id, argv with {tmp} for the test's folder, files to make first, text the error must hold)
COMMAND_CASES = [
    ("compile-missing", ["compile", "{tmp}/none.das"], {}, "no such file"),
    ("compile-wide", ["compile", "{tmp}/wide.das", "--data", "digits"], {"wide.das": WIDE}, "GiB of weights"),
    ("compile-bad-data", ["compile", str(POOLING), "--data", "nosuch"], {}, "unknown data source 'nosuch'"),
    ("compile-graph-in-folder", ["compile", str(POOLING), "--graph", "{tmp}"], {}, "is a folder"),
    ("compile-npy", ["compile", str(POOLING), "--data", "npz:{tmp}/nope.npz"], {}, "npz: no file"),
    ("train-choices", ["train", str(POOLING), "--epochs", "1", "--out", "{tmp}/runs"], {}, "still has 1 choice"),
    ("train-epochs-0", ["train", str(RESULT), "--epochs", "0", "--out", "{tmp}/runs"], {}, "epochs must be a positive"),
    (
        "train-lr-inf",
        ["train", str(RESULT), "--lr", "inf", "--out", "{tmp}/runs"],
        {},
        "lr must be a positive number, got inf",
    ),
    ("train-batch", ["train", str(RESULT), "--batch", "99999", "--out", "{tmp}/runs"], {}, "larger than the data"),
    ("train-no-file", ["train"], {}, "needs a RESULT.das file"),
    ("train-resume-nothing", ["train", "--resume", "{tmp}/nothing"], {}, "not the run directory of a training"),
    ("run-resume-nothing", ["run", "--resume", "{tmp}"], {}, "is not a run directory"),
    ("run-nproc", ["run", str(POOLING), "--nproc", "0"], {}, "--nproc must be at least 1"),
    ("run-out-file", ["run", str(POOLING), "--out", "{tmp}/f"], {"f": "x"}, "is a file"),
    ("run-set-unknown", ["run", str(POOLING), "--set", "out=x"], {}, "unknown search setting 'out'"),
    ("run-set-no-eq", ["run", str(POOLING), "--set", "epochs"], {}, "--set takes KEY=VALUE"),
    ("run-device", ["run", str(POOLING), "--device", "tpu"], {}, "unknown device"),
    ("render-nothing", ["render"], {}, "needs a FILE"),
    ("render-format", ["render", str(POOLING), "-o", "{tmp}/x.jpeg"], {}, "cannot write '.jpeg' files"),
    ("render-cell", ["render", str(POOLING), "--cell", "nope", "-o", "{tmp}/x.svg"], {}, "has no cell 'nope'"),
    ("render-run-missing", ["render", "--run", "{tmp}/none"], {}, "is not a run directory"),
    ("plot-empty", ["plot", "{tmp}"], {}, "log.jsonl"),
    ("report-nothing", ["report", "{tmp}"], {}, "is not a run directory"),
    ("profile-repeats", ["profile", str(POOLING), "--repeats", "0"], {}, "--repeats must be at least 1"),
    ("profile-out-folder", ["profile", str(POOLING), "-o", "{tmp}"], {}, "is a folder"),
    ("fmt-missing", ["fmt", "{tmp}/none.das"], {}, "no such file"),
]


@pytest.mark.parametrize(
    ("argv", "files", "message"), [c[1:] for c in COMMAND_CASES], ids=[c[0] for c in COMMAND_CASES]
)
def test_commands_refuse_hostile_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main([a.format(tmp=tmp_path) for a in argv]) == 1
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err and "internal error" not in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing left behind


API_CASES = [
    (
        "unknown-setting",
        lambda s: s.search(gat="softmax", progress=False),
        "dasdsl.search() got an unknown keyword 'gat'",
    ),
    ("bad-gate", lambda s: s.search(gate="softmx", progress=False), "unknown gate softmx"),
    ("negative-lr", lambda s: s.search(weights="sgd(lr = -1)", progress=False), "sgd lr must be a positive"),
    ("one-array", lambda s: s.search((1, 2, 3), progress=False), "data must be a source name"),
    ("labels-mismatch", lambda s: s.search(([[0.0]] * 4, [0, 1]), progress=False), "4 inputs but 2 labels"),
    ("train-choices", lambda s: s.train("synthetic", epochs=1, progress=False), "still has 1 choice point"),
    ("network-choices", lambda s: s.network(), "still has 1 choice point"),
    ("resume-nothing", lambda s: __import__("dasdsl").resume("/no/such/run", progress=False), "is not a run directory"),
    ("huge-int", lambda s: s.search(epochs=10**5000, progress=False), "a number of 16610 bits is too long"),
]


@pytest.mark.parametrize(("call", "message"), [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_the_api_refuses_hostile_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: Callable[[Space], object], message: str, pooling: Space
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DasError, match=re.escape(message)):
        call(pooling)
    assert list(tmp_path.iterdir()) == []
