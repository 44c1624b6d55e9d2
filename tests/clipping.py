"""What a person cannot read whole: shown labels, buttons and check boxes smaller than their text needs.

`clipped(root)` walks the visible widgets under `root` and names each one whose geometry is smaller than
what its text needs (a word-wrapped label: `heightForWidth` at its width; any other: its minimum size hint),
and each label or button that sticks out of the widget it sits in (a card that cut its last line). Widgets
that cut their text on purpose are left out: a size policy of Ignored (the elided labels) and anything
inside a scroll area's viewport that only scrolls out of view.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QAbstractButton, QAbstractScrollArea, QLabel, QSizePolicy, QWidget


def _describe(w: QWidget) -> str:
    text = w.text() if isinstance(w, (QLabel, QAbstractButton)) else ""
    return f"{type(w).__name__}#{w.objectName()} {text[:40]!r}"


def _needs(w: QWidget) -> tuple[int, int]:
    """The width and height `w` needs at its present width."""
    hint = w.minimumSizeHint()
    if isinstance(w, QLabel) and w.wordWrap() and w.hasHeightForWidth():
        return 0, w.heightForWidth(w.width())
    return hint.width(), hint.height()


def _visible_rect(w: QWidget, root: QWidget) -> QRect:
    """`w`'s rectangle in `root`'s coordinates, cut by each ancestor up to `root` (a scroll area's viewport
    included: what scrolls away is not clipped, what an ancestor's edge cuts is)."""
    rect = QRect(w.mapTo(root, QPoint(0, 0)), w.size())
    parent = w.parentWidget()
    while parent is not None and parent is not root:
        if isinstance(parent.parentWidget(), QAbstractScrollArea):
            return rect  # scrolled content: it is reachable by scrolling
        rect &= QRect(parent.mapTo(root, QPoint(0, 0)), parent.size())
        parent = parent.parentWidget()
    return rect


def clipped(root: QWidget, *, slack: int = 1) -> list[str]:
    """The shown texts under `root` that do not fit the room they were given (empty: none)."""
    out: list[str] = []
    for w in root.findChildren(QWidget):
        if not isinstance(w, (QLabel, QAbstractButton)) or not w.isVisibleTo(root) or not w.text():
            continue
        if w.sizePolicy().horizontalPolicy() == QSizePolicy.Policy.Ignored:
            continue  # elides on purpose
        need_w, need_h = _needs(w)
        if w.width() + slack < need_w or w.height() + slack < need_h:
            out.append(f"{_describe(w)}: {w.width()}x{w.height()} < {need_w}x{need_h}")
            continue
        seen = _visible_rect(w, root)
        if seen.height() + slack < w.height() or seen.width() + slack < w.width():
            out.append(f"{_describe(w)}: cut to {seen.width()}x{seen.height()} of {w.width()}x{w.height()}")
    return out
