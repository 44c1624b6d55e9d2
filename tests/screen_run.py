"""A main window on a screen of a given size and scale, in a process of its own (tests/test_ui_screens.py).

The test session's offscreen screen is 800 x 800 at scale 1, smaller than the window's minimum width; these
checks need a desktop's screen (`QT_QPA_PLATFORM=offscreen:configfile=...`) or another scale
(`QT_SCALE_FACTOR`), which are fixed when Qt starts. Run as

    python tests/screen_run.py STEP SETTINGS_FILE

with the environment set by the test. STEP is one of:
  open     open the window from SETTINGS_FILE, set the splitters and geometry the test asks for
           (SCREEN_RUN_GEOMETRY "x,y,w,h", SCREEN_RUN_SPLITTER and SCREEN_RUN_MODELS_SPLITTER "a,b"), open the
           Chat tab with SCREEN_RUN_PANES panes, close (which saves)
  report   open the window from SETTINGS_FILE, show the tabs one by one and report
It prints one JSON object: the screen, the window's geometry and splitters, and, for `report`, what each tab
clipped (tests/clipping.py).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from clipping import clipped
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication

from ui.app import create_app
from ui.main_window import MainWindow
from ui.services import Services


def settle(app: QApplication, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def rect(r: QRect) -> list[int]:
    return [r.x(), r.y(), r.width(), r.height()]


def open_window(app: QApplication, settings: Path) -> MainWindow:
    from conftest import make_catalog, make_hardware  # after Qt started: it sets QT_QPA_PLATFORM=offscreen

    hw, catalog = make_hardware(), make_catalog()
    scratch = Path(tempfile.mkdtemp(prefix="screen-run-"))
    services = Services(probe_hardware=lambda: hw, load_catalog=lambda: catalog, models_dir=scratch / "models",
                        scan_library=lambda: [], conversations_dir=scratch / "conversations")
    window = MainWindow(services, settings_path=settings)
    window.show()
    deadline = time.monotonic() + 20
    while (window.hardware is None or window.models_tab.fit_runner.busy) and time.monotonic() < deadline:
        settle(app, 0.05)
    settle(app)
    return window


def state(app: QApplication, window: MainWindow) -> dict[str, object]:
    screen = window.screen()
    return {"available": rect(screen.availableGeometry()), "scale": screen.devicePixelRatio(),
            "frame": rect(window.frameGeometry()), "geometry": rect(window.geometry()),
            "minimum_width": window.minimumSizeHint().width(),
            "main_splitter": window.main_splitter.sizes(), "models_splitter": window.models_tab.sizes(),
            "panes": len(window.chat_tab.panes)
            if window.tabs.currentWidget() is window.chat_tab else None}


def main() -> int:
    step, settings = sys.argv[1], Path(sys.argv[2])
    app = create_app([sys.argv[0]])
    window = open_window(app, settings)
    out: dict[str, object] = {}
    if step == "open":
        if geometry := os.environ.get("SCREEN_RUN_GEOMETRY"):
            x, y, w, h = (int(n) for n in geometry.split(","))
            window.setGeometry(x, y, w, h)
        if sizes := os.environ.get("SCREEN_RUN_SPLITTER"):
            window.main_splitter.setSizes([int(n) for n in sizes.split(",")])
        if sizes := os.environ.get("SCREEN_RUN_MODELS_SPLITTER"):
            window.models_tab.setSizes([int(n) for n in sizes.split(",")])
        settle(app)
        out["before_chat"] = state(app, window)
        if panes := int(os.environ.get("SCREEN_RUN_PANES", "0")):
            window.tabs.setCurrentWidget(window.chat_tab)
            while len(window.chat_tab.panes) < panes:
                window.chat_tab.add_pane()
            settle(app)
        out["saved"] = state(app, window)
        window.close()
    else:
        out["opened"] = state(app, window)
        clips: dict[str, list[str]] = {}
        for i in range(window.tabs.count()):
            window.tabs.setCurrentIndex(i)
            settle(app, 0.6)
            clips[window.tabs.tabText(i)] = clipped(window)
        out["clipped"] = clips
        out["shown"] = state(app, window)
        window.close()
    settle(app, 0.1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
