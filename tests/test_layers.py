"""The package's layering: imports run one way (import-linter contracts), no import cycle anywhere,
imports inside functions only with a stated reason, and `dasdsl check` stays light (no torch, no graphviz)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx
import pytest
from paths import ROOT

PACKAGE = ROOT / "dasdsl"
LAYERS = ["dasdsl.cli", "dasdsl.api", "dasdsl.view", "dasdsl.search", "dasdsl.compiler", "dasdsl.lang", "dasdsl.ops"]
RANK = {**{layer: i for i, layer in enumerate(LAYERS)}, "dasdsl.methods": LAYERS.index("dasdsl.ops")}


def _graph() -> nx.DiGraph:
    """Module-level import graph of the package (imports inside functions included)."""
    imports = grimp.build_graph("dasdsl")
    g = nx.DiGraph()
    for module in imports.modules:
        g.add_node(module)
        for imported in imports.find_modules_directly_imported_by(module):
            if imported.startswith("dasdsl"):
                g.add_edge(module, imported)
    return g


def test_import_linter_contracts_hold() -> None:
    exe = shutil.which("lint-imports")
    assert exe is not None, "import-linter is a dev dependency: pip install -e '.[dev]'"
    done = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


def test_no_import_cycle_anywhere_in_the_package() -> None:
    g = _graph()
    # a package imports its own __init__'s names; only module-to-module cycles count
    cycles = [c for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert cycles == [], f"import cycles: {cycles}"
    assert len(g) > 40  # the graph really holds the package


def test_no_stage_imports_the_public_api() -> None:
    """`dasdsl` (the root package) and `dasdsl.api` sit on top: only the CLI and __main__ import them."""
    g = _graph()
    users = {m for m, target in g.edges if target in ("dasdsl", "dasdsl.api")}
    assert users <= {"dasdsl", "dasdsl.cli", "dasdsl.__main__"}, users


def test_every_layer_is_imported_only_from_above() -> None:
    g = _graph()
    rank = RANK

    def layer(module: str) -> str | None:
        return next((p for p in RANK if module == p or module.startswith(p + ".")), None)

    upward = [
        (a, b)
        for a, b in g.edges
        if layer(a) is not None and layer(b) is not None and rank[layer(a)] > rank[layer(b)]  # type: ignore[index]
    ]
    assert upward == []
    sideways = [(a, b) for a, b in g.edges if {layer(a), layer(b)} == {"dasdsl.ops", "dasdsl.methods"}]
    assert sideways == []  # the two bottom layers are independent


def _function_imports() -> list[tuple[Path, int, str, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for fn in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        name = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                        found.append((path, node.lineno, str(name), lines[node.lineno - 1]))
    return found


def test_imports_inside_functions_say_why() -> None:
    """Only where they keep a heavy library off a light path, each with its reason on the line."""
    missing = [f"{p.relative_to(ROOT)}:{n}: {name}" for p, n, name, line in _function_imports() if "#" not in line]
    assert missing == []
    assert len(_function_imports()) < 40


@pytest.mark.parametrize("command", [["check", "spaces/darts.das"], ["fmt", "spaces/nb201.das"]])
def test_light_commands_import_neither_torch_nor_graphviz(command: list[str]) -> None:
    code = (
        "import sys\n"
        "from dasdsl.cli import main\n"
        f"assert main({command!r}) == 0\n"
        "heavy = sorted(m for m in ('torch', 'graphviz', 'matplotlib', 'sklearn') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout, done.stdout
