"""The blind comparison of a probe run: two answers as "A" and "B", a vote, then the names.

Before the vote nothing in the view says which file wrote which answer: the panes are titled by letter
only, show the answer (its Markdown rendered as the chat transcript renders it, `ui.chat.render`) and
(folded) the thinking with its token count, and carry no tooltip. Speed, time,
checks and names come with the reveal. The pairs and their A/B order are `explorer.probes.blind`'s plan;
each vote is appended to the `VoteStore` before the names show (a failed save is one line in the view).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFontDatabase, QKeySequence, QResizeEvent, QShortcut, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from explorer.probes.blind import BlindItem, blind_items, make_vote
from explorer.probes.results import Cell, ProbeRun, QuestionRef, shown, stats_line
from explorer.probes.votes import Outcome, Vote, VoteStore
from ui import theme
from ui.chat.render import MARKDOWN_FEATURES, style_code

GAP_MARKER = "  ⟨ the answer fills this gap ⟩  "
WIN_BORDER = "#36a36b"
BAD_BORDER = "#d64545"
QUESTION_HEIGHT = (44, 200)  # the question's box fits its text within these pixels

VOTE_TEXT = {Outcome.A: "A is better", Outcome.B: "B is better", Outcome.TIE: "Tie", Outcome.BOTH_BAD: "Both bad"}
VOTE_KEYS = {Outcome.A: ("1", "A"), Outcome.B: ("2", "B"), Outcome.TIE: ("3", "T"), Outcome.BOTH_BAD: ("4", "X")}

STYLE_TEMPLATE = """
QFrame#blindPane {{ background: {base}; border: 1px solid {line}; border-radius: 6px; }}
QFrame#blindPane[verdict="win"] {{ border: 2px solid {win}; }}
QFrame#blindPane[verdict="bad"] {{ border: 2px solid {bad}; }}
QPushButton#blindVote {{ min-width: 110px; min-height: 26px; padding: 4px 14px; font-weight: 600; }}
QPushButton#blindVote:checked {{ background: {checked}; color: {checked_text}; border: 1px solid {accent}; }}
QPushButton#blindNext, QPushButton#blindSkip {{ min-width: 90px; min-height: 26px; padding: 4px 14px; }}
QLabel#blindLetter {{ font-size: 15pt; font-weight: 600; color: {title}; }}
QLabel#blindProgress {{ font-size: 12pt; font-weight: 600; color: {title}; }}
QLabel#blindStats, QLabel#blindWhere {{ color: {muted}; }}
QLabel#blindMessage {{ color: {error}; }}
QLabel#blindSummary {{ font-size: 12pt; }}
QTextBrowser#blindAnswer, QPlainTextEdit#blindThinking, QTextBrowser#blindQuestion {{
    background: {base}; border: 1px solid {line}; border-radius: 4px; padding: 4px; }}
QPlainTextEdit#blindThinking {{ background: {thinking}; color: {thinking_text}; }}
QFrame#blindPane QPlainTextEdit, QFrame#blindPane QTextBrowser {{ border: none; }}
"""
STYLE_COLORS = {
    False: {"base": "#ffffff", "line": "#e3e6eb", "checked": "#dfe4fb", "checked_text": "#27348f",
            "title": "#141a23", "error": "#a32121", "thinking": "#f7f8fa", "thinking_text": "#4a5363"},
    True: {"base": "#1f242c", "line": "#3a414d", "checked": "#313b6b", "checked_text": "#c9d1ff",
           "title": "#eef1f5", "error": "#ff8a80", "thinking": "#1b2027", "thinking_text": "#b7c0cd"},
}


def style_sheet(dark: bool) -> str:
    """The view's own sheet in the theme's colours."""
    return STYLE_TEMPLATE.format(win=WIN_BORDER, bad=BAD_BORDER, accent=theme.MEM_WEIGHTS, muted=theme.TEXT_MUTED,
                                 **STYLE_COLORS[dark])


STYLE = style_sheet(False)


def stats_text(cell: Cell) -> str:
    """What the reveal shows under a name: tokens, time, speed, and the checks' mark."""
    return stats_line(cell, checks=True)


