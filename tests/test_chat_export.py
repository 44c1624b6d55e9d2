"""Markdown and JSON export of a saved session (explorer/chat/export.py), and the stats line's one wording."""

from __future__ import annotations

import json

from test_transcripts import ANSWER, THINKING, make_session

from explorer.chat.conversation import MessageStats
from explorer.chat.export import stats_line, to_json, to_markdown
from explorer.chat.markdown import close_open_fence
from explorer.chat.records import Session
from explorer.chat.stats import format_stats
from explorer.chat.transcripts import validate_session


def test_json_export_round_trips() -> None:
    saved = make_session()
    session = Session.from_json(saved)
    text = to_json(session)
    assert json.loads(text) == session.to_json() and Session.from_json(json.loads(text)) == session
    assert "café" in text and "λ" in text  # not \\u escapes
    assert text.startswith('{\n  "schema": 1,')


def test_markdown_has_every_pane() -> None:
    md = to_markdown(Session.from_json(make_session()))
    assert md.startswith("# Why is the sky blue?\n\n2026-11-26 05:43 · 3 panes\n")
    assert "## Pane 1 — Qwen3-0.6B Q8_0" in md
    assert "## Pane 2 — Qwen3-4B-Instruct-2507 Q4_K_M" in md
    assert "## Pane 3 — Qwen3-8B Q4_K_M" in md
    assert ("*Hybrid · thinking on · budget 512 tokens · temperature 0.6, top_p 0.95, top_k 20, min_p 0 "
            "(recommended) · max tokens 1024 · seed 7*") in md
    assert ("*Instruct-2507 · no thinking · temperature 0.7, top_p 0.8, top_k 20, min_p 0 (recommended) · "
            "max tokens 256 · seed 0*") in md
    assert "File: `/models/Qwen3-0.6B-Q8_0.gguf`" in md
    assert md.count("**You**\n\nWhy is the sky blue?\nAnswer briefly.\n") == 2
    assert "**Assistant**" in md
    assert ANSWER.strip() in md  # the answer's Markdown, code block included, as it is
    assert "Sunlight scatters off air molecules — café-short answer." in md
    assert "<details><summary>Thinking (40 tokens)</summary>" in md
    assert "*first token in 20 ms · 412 tok/s · 96 tokens (40 thinking) · prompt 12 tokens · end of answer*" in md
    assert "*first token in 20 ms · 412 tok/s · 12 tokens · prompt 12 tokens · end of answer*" in md
    assert ("*first token in 500 ms · 20 tok/s · 30 tokens (30 thinking) · prompt 10 tokens · "
            "error: the worker crashed (SIGSEGV) · "
            "thinking budget reached*") in md
    assert "<details><summary>Thinking (30 tokens)</summary>\n\n```text\nSome thought\n```\n\n</details>" in md


def test_pane_order_and_turn_order_are_kept() -> None:
    md = to_markdown(Session.from_json(make_session()))
    positions = [md.index(s) for s in ("## Pane 1", "Thinking (40", "Rayleigh scattering", "## Pane 2",
                                       "Sunlight", "## Pane 3", "print('partial")]
    assert positions == sorted(positions)


def test_a_fence_in_the_thinking_cannot_break_the_details_block() -> None:
    md = to_markdown(Session.from_json(make_session()))
    start = md.index("<details><summary>Thinking (40 tokens)</summary>")
    block = md[start:md.index("</details>\n", start)]
    # The thinking holds ``` runs, so it is fenced with four backticks, and only the closing line
    # of that fence can end it: no line inside is a fence of four or more.
    assert "\n````text\n" + THINKING + "\n````\n" in block
    inner = block.split("\n````text\n", 1)[1].rsplit("\n````\n", 1)[0]
    assert not any(line.startswith("````") for line in inner.splitlines())
    assert "</details>" in inner  # the stray tag stays inside the code block, as text


