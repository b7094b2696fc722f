"""Where the tests find the project's files: one definition instead of one per test file."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository
SPACE_DIR = ROOT / "spaces"  # the shipped spaces
SHIPPED = sorted(SPACE_DIR.glob("*.das"))  # every shipped space, by file name
FIXTURES = ROOT / "tests" / "fixtures"
POOLING = SPACE_DIR / "pooling.das"  # the smallest searchable space: one choice point of two pools
SMALL_NB201 = FIXTURES / "small_nb201.das"  # NAS-Bench-201's cell, small enough for a search in seconds
