"""The run workflow: start or resume a search, run its epochs, finish it; train a fixed network.

The one copy of the workflow: ``dasdsl run``/``dasdsl train`` and the Python API
(``Space.search``, ``dasdsl.resume``, ``dasdsl.train``) all call these functions. What a
run shows goes through a ``Reporter`` (the CLI's and the API's progress display, or silence);
what the user sees per epoch can also go to callbacks.
"""

from __future__ import annotations

import copy
import json
import re
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs
import torch
from torch import nn

from dasdsl.compiler.build import build_ir
from dasdsl.compiler.lower import FixedNetwork
from dasdsl.engine import data as data_mod
from dasdsl.engine import distributed, oneshot, rundir
from dasdsl.engine.data import Split
from dasdsl.engine.device import seed_everything
from dasdsl.engine.distributed import SINGLE, World
from dasdsl.engine.run import (
    Run,
    discretize,
    gate_summary,
    inherit_weights,
    recalibrate_batchnorm,
    result_header,
    with_data,
)
from dasdsl.engine.rundir import checked_checkpoint
from dasdsl.engine.searcher import evaluate
from dasdsl.engine.training import DEFAULT_RECIPE, Recipe, check_batch, recipe_of, train_fixed
from dasdsl.errors import fail
from dasdsl.files import read_text, write_atomic
from dasdsl.lang.checked import CheckedSpace
from dasdsl.lang.load import check_text
from dasdsl.lang.printer import format_das
from dasdsl.lang.settings import (
    SEARCH,
    SearchConfig,
    SettingError,
    TrainConfig,
    recorded_search_config,
    recorded_train_config,
)

EpochCallback = Callable[[dict[str, Any]], Any]  # gets each epoch's record; returning False stops the run


def check_callbacks(callbacks: Any) -> tuple[EpochCallback, ...]:
    """The epoch callbacks as a tuple, each one callable: refused before any data is read or run directory made
    (a bad one would otherwise fail only after the first epoch, leaving a run directory behind)."""
    if callable(callbacks):
        raise fail(
            "callbacks takes a list of functions, got one function", "<run>", "wrap it in a list: callbacks=[fn]"
        )
    if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, (list, tuple)):
        raise fail(
            f"callbacks takes a list of functions, got {type(callbacks).__name__}", "<run>", "e.g. callbacks=[fn]"
        )
    for i, callback in enumerate(callbacks):
        if not callable(callback):
            raise fail(
                f"callbacks[{i}] is {type(callback).__name__} {callback!r:.60}, not a function",
                "<run>",
                "each callback is called with every epoch's record (a dict); returning False stops the run",
            )
    return tuple(callbacks)


def ask_callbacks(callbacks: Sequence[EpochCallback], record: dict[str, Any]) -> bool:
    """Every callback sees the epoch's record (each gets its own copy to change), in order, even after one has
    asked to stop; True where any returned False."""
    answers = [callback(copy.deepcopy(record)) for callback in callbacks]
    return any(answer is False for answer in answers)


class Reporter(Protocol):
    """What a run shows while it works (a progress display, or nothing)."""

    def start(self, description: str) -> None: ...

    def update(self, done: int, total: int, stats: dict[str, float]) -> None: ...

    def epoch(self, record: dict[str, Any], epochs: int) -> None: ...


class Silent:
    """A reporter that shows nothing."""

    def start(self, description: str) -> None:
        pass

    def update(self, done: int, total: int, stats: dict[str, float]) -> None:
        pass

    def epoch(self, record: dict[str, Any], epochs: int) -> None:
        pass


def _config_json(out: Path, what: str) -> dict[str, Any]:
    """A run directory's config.json as a JSON object (``what`` the directory should be, for the error)."""
    if not (out / rundir.CONFIG).is_file() or not (out / rundir.SPACE).is_file():
        raise fail(f"{out} is not {what} (no config.json / space.das)", "<run>")
    try:
        meta = json.loads(read_text(out / rundir.CONFIG, "run configuration"))
    except ValueError as exc:
        meta = exc
    if not isinstance(meta, dict):
        shown = (
            f"ValueError: {meta}"
            if isinstance(meta, ValueError)
            else f"a JSON object is expected, not {type(meta).__name__}"
        )
        raise fail(f"{out / rundir.CONFIG} is damaged ({shown}); the run cannot be resumed", "<run>")
    return meta


