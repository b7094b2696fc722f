"""The public Python API: load a space, inspect it, compile it, search it, train its result.

This module sits on top of every stage and no stage imports it; the CLI is a thin layer over it.
Every search setting of a space's ``search { ... }`` block can be given by name (``epochs=5``,
``gate="sigmoid(temperature = anneal(5.0 -> 0.05))"``): the same table the checker and the CLI use.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import inspect
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from dasdsl.errors import fail, suggest
from dasdsl.files import check_output_file, check_output_folder, fit_name, write_atomic
from dasdsl.lang import checked as _checked
from dasdsl.lang import settings as _settings
from dasdsl.lang.count import count_architectures
from dasdsl.lang.load import check_file, check_text, for_training, with_lets
from dasdsl.lang.printer import format_das
from dasdsl.view.console import ProgressDisplay
from dasdsl.wording import plural

if TYPE_CHECKING:
    import torch

_T = TypeVar("_T")
Callback = Callable[[dict[str, Any]], Any]  # gets each epoch's record (a line of log.jsonl); False stops the run


def loads(text: str, file: str = "<string>", plugins: Sequence[str] = ()) -> Space:
    """Parse and check .das text (after importing the plugin modules named)."""
    return Space.of(check_text(text, file, plugins), plugins)


def load(path: str | Path, plugins: Sequence[str] = ()) -> Space:
    """Parse and check a .das file: the entry point of the Python API."""
    return Space.of(check_file(path, plugins), plugins)


# ---- results -----------------------------------------------------------------------------------


@attrs.frozen(eq=False)
class TrainResult:
    """A trained fixed network: the module, per-epoch records, held-out test accuracy, the run directory."""

    network: Any
    history: tuple[dict[str, Any], ...]
    test_acc: float
    test_samples: int
    run_dir: Path | None
    classes: int = 0  # of the data it trained on (chance is 1 / classes)

    def __repr__(self) -> str:
        where = f", run_dir {str(self.run_dir)!r}" if self.run_dir is not None else ""
        epochs = plural(len(self.history), "epoch")
        return (
            f"<TrainResult: {epochs}, test accuracy {self.test_acc:.4f} on {self.test_samples}"
            f" held-out samples of {self.classes} classes{where}>"
        )


@attrs.frozen(eq=False)
class SearchResult:
    """The end of a search.

    ``space`` is the derived architecture (a fixed ``Space``: ``.network()``, ``.to_das()``), ``top`` the k
    best (``top`` setting; ``top[0]`` is ``space``), ``history`` the per-epoch records (log.jsonl),
    ``summary`` the accuracies (supernet / discretized / fine-tuned / test, as summary.json), ``gates``
    the final gate weights per choice point, ``network`` the derived network with the supernet's weights
    (fine-tuned where the ``finetune`` setting asks), ``run_dir`` the run directory (None for ``out=None``).
    ``stopped``: a callback stopped the search; the result is then the gates so far discretized (no one-shot
    selection, no fine-tuning, nothing written: ``dasdsl.resume(run_dir)`` finishes the run). ``supernet``: the
    trained supernet as the search left it.
    """

    space: Space
    top: tuple[Space, ...]
    history: tuple[dict[str, Any], ...]
    summary: dict[str, Any]
    gates: dict[str, list[float]]
    network: Any
    run_dir: Path | None
    report: Path | None
    report_error: str | None  # why report.html could not be written (the search itself succeeded)
    settings: dict[str, Any]  # every setting by name, as keywords: ``space.search(**settings)`` repeats the run
    _data: Any = attrs.field(repr=False)  # the caller's own arrays or datasets the search ran on; None for a source
    stopped: bool = False
    supernet: Any = attrs.field(default=None, repr=False)

    def __repr__(self) -> str:
        """One line: which architecture, what it scored on which network, where the run is."""
        test, network = self.summary.get("discretized_test_acc"), self.summary.get("test_network")
        score = f", test accuracy {test:.4f} ({network})" if isinstance(test, float) else ""
        where = f", run_dir {str(self.run_dir)!r}" if self.run_dir is not None else ""
        epochs = plural(len(self.history), "epoch")
        return f"<SearchResult {self.space.name!r}: {epochs}{score}{where}>"

    def _repr_html_(self) -> str:
        """A notebook's view: the derived cells, the accuracies and the curves per epoch."""
        from dasdsl.view.report import result_html  # graphviz: only when shown

        return result_html(self.space, self.summary, self.history, self.run_dir)

    def train(self, data: Any = None, **options: Any) -> TrainResult:
        """Train the derived architecture from scratch, as ``dasdsl train RESULT.das`` does; by default on
        the data the search used. ``options`` are ``Space.train``'s (epochs, batch, lr, seed, out, ...)."""
        return self.space.train(self._data if data is None else data, **options)


