"""The main window: hardware on the left; tabs for the model browser (details below it), the
downloads, the library and the side-by-side chat on the right.

It shows at once with placeholders; the catalog and the hardware probe load on worker threads, and
every change of context length or KV cache type recomputes all fits on a worker, dropping the
results of recomputations that a newer one superseded. A catalog refresh from the Hub runs on a
worker too; when the Hub cannot be reached the window keeps the catalog it has and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QRegularExpression,
    Qt,
    QThreadPool,
    Signal,
)
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from explorer.catalog.refresh import RefreshResult, describe_source
from explorer.catalog.snapshot import Catalog, CatalogFile, CatalogModel
from explorer.fit.contexts import CONTEXT_CHOICES, DEFAULT_FIT_CTX
from explorer.fit.estimate import FitEstimate, Verdict, estimate_fit
from explorer.gguf.shape import ModelShape
from explorer.gguf.variant import Variant
from explorer.hardware.probe import Hardware
from explorer.store.download_types import DownloadError
from ui.fmt import format_ctx, parse_ctx
from ui.library.downloads import DownloadsPanel
from ui.library.view import LibraryView
from ui.models.detail import DetailView
from ui.models.hardware_panel import HardwarePanel
from ui.models.table import (
    ROW_ROLE,
    Column,
    ModelFilterProxy,
    ModelTableModel,
    Row,
    VerdictDelegate,
    file_size_text,
    quant_bits,
    rows_from_catalog,
)
from ui.services import Services

if TYPE_CHECKING:
    from explorer.store.library import LocalModel
    from ui.chat.tab import ChatTab
from ui.workers import Cancelled, CancelToken, LatestRunner

KV_TYPES = ("f16", "q8_0", "q4_0")
VERDICT_CHOICES: tuple[tuple[str, frozenset[Verdict]], ...] = (
    ("Any fit", frozenset()),
    ("Runs here", frozenset({Verdict.FULL_GPU, Verdict.PARTIAL, Verdict.CPU_ONLY})),
    ("Full GPU", frozenset({Verdict.FULL_GPU})),
    ("Partial offload", frozenset({Verdict.PARTIAL})),
    ("CPU only", frozenset({Verdict.CPU_ONLY})),
    ("Does not fit", frozenset({Verdict.NO_FIT})),
)


@dataclass(frozen=True)
class FitBatch:
    """The outcome of one recomputation: a fit (or None) per table row, in row order."""

    ctx: int
    kv_type: str
    fits: tuple[FitEstimate | None, ...]
    errors: tuple[str, ...] = field(default=())


def compute_fits(pairs: Sequence[tuple[CatalogModel, CatalogFile]], hw: Hardware, ctx: int,
                 kv_type: str, token: CancelToken | None = None,
                 exact: Mapping[tuple[str, tuple[str, ...]], ModelShape] | None = None) -> FitBatch:
    """Fit every file; runs on a worker thread. Stops early when `token` is cancelled.

    `exact` holds shapes read from real GGUF headers, keyed by (repo, shards); they replace the
    catalog's estimates for those files.
    """
    fits: list[FitEstimate | None] = []
    errors: list[str] = []
    for model, file in pairs:
        if token is not None and token.cancelled:
            raise Cancelled()
        try:
            shape = (exact or {}).get((file.repo, file.shards)) or model.shape_for(file)
            fits.append(estimate_fit(shape, hw, ctx=ctx, kv_type=kv_type))
        except Exception as exc:  # one odd file must not blank the whole table
            fits.append(None)
            errors.append(f"{model.id} {file.quant}: {exc!r}")
    return FitBatch(ctx, kv_type, tuple(fits), tuple(errors))


def catalog_text(catalog: Catalog) -> str:
    n_files = sum(len(m.files) for m in catalog.models)
    return f"{describe_source(catalog)}  ·  {len(catalog.models)} models, {n_files} files"


def unreachable_text(catalog: Catalog | None) -> str:
    """The status line when a refresh reached no repo: what the window keeps showing instead."""
    if catalog is None:
        return "Hub unreachable"
    if catalog.source == "hub":
        return f"Hub unreachable, showing the Hub catalog refreshed {catalog.snapshot_date}"
    return f"Hub unreachable, showing the offline snapshot ({catalog.snapshot_date})"


class MultiChoiceButton(QToolButton):
    """A drop-down of checkable choices; nothing checked means 'all'."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._name = name
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setMenu(QMenu(self))
        self._actions: dict[object, QAction] = {}
        self.callback: Callable[[list[object]], None] = lambda _values: None
        self._refresh()

    def set_choices(self, choices: Sequence[tuple[str, object]]) -> None:
        menu = self.menu()
        menu.clear()
        self._actions.clear()
        for text, value in choices:
            action = menu.addAction(text)
            action.setCheckable(True)
            action.toggled.connect(self._changed)
            self._actions[value] = action
        menu.addSeparator()
        menu.addAction("Show all").triggered.connect(self.clear)
        self._refresh()

    def selected(self) -> list[object]:
        return [v for v, a in self._actions.items() if a.isChecked()]

    def set_selected(self, values: Sequence[object]) -> None:
        for v, a in self._actions.items():
            a.blockSignals(True)
            a.setChecked(v in values)
            a.blockSignals(False)
        self._changed()

    def clear(self) -> None:
        self.set_selected([])

    def _changed(self) -> None:
        self._refresh()
        self.callback(self.selected())

    def _refresh(self) -> None:
        texts = [a.text() for a in self._actions.values() if a.isChecked()]
        if not texts:
            label = f"{self._name}: all"
        elif len(texts) <= 2:
            label = f"{self._name}: {', '.join(texts)}"
        else:
            label = f"{self._name}: {len(texts)} selected"
        self.setText(label)


