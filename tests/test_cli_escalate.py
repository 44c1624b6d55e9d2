"""`qwen3-explorer chat FAST --escalate-to THINKING [--auto]` through the real engine, on scripted models: the fast
one answers without thinking, the thinking one gets the same conversation and answers fresh."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import make_hardware

from explorer.chat.escalation import EscalationRequest, start_escalation
from explorer.chat.templates import Turn, history_for_template, render_prompt
from explorer.cli import escalate
from explorer.cli.main import main
from explorer.gguf.model_info import inspect_model
from explorer.hardware import probe as hardware
from explorer.testing.models import ensure_model
from explorer.testing.scripted import (
    DEFAULT_ANSWER,
    DEFAULT_THINKING,
    ScriptedSpec,
    ensure_scripted_model,
    script_token_counts,
)

pytestmark = pytest.mark.llama

HEDGE = "I am not sure, but it might be 391."
HEDGING_FAST = ScriptedSpec(name="qwen3-escalation-hedging", thinking="A quick guess will do.", answer=HEDGE)


def chat(fast: Path, target: Path, stdin: str, *flags: str, monkeypatch: pytest.MonkeyPatch,
         json_out: bool = True) -> tuple[int, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    code = main(["chat", str(fast), "--escalate-to", str(target), "--threads", "1", *flags,
                 *(["--json"] if json_out else [])], out=out)
    return code, out.getvalue()


def records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def spy_on_prompts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[EscalationRequest, str]]:
    """Each escalation's request and the prompt the thinking model was then given."""
    seen: list[tuple[EscalationRequest, str]] = []
    def spy(target: Any, request: EscalationRequest) -> None:
        start_escalation(target, request)
        seen.append((request, target.last_prompt))

    monkeypatch.setattr(escalate, "start_escalation", spy)
    return seen


def test_escalate_sends_the_same_conversation_without_the_fast_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    fast, thinking = ensure_scripted_model(HEDGING_FAST), ensure_scripted_model()
    seen = spy_on_prompts(monkeypatch)
    code, text = chat(fast, thinking, "Hello there\nWhat is 17 * 23? /no_think\n/escalate\n",
                      monkeypatch=monkeypatch)
    assert code == 0
    first, second, escalated = records(text)
    for fast_answer in (first, second):  # no --auto: the fast answers alone, without thinking
        assert fast_answer["thinking"] == "" and fast_answer["answer"] == HEDGE
    assert escalated["message"] == "What is 17 * 23?"
    assert escalated["escalation"] == {"rule": "asked", "match": "/escalate", "model": thinking.name}
    assert escalated["thinking"] == DEFAULT_THINKING and escalated["answer"] == DEFAULT_ANSWER

    # What the thinking model saw: the first question and the fast model's answer to it, then the question
    # again (its soft switch dropped); not the fast answer to it.
    [(request, prompt)] = seen
    expected = render_prompt(inspect_model(thinking).template, history_for_template(
        [Turn("user", "Hello there"), Turn("assistant", HEDGE), Turn("user", "What is 17 * 23?")]),
        enable_thinking=True)
    assert prompt == expected
    assert prompt.count(HEDGE) == 1 and "/no_think" not in prompt
    assert prompt.endswith("What is 17 * 23?<|im_end|>\n<|im_start|>assistant\n")
    assert [m.role for m in request.history] == ["user", "assistant"]

    stats, cost = escalated["stats"], escalated["cost"]
    assert stats["thinking_tokens"] > 0 and cost["thinking"]["thinking_tokens"] == stats["thinking_tokens"]
    assert cost["thinking"]["tokens"] == stats["n_tokens"]
    assert cost["fast"]["tokens"] == second["stats"]["n_tokens"] and cost["fast"]["thinking_tokens"] == 0
    assert cost["fast"]["seconds"] > 0 and cost["thinking"]["seconds"] > 0
    assert cost["summary"] == (f"the thinking model took {cost['time_ratio']:.1f}x the time and "
                               f"{stats['thinking_tokens']} thinking tokens")


