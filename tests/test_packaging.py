"""A built wheel carries the assets, and a non-editable install finds them away from the repo."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Build from a copy of the sources: an in-tree build/ folder could carry deleted modules along.
    src = tmp_path_factory.mktemp("src") / "qwen3-explorer"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "docs"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(src)], check=True, capture_output=True, timeout=300)
    return next(out.glob("qwen3_explorer-*.whl"))


def test_wheel_contains_assets_and_entry_point(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "qwen3_explorer_assets/catalog.json" in names
    assert "qwen3_explorer_assets/style.qss" in names
    for variant in ("hybrid", "thinking-2507", "instruct-2507", "coder"):
        assert f"qwen3_explorer_assets/templates/qwen3-{variant}.jinja" in names
    for probe_set in ("seed003-free-form", "seed003-chatroom", "code", "reasoning", "instructions", "chat"):
        assert f"qwen3_explorer_assets/probes/{probe_set}.toml" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "qwen3-explorer = ui.launcher:main" in zipfile.ZipFile(wheel).read(entry).decode()
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


def test_installed_wheel_finds_its_assets(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    code = ("import explorer, qwen3_explorer_assets as a; from explorer.catalog.snapshot import load_catalog; "
            "from explorer.testing.models import template_text; "
            "from explorer.probes.sets import list_sets; "
            "c = load_catalog(); assert template_text('hybrid'); "
            "assert sum(e.builtin and e.probe_set is not None for e in list_sets()) == 6; "
            "print(explorer.__file__, a.__file__, len(c.models))")
    # -S: no site processing, so the editable install's path hook cannot shadow the wheel; the
    # dependencies come from site-packages as a plain path.
    proc = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={"PYTHONPATH": f"{target}:{':'.join(p for p in sys.path if 'site-packages' in p)}"},
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    explorer_file, assets_file, n_models = proc.stdout.split()
    assert explorer_file.startswith(str(target)) and assets_file.startswith(str(target))
    assert int(n_models) > 20