class AnswerPane(QFrame):
    """One side: the letter, the folded thinking, the answer; the name and stats once revealed."""

    def __init__(self, letter: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("blindPane")
        self.letter = letter
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 10)
        lay.setSpacing(6)
        head = QHBoxLayout()
        self.title = QLabel(letter)
        self.title.setObjectName("blindLetter")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setWordWrap(True)  # a long file name wraps: it never widens the window
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        head.addWidget(self.title, 1)
        self.think_button = QToolButton()
        self.think_button.setObjectName("blindThinkingButton")
        self.think_button.setCheckable(True)
        self.think_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.think_button.setArrowType(Qt.ArrowType.RightArrow)
        self.think_button.toggled.connect(self._fold)
        policy = self.think_button.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # both panes' answers start at one height
        self.think_button.setSizePolicy(policy)
        head.addWidget(self.think_button)
        lay.addLayout(head)
        self.stats = QLabel("")
        self.stats.setObjectName("blindStats")
        self.stats.setWordWrap(True)
        self.stats.hide()
        lay.addWidget(self.stats)
        self.thinking = QPlainTextEdit()
        self.thinking.setObjectName("blindThinking")
        self.thinking.setReadOnly(True)
        self.thinking.setMaximumHeight(180)
        self.thinking.hide()
        lay.addWidget(self.thinking)
        self.answer = QTextBrowser()  # Markdown rendered; links are text (a click opens nothing)
        self.answer.setObjectName("blindAnswer")
        self.answer.setOpenLinks(False)
        self.answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                            | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.answer.setAccessibleName(f"Answer {letter}")
        lay.addWidget(self.answer, 1)
        self._markdown = False  # the answer shown is rendered Markdown (restyled when the theme switches)
        theme.notifier().changed.connect(self._restyle)

    def show_cell(self, cell: Cell, fim: QuestionRef | None = None) -> None:
        """The answer (and its thinking, folded) with nothing that names its file. A fill-in-the-middle
        answer shows in its place: the question's prefix and suffix muted around it, in the code font."""
        self.title.setText(self.letter)
        self.title.setToolTip("")
        self.stats.clear()
        self.stats.hide()
        self._verdict("")
        self.answer.clear()
        self.answer.setCurrentCharFormat(QTextCharFormat())  # no colour left over from a FIM answer
        self._markdown = fim is None
        if fim is None:
            self.answer.setFont(self.font())
            doc = self.answer.document()
            doc.setMarkdown(shown(cell.answer.strip()) or "(empty answer)", MARKDOWN_FEATURES)
            style_code(doc)  # code blocks, inline code and links as in the chat transcript
        else:
            self.answer.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
            outer, middle = QTextCharFormat(), QTextCharFormat()
            outer.setForeground(QColor(theme.TEXT_MUTED))
            middle.setForeground(QColor(theme.TEXT_NORMAL))
            middle.setBackground(QColor(theme.GAP_BACKGROUND))
            cursor = QTextCursor(self.answer.document())
            cursor.insertText(fim.text, outer)
            cursor.insertText(shown(cell.answer) or "(empty answer)", middle)
            cursor.insertText(fim.suffix, outer)
        self.thinking.setPlainText(shown(cell.thinking.strip()))
        self.think_button.setChecked(False)
        self.think_button.setVisible(bool(cell.thinking.strip()))
        count = f"{cell.thinking_tokens} tokens" if cell.thinking_tokens else f"{len(cell.thinking.split())} words"
        self.think_button.setText(f"Thinking ({count})")

    def clear(self) -> None:
        self.show_cell(Cell("", ""))
        self.answer.clear()
        self._markdown = False

    def _restyle(self, _dark: bool) -> None:
        if self._markdown:
            style_code(self.answer.document())

    def reveal(self, name: str, detail: str, stats: str, verdict: str) -> None:
        """`verdict`: "win" (this side was voted better), "bad" (both bad) or ""."""
        self.title.setText(f"{self.letter} · {name}")
        self.title.setToolTip(detail)
        self.stats.setText(stats)
        self.stats.show()
        self._verdict(verdict)

    def _verdict(self, value: str) -> None:
        self.setProperty("verdict", value)
        self.style().unpolish(self)
        self.style().polish(self)

    def _fold(self, shown: bool) -> None:
        self.thinking.setVisible(shown)
        self.think_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)


