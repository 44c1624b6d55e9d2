"""The chat transcript: Markdown splitting, streaming, thinking section, stats, errors, restore, autoscroll."""

from __future__ import annotations

import random
from typing import Any

import pytest
from chat_helpers import assert_looks_uncut
from PySide6.QtCore import QEvent, QObject, QUrl
from PySide6.QtGui import QImage, QMoveEvent, QPaintEvent, QTextBlock, QTextDocument, QTextFormat
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from explorer.chat.conversation import Message, MessageStats
from explorer.chat.markdown import MarkdownSplitter, committed_length
from explorer.chat.stats import format_stats
from ui.chat import docview, render
from ui.chat.docview import DocView
from ui.chat.messages import thought_text
from ui.chat.render import CODE_BACKGROUND, LINK_COLOR, MarkdownStream
from ui.chat.transcript import AssistantMessage, TranscriptView, UserBubble

# --- committed_length ---------------------------------------------------------------------------

FENCED = "```python\nx = 1\n\ny = 2\n```\n"


@pytest.mark.parametrize(("text", "expected"), [
    ("", 0),
    ("hello world", 0),
    ("one line\n", 0),
    ("two\nlines\n", 0),
    ("para\n\n", 6),  # a trailing blank line commits everything
    ("a\n\nb", 3),
    ("a\n\nb\n\nc", 6),
    ("a\n\n\nb", 4),  # a run of blank lines: after the last one
    ("a\n   \nb", 6),  # a line of spaces is blank
    ("a\r\n\r\nb", 5),
    ("a\n\n", 3),
    # an open fence holds everything from where it starts, blank lines inside included
    ("```python\nx = 1\n\ny = 2\n", 0),
    ("intro\n\n```python\nx = 1\n\ny = 2\n", 7),
    ("```\n\n\n", 0),
    # a closing fence line completes the block, even without a blank line after it
    (FENCED, len(FENCED)),
    (FENCED + "after", len(FENCED)),
    (FENCED + "after\n\nmore", len(FENCED) + 7),
    ("```python\nx = 1\n```", 0),  # the closing line is not complete yet
    ("```python\nx = 1\n``", 0),
    # ~~~ fences: only ~~~ closes them
    ("~~~\na\n\n~~~\nafter\n\n", 18),
    ("~~~\na\n```\n\nb\n", 0),
    ("```\na\n~~~\n\nb\n", 0),
    # a longer fence needs a closing fence at least as long
    ("````\n```\n\nx\n", 0),
    ("````\n```\n\n````\n", 15),
    ("````\n```\n\n`````\nz", 16),
    ("```\ncode\n```  \n", 15),  # trailing spaces after the closing fence are fine
    ("```\ncode\n``` x\n\n", 0),  # text after it: not a closing fence
    # inline code is not a fence
    ("use `x` here\n\nmore", 14),
    ("```js `x` not a fence\n\nz", 23),
    # indented fences: up to 3 columns on the page (CommonMark); 4 or more is an indented code block
    ("   ```\na\n\n   ```\n", 17),
    ("    ```\na\n\nb", 11),
    ("\t```\na\n\nb", 8),
    ("```\na\n    ```\n\nb", 0),  # a closing fence indented 4 is a line of code
    # inside a list item, from where the item's content starts
    ("1. step\n\n   ```sh\n   ls\n\n   ```\n\nz", 33),
    ("1. step\n\n    ```sh\n    ls\n\n", 9),
    ("- a\n  - b\n\n    ```\n    x\n\n    ```\n", 34),
    ("- a\n\n       ```\n\nb", 17),  # 7 columns: 5 past the item's content, indented code
    # a line less indented than the fence's list item ends the item, and the code block with it
    ("1. x\n   ```\n   code\nend\n\nmore", 25),
])
def test_committed_length(text: str, expected: int) -> None:
    assert committed_length(text) == expected


SAMPLE = (
    "# Title\n\nSome *text* with `code`.\n\n```python\ndef f():\n\n    return 1\n```\nAfter the fence.\n\n"
    "~~~\n```\nnot closed by backticks\n\n~~~\n\n- a\n- b\n\n"
    "Tail without blank line"
)


