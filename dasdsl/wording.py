"""Wording every layer's messages share: one ``plural``, one way to show a shape. At the bottom of the layers
(it imports nothing of dasdsl), so the ops, the compiler, the CLI and the pictures all word things alike."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def plural(n: int | None, word: str) -> str:
    """``1 cell``, ``2 cells``, ``0 cells``; ``None`` (no limit) is ``every cell``."""
    if n is None:
        return f"every {word}"
    return f"{n} {word}{'s' if n != 1 else ''}"


def shape_text(shape: Iterable[Any], sep: str = "x") -> str:
    """A shape as messages and dumps show it, ``1x8x8`` (``sep="×"`` for pictures)."""
    return sep.join(str(s) for s in shape)
