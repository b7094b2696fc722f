"""Settings of a space's blocks: ``search`` (``dasdsl run``) and ``train`` (``dasdsl train``), each overridden
by the command line or the Python API's keywords, checked once.

Every setting resolves to a plain JSON-able value so that ``config.json`` of a run
records exactly what ran, and a resumed run can rebuild the same configuration.

One table per block, ``SETTINGS`` (search) and ``TRAIN_SETTINGS``, holds one ``SearchSetting`` record
per key: its name, the parser that turns the evaluated values into fields of the block's config
(``SearchConfig``, ``TrainConfig``), its default as shown to users, its flag (if any) and a one-line doc.
A ``SettingsTable`` (``SEARCH``, ``TRAIN``) derives everything else from its table; the names below are
the search table's, kept as module functions:

- ``SEARCH_KEYS``: the keys a search block accepts, in table order.
- ``check_entry(key, values) -> list[SettingError]``: the checker's search-block pass calls it
  with an entry's evaluated values (only when none of them failed to evaluate). Each problem's
  ``index`` says which value of the entry is wrong (None: the entry itself) and ``arg`` which
  argument inside that value (a keyword name or a positional index; None: the whole value);
  ``problem_span(entry, problem)`` turns that into the span to report::

      for problem in check_entry(entry.key, values):
          self.err(problem.message, problem_span(entry, problem), problem.hint)

- ``resolve(search, base=None) -> SearchConfig``: evaluated entries on top of ``base``; a bad
  value raises ``DasError`` (no location: the values may come from the command line).
- ``check_config(cfg)``: settings that cannot go together (``discretize perturbation`` with ``top 3``
  or a constraint), on a run's final configuration; the checker reports ``combination_problem`` at the
  search block.
- ``FLAGGED`` (the records with a flag) and ``RUN_SETTING_FLAGS`` (their names, which are also
  the argparse ``dest``): ``dasdsl.cli`` builds the flags from these records. The Python API
  (and through it the CLI's flags and ``--set KEY=VALUE``) turns each given setting into
  search-block values with ``parse_flag(key, value)``: a flag's own spelling (``npz:PATH``), else
  .das syntax through ``parse_override(key, text)``.
- ``settings_table() -> str``: the markdown table in docs/search.md (between the
  ``settings-table`` marker comments; tests/test_settings.py keeps the two equal).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from dasdsl.errors import DasError, Span, did_you_mean, fail, suggest
from dasdsl.lang import ast
from dasdsl.lang.checked import RangeValue, Setting, Symbol
from dasdsl.lang.parse import parse
from dasdsl.methods import gates, penalties, rules

HYPERGRADIENTS = ("first_order", "second_order", "exact")
GATES = tuple(gates.GATES)  # each gate is defined once, in dasdsl.methods.gates
SCHEDULES = ("constant", "linear", "exponential", "cosine")
DISCRETIZE = tuple(rules.RULES)  # each rule is defined once, in dasdsl.methods.rules
PRECISIONS = ("fp32", "bf16", "fp16")
PENALTIES = tuple(penalties.PENALTIES)  # each penalty is defined once, in dasdsl.methods.penalties
COST_MEASURES = ("params", "flops", "latency")
CONSTRAINTS = ("min_nonskip_per_path", "max_skip", "max_params", "max_flops")
W_SCHEDULES = ("cosine", "constant")
RAMPS = ("linear", "cosine")  # how a penalty's weight goes from its start to its end over the search
AUGMENTS = ("auto", "shift", "crop_flip", "none")  # image augmentation of `dasdsl train`


@attrs.frozen
class SearchConfig:
    data: str = "digits"
    epochs: int = 50
    batch: int = 64
    split: float = 0.5
    seed: int = 0
    # weights: SGD with a cosine schedule and gradient clipping (DARTS)
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    w_schedule: str = "cosine"
    grad_clip: float = 5.0
    # architecture: Adam (DARTS)
    a_lr: float = 3e-2  # Adam moves a parameter about lr per step: 3e-4 left gates uniform (bench/quality)
    a_betas: tuple[float, float] = (0.5, 0.999)
    a_weight_decay: float = 1e-3
    hypergradient: str = "first_order"
    gate: str = "dirichlet"  # chosen by bench/quality (docs/search.md, "Choosing the defaults")
    tau0: float = 1.0
    tau1: float = 1.0
    tau_schedule: str = "constant"
    hard: bool = False
    anchor: float = 1e-3  # the weight of the gate's regularizer (dirichlet: DrNAS' anchor)
    discretize: str = "argmax"
    threshold: float = 0.5
    penalties: tuple[tuple[str, Any, float], ...] = (("entropy", (0.0, "linear"), 0.1),)  # (kind, argument, lambda)
    constraints: tuple[tuple[str, int | float], ...] = ()
    partial_channels: int = 1
    share_values: bool = True  # the candidates of a value list share weights (weight entanglement)
    fuse: bool = True  # the fusion pass (dasdsl.compiler.fuse): same results, fewer and larger kernels
    finetune: int = 0
    top: int = 1
    select: str = "oneshot"  # gates | oneshot: how the result is picked among the exact k best by gate weights
    select_k: int = 100  # oneshot: how many of the k best architectures are scored with inherited weights
    select_finetune: int = 4  # oneshot: epochs each is trained from its inherited weights before it is scored
    budget: str = "adaptive"  # adaptive | off: how a max_params / max_flops constraint acts during the search
    budget_rate: float = 0.05  # adaptive: the step of the constraint's multiplier per architecture step
    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast; fp16 with loss scaling)
    latency_table: str | None = None  # JSON of `dasdsl profile`, read by cost(latency, ...)

    @property
    def oneshot(self) -> bool:
        """Whether the result is picked by one-shot scores (``select oneshot``); a rule that weighs candidates
        by the supernet's accuracy itself (``perturbation``) picks its own architecture instead."""
        return self.select == "oneshot" and not rules.RULES[self.discretize].needs_accuracy

    def to_json(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in attrs.fields(SearchConfig)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchConfig:
        """The configuration a config.json records; a setting it does not name (written before the setting
        existed) takes the value that reproduces what that run did (``LEGACY``), not today's default."""
        fields = {f.name for f in attrs.fields(cls)}
        values = {k: _tuple(v) for k, v in data.items() if k in fields}
        return cls(**{**{k: v for k, v in LEGACY.items() if k not in values}, **values})


# What a run directory written before these settings existed did: one-shot selection and the adaptive budget
# came later. A resumed old run keeps its behaviour, and its settings fingerprint leaves these out.
LEGACY: dict[str, Any] = {"select": "gates", "select_k": 20, "select_finetune": 0, "budget": "off", "budget_rate": 0.05}


@attrs.frozen
class TrainConfig:
    """How ``dasdsl train`` trains a fixed network: the space's ``train`` block, then flags or keywords."""

    data: str | None = None  # None: the search block's data, else the input kind's default source
    epochs: int = 20
    batch: int = 64
    lr: float = 0.05
    seed: int = 0
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    label_smoothing: float = 0.0
    augment: str = "auto"
    cutout: int = 0
    auxiliary: float = 0.0  # the auxiliary head's loss weight (DARTS: 0.4); 0: no head
    drop_path: float = 0.0  # reached at the end, ramped linearly from 0 (DARTS: 0.2)

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


def _tuple(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_tuple(x) for x in v)
    return v


# ---- errors ----------------------------------------------------------------------------


class SettingError(Exception):
    """A bad search-setting value, located within its entry.

    ``index``: which value of the entry (``penalty l1(1e-3), cost(x, 1)`` has two), None for the
    entry as a whole. ``arg``: inside that value, the keyword name or positional index of the
    argument at fault (``lr`` in ``sgd(lr = -1)``), None for the whole value; ``occurrence``: which
    argument of that name, for a keyword given twice (1: the second ``lr`` of ``sgd(lr = 1, lr = 2)``).
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        index: int | None = None,
        arg: str | int | None = None,
        occurrence: int = 0,
    ):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.index = index
        self.arg = arg
        self.occurrence = occurrence  # a keyword ``arg`` given more than once: which of them (0: the first)

    def __repr__(self) -> str:
        return f"SettingError({self.message!r}, hint={self.hint!r}, index={self.index!r}, arg={self.arg!r})"


@contextmanager
def _at(*, index: int | None = None, arg: str | int | None = None) -> Iterator[None]:
    """Locate the SettingErrors raised inside, unless an inner ``_at`` already did."""
    try:
        yield
    except SettingError as exc:
        if exc.index is None:
            exc.index = index
        if exc.arg is None:
            exc.arg = arg
        raise


# ---- value checks ----------------------------------------------------------------------


def _number(v: Any, what: str, *, integer: bool = False, positive: bool = True, non_negative: bool = False) -> Any:
    """``v`` if it is a finite number (an int where ``integer``) of the sign asked for, else a SettingError."""
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and (not integer or isinstance(v, int))
    if ok and isinstance(v, float) and not math.isfinite(v):  # inf and nan pass every comparison below
        raise SettingError(f"{what} must be a finite number, got {_show(v)}")
    if not ok or (positive and v <= 0) or (non_negative and v < 0):
        sign = "positive " if positive else "non-negative " if non_negative else ""
        kind = f"a {sign}integer" if integer else f"a {sign}number"
        raise SettingError(f"{what} must be {kind}, got {_show(v)}")
    return v


def _fraction(v: Any, what: str) -> float:
    """A number in [0, 1): a momentum, an Adam beta."""
    if not (_is_number(v) and 0 <= v < 1):  # nan fails the comparison too
        raise SettingError(f"{what} must be a number in [0, 1), got {_show(v)}")
    return float(v)


def _at_most(v: int, what: str, limit: int, shown: str, why: str) -> int:
    """An upper bound on an integer setting: a larger value would only exhaust memory or time."""
    if v > limit:
        raise SettingError(f"{what} must be at most {shown}, got {_show(v)}", why)
    return v


def _show(v: Any) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10**ast.MAX_DIGITS:
        # (a caller's own value: Python will not turn an int of over 4300 digits into text)
        return f"a number of about {int(abs(v).bit_length() * math.log10(2)) + 1} digits"
    if isinstance(v, Symbol):
        return v.name
    if isinstance(v, Setting):
        return f"{v.func}(...)"
    if isinstance(v, tuple):
        return "(" + ", ".join(_show(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, RangeValue):
        return f"{_show(v.start)} -> {_show(v.end)}"
    return repr(v)


def _name(v: Any, what: str, choices: tuple[str, ...], *, bare: bool = False) -> str:
    """The name ``v`` gives, one of ``choices``; ``bare``: a plain name, never called (``fp16``, not ``fp16(1)``)."""
    name = v.name if isinstance(v, Symbol) else v.func if isinstance(v, Setting) else None
    if name not in choices:
        raise SettingError(
            f"unknown {what} {_show(v)}", did_you_mean(str(name), choices) or f"expected {', '.join(choices)}"
        )
    if bare and isinstance(v, Setting):
        raise SettingError(f"{what} {name} takes no arguments", f"write it as a plain name: {name}")
    return name  # type: ignore[return-value]


def _no_kwargs(v: Any, what: str) -> None:
    """A call of positional values only (``l1(1e-3)``): a keyword argument is an error located at it."""
    if isinstance(v, Setting) and v.kwargs:
        key = v.kwargs[0][0]
        raise SettingError(
            f"{what} takes no keyword settings, got '{key}'", f"write {what}(...) with values only", arg=key
        )


def _kwargs(v: Any, what: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if isinstance(v, Symbol):
        return {}
    seen: set[str] = set()
    for occurrence, (key, _) in enumerate(v.kwargs):
        if key in seen:  # located at the second one: the occurrence-th argument of that name
            raise SettingError(
                f"{what} got setting '{key}' twice",
                f"give '{key}' once",
                arg=key,
                occurrence=[k for k, _ in v.kwargs[:occurrence]].count(key),
            )
        seen.add(key)
    kw = v.kw()
    for key in kw:
        if key not in allowed:
            hint = did_you_mean(key, allowed) or f"it takes {', '.join(allowed)}"
            raise SettingError(f"{what} has no setting '{key}'", hint, arg=key)
    if v.args:
        raise SettingError(f"{what} takes keyword settings only, e.g. {what}({allowed[0]} = ...)", arg=0)
    return kw


# ---- the parsers: evaluated values (and the settings so far) to SearchConfig fields ------

Parse = Callable[[tuple[Any, ...], Mapping[str, Any]], dict[str, Any]]


def _one(fn: Callable[[Any, Mapping[str, Any]], dict[str, Any]]) -> Parse:
    """A setting of one value (``_parse`` rejects more); its errors are located at value 0."""

    def parse(values: tuple[Any, ...], c: Mapping[str, Any]) -> dict[str, Any]:
        with _at(index=0):
            return fn(values[0], c)

    return parse


def _each(field: str, fn: Callable[[Any], Any]) -> Parse:
    """A setting of a list of values, each turned into one item of ``field``."""

    def parse(values: tuple[Any, ...], c: Mapping[str, Any]) -> dict[str, Any]:
        items = []
        for i, v in enumerate(values):
            with _at(index=i):
                items.append(fn(v))
        return {field: tuple(items)}

    return parse


# Upper bounds of the integer settings: far beyond any real search, they stop typos such as
# `epochs 10000000000` that would only run out of memory or time (docs/search.md, "Ranges").
MAX_EPOCHS = 10**6
MAX_BATCH = 2**20
MAX_TOP = 10**4
SEED_LIMIT = 2**32  # seeds are 0 .. 2**32 - 1: numpy's range, and the run's derived seeds fit torch's 64 bits


def _integer(key: str, *, positive: bool = True, at_most: tuple[int, str] | None = None) -> Parse:
    """A positive (else non-negative) integer setting, at most ``at_most`` = (limit, limit as shown)."""

    def parse(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
        value = _number(v, key, integer=True, positive=positive, non_negative=not positive)
        if at_most is not None:
            _at_most(value, key, *at_most, "a larger value would only run out of memory or time")
        return {key: value}

    return _one(parse)


def _seed(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    if not (isinstance(v, int) and not isinstance(v, bool) and 0 <= v < SEED_LIMIT):
        raise SettingError(f"seed must be a non-negative integer below 2**32, got {_show(v)}")
    return {"seed": v}


def _data(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    name, path = _spec(v)
    if path:
        _file_name(path, f"data {name}")
    return {"data": f"{name}:{path}" if path else name}


def _split(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(v, (int, float)) or not 0 < v < 1:
        raise SettingError(f"split must be a fraction between 0 and 1, got {_show(v)}")
    return {"split": float(v)}


def _grad_clip(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    return {"grad_clip": float(_number(v, "grad_clip"))}


def _weights(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    _name(v, "weight optimizer", ("sgd",))
    kw = _kwargs(v, "sgd", ("lr", "momentum", "weight_decay", "schedule", "lr_min"))
    out: dict[str, Any] = {}
    with _at(arg="lr"):
        out["w_lr"] = float(_number(kw.get("lr", c["w_lr"]), "sgd lr"))
    with _at(arg="momentum"):
        out["w_momentum"] = _fraction(kw.get("momentum", c["w_momentum"]), "sgd momentum")
    with _at(arg="weight_decay"):
        out["w_weight_decay"] = float(
            _number(kw.get("weight_decay", c["w_weight_decay"]), "weight_decay", positive=False, non_negative=True)
        )
    with _at(arg="lr_min"):
        out["w_lr_min"] = float(_number(kw.get("lr_min", c["w_lr_min"]), "lr_min", positive=False, non_negative=True))
    if "schedule" in kw:
        with _at(arg="schedule"):
            out["w_schedule"] = _name(kw["schedule"], "schedule", W_SCHEDULES, bare=True)
    return out


def _arch(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    _name(v, "architecture optimizer", ("adam",))
    kw = _kwargs(v, "adam", ("lr", "betas", "weight_decay"))
    out: dict[str, Any] = {}
    with _at(arg="lr"):
        out["a_lr"] = float(_number(kw.get("lr", c["a_lr"]), "adam lr"))
    betas = kw.get("betas", c["a_betas"])
    if not (isinstance(betas, tuple) and len(betas) == 2 and all(_is_number(b) for b in betas)):
        raise SettingError(f"adam betas must be a pair like (0.5, 0.999), got {_show(betas)}", arg="betas")
    if not all(0 <= b < 1 for b in betas):  # nan fails the comparison too
        raise SettingError(f"adam betas must each be in [0, 1), got {_show(betas)}", arg="betas")
    out["a_betas"] = (float(betas[0]), float(betas[1]))
    with _at(arg="weight_decay"):
        out["a_weight_decay"] = float(
            _number(kw.get("weight_decay", c["a_weight_decay"]), "weight_decay", positive=False, non_negative=True)
        )
    return out


def _gate(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    gate = _name(v, "gate", GATES)
    out: dict[str, Any] = {"gate": gate}
    if not gates.GATES[gate].tempered:  # dirichlet: no temperature; its regularizer's weight
        kw = _kwargs(v, gate, ("anchor",))
        with _at(arg="anchor"):
            out["anchor"] = float(
                _number(kw.get("anchor", gates.GATES[gate].anchor_default), "anchor", positive=False, non_negative=True)
            )
        return out
    kw = _kwargs(v, gate, ("temperature", "hard"))
    if "hard" in kw:
        out["hard"] = bool(kw["hard"])
    t = kw.get("temperature")
    with _at(arg="temperature"):
        if isinstance(t, (int, float)):
            out["tau0"] = out["tau1"] = float(_number(t, "temperature"))
            out["tau_schedule"] = "constant"
        elif t is not None:
            out["tau0"], out["tau1"], out["tau_schedule"] = _anneal(t)
    return out


def _anneal(t: Any) -> tuple[float, float, str]:
    if not (isinstance(t, Setting) and t.func == "anneal" and t.args and isinstance(t.args[0], RangeValue)):
        raise SettingError(f"temperature must be a number or anneal(T0 -> T1, schedule), got {_show(t)}")
    _no_kwargs(t, "anneal")
    if len(t.args) > 2:
        raise SettingError(
            f"anneal takes a range and a schedule: anneal(5.0 -> 0.05, cosine), got {len(t.args)} values"
        )
    rng = t.args[0]
    schedule = _name(t.args[1], "annealing schedule", SCHEDULES, bare=True) if len(t.args) > 1 else "exponential"
    return float(_number(rng.start, "start temperature")), float(_number(rng.end, "end temperature")), schedule


def _discretize(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    name = _name(v, "discretization rule", DISCRETIZE)
    out: dict[str, Any] = {"discretize": name}
    if not rules.RULES[name].takes_value:
        _name(v, "discretization rule", DISCRETIZE, bare=True)
    else:
        _no_kwargs(v, name)
        if not isinstance(v, Setting) or len(v.args) != 1:
            raise SettingError(f"{out['discretize']} takes one value: discretize {out['discretize']}(0.5)")
        with _at(arg=0):
            out["threshold"] = float(_number(v.args[0], "threshold"))
    return out


def _penalty(p: Any) -> tuple[str, Any, float]:
    """(kind, argument, lambda): the cost measure for ``cost``; for the others None, or (start, schedule)
    for a weight ramped from start to lambda over the search (``beta(0 -> 50, linear)``)."""
    kind = _name(p, "penalty", PENALTIES)
    _no_kwargs(p, kind)
    if penalties.PENALTIES[kind].term is None:  # the expected cost: a measure and a weight
        if not isinstance(p, Setting) or len(p.args) != 2:
            raise SettingError("cost takes a measure and a weight: cost(params, 1e-2)")
        with _at(arg=0):
            measure = _name(p.args[0], "cost measure", COST_MEASURES, bare=True)
        with _at(arg=1):
            return ("cost", measure, float(_number(p.args[1], "cost weight", positive=False)))
    if not isinstance(p, Setting) or not p.args or len(p.args) > 2:
        raise SettingError(f"{kind} takes a weight, {kind}(1e-3), or a ramp, {kind}(0 -> 50, linear)")
    weight = p.args[0]
    if not isinstance(weight, RangeValue):
        if len(p.args) > 1:
            raise SettingError(
                f"{kind} takes one weight, {kind}(1e-3), or a ramp and a schedule, {kind}(0 -> 5, linear)"
            )
        with _at(arg=0):
            return (kind, None, float(_number(weight, f"{kind} weight", positive=False)))
    with _at(arg=0):
        start = float(_number(weight.start, f"{kind} start weight", positive=False))
        end = float(_number(weight.end, f"{kind} end weight", positive=False))
    schedule = "linear"
    if len(p.args) > 1:
        with _at(arg=1):
            schedule = _name(p.args[1], "ramp schedule", RAMPS, bare=True)
    return (kind, (start, schedule), end)


def _constraint(p: Any) -> tuple[str, int | float]:
    kind = _name(p, "constraint", CONSTRAINTS)
    _no_kwargs(p, kind)
    if not isinstance(p, Setting) or len(p.args) != 1:
        raise SettingError(f"{kind} takes one number: {kind}(1)")
    with _at(arg=0):
        value = _number(p.args[0], kind, positive=kind != "max_skip")
        if kind in ("min_nonskip_per_path", "max_skip") and (not isinstance(value, int) or value < 0):
            raise SettingError(f"{kind} needs a non-negative integer, got {_show(value)}")
    return (kind, value)


SELECTS = ("gates", "oneshot")
BUDGETS = ("adaptive", "off")
MAX_SELECT_K = 1000
MAX_SELECT_FINETUNE = 100


def _select(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    name = _name(v, "select", SELECTS)
    if name == "gates":
        _name(v, "select", SELECTS, bare=True)
        return {"select": name}
    kw = _kwargs(v, name, ("k", "finetune"))
    out: dict[str, Any] = {"select": name}
    if "k" in kw:
        with _at(arg="k"):
            out["select_k"] = _at_most(
                _number(kw["k"], "k", integer=True), "oneshot's k", MAX_SELECT_K, "1000", "each is evaluated"
            )
    if "finetune" in kw:
        with _at(arg="finetune"):
            out["select_finetune"] = _at_most(
                _number(kw["finetune"], "finetune", integer=True, positive=False, non_negative=True),
                "oneshot's finetune",
                MAX_SELECT_FINETUNE,
                "100",
                "each of the k architectures is trained that many epochs",
            )
    return out


def _budget(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    name = _name(v, "budget", BUDGETS)
    if name == "off":
        _name(v, "budget", BUDGETS, bare=True)
        return {"budget": name}
    kw = _kwargs(v, name, ("rate",))
    out: dict[str, Any] = {"budget": name}
    if "rate" in kw:
        with _at(arg="rate"):
            out["budget_rate"] = float(_number(kw["rate"], "rate"))
    return out


def _share_values(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    return {"share_values": _name(v, "share_values", ("on", "off"), bare=True) == "on"}


def _fuse(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    return {"fuse": _name(v, "fuse", ("on", "off"), bare=True) == "on"}


def _precision(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    return {"precision": _name(v, "precision", PRECISIONS, bare=True)}


def _hypergradient(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    return {"hypergradient": _name(v, "hypergradient", HYPERGRADIENTS, bare=True)}


def _latency_table(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(v, str) or not v:
        raise SettingError(
            f"latency_table takes a file name in double quotes, got {_show(v)}", 'latency_table "latency.json"'
        )
    _file_name(v, "latency_table")
    try:
        return {"latency_table": str(Path(v).expanduser().resolve())}  # relative to the working directory
    except (OSError, RuntimeError, ValueError) as exc:  # `~nobody/x`: no such home folder
        raise SettingError(
            f"latency_table cannot use the file name {v!r}: {exc}", "write the file's full path"
        ) from None


def _file_name(path: str, what: str) -> None:
    """A file name the operating system can take: no NUL character (a .das string may hold one)."""
    if "\x00" in path:
        raise SettingError(f"{what} names a file with a NUL character in it: {path!r}", "check the file name")


def _number_setting(key: str, *, positive: bool = True) -> Parse:
    """A finite number (positive, else non-negative) for the field of the same name."""

    def parse(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
        return {key: float(_number(v, key, positive=positive, non_negative=not positive))}

    return _one(parse)


def _fraction_setting(key: str) -> Parse:
    """A probability-like number in [0, 1) for the field of the same name."""
    return _one(lambda v, c: {key: _fraction(v, key)})


def _augment(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    return {"augment": _name(v, "augment", AUGMENTS, bare=True)}


# ---- the table -------------------------------------------------------------------------


@attrs.frozen
class Flag:
    """A ``dasdsl run`` flag that sets a search setting of the same name."""

    help: str
    type: Callable[[str], Any] | None = None  # argparse type; None keeps the text
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    das: Callable[[str], str] | None = None  # the flag's text to .das syntax, where it differs


@attrs.frozen
class SearchSetting:
    """One search-block key: how it is read, its default, its flag and its doc."""

    name: str
    parse: Parse  # (evaluated values, the settings so far as SearchConfig fields) -> the fields it sets
    fields: tuple[str, ...]  # the SearchConfig fields it may set
    default: str | None  # in .das syntax, as shown to users; None: off unless given
    doc: str  # one line of markdown
    flag: Flag | None = None
    many: bool = False  # takes a comma-separated list of values
    default_note: str = ""  # markdown after the default, e.g. where it differs by space
    file: bool = False  # takes a file name: a Python str or Path is quoted as a .das string

    @property
    def option(self) -> str | None:
        return f"--{self.name.replace('_', '-')}" if self.flag is not None else None

    @property
    def switch(self) -> bool:
        """An ``on`` / ``off`` setting (``fuse``): Python's True and False mean on and off."""
        return self.default in ("on", "off")


def _data_flag(text: str) -> str:
    """``--data npz:PATH`` means ``data npz("PATH")``."""
    if ":" in text and "(" not in text:
        name, path = text.split(":", 1)
        return f'{name}("{path}")'
    return text


_W = "sgd(lr = 0.025, momentum = 0.9, weight_decay = 3e-4, schedule = cosine, lr_min = 0.001)"

SETTINGS: tuple[SearchSetting, ...] = (
    SearchSetting(
        "data",
        _one(_data),
        ("data",),
        "digits",
        '`digits`, `mnist1d`, `synthetic`, `cifar10("PATH")` or `npz("PATH")`; `--data npz:PATH` on the command line',
        Flag("digits, mnist1d, synthetic, cifar10:PATH, npz:PATH", das=_data_flag),
        default_note="`mnist1d` for sequence spaces",
    ),
    SearchSetting(
        "epochs",
        _integer("epochs", at_most=(MAX_EPOCHS, "1000000")),
        ("epochs",),
        "50",
        "search epochs, at most 1000000",
        Flag("search epochs", int),
    ),
    SearchSetting(
        "batch",
        _integer("batch", at_most=(MAX_BATCH, "1048576 (2**20)")),
        ("batch",),
        "64",
        "global batch size (several processes take equal parts), at most `2**20`",
        Flag("batch size", int),
    ),
    SearchSetting(
        "split",
        _one(_split),
        ("split",),
        "0.5",
        "share of the training data that trains the weights; the rest drives the architecture",
        Flag("share of the training data for the weights", float),
    ),
    SearchSetting(
        "seed", _one(_seed), ("seed",), "0", "random seed, an integer from 0 to `2**32 - 1`", Flag("random seed", int)
    ),
    SearchSetting(
        "weights",
        _one(_weights),
        ("w_lr", "w_momentum", "w_weight_decay", "w_lr_min", "w_schedule"),
        _W,
        "weight optimizer: SGD, learning rate `cosine` from `lr` to `lr_min` over the run, or `constant`",
    ),
    SearchSetting(
        "arch",
        _one(_arch),
        ("a_lr", "a_betas", "a_weight_decay"),
        "adam(lr = 3e-2, betas = (0.5, 0.999), weight_decay = 1e-3)",
        "architecture optimizer",
    ),
    SearchSetting(
        "hypergradient",
        _one(_hypergradient),
        ("hypergradient",),
        "first_order",
        "`first_order`, `second_order` (DARTS) or `exact`: see Hypergradients below",
        Flag("the architecture gradient", choices=HYPERGRADIENTS),
    ),
    SearchSetting(
        "gate",
        _one(_gate),
        ("gate", "hard", "tau0", "tau1", "tau_schedule", "anchor"),
        "dirichlet",
        "`softmax`, `sigmoid`, `gumbel`, each with `temperature = T` or"
        " `temperature = anneal(T0 -> T1, constant|linear|exponential|cosine)`; `gumbel(hard = 1)` is straight-through;"
        " `dirichlet` or `dirichlet(anchor = 1e-3)` (DrNAS): see Gates below",
        Flag('e.g. softmax or "sigmoid(temperature = anneal(5.0 -> 0.05))"'),
    ),
    SearchSetting(
        "discretize",
        _one(_discretize),
        ("discretize", "threshold"),
        "argmax",
        "`argmax`, `threshold(t)`, `perturbation`: see Discretization below",
    ),
    SearchSetting(
        "penalty",
        _each("penalties", _penalty),
        ("penalties",),
        "entropy(0 -> 0.1, linear)",
        "`l1(w)`, `entropy(w)`, `zero_one(w)`, `beta(w)`, `cost(params|flops|latency, w)`; a weight may ramp"
        " over the search, `beta(0 -> 50, linear|cosine)`; several separated by commas. Giving `penalty` replaces"
        " the default entropy ramp (which makes the gates decisive); `penalty entropy(0)` turns it off",
        many=True,
    ),
    SearchSetting(
        "constraint",
        _each("constraints", _constraint),
        ("constraints",),
        None,
        "`min_nonskip_per_path(k)`, `max_skip(n)`, `max_params(N)`, `max_flops(N)`; met exactly at discretization",
        many=True,
    ),
    SearchSetting(
        "budget",
        _one(_budget),
        ("budget", "budget_rate"),
        "adaptive",
        "how a `max_params` / `max_flops` constraint acts while the search trains: `adaptive` or"
        " `adaptive(rate = 0.05)` adds the supernet's expected cost over the budget to the architecture loss,"
        " times a multiplier raised while the expected cost is above the budget and lowered below it (a"
        " Lagrangian); `off`: the constraint acts at discretization only. See Budgets below",
    ),
    SearchSetting(
        "select",
        _one(_select),
        ("select", "select_k", "select_finetune"),
        "oneshot(k = 100, finetune = 4)",
        "how the result is picked: `gates`, the architecture whose chosen gate weights sum highest; `oneshot` or"
        " `oneshot(k = 100, finetune = 4)`, the k architectures with the highest sums (meeting the constraints)"
        " each built with the supernet's weights and recalibrated batch norm, trained `finetune` epochs on up to"
        " 2,048 samples, and scored by validation accuracy; the best score wins. See Selection below",
        Flag('gates, or oneshot, "oneshot(k = 50)"'),
    ),
    SearchSetting(
        "partial_channels",
        _integer("partial_channels"),
        ("partial_channels",),
        "1",
        "PC-DARTS: 1/k of the channels go through each mixed op, with edge normalization",
    ),
    SearchSetting(
        "share_values",
        _one(_share_values),
        ("share_values",),
        "on",
        "`on`: the candidates of a value list (`conv(k = [3, 5, 7])`) share one set of weights, the largest"
        " candidate's (smaller kernels at its centre, narrower widths in its first channels); `off`: each has"
        " its own. See docs/language.md, Searched values",
        Flag("weight sharing across a value list's candidates", choices=("on", "off")),
    ),
    SearchSetting(
        "fuse",
        _one(_fuse),
        ("fuse",),
        "on",
        "`on`: the supernet runs the same candidate on every edge that reads one input as one computation"
        " (docs/performance.md, Horizontal fusion); `off`: each candidate on its own. The results are the same"
        " up to the order of floating-point additions",
        Flag("horizontal fusion of the supernet's candidates", choices=("on", "off")),
    ),
    SearchSetting("grad_clip", _one(_grad_clip), ("grad_clip",), "5", "gradient-norm clipping of the weights"),
    SearchSetting(
        "precision",
        _one(_precision),
        ("precision",),
        "fp32",
        "`fp32`, or `bf16` / `fp16` autocast (fp16 with loss scaling, first order only)",
        Flag("autocast precision", choices=PRECISIONS),
    ),
    SearchSetting(
        "finetune",
        _integer("finetune", positive=False, at_most=(MAX_EPOCHS, "1000000")),
        ("finetune",),
        "0",
        "epochs of fine-tuning the discretized network after the search, at most 1000000",
        Flag("fine-tune the result N epochs", int, metavar="N"),
    ),
    SearchSetting(
        "top",
        _integer("top", at_most=(MAX_TOP, "10000")),
        ("top",),
        "1",
        "write the k best architectures (`result-1.das` ... `result-k.das`), at most 10000",
        Flag("write the K best architectures", int, metavar="K"),
    ),
    SearchSetting(
        "latency_table",
        _one(_latency_table),
        ("latency_table",),
        None,
        'the JSON of `dasdsl profile SPACE -o FILE` that `cost(latency, w)` reads, e.g. `"latency.json"`;'
        " relative to the working directory",
        file=True,
    ),
)


_EPOCHS_MAX = (MAX_EPOCHS, "1000000")
_BATCH_MAX = (MAX_BATCH, "1048576 (2**20)")

# The settings of a ``train`` block (``dasdsl train``'s flags, ``dasdsl.train``'s keywords). ``data``,
# ``epochs``, ``batch``, ``seed`` and ``grad_clip`` read as in the search block.
TRAIN_SETTINGS: tuple[SearchSetting, ...] = (
    SearchSetting(
        "data",
        _one(_data),
        ("data",),
        None,
        "as in the search block; none: the search block's `data`, else `digits` (`mnist1d` for sequences)",
        Flag("digits, mnist1d, synthetic, cifar10:PATH, npz:PATH", das=_data_flag),
    ),
    SearchSetting(
        "epochs", _integer("epochs", at_most=_EPOCHS_MAX), ("epochs",), "20", "training epochs", Flag("epochs", int)
    ),
    SearchSetting(
        "batch", _integer("batch", at_most=_BATCH_MAX), ("batch",), "64", "batch size", Flag("batch size", int)
    ),
    SearchSetting(
        "lr",
        _number_setting("lr"),
        ("lr",),
        "0.05",
        "SGD's learning rate (momentum 0.9), cosine schedule to 0 over the epochs",
        Flag("learning rate", float),
    ),
    SearchSetting("seed", _one(_seed), ("seed",), "0", "random seed", Flag("random seed", int)),
    SearchSetting(
        "weight_decay",
        _number_setting("weight_decay", positive=False),
        ("weight_decay",),
        "3e-4",
        "SGD's weight decay",
        Flag("SGD weight decay", float),
    ),
    SearchSetting(
        "grad_clip",
        _one(_grad_clip),
        ("grad_clip",),
        "5",
        "gradient-norm clipping",
        Flag("gradient-norm clipping", float),
    ),
    SearchSetting(
        "label_smoothing",
        _fraction_setting("label_smoothing"),
        ("label_smoothing",),
        "0",
        "label smoothing, in [0, 1) (DARTS on ImageNet: 0.1)",
        Flag("label smoothing", float),
    ),
    SearchSetting(
        "augment",
        _one(_augment),
        ("augment",),
        "auto",
        "images only: `auto`/`shift` random shifts of up to 1/8 of the width; `crop_flip` random crop with that"
        " padding and a horizontal flip (the CIFAR recipe; not for digits, which a mirror changes); `none`",
        Flag("image augmentation", choices=AUGMENTS),
    ),
    SearchSetting(
        "cutout",
        _integer("cutout", positive=False, at_most=(2**16, "65536")),
        ("cutout",),
        "0",
        "a square of that many pixels, centred at a random pixel and clipped at the border, set to 0 (DARTS: 16)",
        Flag("cutout square (pixels)", int, metavar="PIXELS"),
    ),
    SearchSetting(
        "auxiliary",
        _number_setting("auxiliary", positive=False),
        ("auxiliary",),
        "0",
        "the loss weight of DARTS' auxiliary head (0.4): after the cell at 2/3 of the depth (index 2n // 3 of n"
        " cells), ReLU, average pooling to 2x2 (DARTS' 5x5 stride 3 on an 8x8 map, adaptive on other sizes), 1x1"
        " conv to 128, BN, ReLU, 2x2 conv to 768, BN, ReLU, linear; training only. Its parameters are reported"
        " apart (DARTS-V2 at C = 36, 20 cells: 3,349,342 plus 476,426 in the head) and saved under `auxiliary.`"
        " in `model.pt`; `dasdsl export` leaves them out",
        Flag("auxiliary head's loss weight (DARTS: 0.4)", float, metavar="WEIGHT"),
    ),
    SearchSetting(
        "drop_path",
        _fraction_setting("drop_path"),
        ("drop_path",),
        "0",
        "DARTS' drop-path: each sample's output of every non-identity edge zeroed with probability p (the rest"
        " scaled by 1 / (1 - p)), p ramped linearly from 0 (p = 0.2 * epoch / epochs in DARTS)",
        Flag("drop-path probability (DARTS: 0.2)", float, metavar="P"),
    ),
)


# ---- one table of settings per block ---------------------------------------------------


@attrs.frozen
class SettingsTable:
    """The settings one block of a space takes (``search``, ``train``): how each reads, checks, resolves
    onto its config class, becomes a flag and is documented. Everything above reads through one of these."""

    block: str  # the block's keyword
    config: type  # SearchConfig or TrainConfig: an attrs class whose defaults are the table's
    settings: tuple[SearchSetting, ...]

    @property
    def by_name(self) -> dict[str, SearchSetting]:
        return {s.name: s for s in self.settings}

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.settings)

    @property
    def flagged(self) -> tuple[SearchSetting, ...]:
        return tuple(s for s in self.settings if s.flag is not None)

    @property
    def where(self) -> str:
        """Where a bad value of the block is reported: it may come from the command line, so no span."""
        return f"<{self.block} settings>"

    def _unknown(self, key: str) -> tuple[str, str]:
        hint = suggest(key, self.keys) or "see docs/language.md for the settings"
        return f"unknown {self.block} setting '{key}'", hint

    def check_entry(self, key: str, values: tuple[Any, ...]) -> list[SettingError]:
        """The problems of one entry of the block (evaluated values), each located by index and arg.

        Values are checked against the defaults (``weights sgd(momentum = 0.5)`` keeps the default
        ``lr``); every value of a list setting is checked, so one entry may have several problems.
        """
        setting = self.by_name.get(key)
        if setting is None:
            return [SettingError(*self._unknown(key))]
        current = MappingProxyType(attrs.asdict(self.config(), recurse=False))
        parts = [((v,), i) for i, v in enumerate(values)] if setting.many else [(values, None)]
        problems = []
        for part, index in parts:
            try:
                self._parse(setting, part, current)
            except SettingError as exc:
                if index is not None:
                    exc.index = index
                problems.append(exc)
        return problems

    def _parse(self, setting: SearchSetting, values: tuple[Any, ...], current: Mapping[str, Any]) -> dict[str, Any]:
        if not setting.many and len(values) != 1:
            lists = [s.name for s in self.settings if s.many]
            raise SettingError(
                f"{self.block} setting '{setting.name}' takes one value, got {len(values)}",
                f"only {' and '.join(lists)} take a list" if lists else "give one value",
                index=1 if values else None,
            )
        return setting.parse(values, current)

    def resolve(self, entries: dict[str, tuple[Any, ...]], base: Any = None) -> Any:
        """Evaluated entries (see dasdsl.lang.check) on top of ``base`` (default: the table's defaults), in order;
        a bad value raises DasError without a location (the values may come from the command line)."""
        c: dict[str, Any] = attrs.asdict(base if base is not None else self.config(), recurse=False)
        for key, values in entries.items():
            setting = self.by_name.get(key)
            if setting is None:
                message, hint = self._unknown(key)
                raise fail(message, self.where, hint)
            try:
                c.update(self._parse(setting, values, MappingProxyType(c)))
            except SettingError as exc:
                raise fail(exc.message, self.where, exc.hint) from None
        return self.config(**c)

    # -- the command line and the Python API

    def entries_of(self, settings: Mapping[str, Any]) -> dict[str, tuple[Any, ...]]:
        """Settings by name (Python values or .das text, ``npz:PATH`` as on the command line; None: not given)
        as evaluated entries of the block; an unknown name or a value that does not read is a DasError."""
        return {
            # an empty list: none of a listed setting (``penalty=[]`` drops the defaults' penalties)
            key: ()
            if isinstance(value, (list, tuple)) and not value
            else self.parse_flag(key, self._das_text(key, value))
            for key, value in settings.items()
            if value is not None
        }

    def _das_text(self, key: str, value: Any) -> str:
        """A Python value as .das text: True / False as ``on`` / ``off`` for a switch (``fuse=False``), else
        as 1 / 0; numbers as numbers; a dict as the keyword settings of the setting's default kind
        (``weights={"lr": 0.05}``: ``sgd(lr = 0.05)``); a tuple inside a dict as a tuple (``betas``); lists
        (penalties, constraints) joined with commas; strings as .das syntax."""
        setting = self.by_name.get(key)
        if isinstance(value, bool):
            if setting is not None and setting.switch:
                return "on" if value else "off"
            return "1" if value else "0"
        if isinstance(value, int) and value.bit_length() > 333:  # over 100 digits: the limit of a .das number
            raise fail(
                f"{self.block} setting '{key}': a number of {value.bit_length()} bits is too long",
                self.where,
                "at most 100 digits",
            )
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, dict):
            return self._call_text(key, setting, value)
        if isinstance(value, (list, tuple)):
            return ", ".join(self._das_text(key, v) for v in value)
        if setting is not None and setting.file and isinstance(value, (str, os.PathLike)):
            path = os.fspath(value)
            if isinstance(path, str) and not path.startswith('"'):  # a file name, not .das text
                return _das_string(path)
        return str(value)

    def _call_text(self, key: str, setting: SearchSetting | None, value: dict[Any, Any]) -> str:
        """``{"lr": 0.05}`` as ``sgd(lr = 0.05)``: keyword settings of the kind the setting's default names."""
        kind = (setting.default or "").split("(")[0].strip() if setting is not None else ""
        if setting is None or setting.many or not kind.isidentifier():
            raise fail(f"{self.block} setting '{key}' takes no dict of keyword settings", self.where)
        args = []
        for name, v in value.items():
            if not (isinstance(name, str) and name.isidentifier()):
                raise fail(f"{self.block} setting '{key}': {name!r} is not a setting name", self.where)
            if isinstance(v, tuple):
                text = "(" + ", ".join(self._das_text(key, x) for x in v) + ("," if len(v) == 1 else "") + ")"
            else:
                text = self._das_text(key, v) if not isinstance(v, bool) else ("1" if v else "0")
            args.append(f"{name} = {text}")
        return f"{kind}({', '.join(args)})"

    def parse_flag(self, key: str, value: object) -> tuple[Any, ...]:
        """The block values of a flag's or keyword's value (``--data npz:PATH``, ``--epochs 5``)."""
        setting = self.by_name.get(key)  # an unknown key is parse_override's error
        flag = setting.flag if setting is not None else None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**ast.MAX_DIGITS:
            # (str() of an int of over 4300 digits raises ValueError)
            raise fail(f"cannot read the setting '{key}': number too long ({_show(value)})", self.where, ast.LONG_HINT)
        text = str(value)
        if flag is not None and flag.das is not None:
            text = flag.das(text)
        return self.parse_override(key, text)

    def parse_override(self, key: str, text: str) -> tuple[Any, ...]:
        """A command-line value in .das syntax (``--set weights="sgd(lr = 0.1)"``), evaluated like the block.

        Raises DasError for an unknown key or a value that does not read; the value itself is
        checked by ``resolve``.
        """
        what = f"cannot read the setting '{key} {text if len(text) <= 60 else text[:57] + '...'}'"
        if key not in self.by_name:
            message, hint = self._unknown(key)
            raise fail(f"{what}: {message}", self.where, hint)
        source = f"space cli\n{self.block} {{\n    {key} {text}\n}}\n"
        try:
            module = parse(source, "<command line>")
        except DasError as exc:
            first = exc.errors[0]
            raise fail(f"{what}: {first.message}", self.where, first.hint) from None
        blocks = [s for s in module.body if isinstance(s, (ast.SearchDecl, ast.TrainDecl))]
        entries = [e for b in blocks for e in b.entries if isinstance(e, ast.SearchEntry)]
        if len(module.body) != 1 or len(entries) != 1 or entries[0].key != key:
            raise fail(f"{what}: expected a value in .das syntax", self.where, "e.g. --set 'weights=sgd(lr = 0.05)'")
        try:
            return tuple(evaluate_value(v) for v in entries[0].values)
        except SettingError as exc:
            raise fail(f"{what}: {exc.message}", self.where, exc.hint) from None

    # -- documentation

    def markdown(self) -> str:
        """The markdown table of every setting (docs/search.md holds exactly this; tests keep them equal)."""
        rows = ["| setting | default | flag | meaning |", "|---|---|---|---|"]
        for s in self.settings:
            default = f"`{s.default}`" if s.default is not None else "none"
            if s.default_note:
                default += f" ({s.default_note})"
            flag = f"`{s.option}`" if s.option else ""
            rows.append(f"| `{s.name}` | {_cell(default)} | {flag} | {_cell(s.doc)} |")
        return "\n".join(rows) + "\n"


