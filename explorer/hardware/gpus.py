"""GPUs and their memory: NVIDIA through NVML, AMD through amdgpu's sysfs files, Apple through sysctl.

Each reader appends what it could not read to `notes` instead of raising.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

from explorer.errors import describe_error
from explorer.hardware.facts import GPU
from explorer.hardware.system import Sysctl, read_int, read_text, sysctl_int
from explorer.units import GIB, MIB, format_bytes

# Peak unified-memory bandwidth in GB/s as Apple states it (for binned Max chips, the full chip's).
APPLE_BANDWIDTH_GBS: dict[str, float] = {
    "M1": 68.25, "M1 Pro": 200, "M1 Max": 400, "M1 Ultra": 800,
    "M2": 100, "M2 Pro": 200, "M2 Max": 400, "M2 Ultra": 800,
    "M3": 100, "M3 Pro": 150, "M3 Max": 400, "M3 Ultra": 819,
    "M4": 120, "M4 Pro": 273, "M4 Max": 546,
}
_APPLE_CHIP_RE = re.compile(r"\b(M\d+)(?:\s+(Pro|Max|Ultra))?\b")
_MIN_DISCRETE_VRAM = GIB  # AMD APUs report a small BIOS carve-out as "VRAM"


def _cuda_visible_devices() -> set[int] | None:
    """The GPU indices CUDA_VISIBLE_DEVICES leaves to CUDA programs; None when it does not restrict.

    NVML sees every GPU regardless, but llama.cpp can use only these. UUID entries are not mapped
    (None: no restriction assumed).
    """
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    visible: set[int] = set()
    for p in parts:  # CUDA stops at the first entry that is not a device: "-1" or "" hides all
        if p.startswith("GPU-") or p.startswith("MIG-"):
            return None
        if not p.isdigit():
            break
        visible.add(int(p))
    return visible


def nvidia_gpus(nvml: object | None, notes: list[str]) -> list[GPU]:
    lib: Any = nvml
    if lib is None:
        try:
            import pynvml

            lib = pynvml
        except ImportError:
            notes.append("NVIDIA: nvidia-ml-py (pynvml) is not installed; NVIDIA GPUs are not detected")
            return []
    try:
        lib.nvmlInit()
    except Exception as e:
        if "LibraryNotFound" in type(e).__name__ or "not found" in str(e).lower():
            notes.append("NVIDIA: NVML library not found (no NVIDIA driver)")
        else:
            notes.append(f"NVIDIA: NVML did not start ({describe_error(e, with_type=True)})")
        return []
    gpus: list[GPU] = []
    visible = _cuda_visible_devices()
    try:
        count = int(lib.nvmlDeviceGetCount())
        if count == 0:
            notes.append("NVIDIA: the driver is loaded but reports no GPUs")
        hidden = [i for i in range(count) if visible is not None and i not in visible]
        if hidden:
            notes.append(f"NVIDIA: GPU {', '.join(map(str, hidden))} hidden from llama.cpp by "
                         f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')}")
        for i in range(count):
            if i in hidden:
                continue
            try:
                handle = lib.nvmlDeviceGetHandleByIndex(i)
                mem = lib.nvmlDeviceGetMemoryInfo(handle)
                total, free = int(mem.total), int(mem.free)
            except Exception as e:
                notes.append(f"NVIDIA: GPU {i} skipped, its memory could not be read "
                             f"({describe_error(e, with_type=True)})")
                continue
            try:
                raw = lib.nvmlDeviceGetName(handle)
                name = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            except Exception as e:
                name = f"NVIDIA GPU {i}"
                notes.append(f"NVIDIA: GPU {i} name unknown ({describe_error(e, with_type=True)})")
            bandwidth: float | None = None
            try:
                bus_bits = int(lib.nvmlDeviceGetMemoryBusWidth(handle))
                mem_mhz = int(lib.nvmlDeviceGetMaxClockInfo(handle, lib.NVML_CLOCK_MEM))
                # Double data rate: two transfers per clock on the bus.
                bandwidth = bus_bits / 8 * mem_mhz * 1e6 * 2 if bus_bits > 0 and mem_mhz > 0 else None
            except Exception as e:
                notes.append(f"NVIDIA: GPU {i} memory bandwidth unknown ({describe_error(e, with_type=True)})")
            gpus.append(GPU(i, "nvidia", name.strip() or f"NVIDIA GPU {i}", total, free, bandwidth=bandwidth))
    except Exception as e:
        notes.append(f"NVIDIA: could not list the GPUs ({describe_error(e, with_type=True)})")
    finally:
        with contextlib.suppress(Exception):
            lib.nvmlShutdown()
    return gpus


def amd_gpus(sysfs_root: Path, notes: list[str]) -> list[GPU]:
    drm = sysfs_root / "class" / "drm"
    try:
        entries = [p for p in drm.iterdir() if re.fullmatch(r"card\d+", p.name)]  # not card0-DP-1 connectors
    except OSError as e:
        notes.append(f"AMD: cannot read {drm} ({describe_error(e, with_type=True)}); AMD GPUs are not detected")
        return []
    gpus: list[GPU] = []
    for card in sorted(entries, key=lambda p: int(p.name[4:])):
        dev = card / "device"
        if (read_text(dev / "vendor") or "").lower() != "0x1002":
            continue
        device_id = read_text(dev / "device") or "?"
        name = read_text(dev / "product_name") or f"AMD GPU {device_id}"
        total = read_int(dev / "mem_info_vram_total")
        if total is None:
            notes.append(f"AMD: {name} ({card.name}) skipped: cannot read mem_info_vram_total (amdgpu driver?)")
            continue
        if total < _MIN_DISCRETE_VRAM:
            notes.append(f"AMD: {name} ({card.name}) skipped: only {format_bytes(total)} of VRAM, "
                         "an integrated GPU (APU) that shares system RAM")
            continue
        used = read_int(dev / "mem_info_vram_used")
        free = max(0, total - used) if used is not None else None
        if free is None:
            notes.append(f"AMD: {name} ({card.name}): free VRAM unknown (cannot read mem_info_vram_used)")
        gpus.append(GPU(len(gpus), "amd", name, total, free))
    if not gpus and not any("AMD:" in n for n in notes):
        notes.append(f"AMD: no amdgpu devices in {drm}")
    return gpus


def apple_metal_share(memsize: int) -> int:
    """Unified memory macOS lets Metal use by default (recommendedMaxWorkingSetSize, approximately)."""
    return memsize * 2 // 3 if memsize <= 36 * GIB else memsize * 3 // 4


def apple_bandwidth(chip: str) -> float | None:
    """Peak memory bandwidth in bytes/s for an Apple chip name such as "Apple M3 Max"."""
    m = _APPLE_CHIP_RE.search(chip)
    if m is None:
        return None
    key = f"{m.group(1)} {m.group(2)}" if m.group(2) else m.group(1)
    gbs = APPLE_BANDWIDTH_GBS.get(key)
    return gbs * 1e9 if gbs is not None else None


def apple_gpus(sysctl: Sysctl, cpu_model: str, ram_total: int, notes: list[str]) -> list[GPU]:
    memsize = sysctl_int(sysctl, "hw.memsize")
    if memsize is None:
        notes.append("Apple: sysctl hw.memsize unreadable; used the RAM total instead")
        memsize = ram_total
    if memsize <= 0:
        notes.append("Apple: unified memory size unknown; the GPU is not counted")
        return []
    wired_mb = sysctl_int(sysctl, "iogpu.wired_limit_mb") or 0
    if wired_mb > 0:
        share = min(memsize, wired_mb * MIB)
        notes.append(f"Apple: Metal may use {format_bytes(share)} of unified memory (iogpu.wired_limit_mb)")
    else:
        share = apple_metal_share(memsize)
        notes.append(f"Apple: Metal may use about {format_bytes(share)} of {format_bytes(memsize)} unified "
                     "memory (the macOS default; raise it with `sudo sysctl iogpu.wired_limit_mb=N`)")
    chip = cpu_model if "apple" in cpu_model.lower() else "Apple Silicon"
    bandwidth = apple_bandwidth(chip)
    if bandwidth is None:
        notes.append(f"Apple: memory bandwidth of {chip} not in the table")
    return [GPU(0, "apple", chip, share, None, unified=True, bandwidth=bandwidth)]