class MainWindow(QMainWindow):
    hardware_ready = Signal(object)  # Hardware
    catalog_ready = Signal(object)  # Catalog
    fits_applied = Signal(object)  # FitBatch
    catalog_refreshed = Signal(object)  # RefreshResult, or the exception when the refresh failed

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.hardware: Hardware | None = None
        self.catalog: Catalog | None = None
        self._ctx = DEFAULT_FIT_CTX
        self._kv_type = KV_TYPES[0]
        self._probe_started = 0.0
        self._suggested = False

        self.setWindowTitle("Qwen3 Explorer")
        self.resize(1500, 920)

        self.table_model = ModelTableModel(self)
        self.proxy = ModelFilterProxy(self)
        self.proxy.setSourceModel(self.table_model)

        # The probe can hold a thread for seconds; keep threads for the catalog and the fits too.
        pool = QThreadPool.globalInstance()
        pool.setMaxThreadCount(max(pool.maxThreadCount(), 4))
        self.probe_runner = LatestRunner(self)
        self.catalog_runner = LatestRunner(self)
        self.fit_runner = LatestRunner(self)
        self.refresh_runner = LatestRunner(self)
        self.header_runner = LatestRunner(self)
        self.header_runner.result.connect(self._on_exact_shape)
        self.header_runner.error.connect(self._on_exact_error)
        self.exact_shapes: dict[tuple[str, tuple[str, ...]], ModelShape] = {}
        self.refresh_runner.result.connect(self._on_refreshed)
        self.refresh_runner.error.connect(self._on_refresh_error)
        self.probe_runner.result.connect(self._on_hardware)
        self.probe_runner.error.connect(self._on_probe_error)
        self.catalog_runner.result.connect(self._on_catalog)
        self.catalog_runner.error.connect(self._on_catalog_error)
        self.fit_runner.result.connect(self._on_fits)
        self.fit_runner.error.connect(self._on_fit_error)

        self._build()
        self.load_catalog()
        self.detect_hardware()

    # --- layout ----------------------------------------------------------------------------

    def _build(self) -> None:
        self.hardware_panel = HardwarePanel()
        scroll = QScrollArea()
        scroll.setObjectName("hardwareScroll")
        scroll.setWidget(self.hardware_panel)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(320)

        browser = QWidget()
        browser.setObjectName("browser")
        blay = QVBoxLayout(browser)
        blay.setContentsMargins(14, 12, 14, 0)
        blay.setSpacing(10)
        blay.addWidget(self._build_settings_bar())
        blay.addWidget(self._build_filter_bar())
        self.table = self._build_table()
        blay.addWidget(self.table, 1)

        self.detail = DetailView()
        if self.services.downloads is not None:
            self.detail.set_download_available(True)
        self.detail.download_requested.connect(self.download_row)
        self.detail.exact_requested.connect(self.read_exact_shape)
        self.detail.set_exact_available(self.services.read_remote_shape is not None)
        right = QSplitter(Qt.Orientation.Vertical)
        right.setObjectName("rightSplitter")
        right.addWidget(browser)
        right.addWidget(self.detail)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        right.setChildrenCollapsible(False)
        right.setSizes([600, 330])

        main = QSplitter(Qt.Orientation.Horizontal)
        main.setObjectName("mainSplitter")
        self.downloads_panel = DownloadsPanel(self.services.downloads)
        self.downloads_panel.job_done.connect(self._on_download_done)
        self.downloads_panel.job_failed.connect(self._on_download_failed)
        self.downloads_panel.active_changed.connect(self._on_active_downloads)
        self.library_view = LibraryView(self.services.scan_library, self.services.delete_model,
                                        self.services.add_model_file)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(right, "Models")
        self.tabs.addTab(self.downloads_panel, "Downloads")
        self.tabs.addTab(self.library_view, "Library")
        # The chat is built when its tab is first opened: its imports (Jinja, the engine client) and
        # its engine threads stay off the start-up path of a person who only browses models.
        self._chat_tab: ChatTab | None = None
        self._probe_error: str | None = None
        self.chat_placeholder = QWidget()
        self.tabs.addTab(self.chat_placeholder, "Chat")
        self.library_view.scanned.connect(self._on_library_scanned)
        self.tabs.currentChanged.connect(self._tab_changed)

        main.addWidget(scroll)
        main.addWidget(self.tabs)
        main.setStretchFactor(0, 0)
        main.setStretchFactor(1, 1)
        main.setChildrenCollapsible(False)
        main.setSizes([380, 1120])
        self.setCentralWidget(main)

        menu = self.menuBar().addMenu("&File")
        self.redetect_action = QAction("Re-detect hardware", self)
        self.redetect_action.setShortcut(QKeySequence.StandardKey.Refresh)
        self.redetect_action.triggered.connect(self.detect_hardware)
        menu.addAction(self.redetect_action)
        self.refresh_action = QAction("Refresh catalog from the Hub", self)
        self.refresh_action.setToolTip("Ask the Hugging Face Hub for exact file sizes and shards")
        self.refresh_action.triggered.connect(self.refresh_catalog)
        self.refresh_action.setEnabled(self.services.refresh_catalog is not None)
        menu.addAction(self.refresh_action)
        menu.addSeparator()
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        menu.addAction(quit_action)

        self.catalog_status = QLabel("Loading catalog…")
        self.catalog_status.setObjectName("statusText")
        self.probe_status = QLabel("Detecting hardware…")
        self.probe_status.setObjectName("statusText")
        self.fit_status = QLabel("")
        self.fit_status.setObjectName("statusText")
        self.statusBar().addWidget(self.catalog_status, 1)
        self.statusBar().addPermanentWidget(self.fit_status)
        self.statusBar().addPermanentWidget(self.probe_status)

    def _build_settings_bar(self) -> QWidget:
        bar = QWidget()
        bar.setObjectName("settingsBar")
        lay = QHBoxLayout(bar)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)
        title = QLabel("Qwen3 models")
        title.setObjectName("paneTitle")
        lay.addWidget(title)
        lay.addStretch(1)

        ctx_label = QLabel("Context")
        ctx_label.setObjectName("controlLabel")
        self.ctx_combo = QComboBox()
        self.ctx_combo.setObjectName("ctxCombo")
        self.ctx_combo.setEditable(True)
        self.ctx_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        for ctx in CONTEXT_CHOICES:
            self.ctx_combo.addItem(format_ctx(ctx), ctx)
        self.ctx_combo.setCurrentText(format_ctx(self._ctx))
        edit = self.ctx_combo.lineEdit()
        assert edit is not None  # the combo is editable
        edit.setValidator(QRegularExpressionValidator(
            QRegularExpression(r"^\s*\d{1,7}(\.\d+)?\s*[kKmM]?\s*$"), self.ctx_combo))
        edit.setToolTip("Tokens of context: pick one or type e.g. 24K or 20000, then Enter")
        self.ctx_combo.setMinimumContentsLength(6)
        self.ctx_combo.activated.connect(lambda _i: self._ctx_edited())
        edit.editingFinished.connect(self._ctx_edited)
        ctx_label.setBuddy(self.ctx_combo)

        kv_label = QLabel("KV cache")
        kv_label.setObjectName("controlLabel")
        self.kv_combo = QComboBox()
        self.kv_combo.setObjectName("kvCombo")
        for kv in KV_TYPES:
            self.kv_combo.addItem(kv, kv)
        self.kv_combo.setToolTip("Type of the K and V cache: q8_0 halves it, q4_0 quarters it")
        self.kv_combo.currentIndexChanged.connect(
            lambda _i: self.set_kv_type(self.kv_combo.currentData()))
        kv_label.setBuddy(self.kv_combo)

        for w in (ctx_label, self.ctx_combo, kv_label, self.kv_combo):
            lay.addWidget(w)
        return bar

    def _build_filter_bar(self) -> QWidget:
        bar = QWidget()
        bar.setObjectName("filterBar")
        lay = QHBoxLayout(bar)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)

        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search models, quants, repos…")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(220)
        self.search.textChanged.connect(self.proxy.set_text)
        lay.addWidget(self.search, 2)

        self.variant_button = MultiChoiceButton("Variant")
        self.variant_button.set_choices([(v.label, v) for v in Variant])
        self.variant_button.callback = lambda vs: self.proxy.set_variants(
            v for v in vs if isinstance(v, Variant))
        lay.addWidget(self.variant_button)

        self.size_combo = QComboBox()
        self.size_combo.setObjectName("sizeCombo")
        self.size_combo.addItem("All sizes", None)
        self.size_combo.currentIndexChanged.connect(self._size_changed)
        lay.addWidget(self.size_combo)

        self.quant_combo = QComboBox()
        self.quant_combo.setObjectName("quantCombo")
        self.quant_combo.addItem("All quants", None)
        self.quant_combo.currentIndexChanged.connect(self._quant_changed)
        lay.addWidget(self.quant_combo)

        self.verdict_combo = QComboBox()
        self.verdict_combo.setObjectName("verdictCombo")
        for text, verdicts in VERDICT_CHOICES:
            self.verdict_combo.addItem(text, verdicts)
        self.verdict_combo.currentIndexChanged.connect(
            lambda _i: self.proxy.set_verdicts(self.verdict_combo.currentData()))
        lay.addWidget(self.verdict_combo)

        self.hide_no_fit = QCheckBox("Hide what does not fit")
        self.hide_no_fit.toggled.connect(self.proxy.set_hide_no_fit)
        lay.addWidget(self.hide_no_fit)
        lay.addStretch(1)

        self.count_label = QLabel("")
        self.count_label.setObjectName("muted")
        lay.addWidget(self.count_label)
        for signal in (self.proxy.rowsInserted, self.proxy.rowsRemoved, self.proxy.modelReset,
                       self.proxy.layoutChanged):
            signal.connect(self._update_count)
        return bar

    def _build_table(self) -> QTableView:
        table = QTableView()
        table.setObjectName("modelTable")
        table.setModel(self.proxy)
        table.setSortingEnabled(True)
        table.sortByColumn(Column.MODEL, Qt.SortOrder.AscendingOrder)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setAlternatingRowColors(True)
        table.setShowGrid(False)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(32)
        table.setItemDelegateForColumn(Column.VERDICT, VerdictDelegate(table))
        header = table.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        widths = {Column.MODEL: 200, Column.VARIANT: 104, Column.SIZE: 104, Column.QUANT: 80,
                  Column.FILE_SIZE: 172, Column.VERDICT: 128, Column.NEEDS: 86, Column.SPEED: 100,
                  Column.REPO: 150}
        for col, width in widths.items():
            table.setColumnWidth(col, width)
        table.selectionModel().currentRowChanged.connect(self._current_changed)
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(
            lambda pos: self.table_menu(table.indexAt(pos)).exec(table.viewport().mapToGlobal(pos)))
        return table

    def table_menu(self, index: QModelIndex) -> QMenu:
        """The context menu for a row of the model table (built separately so tests can use it)."""
        menu = QMenu(self.table)
        row = index.data(ROW_ROLE) if index.isValid() else None
        if isinstance(row, Row):
            action = menu.addAction(f"Download {row.model.id} {row.file.quant}…")
            action.setEnabled(self.services.downloads is not None)
            action.triggered.connect(lambda: self.download_row(row))
        else:
            menu.addAction("No file here").setEnabled(False)
        return menu

    # --- loading ---------------------------------------------------------------------------

    def load_catalog(self) -> None:
        load = self.services.load_catalog
        self.catalog_status.setText("Loading catalog…")
        self.catalog_runner.submit(lambda _token: load())

    def detect_hardware(self) -> None:
        if self.probe_runner.busy:  # two probes at once would skew each other's bandwidth figure
            return
        self.redetect_action.setEnabled(False)
        probe = self.services.probe_hardware
        self._probe_started = time.monotonic()
        self.probe_status.setText("Detecting hardware…")
        if self.hardware is None:
            self.hardware_panel.set_probing()
        self.probe_runner.submit(lambda _token: probe())

    def _on_catalog(self, catalog: Catalog) -> None:
        current = self.current_row()
        self.catalog = catalog
        self.fit_runner.cancel()  # a running recomputation belongs to the old rows
        self.table_model.set_rows(rows_from_catalog(catalog))
        if current is not None:  # keep the same file selected across a refresh
            for i, r in enumerate(self.table_model.rows):
                if (r.model.id, r.file.quant, r.file.repo) == (current.model.id, current.file.quant,
                                                               current.file.repo):
                    self.select_source_row(i)
                    break
        self._fill_filter_choices(catalog)
        self.catalog_status.setText(catalog_text(catalog))
        self.catalog_ready.emit(catalog)
        self.recompute()

    def _on_catalog_error(self, exc: BaseException) -> None:
        self.catalog_status.setText(f"Could not load the catalog: {exc}")

    # --- catalog refresh -------------------------------------------------------------------

    def refresh_catalog(self) -> None:
        """Ask the Hub for the catalog's files on a worker; never blocks the UI thread."""
        refresh = self.services.refresh_catalog
        if refresh is None or self.refresh_runner.busy:
            return
        self.refresh_action.setEnabled(False)
        self.catalog_status.setText("Refreshing the catalog from the Hub…")
        self.refresh_runner.submit(lambda _token: refresh())

    def _on_refreshed(self, result: RefreshResult) -> None:
        self.refresh_action.setEnabled(True)
        if not result.updated:
            self._refresh_failed("; ".join(f"{repo}: {why}" for repo, why in result.failed[:20]))
        else:
            self._on_catalog(result.catalog)
            if result.failed:
                n = len(result.failed)
                self.catalog_status.setText(
                    f"{self.catalog_status.text()}  ·  {n} repo{'s' if n > 1 else ''} unreachable, "
                    "kept from the snapshot")
                self.catalog_status.setToolTip("\n".join(f"{r}: {w}" for r, w in result.failed[:20]))
            else:
                self.catalog_status.setToolTip("")
        self.catalog_refreshed.emit(result)

    def _on_refresh_error(self, exc: BaseException) -> None:
        self.refresh_action.setEnabled(True)
        self._refresh_failed(f"{type(exc).__name__}: {exc}")
        self.catalog_refreshed.emit(exc)

    def _refresh_failed(self, why: str) -> None:
        self.catalog_status.setText(unreachable_text(self.catalog))
        self.catalog_status.setToolTip(why)

    # --- downloads -------------------------------------------------------------------------

    def download_row(self, row: Row) -> int | None:
        """Queue the row's file (every shard); asks first when the fit says it does not fit here."""
        if self.services.downloads is None:
            return None
        name = f"{row.model.id} {row.file.quant}"
        if row.fit is not None and row.fit.verdict is Verdict.NO_FIT:
            answer = QMessageBox.question(
                self, "Download a model that does not fit?",
                f"{name} does not fit on this machine at {format_ctx(row.fit.ctx)} context:\n\n"
                f"{row.fit.summary}\n\nDownload it anyway ({file_size_text(row.file)})?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Yes:
                return None
        try:
            job_id = self.downloads_panel.enqueue(row.file.repo, row.file.shards,
                                                  title=f"{row.model.id}  ·  {row.file.quant}")
        except DownloadError as exc:  # e.g. a file name that would leave the cache
            QMessageBox.warning(self, "Cannot download", str(exc))
            return None
        self.statusBar().showMessage(f"Queued {name}: see the Downloads tab", 6000)
        return job_id

    def _on_download_done(self, _job_id: int) -> None:
        self.library_view.rescan()

    def _on_download_failed(self, job_id: int, message: str) -> None:
        row = self.downloads_panel.rows.get(job_id)
        title = row.info.title if row is not None else "A download"
        self.statusBar().showMessage(f"Download failed: {title}: {message}", 15000)

    def _tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.chat_placeholder:
            self.chat_tab  # noqa: B018 (builds it)
        elif self._chat_tab is not None and self.tabs.widget(index) is self._chat_tab and not self._chat_tab.models:
            self.library_view.rescan()  # the chat's model pickers list what is on disk

    @property
    def chat_tab(self) -> ChatTab:
        """The Chat tab, built on first use."""
        if self._chat_tab is None:
            from explorer.chat.transcripts import ConversationStore
            from ui.chat.tab import ChatTab

            tab = ChatTab(ConversationStore(self.services.conversations_dir))
            self._chat_tab = tab
            if self.hardware is not None:
                tab.set_hardware(self.hardware)
            elif self._probe_error is not None:
                tab.set_hardware_error(self._probe_error)
            scanned = self.library_view.model.models
            if scanned:
                tab.set_models(scanned)
            index = self.tabs.indexOf(self.chat_placeholder)
            current = self.tabs.currentIndex() == index
            self.tabs.blockSignals(True)
            self.tabs.removeTab(index)
            self.tabs.insertTab(index, tab, "Chat")
            if current:
                self.tabs.setCurrentIndex(index)
            self.tabs.blockSignals(False)
            self.chat_placeholder.deleteLater()
            if not scanned:
                self.library_view.rescan()
        return self._chat_tab

    def _on_library_scanned(self, models: list[LocalModel]) -> None:
        if self._chat_tab is not None:
            self._chat_tab.set_models(models)

    def _on_active_downloads(self, active: int) -> None:
        index = self.tabs.indexOf(self.downloads_panel)
        self.tabs.setTabText(index, f"Downloads ({active})" if active else "Downloads")

    def _on_hardware(self, hw: Hardware) -> None:
        self.redetect_action.setEnabled(True)
        self.hardware = hw
        self.hardware_panel.set_hardware(hw)
        seconds = time.monotonic() - self._probe_started
        self.probe_status.setText(f"Hardware detected in {seconds:.1f} s")
        self.hardware_ready.emit(hw)
        if self._chat_tab is not None:
            self._chat_tab.set_hardware(hw)
        self.recompute()

    def _on_probe_error(self, exc: BaseException) -> None:
        self.redetect_action.setEnabled(True)
        self.probe_status.setText("Hardware detection failed")
        self._probe_error = str(exc) or type(exc).__name__
        if self.hardware is None:
            self.hardware_panel.set_error(self._probe_error)
            if self._chat_tab is not None:
                self._chat_tab.set_hardware_error(self._probe_error)

    # --- fits ------------------------------------------------------------------------------

    @property
    def ctx(self) -> int:
        return self._ctx

    @property
    def kv_type(self) -> str:
        return self._kv_type

    def set_context(self, ctx: int) -> None:
        if ctx <= 0:
            raise ValueError("context length must be positive")
        self.ctx_combo.setCurrentText(format_ctx(ctx))
        if ctx != self._ctx:
            self._ctx = ctx
            self.recompute()

    def set_kv_type(self, kv_type: str) -> None:
        if kv_type not in KV_TYPES:
            raise ValueError(f"unknown KV cache type {kv_type!r}")
        if self.kv_combo.currentData() != kv_type:
            self.kv_combo.setCurrentIndex(KV_TYPES.index(kv_type))  # calls back here
            return
        if kv_type != self._kv_type:
            self._kv_type = kv_type
            self.recompute()

    def _ctx_edited(self) -> None:
        ctx = parse_ctx(self.ctx_combo.currentText())
        if ctx is None:
            self.ctx_combo.setCurrentText(format_ctx(self._ctx))
            return
        self.set_context(ctx)

    def recompute(self) -> int | None:
        """Refit every row off the UI thread; returns the task's generation (None: not ready)."""
        hw = self.hardware
        if hw is None or self.catalog is None:
            return None
        pairs = [(r.model, r.file) for r in self.table_model.rows]
        ctx, kv = self._ctx, self._kv_type
        self.fit_status.setText(f"Computing fits at {format_ctx(ctx)}…")
        exact = dict(self.exact_shapes)
        return self.fit_runner.submit(lambda token: compute_fits(pairs, hw, ctx, kv, token, exact))

    def read_exact_shape(self, row: Row) -> int | None:
        """Fetch the row's GGUF header from the Hub off the UI thread, then refit with it."""
        read = self.services.read_remote_shape
        if read is None:
            return None
        key = (row.file.repo, row.file.shards)
        self.fit_status.setText(f"Reading the GGUF header of {row.file.filename} from the Hub…")
        return self.header_runner.submit(lambda _token: (key, read(*key)))

    def _on_exact_shape(self, result: tuple[tuple[str, tuple[str, ...]], ModelShape]) -> None:
        key, shape = result
        self.exact_shapes[key] = shape
        self.recompute()

    def _on_exact_error(self, exc: BaseException) -> None:
        self.fit_status.setText(f"Could not read the header from the Hub: {exc}")
        self.detail.set_row(self.detail.row)

    def _on_fits(self, batch: FitBatch) -> None:
        self.table_model.set_fits(batch.fits)
        text = f"Fits at {format_ctx(batch.ctx)} context, {batch.kv_type} KV cache"
        if batch.errors:
            text += f"  ·  {len(batch.errors)} could not be estimated"
            self.fit_status.setToolTip("\n".join(batch.errors[:20]))
        else:
            self.fit_status.setToolTip("")
        self.fit_status.setText(text)
        if not self._suggested and self.current_row() is None:
            self._suggested = True
            self.select_suggestion()
        self._show_current()
        self.fits_applied.emit(batch)

    def _on_fit_error(self, exc: BaseException) -> None:
        self.fit_status.setText(f"Fit estimate failed: {exc!r}")

    # --- selection -------------------------------------------------------------------------

    def current_row(self) -> Row | None:
        index = self.table.currentIndex()
        if not index.isValid():
            return None
        row = index.data(ROW_ROLE)
        return row if isinstance(row, Row) else None

    def select_suggestion(self) -> None:
        """Select the biggest model that runs best here, preferring a Q4_K_M file."""
        rows = [(i, r) for i, r in enumerate(self.table_model.rows) if r.fit is not None]
        runnable = [(i, r) for i, r in rows if r.fit and r.fit.verdict is not Verdict.NO_FIT]
        if not runnable:
            return
        order = {Verdict.FULL_GPU: 0, Verdict.PARTIAL: 1, Verdict.CPU_ONLY: 2}

        def key(item: tuple[int, Row]) -> tuple[int, bool, float, float]:
            r = item[1]
            assert r.fit is not None
            return (order[r.fit.verdict], r.file.quant.upper() != "Q4_K_M",
                    -r.model.params_total, -quant_bits(r.file.quant))

        best_verdict = min(order[r.fit.verdict] for _i, r in runnable if r.fit)
        candidates = [x for x in runnable if x[1].fit and order[x[1].fit.verdict] == best_verdict]
        source_row = min(candidates, key=key)[0]
        self.select_source_row(source_row)

    def select_source_row(self, source_row: int) -> None:
        index = self.proxy.mapFromSource(self.table_model.index(source_row, 0))
        if not index.isValid():
            return
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)

    def _current_changed(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self._show_current()

    def _show_current(self) -> None:
        row = self.current_row()
        self.detail.set_row(row)
        label = f"{row.model.id} {row.file.quant}" if row else ""
        self.hardware_panel.set_fit(row.fit if row else None, label)

    def _fill_filter_choices(self, catalog: Catalog) -> None:
        selected = self.variant_button.selected()
        self.variant_button.set_choices([(v.label, v) for v in catalog.variants()])
        self.variant_button.set_selected([v for v in selected if v in catalog.variants()])
        for combo, values in ((self.size_combo, catalog.size_labels()),
                              (self.quant_combo, catalog.quants())):
            current = combo.currentData()
            combo.blockSignals(True)
            while combo.count() > 1:
                combo.removeItem(1)
            for v in values:
                combo.addItem(v, v)
            combo.setCurrentIndex(max(0, combo.findData(current)))
            combo.blockSignals(False)
        self._size_changed()
        self._quant_changed()

    def _size_changed(self) -> None:
        value = self.size_combo.currentData()
        self.proxy.set_size_labels([value] if value else [])

    def _quant_changed(self) -> None:
        value = self.quant_combo.currentData()
        self.proxy.set_quants([value] if value else [])

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.table_model.rowCount()
        self.count_label.setText(f"{shown} of {total} files" if shown != total else f"{total} files")

    def closeEvent(self, event: QCloseEvent) -> None:
        for runner in (self.probe_runner, self.catalog_runner, self.fit_runner, self.refresh_runner,
                       self.library_view.scan_runner):
            runner.cancel()
        self.downloads_panel.close_manager()
        if self._chat_tab is not None:
            self._chat_tab.shutdown()
        super().closeEvent(event)
