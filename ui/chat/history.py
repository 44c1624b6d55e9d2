"""The chat's saved conversations: saving after each run, the Conversations menu, opening and exporting.

Every file is read, parsed, written and exported off the GUI thread: saves run one after another on
their own thread (so an older snapshot never lands last), the list and opening go through
`LatestRunner`s. The store (`explorer.chat.transcripts.ConversationStore`) skips what is not a
regular file, reads only the header of a large file for the list, and names an unreadable file's
problem, which the menu shows greyed out next to the others.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMenu, QToolButton, QWidget

from explorer.chat.export import to_json, to_markdown
from explorer.chat.records import Session
from explorer.chat.transcripts import ConversationStore, SessionInfo
from ui.workers import LatestRunner

MENU_ENTRIES = 30


class Conversations(QObject):
    """The Conversations button and what it does; `opened(Session)` asks the tab to show one."""

    saved = Signal(object)  # Path
    save_failed = Signal(str)
    opened = Signal(object)  # Session, read from its file
    note = Signal(str)  # a line for the person (an error, "Exported to ...")

    def __init__(self, store: ConversationStore, snapshot: Callable[[], Session | None],
                 new_conversation: Callable[[], None], parent: QWidget) -> None:
        super().__init__(parent)
        self.store = store
        self._snapshot = snapshot  # the conversation to save or export now; None before the first message
        self._new = new_conversation
        self._closed = False
        self._save_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="save-conversation")
        self.save_failed.connect(lambda msg: self.note.emit(f"Could not save the conversation: {msg}"))
        self.list_runner = LatestRunner(self)
        self.list_runner.result.connect(self._fill)
        self.list_runner.error.connect(lambda exc: self.note.emit(f"Could not read saved conversations: {exc}"))
        self.open_runner = LatestRunner(self)
        self.open_runner.result.connect(self.opened)
        self.open_runner.error.connect(lambda exc: self.note.emit(str(exc)))
        self.export_runner = LatestRunner(self)
        self.export_runner.result.connect(lambda p: self.note.emit(f"Exported to {p}"))
        self.export_runner.error.connect(lambda exc: self.note.emit(f"Export failed: {exc}"))
        self.button = QToolButton(parent)
        self.button.setObjectName("historyButton")
        self.button.setText("Conversations")
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu = QMenu(self.button)
        self.menu.aboutToShow.connect(self.refresh)
        self.button.setMenu(self.menu)

    def save(self) -> None:
        """Save the conversation (on the save thread); nothing to save before the first message."""
        session = self._snapshot()
        if session is None or self._closed:
            return
        store, saved, failed = self.store, self.saved, self.save_failed

        def write() -> None:
            try:
                path = store.save(session)
            except Exception as exc:  # a full disk, a read-only folder: tell the person, keep the chat
                with contextlib.suppress(RuntimeError):
                    failed.emit(str(exc))
                return
            with contextlib.suppress(RuntimeError):
                saved.emit(path)

        self._save_pool.submit(write)

    def refresh(self) -> None:
        """Read the saved conversations (off the GUI thread) into the menu."""
        self.menu.clear()
        loading = self.menu.addAction("Reading saved conversations…")
        loading.setEnabled(False)
        store = self.store
        self.list_runner.submit(lambda _token: store.list())

    def _fill(self, infos: list[SessionInfo]) -> None:
        menu = self.menu
        menu.clear()
        new = menu.addAction("New conversation")
        new.triggered.connect(self._new)
        menu.addSeparator()
        can_export = self._snapshot() is not None
        md = menu.addAction("Export as Markdown…")
        md.triggered.connect(lambda: self.export("md"))
        js = menu.addAction("Export as JSON…")
        js.triggered.connect(lambda: self.export("json"))
        for a in (md, js):
            a.setEnabled(can_export)
        menu.addSeparator()
        if not infos:
            none = menu.addAction("No saved conversations yet")
            none.setEnabled(False)
        for info in infos[:MENU_ENTRIES]:
            when = info.updated[:16].replace("T", " ")
            panes = f"  ·  {info.n_panes} panes" if info.n_panes is not None else ""
            action = menu.addAction(f"{info.title}{panes}  ·  {when}")
            if info.error:
                action.setText(f"{info.path.name} (unreadable: {info.error})")
                action.setEnabled(False)
            else:
                action.triggered.connect(lambda _=False, path=info.path: self.open(path))

    def open(self, path: Path) -> None:
        """Read the conversation saved in `path` (off the GUI thread); `opened` brings it."""
        store = self.store
        self.open_runner.submit(lambda _token: store.open(path))

    def export(self, fmt: str, path: Path | None = None) -> None:
        """Write the conversation as Markdown ("md") or JSON to `path` (asked for when None)."""
        session = self._snapshot()
        if session is None:
            return
        if path is None:
            suffix = "md" if fmt == "md" else "json"
            parent = self.button.window()
            name, _ = QFileDialog.getSaveFileName(parent, "Export conversation", f"{session.id}.{suffix}",
                                                  "Markdown (*.md)" if fmt == "md" else "JSON (*.json)")
            if not name:
                return
            path = Path(name)
        target = path

        def write(_token: object) -> Path:
            target.write_text(to_markdown(session) if fmt == "md" else to_json(session), encoding="utf-8")
            return target

        self.export_runner.submit(write)

    def shutdown(self) -> None:
        """At exit: the last save is written (small JSON files), then nothing more is saved."""
        self._closed = True
        self._save_pool.shutdown(wait=True)
