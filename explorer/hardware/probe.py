"""Probe the machine: RAM, GPUs and their VRAM, CPU features, free disk, llama.cpp offload support.

Every source may be missing or fail (no NVML, no GPU, a container with limits, a sandbox without
/sys): the probe records what it could not read in `Hardware.notes` and never raises. The readers
live in `system` (RAM, CPU, disk), `gpus` and `bandwidth`; the warnings in `advice`.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

from explorer.errors import describe_error
from explorer.hardware.advice import llama_warnings
from explorer.hardware.bandwidth import BandwidthSample
from explorer.hardware.bandwidth import measure_bandwidth as measure_copy_bandwidth
from explorer.hardware.facts import GPU, CPUInfo, Hardware
from explorer.hardware.gpus import amd_gpus, apple_gpus, nvidia_gpus
from explorer.hardware.llama_build import NOT_INSTALLED, LlamaBuild, probe_llama_build
from explorer.hardware.machine_store import MachineStore, efficiencies, machine_key, measured_by_file
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
    remeasure: bool = False,
    store: MachineStore | None = None,
) -> Hardware:
    """Read everything the fit estimate needs. Never raises; what could not be read goes to `notes`.

    The memory bandwidth is measured once per machine and kept (`store`); `remeasure` measures it
    again. The speeds measured here calibrate the predictions (`Hardware.cpu_efficiency` ...).
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

    store = store or MachineStore()
    key = machine_key(cpu, ram_total, gpus)
    ram_bandwidth: float | None = None
    kept = guarded("Memory bandwidth", lambda: store.bandwidth(key), None) if measure_bandwidth else None
    # Two buffers of `size` are allocated: in a small container that must not invite the OOM killer.
    size = min(128 * MIB, ram_available // 16)
    if kept is not None and not remeasure:
        sample, date = kept
        ram_bandwidth = sample.median
        notes.append(f"Memory bandwidth: {format_bandwidth(sample.median)}, the median of {len(sample.passes)} "
                     f"passes measured {date[:10] or 'earlier'} and kept for this machine (Re-detect hardware, or "
                     "`qwen3-explorer hardware --remeasure`, measures it again); real token speed is lower")
    elif measure_bandwidth and size < 16 * MIB:
        notes.append("Memory bandwidth: not measured, too little free memory")
    elif measure_bandwidth:
        measured: BandwidthSample | None = guarded("Memory bandwidth", lambda: measure_copy_bandwidth(size), None)
        if measured is not None and measured.median > 0:
            ram_bandwidth = measured.median
            guarded("Memory bandwidth", lambda: store.save_bandwidth(key, measured), None)
            notes.append(f"Memory bandwidth: measured {format_bandwidth(measured.median)}, the median of "
                         f"{len(measured.passes)} passes copying a buffer in RAM ({measured.seconds:.1f} s, "
                         f"passes within {measured.spread:.0%}); real token speed is lower")

    speeds = guarded("Calibration", lambda: store.speeds(key), [])
    cpu_eff, gpu_eff = efficiencies(speeds)
    if speeds:
        parts = [f"{name} {value:.2f}" for name, value in (("CPU", cpu_eff), ("GPU", gpu_eff)) if value is not None]
        notes.append(f"Speed predictions calibrated by {len(speeds)} answers measured here"
                     + (f" (efficiency {', '.join(parts)})" if parts else ""))

    notes = llama_warnings(cpu, gpus, build, system) + notes
    return Hardware(ram_total=ram_total, ram_available=ram_available, cpu=cpu, gpus=tuple(gpus),
                    disk_path=str(models_dir), disk_free=disk_free, llama=build, ram_bandwidth=ram_bandwidth,
                    notes=tuple(notes), cpu_efficiency=cpu_eff, gpu_efficiency=gpu_eff,
                    measured_speeds=measured_by_file(speeds))