# ---- search, resume, train -----------------------------------------------------------------------


@contextlib.contextmanager
def _reporter(progress: Any) -> Iterator[Any]:
    """``progress``: True (a progress display on stderr), False (silence) or a reporter object."""
    if isinstance(progress, bool):
        with ProgressDisplay(quiet=not progress) as display:
            yield display
    else:
        yield progress


def _device(name: str) -> Any:
    from dasdsl.engine import device, distributed  # torch: kept off `import dasdsl` and `dasdsl check`

    chosen = device.pick_device(name)
    world = distributed.from_environment(chosen)
    if world.distributed and chosen.type == "cuda":
        chosen = device.pick_device(f"cuda:{world.local_rank}")
    return chosen, world


def _holding(run_dir: Path | None) -> contextlib.AbstractContextManager[None]:
    """The run directory's lock while this process writes it (none without a directory)."""
    if run_dir is None:
        return contextlib.nullcontext()
    from dasdsl.engine import rundir  # torch: kept off `import dasdsl` and `dasdsl check`

    return rundir.locked(run_dir)


def _refuse_unknown(fn: Callable[..., Any], unknown: dict[str, Any]) -> None:
    """A keyword ``fn`` does not take is a DasError naming the closest ones (``progres`` -> ``progress``)."""
    if not unknown:
        return
    known = [p.name for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY or p.name == "data"]
    key = next(iter(unknown))
    raise fail(
        f"dasdsl.{fn.__name__}() got an unknown keyword '{key}'",
        "<arguments>",
        suggest(key, known) or f"it takes {', '.join(known)}",
    )


def _settings_doc(table: _settings.SettingsTable) -> str:
    """One line per setting of ``table``: the keywords a docstring lists (help(), an editor's tooltip)."""
    lines = []
    for s in table.settings:
        default = f" (default ``{s.default}``)" if s.default is not None else ""
        lines.append(f"    - ``{s.name}``{default}: {s.doc.replace('`', '``')}")
    return "\n".join(lines) + "\n"


def _keyword_type(table: _settings.SettingsTable, setting: _settings.SearchSetting) -> str:
    """The Python values a setting's keyword takes besides .das text, from its record (and its config field)."""
    if setting.many:
        return "str | Sequence[str] | None"
    if setting.switch:
        return "bool | str | None"
    if setting.file:
        return "str | Path | None"
    field = {f.name: f.type for f in attrs.fields(table.config)}.get(setting.name)
    if setting.fields == (setting.name,) and field in ("int", "float"):
        return f"{field} | None"
    return "str | dict[str, Any] | None" if len(setting.fields) > 1 else "str | None"


