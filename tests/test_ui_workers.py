"""LatestRunner: results come back on the GUI thread; superseded tasks' results are dropped."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QThread, QThreadPool

from ui.workers import Cancelled, CancelToken, LatestRunner


@pytest.fixture
def pool() -> Iterator[QThreadPool]:
    pool = QThreadPool()
    pool.setMaxThreadCount(4)
    yield pool
    pool.waitForDone(5000)


@pytest.fixture
def runner(qtbot, pool: QThreadPool) -> LatestRunner:
    return LatestRunner(pool=pool)


def test_result_arrives_on_the_gui_thread(qtbot, runner: LatestRunner) -> None:
    worker_threads: list[object] = []

    def work(_token: CancelToken) -> int:
        worker_threads.append(QThread.currentThread())
        return 42

    threads: list[object] = []
    runner.result.connect(lambda _v: threads.append(QThread.currentThread()))
    with qtbot.waitSignal(runner.result, timeout=5000) as blocker:
        runner.submit(work)
    assert blocker.args == [42]
    assert threads == [QThread.currentThread()]  # the test runs on the GUI thread
    assert worker_threads and worker_threads[0] is not QThread.currentThread()
    assert not runner.busy


def test_errors_are_delivered_not_lost(qtbot, runner: LatestRunner) -> None:
    def boom(_token: CancelToken) -> None:
        raise ValueError("no such file")

    with qtbot.waitSignal(runner.error, timeout=5000) as blocker:
        runner.submit(boom)
    assert isinstance(blocker.args[0], ValueError)


def test_only_the_latest_result_applies(qtbot, runner: LatestRunner) -> None:
    release_first = threading.Event()
    first_started = threading.Event()
    seen_cancel: list[bool] = []

    def slow(token: CancelToken) -> str:
        first_started.set()
        release_first.wait(10)
        seen_cancel.append(token.cancelled)
        return "old"

    results: list[object] = []
    runner.result.connect(results.append)

    first = runner.submit(slow)
    assert first_started.wait(5)
    with qtbot.waitSignal(runner.result, timeout=5000):
        second = runner.submit(lambda _t: "new")
    assert second == first + 1
    assert results == ["new"]

    # The first task finishes late: its result is reported as stale and dropped.
    with qtbot.waitSignal(runner.stale, timeout=5000) as blocker:
        release_first.set()
    assert blocker.args == [first]
    assert results == ["new"]
    assert seen_cancel == [True]  # it was asked to stop when the second one was submitted


def test_many_quick_submissions_deliver_only_the_last(qtbot, runner: LatestRunner) -> None:
    gate = threading.Event()
    results: list[object] = []
    stale: list[int] = []
    runner.result.connect(results.append)
    runner.stale.connect(stale.append)

    def make(i: int):
        def work(token: CancelToken) -> int:
            gate.wait(10)
            return i
        return work

    generations = [runner.submit(make(i)) for i in range(6)]
    with qtbot.waitSignal(runner.result, timeout=5000):
        gate.set()
    qtbot.waitUntil(lambda: len(stale) == 5, timeout=5000)
    assert results == [5]
    assert sorted(stale) == generations[:-1]


def test_cancel_drops_the_running_task(qtbot, runner: LatestRunner) -> None:
    gate = threading.Event()
    results: list[object] = []
    runner.result.connect(results.append)

    def cooperative(token: CancelToken) -> int:
        gate.wait(10)
        if token.cancelled:
            raise Cancelled()
        return 1

    generation = runner.submit(cooperative)
    assert runner.busy
    runner.cancel()
    assert not runner.busy
    with qtbot.waitSignal(runner.stale, timeout=5000) as blocker:
        gate.set()
    assert blocker.args == [generation]
    assert results == []


def test_a_daemon_runner_uses_a_daemon_thread_and_still_reports_on_the_gui_thread(qtbot, pool) -> None:
    runner = LatestRunner(pool=pool, daemon=True)
    seen: list[threading.Thread] = []
    release = threading.Event()

    def work(token: CancelToken) -> str:
        seen.append(threading.current_thread())
        release.wait(10)
        return "cancelled" if token.cancelled else "done"

    threads: list[object] = []
    runner.result.connect(lambda _v: threads.append(QThread.currentThread()))
    with qtbot.waitSignal(runner.result, timeout=5000) as blocker:
        runner.submit(work)
        release.set()
    assert blocker.args == ["done"] and threads == [QThread.currentThread()]
    assert seen[0].daemon and seen[0] is not threading.main_thread()
    assert pool.activeThreadCount() == 0  # the pool was never used
