"""The Qwen3 GGUF catalog: variants, sizes, quants and files.

Loaded from the offline snapshot shipped in `assets/catalog.json`; the next issue adds a live refresh
from the Hub. Sizes the Hub has not confirmed are marked `size_is_estimate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from explorer.shape import Architecture, ModelShape, estimate_shape


class Variant(str, Enum):
    BASE = "base"
    HYBRID = "hybrid"  # original Qwen3-*B: thinks by default, enable_thinking switch
    INSTRUCT_2507 = "instruct-2507"  # never thinks
    THINKING_2507 = "thinking-2507"  # always thinks
    CODER = "coder"  # never thinks

    @property
    def label(self) -> str:
        return {"base": "Base", "hybrid": "Hybrid", "instruct-2507": "Instruct-2507",
                "thinking-2507": "Thinking-2507", "coder": "Coder"}[self.value]


@dataclass(frozen=True)
class CatalogFile:
    """One downloadable model: a single GGUF or a set of split shards."""

    repo: str  # e.g. "Qwen/Qwen3-8B-GGUF"
    quant: str  # e.g. "Q4_K_M"
    shards: tuple[str, ...]  # file paths in the repo, in order (one entry when not split)
    size: int  # bytes, all shards together
    size_is_estimate: bool
    sha256: tuple[str | None, ...] = ()  # per shard, when known

    @property
    def filename(self) -> str:
        return self.shards[0]

    @property
    def is_split(self) -> bool:
        return len(self.shards) > 1


@dataclass(frozen=True)
class CatalogModel:
    id: str  # e.g. "Qwen3-30B-A3B-Thinking-2507"
    variant: Variant
    size_label: str  # "0.6B", "30B-A3B", ...
    params_total: float  # billions
    params_active: float  # billions (== total for dense)
    arch: Architecture
    files: tuple[CatalogFile, ...]

    @property
    def is_moe(self) -> bool:
        return self.arch.n_expert > 0

    def shape_for(self, file: CatalogFile) -> ModelShape:
        return estimate_shape(self.arch, file.quant, file.size)


@dataclass(frozen=True)
class Catalog:
    models: tuple[CatalogModel, ...]
    snapshot_date: str  # ISO date of the data
    source: str  # "snapshot" (shipped offline) or "hub"
