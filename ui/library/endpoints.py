"""The Library's Endpoints: OpenAI-compatible servers (llama-server, vLLM, Ollama...) whose models the
chat panes can run. Each row is a saved endpoint with its model count, or why it could not be listed.

Add… asks for the URL, a name and an optional API key (`ask_endpoint`, a small dialog; tests pass their
own); the endpoint is kept by `explorer.store.endpoints.EndpointStore` and the key by its secrets
store (the keyring, else a 0600 file). The key is never shown, logged or put in a tooltip. Saving,
removing and listing (GET /v1/models, every endpoint at once) run on a `LatestRunner` daemon thread.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from explorer.engine.remote import RemoteError, RemoteModel, endpoint_url, list_models
from ui.chat.remote import EndpointModels, RemoteTarget, all_targets
from ui.prompts import Prompts
from ui.workers import LatestRunner

if TYPE_CHECKING:
    from explorer.store.endpoints import EndpointStore, SavedEndpoint

LIST_TIMEOUT = 8.0  # seconds an endpoint has to answer its model list


@dataclass(frozen=True)
class NewEndpoint:
    """What Add… asked: the key is kept out of repr (it never reaches a log or a message)."""

    url: str
    name: str = ""
    api_key: str = field(default="", repr=False)


AskEndpoint = Callable[[QWidget], "NewEndpoint | None"]
ListModels = Callable[[str, "str | None"], list[RemoteModel]]


class EndpointDialog(QDialog):
    """Base URL, a name to show, an optional API key (typed hidden)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add an endpoint")
        form = QFormLayout(self)
        self.url = QLineEdit()
        self.url.setPlaceholderText("http://gpu-box:8080  (llama-server, vLLM; Ollama: http://localhost:11434)")
        self.name = QLineEdit()
        self.name.setPlaceholderText("gpu box")
        self.key = QLineEdit()
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("optional: kept in the system keyring")
        form.addRow("URL", self.url)
        form.addRow("Name", self.name)
        form.addRow("API key", self.key)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.resize(520, self.sizeHint().height())

    def answer(self) -> NewEndpoint:
        return NewEndpoint(self.url.text().strip(), self.name.text().strip(), self.key.text().strip())


def ask_endpoint(parent: QWidget) -> NewEndpoint | None:
    dialog = EndpointDialog(parent)
    try:
        return dialog.answer() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()


def list_endpoints(store: EndpointStore, list_fn: ListModels, timeout: float = LIST_TIMEOUT) -> list[EndpointModels]:
    """Every saved endpoint with its models or its one-line error (listed in parallel)."""
    endpoints = store.endpoints()

    def one(ep: SavedEndpoint) -> EndpointModels:
        try:
            key = store.api_key(ep) if ep.has_key else None
            return EndpointModels(ep, tuple(list_fn(ep.url, key)))
        except (RemoteError, ValueError) as exc:
            return EndpointModels(ep, error=str(exc))
        except Exception as exc:  # the keyring or the key file: its message names the place, never the key
            return EndpointModels(ep, error=f"{type(exc).__name__}: {exc}")

    if not endpoints:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(endpoints)), thread_name_prefix="endpoint") as pool:
        return list(pool.map(one, endpoints))


def _list_models(url: str, key: str | None) -> list[RemoteModel]:
    return list_models(url, key, timeout=LIST_TIMEOUT)


