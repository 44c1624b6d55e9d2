"""A dismissable notice above the tabs: what the window found wrong at start (the settings file's notes),
one wrapped line each, readable in full (the status bar cut them off behind its permanent widgets)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

_SELECTABLE = Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard


def note_line(note: str, topic: str = "settings") -> str:
    """A note as one sentence: "settings: x is y" -> "X is y." (the title already names the topic)."""
    text = note.strip()
    prefix = f"{topic}:"
    if text.lower().startswith(prefix):
        text = text[len(prefix):].strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ")")) else text + "."


class NoticeBar(QFrame):
    """A title, one wrapped, selectable line per note and a Dismiss button; hidden when it has no notes.

    Signals:
      dismissed()   the person closed it
    """

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("warningBanner")
        self.notes: tuple[str, ...] = ()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 10, 10)
        layout.setSpacing(4)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("")
        self.title.setObjectName("bannerTitle")
        top.addWidget(self.title, 1)
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setObjectName("bannerCopy")
        self.dismiss_button.setToolTip("Hide this notice")
        self.dismiss_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.dismiss_button.clicked.connect(self.dismiss)
        top.addWidget(self.dismiss_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(top)
        self.lines: list[QLabel] = []
        self._lines_layout = QVBoxLayout()
        self._lines_layout.setContentsMargins(0, 0, 0, 0)
        self._lines_layout.setSpacing(2)
        layout.addLayout(self._lines_layout)
        self.hide()

    def show_notes(self, title: str, notes: Sequence[str], topic: str = "settings") -> None:
        """Show `notes` under `title`, one line each (several start with a bullet); none: hide."""
        for label in self.lines:
            label.setParent(None)
            label.deleteLater()
        self.lines = []
        self.notes = tuple(notes)
        self.title.setText(title)
        for note in self.notes:
            text = note_line(note, topic)
            label = QLabel(f"•  {text}" if len(self.notes) > 1 else text)
            label.setObjectName("bannerText")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setTextInteractionFlags(_SELECTABLE)
            label.setCursor(Qt.CursorShape.IBeamCursor)
            self._lines_layout.addWidget(label)
            self.lines.append(label)
        self.setVisible(bool(self.notes))

    def dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()
