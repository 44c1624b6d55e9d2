"""One line that says how an answer went, worded the same in the app, the CLI and the Markdown export.

    first token in 23 ms · 412 tok/s · 96 tokens (40 thinking) · prompt 120 tokens at 1460 tok/s · end of answer
    first token in 9 ms · 405 tok/s · 30 tokens · prompt 152 tokens (120 cached) at 1380 tok/s · end of answer
    first token in 1.50 s · 8.2 tok/s · 10 tokens · max tokens reached · thinking budget reached
    5 tokens · error: the model process crashed

Figures that were not measured (0) are left out; the token count and why the answer ended are
always there. The prompt's speed is its prefill (what llama.cpp evaluated; a later turn reuses the
cached start of the conversation, counted apart).
"""

from __future__ import annotations

from explorer.chat.records import MessageStats, StopReason
from explorer.units import format_tokens_per_s

__all__ = ["STOP_TEXT", "format_duration", "format_stats"]

STOP_TEXT = {StopReason.STOP: "end of answer", StopReason.LENGTH: "max tokens reached",
             StopReason.STOPPED: "stopped", StopReason.ERROR: "error"}


def format_duration(seconds: float) -> str:
    """0.0234 -> '23 ms', 1.5 -> '1.50 s', 12.34 -> '12.3 s'."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def format_stats(stats: MessageStats) -> str:
    """Time to first token, speed, tokens (of which thinking), why it ended; see the module docstring."""
    parts: list[str] = []
    if stats.ttft_s > 0:
        parts.append(f"first token in {format_duration(stats.ttft_s)}")
    if stats.tokens_per_s > 0:
        parts.append(format_tokens_per_s(stats.tokens_per_s))
    tokens = f"{stats.n_tokens} token{'' if stats.n_tokens == 1 else 's'}"
    if stats.thinking_tokens:
        tokens += f" ({stats.thinking_tokens} thinking)"
    parts.append(tokens)
    if stats.prompt_tokens:
        prompt = f"prompt {stats.prompt_tokens} tokens"
        reused = stats.prompt_tokens - stats.prompt_eval_tokens
        if stats.prompt_eval_tokens and reused > 0:
            prompt += f" ({reused} cached)"
        if stats.prompt_tokens_per_s > 0:
            prompt += f" at {format_tokens_per_s(stats.prompt_tokens_per_s)}"
        parts.append(prompt)
    stop = STOP_TEXT.get(stats.stop_reason, str(stats.stop_reason))
    message = " ".join(stats.message.split())
    if stats.stop_reason is StopReason.ERROR and message:
        stop = f"error: {message}"
    parts.append(stop)
    if stats.budget_forced:
        parts.append("thinking budget reached")
    return " · ".join(parts)
