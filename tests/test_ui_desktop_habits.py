"""Desktop habits (issue 16, the new-user trial's second list): four chat panes scroll instead of widening the
window, the Guide's cards never cut a line (light and dark), the blind vote renders the answers' Markdown as the
chat does, and Help > Keyboard shortcuts lists the keys the views handle themselves. (The screens' sizes and
scales: tests/test_ui_screens.py; the check boxes in dark: tests/test_ui_theme.py.)"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from clipping import clipped
from PySide6.QtGui import QKeySequence, QShortcut, QTextCursor, QTextFormat
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow
from pytestqt.qtbot import QtBot
from test_blind_view import blind, leaks, make_run

from explorer.catalog.snapshot import Catalog, load_catalog
from explorer.hardware.facts import Hardware
from explorer.probes.votes import Outcome, VoteStore
from ui import theme
from ui.guide.page import GuidePage
from ui.main_window import MainWindow
from ui.menus import VIEW_SHORTCUTS, native_keys
from ui.probes.blind_view import BlindVoteView
from ui.services import Services


@pytest.fixture
def styled(qapp: QApplication, restore_theme: None) -> None:
    """The app's style sheet, as the app runs (it sets the buttons' padding, so the panes' minimum width)."""
    theme.set_theme(qapp, "light")


@pytest.fixture
def window(qtbot: QtBot, fake_hardware: Hardware, fake_catalog: Catalog, tmp_path: Path) -> MainWindow:
    services = Services(probe_hardware=lambda: fake_hardware, load_catalog=lambda: fake_catalog,
                        models_dir=tmp_path / "models", scan_library=lambda: [],
                        conversations_dir=tmp_path / "conversations")
    w = MainWindow(services, settings_path=tmp_path / "settings.json")
    qtbot.addWidget(w)
    w.resize(1400, 860)
    w.show()
    qtbot.waitUntil(lambda: w.hardware is not None, timeout=10_000)
    return w


# --- 1. four panes ------------------------------------------------------------------------------------------


def test_four_panes_scroll_sideways_instead_of_widening_the_window(qtbot: QtBot, styled: None,
                                                                    window: MainWindow) -> None:
    chat = window.chat_tab
    window.tabs.setCurrentWidget(chat)
    qtbot.wait(20)
    two = chat.minimumSizeHint().width()
    while len(chat.panes) < 4:
        chat.add_pane()
    qtbot.wait(50)
    assert window.width() == 1400  # before: the panes' minimum widths added up and pushed the window to 2184
    assert chat.minimumSizeHint().width() == two
    assert chat.pane_scroll.horizontalScrollBar().maximum() > 0  # the fourth pane is reached by scrolling
    for pane in chat.panes:  # none squeezed below what its controls need
        assert pane.width() >= pane.minimumSizeHint().width()
        assert not clipped(pane), clipped(pane)


def test_four_panes_at_their_narrowest_fit_beside_the_hardware_panel_on_a_1920_screen(qtbot: QtBot, styled: None,
                                                                                      window: MainWindow) -> None:
    chat = window.chat_tab
    window.tabs.setCurrentWidget(chat)  # shown: styled, so the minimum sizes are the real ones
    while len(chat.panes) < 4:
        chat.add_pane()
    qtbot.wait(20)
    margins = chat.layout().contentsMargins()
    panes = sum(p.minimumSizeHint().width() for p in chat.panes) + 3 * chat.splitter.handleWidth()
    hardware = window.main_splitter.widget(0).minimumWidth() + window.main_splitter.handleWidth()
    assert hardware + margins.left() + margins.right() + panes <= 1920 - 40  # the window's frame and some slack