class EndpointsPanel(QWidget):
    """Saved endpoints, their models (`targets_changed`: every listed model, for the chat panes)."""

    targets_changed = Signal(object)  # list[RemoteTarget]

    def __init__(self, store: EndpointStore | None, parent: QWidget | None = None, *, prompts: Prompts | None = None,
                 ask: AskEndpoint = ask_endpoint, list_fn: ListModels = _list_models) -> None:
        super().__init__(parent)
        self.setObjectName("endpointsPanel")
        self.store = store
        self.prompts = prompts or Prompts()
        self._ask = ask
        self._list_fn = list_fn
        self.rows: list[EndpointModels] = []
        self.listed = False  # a listing has come back at least once
        self.runner = LatestRunner(self, daemon=True)  # the network: never holds up the app's exit
        self.runner.result.connect(self._on_rows)
        self.runner.error.connect(self._on_error)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        head = QHBoxLayout()
        title = QLabel("Endpoints")
        title.setObjectName("sectionTitle")
        title.setToolTip("OpenAI-compatible servers (llama-server, vLLM, Ollama): their models run in chat panes")
        head.addWidget(title)
        head.addStretch(1)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        head.addWidget(self.status)
        self.add_button = QPushButton("Add…")
        self.remove_button = QPushButton("Remove")
        self.refresh_button = QPushButton("Refresh")
        for b in (self.add_button, self.remove_button, self.refresh_button):
            b.setObjectName("rowButton")
            head.addWidget(b)
        self.add_button.clicked.connect(self.add)
        self.remove_button.clicked.connect(self.remove_selected)
        self.refresh_button.clicked.connect(self.refresh)
        lay.addLayout(head)
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("endpointsTable")
        self.table.setHorizontalHeaderLabels(["Name", "URL", "Models"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setColumnWidth(0, 180)
        self.table.setColumnWidth(1, 320)
        self.table.setMaximumHeight(150)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        lay.addWidget(self.table)
        self._update_buttons()
        if store is None:
            self.status.setText("Endpoints are not available in this session.")

    # --- listing -------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self.listed and not self.runner.busy:
            self.refresh()

    def refresh(self) -> None:
        """List every saved endpoint's models again (off the GUI thread)."""
        store, list_fn = self.store, self._list_fn
        if store is None:
            return
        self._listing()
        self.runner.submit(lambda _token: list_endpoints(store, list_fn))

    def targets(self) -> list[RemoteTarget]:
        return all_targets(self.rows)

    def _listing(self) -> None:
        self.status.setText("Listing models…")
        self.rows = [EndpointModels(r.endpoint, r.models, r.error, listing=True) for r in self.rows]
        self._show()

    def _on_rows(self, rows: list[EndpointModels]) -> None:
        self.listed = True
        self.rows = list(rows)
        n = sum(len(r.models) for r in rows)
        self.status.setText(f"{len(rows)} endpoint{'s' if len(rows) != 1 else ''}, {n} model{'s' if n != 1 else ''}"
                            if rows else "No endpoints: Add… one to chat with a model on a server")
        self._show()
        self.targets_changed.emit(self.targets())

    def _on_error(self, exc: BaseException) -> None:
        self.listed = True
        self.rows = [EndpointModels(r.endpoint, r.models, r.error) for r in self.rows]
        self._show()
        self.status.setText(f"Endpoints: {exc}")

    def _show(self) -> None:
        self.table.setRowCount(len(self.rows))
        for i, row in enumerate(self.rows):
            ep = row.endpoint
            models = QTableWidgetItem(row.summary)
            if row.error is not None and not row.listing:
                models.setForeground(QColor("#b42318"))
            elif row.models:
                models.setToolTip("\n".join(m.id for m in row.models[:40]))
            url = QTableWidgetItem(ep.url)
            url.setToolTip(ep.url + ("\nAn API key is kept for it." if ep.has_key else ""))
            for col, item in enumerate((QTableWidgetItem(ep.label), url, models)):
                self.table.setItem(i, col, item)
        self._update_buttons()

    def selected(self) -> SavedEndpoint | None:
        rows = self.table.selectionModel().selectedRows()
        return self.rows[rows[0].row()].endpoint if rows and rows[0].row() < len(self.rows) else None

    def _update_buttons(self) -> None:
        there = self.store is not None
        self.add_button.setEnabled(there)
        self.refresh_button.setEnabled(there)
        self.remove_button.setEnabled(there and self.selected() is not None)

    # --- add, remove ---------------------------------------------------------------------------

    def add(self) -> None:
        answer = self._ask(self)
        if answer is not None:
            self.add_endpoint(answer)

    def add_endpoint(self, answer: NewEndpoint) -> bool:
        """Save the endpoint (and its key) and list every endpoint again; False, with a warning, for a URL
        that is not an endpoint."""
        store, list_fn = self.store, self._list_fn
        if store is None:
            return False
        try:
            endpoint_url(answer.url)
        except ValueError as exc:
            self.prompts.warn(self, "Not an endpoint", str(exc))
            return False

        def work(_token: object) -> list[EndpointModels]:
            store.save(answer.url, name=answer.name, api_key=answer.api_key or None)
            return list_endpoints(store, list_fn)

        self._listing()
        self.runner.submit(work)
        return True

    def remove_selected(self) -> None:
        ep, store, list_fn = self.selected(), self.store, self._list_fn
        if ep is None or store is None:
            return
        key_note = " and its API key" if ep.has_key else ""
        if not self.prompts.confirm(self, "Remove endpoint", f"Forget {ep.label}{key_note}? Panes that use its "
                                                               "models stop offering them."):
            return

        def work(_token: object) -> list[EndpointModels]:
            store.remove(ep.url)
            return list_endpoints(store, list_fn)

        self._listing()
        self.runner.submit(work)

