"""The probe's findings as (label, value) rows a person reads; the CLI prints them, the GUI lays them out."""

from __future__ import annotations

from explorer.hardware.facts import GPU, CPUInfo, Hardware
from explorer.hardware.llama_build import NOT_INSTALLED
from explorer.units import format_bandwidth, format_bytes

_FEATURE_LABELS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("avx",), "AVX"), (("avx2",), "AVX2"), (("fma",), "FMA"), (("f16c",), "F16C"),
    (("avx512f",), "AVX-512"), (("avx512_vnni", "avx_vnni"), "VNNI"), (("avx512_bf16",), "AVX-512 BF16"),
    (("amx_tile", "amx_int8", "amx_bf16"), "AMX"),
    (("neon",), "NEON"), (("dotprod",), "DOTPROD"), (("i8mm",), "I8MM"), (("sve",), "SVE"),
)


def cpu_features_text(cpu: CPUInfo) -> str:
    """The CPU features llama.cpp cares about, e.g. "AVX AVX2 FMA F16C AVX-512 AMX"."""
    if not cpu.flags:
        return "unknown"
    names = [label for keys, label in _FEATURE_LABELS if any(k in cpu.flags for k in keys)]
    return " ".join(names) if names else "none of AVX/AVX2/AVX-512/NEON"


def _gpu_text(g: GPU) -> str:
    bw = f", {format_bandwidth(g.bandwidth)}" if g.bandwidth else ""
    if g.unified:
        return f"{g.name}: {format_bytes(g.vram_total)} of unified memory usable by the GPU{bw}"
    free = f", {format_bytes(g.vram_free)} free" if g.vram_free is not None else ", free unknown"
    return f"{g.name}: {format_bytes(g.vram_total)} VRAM{free}{bw}"


def describe(hw: Hardware) -> list[tuple[str, str]]:
    """(label, value) rows a person reads: what the probe found. The CLI prints them, the GUI lays them out."""
    cpu = hw.cpu
    cores = (f"{cpu.physical_cores} cores, {cpu.logical_cores} threads" if cpu.physical_cores
             else f"{cpu.logical_cores} logical cores")
    rows = [
        ("CPU", f"{cpu.model}, {cores}"),
        ("CPU features", cpu_features_text(cpu)),
        ("RAM", f"{format_bytes(hw.ram_total)} total, {format_bytes(hw.ram_available)} available"
         if hw.ram_total else "unknown"),
    ]
    if not hw.gpus:
        rows.append(("GPU", "none found"))
    for g in hw.gpus:
        label = "GPU" if len(hw.gpus) == 1 else f"GPU {g.index}" if g.vendor != "amd" else f"AMD GPU {g.index}"
        rows.append((label, _gpu_text(g)))
    rows.append(("Memory bandwidth", f"RAM {format_bandwidth(hw.ram_bandwidth)} (measured)"
                 if hw.ram_bandwidth else "RAM not measured"))
    rows.append(("Disk free", f"{format_bytes(hw.disk_free)} ({hw.disk_path})" if hw.disk_path
                 else format_bytes(hw.disk_free)))
    llama = hw.llama
    if llama.installed:
        mode = "GPU offload" if llama.gpu_offload else "CPU only" if llama.gpu_offload is False else "offload unknown"
        text = f"{llama.version or 'unknown version'}, {mode}" if not llama.error else f"error: {llama.error}"
    else:
        text = "not installed" if llama.error in (None, NOT_INSTALLED) else llama.error or "not installed"
    rows.append(("llama.cpp", text))
    return rows
