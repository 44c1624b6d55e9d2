"""The blind comparison's votes file (issue 12): written a line at a time, read back whole, and a bad or
huge line is skipped and counted, never fatal; the plan of pairs over a probe run and the vote it makes."""

from __future__ import annotations

import json
from datetime import datetime
from itertools import combinations
from pathlib import Path

import pytest

from explorer.paths import VOTES_DIR_ENV, votes_file
from explorer.probes.blind import BlindItem, blind_items, make_vote
from explorer.probes.results import Cell, Column, ProbeRun, QuestionRef
from explorer.probes.votes import MAX_LINE, Outcome, Vote, VoteSide, VoteStore

SMALL = VoteSide("/m/Qwen3-0.6B-Q8_0.gguf", "Qwen3-0.6B-Q8_0.gguf", "aa" * 32, {"temperature": 0.7})
BIG = VoteSide("/m/Qwen3-1.7B-Q4_K_M.gguf", "Qwen3-1.7B-Q4_K_M.gguf", "bb" * 32, {})


def vote(outcome: Outcome = Outcome.A, set_name: str = "Sky", a: VoteSide = SMALL, b: VoteSide = BIG) -> Vote:
    return Vote(set_name, "sky", "Why is the sky blue?", a, b, outcome, "2026-01-02T03:04:05")


def test_a_vote_reads_back_equal_and_the_file_is_one_json_line_each(tmp_path: Path) -> None:
    store = VoteStore(tmp_path / "deep" / "er" / "votes.jsonl")
    votes = [vote(o) for o in Outcome]
    fim = Vote("Code", "mid", "def f():\n    ", SMALL, BIG, Outcome.TIE, "2026-01-02T03:04:05", "\n")
    for v in [*votes, fim]:
        store.add(v)
    assert store.load().votes == [*votes, fim]
    assert store.load().skipped == 0
    lines = store.path.read_text("utf-8").splitlines()
    assert len(lines) == 5
    first = json.loads(lines[0])
    assert first["a"]["sha256"] == "aa" * 32 and first["b"]["sha256"] == "bb" * 32
    assert first["outcome"] == "a" and first["a"]["settings"] == {"temperature": 0.7}
    assert json.loads(lines[3])["outcome"] == "both-bad"


def test_the_default_store_is_votes_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(VOTES_DIR_ENV, str(tmp_path / "v"))
    store = VoteStore()
    assert store.path == votes_file() == tmp_path / "v" / "votes.jsonl"
    store.add(vote())
    assert VoteStore(tmp_path / "v" / "votes.jsonl").load().votes == [vote()]


def test_no_file_yet_is_no_votes(tmp_path: Path) -> None:
    log = VoteStore(tmp_path / "none.jsonl").load()
    assert (log.votes, log.skipped) == ([], 0)


def test_lines_that_are_not_votes_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "votes.jsonl"
    good = json.dumps(vote().to_json())
    bad = [
        "not json",
        "[1, 2]",
        json.dumps({**vote().to_json(), "version": 2}),
        json.dumps({**vote().to_json(), "outcome": "c"}),
        json.dumps({**vote().to_json(), "a": {"file": 3}}),
        json.dumps({**vote().to_json(), "a": {"file": "x", "settings": []}}),
        json.dumps({k: v for k, v in vote().to_json().items() if k != "b"}),
        json.dumps({**vote().to_json(), "question": None}),
        "[" * 100000,  # deeper than the parser goes
    ]
    path.write_bytes(("\n".join([good, *bad, "", "   ", good]) + "\n").encode() + b"\xff\xfe\n" + good.encode())
    log = VoteStore(path).load()
    assert log.votes == [vote(), vote(), vote()]
    assert log.skipped == len(bad) + 1  # the bytes that are not UTF-8; blank lines are not counted


def test_a_line_over_the_limit_is_skipped_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "votes.jsonl"
    huge = json.dumps({**vote().to_json(), "text": "x" * (3 * MAX_LINE)})
    path.write_text("\n".join([huge, json.dumps(vote(Outcome.B).to_json()), huge]) + "\n")
    log = VoteStore(path).load()
    assert log.votes == [vote(Outcome.B)]
    assert log.skipped == 2
    store = VoteStore(tmp_path / "big.jsonl")
    store.add(Vote("Sky", "sky", "y" * (MAX_LINE - 1000), SMALL, BIG, Outcome.A, "t"))  # under the limit: kept
    assert len(store.load().votes) == 1


