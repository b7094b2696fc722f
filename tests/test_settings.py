"""The table of search settings: its doc, its defaults, its parsers and their located errors, its flags."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import attrs
import pytest
from paths import ROOT, SPACE_DIR

import dasdsl
from dasdsl.cli import add_setting_flags
from dasdsl.errors import DasError
from dasdsl.lang import ast
from dasdsl.lang import settings as s
from dasdsl.lang.checked import Setting, Symbol
from dasdsl.lang.parse import parse
from dasdsl.lang.settings import SearchConfig, SettingError
from dasdsl.lang.settings.values import integer_setting

DOC = ROOT / "docs" / "search.md"
START, END = "<!-- settings-table:start", "<!-- settings-table:end -->"
SEARCH = "    gate softmax"
SPACE = f"""\
space s
input image
cell c {{
    input x
    output x
}}
network {{
    cells c
}}
search {{
{SEARCH}
}}
"""
BAD_SEARCH = """\
    weights sgd(lr = -1)
    penalty l1(1e-3), cost(time, 1)
    epochs  5, 6
    gate    softmx"""


# ---- the table and its doc -------------------------------------------------------------------


def test_the_doc_holds_exactly_the_generated_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1
    start = text.index("\n", text.index(START)) + 1  # the start marker's line may carry a comment
    assert text[start : text.index(END)] == s.settings_table()


def test_the_table_renders_one_row_per_setting() -> None:
    rows = s.settings_table().splitlines()[2:]
    assert [re.match(r"\| `(\w+)` \|", row).group(1) for row in rows] == list(s.SEARCH_KEYS)  # type: ignore[union-attr]
    assert all(len(re.split(r"(?<!\\)\|", row)) == 6 for row in rows)  # four cells: no unescaped '|' inside


def test_search_keys_come_from_the_table() -> None:
    assert tuple(x.name for x in s.SETTINGS) == s.SEARCH_KEYS
    assert len(set(s.SEARCH_KEYS)) == len(s.SEARCH_KEYS)


def test_the_checker_accepts_every_key_of_the_table() -> None:
    entries = "\n".join(f"    {x.name} {x.default or EXAMPLES[x.name]}" for x in s.SETTINGS)
    space = dasdsl.loads(SPACE.replace(SEARCH, entries))
    assert tuple(space.search_block) == s.SEARCH_KEYS


def test_every_setting_has_a_doc_and_a_default() -> None:
    for setting in s.SETTINGS:
        assert setting.doc.strip() and "\n" not in setting.doc, setting.name
        assert setting.default is None or setting.default.strip(), setting.name
        # off unless given: only the list settings and the latency table
        assert (setting.default is None) == (setting.name in ("constraint", "latency_table")), setting.name


@pytest.mark.parametrize("setting", [x for x in s.SETTINGS if x.default is not None], ids=lambda x: x.name)
def test_the_shown_default_is_the_default(setting: s.SearchSetting) -> None:
    values = s.parse_override(setting.name, setting.default)  # type: ignore[arg-type]
    assert s.check_entry(setting.name, values) == []
    assert s.resolve({setting.name: values}) == SearchConfig()


def test_the_settings_set_every_field_and_only_their_own() -> None:
    fields = [f for x in s.SETTINGS for f in x.fields]
    assert sorted(fields) == sorted(f.name for f in attrs.fields(SearchConfig))  # each field has one owner
    current = attrs.asdict(SearchConfig(), recurse=False)
    for setting in s.SETTINGS:
        text = EXAMPLES.get(setting.name, setting.default)
        assert text is not None, setting.name
        updates = setting.parse(s.parse_override(setting.name, text), current)
        assert set(updates) <= set(setting.fields), setting.name


EXAMPLES = {
    "data": 'npz("x.npz")',
    "weights": "sgd(lr = 0.1, momentum = 0.5, weight_decay = 0, schedule = constant, lr_min = 0)",
    "arch": "adam(lr = 0.1, betas = (0.9, 0.99), weight_decay = 0)",
    "gate": "gumbel(hard = 1, temperature = anneal(5.0 -> 0.05, cosine))",
    "discretize": "threshold(0.3)",
    "penalty": "l1(1e-3), cost(params, 1e-2)",
    "constraint": "max_skip(2)",
    "latency_table": '"latency.json"',
}


# ---- the shipped spaces --------------------------------------------------------------------

DEFAULT = SearchConfig()
SOFTMAX = attrs.evolve(DEFAULT, gate="softmax")  # the spaces that name DARTS' gate
DARTS = attrs.evolve(SOFTMAX, hypergradient="second_order", a_lr=3e-4)  # everything else as the defaults
EXPECTED = {
    "darts.das": DARTS,
    "darts_result.das": DARTS,
    "hierarchical.das": SOFTMAX,
    "knobs.das": attrs.evolve(
        DEFAULT,
        gate="sigmoid",
        tau0=5.0,
        tau1=0.05,
        tau_schedule="exponential",
        penalties=(("l1", None, 1e-3), ("cost", "params", 1e-2)),
        constraints=(("min_nonskip_per_path", 1),),
    ),
    "darts_v2.das": DEFAULT,
    "mlp.das": SOFTMAX,
    "mobilenet.das": attrs.evolve(SOFTMAX, epochs=20, penalties=(("cost", "params", 0.5),)),
    "nb201.das": DEFAULT,
    "nb201_digits.das": attrs.evolve(DEFAULT, finetune=20, constraints=(("max_params", 3682),)),
    "pooling.das": SOFTMAX,
    "seq1d.das": attrs.evolve(SOFTMAX, data="mnist1d", epochs=30),
    "widths.das": SOFTMAX,
}


def test_every_shipped_space_is_covered() -> None:
    assert sorted(p.name for p in SPACE_DIR.glob("*.das")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_spaces_resolve(name: str) -> None:
    space = dasdsl.load(SPACE_DIR / name)
    for key, values in space.search_block.items():
        assert s.check_entry(key, values) == [], key
    cfg = s.resolve(space.search_block)
    assert cfg == EXPECTED[name]
    assert SearchConfig.from_json(cfg.to_json()) == cfg


def test_resolve_applies_entries_on_top_of_a_base() -> None:
    base = s.resolve({"weights": s.parse_override("weights", "sgd(lr = 0.1, momentum = 0.5)")})
    cfg = s.resolve({"weights": s.parse_override("weights", "sgd(weight_decay = 0)"), "epochs": (3,)}, base)
    assert (cfg.w_lr, cfg.w_momentum, cfg.w_weight_decay, cfg.epochs) == (0.1, 0.5, 0.0, 3)
    gate = s.resolve({"gate": s.parse_override("gate", "sigmoid(temperature = 2)")})
    assert (gate.gate, gate.tau0, gate.tau1, gate.tau_schedule) == ("sigmoid", 2.0, 2.0, "constant")
    again = s.resolve({"gate": (Symbol("softmax"),)}, gate)
    assert (again.gate, again.tau0) == ("softmax", 2.0)  # a bare gate keeps the temperature


def test_a_stored_config_still_loads() -> None:
    """config.json of earlier runs (every field, lists for tuples) rebuilds the same configuration."""
    stored: dict[str, Any] = {
        "data": "npz:/tmp/x.npz",
        "epochs": 2,
        "batch": 16,
        "split": 0.5,
        "seed": 0,
        "w_lr": 0.025,
        "w_lr_min": 0.001,
        "w_momentum": 0.9,
        "w_weight_decay": 0.0003,
        "w_schedule": "cosine",
        "grad_clip": 5.0,
        "a_lr": 0.0003,
        "a_betas": [0.5, 0.999],
        "a_weight_decay": 0.001,
        "hypergradient": "first_order",
        "gate": "softmax",
        "tau0": 1.0,
        "tau1": 1.0,
        "tau_schedule": "constant",
        "hard": False,
        "discretize": "argmax",
        "threshold": 0.5,
        "penalties": [["l1", None, 0.001], ["cost", "params", 0.01]],
        "constraints": [["max_skip", 2]],
        "partial_channels": 1,
        "finetune": 0,
        "top": 1,
        "precision": "fp32",
        "latency_table": None,
    }
    cfg = SearchConfig.from_json(stored)
    assert cfg.a_betas == (0.5, 0.999)
    assert cfg.penalties == (("l1", None, 0.001), ("cost", "params", 0.01))
    # settings added since take today's defaults, or (select, budget) what a run did before they existed
    assert cfg.to_json() == {**stored, "anchor": 1e-3, "share_values": True, "fuse": True, "warmup": 0, **s.LEGACY}


# ---- bad values: located errors --------------------------------------------------------------

BAD = [
    # key, value text, message, hint (None: any), index, arg
    ("gate", "softmx", "unknown gate softmx", "did you mean softmax?", 0, None),
    ("gate", "sigmoid(temp = 1)", "sigmoid has no setting 'temp'", "it takes temperature, hard", 0, "temp"),
    ("gate", "sigmoid(1)", "sigmoid takes keyword settings only, e.g. sigmoid(temperature = ...)", None, 0, 0),
    ("gate", "sigmoid(temperature = 0)", "temperature must be a positive number, got 0", None, 0, "temperature"),
    (
        "gate",
        "sigmoid(temperature = anneal(5.0 -> 0.05, cosin))",
        "unknown annealing schedule cosin",
        "did you mean cosine?",
        0,
        "temperature",
    ),
    ("weights", "sgd(lr = -1)", "sgd lr must be a positive number, got -1", None, 0, "lr"),
    ("weights", "sgd(momentun = 0.5)", "sgd has no setting 'momentun'", "did you mean momentum?", 0, "momentun"),
    ("weights", "sgd(schedule = linear)", "unknown schedule linear", "expected cosine, constant", 0, "schedule"),
    ("weights", "adam(lr = 0.1)", "unknown weight optimizer adam(...)", "expected sgd", 0, None),
    ("arch", "adam(betas = 0.5)", "adam betas must be a pair like (0.5, 0.999), got 0.5", None, 0, "betas"),
    ("arch", "adam(lr = 0)", "adam lr must be a positive number, got 0", None, 0, "lr"),
    ("split", "1.5", "split must be a fraction between 0 and 1, got 1.5", None, 0, None),
    ("split", "0", "split must be a fraction between 0 and 1, got 0", None, 0, None),
    ("epochs", "0", "epochs must be a positive integer, got 0", None, 0, None),
    ("epochs", "2.5", "epochs must be a positive integer, got 2.5", None, 0, None),
    ("epochs", "5, 6", "search setting 'epochs' takes one value, got 2", None, 1, None),
    ("batch", "0", "batch must be a positive integer, got 0", None, 0, None),
    ("top", "0", "top must be a positive integer, got 0", None, 0, None),
    ("partial_channels", "0", "partial_channels must be a positive integer, got 0", None, 0, None),
    ("grad_clip", "-1", "grad_clip must be a positive number, got -1", None, 0, None),
    ("hypergradient", "second", "unknown hypergradient second", "did you mean second_order?", 0, None),
    ("precision", "fp64", "unknown precision fp64", "did you mean fp16?", 0, None),
    ("discretize", "argmin", "unknown discretization rule argmin", "did you mean argmax?", 0, None),
    ("discretize", "threshold", "threshold takes one value: discretize threshold(0.5)", None, 0, None),
    ("discretize", "threshold(0)", "threshold must be a positive number, got 0", None, 0, 0),
    ("penalty", "l2(1)", "unknown penalty l2(...)", "expected l1, entropy, zero_one, beta, cost", 0, None),
    ("penalty", "l1(1e-3), entropy(x)", "entropy weight must be a number, got x", None, 1, 0),
    ("penalty", "l1(1e-3), cost(time, 1)", "unknown cost measure time", "expected params, flops, latency", 1, 0),
    ("penalty", "l1(1e-3), cost(params)", "cost takes a measure and a weight: cost(params, 1e-2)", None, 1, None),
    ("penalty", "cost", "cost takes a measure and a weight: cost(params, 1e-2)", None, 0, None),
    ("penalty", "l1", "l1 takes a weight, l1(1e-3), or a ramp, l1(0 -> 50, linear)", None, 0, None),
    (
        "penalty",
        "l1(1, 2)",
        "l1 takes one weight, l1(1e-3), or a ramp and a schedule, l1(0 -> 5, linear)",
        None,
        0,
        None,
    ),
    ("penalty", "beta(0 -> 50, exponential)", "unknown ramp schedule exponential", "expected linear, cosine", 0, 1),
    ("penalty", "beta(0 -> x)", "beta end weight must be a number, got x", None, 0, 0),
    ("gate", "dirichlet(hard = 1)", "dirichlet has no setting 'hard'", "it takes anchor", 0, "hard"),
    ("gate", "dirichlet(anchor = -1)", "anchor must be a non-negative number, got -1", None, 0, "anchor"),
    ("constraint", "max_skip(-1)", "max_skip needs a non-negative integer, got -1", None, 0, 0),
    ("constraint", "max_flops(1), max_params(0)", "max_params must be a positive number, got 0", None, 1, 0),
    ("constraint", "max_skp(1)", "unknown constraint max_skp(...)", "did you mean max_skip or max_flops?", 0, None),
    (
        "constraint",
        "min_nonskip_per_path 1.5",
        "min_nonskip_per_path needs a non-negative integer, got 1.5",
        None,
        0,
        0,
    ),
    ("data", "npz(5)", "data source npz(...) takes one path in double quotes", None, 0, None),
    ("latency_table", "5", "latency_table takes a file name in double quotes, got 5", None, 0, None),
]


@pytest.mark.parametrize(("key", "text", "message", "hint", "index", "arg"), BAD, ids=[f"{b[0]}={b[1]}" for b in BAD])
def test_bad_values_are_located(key: str, text: str, message: str, hint: str | None, index: int, arg: Any) -> None:
    values = s.parse_override(key, text)
    [problem] = s.check_entry(key, values)
    assert isinstance(problem, SettingError)
    assert (problem.message, problem.index, problem.arg) == (message, index, arg)
    if hint is not None:
        assert problem.hint == hint
    with pytest.raises(DasError) as exc:  # resolve says the same, as a DasError
        s.resolve({key: values})
    [diag] = exc.value.errors
    assert (diag.message, diag.hint) == (problem.message, problem.hint)


def test_every_bad_value_of_a_list_is_reported() -> None:
    values = s.parse_override("penalty", "l1(x), entropy(1e-3), zero_one(y), l9(1)")
    problems = s.check_entry("penalty", values)
    assert [(p.index, p.message) for p in problems] == [
        (0, "l1 weight must be a number, got x"),
        (2, "zero_one weight must be a number, got y"),
        (3, "unknown penalty l9(...)"),
    ]


def test_an_unknown_key() -> None:
    [problem] = s.check_entry("gat", (Symbol("softmax"),))
    assert (problem.message, problem.hint, problem.index) == (
        "unknown search setting 'gat'",
        "did you mean gate?",
        None,
    )
    with pytest.raises(DasError, match="unknown search setting 'gat'"):
        s.resolve({"gat": (Symbol("softmax"),)})


def test_problem_spans_point_at_the_culprit() -> None:
    source = SPACE.replace(SEARCH, BAD_SEARCH)
    [block] = parse(source).statements(ast.SearchDecl)
    lines = source.split("\n")
    found = {}
    for entry in block.entries:
        values = tuple(s.evaluate_value(v) for v in entry.values)
        for problem in s.check_entry(entry.key, values):
            span = s.problem_span(entry, problem)
            assert span.line == span.end_line
            found[entry.key] = lines[span.line - 1][span.column - 1 : span.end_column - 1]
    assert found == {"weights": "lr = -1", "penalty": "time", "epochs": "6", "gate": "softmx"}


# ---- the command line ------------------------------------------------------------------------


def test_flagged_settings() -> None:
    assert set(s.RUN_SETTING_FLAGS) == {
        "data",
        "epochs",
        "warmup",
        "batch",
        "seed",
        "split",
        "hypergradient",
        "gate",
        "finetune",
        "top",
        "select",
        "precision",
        "share_values",
        "fuse",
    }
    for setting in s.FLAGGED:
        assert setting.flag is not None and setting.flag.help.strip(), setting.name
        assert setting.option == "--" + setting.name.replace("_", "-")


def test_the_flags_parse_into_search_values(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_setting_flags(parser, s.SEARCH)
    gate = "sigmoid(temperature = anneal(5.0 -> 0.05))"
    data = f"npz:{tmp_path}/x.npz"
    flags = ["--epochs", "3", "--split", "0.25", "--hypergradient", "exact", "--top", "2", "--precision", "bf16"]
    args = parser.parse_args(["--data", data, "--gate", gate, *flags])
    given = {k: getattr(args, k) for k in s.RUN_SETTING_FLAGS if getattr(args, k) is not None}
    assert given == {
        "data": data,
        "epochs": 3,
        "split": 0.25,
        "hypergradient": "exact",
        "gate": gate,
        "top": 2,
        "precision": "bf16",
    }
    cfg = s.resolve({k: s.parse_flag(k, v) for k, v in given.items()})
    assert cfg.data == f"npz:{tmp_path}/x.npz"
    assert (cfg.epochs, cfg.split, cfg.hypergradient, cfg.top, cfg.precision) == (3, 0.25, "exact", 2, "bf16")
    assert (cfg.gate, cfg.tau0, cfg.tau1, cfg.tau_schedule) == ("sigmoid", 5.0, 0.05, "exponential")
    assert s.parse_flag("data", "digits") == (Symbol("digits"),)
    with pytest.raises(SystemExit):
        parser.parse_args(["--hypergradient", "third_order"])


def test_parse_override() -> None:
    assert s.parse_override("weights", "sgd(lr = 0.1 * 2)") == (Setting("sgd", (), (("lr", 0.2),)),)
    assert s.parse_override("penalty", "l1 1e-3, cost(params, -1)") == (
        Setting("l1", (1e-3,)),
        Setting("cost", (Symbol("params"), -1)),
    )
    assert s.parse_override("epochs", "7 // 2") == (3,)
    cases = [
        ("no_such_key", "1", "unknown search setting 'no_such_key'"),
        ("gat", "softmax", "unknown search setting 'gat'"),
        ("epochs", "1 +", "unexpected end of line"),
        ("epochs", "-softmax", "'-' needs a number"),
        ("epochs", "a + 1", "'+' needs numbers"),
        ("epochs", "1 // 0", "division by zero"),
        ("gate", "softmax\n}\nlet X = 1", ""),
    ]
    for key, text, message in cases:
        with pytest.raises(DasError) as exc:
            s.parse_override(key, text)
        [diag] = exc.value.errors
        assert diag.message.startswith(f"cannot read the setting '{key} {text}': {message}"), diag.message


@pytest.mark.parametrize(
    "text", ["conv(k = [3, 5])", "-softmax", "a + 1", "1 // 0", "1e308 * 10", "sgd(lr = -(softmax))", "(1, 2 // 0)"]
)
def test_a_value_given_as_text_fails_as_the_checker_says(text: str) -> None:
    """One evaluator of the expression language (issue 25): a setting given as text (``--set``, a flag, a keyword)
    fails with the message and hint the checker gives for the same value in the block (a value list's hint was
    missing on the command line)."""
    with pytest.raises(DasError) as given:
        s.parse_override("epochs", text)
    [diag] = given.value.errors
    with pytest.raises(DasError) as checked:
        dasdsl.loads(SPACE.replace(SEARCH, f"    epochs {text}"))
    [error] = [d for d in checked.value.errors if d.severity == "error"]
    assert diag.message == f"cannot read the setting 'epochs {text}': {error.message}"
    assert diag.hint == error.hint


# ---- the same code in the checker and in `dasdsl run --help` ---------------------------------


def test_check_reports_bad_settings_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dasdsl.cli import main

    path = tmp_path / "bad.das"
    path.write_text(SPACE.replace(SEARCH, BAD_SEARCH), encoding="utf-8")
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    lines = set(re.findall(r"bad\.das:(\d+:\d+): error: ", err))
    # weights sgd(lr = -1) is line 11: the caret under `lr = -1`; cost(time, 1) under `time`;
    # the second value of `epochs 5, 6`; the gate name
    assert lines == {"11:17", "12:28", "13:16", "14:13"}, err
    assert "error: sgd lr must be a positive number, got -1" in err
    assert "error: unknown gate softmx" in err and "hint: did you mean softmax?" in err
    assert "Traceback" not in err


def test_check_and_run_agree_on_a_bad_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`check` rejects with the message `run` gives: one code validates both."""
    from dasdsl.cli import main

    path = tmp_path / "bad.das"
    path.write_text(SPACE.replace(SEARCH, "    gate softmx"), encoding="utf-8")
    assert main(["check", str(path)]) == 1
    checked = capsys.readouterr().err
    with pytest.raises(DasError) as caught:
        s.resolve({"gate": (Symbol("softmx"),)})
    assert caught.value.errors[0].message in checked


