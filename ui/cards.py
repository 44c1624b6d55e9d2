"""The titled card the Models tab's detail and the Guide lay their facts out in (styled as QFrame#card)."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout


def card(title: str, margins: tuple[int, int, int, int] = (14, 12, 14, 12)) -> tuple[QFrame, QVBoxLayout]:
    """A card with its title (QLabel#cardTitle) laid out first; the layout for what goes under it."""
    frame = QFrame()
    frame.setObjectName("card")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(*margins)
    layout.setSpacing(8)
    head = QLabel(title)
    head.setObjectName("cardTitle")
    layout.addWidget(head)
    return frame, layout