def test_splitter_fed_piece_by_piece_agrees_with_committed_length() -> None:
    rng = random.Random(7)
    for _ in range(30):
        splitter = MarkdownSplitter()
        done: list[str] = []
        pos = 0
        while pos < len(SAMPLE):
            n = rng.randint(1, 9)
            done.append(splitter.feed(SAMPLE[pos:pos + n]))
            pos += n
            fed = SAMPLE[:pos]
            assert len("".join(done)) == committed_length(fed)
            assert "".join(done) + splitter.tail == fed
    assert splitter.tail == "Tail without blank line"


def test_splitter_marks_where_the_open_fence_starts() -> None:
    splitter = MarkdownSplitter()
    splitter.feed("Intro\n\nLook:\n```sh\nls -l\n")
    assert splitter.tail == "Look:\n```sh\nls -l\n"
    assert splitter.fence_start == len("Look:\n")
    splitter.feed("```\n")
    assert splitter.fence_start is None
    assert splitter.tail == ""


# --- the thinking header (the stats line's wording: tests/test_chat_export.py) ------------------------


def test_thought_text() -> None:
    forced = MessageStats(ttft_s=12.34, n_tokens=5, thinking_tokens=4, budget_forced=True)
    assert thought_text(forced) == "Thought · 4 tokens"
    assert thought_text(None) == "Thought"


# --- the view ----------------------------------------------------------------------------------------



def code_blocks(doc: QTextDocument) -> list[str]:
    """The lines of the fenced code blocks."""
    out = []
    block = doc.firstBlock()
    while block.isValid():
        if block.blockFormat().hasProperty(QTextFormat.Property.BlockCodeFence):
            out.append(block.text())
        block = block.next()
    return out


def monospace(block: QTextBlock) -> bool:
    fmt = block.begin().fragment().charFormat()
    return fmt.fontFixedPitch() or "monospace" in (fmt.fontFamilies() or [])


def settled(view: TranscriptView) -> bool:
    """Nothing left to lay out: the content is as tall as its messages, the scroll range follows it."""
    content, bar = view.content, view.verticalScrollBar()
    height = max(content.heightForWidth(content.width()), view.viewport().height())
    return content.height() == height and bar.maximum() == height - view.viewport().height()


def test_thinking_streams_expanded_then_collapses_at_finish(view: TranscriptView) -> None:
    view.add_user("Why is the sky blue?")
    view.begin_assistant()
    msg = view.assistant()
    assert msg.waiting.isVisibleTo(view)
    assert msg.waiting.text() == "waiting…"
    assert msg.toggle.isHidden()

    for piece in ["Rayleigh ", "scattering", "…\n\nshort ", "wavelengths."]:
        view.append_thinking(piece)
    assert not msg.waiting.isVisibleTo(view)
    assert msg.toggle.isVisibleTo(view)
    assert msg.toggle.text() == "Thinking…"
    assert msg.thinking_view.isVisibleTo(view)
    assert view.thinking_text() == "Rayleigh scattering…\n\nshort wavelengths."
    assert msg.thinking_view.document().defaultFont().italic()

    view.append_answer("Because of **Rayleigh** scattering.")
    view.finish(MessageStats(ttft_s=0.02, tokens_per_s=50, n_tokens=30, thinking_tokens=20))
    assert msg.toggle.text() == "Thought · 20 tokens"
    assert not msg.thinking_view.isVisibleTo(view)
    stats_line = view.findChild(QLabel, "statsLine").text()
    assert stats_line == "first token in 20 ms · 50 tok/s · 30 tokens (20 thinking) · end of answer"

    msg.toggle.click()
    assert msg.thinking_view.isVisibleTo(view)
    msg.toggle.click()
    assert not msg.thinking_view.isVisibleTo(view)
    assert view.message_count() == 2


