"""Conversation: prompts, thinking, the thinking budget, stop, errors; a fake engine and real llama.cpp."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chat_helpers import drain, start_loaded

from explorer.chat.conversation import AnswerText, Conversation, EngineError, ThinkingText
from explorer.chat.records import PaneSettings
from explorer.chat.templates import BUDGET_STOP_TEXT, SamplingPreset
from explorer.engine.client import Crashed, Done, EngineClient, Event, LoadFailed, Tokens
from explorer.gguf.reader import chat_template, read_local_header
from explorer.gguf.variant import Variant
from explorer.testing.models import ensure_model, template_text

HYBRID_T = template_text("hybrid")
THINKING_T = template_text("thinking-2507")
EMPTY_BLOCK = "<think>\n\n</think>\n\n"


# --- a scripted fake engine ---------------------------------------------------------------------

class FakeEngine:
    """Answers each generate() with the next script: a list of (text, n_tokens) pieces, then Done.

    Like the worker, a request ends with Done("length") once it has written max_tokens (a piece is
    never split). stop() makes the running request emit one more piece (a late one) and then
    Done("stopped").
    """

    def __init__(self, scripts: list[list[tuple[str, int]]]) -> None:
        self.scripts = deque(scripts)
        self.calls: list[tuple[str, str, int]] = []  # (request_id, prompt, max_tokens)
        self.stops = 0
        self._queue: deque[Event] = deque()
        self._rid = ""
        self._left: deque[tuple[str, int]] = deque()
        self._n = 0
        self._max = 0

    def generate(self, request_id: str, prompt: str, *, max_tokens: int, temperature: float = 0.7,
                 top_p: float = 0.8, top_k: int = 20, min_p: float = 0.0, seed: int = 0,
                 stop: list[str] | None = None, **_: object) -> None:
        self.calls.append((request_id, prompt, max_tokens))
        self._rid, self._left, self._n, self._max = request_id, deque(self.scripts.popleft()), 0, max_tokens

    def stop(self) -> None:
        self.stops += 1
        if self._rid:
            late = [self._left.popleft()] if self._left else []
            self._left = deque()
            for text, n in late:
                self._queue.append(Tokens(self._rid, text, n))
                self._n += n
            self._queue.append(Done(self._rid, "stopped", 10, self._n, 0.01, 100.0))
            self._rid = ""

    def inject(self, ev: Event) -> None:
        self._queue.append(ev)

    def poll(self, timeout: float | None = 0.0) -> list[Event]:
        if self._rid:  # one piece per poll, like a stream
            if self._left:
                text, n = self._left.popleft()
                self._n += n
                self._queue.append(Tokens(self._rid, text, n))
                if self._n >= self._max:
                    self._queue.append(Done(self._rid, "length", 10, self._n, 0.01, 100.0))
                    self._rid = ""
            else:
                self._queue.append(Done(self._rid, "stop", 10, self._n, 0.01, 100.0))
                self._rid = ""
        out = list(self._queue)
        self._queue.clear()
        return out


def test_budget_forces_the_answer_fake() -> None:
    eng = FakeEngine([[("think ", 4), ("more ", 4), ("late ", 4)], [("The answer", 3)]])
    conv = Conversation(eng, template=THINKING_T, variant=Variant.THINKING_2507, thinking=True, budget=8,
                        max_tokens=100)
    conv.send("hi")
    ups, fin = drain(conv)
    assert eng.stops == 0 and len(eng.calls) == 2
    assert eng.calls[0][2] == 8  # the engine itself stops at the budget: no overshoot
    first, second = eng.calls[0][1], eng.calls[1][1]
    assert first.endswith("<|im_start|>assistant\n<think>\n")
    assert second == first + "think more " + BUDGET_STOP_TEXT
    assert conv.last_prompt == second
    assert eng.calls[1][2] == 100 - 8
    s = fin.stats
    assert s.budget_forced and s.stop_reason == "stop"
    assert s.thinking_tokens == 8 and s.n_tokens == 11
    msg = conv.messages[-1]
    assert msg.role == "assistant" and msg.content == "The answer"
    assert msg.thinking.startswith("think more Considering the limited time")
    assert "".join(u.text for u in ups if isinstance(u, AnswerText)) == "The answer"
    assert "".join(u.text for u in ups if isinstance(u, ThinkingText)) == msg.thinking


def test_no_cut_when_thinking_closes_before_budget_fake() -> None:
    eng = FakeEngine([[("<think>\nshort", 3), ("</think>\n\nAnswer ", 3), ("goes on and on", 20)],
                      [(" and ends", 2)]])
    conv = Conversation(eng, template=HYBRID_T, variant=Variant.HYBRID, thinking=True, budget=8, max_tokens=100)
    conv.send("hi")
    _, fin = drain(conv)
    # The budget capped the first request; the thinking had closed, so the answer simply goes on.
    assert eng.stops == 0 and len(eng.calls) == 2
    assert eng.calls[1][1] == eng.calls[0][1] + "<think>\nshort</think>\n\nAnswer goes on and on"
    assert eng.calls[1][2] == 100 - 26
    assert not fin.stats.budget_forced and fin.stats.thinking_tokens == 6 and fin.stats.n_tokens == 28
    assert conv.messages[-1].thinking == "short"
    assert conv.messages[-1].content == "Answer goes on and on and ends"


def test_a_character_split_at_the_budget_cut_is_not_saved_fake() -> None:
    """The worker flushes a character the cap split as "\ufffd"; the model then writes it whole."""
    eng = FakeEngine([[("<think>\nshort", 3), ("</think>\n\nA\ufffd", 5)], [("\u5b57 end", 2)]])
    conv = Conversation(eng, template=HYBRID_T, variant=Variant.HYBRID, thinking=True, budget=8, max_tokens=100)
    conv.send("hi")
    ups, fin = drain(conv)
    assert eng.calls[1][1] == eng.calls[0][1] + "<think>\nshort</think>\n\nA"
    assert conv.messages[-1].content == "A\u5b57 end"
    assert "".join(u.text for u in ups if isinstance(u, AnswerText)) == "A\u5b57 end"
    assert fin.stats.n_tokens == 10 and fin.stats.thinking_tokens == 8  # the batch with </think> counts whole

    # Cut inside the thinking: the forced answer follows the thinking without the half character.
    eng = FakeEngine([[("think ", 4), ("more\ufffd\ufffd", 4)], [("The answer", 3)]])
    conv = Conversation(eng, template=THINKING_T, variant=Variant.THINKING_2507, thinking=True, budget=8,
                        max_tokens=100)
    conv.send("hi")
    ups, fin = drain(conv)
    assert eng.calls[1][1] == eng.calls[0][1] + "think more" + BUDGET_STOP_TEXT
    assert "\ufffd" not in conv.messages[-1].thinking and conv.messages[-1].thinking.startswith("think more")
    assert "".join(u.text for u in ups if isinstance(u, ThinkingText)) == conv.messages[-1].thinking
    assert fin.stats.budget_forced and fin.stats.thinking_tokens == 8


def test_a_replacement_character_not_at_the_cut_is_kept_fake() -> None:
    """Under a budget, a "\ufffd" the model wrote mid-stream or at the very end is still text."""
    eng = FakeEngine([[("<think>\na\ufffd", 2), ("b</think>\n\nok\ufffd", 2), (" end\ufffd", 2)]])
    conv = Conversation(eng, template=HYBRID_T, variant=Variant.HYBRID, thinking=True, budget=50, max_tokens=100)
    conv.send("hi")
    ups, fin = drain(conv)
    assert fin.stats.stop_reason == "stop"
    assert conv.messages[-1].thinking == "a\ufffdb"
    assert conv.messages[-1].content == "ok\ufffd end\ufffd"
    assert "".join(u.text for u in ups if isinstance(u, AnswerText)) == "ok\ufffd end\ufffd"
    assert fin.stats.thinking_tokens == 4 and fin.stats.n_tokens == 6

    eng = FakeEngine([[("x\ufffd", 1), ("y", 1), ("z", 1)]])  # stopped with the character held
    conv = Conversation(eng, template=THINKING_T, variant=Variant.THINKING_2507, thinking=True, budget=50)
    conv.send("hi")
    conv.pump()
    conv.stop()
    _, fin = drain(conv)
    assert fin.stats.stop_reason == "stopped" and conv.messages[-1].thinking == "x\ufffdy"


def test_budget_zero_on_hybrid_skips_thinking_fake() -> None:
    eng = FakeEngine([[("Direct", 1)]])
    conv = Conversation(eng, template=HYBRID_T, variant=Variant.HYBRID, thinking=True, budget=0)
    conv.send("hi")
    _, fin = drain(conv)
    assert eng.calls[0][1].endswith("<|im_start|>assistant\n<think>\n" + BUDGET_STOP_TEXT)
    assert fin.stats.budget_forced and conv.messages[-1].content == "Direct"


def test_user_stop_during_the_forced_answer_fake() -> None:
    eng = FakeEngine([[("a", 8), ("b", 8)], [("x", 1), ("y", 1), ("z", 1)]])
    conv = Conversation(eng, template=THINKING_T, variant=Variant.THINKING_2507, thinking=True, budget=8)
    conv.send("hi")
    conv.pump()  # the first piece fills the budget: the answer is forced at once
    assert len(eng.calls) == 2 and eng.calls[1][1].endswith("a" + BUDGET_STOP_TEXT)
    conv.stop()
    _, fin = drain(conv)
    assert len(eng.calls) == 2 and fin.stats.stop_reason == "stopped" and fin.stats.budget_forced
    assert fin.stats.thinking_tokens == 8


def test_crash_finishes_with_error_and_keeps_history_fake() -> None:
    eng = FakeEngine([[("one", 1)], [("partial", 2), ("never", 2)], [("again", 1)]])
    conv = Conversation(eng, template=HYBRID_T, variant=Variant.HYBRID, thinking=False)
    conv.send("first")
    drain(conv)
    conv.send("second")
    assert conv.pump()  # "partial"
    eng._rid = ""  # the worker died
    eng.inject(Crashed("boom", -11))
    _, fin = drain(conv)
    assert fin.stats.stop_reason == "error" and fin.stats.message == "boom"
    assert [m.role for m in conv.messages] == ["user", "assistant", "user", "assistant"]
    assert conv.messages[3].content == "partial"
    eng.inject(LoadFailed("no file"))
    assert conv.pump() == [EngineError("no file")]
    conv.send("third")
    _, fin = drain(conv)
    assert fin.stats.stop_reason == "stop" and conv.messages[-1].content == "again"
    rec = conv.record()
    assert rec.variant is Variant.HYBRID and rec.settings.thinking is False and rec.settings.sampling is None
    assert [m.role for m in rec.messages] == ["user", "assistant"] * 3
    d = rec.to_json()  # as saved
    assert d["settings"]["variant"] == "hybrid" and d["settings"]["thinking"] is False
    assert d["settings"]["sampling"]["temperature"] == 0.7
    assert [t["role"] for t in d["turns"]] == ["user", "assistant"] * 3
    assert d["turns"][3]["stats"]["stop_reason"] == "error" and d["turns"][0]["stats"] is None


def test_send_while_busy_raises_fake() -> None:
    eng = FakeEngine([[("x", 1)]])
    conv = Conversation(eng, template=None, variant=Variant.BASE, thinking=False)
    conv.send("a")
    with pytest.raises(RuntimeError):
        conv.send("b")


# --- real llama.cpp -----------------------------------------------------------------------------

@pytest.fixture
def engine() -> Iterator[Callable[..., tuple[EngineClient, str | None]]]:
    made: list[EngineClient] = []

    def load(name: str, n_ctx: int = 1024) -> tuple[EngineClient, str | None]:
        path: Path = ensure_model(name)
        made.append(start_loaded(path, n_ctx=n_ctx, n_threads=2, timeout=20))
        return made[-1], chat_template(read_local_header(path))

    yield load
    for c in made:
        c.unload(timeout=2)


@pytest.mark.llama
def test_hybrid_thinking_off_real(engine: Callable[..., tuple[EngineClient, str | None]]) -> None:
    client, template = engine("qwen3-tiny-hybrid-q8_0")
    conv = Conversation(client, template=template, variant=Variant.HYBRID, thinking=False, max_tokens=24, seed=3)
    conv.send("Hello")
    ups, fin = drain(conv)
    assert conv.last_prompt is not None and conv.last_prompt.endswith("<|im_start|>assistant\n" + EMPTY_BLOCK)
    assert fin.stats.n_tokens > 0 and fin.stats.thinking_tokens == 0 and not fin.stats.budget_forced
    assert fin.stats.prompt_tokens > 0 and fin.stats.tokens_per_s > 0
    assert not any(isinstance(u, ThinkingText) for u in ups)
    assert conv.messages[-1].thinking == ""


@pytest.mark.llama
def test_thinking_2507_budget_real(engine: Callable[..., tuple[EngineClient, str | None]]) -> None:
    client, template = engine("qwen3-tiny-thinking-q8_0")
    # Random weights rarely write </think>, but one may come within the first batch: try a few seeds.
    for seed in range(1, 6):
        conv = Conversation(client, template=template, variant=Variant.THINKING_2507, thinking=True, budget=8,
                            max_tokens=48, seed=seed)
        conv.send("Hello")
        _, fin = drain(conv)
        if fin.stats.budget_forced:
            break
    s = fin.stats
    assert s.budget_forced and s.thinking_tokens >= 8
    assert len(conv.prompts) == 2 and conv.prompts[1].endswith(BUDGET_STOP_TEXT)
    assert conv.prompts[1].startswith(conv.prompts[0])
    assert s.n_tokens > s.thinking_tokens  # answer tokens came after the forced </think>
    assert "Considering the limited time" in conv.messages[-1].thinking


@pytest.mark.llama
def test_multi_turn_history_real(engine: Callable[..., tuple[EngineClient, str | None]]) -> None:
    client, template = engine("qwen3-tiny-thinking-q8_0")
    conv = Conversation(client, template=template, variant=Variant.THINKING_2507, thinking=True, budget=8,
                        max_tokens=32, seed=1)
    conv.send("First question")
    drain(conv)
    first = conv.messages[1]
    assert first.thinking and first.content.strip()
    conv.send("Second question")
    drain(conv)
    second_prompt = conv.prompts[2]
    assert "First question" in second_prompt and "Second question" in second_prompt
    assert first.content.strip() in second_prompt
    assert first.thinking not in second_prompt and "Considering the limited time" not in second_prompt


@pytest.mark.llama
def test_stop_keeps_partial_answer_real(engine: Callable[..., tuple[EngineClient, str | None]]) -> None:
    client, _ = engine("qwen3-fit-dense-f16", n_ctx=2048)  # slow enough to stop mid-generation
    conv = Conversation(client, template=HYBRID_T, variant=Variant.HYBRID, thinking=False, max_tokens=1500)
    conv.send("Tell me a long story")
    deadline = time.monotonic() + 20
    answer = ""
    while not answer and time.monotonic() < deadline:
        answer += "".join(u.text for u in conv.pump(0.1) if isinstance(u, AnswerText))
    assert answer, "no answer text arrived"
    conv.stop()
    ups, fin = drain(conv)
    answer += "".join(u.text for u in ups if isinstance(u, AnswerText))
    assert fin.stats.stop_reason == "stopped" and 0 < fin.stats.n_tokens < 1500
    assert conv.messages[-1].content == answer and answer


@pytest.mark.llama
def test_no_think_soft_switch_real(engine: Callable[..., tuple[EngineClient, str | None]]) -> None:
    client, template = engine("qwen3-tiny-hybrid-q8_0")
    conv = Conversation(client, template=template, variant=Variant.HYBRID, thinking=True, max_tokens=8)
    conv.send("Hello")
    drain(conv)
    assert conv.last_prompt is not None and not conv.last_prompt.endswith(EMPTY_BLOCK)
    assert conv.last_prompt.endswith("<|im_start|>assistant\n")
    conv.send("Quick one /no_think")
    _, fin = drain(conv)
    assert conv.last_prompt.endswith("<|im_start|>assistant\n" + EMPTY_BLOCK)
    assert fin.stats.thinking_tokens == 0


@pytest.mark.llama
def test_base_model_raw_completion_real(engine: Callable[..., tuple[EngineClient, str | None]]) -> None:
    client, template = engine("qwen3-tiny-base-f16")
    assert template is None
    conv = Conversation(client, template=None, variant=Variant.BASE, thinking=False, max_tokens=16)
    conv.send("Once upon a time")
    _, fin = drain(conv)
    assert conv.last_prompt == "Once upon a time"
    assert fin.stats.n_tokens > 0 and conv.messages[-1].thinking == ""


@pytest.mark.llama
def test_error_done_keeps_conversation_usable_real(engine: Callable[..., tuple[EngineClient, str | None]]) -> None:
    client, template = engine("qwen3-tiny-instruct-q8_0", n_ctx=256)
    conv = Conversation(client, template=template, variant=Variant.INSTRUCT_2507, thinking=False, max_tokens=8)
    conv.send("word " * 400)  # longer than the context
    _, fin = drain(conv)
    assert fin.stats.stop_reason == "error" and "context" in fin.stats.message
    conv.messages.clear()  # the user edits the too-long turn away
    conv.send("Hi")
    _, fin = drain(conv)
    assert fin.stats.stop_reason in ("stop", "length") and fin.stats.n_tokens > 0


def test_a_question_whose_answer_failed_empty_is_left_out_of_the_prompt_fake() -> None:
    eng = FakeEngine([[("one", 1)], [], [("two", 1)]])
    conv = Conversation(eng, template=HYBRID_T, variant=Variant.HYBRID, thinking=False)
    conv.send("first")
    drain(conv)
    conv.send("broken")
    eng._rid = ""  # the worker died before writing anything
    eng.inject(Crashed("boom", -9))
    _, fin = drain(conv)
    assert fin.stats.stop_reason == "error" and conv.messages[-1].content == ""
    conv.send("third")
    drain(conv)
    prompt = eng.calls[-1][1]
    assert "first" in prompt and "third" in prompt and "broken" not in prompt
    assert [m.content for m in conv.messages if m.role == "user"] == ["first", "broken", "third"]  # kept


class ShortContextEngine(FakeEngine):
    """The worker limits max_tokens to the room left in the context, as llama.cpp's context does."""

    def __init__(self, scripts: list[list[tuple[str, int]]], room: int) -> None:
        super().__init__(scripts)
        self.room = room

    def generate(self, request_id: str, prompt: str, *, max_tokens: int, **kw: object) -> None:
        super().generate(request_id, prompt, max_tokens=min(max_tokens, self.room))


