"""The Python API speaks Python (issue 24): every setting a real keyword of ``search`` / ``train`` (so help()
and an editor list them), Python values (True / False, dicts, ``torch.device``), a "did you mean" for a
mistyped keyword, settings given back under the table's names so a run repeats, one default gate for a
supernet and a search, short reprs, and a run directory that records the text searched.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest
import torch
from paths import POOLING, ROOT
from paths import SMALL_NB201 as SMALL

import dasdsl
import dasdsl.api
from dasdsl.compiler.lower import gate_weights
from dasdsl.engine.rundir import untimed
from dasdsl.lang import settings

QUICK = {"epochs": 1, "batch": 32, "progress": False, "select": "gates"}


@pytest.fixture(scope="module")
def pooling() -> dasdsl.api.Space:
    return dasdsl.load(POOLING)


# -- the keywords are the tables'


@pytest.mark.parametrize(
    ("fn", "table", "positional"),
    [(dasdsl.api.search, settings.SEARCH, {"data"}), (dasdsl.api.train, settings.TRAIN, {"data"})],
)
def test_every_setting_is_a_keyword_with_its_doc(fn: object, table: settings.SettingsTable, positional: set) -> None:
    params = inspect.signature(fn).parameters  # type: ignore[arg-type]
    for s in table.settings:
        assert s.name in params, s.name
        assert (params[s.name].kind is inspect.Parameter.KEYWORD_ONLY) == (s.name not in positional)
        assert f"``{s.name}``" in (fn.__doc__ or ""), s.name  # help() lists it with its one-line doc
        assert s.doc.replace("`", "``")[:40] in (fn.__doc__ or "")


def test_the_space_methods_are_the_functions() -> None:
    # one signature and one docstring: help(space.search) lists every setting
    assert dasdsl.Space.search is dasdsl.api.search and dasdsl.Space.train is dasdsl.api.train
    # the package that runs searches is dasdsl.engine, so the top-level name is the function the errors name
    assert dasdsl.search is dasdsl.api.search
    assert "gate" in inspect.signature(dasdsl.load(POOLING).search).parameters


# -- Python values


def test_python_values_read_as_the_block_would(pooling: dasdsl.api.Space) -> None:
    result = pooling.search(
        "synthetic",
        **QUICK,
        fuse=False,
        share_values=True,
        weights={"lr": 0.05, "momentum": 0.5},
        arch={"betas": (0.6, 0.9)},
        device=torch.device("cpu"),
    )
    assert result is not None
    s = result.settings
    assert s["fuse"] is False and s["share_values"] is True
    assert s["weights"] == "sgd(lr = 0.05, momentum = 0.5, weight_decay = 0.0003, schedule = cosine, lr_min = 0.001)"
    assert s["arch"] == "adam(lr = 0.03, betas = (0.6, 0.9), weight_decay = 0.001)"
    # and .das strings still work, meaning the same
    text = pooling.search("synthetic", **QUICK, fuse="off", weights="sgd(lr = 0.05, momentum = 0.5)")
    assert text is not None and text.settings["fuse"] is False and text.settings["weights"] == s["weights"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fuse": 3}, "unknown fuse 3"),
        ({"weights": {"lrr": 0.1}}, "sgd has no setting 'lrr'"),
        ({"weights": {"lr": float("nan")}}, "sgd lr must be a positive number, got nan"),
        ({"epochs": float("inf")}, "epochs must be a positive integer, got inf"),
        ({"penalty": {"w": 1}}, "search setting 'penalty' takes no dict of keyword settings"),
        ({"seed": {"a": 1}}, "search setting 'seed' takes no dict of keyword settings"),
        ({"device": 5}, "device must be a name or a torch.device, got int"),
        ({"device": torch.device("meta")}, "unknown device 'meta'"),
    ],
)
def test_bad_python_values_are_das_errors(
    pooling: dasdsl.api.Space, tmp_path: Path, options: dict, message: str
) -> None:
    with pytest.raises(dasdsl.DasError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pooling.search("synthetic", **{**QUICK, **options}, out=tmp_path)
    assert list(tmp_path.iterdir()) == []  # refused before a run directory exists


@pytest.mark.parametrize(
    ("call", "typo", "meant"),
    [
        ("search", "progres", "progress"),
        ("search", "callback", "callbacks"),
        ("search", "out_dir", "out"),
        ("search", "gat", "gate"),
        ("train", "progres", "progress"),
        ("train", "epoch", "epochs"),
        ("resume", "callback", "callbacks"),
        ("resume_training", "devise", "device"),
    ],
)
def test_a_mistyped_keyword_gets_did_you_mean(tmp_path: Path, call: str, typo: str, meant: str) -> None:
    fn = getattr(dasdsl.api, call)
    first = dasdsl.load(POOLING) if call in ("search", "train") else tmp_path
    with pytest.raises(dasdsl.DasError) as info:
        fn(first, **{typo: 1})
    text = str(info.value)
    assert f"dasdsl.{call}() got an unknown keyword '{typo}'" in text
    assert re.search(rf"did you mean (\w+ or )*{meant}\b", text), text
    assert list(tmp_path.iterdir()) == []


def test_errors_are_worded_for_python_too(tmp_path: Path) -> None:
    space = dasdsl.load(POOLING)
    with pytest.raises(dasdsl.DasError) as info:
        space.search("synthetic", **{**QUICK, "batch": 100_000})
    assert "batch 100000 is larger than the data split" in str(info.value) and "--" not in str(info.value)
    run = space.search("synthetic", **{**QUICK, "epochs": 2}, out=tmp_path, report=False)
    assert run is not None and run.run_dir is not None
    with pytest.raises(dasdsl.DasError) as info:
        dasdsl.resume(run.run_dir, epochs=1, progress=False)
    assert "resuming it with 1 epochs can only extend it" in str(info.value) and "--resume" not in str(info.value)
    if not torch.cuda.is_available():  # (CI and the dev machine: CPU only)
        with pytest.raises(dasdsl.DasError) as info:
            space.search("synthetic", **QUICK, device="cuda")
        assert "device 'cuda' asked for, but no CUDA device is available" in str(info.value)
        assert "--device" not in str(info.value)


# -- a run repeats from its settings


def test_the_settings_given_back_repeat_the_run(pooling: dasdsl.api.Space) -> None:
    first = pooling.search("synthetic", epochs=2, batch=32, seed=3, progress=False, gate="softmax", fuse=False)
    assert first is not None
    assert not ({"w_lr", "tau0", "a_lr", "penalties", "constraints"} & set(first.settings))  # the table's names
    assert set(first.settings) <= set(settings.SEARCH.keys)
    again = pooling.search(progress=False, **first.settings)
    assert again is not None
    assert untimed(again.history) == untimed(first.history) and again.summary == first.summary
    assert again.settings == first.settings


def test_every_config_reads_back_from_its_values() -> None:
    """search_values inverts resolve for every kind of value (gates, ramps, constraints, files)."""
    variants = [
        {},
        {"gate": "gumbel(temperature = anneal(5 -> 0.1, cosine), hard = 1)", "discretize": "threshold(0.3)"},
        {"gate": "sigmoid(temperature = 2)", "penalty": "l1(1e-3), cost(params, 0.01), beta(0 -> 5, cosine)"},
        {"gate": "softmax(temperature = anneal(2 -> 2, constant))", "select": "gates", "budget": "off"},
        {"constraint": "max_params(3000), max_skip(2)", "budget": "adaptive(rate = 0.1)", "data": "npz:/x/y z.npz"},
        {"weights": "sgd(schedule = constant)", "fuse": "off", "share_values": "off", "latency_table": '"/t/a b.json"'},
    ]
    for given in variants:
        cfg = settings.SEARCH.resolve(settings.SEARCH.entries_of(given))
        values = settings.search_values(cfg)
        assert settings.SEARCH.resolve(settings.SEARCH.entries_of(values)) == cfg, given


# -- one default gate


def test_a_supernet_has_the_gate_a_search_would_use() -> None:
    space = dasdsl.load(SMALL)
    assert space.supernet((1, 8, 8), 10).gate == settings.SearchConfig().gate == "dirichlet"
    assert "gate softmax" in POOLING.read_text(encoding="utf-8")
    assert dasdsl.load(POOLING).supernet((1, 8, 8), 10).gate == "softmax"  # its search block's, as a search reads
    net = space.supernet((1, 8, 8), 10, gate="sigmoid(temperature = 2)", share_values=False)
    assert (net.gate, net.temperature) == ("sigmoid", 2.0)
    a = torch.tensor([0.0, 1.0])
    assert torch.allclose(gate_weights(a, net.gate, net.temperature), torch.sigmoid(a / 2.0))


# -- short reprs


def test_reprs_are_one_line(pooling: dasdsl.api.Space) -> None:
    assert repr(pooling) == f"<Space 'pooling' from {POOLING}: image input, cells pool, 1 choice>"
    result = pooling.search("synthetic", **QUICK)
    assert result is not None
    text = repr(result)
    assert text.startswith("<SearchResult 'pooling_result': 1 epoch, test accuracy ") and "\n" not in text
    assert text.endswith("(inherited weights, batch norm recalibrated)>")  # which network the accuracy measures
    assert len(text) < 200
    html = result._repr_html_()
    assert "Search result: pooling_result" in html and "discretized, test accuracy" in html
    assert "<svg" in html or "graphviz" in html  # the cell, or how to get its picture
    assert html.count("<svg") >= 2 and "cross-entropy" in html and "accuracy" in html  # the curves, as charts


# -- the record is the text searched


def test_the_run_directory_records_the_text_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = POOLING.read_text(encoding="utf-8")
    Path("wiggle.das").write_text((ROOT / "spaces" / "nb201_digits.das").read_text(encoding="utf-8"))
    result = dasdsl.loads(text, file="wiggle.das").search("synthetic", **QUICK, out="runs")
    assert result is not None and result.run_dir is not None
    assert (result.run_dir / "space.das").read_text(encoding="utf-8") == text  # not the unrelated wiggle.das
    # a file edited between load and search: the run records what was loaded and searched
    Path("mine.das").write_text(text, encoding="utf-8")
    space = dasdsl.load("mine.das")
    Path("mine.das").write_text("# reformatted\n" + text, encoding="utf-8")
    edited = space.search("synthetic", **QUICK, out="runs")
    assert edited is not None and edited.run_dir is not None
    assert (edited.run_dir / "space.das").read_text(encoding="utf-8") == text
    config = json.loads((edited.run_dir / "config.json").read_text(encoding="utf-8"))
    assert config["source"] == "mine.das"
    resumed = dasdsl.resume(edited.run_dir, progress=False, epochs=2)  # the record resumes as searched
    assert resumed is not None and len(resumed.history) == 2