# --- 2. the Guide's cards -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dark", [False, True])
@pytest.mark.parametrize("width", [760, 1000, 1300])
def test_no_guide_card_cuts_its_text(qtbot: QtBot, qapp: QApplication, fake_hardware: Hardware,
                                     restore_theme: None, dark: bool, width: int) -> None:
    """The use cards wrap their title and line at a narrow width; each grows to fit them (it was as tall as a
    one-line card: "Chat and follow instructions" lost its last line), and so do the pick's cards."""
    theme.set_theme(qapp, "dark" if dark else "light")
    page = GuidePage()
    qtbot.addWidget(page)
    page.resize(width, 760)
    page.show()
    with qtbot.waitSignal(page.guide.runner.result, timeout=20_000):
        page.set_catalog(load_catalog())
        page.set_hardware(fake_hardware)
    for use in page.guide.use_buttons:
        page.guide.set_use(use)
        for index in range(page.stack.count()):
            page.show_page(index)
            with contextlib.suppress(AssertionError):  # a layout may take a few events to settle
                qtbot.waitUntil(lambda: not clipped(page), timeout=1500)
            assert clipped(page) == [], (use, index)


# --- 3. the blind vote's Markdown -----------------------------------------------------------------------------


MARKDOWN = "The sky is blue because of **Rayleigh scattering**:\n\n- short waves scatter more\n- `1/λ⁴`\n\n" \
           "```python\nprint(700 / 450)\n```\n"


@pytest.fixture
def blind_window(qtbot: QtBot) -> QMainWindow:
    w = QMainWindow()
    w.setWindowTitle("Qwen3 Explorer")
    qtbot.addWidget(w)
    w.setCentralWidget(BlindVoteView())
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_the_blind_answers_render_their_markdown_and_still_name_no_model(blind_window: QMainWindow,
                                                                         tmp_path: Path) -> None:
    from dataclasses import replace

    run = make_run()
    run.cells = [replace(c, answer=MARKDOWN + c.answer) for c in run.cells]
    view = blind(blind_window)
    view.start(run, VoteStore(tmp_path / "votes.jsonl"), seed=0)
    for pane in (view.pane_a, view.pane_b):
        text = pane.answer.toPlainText()
        assert "Rayleigh scattering" in text and "**" not in text and "```" not in text and "- short" not in text
        doc = pane.answer.document()
        bold = doc.find("Rayleigh")
        assert bold.charFormat().fontWeight() > 400  # bold, as in the chat transcript
        code = doc.find("print(700 / 450)")
        assert code.blockFormat().hasProperty(QTextFormat.Property.BlockCodeFence)
        assert code.blockFormat().background().color().name() == theme.CODE_BACKGROUND  # styled as the chat's
        assert QTextCursor(doc.find("short waves")).currentList() is not None
    assert leaks(blind_window) == []  # rendering added no name, path, hash or setting
    view.vote(Outcome.A)
    assert "0.6B" in view.pane_a.title.text() + view.pane_b.title.text()  # the reveal still names them


# --- 5. the views' own keys in Help > Keyboard shortcuts ------------------------------------------------------


def test_keyboard_shortcuts_list_the_views_own_keys(qtbot: QtBot, window: MainWindow) -> None:
    dialog = window.menus.show_shortcuts()
    qtbot.addWidget(dialog)
    rows = dict(dialog.view_rows)
    native = QKeySequence.SequenceFormat.NativeText
    send = rows["Chat > Send to every pane (in the message box)"]
    assert QKeySequence("Ctrl+Return").toString(native) in send and QKeySequence("Ctrl+Enter").toString(native) in send
    assert rows["Chat > Stop every pane"] == QKeySequence("Esc").toString(native)
    shown = {label.text() for label in dialog.findChildren(QLabel)}
    assert "Chat > Stop every pane" in shown and "In the views" in shown


def test_every_shortcut_of_the_views_is_listed(window: MainWindow) -> None:
    """Each QShortcut of the Chat and Probes tabs (the blind vote's among them) is in `VIEW_SHORTCUTS`, so the
    dialog's list stays the real one."""
    _ = window.chat_tab, window.probes_tab  # built on first use
    listed = {QKeySequence(k).toString() for _what, keys in VIEW_SHORTCUTS for k in keys}
    found = {s.key().toString() for s in window.findChildren(QShortcut)}
    assert found and found <= listed, found - listed
    assert native_keys(("Ctrl+Return",)) == QKeySequence("Ctrl+Return").toString(QKeySequence.SequenceFormat.NativeText)
