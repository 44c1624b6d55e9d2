"""The Models tab's batch: one fit estimate per catalog file, at one context length and KV cache type.

Plain Python, so it runs on any worker thread and is tested without Qt. A batch can be cancelled
between rows (a newer context length supersedes it); one file whose estimate fails does not blank
the others: its fit is None and the reason is in `errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from explorer.catalog.snapshot import CatalogFile, CatalogModel
from explorer.fit.estimate import FitEstimate, estimate_fit
from explorer.gguf.shape import ModelShape
from explorer.hardware.facts import Hardware

# Shapes read from real GGUF headers, keyed by (repo, shards).
ExactShapes = Mapping[tuple[str, tuple[str, ...]], ModelShape]


class FitsCancelled(Exception):
    """The batch noticed `cancelled()` between two rows and stopped."""


@dataclass(frozen=True)
class FitBatch:
    """The outcome of one recomputation: a fit (or None) per row, in row order."""

    ctx: int
    kv_type: str
    fits: tuple[FitEstimate | None, ...]
    errors: tuple[str, ...] = field(default=())


def compute_fits(pairs: Sequence[tuple[CatalogModel, CatalogFile]], hw: Hardware, ctx: int, kv_type: str, *,
                 exact: ExactShapes | None = None,
                 cancelled: Callable[[], bool] | None = None) -> FitBatch:
    """Fit every file in order; raises FitsCancelled when `cancelled()` turns true between rows.

    `exact` shapes replace the catalog's estimated shape for those files.
    """
    fits: list[FitEstimate | None] = []
    errors: list[str] = []
    for model, file in pairs:
        if cancelled is not None and cancelled():
            raise FitsCancelled(f"cancelled after {len(fits)} of {len(pairs)} files")
        try:
            shape = (exact or {}).get((file.repo, file.shards)) or model.shape_for(file)
            fits.append(estimate_fit(shape, hw, ctx=ctx, kv_type=kv_type))
        except Exception as exc:  # one odd file must not blank the whole table
            fits.append(None)
            errors.append(f"{model.id} {file.quant}: {exc!r}")
    return FitBatch(ctx, kv_type, tuple(fits), tuple(errors))
