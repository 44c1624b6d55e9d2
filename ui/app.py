"""Start the desktop app: `run_gui(sys.argv)` or `python -m ui`."""

from __future__ import annotations

import signal
import sys

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

from ui import theme
from ui.main_window import MainWindow
from ui.services import Services, default_services

APP_NAME = "Qwen3 Explorer"
ASSETS_PACKAGE = theme.ASSETS_PACKAGE
STYLE_FILE = theme.STYLE_FILE
load_style_sheet = theme.load_style_sheet  # the light sheet; load_style_sheet(dark=True) the dark one
set_theme = theme.set_theme
current_theme = theme.current_theme


def create_app(argv: list[str]) -> QApplication:
    """The QApplication, set up once: name, style and style sheet."""
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    app = QApplication(argv)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName("qwen3-explorer")
    app.setStyle("Fusion")
    font = app.font()
    if font.pointSizeF() < 10:
        font.setPointSizeF(10)
    font.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
    app.setFont(font)
    theme.set_theme(app, theme.current_theme())  # the palette and the style sheet; follows the system
    return app


def close_on_signals(window: MainWindow) -> QTimer:
    """Ctrl+C in the terminal (SIGINT) and SIGTERM close the window as its close button does, so the
    conversations are saved and the model processes end. Python runs signal handlers only between
    its own bytecodes, so a timer wakes it a few times a second while Qt's loop waits."""
    def close(_sig: int, _frame: object) -> None:
        QTimer.singleShot(0, window.close)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, close)
    wake = QTimer(window)
    wake.start(250)
    wake.timeout.connect(lambda: None)
    return wake


def run_gui(argv: list[str], services: Services | None = None) -> int:
    app = create_app(argv)
    window = MainWindow(services or default_services())
    window.show()
    close_on_signals(window)
    return app.exec()


def main() -> int:
    return run_gui(sys.argv)
