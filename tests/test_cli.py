"""The command-line interface prints the same facts as the GUI, and says clearly what is wrong."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.cli.main import main, parse_ctx
from explorer.testing.models import TinyModelSpec, ensure_model, write_model


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(args), out=out)
    return code, out.getvalue()


def test_parse_ctx() -> None:
    assert parse_ctx("32k") == 32768
    assert parse_ctx("8192") == 8192
    with pytest.raises(Exception, match="not a context length"):
        parse_ctx("lots")


def test_fit_json_over_the_catalog() -> None:
    code, text = run("fit", "--ctx", "16k", "--json", "--no-llama", "--model", "Qwen3-8B")
    assert code == 0
    data = json.loads(text)
    assert data["ctx"] == 16384 and data["files"]
    for f in data["files"]:
        assert "Qwen3-8B" in f["model"]
        assert f["verdict"] in ("full GPU", "partial offload", "CPU only", "does not fit")
        assert f["total"] == f["gpu"]["total"] + f["cpu"]["total"]


def test_fit_with_a_local_file_uses_its_header() -> None:
    path = ensure_model("qwen3moe-fit-q8_0")
    code, text = run("fit", "--file", str(path), "--ctx", "4096", "--json", "--no-llama")
    assert code == 0
    [row] = json.loads(text)["files"]
    assert row["quant"] == "Q8_0" and row["exact"] is True
    assert row["cpu"]["weights"] > 60_000_000  # the real tensor bytes of the file
    assert row["note"] is None


def test_fit_on_a_model_that_is_not_qwen3_says_so(tmp_path: Path) -> None:
    path = write_model(TinyModelSpec(name="gemma3-tiny", arch="gemma3"), tmp_path / "gemma3-tiny-F16.gguf")
    code, text = run("fit", "--file", str(path), "--ctx", "4096", "--json", "--no-llama")
    assert code == 0
    [row] = json.loads(text)["files"]
    assert "made for Qwen3 models" in row["note"] and "'gemma3'" in row["note"]
    code, text = run("fit", "--file", str(path), "--ctx", "4096", "--no-llama")
    notes = [line for line in text.splitlines() if line.startswith("note:")]
    assert code == 0 and len(notes) == 1 and "gemma3-tiny-F16.gguf" in notes[0] and "'gemma3'" in notes[0]


def test_fit_table_text() -> None:
    code, text = run("fit", "--ctx", "4096", "--no-llama", "--model", "0.6B", "--quant", "Q8_0")
    assert code == 0
    assert "Qwen3-0.6B" in text and "Q8_0" in text


def test_fit_on_a_broken_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(ensure_model("qwen3-tiny-hybrid-f16").read_bytes()[:300])
    code, _ = run("fit", "--file", str(bad), "--no-llama")
    assert code == 2
    assert "broken.gguf" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_fit_on_a_path_that_is_no_file(tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "nothing.gguf"
    if kind == "directory":
        target.mkdir()
    code, _ = run("fit", "--file", str(target), "--no-llama")
    assert code == 2
    err = capsys.readouterr().err
    assert "nothing.gguf" in err and ("no such file" in err or "not a regular file" in err)


@pytest.mark.parametrize("ctx", ["infk", "1e300k", "100", "999999999"])
def test_fit_refuses_an_impossible_context(ctx: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run("fit", "--ctx", ctx, "--no-llama")
    assert exit_info.value.code == 2
    assert "--ctx" in capsys.readouterr().err


def test_quantized_kv_without_flash_attention_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run("fit", "--kv", "q8_0", "--no-flash-attn", "--no-llama")
    assert code == 2
    assert "needs flash attention" in capsys.readouterr().err


def test_hardware_json() -> None:
    code, text = run("hardware", "--json", "--no-llama")
    assert code == 0
    data = json.loads(text)
    assert data["ram_total"] > 0 and data["cpu"]["logical_cores"] >= 1


def test_installed_command_runs_the_cli_without_qt() -> None:
    """`qwen3-explorer fit` goes to the CLI and never loads Qt."""
    code = ("import sys; from ui.launcher import main; rc = main(['fit', '--no-llama', '--model', '1.7B', "
            "'--quant', 'Q8_0']); assert 'PySide6' not in sys.modules; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Qwen3-1.7B" in proc.stdout


@pytest.mark.parametrize(("word", "hint"), [("fti", "Did you mean fit?"), ("chta", "Did you mean chat?"),
                                            ("zzzz", "")])
def test_a_mistyped_command_is_an_error_with_a_suggestion_not_a_window(word: str, hint: str) -> None:
    code = (f"import sys; from ui.launcher import main; rc = main([{word!r}]); "
            "assert 'PySide6' not in sys.modules; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"qwen3-explorer: {word!r} is not a command.") and hint in last
    assert proc.stderr.startswith("usage: qwen3-explorer [hardware | fit")


def _no_display_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check is for Linux")
@pytest.mark.parametrize("how", [["-c", "import sys; from ui.launcher import main; rc = main([]); "
                                        "assert 'PySide6' not in sys.modules; sys.exit(rc)"], ["-m", "ui"]])
def test_no_display_is_one_line_and_exit_2_not_a_core_dump(how: list[str]) -> None:
    """No DISPLAY, no WAYLAND_DISPLAY, no QT_QPA_PLATFORM: Qt's xcb plugin would abort (a core dump and
    several lines); the command says why in one line, before Qt is imported."""
    proc = subprocess.run([sys.executable, *how], capture_output=True, text=True, timeout=60,
                          env=_no_display_env(), cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stdout == "" and proc.stderr == (
        "qwen3-explorer: no display to open a window on (DISPLAY is not set); run it in a desktop session, "
        "or use the command-line commands: qwen3-explorer --help\n")


def test_a_display_or_a_chosen_platform_opens_the_window() -> None:
    """The check in a child (this file runs in the core suite, where `ui` is blocked)."""
    code = """if True:
        from ui.launcher import no_display_reason as why
        assert why({}, "linux") == "DISPLAY is not set" and why({"DISPLAY": ""}, "linux") == "DISPLAY is not set"
        assert why({"DISPLAY": ":0"}, "linux") is None and why({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
        assert why({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
        assert why({}, "linux", ["-platform", "offscreen"]) is None
        assert why({}, "darwin") is None and why({}, "win32") is None
    """
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
