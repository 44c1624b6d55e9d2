"""Shared fixtures. Qt-free at import, so core tests run where PySide6 is not installed.

- Qt runs offscreen (no display needed).
- Every test gets its own HOME and XDG dirs, so nothing reads or writes the real config or cache.
  The generated test models stay where they were (QWEN3_EXPLORER_TEST_MODELS), so core tests do
  not rebuild them per test.
- Small fake Hardware and Catalog objects, built from the real dataclasses.
- QWEN3_EXPLORER_SUITE=core collects only the tests that need no Qt, with PySide6, shiboken6, ui and
  pytest-qt made unimportable (run with `-p no:pytest-qt`): the core test suite passes where PySide6 is
  not installed (napari checks this with Qt uninstalled; a blocker is the same check without a second
  venv). QWEN3_EXPLORER_SUITE=gui collects the others. Unset: everything. scripts/test runs both.
"""

from __future__ import annotations

import ast
import os
import sys
from importlib.abc import MetaPathFinder
from pathlib import Path
from typing import Any

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import pytest

from explorer.catalog.snapshot import Catalog, CatalogFile, CatalogModel
from explorer.gguf.shape import Architecture
from explorer.gguf.variant import Variant
from explorer.hardware.advice import llama_warnings
from explorer.hardware.facts import GPU, CPUInfo, Hardware
from explorer.hardware.llama_build import LlamaBuild
from explorer.paths import test_models_dir

SUITE = os.environ.get("QWEN3_EXPLORER_SUITE", "")
_QT_MODULES = ("PySide6", "shiboken6", "ui", "pytestqt")


class _BlockQt(MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".")[0] in _QT_MODULES:
            raise ImportError(f"{name} is blocked: the core suite runs as if PySide6 were not installed")
        return None


if SUITE == "core":
    if loaded := sorted(m for m in sys.modules if m.split(".")[0] in _QT_MODULES):
        raise RuntimeError(f"the core suite must start without Qt, but {loaded[:3]} are loaded (-p no:pytest-qt)")
    sys.meta_path.insert(0, _BlockQt())