class BlindVoteView(QWidget):
    """`start(run, store, seed)` walks the run's pairs; `voted(Vote)` after each saved vote, `finished()` at the end."""

    voted = Signal(object)  # Vote, once it is in the store
    finished = Signal()

    def _apply_theme(self, dark: bool) -> None:
        self.setStyleSheet(style_sheet(dark))

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("blindVoteView")
        self.setStyleSheet(style_sheet(theme.is_dark()))
        theme.notifier().changed.connect(self._apply_theme)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.run: ProbeRun | None = None
        self.store: VoteStore | None = None
        self.items: list[BlindItem] = []
        self.index = 0
        self.revealed = False
        self.counts = {"votes": 0, "skipped": 0, "unsaved": 0}

        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 10, 12, 10)
        head = QHBoxLayout()
        self.progress = QLabel("")
        self.progress.setObjectName("blindProgress")
        head.addWidget(self.progress)
        head.addStretch(1)
        self.where = QLabel("")
        self.where.setObjectName("blindWhere")
        head.addWidget(self.where)
        lay.addLayout(head)
        self.question = QTextBrowser()
        self.question.setObjectName("blindQuestion")
        self.question.setOpenLinks(False)
        lay.addWidget(self.question)

        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.setChildrenCollapsible(False)
        self.pane_a, self.pane_b = AnswerPane("A"), AnswerPane("B")
        self.split.addWidget(self.pane_a)
        self.split.addWidget(self.pane_b)
        lay.addWidget(self.split, 1)

        self.message = QLabel("")
        self.message.setObjectName("blindMessage")
        self.message.hide()
        lay.addWidget(self.message)
        self.summary = QLabel("")
        self.summary.setObjectName("blindSummary")
        self.summary.setWordWrap(True)
        self.summary.hide()
        lay.addWidget(self.summary)

        row = QHBoxLayout()
        self.vote_buttons: dict[Outcome, QPushButton] = {}
        for outcome, text in VOTE_TEXT.items():
            button = QPushButton(f"{text}  ({VOTE_KEYS[outcome][0]})")
            button.setObjectName("blindVote")
            button.setCheckable(True)
            button.setToolTip(f"Key {VOTE_KEYS[outcome][0]} or {VOTE_KEYS[outcome][1]}")
            button.clicked.connect(lambda _=False, o=outcome: self.vote(o))
            row.addWidget(button)
            self.vote_buttons[outcome] = button
        row.addStretch(1)
        self.skip_button = QPushButton("Skip")
        self.skip_button.setObjectName("blindSkip")
        self.skip_button.setToolTip("Next pair without a vote (key S)")
        self.skip_button.clicked.connect(self.skip)
        row.addWidget(self.skip_button)
        self.next_button = QPushButton("Next  (Enter)")
        self.next_button.setObjectName("blindNext")
        self.next_button.clicked.connect(self.next)
        self.next_button.hide()
        row.addWidget(self.next_button)
        lay.addLayout(row)
        lay.addStretch(0)  # takes the room when the panes are hidden (the end), none while they show

        for outcome, keys in VOTE_KEYS.items():
            for key in keys:
                self._shortcut(key, partial(self.vote, outcome))
        self._shortcut("S", self.skip)
        for enter in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._shortcut(QKeySequence(enter), self.next)
        self._show_end("Choose a probe run to compare its answers blind.", emit=False)

    def _shortcut(self, key: str | QKeySequence, slot: Callable[[], object]) -> None:
        shortcut = QShortcut(QKeySequence(key), self)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(slot)

    # --- the walk -------------------------------------------------------------------------------------------

    def start(self, run: ProbeRun, store: VoteStore, seed: int) -> None:
        self.run, self.store = run, store
        self.pane_a.clear()
        self.pane_b.clear()
        self.items = blind_items(run, seed)
        self.index = 0
        self.counts = {"votes": 0, "skipped": 0, "unsaved": 0}
        if not self.items:
            self._show_end("Nothing to compare: no question of this run has two answers without an error.")
            return
        self._show_item()
        self.setFocus()

    @property
    def item(self) -> BlindItem | None:
        return self.items[self.index] if self.run is not None and self.index < len(self.items) else None

    def _question(self, item: BlindItem) -> QuestionRef:
        assert self.run is not None
        return next(q for q in self.run.questions if q.id == item.question_id)

    def _cell(self, item: BlindItem, key: str) -> Cell:
        assert self.run is not None
        cell = self.run.cell(item.question_id, key)
        assert cell is not None  # the plan holds answered cells only
        return cell

    def _show_item(self) -> None:
        item = self.item
        assert item is not None and self.run is not None
        questions = list(dict.fromkeys(i.question_id for i in self.items))
        same = [i for i in self.items if i.question_id == item.question_id]
        self.progress.setText(f"Question {questions.index(item.question_id) + 1} of {len(questions)} · "
                              f"pair {same.index(item) + 1} of {len(same)}")
        q = self._question(item)
        self.where.setText(f"{self.run.set_name} · {q.id}" + (f" · {q.mode}" if q.mode else ""))
        self._set_question(q)
        fim = q if q.mode == "fim" else None
        self.pane_a.show_cell(self._cell(item, item.a_key), fim)
        self.pane_b.show_cell(self._cell(item, item.b_key), fim)
        self.revealed = False
        self.message.hide()
        self.summary.hide()
        self.split.show()
        self.question.show()
        for button in self.vote_buttons.values():
            button.show()
            button.setEnabled(True)
            button.setChecked(False)
        self.skip_button.show()
        self.skip_button.setEnabled(True)
        self.next_button.hide()

    def _set_question(self, q: QuestionRef) -> None:
        self.question.clear()
        cursor = QTextCursor(self.question.document())
        if q.mode != "fim":
            cursor.insertText(q.text)
            self._fit_question()
            return
        code = QTextCharFormat()
        code.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        gap = QTextCharFormat(code)
        gap.setBackground(QColor(theme.GAP_BACKGROUND))
        gap.setForeground(QColor(theme.TEXT_MUTED))
        cursor.insertText(q.text, code)
        cursor.insertText(GAP_MARKER, gap)
        cursor.insertText(q.suffix, code)
        self._fit_question()

    def _fit_question(self) -> None:
        """The question's box as tall as its text, within QUESTION_HEIGHT (it scrolls beyond)."""
        doc = self.question.document()
        doc.setTextWidth(self.question.viewport().width())
        margins = self.question.contentsMargins()
        height = int(doc.size().height()) + margins.top() + margins.bottom() + 2
        self.question.setFixedHeight(max(QUESTION_HEIGHT[0], min(QUESTION_HEIGHT[1], height)))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.question.isVisible():
            self._fit_question()

    def vote(self, outcome: Outcome) -> None:
        item = self.item
        if item is None or self.revealed or self.run is None or self.store is None:
            return
        vote = make_vote(self.run, item, outcome, datetime.now().astimezone())
        try:
            self.store.add(vote)
        except ValueError as exc:
            self.counts["unsaved"] += 1
            self.message.setText(f"Not saved: {exc}".splitlines()[0])
            self.message.setToolTip(str(exc))
            self.message.show()
        else:
            self.counts["votes"] += 1
            self.voted.emit(vote)
        self._reveal(item, vote)

    def _reveal(self, item: BlindItem, vote: Vote) -> None:
        assert self.run is not None
        self.revealed = True
        bad = "bad" if vote.outcome is Outcome.BOTH_BAD else ""
        for pane, key, side, won in ((self.pane_a, item.a_key, vote.a, vote.outcome is Outcome.A),
                                     (self.pane_b, item.b_key, vote.b, vote.outcome is Outcome.B)):
            detail = "\n".join(filter(None, [side.file, f"sha256 {side.sha256}" if side.sha256 else "",
                                             ", ".join(f"{k} {v}" for k, v in sorted(side.settings.items()))]))
            pane.reveal(side.name, detail, stats_text(self._cell(item, key)), "win" if won else bad)
        self.progress.setText(self.progress.text() + f" · you voted: {VOTE_TEXT[vote.outcome]}")
        for outcome, button in self.vote_buttons.items():
            button.setChecked(outcome is vote.outcome)
            button.setEnabled(False)
        self.skip_button.hide()
        self.next_button.show()
        self.next_button.setFocus()

    def skip(self) -> None:
        if self.item is None or self.revealed:
            return
        self.counts["skipped"] += 1
        self._advance()

    def next(self) -> None:
        if self.item is None or not self.revealed:
            return
        self._advance()

    def _advance(self) -> None:
        self.index += 1
        if self.index < len(self.items):
            self._show_item()
            self.setFocus()
            return
        votes, skipped, unsaved = self.counts["votes"], self.counts["skipped"], self.counts["unsaved"]
        parts = [f"{votes} vote{'s' * (votes != 1)} saved"]
        if skipped:
            parts.append(f"{skipped} skipped")
        if unsaved:
            parts.append(f"{unsaved} not saved")
        self._show_end(f"Done: {', '.join(parts)}. The leaderboard ranks the files by every vote so far.")

    def _show_end(self, text: str, *, emit: bool = True) -> None:
        self.index = len(self.items)
        self.revealed = False
        self.progress.setText("Blind comparison")
        self.where.clear()
        self.summary.setText(text)
        self.summary.show()
        self.question.hide()
        self.split.hide()
        for button in self.vote_buttons.values():
            button.hide()
        self.skip_button.hide()
        self.next_button.hide()
        if emit:
            self.finished.emit()