def _takes_settings(table: _settings.SettingsTable) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Every setting of ``table`` as a keyword of the function decorated, from the table's records alone: its
    signature (``help()``, ``inspect.signature``, an editor) lists each after the function's own positional
    parameters, default None (the space's block, else the table's default), its docstring ends with one line per
    setting, and a keyword that is neither the function's own nor a setting is a DasError with a "did you mean".
    The function takes the settings given as ``**settings``, in table order (the order the CLI gives them)."""

    def decorate(fn: Callable[..., _T]) -> Callable[..., _T]:
        own_signature = inspect.signature(fn)
        params = [p for p in own_signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        own = {p.name for p in params}
        settings = [
            inspect.Parameter(s.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=_keyword_type(table, s))
            for s in table.settings
            if s.name not in own
        ]
        keyword_only = [p for p in params if p.kind is p.KEYWORD_ONLY]
        signature = own_signature.replace(
            parameters=[*(p for p in params if p.kind is not p.KEYWORD_ONLY), *settings, *keyword_only]
        )
        names = [s.name for s in settings]

        @functools.wraps(fn)
        def with_settings(*args: Any, **kwargs: Any) -> _T:
            _refuse_unknown(with_settings, {k: v for k, v in kwargs.items() if k not in signature.parameters})
            given = {name: kwargs.pop(name) for name in names if name in kwargs}
            return fn(*args, **kwargs, **given)

        with_settings.__signature__ = signature  # type: ignore[attr-defined]
        with_settings.__doc__ = (fn.__doc__ or "").rstrip(" ") + _settings_doc(table)  # (the closing quotes' indent)
        return with_settings

    return decorate


@_takes_settings(_settings.SEARCH)
def search(
    space: Space,
    data: Any = None,
    *,
    out: str | Path | None = None,
    progress: Any = True,
    device: str | torch.device = "auto",
    callbacks: Sequence[Callback] = (),
    classes: int | None = None,
    plugins: Sequence[str] = (),
    source: str | None = None,
    on_run_dir: Callable[[Path], None] | None = None,
    report: bool = True,
    **settings: Any,
) -> SearchResult | None:
    """Search ``space`` and discretize it.

    ``data``: a built-in source (``"digits"``, ``"mnist1d"``, ``"npz:PATH"``, ...), arrays ``(x, y)`` or
    ``(x, y, x_test, y_test)``, or torch datasets ``train`` / ``(train, test)`` (batches are read as they
    are drawn, so data larger than memory streams); None: the space's own ``data`` setting.
    ``out``: a folder for the run directory (as ``dasdsl run --out``); None writes nothing to disk.
    ``progress``: True (a progress line on stderr), False, or a reporter object. ``device``: ``"auto"``,
    ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device``. ``classes``: the class count where the caller's
    labels do not show them all. ``on_run_dir``: called with the run directory as soon as it exists (before
    the first epoch: a notebook can show where the run writes). ``report``: False skips report.html
    (``dasdsl report RUN_DIR`` writes it later).
    ``callbacks``: functions called with each epoch's record, every one every epoch; one returning False stops
    the search after that epoch (with a checkpoint where there is a run directory; ``dasdsl.resume`` continues
    it) and returns a result marked ``stopped``. Under torchrun, processes other than rank 0 return None.

    Every search setting of the space's ``search`` block can be given by name; None keeps the block's (else
    the default). Values are .das text (``gate="sigmoid(temperature = anneal(5.0 -> 0.05))"``) or Python:
    numbers, True / False for on / off, a dict for the keyword settings of the setting's default kind
    (``weights={"lr": 0.05}``), a list for ``penalty`` and ``constraint``. The settings:
    """
    from dasdsl.engine import data as data_mod  # torch: kept off `import dasdsl` and `dasdsl check`
    from dasdsl.engine import workflow  # torch: kept off `import dasdsl` and `dasdsl check`
    from dasdsl.engine.run import config_for  # torch: kept off `import dasdsl` and `dasdsl check`

    given = dict(settings)  # the table's keywords given, in table order
    space = Space.of(space)
    callbacks = workflow.check_callbacks(callbacks)
    if out is not None:
        check_output_folder(out, "folder for run directories")
    own_data = not _settings.is_source(data)
    if own_data:
        given["data"] = None
    elif data is not None:
        given["data"] = data_mod.source_name(data)  # a .npz path (text or Path) as npz:PATH
    cfg = config_for(space, _settings.SEARCH.entries_of(given))
    torch_device, world = _device(device)
    split = None
    if own_data:
        split = data_mod.user_split(data, space.input_kind, cfg.split, cfg.seed, torch_device, classes)
        cfg = attrs.evolve(cfg, data=split.name)
    source = source or space.module.span.file or "<string>"
    with _reporter(progress if world.main else False) as reporter:
        run = workflow.start(
            space,
            cfg,
            torch_device,
            out_root=out,
            source=source,
            source_text=space.to_das(),
            plugins=list(dict.fromkeys([*space.plugins, *plugins])),
            data=split,
            world=world,
        )
        if on_run_dir is not None and run.out is not None and world.main:
            on_run_dir(run.out)
        with _holding(run.out if world.main else None):
            finished = workflow.run_to_end(run, reporter, callbacks)
    return _result(finished, world, data if own_data else None, report)


def resume(
    run_dir: str | Path,
    *,
    data: Any = None,
    progress: Any = True,
    device: str | torch.device = "auto",
    callbacks: Sequence[Callback] = (),
    plugins: Sequence[str] = (),
    classes: int | None = None,
    epochs: int | None = None,
    on_run_dir: Callable[[Path], None] | None = None,
    report: bool = True,
    **unknown: Any,
) -> SearchResult | None:
    """Continue a killed or stopped run from its last complete checkpoint, with the settings it started with;
    the result is the one an uninterrupted run gives: the data is checked against the fingerprint the run
    recorded (config.json's ``data_fingerprint``) and other data is refused, saying what differs. ``data``: the
    arrays or datasets again, for a run that searched the caller's own data (a built-in source is loaded again by
    itself). ``epochs``: extend the run
    (finished or not) to that many epochs; the schedules are re-planned for them from where the run is."""
    from dasdsl.engine import workflow  # torch: kept off `import dasdsl` and `dasdsl check`

    _refuse_unknown(resume, unknown)
    callbacks = workflow.check_callbacks(callbacks)
    torch_device, world = _device(device)
    own_data = None if _settings.is_source(data) else data
    if isinstance(data, os.PathLike):
        data = str(data)
    held = Path(run_dir) if world.main and (Path(run_dir) / "config.json").is_file() else None  # a run directory
    with _reporter(progress if world.main else False) as reporter, _holding(held):
        run = workflow.resume(
            run_dir, torch_device, plugins=plugins, user_data=data, classes=classes, epochs=epochs, world=world
        )
        if on_run_dir is not None and world.main:
            on_run_dir(Path(run_dir))
        finished = workflow.run_to_end(run, reporter, callbacks)
    return _result(finished, world, own_data, report)


def _result(finished: Any, world: Any, own_data: Any = None, write: bool = True) -> SearchResult | None:
    from dasdsl.engine import distributed  # torch: kept off `import dasdsl` and `dasdsl check`

    distributed.finish(world)
    if finished is None:
        return None
    report, report_error = None, None
    if finished.run_dir is not None and write and not finished.stopped:
        from dasdsl.view.report import write_report  # graphviz and matplotlib

        try:
            report = write_report(finished.run_dir)
        except Exception as exc:  # noqa: BLE001 - the search itself succeeded; the reason is kept for the reader
            report_error = f"{type(exc).__name__}: {exc}"
    name = str(finished.run_dir / "result.das") if finished.run_dir is not None else "<result>"
    spaces = tuple(loads(text, name) for text in finished.texts)  # the text as written: header and data
    return SearchResult(
        spaces[0],
        spaces,
        finished.history,
        finished.summary,
        finished.gates,
        finished.network,
        finished.run_dir,
        report,
        report_error,
        _settings_of(finished.cfg, own_data is not None),
        own_data,
        finished.stopped,
        finished.supernet,
    )


def _settings_of(cfg: _settings.SearchConfig, own_data: bool) -> dict[str, Any]:
    """The run's settings under the search table's names: ``space.search(data, **settings)`` repeats it
    (``data`` left out where the caller gave their own)."""
    values = _settings.search_values(cfg)
    if own_data:
        values.pop("data")
    return values


@_takes_settings(_settings.TRAIN)
def train(
    space: Space | str | Path,
    data: Any = None,
    *,
    out: str | Path | None = None,
    progress: Any = True,
    device: str | torch.device = "auto",
    callbacks: Sequence[Callback] = (),
    plugins: Sequence[str] = (),
    classes: int | None = None,
    on_run_dir: Callable[[Path], None] | None = None,
    **settings: Any,
) -> TrainResult:
    """Train a space with no choices left (a search result) from scratch, as ``dasdsl train`` does.

    ``space``: a ``Space`` or a .das file, built with its ``train`` block's ``let`` constants. ``data`` as for
    ``search`` (None: the train block's ``data``, else the search block's); ``out``: a folder for the run
    directory (config.json, log.jsonl, model.pt, summary.json), None writes nothing. ``device``, ``progress``,
    ``callbacks``, ``classes`` and ``on_run_dir`` as for ``search``. The recipe keywords are the train block's
    settings (docs/search.md, "Training a result"); one not given (None) is the space's train block's, else its
    default:
    """
    from dasdsl.engine import data as data_mod  # torch: kept off `import dasdsl` and `dasdsl check`
    from dasdsl.engine import training, workflow  # torch: kept off `import dasdsl` and `dasdsl check`
    from dasdsl.engine.device import pick_device  # torch: kept off `import dasdsl` and `dasdsl check`

    given = dict(settings)  # the train table's keywords given (``data`` is the parameter), in table order
    callbacks = workflow.check_callbacks(callbacks)
    if out is not None:
        check_output_folder(out, "folder for run directories")
    if not isinstance(space, _checked.CheckedSpace):
        space = load(space, plugins)
    cfg = training_settings(space, **given)
    space = Space.of(space, plugins).for_training()
    torch_device = pick_device(device)
    split = None
    if not _settings.is_source(data):
        split = data_mod.user_split(data, space.input_kind, 0.9, cfg.seed, torch_device, classes)
    elif data is None:
        data = cfg.data  # the train block's; None: the search block's
    with _reporter(progress) as reporter:
        trained = workflow.train(
            space,
            torch_device,
            epochs=cfg.epochs,
            batch=cfg.batch,
            lr=cfg.lr,
            seed=cfg.seed,
            data=split,
            data_spec=data if _settings.is_source(data) else None,
            out_root=out,
            source=space.module.span.file or "<string>",
            reporter=reporter,
            callbacks=callbacks,
            on_run_dir=on_run_dir,
            recipe=training.recipe_of(cfg),
        )
    return TrainResult(
        trained.network, trained.history, trained.test_acc, trained.test_samples, trained.run_dir, trained.classes
    )


def training_settings(space: Space | _checked.CheckedSpace, **given: Any) -> _settings.TrainConfig:
    """How ``dasdsl train`` would train ``space``: its train block's settings, then ``given`` (keywords as
    ``train``'s; None: not given), each read and checked by the train settings table."""
    base = _settings.TRAIN.resolve(space.train_block)
    return _settings.TRAIN.resolve(_settings.TRAIN.entries_of(given), base)


