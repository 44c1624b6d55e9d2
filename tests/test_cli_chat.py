"""`qwen3-explorer chat`: the terminal chat, through the real engine, on the scripted demo model."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from chat_helpers import model_with_template
from conftest import make_hardware

from explorer.cli import model_run
from explorer.cli.main import main
from explorer.hardware import probe as hardware
from explorer.testing.models import ensure_model
from explorer.testing.scripted import DEFAULT_ANSWER, DEFAULT_THINKING, ensure_scripted_model

pytestmark = pytest.mark.llama


def chat(*args: str) -> tuple[int, list[dict[str, object]]]:
    out = io.StringIO()
    code = main(["chat", str(ensure_scripted_model()), *args, "--threads", "1", "--json"], out=out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def test_thinking_on_and_off() -> None:
    code, [msg] = chat("Why is the sky blue?")
    assert code == 0
    assert msg["thinking"] == DEFAULT_THINKING and msg["answer"] == DEFAULT_ANSWER
    code, [msg] = chat("Why is the sky blue?", "--no-think")
    assert code == 0 and msg["thinking"] == "" and msg["answer"] == DEFAULT_ANSWER


def test_budget_and_messages_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("first\n\nsecond\n"))
    code, msgs = chat("--budget", "10")
    assert code == 0 and [m["message"] for m in msgs] == ["first", "second"]
    for m in msgs:
        stats = m["stats"]
        assert isinstance(stats, dict)
        assert stats["thinking_tokens"] == 10 and stats["budget_forced"] is True
        assert m["answer"] == DEFAULT_ANSWER


def test_plain_text_goes_to_stdout_thinking_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    code = main(["chat", str(ensure_scripted_model()), "Why?", "--threads", "1"], out=out)
    assert code == 0
    assert out.getvalue().strip() == DEFAULT_ANSWER.strip()
    err = capsys.readouterr().err
    assert DEFAULT_THINKING in err and "thinking) · prompt 12 tokens at " in err and "tok/s · end of answer" in err


def test_a_model_that_does_not_fit_is_refused_without_force(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(hardware, "probe_hardware", lambda *a, **k: make_hardware(ram=1, ram_free=0.01, vram=None))
    code = main(["chat", str(ensure_model("qwen3-fit-dense-f16")), "hi"], out=io.StringIO())
    assert code == 1
    err = capsys.readouterr().err
    assert "does not fit" in err and "--force" in err


def test_bad_files_get_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", str(tmp_path / "missing.gguf"), "hi"], out=io.StringIO()) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 10)
    assert main(["chat", str(bad), "hi"], out=io.StringIO()) == 1
    assert "not a readable GGUF" in capsys.readouterr().err


@pytest.mark.parametrize(("template", "says"), [
    ("{% macro f(n) %}{{ f(n+1) }}{% endmacro %}{{ f(0) }}", "error: chat template failed: it recursed too deeply"),
    ("{{ raise_exception('no system role') }}", "error: chat template failed: no system role"),
    ("{% set n = messages|length %}{{ (n+9)**(10**9) }}", "error: the model's chat template did not finish in 0.5 s"),
])
def test_a_failing_template_is_one_line_not_a_traceback(template: str, says: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(model_run, "TEMPLATE_SECONDS", 0.5)
    path = model_with_template("qwen3-tiny-hybrid-q8_0", template, tmp_path)
    assert main(["chat", str(path), "hi", "--threads", "1"], out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == says
