"""Advice about the llama.cpp build on this hardware: warnings and the command that rebuilds it."""

from __future__ import annotations

import platform
import re

from explorer.hardware.facts import GPU, CPUInfo, Hardware
from explorer.hardware.llama_build import NOT_INSTALLED, LlamaBuild

WARNING_PREFIX = "Warning:"
LLAMA_CPP_VERSION = "0.3.36"  # the version pyproject.toml pins
# A native build on AMX CPUs crashes in llama_decode on quantized models (DESIGN.md); these flags do not.
PORTABLE_CPU_FLAGS = "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
GPU_CMAKE_FLAGS = {"nvidia": "-DGGML_CUDA=on", "amd": "-DGGML_HIP=on", "apple": "-DGGML_METAL=on",
                   "intel": "-DGGML_SYCL=on"}
VENDOR_NAMES = {"nvidia": "NVIDIA", "amd": "AMD", "apple": "Apple", "intel": "Intel"}
_AMX_ENABLED_RE = re.compile(r"\bAMX\w*\s*=\s*1\b")


def _install_command(flags: list[str], system: str) -> str:
    pip = f"pip install --force-reinstall --no-cache-dir llama-cpp-python=={LLAMA_CPP_VERSION}"
    if not flags:
        return pip
    cmake = " ".join(flags)
    if system == "Windows":
        return f'$env:CMAKE_ARGS = "{cmake}"; {pip}'
    return f'CMAKE_ARGS="{cmake}" {pip}'


def _build_flags(cpu: CPUInfo, gpus: tuple[GPU, ...] | list[GPU]) -> list[str]:
    """CMAKE_ARGS for a build that uses the GPU here and does not crash on this CPU."""
    flags: list[str] = []
    for vendor in dict.fromkeys(g.vendor for g in gpus):
        if vendor in GPU_CMAKE_FLAGS:
            flags.append(GPU_CMAKE_FLAGS[vendor])
    if cpu.has_amx:
        flags.extend(PORTABLE_CPU_FLAGS.split())
    return flags


def llama_warnings(cpu: CPUInfo, gpus: tuple[GPU, ...] | list[GPU], llama: LlamaBuild,
                   system: str | None = None) -> list[str]:
    """Warnings (each starting with "Warning:") about the llama.cpp build on this hardware."""
    system = system or platform.system()
    out: list[str] = []
    command = _install_command(_build_flags(cpu, gpus), system)
    if not llama.installed:
        if llama.error == NOT_INSTALLED:
            out.append(f"{WARNING_PREFIX} llama-cpp-python is not installed, so no model can be loaded. "
                       f"Install it with: {command}")
        return out
    if llama.error:
        hint = ""
        if "SIGILL" in llama.error:
            hint = (" SIGILL means it was built for a different CPU; rebuild it here: "
                    + _install_command(_build_flags(cpu, gpus) or PORTABLE_CPU_FLAGS.split(), system))
        out.append(f"{WARNING_PREFIX} llama-cpp-python is installed but could not be checked: {llama.error}.{hint}")
    if gpus and llama.gpu_offload is False:
        vendors = " and ".join(dict.fromkeys(VENDOR_NAMES.get(g.vendor, g.vendor) for g in gpus))
        out.append(f"{WARNING_PREFIX} this machine has an {vendors} GPU but the installed llama-cpp-python is a "
                   f"CPU-only build, so models run on the CPU only. Reinstall it with GPU support: {command}")
    if cpu.has_amx and _AMX_ENABLED_RE.search(llama.system_info):
        out.append(f"{WARNING_PREFIX} this CPU has AMX and llama-cpp-python was built natively with AMX enabled; "
                   "such builds are known to crash (segfault) in llama_decode on quantized models. "
                   f"Rebuild it without native CPU tuning: {command}")
    return out


def warnings(hw: Hardware) -> list[str]:
    """The notes the UI should highlight."""
    return [n for n in hw.notes if n.startswith(WARNING_PREFIX)]