def resume_training(
    run_dir: str | Path,
    *,
    data: Any = None,
    progress: Any = True,
    device: str | torch.device = "auto",
    callbacks: Sequence[Callback] = (),
    plugins: Sequence[str] = (),
    **unknown: Any,
) -> TrainResult:
    """Continue a killed training run (``dasdsl train --resume RUN_DIR``) from its last complete epoch, with
    the settings it started with. ``data``: the caller's own arrays again, for a run that trained on them."""
    from dasdsl.engine import data as data_mod  # torch: kept off `import dasdsl` and `dasdsl check`
    from dasdsl.engine import rundir, workflow  # torch: kept off `import dasdsl` and `dasdsl check`
    from dasdsl.engine.device import pick_device  # torch: kept off `import dasdsl` and `dasdsl check`

    _refuse_unknown(resume_training, unknown)
    callbacks = workflow.check_callbacks(callbacks)
    torch_device = pick_device(device)
    split = None
    if not _settings.is_source(data):
        seed = workflow.training_config(run_dir).seed  # read as data: a bad recorded seed is a clear error
        space = rundir.read_space(run_dir, plugins=plugins)
        split = data_mod.user_split(data, space.input_kind, 0.9, seed, torch_device)
    with (
        _reporter(progress) as reporter,
        _holding(Path(run_dir) if (Path(run_dir) / "config.json").is_file() else None),
    ):
        trained = workflow.resume_training(
            run_dir, torch_device, data=split, plugins=plugins, reporter=reporter, callbacks=callbacks
        )
    return TrainResult(
        trained.network, trained.history, trained.test_acc, trained.test_samples, trained.run_dir, trained.classes
    )


