"""The main window with fake services: shows at once, fills in, recomputes fits off the UI thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit

from explorer.catalog.snapshot import Catalog
from explorer.fit.batch import FitBatch
from explorer.fit.estimate import Verdict
from explorer.gguf.variant import Variant
from explorer.hardware.describe import describe
from explorer.hardware.facts import Hardware
from ui.app import load_style_sheet
from ui.main_window import MainWindow
from ui.models.hardware_panel import Banner
from ui.models.table import ROW_ROLE, SORT_ROLE, Column
from ui.services import Services, default_services


class SlowProbe:
    """A probe that blocks until the test releases it (no sleeps)."""

    def __init__(self, hw: Hardware) -> None:
        self.hw = hw
        self.release = threading.Event()
        self.calls = 0

    def __call__(self) -> Hardware:
        self.calls += 1
        if not self.release.wait(20):
            raise TimeoutError("test never released the probe")
        return self.hw


@pytest.fixture
def slow_probe(fake_hardware: Hardware) -> Iterator[SlowProbe]:
    probe = SlowProbe(fake_hardware)
    yield probe
    probe.release.set()


def make_window(qtbot, probe: Callable[[], Hardware], catalog: Catalog, tmp_path: Path) -> MainWindow:
    services = Services(probe_hardware=probe, load_catalog=lambda: catalog, models_dir=tmp_path)
    window = MainWindow(services)
    qtbot.addWidget(window)
    return window


@pytest.fixture
def ready_window(qtbot, fake_hardware, fake_catalog, tmp_path) -> MainWindow:
    """A window whose hardware and fits are in."""
    window = make_window(qtbot, lambda: fake_hardware, fake_catalog, tmp_path)
    window.show()
    tab = window.models_tab
    qtbot.waitUntil(lambda: window.hardware is not None and not tab.fit_runner.busy
                    and bool(tab.table_model.rows) and tab.table_model.rows[0].fit is not None, timeout=10000)
    return window


def source_row(window: MainWindow, model_id: str, quant: str) -> int:
    return next(i for i, r in enumerate(window.models_tab.table_model.rows)
                if r.model.id == model_id and r.file.quant == quant)


def needs(window: MainWindow, row: int) -> int:
    return window.models_tab.table_model.index(row, Column.NEEDS).data(SORT_ROLE)


def test_window_shows_at_once_and_fills_in_when_the_probe_returns(
        qtbot, slow_probe: SlowProbe, fake_catalog, fake_hardware, tmp_path) -> None:
    window = make_window(qtbot, slow_probe, fake_catalog, tmp_path)
    window.show()
    assert window.windowTitle() == "Qwen3 Explorer"
    assert window.probe_status.text() == "Detecting hardware…"
    assert any("Detecting hardware" in v for _k, v in window.hardware_panel.row_texts())

    # The catalog comes in while the probe is still running: rows without fits.
    qtbot.waitUntil(lambda: window.models_tab.table_model.rowCount() == 7, timeout=5000)
    assert window.hardware is None
    assert window.catalog_status.text().startswith("Offline snapshot, 2026-11-25")
    verdicts = [window.models_tab.table_model.index(r, Column.VERDICT).data() for r in range(7)]
    assert verdicts == ["…"] * 7
    assert slow_probe.calls == 1

    with qtbot.waitSignals([window.hardware_ready, window.models_tab.fits_applied], timeout=10000):
        slow_probe.release.set()
    assert window.hardware is fake_hardware
    assert window.hardware_panel.row_texts() == list(describe(fake_hardware))
    assert window.probe_status.text().startswith("Hardware detected")
    verdicts = [window.models_tab.table_model.index(r, Column.VERDICT).data() for r in range(7)]
    assert "…" not in verdicts
    # Something sensible was selected for the detail view and the memory bars.
    row = window.models_tab.current_row()
    assert row is not None and row.fit is not None and row.fit.verdict is Verdict.FULL_GPU
    assert window.models_tab.detail.title.text() == row.model.id
    assert window.hardware_panel.gpu_bars[0].need is not None


def test_redetect_waits_for_the_running_probe(qtbot, slow_probe: SlowProbe, fake_catalog, tmp_path) -> None:
    window = make_window(qtbot, slow_probe, fake_catalog, tmp_path)
    window.show()
    assert not window.redetect_action.isEnabled()
    window.redetect_action.trigger()  # disabled: nothing happens
    window.detect_hardware()  # called directly: still only the one probe
    with qtbot.waitSignal(window.hardware_ready, timeout=10000):
        slow_probe.release.set()
    assert slow_probe.calls == 1
    assert window.redetect_action.isEnabled()
    with qtbot.waitSignal(window.hardware_ready, timeout=10000):
        window.redetect_action.trigger()
    assert slow_probe.calls == 2


def test_probe_failure_is_shown(qtbot, fake_catalog, tmp_path) -> None:
    def broken() -> Hardware:
        raise OSError("no /proc here")

    window = make_window(qtbot, broken, fake_catalog, tmp_path)
    with qtbot.waitSignal(window.probe_runner.error, timeout=5000):
        window.show()
    assert window.probe_status.text() == "Hardware detection failed"
    errors = [b for b in window.hardware_panel.findChildren(Banner) if b.objectName() == "errorBanner"]
    assert errors and "no /proc here" in errors[0].label.text()


def test_bigger_context_needs_more_memory(qtbot, ready_window: MainWindow) -> None:
    window = ready_window
    r = source_row(window, "Qwen3-0.6B", "Q4_K_M")
    before = needs(window, r)
    assert window.models_tab.ctx == 32768

    with qtbot.waitSignal(window.models_tab.fits_applied, timeout=10000) as blocker:
        window.models_tab.set_context(131072)
    assert blocker.args[0].ctx == 131072
    bigger = needs(window, r)
    assert bigger > before
    assert window.models_tab.table_model.index(r, Column.NEEDS).data() != ""

    # Typing into the editable combo does the same.
    edit = window.models_tab.ctx_combo.lineEdit()
    edit.selectAll()
    qtbot.keyClicks(edit, "4K")
    with qtbot.waitSignal(window.models_tab.fits_applied, timeout=10000):
        qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert window.models_tab.ctx == 4096
    assert needs(window, r) < before


def test_quantized_kv_cache_needs_less(qtbot, ready_window: MainWindow) -> None:
    window = ready_window
    r = source_row(window, "Qwen3-8B", "Q4_K_M")
    before = window.models_tab.table_model.rows[r].fit
    assert before is not None
    with qtbot.waitSignal(window.models_tab.fits_applied, timeout=10000):
        window.models_tab.kv_combo.setCurrentIndex(window.models_tab.kv_combo.findData("q4_0"))
    after = window.models_tab.table_model.rows[r].fit
    assert window.models_tab.kv_type == "q4_0" and after is not None and after.kv_type == "q4_0"
    assert after.gpu.kv + after.cpu.kv < before.gpu.kv + before.cpu.kv
    assert needs(window, r) < before.total


def test_selection_updates_detail_and_memory_bars(qtbot, ready_window: MainWindow) -> None:
    window = ready_window
    r = source_row(window, "Qwen3-8B", "Q8_0")
    window.models_tab.select_source_row(r)
    row = window.models_tab.current_row()
    assert row is not None and row.model.id == "Qwen3-8B" and row.file.quant == "Q8_0"
    assert window.models_tab.detail.title.text() == "Qwen3-8B"
    assert window.models_tab.detail.summary.text() == row.fit.summary
    bar = window.hardware_panel.gpu_bars[0]
    assert bar.need is not None and bar.need.total == row.fit.gpu.total

    # After a recomputation the same row stays selected and its new fit is shown.
    with qtbot.waitSignal(window.models_tab.fits_applied, timeout=10000):
        window.models_tab.set_context(65536)
    row2 = window.models_tab.current_row()
    assert row2 is not None and (row2.model.id, row2.file.quant) == ("Qwen3-8B", "Q8_0")
    assert row2.fit is not None and row2.fit.ctx == 65536
    assert window.models_tab.detail.summary.text() == row2.fit.summary


def test_superseded_recomputation_is_dropped(qtbot, ready_window: MainWindow) -> None:
    window = ready_window
    applied: list[FitBatch] = []
    window.models_tab.fits_applied.connect(applied.append)
    r = source_row(window, "Qwen3-0.6B", "Q8_0")

    # Both are submitted before the event loop can deliver anything: the first result is stale.
    with qtbot.waitSignals([window.models_tab.fits_applied, window.models_tab.fit_runner.stale], timeout=10000):
        window.models_tab.set_context(262144)
        first = window.models_tab.fit_runner.generation
        window.models_tab.set_context(8192)
    assert window.models_tab.fit_runner.generation == first + 1
    assert [b.ctx for b in applied] == [8192]
    assert window.models_tab.table_model.rows[r].fit.ctx == 8192


def test_filter_controls_filter_the_table(qtbot, ready_window: MainWindow) -> None:
    window = ready_window
    assert window.models_tab.proxy.rowCount() == 7
    qtbot.keyClicks(window.models_tab.filters.search, "coder")
    assert window.models_tab.proxy.rowCount() == 1
    assert window.models_tab.filters.count_label.text() == "1 of 7 files"
    window.models_tab.filters.search.clear()
    assert window.models_tab.proxy.rowCount() == 7

    window.models_tab.filters.size_combo.setCurrentIndex(window.models_tab.filters.size_combo.findData("8B"))
    assert window.models_tab.proxy.rowCount() == 2
    window.models_tab.filters.size_combo.setCurrentIndex(0)
    window.models_tab.filters.quant_combo.setCurrentIndex(window.models_tab.filters.quant_combo.findData("Q2_K"))
    assert window.models_tab.proxy.rowCount() == 1
    window.models_tab.filters.quant_combo.setCurrentIndex(0)

    window.models_tab.filters.variant_button.set_selected([Variant.INSTRUCT_2507])
    assert window.models_tab.proxy.rowCount() == 2
    assert "Instruct-2507" in window.models_tab.filters.variant_button.text()
    window.models_tab.filters.variant_button.clear()
    assert window.models_tab.proxy.rowCount() == 7

    fits = [r.fit.verdict for r in window.models_tab.table_model.rows if r.fit]
    verdict_combo = window.models_tab.filters.verdict_combo
    verdict_combo.setCurrentIndex(verdict_combo.findText("Full GPU"))
    assert window.models_tab.proxy.rowCount() == fits.count(Verdict.FULL_GPU)
    window.models_tab.filters.verdict_combo.setCurrentIndex(0)
    window.models_tab.filters.hide_no_fit.setChecked(True)
    assert window.models_tab.proxy.rowCount() == sum(v is not Verdict.NO_FIT for v in fits)
    shown = [window.models_tab.proxy.index(i, 0).data(ROW_ROLE) for i in range(window.models_tab.proxy.rowCount())]
    assert all(s.fit.verdict is not Verdict.NO_FIT for s in shown)


def test_style_sheet_applies_without_warnings(qtbot, qapp, ready_window: MainWindow,
                                              cpu_build_hardware) -> None:
    sheet = load_style_sheet()
    assert "QTableView#modelTable" in sheet
    assert "@ICONS@" not in sheet
    old = qapp.styleSheet()
    qapp.setStyleSheet(sheet)
    try:
        ready_window.resize(1400, 900)
        ready_window.hardware_panel.set_hardware(cpu_build_hardware)  # banner with a command
        ready_window.hardware_panel.notes_toggle.click()
        qtbot.waitUntil(lambda: bool(ready_window.hardware_panel.warning_banners)
                        and ready_window.hardware_panel.warning_banners[0].isVisible(), timeout=2000)
        image = ready_window.grab().toImage()
        assert not image.isNull()
    finally:
        qapp.setStyleSheet(old)


def test_default_services_respect_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("QWEN3_EXPLORER_MODELS", str(tmp_path / "m"))
    assert default_services().models_dir == tmp_path / "m"
    monkeypatch.delenv("QWEN3_EXPLORER_MODELS")
    home_cache = Path(default_services().models_dir)
    assert home_cache.parts[-2:] == ("qwen3-explorer", "models")
    assert str(home_cache).startswith(str(Path.home()))  # the isolated test HOME


def test_exact_fit_from_the_hub_replaces_the_estimate(qtbot, fake_hardware, fake_catalog, tmp_path) -> None:
    """The detail view's button reads the header (here: a generated model's) and refits that row."""
    from explorer.gguf.reader import read_shape
    from explorer.testing.models import ensure_model

    real = read_shape(ensure_model("qwen3moe-fit-q8_0"))
    asked: list[tuple[str, tuple[str, ...]]] = []

    def read_remote_shape(repo: str, shards) -> object:
        asked.append((repo, tuple(shards)))
        return real

    services = Services(probe_hardware=lambda: fake_hardware, load_catalog=lambda: fake_catalog,
                        models_dir=tmp_path, read_remote_shape=read_remote_shape)
    window = MainWindow(services)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.hardware is not None and bool(window.models_tab.table_model.rows)
                    and window.models_tab.table_model.rows[0].fit is not None, timeout=10000)
    row_index = source_row(window, "Qwen3-8B", "Q4_K_M")
    window.models_tab.select_source_row(row_index)
    row = window.models_tab.current_row()
    assert row is not None and row.fit is not None and not row.fit.exact
    assert window.models_tab.detail.exact_button.isEnabled()
    with qtbot.waitSignal(window.models_tab.fits_applied, timeout=10000):
        window.models_tab.detail.exact_button.click()
    assert asked == [("Qwen/Qwen3-8B-GGUF", row.file.shards)]
    fit = window.models_tab.table_model.rows[row_index].fit
    assert fit is not None and fit.exact and fit.cpu.weights + fit.gpu.weights >= real.weights_bytes
    exact_button = window.models_tab.detail.exact_button
    assert exact_button.text() == "Exact (GGUF header)" and not exact_button.isEnabled()
    # the exact shape survives a context change
    with qtbot.waitSignal(window.models_tab.fits_applied, timeout=10000):
        window.models_tab.set_context(16384)
    assert window.models_tab.table_model.rows[row_index].fit.exact


def test_chat_tab_is_built_when_opened_with_the_hardware_and_the_library(qtbot, fake_hardware, fake_catalog,
                                                                          tmp_path) -> None:
    from explorer.store.library import scan_library
    from explorer.testing.scripted import ensure_scripted_model

    models_dir = tmp_path / "models"
    models_dir.mkdir()
    demo = models_dir / "qwen3-demo-hybrid-F32.gguf"
    demo.write_bytes(ensure_scripted_model().read_bytes())
    services = Services(probe_hardware=lambda: fake_hardware, load_catalog=lambda: fake_catalog,
                        models_dir=models_dir,
                        scan_library=lambda: scan_library(hub_cache=tmp_path / "hub", models_dir=models_dir),
                        conversations_dir=tmp_path / "conversations")
    window = MainWindow(services)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.hardware is not None, timeout=10_000)
    assert not window.chat_tab_built  # nothing of the chat at start-up
    window.tabs.setCurrentIndex(window.tabs.indexOf(window.chat_placeholder))
    assert window.chat_tab_built
    tab = window.chat_tab
    assert window.tabs.currentWidget() is tab
    assert tab.hardware is fake_hardware
    qtbot.waitUntil(lambda: [m.path for m in tab.models] == [demo], timeout=10_000)
    assert tab.panes[0].model_combo.findData(str(demo)) > 0
    assert tab.store.folder == tmp_path / "conversations"


def test_probes_tab_takes_the_library_selection_and_the_chat_panes(qtbot, fake_hardware, fake_catalog,
                                                                    tmp_path) -> None:
    """Built on first use; the Library's Probe… fills its columns and shows it; "From the chat grid" makes
    one column per pane with that pane's settings (thinking, max tokens, context, mode)."""
    from explorer.store.library import scan_library
    from explorer.testing.scripted import ensure_scripted_model

    models_dir = tmp_path / "models"
    models_dir.mkdir()
    demo = models_dir / "qwen3-demo-hybrid-F32.gguf"
    demo.write_bytes(ensure_scripted_model().read_bytes())
    services = Services(probe_hardware=lambda: fake_hardware, load_catalog=lambda: fake_catalog,
                        models_dir=models_dir,
                        scan_library=lambda: scan_library(hub_cache=tmp_path / "hub", models_dir=models_dir),
                        conversations_dir=tmp_path / "conversations", probe_runs_dir=tmp_path / "runs",
                        votes_file=tmp_path / "votes.jsonl")
    window = MainWindow(services)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.hardware is not None, timeout=10_000)
    window.tabs.setCurrentWidget(window.library_view)
    qtbot.waitUntil(lambda: window.library_view.model.rowCount() == 1, timeout=10_000)
    window.library_view.table.selectRow(0)
    window.library_view.probe_button.click()
    tab = window.probes_tab
    assert window.tabs.currentWidget() is tab and [c.path for c in tab.columns] == [demo]
    assert tab.runs.directory == tmp_path / "runs" and tab.votes.path == tmp_path / "votes.jsonl"

    tab.use_chat_grid()  # the chat tab was never opened
    assert "Chat tab has not been opened" in tab.status.text() and [c.path for c in tab.columns] == [demo]
    chat = window.chat_tab
    qtbot.waitUntil(lambda: bool(chat.models), timeout=10_000)
    a, b = chat.panes
    for pane, thinking in ((a, True), (b, False)):
        pane.select_path(demo)
        st = pane.settings()
        st.max_tokens, st.ctx = 321, 4096
        pane.apply_settings(st)
        qtbot.waitUntil(lambda pane=pane: pane.info is not None, timeout=10_000)
        pane.set_thinking(thinking)
    tab.use_chat_grid()
    assert [c.label for c in tab.columns] == [f"Pane 1 · {a.label()} · thinking on",
                                              f"Pane 2 · {b.label()} · thinking off"]
    assert [c.settings.thinking for c in tab.columns] == [True, False]
    assert {(c.settings.max_tokens, c.settings.ctx, c.settings.mode) for c in tab.columns} == {(321, 4096, "chatroom")}
    assert window._free_chat_models() is None  # nothing loaded, nothing answering: the run may start


