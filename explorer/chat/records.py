"""The chat's records: messages, their stats and stop reasons, a pane's settings, a saved session.

Plain dataclasses and enums between the chat modules; dicts only at the JSON file edge (`to_json`,
`from_json`), in the saved-conversation format (schema 1) that `explorer.chat.transcripts` reads
and writes:

    {"schema": 1, "id": "20261126-054312-ab12", "title": "...", "created": ISO-8601, "updated": ISO-8601,
     "panes": [{"pane": 1, "model": {"label", "path", "variant", "quant"},
                "settings": {"variant", "thinking", "budget", "sampling", "sampling_is_default",
                             "max_tokens", "seed", "ctx", "mode", "system"},
                "turns": [{"role", "content", "thinking", "stats", "suffix"}]}]}

("mode" and "system" came with the pane modes, "suffix" with fill-in-the-middle; older files, which
lack them, read as chatroom without a system prompt.)

`from_json` expects data that `transcripts.validate_session` has checked (types and required
fields); optional fields that are missing, of another type or out of range (`LIMITS`)
take their defaults.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from explorer.chat.templates import SamplingPreset, preset_for, thinking_mode
from explorer.fit.contexts import DEFAULT_CHAT_CTX
from explorer.gguf.variant import Variant

SCHEMA = 1
DEFAULT_MAX_TOKENS = 2048
RANDOM_SEED = -1  # a pane's seed setting: draw a new seed for each message


class PaneMode(str, enum.Enum):
    """How a pane prompts its model (seed 003's settings, and fill-in-the-middle for Coder models)."""

    CHATROOM = "chatroom"  # through the chat template, with an optional system prompt
    FREE_FORM = "free-form"  # the text exactly as typed: no template, no special tokens
    FIM = "fim"  # <|fim_prefix|>PREFIX<|fim_suffix|>SUFFIX<|fim_middle|>, the model writes the middle

    @property
    def label(self) -> str:
        return {"chatroom": "Chatroom", "free-form": "Free-form", "fim": "Fill-in-the-middle"}[self.value]

    @classmethod
    def default_for(cls, variant: Variant | None) -> PaneMode:
        """Base models are for completion: free-form first; every other variant chats."""
        return cls.FREE_FORM if variant is Variant.BASE else cls.CHATROOM


class StopReason(str, enum.Enum):
    """Why an answer ended."""

    STOP = "stop"  # the model ended its answer
    LENGTH = "length"  # max tokens, or the context ran out
    STOPPED = "stopped"  # the person stopped it
    ERROR = "error"  # the engine failed (the stats' `message` says why)

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: object) -> StopReason:
        try:
            return cls(value)
        except ValueError:
            return cls.ERROR


@dataclass
class MessageStats:
    ttft_s: float = 0.0  # time to the first token of the first generation
    tokens_per_s: float = 0.0  # generated tokens per second over all generations of the message
    n_tokens: int = 0  # tokens generated (thinking + answer; not the injected BUDGET_STOP_TEXT)
    thinking_tokens: int = 0  # approximate, see `explorer.chat.conversation`
    stop_reason: StopReason = StopReason.STOP
    budget_forced: bool = False
    prompt_tokens: int = 0  # of the first generation's prompt
    message: str = ""  # why, for stop_reason ERROR
    prompt_eval_tokens: int = 0  # of those, the ones llama.cpp evaluated (the rest: its KV cache reused)
    prompt_tokens_per_s: float = 0.0  # prompt processing (prefill) speed

    def __post_init__(self) -> None:
        if not isinstance(self.stop_reason, StopReason):
            self.stop_reason = StopReason.parse(self.stop_reason)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "stop_reason": self.stop_reason.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MessageStats:
        """Saved stats, maybe from an older or edited file: a field of the wrong type (or a number that
        is not finite) reads as its default, unknown keys are ignored."""
        kept: dict[str, Any] = {}
        for f in fields(cls):
            value, default = data.get(f.name), getattr(cls(), f.name)
            if f.name == "stop_reason":
                kept[f.name] = StopReason.parse(value) if isinstance(value, str) else StopReason.STOP
            elif isinstance(default, bool):
                kept[f.name] = value is True
            elif isinstance(default, (int, float)):
                number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                kept[f.name] = type(default)(value) if number and value is not None else default
            elif isinstance(value, str):
                kept[f.name] = value
        return cls(**kept)