def test_user_choice_about_the_thinking_section_is_kept(view: TranscriptView) -> None:
    view.begin_assistant()
    view.append_thinking("hmm")
    msg = view.assistant()
    assert msg.thinking_view.isVisibleTo(view)
    msg.toggle.click()  # the user folds it while it streams
    view.append_thinking(" more")
    assert not msg.thinking_view.isVisibleTo(view)
    msg.toggle.click()  # ... and opens it again: finish leaves it open
    view.append_answer("ok")
    view.finish(MessageStats(n_tokens=3))
    assert msg.thinking_view.isVisibleTo(view)


def test_answer_without_thinking_has_no_thinking_section(view: TranscriptView) -> None:
    view.begin_assistant()
    view.append_answer("Just an answer.")
    msg = view.assistant()
    assert msg.toggle.isHidden() and msg.thinking_box.isHidden()
    view.finish(MessageStats(n_tokens=4))
    assert msg.toggle.isHidden() and msg.thinking_box.isHidden()
    assert view.thinking_text() == ""
    assert view.answer_text() == "Just an answer."


MARKDOWN = (
    "## Plan\n\nUse **pathlib** and see [the docs](https://docs.python.org/3/).\n\n"
    "```python\nfrom pathlib import Path\n\nprint(Path.home())\n```\n\n"
    "Then run `python x.py`.\n"
)


def test_markdown_is_rendered_with_code_blocks(view: TranscriptView) -> None:
    view.begin_assistant()
    view.append_answer(MARKDOWN)
    view.finish(MessageStats(n_tokens=40))
    text = view.answer_text()
    assert "```" not in text and "**" not in text and "##" not in text
    assert "from pathlib import Path" in text
    assert "Use pathlib and see the docs." in text
    doc = view.assistant().answer_view.document()
    assert code_blocks(doc) == ["from pathlib import Path", "", "print(Path.home())"]
    block = doc.findBlock(text.index("print("))
    assert monospace(block)
    assert block.blockFormat().background().color().name() == CODE_BACKGROUND
    assert doc.toHtml().count("https://docs.python.org/3/") == 1  # the link is a link
    link = doc.findBlock(text.index("the docs"))
    frags = []
    it = link.begin()
    while not it.atEnd():
        frags.append(it.fragment())
        it += 1
    anchor = next(f for f in frags if f.charFormat().isAnchor())
    assert anchor.text() == "the docs"
    assert anchor.charFormat().foreground().color().name() == LINK_COLOR


def test_streamed_blocks_render_like_one_shot_markdown(view: TranscriptView) -> None:
    """Complete blocks streamed in tiny pieces render as the whole text would, before finish."""
    text = MARKDOWN + "\n> quoted\n\n~~~\nraw ~~~ text\n\n~~~\n\nLast paragraph.\n\n"
    view.begin_assistant()
    rng = random.Random(3)
    pos = 0
    while pos < len(text):
        n = rng.randint(1, 6)
        view.append_answer(text[pos:pos + n])
        pos += n
    msg = view.assistant()
    assert msg.answer_markdown() == text
    one_shot = QTextDocument()
    one_shot.setMarkdown(text, QTextDocument.MarkdownFeature.MarkdownDialectGitHub)
    assert view.answer_text() == one_shot.toPlainText()
    assert code_blocks(msg.answer_view.document()) == code_blocks(one_shot)
    view.finish(MessageStats(n_tokens=80))
    assert view.answer_text() == one_shot.toPlainText()


def test_unfinished_tail_is_plain_text_after_the_rendered_blocks(view: TranscriptView) -> None:
    view.begin_assistant()
    view.append_answer("First **bold** paragraph.\n\nSecond **unfinished")
    assert view.answer_text() == "First bold paragraph.\nSecond **unfinished"
    view.append_answer(" one** and more")  # the tail grows
    assert view.answer_text() == "First bold paragraph.\nSecond **unfinished one** and more"
    view.append_answer(".\n\nLook:\n```sh\n")  # the paragraph completes; a code block opens
    assert view.answer_text() == "First bold paragraph.\nSecond unfinished one and more.\nLook:\n"
    view.append_answer("ls -l\n")
    rendered = "First bold paragraph.\nSecond unfinished one and more."
    assert view.answer_text() == rendered + "\nLook:\nls -l"  # no ``` line, no empty line after
    doc = view.assistant().answer_view.document()
    last = doc.lastBlock()
    assert last.text() == "ls -l"
    assert last.blockFormat().background().color().name() == CODE_BACKGROUND
    assert monospace(last)
    assert not monospace(last.previous())  # "Look:" is plain
    view.append_answer("pwd")
    assert view.answer_text() == rendered + "\nLook:\nls -l\npwd"
    view.append_answer("\n```\n")  # closed: rendered as Markdown for good
    assert view.answer_text() == rendered + "\nLook:\nls -l\npwd"
    assert code_blocks(doc) == ["ls -l", "pwd"]
    view.append_answer("Done.")
    assert view.answer_text() == rendered + "\nLook:\nls -l\npwd\nDone."
    assert not monospace(doc.lastBlock())
    view.finish(MessageStats(n_tokens=20))
    assert view.answer_text() == rendered + "\nLook:\nls -l\npwd\nDone."


