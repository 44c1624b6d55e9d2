"""The core stays plain Python: no Qt, no ui, and llama.cpp only inside explorer/engine."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "explorer"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            names.add(str(node.args[0].value).split(".")[0])
    return names


def test_core_never_imports_qt_or_ui() -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & {"PySide6", "shiboken6", "ui", "PyQt6"})
                 for p in CORE.rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_engine_imports_llama_cpp() -> None:
    users = {str(p.relative_to(ROOT)) for p in CORE.rglob("*.py") if "llama_cpp" in _imports(p)}
    assert all(u.startswith("explorer/engine/") for u in users), users


BLOCKER = r"""
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PySide6", "shiboken6", "ui", "llama_cpp"):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
import explorer
for m in pkgutil.walk_packages(explorer.__path__, "explorer."):
    importlib.import_module(m.name)
print("ok", len(sys.modules))
"""


def test_every_core_module_imports_without_qt_ui_or_llama() -> None:
    """Importing the whole core with Qt, ui and llama_cpp made unimportable (napari-style)."""
    proc = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("ok")


def _module_graph() -> dict[str, set[str]]:
    """Every module of explorer/ and ui/ -> the modules of those packages it imports (anywhere in the
    file, lazy imports included; a package's own parents are left out, as Python imports them first)."""
    paths = {}
    for top in ("explorer", "ui"):
        for p in (ROOT / top).rglob("*.py"):
            name = ".".join(p.relative_to(ROOT).with_suffix("").parts)
            paths[name.removesuffix(".__init__")] = p
    graph: dict[str, set[str]] = {}
    for name, p in paths.items():
        package = name if p.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(p.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                targets.add(base)
                targets.update(f"{base}.{a.name}" for a in node.names)
        graph[name] = {t for t in targets if t in paths and t != name and not name.startswith(t + ".")}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        path.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                return [*path[path.index(v):], v]
            if v not in state and (found := visit(v)):
                return found
        path.pop()
        state[u] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_module_imports_one_that_imports_it_back() -> None:
    assert _cycle(_module_graph()) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_core_packages_form_layers() -> None:
    """No package of explorer/ imports one that imports it back (docs/ARCHITECTURE.md draws the layers)."""
    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    layers: dict[str, set[str]] = {}
    for module, targets in _module_graph().items():
        if module.startswith("explorer."):
            layers.setdefault(package(module), set()).update(
                package(t) for t in targets if t.startswith("explorer.") and package(t) != package(module))
    for name in {t for ts in layers.values() for t in ts}:
        layers.setdefault(name, set())
    assert _cycle(layers) is None
    assert "explorer.engine" in layers["explorer.chat"]  # the graph is real: chat runs on the engine
