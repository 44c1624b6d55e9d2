"""Will this model file run here, and how? A pure function of shape, hardware and settings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from explorer.hardware import Hardware
from explorer.shape import ModelShape


class Verdict(str, Enum):
    FULL_GPU = "full GPU"
    PARTIAL = "partial offload"
    CPU_ONLY = "CPU only"
    NO_FIT = "does not fit"


@dataclass(frozen=True)
class Breakdown:
    """Bytes one device holds for a model."""

    weights: int = 0
    kv: int = 0
    compute: int = 0
    overhead: int = 0

    @property
    def total(self) -> int:
        return self.weights + self.kv + self.compute + self.overhead


@dataclass(frozen=True)
class FitEstimate:
    verdict: Verdict
    gpu_layers: int  # layers placed on the GPU (the output head counts as one, as in llama.cpp)
    n_layers: int  # offloadable layers: blocks + 1 for the output head
    gpu: Breakdown  # bytes in VRAM
    cpu: Breakdown  # bytes in system RAM
    ctx: int
    kv_type: str
    tokens_per_second: float | None  # predicted generation speed, None when it does not fit
    summary: str  # one line a person reads, e.g. "partial offload: 20/37 layers on GPU"

    @property
    def total(self) -> int:
        return self.gpu.total + self.cpu.total


def estimate_fit(shape: ModelShape, hw: Hardware, *, ctx: int, kv_type: str = "f16",
                 reserved_ram: int = 0, reserved_vram: int = 0, n_ubatch: int = 512) -> FitEstimate:
    raise NotImplementedError
