"""The side-by-side chat with real llama.cpp workers and generated Qwen3 GGUFs (pytest-qt)."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from chat_helpers import hardware_fitting_only, last_stats, turns
from conftest import make_hardware
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from explorer.chat.templates import SamplingPreset
from explorer.chat.transcripts import ConversationStore
from explorer.gguf.variant import Variant
from explorer.store.library import LocalModel
from explorer.testing.models import ensure_model
from explorer.testing.scripted import DEFAULT_ANSWER, DEFAULT_THINKING, ensure_scripted_model
from ui.chat.pane import ChatPane
from ui.chat.tab import ChatTab

pytestmark = pytest.mark.llama

HYBRID = "qwen3-tiny-hybrid-q8_0"
THINKING = "qwen3-tiny-thinking-q8_0"
INSTRUCT = "qwen3-tiny-instruct-q8_0"
BIG = "qwen3-fit-dense-f16"  # slow enough on the CPU to stop and kill mid-generation
GiB = 1024**3


DEMO = "demo"  # the scripted model: thinks and answers a fixed text


def model_path(name: str) -> Path:
    return ensure_scripted_model() if name == DEMO else ensure_model(name)


def local(name: str, variant: Variant | None = None) -> LocalModel:
    path = model_path(name)
    return LocalModel(key=f"file:{path}", path=path, shards=(path,), size=path.stat().st_size, repo=None,
                      filename=path.name, quant=None, arch="qwen3", variant=variant, complete=True,
                      verified=False, source="added")


MODELS = [local(HYBRID, Variant.HYBRID), local(THINKING, Variant.THINKING_2507),
          local(INSTRUCT, Variant.INSTRUCT_2507), local(BIG, Variant.HYBRID), local(DEMO)]


@pytest.fixture
def tab(qtbot: QtBot, tmp_path: Path) -> Iterator[ChatTab]:
    t = ChatTab(store=ConversationStore(tmp_path / "conversations"))
    qtbot.addWidget(t)
    t.resize(1200, 700)
    t.set_models(MODELS)
    t.set_hardware(make_hardware(ram=32, ram_free=24, vram=None))
    yield t
    t.shutdown()


def pick(qtbot: QtBot, pane: ChatPane, name: str) -> None:
    path = model_path(name)
    pane.select_path(path)
    qtbot.waitUntil(lambda: pane.info is not None and pane.info.path == path, timeout=10_000)


def small(pane: ChatPane, max_tokens: int = 24, ctx: int = 4096) -> None:
    st = pane.settings()
    st.max_tokens = max_tokens
    st.ctx = ctx
    st.seed = 7
    pane.apply_settings(st)


def run(qtbot: QtBot, tab: ChatTab, text: str = "Hello there", timeout: int = 60_000) -> None:
    tab.input.setPlainText(text)
    with qtbot.waitSignal(tab.run_finished, timeout=timeout):
        assert tab.send()


def test_two_panes_stream_at_once_thinking_on_and_off(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    pick(qtbot, a, DEMO)
    pick(qtbot, b, DEMO)
    assert a.variant() == Variant.HYBRID  # read from the template in the header
    a.set_thinking(True)
    b.set_thinking(False)
    for p in (a, b):
        small(p, max_tokens=400)
    assert tab.plan is not None and tab.plan.concurrent
    assert "together" in tab.plan_label.text().lower()
    generating: dict[int, list[float]] = {1: [], 2: []}
    for p in (a, b):
        p.driver.state_changed.connect(lambda s, n=p.number: generating[n].append(time.monotonic()) if s in (
            "generating", "ready") else None)
    texts: dict[int, int] = {1: 0, 2: 0}
    for p in (a, b):
        p.driver.text.connect(lambda th, an, n=p.number: texts.__setitem__(n, texts[n] + 1))
    run(qtbot, tab)
    for p in (a, b):
        assert p.conversation is not None
        assert [t.role for t in turns(p)] == ["user", "assistant"]
        assert last_stats(p).n_tokens > 0
        assert last_stats(p).stop_reason in ("length", "stop")
        assert texts[p.number] > 0
    # The two panes' generations overlapped in time (both were loaded and sent before either finished).
    assert a.conversation is not None and b.conversation is not None
    assert a.conversation.settings.thinking is True
    assert b.conversation.settings.thinking is False
    # Thinking off renders the hybrid template's empty think block; thinking on does not.
    assert "<think>\n\n</think>" not in a.driver.prompts[0]
    assert "<think>\n\n</think>" in b.driver.prompts[0]
    # Pane 1 thought, pane 2 did not; both answered the same text, which the transcript renders as Markdown.
    assert turns(a)[1].thinking.strip() == DEFAULT_THINKING.strip()
    assert last_stats(a).thinking_tokens > 0
    assert turns(b)[1].thinking == ""
    assert last_stats(b).thinking_tokens == 0
    for p in (a, b):
        assert turns(p)[1].content.strip() == DEFAULT_ANSWER.strip()
        assert p.transcript.message_count() == 2
        shown = p.transcript.answer_text()
        assert "Rayleigh scattering" in shown and "**Rayleigh" not in shown and "```" not in shown
    assert a.transcript.thinking_text().strip() == DEFAULT_THINKING.strip()
    assert b.transcript.thinking_text() == ""


def test_panes_on_one_file_share_one_worker_and_a_next_turn_reuses_the_prefix(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    pids: dict[int, int] = {}
    for p in (a, b):
        pick(qtbot, p, DEMO)
        small(p, max_tokens=400)
        p.driver.worker_pid.connect(lambda pid, n=p.number: pids.__setitem__(n, pid))
    a.set_thinking(True)
    b.set_thinking(False)
    loads: list[float] = []
    a.driver.loaded.connect(lambda seconds, _ctx: loads.append(seconds))
    t0 = time.monotonic()
    run(qtbot, tab)
    assert pids[1] == pids[2]  # one process for both panes: one pass over the weights per token
    # the pane says how long the person waited (the worker's start included), not the worker's own figure
    shown = float(re.search(r"Loaded in ([0-9.]+) s", a.status.text()).group(1))  # type: ignore[union-attr]
    assert loads and loads[0] <= shown + 0.05 and shown <= time.monotonic() - t0 + 0.05
    assert [(n, used) for _, n, used in tab.pool.workers()] == [(2, 2)]
    first = {p.number: last_stats(p) for p in (a, b)}
    run(qtbot, tab, "And the sunset?")
    for p in (a, b):
        assert turns(p)[-1].content.strip() == DEFAULT_ANSWER.strip()  # its own settings, as alone
        st = last_stats(p)
        assert st.prompt_tokens > first[p.number].prompt_tokens
        # what the first turn left in the lane's cells is not decoded again
        assert 0 < st.prompt_eval_tokens < st.prompt_tokens - first[p.number].prompt_tokens + 20
    assert turns(a)[-1].thinking.strip() == DEFAULT_THINKING.strip() and turns(b)[-1].thinking == ""
    b.select_path(model_path(INSTRUCT))  # a pane that leaves: the other keeps the worker
    qtbot.waitUntil(lambda: b.info is not None and b.info.path == model_path(INSTRUCT), timeout=10_000)
    run(qtbot, tab, "Once more")
    assert pids[2] != pids[1] and [(n, used) for _, n, used in tab.pool.workers()] == [(2, 1)]


def test_sharing_off_runs_each_pane_in_its_own_worker(qtbot: QtBot, tab: ChatTab) -> None:
    pids: dict[int, int] = {}
    for p in tab.panes:
        pick(qtbot, p, DEMO)
        small(p, max_tokens=400)
        p.driver.worker_pid.connect(lambda pid, n=p.number: pids.__setitem__(n, pid))
    run(qtbot, tab)
    assert pids[1] == pids[2]
    tab.share_box.setChecked(False)  # what was loaded shared is unloaded: the next message loads apart
    assert "One worker" not in tab.plan_label.text() and "Weights shared by panes 1-2" in tab.plan_label.text()
    qtbot.waitUntil(lambda: all(p.driver.state == "empty" for p in tab.panes), timeout=10_000)
    assert tab.pool.workers() == []
    run(qtbot, tab)
    assert pids[1] != pids[2] and tab.pool.workers() == []
    assert [turns(p)[-1].content.strip() for p in tab.panes] == [DEFAULT_ANSWER.strip()] * 2


def test_panes_that_do_not_fit_together_run_one_after_another(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    pick(qtbot, a, BIG)
    pick(qtbot, b, HYBRID)
    for p in (a, b):
        small(p, max_tokens=8)
    assert a.info is not None and b.info is not None
    tab.set_hardware(hardware_fitting_only(BIG, margin=2 * 1024**2))  # the big model alone, not both: two waves
    assert tab.plan is not None and len(tab.plan.waves) == 2, tab.plan
    assert "then" in tab.plan_label.text().lower()
    order: list[str] = []
    a.driver.state_changed.connect(lambda s: order.append(f"a:{s}"))
    b.driver.state_changed.connect(lambda s: order.append(f"b:{s}"))
    run(qtbot, tab)
    # Pane 1 was unloaded before pane 2 started loading.
    assert order.index("a:empty") < order.index("b:loading"), order
    assert a.conversation is not None and b.conversation is not None


def test_a_model_that_does_not_fit_needs_the_override(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    pick(qtbot, a, HYBRID)
    pick(qtbot, b, BIG)
    for p in (a, b):
        small(p, max_tokens=4)
    tab.set_hardware(hardware_fitting_only(HYBRID))  # fits the tiny one only
    assert tab.plan is not None
    assert [n for n, _ in tab.plan.blocked] == [2]
    assert b.override_box.isVisibleTo(tab) and not a.override_box.isVisibleTo(tab)
    loads: list[str] = []
    b.driver.state_changed.connect(loads.append)
    run(qtbot, tab)
    assert "loading" not in loads  # never loaded without the override
    assert b.conversation is None
    b.override_box.setChecked(True)
    assert tab.plan is not None and not tab.plan.blocked
    run(qtbot, tab, "again")
    assert b.conversation is not None and last_stats(b).n_tokens > 0


def test_thinking_switch_follows_the_variant(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    pick(qtbot, a, THINKING)
    pick(qtbot, b, INSTRUCT)
    assert a.think_box.isChecked() and not a.think_box.isEnabled()
    assert "always think" in a.think_box.toolTip()
    assert not b.think_box.isChecked() and not b.think_box.isEnabled()
    assert "never think" in b.think_box.toolTip()
    pick(qtbot, a, HYBRID)
    assert a.think_box.isEnabled()


def test_only_the_context_setting_plans_again(qtbot: QtBot, tab: ChatTab) -> None:
    """Sampling, budget, seed and the thinking switch do not change what fits: no new plan for them."""
    a = tab.panes[0]
    pick(qtbot, a, HYBRID)
    plans: list[object] = []
    tab.plan_changed.connect(plans.append)
    st = a.settings()
    st.sampling, st.budget, st.max_tokens, st.seed = SamplingPreset(0.3, 0.5, 5, 0.1), 512, 99, 3
    a.apply_settings(st)
    a.set_thinking(not a.thinking_on())
    assert plans == []
    assert a.settings().max_tokens == 99 and a.settings().budget == 512  # they were applied
    st.ctx = 16384 if st.ctx != 16384 else 8192
    a.apply_settings(st)
    assert len(plans) == 1 and tab.plan is not None and tab.plan.placement(a.number) is not None
    assert tab.requests()[0].ctx == st.ctx


def test_a_panes_stop_button_stops_that_pane_only(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    for p in (a, b):
        pick(qtbot, p, BIG)
        small(p, max_tokens=48, ctx=8192)
    small(a, max_tokens=100_000, ctx=8192)
    tab.show()
    qtbot.waitExposed(tab)
    assert not a.stop_button.isVisible()
    tab.input.setPlainText("Tell me a long story")
    assert tab.send()
    assert a.stop_button.isVisible() and b.stop_button.isVisible()
    qtbot.waitUntil(lambda: bool(a.transcript.answer_text()), timeout=60_000)
    with qtbot.waitSignal(tab.run_finished, timeout=60_000):
        qtbot.mouseClick(a.stop_button, Qt.MouseButton.LeftButton)
    assert last_stats(a).stop_reason == "stopped"
    assert last_stats(b).stop_reason != "stopped" and last_stats(b).n_tokens > 0  # pane 2 went on to its end
    assert not a.stop_button.isVisible() and a.copy_button.isVisible()


def test_stop_all_with_escape_and_send_with_ctrl_enter(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    pick(qtbot, a, BIG)
    pick(qtbot, b, BIG)
    for p in (a, b):
        small(p, max_tokens=100_000, ctx=8192)
    tab.show()
    qtbot.waitExposed(tab)
    tab.input.setFocus()
    tab.input.setPlainText("Tell me a long story")
    qtbot.keyClick(tab.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert tab.running and tab.input.toPlainText() == ""
    qtbot.waitUntil(lambda: all(p.transcript.answer_text() for p in (a, b)), timeout=60_000)
    t0 = time.monotonic()
    with qtbot.waitSignal(tab.run_finished, timeout=10_000):
        qtbot.keyClick(tab.input, Qt.Key.Key_Escape)
    stopped_in = time.monotonic() - t0
    for p in (a, b):
        assert p.conversation is not None
        assert last_stats(p).stop_reason == "stopped"
    assert stopped_in < 5


def test_a_killed_worker_is_an_error_in_its_pane_only(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    pick(qtbot, a, BIG)
    pick(qtbot, b, HYBRID)
    small(a, max_tokens=100_000, ctx=8192)
    small(b, max_tokens=16)
    tab.input.setPlainText("Go")
    pids: list[int] = []
    a.driver.worker_pid.connect(pids.append)
    with qtbot.waitSignal(tab.run_finished, timeout=60_000):
        tab.send()
        qtbot.waitUntil(lambda: bool(pids) and a.transcript.answer_text() != "", timeout=60_000)
        os.kill(pids[-1], signal.SIGKILL)
    assert a.driver.state == "failed"
    assert a.reload_button.isVisibleTo(tab)
    assert "SIGKILL" in last_stats(a).message
    assert b.conversation is not None and last_stats(b).stop_reason in ("length", "stop")
    # The pane comes back: the next message loads a fresh worker.
    small(a, max_tokens=8)
    run(qtbot, tab, "Again")
    assert a.conversation is not None
    assert last_stats(a).stop_reason in ("length", "stop")


def test_corrupt_gguf_is_a_message_not_a_crash(qtbot: QtBot, tab: ChatTab, tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(ensure_model(HYBRID).read_bytes()[:300])
    a = tab.panes[0]
    a.select_path(bad)
    qtbot.waitUntil(lambda: a.info_error is not None, timeout=10_000)
    assert "broken.gguf" in a.status.text()
    pick(qtbot, tab.panes[1], HYBRID)
    assert tab.plan is not None and [p.pane for w in tab.plan.waves for p in w] == [2]


def test_regenerate_clear_save_export_and_reopen(qtbot: QtBot, tab: ChatTab, tmp_path: Path) -> None:
    a, b = tab.panes
    pick(qtbot, a, DEMO)
    tab.remove_pane(b)
    assert len(tab.panes) == 1
    small(a, max_tokens=400)
    run(qtbot, tab, "First question")
    first = turns(a)[-1].content
    st = a.settings()
    st.seed = 8
    a.apply_settings(st)
    with qtbot.waitSignal(tab.run_finished, timeout=60_000):
        assert tab.regenerate()
    messages = turns(a)
    assert [t.role for t in messages] == ["user", "assistant"]
    assert messages[0].content == "First question"
    assert messages[1].content == first  # the scripted model answers the same again
    with qtbot.waitSignal(tab.history.saved, timeout=10_000) as saved:
        tab.save()
    path = saved.args[0]
    data = json.loads(Path(path).read_text())
    assert data["panes"][0]["turns"][1]["content"] == messages[1].content
    md = tmp_path / "out.md"
    with qtbot.waitSignal(tab.history.export_runner.result, timeout=10_000):
        tab.history.export("md", md)
    assert "First question" in md.read_text()
    session_id = tab.session_id
    shown = a.transcript.answer_text()
    tab.clear_all()
    assert a.transcript.message_count() == 0 and tab.session_id is None
    assert Path(path).stem == session_id
    with qtbot.waitSignal(tab.history.open_runner.result, timeout=10_000):
        tab.history.open(path)
    qtbot.waitUntil(lambda: not a.transcript.restoring, timeout=10_000)
    assert a.transcript.message_count() == 2
    assert a.transcript.answer_text() == shown
    assert a.transcript.thinking_text() == messages[1].thinking


def test_copy_pane_keeps_the_model_and_switches_thinking(qtbot: QtBot, tab: ChatTab) -> None:
    a = tab.panes[0]
    pick(qtbot, a, HYBRID)
    a.set_thinking(True)
    copy = tab.add_pane(copy_of=a)
    assert copy is not None and copy.number == 3
    qtbot.waitUntil(lambda: copy.info is not None, timeout=10_000)
    assert copy.model_path() == a.model_path()
    assert copy.thinking_on() is False
    tab.add_pane()
    assert len(tab.panes) == 4 and not tab.add_button.isEnabled()
    assert tab.add_pane() is None


def test_no_hardware_yet_means_no_send(qtbot: QtBot, tmp_path: Path) -> None:
    t = ChatTab(store=ConversationStore(tmp_path))
    qtbot.addWidget(t)
    t.set_models(MODELS)
    pick(qtbot, t.panes[0], HYBRID)
    assert not t.send_button.isEnabled()
    assert "Detecting hardware" in t.plan_label.text()
    t.shutdown()
    QApplication.processEvents()
