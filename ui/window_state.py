"""What a window keeps of itself between runs: geometry, dock state and splitter sizes (explorer.settings'
`window` section), put back onto the screen it now has; and the settings file read at start.

Plain functions over a QMainWindow, so the main window only says which splitters it has.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QMainWindow, QSplitter

from explorer.settings import MIGRATIONS, Settings, WindowSettings, from_json, load_settings
from ui.chat.pane_settings import legacy_budget


def read_settings(path: Path) -> tuple[Settings, list[str]]:
    """The settings file; with none yet, the default budget QSettings kept before it (version 1)."""
    if path.exists():
        return load_settings(path)
    legacy = legacy_budget()
    if legacy is None:
        return Settings(), []
    notes: list[str] = []
    return from_json(MIGRATIONS[1]({"schema": 1, "chat/default_budget": legacy}, notes), notes), notes


def restore_window(window: QMainWindow, saved: WindowSettings, splitters: Mapping[str, QSplitter]) -> None:
    """Geometry (fitted to this screen: it may have been saved on a bigger one, or by a window once wider
    than this screen), dock state and the splitters whose saved sizes still fit them."""
    if saved.geometry:
        window.restoreGeometry(QByteArray.fromBase64(saved.geometry.encode("ascii")))
        fit_to_screen(window)
    if saved.state:
        window.restoreState(QByteArray.fromBase64(saved.state.encode("ascii")))
    for name, splitter in splitters.items():
        sizes = saved.splitters.get(name)
        if sizes and len(sizes) == splitter.count() and all(n > 0 for n in sizes):
            splitter.setSizes(sizes)


def keep_window(window: QMainWindow, saved: WindowSettings, splitters: Mapping[str, QSplitter]) -> None:
    """The window's geometry, state and splitter sizes as they stand, into `saved`."""
    saved.geometry = bytes(window.saveGeometry().toBase64().data()).decode("ascii")
    saved.state = bytes(window.saveState().toBase64().data()).decode("ascii")
    saved.splitters = {name: splitter.sizes() for name, splitter in splitters.items()}


def fit_to_screen(window: QMainWindow) -> None:
    """Keep the window on its screen's available area: no wider or taller than it (down to the window's
    minimum size) and moved inside it. A maximized or full-screen window is the screen's already."""
    screen = window.screen()
    if screen is None or window.isMaximized() or window.isFullScreen():
        return
    area = screen.availableGeometry()
    frame, inner = window.frameGeometry(), window.geometry()
    width = min(inner.width(), area.width() - (frame.width() - inner.width()))
    height = min(inner.height(), area.height() - (frame.height() - inner.height()))
    if (width, height) != (inner.width(), inner.height()):
        window.resize(width, height)
    frame = window.frameGeometry()
    x = max(area.left(), min(frame.left(), area.left() + area.width() - frame.width()))
    y = max(area.top(), min(frame.top(), area.top() + area.height() - frame.height()))
    if (x, y) != (frame.left(), frame.top()):
        window.move(x, y)