def test_an_open_code_block_in_an_answer_is_closed() -> None:
    md = to_markdown(Session.from_json(make_session()))
    assert "```python\nprint('partial\n```\n\n*first token in 500 ms" in md
    assert close_open_fence(ANSWER) == ANSWER
    assert close_open_fence("~~~~\ncode\n~~~") == "~~~~\ncode\n~~~\n~~~~"
    assert close_open_fence("````md\n```python\nx\n```\n") == "````md\n```python\nx\n```\n````"
    assert close_open_fence("inline ```code``` only") == "inline ```code``` only"


def test_markdown_of_a_minimal_session() -> None:
    session = {"schema": 1, "id": "x", "title": "", "created": "not a date", "updated": "",
               "panes": [{"pane": 1, "model": {"label": "M"}, "settings": {}, "turns": []}]}
    md = to_markdown(Session.from_json(validate_session(session)))
    assert md == ("# Conversation\n\nnot a date · 1 pane\n\n## Pane 1 — M\n\n*thinking on · no thinking budget · "
                  "temperature 0.6, top_p 0.95, top_k 20, min_p 0 (recommended) · max tokens 2048 · seed -1*\n")


# --- one stats line: the app, the CLI and the export say the same ----------------------------------


def test_format_stats_wording() -> None:
    stats = MessageStats(ttft_s=0.0234, tokens_per_s=412.4, n_tokens=96, thinking_tokens=40, stop_reason="stopped")
    assert format_stats(stats) == "first token in 23 ms · 412 tok/s · 96 tokens (40 thinking) · stopped"
    assert format_stats(MessageStats(ttft_s=1.5, tokens_per_s=8.25, n_tokens=10)) == (
        "first token in 1.50 s · 8.2 tok/s · 10 tokens · end of answer")
    assert format_stats(MessageStats(n_tokens=1, stop_reason="length")) == "1 token · max tokens reached"
    error = MessageStats(n_tokens=5, stop_reason="error", message="boom\n  at line 3")
    assert format_stats(error) == "5 tokens · error: boom at line 3"  # one line
    forced = MessageStats(ttft_s=12.34, n_tokens=5, thinking_tokens=4, budget_forced=True)
    assert format_stats(forced) == (
        "first token in 12.3 s · 5 tokens (4 thinking) · end of answer · thinking budget reached")


def test_the_export_words_saved_stats_as_the_app_does() -> None:
    stats = MessageStats(0.5, 20.0, 30, 30, "error", True, 10, "the worker crashed (SIGSEGV)")
    saved = json.loads(json.dumps(stats.__dict__))
    assert MessageStats.from_json(saved) == stats
    assert stats_line(MessageStats.from_json(saved)) == format_stats(stats)


def test_damaged_saved_stats_read_as_defaults() -> None:
    raw = {"ttft_s": "fast", "tokens_per_s": float("nan"), "n_tokens": 7.9, "thinking_tokens": True,
           "stop_reason": 3, "budget_forced": "yes", "unknown": 1}
    assert MessageStats.from_json(raw) == MessageStats(n_tokens=7)
    assert stats_line(MessageStats.from_json(raw)) == "7 tokens · end of answer"


def test_the_export_names_the_pane_mode_and_shows_a_fim_turn() -> None:
    from explorer.chat.records import Message, ModelRef, PaneMode, PaneRecord, PaneSettings
    from explorer.chat.templates import SamplingPreset

    fim = PaneRecord(1, ModelRef("Coder", variant="coder"), PaneSettings(mode=PaneMode.FIM, seed=3),
                     (Message("user", "def f():", suffix="    return x\n"), Message("assistant", "\n    x = 1\n")))
    free = PaneRecord(2, ModelRef("Base", variant="base"),
                      PaneSettings(mode=PaneMode.FREE_FORM, sampling=SamplingPreset(0.0, 1.0, 0, 0.0, 0.0, 1.3)))
    md = to_markdown(Session("s", "t", "", "", (fim, free)))
    assert "*Coder · fill-in-the-middle · no thinking · temperature 0.7" in md
    assert "**You** (fill in the middle)\n\nPrefix:\n\n```\ndef f():\n```\n\nSuffix:\n\n```\n    return x\n```" in md
    assert "*Base · free-form · no thinking · temperature 0, top_p 1, top_k 0, min_p 0, repeat_penalty 1.3 ·" in md