def _recorded(out: Path, read: Callable[[], Any], prefix: str = "") -> Any:
    """The settings a run directory's config.json records, read by ``read`` through the settings table as a fresh
    run's are; a value no run could have started with is a DasError naming the file and the key."""
    try:
        return read()
    except SettingError as exc:
        where = f"its setting '{prefix}{exc.arg}'" if exc.arg is not None else "its settings"
        raise fail(
            f"{out / rundir.CONFIG}: {where} cannot be resumed: {exc.message}",
            "<run>",
            (exc.hint + "; " if exc.hint else "")
            + "config.json records the settings the run started with: put back the value it was written with, "
            "or start a new run",
        ) from None


@attrs.frozen(eq=False)
class Finished:
    """What a finished search hands back: results best first, the summary, the final gate weights."""

    cfg: SearchConfig
    texts: tuple[str, ...]  # the results' .das texts as written (header, data), best first
    network: nn.Module  # the best result with the supernet's weights (fine-tuned where asked)
    gates: dict[str, list[float]]
    summary: dict[str, Any]
    history: tuple[dict[str, Any], ...]
    run_dir: Path | None
    stopped: bool = False  # a callback stopped the search: the gates so far, discretized (see ``finish``)
    supernet: nn.Module | None = None  # the trained supernet, as the search left it


# ---- starting and resuming -----------------------------------------------------------------


def start(
    space: CheckedSpace,
    cfg: SearchConfig,
    device: torch.device,
    *,
    out_root: str | Path | None,
    source: str,
    source_text: str,
    plugins: Sequence[str] = (),
    data: Split | None = None,
    world: World = SINGLE,
) -> Run:
    """A new run: data and supernet first (a bad start leaves no run directory behind), then, unless
    ``out_root`` is None, a run directory with space.das (``source_text``: the text searched, never a file
    read again, which may have changed since) and config.json."""
    run = Run(space, cfg, device, None, source, world=world)
    run.setup(data)
    if out_root is None:
        return run
    out = None
    if world.main:
        meta = {
            "source": source,
            "device": str(device),
            "processes": world.size,
            "plugins": list(plugins),
            "search": cfg.to_json(),
            "data_fingerprint": run.data.fingerprint if run.data is not None else {},  # what resume checks
        }
        out = rundir.new_run_dir(
            out_root, space.name, {rundir.SPACE: source_text, rundir.CONFIG: rundir.json_text(meta)}
        )
    run.out = Path(str(distributed.broadcast_object(str(out) if out else "", world)))
    return run


