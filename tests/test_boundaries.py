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
