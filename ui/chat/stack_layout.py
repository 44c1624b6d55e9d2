"""Layout pieces of the transcript that keep a growing message from moving what is above it."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QMargins, QRect, QSize, Qt
from PySide6.QtWidgets import QLabel, QLayout, QLayoutItem, QWidget, QWidgetItem


class WrapLabel(QLabel):
    """A word-wrapped label that remembers its height for a width.

    Qt answers `heightForWidth` by laying the text out again, and a selectable label then repaints
    itself: every label in view would repaint on each layout pass of the transcript, which runs
    whenever a streamed answer grows.
    """

    _FORGET = frozenset({QEvent.Type.FontChange, QEvent.Type.StyleChange, QEvent.Type.ContentsRectChange,
                         QEvent.Type.Polish, QEvent.Type.LayoutDirectionChange})

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self._heights: dict[int, int] = {}

    def heightForWidth(self, width: int) -> int:
        h = self._heights.get(width)
        if h is None:
            if len(self._heights) > 8:
                self._heights.clear()
            h = self._heights[width] = super().heightForWidth(width)
        return h

    def setText(self, text: str) -> None:
        self._heights.clear()
        super().setText(text)

    def event(self, e: QEvent) -> bool:
        if e.type() in self._FORGET:
            self._heights.clear()
        return super().event(e)


class StackLayout(QLayout):
    """Widgets top to bottom, each as tall as it wants to be for the width; never squeezed.

    When a streaming message grows, Qt lays out its parent first at the parent's old height and
    only then makes the parent taller. A box layout would squeeze the largest widget for that
    moment and move everything below it, and move it all back on the next pass: what was moved is
    painted again, and a scroll can no longer copy pixels. Here the grown widget just overflows the
    old height until the parent catches up; nothing else moves.
    """

    def __init__(self, parent: QWidget, margins: QMargins, spacing: int) -> None:
        super().__init__(parent)
        self.setContentsMargins(margins)
        self.setSpacing(spacing)
        self._items: list[QLayoutItem] = []
        self._hfw: tuple[int, int] | None = None  # (width, height) last answered
        self._hint: QSize | None = None
        self._minimum: QSize | None = None

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)
        self.invalidate()

    def add(self, widget: QWidget, alignment: Qt.AlignmentFlag | None = None) -> None:
        """Add `widget` at the bottom: full width, or (AlignLeft) as wide as it wants at the left."""
        self.addChildWidget(widget)
        item = QWidgetItem(widget)
        if alignment is not None:
            item.setAlignment(alignment)
        self.addItem(item)

    def insert(self, index: int, widget: QWidget) -> None:
        """Add `widget` at `index` (0: at the top), full width."""
        self.addChildWidget(widget)
        self._items.insert(index, QWidgetItem(widget))
        self.invalidate()

    def count(self) -> int:
        return len(self._items)

    def widgets(self) -> list[QWidget]:
        """The widgets laid out, top to bottom."""
        return [w for item in self._items if (w := item.widget()) is not None]

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        if not 0 <= index < len(self._items):
            return None
        item = self._items.pop(index)
        self.invalidate()
        return item

    def invalidate(self) -> None:
        self._hfw = self._hint = self._minimum = None
        super().invalidate()

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation.Horizontal

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        if self._hfw is None or self._hfw[0] != width:
            m = self.contentsMargins()
            inner = width - m.left() - m.right()
            heights = [self._height(item, inner) for item in self._items if not item.isEmpty()]
            total = sum(heights) + self.spacing() * max(0, len(heights) - 1) + m.top() + m.bottom()
            self._hfw = (width, total)
        return self._hfw[1]

    def sizeHint(self) -> QSize:
        if self._hint is None:
            m = self.contentsMargins()
            width = max((item.sizeHint().width() for item in self._items if not item.isEmpty()), default=0)
            width += m.left() + m.right()
            self._hint = QSize(width, self.heightForWidth(max(width, 1)))
        return self._hint

    def minimumSize(self) -> QSize:
        if self._minimum is None:
            m = self.contentsMargins()
            width = max((item.minimumSize().width() for item in self._items if not item.isEmpty()), default=0)
            self._minimum = QSize(width + m.left() + m.right(), m.top() + m.bottom())
        return self._minimum

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        m = self.contentsMargins()
        x, y, width = rect.x() + m.left(), rect.y() + m.top(), rect.width() - m.left() - m.right()
        for item in self._items:
            if item.isEmpty():
                continue
            h = self._height(item, width)
            w = min(width, item.sizeHint().width()) if item.alignment() & Qt.AlignmentFlag.AlignLeft else width
            item.setGeometry(QRect(x, y, w, h))
            y += h + self.spacing()

    @staticmethod
    def _height(item: QLayoutItem, width: int) -> int:
        return item.heightForWidth(width) if item.hasHeightForWidth() else item.sizeHint().height()
