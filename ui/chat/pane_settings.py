"""A chat pane's settings panel (in the pane's Settings menu): sampling, thinking budget, lengths, seed, context.

The spin boxes' ranges are `SamplingPreset.check()`'s, so a value out of range cannot be entered.

The default thinking budget of a new pane lives in the settings file (`explorer.settings`): the window hands it
in with `use_default_budget`, with where "Use as default for new panes" sends a new one. Without a window
(a chat tab alone, in tests) the default is kept in memory only."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QPushButton, QSpinBox, QWidget

from explorer.chat.records import RANDOM_SEED, PaneSettings
from explorer.chat.templates import SamplingPreset, preset_for
from explorer.fit.contexts import CONTEXT_CHOICES
from ui.fmt import format_ctx

NO_BUDGET = -1  # the budget spin box's "no limit"
LEGACY_BUDGET_KEY = "chat/default_budget"  # where QSettings kept it before the settings file (its version 1)


class _DefaultBudget:
    value: int | None = None
    saved: Callable[[int | None], None] | None = None  # the window's: writes the settings file


_default = _DefaultBudget()


def default_budget() -> int | None:
    """A new pane's thinking budget (None: no limit)."""
    return _default.value


def set_default_budget(budget: int | None) -> None:
    """The person's new default ("Use as default for new panes"): kept, and saved by the window's hook."""
    _default.value = budget
    if _default.saved is not None:
        _default.saved(budget)


def use_default_budget(budget: int | None, saved: Callable[[int | None], None] | None) -> None:
    """The window's: the default read from the settings file, and what saves a new one (None: nothing)."""
    _default.value = budget
    _default.saved = saved


def legacy_budget() -> object:
    """The default budget as QSettings kept it before the settings file (None: never set), for the migration
    from version 1 (`explorer.settings`)."""
    return QSettings().value(LEGACY_BUDGET_KEY)


