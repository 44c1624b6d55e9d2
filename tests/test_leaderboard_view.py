"""The leaderboard view (issue 12): the ranking for all sets or one, computed off the GUI thread, the note
for no votes and for skipped lines, and a votes file that cannot be read."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

import ui.probes.leaderboard_view as board_module
from explorer.probes.rating import leaderboard
from explorer.probes.votes import Outcome, Vote, VoteSide, VoteStore
from ui.probes.leaderboard_view import ALL_SETS, LeaderboardView

A = VoteSide("/m/Qwen3-0.6B-Q8_0.gguf", "Qwen3-0.6B-Q8_0.gguf", "a" * 64)
B = VoteSide("/m/Qwen3-1.7B-Q4_K_M.gguf", "Qwen3-1.7B-Q4_K_M.gguf", "b" * 64)
C = VoteSide("/m/Qwen3-4B-Q4_K_M.gguf", "Qwen3-4B-Q4_K_M.gguf", "")


def history() -> list[Vote]:
    def votes(a: VoteSide, b: VoteSide, outcome: Outcome, n: int, set_name: str) -> list[Vote]:
        return [Vote(set_name, "q", "?", a, b, outcome, "") for _ in range(n)]

    return (votes(A, B, Outcome.A, 3, "Code") + votes(A, B, Outcome.BOTH_BAD, 1, "Code")
            + votes(C, A, Outcome.A, 4, "Chat") + votes(B, C, Outcome.TIE, 1, "Chat"))


@pytest.fixture()
def store(tmp_path: Path) -> VoteStore:
    s = VoteStore(tmp_path / "votes.jsonl")
    for v in history():
        s.add(v)
    with s.path.open("a") as f:
        f.write("not a vote\n{}\n[]\n")
    return s


@pytest.fixture()
def view(qtbot: QtBot) -> LeaderboardView:
    v = LeaderboardView()
    qtbot.addWidget(v)
    v.resize(900, 400)
    v.show()
    return v


def rows(view: LeaderboardView) -> list[list[str]]:
    return [[view.table.item(r, c).text() for c in range(view.table.columnCount())]
            for r in range(view.table.rowCount())]


def wait_for_board(qtbot: QtBot, view: LeaderboardView) -> None:
    qtbot.waitUntil(lambda: view.board is not None and not view.runner.busy, timeout=10000)


def test_the_ranking_for_all_sets_and_for_one(qtbot: QtBot, view: LeaderboardView, store: VoteStore) -> None:
    view.refresh(store)
    wait_for_board(qtbot, view)
    expected = leaderboard(history())
    assert [r[1] for r in rows(view)] == [r.label for r in expected] == [
        "Qwen3-4B-Q4_K_M.gguf", "Qwen3-0.6B-Q8_0.gguf", "Qwen3-1.7B-Q4_K_M.gguf"]
    first = rows(view)[0]
    assert first == ["1", expected[0].label, f"{expected[0].rating:.0f}",
                     f"{expected[0].low:.0f} to {expected[0].high:.0f}", "5", "4 / 0 / 1"]
    assert rows(view)[1][5] == "3 / 4 / 1 (1 both bad)"
    assert [view.sets.itemText(i) for i in range(view.sets.count())] == [ALL_SETS, "Code", "Chat"]
    assert view.note.text().startswith("9 votes, 3 files.")
    assert "3 unreadable lines in votes.jsonl were skipped." in view.note.text()
    assert view.table.item(0, 1).toolTip() == "/m/Qwen3-4B-Q4_K_M.gguf"  # no sha256: the path is its key
    assert view.table.item(1, 1).toolTip() == f"/m/Qwen3-0.6B-Q8_0.gguf\nsha256 {'a' * 64}"

    view.board = None
    view.sets.setCurrentIndex(1)  # Code
    wait_for_board(qtbot, view)
    assert view.board is not None and view.board.set_name == "Code"
    code = leaderboard(history(), "Code")
    assert [r[:3] for r in rows(view)] == [[str(i), r.label, f"{r.rating:.0f}"] for i, r in enumerate(code, 1)]
    assert view.note.text().startswith("4 votes on Code, 2 files.")


def test_the_ratings_are_computed_off_the_gui_thread(qtbot: QtBot, view: LeaderboardView, store: VoteStore,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []

    def spy(*args: Any, **kw: Any) -> Any:
        threads.append(threading.current_thread())
        return leaderboard(*args, **kw)

    monkeypatch.setattr(board_module, "leaderboard", spy)
    view.refresh(store)
    assert threads == [] or threads[0] is not threading.main_thread()
    wait_for_board(qtbot, view)
    assert len(threads) == 1 and threads[0] is not threading.main_thread()


def test_no_votes_yet(qtbot: QtBot, view: LeaderboardView, tmp_path: Path) -> None:
    view.refresh(VoteStore(tmp_path / "none" / "votes.jsonl"))
    wait_for_board(qtbot, view)
    assert view.table.rowCount() == 0
    assert view.note.text().startswith("No votes yet")
    assert view.sets.count() == 1


def test_a_newer_refresh_shows_the_new_votes(qtbot: QtBot, view: LeaderboardView, store: VoteStore) -> None:
    view.refresh(store)
    wait_for_board(qtbot, view)
    store.add(Vote("Sky", "q", "?", B, C, Outcome.A, ""))
    view.board = None
    view.refresh()
    wait_for_board(qtbot, view)
    assert view.sets.count() == 4
    assert view.note.text().startswith("10 votes, 3 files.")


def test_a_votes_file_that_cannot_be_read_is_one_line(qtbot: QtBot, view: LeaderboardView, tmp_path: Path) -> None:
    (tmp_path / "votes.jsonl").mkdir()
    view.refresh(VoteStore(tmp_path / "votes.jsonl"))
    qtbot.waitUntil(lambda: view.note.text().startswith("The leaderboard could not be computed"), timeout=10000)
    assert "could not be read" in view.note.text() and "\n" not in view.note.text()
    assert view.table.rowCount() == 0


def test_votes_between_two_columns_of_one_file_are_said_not_rated() -> None:
    from ui.probes.leaderboard_view import Board, note_text

    board = Board(None, ["Sky"], [], 0, 0, Path("votes.jsonl"), same_file=2)
    assert "2 votes between two columns of one file (its settings, not the file) are kept but not rated" \
        in note_text(board)
