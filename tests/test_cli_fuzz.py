"""Random flag combinations and values thrown at `dasdsl run`'s argument parsing and validation: a usage
error (exit 2) or a DasError, never anything else. No search runs: validation stops before training."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_budget import examples
from paths import ROOT

import dasdsl
from dasdsl import cli
from dasdsl.engine.run import config_for
from dasdsl.errors import DasError
from dasdsl.lang.settings import FLAGGED, SEARCH, SEARCH_KEYS

SPACE = dasdsl.load(ROOT / "spaces" / "pooling.das")

values = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "0", "-1", "", "softmax", "sgd(lr = -1)", "npz:/no/such"]),
    st.text(max_size=12),
)
flags = st.lists(
    st.tuples(st.sampled_from([s.option for s in FLAGGED] + ["--nproc", "--device", "--set"]), values), max_size=6
)
sets = st.tuples(st.sampled_from([*SEARCH_KEYS, "gat", "out", "", "x y"]), values).map(lambda kv: f"{kv[0]}={kv[1]}")


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flags, st.lists(sets, max_size=3))
def test_random_run_flags_end_in_usage_or_das_errors(pairs: list[tuple[str, str]], more: list[str]) -> None:
    argv = ["run", str(ROOT / "spaces" / "pooling.das")]
    for flag, value in pairs:
        argv += [flag, value]
    for item in more:
        argv += ["--set", item]
    try:
        args = cli.build_parser().parse_args(argv)
    except SystemExit as exc:
        assert exc.code == 2  # argparse's usage error
        return
    try:
        if args.nproc is not None and args.nproc < 1:
            return  # the CLI refuses it first (tested in test_hostile / test_integrity)
        config_for(SPACE, SEARCH.entries_of(cli._settings_from(args)))
    except DasError as exc:
        assert exc.errors and exc.render().strip()


@pytest.mark.parametrize("argv", [["run", "--nproc", "-3"], ["train"], ["train", "--resume", "x", "y.das"]])
def test_usage_mistakes_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") <= 2 and "error:" in err and "Traceback" not in err