def test_redetect_measures_again_reset_forgets_the_speeds_and_the_table_shows_them(
        qtbot, fake_hardware, fake_catalog, tmp_path) -> None:
    from dataclasses import replace as dc_replace

    from ui.models.table import Column

    name = fake_catalog.models[0].files[0].filename.rsplit("/", 1)[-1]
    hw = dc_replace(fake_hardware, measured_speeds=((name, 12.0),))
    calls: list[str] = []

    def probe(kind: str) -> Hardware:
        calls.append(kind)
        return hw

    services = Services(probe_hardware=lambda: probe("probe"), load_catalog=lambda: fake_catalog, models_dir=tmp_path,
                        remeasure_hardware=lambda: probe("remeasure"),
                        reset_calibration=lambda h: calls.append(f"reset {h.cpu.model}"))
    window = MainWindow(services)
    qtbot.addWidget(window)
    window.show()
    model = window.models_tab.table_model
    qtbot.waitUntil(lambda: window.hardware is not None and bool(model.rows) and model.rows[0].fit is not None,
                    timeout=10_000)
    speeds = {model.row_at(r).file.filename.rsplit("/", 1)[-1]: model.index(r, Column.SPEED).data()
              for r in range(len(model.rows))}
    assert speeds[name].endswith(" · ran 12 tok/s") and speeds[name].startswith("~")
    assert not any("ran" in text for n, text in speeds.items() if n != name)
    with qtbot.waitSignal(window.hardware_ready, timeout=10_000):
        window.redetect_action.trigger()
    assert calls == ["probe", "remeasure"]
    with qtbot.waitSignal(window.hardware_ready, timeout=10_000):
        window.reset_calibration_action.trigger()
    assert calls == ["probe", "remeasure", f"reset {hw.cpu.model}", "probe"]


