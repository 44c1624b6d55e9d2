"""Ctrl+C in the terminal and SIGTERM close the app as its close button does (new-user trial): the
process ends on its own, with exit code 0, and the window's close path runs (it saves and ends the
model processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOUND = 60.0  # seconds: "ends", not how fast
CHILD = r"""
import sys
from PySide6.QtCore import QTimer
from ui import app as app_mod
from ui.main_window import MainWindow

closed = MainWindow.closeEvent
def close_event(self, event):
    print("close path ran", flush=True)
    closed(self, event)
MainWindow.closeEvent = close_event
QTimer.singleShot(0, lambda: print("window shown", flush=True))
sys.exit(app_mod.run_gui([sys.argv[0]]))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_closes_the_window_and_the_app_exits(sig: signal.Signals, tmp_path: Path, qapp: object) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path),
           "XDG_DATA_HOME": str(tmp_path), "QWEN3_EXPLORER_MODELS": str(tmp_path / "models")}
    proc = subprocess.Popen([sys.executable, "-c", CHILD], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        end = time.monotonic() + BOUND
        while time.monotonic() < end and proc.stdout.readline().strip() != "window shown":
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=BOUND)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "close path ran" in out and "Traceback" not in err
