"""The scripted demo model: a real qwen3 GGUF whose llama.cpp generation follows a fixed script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from chat_helpers import drain, start_loaded

from explorer.chat.conversation import AnswerText, Conversation, ThinkingText
from explorer.chat.templates import BUDGET_STOP_TEXT, NON_THINKING_PRESET, THINKING_PRESET, render_prompt
from explorer.gguf.reader import chat_template, read_local_header
from explorer.gguf.variant import Variant
from explorer.testing.models import template_text
from explorer.testing.scripted import (
    DEFAULT_ANSWER,
    DEFAULT_THINKING,
    ScriptedSpec,
    ensure_scripted_model,
    entry_tokens,
    expected_output,
    min_logit_margin,
    script_pieces,
    write_scripted_model,
)

QUESTION = "Why is the sky blue?"
SEEDS = (1, 2, 3)

# Runs in a child process (llama.cpp may abort; pytest must survive that): for each case, the
# prompt's last token ids and the generated text, detokenized with special tokens, up to EOS.
_GENERATE = r"""
import json, sys, llama_cpp
path, cases = sys.argv[1], json.loads(sys.argv[2])
llm = llama_cpp.Llama(path, n_ctx=1024, n_threads=1, n_threads_batch=1, verbose=False)
vocab = llm._model.vocab
out = []
for prompt, temp, top_p, top_k, seed in cases:
    tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
    llm.set_seed(seed)
    got = []
    for tok in llm.generate(tokens, top_k=top_k, top_p=top_p, temp=temp, min_p=0.0, repeat_penalty=1.0):
        if llama_cpp.llama_vocab_is_eog(vocab, tok) or len(got) >= 600:
            break
        got.append(tok)
    out.append({"last": tokens[-2:], "text": llm.detokenize(got, special=True).decode("utf-8"), "eos": len(got) < 600})
