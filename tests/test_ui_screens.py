"""The window on real screens' sizes and scales (issue 16): each case runs tests/screen_run.py in a process of
its own, because the screen (Qt's offscreen platform with a config file) and the scale (`QT_SCALE_FACTOR`) are
fixed when Qt starts, and the test session's offscreen screen (800 x 800) is narrower than the window's
minimum width.

- The geometry and the splitters saved at close come back in a new window.
- Four chat panes do not push the window wider than the screen, and a window saved wider than the screen it
  opens on comes back inside it.
- At scale 2 and 1.5 (a laptop's high-DPI screen) no label, button or check box of any tab is cut.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QRect

RUN = Path(__file__).resolve().parent / "screen_run.py"
FRAME_SLACK = 4  # the offscreen platform's window frame: 1 pixel a side, added once the window shows


def run(step: str, settings: Path, tmp_path: Path, screen: tuple[int, int], scale: float = 1.0,
        **env: str) -> dict[str, dict[str, object]]:
    config = tmp_path / f"screen-{screen[0]}x{screen[1]}.json"
    config.write_text(json.dumps({"screens": [{"name": "test", "x": 0, "y": 0, "width": screen[0],
                                               "height": screen[1], "logicalDpi": 96, "logicalBaseDpi": 96,
                                               "dpr": 1}]}))
    environ = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}", "QT_SCALE_FACTOR": str(scale),
               **{f"SCREEN_RUN_{k.upper()}": v for k, v in env.items()}}
    done = subprocess.run([sys.executable, str(RUN), step, str(settings)], env=environ, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    out: dict[str, dict[str, object]] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def inside(state: dict[str, object]) -> bool:
    """The window's frame on the screen's available area (within the frame's pixels)."""
    area, frame = QRect(*state["available"]), QRect(*state["frame"])  # type: ignore[misc]
    return area.adjusted(-FRAME_SLACK, -FRAME_SLACK, FRAME_SLACK, FRAME_SLACK).contains(frame)


def test_geometry_and_splitters_come_back_in_a_new_window(tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    saved = run("open", settings, tmp_path, (1920, 1080), geometry="60,40,1400,850", splitter="450,950",
                models_splitter="700,400")["saved"]
    assert saved["geometry"] == [60, 40, 1400, 850] and saved["main_splitter"][0] == 450  # type: ignore[index]
    assert json.loads(settings.read_text())["window"]["geometry"]
    opened = run("report", settings, tmp_path, (1920, 1080))["opened"]
    assert opened["geometry"] == saved["geometry"]
    assert opened["main_splitter"] == saved["main_splitter"]
    assert opened["models_splitter"] == saved["models_splitter"]


def test_four_panes_keep_the_window_on_the_screen(tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    out = run("open", settings, tmp_path, (1600, 900), geometry="0,0,1500,860", panes="4")
    assert out["saved"]["panes"] == 4
    assert out["saved"]["geometry"] == out["before_chat"]["geometry"]  # the panes scroll; the window stays
    assert inside(out["saved"]), out["saved"]
    reopened = run("report", settings, tmp_path, (1600, 900))
    assert inside(reopened["opened"]) and inside(reopened["shown"]), reopened  # the 4 panes restored too


def test_a_window_saved_on_a_bigger_screen_opens_inside_a_smaller_one(tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    run("open", settings, tmp_path, (2560, 1440), geometry="300,200,2200,1200")
    opened = run("report", settings, tmp_path, (1366, 768))["opened"]
    assert inside(opened), opened


@pytest.mark.parametrize("scale", [2.0, 1.5])
def test_nothing_is_cut_at_high_dpi(tmp_path: Path, scale: float) -> None:
    """A 3200 x 2000 screen at scale 2 (1600 x 1000 logical pixels) and 2400 x 1500 at 1.5: every tab shown in
    turn, four chat panes among them, and each shown text checked against the room it got (tests/clipping.py)."""
    settings = tmp_path / "settings.json"
    physical = (3200, 2000) if scale == 2 else (2400, 1500)
    run("open", settings, tmp_path, physical, scale, panes="4")
    out = run("report", settings, tmp_path, physical, scale)
    assert out["opened"]["scale"] == scale and out["opened"]["available"] == [0, 0, 1600, 1000]
    assert {tab: cut for tab, cut in out["clipped"].items() if cut} == {}  # type: ignore[union-attr]
    assert inside(out["shown"]), out["shown"]