def stream(view: TranscriptView, text: str, seed: int = 5) -> None:
    rng = random.Random(seed)
    pos = 0
    while pos < len(text):
        n = rng.randint(1, 6)
        view.append_answer(text[pos:pos + n])
        pos += n


def one_shot_text(markdown: str) -> str:
    doc = QTextDocument()
    doc.setMarkdown(markdown, QTextDocument.MarkdownFeature.MarkdownDialectGitHub)
    return doc.toPlainText()


def test_finish_renders_an_open_code_block_without_rendering_the_rest_again(
        view: TranscriptView, monkeypatch: pytest.MonkeyPatch) -> None:
    view.begin_assistant()
    stream(view, "Intro **text**.\n\n```py\nx = 1\n")
    calls: list[str] = []
    monkeypatch.setattr(MarkdownStream, "render_all", lambda self, md: calls.append(md))
    view.finish(MessageStats(n_tokens=9, stop_reason="stopped"))
    assert calls == []  # the blocks rendered while streaming stay as they are
    assert view.answer_text() == "Intro text.\nx = 1"
    assert code_blocks(view.assistant().answer_view.document()) == ["x = 1"]


@pytest.mark.parametrize("text", [
    "1. First step\n\n    with an indented paragraph\n\n2. Second step\n",  # a list item's continuation
    "See [the docs][d].\n\n[d]: https://example.org\n",  # a link defined later
])
def test_finish_renders_whole_when_blocks_belong_together(view: TranscriptView, text: str) -> None:
    view.begin_assistant()
    stream(view, text)
    streamed = view.answer_text()
    view.finish(MessageStats(n_tokens=20))
    assert view.answer_text() == one_shot_text(text)
    assert streamed != view.answer_text()  # the pieces alone did render differently


def test_finish_renders_whole_at_once_when_the_open_tail_needs_it(
        view: TranscriptView, monkeypatch: pytest.MonkeyPatch) -> None:
    """A link defined in the unfinished tail: the whole is rendered, the tail is not rendered alone first."""
    text = "See [the docs][d].\n\n[d]: https://example.org"
    view.begin_assistant()
    stream(view, text)
    inserted: list[str] = []
    original = render.markdown_fragment
    monkeypatch.setattr(render, "markdown_fragment", lambda md: (inserted.append(md), original(md))[1])
    view.finish(MessageStats(n_tokens=20))
    assert inserted == []
    assert view.answer_text() == one_shot_text(text)
    assert view.assistant().answer_markdown() == text


def test_many_small_updates_add_up_to_the_joined_text(view: TranscriptView) -> None:
    words = [f"word{i}" for i in range(400)]
    text = " ".join(words)
    view.begin_assistant()
    for i, w in enumerate(words):
        view.append_thinking(("" if i == 0 else " ") + w)
        view.append_answer(("" if i == 0 else " ") + w)
    assert view.thinking_text() == text
    assert view.answer_text() == text  # no blank line: all of it is the plain tail
    view.finish(MessageStats(n_tokens=800))
    assert view.answer_text() == text
    assert view.thinking_text() == text


