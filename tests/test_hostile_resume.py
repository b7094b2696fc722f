"""A run directory is data: resuming one whose config.json or checkpoint was edited (or planted) ends in a clear
error naming the file and the key, before anything runs, and leaves every file as it was.

Each case edits one thing of a finished 1-epoch search (or of a 1-epoch training run) and asserts the exact
first error line. config.json is read back through the same settings tables as a fresh run's settings
(``dasdsl.lang.settings.recorded_search_config`` / ``recorded_train_config``); a checkpoint's parts are checked
for type and shape (``dasdsl.engine.rundir.checked_checkpoint``).
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from dasdsl import api
from dasdsl.cli import main
from dasdsl.errors import DasError
from dasdsl.lang.settings import SEARCH, SearchConfig

FIXED = """space fixed
input image

cell pool(c) {
    input x
    node y = x ~ avg_pool(3)
    output y
}

network {
    stem  conv_bn(3, out = 4)
    cells pool(4)
    head  global_avg_pool then linear(classes)
}
"""
KEEP = (
    "config.json records the settings the run started with: put back the value it was written with, or start a new run"
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, pooling: api.Space) -> dict[str, Path]:
    """A finished 1-epoch search and a finished 1-epoch training run, both on synthetic data."""
    tmp = tmp_path_factory.mktemp("hostile-resume")
    data = "synthetic"
    search = pooling.search(data, epochs=1, batch=16, out=tmp / "search", progress=False, report=False)
    assert search is not None and search.run_dir is not None
    trained = api.train(api.loads(FIXED), data, epochs=1, batch=16, out=tmp / "train", progress=False)
    assert trained.run_dir is not None
    return {"search": search.run_dir, "train": trained.run_dir}


def copy(run: Path, tmp: Path) -> Path:
    target = tmp / run.name
    shutil.copytree(run, target)
    return target


def snapshot(run: Path) -> dict[str, bytes]:
    """Every file but the (empty) lock file a resume takes."""
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if p.name != ".lock"}


def edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    meta = json.loads(path.read_text(encoding="utf-8"))
    change(meta)
    path.write_text(json.dumps(meta), encoding="utf-8")  # NaN is written as NaN, as Python's json reads it


def setting(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(meta: dict[str, Any]) -> None:
        meta["search"][key] = value

    return change


def both(**values: Any) -> Callable[[dict[str, Any]], None]:
    def change(meta: dict[str, Any]) -> None:
        meta["search"].update(values)

    return change


def searched(key: str, message: str) -> str:
    return f"{{config}}: its setting 'search.{key}' cannot be resumed: {message}"


# (name, edit of config.json, no checkpoint (a run killed before its first one), the exact first error line)
SEARCH_CONFIG = [
    ("epochs-text", setting("epochs", "3"), False, searched("epochs", "epochs must be a positive integer, got '3'")),
    (
        "epochs-fraction",
        setting("epochs", 2.5),
        False,
        searched("epochs", "epochs must be a positive integer, got 2.5"),
    ),
    (
        "epochs-huge",
        setting("epochs", 10**7),
        False,
        searched("epochs", "epochs must be at most 1000000, got 10000000"),
    ),
    ("epochs-bool", setting("epochs", True), False, searched("epochs", "epochs must be a positive integer, got True")),
    ("gate-evil", setting("gate", "evil"), True, searched("gate", "unknown gate evil")),
    ("gate-number", setting("gate", 5), True, searched("gate", "unknown gate 5")),
    (
        "seed-negative",
        setting("seed", -1),
        True,
        searched("seed", "seed must be a non-negative integer below 2**32, got -1"),
    ),
    (
        "hypergradient",
        setting("hypergradient", "fourth_order"),
        True,
        searched("hypergradient", "unknown hypergradient fourth_order"),
    ),
    (
        "perturbation-top",
        both(discretize="perturbation", top=3),
        False,
        "{config}: its settings cannot be resumed: discretize perturbation picks one architecture by the "
        "supernet's accuracy; it cannot rank the top 3",
    ),
    ("w_lr-nan", setting("w_lr", math.nan), False, searched("w_lr", "sgd lr must be a finite number, got nan")),
    ("a_lr-negative", setting("a_lr", -1), False, searched("a_lr", "adam lr must be a positive number, got -1")),
    (
        "betas-short",
        setting("a_betas", [0.5]),
        False,
        searched("a_betas", "adam betas must be a pair like (0.5, 0.999), got (0.5,)"),
    ),
    (
        "momentum-one",
        setting("w_momentum", 1.0),
        False,
        searched("w_momentum", "sgd momentum must be a number in [0, 1), got 1.0"),
    ),
    ("schedule", setting("w_schedule", "sometimes"), False, searched("w_schedule", "unknown schedule sometimes")),
    (
        "hard-text",
        setting("hard", "yes"),
        False,
        searched("hard", "hard is 'yes', which no setting gives (it reads as True)"),
    ),
    ("tau-zero", both(tau0=0, tau1=0), False, searched("tau0", "temperature must be a positive number, got 0")),
    ("tau-schedule", both(tau0=5.0, tau_schedule="often"), False, searched("tau0", "unknown annealing schedule often")),
    (
        "share_values-text",
        setting("share_values", "yes"),
        False,
        searched("share_values", "unknown share_values 'yes'"),
    ),
    ("fuse-number", setting("fuse", 1), False, searched("fuse", "unknown fuse 1")),
    ("precision", setting("precision", "fp8"), True, searched("precision", "unknown precision fp8")),
    ("batch-zero", setting("batch", 0), True, searched("batch", "batch must be a positive integer, got 0")),
    ("split-one", setting("split", 1.5), False, searched("split", "split must be a fraction between 0 and 1, got 1.5")),
    ("data-number", setting("data", 5), False, searched("data", "data is 5, which no setting gives (it reads as '5')")),
    ("top-huge", setting("top", 10**5), False, searched("top", "top must be at most 10000, got 100000")),
    (
        "finetune-negative",
        setting("finetune", -2),
        False,
        searched("finetune", "finetune must be a non-negative integer, got -2"),
    ),
    (
        "penalty-malformed",
        setting("penalties", [["entropy"]]),
        False,
        searched("penalties", "a penalty must be [kind, argument, weight], got ('entropy',)"),
    ),
    (
        "penalty-unknown",
        setting("penalties", [["l3", None, 0.1]]),
        False,
        searched("penalties", "unknown penalty l3(...)"),
    ),
    (
        "penalties-text",
        setting("penalties", "entropy"),
        False,
        searched("penalties", "penalties must be a list, got 'entropy'"),
    ),
    (
        "constraint-negative",
        setting("constraints", [["max_skip", -1]]),
        False,
        searched("constraints", "max_skip needs a non-negative integer, got -1"),
    ),
    (
        "select_k-shadow",
        both(select="gates", select_k=0),
        False,
        searched("select_k", "k must be a positive integer, got 0"),
    ),
    (
        "anchor-shadow",
        setting("anchor", "x"),
        False,
        searched("anchor", "anchor must be a non-negative number, got 'x'"),
    ),
    (
        "threshold-shadow",
        setting("threshold", math.inf),
        False,
        searched("threshold", "threshold must be a finite number, got inf"),
    ),
    (
        "unknown-key",
        setting("epoch", 3),
        False,
        "{config}: its setting 'search.epoch' cannot be resumed: unknown setting 'epoch'",
    ),
    (
        "search-not-object",
        lambda meta: meta.update(search=[1]),
        False,
        "{config}: its settings cannot be resumed: the search settings must be a JSON object, got list",
    ),
]


@pytest.mark.parametrize(("name", "change", "killed", "message"), SEARCH_CONFIG, ids=[c[0] for c in SEARCH_CONFIG])
def test_resume_refuses_an_edited_config(
    runs: dict[str, Path],
    tmp_path: Path,
    name: str,
    change: Callable[[dict[str, Any]], None],
    killed: bool,
    message: str,
) -> None:
    run = copy(runs["search"], tmp_path)
    if killed:
        (run / "checkpoint.pt").unlink()
    edit_json(run / "config.json", change)
    before = snapshot(run)
    with pytest.raises(DasError) as caught:
        api.resume(run, progress=False, report=False)
    assert caught.value.errors[0].message == message.format(config=run / "config.json")
    assert snapshot(run) == before


def test_the_cli_refuses_an_edited_config_with_exit_1(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = copy(runs["search"], tmp_path)
    (run / "checkpoint.pt").unlink()
    edit_json(run / "config.json", setting("gate", "evil"))
    assert main(["run", "--resume", str(run), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"{run / 'config.json'}: its setting 'search.gate' cannot be resumed: unknown gate evil" in err
    assert KEEP in err and "Traceback" not in err


def rng(value: Any) -> Callable[[dict[str, Any]], None]:
    def change(state: dict[str, Any]) -> None:
        state["torch_rng"] = value

    return change


def part(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(state: dict[str, Any]) -> None:
        state[key] = value

    return change


def bad_checkpoint(message: str) -> str:
    return "checkpoint {checkpoint} does not fit this run: " + message


RNG_MESSAGE = "'torch_rng' must be the random generator's state (a 1-D uint8 tensor), got "
# (name, which run, edit of the checkpoint's dict, the exact first error line)
CHECKPOINTS = [
    ("rng-list", "search", rng([1, 2, 3]), bad_checkpoint(RNG_MESSAGE + "[1, 2, 3]")),
    ("rng-float", "search", rng(torch.zeros(5)), bad_checkpoint(RNG_MESSAGE + "a torch.float32 tensor of shape (5,)")),
    (
        "rng-2d",
        "train",
        rng(torch.zeros(2, 2, dtype=torch.uint8)),
        bad_checkpoint(RNG_MESSAGE + "a torch.uint8 tensor of shape (2, 2)"),
    ),
    (
        "epoch-text",
        "search",
        part("epoch", "1"),
        bad_checkpoint("'epoch' must be a whole number of epochs from 0 to 1, got '1'"),
    ),
    (
        "epoch-fraction",
        "train",
        part("epoch", 0.5),
        bad_checkpoint("'epoch' must be a whole number of epochs from 0 to 1, got 0.5"),
    ),
    (
        "epoch-beyond",
        "search",
        part("epoch", 7),
        bad_checkpoint("'epoch' must be a whole number of epochs from 0 to 1, got 7"),
    ),
    (
        "model-list",
        "search",
        part("model", [1]),
        bad_checkpoint("'model' must be a state dict (parameter names to tensors)"),
    ),
    ("search-text", "search", part("search", "x"), bad_checkpoint("'search' must be a dict, got str")),
    ("train-missing", "train", lambda s: s.pop("train"), bad_checkpoint("it has no 'train'")),
    ("not-a-dict", "search", None, bad_checkpoint("it holds a list, not a dict of the run's state")),
]


@pytest.mark.parametrize(("name", "kind", "change", "message"), CHECKPOINTS, ids=[c[0] for c in CHECKPOINTS])
def test_resume_refuses_an_edited_checkpoint(
    runs: dict[str, Path], tmp_path: Path, name: str, kind: str, change: Any, message: str
) -> None:
    run = copy(runs[kind], tmp_path)
    path = run / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    if change is None:
        state = [state]
    else:
        change(state)
    torch.save(state, path)
    if kind == "search":  # the fingerprint is checked after the parts' types: a checkpoint must not crash it
        call: Callable[[], Any] = lambda: api.resume(run, progress=False, report=False)  # noqa: E731
    else:
        call = lambda: api.resume_training(run, progress=False)  # noqa: E731
    before = snapshot(run)
    with pytest.raises(DasError) as caught:
        call()
    assert caught.value.errors[0].message == message.format(checkpoint=path)
    assert snapshot(run) == before


def trained(key: str, message: str) -> str:
    return f"{{config}}: its setting '{key}' cannot be resumed: {message}"


TRAIN_CONFIG = [
    ("lr-nan", lambda m: m.update(lr=math.nan), trained("lr", "lr must be a finite number, got nan")),
    ("epochs-text", lambda m: m.update(epochs="3"), trained("epochs", "epochs must be a positive integer, got '3'")),
    ("batch-fraction", lambda m: m.update(batch=1.5), trained("batch", "batch must be a positive integer, got 1.5")),
    (
        "seed-huge",
        lambda m: m.update(seed=2**40),
        trained("seed", "seed must be a non-negative integer below 2**32, got 1099511627776"),
    ),
    ("data-missing", lambda m: m.pop("data"), trained("data", "'data' is missing")),
    ("augment", lambda m: m["recipe"].update(augment="evil"), trained("recipe.augment", "unknown augment evil")),
    (
        "cutout",
        lambda m: m["recipe"].update(cutout=-1),
        trained("recipe.cutout", "cutout must be a non-negative integer, got -1"),
    ),
    (
        "recipe-unknown",
        lambda m: m["recipe"].update(nesterov=True),
        trained("recipe.nesterov", "unknown recipe setting 'nesterov'"),
    ),
    (
        "recipe-epochs",
        lambda m: m["recipe"].update(epochs=3),
        trained("recipe.epochs", "unknown recipe setting 'epochs'"),
    ),
]


@pytest.mark.parametrize(("name", "change", "message"), TRAIN_CONFIG, ids=[c[0] for c in TRAIN_CONFIG])
def test_training_resume_refuses_an_edited_config(
    runs: dict[str, Path], tmp_path: Path, name: str, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    run = copy(runs["train"], tmp_path)
    edit_json(run / "config.json", change)
    before = snapshot(run)
    with pytest.raises(DasError) as caught:
        api.resume_training(run, progress=False)
    assert caught.value.errors[0].message == message.format(config=run / "config.json")
    assert snapshot(run) == before


def test_an_untouched_run_resumes(runs: dict[str, Path], tmp_path: Path) -> None:
    """The check accepts every config.json a run writes (search and training), to the same settings."""
    run = copy(runs["search"], tmp_path)
    result = api.resume(run, progress=False, report=False)
    recorded = SearchConfig.from_json(json.loads((run / "config.json").read_text())["search"])
    assert result is not None and SEARCH.resolve(SEARCH.entries_of(result.settings)) == recorded
    assert api.resume_training(copy(runs["train"], tmp_path / "t"), progress=False).test_samples > 0


def test_the_table_is_large() -> None:
    assert len(SEARCH_CONFIG) + len(CHECKPOINTS) + len(TRAIN_CONFIG) >= 50


def test_training_resume_with_the_callers_data_reads_the_seed_as_data(runs: dict[str, Path], tmp_path: Path) -> None:
    """With ``data=``, the recorded seed cuts the caller's arrays: it is read through the table first too."""
    run = copy(runs["train"], tmp_path)
    edit_json(run / "config.json", lambda m: m.update(seed="x"))
    x, y = np.zeros((40, 1, 8, 8), dtype=np.float32), np.arange(40) % 4
    with pytest.raises(DasError) as caught:
        api.resume_training(run, data=(x, y), progress=False)
    message = f"{run / 'config.json'}: its setting 'seed' cannot be resumed: "
    assert caught.value.errors[0].message == message + "seed must be a non-negative integer below 2**32, got 'x'"


@pytest.mark.parametrize(
    ("epochs", "message"),
    [
        (10**7, "epochs must be at most 1000000, got 10000000"),
        (2.5, "epochs must be a positive integer, got 2.5"),
        ("3", "epochs must be a positive integer, got '3'"),
        (True, "epochs must be a positive integer, got True"),
    ],
)
def test_an_extension_reads_its_epochs_through_the_table(
    runs: dict[str, Path], tmp_path: Path, epochs: object, message: str
) -> None:
    """``resume(epochs=N)`` extends a run: N is checked as a fresh run's ``epochs``, and nothing is written."""
    run = copy(runs["search"], tmp_path)
    before = snapshot(run)
    with pytest.raises(DasError) as caught:
        api.resume(run, epochs=epochs, progress=False, report=False)
    assert caught.value.errors[0].message == message
    assert snapshot(run) == before
