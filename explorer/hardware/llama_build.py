"""What the installed llama-cpp-python can do: version, GPU offload, CPU features it was built with.

The question is asked in a child process: importing llama_cpp loads a native library that can abort
the interpreter (a wrong build, a missing CUDA runtime), and the app must survive that. It also keeps
the app's own start fast, since only this child pays for loading llama.cpp.

The child runs `python -m explorer.engine.buildinfo` (only the engine imports llama_cpp); it prints
one line, MARKER followed by JSON.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MARKER = "QWEN3_EXPLORER_BUILDINFO "
NOT_INSTALLED = "llama-cpp-python is not installed"
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds explorer/


@dataclass(frozen=True)
class LlamaBuild:
    """What the installed llama-cpp-python can do, read in a child process."""

    installed: bool
    version: str | None = None
    gpu_offload: bool | None = None  # llama_supports_gpu_offload(); None when unknown
    system_info: str = ""  # llama_print_system_info(), e.g. "CPU : SSE3 = 1 | AVX2 = 1 | ..."
    error: str | None = None
    # The model architectures the build itself names ("qwen3", "qwen3next", ...), read from its own
    # table (llm_arch_name); None when unknown (not checked, or a build that does not export it).
    architectures: frozenset[str] | None = None

    def supports(self, arch: str) -> bool | None:
        """Whether this build can load `arch` models; None when its list is unknown."""
        if self.architectures is None:
            return None
        return arch in self.architectures


def _tail(text: str, limit: int = 600) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    out = " | ".join(lines[-4:])
    return out if len(out) <= limit else "…" + out[-limit:]


def _looks_installed() -> bool:
    """Whether llama_cpp can be found, without importing (and so without running) it."""
    try:
        return importlib.util.find_spec("llama_cpp") is not None
    except (ImportError, ValueError):
        return False


def _child_env() -> dict[str, str]:
    """Let the child import `explorer` even when the app was started from another folder."""
    env = dict(os.environ)
    parts = [str(_PACKAGE_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


def _parse(stdout: str) -> dict[str, object] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            try:
                data = json.loads(line[len(MARKER):])
            except ValueError:
                return None
            return data if isinstance(data, dict) else None
    return None


def probe_llama_build(timeout: float = 60, *, command: Sequence[str] | None = None) -> LlamaBuild:
    """Ask a child process what llama-cpp-python supports. Never raises.

    `command` replaces the child's command line (tests use it to simulate crashes and missing installs).
    """
    cmd = list(command) if command is not None else [sys.executable, "-m", "explorer.engine.buildinfo"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout,
                              env=_child_env(), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return LlamaBuild(installed=_looks_installed(),
                          error=f"checking llama-cpp-python took longer than {timeout:g} s; gave up")
    except OSError as e:
        return LlamaBuild(installed=_looks_installed(), error=f"could not start the llama.cpp check: {e}")

    data = _parse(proc.stdout)
    if proc.returncode == 0 and data is not None:
        if not data.get("installed"):
            return LlamaBuild(installed=False, error=str(data.get("error") or NOT_INSTALLED))
        version = data.get("version")
        offload = data.get("gpu_offload")
        archs = data.get("architectures")
        return LlamaBuild(
            installed=True,
            version=str(version) if version else None,
            gpu_offload=offload if isinstance(offload, bool) else None,
            system_info=str(data.get("system_info") or ""),
            architectures=(frozenset(a for a in archs if isinstance(a, str) and a)
                           if isinstance(archs, list) and archs else None),
        )

    detail = _tail(proc.stderr) or _tail(proc.stdout)
    if proc.returncode < 0:
        try:
            sig = signal.Signals(-proc.returncode).name
        except ValueError:
            sig = f"signal {-proc.returncode}"
        what = f"importing llama-cpp-python crashed the process ({sig})"
    elif proc.returncode != 0:
        what = f"importing llama-cpp-python failed (exit code {proc.returncode})"
    else:
        what = "the llama.cpp check gave no answer that could be read"
    return LlamaBuild(installed=_looks_installed(), error=f"{what}: {detail}" if detail else what)

