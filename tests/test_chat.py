"""explorer.chat.templates: templates, thinking policy, streaming thinking parser, budget, presets, history."""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import jinja2
import jinja2.ext
import pytest

from explorer.chat.templates import (
    BUDGET_STOP_TEXT,
    AnswerDelta,
    ChatTemplateError,
    Event,
    SamplingPreset,
    ThinkingDelta,
    ThinkingEnd,
    ThinkingParser,
    Turn,
    history_for_template,
    preset_for,
    render_prompt,
    resolve_thinking,
    soft_switch,
    thinking_mode,
)
from explorer.gguf.variant import Variant
from explorer.testing.models import template_text

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is 2+2?"},
]

EXPECTED_END = {
    ("hybrid", True): "<|im_start|>assistant\n",
    ("hybrid", False): "<|im_start|>assistant\n<think>\n\n</think>\n\n",
    ("thinking-2507", True): "<|im_start|>assistant\n<think>\n",
    ("thinking-2507", False): "<|im_start|>assistant\n<think>\n",
    ("instruct-2507", True): "<|im_start|>assistant\n",
    ("instruct-2507", False): "<|im_start|>assistant\n",
    ("coder", True): "<|im_start|>assistant\n",
    ("coder", False): "<|im_start|>assistant\n",
}


def reference_render(template: str, messages: list[dict[str, str]], **kw: Any) -> str:
    """A plain (unsandboxed) jinja2 rendering with HF's options, to compare against."""
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = lambda x, **k: json.dumps(x, ensure_ascii=False, **k)
    return env.from_string(template).render(messages=messages, add_generation_prompt=True, **kw)


# ---------------------------------------------------------------------------------------------
# render_prompt


@pytest.mark.parametrize(("variant", "thinking"), sorted(EXPECTED_END))
def test_render_matches_reference_and_ends_with_generation_prompt(variant: str, thinking: bool) -> None:
    template = template_text(variant)
    assert template is not None
    got = render_prompt(template, MESSAGES, enable_thinking=thinking)
    assert got == reference_render(template, MESSAGES, enable_thinking=thinking)
    assert got.startswith("<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n")
    assert got.endswith(EXPECTED_END[(variant, thinking)])
    # and nothing after the user turn but the generation prompt
    assert got.split("What is 2+2?<|im_end|>\n", 1)[1] == EXPECTED_END[(variant, thinking)]


@pytest.mark.parametrize("variant", ["hybrid", "thinking-2507", "instruct-2507", "coder"])
def test_render_without_enable_thinking_leaves_it_undefined(variant: str) -> None:
    template = template_text(variant)
    assert template is not None
    got = render_prompt(template, MESSAGES, enable_thinking=None)
    assert got == reference_render(template, MESSAGES)
    # hybrid thinks by default: an undefined flag is not "false"
    assert got.endswith("<|im_start|>assistant\n<think>\n" if variant == "thinking-2507" else "<|im_start|>assistant\n")


def test_render_without_generation_prompt() -> None:
    template = template_text("hybrid")
    assert template is not None
    got = render_prompt(template, MESSAGES, enable_thinking=False, add_generation_prompt=False)
    assert got.endswith("What is 2+2?<|im_end|>\n")


@pytest.mark.parametrize("variant", ["hybrid", "thinking-2507", "instruct-2507", "coder"])
def test_multi_turn_history_goes_back_without_thinking(variant: str) -> None:
    template = template_text(variant)
    assert template is not None
    turns: list[Turn | dict[str, str]] = [
        Turn("user", "Hi"),
        Turn("assistant", "Hello there!", thinking="The user greets me. SECRET-THOUGHT"),
        {"role": "user", "content": "And now?"},
    ]
    messages = history_for_template(turns)
    assert messages[1] == {"role": "assistant", "content": "Hello there!", "reasoning_content": ""}
    got = render_prompt(template, messages, enable_thinking=True)
    assert "SECRET-THOUGHT" not in got
    assert "<|im_start|>assistant\nHello there!<|im_end|>\n<|im_start|>user\nAnd now?<|im_end|>\n" in got


@pytest.mark.parametrize("variant", ["hybrid", "thinking-2507", "instruct-2507", "coder"])
def test_an_answer_that_mentions_the_closing_tag_goes_back_whole(variant: str) -> None:
    template = template_text(variant)
    assert template is not None
    answer = "Qwen ends its thinking with </think>, then writes the answer. KEEP-THIS."
    turns = [Turn("user", "How does Qwen mark thinking?"), Turn("assistant", answer, thinking="Tags."),
             Turn("user", "Thanks")]
    got = render_prompt(template, history_for_template(turns), enable_thinking=True)
    assert f"<|im_start|>assistant\n{answer}<|im_end|>" in got
    assert "Tags." not in got