# ---- the space ---------------------------------------------------------------------------------


@attrs.frozen
class Space(_checked.CheckedSpace):
    """A checked space with the pipeline's verbs: ``count``, ``graph``, ``supernet``, ``network``, ``render``,
    ``search``, ``train``, ``to_das``. Shapes and classes come from the arguments, else the space's ``input``
    line and its data."""

    plugins: tuple[str, ...] = ()  # the plugin modules it was loaded with: a run records them for resume

    @classmethod
    def of(cls, checked: _checked.CheckedSpace, plugins: Sequence[str] = ()) -> Space:
        if isinstance(checked, Space):
            return checked
        return cls(**attrs.asdict(checked, recurse=False), plugins=tuple(plugins))

    def count(self) -> int:
        """The exact number of distinct discrete architectures."""
        return count_architectures(self)

    def let(self, **values: int | float) -> Space:
        """This space with some ``let`` constants given other values (``--let C=36``), checked again."""
        return self.with_constants(values)

    def with_constants(
        self, values: Mapping[str, int | float | str], given_by: str = "space.let({name}={value!r})"
    ) -> Space:
        """``let`` with the values in a mapping (text read as a .das number); an error the values cause points
        at the file, with a note naming ``given_by`` (formatted with ``name`` and ``value``: ``--let C=36``)."""
        return Space.of(with_lets(self, values, self.plugins, given_by=given_by), self.plugins)

    def for_training(self) -> Space:
        """This space as ``dasdsl train`` and ``dasdsl export`` build it: with its train block's ``let``
        constants (``train { let C = 36 }``)."""
        return Space.of(for_training(self, self.plugins), self.plugins)

    def to_das(self) -> str:
        """The space as .das text: its source where it has one, else the canonical printing of its AST."""
        return self.source if self.source is not None else format_das(self.module)

    def graph(self, input_shape: tuple[int, ...] | None = None, classes: int | None = None, data: Any = None) -> Any:
        """The IR (``dasdsl.compiler.ir.NetworkIR``) for data of ``input_shape`` and ``classes``, else ``data``'s
        (any form ``search`` takes: a source name, arrays, torch datasets), else what the space's ``input`` line
        states, else the space's own data."""
        from dasdsl.engine.data import ir_for  # numpy, scikit-learn and torch: not on `dasdsl check`'s path

        return ir_for(self, input_shape, classes, data)

    def supernet(
        self,
        input_shape: tuple[int, ...] | None = None,
        classes: int | None = None,
        *,
        data: Any = None,
        gate: str | dict[str, Any] | None = None,
        partial_channels: int | None = None,
        share_values: bool | str | None = None,
        fuse: bool | str | None = None,
    ) -> Any:
        """A torch supernet, every choice mixed under a gate: the one a search of this space trains. The
        settings read as ``search``'s (``gate="sigmoid(temperature = 2)"``, ``share_values=False``); one not
        given is the space's search block's, else the default (the same defaults as a search)."""
        from dasdsl.engine.run import config_for, supernet_of  # torch: not on `dasdsl check`'s path

        given = {"gate": gate, "partial_channels": partial_channels, "share_values": share_values, "fuse": fuse}
        cfg = config_for(self, _settings.SEARCH.entries_of(given))
        return supernet_of(self.graph(input_shape, classes, data), cfg)

    def network(self, input_shape: tuple[int, ...] | None = None, classes: int | None = None, data: Any = None) -> Any:
        """A plain torch network; only for a space with no choices left. Shape and classes as for ``graph``: a
        search's result states them (``input image(1, 8, 8) classes 10``), so it needs no arguments."""
        from dasdsl.compiler.lower import FixedNetwork  # torch: not on `dasdsl check`'s path

        ir = self.graph(input_shape, classes, data)
        return FixedNetwork(ir)

    def render(
        self,
        out: str | Path | None = None,
        *,
        cell: str | None = None,
        macro: bool = False,
        input_shape: tuple[int, ...] | None = None,
        classes: int | None = None,
        data: Any = None,
    ) -> Any:
        """Graphviz pictures of the cells (or of the macro network). Without ``out``: one graphviz ``Digraph``
        of every cell (or the network); with ``out`` (.svg, .png, .pdf, .dot): the files written, one per cell
        (their .dot sources where graphviz's ``dot`` program is missing)."""
        from dasdsl.view import render  # graphviz: only when a picture is asked for

        ir = self.graph(input_shape, classes, data)
        if out is None:
            return render.network_graph(ir) if macro else render.space_graph(ir, None, render.select_types(ir, cell))
        paths, _ = render.write_ir(ir, Path(out), cell=cell, macro=macro)
        return paths

    def __repr__(self) -> str:
        """One line: the syntax tree itself is kilobytes (``to_das()`` gives the text)."""
        choices = sum(len(cell.choices) for cell in self.cell_types.values())
        cells = ", ".join(self.cell_types) or "none"
        where = self.module.span.file or "<string>"
        return (
            f"<Space {self.name!r} from {where}: {self.input_kind} input, cells {cells}, {plural(choices, 'choice')}>"
        )

    def _repr_svg_(self) -> str | None:
        """The cells as one SVG (Jupyter shows a space as its picture); None without graphviz's dot."""
        from dasdsl.view.render import space_svg  # graphviz: only when a picture is asked for

        return space_svg(self)

    # The verbs that run are the module's functions themselves: one signature and one docstring, so
    # help(Space.search) and an editor list every setting.
    search = search
    train = train