@dataclass
class Message:
    role: str  # "system", "user" or "assistant"
    content: str  # the answer for the assistant (fill-in-the-middle: the user's prefix, the middle)
    thinking: str = ""
    stats: MessageStats | None = None  # assistant only
    suffix: str | None = None  # fill-in-the-middle: the user's suffix

    def to_json(self) -> dict[str, Any]:
        out = {"role": self.role, "content": self.content, "thinking": self.thinking,
               "stats": self.stats.to_json() if self.stats is not None else None}
        if self.suffix is not None:
            out["suffix"] = self.suffix
        return out


    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        raw = data.get("stats")
        stats = MessageStats.from_json(raw) if isinstance(raw, Mapping) else None
        thinking, suffix = data.get("thinking"), data.get("suffix")
        return cls(str(data.get("role", "user")), str(data.get("content", "")),
                   thinking if isinstance(thinking, str) else "", stats, suffix if isinstance(suffix, str) else None)


@dataclass
class PaneSettings:
    """What a pane runs with. `sampling` None: Qwen's preset for the turn's thinking mode."""

    thinking: bool = True
    budget: int | None = None
    sampling: SamplingPreset | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    seed: int = RANDOM_SEED
    ctx: int = DEFAULT_CHAT_CTX
    mode: PaneMode = PaneMode.CHATROOM
    system: str = ""  # chatroom's system prompt; empty: the template's own default

    def to_json(self, variant: Variant | None) -> dict[str, Any]:
        """As saved with the conversation; `sampling` None saves the preset's values (so a transcript
        says what ran), with "sampling_is_default"."""
        never = variant is not None and thinking_mode(variant).never
        return {
            "variant": variant.value if variant is not None else None,
            "thinking": self.thinking,
            "budget": self.budget,
            "sampling": asdict(self.sampling or preset_for(self.thinking and not never)),
            "sampling_is_default": self.sampling is None,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "ctx": self.ctx,
            "mode": self.mode.value,
            "system": self.system,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PaneSettings:
        """Saved settings, maybe hand-edited: every value is bounded to what the app can use (`LIMITS`,
        a sampling whose `SamplingPreset.check` passes); anything else reads as its default."""
        thinking = data.get("thinking")
        st = cls(thinking=thinking if isinstance(thinking, bool) else True)
        st.budget = _whole(data.get("budget"), *LIMITS["budget"])
        if not data.get("sampling_is_default", True):
            st.sampling = _sampling(data.get("sampling"))
        for key in ("max_tokens", "seed", "ctx"):
            value = _whole(data.get(key), *LIMITS[key])  # the seed's default is RANDOM_SEED itself
            if value is not None:
                setattr(st, key, value)
        mode = data.get("mode")  # missing in files from before the pane modes: what such a pane ran
        st.mode = PaneMode(mode) if mode in {m.value for m in PaneMode} else PaneMode.default_for(
            variant_of(data.get("variant")))
        system = data.get("system")
        st.system = system if isinstance(system, str) else ""
        return st


# What a saved setting may be (inclusive); the seed may also be RANDOM_SEED.
LIMITS: dict[str, tuple[int, int]] = {
    "budget": (0, 1_000_000),
    "max_tokens": (1, 1_000_000),
    "seed": (0, 2**31 - 1),  # a 32-bit signed int, as llama.cpp and the seed box take it
    "ctx": (256, 16_777_216),
}


def _whole(value: object, low: int, high: int) -> int | None:
    """`value` if it is an int (not a bool) within low..high, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    return None


def _sampling(data: object) -> SamplingPreset | None:
    """The saved sampling values as a preset that passes its check; None (Qwen's preset) otherwise."""
    if not isinstance(data, Mapping) or not set(data) <= {f.name for f in fields(SamplingPreset)}:
        return None
    values: dict[str, Any] = {}
    for f in fields(SamplingPreset):
        if f.name not in data:
            continue
        value = data[f.name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        if f.name == "top_k":
            if not isinstance(value, int):
                return None
        else:
            value = float(value)
        values[f.name] = value
    try:
        return SamplingPreset(**values).check()
    except (TypeError, ValueError):  # a field missing, or a value out of range
        return None


def variant_of(value: object) -> Variant | None:
    try:
        return Variant(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class ConversationRecord:
    """One pane's conversation as it stands after a message: its settings and every message."""

    settings: PaneSettings
    variant: Variant | None
    messages: tuple[Message, ...] = ()

    def last_question(self) -> str | None:
        return next((m.content for m in reversed(self.messages) if m.role == "user"), None)

    def to_json(self) -> dict[str, Any]:
        """{"settings", "turns"}: a pane's part of a saved session (without its "ctx")."""
        settings = self.settings.to_json(self.variant)
        del settings["ctx"]
        return {"settings": settings, "turns": [m.to_json() for m in self.messages]}


@dataclass(frozen=True)
class ModelRef:
    """The model a pane ran, as saved: a label to show, the file, what kind it was."""

    label: str
    path: str = ""
    variant: str | None = None
    quant: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "path": self.path, "variant": self.variant, "quant": self.quant}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelRef:
        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        return cls(text("label") or "unknown model", text("path") or "", text("variant"), text("quant"))


@dataclass(frozen=True)
class PaneRecord:
    pane: int
    model: ModelRef
    settings: PaneSettings
    messages: tuple[Message, ...] = ()

    def to_json(self) -> dict[str, Any]:
        settings = self.settings.to_json(variant_of(self.model.variant))
        return {"pane": self.pane, "model": self.model.to_json(), "settings": settings,
                "turns": [m.to_json() for m in self.messages]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PaneRecord:
        settings = data.get("settings")
        settings = settings if isinstance(settings, Mapping) else {}
        model = data.get("model")
        turns = data.get("turns")
        return cls(pane=int(data.get("pane", 0)), model=ModelRef.from_json(model if isinstance(model, Mapping) else {}),
                   settings=PaneSettings.from_json(settings),
                   messages=tuple(Message.from_json(t) for t in (turns if isinstance(turns, list) else [])
                                  if isinstance(t, Mapping)))


@dataclass(frozen=True)
class Session:
    """A saved side-by-side conversation: every pane's model, settings and messages."""

    id: str
    title: str
    created: str  # ISO-8601
    updated: str  # ISO-8601
    panes: tuple[PaneRecord, ...] = ()
    schema: int = SCHEMA

    def user_questions(self) -> list[str]:
        """The questions asked, in the order of the pane with the most messages (what Regenerate asks)."""
        longest = max(self.panes, key=lambda p: len(p.messages), default=None)
        asked = [m.content for m in (longest.messages if longest else ()) if m.role == "user"]
        return asked or [m.content for p in self.panes for m in p.messages if m.role == "user"]

    def to_json(self) -> dict[str, Any]:
        return {"schema": self.schema, "id": self.id, "title": self.title, "created": self.created,
                "updated": self.updated, "panes": [p.to_json() for p in self.panes]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Session:
        panes = data.get("panes")
        return cls(id=str(data.get("id", "")), title=str(data.get("title", "")), created=str(data.get("created", "")),
                   updated=str(data.get("updated", "")),
                   panes=tuple(PaneRecord.from_json(p) for p in (panes if isinstance(panes, Sequence) else [])
                               if isinstance(p, Mapping)),
                   schema=int(data.get("schema", SCHEMA)))
