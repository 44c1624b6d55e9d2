"""The messages of a transcript: the user's bubble and the assistant's message with its thinking fold."""

from __future__ import annotations

from collections.abc import Iterator

from PySide6.QtCore import QMargins, Qt
from PySide6.QtGui import QColor, QPalette, QTextCursor
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from explorer.chat.conversation import Message, MessageStats
from explorer.chat.markdown import MarkdownSplitter
from explorer.chat.stats import format_stats
from ui import theme
from ui.chat.docview import SELECTABLE, DocView
from ui.chat.render import MarkdownStream, insert_lines, style_code
from ui.chat.stack_layout import StackLayout, WrapLabel

WAITING_TEXT = "waiting…"
RESTORE_CHUNK = 4000  # characters a step of `AssistantMessage.restore_steps` renders (about 1-2 ms)


def _pieces(text: str, size: int) -> Iterator[str]:
    """`text` in pieces of about `size` characters, each ending at a line break where one is near."""
    pos = 0
    while pos < len(text):
        end = text.find("\n", pos + size, pos + 2 * size)
        end = min(len(text), pos + 2 * size) if end < 0 else end + 1
        if text[end - 1:end + 1] == "\r\n":
            end += 1  # never between the two characters of one line break
        yield text[pos:end]
        pos = end


def thought_text(stats: MessageStats | None) -> str:
    """The thinking header once the message ended: 'Thought · 40 tokens'."""
    if stats is None or stats.thinking_tokens <= 0:
        return "Thought"
    n = stats.thinking_tokens
    return f"Thought · {n} token{'' if n == 1 else 's'}"


class UserBubble(QFrame):
    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("userBubble")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 8, 12, 8)
        self.label = text_line("userText", text)
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.label)


def text_line(name: str, text: str) -> QLabel:
    label = WrapLabel(text)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(SELECTABLE)
    return label