def test_context_running_out_under_a_budget_is_length_not_a_budget_cut_fake() -> None:
    eng = ShortContextEngine([[("<think>\nhm", 4), (" hm", 4)], [("never", 1)]], room=8)
    conv = Conversation(eng, template=HYBRID_T, variant=Variant.HYBRID, thinking=True, budget=100)
    conv.send("hi")
    _, fin = drain(conv)
    assert len(eng.calls) == 1  # no forced answer onto a full context
    assert fin.stats.stop_reason == "length" and not fin.stats.budget_forced


def test_settings_record_saves_what_ran_for_a_pane_with_or_without_a_chat() -> None:
    """Qwen's preset is written out when the pane used it, and follows the variant's thinking."""
    hybrid = PaneSettings(thinking=True, budget=256, sampling=None, max_tokens=1024, seed=7).to_json(Variant.HYBRID)
    assert hybrid["sampling"]["temperature"] == 0.6 and hybrid["sampling_is_default"] is True
    assert hybrid["variant"] == "hybrid" and hybrid["budget"] == 256 and hybrid["seed"] == 7
    # Instruct-2507 never thinks: its preset is the non-thinking one even with the switch on.
    instruct = PaneSettings(thinking=True, max_tokens=1024, seed=0).to_json(Variant.INSTRUCT_2507)
    assert instruct["sampling"]["temperature"] == 0.7
    own = SamplingPreset(temperature=1.1, top_p=0.9, top_k=40, min_p=0.05)
    custom = PaneSettings(thinking=False, sampling=own, max_tokens=64, seed=0).to_json(None)
    assert custom["variant"] is None and custom["sampling_is_default"] is False
    assert custom["sampling"]["temperature"] == 1.1
    conv = Conversation(FakeEngine([]), template=HYBRID_T, variant=Variant.HYBRID, thinking=True, budget=256,
                        max_tokens=1024, seed=7)
    saved = conv.record().to_json()["settings"]
    assert saved == {k: v for k, v in hybrid.items() if k != "ctx"}  # a conversation does not know its context
    assert PaneSettings.from_json(custom) == PaneSettings(thinking=False, sampling=own, max_tokens=64, seed=0)
    assert PaneSettings.from_json(hybrid).sampling is None  # the preset, whatever its values were
