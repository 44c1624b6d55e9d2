"""Probe the machine: RAM, GPUs and their VRAM, CPU features, free disk, llama.cpp offload support.

Every source may be missing or fail (no NVML, no GPU, a container with limits, a sandbox without
/sys): the probe records what it could not read in `Hardware.notes` and never raises. The readers
live in `system` (RAM, CPU, disk), `gpus` and `bandwidth`; the warnings in `advice`.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from explorer.errors import describe_error
from explorer.hardware.advice import llama_warnings
from explorer.hardware.bandwidth import measure_ram_bandwidth
from explorer.hardware.facts import GPU, CPUInfo, Hardware
from explorer.hardware.gpus import amd_gpus, apple_gpus, nvidia_gpus
from explorer.hardware.llama_build import NOT_INSTALLED, LlamaBuild, probe_llama_build
from explorer.hardware.system import core_counts, cpu_linux, cpu_macos, read_disk_free, read_ram, run_sysctl
from explorer.units import MIB, format_bandwidth


def probe_hardware(
    models_dir: Path,
    *,
    sysfs_root: Path = Path("/sys"),
    proc_root: Path = Path("/proc"),
    nvml: object | None = None,
    sysctl: Callable[[str], str | None] | None = None,
    system: str | None = None,
    machine: str | None = None,
    llama: LlamaBuild | None = None,
    measure_bandwidth: bool = True,
) -> Hardware:
    """Read everything the fit estimate needs. Never raises; what could not be read goes to `notes`.

    The keyword arguments let tests feed fake /sys and /proc trees, a fake NVML module, fake macOS
    sysctl answers, a fake platform and a ready llama.cpp build description.
    """
    notes: list[str] = []
    system = system if system is not None else platform.system()
    machine = machine if machine is not None else platform.machine()
    ask = sysctl if sysctl is not None else run_sysctl

    def guarded(what: str, fn: Callable[[], Any], default: Any) -> Any:
        try:
            return fn()
        except Exception as e:  # a bug or a very odd machine must not stop the app from starting
            notes.append(f"{what}: unexpected error ({describe_error(e, with_type=True)})")
            return default

    if system == "Darwin":
        cpu = guarded("CPU", lambda: cpu_macos(ask, notes), None)
    elif system == "Linux":
        cpu = guarded("CPU", lambda: cpu_linux(proc_root, notes), None)
    else:
        cpu = None
    if cpu is None:
        physical, logical = core_counts()
        cpu = CPUInfo(platform.processor() or machine or "unknown CPU", physical, logical)
        if system not in ("Darwin", "Linux"):
            notes.append(f"CPU: features are not read on {system or 'this system'}")

    ram_total, ram_available = guarded("RAM", lambda: read_ram(sysfs_root, notes), (0, 0))

    gpus: list[GPU] = []
    if system == "Darwin" and machine == "arm64":
        gpus += guarded("Apple", lambda: apple_gpus(ask, cpu.model, ram_total, notes), [])
    if nvml is not None or system != "Darwin":
        gpus += guarded("NVIDIA", lambda: nvidia_gpus(nvml, notes), [])
    if system == "Linux":
        gpus += guarded("AMD", lambda: amd_gpus(sysfs_root, notes), [])
    elif system != "Darwin":
        notes.append(f"AMD: GPUs are only detected on Linux (through sysfs), not on {system or 'this system'}")

    disk_free = guarded("Disk", lambda: read_disk_free(models_dir, notes), None)

    build: LlamaBuild
    if llama is None:
        build = guarded("llama.cpp", probe_llama_build, LlamaBuild(installed=False, error="the check failed"))
    else:
        build = llama
    if not build.installed and build.error and build.error != NOT_INSTALLED:
        notes.append(f"llama.cpp: {build.error}")

    ram_bandwidth: float | None = None
    # Two buffers of `size` are allocated: in a small container that must not invite the OOM killer.
    size = min(128 * MIB, ram_available // 16)
    if measure_bandwidth and size < 16 * MIB:
        notes.append("Memory bandwidth: not measured, too little free memory")
    elif measure_bandwidth:
        start = time.perf_counter()
        ram_bandwidth = guarded("Memory bandwidth", lambda: measure_ram_bandwidth(size), None)
        if ram_bandwidth:
            notes.append(f"Memory bandwidth: measured {format_bandwidth(ram_bandwidth)} by copying a buffer "
                         f"in RAM ({time.perf_counter() - start:.2f} s); real token speed is lower")

    notes = llama_warnings(cpu, gpus, build, system) + notes
    return Hardware(ram_total=ram_total, ram_available=ram_available, cpu=cpu, gpus=tuple(gpus),
                    disk_path=str(models_dir), disk_free=disk_free, llama=build, ram_bandwidth=ram_bandwidth,
                    notes=tuple(notes))