def test_a_line_cut_short_by_a_crash_costs_only_itself(tmp_path: Path) -> None:
    store = VoteStore(tmp_path / "votes.jsonl")
    store.add(vote())
    with store.path.open("a") as f:
        f.write(json.dumps(vote(Outcome.B).to_json())[:40])  # no newline: the write was cut
    store.add(vote(Outcome.TIE))
    log = store.load()
    assert log.votes == [vote(), vote(Outcome.TIE)]
    assert log.skipped == 1


def test_a_store_that_cannot_be_written_says_so_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = VoteStore(blocker / "votes.jsonl")
    with pytest.raises(ValueError, match="could not be saved") as info:
        store.add(vote())
    assert "\n" not in str(info.value) and str(blocker) in str(info.value)
    with pytest.raises(ValueError, match="could not be read"):
        VoteStore(tmp_path).load()  # a folder


def test_a_side_is_its_sha256_else_its_path() -> None:
    assert SMALL.key == "aa" * 32
    assert VoteSide("/m/x.gguf").key == "/m/x.gguf"
    assert VoteSide("/m/x.gguf").name == "x.gguf"
    assert VoteSide("/other/place.gguf", "", "aa" * 32).key == SMALL.key


# --- the plan over a probe run --------------------------------------------------------------------------------


def probe_run(files: list[str], errors: frozenset[tuple[str, str]] = frozenset(), n_questions: int = 4) -> ProbeRun:
    questions = [QuestionRef(f"q{i}", "chatroom", f"Question {i}?") for i in range(n_questions)]
    cells = [Cell(q.id, f, answer=f"answer of {f} to {q.id}", error="boom" if (q.id, f) in errors else "")
             for q in questions for f in files]
    return ProbeRun("Set", questions, list(files), settings={"temperature": 0.6}, cells=cells)


def test_every_pair_that_answered_is_planned_once_per_question() -> None:
    files = ["a", "b", "c", "d"]
    run = probe_run(files, errors=frozenset({("q1", "c")}))
    items = blind_items(run, seed=1)
    assert [i.question_id for i in items] == ["q0"] * 6 + ["q1"] * 3 + ["q2"] * 6 + ["q3"] * 6
    for q in ("q0", "q1"):
        pairs = {frozenset((i.a_key, i.b_key)) for i in items if i.question_id == q}
        answered = [f for f in files if (q, f) != ("q1", "c")]
        assert pairs == {frozenset(p) for p in combinations(answered, 2)}
    run.cells = [c for c in run.cells if (c.question, c.file) != ("q2", "d")]  # never asked (an interrupted run)
    assert sum(i.question_id == "q2" for i in blind_items(run, seed=1)) == 3


def test_the_plan_is_shuffled_and_the_seed_repeats_it() -> None:
    run = probe_run(["a", "b", "c"], n_questions=12)
    assert blind_items(run, 5) == blind_items(run, 5)
    assert blind_items(run, 5) != blind_items(run, 6)
    items = blind_items(run, 5)
    firsts = {(i.a_key, i.b_key) for i in items}
    assert ("a", "b") in firsts and ("b", "a") in firsts  # each side lands first for some question
    orders = {tuple(frozenset((i.a_key, i.b_key)) for i in items if i.question_id == q.id) for q in run.questions}
    assert len(orders) > 1  # the pairs' order within a question varies too


def test_fewer_than_two_answers_plan_nothing() -> None:
    assert blind_items(probe_run(["a"]), 0) == []
    assert blind_items(probe_run(["a", "b"], errors=frozenset({(f"q{i}", "b") for i in range(4)})), 0) == []


def test_a_vote_carries_the_question_and_each_sides_file_label_sha256_and_settings() -> None:
    run = probe_run(["/m/x.gguf", "/m/x.gguf#2"])
    run.questions[0] = QuestionRef("q0", "fim", "def f():\n    ", "\n")
    run.columns = {"/m/x.gguf#2": Column("/m/x.gguf#2", "/m/x.gguf", "x.gguf · temp 0", "cc" * 32,
                                         {"temperature": 0.0})}
    v = make_vote(run, BlindItem("q0", "/m/x.gguf#2", "/m/x.gguf"), Outcome.BOTH_BAD, datetime(2026, 3, 4, 5, 6, 7))
    assert v == Vote("Set", "q0", "def f():\n    ",
                     VoteSide("/m/x.gguf", "x.gguf · temp 0", "cc" * 32, {"temperature": 0.0}),
                     VoteSide("/m/x.gguf", "x.gguf", "", {"temperature": 0.6}),  # no column: the run's settings
                     Outcome.BOTH_BAD, "2026-03-04T05:06:07", "\n")