def resume(
    run_dir: str | Path,
    device: torch.device,
    *,
    plugins: Sequence[str] = (),
    user_data: Any = None,
    classes: int | None = None,
    epochs: int | None = None,
    world: World = SINGLE,
) -> Run:
    """A run continued from its directory: the settings it started with, the last complete checkpoint.
    ``user_data``: the caller's own arrays or datasets again, split as the run's settings say. Plugin modules
    the run used are imported only when named in ``plugins``: a run directory never imports code. ``epochs``
    extends a run (finished or not) to more epochs, recorded in config.json; no other setting changes."""
    out = Path(run_dir)
    meta = _config_json(out, "a run directory")
    try:
        cfg = _recorded(out, lambda: recorded_search_config(meta["search"]), "search.")
        source = str(meta["source"])
        recorded = meta.get("plugins") or []  # the plugin modules the run started with
        if not isinstance(recorded, list) or not all(isinstance(m, str) for m in recorded):
            raise TypeError(f"plugins must be a list of module names, not {recorded!r}")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        message = f"{out / rundir.CONFIG} is damaged ({type(exc).__name__}: {exc}); the run cannot be resumed"
        raise fail(message, "<run>") from None
    rundir.require_plugins(out, recorded, plugins)
    space = rundir.read_space(out, plugins=list(plugins))
    data = _resumed_data(out, meta.get("data_fingerprint"), cfg, space, user_data, classes, device)
    rundir.read_records(out / rundir.LOG)  # a damaged log is refused now, not after the remaining epochs
    if epochs is not None:
        SEARCH.resolve({"epochs": (epochs,)}, cfg)  # a whole number up to the table's maximum, as for a fresh run
    extended = epochs is not None and epochs != cfg.epochs
    if epochs is not None and epochs < cfg.epochs:
        raise fail(
            f"{out} was searched for {cfg.epochs} epochs; resuming it with {epochs} epochs can only extend it",
            "<run>",
            f"give more than {cfg.epochs} epochs (epochs=, --epochs), or resume without them",
        )
    recorded_epochs = cfg.epochs
    if extended:
        cfg = attrs.evolve(cfg, epochs=epochs)
    run = Run(space, cfg, device, out, source, world=world)
    run.setup(data)
    if (out / rundir.CHECKPOINT).exists():
        run.restore()
    if extended:
        assert run.searcher is not None
        run.searcher.stretch(cfg.epochs, run.start_epoch)
        if world.main:  # once the run is ready to go on: a resume refused before changes nothing
            keep_result(out, recorded_epochs)
            rundir.write_json(out / rundir.CONFIG, {**meta, "search": cfg.to_json()})
    return run


def keep_result(out: Path, epochs: int) -> None:
    """Before a run is extended beyond ``epochs``: its result so far (result.das, summary.json) kept as
    result-epochN.das and summary-epochN.json, which the extended run's result.das does not replace."""
    for name, kept in ((rundir.RESULT, f"result-epoch{epochs}.das"), (rundir.SUMMARY, f"summary-epoch{epochs}.json")):
        if (out / name).is_file() and not (out / kept).exists():
            write_atomic(out / kept, read_text(out / name, "result"))


def _resumed_data(
    out: Path, recorded: Any, cfg: SearchConfig, space: CheckedSpace, given: Any, classes: int | None, device: Any
) -> Split:
    """The data a resumed search continues on, checked against what the run recorded of its data (config.json's
    ``data_fingerprint``): other data would continue another search under the run's name."""
    if given is None or data_mod.is_source(given):
        spec = given or cfg.data
        if data_mod.callers_form(recorded, cfg.data) is None and data_mod.spec_text(spec) != data_mod.spec_text(
            cfg.data
        ):
            raise fail(
                f"{out} was searched on other data: the run searched '{data_mod.spec_text(cfg.data)}'; this data "
                f"is '{data_mod.spec_text(spec)}'; resuming would continue another search",
                "<run>",
                "resume without data=, or start a new run with this data; the run directory is left as it is",
            )
        split = None if given is None else data_mod.source_split(spec, space.input_kind, cfg.split, cfg.seed, device)
    else:
        split = data_mod.user_split(given, space.input_kind, cfg.split, cfg.seed, device, classes)

    def load() -> Split:
        return data_mod.source_split(cfg.data, space.input_kind, cfg.split, cfg.seed, device)

    return checked_data(out, recorded, cfg.data, split, load, "searched", "dasdsl.resume")


def checked_data(
    out: Path, recorded: Any, spec: Any, given: Split | None, load: Callable[[], Split], did: str, call: str
) -> Split:
    """The data a resumed run (``did``: "searched", "trained") continues on: ``given`` (the caller's, split), else
    its source ``load``ed again; refused where it differs from what the run recorded (``data_fingerprint``) or
    where the run's data was given from Python and is not given again. A run directory written before data
    fingerprints records none: its data is unknown, accepted with a warning."""
    verb = "searched" if did == "searched" else "trained on"
    form = data_mod.callers_form(recorded, spec)
    if form is not None and (given is None or given.fingerprint.get("source") not in ("arrays", "datasets")):
        kind = {"arrays": "arrays", "datasets": "torch datasets"}[form]
        other = "" if given is None else f", not the data source '{given.fingerprint.get('source')}'"
        raise fail(
            f"{out} {verb} data given from Python (the caller's {kind}{other}), which a run directory does not hold",
            "<run>",
            f"pass the same data again: {call}({str(out)!r}, data=...); the command line cannot load data given "
            "from Python",
        )
    data = given if given is not None else load()
    if not isinstance(recorded, dict) or not recorded:
        warnings.warn(
            f"{out} records no fingerprint of its data (written before dasdsl recorded one): the data it resumes "
            f"on cannot be checked against the data it {did}",
            stacklevel=4,
        )
    difference = data_mod.data_difference(recorded, data.fingerprint, verb)
    if difference is not None:
        raise fail(
            f"{out} was {did} on other data: {difference}; resuming would continue another "
            f"{'search' if did == 'searched' else 'training'}",
            "<run>",
            "pass the data the run used, or start a new run with this data; the run directory is left as it is",
        )
    return data


