"""A fill-in-the-middle pane's editors: the code before the gap (prefix) and after it (suffix, may be empty).

The same Send (Ctrl+Enter) as the other panes sends them; the model writes what goes between.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget

FIM_TOOLTIP = ("Fill-in-the-middle: the model writes the code between the prefix and the suffix, prompted with "
               "its own <|fim_prefix|>, <|fim_suffix|> and <|fim_middle|> tokens (no chat template). "
               "Made for Qwen3 Coder models; other Qwen3 vocabularies have the tokens, but were not trained on them.")
NO_FIM_NOTE = ("This model's vocabulary has no fill-in-the-middle tokens: a FIM request is refused, "
               "nothing is sent. Use a Qwen3 Coder model.")


def _code_edit(name: str, placeholder: str) -> QPlainTextEdit:
    edit = QPlainTextEdit()
    edit.setObjectName(name)
    edit.setPlaceholderText(placeholder)
    edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    edit.setTabChangesFocus(True)
    edit.setFixedHeight(78)
    return edit


class FimEditor(QWidget):
    """Prefix and suffix editors in the code font, and a one-line note (no FIM tokens)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("fimEditor")
        self.setToolTip(FIM_TOOLTIP)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(3)
        self.prefix = _code_edit("fimPrefix", "Prefix: the code before the gap")
        self.suffix = _code_edit("fimSuffix", "Suffix: the code after the gap (may be empty)")
        for caption, edit in (("Prefix: before the gap", self.prefix), ("Suffix: after the gap", self.suffix)):
            label = QLabel(caption)
            label.setObjectName("fieldCaption")
            lay.addWidget(label)
            lay.addWidget(edit)
        self.note = QLabel("")
        self.note.setObjectName("fimNote")
        self.note.setWordWrap(True)
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        self.note.hide()
        lay.addWidget(self.note)

    def texts(self) -> tuple[str, str]:
        """(prefix, suffix) exactly as written."""
        return self.prefix.toPlainText(), self.suffix.toPlainText()

    def set_texts(self, prefix: str, suffix: str) -> None:
        self.prefix.setPlainText(prefix)
        self.suffix.setPlainText(suffix)

    def set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))
