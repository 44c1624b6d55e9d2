"""A probe set run headless over generated models through the real engine (issue 12): a file that does
not load and a model that crashes mid-set mark their cells and the other files' cells complete; the
`probe` command's table, exports and bad input (one line, exit 2, nothing loaded)."""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from explorer.cli.main import main
from explorer.probes.results import read_csv, read_json
from explorer.probes.sets import load_set
from explorer.testing.models import ensure_model
from explorer.testing.scripted import DEFAULT_ANSWER, DEFAULT_THINKING, ensure_scripted_model

SET = '''schema = 1
name = "Sky"

[[question]]
id = "sky"
text = "Why is the sky blue?"
mode = "chatroom"
contains = "Rayleigh"

[[question]]
id = "thought"
text = "Why?"
mode = "chatroom"
contains = "I'll explain that"  # only in the thinking: never checked

[[question]]
id = "mid"
prefix = "def f():\\n    "
suffix = "\\n"
regex = "Rayleigh scattering"
'''


@pytest.fixture()
def probe_file(tmp_path: Path) -> Path:
    path = tmp_path / "sky.toml"
    path.write_text(SET)
    return path


@pytest.fixture()
def truncated(tmp_path: Path) -> Path:
    src = ensure_model("qwen3-tiny-instruct-q8_0")
    path = tmp_path / "truncated.gguf"
    path.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    return path