# ---- the search loop and its end -----------------------------------------------------------


def search_epochs(
    run: Run, reporter: Reporter | None = None, callbacks: Sequence[EpochCallback] = ()
) -> tuple[list[dict[str, Any]], bool]:
    """Run the remaining epochs, logging and checkpointing each; returns (records, stopped by a callback)."""
    reporter = reporter or Silent()
    cfg, records = run.cfg, []
    elapsed = _elapsed_before(run.out if run.world.main else None)
    for epoch in range(run.start_epoch, cfg.epochs):
        reporter.start(f"search epoch {epoch + 1}/{cfg.epochs}")
        began = time.perf_counter()
        record = run.epoch(epoch, reporter.update)
        elapsed = _timed(record, began, elapsed)
        if run.world.main and run.out is not None:
            rundir.append_jsonl(run.out / rundir.LOG, record)
        run.save(epoch + 1)
        records.append(record)
        reporter.epoch(record, cfg.epochs)
        if ask_callbacks(callbacks, record):
            return records, True
    return records, False


def _elapsed_before(out: Path | None) -> float:
    """The seconds the epochs logged so far took (a resumed run's earlier sessions): the last record's ``elapsed``."""
    records = rundir.read_records(out / rundir.LOG) if out is not None else []
    last = records[-1].get("elapsed") if records else None
    ok = isinstance(last, (int, float)) and not isinstance(last, bool) and last >= 0
    return float(last) if ok else 0.0


def _timed(record: dict[str, Any], began: float, elapsed: float) -> float:
    """Add the epoch's wall-clock ``seconds`` (since ``began``) and the run's cumulative ``elapsed`` seconds to an
    epoch record (what an anytime plot needs); returns the new cumulative time."""
    seconds = time.perf_counter() - began
    elapsed += seconds
    record["seconds"] = round(seconds, 3)
    record["elapsed"] = round(elapsed, 3)
    return elapsed


