"""A chat pane's settings panel (in the pane's Settings menu): sampling, thinking budget, lengths, seed, context."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QPushButton, QSpinBox, QWidget

from explorer.chat.records import RANDOM_SEED, PaneSettings
from explorer.chat.templates import SamplingPreset, preset_for
from explorer.fit.contexts import CONTEXT_CHOICES
from ui.fmt import format_ctx

NO_BUDGET = -1  # the budget spin box's "no limit"
_SETTINGS_BUDGET = "chat/default_budget"


def default_budget() -> int | None:
    value = QSettings().value(_SETTINGS_BUDGET, NO_BUDGET)
    try:
        n = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return None if n < 0 else n


def set_default_budget(budget: int | None) -> None:
    QSettings().setValue(_SETTINGS_BUDGET, NO_BUDGET if budget is None else budget)


class SettingsForm(QWidget):
    """The pane's settings (in the pane's settings menu): sampling, budget, lengths, seed."""

    ctx_changed = Signal()  # the one setting the plan depends on; the rest are read when a message is sent

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("paneSettings")
        form = QFormLayout(self)
        form.setContentsMargins(12, 10, 12, 10)
        self.preset_box = QCheckBox("Qwen's recommended sampling")
        self.preset_box.setChecked(True)
        self.preset_box.setToolTip("Thinking: temperature 0.6, top-p 0.95, top-k 20, min-p 0\n"
                                   "Non-thinking: temperature 0.7, top-p 0.8, top-k 20, min-p 0")
        form.addRow(self.preset_box)
        self.temperature = self._double(0.0, 2.0, 0.05)
        self.top_p = self._double(0.0, 1.0, 0.05)
        self.top_k = QSpinBox()
        self.top_k.setRange(0, 200)
        self.min_p = self._double(0.0, 1.0, 0.01)
        form.addRow("Temperature", self.temperature)
        form.addRow("Top-p", self.top_p)
        form.addRow("Top-k", self.top_k)
        form.addRow("Min-p", self.min_p)
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
        form.addRow("Seed", self.seed)
        self.ctx = QComboBox()
        self.ctx.setObjectName("ctxCombo")
        for c in CONTEXT_CHOICES:
            self.ctx.addItem(format_ctx(c), c)
        form.addRow("Context", self.ctx)
        self.preset_box.toggled.connect(self._sync_enabled)
        self.ctx.currentIndexChanged.connect(self.ctx_changed)

    @staticmethod
    def _double(lo: float, hi: float, step: float) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(lo, hi)
        box.setSingleStep(step)
        box.setDecimals(2)
        return box

    def _sync_enabled(self) -> None:
        custom = not self.preset_box.isChecked()
        for w in (self.temperature, self.top_p, self.top_k, self.min_p):
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
            top_k=self.top_k.value(), min_p=round(self.min_p.value(), 3))
        return PaneSettings(thinking=thinking, budget=self.budget_value(), sampling=sampling,
                            max_tokens=self.max_tokens.value(), seed=self.seed.value(),
                            ctx=int(self.ctx.currentData()))
