"""One chat pane's conversation, UI-agnostic and driven by polling.

    conv = Conversation(client, template=chat_template(header), variant=Variant.HYBRID, thinking=True)
    conv.send("Why is the sky blue?")
    while conv.busy:
        for update in conv.pump(0.03):   # ThinkingText | AnswerText | Finished | EngineError
            ...

`client` is an `EngineClient` whose model is loaded (or loading: `Loaded` events are ignored). The
conversation renders the prompt itself (the model's template with ``enable_thinking``, in a child
process within `sandbox.RenderLimits`: a runaway template cannot hang or exhaust the caller), streams the
output through a `ThinkingParser`, and enforces the thinking budget (Qwen3 report, see
`chat.BUDGET_STOP_TEXT`) exactly, with the engine's own token limit:

1. with thinking on and a budget of N tokens, the first generation may write at most N tokens;
2. if it ends at that limit while the parser is still in thinking, the thinking used exactly N
   tokens: generate again from ``prompt + output so far + BUDGET_STOP_TEXT`` (BUDGET_STOP_TEXT is fed
   to the parser, which closes the thinking) and stream the rest as the answer;
3. if it ends at the limit after the thinking had closed, just continue from ``prompt + output so
   far`` (llama.cpp reuses the cached prefix), with what is left of max_tokens.

The thinking token count is exact when the budget cut it; otherwise it is counted per batch of text
from the worker (up to 16 tokens or ~30 ms): a batch counts as thinking when the parser was in
thinking before or after it, so a batch holding ``</think>`` counts whole.

An engine that takes messages instead of a prompt (`ChatEngine`, ``takes_messages = True``: a remote
OpenAI-compatible server, `engine.remote.RemoteClient`) gets the history as role/content messages and
the hybrid's thinking switch through `generate_chat`; nothing renders here. Its text comes back in
the shape a local model writes, so parsing and stats are the same. The thinking budget is not
enforced there (a chat API cannot continue an answer from part of it); a budget of 0 switches a
hybrid's thinking off.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeGuard, Union

from explorer.chat.records import ConversationRecord, Message, MessageStats, PaneMode, PaneSettings, StopReason
from explorer.chat.sandbox import RenderLimits, TemplateRenderer, prompt_cap, render_isolated
from explorer.chat.templates import (
    BUDGET_STOP_TEXT,
    AnswerDelta,
    ChatTemplateError,
    SamplingPreset,
    ThinkingDelta,
    ThinkingParser,
    Turn,
    app_template,
    history_for_template,
    preset_for,
    render_prompt,
    resolve_thinking,
    thinking_mode,
)
from explorer.engine.messages import Crashed, Done, Event, LoadFailed, Tokens
from explorer.gguf.fim import check_fim_input
from explorer.gguf.variant import Variant

__all__ = ["AnswerText", "ChatEngine", "Conversation", "Engine", "EngineError", "Finished", "Message",
           "MessageStats", "StopReason", "ThinkingText", "Update"]

_ids = itertools.count(1)


WARM_PLACEHOLDER = "\u2063next question\u2063"  # stands for the next question in `Conversation.warm` (no one types it)


class Engine(Protocol):
    """What Conversation needs from an `EngineClient` (tests pass a fake)."""

    def generate(self, request_id: str, prompt: str, *, max_tokens: int, temperature: float = 0.7,
                 top_p: float = 0.8, top_k: int = 20, min_p: float = 0.0, seed: int = 0,
                 stop: list[str] | None = None, raw: bool = False, fim: tuple[str, str] | None = None,
                 presence_penalty: float = 0.0, repeat_penalty: float = 1.0) -> None: ...

    def stop(self) -> None: ...

    def poll(self, timeout: float | None = 0.0) -> list[Event]: ...


class ChatEngine(Engine, Protocol):
    """An engine that takes the conversation's messages, not a rendered prompt (a remote server:
    `engine.remote.RemoteClient`); it says so with ``takes_messages = True``. Its output text has the
    shape a local model writes (thinking in ``<think>`` tags), so the parsing and stats are the same."""

    takes_messages: bool

    def generate_chat(self, request_id: str, messages: Sequence[Mapping[str, str]], *, thinking: bool | None = None,
                      opens_in_thinking: bool = False, max_tokens: int, temperature: float = 0.7,
                      top_p: float = 0.8, top_k: int = 20, min_p: float = 0.0, seed: int = 0,
                      stop: list[str] | None = None, presence_penalty: float = 0.0,
                      repeat_penalty: float = 1.0) -> None: ...


# --- updates for the UI -----------------------------------------------------------------------

# The parser's own text events go to the UI unchanged (its ThinkingEnd is not needed there).
ThinkingText = ThinkingDelta
AnswerText = AnswerDelta


@dataclass(frozen=True)
class Finished:
    """The assistant message is complete (and in `messages`); `stats.stop_reason` says how it ended."""

    stats: MessageStats


@dataclass(frozen=True)
class EngineError:
    """The engine failed while no message was being generated (e.g. the load failed)."""

    message: str


Update = Union[ThinkingText, AnswerText, Finished, EngineError]  # noqa: UP007


class PlainParser:
    """Free-form and fill-in-the-middle output: all of it is the answer (no template asked for thinking,
    so a `<think>` the model writes stays in the text, as written)."""

    in_thinking = False
    thinking_text = ""

    def __init__(self) -> None:
        self._parts: list[str] = []

    @property
    def answer_text(self) -> str:
        return "".join(self._parts)

    def feed(self, text: str) -> list[AnswerDelta]:
        if not text:
            return []
        self._parts.append(text)
        return [AnswerDelta(text)]

    def close(self) -> list[AnswerDelta]:
        return []


@dataclass
class _Gen:
    """The message being generated."""

    prompt: str  # the first prompt of this message
    parser: ThinkingParser | PlainParser
    thinking_on: bool
    sampling: SamplingPreset
    plain: bool = False  # free-form: the prompt is the text as typed (no special tokens parsed)
    chat: list[dict[str, str]] | None = None  # the messages, for an engine that takes them (no prompt)
    fim: tuple[str, str] | None = None  # fill-in-the-middle: (prefix, suffix); the prompt is built from them
    request_id: str = ""
    raw: str = ""  # the output text fed to the parser, over all generations
    held: str = ""  # a trailing "\ufffd" kept from the parser while capped: a character the cap may have split
    cap: int = 0  # the max_tokens of a request limited to the thinking budget (0: not limited)
    user_stopped: bool = False
    stats: MessageStats = field(default_factory=MessageStats)
    first_done: bool = False
    gen_seconds: float = 0.0  # estimated from the worker's per-request tokens/s
    gen_tokens: int = 0


class Conversation:
    def __init__(self, client: Engine, *, template: str | None, variant: Variant, thinking: bool,
                 budget: int | None = None, sampling: SamplingPreset | None = None, max_tokens: int = 1024,
                 seed: int = 0, system: str | None = None, n_ctx: int | None = None,
                 render_limits: RenderLimits | None = None, renderer: TemplateRenderer | None = None,
                 mode: PaneMode | None = None) -> None:
        if budget is not None and budget < 0:
            raise ValueError(f"thinking budget must be >= 0, got {budget}")
        if sampling is not None:
            sampling.check()
        self.client = client
        # None: the variant's own (Base models complete free-form text, the others chat).
        self.prompting = PaneMode(mode) if mode is not None else PaneMode.default_for(Variant(variant))
        # A chatroom needs a template: a GGUF without one (Base models) gets the one the app supplies.
        self._file_template = template
        self.template_from_app = template is None and self.prompting is PaneMode.CHATROOM
        self.template = app_template() if self.template_from_app else template
        self.variant = Variant(variant)
        self.mode = thinking_mode(self.variant)
        self.thinking = thinking
        self.budget = budget
        self.sampling = sampling  # None: preset_for(thinking of each turn)
        self.max_tokens = max_tokens
        self.seed = seed
        self.n_ctx = n_ctx  # the loaded model's context (None: not known)
        # How long and how large the template may render; by default the prompt can not outgrow the context.
        self.render_limits = render_limits or RenderLimits(
            max_prompt_bytes=prompt_cap(n_ctx) if n_ctx is not None else None)
        self.renderer = renderer  # None: each render in a process of its own (slower; fine for one-offs)
        self.messages: list[Message] = []
        if system:
            self.messages.append(Message("system", system))
        self.last_prompt: str | None = None  # the prompt of the latest generate() (forced ones too)
        self.prompts: list[str] = []  # every prompt sent, in order
        self._gen: _Gen | None = None
        self._pending_updates: list[Update] = []  # made by send() itself (budget 0)
        self._tag = f"c{next(_ids)}"
        self._req = itertools.count(1)

    # --- public --------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._gen is not None

    def set_prompting(self, mode: PaneMode) -> None:
        """How the next messages are prompted (a pane's mode changed); the history stays."""
        self.prompting = PaneMode(mode)
        self.template_from_app = self._file_template is None and self.prompting is PaneMode.CHATROOM
        self.template = app_template() if self.template_from_app else self._file_template

    def set_system(self, text: str) -> None:
        """The chatroom's system prompt for the next messages ("" or blank: the template's own default)."""
        if self.messages and self.messages[0].role == "system":
            self.messages.pop(0)
        if text.strip():
            self.messages.insert(0, Message("system", text))

    def send(self, user_text: str) -> None:
        """Append the user's turn and start generating the answer (results come from `pump`).

        Free-form: the text goes to the model exactly as typed, alone (no template, no history)."""
        if self._gen is not None:
            raise RuntimeError("a message is still being generated; stop() it first")
        if self.prompting is PaneMode.FIM:
            raise ValueError("a fill-in-the-middle pane sends a prefix and a suffix (send_fim)")
        if self.prompting is PaneMode.FREE_FORM:
            self._start_plain(Message("user", user_text), user_text, None)
            return
        messages = [*self.messages, Message("user", user_text)]
        user_texts = [m.content for m in messages if m.role == "user"]
        thinking_on = resolve_thinking(self.mode, self.thinking, user_texts)
        turns = [Turn(m.role, m.content) for m in _answered(messages)]
        if _takes_messages(self.client):
            self._start_chat(messages[-1], history_for_template(turns), thinking_on)
            return
        # Rendered before the turn is kept: a template that rejects the conversation leaves it unchanged.
        prompt = self._render(history_for_template(turns), thinking_on)
        self.messages.append(messages[-1])
        sampling = self.sampling or preset_for(thinking_on)
        # Thinking-2507 templates open <think> in the generation prompt: the output starts inside it.
        parser = ThinkingParser(started_in_thinking=self.mode.always)
        gen = _Gen(prompt=prompt, parser=parser, thinking_on=thinking_on, sampling=sampling)
        self._gen = gen
        if thinking_on and self.budget == 0:
            # No thinking at all: force the end of the block before generating anything.
            gen.stats.budget_forced = True
            gen.raw = "" if self.mode.always else "<think>\n"
            gen.parser.feed(gen.raw)
            self._pending_updates = self._force_answer(gen)
            return
        max_tokens = self.max_tokens
        if thinking_on and self.budget is not None and self.budget < max_tokens:
            max_tokens = gen.cap = self.budget
        self._generate(gen, prompt, max_tokens)

    def warm(self) -> bool:
        """After an answer, while the person reads: have the engine decode what the next turn's prompt
        will start with, so that turn decodes little more than its question. Qwen3's templates render
        an earlier answer without the <think> block it was written with (and without the empty one of a
        thinking-off prompt), so the cache holds the answer as generated, not as the next prompt has
        it: without this, the next turn decodes the whole last answer again before its question.

        The prefix is the history rendered under a placeholder question, cut where that question
        starts. Chatroom turns on a local engine only (one with `prefill`); True when one was sent."""
        prefill = getattr(self.client, "prefill", None)
        if (self._gen is not None or prefill is None or self.prompting is not PaneMode.CHATROOM
                or _takes_messages(self.client) or not self.messages or self.messages[-1].role != "assistant"):
            return False
        turns = [Turn(m.role, m.content) for m in _answered([*self.messages, Message("user", WARM_PLACEHOLDER)])]
        try:
            prompt = self._render(history_for_template(turns), self.thinking)
        except ChatTemplateError:
            return False  # the next send says why, if it is still so
        cut = prompt.rfind(WARM_PLACEHOLDER)
        if cut <= 0:
            return False
        prefill(prompt[:cut])
        return True

    def _start_chat(self, question: Message, history: list[dict[str, str]], thinking_on: bool) -> None:
        """An engine that takes messages: they go as they are, with the thinking switch (a hybrid's) for
        the server to apply. The thinking budget is not enforced (an answer cannot be continued from
        part of it through a chat API); a budget of 0 switches a hybrid's thinking off."""
        if thinking_on and self.budget == 0 and self.mode.can_toggle:
            thinking_on = False
        self.messages.append(question)
        gen = _Gen(prompt="", parser=ThinkingParser(started_in_thinking=self.mode.always), thinking_on=thinking_on,
                   sampling=self.sampling or preset_for(thinking_on), chat=history)
        self._gen = gen
        self._generate(gen, "", self.max_tokens)

    def send_fim(self, prefix: str, suffix: str) -> None:
        """Ask for the middle between `prefix` and `suffix` (ValueError when both are empty); the answer
        is the middle. The model must have the FIM tokens: the engine answers one line if not."""
        if self._gen is not None:
            raise RuntimeError("a message is still being generated; stop() it first")
        check_fim_input(prefix, suffix)
        self._start_plain(Message("user", prefix, suffix=suffix), "", (prefix, suffix))

    def _start_plain(self, question: Message, prompt: str, fim: tuple[str, str] | None) -> None:
        self.messages.append(question)
        gen = _Gen(prompt=prompt, parser=PlainParser(), thinking_on=False,
                   sampling=self.sampling or preset_for(False), plain=True, fim=fim)
        self._gen = gen
        self._generate(gen, prompt, self.max_tokens)

    def stop(self) -> None:
        """Stop the current message; it ends (via `pump`) with stop reason "stopped", the partial answer kept."""
        gen = self._gen
        if gen is None:
            return
        gen.user_stopped = True
        self.client.stop()

    def pump(self, timeout: float = 0.0) -> list[Update]:
        """Process engine events (waiting up to `timeout` s for the first one); updates for the UI."""
        out, self._pending_updates = self._pending_updates, []
        if out:
            timeout = 0.0
        for ev in self.client.poll(timeout):
            out.extend(self._handle(ev))
        return out

    def history(self) -> list[Turn]:
        return [Turn(m.role, m.content, m.thinking) for m in self.messages]

    def record(self) -> ConversationRecord:
        """The settings it runs with and every message so far (a copy: later messages do not change it)."""
        system = self.messages[0].content if self.messages and self.messages[0].role == "system" else ""
        settings = PaneSettings(thinking=self.thinking, budget=self.budget, sampling=self.sampling,
                                max_tokens=self.max_tokens, seed=self.seed, mode=self.prompting, system=system)
        if self.n_ctx is not None:
            settings.ctx = self.n_ctx
        return ConversationRecord(settings, self.variant, tuple(self.messages))

    # --- internals -----------------------------------------------------------------------------

    def _render(self, messages: list[dict[str, str]], thinking_on: bool) -> str:
        """The prompt; ChatTemplateError (one line) when the template rejects or fails to render it."""
        if self.template is None:
            return render_prompt(None, messages, enable_thinking=None)  # no template: no code to run
        if self.renderer is not None:
            return self.renderer.render(self.template, messages, enable_thinking=thinking_on, limits=self.render_limits)
        return render_isolated(self.template, messages, enable_thinking=thinking_on, limits=self.render_limits)

    def _generate(self, gen: _Gen, prompt: str, max_tokens: int) -> None:
        gen.request_id = f"{self._tag}-{next(self._req)}"
        s = gen.sampling
        client = self.client
        if gen.chat is not None and _takes_messages(client):
            client.generate_chat(gen.request_id, gen.chat, thinking=gen.thinking_on if self.mode.can_toggle else None,
                                 opens_in_thinking=self.mode.always, max_tokens=max_tokens,
                                 temperature=s.temperature, top_p=s.top_p, top_k=s.top_k, min_p=s.min_p,
                                 seed=self.seed, presence_penalty=s.presence_penalty,
                                 repeat_penalty=s.repeat_penalty)
            return
        self.last_prompt = prompt
        self.prompts.append(prompt)
        self.client.generate(gen.request_id, prompt, max_tokens=max_tokens, temperature=s.temperature,
                             top_p=s.top_p, top_k=s.top_k, min_p=s.min_p, seed=self.seed, raw=gen.plain,
                             fim=gen.fim, presence_penalty=s.presence_penalty, repeat_penalty=s.repeat_penalty)

    def _handle(self, ev: Event) -> list[Update]:
        gen = self._gen
        if isinstance(ev, (Crashed, LoadFailed)):
            if gen is None:
                return [EngineError(ev.message)]
            return self._finish(gen, StopReason.ERROR, ev.message)
        if gen is None or not isinstance(ev, (Tokens, Done)) or ev.request_id != gen.request_id:
            return []  # Loaded, or a late event of an earlier request
        if isinstance(ev, Tokens):
            return self._on_tokens(gen, ev)
        return self._on_done(gen, ev)

    def _on_tokens(self, gen: _Gen, ev: Tokens) -> list[Update]:
        before = gen.parser.in_thinking
        text, gen.held = gen.held + ev.text, ""
        if gen.cap:
            kept = text.rstrip("\ufffd")
            text, gen.held = kept, text[len(kept):]
        gen.raw += text
        out = _updates(gen.parser.feed(text))
        gen.stats.n_tokens += ev.n_tokens
        if gen.thinking_on and (before or gen.parser.in_thinking):
            gen.stats.thinking_tokens += ev.n_tokens
        return out

    def _on_done(self, gen: _Gen, ev: Done) -> list[Update]:
        if not gen.first_done:
            gen.first_done = True
            gen.stats.ttft_s = ev.ttft_s
            gen.stats.prompt_tokens = ev.n_prompt_tokens
            gen.stats.prompt_eval_tokens = ev.prompt_eval_tokens
            if ev.prompt_eval_s > 0:
                gen.stats.prompt_tokens_per_s = ev.prompt_eval_tokens / ev.prompt_eval_s
        if ev.tokens_per_s > 0 and ev.n_tokens > 0:
            gen.gen_seconds += ev.n_tokens / ev.tokens_per_s
            gen.gen_tokens += ev.n_tokens
        if ev.reason == "error":
            return self._finish(gen, StopReason.ERROR, ev.message)
        if gen.user_stopped:
            return self._finish(gen, StopReason.STOPPED)
        # "length" at the cap is the budget; "length" short of it is the context running out.
        if ev.reason == "length" and gen.cap and ev.n_tokens >= gen.cap:
            gen.cap = 0
            gen.held = ""  # a character the cut split in two: the next generation writes it whole
            if gen.parser.in_thinking:
                gen.stats.thinking_tokens = gen.stats.n_tokens  # every token so far was thinking
                return self._force_answer(gen)
            return self._continue(gen)  # thinking ended within the budget: go on
        gen.cap = 0
        return self._finish(gen, StopReason(ev.reason))

    def _force_answer(self, gen: _Gen) -> list[Update]:
        """Budget spent: close the thinking with BUDGET_STOP_TEXT and generate the answer after it."""
        gen.stats.budget_forced = True
        out = _updates(gen.parser.feed(BUDGET_STOP_TEXT))
        gen.raw += BUDGET_STOP_TEXT
        return out + self._continue(gen)

    def _continue(self, gen: _Gen) -> list[Update]:
        """Generate on from everything so far, with what is left of max_tokens."""
        remaining = self.max_tokens - gen.stats.n_tokens
        if remaining <= 0:
            return self._finish(gen, StopReason.LENGTH)
        self._generate(gen, gen.prompt + gen.raw, remaining)
        return []

    def _finish(self, gen: _Gen, reason: StopReason, message: str = "") -> list[Update]:
        gen.raw += gen.held  # not a cap cut: a held "\ufffd" is the model's text
        out = _updates(gen.parser.feed(gen.held)) + _updates(gen.parser.close())
        gen.held = ""
        gen.stats.stop_reason = reason
        gen.stats.message = message
        if gen.gen_seconds > 0:
            gen.stats.tokens_per_s = gen.gen_tokens / gen.gen_seconds
        self.messages.append(Message("assistant", gen.parser.answer_text, gen.parser.thinking_text, gen.stats))
        self._gen = None
        out.append(Finished(gen.stats))
        return out


def _takes_messages(client: object) -> TypeGuard[ChatEngine]:
    """The engine takes messages (a remote server), not a prompt rendered here."""
    return getattr(client, "takes_messages", False) is True


def _answered(messages: list[Message]) -> list[Message]:
    """The history the model sees: a question whose answer failed with nothing written is left out,
    with its empty answer (both stay in `messages`, and in what is saved, with the error)."""
    out: list[Message] = []
    for m in messages:
        failed = (m.role == "assistant" and not m.content.strip() and m.stats is not None
                  and m.stats.stop_reason is StopReason.ERROR)
        if failed:
            if out and out[-1].role == "user":
                out.pop()
            continue
        out.append(m)
    return out


def _updates(events: list[Any]) -> list[Update]:
    return [e for e in events if isinstance(e, (ThinkingDelta, AnswerDelta))]