def test_show_error_ends_the_open_message(view: TranscriptView) -> None:
    view.add_user("hi")
    view.begin_assistant()
    view.append_answer("partial")
    view.show_error("The model process crashed (exit code -11)")
    msg = view.assistant()
    assert not msg.streaming and not msg.waiting.isVisibleTo(view)
    errors = view.findChildren(QLabel, "errorLine")
    assert [e.text() for e in errors] == ["The model process crashed (exit code -11)"]
    view.append_answer("new")  # a new message, not the ended one
    assert view.answer_text(0) == "partial"
    assert view.answer_text() == "new"
    assert view.message_count() == 3


def test_error_stats_and_notice_lines(view: TranscriptView) -> None:
    view.show_notice("Waiting for pane 1 to finish (not enough RAM for both)")
    view.begin_assistant()
    view.finish(MessageStats(n_tokens=0, stop_reason="error", message="boom"))
    notice = view.findChild(QLabel, "noticeLine")
    assert notice.text() == "Waiting for pane 1 to finish (not enough RAM for both)"
    assert view.findChild(QLabel, "statsLine").text() == "0 tokens · error: boom"
    assert view.message_count() == 1


def test_remove_last_assistant_and_clear(view: TranscriptView, qtbot) -> None:
    view.add_user("one")
    view.begin_assistant()
    view.append_answer("first answer")
    view.finish(MessageStats(n_tokens=2))
    view.add_user("two")
    view.begin_assistant()
    view.append_answer("second")
    view.show_error("crashed")
    assert view.message_count() == 4

    view.remove_last_assistant()
    assert view.message_count() == 3
    assert view.answer_text() == "first answer"
    assert view.findChildren(QLabel, "errorLine") == []
    view.begin_assistant()  # regenerate
    view.append_answer("again")
    assert view.answer_text() == "again"
    assert view.message_count() == 4

    view.clear()
    assert view.message_count() == 0
    assert view.findChildren(QLabel, "userText") == []
    view.remove_last_assistant()  # nothing to remove: no error
    assert view.message_count() == 0


def test_load_messages_restores_thinking_answer_and_stats(view: TranscriptView) -> None:
    view.add_user("old")
    stats = MessageStats(ttft_s=0.1, tokens_per_s=20, n_tokens=50, thinking_tokens=30, stop_reason="length")
    view.load_messages([
        Message("system", "Be brief."),
        Message("user", "Show code"),
        Message("assistant", "Here:\n\n```py\nprint(1)\n```", thinking="Let me think.", stats=stats),
        Message("user", "Thanks"),
        Message("assistant", "You're welcome."),
    ])
    assert view.message_count() == 4
    assert [m.label.text() for m in view.messages() if isinstance(m, UserBubble)] == ["Show code", "Thanks"]
    assert view.thinking_text(0) == "Let me think."
    assert view.answer_text(0) == "Here:\nprint(1)"
    first = view.assistant(0)
    assert first.toggle.text() == "Thought · 30 tokens"
    assert first.toggle.isVisibleTo(view) and not first.thinking_view.isVisibleTo(view)
    assert first.stats_line.text() == format_stats(stats)
    assert first.stats_line.text() == "first token in 100 ms · 20 tok/s · 50 tokens (30 thinking) · max tokens reached"
    second = view.assistant(1)
    assert second.toggle.isHidden() and second.stats_line.isHidden()
    assert not second.waiting.isVisibleTo(view)
    view.append_answer("x")  # nothing restored is still open
    assert view.message_count() == 5


