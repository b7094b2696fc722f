"""Wording shared by the passes' diagnostics: shown values, cycle paths, signatures."""

from __future__ import annotations

from typing import Any

from dasdsl.lang.checked import Symbol
from dasdsl.ops import registry


def rotate_cycle(members: list[str], lines: list[int]) -> tuple[int, list[str], str]:
    """A cycle rotated to start at the member with the earliest line (``lines[i]`` is ``members[i]``'s).

    Returns that member's index in ``members``, the rotated members, and the path text for a message:
    ``": a -> b -> a"``, or ``""`` for a single member.
    """
    first = lines.index(min(lines))
    order = members[first:] + members[:first]
    path = ": " + " -> ".join([*order, order[0]]) if len(order) > 1 else ""
    return first, order, path


def show(v: Any) -> str:
    if isinstance(v, Symbol):
        return v.name
    if isinstance(v, str):
        return f'"{v}"'
    return repr(v)


def builtin_hint(name: str) -> str | None:
    if registry.lookup(name) is not None:
        return f"'{name}' is an op; a cell is derived from another cell"
    return None


def signature_hint(name: str, params: tuple[str, ...], spec: registry.OpDef | None) -> str:
    if spec is None:
        return f"signature: {name}({', '.join(params)})"
    parts = [
        p.name if p.required else f"{p.name} = {show(p.default) if p.default is not None else '...'}"
        for p in spec.params
    ]
    return f"signature: {name}({', '.join(parts)})"
