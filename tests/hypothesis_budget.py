"""How many examples a property test draws: its full count under the Hypothesis profile ``ci`` (``.ci/run`` sets
``HYPOTHESIS_PROFILE=ci``), a tenth of it (at least 20) under the default ``dev`` profile, for a quick loop.
``tests/conftest.py`` registers and loads the profiles."""

from __future__ import annotations

import os

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")


def examples(full: int) -> int:
    """``full`` in CI, else a tenth of it (at least 20)."""
    return full if PROFILE == "ci" else max(20, full // 10)
