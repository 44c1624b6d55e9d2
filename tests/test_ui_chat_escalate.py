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


def test_a_thinking_pane_that_answered_too_has_nothing_to_add(qtbot: QtBot, tab: ChatTab) -> None:
    """Both panes answer every message: the thinking pane already thought about the question, so the button
    says so and runs nothing (its own conversation is kept)."""
    a, b = tab.panes
    fast_and_thinking(qtbot, tab)
    assert not tab.escalator.button.isEnabled()  # nothing answered yet
    run(qtbot, tab, "Why is the sky blue?")
    assert tab.escalator.sources() == [a] and tab.escalator.button.isEnabled()
    b_before = b.conversation.messages
    assert not tab.escalator.ask()
    assert tab.note.text() == "Pane 2 already answered that question with thinking: nothing to escalate"
    assert not tab.runner.running and b.conversation.messages == b_before


def test_escalation_opens_a_thinking_pane_that_answers_only_what_is_escalated(qtbot: QtBot, tab: ChatTab) -> None:
    """The seed's deployment: the fast pane answers everything; a thinking pane, opened by the first
    escalation with the library's best thinking model, gets the hard questions only, with the conversation
    before them, and goes on from its own answers when it has them; the automatic rule names what fired."""
    a, b = tab.panes
    tab.remove_pane(b)
    pick(qtbot, a, DEMO)
    small(a, max_tokens=400)
    a.set_thinking(False)
    run(qtbot, tab, "Why is the sky blue?")
    fast_before = a.conversation.messages
    with qtbot.waitSignal(tab.run_finished, timeout=60_000):
        assert tab.escalator.ask()
    assert len(tab.panes) == 2 and a.conversation.messages == fast_before  # the fast pane did not run again
    new = tab.panes[1]
    assert new in tab.escalator.only_escalations
    assert new.variant() in (Variant.THINKING_2507, Variant.HYBRID) and new.conversation is not None
    first = new.conversation.messages
    assert [m.role for m in first] == ["user", "assistant"] and first[0].content == "Why is the sky blue?"
    assert first[1].stats is not None
    note = tab.note.text()
    assert note.startswith("Pane 2 thought it over: the thinking model took"), note

    run(qtbot, tab, "Thanks, that was nice")  # chit-chat: the fast pane alone, and no escalation
    assert new.conversation.messages == first and a.conversation.messages[-2].content == "Thanks, that was nice"

    tab.escalator.auto.setChecked(True)
    run(qtbot, tab, "What is 17 * 23?")  # the grid's run (the fast pane), then the escalation's
    with qtbot.waitSignal(tab.run_finished, timeout=60_000):
        pass
    assert "Pane 2 thought it over (arithmetic (17 * 23))" in tab.note.text()
    got = new.conversation.messages
    # the fast pane's conversation before the question, with the thinking pane's own answer where it gave one
    assert [m.content for m in got if m.role == "user"] == ["Why is the sky blue?", "Thanks, that was nice",
                                                            "What is 17 * 23?"]
    assert got[1].thinking == first[1].thinking != ""  # its own first answer (with its thinking), kept
    assert got[3] == a.conversation.messages[3]  # the fast pane's answer to the message it did not see
