"""The transcript of one chat pane: user bubbles and streamed assistant messages, stacked and scrolled.

The chat driver calls the view on the GUI thread at most ~30 times a second per pane; each update
costs the same for a long answer as for a short one (see `ui.chat.render` and `ui.chat.docview`).
The pieces: `ui.chat.render` (Markdown into documents), `ui.chat.docview` (the text views),
`ui.chat.stack_layout` (the layout), `ui.chat.messages` (the message widgets).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from PySide6.QtCore import QEvent, QMargins, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QPaintEvent, QRegion, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractSlider,
    QFrame,
    QScrollArea,
    QScrollBar,
    QStyle,
    QStyleOptionSlider,
    QWidget,
)

from explorer.chat.conversation import Message, MessageStats
from ui.chat.fim_view import FimResult
from ui.chat.messages import AssistantMessage, UserBubble, text_line
from ui.chat.stack_layout import StackLayout

__all__ = ["BOTTOM_SLACK_PX", "AssistantMessage", "TranscriptView", "UserBubble"]

BOTTOM_SLACK_PX = 24  # "at the bottom" when the scroll bar is within this of its end
RESTORE_SLICE_S = 0.004  # GUI-thread time one slice of `TranscriptView.restore` takes at most (and a step)


_Look = tuple[QRect, bool, bool]  # a scroll bar's slider, whether it is at the top, at the bottom


class _ScrollBar(QScrollBar):
    """A vertical scroll bar that repaints only the rows where its slider's ends moved.

    Painting the whole bar costs more than the rest of a streamed update (the Fusion style fills it
    with gradients, ~1.5 ms for 800 px). When the transcript grows at the bottom, the slider's top
    moves by a pixel or two, or (in a long transcript) not at all. Fusion, the app's style, draws
    the slider and the groove the same on every row away from the slider's ends; a test checks that
    what is on screen matches a full repaint.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self._shown: _Look | None = None  # what the screen shows once the requested repaints are done

    def _look(self) -> _Look:
        slider = self._part(QStyle.SubControl.SC_ScrollBarSlider)
        return slider, self.value() <= self.minimum(), self.value() >= self.maximum()

    def _part(self, part: QStyle.SubControl) -> QRect:
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        return self.style().subControlRect(QStyle.ComplexControl.CC_ScrollBar, opt, part, self)

    def sliderChange(self, change: QAbstractSlider.SliderChange) -> None:
        self._refresh()

    def _refresh(self) -> None:
        look = self._look()
        old, self._shown = self._shown, look
        if old == look:
            return
        if old is None:
            self.update()
            return
        # At the top or bottom, the style greys out that end's arrow button: repaint just the button.
        # The bottom flag flickers on every growth (the range grows, then the view follows).
        for was, now, part in ((old[1], look[1], QStyle.SubControl.SC_ScrollBarSubLine),
                               (old[2], look[2], QStyle.SubControl.SC_ScrollBarAddLine)):
            if was != now:
                self.update(self._part(part))
        w = self.width()
        for a, b in ((old[0].top(), look[0].top()), (old[0].bottom(), look[0].bottom())):
            if a != b:  # the rows between, and two either side (Fusion draws a line above the slider)
                self.update(QRect(0, min(a, b) - 2, w, abs(a - b) + 5))

    def paintEvent(self, event: QPaintEvent) -> None:
        look = self._look()
        super().paintEvent(event)
        if look == self._shown:
            return
        # Painted in a state other than the one the pending repaints were asked for: the rest of the
        # bar may not match, so repaint it whole.
        if (QRegion(self.rect()) - event.region()).isEmpty():
            self._shown = look
        else:
            self._shown = None
            self.update()