# ---- pictures of files and runs ------------------------------------------------------------------


@attrs.frozen
class Rendered:
    """What ``render`` wrote: the files, notes for the reader (warnings of the space, a run without weights)
    and, where graphviz's dot was missing (the paths are then .dot sources), the line saying how to go on."""

    paths: tuple[Path, ...]
    notes: tuple[str, ...]
    missing_dot: str | None


def render(
    file: str | Path | None = None,
    out: str | Path | None = None,
    *,
    cell: str | None = None,
    run_dir: str | Path | None = None,
    macro: bool = False,
    data: Any = None,
    input_shape: tuple[int, ...] | None = None,
    classes: int | None = None,
    plugins: Sequence[str] = (),
) -> Rendered:
    """``dasdsl render``: pictures of a .das file's cells (or its network), coloured by a run's final gate
    weights with ``run_dir`` (whose space.das is drawn when ``file`` is None)."""
    from dasdsl.engine import rundir  # torch: kept off `import dasdsl` and `dasdsl check`
    from dasdsl.view import render as view  # graphviz: only when a picture is asked for

    if file is None and run_dir is None:
        raise fail("dasdsl render needs a FILE (or --run RUN_DIR)", "<arguments>")
    if out is not None:
        check_output_file(out, "picture")
    if run_dir is not None and not Path(run_dir).is_dir():
        raise fail(f"{run_dir} is not a run directory", "<arguments>")
    plugins = list(plugins)
    if run_dir is not None:
        from dasdsl.engine.data import run_shape  # numpy and torch

        config = rundir.read_config(run_dir)
        rundir.require_plugins(run_dir, rundir.run_plugins(config), plugins)
        if data is None and (input_shape is None or classes is None):
            recorded = run_shape(config, run_dir)  # the shape and classes the run searched: no data to load
            if recorded is None:
                data = rundir.run_data(config)
            else:
                input_shape, classes = input_shape or recorded[0], classes or recorded[1]
    path = Path(file) if file is not None else Path(run_dir) / rundir.SPACE  # type: ignore[arg-type]
    space = load(path, plugins)
    notes = [w.render(space.source) for w in space.warnings]
    ir = space.graph(input_shape, classes, data)
    target = Path(out) if out else Path(f"{path.stem}{'-network' if macro else ''}.svg")
    run = None
    if run_dir is not None and not macro:
        run = view.load_run(run_dir, ir)
        if run is None:
            notes.append(f"dasdsl: {run_dir} has no gate weights yet (log.jsonl is empty); drawing the space")
    paths, missing = view.write_ir(ir, target, cell=cell, macro=macro, run=run)
    fmt = target.suffix.lstrip(".").lower()
    line = view.missing_dot_line(paths, fmt if fmt in view.FORMATS else "svg") if missing else None
    return Rendered(tuple(paths), tuple(notes), line)


