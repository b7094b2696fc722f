"""The search block's table, ``SEARCH``: one ``SearchSetting`` record per key (``dasdsl run``'s
flags, ``dasdsl.search``'s keywords, docs/search.md's table), its names as the rest of dasdsl uses them, and the
settings that each read fine but cannot go together."""

from __future__ import annotations

from dasdsl.errors import fail
from dasdsl.lang.settings.records import SearchConfig
from dasdsl.lang.settings.search_parsers import (
    HYPERGRADIENTS,
    PRECISIONS,
    arch_setting,
    budget_setting,
    constraint_item,
    discretize_setting,
    fuse_setting,
    gate_setting,
    hypergradient_setting,
    latency_table_setting,
    penalty_item,
    precision_setting,
    select_setting,
    share_values_setting,
    weights_setting,
)
from dasdsl.lang.settings.table import Flag, SearchSetting, SettingsTable
from dasdsl.lang.settings.values import (
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_TOP,
    data_flag,
    data_setting,
    each,
    grad_clip_setting,
    integer_setting,
    seed_setting,
    single,
    split_setting,
)
from dasdsl.methods import rules

_W = "sgd(lr = 0.025, momentum = 0.9, weight_decay = 3e-4, schedule = cosine, lr_min = 0.001)"

SETTINGS: tuple[SearchSetting, ...] = (
    SearchSetting(
        "data",
        single(data_setting),
        ("data",),
        "digits",
        '`digits`, `mnist1d`, `synthetic`, `cifar10("PATH")` or `npz("PATH")`; `--data npz:PATH` on the command line',
        Flag("digits, mnist1d, synthetic, cifar10:PATH, npz:PATH", das=data_flag),
        default_note="`mnist1d` for sequence spaces",
    ),
    SearchSetting(
        "epochs",
        integer_setting("epochs", at_most=(MAX_EPOCHS, "1000000")),
        ("epochs",),
        "50",
        "search epochs, at most 1000000",
        Flag("search epochs", int),
    ),
    SearchSetting(
        "warmup",
        integer_setting("warmup", positive=False, at_most=(MAX_EPOCHS, "1000000")),
        ("warmup",),
        "0",
        "the first epochs train only the weights; the architecture parameters move from then on (PC-DARTS and"
        " P-DARTS: 15 of 50), so that the gates compare candidates that have learned something. Below `epochs`",
        Flag("epochs of weights-only training first", int, metavar="EPOCHS"),
    ),
    SearchSetting(
        "batch",
        integer_setting("batch", at_most=(MAX_BATCH, "1048576 (2**20)")),
        ("batch",),
        "64",
        "global batch size (several processes take equal parts), at most `2**20`",
        Flag("batch size", int),
    ),
    SearchSetting(
        "split",
        single(split_setting),
        ("split",),
        "0.5",
        "share of the training data that trains the weights; the rest drives the architecture",
        Flag("share of the training data for the weights", float),
    ),
    SearchSetting(
        "seed",
        single(seed_setting),
        ("seed",),
        "0",
        "random seed, an integer from 0 to `2**32 - 1`",
        Flag("random seed", int),
    ),
    SearchSetting(
        "weights",
        single(weights_setting),
        ("w_lr", "w_momentum", "w_weight_decay", "w_lr_min", "w_schedule"),
        _W,
        "weight optimizer: SGD, learning rate `cosine` from `lr` to `lr_min` over the run, or `constant`",
    ),
    SearchSetting(
        "arch",
        single(arch_setting),
        ("a_lr", "a_betas", "a_weight_decay"),
        "adam(lr = 3e-2, betas = (0.5, 0.999), weight_decay = 1e-3)",
        "architecture optimizer",
    ),
    SearchSetting(
        "hypergradient",
        single(hypergradient_setting),
        ("hypergradient",),
        "first_order",
        "`first_order`, `second_order` (DARTS) or `exact`: see Hypergradients below",
        Flag("the architecture gradient", choices=HYPERGRADIENTS),
    ),
    SearchSetting(
        "gate",
        single(gate_setting),
        ("gate", "hard", "tau0", "tau1", "tau_schedule", "anchor"),
        "dirichlet",
        "`softmax`, `sigmoid`, `gumbel`, each with `temperature = T` or"
        " `temperature = anneal(T0 -> T1, constant|linear|exponential|cosine)`; `gumbel(hard = 1)` is straight-through;"
        " `dirichlet` or `dirichlet(anchor = 1e-3)` (DrNAS): see Gates below",
        Flag('e.g. softmax or "sigmoid(temperature = anneal(5.0 -> 0.05))"'),
    ),
    SearchSetting(
        "discretize",
        single(discretize_setting),
        ("discretize", "threshold"),
        "argmax",
        "`argmax`, `threshold(t)`, `perturbation`: see Discretization below",
    ),
    SearchSetting(
        "penalty",
        each("penalties", penalty_item),
        ("penalties",),
        "entropy(0 -> 0.1, linear)",
        "`l1(w)`, `entropy(w)`, `zero_one(w)`, `beta(w)`, `cost(params|flops|latency, w)`; a weight may ramp"
        " over the search, `beta(0 -> 50, linear|cosine)`; several separated by commas. Giving `penalty` replaces"
        " the default entropy ramp (which makes the gates decisive); `penalty entropy(0)` turns it off",
        many=True,
    ),
    SearchSetting(
        "constraint",
        each("constraints", constraint_item),
        ("constraints",),
        None,
        "`min_nonskip_per_path(k)`, `max_skip(n)`, `max_params(N)`, `max_flops(N)`; met exactly at discretization",
        many=True,
    ),
    SearchSetting(
        "budget",
        single(budget_setting),
        ("budget", "budget_rate"),
        "adaptive",
        "how a `max_params` / `max_flops` constraint acts while the search trains: `adaptive` or"
        " `adaptive(rate = 0.05)` adds the supernet's expected cost over the budget to the architecture loss,"
        " times a multiplier raised while the expected cost is above the budget and lowered below it (a"
        " Lagrangian); `off`: the constraint acts at discretization only. See Budgets below",
    ),
    SearchSetting(
        "select",
        single(select_setting),
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
        integer_setting("partial_channels"),
        ("partial_channels",),
        "1",
        "PC-DARTS: 1/k of the channels go through each mixed op, with edge normalization",
    ),
    SearchSetting(
        "share_values",
        single(share_values_setting),
        ("share_values",),
        "on",
        "`on`: the candidates of a value list (`conv(k = [3, 5, 7])`) share one set of weights, the largest"
        " candidate's (smaller kernels at its centre, narrower widths in its first channels); `off`: each has"
        " its own. See docs/language.md, Searched values",
        Flag("weight sharing across a value list's candidates", choices=("on", "off")),
    ),
    SearchSetting(
        "fuse",
        single(fuse_setting),
        ("fuse",),
        "on",
        "`on`: the supernet runs the same candidate on every edge that reads one input as one computation"
        " (docs/performance.md, Horizontal fusion); `off`: each candidate on its own. The results are the same"
        " up to the order of floating-point additions",
        Flag("horizontal fusion of the supernet's candidates", choices=("on", "off")),
    ),
    SearchSetting("grad_clip", single(grad_clip_setting), ("grad_clip",), "5", "gradient-norm clipping of the weights"),
    SearchSetting(
        "precision",
        single(precision_setting),
        ("precision",),
        "fp32",
        "`fp32`, or `bf16` / `fp16` autocast (fp16 with loss scaling, first order only)",
        Flag("autocast precision", choices=PRECISIONS),
    ),
    SearchSetting(
        "finetune",
        integer_setting("finetune", positive=False, at_most=(MAX_EPOCHS, "1000000")),
        ("finetune",),
        "0",
        "epochs of fine-tuning the discretized network after the search, at most 1000000",
        Flag("fine-tune the result N epochs", int, metavar="N"),
    ),
    SearchSetting(
        "top",
        integer_setting("top", at_most=(MAX_TOP, "10000")),
        ("top",),
        "1",
        "write the k best architectures (`result-1.das` ... `result-k.das`), at most 10000",
        Flag("write the K best architectures", int, metavar="K"),
    ),
    SearchSetting(
        "latency_table",
        single(latency_table_setting),
        ("latency_table",),
        None,
        'the JSON of `dasdsl profile SPACE -o FILE` that `cost(latency, w)` reads, e.g. `"latency.json"`;'
        " relative to the working directory",
        file=True,
    ),
)


