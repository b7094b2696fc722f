"""Search settings: the space's ``search`` block, overridden by the command line, checked once.

Every setting resolves to a plain JSON-able value so that ``config.json`` of a run
records exactly what ran, and a resumed run can rebuild the same configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from dasdsl.errors import DasError, Span, did_you_mean, error
from dasdsl.lang.checked import RangeValue, Setting, Symbol

HYPERGRADIENTS = ("first_order", "second_order", "exact")
GATES = ("softmax", "sigmoid", "gumbel")
SCHEDULES = ("constant", "linear", "exponential", "cosine")
DISCRETIZE = ("argmax", "threshold", "perturbation")
PRECISIONS = ("fp32", "bf16", "fp16")


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
    a_lr: float = 3e-4
    a_betas: tuple[float, float] = (0.5, 0.999)
    a_weight_decay: float = 1e-3
    hypergradient: str = "first_order"
    gate: str = "softmax"
    tau0: float = 1.0
    tau1: float = 1.0
    tau_schedule: str = "constant"
    hard: bool = False
    discretize: str = "argmax"
    threshold: float = 0.5
    penalties: tuple[tuple[str, Any, float], ...] = ()  # (kind, argument, lambda)
    constraints: tuple[tuple[str, int | float], ...] = ()
    partial_channels: int = 1
    finetune: int = 0
    top: int = 1
    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast; fp16 with loss scaling)
    latency_table: str | None = None  # JSON of `dasdsl profile`, read by cost(latency, ...)

    def to_json(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in attrs.fields(SearchConfig)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchConfig:
        fields = {f.name for f in attrs.fields(cls)}
        values = {k: _tuple(v) for k, v in data.items() if k in fields}
        return cls(**values)


def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


def _tuple(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_tuple(x) for x in v)
    return v


def _fail(message: str, hint: str | None = None) -> DasError:
    return DasError([error(message, Span.unknown("<search settings>"), hint)])


def _number(v: Any, what: str, *, integer: bool = False, positive: bool = True) -> Any:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and (not integer or isinstance(v, int))
    if not ok or (positive and v <= 0):
        kind = "a positive integer" if integer else ("a positive number" if positive else "a number")
        raise _fail(f"{what} must be {kind}, got {_show(v)}")
    return v


def _show(v: Any) -> str:
    if isinstance(v, Symbol):
        return v.name
    if isinstance(v, Setting):
        return f"{v.func}(...)"
    return repr(v)


def _name(v: Any, what: str, choices: tuple[str, ...]) -> str:
    name = v.name if isinstance(v, Symbol) else v.func if isinstance(v, Setting) else None
    if name not in choices:
        raise _fail(f"unknown {what} {_show(v)}", did_you_mean(str(name), choices) or f"expected {', '.join(choices)}")
    return name  # type: ignore[return-value]


def _kwargs(v: Any, what: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if isinstance(v, Symbol):
        return {}
    kw = v.kw()
    for key in kw:
        if key not in allowed:
            raise _fail(
                f"{what} has no setting '{key}'", did_you_mean(key, allowed) or f"it takes {', '.join(allowed)}"
            )
    if v.args:
        raise _fail(f"{what} takes keyword settings only, e.g. {what}({allowed[0]} = ...)")
    return kw


def resolve(search: dict[str, tuple[Any, ...]], base: SearchConfig | None = None) -> SearchConfig:
    """Apply evaluated search-block entries (see dasdsl.check) on top of ``base``."""
    c: dict[str, Any] = attrs.asdict(base or SearchConfig(), recurse=False)
    for key, values in search.items():
        v = values[0]
        if key == "data":
            name, path = parse_spec(v)
            c["data"] = f"{name}:{path}" if path else name
        elif key in ("epochs", "batch", "seed", "finetune", "top", "partial_channels"):
            c[key] = _number(v, key, integer=True, positive=key not in ("seed", "finetune"))
        elif key == "split":
            if not isinstance(v, (int, float)) or not 0 < v < 1:
                raise _fail(f"split must be a fraction between 0 and 1, got {_show(v)}")
            c["split"] = float(v)
        elif key == "grad_clip":
            c["grad_clip"] = float(_number(v, key))
        elif key == "weights":
            _name(v, "weight optimizer", ("sgd",))
            kw = _kwargs(v, "sgd", ("lr", "momentum", "weight_decay", "schedule", "lr_min"))
            c["w_lr"] = float(_number(kw.get("lr", c["w_lr"]), "sgd lr"))
            c["w_momentum"] = float(_number(kw.get("momentum", c["w_momentum"]), "sgd momentum", positive=False))
            c["w_weight_decay"] = float(
                _number(kw.get("weight_decay", c["w_weight_decay"]), "weight_decay", positive=False)
            )
            c["w_lr_min"] = float(_number(kw.get("lr_min", c["w_lr_min"]), "lr_min", positive=False))
            if "schedule" in kw:
                c["w_schedule"] = _name(kw["schedule"], "schedule", ("cosine", "constant"))
        elif key == "arch":
            _name(v, "architecture optimizer", ("adam",))
            kw = _kwargs(v, "adam", ("lr", "betas", "weight_decay"))
            c["a_lr"] = float(_number(kw.get("lr", c["a_lr"]), "adam lr"))
            betas = kw.get("betas", c["a_betas"])
            if not (isinstance(betas, tuple) and len(betas) == 2 and all(isinstance(b, (int, float)) for b in betas)):
                raise _fail(f"adam betas must be a pair like (0.5, 0.999), got {_show(betas)}")
            c["a_betas"] = (float(betas[0]), float(betas[1]))
            c["a_weight_decay"] = float(
                _number(kw.get("weight_decay", c["a_weight_decay"]), "weight_decay", positive=False)
            )
        elif key == "precision":
            c["precision"] = _name(v, "precision", PRECISIONS)
        elif key == "hypergradient":
            c["hypergradient"] = _name(v, "hypergradient", HYPERGRADIENTS)
        elif key == "gate":
            c["gate"] = _name(v, "gate", GATES)
            kw = _kwargs(v, c["gate"], ("temperature", "hard"))
            if "hard" in kw:
                c["hard"] = bool(kw["hard"])
            t = kw.get("temperature")
            if isinstance(t, (int, float)):
                c["tau0"] = c["tau1"] = float(_number(t, "temperature"))
                c["tau_schedule"] = "constant"
            elif t is not None:
                c["tau0"], c["tau1"], c["tau_schedule"] = _anneal(t)
        elif key == "discretize":
            c["discretize"] = _name(v, "discretization rule", DISCRETIZE)
            if c["discretize"] == "threshold":
                if not isinstance(v, Setting) or len(v.args) != 1:
                    raise _fail("threshold takes one value: discretize threshold(0.5)")
                c["threshold"] = float(_number(v.args[0], "threshold"))
        elif key == "penalty":
            c["penalties"] = tuple(_penalty(p) for p in values)
        elif key == "constraint":
            c["constraints"] = tuple(_constraint(p) for p in values)
        elif key == "latency_table":
            if not isinstance(v, str) or not v:
                raise _fail(
                    f"latency_table takes a file name in double quotes, got {_show(v)}", 'latency_table "latency.json"'
                )
            c["latency_table"] = str(Path(v).expanduser().resolve())  # relative to the working directory
        else:
            raise _fail(f"search setting '{key}' is not supported yet")
    return SearchConfig(**c)


def _anneal(t: Any) -> tuple[float, float, str]:
    if not (isinstance(t, Setting) and t.func == "anneal" and t.args and isinstance(t.args[0], RangeValue)):
        raise _fail(f"temperature must be a number or anneal(T0 -> T1, schedule), got {_show(t)}")
    rng = t.args[0]
    schedule = _name(t.args[1], "annealing schedule", SCHEDULES) if len(t.args) > 1 else "exponential"
    return float(_number(rng.start, "start temperature")), float(_number(rng.end, "end temperature")), schedule


def _penalty(p: Any) -> tuple[str, Any, float]:
    kind = _name(p, "penalty", ("l1", "entropy", "zero_one", "cost"))
    if kind == "cost":
        if len(p.args) != 2:
            raise _fail("cost takes a measure and a weight: cost(params, 1e-2)")
        measure = _name(p.args[0], "cost measure", ("params", "flops", "latency"))
        return ("cost", measure, float(_number(p.args[1], "cost weight", positive=False)))
    if not isinstance(p, Setting) or len(p.args) != 1:
        raise _fail(f"{kind} takes one weight: {kind}(1e-3)")
    return (kind, None, float(_number(p.args[0], f"{kind} weight", positive=False)))


def _constraint(p: Any) -> tuple[str, float]:
    kind = _name(p, "constraint", ("min_nonskip_per_path", "max_skip", "max_params", "max_flops"))
    if not isinstance(p, Setting) or len(p.args) != 1:
        raise _fail(f"{kind} takes one number: {kind}(1)")
    value = _number(p.args[0], kind, positive=kind != "max_skip")
    if kind in ("min_nonskip_per_path", "max_skip") and (not isinstance(value, int) or value < 0):
        raise _fail(f"{kind} needs a non-negative integer, got {_show(value)}")
    return (kind, value)


def parse_override(key: str, text: str) -> tuple[Any, ...]:
    """A command-line value in .das syntax (``--set weights="sgd(lr = 0.1)"``), evaluated like the search block."""
    from dasdsl.lang.check import check
    from dasdsl.lang.parse import parse

    source = (
        f"space cli\ninput image\ncell c {{\n    input x\n    output x\n}}\nnetwork {{\n    cells c\n}}\n"
        f"search {{\n    {key} {text}\n}}\n"
    )
    try:
        space = check(parse(source, "<command line>"), source)
    except DasError as exc:
        first = exc.errors[0]
        raise _fail(f"cannot read the setting '{key} {text}': {first.message}", first.hint) from None
    return space.search_block[key]


def parse_spec(spec: Any) -> tuple[str, str | None]:
    """('digits', None) or ('npz', 'path') from a search-block value or a --data string."""
    if isinstance(spec, Symbol):
        return spec.name, None
    if isinstance(spec, Setting):
        if len(spec.args) != 1 or not isinstance(spec.args[0], str):
            raise _fail(f"data source {spec.func}(...) takes one path in double quotes")
        return spec.func, spec.args[0]
    text = str(spec).strip()
    if "(" in text and text.endswith(")"):
        name, path = text[:-1].split("(", 1)
        return name.strip(), path.strip().strip("\"'")
    if ":" in text:
        name, path = text.split(":", 1)
        return name.strip(), path
    return text, None