def test_load_messages_writes_saved_thinking_without_cutting_it(
        view: TranscriptView, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cutting is for streaming: a restored thought is written whole, not cut and joined again."""
    cuts: list[int] = []
    original = DocView.split_long_last_block
    monkeypatch.setattr(DocView, "split_long_last_block",
                        lambda self, after=0: (cuts.append(after), original(self, after)))
    thought = "word " * 3000
    view.load_messages([Message("user", "q"), Message("assistant", "An answer.", thought, MessageStats(n_tokens=9))])
    assert cuts == []
    assert view.thinking_text() == thought.rstrip("\n")
    assert view.assistant().answer_markdown() == "An answer."


def test_links_open_externally(view: TranscriptView, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr(docview, "open_url", lambda url: opened.append(url.toString()))
    view.begin_assistant()
    view.append_answer("[docs](https://example.org/x) and [local](notes.md)")
    answer = view.assistant().answer_view
    answer.anchorClicked.emit(QUrl("https://example.org/x"))
    answer.anchorClicked.emit(QUrl("notes.md"))
    assert opened == ["https://example.org/x"]
    assert not answer.openLinks()  # a click never navigates the answer itself


def test_answer_height_follows_its_document(view: TranscriptView, qtbot) -> None:
    view.begin_assistant()
    view.append_answer("line\n\n")
    answer = view.assistant().answer_view
    qtbot.waitUntil(lambda: answer.height() >= answer.document().size().height())
    small = answer.height()
    view.append_answer("".join(f"paragraph {i}\n\n" for i in range(30)))
    qtbot.waitUntil(lambda: answer.height() > small * 10)
    assert answer.height() >= answer.document().size().height()
    assert answer.verticalScrollBar().maximum() == 0


def test_autoscroll_follows_the_bottom_only_when_there(view: TranscriptView, qtbot) -> None:
    bar = view.verticalScrollBar()
    view.add_user("go")
    view.begin_assistant()
    for i in range(40):
        view.append_answer(f"paragraph {i}\n\n")
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum())

    bar.setValue(0)  # the user scrolls up to read
    assert not view.following
    before = bar.maximum()
    for i in range(40):
        view.append_answer(f"more {i}\n\n")
    qtbot.waitUntil(lambda: bar.maximum() > before and settled(view))
    assert bar.value() == 0

    bar.setValue(bar.maximum())  # back at the bottom: follows again
    assert view.following
    before = bar.maximum()
    for i in range(20):
        view.append_answer(f"again {i}\n\n")
    qtbot.waitUntil(lambda: bar.maximum() > before and bar.value() == bar.maximum())


def test_raw_html_in_an_answer_is_shown_as_text(qtbot: Any) -> None:
    view = TranscriptView()
    qtbot.addWidget(view)
    view.begin_assistant()
    view.append_answer("Wrap it in <div class=\"x\">this</div>.\n\n</think> is the closing tag.\n\n")
    view.finish(MessageStats(n_tokens=9))
    shown = view.answer_text()
    assert '<div class="x">this</div>' in shown
    assert "</think> is the closing tag." in shown


# --- painting while streaming (what each update costs) ----------------------------------------------


class EventLog(QObject):
    """Counts the events of some types that the watched widgets get, and the rows they paint."""

    def __init__(self, *types: QEvent.Type) -> None:
        super().__init__()
        self.types = types
        self.count = 0
        self.painted_rows = 0

    def watch(self, *widgets: QWidget) -> EventLog:
        for w in widgets:
            w.installEventFilter(self)
        return self

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if isinstance(event, QMoveEvent) and event.pos() == event.oldPos():
            return False  # Qt sends one with each resize
        if event.type() in self.types:
            self.count += 1
            if isinstance(event, QPaintEvent):
                self.painted_rows += sum(rect.height() for rect in event.region())
        return False


def stream_words(n: int, seed: int = 1) -> list[str]:
    """n pieces of 8 words, a paragraph break now and then: text as a model streams it."""
    rng = random.Random(seed)
    words = ["light", "air", "scatters", "blue", "short", "wavelengths", "more", "strongly", "than", "long", "ones"]
    return ["".join(" " + rng.choice(words) for _ in range(8)) + ("\n\n" if i % 7 == 6 else "")
            for i in range(n)]


def full_view_streaming(view: TranscriptView, qtbot: Any) -> tuple[UserBubble, AssistantMessage]:
    """A long earlier answer, then a new answer streaming at the bottom of the full view."""
    view.resize(420, 900)
    view.load_messages([Message("user", "Tell me about the sky. " * 8),
                        Message("assistant", "".join(stream_words(60, seed=2)), "", MessageStats(n_tokens=480))])
    view.add_user("And more?")
    view.begin_assistant()
    for piece in stream_words(4):
        view.append_answer(piece)
        QApplication.processEvents()
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum())
    bubble, earlier = view.messages()[0], view.assistant(0)
    assert isinstance(bubble, UserBubble)
    return bubble, earlier


def test_what_is_on_screen_matches_a_full_repaint(view: TranscriptView, qtbot: Any) -> None:
    """Only changed parts are painted and the rest is copied: the window must still show what painting
    it whole would, while thinking and an answer stream, scrolled up or at the bottom, and at finish."""
    screen = view.screen()

    def check() -> None:
        QApplication.processEvents()
        shown = screen.grabWindow(view.winId()).toImage().convertToFormat(QImage.Format.Format_RGB32)
        whole = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
        assert shown == whole

    view.load_messages([Message("user", "Tell me about the sky. " * 8),
                        Message("assistant", "".join(stream_words(30, seed=2)), "why", MessageStats(n_tokens=240))])
    view.add_user("And more?")
    view.begin_assistant()
    for piece in stream_words(20, seed=5):
        view.append_thinking(piece)
        check()
    view.append_thinking(" done.")
    view.append_answer("First")  # both in one update, as the chat driver sends them
    check()
    bar = view.verticalScrollBar()
    for i, piece in enumerate(stream_words(40, seed=6)):
        if i == 15:
            bar.setValue(bar.value() - 150)  # the user scrolls up to read
        if i == 25:
            bar.setValue(bar.maximum())
        view.append_answer(piece)
        if i % 5 == 2:
            view.append_answer(piece)  # two updates before the window is painted
        check()
    view.finish(MessageStats(n_tokens=400, thinking_tokens=160))
    check()


def test_label_height_for_width_follows_its_text(view: TranscriptView) -> None:
    view.begin_assistant()
    view.append_answer("ok")
    view.finish(MessageStats(n_tokens=1))
    line = view.findChild(QLabel, "statsLine")
    assert line is not None
    one_line = line.heightForWidth(200)
    assert line.heightForWidth(200) == one_line  # remembered
    line.setText("a long stats line " * 20)
    assert line.heightForWidth(200) > 2 * one_line
    font = line.font()
    font.setPointSizeF(font.pointSizeF() * 2)
    before = line.heightForWidth(200)
    line.setFont(font)
    assert line.heightForWidth(200) > before


def test_streaming_at_the_bottom_leaves_earlier_messages_where_they_are(view: TranscriptView, qtbot: Any) -> None:
    """Growing the last message must not squeeze and move what is above it (then move it back)."""
    bubble, earlier = full_view_streaming(view, qtbot)
    moved = EventLog(QEvent.Type.Move, QEvent.Type.Resize).watch(bubble, earlier, view.messages()[2])
    for piece in stream_words(40, seed=3):
        view.append_answer(piece)
        QApplication.processEvents()
    assert moved.count == 0


def test_a_growing_thinking_section_stays_where_it_is(view: TranscriptView, qtbot: Any) -> None:
    """Inside the message too: the section above the growing text must not be pushed around."""
    full_view_streaming(view, qtbot)
    view.finish(MessageStats(n_tokens=32))
    view.add_user("Think it over.")
    view.begin_assistant()
    view.append_thinking("Let me see.")
    QApplication.processEvents()
    message = view.assistant()
    moved = EventLog(QEvent.Type.Move).watch(message.toggle, message.thinking_box, message.thinking_view)
    for piece in stream_words(40, seed=7):
        view.append_thinking(piece)
        QApplication.processEvents()
    assert moved.count == 0


@pytest.mark.parametrize("part", ["answer", "thinking"])
def test_following_the_bottom_scrolls_by_copying_pixels(view: TranscriptView, qtbot: Any, part: str) -> None:
    """Each update paints the new text and the strip a scroll uncovered, not the whole view, and
    only the rows of the scroll bar where its slider or its greyed-out end changed."""
    full_view_streaming(view, qtbot)
    append = view.append_answer
    if part == "thinking":
        view.finish(MessageStats(n_tokens=32))
        view.add_user("Think it over.")
        view.begin_assistant()
        append = view.append_thinking
        append("Let me see.")
        QApplication.processEvents()
    bar = view.verticalScrollBar()
    content = EventLog(QEvent.Type.Paint).watch(view.content)
    scroll_bar = EventLog(QEvent.Type.Paint).watch(bar)
    start = bar.value()
    updates = 40
    for piece in stream_words(updates, seed=4):
        append(piece)
        QApplication.processEvents()
    assert bar.value() > start + 100  # it did scroll, many times
    assert content.painted_rows < updates * view.viewport().height() / 5
    assert scroll_bar.painted_rows < updates * bar.height() / 5


LONG_PARAGRAPH = "".join(f" word{i % 17}" for i in range(900))  # no line break in ~6,000 characters


def long_paragraph_pieces() -> list[str]:
    return [LONG_PARAGRAPH[i:i + 40] for i in range(0, len(LONG_PARAGRAPH), 40)]


@pytest.mark.parametrize("part", ["answer", "thinking"])
def test_a_long_paragraph_is_laid_out_in_short_pieces_while_it_streams(view: TranscriptView, part: str) -> None:
    """Qt lays out a changed paragraph whole: the growing one is kept to a few lines by cutting it
    where its lines wrap. Text read back has no cut in it."""
    view.begin_assistant()
    message = view.assistant()
    doc_view = message.answer_view if part == "answer" else message.thinking_view
    append = view.append_answer if part == "answer" else view.append_thinking
    for piece in long_paragraph_pieces():
        append(piece)
        last = doc_view.document().lastBlock()
        assert last.layout().lineCount() < doc_view.SPLIT_AT_LINES
    assert doc_view.document().blockCount() > 10
    read = view.answer_text() if part == "answer" else view.thinking_text()
    assert read == LONG_PARAGRAPH


def test_a_cut_paragraph_looks_like_the_whole_one(view: TranscriptView, qtbot: Any) -> None:
    view.begin_assistant()
    cut = view.assistant().thinking_view
    for piece in long_paragraph_pieces()[:60]:
        view.append_thinking(piece)
    assert cut.document().blockCount() > 3
    assert_looks_uncut(cut, "".join(long_paragraph_pieces()[:60]), qtbot)


def test_cuts_are_undone_when_the_width_changes_and_at_the_end(view: TranscriptView) -> None:
    view.begin_assistant()
    message = view.assistant()
    for piece in long_paragraph_pieces():
        view.append_thinking(piece)
    thinking = message.thinking_view.document()
    assert thinking.blockCount() > 10
    view.resize(view.width() + 60, view.height())
    QApplication.processEvents()
    assert thinking.blockCount() == 1  # cut for the old width: joined again
    assert view.thinking_text() == LONG_PARAGRAPH
    for piece in long_paragraph_pieces():
        view.append_answer(piece)
    view.finish(MessageStats(n_tokens=1800))
    assert message.answer_view.document().blockCount() == 1
    assert view.answer_text() == LONG_PARAGRAPH.strip()


def test_copying_across_a_cut_leaves_it_out(view: TranscriptView) -> None:
    view.begin_assistant()
    for piece in long_paragraph_pieces():
        view.append_answer(piece)
    doc_view = view.assistant().answer_view
    assert doc_view.document().blockCount() > 10
    cursor = doc_view.textCursor()
    cursor.setPosition(1)
    cursor.setPosition(20, cursor.MoveMode.KeepAnchor)  # no cut in it: Qt's own copy, rich text too
    doc_view.setTextCursor(cursor)
    assert doc_view.createMimeDataFromSelection().hasHtml()
    doc_view.selectAll()
    assert doc_view.createMimeDataFromSelection().text() == LONG_PARAGRAPH
    cursor = doc_view.textCursor()
    cursor.setPosition(100)
    cursor.setPosition(3000, cursor.MoveMode.KeepAnchor)
    doc_view.setTextCursor(cursor)
    assert doc_view.createMimeDataFromSelection().text() == LONG_PARAGRAPH[100:3000 - cut_count(doc_view, 3000)]


def cut_count(doc_view: DocView, end: int) -> int:
    """How many cuts (one position each) lie before document position `end`."""
    return len(doc_view.cut_positions(0, end))