SEARCH = SettingsTable("search", SearchConfig, SETTINGS)

# The search table's names, as the rest of dasdsl has always used them.
BY_NAME: dict[str, SearchSetting] = SEARCH.by_name
SEARCH_KEYS: tuple[str, ...] = SEARCH.keys
FLAGGED: tuple[SearchSetting, ...] = SEARCH.flagged
RUN_SETTING_FLAGS: tuple[str, ...] = tuple(s.name for s in FLAGGED)
check_entry = SEARCH.check_entry
resolve = SEARCH.resolve
parse_flag = SEARCH.parse_flag
parse_override = SEARCH.parse_override
settings_table = SEARCH.markdown


def combination_problem(cfg: SearchConfig) -> tuple[str, str, str] | None:
    """Settings that each read fine but cannot go together, as (message, hint, the setting to report it at); None
    when there are none.

    A warm-up as long as the search leaves the gates where they started. A rule that weighs candidates by the
    supernet's accuracy (``perturbation``) picks one architecture; ``top k`` and constraints rank architectures
    by gate weights (the exact k-best search), which would quietly replace the rule."""
    if cfg.warmup >= cfg.epochs > 0:
        return (
            f"warmup {cfg.warmup} is not below epochs {cfg.epochs}: the architecture parameters would never move",
            f"warm up fewer epochs than the search's {cfg.epochs} (PC-DARTS: 15 of 50), or search longer",
            "warmup",
        )
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
        "discretize",
    )


def check_config(cfg: SearchConfig) -> SearchConfig:
    """``cfg`` if its settings go together (the final configuration of a run), else a DasError."""
    problem = combination_problem(cfg)
    if problem is not None:
        message, hint, _ = problem
        raise fail(message, "<search settings>", hint)
    return cfg
