"""The View and Help menus, and `qwen3-explorer --version` (no Qt)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QImage, QKeySequence, QTextDocument
from PySide6.QtWidgets import QLabel

from explorer.cli.main import app_version
from explorer.hardware.facts import Hardware
from explorer.paths import cache_root
from ui.main_window import MainWindow
from ui.menus import AboutDialog, ReadmeDialog, llama_line, readme_markdown, readme_path, shortcut_rows
from ui.services import Services


@pytest.fixture
def window(qtbot, fake_hardware: Hardware, fake_catalog, tmp_path: Path) -> MainWindow:
    services = Services(probe_hardware=lambda: fake_hardware, load_catalog=lambda: fake_catalog,
                        models_dir=tmp_path / "models", conversations_dir=tmp_path / "conversations")
    w = MainWindow(services)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.hardware is not None, timeout=10_000)
    return w


def test_the_version_comes_from_the_package_metadata() -> None:
    from importlib.metadata import version

    assert app_version() == version("qwen3-explorer")


def test_version_prints_it_and_exits_0_without_qt() -> None:
    code = ("import sys; from ui.launcher import main; rc = main(['--version']); "
            "assert 'PySide6' not in sys.modules; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == f"qwen3-explorer {app_version()}\n"


def test_view_ctrl_n_switches_tabs(qtbot, window: MainWindow) -> None:
    actions = window.menus.tab_actions
    assert len(actions) == window.tabs.count() == 6
    assert [a.text() for a in actions] == ["Guide", "Models", "Downloads", "Library", "Chat", "Probes"]
    for i, action in enumerate(actions):
        assert action.shortcut() == QKeySequence(f"Ctrl+{i + 1}")
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    qtbot.keyClick(window, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is window.library_view
    qtbot.keyClick(window, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)  # the chat, built on first use
    assert window.chat_tab_built and window.tabs.currentWidget() is window.chat_tab
    actions[1].trigger()
    assert window.tabs.currentWidget() is window.models_tab


def test_about_shows_the_version_the_llama_build_and_openable_paths(qtbot, window: MainWindow,
                                                                     tmp_path: Path) -> None:
    about = window.menus.show_about()
    assert isinstance(about, AboutDialog) and about.isVisible()
    assert app_version() in about.version_label.text()
    llama = window.hardware.llama if window.hardware else None
    assert about.llama_label.text() == llama_line(llama)
    assert "llama.cpp: llama-cpp-python 0.3.36, GPU offload yes; flags: CUDA : ARCHS = 890" in about.llama_label.text()
    assert set(about.path_buttons) == {"Models", "Cache", "Conversations", "Settings"}
    assert about.targets["Models"] == tmp_path / "models"
    assert about.targets["Conversations"] == tmp_path / "conversations"
    assert about.targets["Cache"] == cache_root()
    settings = about.targets["Settings"]
    assert about.target("Settings") in (settings.parent, *settings.parents)
    (tmp_path / "models").mkdir()
    assert about.target("Models") == tmp_path / "models"  # a folder opens as itself
    assert about.target("Conversations") == tmp_path  # not there yet: the nearest folder that is
    texts = {label.text() for label in about.findChildren(QLabel)}
    assert str(tmp_path / "models") in texts and str(cache_root()) in texts
    opened: list[Path] = []
    about._opener = opened.append
    qtbot.mouseClick(about.path_buttons["Cache"], Qt.MouseButton.LeftButton)
    assert opened == [cache_root()]


def test_llama_line_before_the_probe_and_without_llama(fake_hardware: Hardware) -> None:
    from explorer.hardware.llama_build import LlamaBuild

    assert "being checked" in llama_line(None)
    assert llama_line(LlamaBuild(installed=False, error="no module")) == "llama.cpp: not installed (no module)"


def test_keyboard_shortcuts_lists_the_actions_real_keys(qtbot, window: MainWindow) -> None:
    dialog = window.menus.show_shortcuts()
    rows = dict(dialog.rows)
    assert rows == dict(shortcut_rows(window))
    assert rows["View > Library"] == QKeySequence("Ctrl+4").toString(QKeySequence.SequenceFormat.NativeText)
    native = QKeySequence.SequenceFormat.NativeText
    assert rows["File > Re-detect hardware"] == window.redetect_action.shortcut().toString(native)
    assert rows["Help > Keyboard shortcuts"] == QKeySequence("Ctrl+/").toString(native)
    assert "Help > About Qwen3 Explorer" not in rows  # no key, not listed
    window.menus.tab_actions[0].setShortcut(QKeySequence("Ctrl+G"))  # a changed key shows as it is
    assert dict(shortcut_rows(window))["View > Guide"] == QKeySequence("Ctrl+G").toString(
        QKeySequence.SequenceFormat.NativeText)


def test_readme_opens_in_a_window(qtbot, window: MainWindow) -> None:
    dialog = window.menus.show_readme()
    assert dialog.isVisible()
    path = readme_path()
    assert path is not None and "Qwen3 Explorer" in dialog.browser.toPlainText()


def _pictures(dialog: ReadmeDialog) -> list[str]:
    """The names of the pictures in the dialog's document."""
    names = []
    block = dialog.browser.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fmt = it.fragment().charFormat()
            if fmt.isImageFormat():
                names.append(fmt.toImageFormat().name())
            it += 1
        block = block.next()
    return names


def test_the_readme_shows_its_pictures_from_any_working_directory(qtbot, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/*.png resolve against the README's folder (not the working directory: the app is started from
    anywhere), each scaled to the view's width."""
    monkeypatch.chdir(tmp_path)
    path = readme_path()
    assert path is not None
    dialog = ReadmeDialog(path=path)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    names = _pictures(dialog)
    assert "docs/screenshot.png" in names and len(names) >= 10
    browser = dialog.browser
    doc = browser.document()
    browser.verticalScrollBar().setValue(browser.verticalScrollBar().maximum())  # the layout loads them all
    for name in names:  # what the document loaded to show (a broken icon: none)
        image = doc.resource(QTextDocument.ResourceType.ImageResource, doc.baseUrl().resolved(QUrl(name)))
        assert isinstance(image, QImage) and not image.isNull(), name
        assert image.width() <= browser.viewport().width()


def test_a_readme_without_its_pictures_leaves_them_out(qtbot, tmp_path: Path) -> None:
    """An installed wheel's description has no docs/ beside it: its pictures are left out (no broken icon);
    a README whose folder lacks one picture loses only that one; web pictures are never fetched."""
    text = "# Title\n\n![Shot](docs/screenshot.png)\n\nSome text.\n\n![Web](https://example.com/a.png)\n"
    alone = ReadmeDialog(text=text)
    qtbot.addWidget(alone)
    assert _pictures(alone) == [] and "Some text." in alone.browser.toPlainText()
    assert readme_markdown(text, None) == "# Title\n\n\n\nSome text.\n\n\n"
    (tmp_path / "docs").mkdir()
    QImage(40, 20, QImage.Format.Format_RGB32).save(str(tmp_path / "docs" / "screenshot.png"))
    readme = tmp_path / "README.md"
    readme.write_text(text + "![Gone](docs/gone.png)\n")
    beside = ReadmeDialog(path=readme)
    qtbot.addWidget(beside)
    assert _pictures(beside) == ["docs/screenshot.png"]