def needs_qt(path: Path) -> bool:
    """Whether a test file uses Qt: imports PySide6, ui or pytest-qt, or asks for qtbot or qapp."""
    tree = ast.parse(path.read_text("utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] in _QT_MODULES for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in _QT_MODULES:
            return True
        if isinstance(node, ast.arg) and node.arg in ("qtbot", "qapp"):
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if SUITE not in ("core", "gui") or not collection_path.name.startswith("test_") \
            or collection_path.suffix != ".py":
        return None
    return needs_qt(collection_path) == (SUITE == "core")


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    if not pluginmanager.has_plugin("pytest-qt"):  # the core suite: keep pyproject's qt_* keys known
        for key in ("qt_api", "qt_log_level_fail", "qt_log_ignore"):
            parser.addini(key, f"pytest-qt's {key} (pytest-qt is not loaded in this run)", type="linelist")


GiB = 1024**3

_TEST_MODELS = str(test_models_dir())  # read before any test moves HOME and XDG_CACHE_HOME


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("QWEN3_EXPLORER_TEST_MODELS", _TEST_MODELS)
    monkeypatch.delenv("QWEN3_EXPLORER_MODELS", raising=False)
    for name in ("CONVERSATIONS", "PROBES", "PROBE_RUNS", "VOTES", "MACHINE"):
        monkeypatch.delenv(f"QWEN3_EXPLORER_{name}", raising=False)
    return home


# --- fake hardware --------------------------------------------------------------------------

CPU = CPUInfo(model="Fake Ryzen 7", physical_cores=8, logical_cores=16,
              flags=frozenset({"avx", "avx2", "fma", "f16c"}))
LLAMA_GPU = LlamaBuild(installed=True, version="0.3.36", gpu_offload=True,
                       system_info="CUDA : ARCHS = 890 | CPU : AVX2 = 1")
LLAMA_CPU = LlamaBuild(installed=True, version="0.3.36", gpu_offload=False,
                       system_info="CPU : AVX2 = 1 | FMA = 1")


def make_hardware(*, ram: float = 32, ram_free: float = 24, vram: float | None = 8,
                  vram_free: float | None = 7.5, offload: bool = True,
                  notes: tuple[str, ...] = ()) -> Hardware:
    gpus: tuple[GPU, ...] = ()
    if vram is not None:
        gpus = (GPU(index=0, vendor="nvidia", name="Fake RTX 4060", vram_total=int(vram * GiB),
                    vram_free=None if vram_free is None else int(vram_free * GiB),
                    bandwidth=272e9),)
    return Hardware(ram_total=int(ram * GiB), ram_available=int(ram_free * GiB), cpu=CPU, gpus=gpus,
                    disk_path="/tmp/models", disk_free=200 * GiB,
                    llama=LLAMA_GPU if offload else LLAMA_CPU, ram_bandwidth=60e9, notes=notes)


@pytest.fixture
def fake_hardware() -> Hardware:
    return make_hardware()


@pytest.fixture
def hardware_factory() -> object:
    """`hardware_factory(ram=16, vram=None, ...)` builds other machines."""
    return make_hardware


@pytest.fixture
def cpu_build_hardware() -> Hardware:
    """A GPU, but a CPU-only llama.cpp build: the probe warns and says how to reinstall."""
    plain = make_hardware(offload=False)
    warnings = llama_warnings(plain.cpu, plain.gpus, plain.llama, "Linux")
    return make_hardware(offload=False, notes=(*warnings, "Disk: free space read from /tmp/models"))


# --- fake catalog ---------------------------------------------------------------------------

ARCH_0_6B = Architecture(arch="qwen3", n_layers=28, n_embd=1024, n_head=16, n_head_kv=8,
                         head_dim=128, n_ff=3072, n_vocab=151936, ctx_native=32768,
                         ctx_extended=32768, tied_embeddings=True)
ARCH_8B = Architecture(arch="qwen3", n_layers=36, n_embd=4096, n_head=32, n_head_kv=8,
                       head_dim=128, n_ff=12288, n_vocab=151936, ctx_native=32768,
                       ctx_extended=131072)
ARCH_30B_A3B = Architecture(arch="qwen3moe", n_layers=48, n_embd=2048, n_head=32, n_head_kv=4,
                            head_dim=128, n_ff=0, n_vocab=151936, ctx_native=262144,
                            ctx_extended=262144, n_expert=128, n_expert_used=8, n_ff_exp=768)

_BPW = {"Q4_K_M": 4.89, "Q8_0": 8.5, "Q2_K": 3.35}


def _file(repo: str, stem: str, quant: str, params_b: float, *, shards: int = 1,
          estimate: bool = False) -> CatalogFile:
    size = int(params_b * 1e9 * _BPW[quant] / 8)
    if shards == 1:
        names: tuple[str, ...] = (f"{stem}-{quant}.gguf",)
    else:
        names = tuple(f"{quant}/{stem}-{quant}-{i:05d}-of-{shards:05d}.gguf"
                      for i in range(1, shards + 1))
    return CatalogFile(repo=repo, quant=quant, shards=names, size=size, size_is_estimate=estimate)


def make_catalog() -> Catalog:
    small = CatalogModel(
        id="Qwen3-0.6B", variant=Variant.HYBRID, size_label="0.6B", params_total=0.6,
        params_active=0.6, arch=ARCH_0_6B,
        files=tuple(_file("Qwen/Qwen3-0.6B-GGUF", "Qwen3-0.6B", q, 0.75) for q in ("Q8_0", "Q4_K_M")))
    mid = CatalogModel(
        id="Qwen3-8B", variant=Variant.HYBRID, size_label="8B", params_total=8.2,
        params_active=8.2, arch=ARCH_8B,
        files=tuple(_file("Qwen/Qwen3-8B-GGUF", "Qwen3-8B", q, 8.2) for q in ("Q8_0", "Q4_K_M")))
    moe = CatalogModel(
        id="Qwen3-30B-A3B-Instruct-2507", variant=Variant.INSTRUCT_2507, size_label="30B-A3B",
        params_total=30.5, params_active=3.3, arch=ARCH_30B_A3B,
        files=(_file("unsloth/Qwen3-30B-A3B-Instruct-2507-GGUF", "Qwen3-30B-A3B-Instruct-2507",
                     "Q4_K_M", 30.5, estimate=True),
               _file("unsloth/Qwen3-30B-A3B-Instruct-2507-GGUF", "Qwen3-30B-A3B-Instruct-2507",
                     "Q8_0", 30.5, shards=2, estimate=True)))
    coder = CatalogModel(
        id="Qwen3-Coder-30B-A3B-Instruct", variant=Variant.CODER, size_label="30B-A3B",
        params_total=30.5, params_active=3.3, arch=ARCH_30B_A3B,
        files=(_file("unsloth/Qwen3-Coder-30B-A3B-Instruct-GGUF", "Qwen3-Coder-30B-A3B-Instruct",
                     "Q2_K", 30.5),))
    return Catalog(models=(small, mid, moe, coder), snapshot_date="2026-11-25", source="snapshot")


@pytest.fixture
def fake_catalog() -> Catalog:
    return make_catalog()


@pytest.fixture
def view(qtbot: Any) -> Any:
    """A shown chat transcript (ui.chat.transcript.TranscriptView), 420 x 500: the transcript tests' view.
    Qt is imported here, not at the top, so this file stays importable without it."""
    from ui.chat.transcript import TranscriptView

    v = TranscriptView()
    qtbot.addWidget(v)
    v.resize(420, 500)
    v.show()
    return v


@pytest.fixture
def restore_theme(qapp: Any) -> Any:
    """For a test that switches the theme: afterwards the app is light again, with the style sheet and
    palette it had (the other GUI tests run without the app's sheet). Qt is imported here, as in `view`."""
    from ui import theme

    sheet, palette = qapp.styleSheet(), qapp.palette()
    yield
    theme._state["choice"], theme._state["dark"] = "system", False
    theme._apply_colors(False)
    qapp.setStyleSheet(sheet)
    qapp.setPalette(palette)
    theme.notifier().changed.emit(False)  # views that bake colours in take the light ones again