def test_the_guide_is_the_first_tab_and_opens_its_pick_in_the_chat_grid(qtbot, fake_hardware, fake_catalog,
                                                                        tmp_path) -> None:
    from explorer.guide.pick import ChatPane, OpenInChat
    from explorer.store.library import scan_library
    from explorer.testing.scripted import ensure_scripted_model

    model, file = fake_catalog.models[0], fake_catalog.models[0].files[0]
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    local = models_dir / file.filename.rsplit("/", 1)[-1]
    services = Services(probe_hardware=lambda: fake_hardware, load_catalog=lambda: fake_catalog,
                        models_dir=models_dir, conversations_dir=tmp_path / "conversations",
                        scan_library=lambda: scan_library(hub_cache=tmp_path / "hub", models_dir=models_dir))
    window = MainWindow(services)
    qtbot.addWidget(window)
    window.show()
    assert window.tabs.currentWidget() is window.guide_page and window.tabs.tabText(0) == "Guide"
    qtbot.waitUntil(lambda: window.hardware is not None and window.catalog is not None, timeout=10_000)
    request = OpenInChat((ChatPane(model, file, True), ChatPane(model, file, False)), ctx=4096, together=True)
    window.open_guide_pick(request)  # not downloaded yet
    assert "Not on disk yet" in window.statusBar().currentMessage() and not window.chat_tab_built
    local.write_bytes(ensure_scripted_model().read_bytes())
    window.library_view.rescan()
    qtbot.waitUntil(lambda: window.library_view.model.rowCount() == 1, timeout=10_000)
    window.open_guide_pick(request)
    chat = window.chat_tab
    assert window.tabs.currentWidget() is chat and len(chat.panes) == 2
    for pane in chat.panes:
        qtbot.waitUntil(lambda pane=pane: pane.info is not None, timeout=10_000)
    window.open_guide_pick(request)  # again, now that the variant is read: the switches follow the request
    assert [p.model_path() for p in chat.panes] == [local, local]
    assert [p.thinking_on() for p in chat.panes] == [True, False]
    assert {p.settings().ctx for p in chat.panes} == {4096}


