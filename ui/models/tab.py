"""The Models tab: the context and KV cache choice, the filters, the table of catalog files with their
fit, and the detail of the selected file below it.

Every change of hardware, catalog, context length or KV cache type refits all rows on a worker
(`explorer.fit.batch`), dropping the results of batches that a newer one superseded. Reading a file's
exact shape from its GGUF header on the Hub runs on a worker too. The window feeds the tab
(`set_hardware`, `set_catalog`) and listens to its signals; the tab knows nothing of downloads
beyond asking for one (`download_requested`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from explorer.catalog.snapshot import Catalog
from explorer.fit.batch import FitBatch, compute_fits
from explorer.fit.contexts import CONTEXT_CHOICES, DEFAULT_FIT_CTX
from explorer.fit.estimate import Verdict
from explorer.gguf.shape import ModelShape
from explorer.hardware.facts import Hardware
from explorer.settings import ModelsSettings, SelectedFile
from ui.fmt import format_ctx, parse_ctx
from ui.models.detail import DetailView
from ui.models.filters import FilterBar, FilterState
from ui.models.table import (
    ROW_ROLE,
    Column,
    ModelFilterProxy,
    ModelTableModel,
    Row,
    VerdictDelegate,
    quant_bits,
    rows_from_catalog,
)
from ui.workers import LatestRunner

KV_TYPES = ("f16", "q8_0", "q4_0")
ReadShape = Callable[[str, Sequence[str]], ModelShape]
ShapeKey = tuple[str, tuple[str, ...]]
_COLUMN_WIDTHS = {Column.MODEL: 200, Column.VARIANT: 104, Column.SIZE: 104, Column.QUANT: 80,
                  Column.FILE_SIZE: 172, Column.VERDICT: 128, Column.NEEDS: 86, Column.SPEED: 100,
                  Column.REPO: 150}


class ModelsTab(QSplitter):
    """Signals:
      fits_applied(FitBatch)     a batch of fits reached the table
      row_shown(object)          the detail view now shows this Row (or None): on selection and refit
      download_requested(object) the person asked to download this Row
    """

    fits_applied = Signal(object)
    row_shown = Signal(object)
    download_requested = Signal(object)

    def __init__(self, *, downloads_available: bool = False, read_remote_shape: ReadShape | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self.setObjectName("rightSplitter")
        self.hardware: Hardware | None = None
        self.catalog: Catalog | None = None
        self._ctx = DEFAULT_FIT_CTX
        self._kv_type = KV_TYPES[0]
        self._suggested = False
        self._downloads_available = downloads_available
        self._read_remote_shape = read_remote_shape
        self.exact_shapes: dict[ShapeKey, ModelShape] = {}
        self._pending_selection: SelectedFile | None = None  # restored, selected once a catalog lists it

        self.table_model = ModelTableModel(self)
        self.proxy = ModelFilterProxy(self)
        self.proxy.setSourceModel(self.table_model)
        # A restored file hidden by a verdict filter until its fit arrives is selected when it shows.
        self.proxy.rowsInserted.connect(lambda *_a: self._select_pending())
        self.proxy.layoutChanged.connect(lambda *_a: self._select_pending())
        self.fit_runner = LatestRunner(self)
        self.fit_runner.result.connect(self._on_fits)
        self.fit_runner.error.connect(self._on_fit_error)
        self.header_runner = LatestRunner(self)
        self.header_runner.result.connect(self._on_exact_shape)
        self.header_runner.error.connect(self._on_exact_error)
        self.fit_status = QLabel("")  # the window shows it in its status bar
        self.fit_status.setObjectName("statusText")

        browser = QWidget()
        browser.setObjectName("browser")
        lay = QVBoxLayout(browser)
        lay.setContentsMargins(14, 12, 14, 0)
        lay.setSpacing(10)
        lay.addWidget(self._build_settings_bar())
        self.filters = FilterBar(self.proxy)
        lay.addWidget(self.filters)
        self.table = self._build_table()
        lay.addWidget(self.table, 1)

        self.detail = DetailView()
        self.detail.set_download_available(downloads_available)
        self.detail.download_requested.connect(self.download_requested)
        self.detail.exact_requested.connect(self.read_exact_shape)
        self.detail.set_exact_available(read_remote_shape is not None)
        self.addWidget(browser)
        self.addWidget(self.detail)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 2)
        self.setChildrenCollapsible(False)
        self.setSizes([600, 330])

    # --- layout ----------------------------------------------------------------------------

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
        self.kv_combo.currentIndexChanged.connect(lambda _i: self.set_kv_type(self.kv_combo.currentData()))
        kv_label.setBuddy(self.kv_combo)

        for w in (ctx_label, self.ctx_combo, kv_label, self.kv_combo):
            lay.addWidget(w)
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
        for col, width in _COLUMN_WIDTHS.items():
            table.setColumnWidth(col, width)
        table.selectionModel().currentRowChanged.connect(lambda _c, _p: self._on_current_changed())
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
            action.setEnabled(self._downloads_available)
            action.triggered.connect(lambda: self.download_requested.emit(row))
        else:
            menu.addAction("No file here").setEnabled(False)
        return menu

    # --- inputs ----------------------------------------------------------------------------

    def set_hardware(self, hw: Hardware) -> None:
        self.hardware = hw
        self.table_model.set_measured(hw.measured_speeds)
        self.recompute()

    def set_catalog(self, catalog: Catalog) -> None:
        """Show `catalog`'s files (keeping the selected file selected when it is still there, or selecting
        the one restored from the settings); refit."""
        current = self.current_row()
        self.catalog = catalog
        self.fit_runner.cancel()  # a running recomputation belongs to the old rows
        self.filters.set_catalog(catalog)  # first: a restored size or quant filters the rows selected below
        self.table_model.set_rows(rows_from_catalog(catalog))
        if current is not None:
            self._pending_selection = SelectedFile(current.model.id, current.file.quant, current.file.repo)
        if self._pending_selection is not None and self._pending_index() is None:
            self._pending_selection = None  # this catalog does not list it
        self._select_pending()
        self.recompute()

    def show_models(self, ids: Iterable[str]) -> int:
        """Set the filters so the table shows the files of these catalog models (a lineage box: one stage, one
        size): their variants and sizes, any quant and fit, no search text. Returns the number of rows shown."""
        models = [m for i in ids if self.catalog is not None and (m := self.catalog.find(i)) is not None]
        if not models:
            return self.proxy.rowCount()
        f = self.filters
        f.search.clear()
        for combo in (f.quant_combo, f.verdict_combo):
            combo.setCurrentIndex(0)
        f.hide_no_fit.setChecked(False)
        f.variant_button.set_selected(list(dict.fromkeys(m.variant for m in models)))
        sizes = sorted({m.size_label for m in models})
        f.size_combo.setCurrentIndex(max(0, f.size_combo.findData(sizes[0])) if len(sizes) == 1 else 0)
        if len(sizes) > 1:
            self.proxy.set_size_labels(sizes)
        return self.proxy.rowCount()

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

    # --- the settings that last (explorer.settings) ---------------------------------------------

    def state(self) -> ModelsSettings:
        """The context, KV type, filters, sort and selected file, as the settings file keeps them."""
        f = self.filters.state()
        header = self.table.horizontalHeader()
        row = self.current_row()
        selected = SelectedFile(row.model.id, row.file.quant, row.file.repo) if row is not None \
            else self._pending_selection
        return ModelsSettings(ctx=self._ctx, kv_type=self._kv_type, search=f.search, variants=f.variants,
                              size=f.size, quant=f.quant, verdict=f.verdict, hide_no_fit=f.hide_no_fit,
                              sort_column=header.sortIndicatorSection(),
                              sort_descending=header.sortIndicatorOrder() is Qt.SortOrder.DescendingOrder,
                              selected=selected)

    def restore_state(self, st: ModelsSettings) -> None:
        """Restore the choices of `state()` (before the catalog comes: the selected file waits for it).
        A value this version cannot use (a KV type it does not know, a column it does not have) is skipped."""
        if st.ctx > 0:
            self.set_context(st.ctx)
        if st.kv_type in KV_TYPES:
            self.set_kv_type(st.kv_type)
        self.filters.restore(FilterState(search=st.search, variants=st.variants, size=st.size, quant=st.quant,
                                         verdict=st.verdict, hide_no_fit=st.hide_no_fit))
        if 0 <= st.sort_column < len(Column):
            order = Qt.SortOrder.DescendingOrder if st.sort_descending else Qt.SortOrder.AscendingOrder
            self.table.sortByColumn(st.sort_column, order)
        if st.selected is not None:
            self._pending_selection = st.selected
            if self.catalog is not None and self._pending_index() is None:
                self._pending_selection = None  # the catalog does not list it
            self._select_pending()

    # --- fits ------------------------------------------------------------------------------

    def recompute(self) -> int | None:
        """Refit every row off the UI thread; returns the task's generation (None: not ready)."""
        hw = self.hardware
        if hw is None or self.catalog is None:
            return None
        pairs = [(r.model, r.file) for r in self.table_model.rows]
        ctx, kv, exact = self._ctx, self._kv_type, dict(self.exact_shapes)
        self.fit_status.setText(f"Computing fits at {format_ctx(ctx)}…")
        return self.fit_runner.submit(
            lambda token: compute_fits(pairs, hw, ctx, kv, exact=exact, cancelled=lambda: token.cancelled))

    def read_exact_shape(self, row: Row) -> int | None:
        """Fetch the row's GGUF header from the Hub off the UI thread, then refit with it."""
        read = self._read_remote_shape
        if read is None:
            return None
        key = (row.file.repo, row.file.shards)
        self.fit_status.setText(f"Reading the GGUF header of {row.file.filename} from the Hub…")
        return self.header_runner.submit(lambda _token: (key, read(*key)))

    def _on_exact_shape(self, result: tuple[ShapeKey, ModelShape]) -> None:
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
        if not self._suggested and self.current_row() is None and self._pending_selection is None:
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
        order = {Verdict.FULL_GPU: 0, Verdict.PARTIAL: 1, Verdict.CPU_ONLY: 2}
        runnable = [(i, r, order[r.fit.verdict]) for i, r in enumerate(self.table_model.rows)
                    if r.fit is not None and r.fit.verdict is not Verdict.NO_FIT]
        if not runnable:
            return
        best = min(rank for _i, _r, rank in runnable)

        def key(item: tuple[int, Row, int]) -> tuple[bool, float, float]:
            r = item[1]
            return (r.file.quant.upper() != "Q4_K_M", -r.model.params_total, -quant_bits(r.file.quant))

        self.select_source_row(min((x for x in runnable if x[2] == best), key=key)[0])

    def _pending_index(self) -> int | None:
        """The source row of the file waiting to be selected (restored from the settings), if listed."""
        p = self._pending_selection
        if p is None:
            return None
        key = (p.model_id, p.quant, p.repo)
        return next((i for i, r in enumerate(self.table_model.rows)
                     if (r.model.id, r.file.quant, r.file.repo) == key), None)

    def _select_pending(self) -> None:
        """Select the waiting file once the table shows it. Until then it stays the selection that
        `state()` saves: a verdict filter hides every row until the fits arrive."""
        i = self._pending_index()
        if i is None or not self.proxy.mapFromSource(self.table_model.index(i, 0)).isValid():
            return
        self._pending_selection = None
        self.select_source_row(i)

    def _on_current_changed(self) -> None:
        if self.current_row() is not None:
            self._pending_selection = None  # a file chosen (or restored) replaces the one waiting
        self._show_current()

    def select_source_row(self, source_row: int) -> None:
        index = self.proxy.mapFromSource(self.table_model.index(source_row, 0))
        if not index.isValid():
            return
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)

    def _show_current(self) -> None:
        row = self.current_row()
        self.detail.set_row(row)
        self.row_shown.emit(row)

    def shutdown(self) -> None:
        """Drop the running fits and header read (their late results are ignored)."""
        self.fit_runner.cancel()
        self.header_runner.cancel()