SEARCH = SettingsTable("search", SearchConfig, SETTINGS)
TRAIN = SettingsTable("train", TrainConfig, TRAIN_SETTINGS)

# The search table's names, as the rest of dasdsl has always used them.
BY_NAME: dict[str, SearchSetting] = SEARCH.by_name
SEARCH_KEYS: tuple[str, ...] = SEARCH.keys
TRAIN_KEYS: tuple[str, ...] = TRAIN.keys
FLAGGED: tuple[SearchSetting, ...] = SEARCH.flagged
RUN_SETTING_FLAGS: tuple[str, ...] = tuple(s.name for s in FLAGGED)
check_entry = SEARCH.check_entry
resolve = SEARCH.resolve
parse_flag = SEARCH.parse_flag
parse_override = SEARCH.parse_override
settings_table = SEARCH.markdown


def problem_span(entry: ast.SearchEntry, problem: SettingError) -> Span:
    """Where in ``entry`` a problem of ``check_entry`` lies: the argument, the value or the entry."""
    if problem.index is None or not 0 <= problem.index < len(entry.values):
        return entry.span
    value = entry.values[problem.index]
    if problem.arg is not None and isinstance(value, ast.Call):
        if isinstance(problem.arg, int):
            positional = [a for a in value.args if a.name is None]
            found = positional[problem.arg] if problem.arg < len(positional) else None
        else:
            named = [a for a in value.args if a.name == problem.arg]
            found = named[problem.occurrence] if problem.occurrence < len(named) else None
        if found is not None and found.span.line > 0:
            return found.span
    return value.span