class SettingsForm(QWidget):
    """The pane's settings (in the pane's settings menu): sampling, budget, lengths, seed."""

    ctx_changed = Signal()  # the one setting the plan depends on; the rest are read when a message is sent
    changed = Signal()  # a sampling value or the seed (for the pane's summary line)
    edited = Signal()  # any value at all (the window saves the panes' settings, debounced)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("paneSettings")
        form = QFormLayout(self)
        form.setContentsMargins(12, 10, 12, 10)
        self.preset_box = QCheckBox("Qwen's recommended sampling")
        self.preset_box.setChecked(True)
        self.preset_box.setToolTip("Thinking: temperature 0.6, top-p 0.95, top-k 20, min-p 0\n"
                                   "Non-thinking: temperature 0.7, top-p 0.8, top-k 20, min-p 0\n"
                                   "(no presence penalty, repeat penalty 1: off). Untick to set your own.")
        form.addRow(self.preset_box)
        self.temperature = self._double(0.0, 5.0, 0.05, "Temperature 0 is greedy: always the most likely token, "
                                        "the same answer every time (thinking models may repeat themselves)")
        self.top_p = self._double(0.01, 1.0, 0.05, "Nucleus sampling: draw from the most likely tokens whose "
                                  "probabilities add up to this (1 is off)")
        self.top_k = QSpinBox()
        self.top_k.setRange(0, 1_000_000)
        self.top_k.setToolTip("Draw from this many most likely tokens (0 is off)")
        self.min_p = self._double(0.0, 1.0, 0.01, "Leave out tokens less likely than this fraction of the most "
                                  "likely one (0 is off)")
        self.presence_penalty = self._double(-2.0, 2.0, 0.1, "Presence penalty: Qwen recommends 0 to 2; 1.5 for "
                                             "quantized models that repeat themselves (0 is off)")
        self.repeat_penalty = self._double(0.05, 5.0, 0.05, "Repeat penalty (llama.cpp's): above 1 discourages "
                                           "tokens already written (1 is off)")
        self.sampling_boxes = (self.temperature, self.top_p, self.top_k, self.min_p, self.presence_penalty,
                               self.repeat_penalty)
        for name, box in zip(("Temperature", "Top-p", "Top-k", "Min-p", "Presence penalty", "Repeat penalty"),
                             self.sampling_boxes, strict=True):
            box.setObjectName(name.lower().replace(" ", "").replace("-", "") + "Spin")
            form.addRow(name, box)
        self.budget = QSpinBox()
        self.budget.setObjectName("budgetSpin")
        self.budget.setRange(NO_BUDGET, 32768)
        self.budget.setSingleStep(256)
        self.budget.setSpecialValueText("no limit")
        self.budget.setSuffix(" tokens")
        self.budget.setToolTip("Thinking budget: after this many thinking tokens the model is told to stop "
                               "thinking and answer (the Qwen3 report's method)")
        form.addRow("Thinking budget", self.budget)
        self.default_budget_button = QPushButton("Use as default for new panes")
        self.default_budget_button.clicked.connect(lambda: set_default_budget(self.budget_value()))
        form.addRow("", self.default_budget_button)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(16, 131072)
        self.max_tokens.setSingleStep(256)
        form.addRow("Max tokens", self.max_tokens)
        self.seed = QSpinBox()
        self.seed.setRange(RANDOM_SEED, 2**31 - 1)
        self.seed.setSpecialValueText("random")
        self.seed.setToolTip("The same seed and settings give the same answer; random draws a new seed per message")
        form.addRow("Seed", self.seed)
        self.ctx = QComboBox()
        self.ctx.setObjectName("ctxCombo")
        for c in CONTEXT_CHOICES:
            self.ctx.addItem(format_ctx(c), c)
        form.addRow("Context", self.ctx)
        self.preset_box.toggled.connect(self._sync_enabled)
        self.ctx.currentIndexChanged.connect(self.ctx_changed)
        for box in (*self.sampling_boxes, self.seed):
            box.valueChanged.connect(self.changed)
        self.preset_box.toggled.connect(self.changed)
        self.changed.connect(self.edited)
        self.ctx.currentIndexChanged.connect(self.edited)
        for spin in (self.budget, self.max_tokens):
            spin.valueChanged.connect(self.edited)

    @staticmethod
    def _double(lo: float, hi: float, step: float, tip: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setDecimals(2)
        box.setRange(lo, hi)
        box.setSingleStep(step)
        box.setToolTip(tip)
        return box

    def _sync_enabled(self) -> None:
        custom = not self.preset_box.isChecked()
        for w in self.sampling_boxes:
            w.setEnabled(custom)

    def show_preset(self, thinking: bool) -> None:
        """Show the values Qwen recommends for the mode while the preset is in use."""
        if self.preset_box.isChecked():
            self._set_sampling(preset_for(thinking))

    def _set_sampling(self, s: SamplingPreset) -> None:
        self.temperature.setValue(s.temperature)
        self.top_p.setValue(s.top_p)
        self.top_k.setValue(s.top_k)
        self.min_p.setValue(s.min_p)
        self.presence_penalty.setValue(s.presence_penalty)
        self.repeat_penalty.setValue(s.repeat_penalty)

    def budget_value(self) -> int | None:
        v = self.budget.value()
        return None if v == NO_BUDGET else v

    def set_settings(self, st: PaneSettings) -> None:
        self.preset_box.setChecked(st.sampling is None)
        if st.sampling is not None:
            self._set_sampling(st.sampling)
        else:
            self.show_preset(st.thinking)
        self._sync_enabled()
        self.budget.setValue(NO_BUDGET if st.budget is None else st.budget)
        self.max_tokens.setValue(st.max_tokens)
        self.seed.setValue(st.seed)
        i = self.ctx.findData(st.ctx)
        if i < 0:
            self.ctx.addItem(format_ctx(st.ctx), st.ctx)
            i = self.ctx.count() - 1
        self.ctx.setCurrentIndex(i)

    def read(self, thinking: bool) -> PaneSettings:
        sampling = None if self.preset_box.isChecked() else SamplingPreset(
            temperature=round(self.temperature.value(), 3), top_p=round(self.top_p.value(), 3),
            top_k=self.top_k.value(), min_p=round(self.min_p.value(), 3),
            presence_penalty=round(self.presence_penalty.value(), 3),
            repeat_penalty=round(self.repeat_penalty.value(), 3)).check()
        return PaneSettings(thinking=thinking, budget=self.budget_value(), sampling=sampling,
                            max_tokens=self.max_tokens.value(), seed=self.seed.value(),
                            ctx=int(self.ctx.currentData()))


def sampling_summary(s: SamplingPreset, seed: int) -> str:
    """The pane's sampling in one short line: 'temp 0.6 · top-p 0.95 · top-k 20 · seed 7'."""
    parts = [f"temp {s.temperature:g}" + (" (greedy)" if s.temperature == 0 else ""), f"top-p {s.top_p:g}",
             f"top-k {s.top_k}"]
    if s.min_p:
        parts.append(f"min-p {s.min_p:g}")
    if s.presence_penalty:
        parts.append(f"presence {s.presence_penalty:g}")
    if s.repeat_penalty != 1:
        parts.append(f"repeat {s.repeat_penalty:g}")
    parts.append("seed random" if seed == RANDOM_SEED else f"seed {seed}")
    return " · ".join(parts)
