"""A bar for one memory pool (RAM or a GPU): used by others | what the model needs | free.

What the model needs is split into weights, KV cache and compute buffers (with overhead). When it
needs more than is free, the bar grows past the pool's capacity, the part that does not fit is
hatched red behind a capacity marker, and the caption says how much is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget

from explorer.fit.estimate import Breakdown
from ui import theme
from ui.fmt import format_bytes


@dataclass(frozen=True)
class Need:
    weights: int = 0
    kv: int = 0
    compute: int = 0  # compute buffers and fixed overhead

    @classmethod
    def from_breakdown(cls, b: Breakdown) -> Need:
        return cls(b.weights, b.kv, b.compute + b.overhead)

    @property
    def total(self) -> int:
        return self.weights + self.kv + self.compute

    def __add__(self, other: Need) -> Need:
        return Need(self.weights + other.weights, self.kv + other.kv, self.compute + other.compute)


class MemoryBar(QWidget):
    BAR_HEIGHT = 14

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = title
        self._total = 0
        self._used: int | None = None  # by other programs; None when the driver does not say
        self._need: Need | None = None
        self._placeholder = "Detecting…"
        self._note = ""  # replaces the caption, e.g. why a pool is not used
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(180)

    # --- state -----------------------------------------------------------------------------

    def set_title(self, title: str) -> None:
        self._title = title
        self.update()

    def set_capacity(self, total: int, used_by_others: int | None) -> None:
        self._total = max(0, int(total))
        self._used = None if used_by_others is None else max(0, min(int(used_by_others), self._total))
        self._update_tooltip()
        self.update()

    def set_need(self, need: Need | Breakdown | None) -> None:
        if isinstance(need, Breakdown):
            need = Need.from_breakdown(need)
        self._need = need if need and need.total > 0 else None
        self._update_tooltip()
        self.update()

    def set_note(self, text: str) -> None:
        self._note = text
        self.update()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self._total = 0
        self._need = None
        self.update()

    @property
    def title(self) -> str:
        return self._title

    @property
    def total(self) -> int:
        return self._total

    @property
    def free(self) -> int:
        return self._total - (self._used or 0)

    @property
    def need(self) -> Need | None:
        return self._need

    @property
    def overflow(self) -> int:
        """Bytes the model needs beyond what is free (0 when it fits)."""
        return max(0, (self._need.total if self._need else 0) - self.free) if self._total else 0

    @property
    def is_overflowing(self) -> bool:
        return self.overflow > 0

    def caption(self) -> str:
        if not self._total:
            return self._placeholder
        if self._note:
            return self._note
        free = format_bytes(self.free) + (" free" if self._used is not None else " (free unknown)")
        if self._need is None:
            return f"{free} of {format_bytes(self._total)}"
        if self.is_overflowing:
            return f"needs {format_bytes(self._need.total)}: {format_bytes(self.overflow)} short"
        return f"needs {format_bytes(self._need.total)} of {free}"

    def _update_tooltip(self) -> None:
        if not self._total:
            self.setToolTip("")
            return
        lines = [f"{self._title}: {format_bytes(self._total)} in total"]
        if self._used is not None:
            lines.append(f"Used by other programs: {format_bytes(self._used)}")
        lines.append(f"Free: {format_bytes(self.free)}")
        if self._need:
            lines += [f"Model weights: {format_bytes(self._need.weights)}",
                      f"KV cache: {format_bytes(self._need.kv)}",
                      f"Compute buffers and overhead: {format_bytes(self._need.compute)}"]
            if self.is_overflowing:
                lines.append(f"Does not fit: {format_bytes(self.overflow)} more than is free")
        self.setToolTip("\n".join(lines))

    # --- painting --------------------------------------------------------------------------

    def sizeHint(self) -> QSize:
        return QSize(260, self.fontMetrics().height() + self.BAR_HEIGHT + 8)

    def minimumSizeHint(self) -> QSize:
        return QSize(180, self.sizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = self.fontMetrics()
        width = self.width()
        text_h = fm.height()

        # Title (left) and caption (right)
        title_font = QFont(self.font())
        title_font.setWeight(QFont.Weight.DemiBold)
        p.setFont(title_font)
        p.setPen(QColor(theme.TEXT_NORMAL))
        title_w = p.fontMetrics().horizontalAdvance(self._title)
        p.drawText(QRectF(0, 0, width, text_h), Qt.AlignmentFlag.AlignLeft, self._title)
        p.setFont(self.font())
        p.setPen(QColor(theme.MEM_OVERFLOW if self.is_overflowing else theme.TEXT_MUTED))
        caption = fm.elidedText(self.caption(), Qt.TextElideMode.ElideLeft,
                                max(0, width - title_w - 12))
        p.drawText(QRectF(0, 0, width, text_h), Qt.AlignmentFlag.AlignRight, caption)

        bar = QRectF(0.5, text_h + 4.5, width - 1.0, self.BAR_HEIGHT - 1.0)
        radius = bar.height() / 2
        clip = QPainterPath()
        clip.addRoundedRect(bar, radius, radius)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(theme.MEM_FREE))
        p.drawPath(clip)

        if self._total:
            used = self._used or 0
            need = self._need or Need()
            scale_total = max(self._total, used + need.total)
            px = bar.width() / scale_total
            p.save()
            p.setClipPath(clip)
            x = bar.left()
            for size, color in ((used, theme.MEM_OTHERS), (need.weights, theme.MEM_WEIGHTS),
                                (need.kv, theme.MEM_KV), (need.compute, theme.MEM_COMPUTE)):
                w = size * px
                if w > 0:
                    p.fillRect(QRectF(x, bar.top(), w, bar.height()), QColor(color))
                    x += w
            if self.is_overflowing:
                cap_x = bar.left() + self._total * px
                over = QRectF(cap_x, bar.top(), bar.right() - cap_x, bar.height())
                p.fillRect(over, QColor(theme.MEM_OVERFLOW))
                hatch = QBrush(QColor(255, 255, 255, 90), Qt.BrushStyle.BDiagPattern)
                p.fillRect(over, hatch)
            p.restore()
            if self.is_overflowing:
                cap_x = bar.left() + self._total * px
                p.setPen(QPen(QColor(theme.TEXT_NORMAL), 2))
                p.drawLine(int(cap_x), int(bar.top()) - 3, int(cap_x), int(bar.bottom()) + 3)

        p.setPen(QPen(QColor(theme.MEM_OVERFLOW if self.is_overflowing else theme.MEM_BORDER), 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(clip)
        p.end()


class MemoryLegend(QWidget):
    """Colour key for the memory bars."""

    ITEMS = (  # the theme's colour names, read when the legend is filled in (again after each theme switch)
        ("MEM_OTHERS", "Other programs"),
        ("MEM_WEIGHTS", "Weights"),
        ("MEM_KV", "KV cache"),
        ("MEM_COMPUTE", "Compute + overhead"),
        ("MEM_FREE", "Free"),
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("memoryLegend")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.label = label = QLabel()
        label.setObjectName("legendText")
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(label)
        self.apply_theme(theme.is_dark())
        theme.notifier().changed.connect(self.apply_theme)

    def apply_theme(self, _dark: bool) -> None:
        self.label.setText("&nbsp;&nbsp; ".join(
            f'<span style="color:{getattr(theme, name)}; font-size:13px">■</span>&nbsp;{text}'
            for name, text in self.ITEMS
        ))
