"""Settings of a space's blocks: ``search`` (``dasdsl run``) and ``train`` (``dasdsl train``), each overridden
by the command line or the Python API's keywords, checked once.

Every setting resolves to a plain JSON-able value so that ``config.json`` of a run
records exactly what ran, and a resumed run can rebuild the same configuration.

One table per block, ``SETTINGS`` (search) and ``TRAIN_SETTINGS``, holds one ``SearchSetting`` record
per key: its name, the parser that turns the evaluated values into fields of the block's config
(``SearchConfig``, ``TrainConfig``), its default as shown to users, its flag (if any) and a one-line doc.
A ``SettingsTable`` (``SEARCH``, ``TRAIN``) derives everything else from its table: the checker's located
problems, ``resolve``, the command line's flags (built by ``dasdsl.cli``), the Python API's keywords (built
by ``dasdsl.api``) and the markdown table of the docs.

The package, by job (each module imports only those listed before it):

- ``records``: the config records, ``SearchConfig`` and ``TrainConfig``, and ``LEGACY``.
- ``values``: ``SettingError`` and the value checks and parsers both tables use (numbers, names, seeds,
  data sources).
- ``table``: the table engine, ``SettingsTable`` with its records ``SearchSetting`` and ``Flag``; it reads
  .das text with the one evaluator of the expression language (``dasdsl.lang.fold``).
- ``search_parsers``, ``search_table``: the search block's parsers, then its table ``SEARCH``.
- ``train_table``: the train block's table ``TRAIN``.
- ``recorded``: a run directory's config.json read back through the tables.

The search table's names, kept as the rest of dasdsl has always used them:

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

from dasdsl.lang.settings.recorded import recorded_search_config, recorded_train_config, search_values
from dasdsl.lang.settings.records import LEGACY, SearchConfig, TrainConfig
from dasdsl.lang.settings.search_parsers import (
    BUDGETS,
    CONSTRAINTS,
    COST_MEASURES,
    DISCRETIZE,
    GATES,
    HYPERGRADIENTS,
    MAX_SELECT_FINETUNE,
    MAX_SELECT_K,
    PENALTIES,
    PRECISIONS,
    RAMPS,
    SCHEDULES,
    SELECTS,
    W_SCHEDULES,
)
from dasdsl.lang.settings.search_table import (
    BY_NAME,
    FLAGGED,
    RUN_SETTING_FLAGS,
    SEARCH,
    SEARCH_KEYS,
    SETTINGS,
    check_config,
    check_entry,
    combination_problem,
    parse_flag,
    parse_override,
    resolve,
    settings_table,
)
from dasdsl.lang.settings.table import Flag, SearchSetting, SettingsTable, evaluate_value, problem_span
from dasdsl.lang.settings.train_table import AUGMENTS, TRAIN, TRAIN_KEYS, TRAIN_SETTINGS
from dasdsl.lang.settings.values import (
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_TOP,
    SEED_LIMIT,
    Parse,
    SettingError,
    is_source,
    parse_spec,
)

__all__ = [
    "AUGMENTS",
    "BUDGETS",
    "BY_NAME",
    "CONSTRAINTS",
    "COST_MEASURES",
    "DISCRETIZE",
    "FLAGGED",
    "GATES",
    "HYPERGRADIENTS",
    "LEGACY",
    "MAX_BATCH",
    "MAX_EPOCHS",
    "MAX_SELECT_FINETUNE",
    "MAX_SELECT_K",
    "MAX_TOP",
    "PENALTIES",
    "PRECISIONS",
    "RAMPS",
    "RUN_SETTING_FLAGS",
    "SCHEDULES",
    "SEARCH",
    "SEARCH_KEYS",
    "SEED_LIMIT",
    "SELECTS",
    "SETTINGS",
    "TRAIN",
    "TRAIN_KEYS",
    "TRAIN_SETTINGS",
    "W_SCHEDULES",
    "Flag",
    "Parse",
    "SearchConfig",
    "SearchSetting",
    "SettingError",
    "SettingsTable",
    "TrainConfig",
    "check_config",
    "check_entry",
    "combination_problem",
    "evaluate_value",
    "is_source",
    "parse_flag",
    "parse_override",
    "parse_spec",
    "problem_span",
    "recorded_search_config",
    "recorded_train_config",
    "resolve",
    "search_values",
    "settings_table",
]
