"""How a chat pane prompts its model: the mode selector and what each mode needs.

- Chatroom: the model's chat template, after an editable system prompt (empty: the template's own
  default). A GGUF without a template (Base models) gets Qwen3's ChatML from the app, and says so.
- Free-form: the message box's text goes to the model exactly as typed (Base models start here).
- Fill-in-the-middle: a prefix and a suffix editor (`ui.chat.fim_editor`).

The row also holds the pane's **Think** box (placed there by the pane), shows its sampling in one line and holds
its **Sweep…** button.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from explorer.chat.records import PaneMode, PaneSettings
from explorer.gguf.fim import check_fim_input
from explorer.gguf.model_info import ModelInfo
from ui.chat.fim_editor import FIM_TOOLTIP, NO_FIM_NOTE, FimEditor

MODE_TEXT = {PaneMode.CHATROOM: "Chatroom", PaneMode.FREE_FORM: "Free-form",
             PaneMode.FIM: "Fill-in-the-middle (Coder)"}
MODE_TOOLTIP = {
    PaneMode.CHATROOM: "Chatroom: the message goes through the model's chat template, after the system prompt",
    PaneMode.FREE_FORM: "Free-form: the message goes to the model exactly as typed: no template, no special "
                        "tokens (Base models start here)",
    PaneMode.FIM: FIM_TOOLTIP,
}
FREE_FORM_NOTE = "The message box's text goes to the model exactly as typed: no template, no special tokens."
APP_TEMPLATE_NOTE = "Chat template supplied by the app (Qwen3 ChatML): this GGUF has none."


class ElidedLabel(QLabel):
    """One line of text cut with "…" where the pane is too narrow for it (the tooltip has it whole)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        self.setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(0, self.width())))


class ModePanel(QWidget):
    """The mode selector, the sampling summary, Sweep…, and the chosen mode's editor."""

    changed = Signal()  # the mode changed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modePanel")
        self._user_set = False  # the person chose a mode: a model's default no longer replaces it
        self._fim: bool | None = None  # the loaded model has the FIM tokens (None: not known)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        row = QHBoxLayout()
        row.setSpacing(6)
        self.combo = QComboBox()
        self.combo.setObjectName("paneMode")
        for i, mode in enumerate(PaneMode):
            self.combo.addItem(MODE_TEXT[mode], mode.value)
            self.combo.setItemData(i, MODE_TOOLTIP[mode], Qt.ItemDataRole.ToolTipRole)
        self.combo.setToolTip("How this pane prompts its model")
        self.combo.activated.connect(self._picked)
        self.combo.currentIndexChanged.connect(self._show)
        row.addWidget(self.combo)
        self.summary = ElidedLabel()
        self.summary.setObjectName("samplingSummary")
        row.addWidget(self.summary, 1)
        self.sweep_button = QToolButton()
        self.sweep_button.setObjectName("paneSweep")
        self.sweep_button.setText("Sweep…")
        self.sweep_button.setToolTip("Turn this pane into several panes of the same model at other temperatures, "
                                     "top-p values or modes, all with one seed")
        row.addWidget(self.sweep_button)
        lay.addLayout(row)
        self._row = row

        self.system_caption = self._note("fieldCaption", "System prompt")  # the placeholder goes once it is filled
        lay.addWidget(self.system_caption)
        self.system_edit = QPlainTextEdit()
        self.system_edit.setObjectName("systemPrompt")
        self.system_edit.setPlaceholderText("System prompt (empty: the template's own default)")
        self.system_edit.setTabChangesFocus(True)
        self.system_edit.setFixedHeight(44)
        lay.addWidget(self.system_edit)
        self.template_note = self._note("templateNote", APP_TEMPLATE_NOTE)
        lay.addWidget(self.template_note)
        self.free_note = self._note("freeFormNote", FREE_FORM_NOTE)
        lay.addWidget(self.free_note)
        self.fim = FimEditor()
        lay.addWidget(self.fim)
        self._app_template = False
        self._show()

    def place_beside_mode(self, widget: QWidget) -> None:
        """Show `widget` right after the mode selector (the pane's Think box: it reads with the mode)."""
        self._row.insertWidget(1, widget)

    @staticmethod
    def _note(name: str, text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName(name)
        label.setWordWrap(True)
        return label

    # --- the mode

    def mode(self) -> PaneMode:
        return PaneMode(self.combo.currentData())

    def set_mode(self, mode: PaneMode) -> None:
        """Choose the mode as the person would (a model's default no longer replaces it)."""
        self._user_set = True
        self._select(mode)

    def _select(self, mode: PaneMode) -> None:
        i = self.combo.findData(PaneMode(mode).value)
        if i != self.combo.currentIndex():
            self.combo.setCurrentIndex(i)

    def _picked(self) -> None:
        self._user_set = True

    def _show(self) -> None:
        mode = self.mode()
        self.system_edit.setVisible(mode is PaneMode.CHATROOM)
        self.system_caption.setVisible(mode is PaneMode.CHATROOM)
        self.template_note.setVisible(mode is PaneMode.CHATROOM and self._app_template)
        self.free_note.setVisible(mode is PaneMode.FREE_FORM)
        self.fim.setVisible(mode is PaneMode.FIM)
        self.fim.set_note(NO_FIM_NOTE if mode is PaneMode.FIM and self._fim is False else "")
        self.combo.setToolTip(MODE_TOOLTIP[mode])
        self.changed.emit()

    def set_model(self, info: ModelInfo | None) -> None:
        """The pane's model (its header read): its default mode, unless the person chose one; whether
        the app supplies its chat template."""
        self._app_template = info is not None and info.template is None
        self._fim = None
        if info is not None and not self._user_set:
            self._select(PaneMode.default_for(info.variant))
        self._show()

    def set_fim_support(self, ok: bool | None) -> None:
        """What the loaded model's vocabulary says (None: nothing loaded, not known)."""
        self._fim = ok
        self._show()

    @property
    def fim_supported(self) -> bool | None:
        return self._fim

    # --- settings

    def system(self) -> str:
        return self.system_edit.toPlainText()

    def complete(self, st: PaneSettings) -> PaneSettings:
        """`st` (from the settings panel) with this panel's mode and system prompt."""
        return replace(st, mode=self.mode(), system=self.system())

    def apply(self, st: PaneSettings) -> None:
        self.set_mode(st.mode)
        if self.system() != st.system:
            self.system_edit.setPlainText(st.system)

    def set_summary(self, text: str) -> None:
        self.summary.set_full_text(text)
        self.summary.setToolTip(f"This pane's sampling (Settings changes it): {text}")

    def refusal(self, text: str) -> str | None:
        """Why this pane cannot send now (None: it can): an empty message, an empty prefix and suffix,
        or a loaded model that has no FIM tokens. Nothing is sent and nothing is lost."""
        mode = self.mode()
        if mode is not PaneMode.FIM:
            return None if text.strip() else "the message box is empty"
        if self._fim is False:
            return NO_FIM_NOTE
        try:
            check_fim_input(*self.fim.texts())
        except ValueError as exc:
            return str(exc)
        return None

    def set_locked(self, locked: bool) -> None:
        for w in (self.combo, self.system_edit, self.fim.prefix, self.fim.suffix, self.sweep_button):
            w.setEnabled(not locked)
