"""Run slow calls off the UI thread and bring their results back as signals.

`LatestRunner` keeps one logical job (the hardware probe, the fit recomputation): each `submit`
starts a new generation, asks the previous task to stop through its `CancelToken`, and drops the
previous task's late result (Orange3's "cancel the old task, ignore its answer"). Results arrive on
the GUI thread through queued signals; the UI thread never waits for a task.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal, Slot


class CancelToken:
    """Set by the runner when a newer task supersedes this one; a task checks it between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


class Cancelled(Exception):
    """A task may raise this when it notices its token was cancelled."""


class LatestRunner(QObject):
    """Runs `fn(token)` on a thread pool; only the newest submission's outcome is delivered.

    Signals (on the GUI thread):
      started(generation)        a task was submitted
      result(object)             the newest task returned this value
      error(object)              the newest task raised this exception
      stale(int)                 a superseded task finished; its outcome was dropped
    """

    started = Signal(int)
    result = Signal(object)
    error = Signal(object)
    stale = Signal(int)
    _done = Signal(int, bool, object)  # emitted from the worker thread

    def __init__(self, parent: QObject | None = None, pool: QThreadPool | None = None, *,
                 daemon: bool = False) -> None:
        """`daemon`: run each task on its own Python daemon thread instead of the pool, for tasks that
        may wait on the network: the app's exit never waits for them (Qt waits for the pool's threads)."""
        super().__init__(parent)
        self._pool = pool or QThreadPool.globalInstance()
        self._daemon = daemon
        self._generation = 0
        self._token: CancelToken | None = None
        self._pending: set[int] = set()
        self._done.connect(self._on_done)

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def busy(self) -> bool:
        """The newest task has not reported yet."""
        return self._generation in self._pending

    def submit(self, fn: Callable[[CancelToken], Any]) -> int:
        """Run `fn(token)` on the pool, superseding what ran before; returns its generation."""
        self.cancel()
        generation = self._generation
        token = self._token = CancelToken()
        self._pending.add(generation)
        ref = weakref.ref(self)

        def task() -> None:
            ok: bool
            payload: object
            if token.cancelled:
                ok, payload = False, Cancelled()
            else:
                try:
                    ok, payload = True, fn(token)
                except BaseException as exc:  # delivered to the GUI thread, never lost
                    ok, payload = False, exc
            runner = ref()
            if runner is None:
                return
            with contextlib.suppress(RuntimeError):  # the runner's C++ object is gone
                runner._done.emit(generation, ok, payload)

        if self._daemon:
            threading.Thread(target=task, name="latest-runner", daemon=True).start()
        else:
            self._pool.start(task)
        self.started.emit(generation)
        return generation

    def cancel(self) -> None:
        """Ask the running task to stop and make any result it still delivers stale."""
        if self._token is not None:
            self._token.cancel()
            self._token = None
        self._generation += 1

    @Slot(int, bool, object)
    def _on_done(self, generation: int, ok: bool, payload: object) -> None:
        self._pending.discard(generation)
        if generation != self._generation:
            self.stale.emit(generation)
        elif ok:
            self.result.emit(payload)
        else:
            self.error.emit(payload)
