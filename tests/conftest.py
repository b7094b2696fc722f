"""Test-wide settings and the fixtures many test files share.

Settings: one torch thread (tests share a 2-core machine and run on both cores with pytest-xdist; see the
developers' brief) and the Hypothesis profile (``dev`` by default, ``ci`` in .ci/run).

Fixtures, so that a test file does not build its own copy: the shipped spaces (``load_space``, ``pooling``,
``small_nb201``), small deterministic data (``digits``, ``learnable_npz``), the test plugin module (``plugin``)
and a run's log (``run_log``). Where the files live is tests/paths.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import settings
from hypothesis_budget import PROFILE
from paths import SMALL_NB201, SPACE_DIR

import dasdsl
import dasdsl.api

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")

settings.register_profile("dev")  # the counts of tests/hypothesis_budget.py: a tenth of CI's
settings.register_profile("ci", print_blob=True)  # every example the tests ask for; a failure prints its replay
settings.load_profile(PROFILE)


# ---- spaces: loaded and checked once a session (a Space is a frozen record that searching never changes) ----


@pytest.fixture(scope="session")
def load_space() -> Callable[[str], dasdsl.api.Space]:
    """A shipped space by name: ``load_space("darts")`` is spaces/darts.das, loaded once a session."""
    loaded: dict[str, dasdsl.api.Space] = {}

    def load(name: str) -> dasdsl.api.Space:
        if name not in loaded:
            loaded[name] = dasdsl.load(SPACE_DIR / f"{name}.das")
        return loaded[name]

    return load


@pytest.fixture(scope="session")
def pooling(load_space: Callable[[str], dasdsl.api.Space]) -> dasdsl.api.Space:
    """spaces/pooling.das: the smallest searchable space, one choice point of two pools."""
    return load_space("pooling")


@pytest.fixture(scope="session")
def small_nb201() -> dasdsl.api.Space:
    """tests/fixtures/small_nb201.das: NAS-Bench-201's cell, small enough for a search in seconds."""
    return dasdsl.load(SMALL_NB201)


# ---- data: small, deterministic, the same on every machine ---------------------------------------------------


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A slice of scikit-learn's digits as a caller would pass it: x (N, 1, 8, 8) float32, y int.

    640 training samples split 320 / 320 (a whole number of 32-sample batches each) and 200 test samples.
    Shared by every test of the session: read them, never write into them."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]
    y = d.target.astype(np.int64)
    return x[:640], y[:640], x[640:840], y[640:840]


def _learnable_npz(path: Path, n: int = 96) -> str:
    """Small learnable image data (1, 8, 8) with 4 classes, as a .npz with arrays x and y."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, n)
    x = rng.normal(0, 1, (n, 1, 8, 8)).astype(np.float32)
    x[np.arange(n), 0, 0, y] += 2.0  # each class lights one pixel: a search learns it in an epoch or two
    np.savez(path, x=x, y=y)
    return str(path)


@pytest.fixture(scope="session")
def learnable_npz() -> Callable[..., str]:
    """``learnable_npz(path, n=96)`` writes n samples of small learnable data to path and returns the path."""
    return _learnable_npz


# ---- the test plugin and a run's files -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def plugin() -> str:
    """The test plugin module by the name a user gives (``--plugin``, ``plugins=[...]``): tests/plugins/good_ops.py,
    which adds the ops ``test_scale`` and ``test_liar`` (one that lies about its output shape)."""
    return "tests.plugins.good_ops"


def _strict_json(text: str) -> Any:
    """json.loads that rejects NaN and Infinity (not JSON; other readers choke on them)."""

    def reject(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=reject)


def _read_log(run_dir: Path) -> list[dict[str, Any]]:
    return [_strict_json(line) for line in (run_dir / "log.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="session")
def run_log() -> Callable[[Path], list[dict[str, Any]]]:
    """``run_log(run_dir)``: the records of a run's log.jsonl, one per line, read as strict JSON as another
    program would (not with the package's own reader)."""
    return _read_log
