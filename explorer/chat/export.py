"""A saved session (`explorer.chat.transcripts`) as JSON, or as a readable Markdown transcript."""

from __future__ import annotations

import json
import re
from datetime import datetime

from explorer.chat.markdown import close_open_fence
from explorer.chat.records import Message, MessageStats, PaneMode, PaneSettings, Session, variant_of
from explorer.chat.stats import format_stats
from explorer.chat.templates import preset_for, thinking_mode
from explorer.gguf.variant import Variant

__all__ = ["fenced", "settings_line", "stats_line", "to_json", "to_markdown"]


def to_json(session: Session) -> str:
    return json.dumps(session.to_json(), indent=2, ensure_ascii=False) + "\n"


def _num(value: object) -> str:
    """0.6 -> "0.6", 20 -> "20", 0.0 -> "0"."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _date(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def settings_line(settings: PaneSettings, variant: Variant | None) -> str:
    """E.g. "Hybrid · thinking on · budget 512 tokens · temperature 0.6, top_p 0.95, ... · seed 0"."""
    parts: list[str] = [variant.label] if variant is not None else []
    if settings.mode is not PaneMode.CHATROOM:
        parts.append(settings.mode.label.lower())
    mode = thinking_mode(variant) if variant is not None else None
    thinking = settings.thinking
    if settings.mode is not PaneMode.CHATROOM or (mode is not None and mode.never):
        parts.append("no thinking")
        thinking = False
    elif mode is not None and mode.always:
        parts.append("thinking always on")
    else:
        parts.append("thinking on" if thinking else "thinking off")
    if thinking:
        parts.append("no thinking budget" if settings.budget is None else f"budget {settings.budget} tokens")
    s = settings.sampling or preset_for(thinking)
    text = ", ".join(f"{k} {_num(getattr(s, k))}" for k in ("temperature", "top_p", "top_k", "min_p"))
    if s.presence_penalty:
        text += f", presence_penalty {_num(s.presence_penalty)}"
    if s.repeat_penalty != 1.0:
        text += f", repeat_penalty {_num(s.repeat_penalty)}"
    parts.append(text + (" (recommended)" if settings.sampling is None else ""))
    parts.append(f"max tokens {settings.max_tokens}")
    parts.append(f"seed {settings.seed}")
    return " · ".join(parts)


def stats_line(stats: MessageStats) -> str:
    """A message's stats in the words of `explorer.chat.stats.format_stats`."""
    return format_stats(stats)


def fenced(text: str, info: str = "text") -> str:
    """`text` in a code fence longer than any backtick run inside it, so nothing in it can close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text.strip("\n")
    return f"{fence}{info}\n{body}\n{fence}"


def _turn_markdown(turn: Message) -> list[str]:
    if turn.role == "user" and turn.suffix is not None:
        return ["**You** (fill in the middle)", "", "Prefix:", "", fenced(turn.content, ""), "", "Suffix:", "",
                fenced(turn.suffix, ""), ""]
    if turn.role == "user":
        return ["**You**", "", turn.content.strip("\n"), ""]
    if turn.role == "system":
        return ["**System prompt**", "", turn.content.strip("\n"), ""]
    out = ["**Assistant**", ""]
    stats = turn.stats
    if turn.thinking.strip():
        count = f" ({stats.thinking_tokens} tokens)" if stats and stats.thinking_tokens else ""
        # Thinking goes in a code fence: it is raw model text, and a fence cannot be closed by
        # anything in it (see `fenced`), nor can a "</details>" inside it end the block.
        out += [f"<details><summary>Thinking{count}</summary>", "", fenced(turn.thinking), "", "</details>", ""]
    if turn.content.strip():
        out += [close_open_fence(turn.content.strip("\n")), ""]
    if stats is not None:
        out += [f"*{stats_line(stats)}*", ""]
    return out


def to_markdown(session: Session) -> str:
    """A readable transcript: title, date, then each pane's settings and turns."""
    out = [f"# {session.title or 'Conversation'}", ""]
    when = session.updated or session.created
    if when:
        noun = "pane" if len(session.panes) == 1 else "panes"
        out += [f"{_date(when)} · {len(session.panes)} {noun}", ""]
    for pane in session.panes:
        out += [f"## Pane {pane.pane} — {pane.model.label or 'unknown model'}", ""]
        out += [f"*{settings_line(pane.settings, variant_of(pane.model.variant))}*", ""]
        if pane.model.path:
            out += [f"File: `{pane.model.path}`", ""]
        for turn in pane.messages:
            out += _turn_markdown(turn)
    return "\n".join(out).rstrip("\n") + "\n"