def combination_problem(cfg: SearchConfig) -> tuple[str, str] | None:
    """Settings that each read fine but cannot go together, as (message, hint); None when there are none.

    A rule that weighs candidates by the supernet's accuracy (``perturbation``) picks one architecture;
    ``top k`` and constraints rank architectures by gate weights (the exact k-best search), which would
    quietly replace the rule."""
    if not rules.RULES[cfg.discretize].needs_accuracy or (cfg.top <= 1 and not cfg.constraints):
        return None
    cannot = [f"rank the top {cfg.top}"] if cfg.top > 1 else []
    if cfg.constraints:
        cannot.append("meet constraints")
    dropped = " and ".join(name for name, on in (("'top'", cfg.top > 1), ("'constraint'", cfg.constraints)) if on)
    return (
        f"discretize {cfg.discretize} picks one architecture by the supernet's accuracy; "
        f"it cannot {' or '.join(cannot)}",
        f"use 'discretize argmax' (top k and constraints rank by gate weights), or drop {dropped}",
    )


def check_config(cfg: SearchConfig) -> SearchConfig:
    """``cfg`` if its settings go together (the final configuration of a run), else a DasError."""
    problem = combination_problem(cfg)
    if problem is not None:
        message, hint = problem
        raise fail(message, "<search settings>", hint)
    return cfg


