"""The model browser's item models: qtmodeltester, filters, sorting on raw values."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from explorer.catalog.snapshot import Catalog
from explorer.fit.batch import compute_fits
from explorer.fit.estimate import Verdict
from explorer.gguf.variant import Variant
from explorer.hardware.facts import Hardware
from ui.fmt import format_ctx, parse_ctx, verdict_text
from ui.models.table import (
    FIT_ROLE,
    ROW_ROLE,
    SORT_ROLE,
    Column,
    ModelFilterProxy,
    ModelTableModel,
    Row,
    make_proxy,
    rows_from_catalog,
)


def fitted_model(catalog: Catalog, hw: Hardware, ctx: int = 8192) -> ModelTableModel:
    model = ModelTableModel()
    model.set_rows(rows_from_catalog(catalog))
    pairs = [(r.model, r.file) for r in model.rows]
    model.set_fits(compute_fits(pairs, hw, ctx, "f16").fits)
    return model


@pytest.fixture
def table(fake_catalog: Catalog, fake_hardware: Hardware) -> ModelTableModel:
    return fitted_model(fake_catalog, fake_hardware)


def column_texts(model, column: Column) -> list[str]:
    return [model.index(r, column).data() for r in range(model.rowCount())]


def test_model_passes_qtmodeltester(qtmodeltester, table: ModelTableModel) -> None:
    qtmodeltester.check(table)


def test_empty_and_unfitted_models_pass_qtmodeltester(qtmodeltester, fake_catalog) -> None:
    empty = ModelTableModel()
    qtmodeltester.check(empty)
    unfitted = ModelTableModel()
    unfitted.set_rows(rows_from_catalog(fake_catalog))
    qtmodeltester.check(unfitted)
    assert column_texts(unfitted, Column.VERDICT) == ["…"] * unfitted.rowCount()


def test_proxy_passes_qtmodeltester(qtmodeltester, table: ModelTableModel) -> None:
    proxy = make_proxy(table)
    proxy.sort(Column.NEEDS, Qt.SortOrder.DescendingOrder)
    proxy.set_variants([Variant.HYBRID])
    qtmodeltester.check(proxy)


def test_display_columns(table: ModelTableModel) -> None:
    rows = table.rows
    assert len(rows) == 7
    split = next(i for i, r in enumerate(rows) if r.file.is_split)
    assert table.index(split, Column.FILE_SIZE).data().startswith("≈ ")
    assert "2 shards" in table.index(split, Column.FILE_SIZE).data()
    exact = next(i for i, r in enumerate(rows) if not r.file.size_is_estimate)
    assert "≈" not in table.index(exact, Column.FILE_SIZE).data()
    assert table.index(0, Column.VARIANT).data() == "Hybrid"
    assert table.index(0, Column.SIZE).data() == "0.6B"
    assert table.index(0, Column.REPO).data() == "Qwen/Qwen3-0.6B-GGUF"
    for r, row in enumerate(rows):
        assert row.fit is not None
        assert table.index(r, Column.VERDICT).data() == verdict_text(row.fit)
        assert table.index(r, Column.VERDICT).data(FIT_ROLE) is row.fit
        assert table.index(r, Column.NEEDS).data(SORT_ROLE) == row.fit.total
        assert isinstance(table.index(r, 0).data(ROW_ROLE), Row)
        speed = table.index(r, Column.SPEED).data()
        assert speed.endswith("tok/s") or speed == "–"


def test_verdict_text_for_partial_offload(hardware_factory, fake_catalog) -> None:
    # 8B Q8_0 (~8.7 GB) on a 6 GB card: only some layers fit.
    model = fitted_model(fake_catalog, hardware_factory(vram=6, vram_free=6))
    partial = [r for r in model.rows if r.fit and r.fit.verdict is Verdict.PARTIAL]
    assert partial
    r = model.rows.index(partial[0])
    fit = partial[0].fit
    assert model.index(r, Column.VERDICT).data() == f"partial {fit.gpu_layers}/{fit.n_layers}"


def test_filters_change_the_row_count(table: ModelTableModel) -> None:
    proxy = make_proxy(table)
    assert proxy.rowCount() == 7

    proxy.set_variants([Variant.HYBRID])
    assert proxy.rowCount() == 4
    proxy.set_variants([Variant.HYBRID, Variant.CODER])
    assert proxy.rowCount() == 5
    proxy.set_variants([])
    assert proxy.rowCount() == 7

    proxy.set_size_labels(["30B-A3B"])
    assert proxy.rowCount() == 3
    proxy.set_quants(["q8_0"])
    assert proxy.rowCount() == 1
    proxy.set_size_labels([])
    assert proxy.rowCount() == 3  # Q8_0 of each of the three models that have one
    proxy.set_quants([])

    proxy.set_text("coder")
    assert proxy.rowCount() == 1
    proxy.set_text("qwen3-8b q4_k_m")  # every word must match
    assert proxy.rowCount() == 1
    proxy.set_text("unsloth")
    assert proxy.rowCount() == 3
    proxy.set_text("")
    assert proxy.rowCount() == 7


def test_verdict_filters(hardware_factory, fake_catalog) -> None:
    # 16 GB of RAM, 12 free, 8 GB GPU: the big MoE quants do not fit anywhere.
    model = fitted_model(fake_catalog, hardware_factory(ram=16, ram_free=12))
    verdicts = [r.fit.verdict for r in model.rows if r.fit]
    assert Verdict.NO_FIT in verdicts and Verdict.FULL_GPU in verdicts
    proxy = make_proxy(model)

    proxy.set_hide_no_fit(True)
    assert proxy.rowCount() == sum(v is not Verdict.NO_FIT for v in verdicts)
    proxy.set_hide_no_fit(False)

    proxy.set_verdicts([Verdict.FULL_GPU])
    assert proxy.rowCount() == verdicts.count(Verdict.FULL_GPU)
    shown = {proxy.index(r, 0).data(ROW_ROLE).fit.verdict for r in range(proxy.rowCount())}
    assert shown == {Verdict.FULL_GPU}
    proxy.set_verdicts([Verdict.NO_FIT])
    assert proxy.rowCount() == verdicts.count(Verdict.NO_FIT)


def test_verdict_filter_hides_rows_without_a_fit(fake_catalog) -> None:
    model = ModelTableModel()
    model.set_rows(rows_from_catalog(fake_catalog))
    proxy = make_proxy(model)
    proxy.set_hide_no_fit(True)
    assert proxy.rowCount() == 7  # unknown is not "does not fit"
    proxy.set_verdicts([Verdict.FULL_GPU])
    assert proxy.rowCount() == 0


def test_sorting_uses_raw_numbers(table: ModelTableModel) -> None:
    proxy = make_proxy(table)

    def sorted_by(column: Column, order: Qt.SortOrder) -> list[object]:
        proxy.sort(column, order)
        return [proxy.index(r, column).data(SORT_ROLE) for r in range(proxy.rowCount())]

    sizes = sorted_by(Column.FILE_SIZE, Qt.SortOrder.AscendingOrder)
    assert sizes == sorted(sizes)
    # As text "≈ 17.4 GiB" < "≈ 5.1 GiB" < "512 MiB": the raw order is different from the text order.
    texts = [proxy.index(r, Column.FILE_SIZE).data() for r in range(proxy.rowCount())]
    assert texts != sorted(texts)

    params = sorted_by(Column.SIZE, Qt.SortOrder.DescendingOrder)
    assert params == sorted(params, reverse=True)
    assert proxy.index(0, Column.SIZE).data() == "30B-A3B"
    assert proxy.index(proxy.rowCount() - 1, Column.SIZE).data() == "0.6B"

    needs = sorted_by(Column.NEEDS, Qt.SortOrder.AscendingOrder)
    assert needs == sorted(needs)

    quants = sorted_by(Column.QUANT, Qt.SortOrder.AscendingOrder)
    assert quants == sorted(quants)  # by bits per weight: Q2_K < Q4_K_M < Q8_0
    assert proxy.index(0, Column.QUANT).data() == "Q2_K"


def test_sorting_by_verdict_puts_better_fits_first(hardware_factory, fake_catalog) -> None:
    model = fitted_model(fake_catalog, hardware_factory(ram=16, ram_free=12, vram=6, vram_free=6))
    proxy = make_proxy(model)
    proxy.sort(Column.VERDICT, Qt.SortOrder.AscendingOrder)
    order = {Verdict.FULL_GPU: 0, Verdict.PARTIAL: 1, Verdict.CPU_ONLY: 2, Verdict.NO_FIT: 3}
    fits = [proxy.index(r, 0).data(ROW_ROLE).fit for r in range(proxy.rowCount())]
    ranks = [order[f.verdict] for f in fits]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) >= 3
    partial = [f.gpu_layers for f in fits if f.verdict is Verdict.PARTIAL]
    assert partial == sorted(partial, reverse=True)  # more layers on the GPU first


def test_rows_without_fit_sort_last_both_ways(fake_catalog, fake_hardware) -> None:
    model = fitted_model(fake_catalog, fake_hardware)
    fits = [r.fit for r in model.rows]
    fits[0] = None
    model.set_fits(fits)
    proxy = make_proxy(model)
    for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
        proxy.sort(Column.NEEDS, order)
        assert proxy.index(proxy.rowCount() - 1, Column.NEEDS).data() == "…"


def test_set_fits_keeps_rows_and_emits_data_changed(qtbot, table: ModelTableModel) -> None:
    proxy = ModelFilterProxy()
    proxy.setSourceModel(table)
    before = [r.model.id for r in table.rows]
    with qtbot.waitSignal(table.dataChanged, timeout=1000) as blocker:
        table.clear_fits()
    top_left, bottom_right = blocker.args[:2]
    assert top_left.column() == Column.VERDICT and bottom_right.column() == Column.SPEED
    assert [r.model.id for r in table.rows] == before
    with pytest.raises(ValueError):
        table.set_fits([None])


def test_context_parsing_and_labels() -> None:
    assert parse_ctx("32K") == 32768
    assert parse_ctx(" 40k ") == 40960
    assert parse_ctx("20000") == 20000
    assert parse_ctx("1M") == 1048576
    assert parse_ctx("0") is None
    assert parse_ctx("lots") is None
    assert format_ctx(131072) == "128K"
    assert format_ctx(20000) == "20000"
