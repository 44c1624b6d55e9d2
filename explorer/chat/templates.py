"""Chat plumbing that does not need a model: templates, thinking policy and parser, budget, presets.

- `render_prompt` renders the GGUF's own chat template (``tokenizer.chat_template``) the way Hugging
  Face transformers and llama-cpp-python do (jinja2 `ImmutableSandboxedEnvironment`, `trim_blocks`,
  `lstrip_blocks`, `raise_exception`, `tojson`), so that `enable_thinking` can be passed per request.
- `thinking_mode` says what a Qwen3 variant can do about thinking; `soft_switch` and
  `resolve_thinking` apply the hybrid models' ``/think`` / ``/no_think`` soft switches.
- `ThinkingParser` splits a streamed completion into thinking and answer.
- `BUDGET_STOP_TEXT`: the Qwen3 report's thinking budget (protocol below).
- `preset_for`: Qwen's recommended sampling for thinking and non-thinking generation.
- `history_for_template`: earlier turns as template messages, assistant answers without thinking.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn, Union

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from explorer.errors import LIMIT
from explorer.gguf.variant import Variant

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


# ---------------------------------------------------------------------------------------------
# Templates


class ChatTemplateError(ValueError):
    """The chat template failed to compile or render (or tried something the sandbox forbids).

    Its message is always one line of at most `explorer.errors.LIMIT` characters (`one_line`): a
    template chooses what it raises, and may raise megabytes."""

    def __init__(self, message: object = "") -> None:
        super().__init__(one_line(str(message)))


def one_line(text: str, limit: int = LIMIT) -> str:
    """`text` with its whitespace runs (newlines too) as single spaces, cut to `limit` characters with
    "…"; only its start is looked at, so a huge text costs no more than a short one."""
    words = text[: 4 * limit].split()
    line = " ".join(words)
    if len(line) <= limit and len(text) <= 4 * limit:
        return line
    return line[: max(1, limit - 1)].rstrip() + "…"


def _raise_exception(message: str) -> NoReturn:
    # What HF's `raise_exception` global does: templates call it to reject bad conversations.
    raise jinja2.exceptions.TemplateError(message)


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    # HF transformers' `tojson` filter (jinja's own escapes HTML characters and sorts keys).
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def template_environment() -> ImmutableSandboxedEnvironment:
    """The sandboxed environment templates render in (same options and helpers as HF transformers)."""
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


@functools.lru_cache(maxsize=16)
def compiled_template(template: str) -> jinja2.Template:
    """Compiling a Qwen3 template takes ~20 ms, rendering it ~0.5 ms: compile each template once.

    The environment is immutable and sandboxed and a compiled template keeps no state between renders,
    so sharing it (also between a pane's engine threads) is safe.
    """
    return template_environment().from_string(template)


def render_prompt(
    template: str | None,
    messages: list[dict[str, str]],
    *,
    enable_thinking: bool | None,
    add_generation_prompt: bool = True,
    variables: Mapping[str, Any] | None = None,
) -> str:
    """The prompt text for `messages` ({"role", "content"} dicts) under a GGUF chat template.

    `enable_thinking` is passed to the template only when it is not None (templates test
    ``enable_thinking is defined``). `variables` adds other template variables (``bos_token``,
    ``tools``, ...).

    Base models have no chat template (`template` None): the prompt is then the raw content of the
    last user message, for plain text completion; no ChatML wrapper, no generation prompt. A
    conversation without a user message has no prompt then, and raises `ChatTemplateError`.
    """
    if template is None:
        for message in reversed(messages):
            if message.get("role") == "user":
                return message.get("content", "")
        raise ChatTemplateError("a base model (no chat template) needs a user message to complete")
    context: dict[str, Any] = dict(variables or {})
    context["messages"] = messages
    context["add_generation_prompt"] = add_generation_prompt
    if enable_thinking is not None:
        context["enable_thinking"] = enable_thinking
    try:
        return compiled_template(template).render(**context)
    except Exception as e:  # the template's own code failed, whichever way: one line (see describe_render_error)
        raise ChatTemplateError(describe_render_error(e)) from e


def describe_render_error(e: BaseException) -> str:
    """One line that says why a template failed to compile or render (at most `explorer.errors.LIMIT`
    characters, see `one_line`)."""
    if isinstance(e, ChatTemplateError):
        return one_line(str(e))
    if isinstance(e, jinja2.exceptions.SecurityError):
        return one_line(f"chat template tried an unsafe operation: {_head(e)}")
    if isinstance(e, jinja2.exceptions.TemplateSyntaxError):
        return one_line(f"chat template has a syntax error at line {e.lineno}: {_head(e.message or '')}")
    if isinstance(e, jinja2.exceptions.TemplateError):
        return one_line(f"chat template failed: {_head(e)}")
    if isinstance(e, RecursionError):
        return "chat template failed: it recursed too deeply"
    if isinstance(e, MemoryError):
        return "chat template failed: it ran out of memory"
    if isinstance(e, OverflowError):
        return one_line(f"chat template failed: a number or range too large ({_head(e)})")
    return one_line(f"chat template failed: {type(e).__name__}: {_head(e)}")


def _head(e: BaseException | str) -> str:
    """The start of an exception's message: enough for `one_line`, without copying megabytes."""
    return one_line(str(e), 2 * LIMIT)


# ---------------------------------------------------------------------------------------------
# Thinking policy


@dataclass(frozen=True)
class ThinkingMode:
    can_toggle: bool  # the user may switch thinking on and off (hybrid only)
    default_on: bool  # thinking is on for a new chat
    always: bool  # the model always thinks (Thinking-2507); the toggle shows on, disabled
    never: bool  # the model never thinks (Instruct-2507, Coder, Base); the toggle shows off, disabled
    reason: str  # tooltip for the toggle


_MODES: dict[Variant, ThinkingMode] = {
    Variant.HYBRID: ThinkingMode(
        True, True, False, False,
        "Hybrid Qwen3 models think by default; switch it off here, or end a message with /think or /no_think",
    ),
    Variant.THINKING_2507: ThinkingMode(
        False, True, True, False, "Thinking-2507 models always think: their template opens <think> itself"
    ),
    Variant.INSTRUCT_2507: ThinkingMode(
        False, False, False, True, "Instruct-2507 models never think: they answer directly"
    ),
    Variant.CODER: ThinkingMode(False, False, False, True, "Qwen3-Coder models never think: they answer directly"),
    Variant.BASE: ThinkingMode(
        False, False, False, True, "Base models have no chat template and no thinking: raw text completion"
    ),
}


def thinking_mode(variant: Variant | str) -> ThinkingMode:
    """What `variant` can do about thinking."""
    return _MODES[Variant(variant)]


_SWITCHES = {"/think": True, "/no_think": False}


def soft_switch(text: str) -> bool | None:
    """The hybrid soft switch at the end of a user turn: True for ``/think``, False for ``/no_think``.

    Only switches at the end of the text count (after the last other word), so a question about
    "/think" in the middle of a sentence does not switch anything; of several trailing switches
    ("... /think /no_think") the last one wins. None: no switch.
    """
    for word in reversed(text.split()):
        if word in _SWITCHES:
            return _SWITCHES[word]
        return None
    return None


def resolve_thinking(mode: ThinkingMode, toggle: bool, user_texts: Iterable[str] = ()) -> bool:
    """Whether the next answer thinks: pass the result as `enable_thinking` to `render_prompt`.

    Hybrid: the latest user turn that carries a soft switch overrides the toggle (Qwen: the model
    follows the most recent instruction); else the toggle. Other variants: fixed.
    """
    if mode.always:
        return True
    if mode.never:
        return False
    for text in reversed(list(user_texts)):
        switch = soft_switch(text)
        if switch is not None:
            return switch
    return toggle


# ---------------------------------------------------------------------------------------------
# Streaming thinking parser


@dataclass(frozen=True)
class ThinkingDelta:
    text: str


@dataclass(frozen=True)
class AnswerDelta:
    text: str


@dataclass(frozen=True)
class ThinkingEnd:
    pass


Event = Union[ThinkingDelta, AnswerDelta, ThinkingEnd]  # noqa: UP007 (a runtime alias on 3.10)


def _tag_prefix_len(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


class ThinkingParser:
    """Splits streamed model output into thinking and answer.

    Feed text pieces as they come (`feed`), then `close` once. The output may open with ``<think>``
    (hybrid; leading whitespace before it is allowed), or, with `started_in_thinking=True`, begin
    inside the thinking and carry only the closing ``</think>`` (Thinking-2507, whose generation
    prompt opened it). Output that does not open with ``<think>`` is all answer. Tags split across
    pieces are recognised; a partial tag is held back, never emitted as text.

    Newlines around the thinking (``<think>\\n...\\n</think>``) and the newlines that open the answer
    are dropped, so the empty block ``<think>\\n\\n</think>\\n\\n`` gives no thinking text. Every
    thinking block ends with one `ThinkingEnd`, the empty one too (check `thinking_chars`). A model
    that never writes ``</think>`` is all thinking: `close` ends it. Once the thinking ended, a later
    ``<think>`` or ``</think>`` is answer text.
    """

    def __init__(self, *, started_in_thinking: bool = False) -> None:
        self._state = "thinking" if started_in_thinking else "start"
        self._pending = ""  # text not yet emitted: a possible tag, or newlines that may be trimmed
        self._thinking: list[str] = []
        self._answer: list[str] = []
        self._closed = False

    @property
    def thinking_text(self) -> str:
        return "".join(self._thinking)

    @property
    def answer_text(self) -> str:
        return "".join(self._answer)

    @property
    def thinking_chars(self) -> int:
        return sum(len(t) for t in self._thinking)

    @property
    def in_thinking(self) -> bool:
        """True while the output is (or may still turn out to be) inside a thinking block."""
        return self._state == "thinking"

    def feed(self, piece: str) -> list[Event]:
        if self._closed:
            raise RuntimeError("ThinkingParser.feed after close")
        self._pending += piece
        return self._drain(final=False)

    def close(self) -> list[Event]:
        if self._closed:
            return []
        events = self._drain(final=True)
        self._closed = True
        return events

    # -- internals

    def _emit_thinking(self, text: str, events: list[Event]) -> None:
        if not self._thinking:
            text = text.lstrip("\n")
        if text:
            self._thinking.append(text)
            events.append(ThinkingDelta(text))

    def _emit_answer(self, text: str, events: list[Event]) -> None:
        if not self._answer:
            text = text.lstrip("\n")
        if text:
            self._answer.append(text)
            events.append(AnswerDelta(text))

    def _drain(self, *, final: bool) -> list[Event]:
        events: list[Event] = []
        while True:
            if self._state == "start":
                head = self._pending.lstrip()
                if head.startswith(THINK_OPEN):
                    self._pending = head[len(THINK_OPEN):]
                    self._state = "thinking"
                    continue
                if not final and THINK_OPEN.startswith(head):  # empty, or a partial "<think>"
                    return events
                self._state = "answer"
                continue
            if self._state == "thinking":
                end = self._pending.find(THINK_CLOSE)
                if end >= 0:
                    self._emit_thinking(self._pending[:end].rstrip("\n"), events)
                    self._pending = self._pending[end + len(THINK_CLOSE):]
                    self._state = "answer"
                    events.append(ThinkingEnd())
                    continue
                if final:
                    self._emit_thinking(self._pending.rstrip("\n"), events)
                    self._pending = ""
                    events.append(ThinkingEnd())
                    self._state = "answer"
                    return events
                keep = _tag_prefix_len(self._pending, THINK_CLOSE)
                body = self._pending[: len(self._pending) - keep]
                text = body.rstrip("\n")  # newlines right before "</think>" are dropped
                self._emit_thinking(text, events)
                self._pending = self._pending[len(text):]
                return events
            # answer
            self._emit_answer(self._pending, events)
            self._pending = ""
            return events


# ---------------------------------------------------------------------------------------------
# Thinking budget

BUDGET_STOP_TEXT = (
    "Considering the limited time by the user, I have to give the solution based on the thinking directly now.\n"
    "</think>\n\n"
)
"""Appended when the thinking budget runs out (Qwen3 technical report, "thinking budget").

Protocol (`explorer.chat.conversation`): with a budget of N thinking tokens, the first generation may write
at most N tokens; if it ends there while the `ThinkingParser` is still in thinking, append
BUDGET_STOP_TEXT to the prompt plus the output so far, feed it to the parser too (its sentence ends
the thinking text, its ``</think>`` ends the block), and continue generating from there: what follows
is the answer. A block the model closes by itself before the budget is never cut.
"""


# ---------------------------------------------------------------------------------------------
# Sampling presets


@dataclass(frozen=True)
class SamplingPreset:
    """How the next token is drawn. Temperature 0 is greedy (deterministic); Qwen recommends a presence
    penalty between 0 and 2 (1.5 for quantized models that repeat themselves); repeat penalty 1 is off."""

    temperature: float
    top_p: float
    top_k: int
    min_p: float
    presence_penalty: float = 0.0
    repeat_penalty: float = 1.0

    def check(self) -> SamplingPreset:
        """Itself, or ValueError naming the first value out of range (one line)."""
        rules = (
            ("temperature", self.temperature, 0.0, 5.0, "0 is greedy"),
            ("top-p", self.top_p, 0.0, 1.0, ""),
            ("top-k", self.top_k, 0, 1_000_000, "0 is off"),
            ("min-p", self.min_p, 0.0, 1.0, ""),
            ("presence penalty", self.presence_penalty, -2.0, 2.0, "Qwen suggests 0 to 2"),
            ("repeat penalty", self.repeat_penalty, 0.0, 5.0, "1 is off"),
        )
        for name, value, low, high, hint in rules:
            above_zero = name in ("top-p", "repeat penalty")  # 0 is no probability mass, or a division by 0
            if not (isinstance(value, (int, float)) and low <= value <= high) or (above_zero and value == 0):
                span = f"above 0, at most {high:g}" if above_zero else f"{low:g} to {high:g}"
                raise ValueError(f"{name} must be {span}{f' ({hint})' if hint else ''}, not {value!r}")
        return self


THINKING_PRESET = SamplingPreset(temperature=0.6, top_p=0.95, top_k=20, min_p=0.0)
NON_THINKING_PRESET = SamplingPreset(temperature=0.7, top_p=0.8, top_k=20, min_p=0.0)


APP_TEMPLATE = "qwen3-instruct-2507.jinja"  # Qwen3's ChatML without thinking: for a GGUF that has none


@functools.lru_cache(maxsize=1)
def app_template() -> str:
    """The chat template the app supplies to a model whose GGUF carries none (Base models): Qwen3's
    ChatML, as the Instruct-2507 models use it."""
    try:
        return (resources.files("qwen3_explorer_assets") / "templates" / APP_TEMPLATE).read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):  # run from a checkout that is not installed
        return (Path(__file__).resolve().parents[2] / "assets" / "templates" / APP_TEMPLATE).read_text("utf-8")


def preset_for(thinking: bool) -> SamplingPreset:
    """Qwen's recommended sampling (greedy decoding makes thinking models repeat themselves)."""
    return THINKING_PRESET if thinking else NON_THINKING_PRESET


# ---------------------------------------------------------------------------------------------
# History


@dataclass(frozen=True)
class Turn:
    role: str  # "system", "user" or "assistant"
    content: str  # for the assistant: the answer (a raw output with a thinking block is accepted)
    thinking: str = ""  # the assistant's thinking, shown in the UI, never sent back


def strip_thinking(text: str) -> str:
    """An assistant output without its thinking block: what follows the last ``</think>``."""
    if THINK_CLOSE in text:
        return text.split(THINK_CLOSE)[-1].lstrip("\n")
    return text


def history_for_template(turns: Sequence[Turn | Mapping[str, str]]) -> list[dict[str, str]]:
    """Turns as template messages; previous assistant answers go back without their thinking.

    Qwen's templates expect that (multi-turn history carries only the final answers). A raw output
    (a mapping) loses what comes before its last ``</think>``, as the templates themselves would cut
    it. A `Turn`'s content is the answer alone, already parted from its thinking: it goes back whole
    with an empty ``reasoning_content``, which stops the templates from cutting an answer that
    mentions the tag itself.
    """
    out: list[dict[str, str]] = []
    for turn in turns:
        if isinstance(turn, Turn):
            message = {"role": turn.role, "content": turn.content}
            if turn.role == "assistant":
                message["reasoning_content"] = ""
        else:
            role, content = turn["role"], turn.get("content", "")
            message = {"role": role, "content": strip_thinking(content) if role == "assistant" else content}
        out.append(message)
    return out
