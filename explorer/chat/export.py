"""A saved session (`explorer.chat.transcripts`) as JSON, or as a readable Markdown transcript."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from explorer.chat.markdown import close_open_fence
from explorer.chat.records import MessageStats
from explorer.chat.stats import format_stats
from explorer.chat.templates import thinking_mode
from explorer.gguf.variant import Variant

__all__ = ["fenced", "settings_line", "stats_line", "to_json", "to_markdown"]


def to_json(session: dict[str, Any]) -> str:
    return json.dumps(session, indent=2, ensure_ascii=False) + "\n"


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


def settings_line(settings: dict[str, Any]) -> str:
    """E.g. "Hybrid · thinking on · budget 512 tokens · temperature 0.6, top_p 0.95, ... · seed 0"."""
    parts: list[str] = []
    variant = settings.get("variant")
    mode = None
    try:
        v = Variant(variant)
        parts.append(v.label)
        mode = thinking_mode(v)
    except ValueError:
        if variant:
            parts.append(str(variant))
    thinking = bool(settings.get("thinking"))
    if mode is not None and mode.never:
        parts.append("no thinking")
    elif mode is not None and mode.always:
        parts.append("thinking always on")
    else:
        parts.append("thinking on" if thinking else "thinking off")
    if thinking and not (mode is not None and mode.never):
        budget = settings.get("budget")
        parts.append("no thinking budget" if budget is None else f"budget {budget} tokens")
    sampling = settings.get("sampling")
    if isinstance(sampling, dict):
        keys = ("temperature", "top_p", "top_k", "min_p")
        text = ", ".join(f"{k} {_num(sampling[k])}" for k in keys if k in sampling)
        if sampling.get("presence_penalty"):
            text += f", presence_penalty {_num(sampling['presence_penalty'])}"
        if text:
            parts.append(text + (" (recommended)" if settings.get("sampling_is_default") else ""))
    if settings.get("max_tokens") is not None:
        parts.append(f"max tokens {settings['max_tokens']}")
    if settings.get("seed") is not None:
        parts.append(f"seed {settings['seed']}")
    return " · ".join(parts)


def stats_line(stats: Mapping[str, Any]) -> str:
    """A saved message's stats (a dict) in the words of `explorer.chat.stats.format_stats`."""
    return format_stats(MessageStats.from_json(stats))


def fenced(text: str, info: str = "text") -> str:
    """`text` in a code fence longer than any backtick run inside it, so nothing in it can close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text.strip("\n")
    return f"{fence}{info}\n{body}\n{fence}"


def _turn_markdown(turn: dict[str, Any]) -> list[str]:
    role = turn.get("role", "")
    content = turn.get("content", "")
    if role == "user":
        return ["**You**", "", content.strip("\n"), ""]
    if role == "system":
        return ["**System prompt**", "", content.strip("\n"), ""]
    out = ["**Assistant**", ""]
    stats = turn.get("stats")
    thinking = turn.get("thinking") or ""
    if thinking.strip():
        count = f" ({stats['thinking_tokens']} tokens)" if stats and stats.get("thinking_tokens") else ""
        # Thinking goes in a code fence: it is raw model text, and a fence cannot be closed by
        # anything in it (see `fenced`), nor can a "</details>" inside it end the block.
        out += [f"<details><summary>Thinking{count}</summary>", "", fenced(thinking), "", "</details>", ""]
    if content.strip():
        out += [close_open_fence(content.strip("\n")), ""]
    if stats:
        out += [f"*{stats_line(stats)}*", ""]
    return out


def to_markdown(session: dict[str, Any]) -> str:
    """A readable transcript: title, date, then each pane's settings and turns."""
    title = session.get("title") or "Conversation"
    panes = session.get("panes", [])
    out = [f"# {title}", ""]
    when = session.get("updated") or session.get("created")
    if when:
        noun = "pane" if len(panes) == 1 else "panes"
        out += [f"{_date(when)} · {len(panes)} {noun}", ""]
    for pane in panes:
        model = pane.get("model", {})
        out += [f"## Pane {pane.get('pane', '?')} — {model.get('label', 'unknown model')}", ""]
        out += [f"*{settings_line(pane.get('settings', {}))}*", ""]
        if model.get("path"):
            out += [f"File: `{model['path']}`", ""]
        for turn in pane.get("turns", []):
            out += _turn_markdown(turn)
    return "\n".join(out).rstrip("\n") + "\n"