def test_auto_escalates_the_question_that_fires_and_not_the_chit_chat(monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    scripted = ensure_scripted_model()
    code, text = chat(scripted, scripted, "Hello there\nWhat is 17 * 23?\nThanks!\n", "--auto",
                      monkeypatch=monkeypatch, json_out=False)
    assert code == 0
    answer = DEFAULT_ANSWER.strip()
    assert text == f"{answer}\n{answer}\nescalating: arithmetic (17 * 23)\n{answer}\n{answer}\n"
    err = capsys.readouterr().err
    assert err.count(DEFAULT_THINKING) == 1  # only the escalated answer thought
    [cost] = [line for line in err.splitlines() if line.startswith("cost: ")]
    assert cost.startswith("cost: fast: ") and " · thinking: " in cost
    thinking = script_token_counts()[0]  # exact: <think>, the thinking, </think>
    assert f"({thinking} thinking)" in cost and cost.endswith(f" and {thinking} thinking tokens")


def test_auto_escalates_a_hedging_fast_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    code, text = chat(ensure_scripted_model(HEDGING_FAST), ensure_scripted_model(),
                      "What is the capital of Australia?\n", "--auto", monkeypatch=monkeypatch)
    assert code == 0
    fast, escalated = records(text)
    assert fast["answer"] == HEDGE
    assert escalated["escalation"]["rule"] == "hedging" and escalated["escalation"]["match"] == "I am not sure"
    assert escalated["answer"] == DEFAULT_ANSWER


def test_a_thinking_2507_target_and_the_other_command(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = spy_on_prompts(monkeypatch)
    code, text = chat(ensure_scripted_model(), ensure_model("qwen3-tiny-thinking-q8_0"),
                      "/ask-thinking\nWhy is the sky blue?\n/ask-thinking\n", "--max-tokens", "24",
                      monkeypatch=monkeypatch)
    assert code == 0  # the first command had nothing to escalate: a note, and the chat goes on
    fast, escalated = records(text)
    assert fast["answer"] and DEFAULT_ANSWER.startswith(fast["answer"])  # cut at 24 tokens
    assert escalated["escalation"]["match"] == "/ask-thinking"
    assert escalated["stats"]["thinking_tokens"] > 0  # its template opens <think>: it always thinks
    [(_, prompt)] = seen
    assert prompt.endswith("Why is the sky blue?<|im_end|>\n<|im_start|>assistant\n<think>\n")


def test_escalate_before_any_question_says_so(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    scripted = ensure_scripted_model()
    code, text = chat(scripted, scripted, "/escalate\n", monkeypatch=monkeypatch)
    assert code == 0 and text == ""
    assert capsys.readouterr().err.splitlines()[-1] == "nothing to escalate yet: ask a question first"


@pytest.mark.parametrize(("model", "says"), [
    ("qwen3-tiny-instruct-q8_0", "is an Instruct-2507 model, which never thinks: escalate to a Thinking-2507 "
                                 "or hybrid Qwen3 model"),
    ("qwen3-tiny-base-f16", "is a Base model, which never thinks"),
    ("qwen3-tiny-coder-f16", "is a Coder model, which never thinks"),
])
def test_a_target_that_never_thinks_is_refused_before_anything_loads(model: str, says: str,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    target = ensure_model(model)
    code = main(["chat", str(ensure_scripted_model()), "What is 2 + 2?", "--escalate-to", str(target)],
                out=io.StringIO())
    assert code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: --escalate-to: {target.name} {says}")


def test_bad_target_paths_and_auto_alone_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scripted = str(ensure_scripted_model())
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 10)
    for argv, says in [
        ([scripted, "hi", "--escalate-to", str(tmp_path / "missing.gguf")], "no such file: "),
        ([scripted, "hi", "--escalate-to", str(tmp_path)], "not a regular file: "),
        ([scripted, "hi", "--escalate-to", str(bad)], "bad.gguf is not a readable GGUF"),
        ([scripted, "hi", "--auto"], "--auto needs --escalate-to THINKING_FILE"),
    ]:
        assert main(["chat", *argv], out=io.StringIO()) == 2
        [line] = capsys.readouterr().err.splitlines()
        assert line.startswith("error: ") and says in line


def test_models_that_fit_alone_but_not_together_are_refused(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    # CPU only with 0.3 GiB free: the fast one needs ~0.22 GiB and the thinking one ~0.18 GiB at 4k.
    monkeypatch.setattr(hardware, "probe_hardware", lambda *a, **k: make_hardware(ram=1, ram_free=0.3, vram=None))
    fast, target = ensure_model("qwen3-fit-dense-f16"), ensure_model("qwen3-fit-dense-q8_0")
    code = main(["chat", str(fast), "hi", "--escalate-to", str(target), "--ctx", "4096"], out=io.StringIO())
    assert code == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line == (f"error: {fast.name} and {target.name} do not fit in memory together at 4096 tokens of "
                    "context. Use a smaller --ctx, or --force to load them anyway.")
