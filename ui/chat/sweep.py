"""The Sweep… dialog of a chat pane: which setting to sweep, its values and the one seed they share.

It only chooses (`chosen` carries an `explorer.chat.sweep_plan.SweepPlan`); the chat tab turns the
pane into one pane per value (`ChatTab.sweep`). It opens window-modal with `open()`: the event loop
(and every pane's stream) goes on while it is shown.
"""

from __future__ import annotations

import random

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from explorer.chat.records import RANDOM_SEED, PaneMode, StopReason
from explorer.chat.sweep_plan import (
    DEFAULT_VALUES,
    SweepParam,
    SweepPlan,
    fastest,
    pane_ranges,
    parse_values,
    sweep_settings,
    value_text,
)
from explorer.chat.templates import preset_for
from ui.chat.pane import ChatPane


class SweepDialog(QDialog):
    chosen = Signal(object)  # SweepPlan

    def __init__(self, pane_number: int, model: str, seed: int, room: int, limit: int,
                 parent: QWidget | None = None) -> None:
        """`room`: how many panes the sweep may make (the tab's `limit`, less the other panes)."""
        super().__init__(parent)
        self.setObjectName("sweepDialog")
        self.setWindowTitle(f"Sweep pane {pane_number}")
        self.room, self.limit = room, limit
        form = QFormLayout(self)
        form.addRow(QLabel(f"One pane of {model} per value, side by side, all with one seed."))
        self.param = QComboBox()
        self.param.setObjectName("sweepParam")
        for p in SweepParam:
            self.param.addItem(p.label, p.value)
        self.param.currentIndexChanged.connect(self._param_changed)
        form.addRow("Sweep", self.param)
        self.values = QLineEdit(DEFAULT_VALUES[SweepParam.TEMPERATURE])
        self.values.setObjectName("sweepValues")
        self.values.setToolTip("Comma-separated. Temperature 0 is greedy; modes: chatroom, free-form, fim")
        self.values.textChanged.connect(self._check)
        form.addRow("Values", self.values)
        self.seed = QSpinBox()
        self.seed.setObjectName("sweepSeed")
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(seed if seed != RANDOM_SEED else random.randrange(2**31))
        self.seed.setToolTip("Every pane of the sweep samples with this seed, so only the swept value differs")
        self.seed.valueChanged.connect(self._check)
        form.addRow("Seed", self.seed)
        self.note = QLabel("")
        self.note.setObjectName("sweepNote")
        self.note.setWordWrap(True)
        form.addRow(self.note)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self._check()

    @classmethod
    def open_for(cls, pane: ChatPane, *, room: int, limit: int, parent: QWidget) -> SweepDialog:
        """The dialog for `pane`, shown window-modal (not waited for); it deletes itself when closed."""
        dialog = cls(pane.number, pane.label(), pane.settings().seed, room, limit, parent)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def _param_changed(self) -> None:
        self.values.setText(DEFAULT_VALUES[SweepParam(self.param.currentData())])

    def plan(self) -> SweepPlan:
        """What the fields say; ValueError (one line) for values that cannot run or too many panes."""
        param = SweepParam(self.param.currentData())
        values = parse_values(param, self.values.text())
        if len(values) > self.room:
            raise ValueError(f"{len(values)} values need {len(values)} panes; there is room for {self.room} "
                             f"(the tab holds at most {self.limit}: close a pane or sweep fewer values)")
        return SweepPlan(param, values, self.seed.value())

    def _check(self) -> bool:
        try:
            plan = self.plan()
        except ValueError as exc:
            self.note.setText(str(exc))
            ok = False
        else:
            self.note.setText(f"{len(plan.values)} panes, seed {plan.seed}")
            ok = True
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
        return ok

    def _accept(self) -> None:
        if self._check():
            self.chosen.emit(self.plan())
            self.accept()


def no_room(n: int, others: int, limit: int) -> str | None:
    """Why a sweep of `n` values does not fit next to `others` panes in a tab of `limit` (None: it does)."""
    if others + n <= limit:
        return None
    return (f"A sweep of {n} values needs {n} panes; with the {others} other pane(s) that is {others + n}, "
            f"and the tab holds {limit}: close a pane or sweep fewer values.")


def apply_sweep(panes: list[ChatPane], plan: SweepPlan) -> str:
    """Give the sweep's panes (the swept pane first, then its copies) one value each and the plan's
    seed; what was done, in words."""
    base = panes[0].settings()
    now = base.sampling or preset_for(base.thinking and base.mode is PaneMode.CHATROOM)  # what it samples with
    for pane, settings in zip(panes, sweep_settings(base, plan, now), strict=True):
        pane.apply_settings(settings)
    values = ", ".join(value_text(v) for v in plan.values)
    return (f"Sweep of {plan.param.label.lower()} ({values}) in {pane_ranges([p.number for p in panes])}, "
            f"seed {plan.seed}")


def mark_fastest(panes: list[ChatPane]) -> None:
    """Badge the answer of the pane that generated fastest (tokens/s) of those that answered in a run."""
    answered = {p: p.last_stats for p in panes if p.last_stats is not None
                and p.last_stats.stop_reason is not StopReason.ERROR}
    best = fastest({p: s.tokens_per_s for p, s in answered.items()})
    for p in answered:
        p.transcript.assistant().set_fastest(p is best)
