"""The settings that last, through the window: written when it closes (and, debounced, when a chat pane's
choices change), put back by the next window; a corrupt file means the defaults and a note."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from explorer.catalog.snapshot import Catalog
from explorer.chat.records import PaneMode
from explorer.gguf.variant import Variant
from explorer.hardware.facts import Hardware
from explorer.settings import Settings, load_settings
from ui.chat import pane_settings
from ui.main_window import MainWindow
from ui.models.table import Column
from ui.services import Services


def open_window(qtbot: QtBot, hw: Hardware, catalog: Catalog, tmp_path: Path, settings: Path) -> MainWindow:
    services = Services(probe_hardware=lambda: hw, load_catalog=lambda: catalog, models_dir=tmp_path / "models",
                        scan_library=lambda: [], conversations_dir=tmp_path / "conversations")
    window = MainWindow(services, settings_path=settings)
    qtbot.addWidget(window)
    window.show()
    tab = window.models_tab
    qtbot.waitUntil(lambda: window.hardware is not None and bool(tab.table_model.rows)
                    and tab.table_model.rows[0].fit is not None and not tab.fit_runner.busy, timeout=10_000)
    return window


def test_choices_last_across_windows(qtbot: QtBot, fake_hardware: Hardware, fake_catalog: Catalog,
                                     tmp_path: Path) -> None:
    path = tmp_path / "config" / "settings.json"
    model_file = tmp_path / "qwen3-8b.gguf"
    model_file.write_bytes(b"not really a model")  # a path on disk: restored (its header read fails, as it would)

    window = open_window(qtbot, fake_hardware, fake_catalog, tmp_path, path)
    tab = window.models_tab
    with qtbot.waitSignal(tab.fits_applied, timeout=10_000):
        tab.set_context(65536)
    with qtbot.waitSignal(tab.fits_applied, timeout=10_000):
        tab.set_kv_type("q8_0")
    tab.filters.quant_combo.setCurrentIndex(tab.filters.quant_combo.findData("Q4_K_M"))
    tab.filters.variant_button.set_selected([Variant.HYBRID])
    tab.filters.search.setText("qwen3")
    tab.table.sortByColumn(Column.FILE_SIZE, Qt.SortOrder.DescendingOrder)
    chosen = next(i for i, r in enumerate(tab.table_model.rows) if r.model.id == "Qwen3-0.6B"
                  and r.file.quant == "Q4_K_M")
    tab.select_source_row(chosen)

    chat = window.chat_tab
    assert len(chat.panes) == 2
    chat.add_pane()
    first = chat.panes[0]
    first.select_path(model_file)
    st = first.settings()
    st.budget, st.seed, st.system = 300, 42, "Be brief."
    first.apply_settings(st)
    first.set_thinking(False)
    chat.panes[1].mode_panel.set_mode(PaneMode.FREE_FORM)
    # A pane's change is written once the edits stop (debounced), not at once.
    assert window.save_timer.isActive()
    qtbot.waitUntil(lambda: path.exists(), timeout=5000)
    assert len(load_settings(path)[0].chat.panes) == 3
    first.settings_form.budget.setValue(400)  # a later change waits for the timer again
    assert window.save_timer.isActive()
    pane_settings.set_default_budget(1024)  # "Use as default for new panes": written at once
    assert load_settings(path)[0].chat.default_budget == 1024
    window.close()

    saved, notes = load_settings(path)
    assert notes == []
    assert saved.models.ctx == 65536 and saved.models.kv_type == "q8_0" and saved.models.quant == "Q4_K_M"
    assert saved.models.variants == ["hybrid"] and saved.models.search == "qwen3"
    assert saved.models.sort_column == Column.FILE_SIZE and saved.models.sort_descending
    assert saved.models.selected is not None and saved.models.selected.model_id == "Qwen3-0.6B"
    assert saved.window.geometry and saved.window.splitters["main"] == window.main_splitter.sizes()
    assert saved.chat.panes[0].model == str(model_file) and saved.chat.panes[0].settings.budget == 400

    pane_settings.use_default_budget(None, None)  # as a fresh process would start
    again = open_window(qtbot, fake_hardware, fake_catalog, tmp_path, path)
    tab = again.models_tab
    assert (tab.ctx, tab.kv_type) == (65536, "q8_0")
    f = tab.filters
    assert f.quant_combo.currentData() == "Q4_K_M" and f.variant_button.selected() == [Variant.HYBRID]
    assert f.search.text() == "qwen3"
    header = tab.table.horizontalHeader()
    assert header.sortIndicatorSection() == Column.FILE_SIZE
    assert header.sortIndicatorOrder() is Qt.SortOrder.DescendingOrder
    row = tab.current_row()
    assert row is not None and (row.model.id, row.file.quant) == ("Qwen3-0.6B", "Q4_K_M")  # not the suggestion
    assert pane_settings.default_budget() == 1024
    chat = again.chat_tab
    assert len(chat.panes) == 3
    first = chat.panes[0]
    assert first.model_path() == model_file
    st = first.settings()
    assert (st.budget, st.seed, st.system, st.thinking) == (400, 42, "Be brief.", False)
    assert chat.panes[1].mode_panel.mode() is PaneMode.FREE_FORM
    assert chat.panes[2].settings().budget is None  # as saved (it was added before the new default)
    assert chat.add_pane() is not None and chat.panes[3].settings().budget == 1024  # a new pane: the default
    again.close()


def test_a_missing_model_file_leaves_its_pane_without_a_model(qtbot: QtBot, fake_hardware: Hardware,
                                                             fake_catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema": 2, "chat": {"panes": [
        {"model": str(tmp_path / "gone.gguf"), "settings": {"thinking": False, "seed": 9}}]}}))
    window = open_window(qtbot, fake_hardware, fake_catalog, tmp_path, path)
    chat = window.chat_tab
    assert len(chat.panes) == 1 and chat.panes[0].model_path() is None
    assert chat.panes[0].settings().seed == 9
    window.close()


def test_a_corrupt_file_means_the_defaults_and_a_note(qtbot: QtBot, fake_hardware: Hardware, fake_catalog: Catalog,
                                                      tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"schema": 2, "models": {"ctx": ')
    window = open_window(qtbot, fake_hardware, fake_catalog, tmp_path, path)
    assert window.models_tab.ctx == Settings().models.ctx
    notice = window.notice
    assert window.notice_row.isVisible() and notice.isVisible() and len(notice.lines) == 1
    line = notice.lines[0].text()
    assert line.startswith(str(path)) and "not valid JSON" in line and line.endswith("kept as settings.json.bak.")
    assert notice.lines[0].wordWrap() and window.statusBar().currentMessage() == ""  # not over the catalog text
    assert (tmp_path / "settings.json.bak").exists()
    window.close()
    assert load_settings(path) == (window.settings, [])  # written fresh at close


def test_a_newer_file_is_kept_aside(qtbot: QtBot, fake_hardware: Hardware, fake_catalog: Catalog,
                                    tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    newer = {"schema": 9, "models": {"ctx": 4096}}
    path.write_text(json.dumps(newer))
    window = open_window(qtbot, fake_hardware, fake_catalog, tmp_path, path)
    assert window.models_tab.ctx == Settings().models.ctx
    assert "newer version" in window.notice.lines[0].text()
    window.close()
    assert json.loads((tmp_path / "settings.json.bak").read_text()) == newer


def test_the_splitters_come_back(qtbot: QtBot, fake_hardware: Hardware, fake_catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    window = open_window(qtbot, fake_hardware, fake_catalog, tmp_path, path)
    window.main_splitter.setSizes([450, window.main_splitter.width() - 450])
    assert window.main_splitter.sizes()[0] == 450
    window.close()
    data = json.loads(path.read_text())
    assert data["window"]["geometry"]
    data["window"]["geometry"] = ""  # the offscreen screen shrinks a restored window below the panes' minimum width
    path.write_text(json.dumps(data))
    again = open_window(qtbot, fake_hardware, fake_catalog, tmp_path, path)
    assert again.main_splitter.sizes()[0] == 450  # the hardware panel keeps its width (the other side stretches)
    again.close()


def test_the_theme_chosen_lasts(qtbot: QtBot, fake_hardware: Hardware, fake_catalog: Catalog, tmp_path: Path) -> None:
    """View > Theme > Dark is saved at once and the next window starts dark; System goes back to following."""
    from ui import theme

    path = tmp_path / "settings.json"
    first = open_window(qtbot, fake_hardware, fake_catalog, tmp_path, path)
    first.menus.theme_actions["dark"].trigger()
    assert theme.current_theme() == "dark" and json.loads(path.read_text())["window"]["theme"] == "dark"
    first.close()
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    theme.set_theme(app, "light")  # as a fresh start would be
    second = open_window(qtbot, fake_hardware, fake_catalog, tmp_path, path)
    assert theme.current_theme() == "dark" and theme.is_dark()
    assert second.menus.theme_actions["dark"].isChecked()
    second.menus.theme_actions["system"].trigger()
    assert json.loads(path.read_text())["window"]["theme"] == "system"
    second.close()


def test_one_worker_per_file_is_a_choice_that_lasts(qtbot: QtBot, fake_hardware: Hardware, fake_catalog: Catalog,
                                                    tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    first = open_window(qtbot, fake_hardware, fake_catalog, tmp_path, path)
    tab = first.chat_tab
    assert tab.share_box.isChecked() and tab.pool.share  # on by default
    tab.share_box.setChecked(False)
    assert not tab.pool.share
    first.close()
    assert json.loads(path.read_text())["chat"]["share_worker"] is False
    second = open_window(qtbot, fake_hardware, fake_catalog, tmp_path, path)
    assert not second.chat_tab.share_box.isChecked() and not second.chat_tab.pool.share
    second.close()


def test_the_selected_file_comes_back_behind_a_verdict_filter(qtbot: QtBot, fake_hardware: Hardware,
                                                              fake_catalog: Catalog, tmp_path: Path) -> None:
    """"Runs here" hides every row until the fits arrive: the restored file is selected when its row shows,
    and a save before then keeps it (not null)."""
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema": 2, "models": {
        "verdict": "Runs here", "hide_no_fit": True,
        "selected": {"model_id": "Qwen3-0.6B", "quant": "Q8_0", "repo": "Qwen/Qwen3-0.6B-GGUF"}}}))
    services = Services(probe_hardware=lambda: fake_hardware, load_catalog=lambda: fake_catalog,
                        models_dir=tmp_path / "models", scan_library=lambda: [],
                        conversations_dir=tmp_path / "conversations")
    window = MainWindow(services, settings_path=path)
    qtbot.addWidget(window)
    window.show()
    tab = window.models_tab
    qtbot.waitUntil(lambda: bool(tab.table_model.rows), timeout=10_000)
    if tab.table_model.rows[0].fit is None:  # the fits are on their way: no row shows, the choice waits
        assert tab.proxy.rowCount() == 0 and tab.current_row() is None
        selected = tab.state().selected
        assert selected is not None and (selected.model_id, selected.quant) == ("Qwen3-0.6B", "Q8_0")
    qtbot.waitUntil(lambda: tab.current_row() is not None, timeout=10_000)
    row = tab.current_row()
    assert row is not None and (row.model.id, row.file.quant) == ("Qwen3-0.6B", "Q8_0")  # not the suggestion
    assert tab.detail.row == row
    window.close()
    saved = load_settings(path)[0].models.selected
    assert saved is not None and (saved.model_id, saved.quant) == ("Qwen3-0.6B", "Q8_0")


def test_several_notes_are_one_readable_line_each(qtbot: QtBot, fake_hardware: Hardware, fake_catalog: Catalog,
                                                  tmp_path: Path) -> None:
    """Bad values give a note each: a line each in the notice above the tabs, wrapped to its width, whole
    (the status bar joined them with "; " and cut the line off); Dismiss hides it."""
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema": 2, "extra": 1, "models": {"ctx": "big", "kv_type": 3, "verdict": []}}))
    window = open_window(qtbot, fake_hardware, fake_catalog, tmp_path, path)
    notice = window.notice
    assert len(window.settings_notes) == 4 and notice.title.text() == "4 problems with the settings file"
    texts = [label.text() for label in notice.lines]
    assert len(texts) == 4 and all(t.startswith("•  ") and t.endswith(".") for t in texts)
    assert not any("settings:" in t for t in texts) and any("models.ctx" in t for t in texts)
    assert notice.width() < window.width()
    for label in notice.lines:  # whole: each label is as tall as its wrapped text needs
        assert label.width() < notice.width() and label.height() >= label.heightForWidth(label.width())
    assert window.statusBar().currentMessage() == ""
    notice.dismiss_button.click()
    assert not window.notice_row.isVisible()
    window.close()