@pytest.mark.llama
def test_a_failing_file_and_a_crash_mid_set_mark_their_cells_and_the_run_goes_on(
        probe_file: Path, truncated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from explorer.cli import probe_run
    from explorer.cli.model_run import ModelRun

    instruct, scripted = ensure_model("qwen3-tiny-instruct-q8_0"), ensure_scripted_model()
    real_stream = ModelRun.stream
    asked: list[int] = []

    def stream(self: ModelRun, conv: Any, start: Any, out: Any, **kw: Any) -> Any:
        if self.client.pid is not None and self.info is not None and self.info.path == instruct:
            asked.append(1)
            if len(asked) == 2:  # the instruct model's second question: its worker dies before it answers
                os.kill(self.client.pid, signal.SIGKILL)
        return real_stream(self, conv, start, out, **kw)

    monkeypatch.setattr(ModelRun, "stream", stream)
    err = io.StringIO()
    cells: list[tuple[str, str]] = []
    run = probe_run.run_probe_set(load_set(probe_file), [truncated, instruct, scripted],
                                  probe_run.ProbeSettings(max_tokens=600, threads=1), err=err,
                                  on_cell=lambda c: cells.append((c.question, Path(c.file).stem)))
    # the truncated file's wave first (it does not load: all its cells at once), then the two that fit
    # together, question by question
    assert cells == [(q, "truncated") for q in ("sky", "thought", "mid")] + [
        (q, f) for q in ("sky", "thought", "mid") for f in (instruct.stem, scripted.stem)]
    assert len(run.cells) == 9
    for q in ("sky", "thought", "mid"):
        bad = run.cell(q, str(truncated))
        assert bad is not None and bad.error and "truncated" in bad.error and bad.check is None
    first = run.cell("sky", str(instruct))
    assert first is not None and not first.error and first.tokens > 0
    for q in ("thought", "mid"):  # the crash, then the dead worker: marked, not retried
        cell = run.cell(q, str(instruct))
        assert cell is not None and cell.error and cell.check is None, cell
    sky, thought, mid = (run.cell(q, str(scripted)) for q in ("sky", "thought", "mid"))
    assert sky is not None and thought is not None and mid is not None
    assert sky.answer == DEFAULT_ANSWER and sky.thinking == DEFAULT_THINKING and sky.check is True
    assert thought.check is False and thought.failed == ("contains \"I'll explain that\"",)
    assert mid.answer == DEFAULT_ANSWER and mid.check is True and mid.thinking == ""
    totals = {t.file: t for t in run.totals()}
    demo = totals[str(scripted)]
    assert (demo.passed, demo.checked, demo.errors) == (2, 3, 0) and demo.thinking_tokens > 0
    assert demo.median_tokens_per_s > 0 and demo.seconds > 0
    assert totals[str(truncated)].errors == 3 and totals[str(instruct)].errors == 2


@pytest.mark.llama
def test_probe_command_prints_totals_and_writes_exports_that_read_back(
        probe_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    demo = ensure_scripted_model()
    code = main(["probe", str(demo), "--set", str(probe_file), "--max-tokens", "600", "--threads", "1",
                 "--json", str(tmp_path / "r.json"), "--csv", str(tmp_path / "r.csv"), "--md", str(tmp_path / "r.md")],
                out=out)
    err = capsys.readouterr().err
    assert code == 0, err
    lines = out.getvalue().splitlines()
    assert lines[0] == "Probe set Sky: 3 questions x 1 file"
    assert lines[1].split() == ["file", "checks", "median", "tok/s", "time", "thinking", "tokens", "errors"]
    assert lines[3].split()[:2] == [demo.name, "2/3"]
    assert "sky: ✓" in err and "thought: ✗" in err
    run = read_json(tmp_path / "r.json")
    assert read_csv(tmp_path / "r.csv") == run and len(run.cells) == 3
    assert run.settings["max_tokens"] == 600
    assert "Rayleigh scattering" in (tmp_path / "r.md").read_text()


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue(), capsys.readouterr().err


def test_probe_list(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QWEN3_EXPLORER_PROBES", str(tmp_path))
    (tmp_path / "mine.toml").write_text('schema = 1\nname = "Mine"\n[[question]]\ntext = "hi"\n')
    (tmp_path / "broken.toml").write_text('schema = 1\n[[question]]\ntxt = "hi"\n')
    code, out, _ = run_cli(["probe", "--list"], capsys)
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()}
    assert {"seed003-free-form", "seed003-chatroom", "code", "reasoning", "instructions", "chat", "mine",
            "broken"} == set(rows)
    assert "built-in" in rows["code"] and str(tmp_path / "mine.toml") in rows["mine"]
    assert "does not load" in rows["broken"] and "key 'txt'" in rows["broken"]
    # a set of yours with a built-in's file name is the one `--set` finds: the list says so on both lines
    (tmp_path / "code.toml").write_text('schema = 1\nname = "My code"\n[[question]]\ntext = "hi"\n')
    code, out, _ = run_cli(["probe", "--list"], capsys)
    lines = [line for line in out.splitlines() if line.split()[0] == "code"]
    assert len(lines) == 2 and "built-in (hidden by yours of the same name)" in lines[0]
    assert "(used instead of the built-in)" in lines[1]


@pytest.mark.parametrize(("argv", "expected"), [
    (["probe"], "at least one GGUF file"),
    (["probe", "/nonexistent/a.gguf"], "no such file: /nonexistent/a.gguf"),
    (["probe", "{model}", "--set", "nope"], "no probe set named 'nope'"),
    (["probe", "{model}", "--set", "{bad}"], "bad.toml:3: question 1: key 'txt': unknown key"),
    (["probe", "{model}", "--temperature", "-1"], "temperature"),
    (["probe", "{model}", "--json", "/nonexistent/dir/r.json"], "no such folder"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], expected: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")  # never read: the input is refused first
    bad = tmp_path / "bad.toml"
    bad.write_text('schema = 1\n[[question]]\ntxt = "hi"\n')
    code, out, err = run_cli([a.format(model=model, bad=bad) for a in argv], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and expected in err, err
    assert "loaded" not in err


@pytest.mark.llama
def test_a_stopped_run_saved_and_reopened_resumes_with_only_its_missing_cells(
        probe_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stop after the first answer, and once more in the middle of an answer (that partial answer is not
    kept); the saved run reads back and a resume asks exactly the cells it lacks."""
    import threading

    from explorer.cli import probe_run
    from explorer.cli.model_run import ModelRun
    from explorer.probes.results import write_json

    demo = ensure_scripted_model()
    probe_set = load_set(probe_file)
    stop = threading.Event()
    run = probe_run.run_probe_set(probe_set, [demo], probe_run.ProbeSettings(max_tokens=600, threads=1),
                                  err=io.StringIO(), stop=stop, on_cell=lambda c: stop.set())
    assert [c.question for c in run.cells] == ["sky"] and not run.complete
    first = run.cells[0]

    real_stream = ModelRun.stream

    def stop_at_once(self: ModelRun, *a: Any, **kw: Any) -> Any:
        stop.set()  # the answer starts, then stops within a token
        return real_stream(self, *a, **kw)

    write_json(run, tmp_path / "run.json")
    saved = read_json(tmp_path / "run.json")
    stop.clear()
    monkeypatch.setattr(ModelRun, "stream", stop_at_once)
    again = probe_run.run_probe_set(probe_set, probe_run.columns_of(saved), stop=stop, resume=saved,
                                    err=io.StringIO())
    assert again.cells == [first] and again.missing() == [("thought", str(demo)), ("mid", str(demo))]

    monkeypatch.setattr(ModelRun, "stream", real_stream)
    stop.clear()
    asked: list[str] = []
    done = probe_run.run_probe_set(probe_set, probe_run.columns_of(again), stop=stop, resume=again,
                                   err=io.StringIO(), on_cell=lambda c: asked.append(c.question))
    assert asked == ["thought", "mid"] and done.complete and done.cells[0] == first
    assert [c.check for c in done.cells] == [True, False, True]


@pytest.mark.llama
def test_two_columns_of_one_file_share_one_load_and_answer_with_their_own_settings(
        probe_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chat grid's two panes on one file, thinking on and off: one model load, two columns."""
    from explorer.cli import probe_run
    from explorer.cli.model_run import ModelRun

    demo = ensure_scripted_model()
    opened: list[Path] = []
    real_open = ModelRun.open

    def count_open(self: ModelRun, path: Path, **kw: Any) -> int:
        opened.append(path)
        return real_open(self, path, **kw)

    monkeypatch.setattr(ModelRun, "open", count_open)
    on = probe_run.ProbeColumn("a", demo, probe_run.ProbeSettings(max_tokens=600, threads=1, thinking=True),
                               label="pane 1")
    off = probe_run.ProbeColumn("b", demo, probe_run.ProbeSettings(max_tokens=600, threads=1, thinking=False),
                                label="pane 2")
    run = probe_run.run_probe_set(load_set(probe_file), [on, off], err=io.StringIO())
    assert opened == [demo] and run.complete
    with_thinking, without = run.cell("sky", "a"), run.cell("sky", "b")
    assert with_thinking is not None and without is not None
    assert with_thinking.thinking == DEFAULT_THINKING and without.thinking == ""
    assert run.column("b").settings["thinking"] is False and run.column("a").name == "pane 1"
    import hashlib

    assert run.column("a").sha256 == run.column("b").sha256 == hashlib.sha256(demo.read_bytes()).hexdigest()
