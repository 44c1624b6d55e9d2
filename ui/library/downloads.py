"""The Downloads tab: one row per job with its progress, speed, time left, state and buttons.

The download manager reports `Progress` from its worker threads. `ProgressBridge` turns each report
into a Qt signal, which reaches the panel on the GUI thread (a queued connection). The panel keeps
only the newest report per job and repaints at most ~10 times a second; a change of state (done,
failed, paused, ...) is shown at once, so coalescing never loses the final state.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from explorer.store.download_types import Progress, State
from ui.fmt import format_bytes
from ui.services import Downloader, DownloaderFactory

FLUSH_MS = 100  # at most ~10 repaints a second per job
_SELECTABLE = Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
ACTIVE = frozenset({State.QUEUED, State.RUNNING, State.VERIFYING})
FINISHED = frozenset({State.DONE, State.CANCELLED})
STATE_TEXT = {
    State.QUEUED: "Queued",
    State.RUNNING: "Downloading",
    State.VERIFYING: "Verifying",
    State.PAUSED: "Paused",
    State.DONE: "Done, verified",
    State.FAILED: "Failed",
    State.CANCELLED: "Cancelled",
}


def format_rate(bytes_per_s: float) -> str:
    return f"{format_bytes(int(bytes_per_s))}/s" if bytes_per_s > 0 else ""


def format_eta(seconds: float | None) -> str:
    """'45 s left', '12 min left', '2 h 05 min left'; empty when unknown."""
    if seconds is None:
        return ""
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s} s left"
    if s < 3600:
        return f"{(s + 30) // 60} min left"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min left"


class ProgressBridge(QObject):
    """`report(progress)` may be called from any thread; `progress` is emitted to GUI-thread slots."""

    progress = Signal(object)  # Progress

    def callback(self) -> Callable[[Progress], None]:
        """A plain callable for the manager that outlives this object safely (no report after it is gone)."""
        ref = weakref.ref(self)

        def report(p: Progress) -> None:
            bridge = ref()
            if bridge is None:
                return
            with contextlib.suppress(RuntimeError):  # the C++ object is gone (window closed)
                bridge.progress.emit(p)

        return report


@dataclass(frozen=True)
class JobInfo:
    title: str  # "Qwen3-8B · Q4_K_M"
    subtitle: str  # "Qwen/Qwen3-8B-GGUF · Qwen3-8B-Q4_K_M.gguf"
    repo: str
    files: tuple[str, ...]


class JobRow(QFrame):
    """One download: title, bar with bytes, speed · time left · state, buttons, the full message."""

    def __init__(self, job_id: int, info: JobInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("downloadRow")
        self.job_id = job_id
        self.info = info
        self.progress: Progress | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 10, 14, 10)
        lay.setSpacing(6)

        top = QHBoxLayout()
        top.setSpacing(8)
        names = QVBoxLayout()
        names.setSpacing(1)
        self.title = QLabel(info.title)
        self.title.setObjectName("downloadTitle")
        self.title.setTextInteractionFlags(_SELECTABLE)
        self.subtitle = QLabel(info.subtitle)
        self.subtitle.setObjectName("muted")
        self.subtitle.setTextInteractionFlags(_SELECTABLE)
        self.subtitle.setToolTip("\n".join(info.files))
        names.addWidget(self.title)
        names.addWidget(self.subtitle)
        top.addLayout(names, 1)
        self.state_label = QLabel()
        self.state_label.setObjectName("downloadState")
        top.addWidget(self.state_label)
        self.pause_button = self._button("Pause", top)
        self.resume_button = self._button("Resume", top)
        self.retry_button = self._button("Retry", top)
        self.cancel_button = self._button("Cancel", top)
        lay.addLayout(top)

        self.bar = QProgressBar()
        self.bar.setObjectName("downloadBar")
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(8)
        lay.addWidget(self.bar)

        self.detail = QLabel()
        self.detail.setObjectName("downloadDetail")
        lay.addWidget(self.detail)
        self.message = QLabel()
        self.message.setObjectName("downloadError")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(_SELECTABLE)
        self.message.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.message.hide()
        lay.addWidget(self.message)
        self.set_progress(Progress(job_id, State.QUEUED, 0, 0, 0.0))

    def _button(self, text: str, layout: QHBoxLayout) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName("rowButton")
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        layout.addWidget(button)
        return button

    @property
    def state(self) -> State:
        assert self.progress is not None
        return self.progress.state

    def set_progress(self, p: Progress) -> None:
        self.progress = p
        state = p.state
        self.setProperty("state", state.name.lower())
        self.state_label.setText(STATE_TEXT[state])
        self.state_label.setProperty("state", state.name.lower())
        for w in (self, self.state_label, self.bar):  # re-apply the style sheet's [state="..."] rules
            w.style().unpolish(w)
            w.style().polish(w)
        if p.total > 0:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * min(p.done, p.total) / p.total))
            amount = f"{format_bytes(p.done)} of {format_bytes(p.total)}"
        elif state in ACTIVE and state is not State.QUEUED:
            self.bar.setRange(0, 0)  # busy: size not known yet
            amount = "asking the Hub…"
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(1000 if state is State.DONE else 0)
            amount = "waiting" if state is State.QUEUED else ""
        self.bar.setToolTip(f"{p.done:,} of {p.total:,} bytes" if p.total else "")
        parts = [amount]
        if state is State.RUNNING:
            parts += [format_rate(p.speed), format_eta(p.eta)]
            if p.file and len(self.info.files) > 1:
                parts.append(p.file.rsplit("/", 1)[-1])
        elif state is not State.FAILED and p.message:
            parts.append(p.message)
        self.detail.setText("  ·  ".join(x for x in parts if x))
        failed = state is State.FAILED
        self.message.setText(p.message if failed else "")
        self.message.setVisible(failed and bool(p.message))
        finished = state in FINISHED
        self.pause_button.setVisible(state not in (State.PAUSED, State.FAILED) and not finished)
        self.pause_button.setEnabled(state in (State.QUEUED, State.RUNNING))
        self.resume_button.setVisible(state is State.PAUSED)
        self.retry_button.setVisible(failed)
        self.cancel_button.setVisible(not finished)
        self.cancel_button.setEnabled(not finished)


class DownloadsPanel(QWidget):
    """The jobs of one download manager, which is built lazily by `factory` on the first enqueue."""

    job_done = Signal(int)  # job id: every file downloaded and verified
    job_failed = Signal(int, str)  # job id, the manager's message
    active_changed = Signal(int)  # jobs queued or running

    def __init__(self, factory: DownloaderFactory | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("downloadsPanel")
        self._factory = factory
        self._manager: Downloader | None = None
        self.bridge = ProgressBridge(self)
        self.bridge.progress.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        self.rows: dict[int, JobRow] = {}
        self._pending: dict[int, Progress] = {}
        self._infos: dict[int, JobInfo] = {}
        self._active = 0
        self.repaints = 0  # rows repainted from progress (tests check the coalescing)
        self._timer = QTimer(self)
        self._timer.setInterval(FLUSH_MS)
        self._timer.timeout.connect(self._flush)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 12, 14, 12)
        lay.setSpacing(10)
        head = QHBoxLayout()
        title = QLabel("Downloads")
        title.setObjectName("paneTitle")
        head.addWidget(title)
        head.addStretch(1)
        self.summary = QLabel("")
        self.summary.setObjectName("muted")
        head.addWidget(self.summary)
        self.clear_button = QPushButton("Clear finished")
        self.clear_button.setObjectName("rowButton")
        self.clear_button.clicked.connect(self.clear_finished)
        head.addWidget(self.clear_button)
        lay.addLayout(head)

        self.placeholder = QLabel(
            "No downloads yet. Pick a model file in the Models tab and press Download."
            if factory is not None else "Downloads are not available in this session.")
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        lay.addWidget(self.placeholder, 1)

        self._list = QWidget()
        self._list.setObjectName("downloadList")
        self._list_layout = QVBoxLayout(self._list)
        self._list_layout.setContentsMargins(0, 0, 0, 0)
        self._list_layout.setSpacing(8)
        self._list_layout.addStretch(1)
        self.list_scroll = QScrollArea()
        self.list_scroll.setObjectName("downloadScroll")
        self.list_scroll.setWidget(self._list)
        self.list_scroll.setWidgetResizable(True)
        self.list_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.list_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        lay.addWidget(self.list_scroll, 1)
        self._update_chrome()

    # --- the manager -----------------------------------------------------------------------

    @property
    def flush_pending(self) -> bool:
        """Coalesced reports wait for the next repaint tick; False: every row shows its newest report."""
        return self._timer.isActive()

    @property
    def available(self) -> bool:
        return self._factory is not None

    @property
    def manager(self) -> Downloader:
        if self._manager is None:
            if self._factory is None:
                raise RuntimeError("no download manager in this session")
            self._manager = self._factory(self.bridge.callback())
        return self._manager

    def enqueue(self, repo: str, files: tuple[str, ...], title: str = "", subtitle: str = "") -> int:
        """Queue a model (all its shards); its row appears at once."""
        first = files[0].rsplit("/", 1)[-1] if files else ""
        more = f" (+{len(files) - 1} shards)" if len(files) > 1 else ""
        info = JobInfo(title or first, subtitle or f"{repo}  ·  {first}{more}", repo, tuple(files))
        job_id = self.manager.enqueue(repo, list(files))  # DownloadError for a bad name: the caller shows it
        self._infos[job_id] = info
        row = self._row(job_id)
        row.info = info
        row.title.setText(info.title)
        row.subtitle.setText(info.subtitle)
        row.subtitle.setToolTip("\n".join(files))
        return job_id

    def close_manager(self) -> None:
        """Stop the workers (running jobs are paused and keep their partial files)."""
        self._timer.stop()
        if self._manager is not None:
            manager, self._manager = self._manager, None
            manager.close()

    # --- rows ------------------------------------------------------------------------------

    def _row(self, job_id: int) -> JobRow:
        row = self.rows.get(job_id)
        if row is None:
            info = self._infos.get(job_id) or JobInfo(f"Download {job_id}", "", "", ())
            row = JobRow(job_id, info)
            row.pause_button.clicked.connect(lambda: self.manager.pause(job_id))
            row.resume_button.clicked.connect(lambda: self.manager.resume(job_id))
            row.retry_button.clicked.connect(lambda: self.manager.resume(job_id))
            row.cancel_button.clicked.connect(lambda: self.manager.cancel(job_id))
            self.rows[job_id] = row
            self._list_layout.insertWidget(0, row)  # newest first
            self._update_chrome()
        return row

    def clear_finished(self) -> None:
        for job_id, row in list(self.rows.items()):
            if row.state in FINISHED:
                self._pending.pop(job_id, None)
                del self.rows[job_id]
                self._list_layout.removeWidget(row)
                row.deleteLater()
        self._update_chrome()

    def _update_chrome(self) -> None:
        has_rows = bool(self.rows)
        self.placeholder.setVisible(not has_rows)
        self.list_scroll.setVisible(has_rows)
        finished = sum(r.state in FINISHED for r in self.rows.values())
        self.clear_button.setEnabled(finished > 0)
        active = sum(r.state in ACTIVE for r in self.rows.values())
        if has_rows:
            done = sum(r.state is State.DONE for r in self.rows.values())
            failed = sum(r.state is State.FAILED for r in self.rows.values())
            bits = [f"{active} active" if active else "", f"{done} done" if done else "",
                    f"{failed} failed" if failed else ""]
            self.summary.setText("  ·  ".join(b for b in bits if b))
        else:
            self.summary.setText("")
        if active != self._active:
            self._active = active
            self.active_changed.emit(active)

    # --- progress (GUI thread) -------------------------------------------------------------

    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        row = self._row(p.job)
        if row.progress is not None and row.progress.state is p.state:
            self._pending[p.job] = p  # same state: repaint on the next tick
            if not self._timer.isActive():
                self._timer.start()
            return
        self._pending.pop(p.job, None)  # a newer report supersedes the pending one
        self._apply(row, p)

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        for job_id, p in pending.items():
            row = self.rows.get(job_id)
            if row is not None:
                self._apply(row, p)
        if not self._pending:
            self._timer.stop()

    def _apply(self, row: JobRow, p: Progress) -> None:
        before = row.progress.state if row.progress is not None else None
        row.set_progress(p)
        self.repaints += 1
        if p.state is not before:
            self._update_chrome()
            if p.state is State.DONE:
                self.job_done.emit(p.job)
            elif p.state is State.FAILED:
                self.job_failed.emit(p.job, p.message)
