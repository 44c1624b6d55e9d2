"""A probe run's results: the totals per column, the grid of questions x columns, one answer in full.

Each grid cell shows the mark (✓ passed, ✗ failed, – nothing to check, ! error) and the start of the
answer; the detail below shows the question, the whole answer, the checks that failed, the stats, and
the thinking folded behind a button. Cells arrive one at a time while a run goes on.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from explorer.probes.results import Cell, ProbeRun, QuestionRef, shown, stats_line, totals_rows
from ui import theme

# A cell's background by its mark, light and dark (theme.is_dark() picks; a theme change recolours the grid).
MARK_COLORS = {False: {"pass": "#e7f6ec", "fail": "#fdecec", "error": "#fff4e0"},
               True: {"pass": "#1e3a2a", "fail": "#4a2328", "error": "#4a3b1c"}}


def mark_color(cell: Cell) -> QColor | None:
    """The background for `cell`'s mark in the current theme; None: the view's own (nothing to check)."""
    kind = "error" if cell.error else "pass" if cell.check else "fail" if cell.check is False else None
    return QColor(MARK_COLORS[theme.is_dark()][kind]) if kind else None
PREVIEW = 90  # characters of an answer in its grid cell


def cell_mark(cell: Cell | None) -> str:
    if cell is None:
        return "…"
    if cell.error:
        return "!"
    return {None: "–", True: "✓", False: "✗"}[cell.check]


def cell_text(cell: Cell | None) -> str:
    if cell is None:
        return "…"
    body = f"error: {cell.error}" if cell.error else " ".join(cell.answer.split())
    if len(body) > PREVIEW:
        body = body[: PREVIEW - 1] + "…"
    return f"{cell_mark(cell)}  {body}"


def stats_text(cell: Cell) -> str:
    return stats_line(cell, ended=True)


def question_text(q: QuestionRef) -> str:
    return f"{q.text}⟨gap⟩{q.suffix}" if q.mode == "fim" else q.text


class ProbeGrid(QWidget):
    cell_selected = Signal(object)  # Cell | None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run: ProbeRun | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        self.totals = QTableWidget(0, 6)
        self.totals.setObjectName("probeTotals")
        self.totals.verticalHeader().hide()
        self.totals.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.totals.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.totals.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.totals.horizontalHeader().setStretchLastSection(True)
        lay.addWidget(self.totals)

        split = QSplitter(Qt.Orientation.Vertical)
        self.table = QTableWidget(0, 0)
        self.table.setObjectName("probeGrid")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(True)
        self.table.verticalHeader().setDefaultSectionSize(54)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        head.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        head.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # "Pane 1 · … · thinking off": both ends matter
        self.table.currentCellChanged.connect(lambda r, c, _r, _c: self._show(r, c))
        split.addWidget(self.table)

        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 4, 0, 0)
        self.detail_title = QLabel("Pick an answer in the grid to read it in full.")
        self.detail_title.setObjectName("sectionTitle")
        self.detail_title.setWordWrap(True)
        self.detail_stats = QLabel("")
        self.detail_stats.setObjectName("muted")
        self.detail_stats.setWordWrap(True)
        self.thinking_button = QToolButton()
        self.thinking_button.setObjectName("notesToggle")
        self.thinking_button.setCheckable(True)
        self.thinking_button.toggled.connect(self._fold)
        self.thinking = QPlainTextEdit()
        self.thinking.setReadOnly(True)
        self.thinking.setObjectName("probeThinking")
        self.answer = QPlainTextEdit()
        self.answer.setReadOnly(True)
        self.answer.setObjectName("probeAnswer")
        for w in (self.detail_title, self.detail_stats, self.thinking_button, self.thinking, self.answer):
            dl.addWidget(w)
        dl.setStretch(4, 1)
        split.addWidget(detail)
        split.setSizes([420, 260])
        lay.addWidget(split, 1)
        self._fold(False)
        self.thinking_button.hide()
        theme.notifier().changed.connect(self._recolour)  # a bound slot: gone with the grid

    # --- filling ------------------------------------------------------------------------------

    def _recolour(self, _dark: bool) -> None:
        """The marks' colours follow the theme."""
        r, c = self.table.currentRow(), self.table.currentColumn()
        self.set_run(self.run)
        if r >= 0 and c >= 0:
            self.table.setCurrentCell(r, c)

    def set_run(self, run: ProbeRun | None) -> None:
        self.run = run
        self.table.clear()
        if run is None:
            self.table.setRowCount(0)
            self.table.setColumnCount(0)
            self._totals()
            self._show(-1, -1)
            return
        self.table.setRowCount(len(run.questions))
        self.table.setColumnCount(len(run.files))
        self.table.setHorizontalHeaderLabels([run.column(k).name for k in run.files])
        self.table.setVerticalHeaderLabels([q.id for q in run.questions])
        for r, q in enumerate(run.questions):
            self.table.verticalHeaderItem(r).setToolTip(question_text(q))
            for c, key in enumerate(run.files):
                self._put(r, c, run.cell(q.id, key))
        self._totals()
        self._show(self.table.currentRow(), self.table.currentColumn())

    def add_cell(self, cell: Cell) -> None:
        run = self.run
        if run is None or cell.file not in run.files:
            return
        run.cells = [c for c in run.cells if (c.question, c.file) != (cell.question, cell.file)] + [cell]
        rows = [q.id for q in run.questions]
        if cell.question in rows:
            r, c = rows.index(cell.question), run.files.index(cell.file)
            self._put(r, c, cell)
            if (r, c) == (self.table.currentRow(), self.table.currentColumn()):
                self._show(r, c)
        self._totals()

    def _put(self, r: int, c: int, cell: Cell | None) -> None:
        item = QTableWidgetItem(cell_text(cell))
        item.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        if cell is not None:
            color = mark_color(cell)
            if color is not None:
                item.setBackground(color)
            item.setToolTip(stats_text(cell))
        self.table.setItem(r, c, item)

    def _totals(self) -> None:
        run = self.run
        rows = totals_rows(run) if run is not None else [["column", "", "", "", "", ""]]
        head = ["column", "checks passed", "median tok/s", "total time", "thinking tokens", "errors"]
        self.totals.setHorizontalHeaderLabels(head)
        self.totals.setRowCount(len(rows) - 1)
        for r, values in enumerate(rows[1:]):
            for c, v in enumerate(values):
                item = QTableWidgetItem(v)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.totals.setItem(r, c, item)
        height = self.totals.horizontalHeader().height() + sum(self.totals.rowHeight(r) for r in range(len(rows) - 1))
        self.totals.setFixedHeight(height + 4)

    # --- the detail ---------------------------------------------------------------------------

    def selected_cell(self) -> Cell | None:
        run = self.run
        r, c = self.table.currentRow(), self.table.currentColumn()
        if run is None or not (0 <= r < len(run.questions)) or not (0 <= c < len(run.files)):
            return None
        return run.cell(run.questions[r].id, run.files[c])

    def _show(self, r: int, c: int) -> None:
        run = self.run
        if run is None or not (0 <= r < len(run.questions)) or not (0 <= c < len(run.files)):
            self.detail_title.setText("Pick an answer in the grid to read it in full.")
            for w in (self.detail_stats, self.answer, self.thinking):
                w.clear()
            self.thinking_button.hide()
            self._fold(False)
            self.cell_selected.emit(None)
            return
        q = run.questions[r]
        cell = run.cell(q.id, run.files[c])
        self.detail_title.setText(f"{q.id} · {run.column(run.files[c]).name}\n{question_text(q)}")
        if cell is None:
            self.detail_stats.setText("Not answered yet.")
            self.answer.clear()
        else:
            failed = f"  ·  failed: {'; '.join(cell.failed)}" if cell.failed else ""
            self.detail_stats.setText(f"{cell_mark(cell)}  {stats_text(cell)}{failed}")
            self.answer.setPlainText(shown(f"error: {cell.error}\n\n{cell.answer}".strip() if cell.error
                                           else cell.answer))
        has_thinking = cell is not None and bool(cell.thinking)
        self.thinking_button.setVisible(has_thinking)
        if cell is not None and has_thinking:
            self.thinking.setPlainText(shown(cell.thinking))
            n = cell.thinking_tokens
            self.thinking_button.setText(f"Thinking ({n} tokens)" if n else "Thinking")
        self._fold(self.thinking_button.isChecked() and has_thinking)
        self.cell_selected.emit(cell)

    def _fold(self, shown: bool) -> None:
        self.thinking.setVisible(shown)
        self.thinking_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.thinking_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
