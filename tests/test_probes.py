"""Probe sets (issue 12): the check kinds on known answers and near misses, the set file format and its
errors (file, line, key), the built-in sets, and the results' exports round-tripping. No engine here:
the run over real models is tests/test_probe_run.py."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from explorer.chat.records import PaneMode
from explorer.probes.checks import Checks, numbers_in
from explorer.probes.results import Cell, ProbeRun, QuestionRef, csv_text, markdown_text, parse_csv
from explorer.probes.sets import MODES, ProbeSetError, find_set, list_sets, load_set, parse_set


def builtin(name: str) -> dict[str, Checks]:
    return {q.id: q.checks for q in find_set(name).questions}


# --- checks -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "ok"), [
    ("196 has 9 divisors.", True),
    ("There are **9** positive divisors: 1, 2, 4, 7, 14, 28, 49, 98 and 196.", True),
    ("It has 9.0 divisors", True),
    ("91", False),
    ("196 has 10 divisors", False),
    ("x9 y99 9th", False),
])
def test_number_check_on_the_divisors_of_196(answer: str, ok: bool) -> None:
    checks = builtin("seed003-chatroom")["divisors"]
    assert checks.mark(answer) is ok


def test_number_tolerance_commas_and_signs() -> None:
    assert Checks(number=33, tolerance=0.01).mark("The final price is $33.00.") is True
    assert Checks(number=33, tolerance=0.01).mark("It comes to $33.5") is False
    assert Checks(number=1275).mark("The sum is 1,275.") is True
    assert numbers_in("from −1 to 1, or -0.5") == [-1.0, 1.0, -0.5]
    assert numbers_in("v1.2.3 and 3x") == []


@pytest.mark.parametrize(("answer", "ok"), [
    ("The output of tanh lies in the open interval (-1, 1).", True),
    ("tanh maps every real number into (−1, 1)", True),
    ("Its values are between -1 and 1.", True),
    ("The range is (0, 1), like the sigmoid.", False),
    ("The range is (-1, 10).", False),
    ("The range is [0, ∞)", False),
])
def test_tanh_range_regex(answer: str, ok: bool) -> None:
    for name in ("seed003-free-form", "seed003-chatroom"):
        assert builtin(name)["tanh"].mark(answer) is ok


@pytest.mark.parametrize(("answer", "ok"), [
    (" Singapore.", True),  # the free-form continuation of "The capital of Singapore is"
    ("The capital of Singapore is Singapore, since it is a city-state.", True),
    ("Singapore is a city-state, so the country and its capital share the name.", True),
    (" Kuala Lumpur.", False),
    ("The capital of Singapore is Kuala Lumpur.", False),
])
def test_singapore_check(answer: str, ok: bool) -> None:
    for name in ("seed003-free-form", "seed003-chatroom"):
        assert builtin(name)["singapore"].mark(answer) is ok


def test_contains_and_one_of() -> None:
    c = Checks(contains=("Rayleigh", "scatter"))
    assert c.mark("Because of rayleigh SCATTERING.") is True
    assert c.failures("Because of Rayleigh.") == ["contains 'scatter'"]
    one = Checks(one_of=("Carol", "city state"))
    assert one.mark("The youngest is Carol.") is True
    assert one.mark("Carolina") is False  # a whole word, not a part of one
    assert one.mark("a City  state") is False and one.mark("a city state!") is True
    assert Checks().mark("anything") is None


def test_thinking_is_never_checked() -> None:
    c = Checks(contains=("Singapore",), number=9)
    assert c.mark("<think>Singapore has 9 ...</think>\n\nI do not know.") is False
    assert c.mark("<think>unfinished thinking about Singapore and 9") is False
    assert c.mark("<think>hm</think> Singapore, 9") is True


def test_every_builtin_question_passes_a_right_answer_and_fails_a_wrong_one() -> None:
    right = {
        "predict": "20", "train": "The trip takes 215 minutes.", "discount": "$33", "rectangle": "96 cm²",
        "sevens": "The digit 7 is written 20 times.", "sum": "1275", "youngest": "Carol",
        "write": "```python\ndef is_palindrome(s: str) -> bool:\n    t = [c.lower() for c in s if c.isalnum()]\n"
                 "    return t == t[::-1]\n```",
        "fix": "def mean(xs):\n    if not xs:\n        return 0.0\n    return sum(xs) / len(xs)\n",
        "fim": "(f - 32) * 5 / 9", "bullets": "- red\n- yellow\n- blue\n", "one-word": "HOT",
        "json": '{"name": "Ada", "age": 36}', "word-limit": "The calm sea at noon is a deep and endless blue.",
        "lowercase": "green", "sky": "Air molecules scatter blue light more.", "planets": "Use a mnemonic.",
    }
    wrong = {"predict": "30", "train": "3 hours 35", "discount": "$34", "rectangle": "80", "sevens": "19",
             "sum": "1250", "youngest": "Bob", "write": "def is_palindrome(s): ...",
             "fix": "return total / len(xs) - 1",
             "fim": "(f - 32) * 9 / 5", "bullets": "Red, yellow and blue.", "one-word": "Hot.",
             "json": '```json\n{"name": "Ada", "age": 36}\n```',
             "word-limit": "The sea, which stretches further than any of us could ever sail, looks blue.",
             "lowercase": "Green.", "sky": "Because of the sea.", "planets": "Look them up."}
    seen = set()
    for name in ("code", "reasoning", "instructions", "chat"):
        for q in find_set(name).questions:
            if q.checks.empty:
                continue
            seen.add(q.id)
            assert q.checks.mark(right[q.id]) is True, (q.id, q.checks.failures(right[q.id]))
            assert q.checks.mark(wrong[q.id]) is False, q.id
    assert seen == set(right)


# --- the file format ------------------------------------------------------------------------------------


def test_builtin_sets_load_and_use_the_pane_modes() -> None:
    assert set(MODES) == {m.value for m in PaneMode}
    entries = list_sets(Path("/nonexistent"))
    assert {e.path.stem for e in entries} == {"seed003-free-form", "seed003-chatroom", "code", "reasoning",
                                              "instructions", "chat"}
    assert all(e.probe_set is not None and e.builtin for e in entries)
    free, chat = find_set("seed003-free-form"), find_set("seed003-chatroom")
    assert [q.text for q in free.questions] == [q.text for q in chat.questions] and len(free.questions) == 5
    assert {q.mode for q in free.questions} == {"free-form"} and {q.mode for q in chat.questions} == {"chatroom"}
    assert all(q.system for q in chat.questions) and not any(q.system for q in free.questions)
    fim = next(q for q in find_set("code").questions if q.is_fim)
    assert fim.prefix.startswith("def fahrenheit_to_celsius") and fim.suffix and not fim.text


def test_a_small_set_parses() -> None:
    s = parse_set('schema = 1\nsystem = "Be brief."\n[[question]]\ntext = "2+2?"\nnumber = 4\n'
                  '[[question]]\nid = "mid"\nprefix = "a"\nsuffix = "c"\n', "x.toml", default_name="x")
    assert s.name == "x" and [q.id for q in s.questions] == ["q1", "mid"]
    assert s.questions[0].system == "Be brief." and s.questions[0].mode is None and s.questions[0].checks.number == 4
    assert s.questions[1].mode == "fim" and s.questions[1].system is None


@pytest.mark.parametrize(("text", "expected"), [
    ('schema = 1\n[[question]]\ntext = "hi"\ncontain = "x"\n', r"bad\.toml:4: question 1: key 'contain': unknown key"),
    ('schema = 1\nnam = "x"\n[[question]]\ntext = "hi"\n', r"bad\.toml:2: key 'nam': unknown key"),
    ('schema = 1\n[[question]]\ntext = "a"\n\n[[question]]\ntext = "b"\nregex = "(unclosed"\n',
     r"bad\.toml:7: question 2: key 'regex': does not compile: missing \)"),
    ('schema = 1\n[[question]]\ntext = "hi"\ntext2 = \n', r"bad\.toml:4: not valid TOML"),
    ('schema = 1\n[[question]]\ntext = "hi"\nnumber = "nine"\n',
     r"bad\.toml:4: question 1: key 'number': must be a number"),
    ('schema = 1\n[[question]]\ntext = "hi"\ntolerance = 1\n', r"bad\.toml:4: question 1: key 'tolerance'"),
    ('schema = 1\n[[question]]\ntext = "hi"\nmode = "chat"\n', r"bad\.toml:4: question 1: key 'mode': 'chat' is not"),
    ('schema = 1\n[[question]]\ntext = "hi"\nprefix = "x"\n', r"bad\.toml:3: question 1: key 'text'"),
    ('schema = 2\n[[question]]\ntext = "hi"\n', r"bad\.toml:1: key 'schema': this set is written for schema 2"),
    ('[[question]]\ntext = "hi"\n', r"bad\.toml: key 'schema': missing"),
    ('schema = 1\n', r"bad\.toml: key 'question': a set needs at least one"),
    ('schema = 1\n[[question]]\nid = "a"\ntext = "x"\n[[question]]\nid = "a"\ntext = "y"\n',
     r"bad\.toml:6: question 2: key 'id': 'a' is used"),
])
def test_bad_set_files_name_the_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ProbeSetError) as info:
        load_set(path)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path) in message
    assert re.search(expected, message), message


def test_a_broken_user_set_is_listed_with_its_error_and_the_others_load(tmp_path: Path) -> None:
    (tmp_path / "good.toml").write_text('schema = 1\nname = "Mine"\n[[question]]\ntext = "hi"\n')
    (tmp_path / "broken.toml").write_text('schema = 1\n[[question]]\ntxt = "hi"\n')
    entries = {e.path.stem: e for e in list_sets(tmp_path)}
    assert entries["good"].probe_set is not None and not entries["good"].builtin
    assert entries["broken"].probe_set is None and "key 'txt'" in entries["broken"].error
    assert find_set("Mine", tmp_path).name == "Mine" and find_set("good", tmp_path).name == "Mine"
    assert find_set("reasoning", tmp_path).builtin
    with pytest.raises(ProbeSetError, match="no probe set named 'nope'"):
        find_set("nope", tmp_path)


def test_probes_dir_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from explorer.paths import probes_dir

    monkeypatch.setenv("QWEN3_EXPLORER_PROBES", str(tmp_path))
    assert probes_dir() == tmp_path
    monkeypatch.delenv("QWEN3_EXPLORER_PROBES")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert probes_dir() == tmp_path / "data" / "qwen3-explorer" / "probes"


# --- results ------------------------------------------------------------------------------------------------


def sample_run() -> ProbeRun:
    qs = [QuestionRef("q1", "chatroom", "How many, \"exactly\"?\nTwo lines | pipe"), QuestionRef("f", "fim", "a", "c")]
    files = ["/m/a.gguf", "/m/b, c.gguf"]
    cells = [Cell("q1", files[0], answer="9, with ümlauts\n\nand lines", thinking="hm", check=True, tokens=12,
                  thinking_tokens=3, seconds=0.1 + 0.2, tokens_per_s=1 / 3, stop_reason="stop"),
             Cell("q1", files[1], check=False, failed=("number 9", "regex '\\d'"), answer="ten", tokens=2,
                  seconds=2.5, tokens_per_s=40.0, stop_reason="length"),
             Cell("f", files[0], answer="b", tokens=1, seconds=0.5, tokens_per_s=30.0, stop_reason="stop"),
             Cell("f", files[1], error="crashed (exit code -11)", stop_reason="error")]
    return ProbeRun("Mine", qs, files, {"max_tokens": 64, "sampling": {"temperature": 0.0}}, cells)


def test_totals() -> None:
    a, b = sample_run().totals()
    assert (a.passed, a.checked, a.thinking_tokens, a.errors) == (1, 1, 3, 0)
    assert a.median_tokens_per_s == pytest.approx((1 / 3 + 30) / 2) and a.seconds == pytest.approx(0.8)
    assert (b.passed, b.checked, b.errors, b.median_tokens_per_s) == (0, 1, 1, 40.0)


def test_json_and_csv_round_trip(tmp_path: Path) -> None:
    from explorer.probes.results import read_csv, read_json, write_csv, write_json

    run = sample_run()
    write_json(run, tmp_path / "r.json")
    write_csv(run, tmp_path / "r.csv")
    assert read_json(tmp_path / "r.json") == run
    assert read_csv(tmp_path / "r.csv") == run
    assert parse_csv(csv_text(run)) == run
    with pytest.raises(ValueError, match="not a probe run CSV"):
        parse_csv("a,b\n1,2\n")


def test_columns_round_trip_and_name_the_grid(tmp_path: Path) -> None:
    """Two columns of one file (a chat grid's panes with different settings): their labels, hashes and
    settings survive JSON and CSV, and the Markdown shows the labels."""
    from explorer.probes.results import Column, read_json, write_json

    run = sample_run()
    run.files = ["/m/a.gguf", "/m/a.gguf#2"]
    run.cells = [replace(c, file=run.files[i % 2]) for i, c in enumerate(run.cells)]
    run.columns = {"/m/a.gguf": Column("/m/a.gguf", "/m/a.gguf", "a.gguf · thinking on", "ab" * 32,
                                       {"thinking": True}),
                   "/m/a.gguf#2": Column("/m/a.gguf#2", "/m/a.gguf", "a.gguf · thinking off", "ab" * 32,
                                         {"thinking": False, "sampling": {"temperature": 0.0}})}
    run.created = "2026-12-07T21:00:00"
    write_json(run, tmp_path / "r.json")
    assert read_json(tmp_path / "r.json") == run
    assert parse_csv(csv_text(run)) == run
    md = markdown_text(run)
    assert "| a.gguf · thinking on | 1/1 |" in md and "| a.gguf · thinking off | 0/1 |" in md
    assert run.column("/m/other.gguf").name == "other.gguf"


def test_missing_cells_are_what_a_resume_asks() -> None:
    run = sample_run()
    assert run.complete and run.missing() == []
    run.cells = run.cells[:2]
    assert not run.complete
    assert run.missing() == [("f", "/m/a.gguf"), ("f", "/m/b, c.gguf")]


def test_markdown_has_the_totals_and_every_answer() -> None:
    md = markdown_text(sample_run())
    assert "| a.gguf | 1/1 |" in md and "| b, c.gguf | 0/1 |" in md
    assert "9, with ümlauts<br><br>and lines" in md and "error: crashed (exit code -11)" in md
    assert "failed: number 9; regex '\\d'" in md and "How many, \"exactly\"?\nTwo lines | pipe" in md


def test_a_huge_answer_is_shown_cut_and_exported_whole() -> None:
    from explorer.probes.results import SHOWN_CHARS, shown

    text = "x" * (SHOWN_CHARS + 12_345)
    cut = shown(text)
    assert cut.startswith("x" * SHOWN_CHARS) and cut.endswith("(12,345 more characters: the whole answer is in "
                                                                "the run's exports)")
    assert shown("short") == "short"
    run = sample_run()
    run.cells[0] = replace(run.cells[0], answer=text)
    assert text in csv_text(run)  # the exports keep it whole