class AssistantMessage(QFrame):
    """An assistant message: a collapsible thinking section, the answer, and a stats line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("assistantMessage")
        self.setAttribute(Qt.WidgetAttribute.WA_StaticContents)  # it grows at the bottom while streaming
        lay = StackLayout(self, QMargins(), 6)
        self.streaming = True
        self._user_toggled = False
        self._has_thinking = False

        self.waiting = text_line("waitingHint", WAITING_TEXT)
        lay.add(self.waiting)

        self.toggle = QToolButton()
        self.toggle.setObjectName("thinkingToggle")
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setCursor(Qt.CursorShape.PointingHandCursor)
        self.toggle.setText("Thinking…")
        self.toggle.toggled.connect(self._on_toggled)
        self.toggle.clicked.connect(self._on_clicked)
        self.toggle.hide()
        lay.add(self.toggle, Qt.AlignmentFlag.AlignLeft)

        self.thinking_box = QFrame()
        self.thinking_box.setObjectName("thinkingBox")
        self.thinking_box.setAttribute(Qt.WidgetAttribute.WA_StaticContents)  # grows at the bottom too
        box = QHBoxLayout(self.thinking_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(8)
        # The rule on the left is a widget of its own: a style-sheet border would make Qt repaint
        # the whole box, and so all the thinking in view, each time the box grows.
        rule = QWidget()
        rule.setObjectName("thinkingRule")
        rule.setFixedWidth(2)
        rule.setAutoFillBackground(True)
        rule.setAttribute(Qt.WidgetAttribute.WA_StaticContents)
        self.thinking_rule = rule
        box.addWidget(rule)
        self.thinking_view = DocView("thinkingText")
        font = self.thinking_view.font()
        font.setItalic(True)
        self.thinking_view.document().setDefaultFont(font)
        box.addWidget(self.thinking_view)
        self.thinking_box.hide()
        lay.add(self.thinking_box)

        self.answer_view = DocView("answerView")
        self.answer_view.hide()
        lay.add(self.answer_view)
        self._stream = MarkdownStream(self.answer_view.document())

        self.stats_line = text_line("statsLine", "")
        self.stats_line.hide()
        lay.add(self.stats_line)
        self.fastest_badge = QLabel("⚡ fastest")
        self.fastest_badge.setObjectName("fastestBadge")
        self.fastest_badge.setToolTip("The highest generation speed (tokens/s) of the panes that answered this message")
        self.fastest_badge.hide()
        lay.add(self.fastest_badge, Qt.AlignmentFlag.AlignLeft)
        self._on_toggled(False)
        self.apply_theme(theme.is_dark())
        theme.notifier().changed.connect(self.apply_theme)

    def apply_theme(self, _dark: bool) -> None:
        """The thinking rule and text in the theme's colours; the answer's code blocks and links restyled."""
        rule_palette = self.thinking_rule.palette()
        rule_palette.setColor(QPalette.ColorRole.Window, QColor(theme.THINKING_RULE))
        self.thinking_rule.setPalette(rule_palette)
        pal = self.thinking_view.palette()
        pal.setColor(QPalette.ColorRole.Text, QColor(theme.TEXT_MUTED))
        self.thinking_view.setPalette(pal)
        style_code(self.answer_view.document())

    # --- streaming

    def append_thinking(self, text: str) -> None:
        if not text:
            return
        self._write_thinking(text)
        self.thinking_view.split_long_last_block()
        self.thinking_view.fit()

    def _write_thinking(self, text: str, expand: bool = True) -> None:
        self.waiting.hide()
        if not self._has_thinking:
            self._has_thinking = True
            self.toggle.show()
            if expand and not self._user_toggled:
                self.toggle.setChecked(True)
        cursor = QTextCursor(self.thinking_view.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        insert_lines(cursor, text, cursor.charFormat())

    def append_answer(self, text: str) -> None:
        if not text:
            return
        self.waiting.hide()
        self.answer_view.show()
        self._stream.feed(text)
        self.answer_view.split_long_last_block(after=self._stream.tail_start)
        self.answer_view.fit()

    def finish(self, stats: MessageStats | None) -> None:
        """End the message: render the rest of the answer, show the stats, fold the thinking away."""
        self.streaming = False
        self.waiting.hide()
        self._stream.finish()  # renders the tail again: no cut left in the answer
        self.thinking_view.join_split_blocks()
        self.toggle.setText(thought_text(stats))
        if not self._user_toggled:
            self.toggle.setChecked(False)
        if stats is not None:
            self.stats_line.setText(format_stats(stats))
            self.stats_line.setProperty("error", stats.stop_reason == "error")
            self.stats_line.style().unpolish(self.stats_line)
            self.stats_line.style().polish(self.stats_line)
            self.stats_line.show()

    def set_message(self, message: Message) -> None:
        """Show a saved message at once (already finished): nothing to cut while it streams."""
        if message.thinking:
            self._write_thinking(message.thinking)
        if message.content:
            self.waiting.hide()
            self.answer_view.show()
            self._stream.render_all(message.content)
        self.finish(message.stats)

    def restore_steps(self, message: Message) -> Iterator[None]:
        """Show a saved message like `set_message`, in steps of about RESTORE_CHUNK characters each:
        the transcript renders a long conversation a slice at a time. The thinking stays folded."""
        self.waiting.hide()
        for piece in _pieces(message.thinking, RESTORE_CHUNK):
            self._write_thinking(piece, expand=False)
            yield
        if message.content:
            self.answer_view.show()
            blocks = MarkdownSplitter()  # fed in whole blocks, nothing is shown as an unfinished tail
            for piece in _pieces(message.content, RESTORE_CHUNK):
                done = blocks.feed(piece)
                if done:
                    self._stream.feed(done)
                    yield
            self._stream.feed(blocks.tail)
        self.finish(message.stats)  # renders the rest (or, where pieces render apart, the whole)

    def set_fastest(self, on: bool) -> None:
        """Mark (or unmark) this answer as the fastest of its run, under its stats line."""
        self.fastest_badge.setVisible(on)

    @property
    def fastest(self) -> bool:
        return not self.fastest_badge.isHidden()

    # --- reading back

    def answer_text(self) -> str:
        return self.answer_view.plain_text()

    def thinking_text(self) -> str:
        return self.thinking_view.plain_text()

    def answer_markdown(self) -> str:
        return self._stream.markdown()

    # --- thinking toggle

    def _on_clicked(self) -> None:
        self._user_toggled = True

    def _on_toggled(self, expanded: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.thinking_box.setVisible(expanded and self._has_thinking)
