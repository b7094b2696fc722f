"""Settings read back from a run directory: a config.json's search settings and a training run's
recipe, each field turned into the block entry that sets it and read through the same table as a fresh run's
settings, so an edited or hostile run directory cannot hold values no run could have."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from dasdsl.errors import suggest
from dasdsl.lang.checked import RangeValue, Setting, Symbol
from dasdsl.lang.fold import is_number
from dasdsl.lang.settings.records import LEGACY, SearchConfig, TrainConfig, as_tuples
from dasdsl.lang.settings.search_parsers import DISCRETIZE
from dasdsl.lang.settings.search_table import BY_NAME, SEARCH, combination_problem
from dasdsl.lang.settings.train_table import TRAIN
from dasdsl.lang.settings.values import SettingError, das_string, show
from dasdsl.methods import gates, penalties, rules


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
        **{k: as_tuples(v) for k, v in data.items()},
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
                f"{field} is {show(recorded[field])}, which no setting gives (it reads as {show(expected[field])})",
                arg=field,
            )
    cfg = SearchConfig(**recorded)
    problem = combination_problem(cfg)
    if problem is not None:
        raise SettingError(problem[0], problem[1])
    return cfg


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same kind (``True`` is not ``1``, ``"3"`` is not ``3``; ``1`` and ``1.0`` are equal)."""
    if isinstance(a, tuple) or isinstance(b, tuple):
        return isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if is_number(a) or is_number(b):
        return is_number(a) and is_number(b) and a == b
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
    one = ("data", "epochs", "warmup", "batch", "split", "seed", "partial_channels", "grad_clip", "finetune", "top")
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
        return das_string(v)
    return repr(v)


def _switch(v: Any) -> Any:
    """A recorded on/off setting (a JSON boolean) as the block's ``on`` / ``off``."""
    return Symbol("on" if v else "off") if isinstance(v, bool) else v


def _recorded_list(v: Any, field: str, item: Callable[[Any], Any]) -> tuple[Any, ...]:
    if not isinstance(v, tuple):
        raise SettingError(f"{field} must be a list, got {show(v)}", arg=field)
    return tuple(item(x) for x in v)


def _recorded_penalty(p: Any) -> Any:
    """(kind, argument, lambda) as the block's call: ``cost(params, 1e-2)``, ``l1(1e-3)``, ``beta(0 -> 50, linear)``."""
    if not (isinstance(p, tuple) and len(p) == 3 and isinstance(p[0], str)):
        raise SettingError(f"a penalty must be [kind, argument, weight], got {show(p)}", arg="penalties")
    kind, arg, weight = p
    if kind in penalties.PENALTIES and penalties.PENALTIES[kind].term is None:
        return Setting(kind, (_sym(arg), weight))
    if arg is None:
        return Setting(kind, (weight,))
    if not (isinstance(arg, tuple) and len(arg) == 2):
        raise SettingError(f"a ramped penalty's argument must be [start, schedule], got {show(arg)}", arg="penalties")
    return Setting(kind, (RangeValue(arg[0], weight), _sym(arg[1])))


def _recorded_constraint(p: Any) -> Any:
    if not (isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)):
        raise SettingError(f"a constraint must be [kind, value], got {show(p)}", arg="constraints")
    return Setting(p[0], (p[1],))


def recorded_train_config(data: Mapping[str, Any]) -> TrainConfig:
    """The ``TrainConfig`` a training run's config.json records (epochs, batch, lr, seed, data and its recipe),
    read back through the train table as a fresh run's settings are; the same contract as
    ``recorded_search_config``."""
    recipe = data.get("recipe", {})
    if not isinstance(recipe, dict):
        raise SettingError(f"the recipe must be a JSON object, got {show(recipe)}", arg="recipe")
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
                f"{key} is {show(recorded[key])}, which no setting gives (it reads as {show(expected[key])})",
                arg=where,
            )
    return TrainConfig(**recorded)
