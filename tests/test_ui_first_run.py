"""First run: with no model on disk the Library and the Chat tab say what to do and offer it; the demo
model is written on a worker, listed by the library and opened in two panes (thinking on, then off)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from explorer.hardware.facts import Hardware
from explorer.store.library import scan_library
from explorer.testing.scripted import ensure_scripted_model
from ui.first_run import DEMO_TEXT, GET_MODEL_TEXT
from ui.main_window import MainWindow
from ui.services import Services


def make_window(qtbot, hw: Hardware, catalog, tmp_path: Path) -> tuple[MainWindow, Path]:
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    services = Services(probe_hardware=lambda: hw, load_catalog=lambda: catalog, models_dir=models_dir,
                        conversations_dir=tmp_path / "conversations",
                        scan_library=lambda: scan_library(hub_cache=tmp_path / "hub", models_dir=models_dir))
    window = MainWindow(services)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.hardware is not None, timeout=10_000)
    return window, models_dir


def test_an_empty_library_and_chat_offer_the_guide_and_the_demo_and_drop_them_once_a_model_is_there(
        qtbot, fake_hardware, fake_catalog, tmp_path) -> None:
    window, models_dir = make_window(qtbot, fake_hardware, fake_catalog, tmp_path)
    library = window.library_view
    window.tabs.setCurrentWidget(library)
    qtbot.waitUntil(lambda: library.status.text() == "No GGUF models on disk yet.", timeout=10_000)
    panel = library.first_run
    assert panel.isVisible()
    assert panel.get_button.text() == GET_MODEL_TEXT and panel.demo_button.text() == DEMO_TEXT
    chat = window.chat_tab
    window.tabs.setCurrentWidget(chat)
    qtbot.waitUntil(lambda: not library.scan_runner.busy, timeout=10_000)
    assert chat.first_run.isVisible() and chat.first_run.demo_button.isEnabled()

    qtbot.mouseClick(chat.first_run.get_button, Qt.MouseButton.LeftButton)  # not a dead end: the guide's pick
    assert window.tabs.currentWidget() is window.guide_page
    assert window.guide_page.stack.currentWidget() is window.guide

    (models_dir / "qwen3-demo-hybrid-F32.gguf").write_bytes(ensure_scripted_model().read_bytes())
    window.tabs.setCurrentWidget(library)
    library.rescan()
    qtbot.waitUntil(lambda: library.model.rowCount() == 1, timeout=10_000)
    assert not panel.isVisible() and not panel.isVisibleTo(library)
    assert not chat.first_run.isVisibleTo(chat)


def test_try_the_demo_model_writes_it_and_opens_two_panes_thinking_on_and_off(
        qtbot, fake_hardware, fake_catalog, tmp_path) -> None:
    window, models_dir = make_window(qtbot, fake_hardware, fake_catalog, tmp_path)
    library = window.library_view
    window.tabs.setCurrentWidget(library)
    qtbot.waitUntil(lambda: library.first_run.isVisible(), timeout=10_000)
    qtbot.mouseClick(library.first_run.demo_button, Qt.MouseButton.LeftButton)
    assert window.demo_writer.busy or window.chat_tab_built  # the write runs on a worker, not here
    qtbot.waitUntil(lambda: window.chat_tab_built and window.tabs.currentWidget() is window.chat_tab,
                    timeout=60_000)
    chat = window.chat_tab
    demo = models_dir / ensure_scripted_model().name
    assert demo.is_file() and [m.path for m in library.model.models] == [demo]
    assert len(chat.panes) == 2 and [p.model_path() for p in chat.panes] == [demo, demo]
    for pane in chat.panes:
        qtbot.waitUntil(lambda pane=pane: pane.info is not None, timeout=10_000)
    assert [p.thinking_on() for p in chat.panes] == [True, False]
    assert all(p.think_box.isEnabled() for p in chat.panes)  # a hybrid model: the person may switch them
    assert not library.first_run.isVisibleTo(library) and not chat.first_run.isVisibleTo(chat)


def test_a_failed_demo_write_says_why(qtbot, fake_hardware, fake_catalog, tmp_path) -> None:
    window, models_dir = make_window(qtbot, fake_hardware, fake_catalog, tmp_path)
    models_dir.rmdir()
    models_dir.write_text("not a folder")  # the write cannot make the file
    window.tabs.setCurrentWidget(window.library_view)
    assert window.try_demo()
    panel = window.library_view.first_run
    qtbot.waitUntil(lambda: "could not be written" in panel.status.text(), timeout=30_000)
    assert panel.demo_button.isEnabled() and not window.chat_tab_built
