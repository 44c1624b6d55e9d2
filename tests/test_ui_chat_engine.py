"""The pane driver's thread with a real worker: what it does while the pane is idle."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from explorer.testing.models import ensure_model
from ui.chat.driver import LoadSpec, PaneDriver


@pytest.fixture
def driver(qtbot: QtBot) -> Iterator[PaneDriver]:
    d = PaneDriver("test")
    yield d
    with qtbot.waitSignal(d.closed, timeout=20_000):
        d.close()


def test_an_idle_loaded_pane_blocks_until_something_happens(qtbot: QtBot, driver: PaneDriver) -> None:
    """No polling while idle (it woke 20 times a second): the thread wakes for a command or for the
    worker, and a worker killed while idle is reported at once."""
    pids: list[int] = []
    driver.worker_pid.connect(pids.append)
    with qtbot.waitSignal(driver.state_changed, timeout=60_000,
                          check_params_cb=lambda state: state == "ready"):
        driver.load(LoadSpec(ensure_model("qwen3-tiny-hybrid-q8_0"), n_ctx=512))
    qtbot.waitUntil(lambda: driver.idle, timeout=5_000)
    before = driver.idle_wakes
    time.sleep(1.0)  # not a wait for something: a second in which nothing happens must not wake it
    assert driver.idle and driver.idle_wakes == before  # blocked for the whole second
    with qtbot.waitSignal(driver.engine_error, timeout=10_000) as error:  # reported while idle, not at the next use
        os.kill(pids[-1], signal.SIGKILL)
    assert "SIGKILL" in error.args[0]
    assert driver.state == "failed"
