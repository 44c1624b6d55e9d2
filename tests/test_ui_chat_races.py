"""Chat tab edge cases that real llama.cpp is too quick (or too well-behaved) to hit on demand.

A scripted engine stands in for the worker process: loads take as long as the test says, generation
streams a few tokens a second. The panes, the driver thread, the plan and the transcript are real.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from chat_helpers import hardware_fitting_only, last_stats, model_with_template, questions
from conftest import make_hardware
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from explorer.chat.records import Message, ModelRef, PaneRecord, PaneSettings, Session
from explorer.chat.sandbox import RenderLimits
from explorer.chat.transcripts import ConversationStore
from explorer.engine.messages import Done, Event, Loaded, Tokens
from explorer.gguf.variant import Variant
from explorer.store.library import LocalModel
from explorer.testing.models import ensure_model
from ui.chat.pane import ChatPane
from ui.chat.tab import ChatTab

HYBRID = "qwen3-tiny-hybrid-f16"
BIG = "qwen3-fit-dense-f16"
GiB = 1024**3
# A chat template that renders ChatML but rejects any conversation holding the question "second".
REJECTS_SECOND = ("{% for m in messages %}{% if m.content == 'second' %}"
                  "{{ raise_exception('no second question here') }}{% endif %}"
                  "<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                  "<|im_start|>assistant\n")


class ScriptedEngine:
    """EngineClient's interface; loads take `load_seconds`, tokens come every `token_seconds`."""

    load_seconds = 0.05
    token_seconds = 0.02
    starts: ClassVar[list[tuple[str, int]]] = []  # (path, n_ctx) of every start, across instances
    unload_delays: ClassVar[dict[str, float]] = {}  # model path -> extra seconds its unload takes

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._load_at: float | None = None
        self._gen: tuple[str, float, int, int] | None = None  # request id, next token time, sent, max
        self._stop = False
        self._alive = False
        self._loaded = False
        self._path = ""

    def start(self, path: str | Path, *, n_ctx: int, n_gpu_layers: int = 0, n_threads: int | None = None,
              **_: object) -> None:
        ScriptedEngine.starts.append((str(path), n_ctx))
        self._path = str(path)
        self._alive, self._loaded = True, False
        self._load_at = time.monotonic() + self.load_seconds

    def unload(self, timeout: float = 5.0) -> None:
        if self._alive:
            time.sleep(self.unload_delays.get(self._path, 0.0))  # a big model's worker takes a while to end
        self._alive = self._loaded = False
        self._load_at = None
        self._gen = None

    @property
    def alive(self) -> bool:
        return self._alive

    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def pid(self) -> int | None:
        return None

    def generate(self, request_id: str, prompt: str, *, max_tokens: int, **_: object) -> None:
        self._stop = False
        self._gen = (request_id, time.monotonic(), 0, max_tokens)

    def stop(self) -> None:
        self._stop = True

    def idle_waitables(self) -> list[object] | None:
        return []  # idle, nothing happens here

    def poll(self, timeout: float | None = 0.0) -> list[Event]:
        time.sleep(min(timeout or 0.0, 0.005))
        now = time.monotonic()
        out: list[Event] = []
        if self._load_at is not None and now >= self._load_at:
            self._load_at = None
            self._loaded = True
            out.append(Loaded(self.load_seconds, 4096))
        if self._gen is not None:
            rid, at, sent, most = self._gen
            if self._stop or sent >= most:
                out.append(Done(rid, "stopped" if self._stop else "length", 5, sent, 0.01, 50.0))
                self._gen = None
            elif now >= at:
                out.append(Tokens(rid, " word", 1))
                self._gen = (rid, now + self.token_seconds, sent + 1, most)
        return out


def local(name: str) -> LocalModel:
    path = ensure_model(name)
    return LocalModel(key=f"file:{path}", path=path, shards=(path,), size=path.stat().st_size, repo=None,
                      filename=path.name, quant=None, arch="qwen3", variant=Variant.HYBRID, complete=True,
                      verified=False, source="added")


