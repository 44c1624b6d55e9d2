"""The Probes tab: run a probe set over the chat grid's panes or chosen files, read the grid, vote blind.

Top: the set (built-in and the person's: new, edit, import), the columns (from the chat grid, or files
from the Library or a file dialog, with this tab's settings) and Run / Stop (Esc) / Resume. Below, one
of three pages: the results grid of the open run, a blind vote over its answers, the leaderboard.
While the blind vote shows, nothing on the tab names a model: the set-up area and the run's progress
lines are hidden, and the run list's titles never name one.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from explorer.cli.probe_run import ProbeColumn, ProbeSettings, columns_of
from explorer.paths import models_dir, probes_dir
from explorer.probes.library import copy_set, import_set, new_set
from explorer.probes.results import ProbeRun
from explorer.probes.run_store import RunStore, SavedRun
from explorer.probes.sets import ProbeSet, ProbeSetError, SetEntry, find_set, list_sets, load_set
from explorer.probes.votes import VoteStore
from ui.probes.blind_view import BlindVoteView
from ui.probes.exports import export_run
from ui.probes.from_chat import PANE_KEY, file_column
from ui.probes.grid import ProbeGrid
from ui.probes.leaderboard_view import LeaderboardView
from ui.probes.run_job import ProbeJob
from ui.prompts import Prompts
from ui.workers import LatestRunner

ColumnsSource = Callable[[], "list[ProbeColumn] | str"]  # the chat grid's panes, or why there are none


def _button(text: str, tip: str = "") -> QPushButton:
    b = QPushButton(text)
    b.setObjectName("rowButton")
    if tip:
        b.setToolTip(tip)
    return b


class ProbesTab(QWidget):
    run_finished = Signal(object)  # ProbeRun

    def __init__(self, *, runs: RunStore | None = None, votes: VoteStore | None = None,
                 prompts: Prompts | None = None, chat_columns: ColumnsSource | None = None,
                 before_run: Callable[[], str | None] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("probesTab")
        self.runs = runs or RunStore()
        self.votes = votes or VoteStore()
        self.prompts = prompts or Prompts()
        self.chat_columns = chat_columns
        self.before_run = before_run  # e.g. the chat grid unloads its models; a str says why not to run
        self.entries: list[SetEntry] = []
        self.saved: list[SavedRun] = []
        self.columns: list[ProbeColumn] = []
        self.run: ProbeRun | None = None
        self.run_set: ProbeSet | None = None
        self.active = False  # a run is going (from its start until its `finished` reached this tab)
        self.job = ProbeJob(self.runs, self)
        self.job.started.connect(self._on_started)
        self.job.cell.connect(self._on_cell)
        self.job.note.connect(self._on_note)
        self.job.failed.connect(self._on_failed)
        self._failure = ""
        self.job.finished.connect(self._on_finished)
        self.sets_runner = LatestRunner(self)
        self.sets_runner.result.connect(self._on_sets)
        self.runs_runner = LatestRunner(self)
        self.runs_runner.result.connect(self._on_runs)
        self._build()
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.stop,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.start,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.reload_sets()
        self.reload_runs()
        self._update()

    # --- layout -------------------------------------------------------------------------------

    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 12, 14, 12)
        lay.setSpacing(8)
        self.setup = QWidget()
        sl = QVBoxLayout(self.setup)
        sl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        title = QLabel("Probes")
        title.setObjectName("paneTitle")
        row.addWidget(title)
        row.addSpacing(12)
        row.addWidget(QLabel("Set"))
        self.set_combo = QComboBox()
        self.set_combo.setMinimumWidth(260)
        self.set_combo.currentIndexChanged.connect(lambda _i: self._set_picked())
        row.addWidget(self.set_combo, 1)
        self.new_button = _button("New set", "Start a set of your own questions and open it in your editor")
        self.edit_button = _button("Edit", "Open the set in your editor (a built-in set is copied to your sets first)")
        self.import_button = _button("Import…", "Add a set file (TOML) to your sets")
        self.folder_button = _button("Sets folder", str(probes_dir()))
        self.reload_button = _button("Reload", "Read the sets again after editing one")
        for b, slot in ((self.new_button, self.new_set), (self.edit_button, self.edit_set),
                        (self.import_button, self.import_set), (self.folder_button, self._open_folder),
                        (self.reload_button, self.reload_sets)):
            b.clicked.connect(slot)
            row.addWidget(b)
        sl.addLayout(row)
        self.set_info = QLabel("")
        self.set_info.setObjectName("muted")
        self.set_info.setWordWrap(True)
        sl.addWidget(self.set_info)

        row = QHBoxLayout()
        row.addWidget(QLabel("Columns"))
        self.columns_label = QLabel("")
        self.columns_label.setObjectName("muted")
        self.columns_label.setWordWrap(True)
        row.addWidget(self.columns_label, 1)
        self.from_chat_button = _button("From the chat grid", "One column per chat pane, with that pane's settings")
        self.from_chat_button.clicked.connect(self.use_chat_grid)
        self.add_file_button = _button("Add file…", "A GGUF file, answering with the settings on the right")
        self.add_file_button.clicked.connect(self.choose_file)
        self.clear_button = _button("Clear")
        self.clear_button.clicked.connect(lambda: self.set_columns([]))
        for b in (self.from_chat_button, self.add_file_button, self.clear_button):
            row.addWidget(b)
        row.addSpacing(10)
        row.addWidget(QLabel("Max tokens"))
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(16, 32768)
        self.max_tokens.setValue(1024)
        row.addWidget(self.max_tokens)
        self.thinking = QComboBox()
        self.thinking.addItems(["Thinking: model default", "Thinking on", "Thinking off"])
        row.addWidget(self.thinking)
        sl.addLayout(row)
        lay.addWidget(self.setup)

        self.run_row = QWidget()
        row = QHBoxLayout(self.run_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.run_button = _button("Run set", "Ask every question of every column (Ctrl+Enter)")
        self.run_button.clicked.connect(self.start)
        self.stop_button = _button("Stop", "Stop the run (Esc); what was answered is kept")
        self.stop_button.clicked.connect(self.stop)
        self.resume_button = _button("Resume", "Ask the questions this run has not answered yet")
        self.resume_button.clicked.connect(self.resume)
        for b in (self.run_button, self.stop_button, self.resume_button):
            row.addWidget(b)
        self.status = QLabel("")
        self.status.setObjectName("statusText")
        self.status.setWordWrap(True)
        row.addWidget(self.status, 1)
        lay.addWidget(self.run_row)

        row = QHBoxLayout()
        row.addWidget(QLabel("Run"))
        self.runs_combo = QComboBox()
        self.runs_combo.setMinimumWidth(320)
        self.runs_combo.activated.connect(lambda i: self.open_saved(i))
        row.addWidget(self.runs_combo, 1)
        self.export_button = _button("Export…", "Save the open run as Markdown, JSON or CSV")
        self.export_button.clicked.connect(self.export)
        row.addWidget(self.export_button)
        row.addSpacing(16)
        self.page_buttons = QButtonGroup(self)
        for i, text in enumerate(("Results", "Blind vote", "Leaderboard")):
            b = _button(text)
            b.setCheckable(True)
            self.page_buttons.addButton(b, i)
            row.addWidget(b)
        self.page_buttons.button(0).setChecked(True)
        self.page_buttons.idClicked.connect(self.show_page)
        lay.addLayout(row)

        self.pages = QStackedWidget()
        self.grid = ProbeGrid()
        self.blind = BlindVoteView()
        self.blind.finished.connect(lambda: self.show_page(2))
        self.leaderboard = LeaderboardView()
        for w in (self.grid, self.blind, self.leaderboard):
            self.pages.addWidget(w)
        lay.addWidget(self.pages, 1)

    # --- sets ---------------------------------------------------------------------------------

    def reload_sets(self, select: Path | None = None) -> None:
        current = self.current_entry()
        self._select_set = select or (current.path if current is not None else None)
        self.sets_runner.submit(lambda _t: list_sets())

    def _on_sets(self, entries: list[SetEntry]) -> None:
        self.entries = entries
        self.set_combo.blockSignals(True)
        self.set_combo.clear()
        mine = {e.path.stem for e in entries if not e.builtin}
        for e in entries:
            if e.probe_set is None:
                self.set_combo.addItem(f"{e.path.name} (does not load)")
            else:
                whose = "  (mine)" if not e.builtin else "  (hidden by mine of the same file name)" \
                    if e.path.stem in mine else ""
                self.set_combo.addItem(f"{e.probe_set.name} · {len(e.probe_set.questions)} questions{whose}")
        index = next((i for i, e in enumerate(entries) if e.path == self._select_set), 0)
        self.set_combo.setCurrentIndex(index)
        self.set_combo.blockSignals(False)
        self._set_picked()

    def current_entry(self) -> SetEntry | None:
        i = self.set_combo.currentIndex()
        return self.entries[i] if 0 <= i < len(self.entries) else None

    def _set_picked(self) -> None:
        e = self.current_entry()
        if e is None:
            self.set_info.setText("No probe sets found.")
        elif e.probe_set is None:
            self.set_info.setText(f"This set does not load: {e.error}")
        else:
            where = "built-in" if e.builtin else str(e.path)
            self.set_info.setText(f"{e.probe_set.description}  ({where})".strip())
        self._update()

    def new_set(self) -> None:
        self._write_set(new_set)

    def import_set(self) -> None:
        path = self.prompts.open_file(self, "Import a probe set", Path.home(), "Probe sets (*.toml)")
        if path is not None:
            self._write_set(lambda: import_set(path), open_it=False)

    def edit_set(self) -> None:
        e = self.current_entry()
        if e is None:
            return
        if e.builtin:
            self._write_set(lambda: copy_set(e.path))
        else:
            self._open(e.path)

    def _write_set(self, make: Callable[[], Path], open_it: bool = True) -> None:
        try:
            path = make()
        except ProbeSetError as exc:
            self._status(str(exc))
            return
        self._status(f"Wrote {path}" + ("; save it in your editor, then Reload." if open_it else ""))
        self.reload_sets(select=path)
        if open_it:
            self._open(path)

    def _open(self, path: Path) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

    def _open_folder(self) -> None:
        folder = probes_dir()
        folder.mkdir(parents=True, exist_ok=True)
        self._open(folder)

    # --- columns ------------------------------------------------------------------------------

    def settings(self) -> ProbeSettings:
        thinking = {0: None, 1: True, 2: False}[self.thinking.currentIndex()]
        return ProbeSettings(max_tokens=self.max_tokens.value(), thinking=thinking)

    def set_columns(self, columns: list[ProbeColumn]) -> None:
        self.columns = columns
        self.columns_label.setText(", ".join(c.label or c.path.name for c in columns) or
                                   "none yet: take the chat grid's panes, or add files")
        self._update()

    def add_files(self, paths: list[Path]) -> None:
        cols = list(self.columns)
        for p in paths:
            cols.append(file_column(p, self.settings(), [c.key for c in cols]))
        self.set_columns(cols)

    def choose_file(self) -> None:
        path = self.prompts.open_file(self, "Add a GGUF file", models_dir(), "GGUF models (*.gguf)")
        if path is not None:
            self.add_files([path])

    def use_chat_grid(self) -> None:
        got = self.chat_columns() if self.chat_columns is not None else "the chat grid is not open"
        if isinstance(got, str):
            self._status(got)
        elif not got:
            self._status("No chat pane has a model: pick one in the Chat tab first.")
        else:
            self.set_columns(got)

    # --- running ------------------------------------------------------------------------------

    def start(self) -> None:
        e = self.current_entry()
        if self.active or e is None:
            return
        if e.probe_set is None:
            self._status(f"This set does not load: {e.error}")
            return
        if not self.columns:
            self._status("Add a column first: the chat grid's panes, or a file.")
            return
        try:  # the file may have changed since the list was read: read it as it is now
            probe_set = load_set(e.path, builtin=e.builtin)
        except ProbeSetError as exc:
            self._status(str(exc))
            return
        if self._refused():
            return
        settings = self.settings()  # files answer with the tab's settings as they are now; panes with their own
        columns = [c if c.key.startswith(PANE_KEY) else replace(c, settings=settings) for c in self.columns]
        self._launch(probe_set, columns, settings)

    def resume(self) -> None:
        run = self.run
        if self.active or run is None or run.complete:
            return
        try:
            probe_set = find_set(run.set_name)
        except ProbeSetError as exc:
            self._status(f"Cannot resume: {exc}")
            return
        if self._refused():
            return
        missing = [c for c in columns_of(run) if not c.path.is_file()]
        if missing:
            self._status(f"Cannot resume: the model file is no longer on disk: {missing[0].path}")
            return
        self._launch(probe_set, columns_of(run), ProbeSettings.from_json(run.settings), resume=run)

    def _launch(self, probe_set: ProbeSet, columns: list[ProbeColumn], settings: ProbeSettings,
                resume: ProbeRun | None = None) -> None:
        if not self.job.wait(2.0):  # the last run's thread ends right after reporting: only a moment
            self._status("The last run is still ending; try again in a moment.")
            return
        self.run_set = probe_set
        self.active = True
        self.show_page(0)
        self.job.start(probe_set, columns, settings, resume=resume)

    def _refused(self) -> bool:
        why = self.before_run() if self.before_run is not None else None
        if why:
            self._status(why)
        return bool(why)

    def stop(self) -> None:
        if self.active:
            self.job.stop()
            self._status("Stopping…")

    def _on_started(self, run: ProbeRun) -> None:
        self.run = run
        self.grid.set_run(run)
        n = len(run.questions) * len(run.files)
        self._status(f"Running {run.set_name}: {len(run.cells)} of {n} answers")
        self._update()

    def _on_cell(self, cell: object) -> None:
        from explorer.probes.results import Cell

        if self.run is None or not isinstance(cell, Cell):
            return
        self.grid.add_cell(cell)
        n = len(self.run.questions) * len(self.run.files)
        self._status(f"Running {self.run.set_name}: {len(self.run.cells)} of {n} answers")

    def _on_note(self, line: str) -> None:
        if not self.active:
            return
        self.status.setText(line[:300])

    def _on_failed(self, message: str) -> None:
        self._failure = message
        self._status(f"The run failed: {message}")

    def _on_finished(self, run: ProbeRun) -> None:
        self.active = False
        failure, self._failure = self._failure, ""
        self.run = run
        self.grid.set_run(run)
        errors = sum(bool(c.error) for c in run.cells)
        n = len(run.questions) * len(run.files)
        state = "Done" if run.complete else f"Stopped at {len(run.cells)} of {n} answers (Resume goes on)"
        if failure:
            state = f"The run failed: {failure}. {state}"
        self._status(f"{state}. {errors} errors." if errors else f"{state}.")
        self.reload_runs()
        self._update()
        self.run_finished.emit(run)

    # --- saved runs, exports, pages -------------------------------------------------------------

    def reload_runs(self) -> None:
        store = self.runs
        self.runs_runner.submit(lambda _t: store.list())

    def _on_runs(self, saved: list[SavedRun]) -> None:
        self.saved = saved
        self.runs_combo.clear()
        for s in saved:
            self.runs_combo.addItem(s.title)
        if self.run is not None:
            path = self.runs.path_for(self.run)
            index = next((i for i, s in enumerate(saved) if s.path == path), -1)
            self.runs_combo.setCurrentIndex(index)
        self._update()

    def open_saved(self, index: int) -> None:
        if self.active or not (0 <= index < len(self.saved)):
            return
        s = self.saved[index]
        if s.run is None:  # nothing of another run stays open behind its name
            self.run = None
            self.grid.set_run(None)
            self.show_page(0)
            self._status(f"Cannot open {s.path.name}: {s.error}")
            return
        self.run = s.run
        self.grid.set_run(s.run)
        self.show_page(0)
        self._status("" if s.run.complete else "This run stopped before it ended: Resume asks the rest.")
        self._update()

    def export(self) -> None:
        if self.run is not None:
            self._status(export_run(self, self.run, self.prompts))

    def show_page(self, index: int) -> None:
        if index == 1:
            if self.run is None or self.active:
                self._status("Open a finished run to vote on its answers.")
                index = 0
            else:
                self.blind.start(self.run, self.votes, seed=zlib.crc32(self.run.created.encode()))
        if index == 2:
            self.leaderboard.refresh(self.votes)
        self.pages.setCurrentIndex(index)
        self.page_buttons.button(index).setChecked(True)
        blind = index == 1
        self.setup.setVisible(not blind)  # names the models
        self.run_row.setVisible(not blind)  # its progress lines name them too
        self._update()

    def _status(self, text: str) -> None:
        self.status.setText(text)

    def _update(self) -> None:
        running = self.active
        e = self.current_entry()
        self.run_button.setEnabled(not running and e is not None and e.probe_set is not None and bool(self.columns))
        self.stop_button.setEnabled(running)
        self.resume_button.setEnabled(not running and self.run is not None and not self.run.complete)
        self.export_button.setEnabled(self.run is not None)
        self.edit_button.setEnabled(e is not None)
        for w in (self.set_combo, self.new_button, self.import_button, self.from_chat_button, self.add_file_button,
                  self.clear_button, self.runs_combo, self.max_tokens, self.thinking):
            w.setEnabled(not running)
        self.from_chat_button.setEnabled(not running and self.chat_columns is not None)

    def shutdown(self) -> None:
        self.job.stop()
        self.job.wait(10.0)
        for r in (self.sets_runner, self.runs_runner):
            r.cancel()
