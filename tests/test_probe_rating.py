"""The leaderboard's Bradley-Terry rating (issue 12): fixed vote histories against values computed by hand,
ties and "both bad" as half a win, the prior that keeps a clean sweep finite, per-set filtering and the
seeded bootstrap interval."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest

from explorer.cli.main import main
from explorer.paths import VOTES_DIR_ENV
from explorer.probes.rating import leaderboard, strengths
from explorer.probes.votes import Outcome, Vote, VoteSide, VoteStore


def side(name: str, sha: str | None = None, path: str | None = None) -> VoteSide:
    return VoteSide(path or f"/m/{name}.gguf", name, name * 8 if sha is None else sha)


A, B, C, D = side("a"), side("b"), side("c"), side("d")


def votes(a: VoteSide, b: VoteSide, outcome: Outcome, n: int = 1, set_name: str = "S") -> list[Vote]:
    return [Vote(set_name, f"q{i}", "?", a, b, outcome, "") for i in range(n)]


def by_label(history: list[Vote], set_name: str | None = None, **kw: int) -> dict[str, float]:
    return {r.label: r.rating for r in leaderboard(history, set_name, **kw)}


def test_two_files_three_wins_to_one_is_the_hand_formula() -> None:
    history = votes(A, B, Outcome.A, 2) + votes(B, A, Outcome.B) + votes(A, B, Outcome.B)
    top, bottom = leaderboard(history)
    step = 200 * math.log10(3.5 / 1.5)  # (3 + 1/2) / (1 + 1/2): one virtual tie; 400 * log10 of sqrt(ratio)
    assert (top.label, bottom.label) == ("a", "b")
    assert top.rating == pytest.approx(1000 + step, abs=1e-6)
    assert bottom.rating == pytest.approx(1000 - step, abs=1e-6)
    assert (top.votes, top.wins, top.losses, top.ties) == (4, 3, 1, 0)
    assert (bottom.votes, bottom.wins, bottom.losses, bottom.ties) == (4, 1, 3, 0)


def test_ties_and_both_bad_count_half_a_win_each() -> None:
    history = votes(A, B, Outcome.A, 2) + votes(A, B, Outcome.TIE) + votes(B, A, Outcome.BOTH_BAD)
    top, bottom = leaderboard(history)
    # (wins + (ties + 1) / 2) / (losses + (ties + 1) / 2) with 2 ties: 3.5 / 1.5, as three wins to one
    assert top.rating == pytest.approx(1000 + 200 * math.log10(3.5 / 1.5), abs=1e-6)
    assert (top.wins, top.losses, top.ties, top.both_bad) == (2, 0, 2, 1)
    assert (bottom.wins, bottom.losses, bottom.ties, bottom.both_bad) == (0, 2, 2, 1)
    only_ties = leaderboard(votes(A, B, Outcome.TIE, 3) + votes(A, B, Outcome.BOTH_BAD, 2))
    assert [r.rating for r in only_ties] == pytest.approx([1000, 1000])


def test_a_clean_sweep_stays_finite() -> None:
    top, bottom = leaderboard(votes(A, B, Outcome.A, 10))
    assert top.rating - bottom.rating == pytest.approx(400 * math.log10(10.5 / 0.5), abs=1e-6)
    assert math.isfinite(top.low) and math.isfinite(bottom.low) and math.isfinite(top.high)


def test_a_cycle_rates_everyone_equal() -> None:
    history = votes(A, B, Outcome.A, 2) + votes(B, C, Outcome.A, 2) + votes(A, C, Outcome.B, 2)
    assert list(by_label(history).values()) == pytest.approx([1000, 1000, 1000])


def test_a_transitive_order_is_kept_and_symmetric_around_the_middle() -> None:
    history = votes(A, B, Outcome.A, 3) + votes(C, B, Outcome.B, 3) + votes(A, C, Outcome.A, 3)
    ratings = by_label(history)
    assert list(ratings) == ["a", "b", "c"]
    assert ratings["b"] == pytest.approx(1000, abs=1e-6)
    assert ratings["a"] - 1000 == pytest.approx(1000 - ratings["c"], abs=1e-6)


def test_the_strengths_solve_the_bradley_terry_equations() -> None:
    """At the maximum, each entry's wins (with the prior) equal its expected wins: sum_j n_ij p_i / (p_i + p_j)."""
    score = {("a", "b"): 4.5, ("a", "c"): 1.0, ("b", "c"): 5.0, ("c", "d"): 0.5}
    count = {("a", "b"): 6, ("a", "c"): 3, ("b", "c"): 7, ("c", "d"): 2}
    p = strengths(score, count)
    for k in p:
        won = expected = 0.0
        for (i, j), n in count.items():
            if k in (i, j):
                other = j if k == i else i
                won += (score[(i, j)] if k == i else n - score[(i, j)]) + 0.5
                expected += (n + 1) * p[k] / (p[k] + p[other])
        assert won == pytest.approx(expected, rel=1e-7)
    assert math.prod(p.values()) == pytest.approx(1.0)