def evaluate_value(e: ast.Expr) -> Any:
    """A search-block value without constants, as the checker evaluates it (bare names are symbols).

    Raises SettingError (no index) for a value that does not compute (``-softmax``, ``1 // 0``).
    """
    if isinstance(e, (ast.Number, ast.String)):
        return e.value
    if isinstance(e, ast.Name):
        return Symbol(e.id)
    if isinstance(e, ast.Neg):
        v = evaluate_value(e.operand)
        if not _is_number(v):
            raise SettingError("'-' needs a number")
        return -v
    if isinstance(e, ast.BinOp):
        left, right = evaluate_value(e.left), evaluate_value(e.right)
        if not (_is_number(left) and _is_number(right)):
            raise SettingError(f"'{e.op}' needs numbers")
        if e.op == "//" and right == 0:
            raise SettingError("division by zero")
        value = e.apply(left, right)
        problem = ast.folded_problem(e.op, value)
        if problem is not None:
            raise SettingError(*problem)
        return value
    if isinstance(e, ast.Tuple):
        return tuple(evaluate_value(i) for i in e.items)
    if isinstance(e, ast.Range):
        return RangeValue(evaluate_value(e.start), evaluate_value(e.end))
    if isinstance(e, ast.ValueList):
        raise SettingError("a value list is only allowed as an argument of a candidate op (after '~')")
    if isinstance(e, ast.Call):
        args = tuple(evaluate_value(v) for v in e.positional)
        kwargs = tuple((a.name, evaluate_value(a.value)) for a in e.args if a.name is not None)
        return Setting(e.func, args, kwargs)
    raise AssertionError(f"unknown expression {e!r}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_source(data: Any) -> bool:
    """Whether a ``data=`` value names a source (a built-in name, ``npz:PATH``, a .npz path, a search block's
    value) rather than holding the data itself (arrays, datasets): the one test the API and the stages share."""
    return data is None or isinstance(data, (str, os.PathLike, Symbol, Setting))


def parse_spec(spec: Any) -> tuple[str, str | None]:
    """('digits', None) or ('npz', 'path') from a search-block value or a --data string."""
    try:
        return _spec(spec)
    except SettingError as exc:
        raise fail(exc.message, "<search settings>", exc.hint) from None


def _spec(spec: Any) -> tuple[str, str | None]:
    if isinstance(spec, Symbol):
        return spec.name, None
    if isinstance(spec, Setting):
        if len(spec.args) != 1 or not isinstance(spec.args[0], str):
            raise SettingError(f"data source {spec.func}(...) takes one path in double quotes")
        return spec.func, spec.args[0]
    text = str(spec).strip()
    if "(" in text and text.endswith(")"):
        name, path = text[:-1].split("(", 1)
        return name.strip(), path.strip().strip("\"'")
    if ":" in text:
        name, path = text.split(":", 1)
        return name.strip(), path
    return text, None


# ---- documentation ---------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


# ---- settings read back from a run directory -------------------------------------------


def recorded_search_config(data: Any) -> SearchConfig:
    """The ``SearchConfig`` a run's config.json records (its ``search`` object), read back through the same table
    as a fresh run's settings: each field is turned into the search-block entry that sets it, that entry is parsed
    and checked as the block's would be, and what it sets must be what was recorded; then the combination is checked
    (``check_config``). The values are kept as recorded (the settings fingerprint hashes them).

    Raises ``SettingError`` whose ``arg`` is the recorded key at fault (None: the object or a combination): a
    run directory is data, and an edited or hostile one must not reach the search with values no run could have.
    """
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise SettingError(f"the search settings must be a JSON object, got {type(data).__name__}")
    fields = {f.name for f in attrs.fields(SearchConfig)}
    unknown = sorted(k for k in data if k not in fields)
    if unknown:
        raise SettingError(f"unknown setting '{unknown[0]}'", suggest(unknown[0], sorted(fields)), arg=unknown[0])
    recorded = {
        **attrs.asdict(SearchConfig(), recurse=False),
        **{k: v for k, v in LEGACY.items() if k not in data},
        **{k: _tuple(v) for k, v in data.items()},
    }
    expected: dict[str, Any] = {}
    for shadow in (True, False):  # the fields a setting reads only in another mode first, then the real entries
        for key, values, where in _recorded_entries(recorded, shadow=shadow):
            try:
                expected.update(SEARCH._parse(SEARCH.by_name[key], values, MappingProxyType(recorded)))
            except SettingError as exc:
                field = where.get(exc.arg, where.get(None))
                raise SettingError(exc.message, exc.hint, arg=field) from None
    for field in sorted(fields - {"latency_table"}):  # a table's path is resolved again: compared as parsed
        if field in expected and not _same(expected[field], recorded[field]):
            raise SettingError(
                f"{field} is {_show(recorded[field])}, which no setting gives (it reads as {_show(expected[field])})",
                arg=field,
            )
    cfg = SearchConfig(**recorded)
    problem = combination_problem(cfg)
    if problem is not None:
        raise SettingError(*problem)
    return cfg


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same kind (``True`` is not ``1``, ``"3"`` is not ``3``; ``1`` and ``1.0`` are equal)."""
    if isinstance(a, tuple) or isinstance(b, tuple):
        return isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if _is_number(a) or _is_number(b):
        return _is_number(a) and _is_number(b) and a == b
    return type(a) is type(b) and a == b


def _sym(v: Any) -> Any:
    """A recorded name as the block's bare name (anything else stays as it is, for the table to refuse)."""
    return Symbol(v) if isinstance(v, str) else v


Recorded = tuple[str, tuple[Any, ...], dict[Any, str]]  # setting, its values, argument -> recorded key (None: all)


def _recorded_entries(c: Mapping[str, Any], *, shadow: bool) -> list[Recorded]:
    """The search-block entries that set the recorded fields ``c``. ``shadow``: entries for the fields the real
    entries do not read in this mode (a dirichlet gate has no temperature, ``select gates`` no ``k``), each parsed
    by the setting that does read them, so that every recorded field is checked."""
    gate, rule, select, budget = c["gate"], c["discretize"], c["select"], c["budget"]
    tempered = gates.GATES[gate].tempered if isinstance(gate, str) and gate in gates.GATES else True
    constant = c["tau_schedule"] == "constant" and _same(c["tau0"], c["tau1"])
    temperature = (
        c["tau0"] if constant else Setting("anneal", (RangeValue(c["tau0"], c["tau1"]), _sym(c["tau_schedule"])))
    )
    temper = ("temperature", temperature), ("hard", c["hard"])
    gate_where = {"temperature": "tau0", "hard": "hard", "anchor": "anchor", None: "gate"}
    takes_value = isinstance(rule, str) and rule in rules.RULES and rules.RULES[rule].takes_value
    valued = [r for r in DISCRETIZE if rules.RULES[r].takes_value]
    oneshot = Setting("oneshot", (), (("k", c["select_k"]), ("finetune", c["select_finetune"])))
    adaptive = Setting("adaptive", (), (("rate", c["budget_rate"]),))
    if shadow:
        entries: list[Recorded] = [
            ("gate", (Setting("dirichlet", (), (("anchor", c["anchor"]),)),), gate_where)
            if tempered
            else ("gate", (Setting("softmax", (), temper),), gate_where),
            ("select", (oneshot,), {"k": "select_k", "finetune": "select_finetune"}),
            ("budget", (adaptive,), {"rate": "budget_rate"}),
        ]
        if not takes_value and valued:
            entries.append(("discretize", (Setting(valued[0], (c["threshold"],)),), {None: "threshold"}))
        return entries
    one = ("data", "epochs", "batch", "split", "seed", "partial_channels", "grad_clip", "finetune", "top")
    entries = [(key, (c[key],), {None: key}) for key in one]
    sgd = Setting(
        "sgd",
        (),
        (
            ("lr", c["w_lr"]),
            ("momentum", c["w_momentum"]),
            ("weight_decay", c["w_weight_decay"]),
            ("schedule", _sym(c["w_schedule"])),
            ("lr_min", c["w_lr_min"]),
        ),
    )
    sgd_where = {"lr": "w_lr", "momentum": "w_momentum", "weight_decay": "w_weight_decay", "schedule": "w_schedule"}
    adam = Setting("adam", (), (("lr", c["a_lr"]), ("betas", c["a_betas"]), ("weight_decay", c["a_weight_decay"])))
    known = isinstance(gate, str) and gate in gates.GATES
    gate_value = _sym(gate) if not known else Setting(gate, (), temper if tempered else (("anchor", c["anchor"]),))
    entries += [
        ("weights", (sgd,), {**sgd_where, "lr_min": "w_lr_min", None: "w_lr"}),
        ("arch", (adam,), {"lr": "a_lr", "betas": "a_betas", "weight_decay": "a_weight_decay", None: "a_lr"}),
        ("hypergradient", (_sym(c["hypergradient"]),), {None: "hypergradient"}),
        ("gate", (gate_value,), gate_where),
        (
            "discretize",
            (Setting(rule, (c["threshold"],)) if takes_value else _sym(rule),),
            {None: "discretize", 0: "threshold"},
        ),
        ("penalty", _recorded_list(c["penalties"], "penalties", _recorded_penalty), {None: "penalties"}),
        ("constraint", _recorded_list(c["constraints"], "constraints", _recorded_constraint), {None: "constraints"}),
        (
            "select",
            (oneshot if select == "oneshot" else _sym(select),),
            {None: "select", "k": "select_k", "finetune": "select_finetune"},
        ),
        ("budget", (adaptive if budget == "adaptive" else _sym(budget),), {None: "budget", "rate": "budget_rate"}),
        ("share_values", (_switch(c["share_values"]),), {None: "share_values"}),
        ("fuse", (_switch(c["fuse"]),), {None: "fuse"}),
        ("precision", (_sym(c["precision"]),), {None: "precision"}),
    ]
    if c["latency_table"] is not None:
        entries.append(("latency_table", (c["latency_table"],), {None: "latency_table"}))
    return entries


def search_values(cfg: SearchConfig) -> dict[str, Any]:
    """Every search setting's value in ``cfg`` as a keyword of the Python API takes it: numbers, True / False for
    on / off, .das text, lists for ``penalty`` and ``constraint``. These are the entries ``recorded_search_config``
    checks a config.json against, written out: ``space.search(**search_values(cfg))`` runs with ``cfg`` again."""
    values: dict[str, Any] = {}
    for key, items, _ in _recorded_entries(attrs.asdict(cfg, recurse=False), shadow=False):
        setting = BY_NAME[key]
        if setting.many:
            values[key] = [_das_value(v) for v in items]
        elif setting.switch:
            values[key] = items[0] == Symbol("on")
        else:
            values[key] = items[0] if isinstance(items[0], (int, float, str)) else _das_value(items[0])
    return values


def _das_value(v: Any) -> str:
    """An evaluated search-block value (``Setting``, ``Symbol``, a range, a tuple, a number) as .das text."""
    if isinstance(v, Symbol):
        return v.name
    if isinstance(v, Setting):
        args = [_das_value(a) for a in v.args] + [f"{k} = {_das_value(a)}" for k, a in v.kwargs]
        return f"{v.func}({', '.join(args)})"
    if isinstance(v, RangeValue):
        return f"{_das_value(v.start)} -> {_das_value(v.end)}"
    if isinstance(v, tuple):
        return "(" + ", ".join(_das_value(a) for a in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, str):
        return _das_string(v)
    return repr(v)


def _das_string(text: str) -> str:
    """A .das string literal: in double quotes, backslashes and quotes escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _switch(v: Any) -> Any:
    """A recorded on/off setting (a JSON boolean) as the block's ``on`` / ``off``."""
    return Symbol("on" if v else "off") if isinstance(v, bool) else v


def _recorded_list(v: Any, field: str, item: Callable[[Any], Any]) -> tuple[Any, ...]:
    if not isinstance(v, tuple):
        raise SettingError(f"{field} must be a list, got {_show(v)}", arg=field)
    return tuple(item(x) for x in v)


def _recorded_penalty(p: Any) -> Any:
    """(kind, argument, lambda) as the block's call: ``cost(params, 1e-2)``, ``l1(1e-3)``, ``beta(0 -> 50, linear)``."""
    if not (isinstance(p, tuple) and len(p) == 3 and isinstance(p[0], str)):
        raise SettingError(f"a penalty must be [kind, argument, weight], got {_show(p)}", arg="penalties")
    kind, arg, weight = p
    if kind in penalties.PENALTIES and penalties.PENALTIES[kind].term is None:
        return Setting(kind, (_sym(arg), weight))
    if arg is None:
        return Setting(kind, (weight,))
    if not (isinstance(arg, tuple) and len(arg) == 2):
        raise SettingError(f"a ramped penalty's argument must be [start, schedule], got {_show(arg)}", arg="penalties")
    return Setting(kind, (RangeValue(arg[0], weight), _sym(arg[1])))


def _recorded_constraint(p: Any) -> Any:
    if not (isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)):
        raise SettingError(f"a constraint must be [kind, value], got {_show(p)}", arg="constraints")
    return Setting(p[0], (p[1],))