def test_run_help_comes_from_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    from dasdsl.cli import main

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps help lines
    for setting in s.FLAGGED:
        assert setting.option in text
        assert " ".join(setting.flag.help.split()) in text, setting.name


@pytest.mark.parametrize("block", ["search", "train"])
def test_a_new_setting_reaches_the_flag_the_reader_the_api_and_the_docs_from_its_record_alone(block: str) -> None:
    """A setting is one record: a copy of a block's table with one more reaches the block's flags (``dasdsl run``,
    ``dasdsl train``), its reader, the Python API's keyword (``dasdsl.search``, ``dasdsl.train``: signature, help,
    "did you mean", the value handed on) and the docs table without another edit (issue 25)."""
    import inspect

    import attrs

    import dasdsl.api

    base, config, api = {
        "search": (s.SEARCH, SearchConfig, dasdsl.api.search),
        "train": (s.TRAIN, s.TrainConfig, dasdsl.api.train),
    }[block]

    @attrs.frozen
    class Config(config):  # type: ignore[valid-type,misc]  # the config gains the field the new setting sets
        patience: int = 0

    record = s.SearchSetting(
        "patience",
        integer_setting("patience", positive=False),
        ("patience",),
        "0",
        "epochs without improvement",
        s.Flag("patience", int),
    )
    table = s.SettingsTable(block, Config, (*base.settings, record))
    parser = argparse.ArgumentParser()
    add_setting_flags(parser, table)
    assert parser.parse_args(["--patience", "3"]).patience == 3
    assert table.resolve(table.entries_of({"patience": 3})).patience == 3
    with pytest.raises(DasError, match="patience must be a non-negative integer, got -1"):
        table.resolve(table.entries_of({"patience": -1}))
    assert "| `patience` | `0` | `--patience` | epochs without improvement |" in table.markdown()
    # the API function's own parameters with the copy's keywords: the new one among them, with its doc
    function = dasdsl.api._takes_settings(table)(api.__wrapped__)
    params = inspect.signature(function).parameters
    names = list(inspect.signature(api).parameters)  # space, data, the settings, then the function's own
    assert list(params) == [*names[: 1 + len(base.settings)], "patience", *names[1 + len(base.settings) :]]
    assert params["patience"].kind is inspect.Parameter.KEYWORD_ONLY and params["patience"].default is None
    assert params["patience"].annotation == "int | None"
    assert "    - ``patience`` (default ``0``): epochs without improvement\n" in (function.__doc__ or "")
    with pytest.raises(DasError, match="did you mean patience"):
        function(None, patiense=3)
    # and a call hands the value on to the function's body, in table order, to read through the table

    @dasdsl.api._takes_settings(table)
    def body(space: object, data: object = None, *, out: object = None, **settings: object) -> dict:
        return settings

    given = body(None, patience=3, out="x", epochs=2)
    assert list(given) == ["epochs", "patience"]
    assert table.resolve(table.entries_of(given)).patience == 3
