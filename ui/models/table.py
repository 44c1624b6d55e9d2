"""The model browser: one row per downloadable file, with its fit on this machine.

`ModelTableModel` holds rows (CatalogModel, CatalogFile, FitEstimate | None); fits are replaced in
place by `set_fits` (dataChanged, so selection and scroll position survive a recomputation).
`ModelFilterProxy` filters and sorts on raw values (`SORT_ROLE`), never on display text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRectF,
    QSize,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from explorer.catalog.snapshot import Catalog, CatalogFile, CatalogModel
from explorer.fit.estimate import FitEstimate, Verdict
from explorer.gguf.shape import BITS_PER_WEIGHT
from explorer.gguf.variant import Variant
from explorer.units import format_tokens_per_s
from ui import theme
from ui.fmt import format_bytes, format_speed, verdict_rank, verdict_text

ROW_ROLE = Qt.ItemDataRole.UserRole + 1  # the Row
SORT_ROLE = Qt.ItemDataRole.UserRole + 2  # raw value to sort on
FIT_ROLE = Qt.ItemDataRole.UserRole + 3  # FitEstimate | None
VERDICT_ROLE = Qt.ItemDataRole.UserRole + 4  # Verdict | None

_VARIANT_ORDER = {v: i for i, v in enumerate(Variant)}
_Index = QModelIndex | QPersistentModelIndex


class Column(IntEnum):
    MODEL = 0
    VARIANT = 1
    SIZE = 2
    QUANT = 3
    FILE_SIZE = 4
    VERDICT = 5
    NEEDS = 6
    SPEED = 7
    REPO = 8


HEADERS = {
    Column.MODEL: "Model",
    Column.VARIANT: "Variant",
    Column.SIZE: "Size",
    Column.QUANT: "Quant",
    Column.FILE_SIZE: "File size",
    Column.VERDICT: "Fit",
    Column.NEEDS: "Needs",
    Column.SPEED: "Speed",
    Column.REPO: "Repo",
}
HEADER_TIPS = {
    Column.SIZE: "Parameters (total; active per token for MoE models)",
    Column.FILE_SIZE: "Download size, all shards together; ≈ marks sizes the Hub has not confirmed",
    Column.VERDICT: "Where the model runs at the chosen context length",
    Column.NEEDS: "Memory the model needs at the chosen context: weights + KV cache + buffers",
    Column.SPEED: "Predicted generation speed",
}
FIT_COLUMNS = (Column.VERDICT, Column.NEEDS, Column.SPEED)
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


@dataclass(frozen=True)
class Row:
    model: CatalogModel
    file: CatalogFile
    fit: FitEstimate | None = None


def rows_from_catalog(catalog: Catalog) -> list[Row]:
    return [Row(m, f) for m, f in catalog.iter_files()]


def quant_bits(quant: str) -> float:
    return BITS_PER_WEIGHT.get(quant.upper(), 99.0)


def file_size_text(f: CatalogFile) -> str:
    text = ("≈ " if f.size_is_estimate else "") + format_bytes(f.size)
    if f.is_split:
        text += f" · {len(f.shards)} shards"
    return text


def size_sort_key(m: CatalogModel) -> tuple[float, float]:
    return (m.params_total, m.params_active)


class ModelTableModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Row] = []
        self.measured: dict[str, float] = {}  # file name -> generation tokens/s measured on this machine
        self._medium = QFont()
        self._medium.setWeight(QFont.Weight.Medium)

    # --- content ---------------------------------------------------------------------------

    @property
    def rows(self) -> Sequence[Row]:
        return tuple(self._rows)

    def set_rows(self, rows: Iterable[Row]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def set_fits(self, fits: Sequence[FitEstimate | None]) -> None:
        """Replace every row's fit (same order as `rows`) and repaint the fit columns."""
        if len(fits) != len(self._rows):
            raise ValueError(f"{len(fits)} fits for {len(self._rows)} rows")
        self._rows = [replace(r, fit=f) for r, f in zip(self._rows, fits, strict=True)]
        if self._rows:
            self.dataChanged.emit(
                self.index(0, min(FIT_COLUMNS)), self.index(len(self._rows) - 1, max(FIT_COLUMNS))
            )

    def set_measured(self, speeds: Iterable[tuple[str, float]]) -> None:
        """The speeds measured here, shown beside the predictions (by file name)."""
        self.measured = dict(speeds)
        if self._rows:
            self.dataChanged.emit(self.index(0, Column.SPEED), self.index(len(self._rows) - 1, Column.SPEED))

    def measured_speed(self, row: Row) -> float | None:
        return self.measured.get(row.file.filename.rsplit("/", 1)[-1])

    def clear_fits(self) -> None:
        self.set_fits([None] * len(self._rows))

    def row_at(self, row: int) -> Row:
        return self._rows[row]

    # --- QAbstractItemModel ----------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(Column):
            return None
        col = Column(section)
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(col)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if col in (Column.FILE_SIZE, Column.NEEDS, Column.SPEED) else _LEFT
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                | Qt.ItemFlag.ItemNeverHasChildren)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        if not 0 <= index.column() < len(Column):
            return None
        row = self._rows[index.row()]
        col = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            measured = self.measured_speed(row) if col == Column.SPEED else None
            if measured is not None:
                predicted = "" if row.fit is None else f"{self._display(row, col)} · "
                return f"{predicted}ran {format_tokens_per_s(measured)}"
            return self._display(row, col)
        if role == SORT_ROLE:
            return self._sort_value(row, col)
        if role == ROW_ROLE:
            return row
        if role == FIT_ROLE:
            return row.fit
        if role == VERDICT_ROLE:
            return row.fit.verdict if row.fit else None
        if role == Qt.ItemDataRole.ToolTipRole:
            measured = self.measured_speed(row) if col == Column.SPEED else None
            tip = self._tooltip(row, col)
            if measured is not None:
                tip = (tip + "\n" if tip else "") + (f"Measured here: {format_tokens_per_s(measured)} generating "
                                                     "(the median of this file's answers)")
            return tip
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if col in (Column.FILE_SIZE, Column.NEEDS, Column.SPEED) else _LEFT
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == Column.VERDICT:
                return theme.verdict_colors(row.fit.verdict if row.fit else None)[1]
            if col in (Column.REPO, Column.VARIANT) or (col in FIT_COLUMNS and row.fit is None):
                return QColor(theme.TEXT_MUTED)
            return None
        if role == Qt.ItemDataRole.FontRole and col == Column.MODEL:
            return self._medium
        return None

    # --- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _display(row: Row, col: Column) -> str:
        m, f, fit = row.model, row.file, row.fit
        if col == Column.MODEL:
            return m.id
        if col == Column.VARIANT:
            return m.variant.label
        if col == Column.SIZE:
            return m.size_label
        if col == Column.QUANT:
            return f.quant
        if col == Column.FILE_SIZE:
            return file_size_text(f)
        if col == Column.REPO:
            return f.repo
        if fit is None:
            return "…"
        if col == Column.VERDICT:
            return verdict_text(fit)
        if col == Column.NEEDS:
            return format_bytes(fit.total)
        return format_speed(fit.tokens_per_second)

    @staticmethod
    def _sort_value(row: Row, col: Column) -> Any:
        m, f, fit = row.model, row.file, row.fit
        if col == Column.MODEL:
            return (m.params_total, _VARIANT_ORDER[m.variant], m.id.lower())
        if col == Column.VARIANT:
            return _VARIANT_ORDER[m.variant]
        if col == Column.SIZE:
            return size_sort_key(m)
        if col == Column.QUANT:
            return quant_bits(f.quant)
        if col == Column.FILE_SIZE:
            return f.size
        if col == Column.REPO:
            return f.repo.lower()
        if fit is None:
            return None
        if col == Column.VERDICT:
            return verdict_rank(fit)
        if col == Column.NEEDS:
            return fit.total
        return fit.tokens_per_second

    @staticmethod
    def _tooltip(row: Row, col: Column) -> str | None:
        f, fit = row.file, row.fit
        if col == Column.FILE_SIZE:
            tip = f"{f.size:,} bytes"
            if f.size_is_estimate:
                tip += " (estimated; the Hub has not confirmed this size)"
            if f.is_split:
                tip += "\n" + "\n".join(f.shards)
            return tip
        if col == Column.REPO:
            return f"{f.repo}\n" + "\n".join(f.shards)
        if col in FIT_COLUMNS and fit is not None:
            return fit.summary
        if col == Column.MODEL:
            m = row.model
            if m.is_moe:
                return (f"{m.id}\nMixture of experts: {m.params_active:g}B of "
                        f"{m.params_total:g}B active a token")
            return m.id
        return None


