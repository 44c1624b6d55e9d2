"""Ask a thinking model from the chat grid (issue 13 item 5): the non-thinking pane's latest question goes
to the thinking pane with the conversation before it, only that pane runs, the note compares the cost;
the automatic rule fires on multi-step work and not on chit-chat; a new pane gets a thinking model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from explorer.chat.transcripts import ConversationStore
from explorer.gguf.variant import Variant
from explorer.testing.scripted import DEFAULT_ANSWER, DEFAULT_THINKING
from tests.conftest import make_hardware
from tests.test_ui_chat import DEMO, THINKING, local, pick, run, small
from ui.chat.tab import ChatTab

pytestmark = pytest.mark.llama


@pytest.fixture
def tab(qtbot: QtBot, tmp_path: Path) -> Iterator[ChatTab]:
    t = ChatTab(store=ConversationStore(tmp_path / "conversations"))
    qtbot.addWidget(t)
    t.resize(1200, 700)
    t.set_models([local(DEMO, Variant.HYBRID), local(THINKING, Variant.THINKING_2507)])
    t.set_hardware(make_hardware(ram=32, ram_free=24, vram=None))
    yield t
    t.shutdown()


def fast_and_thinking(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    for pane, thinking in ((a, False), (b, True)):
        pick(qtbot, pane, DEMO)
        small(pane, max_tokens=400)
        pane.set_thinking(thinking)


def test_the_button_sends_the_last_question_to_the_thinking_pane_only(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    fast_and_thinking(qtbot, tab)
    assert not tab.escalator.button.isEnabled()  # nothing answered yet
    run(qtbot, tab, "Hello there")
    run(qtbot, tab, "Why is the sky blue?")
    assert tab.escalator.sources() == [a] and tab.escalator.button.isEnabled()
    fast_before = a.conversation.messages
    with qtbot.waitSignal(tab.run_finished, timeout=60_000):
        tab.escalator.button.click()
    assert a.conversation.messages == fast_before  # the fast pane did not run again
    got = b.conversation.messages
    # the thinking pane's conversation: the fast pane's first exchange, then the question, answered fresh
    assert [m.role for m in got] == ["user", "assistant", "user", "assistant"]
    assert got[0].content == "Hello there" and got[1].content == fast_before[1].content
    assert got[2].content == "Why is the sky blue?"
    assert got[3].content == DEFAULT_ANSWER and got[3].thinking == DEFAULT_THINKING
    note = tab.note.text()
    assert note.startswith("Pane 2 thought it over: the thinking model took") and "thinking tokens" in note


def test_the_automatic_rule_fires_on_arithmetic_and_not_on_chit_chat(qtbot: QtBot, tab: ChatTab) -> None:
    b = tab.panes[1]
    fast_and_thinking(qtbot, tab)
    tab.escalator.auto.setChecked(True)
    run(qtbot, tab, "Thanks, that was nice")
    qtbot.wait(300)
    assert "thought it over" not in tab.note.text() and not tab.runner.running
    b_before = b.conversation.messages
    run(qtbot, tab, "What is 17 * 23?")  # the grid's run, then the escalation's
    with qtbot.waitSignal(tab.run_finished, timeout=60_000):
        pass
    assert "Pane 2 thought it over (arithmetic (17 * 23))" in tab.note.text()
    assert b.conversation.messages != b_before and b.conversation.messages[-2].content == "What is 17 * 23?"


def test_without_a_thinking_pane_a_new_one_gets_the_librarys_thinking_model(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    tab.remove_pane(b)
    pick(qtbot, a, DEMO)
    small(a, max_tokens=400)
    a.set_thinking(False)
    run(qtbot, tab, "Why is the sky blue?")
    with qtbot.waitSignal(tab.run_finished, timeout=60_000):
        assert tab.escalator.ask()
    assert len(tab.panes) == 2
    new = tab.panes[1]
    assert new.variant() in (Variant.THINKING_2507, Variant.HYBRID) and new.conversation is not None
    assert new.conversation.messages[-2].content == "Why is the sky blue?"
    assert new.conversation.messages[-1].stats is not None
