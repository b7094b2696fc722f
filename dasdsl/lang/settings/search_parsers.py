"""The search block's own parsers: its optimizers, gate, discretization rule, penalties,
constraints, selection, budget and switches, each from evaluated values to ``SearchConfig`` fields, and the names
each takes (the gates, rules and penalties are defined once, in ``dasdsl.methods``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dasdsl.lang.checked import RangeValue, Setting
from dasdsl.lang.fold import is_number
from dasdsl.lang.settings.values import (
    SettingError,
    capped,
    check_file_name,
    fraction,
    keywords,
    located,
    name_in,
    no_kwargs,
    number,
    show,
)
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


def weights_setting(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    name_in(v, "weight optimizer", ("sgd",))
    kw = keywords(v, "sgd", ("lr", "momentum", "weight_decay", "schedule", "lr_min"))
    out: dict[str, Any] = {}
    with located(arg="lr"):
        out["w_lr"] = float(number(kw.get("lr", c["w_lr"]), "sgd lr"))
    with located(arg="momentum"):
        out["w_momentum"] = fraction(kw.get("momentum", c["w_momentum"]), "sgd momentum")
    with located(arg="weight_decay"):
        out["w_weight_decay"] = float(
            number(kw.get("weight_decay", c["w_weight_decay"]), "weight_decay", positive=False, non_negative=True)
        )
    with located(arg="lr_min"):
        out["w_lr_min"] = float(number(kw.get("lr_min", c["w_lr_min"]), "lr_min", positive=False, non_negative=True))
    if "schedule" in kw:
        with located(arg="schedule"):
            out["w_schedule"] = name_in(kw["schedule"], "schedule", W_SCHEDULES, bare=True)
    return out


def arch_setting(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    name_in(v, "architecture optimizer", ("adam",))
    kw = keywords(v, "adam", ("lr", "betas", "weight_decay"))
    out: dict[str, Any] = {}
    with located(arg="lr"):
        out["a_lr"] = float(number(kw.get("lr", c["a_lr"]), "adam lr"))
    betas = kw.get("betas", c["a_betas"])
    if not (isinstance(betas, tuple) and len(betas) == 2 and all(is_number(b) for b in betas)):
        raise SettingError(f"adam betas must be a pair like (0.5, 0.999), got {show(betas)}", arg="betas")
    if not all(0 <= b < 1 for b in betas):  # nan fails the comparison too
        raise SettingError(f"adam betas must each be in [0, 1), got {show(betas)}", arg="betas")
    out["a_betas"] = (float(betas[0]), float(betas[1]))
    with located(arg="weight_decay"):
        out["a_weight_decay"] = float(
            number(kw.get("weight_decay", c["a_weight_decay"]), "weight_decay", positive=False, non_negative=True)
        )
    return out


def gate_setting(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    gate = name_in(v, "gate", GATES)
    out: dict[str, Any] = {"gate": gate}
    if not gates.GATES[gate].tempered:  # dirichlet: no temperature; its regularizer's weight
        kw = keywords(v, gate, ("anchor",))
        with located(arg="anchor"):
            out["anchor"] = float(
                number(kw.get("anchor", gates.GATES[gate].anchor_default), "anchor", positive=False, non_negative=True)
            )
        return out
    kw = keywords(v, gate, ("temperature", "hard"))
    if "hard" in kw:
        out["hard"] = bool(kw["hard"])
    t = kw.get("temperature")
    with located(arg="temperature"):
        if isinstance(t, (int, float)):
            out["tau0"] = out["tau1"] = float(number(t, "temperature"))
            out["tau_schedule"] = "constant"
        elif t is not None:
            out["tau0"], out["tau1"], out["tau_schedule"] = _anneal(t)
    return out


def _anneal(t: Any) -> tuple[float, float, str]:
    if not (isinstance(t, Setting) and t.func == "anneal" and t.args and isinstance(t.args[0], RangeValue)):
        raise SettingError(f"temperature must be a number or anneal(T0 -> T1, schedule), got {show(t)}")
    no_kwargs(t, "anneal")
    if len(t.args) > 2:
        raise SettingError(
            f"anneal takes a range and a schedule: anneal(5.0 -> 0.05, cosine), got {len(t.args)} values"
        )
    rng = t.args[0]
    schedule = name_in(t.args[1], "annealing schedule", SCHEDULES, bare=True) if len(t.args) > 1 else "exponential"
    return float(number(rng.start, "start temperature")), float(number(rng.end, "end temperature")), schedule


def discretize_setting(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    name = name_in(v, "discretization rule", DISCRETIZE)
    out: dict[str, Any] = {"discretize": name}
    if not rules.RULES[name].takes_value:
        name_in(v, "discretization rule", DISCRETIZE, bare=True)
    else:
        no_kwargs(v, name)
        if not isinstance(v, Setting) or len(v.args) != 1:
            raise SettingError(f"{out['discretize']} takes one value: discretize {out['discretize']}(0.5)")
        with located(arg=0):
            out["threshold"] = float(number(v.args[0], "threshold"))
    return out


def penalty_item(p: Any) -> tuple[str, Any, float]:
    """(kind, argument, lambda): the cost measure for ``cost``; for the others None, or (start, schedule)
    for a weight ramped from start to lambda over the search (``beta(0 -> 50, linear)``)."""
    kind = name_in(p, "penalty", PENALTIES)
    no_kwargs(p, kind)
    if penalties.PENALTIES[kind].term is None:  # the expected cost: a measure and a weight
        if not isinstance(p, Setting) or len(p.args) != 2:
            raise SettingError("cost takes a measure and a weight: cost(params, 1e-2)")
        with located(arg=0):
            measure = name_in(p.args[0], "cost measure", COST_MEASURES, bare=True)
        with located(arg=1):
            return ("cost", measure, float(number(p.args[1], "cost weight", positive=False)))
    if not isinstance(p, Setting) or not p.args or len(p.args) > 2:
        raise SettingError(f"{kind} takes a weight, {kind}(1e-3), or a ramp, {kind}(0 -> 50, linear)")
    weight = p.args[0]
    if not isinstance(weight, RangeValue):
        if len(p.args) > 1:
            raise SettingError(
                f"{kind} takes one weight, {kind}(1e-3), or a ramp and a schedule, {kind}(0 -> 5, linear)"
            )
        with located(arg=0):
            return (kind, None, float(number(weight, f"{kind} weight", positive=False)))
    with located(arg=0):
        start = float(number(weight.start, f"{kind} start weight", positive=False))
        end = float(number(weight.end, f"{kind} end weight", positive=False))
    schedule = "linear"
    if len(p.args) > 1:
        with located(arg=1):
            schedule = name_in(p.args[1], "ramp schedule", RAMPS, bare=True)
    return (kind, (start, schedule), end)


def constraint_item(p: Any) -> tuple[str, int | float]:
    kind = name_in(p, "constraint", CONSTRAINTS)
    no_kwargs(p, kind)
    if not isinstance(p, Setting) or len(p.args) != 1:
        raise SettingError(f"{kind} takes one number: {kind}(1)")
    with located(arg=0):
        value = number(p.args[0], kind, positive=kind != "max_skip")
        if kind in ("min_nonskip_per_path", "max_skip") and (not isinstance(value, int) or value < 0):
            raise SettingError(f"{kind} needs a non-negative integer, got {show(value)}")
    return (kind, value)


SELECTS = ("gates", "oneshot")
BUDGETS = ("adaptive", "off")
MAX_SELECT_K = 1000
MAX_SELECT_FINETUNE = 100


def select_setting(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    name = name_in(v, "select", SELECTS)
    if name == "gates":
        name_in(v, "select", SELECTS, bare=True)
        return {"select": name}
    kw = keywords(v, name, ("k", "finetune"))
    out: dict[str, Any] = {"select": name}
    if "k" in kw:
        with located(arg="k"):
            out["select_k"] = capped(
                number(kw["k"], "k", integer=True), "oneshot's k", MAX_SELECT_K, "1000", "each is evaluated"
            )
    if "finetune" in kw:
        with located(arg="finetune"):
            out["select_finetune"] = capped(
                number(kw["finetune"], "finetune", integer=True, positive=False, non_negative=True),
                "oneshot's finetune",
                MAX_SELECT_FINETUNE,
                "100",
                "each of the k architectures is trained that many epochs",
            )
    return out


def budget_setting(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    name = name_in(v, "budget", BUDGETS)
    if name == "off":
        name_in(v, "budget", BUDGETS, bare=True)
        return {"budget": name}
    kw = keywords(v, name, ("rate",))
    out: dict[str, Any] = {"budget": name}
    if "rate" in kw:
        with located(arg="rate"):
            out["budget_rate"] = float(number(kw["rate"], "rate"))
    return out


def share_values_setting(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    return {"share_values": name_in(v, "share_values", ("on", "off"), bare=True) == "on"}


def fuse_setting(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    return {"fuse": name_in(v, "fuse", ("on", "off"), bare=True) == "on"}


def precision_setting(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    return {"precision": name_in(v, "precision", PRECISIONS, bare=True)}


def hypergradient_setting(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    return {"hypergradient": name_in(v, "hypergradient", HYPERGRADIENTS, bare=True)}


def latency_table_setting(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(v, str) or not v:
        raise SettingError(
            f"latency_table takes a file name in double quotes, got {show(v)}", 'latency_table "latency.json"'
        )
    check_file_name(v, "latency_table")
    try:
        return {"latency_table": str(Path(v).expanduser().resolve())}  # relative to the working directory
    except (OSError, RuntimeError, ValueError) as exc:  # `~nobody/x`: no such home folder
        raise SettingError(
            f"latency_table cannot use the file name {v!r}: {exc}", "write the file's full path"
        ) from None