# ---- the compile report, latency tables, plots and reports ---------------------------------------


def describe(space: _checked.CheckedSpace, data: Any = None) -> tuple[tuple[int, ...], int]:
    """Input shape and class count of a space's data (``data`` as given, else its ``data`` setting)."""
    from dasdsl.engine.data import describe as describe_data  # numpy, scikit-learn and torch

    return describe_data(space, data)


def compile_report(ir: Any) -> str:
    """What ``dasdsl compile`` prints of an IR: nodes and shapes per cell, choices, adapters, parameter counts."""
    from dasdsl.compiler.dump import compile_report as report  # builds torch modules to count parameters

    return report(ir)


def graph_json(ir: Any) -> dict[str, Any]:
    """An IR as networkx node-link JSON (``dasdsl compile --graph``)."""
    from dasdsl.compiler.ir import to_json  # the compiler package imports torch

    return to_json(ir)


def check_profile_options(
    *, batch: int | None, repeats: int, warmup: int, threads: int | None, flags: bool = False
) -> None:
    """``profile``'s counts: at least 1 (warm-up runs at least 0); ``flags`` names them as the CLI's flags."""
    for name, value, least in (
        ("batch", batch, 1),
        ("repeats", repeats, 1),
        ("warmup", warmup, 0),
        ("threads", threads, 1),
    ):
        if value is not None and value < least:
            where = "<command line>" if flags else "<arguments>"
            raise fail(f"{'--' if flags else ''}{name} must be at least {least}, got {value}", where)