@pytest.fixture
def tab(qtbot: QtBot, tmp_path: Path) -> Iterator[ChatTab]:
    ScriptedEngine.load_seconds, ScriptedEngine.token_seconds = 0.05, 0.02
    ScriptedEngine.starts = []
    ScriptedEngine.unload_delays = {}
    t = ChatTab(store=ConversationStore(tmp_path), client_factory=ScriptedEngine)  # type: ignore[arg-type]
    qtbot.addWidget(t)
    t.set_models([local(HYBRID), local(BIG)])
    t.set_hardware(make_hardware(vram=None))
    yield t
    t.shutdown()


def pick(qtbot: QtBot, pane: ChatPane, name: str, max_tokens: int = 5) -> None:
    path = ensure_model(name)
    pane.select_path(path)
    qtbot.waitUntil(lambda: pane.info is not None and pane.info.path == path, timeout=10_000)
    st = pane.settings()
    st.max_tokens = max_tokens
    st.ctx = 4096
    pane.apply_settings(st)


def slow_unload(pane: ChatPane, seconds: float) -> None:
    """Make the pane's worker take `seconds` longer to unload (as a big model's can)."""
    ScriptedEngine.unload_delays[str(pane.model_path())] = seconds


def send(tab: ChatTab, text: str = "hi") -> None:
    tab.input.setPlainText(text)
    assert tab.send()


def test_stop_while_loading_ends_the_run_and_the_next_one_works(qtbot: QtBot, tab: ChatTab) -> None:
    a = tab.panes[0]
    tab.remove_pane(tab.panes[1])
    pick(qtbot, a, HYBRID)
    ScriptedEngine.load_seconds = 5.0
    send(tab)
    qtbot.waitUntil(lambda: a.driver.state == "loading", timeout=5_000)
    with qtbot.waitSignal(tab.run_finished, timeout=5_000):
        tab.stop_all()
    assert not a.running and a.conversation is None
    # The run ends first ("Stopped before the model had loaded."), then the abandoned load is unloaded.
    qtbot.waitUntil(lambda: a.driver.state == "empty", timeout=5_000)
    lines = {name: [w.text() for w in a.transcript.findChildren(QLabel, name)] for name in ("noticeLine", "errorLine")}
    assert lines == {"noticeLine": ["Stopped before the model had loaded."], "errorLine": []}  # not an error
    ScriptedEngine.load_seconds = 0.01
    with qtbot.waitSignal(tab.run_finished, timeout=5_000):
        send(tab, "again")
    assert a.conversation is not None
    assert last_stats(a).stop_reason == "length"


def test_stop_pressed_before_the_driver_starts_loading(qtbot: QtBot, tab: ChatTab) -> None:
    """Esc right after Send: the stop is queued behind the run; the run still ends, nothing generates."""
    a = tab.panes[0]
    tab.remove_pane(tab.panes[1])
    pick(qtbot, a, HYBRID)
    with qtbot.waitSignal(tab.run_finished, timeout=5_000):
        send(tab)
        tab.stop_all()
    assert a.conversation is None or last_stats(a).stop_reason == "stopped"
    assert not tab.running and tab.send_button.isEnabled()


def test_a_template_that_rejects_the_conversation_is_an_error_not_a_dead_pane(qtbot: QtBot, tab: ChatTab,
                                                                             tmp_path: Path) -> None:
    a = tab.panes[0]
    tab.remove_pane(tab.panes[1])
    picky = model_with_template(HYBRID, REJECTS_SECOND, tmp_path)
    a.select_path(picky)
    qtbot.waitUntil(lambda: a.info is not None, timeout=10_000)
    st = a.settings()
    st.max_tokens = 5
    a.apply_settings(st)
    with qtbot.waitSignal(tab.run_finished, timeout=5_000):
        send(tab, "hi")
    with qtbot.waitSignal(tab.run_finished, timeout=5_000):
        send(tab, "second")
    errors = [w.text() for w in a.transcript.findChildren(type(a.status), "errorLine")]
    assert any("rejected the conversation" in e and "no second question here" in e for e in errors), errors
    # The pane goes on, and the rejected question did not enter the history (else this one fails too).
    with qtbot.waitSignal(tab.run_finished, timeout=5_000):
        send(tab, "third")
    assert a.conversation is not None
    assert questions(a) == ["hi", "third"]


