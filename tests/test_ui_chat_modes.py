"""The chat tab's pane modes (chatroom with a system prompt, free-form, fill-in-the-middle), sampling
settings, sweeps and the fastest mark, with real llama.cpp workers and generated Qwen3 GGUFs (issue 11)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from chat_helpers import last_stats, turns
from conftest import make_hardware
from PySide6.QtGui import QColor, QGuiApplication, QTextCursor
from PySide6.QtWidgets import QApplication, QDialogButtonBox
from pytestqt.qtbot import QtBot

from explorer.chat.records import Message, MessageStats, PaneMode
from explorer.chat.sweep_plan import SweepParam, SweepPlan
from explorer.chat.templates import SamplingPreset
from explorer.chat.transcripts import ConversationStore
from explorer.gguf.variant import Variant
from explorer.store.library import LocalModel
from explorer.testing.models import TEST_MODELS, ensure_model
from explorer.testing.scripted import DEFAULT_ANSWER, ensure_scripted_model
from ui import theme
from ui.chat.fim_editor import NO_FIM_NOTE
from ui.chat.fim_view import FimResult, middle_background
from ui.chat.mode_panel import APP_TEMPLATE_NOTE
from ui.chat.pane import ChatPane
from ui.chat.tab import MAX_PANES, ChatTab
from ui.chat.transcript import TranscriptView
from ui.guide.chart_view import contrast

pytestmark = pytest.mark.llama

NO_FIM = replace(TEST_MODELS["qwen3-tiny-hybrid-q8_0"], name="qwen3-tiny-nofim-q8_0", fim_tokens=False)
BASE = "qwen3-tiny-base-f16"


def local(path: Path, variant: Variant | None = None) -> LocalModel:
    return LocalModel(key=f"file:{path}", path=path, shards=(path,), size=path.stat().st_size, repo=None,
                      filename=path.name, quant=None, arch="qwen3", variant=variant, complete=True,
                      verified=False, source="added")


@pytest.fixture
def tab(qtbot: QtBot, tmp_path: Path) -> Iterator[ChatTab]:
    t = ChatTab(store=ConversationStore(tmp_path / "conversations"))
    qtbot.addWidget(t)
    t.resize(1400, 800)
    t.set_models([local(ensure_scripted_model()), local(ensure_model(NO_FIM), Variant.HYBRID),
                  local(ensure_model(BASE), Variant.BASE)])
    t.set_hardware(make_hardware(ram=32, ram_free=24, vram=None))
    yield t
    t.shutdown()


def pick(qtbot: QtBot, pane: ChatPane, path: Path, *, max_tokens: int = 400, seed: int = 7) -> None:
    pane.select_path(path)
    qtbot.waitUntil(lambda: pane.info is not None and pane.info.path == path, timeout=10_000)
    st = pane.settings()
    pane.apply_settings(replace(st, max_tokens=max_tokens, ctx=4096, seed=seed))


def run(qtbot: QtBot, tab: ChatTab, text: str = "Why is the sky blue?") -> None:
    tab.input.setPlainText(text)
    with qtbot.waitSignal(tab.run_finished, timeout=60_000):
        assert tab.send()


def test_each_pane_has_its_mode_and_what_it_needs(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    pick(qtbot, a, ensure_scripted_model())
    pick(qtbot, b, ensure_model(BASE))
    # A hybrid model chats; a Base model completes free-form text: their defaults.
    assert a.mode_panel.mode() is PaneMode.CHATROOM and b.mode_panel.mode() is PaneMode.FREE_FORM
    assert a.mode_panel.system_edit.isVisibleTo(a) and not a.mode_panel.fim.isVisibleTo(a)
    assert b.mode_panel.free_note.isVisibleTo(b) and not b.mode_panel.system_edit.isVisibleTo(b)
    assert a.think_box.isEnabled()
    # The Base GGUF has no chat template: in a chatroom the app supplies one, and says so.
    b.mode_panel.set_mode(PaneMode.CHATROOM)
    assert b.mode_panel.template_note.isVisibleTo(b) and b.mode_panel.template_note.text() == APP_TEMPLATE_NOTE
    assert not a.mode_panel.template_note.isVisibleTo(a)
    # Fill-in-the-middle: the code editors; no template, so no thinking switch.
    a.mode_panel.set_mode(PaneMode.FIM)
    assert a.mode_panel.fim.isVisibleTo(a) and not a.mode_panel.system_edit.isVisibleTo(a)
    assert not a.think_box.isEnabled()
    assert a.settings().mode is PaneMode.FIM and b.settings().mode is PaneMode.CHATROOM
    # A choice the person made stays when the model's header is read again.
    a.mode_panel.set_model(a.info)
    assert a.mode_panel.mode() is PaneMode.FIM


def test_free_form_goes_as_typed_and_the_system_prompt_reaches_the_template(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    pick(qtbot, a, ensure_scripted_model(), max_tokens=16)
    pick(qtbot, b, ensure_scripted_model(), max_tokens=16)
    a.mode_panel.system_edit.setPlainText("You are a terse physicist.")
    b.mode_panel.set_mode(PaneMode.FREE_FORM)
    typed = "Once upon a time, the sky \n"
    run(qtbot, tab, typed)
    assert b.driver.prompts == (typed,)  # exactly as typed: no template, nothing stripped
    assert a.driver.prompts[0].startswith("<|im_start|>system\nYou are a terse physicist.<|im_end|>\n")
    assert "<|im_start|>user\nOnce upon a time, the sky<|im_end|>" in a.driver.prompts[0]
    assert a.conversation is not None and a.conversation.settings.system == "You are a terse physicist."
    assert b.conversation is not None and b.conversation.settings.mode is PaneMode.FREE_FORM
    # An empty system prompt: the template's own default (none in Qwen3's), the old one gone.
    a.mode_panel.system_edit.setPlainText("")
    run(qtbot, tab, "Again")
    assert "<|im_start|>system" not in a.driver.prompts[-1]


def test_fim_sends_prefix_and_suffix_and_shows_the_middle_highlighted(qtbot: QtBot, tab: ChatTab,
                                                                       restore_theme: None) -> None:
    a, b = tab.panes
    tab.remove_pane(b)
    pick(qtbot, a, ensure_scripted_model())
    a.mode_panel.set_mode(PaneMode.FIM)
    prefix, suffix = "def sky_colour():\n    ", "\n    return colour\n"
    a.mode_panel.fim.set_texts(prefix, suffix)
    run(qtbot, tab, "")  # the message box may be empty: the pane sends its editors
    assert not a.think_box.isEnabled()  # no template: nothing to switch (also after the run unlocks the pane)
    question, answer = turns(a)
    assert (question.role, question.content, question.suffix) == ("user", prefix, suffix)
    assert answer.content == DEFAULT_ANSWER and last_stats(a).stop_reason == "stop"
    assert last_stats(a).prompt_tokens > 0
    result = a.transcript.assistant()
    assert isinstance(result, FimResult)
    assert result.answer_text() == DEFAULT_ANSWER
    assert result.view.toPlainText() == prefix + DEFAULT_ANSWER + suffix
    def background(at: int) -> str:
        cursor = QTextCursor(result.view.document())
        cursor.setPosition(at)  # the format of the character before the position
        return str(cursor.charFormat().background().color().name())

    light = middle_background()
    assert background(len(prefix) + 1) == light and background(len(prefix)) != light
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    theme.set_theme(app, "dark")  # the middle already shown takes the dark colours (light text stays readable)
    dark = middle_background()
    assert dark != light and background(len(prefix) + 1) == dark and background(len(prefix)) != dark
    assert contrast(QColor(theme.TEXT_NORMAL), QColor(dark)) >= 4.5
    theme.set_theme(app, "light")
    assert background(len(prefix) + 1) == light
    result.copy_button.click()
    assert QGuiApplication.clipboard().text() == prefix + DEFAULT_ANSWER + suffix
    assert "prompt" in result.stats_line.text()  # prompt tokens and prefill speed


def test_regenerate_asks_the_last_fim_question_again_whatever_the_editors_hold(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    tab.remove_pane(b)
    pick(qtbot, a, ensure_scripted_model())
    a.mode_panel.set_mode(PaneMode.FIM)
    a.mode_panel.fim.set_texts("def f():\n    ", "\n")
    run(qtbot, tab, "")
    a.mode_panel.fim.set_texts("something else", "entirely")  # edited after the answer
    with qtbot.waitSignal(tab.run_finished, timeout=20_000):
        assert tab.regenerate()
    question, answer = turns(a)  # the answer was replaced, not a second question added
    assert (question.content, question.suffix) == ("def f():\n    ", "\n") and answer.content == DEFAULT_ANSWER


def test_an_empty_prefix_and_suffix_is_refused_and_nothing_is_lost(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    pick(qtbot, a, ensure_scripted_model(), max_tokens=16)
    pick(qtbot, b, ensure_scripted_model(), max_tokens=16)
    run(qtbot, tab, "First question")
    before = turns(b)
    b.mode_panel.set_mode(PaneMode.FIM)
    run(qtbot, tab, "Second question")  # pane 1 answers; pane 2 has nothing to fill around
    assert len(turns(a)) == 4
    assert turns(b) == before
    assert b.transcript.message_count() == 2
    notices = [w.text() for w in b.transcript.findChildren(type(a.status)) if w.objectName() == "noticeLine"]
    assert notices == ["Not run: Fill-in-the-middle needs a prefix or a suffix (both are empty)"]
    # Only FIM panes, all empty: nothing runs.
    a.mode_panel.set_mode(PaneMode.FIM)
    tab.input.setPlainText("")
    assert not tab.send()
    assert not tab.running


def test_fim_to_a_model_without_fim_tokens_says_so_and_sends_nothing(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    tab.remove_pane(b)
    path = ensure_model(NO_FIM)
    pick(qtbot, a, path, max_tokens=16)
    a.mode_panel.set_mode(PaneMode.FIM)
    a.mode_panel.fim.set_texts("int main() {", "}")
    run(qtbot, tab, "")
    assert a.driver.state == "ready" and a.driver.fim is False
    assert a.driver.prompts == ()  # nothing went to the model
    errors = [w.text() for w in a.transcript.findChildren(type(a.status)) if w.objectName() == "errorLine"]
    assert len(errors) == 1 and "no fill-in-the-middle tokens" in errors[0] and "\n" not in errors[0]
    qtbot.waitUntil(lambda: a.mode_panel.fim.note.text() == NO_FIM_NOTE)
    assert a.mode_panel.fim.note.isVisibleTo(a)
    # Now that the pane knows, it refuses before anything runs; chatroom still works on the same model.
    tab.input.setPlainText("")
    assert not tab.send()
    a.mode_panel.set_mode(PaneMode.CHATROOM)
    run(qtbot, tab, "Hello")
    assert [m.role for m in turns(a)][-2:] == ["user", "assistant"] and last_stats(a).n_tokens > 0


def test_sampling_spin_boxes_reach_the_conversation(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    tab.remove_pane(b)
    pick(qtbot, a, ensure_scripted_model(), max_tokens=16, seed=123)
    form = a.settings_form
    # The ranges are SamplingPreset.check()'s: out-of-range values cannot be entered.
    assert (form.temperature.minimum(), form.temperature.maximum()) == (0.0, 5.0)
    assert form.top_p.minimum() > 0 and form.top_p.maximum() == 1.0
    assert (form.presence_penalty.minimum(), form.presence_penalty.maximum()) == (-2.0, 2.0)
    assert "greedy" in form.temperature.toolTip() and "1.5" in form.presence_penalty.toolTip()
    assert not form.temperature.isEnabled()  # Qwen's preset by default
    form.preset_box.setChecked(True)
    form.preset_box.setChecked(False)
    form.temperature.setValue(-1)
    assert form.temperature.value() == 0.0
    form.top_p.setValue(0.9)
    form.top_k.setValue(5)
    form.min_p.setValue(0.05)
    form.presence_penalty.setValue(1.5)
    form.repeat_penalty.setValue(1.1)
    summary = a.mode_panel.summary.full_text()
    assert "temp 0 (greedy)" in summary and "presence 1.5" in summary
    run(qtbot, tab, "Hello")
    assert a.conversation is not None
    assert a.conversation.settings.sampling == SamplingPreset(0.0, 0.9, 5, 0.05, 1.5, 1.1)
    assert a.conversation.settings.seed == 123


def test_sweep_makes_panes_with_their_own_values_one_seed_and_marks_the_fastest(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    pick(qtbot, a, ensure_scripted_model(), max_tokens=24)
    plan = SweepPlan(SweepParam.TEMPERATURE, (0.0, 0.6, 1.0, 1.5), seed=42)
    assert MAX_PANES == 4
    assert tab.sweep(a, plan) is None  # with pane 2 open, 4 more would make 5
    assert "tab holds 4" in tab.note.text() and len(tab.panes) == 2
    tab.remove_pane(b)
    # The dialog: values are checked as typed; OK makes the sweep.
    dialog = tab.open_sweep(a)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert dialog.values.text() == "0, 0.6, 1.0, 1.5" and ok.isEnabled()
    dialog.values.setText("0, -1")
    assert not ok.isEnabled() and "temperature must be" in dialog.note.text()
    dialog.values.setText("0, 0.6, 1.0, 1.5, 2")
    assert not ok.isEnabled() and "room for 4" in dialog.note.text()
    dialog.values.setText("0, 0.6, 1.0, 1.5")
    dialog.seed.setValue(42)
    ok.click()
    panes = tab.panes
    assert len(panes) == 4 and panes[0] is a
    qtbot.waitUntil(lambda: all(p.info is not None for p in panes), timeout=10_000)
    settings = [p.settings() for p in panes]
    assert [s.sampling.temperature for s in settings if s.sampling] == [0.0, 0.6, 1.0, 1.5]
    assert {s.seed for s in settings} == {42}
    assert {s.sampling.top_p for s in settings if s.sampling} == {0.95}  # the rest of the preset stays
    assert tab.plan is not None and tab.plan.concurrent
    assert "One worker for panes 1-4" in tab.plan_label.text()
    # four panes: where each runs is in the tooltip, so the line stays short
    assert "pane 4 (" not in tab.plan_label.text() and "pane 4 (" in tab.plan_label.toolTip()
    assert tab.plan_label.text().count("\n") <= 2
    run(qtbot, tab, "Why is the sky blue?")
    assert [(n, used) for _, n, used in tab.pool.workers()] == [(4, 4)]  # four lanes of one worker
    for p, temperature in zip(panes, (0.0, 0.6, 1.0, 1.5), strict=True):
        assert p.conversation is not None and p.conversation.settings.seed == 42
        assert p.conversation.settings.sampling is not None
        assert p.conversation.settings.sampling.temperature == temperature
    speeds = [last_stats(p).tokens_per_s for p in panes]
    marked = [p for p in panes if p.transcript.assistant().fastest]
    assert len(marked) == 1 and last_stats(marked[0]).tokens_per_s == max(speeds)
    assert marked[0].transcript.assistant().fastest_badge.isVisibleTo(marked[0])


def test_a_mode_sweep(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    tab.remove_pane(b)
    pick(qtbot, a, ensure_scripted_model(), max_tokens=16)
    panes = tab.sweep(a, SweepPlan(SweepParam.MODE, (PaneMode.CHATROOM, PaneMode.FREE_FORM), seed=3))
    assert panes is not None and [p.mode_panel.mode() for p in panes] == [PaneMode.CHATROOM, PaneMode.FREE_FORM]
    assert [p.settings().seed for p in panes] == [3, 3]
    qtbot.waitUntil(lambda: "One worker for panes 1-2" in tab.plan_label.text(), timeout=10_000)


def test_a_saved_fim_answer_reopens_as_prefix_middle_and_suffix(qtbot: QtBot) -> None:
    view = TranscriptView()
    qtbot.addWidget(view)
    view.resize(500, 400)
    view.load_messages([Message("user", "Hi"), Message("assistant", "Hello", stats=MessageStats(n_tokens=1)),
                        Message("user", "a = ", suffix="\nprint(a)"), Message("assistant", "41 + 1",
                                                                               stats=MessageStats(n_tokens=3))])
    result = view.assistant()
    assert isinstance(result, FimResult) and view.message_count() == 3  # the FIM question is in its result
    assert result.full_text() == "a = 41 + 1\nprint(a)" and result.stats_line.text()


def test_the_think_box_reads_off_outside_a_chatroom_and_comes_back(qtbot: QtBot, tab: ChatTab) -> None:
    a = tab.panes[0]
    pick(qtbot, a, ensure_scripted_model())  # a hybrid model: thinking on by default
    a.set_thinking(False)  # the person's choice in the chatroom
    a.set_thinking(True)
    for mode in (PaneMode.FIM, PaneMode.FREE_FORM):
        a.mode_panel.set_mode(mode)
        assert not a.think_box.isChecked() and not a.think_box.isEnabled()
    assert a.mode_panel.system_caption.isHidden() and a.mode_panel.system_edit.isHidden()
    a.mode_panel.set_mode(PaneMode.CHATROOM)
    assert a.think_box.isChecked() and a.think_box.isEnabled()
    assert not a.mode_panel.system_caption.isHidden()  # "System prompt" stays readable once the box is filled
