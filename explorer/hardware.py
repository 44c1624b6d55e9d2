"""Probe the machine: RAM, GPUs and their VRAM, CPU features, free disk, llama.cpp offload support.

Every source may be missing or fail (no NVML, no GPU, a container with limits, a sandbox without
/sys): the probe records what it could not read in `Hardware.notes` and never raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GPU:
    index: int
    vendor: str  # "nvidia" | "amd" | "apple" | "intel"
    name: str
    vram_total: int  # bytes; for Apple: the share of unified memory Metal may use
    vram_free: int | None  # bytes, None when the driver does not say
    unified: bool = False  # memory shared with the CPU (Apple Silicon)
    bandwidth: float | None = None  # bytes/s, from a table of known cards or the driver


@dataclass(frozen=True)
class CPUInfo:
    model: str
    physical_cores: int | None
    logical_cores: int
    flags: frozenset[str] = frozenset()  # lower-case: "avx", "avx2", "fma", "f16c", "avx512f", "amx_tile", "neon" ...

    @property
    def has_avx2(self) -> bool:
        return "avx2" in self.flags

    @property
    def has_avx512(self) -> bool:
        return "avx512f" in self.flags

    @property
    def has_amx(self) -> bool:
        return any(f.startswith("amx") for f in self.flags)


@dataclass(frozen=True)
class LlamaBuild:
    """What the installed llama-cpp-python can do, read in a child process."""

    installed: bool
    version: str | None = None
    gpu_offload: bool | None = None  # llama_supports_gpu_offload(); None when unknown
    system_info: str = ""  # llama_print_system_info(), e.g. "CPU : SSE3 = 1 | AVX2 = 1 | ..."
    error: str | None = None


@dataclass(frozen=True)
class Hardware:
    ram_total: int  # bytes, the container limit when lower than the physical RAM
    ram_available: int
    cpu: CPUInfo
    gpus: tuple[GPU, ...] = ()
    disk_path: str = ""
    disk_free: int | None = None
    llama: LlamaBuild = field(default_factory=lambda: LlamaBuild(installed=False))
    ram_bandwidth: float | None = None  # bytes/s estimate for system memory
    notes: tuple[str, ...] = ()  # what could not be read, and warnings for the user

    @property
    def vram_total(self) -> int:
        return sum(g.vram_total for g in self.gpus)

    @property
    def offload_possible(self) -> bool:
        """A GPU is there and the llama.cpp build can use it."""
        return bool(self.gpus) and self.llama.gpu_offload is True
