"""`qwen3-explorer complete | fim | sweep` and chat's sampling flags (issue 11), on generated models
through the real engine; bad input is one line and an exit code."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from explorer.cli.main import main
from explorer.testing.models import TEST_MODELS, ensure_model
from explorer.testing.scripted import DEFAULT_ANSWER, ensure_scripted_model

pytestmark = pytest.mark.llama

INSTRUCT = "qwen3-tiny-instruct-q8_0"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    out = io.StringIO()
    code = main([*argv, "--threads", "1"], out=out)
    return code, out.getvalue(), capsys.readouterr().err


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_complete_sends_the_text_as_typed(capsys: pytest.CaptureFixture[str]) -> None:
    import llama_cpp

    path = ensure_model(INSTRUCT)
    text = "The capital of Singapore is <|im_start|>"
    code, out, _ = run(["complete", str(path), text, "--max-tokens", "6", "--json"], capsys)
    assert code == 0
    (rec,) = records(out)
    llm = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
    expected = len(llm.tokenize(text.encode(), add_bos=True, special=False))
    llm.close()
    assert rec["text"] == text and rec["stats"]["prompt_tokens"] == expected  # no template, nothing parsed


def test_fim_prints_the_middle_or_the_whole(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    demo = str(ensure_scripted_model())
    (tmp_path / "head.py").write_text("def f():\n    ")
    code, out, _ = run(["fim", demo, "--prefix", f"@{tmp_path / 'head.py'}", "--suffix", "\n", "--max-tokens", "500"],
                       capsys)
    assert code == 0 and out == DEFAULT_ANSWER + "\n"
    code, out, _ = run(["fim", demo, "--prefix", "A", "--suffix", "Z", "--max-tokens", "500", "--whole"], capsys)
    assert code == 0 and out == "A" + DEFAULT_ANSWER + "Z"


def test_sweep_loads_once_and_gives_each_value_its_own_answer(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ensure_model(INSTRUCT))
    code, out, err = run(["sweep", path, "Who are you?", "--temperature", "0,1.5,0", "--max-tokens", "12",
                          "--seed", "5", "--json"], capsys)
    assert code == 0 and err.count("loaded in") == 1
    recs = records(out)
    assert [r["temperature"] for r in recs] == [0.0, 1.5, 0.0] and {r["seed"] for r in recs} == {5}
    assert recs[0]["answer"] == recs[2]["answer"]  # temperature 0 is greedy: the same answer twice
    code, out, _ = run(["sweep", path, "Who are you?", "--mode", "chat,free-form", "--max-tokens", "4", "--json"],
                       capsys)
    chat, free = records(out)
    assert (chat["mode"], free["mode"]) == ("chatroom", "free-form")
    assert chat["stats"]["prompt_tokens"] > free["stats"]["prompt_tokens"]  # the template's turn markers


def test_chat_sampling_flags_reach_the_engine(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ensure_model("qwen3-tiny-coder-f16"))  # its random weights answer at length: room for a penalty
    base = ["chat", path, "Tell me a story", "--temperature", "0", "--max-tokens", "64", "--json"]
    answers = []
    for seed in ("1", "2"):
        code, out, _ = run([*base, "--seed", seed], capsys)
        assert code == 0
        answers.append(records(out)[0]["answer"])
    assert answers[0] == answers[1]  # greedy: the seed no longer matters
    code, out, _ = run([*base, "--repeat-penalty", "3"], capsys)
    assert code == 0 and records(out)[0]["answer"] != answers[0]


@pytest.mark.parametrize(("argv", "words"), [
    (["chat", "{instruct}", "hi", "--temperature", "-1"], "temperature must be 0 to 5 (0 is greedy), not -1.0"),
    (["sweep", "{instruct}", "hi", "--temperature", "0,9"], "temperature must be 0 to 5 (0 is greedy), not 9.0"),
    (["sweep", "{instruct}", "hi", "--temperature", "0,1", "--top-p", "0.5,0.9"], "one of --temperature"),
    (["fim", "{demo}", "--prefix", "", "--suffix", " "], "fill-in-the-middle needs a prefix or a suffix"),
    (["complete", "/nonexistent.gguf", "x"], "no such file"),
    (["chat", "/tmp", "x"], "not a regular file: /tmp"),
    (["complete", "{demo}", ""], "nothing to complete: the text is empty"),
])
def test_bad_input_is_one_line_before_anything_loads(argv: list[str], words: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    paths = {"{instruct}": str(ensure_model(INSTRUCT)), "{demo}": str(ensure_scripted_model())}
    code, out, err = run([paths.get(a, a) for a in argv], capsys)
    assert code == 2 and out == "" and words in err
    assert "loaded in" not in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("flag", "value", "words"), [
    ("--temperature", "abc", "invalid float value: 'abc'"), ("--budget", "-1", "must be 0 or more, not -1"),
    ("--max-tokens", "0", "must be 1 or more, not 0"), ("--threads", "-5", "must be 1 or more, not -5"),
])
def test_a_bad_number_is_argparse_s_one_line(flag: str, value: str, words: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["chat", "x.gguf", "hi", flag, value])
    assert exit_.value.code == 2 and words in capsys.readouterr().err.splitlines()[-1]


def test_fim_whole_keeps_the_stats_line_and_a_stop_in_the_thinking_ends_its_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    demo = str(ensure_scripted_model())
    code, out, err = run(["fim", demo, "--prefix", "A", "--max-tokens", "500", "--whole"], capsys)
    assert code == 0 and out.startswith("A") and "· end of answer" in err.splitlines()[-1]
    code, out, err = run(["chat", demo, "Why?", "--max-tokens", "5"], capsys)  # stops inside the thinking
    assert out == "" and err.splitlines()[-1].startswith("first token in")


def test_fim_to_a_model_without_fim_tokens_and_a_prompt_longer_than_the_context(
        capsys: pytest.CaptureFixture[str]) -> None:
    no_fim = ensure_model(replace(TEST_MODELS["qwen3-tiny-hybrid-q8_0"], name="qwen3-tiny-nofim-q8_0",
                                  fim_tokens=False))
    code, _, err = run(["fim", str(no_fim), "--prefix", "a", "--suffix", "b"], capsys)
    assert code == 1 and "no <|fim_prefix|>, <|fim_suffix|>, <|fim_middle|> token" in err
    code, _, err = run(["complete", str(ensure_model(INSTRUCT)), "word " * 600, "--ctx", "256"], capsys)
    assert code == 1 and "more than the 256 the context holds" in err and "Traceback" not in err