class ModelFilterProxy(QSortFilterProxyModel):
    """Filters: variants, size labels, quants, verdicts (empty = all), search text, hide no-fit."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.variants: frozenset[Variant] = frozenset()
        self.size_labels: frozenset[str] = frozenset()
        self.quants: frozenset[str] = frozenset()
        self.verdicts: frozenset[Verdict] = frozenset()
        self.hide_no_fit = False
        self._words: tuple[str, ...] = ()
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    # --- filter setters --------------------------------------------------------------------

    def _change(self, attr: str, value: object) -> None:
        if getattr(self, attr) == value:
            return
        self.beginFilterChange()
        setattr(self, attr, value)
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_variants(self, variants: Iterable[Variant]) -> None:
        self._change("variants", frozenset(variants))

    def set_size_labels(self, labels: Iterable[str]) -> None:
        self._change("size_labels", frozenset(labels))

    def set_quants(self, quants: Iterable[str]) -> None:
        self._change("quants", frozenset(q.upper() for q in quants))

    def set_verdicts(self, verdicts: Iterable[Verdict]) -> None:
        self._change("verdicts", frozenset(verdicts))

    def set_hide_no_fit(self, hide: bool) -> None:
        self._change("hide_no_fit", bool(hide))

    def set_text(self, text: str) -> None:
        self._change("_words", tuple(w for w in re.split(r"\s+", text.lower()) if w))

    @property
    def text(self) -> str:
        return " ".join(self._words)

    # --- QSortFilterProxyModel -------------------------------------------------------------

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        source = self.sourceModel()
        row = source.data(source.index(source_row, 0, source_parent), ROW_ROLE)
        if not isinstance(row, Row):
            return True
        return self.accepts(row)

    def accepts(self, row: Row) -> bool:
        m, f, fit = row.model, row.file, row.fit
        if self.variants and m.variant not in self.variants:
            return False
        if self.size_labels and m.size_label not in self.size_labels:
            return False
        if self.quants and f.quant.upper() not in self.quants:
            return False
        if self.verdicts and (fit is None or fit.verdict not in self.verdicts):
            return False
        if self.hide_no_fit and fit is not None and fit.verdict is Verdict.NO_FIT:
            return False
        if self._words:
            hay = " ".join((m.id, m.variant.label, m.variant.value, m.size_label, f.quant, f.repo,
                            *f.shards)).lower()
            return all(w in hay for w in self._words)
        return True

    def lessThan(self, left: _Index, right: _Index) -> bool:
        a = left.data(SORT_ROLE)
        b = right.data(SORT_ROLE)
        if a is None or b is None:
            if a is None and b is None:
                return left.row() < right.row()
            # Missing values go to the bottom in either direction.
            descending = self.sortOrder() == Qt.SortOrder.DescendingOrder
            return descending if a is None else not descending
        if a == b:
            return left.row() < right.row()
        try:
            return bool(a < b)
        except TypeError:
            return str(a) < str(b)


class VerdictDelegate(QStyledItemDelegate):
    """Paints the fit column as a rounded pill: green, amber, blue-grey or red."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text = opt.text
        opt.text = ""
        widget = opt.widget
        style = widget.style() if widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        verdict = index.data(VERDICT_ROLE)
        bg, fg = theme.verdict_colors(verdict)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFont(opt.font)
        font.setWeight(QFont.Weight.DemiBold)
        font.setPointSizeF(max(font.pointSizeF() - 0.5, 7.0))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        pad_x, height = 10, min(metrics.height() + 6, opt.rect.height() - 4)
        width = min(metrics.horizontalAdvance(text) + 2 * pad_x, opt.rect.width() - 8)
        rect = QRectF(opt.rect.left() + 6, opt.rect.center().y() - height / 2 + 0.5, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(bg)
        painter.drawRoundedRect(rect, height / 2, height / 2)
        painter.setPen(fg)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(size.width() + 32, max(size.height(), 26))


def make_proxy(source: ModelTableModel, parent: QObject | None = None) -> ModelFilterProxy:
    proxy = ModelFilterProxy(parent)
    proxy.setSourceModel(source)
    return proxy