def history(run: Run, records: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Every epoch's record: the run directory's log (earlier sessions of a resumed run too), else ``records``."""
    if run.out is not None and run.world.main:
        return tuple(rundir.read_records(run.out / rundir.LOG))
    return tuple(records)


def finish(
    run: Run, records: list[dict[str, Any]], reporter: Reporter | None = None, *, stopped: bool = False
) -> Finished:
    """Discretize, measure the gap, fine-tune if asked; write result.das and summary.json where the run has
    a directory. ``stopped`` (a callback stopped the search): the gates so far discretized by the rule, with
    inherited weights and recalibrated batch norm, and nothing written (no one-shot selection, no fine-tuning:
    the run directory stays a run to resume, whose finished result is the one an uninterrupted run gives)."""
    reporter = reporter or Silent()
    assert run.data is not None and run.net is not None and run.ir is not None
    cfg, device, out = run.cfg, run.device, run.out
    done = records[-1]["epoch"] if records else run.start_epoch  # epochs searched
    if stopped:
        cfg = attrs.evolve(cfg, select="gates", finetune=0)
        out = None
    ranked, weights = discretize(run)
    _, supernet_acc = evaluate(run.net, run.data.valid)
    oneshot_rows: list[dict[str, Any]] = []
    picks: list[dict[str, Any] | None] = [None] * len(ranked)
    if cfg.oneshot:
        reporter.start(f"one-shot scoring of {len(ranked)} architectures")
        scored = oneshot.rank(
            run,
            [(d, sc, bound) for _, d, sc, bound in ranked],
            finetune=cfg.select_finetune,
            texts=[text for text, *_ in ranked],  # printed by discretize already
        )
        ranked = [ranked[s.gate_rank - 1] for s in scored][: cfg.top]
        picks = [{**s.row(), "k": len(scored), "finetune": cfg.select_finetune} for s in scored[: cfg.top]]
        oneshot_rows = [{**s.row(), "chosen": i == 0} for i, s in enumerate(scored)]
    name = str(out / rundir.RESULT) if out is not None else "<result>"
    finals = []
    for index, (text, decisions, _, bound) in enumerate(ranked, start=1):
        result = check_text(text, name)  # plugin ops are registered by now
        fixed = FixedNetwork(build_ir(result, run.data.shape, run.data.classes)).to(device)
        inherit_weights(fixed, run.net, run.ir, decisions)
        _, discrete_acc = evaluate(fixed, run.data.valid)
        header = result_header(
            run.source_path,
            cfg,
            done,
            supernet_acc,
            discrete_acc,
            run.ir,
            weights,
            decisions,
            (index, len(ranked)),
            bound,
            picks[index - 1],
        )
        finals.append(
            (
                result,
                fixed,
                discrete_acc,
                format_das(with_data(result.module, cfg.data, run.data.shape, run.data.classes), header),
            )
        )
    result, fixed, discrete_acc, text = finals[0]
    recalibrate_batchnorm(fixed, run.data)
    recalibrated_acc = evaluate(fixed, run.data.valid)[1]
    summary: dict[str, Any] = {
        "supernet_valid_acc": supernet_acc,
        "discretized_valid_acc": discrete_acc,
        "discretization_gap": supernet_acc - discrete_acc,
        "recalibrated_valid_acc": recalibrated_acc,
        "recalibrated_gap": supernet_acc - recalibrated_acc,
        "epochs": done,
        "classes": run.data.classes,
        **gate_summary(run.ir, weights, ranked[0][1]),
    }
    if run.searcher is not None and run.searcher.budget is not None:
        with torch.no_grad():
            summary["expected_cost"] = run.searcher.budget.report(run.net.gate_weights())
    if oneshot_rows:
        summary["selection"] = f"oneshot(k = {cfg.select_k}, finetune = {cfg.select_finetune})"
        summary["oneshot"] = oneshot_rows
    if len(finals) > 1:
        summary["top"] = [
            {"file": f"result-{i}.das", "score": ranked[i - 1][2], "discretized_valid_acc": f[2]}
            for i, f in enumerate(finals, start=1)
        ]
    if cfg.finetune:
        reporter.start(f"fine-tune {cfg.finetune} epochs")
        train_fixed(fixed, run.data, cfg.finetune, cfg.batch, cfg.w_lr, cfg.seed, progress=reporter.update)
        summary["finetuned_valid_acc"] = evaluate(fixed, run.data.valid)[1]
    summary["discretized_test_acc"] = evaluate(fixed, run.data.test)[1]
    summary["test_network"] = (
        f"fine-tuned {cfg.finetune} epochs" if cfg.finetune else "inherited weights, batch norm recalibrated"
    )
    if out is not None:
        write_atomic(out / rundir.RESULT, text)
        if len(finals) > 1:
            for i, final in enumerate(finals, start=1):
                write_atomic(out / f"result-{i}.das", final[3])
        rundir.write_json(out / rundir.SUMMARY, summary)
    if stopped:
        summary["stopped"] = f"by a callback after epoch {done} of {run.cfg.epochs}"
    texts = tuple(f[3] for f in finals)
    return Finished(run.cfg, texts, fixed, weights, summary, history(run, records), run.out, stopped, run.net)


def run_to_end(run: Run, reporter: Reporter | None = None, callbacks: Sequence[EpochCallback] = ()) -> Finished | None:
    """The remaining epochs, then the end of the run (rank 0 only; None on other ranks). A run a callback stopped
    (on its last epoch too) ends in a result marked ``stopped`` (``finish``); its checkpoint is where ``resume``
    picks it up."""
    records, stopped = search_epochs(run, reporter, callbacks)
    if not run.world.main:
        return None
    return finish(run, records, reporter, stopped=stopped)


# ---- training a fixed network ---------------------------------------------------------------


@attrs.frozen(eq=False)
class Trained:
    """A trained fixed network with its per-epoch history and held-out test accuracy."""

    network: nn.Module
    history: tuple[dict[str, Any], ...]
    test_acc: float
    test_samples: int
    run_dir: Path | None
    classes: int  # of the data it trained on: what chance is


def train(
    space: CheckedSpace,
    device: torch.device,
    *,
    epochs: int,
    batch: int,
    lr: float,
    seed: int,
    data: Split | None = None,
    data_spec: Any = None,
    out_root: str | Path | None = None,
    source: str = "<space>",
    reporter: Reporter | None = None,
    callbacks: Sequence[EpochCallback] = (),
    on_run_dir: Callable[[Path], None] | None = None,
    recipe: Recipe = DEFAULT_RECIPE,
) -> Trained:
    """Train a space with no choices left from scratch: SGD, cosine schedule, random shifts for images;
    90% of the training data trains, 10% validates, the test part is held out. With a run directory, every
    epoch leaves an atomic checkpoint and the model so far (model.pt): a killed training loses at most the
    epoch it was in, and ``resume_training`` continues it."""
    spec = data_mod.spec_for(space, data_spec)
    given = data is not None  # the caller's own data (arrays, datasets), split by the API
    if data is None:
        data = data_mod.source_split(spec, space.input_kind, 0.9, seed, device)
    check_batch(batch, data, parts=("train",))  # before a run directory exists
    seed_everything(seed)
    net = FixedNetwork(build_ir(space, data.shape, data.classes), auxiliary=recipe.auxiliary > 0).to(device)
    out = None
    if out_root is not None:
        config = {
            "source": source,
            "data": data_mod.spec_text(spec) if data_spec is not None or not given else data.name,
            "epochs": epochs,
            "batch": batch,
            "lr": lr,
            "seed": seed,
        }
        config["recipe"] = attrs.asdict(recipe)
        config["data_fingerprint"] = data.fingerprint  # what resume checks
        first = {rundir.SPACE: space.source or format_das(space.module), rundir.CONFIG: rundir.json_text(config)}
        out = rundir.new_run_dir(out_root, f"{space.name}-train", first)
        if on_run_dir is not None:
            on_run_dir(out)
    return _training(net, space, data, out, epochs, batch, lr, seed, 0, None, reporter, callbacks, recipe)


def training_config(run_dir: str | Path) -> TrainConfig:
    """The settings a training run's config.json records, read through the train settings table as a fresh
    run's are (``recorded_train_config``); a run directory is data, so a bad value is a DasError naming the key."""
    out = Path(run_dir)
    meta = _config_json(out, "the run directory of a training run")
    spec = meta.get("data")
    legacy = re.fullmatch(r"Symbol\(name='(\w+)'\)", spec) if isinstance(spec, str) else None
    if legacy:  # written by versions that stored the repr
        meta = {**meta, "data": legacy[1]}
    # read by the settings table, as the run's flags were (runs before the recipe existed: the defaults)
    return _recorded(out, lambda: recorded_train_config(meta))


def resume_training(
    run_dir: str | Path,
    device: torch.device,
    *,
    data: Split | None = None,
    plugins: Sequence[str] = (),
    reporter: Reporter | None = None,
    callbacks: Sequence[EpochCallback] = (),
) -> Trained:
    """Continue a training run (``dasdsl train``'s run directory) from its last complete epoch."""
    out = Path(run_dir)
    cfg = training_config(out)
    epochs, batch, seed, lr, spec, recipe = cfg.epochs, cfg.batch, cfg.seed, cfg.lr, cfg.data, recipe_of(cfg)
    space = rundir.read_space(out, plugins=plugins)
    rundir.read_records(out / rundir.LOG)

    def load() -> Split:
        return data_mod.source_split(spec, space.input_kind, 0.9, seed, device)

    recorded = _config_json(out, "the run directory of a training run").get("data_fingerprint")
    data = checked_data(out, recorded, spec, data, load, "trained", "dasdsl.api.resume_training")
    seed_everything(seed)  # as the fresh run did: the same initial weights where no epoch was checkpointed
    net = FixedNetwork(build_ir(space, data.shape, data.classes), auxiliary=recipe.auxiliary > 0).to(device)
    start, state = 0, None
    if (out / rundir.CHECKPOINT).exists():
        path = out / rundir.CHECKPOINT
        saved = checked_checkpoint(rundir.load_checkpoint(path, device), path, epochs, ("train",))
        try:
            net.load_state_dict(saved["model"])
            start, state = saved["epoch"], saved["train"]
            torch.set_rng_state(saved["torch_rng"].cpu())
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
            raise fail(
                f"checkpoint {out / rundir.CHECKPOINT} does not fit this training run ({exc})", "<run>"
            ) from None
    rundir.trim_log(out, start)
    return _training(net, space, data, out, epochs, batch, lr, seed, start, state, reporter, callbacks, recipe)


def _training(
    net: nn.Module,
    space: CheckedSpace,
    data: Split,
    out: Path | None,
    epochs: int,
    batch: int,
    lr: float,
    seed: int,
    start: int,
    state: dict[str, Any] | None,
    reporter: Reporter | None,
    callbacks: Sequence[EpochCallback],
    recipe: Recipe,
) -> Trained:
    reporter = reporter or Silent()
    augment = recipe.augmentation(space.input_kind, data.shape)
    stop: list[int] = []
    history: list[dict[str, Any]] = []
    clock = [time.perf_counter(), _elapsed_before(out)]  # this epoch's start, the seconds of the epochs before

    def on_epoch(record: dict[str, Any]) -> None:
        clock[1] = _timed(record, clock[0], clock[1])
        history.append(record)
        if out is not None:
            rundir.append_jsonl(out / rundir.LOG, record)
        reporter.epoch(record, epochs)
        if ask_callbacks(callbacks, record):
            stop.append(record["epoch"])
        reporter.start(f"train epoch {record['epoch'] + 1}/{epochs}")
        clock[0] = time.perf_counter()

    settings = {"epochs": epochs, "batch": batch, "lr": lr, "seed": seed, **attrs.asdict(recipe)}

    def model_file(epochs_done: int) -> dict[str, Any]:
        """model.pt (docs/search.md, "Training a result"): the weights with what they belong to, as plain data."""
        return {
            "format": rundir.MODEL_FORMAT,
            "model": net.state_dict(),
            "space": space.source or format_das(space.module),
            "input_shape": list(data.shape),
            "classes": data.classes,
            "settings": settings,
            "epochs_done": epochs_done,
        }

    def on_checkpoint(epoch: int, train_state: dict[str, Any]) -> None:
        if out is not None:
            checkpoint = {"epoch": epoch, "model": net.state_dict(), "train": train_state}
            rundir.save_atomic({**checkpoint, "torch_rng": torch.get_rng_state()}, out / rundir.CHECKPOINT)
            rundir.save_atomic(model_file(epoch), out / rundir.MODEL)  # the model so far, should the run be killed

    reporter.start(f"train epoch {start + 1}/{epochs}")
    train_fixed(
        net,
        data,
        epochs,
        batch,
        lr,
        seed,
        augment,
        reporter.update,
        on_epoch=on_epoch,
        stop=lambda: bool(stop),
        start_epoch=start,
        state=state,
        on_checkpoint=on_checkpoint,
        recipe=recipe,
    )
    _, test_acc = evaluate(net, data.test)
    records = tuple(rundir.read_records(out / rundir.LOG)) if out is not None else tuple(history)
    if out is not None:
        rundir.save_atomic(model_file(len(records)), out / rundir.MODEL)
        rundir.write_json(out / rundir.SUMMARY, {"test_acc": test_acc, "epochs": len(records)})
    return Trained(net, records, test_acc, len(data.test), out, data.classes)
