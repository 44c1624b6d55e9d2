"""The Library tab: the GGUF models on disk (Hugging Face cache, our models folder, added files), and
below them the saved endpoints whose models chat panes can run (`ui.library.endpoints`).

Scans, deletions and additions run on worker threads (`LatestRunner`); the table is an item model
over `LocalModel`s. Deleting asks first and says how much space it frees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from explorer.store.library import LocalModel, total_size
from ui.first_run import FirstRunPanel
from ui.fmt import format_bytes
from ui.library.endpoints import EndpointsPanel
from ui.prompts import Prompts
from ui.workers import LatestRunner

MODEL_ROLE = Qt.ItemDataRole.UserRole + 1  # the LocalModel
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
_Index = QModelIndex | QPersistentModelIndex
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_CENTER = Qt.AlignmentFlag.AlignCenter
SOURCE_TEXT = {"hub-cache": "Hugging Face cache", "models-dir": "Models folder", "added": "Added by path"}


class LibColumn(IntEnum):
    NAME = 0
    REPO = 1
    QUANT = 2
    SIZE = 3
    VERIFIED = 4
    COMPLETE = 5
    SOURCE = 6
    ERROR = 7


LIB_HEADERS = {
    LibColumn.NAME: "Name", LibColumn.REPO: "Repo", LibColumn.QUANT: "Quant", LibColumn.SIZE: "Size",
    LibColumn.VERIFIED: "Verified", LibColumn.COMPLETE: "Complete", LibColumn.SOURCE: "Source",
    LibColumn.ERROR: "Problem",
}


def model_name(m: LocalModel) -> str:
    name = m.filename.rsplit("/", 1)[-1]
    return name + (f"  (+{len(m.shards) - 1} shards)" if m.is_split else "")


class LibraryModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._models: list[LocalModel] = []

    @property
    def models(self) -> Sequence[LocalModel]:
        return tuple(self._models)

    def set_models(self, models: Sequence[LocalModel]) -> None:
        self.beginResetModel()
        self._models = list(models)
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._models)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(LibColumn)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(LibColumn):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return LIB_HEADERS[LibColumn(section)]
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid():
            return None
        if not (0 <= index.row() < len(self._models) and 0 <= index.column() < len(LibColumn)):
            return None
        m = self._models[index.row()]
        col = LibColumn(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(m, col)
        if role == MODEL_ROLE:
            return m
        if role == SORT_ROLE:
            return self._sort_value(m, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == LibColumn.NAME:
                return "\n".join(str(p) for p in m.shards)
            if col == LibColumn.SIZE:
                return f"{m.size:,} bytes"
            if col == LibColumn.VERIFIED:
                return ("size and sha256 checked against the Hub" if m.verified
                        else "not checked against the Hub's sha256")
            if col == LibColumn.ERROR and m.error:
                return m.error
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if col == LibColumn.SIZE:
                return _RIGHT
            if col in (LibColumn.VERIFIED, LibColumn.COMPLETE):
                return _CENTER
            return _LEFT
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == LibColumn.ERROR or (col == LibColumn.COMPLETE and not m.complete):
                return QColor("#b42318")
            if col == LibColumn.VERIFIED and m.verified:
                return QColor("#1a7f37")
            if col in (LibColumn.REPO, LibColumn.SOURCE, LibColumn.VERIFIED):
                return QColor("#6b7483")
        return None

    @staticmethod
    def _display(m: LocalModel, col: LibColumn) -> str:
        if col == LibColumn.NAME:
            return model_name(m)
        if col == LibColumn.REPO:
            return m.repo or "–"
        if col == LibColumn.QUANT:
            return m.quant or "?"
        if col == LibColumn.SIZE:
            return format_bytes(m.size)
        if col == LibColumn.VERIFIED:
            return "✓" if m.verified else "–"
        if col == LibColumn.COMPLETE:
            return "yes" if m.complete else "no"
        if col == LibColumn.SOURCE:
            return SOURCE_TEXT.get(m.source, m.source)
        return m.error or ""

    @staticmethod
    def _sort_value(m: LocalModel, col: LibColumn) -> Any:
        if col == LibColumn.SIZE:
            return m.size
        if col in (LibColumn.VERIFIED, LibColumn.COMPLETE):
            return int(m.verified if col == LibColumn.VERIFIED else m.complete)
        return LibraryModel._display(m, col).lower()


class LibraryView(QWidget):
    """Table over `scan()`; Delete… and Add GGUF file… run their work off the UI thread."""

    scanned = Signal(object)  # list[LocalModel]
    deleted = Signal(object, int)  # LocalModel, bytes freed
    added = Signal(object)  # LocalModel
    probe_requested = Signal(object)  # list[Path]: the selected models, for the Probes tab

    def __init__(self, scan: Callable[[], list[LocalModel]] | None,
                 delete: Callable[[LocalModel], int] | None = None,
                 add: Callable[[Path], LocalModel] | None = None,
                 parent: QWidget | None = None, *, prompts: Prompts | None = None,
                 endpoints: EndpointsPanel | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("libraryView")
        self._scan, self._delete, self._add = scan, delete, add
        self.prompts = prompts or Prompts()
        self.model = LibraryModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.scan_runner = LatestRunner(self)
        self.delete_runner = LatestRunner(self)
        self.add_runner = LatestRunner(self)
        self.scan_runner.result.connect(self._on_scan)
        self.scan_runner.error.connect(lambda exc: self._status(f"Could not scan the library: {exc}"))
        self.delete_runner.result.connect(self._on_deleted)
        self.delete_runner.error.connect(self._on_delete_error)
        self.add_runner.result.connect(self._on_added)
        self.add_runner.error.connect(self._on_add_error)
        self._deleting: LocalModel | None = None

        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 12, 14, 12)
        lay.setSpacing(10)
        head = QHBoxLayout()
        head.setSpacing(8)
        title = QLabel("Library")
        title.setObjectName("paneTitle")
        head.addWidget(title)
        head.addStretch(1)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        head.addWidget(self.status)
        self.rescan_button = QPushButton("Rescan")
        self.add_button = QPushButton("Add GGUF file…")
        self.probe_button = QPushButton("Probe…")
        self.probe_button.setToolTip("Run a probe set over the selected models (Ctrl+click to select several)")
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setObjectName("dangerButton")
        for b in (self.rescan_button, self.add_button, self.probe_button, self.delete_button):
            if not b.objectName():
                b.setObjectName("rowButton")
            head.addWidget(b)
        self.rescan_button.clicked.connect(self.rescan)
        self.add_button.clicked.connect(self.choose_file)
        self.delete_button.clicked.connect(self.delete_selected)
        self.probe_button.clicked.connect(self.probe_selected)
        self.rescan_button.setEnabled(scan is not None)
        self.add_button.setEnabled(add is not None)
        lay.addLayout(head)
        # No model on disk: what to do, and buttons that do it (the window connects them); shown after a scan.
        self.first_run = FirstRunPanel("The Library lists the GGUF models in the Hugging Face cache and the models "
                                       "folder; there are none yet.")
        self.first_run.hide()
        lay.addWidget(self.first_run)

        self.table = QTableView()
        self.table.setObjectName("libraryTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # scan order until the user sorts
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(30)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(_LEFT)
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        widths = {LibColumn.NAME: 300, LibColumn.REPO: 230, LibColumn.QUANT: 80, LibColumn.SIZE: 90,
                  LibColumn.VERIFIED: 80, LibColumn.COMPLETE: 100, LibColumn.SOURCE: 150}
        for col, width in widths.items():
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().selectionChanged.connect(lambda *_a: self._update_buttons())
        lay.addWidget(self.table, 1)
        self.endpoints = endpoints
        if endpoints is not None:
            lay.addWidget(endpoints)
        self._update_buttons()
        if scan is None:
            self._status("The library is not available in this session.")

    # --- scanning --------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.rescan()

    def rescan(self) -> None:
        scan = self._scan
        if scan is None:
            return
        if not self.model.models:
            self._status("Scanning…")
        self.scan_runner.submit(lambda _token: scan())

    def _on_scan(self, models: list[LocalModel]) -> None:
        selected = self.selected()
        self.model.set_models(models)
        if selected is not None:
            self.select_key(selected.key)
        n = len(models)
        self._status(f"{n} model{'s' if n != 1 else ''}, {format_bytes(total_size(models))} on disk"
                     if n else "No GGUF models on disk yet.")
        self.first_run.setVisible(not n)
        self._update_buttons()
        self.scanned.emit(models)

    # --- selection -------------------------------------------------------------------------

    def selected(self) -> LocalModel | None:
        """The one selected model (None when none, or several, are selected)."""
        models = self.selected_models()
        return models[0] if len(models) == 1 else None

    def selected_models(self) -> list[LocalModel]:
        rows = sorted(self.table.selectionModel().selectedRows(), key=lambda i: i.row())
        return [m for m in (r.data(MODEL_ROLE) for r in rows) if isinstance(m, LocalModel)]

    def probe_selected(self) -> None:
        ready = [m.path for m in self.selected_models() if m.complete and m.error is None]
        if ready:
            self.probe_requested.emit(ready)

    def select_key(self, key: str) -> bool:
        for r, m in enumerate(self.model.models):
            if m.key == key:
                self.table.selectRow(self.proxy.mapFromSource(self.model.index(r, 0)).row())
                return True
        return False

    def _update_buttons(self) -> None:
        busy = self.delete_runner.busy
        self.delete_button.setEnabled(self._delete is not None and self.selected() is not None and not busy)
        self.probe_button.setEnabled(any(m.complete and m.error is None for m in self.selected_models()))

    def _status(self, text: str) -> None:
        self.status.setText(text)

    # --- delete ----------------------------------------------------------------------------

    def delete_selected(self) -> None:
        model, delete = self.selected(), self._delete
        if model is None or delete is None or self.delete_runner.busy:
            return
        name = model_name(model)
        if model.source == "added":
            text = (f"Remove {name} from the library?\n\nThe file itself stays where it is "
                    f"({model.path}); no space is freed.")
        else:
            where = "the Hugging Face cache" if model.source == "hub-cache" else "the models folder"
            text = (f"Delete {name} from {where}?\n\nThis frees {format_bytes(model.size)} of disk space. "
                    "Downloading it again takes the same time as the first download.")
        if not self.prompts.confirm(self, "Delete model", text):
            return
        self._deleting = model
        self._status(f"Deleting {name}…")
        self.delete_runner.submit(lambda _token: delete(model))
        self._update_buttons()

    def _on_deleted(self, freed: int) -> None:
        model, self._deleting = self._deleting, None
        name = model_name(model) if model is not None else "the model"
        self._status(f"Deleted {name}, freed {format_bytes(freed)}" if freed else f"Removed {name}")
        self._update_buttons()
        if model is not None:
            self.deleted.emit(model, freed)
        self.rescan()

    def _on_delete_error(self, exc: BaseException) -> None:
        self._deleting = None
        self._update_buttons()
        self._status("Delete failed")
        self.prompts.warn(self, "Delete failed", f"The model could not be deleted:\n\n{exc}")
        self.rescan()

    # --- add -------------------------------------------------------------------------------

    def choose_file(self) -> None:
        if self._add is None:
            return
        path = self.prompts.open_file(self, "Add a GGUF file", Path.home(), "GGUF models (*.gguf);;All files (*)")
        if path is not None:
            self.add_file(path)

    def add_file(self, path: Path) -> None:
        add = self._add
        if add is None:
            return
        self._status(f"Reading {path.name}…")
        self.add_runner.submit(lambda _token: add(path))

    def _on_added(self, model: LocalModel) -> None:
        self._status(f"Added {model_name(model)}")
        self.added.emit(model)
        self.rescan()

    def _on_add_error(self, exc: BaseException) -> None:
        self._status("Not added")
        self.prompts.warn(self, "Not a usable GGUF file", f"The file was not added:\n\n{exc}")