def recorded_train_config(data: Mapping[str, Any]) -> TrainConfig:
    """The ``TrainConfig`` a training run's config.json records (epochs, batch, lr, seed, data and its recipe),
    read back through the train table as a fresh run's settings are; the same contract as
    ``recorded_search_config``."""
    recipe = data.get("recipe", {})
    if not isinstance(recipe, dict):
        raise SettingError(f"the recipe must be a JSON object, got {_show(recipe)}", arg="recipe")
    fields = {f.name for f in attrs.fields(TrainConfig)}
    unknown = sorted(k for k in recipe if k not in fields or k in ("data", "epochs", "batch", "lr", "seed"))
    if unknown:
        raise SettingError(f"unknown recipe setting '{unknown[0]}'", arg=f"recipe.{unknown[0]}")
    recorded = {**attrs.asdict(TrainConfig(), recurse=False), **recipe}
    for key in ("data", "epochs", "batch", "lr", "seed"):
        if key not in data:
            raise SettingError(f"'{key}' is missing", arg=key)
        recorded[key] = data[key]
    expected: dict[str, Any] = {}
    for key in TRAIN.keys:
        where = key if key in ("data", "epochs", "batch", "lr", "seed") else f"recipe.{key}"
        value = _sym(recorded[key]) if key == "augment" else recorded[key]
        try:
            expected.update(TRAIN._parse(TRAIN.by_name[key], (value,), MappingProxyType(recorded)))
        except SettingError as exc:
            raise SettingError(exc.message, exc.hint, arg=where) from None
        if not _same(expected[key], recorded[key]):
            raise SettingError(
                f"{key} is {_show(recorded[key])}, which no setting gives (it reads as {_show(expected[key])})",
                arg=where,
            )
    return TrainConfig(**recorded)