print(json.dumps(out))
"""


def _generate(path: Path, cases: list[tuple[str, float, float, int, int]]) -> list[dict[str, object]]:
    proc = subprocess.run([sys.executable, "-c", _GENERATE, str(path), json.dumps(cases)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: list[dict[str, object]] = json.loads(proc.stdout)
    return result


def _prompt(thinking: bool, messages: list[dict[str, str]] | None = None) -> str:
    msgs = messages or [{"role": "user", "content": QUESTION}]
    return render_prompt(template_text("hybrid"), msgs, enable_thinking=thinking)


# --- no llama.cpp needed --------------------------------------------------------------------------

def test_defaults_read_like_a_real_answer() -> None:
    assert 40 <= len(DEFAULT_THINKING.split()) <= 60
    assert 60 <= len(DEFAULT_ANSWER.split()) <= 100
    assert "\n- " in DEFAULT_ANSWER and "```python\n" in DEFAULT_ANSWER
    assert "\u200b" not in expected_output(ScriptedSpec(), thinking=True)


def test_pieces_are_unique_and_rebuild_the_text() -> None:
    text = "Hi there! Hi there!\n\nHi there! the end, the end"
    taken = {"\n", "\n\n", " the"}
    pieces = script_pieces(text, taken)
    assert "".join(pieces) == text
    assert len(set(pieces)) == len(pieces)
    assert " the" not in pieces and set(pieces) <= taken
    assert pieces[:3] == ["Hi", " there!", " Hi"]  # a repeat grows: " Hi" is new, " there!" was not


def test_logit_margin_is_large() -> None:
    assert min_logit_margin(ScriptedSpec()) > 30  # ≈ 37 logits: e^-50 at temperature 0.7
    assert min_logit_margin(ScriptedSpec(n_embd=256)) > 39  # orthonormal: the full 40


def test_bad_scripts_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="some text"):
        write_scripted_model(ScriptedSpec(answer=" \n"), tmp_path / "a.gguf")
    with pytest.raises(ValueError, match="special token"):
        write_scripted_model(ScriptedSpec(thinking="done</think>"), tmp_path / "b.gguf")
    with pytest.raises(ValueError, match="n_embd"):
        write_scripted_model(ScriptedSpec(n_embd=100), tmp_path / "c.gguf")
    assert not list(tmp_path.iterdir())


def test_file_is_a_small_qwen3_with_the_hybrid_template(tmp_path: Path) -> None:
    spec = ScriptedSpec()
    path = ensure_scripted_model(spec, tmp_path)
    assert path.name == spec.filename and path.name.startswith("qwen3-demo-scripted-")
    assert ScriptedSpec(answer="Other.").filename != spec.filename
    header = read_local_header(path)
    assert header.arch == "qwen3"
    assert chat_template(header) == template_text("hybrid")
    assert header.metadata["tokenizer.ggml.model"] == "gpt2"
    assert header.metadata["general.file_type"] == 0  # all F32
    assert path.stat().st_size < 5_000_000
    mtime = path.stat().st_mtime_ns
    assert ensure_scripted_model(spec, tmp_path) == path and path.stat().st_mtime_ns == mtime  # cached
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no .part left


# --- real llama.cpp -------------------------------------------------------------------------------

@pytest.mark.llama
def test_llama_cpp_follows_the_script() -> None:
    spec = ScriptedSpec()
    path = ensure_scripted_model(spec)
    presets = (THINKING_PRESET, NON_THINKING_PRESET)
    cases = [(_prompt(thinking), p.temperature, p.top_p, p.top_k, seed)
             for thinking in (True, False) for p in presets for seed in SEEDS]
    # A second turn ends the same way, so it follows the script again.
    two_turns = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": DEFAULT_ANSWER},
                 {"role": "user", "content": "And why are sunsets red?"}]
    cases.append((_prompt(True, two_turns), 0.6, 0.95, 20, 7))
    results = _generate(path, cases)
    on, off = entry_tokens(spec)
    for (prompt, temp, _, _, seed), got in zip(cases, results, strict=True):
        thinking = prompt.endswith("<|im_start|>assistant\n")
        last = got["last"]
        assert isinstance(last, list) and last[-1] == (on if thinking else off)
        assert got["eos"], (thinking, temp, seed)
        assert got["text"] == expected_output(spec, thinking=thinking), (thinking, temp, seed)


@pytest.mark.llama
def test_a_custom_script_with_repeats(tmp_path: Path) -> None:
    spec = ScriptedSpec(name="scripted-test", thinking="Hmm, hmm, hmm.\nHmm.",
                        answer="Hi there! Hi there!\n\nHi there!\n- a\n- a\n", n_embd=64, seed=3)
    path = write_scripted_model(spec, tmp_path / spec.filename)
    cases = [(_prompt(thinking), 0.7, 0.8, 20, 5) for thinking in (True, False)]
    on, off = _generate(path, cases)
    assert on["text"] == expected_output(spec, thinking=True)
    assert off["text"] == expected_output(spec, thinking=False) == spec.answer


@pytest.mark.llama
def test_conversation_splits_thinking_and_answer() -> None:
    path = ensure_scripted_model()
    template = chat_template(read_local_header(path))
    client = start_loaded(path, n_ctx=1024, n_threads=1)  # 1: a tiny model on a shared 2-core machine
    try:
        conv = Conversation(client, template=template, variant=Variant.HYBRID, thinking=True, seed=4)
        for question in (QUESTION, "And why are sunsets red?"):
            conv.send(question)
            ups, fin = drain(conv)
            msg = conv.messages[-1]
            assert fin.stats.stop_reason == "stop"
            assert msg.thinking == DEFAULT_THINKING and msg.content == DEFAULT_ANSWER
            assert "".join(u.text for u in ups if isinstance(u, ThinkingText)) == DEFAULT_THINKING
            assert "".join(u.text for u in ups if isinstance(u, AnswerText)) == DEFAULT_ANSWER
        conv.send("Thanks! /no_think")  # the soft switch: the thinking-off prompt
        _, fin = drain(conv)
        assert fin.stats.prompt_tokens < 500  # merges learned on the script: ~a token per word of history
        assert conv.messages[-1].thinking == "" and conv.messages[-1].content == DEFAULT_ANSWER

        off = Conversation(client, template=template, variant=Variant.HYBRID, thinking=False, seed=5)
        off.send(QUESTION)
        ups, fin = drain(off)
        assert fin.stats.thinking_tokens == 0 and not any(isinstance(u, ThinkingText) for u in ups)
        assert off.messages[-1].thinking == "" and off.messages[-1].content == DEFAULT_ANSWER
    finally:
        client.unload(timeout=2)


@pytest.mark.llama
@pytest.mark.parametrize("budget", [1, 20])
def test_thinking_budget_cuts_at_exactly_the_budget(budget: int) -> None:
    """The budget's forced "</think>\\n\\n" ends like a thinking-off prompt, so the script's answer follows."""
    path = ensure_scripted_model()
    client = start_loaded(path, n_ctx=1024, n_threads=1)
    try:
        conv = Conversation(client, template=chat_template(read_local_header(path)), variant=Variant.HYBRID,
                            thinking=True, budget=budget, seed=2)
        conv.send(QUESTION)
        _, fin = drain(conv)
        msg = conv.messages[-1]
        assert fin.stats.budget_forced and fin.stats.stop_reason == "stop"
        assert fin.stats.thinking_tokens == budget  # exact: the engine stopped at the budget
        assert msg.content == DEFAULT_ANSWER
        cut = msg.thinking.split("Considering the limited time")[0]
        assert DEFAULT_THINKING.startswith(cut.strip()) and len(cut) < len(DEFAULT_THINKING)
        assert bool(cut.strip()) == (budget > 1)  # the first thinking token is <think> itself
        assert len(conv.prompts) == 2 and conv.prompts[1].endswith(BUDGET_STOP_TEXT)
    finally:
        client.unload(timeout=2)