def test_history_strips_a_raw_thinking_block_from_assistant_output() -> None:
    raw = "<think>\nSECRET-THOUGHT\n</think>\n\nFour."
    messages = history_for_template([{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": raw}])
    assert messages == [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "Four."}]
    template = template_text("hybrid")
    assert template is not None
    got = render_prompt(template, [*messages, {"role": "user", "content": "3+3?"}], enable_thinking=True)
    assert "SECRET-THOUGHT" not in got
    assert "<think>" not in got


def test_base_model_is_raw_completion_of_last_user_message() -> None:
    messages = [{"role": "user", "content": "Once upon"}, {"role": "assistant", "content": "x"},
                {"role": "user", "content": "The capital of France is"}]
    assert render_prompt(None, messages, enable_thinking=None) == "The capital of France is"
    with pytest.raises(ChatTemplateError):
        render_prompt(None, [{"role": "system", "content": "s"}], enable_thinking=None)


def test_sandbox_blocks_attribute_escape() -> None:
    evil = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(ChatTemplateError, match="unsafe") as info:
        render_prompt(evil, MESSAGES, enable_thinking=None)
    assert isinstance(info.value.__cause__, jinja2.exceptions.SecurityError)


def test_sandbox_is_immutable() -> None:
    with pytest.raises(ChatTemplateError):
        render_prompt("{% set _ = messages.append({'role': 'user'}) %}", MESSAGES, enable_thinking=None)


def test_raise_exception_and_syntax_errors_become_chat_template_errors() -> None:
    with pytest.raises(ChatTemplateError, match="roles must alternate"):
        render_prompt("{{ raise_exception('roles must alternate') }}", MESSAGES, enable_thinking=None)
    with pytest.raises(ChatTemplateError, match="syntax error"):
        render_prompt("{% if %}", MESSAGES, enable_thinking=None)


def test_tojson_is_hf_style() -> None:
    out = render_prompt("{{ x | tojson }}|{{ x | tojson(indent=2) }}", [], enable_thinking=None,
                        variables={"x": {"b": "<é>", "a": 1}})
    assert out == '{"b": "<é>", "a": 1}|' + json.dumps({"b": "<é>", "a": 1}, ensure_ascii=False, indent=2)


def test_tools_render_through_tojson() -> None:
    template = template_text("hybrid")
    assert template is not None
    tools = [{"type": "function", "function": {"name": "now", "parameters": {}}}]
    got = render_prompt(template, MESSAGES, enable_thinking=True, variables={"tools": tools})
    assert '{"type": "function", "function": {"name": "now", "parameters": {}}}' in got


# ---------------------------------------------------------------------------------------------
# Thinking policy


def test_thinking_modes() -> None:
    hybrid = thinking_mode(Variant.HYBRID)
    assert (hybrid.can_toggle, hybrid.default_on, hybrid.always, hybrid.never) == (True, True, False, False)
    thinking = thinking_mode("thinking-2507")
    assert (thinking.can_toggle, thinking.default_on, thinking.always, thinking.never) == (False, True, True, False)
    assert "<think>" in thinking.reason
    for v in (Variant.INSTRUCT_2507, Variant.CODER, Variant.BASE):
        m = thinking_mode(v)
        assert (m.can_toggle, m.default_on, m.always, m.never) == (False, False, False, True)
        assert m.reason
    assert all(thinking_mode(v).reason for v in Variant)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How many r's in strawberries? /no_think", False),
        ("How many r's in strawberries? /think", True),
        ("hi /think\n", True),
        ("hi /think /no_think", False),
        ("hi /no_think /think", True),
        ("/no_think", False),
        ("what does /think do here?", None),
        ("no switch", None),
        ("", None),
        ("ends with/think", None),
        ("/thinking", None),
    ],
)
def test_soft_switch(text: str, expected: bool | None) -> None:
    assert soft_switch(text) is expected


def test_resolve_thinking() -> None:
    hybrid = thinking_mode(Variant.HYBRID)
    assert resolve_thinking(hybrid, True) is True
    assert resolve_thinking(hybrid, False) is False
    assert resolve_thinking(hybrid, True, ["a", "b /no_think"]) is False
    assert resolve_thinking(hybrid, False, ["a /think", "b"]) is True  # the latest switch still holds
    assert resolve_thinking(hybrid, True, ["a /no_think", "b /think"]) is True
    assert resolve_thinking(thinking_mode(Variant.THINKING_2507), False, ["x /no_think"]) is True
    assert resolve_thinking(thinking_mode(Variant.INSTRUCT_2507), True, ["x /think"]) is False


# ---------------------------------------------------------------------------------------------
# ThinkingParser


def run_parser(pieces: list[str], *, started_in_thinking: bool = False) -> tuple[ThinkingParser, list[Event]]:
    parser = ThinkingParser(started_in_thinking=started_in_thinking)
    events: list[Event] = []
    for piece in pieces:
        events += parser.feed(piece)
    events += parser.close()
    return parser, events


def collect(events: list[Event]) -> tuple[str, str, int]:
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    answer = "".join(e.text for e in events if isinstance(e, AnswerDelta))
    return thinking, answer, sum(isinstance(e, ThinkingEnd) for e in events)


