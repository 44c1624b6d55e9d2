"""A fill-in-the-middle answer in the transcript: prefix + the middle the model writes (highlighted) + suffix.

`FimResult` is an assistant message (the transcript streams, stops, removes and restores it like the
others) whose text is the whole file: the prefix and suffix as the person wrote them, in the code
font, and the middle inserted between them as it streams. **Copy** puts all three on the clipboard.
"""

from __future__ import annotations

from collections.abc import Iterator

from PySide6.QtGui import QColor, QFontDatabase, QGuiApplication, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from explorer.chat.conversation import Message, MessageStats
from ui import theme
from ui.chat.docview import DocView
from ui.chat.messages import AssistantMessage
from ui.chat.stack_layout import StackLayout


def middle_background() -> str:
    """The model's middle, between the person's prefix and suffix: the theme's gap colour (light or dark)."""
    return theme.GAP_BACKGROUND


class FimResult(AssistantMessage):
    """Prefix, middle (streamed, highlighted) and suffix in one code view, with a Copy button."""

    def __init__(self, prefix: str, suffix: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("fimResult")
        self.prefix, self.suffix = prefix, suffix
        self._middle: list[str] = []
        head = QWidget()
        row = QHBoxLayout(head)
        row.setContentsMargins(0, 0, 0, 0)
        caption = QLabel("Fill-in-the-middle: prefix · <b>middle</b> · suffix")
        caption.setObjectName("fimCaption")
        row.addWidget(caption, 1)
        self.copy_button = QToolButton()
        self.copy_button.setObjectName("fimCopy")
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Copy prefix + middle + suffix")
        self.copy_button.clicked.connect(self.copy)
        row.addWidget(self.copy_button)
        self.view = DocView("fimView")
        self.view.document().setDefaultFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._outer = QTextCharFormat()
        self._inner = QTextCharFormat()
        self._set_colours()
        theme.notifier().changed.connect(self._recolour)
        cursor = QTextCursor(self.view.document())
        cursor.insertText(prefix, self._outer)
        self._middle_end = cursor.position()
        cursor.insertText(suffix, self._outer)
        lay = self.layout()
        assert isinstance(lay, StackLayout)
        at = lay.widgets().index(self.answer_view)
        lay.insert(at, head)
        lay.insert(at + 1, self.view)
        self.view.fit()

    def _set_colours(self) -> None:
        self._outer.setForeground(QColor(theme.TEXT_MUTED))
        self._inner.setForeground(QColor(theme.TEXT_NORMAL))
        self._inner.setBackground(QColor(middle_background()))

    def _recolour(self, _dark: bool = False) -> None:
        """The theme changed: the text already shown takes the new colours (they are baked into it)."""
        self._set_colours()
        start = len(self.prefix)
        for a, b, fmt in ((0, start, self._outer), (start, self._middle_end, self._inner),
                          (self._middle_end, self.view.document().characterCount() - 1, self._outer)):
            cursor = QTextCursor(self.view.document())
            cursor.setPosition(a)
            cursor.setPosition(b, QTextCursor.MoveMode.KeepAnchor)
            cursor.setCharFormat(fmt)

    def append_answer(self, text: str) -> None:
        if not text:
            return
        self.waiting.hide()
        self._middle.append(text)
        cursor = QTextCursor(self.view.document())
        cursor.setPosition(self._middle_end)
        cursor.insertText(text, self._inner)
        self._middle_end = cursor.position()
        self.view.fit()

    def restore_steps(self, message: Message) -> Iterator[None]:
        self.waiting.hide()
        self.append_answer(message.content)
        yield
        self.finish(message.stats)

    def finish(self, stats: MessageStats | None) -> None:
        super().finish(stats)
        self.view.fit()

    def answer_text(self) -> str:
        """The middle the model wrote."""
        return "".join(self._middle)

    def full_text(self) -> str:
        return self.prefix + self.answer_text() + self.suffix

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.full_text())