def test_compare_headers_opens_non_modal_with_the_files(qtbot, fake_hardware, fake_catalog, tmp_path) -> None:
    window = make_window(qtbot, lambda: fake_hardware, fake_catalog, tmp_path)
    dialog = window.compare_headers("/m/a.gguf", "/m/b.gguf")
    assert dialog.isVisible() and not dialog.isModal()
    texts = [w.text() for w in dialog.findChildren(QLineEdit)]
    assert "/m/a.gguf" in texts and "/m/b.gguf" in texts
    dialog.close()


def test_a_family_tree_box_shows_its_models_in_the_models_tab(qtbot, fake_hardware, fake_catalog, tmp_path) -> None:
    window = make_window(qtbot, lambda: fake_hardware, fake_catalog, tmp_path)
    window.show()
    qtbot.waitUntil(lambda: window.catalog is not None and bool(window.models_tab.table_model.rows), timeout=10_000)
    ids = {fake_catalog.models[0].id}
    window.guide_page.lineage.models_selected.emit(ids)  # what a click on a box sends
    assert window.tabs.currentWidget() is window.models_tab
    proxy = window.models_tab.proxy
    shown = {proxy.index(r, 0).data(ROW_ROLE).model.id for r in range(proxy.rowCount())}
    assert shown == ids and proxy.rowCount() == len(fake_catalog.models[0].files)


def test_the_capability_chart_follows_the_models_tab_context(qtbot, fake_hardware, fake_catalog, tmp_path) -> None:
    window = make_window(qtbot, lambda: fake_hardware, fake_catalog, tmp_path)
    window.show()
    qtbot.waitUntil(lambda: window.hardware is not None and window.catalog is not None, timeout=10_000)
    with qtbot.waitSignal(window.models_tab.fits_applied, timeout=10_000):
        window.models_tab.set_context(16384)
    assert window.guide_page.chart.ctx == 16384
    window.guide_page.show_page(2)
    assert window.guide_page.stack.currentWidget() is window.guide_page.chart


def test_plan_across_machines_opens_with_the_catalog(qtbot, fake_hardware, fake_catalog, tmp_path) -> None:
    window = make_window(qtbot, lambda: fake_hardware, fake_catalog, tmp_path)
    window.show()
    qtbot.waitUntil(lambda: window.catalog is not None, timeout=10_000)
    dialog = window.plan_cluster()
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    texts = " ".join(w.text() for w in dialog.findChildren(QLabel))
    assert "no authentication" in texts.lower() and "trusted network" in texts.lower()
    dialog.close()
