"""The window's catalog refresh: Cancel where "Refreshing…" shows, what a partial result says, and a Hub
that never answers does not keep the app from exiting."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from hub_fixtures import hub  # noqa: F401 - the fixture

from explorer.catalog.refresh import RefreshResult
from explorer.catalog.snapshot import Catalog
from explorer.hardware.probe import Hardware
from explorer.testing.hub import HubServer
from ui.main_window import MainWindow
from ui.services import Services

ROOT = Path(__file__).resolve().parents[1]
BOUND = 60.0  # seconds: a generous bound for "it ends", never a timing claim


class BlockingRefresh:
    """A refresh that waits on the Hub until it is cancelled (or the test ends)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.threads: list[threading.Thread] = []
        self.saw_cancel = threading.Event()
        self.test_over = threading.Event()

    def __call__(self, cancelled: Callable[[], bool]) -> RefreshResult:
        self.threads.append(threading.current_thread())
        while not cancelled():
            if self.test_over.wait(0.01):
                break
        else:
            self.saw_cancel.set()
        return RefreshResult(self.catalog, (), (), stopped="cancelled")


def window_with(qtbot, hw: Hardware, catalog: Catalog, tmp_path: Path, **services: object) -> MainWindow:
    window = MainWindow(Services(probe_hardware=lambda: hw, load_catalog=lambda: catalog, models_dir=tmp_path,
                                 **services))  # type: ignore[arg-type]
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.catalog is not None and window.hardware is not None, timeout=10000)
    return window


def test_cancel_stops_the_refresh_and_keeps_the_catalog(qtbot, fake_hardware, fake_catalog, tmp_path) -> None:
    refresh = BlockingRefresh(fake_catalog)
    window = window_with(qtbot, fake_hardware, fake_catalog, tmp_path, refresh_catalog=refresh)
    delivered: list[object] = []
    window.catalog_refreshed.connect(delivered.append)
    try:
        assert not window.refresh_cancel_button.isVisible()
        window.refresh_action.trigger()
        assert window.refreshing and not window.refresh_action.isEnabled()
        assert window.catalog_status.text() == "Refreshing the catalog from the Hub…"
        assert window.refresh_cancel_button.isVisible()

        window.refresh_cancel_button.click()
        assert not window.refreshing and window.refresh_action.isEnabled()
        assert not window.refresh_cancel_button.isVisible()
        assert window.catalog_status.text().startswith("Refresh cancelled; showing Offline snapshot, 2026-11-25")
        qtbot.waitUntil(refresh.saw_cancel.is_set, timeout=10000)  # the worker saw it and returned
        assert refresh.threads[0].daemon  # a network wait never holds up the exit
        assert window.catalog is fake_catalog and delivered == []  # its late result is dropped
    finally:
        refresh.test_over.set()


def test_a_partial_refresh_says_what_it_kept_and_refused(qtbot, fake_hardware, fake_catalog, tmp_path) -> None:
    fresh = Catalog(fake_catalog.models, "2026-12-01", "hub")
    result = RefreshResult(fresh, ("Qwen/Qwen3-0.6B-GGUF",), (("Qwen/Qwen3-8B-GGUF", "no answer within 60 s"),),
                           refused=(("Qwen/Qwen3-0.6B-GGUF", "'../x-Q4_K_M.gguf'", "path escapes its folder"),
                                    ("Qwen/Qwen3-0.6B-GGUF", "'/etc/y-Q8_0.gguf'", "absolute path")),
                           skipped=("unsloth/Qwen3-8B-GGUF",), stopped="deadline")
    window = window_with(qtbot, fake_hardware, fake_catalog, tmp_path, refresh_catalog=lambda _cancelled: result)
    with qtbot.waitSignal(window.catalog_refreshed, timeout=10000):
        window.refresh_action.trigger()
    text, tip = window.catalog_status.text(), window.catalog_status.toolTip()
    assert text.startswith("Hub catalog, refreshed 2026-12-01")
    assert "2 repos unreachable, kept from the snapshot" in text and "2 unsafe file names refused" in text
    assert "Qwen/Qwen3-8B-GGUF: no answer within 60 s" in tip
    assert "1 repos not asked: the refresh ran out of time" in tip
    assert "refused '../x-Q4_K_M.gguf' from Qwen/Qwen3-0.6B-GGUF: path escapes its folder" in tip
    assert window.catalog is fresh and not window.refresh_cancel_button.isVisible()


CHILD = r"""
import dataclasses, pathlib, sys
from PySide6.QtCore import QTimer
from ui.app import create_app
from ui.main_window import MainWindow
from ui.services import default_services

flag = pathlib.Path(sys.argv[1])
app = create_app([sys.argv[0]])

def no_probe():
    raise OSError("not probed in this test")

win = MainWindow(dataclasses.replace(default_services(), probe_hardware=no_probe))
win.show()
poll = QTimer()
poll.setInterval(20)

def start(_catalog):
    if not poll.isActive():
        win.refresh_action.trigger()
        print("refreshing", win.refreshing, flush=True)
        poll.start()

def close_when_told():
    if flag.exists():  # the test saw the Hub get the first request
        poll.stop()
        win.close()
        app.quit()

poll.timeout.connect(close_when_told)
win.catalog_ready.connect(start)
app.exec()
print("event loop left", flush=True)
"""


def test_closing_the_window_during_a_stalled_refresh_exits(hub: HubServer, tmp_path) -> None:  # noqa: F811
    """The app's own refresh against a Hub that never answers: close the window, and the process ends."""
    hub.faults.set("stall", "/api/models/", seconds=600, times=None)
    flag = tmp_path / "close-now"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(flag)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + BOUND
        while not hub.requests(contains="/api/models/") and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.05)  # waiting for a condition: the child's first request reaching the Hub
        assert hub.requests(contains="/api/models/"), "the refresh never asked the Hub"
        flag.touch()
        out, err = proc.communicate(timeout=BOUND)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    assert out.splitlines() == ["refreshing True", "event loop left"]
    assert "Traceback" not in err