def test_ratings_per_set_and_overall() -> None:
    history = votes(A, B, Outcome.A, 3, "Code") + votes(A, B, Outcome.B, 3, "Chat") + votes(C, A, Outcome.A, 1, "Chat")
    assert list(by_label(history, "Code")) == ["a", "b"]
    chat = leaderboard(history, "Chat")
    assert [r.label for r in chat] == ["b", "c", "a"]  # b beat a 3-0, c beat a 1-0
    assert {r.votes for r in chat if r.label == "a"} == {4}
    overall = leaderboard(history)
    assert {r.label: r.votes for r in overall} == {"a": 7, "b": 6, "c": 1}
    assert leaderboard(history, "Nothing") == []
    assert leaderboard([]) == []


def test_one_file_at_two_paths_is_one_entry_and_a_file_against_itself_is_ignored() -> None:
    moved = side("a", sha=A.sha256, path="/elsewhere/renamed.gguf")
    no_hash = side("x", sha="")
    history = votes(A, B, Outcome.A) + votes(moved, B, Outcome.A) + votes(A, moved, Outcome.A, 5) \
        + votes(no_hash, B, Outcome.B)
    board = leaderboard(history)
    assert {r.key for r in board} == {A.sha256, B.sha256, "/m/x.gguf"}
    entry = next(r for r in board if r.key == A.sha256)
    assert (entry.votes, entry.wins, entry.file) == (2, 2, "/elsewhere/renamed.gguf")  # the latest path


def test_groups_never_compared_are_each_centred() -> None:
    history = votes(A, B, Outcome.A, 3) + votes(C, D, Outcome.A, 1)
    ratings = by_label(history)
    assert ratings["a"] + ratings["b"] == pytest.approx(2000)
    assert ratings["c"] + ratings["d"] == pytest.approx(2000)
    assert ratings["a"] > ratings["c"] > 1000


def test_the_interval_holds_the_rating_narrows_with_votes_and_repeats_with_the_seed() -> None:
    few = votes(A, B, Outcome.A, 3) + votes(A, B, Outcome.B, 1) + votes(B, C, Outcome.A, 2) + votes(A, C, Outcome.TIE)
    many = few * 10
    small, big = leaderboard(few), leaderboard(many)
    for r in small + big:
        assert r.low <= r.rating <= r.high
    width = {r.label: r.high - r.low for r in small}
    for r in big:
        assert 0 < r.high - r.low < width[r.label] / 2
    assert leaderboard(few, seed=3) == leaderboard(few, seed=3)
    assert [r.rating for r in leaderboard(few, seed=3)] == [r.rating for r in leaderboard(few, seed=4)]
    wald = leaderboard(few, rounds=0)  # no bootstrap: the Wald interval alone, symmetric
    assert all(r.high - r.rating == pytest.approx(r.rating - r.low) and r.high > r.rating for r in wald)
    assert all(r.high - r.low >= w.high - w.low - 1e-9 for r, w in zip(small, wald, strict=True))


