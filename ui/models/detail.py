"""Details of the selected file: identity, architecture, and where its memory goes."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from explorer.fit.estimate import Breakdown, FitEstimate
from ui import theme
from ui.cards import card as titled_card
from ui.fmt import format_bytes, format_ctx, format_speed, verdict_text
from ui.models.table import Row, file_size_text

_SELECTABLE = Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard

ESTIMATE_NOTE = (
    "Estimated from catalog facts (parameters, the quant's average bits per weight), not from "
    "the file's GGUF header: real sizes can differ by a few percent."
)


def _value(text: str = "", *, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setObjectName("rowValue")
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(_SELECTABLE)
    label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    return label


def _key(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("rowKey")
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    return label


class _Form:
    """A two-column grid of key/value labels addressed by key."""

    def __init__(self, layout: QVBoxLayout, keys: list[str]) -> None:
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(5)
        grid.setColumnStretch(1, 1)
        self.values: dict[str, QLabel] = {}
        self.keys: dict[str, QLabel] = {}
        for r, key in enumerate(keys):
            k, v = _key(key), _value()
            grid.addWidget(k, r, 0)
            grid.addWidget(v, r, 1)
            self.values[key], self.keys[key] = v, k
        layout.addLayout(grid)

    def set(self, key: str, text: str | None) -> None:
        shown = text is not None
        self.values[key].setText(text or "")
        self.values[key].setVisible(shown)
        self.keys[key].setVisible(shown)


class DetailView(QWidget):
    BREAKDOWN_ROWS = ("Weights", "KV cache", "Compute", "Overhead", "Total")
    download_requested = Signal(object)  # Row
    exact_requested = Signal(object)  # Row: read the file's GGUF header from the Hub

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detailView")
        self.row: Row | None = None
        self._stack = QStackedLayout(self)

        self.placeholder = QLabel("Select a model file to see its details.")
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._stack.addWidget(self.placeholder)

        page = QWidget()
        page.setObjectName("detailPage")
        cards = QHBoxLayout(page)
        cards.setContentsMargins(12, 10, 12, 12)
        cards.setSpacing(12)
        # When the window is short the cards scroll instead of squeezing their rows together.
        scroll = QScrollArea()
        scroll.setObjectName("detailScroll")
        scroll.setWidget(page)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._stack.addWidget(scroll)

        # Model card
        card, lay = titled_card("Model")
        self.title = _value(wrap=True)
        self.title.setObjectName("detailTitle")
        lay.addWidget(self.title)
        self.model_form = _Form(lay, ["Variant", "Quant", "Size", "Repo", "Files"])
        lay.addStretch(1)
        actions = QHBoxLayout()
        actions.setSpacing(8)
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("primaryButton")
        self.download_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.download_button.clicked.connect(self._download_clicked)
        actions.addWidget(self.download_button)
        self.exact_button = QPushButton("Exact fit from the Hub")
        self.exact_button.setObjectName("rowButton")
        self.exact_button.setToolTip("Read this file's GGUF header from the Hub (a few MB, HTTP Range) and "
                                     "estimate from its real tensor sizes instead of catalog facts")
        self.exact_button.clicked.connect(self._exact_clicked)
        self.exact_button.setEnabled(False)
        actions.addWidget(self.exact_button)
        actions.addStretch(1)
        lay.addLayout(actions)
        self.set_download_available(False, "Downloads are not available in this session.")
        cards.addWidget(card, 4)

        # Architecture card
        card, lay = titled_card("Architecture")
        self.arch_form = _Form(lay, ["Parameters", "Layers", "Attention", "Head dim", "FFN",
                                     "Experts", "Context", "Vocabulary"])
        lay.addStretch(1)
        cards.addWidget(card, 3)

        # Fit card
        card, lay = titled_card("Fit on this machine")
        self.fit_title = card.findChild(QLabel, "cardTitle")
        top = QHBoxLayout()
        top.setSpacing(10)
        self.verdict = QLabel()
        self.verdict.setObjectName("verdictPill")
        self.verdict.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.speed = QLabel()
        self.speed.setObjectName("speed")
        top.addWidget(self.verdict)
        top.addWidget(self.speed)
        top.addStretch(1)
        lay.addLayout(top)
        self.summary = _value()
        self.summary.setObjectName("summary")
        lay.addWidget(self.summary)
        grid = QGridLayout()
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(3)
        for c, head in enumerate(("", "GPU (VRAM)", "RAM")):
            h = QLabel(head)
            h.setObjectName("tableHead")
            h.setAlignment(Qt.AlignmentFlag.AlignRight if c else Qt.AlignmentFlag.AlignLeft)
            grid.addWidget(h, 0, c)
        self.breakdown: dict[tuple[str, str], QLabel] = {}
        for r, name in enumerate(self.BREAKDOWN_ROWS, start=1):
            k = _key(name)
            if name == "Total":
                k.setObjectName("totalKey")
            grid.addWidget(k, r, 0)
            for c, dev in enumerate(("gpu", "ram"), start=1):
                v = QLabel()
                v.setObjectName("totalValue" if name == "Total" else "num")
                v.setAlignment(Qt.AlignmentFlag.AlignRight)
                v.setTextInteractionFlags(_SELECTABLE)
                grid.addWidget(v, r, c)
                self.breakdown[(name, dev)] = v
        grid.setColumnStretch(3, 1)
        lay.addLayout(grid)
        self.note = _value()
        self.note.setObjectName("note")
        lay.addWidget(self.note)
        lay.addStretch(1)
        cards.addWidget(card, 4)

        self.set_row(None)

    # --- content ---------------------------------------------------------------------------

    def set_download_available(self, available: bool, why: str = "") -> None:
        self.download_button.setEnabled(available)
        self.download_button.setToolTip(why if not available else
                                        "Download this file (all shards) into the Hugging Face cache")

    def set_exact_available(self, available: bool) -> None:
        self._exact_service = available
        self._update_exact_button()

    def _update_exact_button(self) -> None:
        fit = self.row.fit if self.row is not None else None
        estimated = fit is not None and not fit.exact
        self.exact_button.setEnabled(getattr(self, "_exact_service", False) and estimated)
        self.exact_button.setText("Exact fit from the Hub" if fit is None or estimated else "Exact (GGUF header)")

    def _exact_clicked(self) -> None:
        if self.row is not None:
            self.exact_button.setEnabled(False)
            self.exact_button.setText("Reading header…")
            self.exact_requested.emit(self.row)

    def _download_clicked(self) -> None:
        if self.row is not None:
            self.download_requested.emit(self.row)

    def set_row(self, row: Row | None) -> None:
        self.row = row
        if row is None:
            self._stack.setCurrentIndex(0)
            return
        self._stack.setCurrentIndex(1)
        m, f, a = row.model, row.file, row.model.arch
        self.title.setText(m.id)
        self.model_form.set("Variant", m.variant.label)
        self.model_form.set("Quant", f.quant)
        self.model_form.set("Size", file_size_text(f)
                            + ("  (estimate, not confirmed by the Hub)" if f.size_is_estimate else ""))
        self.model_form.values["Size"].setToolTip(
            f"{f.size:,} bytes" + (f"\nSource: {f.size_source}" if f.size_source else ""))
        self.model_form.set("Repo", f.repo)
        files = f.filename
        if f.is_split:
            files += f"\n+ {len(f.shards) - 1} more shard{'s' if len(f.shards) > 2 else ''}"
        self.model_form.set("Files", files)
        self.model_form.values["Files"].setToolTip("\n".join(f.shards))
        self.model_form.keys["Files"].setText(f"Files ({len(f.shards)} shards)" if f.is_split else "File")
        self.download_button.setText(f"Download {f.quant}  ·  {file_size_text(f)}")

        params = f"{m.params_total:g}B"
        if m.is_moe:
            params += f" total, {m.params_active:g}B active"
        if not m.is_moe and m.size_label != params:
            params += f"  ({m.size_label})"
        self.arch_form.set("Parameters", params)
        self.arch_form.set("Layers", str(a.n_layers))
        self.arch_form.set("Attention", f"{a.n_head} heads, {a.n_head_kv} KV heads (GQA)")
        self.arch_form.set("Head dim", str(a.head_dim))
        if m.is_moe:
            self.arch_form.set("FFN", f"{a.n_ff_exp} per expert")
            self.arch_form.set("Experts", f"{a.n_expert} total, {a.n_expert_used} active per token")
        else:
            self.arch_form.set("FFN", str(a.n_ff))
            self.arch_form.set("Experts", None)
        ctx = f"{format_ctx(a.ctx_native)} native"
        if a.ctx_extended > a.ctx_native:
            ctx += f", {format_ctx(a.ctx_extended)} with YaRN"
        self.arch_form.set("Context", ctx)
        self.arch_form.set("Vocabulary", f"{a.n_vocab:,}")
        self._show_fit(row.fit)
        self._update_exact_button()

    def _show_fit(self, fit: FitEstimate | None) -> None:
        if fit is None:
            if self.fit_title is not None:
                self.fit_title.setText("Fit on this machine")
            self._pill(None, "waiting for hardware…")
            self.speed.setText("")
            self.summary.setText("The estimate appears once the hardware is known.")
            for label in self.breakdown.values():
                label.setText("")
            self.note.setVisible(False)
            return
        if self.fit_title is not None:
            self.fit_title.setText(f"Fit at {format_ctx(fit.ctx)} context, {fit.kv_type} KV cache")
        self._pill(fit, verdict_text(fit))
        self.speed.setText(format_speed(fit.tokens_per_second) if fit.tokens_per_second else "")
        self.summary.setText(fit.summary)
        on_gpu = fit.gpu.total > 0
        for name in self.BREAKDOWN_ROWS:
            self.breakdown[(name, "gpu")].setText(_part(fit.gpu, name) if on_gpu else "–")
            self.breakdown[(name, "ram")].setText(_part(fit.cpu, name))
        if not fit.exact:
            self.note.setText(ESTIMATE_NOTE)
            self.note.setVisible(True)
        else:
            self.note.setVisible(False)

    def _pill(self, fit: FitEstimate | None, text: str) -> None:
        bg, fg = theme.verdict_colors(fit.verdict if fit else None)
        self.verdict.setText(text)
        self.verdict.setStyleSheet(
            f"background: {bg.name()}; color: {fg.name()}; border-radius: 11px;"
            " padding: 3px 12px; font-weight: 600;"
        )


def _part(b: Breakdown, name: str) -> str:
    value = {"Weights": b.weights, "KV cache": b.kv, "Compute": b.compute,
             "Overhead": b.overhead, "Total": b.total}[name]
    return format_bytes(value)