class TranscriptView(QScrollArea):
    """The messages of one chat pane, stacked; follows the bottom while the user is there.

    While an answer streams, a view full of text should not be painted whole on each update: the
    content and the growing widgets keep their pixels when they grow (`WA_StaticContents`), the
    content is opaque, word-wrapped labels remember their heights (asking a selectable QLabel again
    repaints it), and the scroll bar repaints only the rows where its slider moved.

    `restore` opens a saved conversation without blocking the GUI thread: the last messages first,
    earlier ones rendered above them in slices of a few milliseconds from the event loop.
    """

    restored = Signal()  # a `restore` has shown every message (not emitted when it was cancelled)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatTranscript")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBar(_ScrollBar())
        self.content = QWidget()
        self.content.setObjectName("transcriptContent")
        # No margin below the last message: as it grows it must reach outside the content's old
        # rectangle, not into a visible margin, or Qt will not scroll by copying (it never copies an
        # area that waits to be painted). The gap at the bottom is the viewport's margin instead.
        self._layout = StackLayout(self.content, QMargins(14, 12, 14, 0), 14)
        self.setViewportMargins(0, 0, 0, 12)
        self.setWidget(self.content)
        self._current: AssistantMessage | None = None
        self._follow = True  # keep to the bottom as content grows: the user was at the bottom
        self.content.setAttribute(Qt.WidgetAttribute.WA_StaticContents)
        self.content.setAutoFillBackground(True)  # opaque (QScrollArea sets it too): scrolls by copying
        bar = self.verticalScrollBar()
        self._maximum = bar.maximum()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range)
        self._pending: list[Message] = []  # messages still to restore, the last one next
        self._steps: Iterator[None] | None = None  # the restored message being rendered
        self._grew_above = False  # a restore step added to the content above the last messages
        self._restore_timer = QTimer(self)
        self._restore_timer.setSingleShot(True)
        self._restore_timer.setInterval(0)
        self._restore_timer.timeout.connect(self._restore_slice)

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.Wheel and isinstance(e, QWheelEvent):
            # Over the gap below the viewport (a viewport margin, part of this widget, not of the
            # viewport) the wheel must scroll too.
            self.wheelEvent(e)
            return True
        return super().event(e)

    # --- API

    def add_user(self, text: str) -> None:
        self._end_current()
        self._follow = True  # the user just sent it: show it
        self._add(UserBubble(text))
        self._scroll_to_bottom()

    def begin_assistant(self) -> None:
        self._end_current()
        self._current = AssistantMessage()
        self._add(self._current)

    def begin_fim(self, prefix: str, suffix: str) -> None:
        """A fill-in-the-middle message: the prefix and suffix now, the middle streams in between."""
        self._end_current()
        self._follow = True
        self._current = FimResult(prefix, suffix)
        self._add(self._current)
        self._scroll_to_bottom()

    def append_thinking(self, text: str) -> None:
        self._open().append_thinking(text)

    def append_answer(self, text: str) -> None:
        self._open().append_answer(text)

    def finish(self, stats: MessageStats) -> None:
        self._open().finish(stats)
        self._current = None

    def show_error(self, message: str) -> None:
        self._end_current()
        self._add(text_line("errorLine", message))

    def show_notice(self, text: str) -> None:
        notice = text_line("noticeLine", text)
        notice.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self._add(notice)

    def remove_last_assistant(self) -> None:
        """Remove the last assistant message and the error or notice lines that came after it."""
        items = self._layout.widgets()
        idx = next((i for i in range(len(items) - 1, -1, -1) if isinstance(items[i], AssistantMessage)), None)
        if idx is None:
            return
        end = idx + 1
        while end < len(items) and not isinstance(items[end], (UserBubble, AssistantMessage)):
            end += 1
        for w in items[idx:end]:
            self._drop(w)
        if self._current in items[idx:end]:
            self._current = None

    def clear(self) -> None:
        """Remove every message; a restore in progress stops."""
        self._cancel_restore()
        for w in self._layout.widgets():
            self._drop(w)
        self._current = None
        self._follow = True

    def restore(self, messages: Sequence[Message]) -> None:
        """Show a saved conversation (system turns are not shown) in place of what is shown, without
        blocking: the last messages now, the earlier ones above them in slices of RESTORE_SLICE_S
        from the event loop, the view kept at the bottom (or, once the user scrolls up, on what
        they read). `restored` is emitted when all are shown (already within this call for a short
        conversation: then `restoring` is False when it returns); `clear` or another restore cancels
        it. Messages added meanwhile (`add_user`, `begin_assistant`) go below the restored ones."""
        self._begin_restore(messages)
        self._restore_slice()
        self._scroll_to_bottom()

    @property
    def restoring(self) -> bool:
        """Whether a `restore` has messages left to show."""
        return bool(self._pending) or self._steps is not None

    def load_messages(self, messages: Sequence[Message]) -> None:
        """Show a saved conversation at once (the GUI thread renders all of it before this returns)."""
        self._begin_restore(messages)
        while self._restore_step():
            pass
        self._scroll_to_bottom()

    def message_count(self) -> int:
        return len(self.messages())

    def answer_text(self, index: int = -1) -> str:
        return self.assistant(index).answer_text()

    def thinking_text(self, index: int = -1) -> str:
        return self.assistant(index).thinking_text()

    # --- helpers also used by tests

    def messages(self) -> list[UserBubble | AssistantMessage]:
        return [w for w in self._layout.widgets() if isinstance(w, (UserBubble, AssistantMessage))]

    def assistant(self, index: int = -1) -> AssistantMessage:
        return [w for w in self._layout.widgets() if isinstance(w, AssistantMessage)][index]

    @property
    def following(self) -> bool:
        return self._follow

    # --- internals

    def _open(self) -> AssistantMessage:
        if self._current is None:
            self.begin_assistant()
        assert self._current is not None
        return self._current

    def _end_current(self) -> None:
        if self._current is not None:
            self._current.finish(None)
            self._current = None

    def _add(self, widget: QWidget) -> None:
        self._layout.add(widget)
        widget.show()  # now, not on the queued show that a visible parent would get

    def _drop(self, widget: QWidget) -> None:
        self._layout.removeWidget(widget)
        widget.hide()
        widget.setParent(None)  # gone from the tree now, not only once the deferred delete runs
        widget.deleteLater()

    def _scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - BOTTOM_SLACK_PX

    def _on_range(self, _minimum: int, maximum: int) -> None:
        grown, self._maximum = maximum - self._maximum, maximum
        bar = self.verticalScrollBar()
        if self._follow:
            bar.setValue(maximum)
        elif self._grew_above and grown > 0:
            bar.setValue(bar.value() + grown)  # restored messages went in above what the user reads
        self._grew_above = False

    # --- restoring in slices

    def _begin_restore(self, messages: Sequence[Message]) -> None:
        self.clear()
        self._pending = [m for m in messages if m.role in ("user", "assistant")]

    def _restore_slice(self) -> None:
        deadline = time.perf_counter() + RESTORE_SLICE_S
        while self._restore_step():
            if time.perf_counter() >= deadline:
                self._restore_timer.start()  # the rest after the events that wait (paint, input)
                return
        self.restored.emit()

    def _restore_step(self) -> bool:
        """Render one piece of the restore; False when nothing is left."""
        self._grew_above = True
        if self._steps is not None:
            if next(self._steps, False) is None:
                return True
            self._steps = None
        if not self._pending:
            return False
        m = self._pending.pop()
        question = self._pending[-1] if m.role == "assistant" and self._pending else None
        if question is not None and question.role == "user" and question.suffix is not None:
            self._pending.pop()  # fill-in-the-middle: the question is the answer's prefix and suffix
            fim = FimResult(question.content, question.suffix)
            self._insert_top(fim)
            self._steps = fim.restore_steps(m)
        elif m.role == "user":
            self._insert_top(UserBubble(m.content))
        else:
            block = AssistantMessage()
            self._insert_top(block)
            self._steps = block.restore_steps(m)
        return True

    def _insert_top(self, widget: QWidget) -> None:
        self._layout.insert(0, widget)
        widget.show()

    def _cancel_restore(self) -> None:
        self._restore_timer.stop()
        self._pending = []
        self._steps = None
