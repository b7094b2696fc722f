"""The largest modules, classes and functions of the dasdsl package, by lines: where a reader must hold most.

python3 bench/code_sizes.py [CHECKOUT]      # default: this checkout
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def sizes(root: Path) -> dict[str, list[tuple[int, str]]]:
    """(lines, where) of every module, class and function under ``root/dasdsl``, largest first."""
    found: dict[str, list[tuple[int, str]]] = {"module": [], "class": [], "function": []}
    for path in sorted((root / "dasdsl").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        where = str(path.relative_to(root))
        found["module"].append((len(text.splitlines()), where))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                found[kind].append((node.end_lineno - node.lineno + 1, f"{where}:{node.name}"))  # type: ignore[operator]
    return {kind: sorted(items, reverse=True) for kind, items in found.items()}


if __name__ == "__main__":
    checkout = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
    for kind, items in sizes(checkout).items():
        print(f"largest {kind}s:", ", ".join(f"{where} ({n})" for n, where in items[:3]))
