"""The leaderboard: the files ranked by the blind votes, for all sets or one, with each rating's 95% interval.

The votes file is read and the ratings (with their bootstrap) computed on a worker thread through
`LatestRunner`; a newer refresh or another set supersedes a running one, whose result is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from explorer.errors import describe_error
from explorer.probes.rating import Rating, leaderboard
from explorer.probes.votes import VoteStore
from ui import theme
from ui.workers import Cancelled, CancelToken, LatestRunner

ALL_SETS = "All sets"
HEADERS = ("#", "File", "Rating", "95% interval", "Votes", "Wins / losses / ties")


@dataclass(frozen=True)
class Board:
    """What one computation found: the ratings of `set_name` (None: all sets) and the file's state."""

    set_name: str | None
    sets: list[str]  # every set with votes, for the choice
    ratings: list[Rating]
    votes: int  # the votes these ratings count
    skipped: int  # lines of the file that were not votes
    path: Path
    same_file: int = 0  # votes between two columns of one file (its settings, not files: not rated)


def compute_board(store: VoteStore, set_name: str | None, token: CancelToken) -> Board:
    """Runs on a worker thread: reads the votes and rates them (ValueError when the file cannot be read)."""
    log = store.load()

    def check() -> None:
        if token.cancelled:
            raise Cancelled()

    ratings = leaderboard(log.votes, set_name, check=check)
    chosen = [v for v in log.votes if set_name is None or v.set_name == set_name]
    same = sum(v.a.key == v.b.key for v in chosen)
    return Board(set_name, log.set_names(), ratings, len(chosen) - same, log.skipped, store.path, same)


def note_text(board: Board) -> str:
    parts = []
    if not board.sets:
        parts.append("No votes yet: compare a probe run's answers blind, and the files are ranked here.")
    elif not board.ratings:
        parts.append(f"No votes on {board.set_name} yet." if board.set_name else "No votes between two files yet.")
    else:
        where = f" on {board.set_name}" if board.set_name else ""
        parts.append(f"{board.votes} vote{'s' * (board.votes != 1)}{where}, {len(board.ratings)} files. "
                     "Bradley-Terry rating; 1000 is the middle, +400 is ten times the odds of winning.")
    if board.same_file:
        n = board.same_file
        parts.append(f"{n} vote{'s' * (n != 1)} between two columns of one file (its settings, not the file) "
                     f"{'are' if n != 1 else 'is'} kept but not rated.")
    if board.skipped:
        lines = f"{board.skipped} unreadable line{'s' * (board.skipped != 1)}"
        parts.append(f"{lines} in {board.path.name} {'were' if board.skipped != 1 else 'was'} skipped.")
    return " ".join(parts)


class LeaderboardView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("leaderboardView")
        self.store: VoteStore | None = None
        self.board: Board | None = None
        self.runner = LatestRunner(self)
        self.runner.result.connect(self._show)
        self.runner.error.connect(self._failed)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 10, 12, 10)
        head = QHBoxLayout()
        title = QLabel("Leaderboard")
        title.setObjectName("sectionTitle")
        head.addWidget(title)
        head.addStretch(1)
        head.addWidget(QLabel("Probe set"))
        self.sets = QComboBox()
        self.sets.setObjectName("leaderboardSet")
        self.sets.addItem(ALL_SETS, None)
        self.sets.currentIndexChanged.connect(self._set_chosen)
        head.addWidget(self.sets)
        lay.addLayout(head)

        self.table = QTableWidget(0, len(HEADERS))
        self.table.setObjectName("leaderboardTable")
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        lay.addWidget(self.table, 1)

        self.note = QLabel("")
        self.note.setObjectName("leaderboardNote")
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color: {theme.TEXT_MUTED};")
        lay.addWidget(self.note)

    @property
    def set_name(self) -> str | None:
        data = self.sets.currentData()
        return data if isinstance(data, str) else None

    def refresh(self, store: VoteStore | None = None) -> None:
        """Read `store` (or the last one) again and rank its votes for the chosen set, off the GUI thread."""
        if store is not None:
            self.store = store
        if self.store is None:
            return
        chosen_store, set_name = self.store, self.set_name
        self.note.setText("Counting the votes…")
        self.runner.submit(lambda token: compute_board(chosen_store, set_name, token))

    def _set_chosen(self) -> None:
        self.refresh()

    def _show(self, board: Board) -> None:
        self.board = board
        self._fill_sets(board)
        self.table.setRowCount(len(board.ratings))
        for row, r in enumerate(board.ratings):
            detail = "\n".join(filter(None, [r.file, f"sha256 {r.key}" if r.key != r.file else ""]))
            ties = f"{r.ties} ({r.both_bad} both bad)" if r.both_bad else str(r.ties)
            values = [str(row + 1), r.label, f"{r.rating:.0f}", f"{r.low:.0f} to {r.high:.0f}", str(r.votes),
                      f"{r.wins} / {r.losses} / {ties}"]
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                if col != 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                else:
                    item.setToolTip(detail)
                self.table.setItem(row, col, item)
        self.note.setText(note_text(board))

    def _fill_sets(self, board: Board) -> None:
        names = [self.sets.itemData(i) for i in range(1, self.sets.count())]
        if names == board.sets:
            return
        chosen = self.set_name
        self.sets.blockSignals(True)
        self.sets.clear()
        self.sets.addItem(ALL_SETS, None)
        for name in board.sets:
            self.sets.addItem(name, name)
        if chosen is not None and chosen not in board.sets:  # keep the choice though it has no votes
            self.sets.addItem(chosen, chosen)
        self.sets.setCurrentIndex(max(0, self.sets.findData(chosen)) if chosen is not None else 0)
        self.sets.blockSignals(False)

    def _failed(self, exc: object) -> None:
        self.board = None
        self.table.setRowCount(0)
        text = describe_error(exc) if isinstance(exc, BaseException) else str(exc)
        self.note.setText(f"The leaderboard could not be computed: {text}")
