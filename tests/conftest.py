"""Test-wide settings: one torch thread (tests share a 2-core machine and run on both cores with pytest-xdist;
see the developers' brief) and the Hypothesis profile (``dev`` by default, ``ci`` in .ci/run)."""

import os

import torch
from hypothesis import settings
from hypothesis_budget import PROFILE

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")

settings.register_profile("dev")  # the counts of tests/hypothesis_budget.py: a tenth of CI's
settings.register_profile("ci", print_blob=True)  # every example the tests ask for; a failure prints its replay
settings.load_profile(PROFILE)