SHAPES = [
    # (output, started_in_thinking, thinking, answer, thinking_ends)
    ("<think>\nLet me add: 2+2=4.\nDone.\n</think>\n\nThe answer is 4.", False,
     "Let me add: 2+2=4.\nDone.", "The answer is 4.", 1),
    ("Let me add: 2+2=4.\n</think>\n\nThe answer is 4.", True, "Let me add: 2+2=4.", "The answer is 4.", 1),
    ("<think>\n\n</think>\n\nThe answer is 4.", False, "", "The answer is 4.", 1),
    ("The answer is 4.\n\nNo thinking <think> here.", False, "", "The answer is 4.\n\nNo thinking <think> here.", 0),
    ("<think>\nI keep thinking and never st", False, "I keep thinking and never st", "", 1),
    ("I keep thinking </thin", True, "I keep thinking </thin", "", 1),
    ("<think>\na < b and </ b\n\n\nstill\n</think>\n\nx </think> y <think>", False,
     "a < b and </ b\n\n\nstill", "x </think> y <think>", 1),
    ("\n<think>hmm</think>ok", False, "hmm", "ok", 1),
    ("<thi", False, "", "<thi", 0),
    ("", False, "", "", 0),
    ("", True, "", "", 1),
]


@pytest.mark.parametrize(("output", "started", "thinking", "answer", "ends"), SHAPES)
def test_parser_shapes_whole_and_every_chunking(output: str, started: bool, thinking: str, answer: str,
                                                ends: int) -> None:
    chunkings: list[list[str]] = [[output], list(output)]
    # every single split position
    chunkings += [[output[:i], output[i:]] for i in range(1, len(output))]
    rng = random.Random(1234)
    for _ in range(3):
        cuts = sorted(rng.sample(range(1, len(output)), k=min(len(output) - 1, 6))) if len(output) > 1 else []
        bounds = [0, *cuts, len(output)]
        chunkings.append([output[a:b] for a, b in itertools.pairwise(bounds)])
    for pieces in chunkings:
        parser, events = run_parser(pieces, started_in_thinking=started)
        assert collect(events) == (thinking, answer, ends), pieces
        assert parser.thinking_text == thinking
        assert parser.answer_text == answer
        assert parser.thinking_chars == len(thinking)
        # ThinkingEnd comes after all thinking and before any answer
        kinds = [type(e) for e in events]
        if ThinkingEnd in kinds:
            end = kinds.index(ThinkingEnd)
            assert ThinkingDelta not in kinds[end:] and AnswerDelta not in kinds[:end]


def test_parser_never_emits_partial_tags() -> None:
    parser = ThinkingParser()
    events = parser.feed("<thi")
    assert events == []
    events = parser.feed("nk>\nabc</thi")
    assert events == [ThinkingDelta("abc")]
    assert parser.in_thinking
    events = parser.feed("nk>\n\nAns")
    assert events == [ThinkingEnd(), AnswerDelta("Ans")]
    assert not parser.in_thinking
    assert parser.close() == []


def test_parser_holds_trailing_newlines_until_more_thinking() -> None:
    parser = ThinkingParser(started_in_thinking=True)
    assert parser.feed("one\n") == [ThinkingDelta("one")]
    assert parser.feed("\ntwo") == [ThinkingDelta("\n\ntwo")]
    assert parser.feed("\n</think>") == [ThinkingEnd()]
    assert parser.thinking_text == "one\n\ntwo"


def test_parser_rejects_feed_after_close() -> None:
    parser = ThinkingParser()
    parser.close()
    with pytest.raises(RuntimeError):
        parser.feed("x")


def test_budget_stop_text_ends_thinking_in_the_parser() -> None:
    parser, events = run_parser(["<think>\nLong thought", BUDGET_STOP_TEXT, "Answer."])
    assert parser.thinking_text == "Long thought" + BUDGET_STOP_TEXT.split("\n</think>")[0]
    assert parser.answer_text == "Answer."
    assert collect(events)[2] == 1


# ---------------------------------------------------------------------------------------------
# Budget and presets


def test_budget_stop_text_is_the_reports() -> None:
    assert BUDGET_STOP_TEXT == (
        "Considering the limited time by the user, I have to give the solution based on the thinking "
        "directly now.\n</think>\n\n"
    )


def test_presets() -> None:
    assert preset_for(True) == SamplingPreset(temperature=0.6, top_p=0.95, top_k=20, min_p=0.0)
    assert preset_for(False) == SamplingPreset(temperature=0.7, top_p=0.8, top_k=20, min_p=0.0)
    assert preset_for(True).presence_penalty == 0.0


def test_variant_from_template() -> None:
    from explorer.gguf.variant import variant_from_template
    from explorer.testing.models import template_text

    assert variant_from_template(None) is Variant.BASE
    assert variant_from_template(template_text("hybrid")) is Variant.HYBRID
    assert variant_from_template(template_text("thinking-2507")) is Variant.THINKING_2507
    assert variant_from_template(template_text("instruct-2507")) is None  # the file name has to tell
    assert variant_from_template(template_text("coder")) is None
