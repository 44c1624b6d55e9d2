"""The blind comparison view (issue 12): nothing visible names a model before the vote (every string of
every widget is read), the names and stats come after it, votes land in the store with both sha256s, a
store that cannot be written is one line and the walk goes on, and the keys vote."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QTextCursor, QTextFormat
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QComboBox,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

from explorer.probes.blind import blind_items
from explorer.probes.results import Cell, Column, ProbeRun, QuestionRef
from explorer.probes.votes import Outcome, Vote, VoteStore
from ui.probes.blind_view import GAP_MARKER, BlindVoteView

SMALL = "/models/unsloth/Qwen3-0.6B-Q8_0.gguf"
BIG = "/models/Qwen/Qwen3-1.7B-Q4_K_M.gguf"
SHA_SMALL = "5d2f" + "1" * 60
SHA_BIG = "9e8c" + "2" * 60
TITLE = "Qwen3 Explorer"

QUESTIONS = [
    QuestionRef("sky", "chatroom", "Why is the sky blue?"),
    QuestionRef("sum", "free-form", "2 + 2 ="),
    QuestionRef("mid", "fim", "def add(a, b):\n    ", "\n\nprint(add(1, 2))\n"),
    QuestionRef("haiku", "", "Write a haiku about rain."),
]


def make_run() -> ProbeRun:
    cells = []
    for i, q in enumerate(QUESTIONS):
        for n, f in enumerate((SMALL, BIG)):
            cells.append(Cell(q.id, f, answer=f"Answer {n} to {q.id}: scattering of light.",
                              thinking=f"Let me think about {q.id}." if n == 0 else "",
                              check=[True, False, None][(i + n) % 3], failed=("contains 'x'",) if (i + n) % 3 == 1
                              else (), tokens=40 + i + 10 * n, thinking_tokens=12 if n == 0 else 0,
                              seconds=1.5 + n, tokens_per_s=26.7 + n * 10, stop_reason="stop"))
    columns = {SMALL: Column(SMALL, SMALL, "Qwen3-0.6B-Q8_0.gguf", SHA_SMALL, {"temperature": 0.7}),
               BIG: Column(BIG, BIG, "Qwen3-1.7B-Q4_K_M.gguf", SHA_BIG, {})}
    return ProbeRun("Sky", list(QUESTIONS), [SMALL, BIG], settings={"temperature": 0.6}, cells=cells,
                    columns=columns, created="2026-01-02T03:04:05")


FORBIDDEN = [
    "Qwen3-0.6B-Q8_0.gguf", "Qwen3-1.7B-Q4_K_M.gguf", "Qwen3-0.6B", "Qwen3-1.7B", "0.6B", "1.7B", "Q8_0", "Q4_K_M",
    "unsloth", "/models", SHA_SMALL, SHA_BIG, SHA_SMALL[:8], SHA_BIG[:8], ".gguf", "tok/s", "temperature",
]


def visible_strings(window: QMainWindow) -> list[str]:
    """Every string a person (or a screen reader) could get from the window and all its descendants."""
    out = [window.windowTitle()]
    for w in [window, *window.findChildren(QWidget)]:
        out += [w.toolTip(), w.statusTip(), w.whatsThis(), w.accessibleName(), w.accessibleDescription(),
                w.windowTitle()]
        if isinstance(w, (QLabel, QAbstractButton, QLineEdit)):
            out.append(w.text())
        if isinstance(w, (QLineEdit, QTextEdit, QPlainTextEdit)):
            out.append(w.placeholderText())
        if isinstance(w, (QTextEdit, QPlainTextEdit)):
            out.append(w.toPlainText())
            out.append(w.document().toHtml())
        if isinstance(w, QComboBox):
            out += [w.itemText(i) for i in range(w.count())]
        if isinstance(w, QAbstractItemView) and w.model() is not None:
            out += model_strings(w)
    return [s for s in out if s]


def model_strings(view: QAbstractItemView) -> list[str]:
    model, out = view.model(), []

    def walk(parent: QModelIndex) -> None:
        for r in range(model.rowCount(parent)):
            for c in range(model.columnCount(parent)):
                index = model.index(r, c, parent)
                for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                    value = model.data(index, role)
                    if value is not None:
                        out.append(str(value))
                walk(index)

    walk(QModelIndex())
    return out


def leaks(window: QMainWindow) -> list[str]:
    strings = visible_strings(window)
    return [f"{bad!r} in {s!r}" for s in strings for bad in FORBIDDEN if bad.lower() in s.lower()]


@pytest.fixture()
def window(qtbot: QtBot) -> QMainWindow:
    w = QMainWindow()
    w.setWindowTitle(TITLE)
    qtbot.addWidget(w)
    w.setCentralWidget(BlindVoteView())
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    return w


def blind(window: QMainWindow) -> BlindVoteView:
    view = window.centralWidget()
    assert isinstance(view, BlindVoteView)
    return view


def test_no_name_is_visible_before_the_vote_and_both_are_after_it(window: QMainWindow, tmp_path: Path,
                                                                  qtbot: QtBot) -> None:
    view = blind(window)
    store = VoteStore(tmp_path / "votes.jsonl")
    view.start(make_run(), store, seed=0)
    seen_items = 0
    while view.item is not None:
        seen_items += 1
        view.pane_a.think_button.setChecked(view.pane_a.think_button.isVisible())  # the thinking unfolded too
        assert leaks(window) == []
        assert window.windowTitle() == TITLE
        assert view.pane_a.title.text() == "A" and view.pane_b.title.text() == "B"
        assert view.pane_a.answer.toolTip() == "" and view.pane_b.answer.toolTip() == ""
        assert view.progress.text() == f"Question {seen_items} of 4 · pair 1 of 1"
        item = view.item
        with qtbot.waitSignal(view.voted) as got:
            view.vote_buttons[Outcome.TIE].click()
        strings = "\n".join(visible_strings(window))
        for name in ("Qwen3-0.6B-Q8_0.gguf", "Qwen3-1.7B-Q4_K_M.gguf"):
            assert name in strings
        names = {SMALL: "Qwen3-0.6B-Q8_0.gguf", BIG: "Qwen3-1.7B-Q4_K_M.gguf"}
        assert view.pane_a.title.text() == f"A · {names[item.a_key]}"
        assert view.pane_b.title.text() == f"B · {names[item.b_key]}"
        assert "tok/s" in view.pane_a.stats.text() and view.pane_a.stats.isVisible()
        assert isinstance(got.args[0], Vote)
        assert view.progress.text().endswith("you voted: Tie")
        qtbot.keyClick(view.next_button, Qt.Key.Key_Return)
    assert seen_items == 4
    assert window.windowTitle() == TITLE


def test_the_reveal_names_each_side_as_the_vote_recorded_it(window: QMainWindow, tmp_path: Path) -> None:
    view = blind(window)
    store = VoteStore(tmp_path / "votes.jsonl")
    run = make_run()
    view.start(run, store, seed=0)
    item = view.item
    assert item is not None
    view.vote_buttons[Outcome.A].click()
    name = run.column(item.a_key).name
    assert view.pane_a.title.text() == f"A · {name}"
    assert view.pane_a.property("verdict") == "win" and view.pane_b.property("verdict") == ""
    a_cell = run.cell(item.question_id, item.a_key)
    assert a_cell is not None and f"{a_cell.tokens} tokens" in view.pane_a.stats.text()
    assert run.column(item.a_key).sha256 in view.pane_a.title.toolTip()
    view.vote_buttons[Outcome.B].click()  # a second click after the reveal changes nothing
    assert len(store.load().votes) == 1


def test_the_sides_are_shuffled_across_questions(window: QMainWindow, tmp_path: Path) -> None:
    run = make_run()
    firsts = {blind_items(run, 0)[i].a_key for i in range(4)}
    assert firsts == {SMALL, BIG}  # seed 0 shows each file first for some question
    view = blind(window)
    view.start(run, VoteStore(tmp_path / "votes.jsonl"), seed=0)
    shown_first = []
    while (item := view.item) is not None:
        found = re.search(r"Answer (\d) to", view.pane_a.answer.toPlainText())
        assert found is not None
        shown_first.append(found.group(1))
        assert found.group(1) == ("0" if item.a_key == SMALL else "1")
        view.skip()
    assert set(shown_first) == {"0", "1"}


def test_a_fim_question_shows_prefix_gap_and_suffix(window: QMainWindow, tmp_path: Path) -> None:
    view = blind(window)
    view.start(make_run(), VoteStore(tmp_path / "votes.jsonl"), seed=0)
    while (item := view.item) is not None and item.question_id != "mid":
        view.skip()
    text = view.question.toPlainText()
    assert text == "def add(a, b):\n    " + GAP_MARKER + "\n\nprint(add(1, 2))\n"
    assert item is not None
    for pane, key in ((view.pane_a, item.a_key), (view.pane_b, item.b_key)):  # each answer in its place
        assert pane.answer.toPlainText() == f"def add(a, b):\n    Answer {0 if key == SMALL else 1} to mid: " \
                                            "scattering of light.\n\nprint(add(1, 2))\n"
    view.skip()  # the next answer is plain text again: no colour of the FIM answer is left over
    cursor = QTextCursor(view.pane_a.answer.document())
    cursor.setPosition(1)
    assert cursor.charFormat().background().style() == Qt.BrushStyle.NoBrush
    assert not cursor.charFormat().hasProperty(QTextFormat.Property.ForegroundBrush)


def test_a_vote_lands_in_the_store_with_both_sha256s(window: QMainWindow, tmp_path: Path) -> None:
    view = blind(window)
    store = VoteStore(tmp_path / "sub" / "votes.jsonl")
    view.start(make_run(), store, seed=3)
    item = view.item
    assert item is not None
    view.vote_buttons[Outcome.BOTH_BAD].click()
    line = json.loads(store.path.read_text().splitlines()[0])
    assert {line["a"]["sha256"], line["b"]["sha256"]} == {SHA_SMALL, SHA_BIG}
    assert line["a"]["sha256"] == (SHA_SMALL if item.a_key == SMALL else SHA_BIG)
    assert (line["outcome"], line["question"], line["set"]) == ("both-bad", item.question_id, "Sky")
    assert line["text"] == next(q.text for q in QUESTIONS if q.id == item.question_id)
    small = line["a"] if line["a"]["file"] == SMALL else line["b"]
    big = line["b"] if small is line["a"] else line["a"]
    assert small["settings"] == {"temperature": 0.7} and big["settings"] == {"temperature": 0.6}
    assert view.message.isHidden()


def test_a_store_that_cannot_be_written_is_one_line_and_the_walk_goes_on(window: QMainWindow, tmp_path: Path,
                                                                         qtbot: QtBot) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    view = blind(window)
    finished: list[int] = []
    view.finished.connect(lambda: finished.append(1))
    emitted: list[object] = []
    view.voted.connect(emitted.append)
    view.start(make_run(), VoteStore(blocker / "votes.jsonl"), seed=0)
    for _ in range(4):
        view.vote_buttons[Outcome.A].click()
        assert view.message.isVisible()
        assert view.message.text().startswith("Not saved: the vote could not be saved")
        assert "\n" not in view.message.text()
        assert view.pane_a.title.text() != "A"  # revealed all the same
        view.next_button.click()
    assert emitted == [] and finished == [1]
    assert view.summary.text().startswith("Done: 0 votes saved, 4 not saved.")


def test_keys_vote_skip_and_go_next(window: QMainWindow, tmp_path: Path, qtbot: QtBot) -> None:
    view = blind(window)
    store = VoteStore(tmp_path / "votes.jsonl")
    run = make_run()
    run.questions.append(QuestionRef("more", "chatroom", "And?"))
    run.cells += [Cell("more", f, answer="yes") for f in (SMALL, BIG)]
    view.start(run, store, seed=0)
    window.activateWindow()
    qtbot.waitUntil(lambda: view.hasFocus())
    expected = []
    for key, outcome in ((Qt.Key.Key_1, Outcome.A), (Qt.Key.Key_2, Outcome.B), (Qt.Key.Key_3, Outcome.TIE),
                         (Qt.Key.Key_4, Outcome.BOTH_BAD)):
        view.pane_a.answer.setFocus()  # a read-only answer with the focus lets the keys through
        qtbot.keyClick(view.pane_a.answer, key)
        assert view.revealed
        qtbot.keyClick(view.pane_a.answer, Qt.Key.Key_2)  # after the reveal: no second vote
        expected.append(outcome)
        qtbot.keyClick(view.focusWidget(), Qt.Key.Key_Enter)
        assert not view.revealed
    qtbot.keyClick(view, Qt.Key.Key_S)
    assert [v.outcome for v in store.load().votes] == expected
    assert view.summary.isVisible() and view.summary.text().startswith("Done: 4 votes saved, 1 skipped")


def test_letter_keys_vote_too(window: QMainWindow, tmp_path: Path, qtbot: QtBot) -> None:
    view = blind(window)
    store = VoteStore(tmp_path / "votes.jsonl")
    view.start(make_run(), store, seed=0)
    window.activateWindow()
    qtbot.waitUntil(lambda: view.hasFocus())
    for key in (Qt.Key.Key_A, Qt.Key.Key_B, Qt.Key.Key_T, Qt.Key.Key_X):
        qtbot.keyClick(view, key)
        qtbot.keyClick(view, Qt.Key.Key_Return)
    assert [v.outcome for v in store.load().votes] == [Outcome.A, Outcome.B, Outcome.TIE, Outcome.BOTH_BAD]


def test_a_run_with_nothing_to_compare_says_so_and_finishes(window: QMainWindow, tmp_path: Path,
                                                            qtbot: QtBot) -> None:
    run = make_run()
    run.cells = [c for c in run.cells if c.file == SMALL]
    view = blind(window)
    with qtbot.waitSignal(view.finished):
        view.start(run, VoteStore(tmp_path / "votes.jsonl"), seed=0)
    assert re.match("Nothing to compare", view.summary.text())
    assert not view.vote_buttons[Outcome.A].isVisible()


def test_a_long_name_revealed_wraps_and_never_widens_the_window(window: QMainWindow, tmp_path: Path,
                                                               qtbot: QtBot) -> None:
    run = make_run()
    long = "Pane 1 · " + "Qwen3-Coder-30B-A3B-Instruct-UD-Q4_K_XL-" * 4 + ".gguf · thinking on"
    run.columns[SMALL] = Column(SMALL, SMALL, long, SHA_SMALL, {})
    view = blind(window)
    view.start(run, VoteStore(tmp_path / "votes.jsonl"), seed=0)
    width = window.width()
    view.vote(Outcome.A)
    qtbot.wait(50)
    titles = {view.pane_a.title.text(), view.pane_b.title.text()}
    assert any(long in t for t in titles) and window.width() == width


def test_a_huge_answer_is_shown_cut(window: QMainWindow, tmp_path: Path) -> None:
    """A 3 MB one-line answer laid out whole stalls the page for minutes; it is shown cut, with a note."""
    from dataclasses import replace as dc_replace

    from explorer.probes.results import SHOWN_CHARS

    run = make_run()
    run.cells = [dc_replace(c, answer="y" * 3_000_000) if i == 0 else c for i, c in enumerate(run.cells)]
    view = blind(window)
    view.start(run, VoteStore(tmp_path / "votes.jsonl"), seed=0)
    texts = [view.pane_a.answer.toPlainText(), view.pane_b.answer.toPlainText()]
    huge = next(t for t in texts if t.startswith("yyy"))
    assert len(huge) < SHOWN_CHARS + 200 and huge.endswith("the whole answer is in the run's exports)")
