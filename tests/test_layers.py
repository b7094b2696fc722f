"""The package's layering: imports run one way (import-linter contracts), no import cycle anywhere,
imports inside functions only with a stated reason, and `dasdsl check` stays light (no torch, no graphviz)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx
import pytest
from paths import ROOT

PACKAGE = ROOT / "dasdsl"
LAYERS = ["dasdsl.cli", "dasdsl.api", "dasdsl.view", "dasdsl.engine", "dasdsl.compiler", "dasdsl.lang", "dasdsl.ops"]
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


# ---- one of each small helper ------------------------------------------------------------------------------
# The error at a place with a hint is dasdsl.errors.fail; a plural and a shape's text are dasdsl.wording's.
SHAPE_SEPARATORS = ("x", "×")
# Remove an entry when its file calls dasdsl.errors.fail (the test fails until then, and after).
PENDING: set[tuple[str, str]] = set()


def _makes_error(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A helper whose whole body (after a docstring) returns a newly built DasError or a call to fail."""
    body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if len(body) != 1 or not isinstance(body[0], ast.Return) or not isinstance(body[0].value, ast.Call):
        return False
    called = body[0].value.func
    return isinstance(called, ast.Name) and called.id in ("DasError", "fail")


def _helper_copies(path: Path, source: str) -> list[str]:
    """The definitions of ``path`` that repeat one of the small shared helpers, as ``def NAME`` or
    ``'SEP'.join`` (a shape written inline)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = node.name.lower()
            if re.fullmatch(r"_?fail(_\w+)?", name) or "plural" in name or _makes_error(node):
                found.append(f"def {node.name}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "join"
            and isinstance(node.func.value, ast.Constant)
            and node.func.value.value in SHAPE_SEPARATORS
        ):
            found.append(f"{node.func.value.value!r}.join")
    return found


def _all_helper_copies() -> set[tuple[str, str]]:
    allowed = {"dasdsl/errors.py": {"def fail"}, "dasdsl/wording.py": {"def plural"}}
    return {
        (rel, what)
        for path in sorted(PACKAGE.rglob("*.py"))
        for rel in [path.relative_to(ROOT).as_posix()]
        for what in _helper_copies(path, path.read_text(encoding="utf-8"))
        if what not in allowed.get(rel, set())
    }


def test_one_of_each_small_helper() -> None:
    """No second 'error at a place' constructor, plural or shape formatter: a new one is a copy to merge."""
    assert _all_helper_copies() == PENDING


@pytest.mark.parametrize(
    "code",
    [
        "def _fail(message, hint=None):\n    return DasError([error(message, Span.unknown('<x>'), hint)])\n",
        "def _oops(message):\n    '''why'''\n    return fail(message, '<x>')\n",
        "def _plural(n, w):\n    return f'{n} {w}s'\n",
        "def _fmt(shape):\n    return 'x'.join(str(s) for s in shape)\n",
        "label = f\"{'×'.join(map(str, shape))}\"\n",
    ],
)
def test_the_helper_scan_sees_a_copy(code: str) -> None:
    assert len(_helper_copies(Path("copy.py"), code)) == 1


def test_every_atomic_write_is_files_write_atomic() -> None:
    """Only dasdsl/files.py renames a file into place (write_atomic: no symbolic link followed, a full disk
    a DasError, nothing half-written); everything else writes through it."""
    renames = [
        f"{path.relative_to(ROOT).as_posix()}:{node.lineno}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "files.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and node.attr in ("replace", "rename", "renames")
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    ]
    assert renames == []
