"""A probe run on a thread of its own, reported to the Probes tab as Qt signals.

The thread runs `explorer.cli.probe_run.run_probe_set` (model loads, template renders and decoding
never touch the GUI thread) and saves the run after every answer, so a stop, a crash or a closed
window keeps what was answered. The GUI gets copies: the run as it starts, each cell, the final run.
"""

from __future__ import annotations

import copy
import io
import threading
from collections.abc import Sequence

from PySide6.QtCore import QObject, Signal

from explorer.cli.probe_run import ProbeColumn, ProbeSettings, new_run, run_probe_set
from explorer.errors import describe_error
from explorer.probes.results import Cell, ProbeRun
from explorer.probes.run_store import RunStore
from explorer.probes.sets import ProbeSet


class _Notes(io.StringIO):
    """The runner's lines ("loaded in 0.4 s", "error: ...") as signals."""

    def __init__(self, job: ProbeJob) -> None:
        super().__init__()
        self.job = job

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                self.job.note.emit(line.strip())
        return len(text)


class ProbeJob(QObject):
    started = Signal(object)  # ProbeRun (a copy) as the run begins
    cell = Signal(object)  # Cell, as each answer ends
    note = Signal(str)  # a line of progress or an error
    finished = Signal(object)  # ProbeRun (a copy): done, stopped or failed
    failed = Signal(str)  # the run itself failed (one line); `finished` follows

    def __init__(self, store: RunStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, probe_set: ProbeSet, columns: Sequence[ProbeColumn], settings: ProbeSettings,
              resume: ProbeRun | None = None) -> None:
        if self.running:
            raise RuntimeError("a probe run is already going")
        self._stop = threading.Event()
        run = copy.deepcopy(resume) if resume is not None else new_run(probe_set, columns, settings)
        self._thread = threading.Thread(target=self._work, args=(probe_set, list(columns), settings, run, self._stop),
                                        name="probe-run", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ends the answer in progress (within a token) and the run; what was answered is kept."""
        self._stop.set()

    def wait(self, seconds: float) -> bool:
        """For the app's exit and tests: True once the thread has ended."""
        if self._thread is not None:
            self._thread.join(seconds)
        return not self.running

    def _work(self, probe_set: ProbeSet, columns: list[ProbeColumn], settings: ProbeSettings, run: ProbeRun,
              stop: threading.Event) -> None:
        save_failed = False

        def save() -> None:
            nonlocal save_failed
            try:
                self.store.save(run)
            except OSError as exc:
                if not save_failed:
                    self.note.emit(f"error: could not save the run: {describe_error(exc)}")
                save_failed = True

        def on_cell(cell: Cell) -> None:
            save()
            self.cell.emit(cell)

        self.started.emit(copy.deepcopy(run))
        try:
            run_probe_set(probe_set, columns, settings, err=_Notes(self), on_cell=on_cell, stop=stop, resume=run)
        except Exception as exc:  # anything the runner did not turn into a cell: one line, the app goes on
            self.failed.emit(describe_error(exc))
        save()
        self.finished.emit(copy.deepcopy(run))