def profile(
    ir: Any,
    out: str | Path,
    *,
    device: str | torch.device = "auto",
    batch: int | None = None,
    repeats: int = 10,
    warmup: int = 3,
    threads: int | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """Time every candidate of ``ir`` on this device (median ms per batch; ``batch`` defaults to the space's)
    and write the latency table that ``penalty cost(latency, ...)`` reads; returns the table."""
    from dasdsl.compiler.cost import profile_latency  # torch
    from dasdsl.engine.device import pick_device  # torch

    check_profile_options(batch=batch, repeats=repeats, warmup=warmup, threads=threads)
    check_output_file(out, "latency table")
    torch_device = pick_device(device)
    if batch is None:
        given = ir.space.search_block.get("batch", (None,))[0]
        ok = isinstance(given, int) and not isinstance(given, bool) and given > 0
        batch = given if ok else _settings.SearchConfig().batch
    table = profile_latency(ir, torch_device, batch=batch, repeats=repeats, warmup=warmup, threads=threads)
    table["source"] = source or ir.space.module.span.file
    write_atomic(Path(out), json.dumps(table, indent=2) + "\n", "latency table")
    return table


def plot(run_dir: str | Path, out: str | Path | None = None) -> list[Path]:
    """PNG curves of a run (gate weights, temperature, loss and accuracy, skips); returns the files."""
    from dasdsl.view.plot import plot_run  # matplotlib and torch

    if out is not None:
        check_output_folder(out, "folder for the plots")
    return plot_run(run_dir, out)


def report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """One self-contained HTML page about a run; returns its path."""
    from dasdsl.view.report import write_report  # graphviz, matplotlib and torch

    if out is not None:
        check_output_file(out, "report")
    return write_report(run_dir, out)


# ---- export ---------------------------------------------------------------------------------------

EXPORT_FORMATS = ("python", "torchscript", "onnx")
_SUFFIX = {"python": ".py", "torchscript": ".pt", "onnx": ".onnx"}


def export(
    space: Space | str | Path,
    format: str = "python",
    out: str | Path | None = None,
    *,
    weights: str | Path | None = None,
    data: Any = None,
    input_shape: tuple[int, ...] | None = None,
    classes: int | None = None,
) -> Path:
    """``dasdsl export``: a space with no choices left (a search's result) as plain PyTorch, returning the file.

    ``python``: one self-contained .py file (imports only torch) defining ``Network``, whose parameter names are
    dasdsl's, so ``dasdsl train``'s model.pt loads into it as it is; ``torchscript``: that module compiled by
    ``torch.jit.script`` with the weights, saved by ``torch.jit.save``; ``onnx``: exported by ``torch.onnx.export``
    (needs ``pip install dasdsl[onnx]``) with a dynamic batch axis and checked by ``onnx.checker``. ``weights``:
    model.pt (else freshly initialized weights), whose space must build the same network. The input shape and
    classes come from ``input_shape`` and ``classes``, else from what model.pt records, else from ``data`` (any
    form ``search`` takes), else from what the space states (a search's result: ``input image(1, 8, 8) classes
    10``), else from the space's own data. The network is the one ``dasdsl train`` builds: with the ``let``
    constants of the space's train block."""
    from dasdsl.compiler import export as exporter  # torch: kept off `import dasdsl` and `dasdsl check`

    if format not in EXPORT_FORMATS:
        raise fail(f"unknown export format {format!r}", "<arguments>", f"expected one of {', '.join(EXPORT_FORMATS)}")
    if not isinstance(space, Space):
        space = load(space)
    space = space.for_training()  # the network `dasdsl train` builds
    if weights is not None and (input_shape is None or classes is None):
        record = exporter.read_model(Path(weights))  # the shape and classes the weights were trained for
        input_shape, classes = input_shape or record["input_shape"], classes or record["classes"]
    target = Path(out) if out is not None else Path(fit_name(space.name, _SUFFIX[format]))
    check_output_file(target, "export file")
    ir = space.graph(None if input_shape is None else tuple(input_shape), classes, data)
    origin = f"{space.name}: exported by dasdsl from {space.module.space.span.file} on {datetime.date.today()}"
    exporter.write(ir, format, target, origin, None if weights is None else Path(weights))
    return target
