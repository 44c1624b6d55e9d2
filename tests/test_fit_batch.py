"""The Models tab's batch of fits, without Qt: one estimate_fit per file, cancellable between rows."""

from __future__ import annotations

import dataclasses

import pytest

from explorer.catalog.snapshot import Catalog
from explorer.fit.batch import FitBatch, FitsCancelled, compute_fits
from explorer.fit.estimate import estimate_fit
from explorer.hardware.facts import Hardware


def pairs_of(catalog: Catalog) -> list:
    return [(m, f) for m in catalog.models for f in m.files]


def test_batch_equals_estimate_fit_per_file(fake_catalog: Catalog, fake_hardware: Hardware) -> None:
    pairs = pairs_of(fake_catalog)
    batch = compute_fits(pairs, fake_hardware, 16384, "q8_0")
    assert isinstance(batch, FitBatch)
    assert (batch.ctx, batch.kv_type, batch.errors) == (16384, "q8_0", ())
    assert batch.fits == tuple(estimate_fit(m.shape_for(f), fake_hardware, ctx=16384, kv_type="q8_0")
                               for m, f in pairs)


def test_exact_shapes_replace_the_catalog_estimate(fake_catalog: Catalog, fake_hardware: Hardware) -> None:
    pairs = pairs_of(fake_catalog)
    (m0, f0), (m1, f1) = pairs[0], pairs[-1]
    other = m1.shape_for(f1)  # any shape that differs from f0's estimate
    batch = compute_fits(pairs, fake_hardware, 8192, "f16", exact={(f0.repo, f0.shards): other})
    assert batch.fits[0] == estimate_fit(other, fake_hardware, ctx=8192, kv_type="f16")
    assert batch.fits[0] != estimate_fit(m0.shape_for(f0), fake_hardware, ctx=8192, kv_type="f16")
    assert batch.fits[1:] == compute_fits(pairs[1:], fake_hardware, 8192, "f16").fits


def test_one_bad_file_leaves_a_gap_and_a_reason(fake_catalog: Catalog, fake_hardware: Hardware) -> None:
    pairs = pairs_of(fake_catalog)
    model, file = pairs[1]
    pairs[1] = (model, dataclasses.replace(file, quant="NOPE"))
    batch = compute_fits(pairs, fake_hardware, 4096, "f16")
    assert batch.fits[1] is None and all(f is not None for i, f in enumerate(batch.fits) if i != 1)
    assert len(batch.errors) == 1 and batch.errors[0].startswith(f"{model.id} NOPE:")
    assert "unknown quant type" in batch.errors[0]


def test_cancellation_stops_between_rows(fake_catalog: Catalog, fake_hardware: Hardware) -> None:
    pairs = pairs_of(fake_catalog)
    asked: list[int] = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) > 3  # three rows run, then the batch is superseded

    with pytest.raises(FitsCancelled, match="after 3 of"):
        compute_fits(pairs, fake_hardware, 4096, "f16", cancelled=cancelled)
    assert len(asked) == 4
    # Never cancelled: asked once per row, and every row is fitted.
    asked.clear()
    batch = compute_fits(pairs, fake_hardware, 4096, "f16", cancelled=lambda: bool(asked.append(1)))
    assert len(asked) == len(pairs) == len(batch.fits)
