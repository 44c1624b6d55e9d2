"""What the hardware probe found: plain frozen facts about the CPU, the GPUs, RAM and disk."""

from __future__ import annotations

from dataclasses import dataclass, field

from explorer.hardware.llama_build import LlamaBuild


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
    # Calibrated from the speeds measured here (machine_store); None: the estimate's defaults.
    cpu_efficiency: float | None = None
    gpu_efficiency: float | None = None
    measured_speeds: tuple[tuple[str, float], ...] = ()  # (file name, median measured tokens/s)

    def measured_speed(self, file_name: str) -> float | None:
        return next((s for name, s in self.measured_speeds if name == file_name), None)

    @property
    def vram_total(self) -> int:
        return sum(g.vram_total for g in self.gpus)

    @property
    def offload_possible(self) -> bool:
        """A GPU is there and the llama.cpp build can use it (or has not said it cannot)."""
        # Unknown (llama.cpp not checked or not installed yet) is not "no": the verdict then speaks
        # of the hardware, and a separate warning speaks of the build.
        return bool(self.gpus) and self.llama.gpu_offload is not False
