"""Long paragraphs cut while they stream (DocView.split_long_last_block): text, looks and the
Markdown around them stay right; and the wheel over the transcript's bottom gap."""

from __future__ import annotations

import random
from typing import Any

from chat_helpers import assert_looks_uncut
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QTextDocument, QWheelEvent
from PySide6.QtWidgets import QApplication

from explorer.chat.conversation import Message, MessageStats
from ui.chat.render import MARKDOWN_FEATURES
from ui.chat.transcript import TranscriptView

LONG = "".join(f" word{i % 17}" for i in range(300)).strip()  # one paragraph, many lines at 420 px



def pieces(text: str, n: int = 40) -> list[str]:
    return [text[i:i + n] for i in range(0, len(text), n)]


def one_shot_text(markdown: str) -> str:
    doc = QTextDocument()
    doc.setMarkdown(markdown, MARKDOWN_FEATURES)
    return doc.toPlainText()


# --- only the unfinished tail is cut, never the rendered Markdown before it ---------------------

def test_a_long_heading_committed_at_the_end_of_an_update_keeps_its_text(view: TranscriptView) -> None:
    """The blank line arrives as its own update (a "\\n\\n" token): the heading is then the last block,
    has no block margins, and gets cut; the cuts shift the text after _committed_end, and the next
    _remove_tail deletes the heading's last characters."""
    heading = "# " + " ".join(f"word{i}" for i in range(150))
    view.begin_assistant()
    view.append_answer(heading)
    view.append_answer("\n\n")
    view.append_answer("Next paragraph.\n\nLast")
    view.finish(MessageStats(n_tokens=5))
    markdown = heading + "\n\nNext paragraph.\n\nLast"
    assert view.answer_text() == one_shot_text(markdown)


# --- a line break after a cut paragraph starts a paragraph of its own, not another piece ----------

THOUGHT = LONG + "\n\nSecond thought.\nThird line."


def test_paragraphs_after_a_cut_paragraph_keep_their_line_breaks_in_the_thinking(view: TranscriptView) -> None:
    view.begin_assistant()
    for piece in pieces(THOUGHT):
        view.append_thinking(piece)
    assert view.thinking_text() == THOUGHT  # read back while streaming
    view.append_answer("ok")
    view.finish(MessageStats(n_tokens=5))
    # join_split_blocks merged "Second thought." and "Third line." (and the blank line) into the paragraph
    assert view.assistant().thinking_view.document().toPlainText() == THOUGHT


def test_copying_lines_after_a_cut_paragraph_keeps_their_line_breaks(view: TranscriptView) -> None:
    view.begin_assistant()
    for piece in pieces(THOUGHT):
        view.append_thinking(piece)
    doc_view = view.assistant().thinking_view
    doc_view.selectAll()
    assert doc_view.createMimeDataFromSelection().text() == THOUGHT


def test_a_width_change_mid_stream_keeps_the_lines_of_the_answer_tail(view: TranscriptView) -> None:
    """A plain tail with a single newline (a soft break that is shown as a line while streaming)."""
    view.begin_assistant()
    text = LONG + "\nline two\nline three"
    for piece in pieces(text):
        view.append_answer(piece)
    doc = view.assistant().answer_view.document()
    assert block_texts(doc)[-2:] == ["line two", "line three"]
    view.resize(view.width() + 60, view.height())
    QApplication.processEvents()
    assert block_texts(doc) == [LONG, "line two", "line three"]  # the join glued them onto the paragraph


def block_texts(doc: QTextDocument) -> list[str]:
    out, block = [], doc.firstBlock()
    while block.isValid():
        out.append(block.text())
        block = block.next()
    return out


# --- a piece keeps the direction of its paragraph ------------------------------------------------

def test_a_cut_mixed_direction_paragraph_looks_like_the_whole_one(view: TranscriptView, qtbot: Any) -> None:
    """A right-to-left paragraph with English words: a piece that starts with an English word becomes a
    left-to-right paragraph (aligned left), unlike the same line in the whole paragraph."""
    rng = random.Random(1)
    words = ["שלום", "עולם", "טקסט", "ארוך", "hello", "world", "text", "long"]
    text = " ".join(rng.choice(words) for _ in range(400))
    view.resize(420, 700)
    QApplication.processEvents()
    view.begin_assistant()
    QApplication.processEvents()
    cut = view.assistant().thinking_view
    for piece in pieces(text, 20):
        view.append_thinking(piece)
    assert cut.document().blockCount() > 3
    assert_looks_uncut(cut, text, qtbot)


# --- no cut right after a line separator (U+2028): it would leave an empty line -------------------

def test_a_cut_after_a_line_separator_adds_no_empty_line(view: TranscriptView, qtbot: Any) -> None:
    text = " ".join(f"line{i}\u2028" if i % 11 == 0 else f"w{i}" for i in range(600))
    view.resize(420, 900)
    view.begin_assistant()
    qtbot.waitUntil(lambda: view.assistant().width() == view.content.width() - 28)  # laid out at its width
    cut = view.assistant().thinking_view
    for piece in pieces(text, 20):
        view.append_thinking(piece)
    assert cut.document().blockCount() > 3
    height = cut.document().size().height()
    cut.join_split_blocks()  # the whole paragraph, as it is shown after a width change or at the end
    assert cut.document().blockCount() == 1
    assert height == cut.document().size().height()


# --- the bottom gap is a viewport margin: the wheel scrolls there too -----------------------------

def test_the_wheel_scrolls_over_the_bottom_gap(view: TranscriptView, qtbot: Any) -> None:
    view.load_messages([Message("user", "q " * 300), Message("assistant", "a " * 2000, "", MessageStats(n_tokens=2))])
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 400)
    bar.setValue(300)
    pos = QPoint(100, view.height() - 5)  # in the 12-px viewport margin
    event = QWheelEvent(QPointF(pos), QPointF(view.mapToGlobal(pos)), QPoint(), QPoint(0, -120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view, event)
    assert bar.value() > 300


# --- on screen vs a full repaint, with long paragraphs, cuts and width changes --------------------

def test_on_screen_matches_a_full_repaint_with_long_paragraphs_and_width_changes(
        view: TranscriptView, qtbot: Any) -> None:
    screen = view.screen()

    def on_screen_is_whole() -> bool:
        shown = screen.grabWindow(view.winId()).toImage().convertToFormat(QImage.Format.Format_RGB32)
        return shown == view.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)

    def check() -> None:
        # Once the paints that Qt posted are done: a grab between a scroll and its paint is no real frame.
        qtbot.waitUntil(on_screen_is_whole, timeout=2000)

    view.load_messages([Message("user", "Tell me. " * 8), Message("assistant", LONG, LONG, MessageStats(n_tokens=9))])
    view.add_user("And more?")
    view.begin_assistant()
    for i, piece in enumerate(pieces(LONG, 23)):
        view.append_thinking(piece)
        if i == 30:
            view.resize(view.width() - 37, view.height())
        check()
    bar = view.verticalScrollBar()
    for i, piece in enumerate(pieces(LONG + "\n\n" + LONG, 31)):
        if i == 20:
            bar.setValue(bar.value() - 120)
        if i == 35:
            view.resize(view.width() + 53, view.height())
        if i == 50:
            bar.setValue(bar.maximum())
        view.append_answer(piece)
        check()
    view.finish(MessageStats(n_tokens=400, thinking_tokens=160))
    check()
