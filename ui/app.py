"""Start the desktop app: `run_gui(sys.argv)` or `python -m ui`."""

from __future__ import annotations

import importlib.resources
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

from ui.main_window import MainWindow
from ui.services import Services, default_services

APP_NAME = "Qwen3 Explorer"
ASSETS_PACKAGE = "qwen3_explorer_assets"
STYLE_FILE = "style.qss"


def _assets_dir() -> Path | None:
    """The assets folder: the installed package, else the repo's assets/ next to ui/."""
    try:
        root = importlib.resources.files(ASSETS_PACKAGE)
        if isinstance(root, Path) and (root / STYLE_FILE).is_file():
            return root
    except ModuleNotFoundError:
        pass
    fallback = Path(__file__).resolve().parent.parent / "assets"
    return fallback if (fallback / STYLE_FILE).is_file() else None


def load_style_sheet() -> str:
    """The style sheet, with `@ICONS@` pointing at the icons folder; empty when not found."""
    try:
        text = importlib.resources.files(ASSETS_PACKAGE).joinpath(STYLE_FILE).read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        text = ""
    assets = _assets_dir()
    if not text and assets is not None:
        text = (assets / STYLE_FILE).read_text("utf-8")
    icons = (assets / "icons").as_posix() if assets is not None else ""
    return text.replace("@ICONS@", icons)


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
    app.setStyleSheet(load_style_sheet())
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
