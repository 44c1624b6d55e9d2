"""The Models tab's filter bar: search, variant, size, quant and verdict filters, and the row count."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QLineEdit, QMenu, QToolButton, QWidget

from explorer.catalog.snapshot import Catalog
from explorer.fit.estimate import Verdict
from explorer.gguf.variant import Variant
from ui.models.table import ModelFilterProxy

VERDICT_CHOICES: tuple[tuple[str, frozenset[Verdict]], ...] = (
    ("Any fit", frozenset()),
    ("Runs here", frozenset({Verdict.FULL_GPU, Verdict.PARTIAL, Verdict.CPU_ONLY})),
    ("Full GPU", frozenset({Verdict.FULL_GPU})),
    ("Partial offload", frozenset({Verdict.PARTIAL})),
    ("CPU only", frozenset({Verdict.CPU_ONLY})),
    ("Does not fit", frozenset({Verdict.NO_FIT})),
)


@dataclass
class FilterState:
    """The filter bar's choices (`explorer.settings.ModelsSettings` keeps them)."""

    search: str = ""
    variants: list[str] = field(default_factory=list)
    size: str = ""
    quant: str = ""
    verdict: str = ""
    hide_no_fit: bool = False


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


class FilterBar(QWidget):
    """Controls that set `proxy`'s filters; `set_catalog` fills the choices from a catalog."""

    def __init__(self, proxy: ModelFilterProxy, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("filterBar")
        self.proxy = proxy
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)

        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search models, quants, repos…")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(220)
        self.search.textChanged.connect(proxy.set_text)
        lay.addWidget(self.search, 2)

        self.variant_button = MultiChoiceButton("Variant")
        self.variant_button.set_choices([(v.label, v) for v in Variant])
        self.variant_button.callback = lambda vs: proxy.set_variants(v for v in vs if isinstance(v, Variant))
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
            lambda _i: proxy.set_verdicts(self.verdict_combo.currentData()))
        lay.addWidget(self.verdict_combo)

        self.hide_no_fit = QCheckBox("Hide what does not fit")
        self.hide_no_fit.toggled.connect(proxy.set_hide_no_fit)
        lay.addWidget(self.hide_no_fit)
        lay.addStretch(1)

        self.count_label = QLabel("")
        self.count_label.setObjectName("muted")
        lay.addWidget(self.count_label)
        for signal in (proxy.rowsInserted, proxy.rowsRemoved, proxy.modelReset, proxy.layoutChanged):
            signal.connect(self._update_count)
        self._pending: dict[QComboBox, str] = {}  # a restored size or quant, chosen once a catalog offers it

    def state(self) -> FilterState:
        """The filters as the settings file keeps them."""
        def chosen(combo: QComboBox) -> str:
            data = combo.currentData()
            return data if isinstance(data, str) else self._pending.get(combo, "")

        verdict = self.verdict_combo.currentIndex()
        return FilterState(search=self.search.text(),
                           variants=[v.value for v in self.variant_button.selected() if isinstance(v, Variant)],
                           size=chosen(self.size_combo), quant=chosen(self.quant_combo),
                           verdict=VERDICT_CHOICES[verdict][0] if verdict > 0 else "",
                           hide_no_fit=self.hide_no_fit.isChecked())

    def restore(self, st: FilterState) -> None:
        """Set the filters from the settings file; a size or quant waits for a catalog that offers it, and a
        value this version does not know (a variant, a verdict) is left out."""
        self.search.setText(st.search)
        known = {v.value: v for v in Variant}
        self.variant_button.set_selected([known[v] for v in st.variants if v in known])
        labels = [text for text, _ in VERDICT_CHOICES]
        self.verdict_combo.setCurrentIndex(labels.index(st.verdict) if st.verdict in labels else 0)
        self.hide_no_fit.setChecked(st.hide_no_fit)
        for combo, value in ((self.size_combo, st.size), (self.quant_combo, st.quant)):
            i = combo.findData(value) if value else 0
            if i >= 0:
                combo.setCurrentIndex(i)
                self._pending.pop(combo, None)
            else:
                self._pending[combo] = value

    def set_catalog(self, catalog: Catalog) -> None:
        """Offer the catalog's variants, sizes and quants; keep what is still offered selected."""
        selected = self.variant_button.selected()
        self.variant_button.set_choices([(v.label, v) for v in catalog.variants()])
        self.variant_button.set_selected([v for v in selected if v in catalog.variants()])
        for combo, values in ((self.size_combo, catalog.size_labels()), (self.quant_combo, catalog.quants())):
            current = self._pending.pop(combo, None) or combo.currentData()
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
        shown, total = self.proxy.rowCount(), self.proxy.sourceModel().rowCount()
        self.count_label.setText(f"{shown} of {total} files" if shown != total else f"{total} files")
