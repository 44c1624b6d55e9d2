"""Compare headers…: two GGUFs (on disk, or REPO/FILE on the Hub) side by side, differences marked.

The headers are read on a `LatestRunner` thread (a Hub file costs a few Range requests); a second
Compare supersedes the first and its late answer is dropped. The table has a row per fact of
`explorer.gguf.header_diff` under its section, the differing ones marked and tinted; the chat
templates' unified diff sits beside it with its + and - lines coloured.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontDatabase, QSyntaxHighlighter, QTextCharFormat, QTextDocument
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from explorer.errors import describe_error
from explorer.gguf.header_diff import HeaderDiff, HubReader, compare, read_hub_summary
from explorer.paths import models_dir
from ui.prompts import Prompts
from ui.theme import TEXT_MUTED
from ui.workers import CancelToken, LatestRunner

MARK = "≠"
DIFF_BACKGROUND = "#fcebc7"  # a differing row
SECTION_BACKGROUND = "#eef0f3"
_DIFF_COLOURS = {"+": ("#17643a", "#e6f4ea"), "-": ("#a32121", "#fbe9e9"), "@": ("#5b3fb5", None)}
PLACEHOLDER = "a .gguf file, or REPO/FILE on the Hub (e.g. Qwen/Qwen3-8B-GGUF/Qwen3-8B-Q4_K_M.gguf)"
# Columns of the table
COL_MARK, COL_LABEL, COL_A, COL_B = range(4)
SECTION_ROLE = Qt.ItemDataRole.UserRole + 1  # True on a section's heading row
DIFFERS_ROLE = Qt.ItemDataRole.UserRole + 2  # True on a row whose values differ


class DiffHighlighter(QSyntaxHighlighter):
    """Colours a unified diff: + lines green, - lines red, @@ hunks violet, the ---/+++ names bold."""

    def highlightBlock(self, text: str) -> None:
        if text.startswith(("--- ", "+++ ")):
            fmt = QTextCharFormat()
            fmt.setFontWeight(QFont.Weight.Bold)
            self.setFormat(0, len(text), fmt)
            return
        colours = _DIFF_COLOURS.get(text[:1])
        if colours is None:
            return
        fmt = QTextCharFormat()
        fmt.setForeground(QColor(colours[0]))
        if colours[1] is not None:
            fmt.setBackground(QColor(colours[1]))
        self.setFormat(0, len(text), fmt)


class _SourceField(QWidget):
    """One side's input: a path or REPO/FILE, and Browse… for a local file."""

    def __init__(self, side: str, prompts: Prompts, start_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.side, self.prompts, self.start_dir = side, prompts, start_dir
        self.edit = QLineEdit()
        self.edit.setObjectName(f"headerDiffInput{side}")
        self.edit.setPlaceholderText(PLACEHOLDER)
        self.edit.setClearButtonEnabled(True)
        self.browse = QPushButton("Browse…")
        self.browse.setObjectName(f"headerDiffBrowse{side}")
        self.browse.clicked.connect(self._browse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.browse)

    def text(self) -> str:
        return self.edit.text().strip()

    def _browse(self) -> None:
        current = Path(self.text()).expanduser() if self.text() else None
        start = current.parent if current is not None and current.parent.is_dir() else self.start_dir
        path = self.prompts.open_file(self, f"GGUF file {self.side}", start, "GGUF models (*.gguf);;All files (*)")
        if path is not None:
            self.edit.setText(str(path))


class HeaderDiffDialog(QDialog):
    """Two GGUF headers side by side. Non-modal: `show()` it, the app goes on.

    `read_hub(repo, filename)` reads a Hub file's summary (default: HTTP Range requests through
    huggingface_hub); tests pass a fake. `a` and `b` prefill the inputs (a path or REPO/FILE).
    """

    compared = Signal(object)  # HeaderDiff, after it is shown
    failed = Signal(str)  # the error line, after it is shown

    def __init__(self, parent: QWidget | None = None, *, prompts: Prompts | None = None,
                 read_hub: HubReader | None = None, start_dir: Path | None = None, a: str = "", b: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("headerDiffDialog")
        self.setWindowTitle("Compare GGUF headers")
        self.setModal(False)
        self.read_hub = read_hub or read_hub_summary
        self.diff: HeaderDiff | None = None
        prompts = prompts or Prompts()
        start = start_dir or models_dir()

        self.field_a = _SourceField("A", prompts, start)
        self.field_b = _SourceField("B", prompts, start)
        self.field_a.edit.setText(a)
        self.field_b.edit.setText(b)
        for f in (self.field_a, self.field_b):
            f.edit.returnPressed.connect(self.compare)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setObjectName("headerDiffCompare")
        self.compare_button.setDefault(True)
        self.compare_button.clicked.connect(self.compare)
        self.only_differences = QCheckBox("Only differences")
        self.only_differences.setObjectName("headerDiffOnly")
        self.only_differences.toggled.connect(self._apply_filter)
        self.status = QLabel("")
        self.status.setObjectName("headerDiffStatus")
        self.status.setStyleSheet(f"color: {TEXT_MUTED};")
        self.error = QLabel("")
        self.error.setObjectName("errorLine")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()

        inputs = QGridLayout()
        inputs.addWidget(QLabel("A"), 0, 0)
        inputs.addWidget(self.field_a, 0, 1)
        inputs.addWidget(QLabel("B"), 1, 0)
        inputs.addWidget(self.field_b, 1, 1)
        actions = QHBoxLayout()
        actions.addWidget(self.compare_button)
        actions.addWidget(self.only_differences)
        actions.addWidget(self.status, 1)

        self.table = QTableWidget(0, 4)
        self.table.setObjectName("headerDiffTable")
        self.table.setHorizontalHeaderLabels(["", "", "A", "B"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # file names differ at their ends
        self.table.setShowGrid(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COL_MARK, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_LABEL, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_A, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_B, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)

        self.template_note = QLabel("Chat templates")
        self.template_note.setObjectName("headerDiffTemplateNote")
        self.template_view = QPlainTextEdit()
        self.template_view.setObjectName("headerDiffTemplate")
        self.template_view.setReadOnly(True)
        self.template_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.template_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.template_view.setPlaceholderText("The unified diff of the two chat templates shows here.")
        self.highlighter = DiffHighlighter(self.template_view.document())
        template_box = QWidget()
        template_layout = QVBoxLayout(template_box)
        template_layout.setContentsMargins(0, 0, 0, 0)
        template_layout.addWidget(self.template_note)
        template_layout.addWidget(self.template_view, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(template_box)
        self.splitter.setStretchFactor(0, 5)
        self.splitter.setStretchFactor(1, 4)

        layout = QVBoxLayout(self)
        layout.addLayout(inputs)
        layout.addLayout(actions)
        layout.addWidget(self.error)
        layout.addWidget(self.splitter, 1)
        self.resize(1280, 760)

        self.runner = LatestRunner(self, daemon=True)  # a Hub read may wait on the network
        self.runner.result.connect(self._show)
        self.runner.error.connect(self._fail)

    # --- actions -------------------------------------------------------------------------

    def compare(self) -> None:
        """Read both headers off the GUI thread; the newest Compare's answer is the one shown."""
        a, b = self.field_a.text(), self.field_b.text()
        missing = [side for side, text in (("A", a), ("B", b)) if not text]
        if missing:
            self._fail_text(f"Choose file {' and '.join(missing)}: a local .gguf or REPO/FILE on the Hub")
            return
        read_hub = self.read_hub

        def task(_token: CancelToken) -> HeaderDiff:
            return compare(a, b, read_hub=read_hub)

        self.error.hide()
        self.status.setText("Reading the headers…")
        self.runner.submit(task)

    def _show(self, diff: object) -> None:
        assert isinstance(diff, HeaderDiff)
        self.diff = diff
        n = len(diff.differing)
        self.status.setText(f"{n} difference{'s' if n != 1 else ''}" if n else "No differences")
        self._fill_table(diff)
        self.template_note.setText(f"Chat templates: {diff.template_note}")
        self.template_view.setPlainText(diff.template_diff)
        self.compared.emit(diff)

    def _fail(self, exc: object) -> None:
        self._fail_text(describe_error(exc) if isinstance(exc, BaseException) else str(exc))

    def _fail_text(self, line: str) -> None:
        self.diff = None
        self.status.setText("")
        self.error.setText(line)
        self.error.setToolTip(line)
        self.error.show()
        self.table.setRowCount(0)
        self.template_note.setText("Chat templates")
        self.template_view.clear()
        self.failed.emit(line)

    # --- the table -----------------------------------------------------------------------

    def _fill_table(self, diff: HeaderDiff) -> None:
        table = self.table
        table.setRowCount(0)
        tint = QBrush(QColor(DIFF_BACKGROUND))
        section = ""
        for r in diff.rows:
            if r.section != section:
                section = r.section
                row = table.rowCount()
                table.insertRow(row)
                heading = QTableWidgetItem(section)
                font = heading.font()
                font.setBold(True)
                heading.setFont(font)
                heading.setData(SECTION_ROLE, True)
                heading.setBackground(QBrush(QColor(SECTION_BACKGROUND)))
                table.setItem(row, 0, heading)
                table.setSpan(row, 0, 1, 4)
            row = table.rowCount()
            table.insertRow(row)
            cells = (MARK if r.differs else "", r.label, r.a, r.b)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(DIFFERS_ROLE, r.differs)
                if col in (COL_A, COL_B):
                    item.setToolTip(text)
                if r.differs:
                    item.setBackground(tint)
                    if col != COL_LABEL:
                        font = item.font()
                        font.setBold(True)
                        item.setFont(font)
                if col == COL_MARK:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                table.setItem(row, col, item)
        self._apply_filter()

    def _apply_filter(self) -> None:
        """With Only differences: equal rows hidden, and a section heading when nothing under it shows."""
        only = self.only_differences.isChecked()
        heading: int | None = None
        shown_under = False
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.data(SECTION_ROLE):
                if heading is not None:
                    self.table.setRowHidden(heading, only and not shown_under)
                heading, shown_under = row, False
                continue
            differs = bool(item.data(DIFFERS_ROLE)) if item is not None else False
            self.table.setRowHidden(row, only and not differs)
            shown_under = shown_under or differs
        if heading is not None:
            self.table.setRowHidden(heading, only and not shown_under)

    # --- for tests and the screenshot ------------------------------------------------------

    def visible_rows(self) -> list[tuple[str, str, str, str]]:
        """(mark, label, A, B) of each shown value row, in order (section headings left out)."""
        out = []
        for row in range(self.table.rowCount()):
            first = self.table.item(row, 0)
            if self.table.isRowHidden(row) or first is None or first.data(SECTION_ROLE):
                continue
            texts = [item.text() if (item := self.table.item(row, c)) is not None else "" for c in range(4)]
            out.append((texts[0], texts[1], texts[2], texts[3]))
        return out

    def template_document(self) -> QTextDocument:
        return self.template_view.document()
