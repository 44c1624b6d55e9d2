"""TranscriptView.restore: a long saved conversation opens without blocking the GUI thread; the last
messages are shown first, the earlier ones above them slice by slice, and clear or a new restore
cancels it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from explorer.chat.conversation import Message, MessageStats
from explorer.chat.stats import format_stats
from ui.chat.transcript import AssistantMessage, TranscriptView, UserBubble


def long_conversation(turns: int = 40) -> list[Message]:
    out = [Message("system", "Be brief.")]
    for t in range(turns):
        answer = "\n\n".join(f"Answer {t}, paragraph {p}: " + "words " * 60 for p in range(12))
        answer += f"\n\n```py\nprint({t})\n```"
        out += [Message("user", f"Question {t}"),
                Message("assistant", answer, f"Thinking {t}. " * 300, MessageStats(n_tokens=t + 1, thinking_tokens=t))]
    out += [Message("user", "Last question"), Message("assistant", "The **last** answer.", "",
                                                      MessageStats(ttft_s=0.1, n_tokens=4))]
    return out


def shown(view: TranscriptView) -> list[tuple[str, str, str]]:
    """(role, text, thinking) of each message, top to bottom."""
    out = []
    for m in view.messages():
        if isinstance(m, UserBubble):
            out.append(("user", m.label.text(), ""))
        else:
            out.append(("assistant", m.answer_text(), m.thinking_text()))
    return out


def user_texts(view: TranscriptView) -> list[str]:
    return [m.label.text() for m in view.messages() if isinstance(m, UserBubble)]


def test_the_last_messages_come_first_then_all_in_order(view: TranscriptView, qtbot: Any) -> None:
    messages = long_conversation()
    questions = [m.content for m in messages if m.role == "user"]
    seen: list[list[str]] = []
    beat = QTimer(view)  # runs on the GUI thread between the slices of the restore
    beat.setInterval(0)
    beat.timeout.connect(lambda: seen.append(user_texts(view)))
    beat.start()
    with qtbot.waitSignal(view.restored, timeout=60_000):
        view.restore(messages)
        assert view.restoring  # it returned before rendering everything
        assert isinstance(view.messages()[-1], AssistantMessage)  # the last message is the first one shown
    beat.stop()
    assert not view.restoring
    # The event loop ran between slices, and each time the messages shown were the last ones.
    assert len({len(texts) for texts in seen if len(texts) < len(questions)}) > 5
    assert all(texts == questions[len(questions) - len(texts):] for texts in seen)

    reference = TranscriptView()
    qtbot.addWidget(reference)
    reference.resize(420, 500)
    reference.load_messages(messages)  # the same, at once
    assert view.message_count() == reference.message_count() == 82
    assert shown(view) == shown(reference)
    first = view.assistant(0)
    assert first.toggle.text() == "Thought · 0 tokens" or first.toggle.text() == "Thought"
    assert not first.thinking_view.isVisibleTo(view)  # folded, as a finished message
    assert first.stats_line.text() == format_stats(MessageStats(n_tokens=1, thinking_tokens=0))
    assert view.assistant(0).answer_markdown() == messages[2].content
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum())  # kept at the bottom


def test_clear_and_a_new_restore_cancel_a_restore_in_progress(view: TranscriptView, qtbot: Any) -> None:
    view.restore(long_conversation())
    assert view.restoring
    view.clear()
    assert not view.restoring and view.message_count() == 0
    for _ in range(20):
        QApplication.processEvents()  # no slice left to run
    assert view.message_count() == 0

    view.restore(long_conversation())
    assert view.restoring
    short = [Message("user", "Only this"), Message("assistant", "and this.")]
    with qtbot.waitSignal(view.restored):
        view.restore(short)
    assert not view.restoring
    for _ in range(20):
        QApplication.processEvents()
    assert shown(view) == [("user", "Only this", ""), ("assistant", "and this.", "")]


def test_messages_added_during_a_restore_go_below_it(view: TranscriptView, qtbot: Any) -> None:
    messages = long_conversation(10)
    with qtbot.waitSignal(view.restored, timeout=60_000):
        view.restore(messages)
        assert view.restoring
        view.add_user("A new question")
        view.begin_assistant()
        view.append_answer("A new answer.")
    view.finish(MessageStats(n_tokens=3))
    assert view.message_count() == 24
    assert shown(view)[-2:] == [("user", "A new question", ""), ("assistant", "A new answer.", "")]
    assert shown(view)[0] == ("user", "Question 0", "")
    assert isinstance(view.messages()[1], AssistantMessage)


def test_a_reader_who_scrolled_up_keeps_their_place(view: TranscriptView, qtbot: Any) -> None:
    """Earlier messages go in above what they read: the view moves down by as much, the distance from
    what they read to the end of the conversation stays."""
    view.restore(long_conversation())
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 400)
    bar.setValue(bar.maximum() - 300)  # reading the last answers
    assert not view.following
    start = bar.value()
    with qtbot.waitSignal(view.restored, timeout=60_000):
        pass
    qtbot.waitUntil(lambda: bar.maximum() - bar.value() == 300 and bar.value() > start + 5000)
    assert not view.following