def test_escape_between_waves_runs_no_more_panes(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    pick(qtbot, a, BIG, max_tokens=1000)
    pick(qtbot, b, HYBRID)
    tab.set_hardware(hardware_fitting_only(BIG))
    assert tab.plan is not None and len(tab.plan.waves) == 2
    with qtbot.waitSignal(tab.run_finished, timeout=10_000):
        send(tab)
        qtbot.waitUntil(lambda: a.driver.state == "generating", timeout=5_000)
        tab.stop_all()
    assert b.conversation is None
    assert all(path != str(ensure_model(HYBRID)) for path, _ in ScriptedEngine.starts)


def test_controls_are_locked_during_a_run(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    pick(qtbot, a, HYBRID, max_tokens=1000)
    pick(qtbot, b, HYBRID, max_tokens=1000)
    send(tab)
    for p in (a, b):
        assert not p.model_combo.isEnabled() and not p.settings_button.isEnabled()
        assert not p.copy_button.isEnabled() and not p.close_button.isEnabled()
    assert not tab.add_button.isEnabled() and not tab.send_button.isEnabled()
    with qtbot.waitSignal(tab.run_finished, timeout=5_000):
        tab.stop_all()
    assert a.model_combo.isEnabled() and a.think_box.isEnabled()


def test_regenerate_in_a_pane_that_was_left_out_asks_as_a_new_question(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    pick(qtbot, a, HYBRID)
    pick(qtbot, b, HYBRID)
    with qtbot.waitSignal(tab.run_finished, timeout=5_000):
        send(tab, "first")
    b.model_combo.setCurrentIndex(0)  # pane 2 sits the second question out
    with qtbot.waitSignal(tab.run_finished, timeout=5_000):
        send(tab, "second")
    pick(qtbot, b, HYBRID)
    with qtbot.waitSignal(tab.run_finished, timeout=5_000):
        assert tab.regenerate()
    users_a = questions(a)
    users_b = questions(b)
    assert users_a == ["first", "second"]
    assert users_b == ["first", "second"]  # "first" and its answer were kept


def test_removing_a_pane_does_not_wait_for_its_worker(qtbot: QtBot, tab: ChatTab) -> None:
    b = tab.panes[1]
    pick(qtbot, b, HYBRID)
    ScriptedEngine.load_seconds = 0.0
    with qtbot.waitSignal(tab.run_finished, timeout=5_000):
        send(tab)
    slow_unload(b, 1.0)
    tab.remove_pane(b)
    assert b in tab.closing_panes  # it returned while the worker was still unloading
    qtbot.waitUntil(lambda: b not in tab.closing_panes, timeout=10_000)
    assert len(tab.panes) == 1 and tab.panes[0].number == 1
    qtbot.waitUntil(lambda: not tab.closing_panes, timeout=5_000)


def test_escape_while_the_previous_wave_unloads(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = tab.panes
    pick(qtbot, a, BIG, max_tokens=2)
    pick(qtbot, b, HYBRID)
    tab.set_hardware(hardware_fitting_only(BIG))
    slow_unload(a, 0.5)
    with qtbot.waitSignal(tab.run_finished, timeout=10_000):
        send(tab)
        qtbot.waitUntil(lambda: tab.running and bool(tab.unloading), timeout=5_000)
        tab.stop_all()
    assert b.conversation is None
    assert all(path != str(ensure_model(HYBRID)) for path, _ in ScriptedEngine.starts)
    notices = [w.text() for w in b.transcript.findChildren(type(b.status), "noticeLine")]
    assert "Not run: stopped." in notices
    assert "Waiting" not in b.status.text()


def test_regenerate_asks_the_last_question_even_when_it_was_stopped_early(qtbot: QtBot, tab: ChatTab) -> None:
    a = tab.panes[0]
    tab.remove_pane(tab.panes[1])
    pick(qtbot, a, HYBRID)
    with qtbot.waitSignal(tab.run_finished, timeout=5_000):
        send(tab, "first")
    a.unload()
    qtbot.waitUntil(lambda: a.driver.state == "empty", timeout=5_000)
    ScriptedEngine.load_seconds = 5.0
    with qtbot.waitSignal(tab.run_finished, timeout=5_000):
        send(tab, "second")
        qtbot.waitUntil(lambda: a.driver.state == "loading", timeout=5_000)
        tab.stop_all()
    ScriptedEngine.load_seconds = 0.01
    with qtbot.waitSignal(tab.run_finished, timeout=5_000):
        assert tab.regenerate()
    users = questions(a)
    assert users == ["first", "second"]  # "second" asked again, "first" and its answer kept


def test_a_library_rescan_during_a_run_keeps_a_model_it_does_not_list(qtbot: QtBot, tab: ChatTab,
                                                                       tmp_path: Path) -> None:
    a = tab.panes[0]
    tab.remove_pane(tab.panes[1])
    outside = tmp_path / "elsewhere.gguf"
    outside.write_bytes(ensure_model(HYBRID).read_bytes())
    a.select_path(outside)  # e.g. from a reopened conversation: not in the library
    qtbot.waitUntil(lambda: a.info is not None, timeout=10_000)
    st = a.settings()
    st.max_tokens = 1000
    a.apply_settings(st)
    send(tab)
    qtbot.waitUntil(lambda: a.driver.state == "generating", timeout=5_000)
    tab.set_models([local(BIG)])  # a download finished: the library was scanned again
    assert a.model_path() == outside and a.driver.state == "generating"
    with qtbot.waitSignal(tab.run_finished, timeout=5_000):
        tab.stop_all()
    assert last_stats(a).stop_reason == "stopped"


def two_waves_after_a_run(qtbot: QtBot, tab: ChatTab) -> tuple[ChatPane, ChatPane]:
    """Pane 1 (big) and pane 2 (tiny) that do not fit together, after one run: pane 2 is loaded."""
    a, b = tab.panes
    pick(qtbot, a, BIG)
    pick(qtbot, b, HYBRID)
    tab.set_hardware(hardware_fitting_only(BIG))
    with qtbot.waitSignal(tab.run_finished, timeout=10_000):
        send(tab)
    return a, b


def test_reload_unloads_the_other_waves_first(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = two_waves_after_a_run(qtbot, tab)
    assert b.driver.state == "ready" and a.driver.state == "empty"  # the second wave is still loaded
    order: list[str] = []
    a.driver.state_changed.connect(lambda s: order.append(f"a:{s}"))
    b.driver.state_changed.connect(lambda s: order.append(f"b:{s}"))
    tab.reload_pane(a)
    qtbot.waitUntil(lambda: a.driver.state == "ready", timeout=5_000)
    assert b.driver.state == "empty"
    assert order.index("b:empty") < order.index("a:loading"), order


def test_closing_a_pane_that_a_reload_waits_for_lets_the_reload_go_on(qtbot: QtBot, tab: ChatTab) -> None:
    a, b = two_waves_after_a_run(qtbot, tab)
    slow_unload(b, 0.3)
    tab.reload_pane(a)
    assert tab.unloading == {b} and not tab.send_button.isEnabled()
    tab.remove_pane(b)
    qtbot.waitUntil(lambda: a.driver.state == "ready", timeout=5_000)
    assert not tab.unloading and tab.send_button.isEnabled()


def test_no_save_after_shutdown(qtbot: QtBot, tab: ChatTab) -> None:
    a = tab.panes[0]
    pick(qtbot, a, HYBRID)
    with qtbot.waitSignal(tab.run_finished, timeout=5_000):
        send(tab)
    tab.shutdown()
    folder = tab.store.folder
    saved = {f.name: f.read_bytes() for f in folder.glob("*.json")}
    assert saved  # the run was saved when it ended
    tab.save()  # a late signal after exit: nothing happens, nothing raises
    a.message_done.emit(a)
    a.driver.unloaded.emit()
    qtbot.wait(200)  # any save a late signal started (saves run off the GUI thread) has had its chance
    assert {f.name: f.read_bytes() for f in folder.glob("*.json")} == saved


def test_hardware_detection_failure_says_so(qtbot: QtBot, tmp_path: Path) -> None:
    t = ChatTab(store=ConversationStore(tmp_path), client_factory=ScriptedEngine)  # type: ignore[arg-type]
    qtbot.addWidget(t)
    t.set_hardware_error("NVML exploded")
    assert "Hardware detection failed (NVML exploded)" in t.plan_label.text()
    assert not t.send_button.isEnabled()
    t.shutdown()


def test_a_runaway_template_ends_in_the_pane_at_the_time_limit(qtbot: QtBot, tmp_path: Path) -> None:
    """A template that would compute for minutes: the pane says so after the limit, the app goes on."""
    t = ChatTab(store=ConversationStore(tmp_path), client_factory=ScriptedEngine,  # type: ignore[arg-type]
                render_limits=RenderLimits(seconds=0.5))
    qtbot.addWidget(t)
    t.set_hardware(make_hardware(vram=None))
    t.remove_pane(t.panes[1])
    a = t.panes[0]
    a.select_path(model_with_template(HYBRID, "{% set n = messages|length %}{{ (n+9)**(10**9) }}", tmp_path))
    qtbot.waitUntil(lambda: a.info is not None, timeout=10_000)
    with qtbot.waitSignal(t.run_finished, timeout=20_000):
        send(t, "hi")
        assert t.running  # sent: the template renders on the pane's thread, in a child process
    errors = [w.text() for w in a.transcript.findChildren(QLabel, "errorLine")]
    assert errors == ["The model's chat template did not finish in 0.5 s."]
    assert a.conversation is None and t.send_button.isEnabled()
    t.shutdown()


def saved_session(sid: str, title: str) -> Session:
    return Session(sid, title, "2026-12-01T10:00:00+00:00", "2026-12-01T10:00:00+00:00",
                   (PaneRecord(1, ModelRef("a model"), PaneSettings(), (Message("user", title),)),))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_the_conversations_list_survives_a_hostile_folder(qtbot: QtBot, tab: ChatTab, tmp_path: Path) -> None:
    """A deeply nested file, a FIFO and a file whose id is another's: the list shows what it can,
    and a file opens itself (issue 10)."""
    tab.store.save(saved_session("other", "The other one"))
    mine = json.loads((tmp_path / "other.json").read_text(encoding="utf-8"))
    mine["title"] = mine["panes"][0]["turns"][0]["content"] = "Mine"
    (tmp_path / "mine.json").write_text(json.dumps(mine), encoding="utf-8")  # its id says "other"
    (tmp_path / "deep.json").write_text("[" * 100_000, encoding="utf-8")
    os.mkfifo(tmp_path / "x.json")  # a plain read would wait for a writer forever
    with qtbot.waitSignal(tab.history.list_runner.result, timeout=10_000):
        tab.history.refresh()
    actions = {a.text(): a for a in tab.history.menu.actions() if a.text()}
    unreadable = [t for t in actions if "unreadable" in t]
    assert len(unreadable) == 1 and unreadable[0].startswith("deep.json") and "nested too deeply" in unreadable[0]
    assert not actions[unreadable[0]].isEnabled()
    assert not any("x.json" in t for t in actions)
    [mine_entry] = [a for t, a in actions.items() if t.startswith("Mine")]
    with qtbot.waitSignal(tab.history.opened, timeout=10_000):
        mine_entry.trigger()
    assert tab.session_id == "mine" and tab.note.text() == "Opened “Mine”"
    assert [m.content for m in tab.panes[0].conversation.messages] == ["Mine"]  # type: ignore[union-attr]