def test_one_vote_has_the_hand_computed_wald_interval_not_a_zero_width_one() -> None:
    """A beats B once. With the prior's tie: p_a / p_b = 1.5 / 0.5 = 3, so P(a beats b) = 0.75; the
    information of the difference of log strengths is (1 vote + 1 tie) * 0.75 * 0.25 = 0.375, each
    centred log strength has variance 1 / (4 * 0.375), and on the rating scale the half-width is
    1.96 * sqrt(1 / 1.5) * 400 / ln 10 = 278.0. Resampling one vote always gives that vote: the
    bootstrap alone would say 1095 to 1095."""
    top, bottom = leaderboard(votes(A, B, Outcome.A))
    half = 1.959964 * math.sqrt(1 / 1.5) * 400 / math.log(10)
    assert half == pytest.approx(278.0, abs=0.05)
    assert top.rating == pytest.approx(1000 + 200 * math.log10(3))
    assert (top.low, top.high) == (pytest.approx(top.rating - half), pytest.approx(top.rating + half))
    assert (bottom.low, bottom.high) == (pytest.approx(bottom.rating - half), pytest.approx(bottom.rating + half))


def test_a_check_that_raises_stops_the_bootstrap() -> None:
    calls: list[int] = []

    def check() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        leaderboard(votes(A, B, Outcome.A, 3), check=check)
    assert len(calls) == 3


# --- qwen3-explorer leaderboard ----------------------------------------------------------------------------------


def run_cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(["leaderboard", *args], out=out), out.getvalue()


def test_the_leaderboard_command_prints_the_ranking(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(VOTES_DIR_ENV, str(tmp_path))
    assert run_cli() == (0, f"no votes yet (the blind comparison saves them in {tmp_path / 'votes.jsonl'})\n")
    store = VoteStore()
    for v in votes(A, B, Outcome.A, 3, "Code") + votes(A, B, Outcome.B, 1, "Code") + votes(C, A, Outcome.A, 2, "Chat"):
        store.add(v)
    with store.path.open("a") as f:
        f.write("garbage\n")
    code, text = run_cli()
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == "all sets: 6 votes, 3 files"
    assert lines[1].split() == ["rank", "file", "rating", "95%", "interval", "votes", "wins", "losses", "ties"]
    assert [line.split()[:2] for line in lines[3:]] == [["1", "c"], ["2", "a"], ["3", "b"]]
    assert lines[4].split()[6:] == ["6", "3", "3", "0"]
    assert "1 unreadable line in" in capsys.readouterr().err

    code, text = run_cli("--set", "Code", "--json")
    data = json.loads(text)
    assert code == 0 and (data["set"], data["votes"], data["skipped"]) == ("Code", 4, 1)
    top = data["ratings"][0]
    assert (top["label"], top["wins"], top["losses"]) == ("a", 3, 1)
    assert top["rating"] == pytest.approx(1000 + 200 * math.log10(3.5 / 1.5), abs=1e-6)

    capsys.readouterr()
    assert run_cli("--set", "Nope") == (2, "")
    assert capsys.readouterr().err.splitlines()[-1] == \
        "qwen3-explorer: no votes on the set 'Nope'; sets with votes: Code, Chat"


def test_the_leaderboard_takes_a_sets_file_stem_as_probe_does(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    """`probe --set seed003-chatroom` runs the set named "Seed 003, chatroom": the leaderboard takes the stem too."""
    from explorer.probes.sets import find_set

    monkeypatch.setenv(VOTES_DIR_ENV, str(tmp_path))
    name = find_set("seed003-chatroom").name
    store = VoteStore()
    for v in votes(A, B, Outcome.A, 2, name):
        store.add(v)
    code, text = run_cli("--set", "seed003-chatroom")
    assert code == 0 and text.splitlines()[0] == f"set {name}: 2 votes, 2 files"
