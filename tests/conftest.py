"""Test-wide settings: one torch thread (tests share a 2-core machine; see the developers' brief)."""

import os

import torch

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")
