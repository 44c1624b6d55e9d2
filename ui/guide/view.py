"""The Guide: pick a use, see the variant for it, why, the best file for this machine and the next step up.

The picks come from `explorer.guide.pick` (all four uses at once, on a `LatestRunner` thread: a newer
catalog, hardware or context supersedes the running computation), so switching uses is instant.

Signals:
  download_requested(object)      a `ui.models.table.Row` (model, file, fit): what the Models tab's
                                  Download sends, so the window's `download_row` takes it as is
  open_in_chat_requested(object)  an `explorer.guide.pick.OpenInChat`: the panes (file and thinking on,
                                  off or the variant's own) and the context to load them at
  pick_shown(object)              the `Pick` now on screen (None while there is none)
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from explorer.catalog.snapshot import Catalog
from explorer.fit.estimate import FitEstimate
from explorer.guide.pick import DEFAULT_GUIDE_CTX, Pick, StepUp, pick_all
from explorer.guide.uses import USES, Use
from explorer.hardware.facts import Hardware
from ui import theme
from ui.cards import card
from ui.fmt import format_bytes, format_ctx, format_speed, verdict_text
from ui.models.table import Row, file_size_text
from ui.workers import CancelToken, LatestRunner

RULE = ("How the guide picks: the largest model of the first variant that runs here at a usable speed and leaves "
        "room, at 4 bits per weight or more (below 4 only when no such file does); within it, full GPU before partial "
        "offload before CPU, then the most bits. When nothing is fast enough, the notes say so and name the fastest "
        "file; the pick is then the largest model not far slower than the rest, at its fastest quant from 4 bits up "
        "(below 4 bits with a note saying why).")
_SELECTABLE = Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard

_STYLE = f"""
QWidget#guideView {{ background: #f6f7f9; }}
QPushButton#guideUse {{
    background: #ffffff; border: 1px solid #d5dae1; border-radius: 10px; padding: 0; text-align: left;
    min-height: 74px;
}}
QPushButton#guideUse:hover {{ background: #f4f6fb; border-color: #b9c2f0; }}
QPushButton#guideUse:checked {{ background: #eef0fc; border: 2px solid {theme.MEM_WEIGHTS}; }}
QLabel#guideUseTitle {{ font-size: 15px; font-weight: 600; color: {theme.TEXT_NORMAL}; background: transparent; }}
QLabel#guideUseBlurb {{ color: {theme.TEXT_MUTED}; background: transparent; }}
QLabel#guideHeading {{ font-size: 20px; font-weight: 600; color: {theme.TEXT_NORMAL}; }}
QLabel#guideVariant {{ font-size: 17px; font-weight: 600; color: {theme.TEXT_NORMAL}; }}
QLabel#guideFile {{ font-size: 16px; font-weight: 600; color: {theme.TEXT_NORMAL}; }}
QLabel#guideMuted, QLabel#guideSource {{ color: {theme.TEXT_MUTED}; }}
QLabel#guideNote {{ color: #8a5a00; }}
QLabel#guideKey {{ color: {theme.TEXT_MUTED}; }}
QLabel#guideBig {{ font-size: 15px; font-weight: 600; color: {theme.TEXT_NORMAL}; }}
QPushButton#primaryButton, QPushButton#rowButton {{ min-height: 26px; padding: 4px 18px; }}
QFrame#guideRule {{ color: #e3e6eb; }}
"""


def _label(text: str = "", name: str = "", *, wrap: bool = True, select: bool = False) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)  # the reasons quote tags such as <think>
    if name:
        label.setObjectName(name)
    label.setWordWrap(wrap)
    if select:
        label.setTextInteractionFlags(_SELECTABLE)
    return label


def _card_wide(title: str) -> tuple[QFrame, QVBoxLayout]:
    return card(title, (16, 12, 16, 14))  # the Guide's cards: a little more room


def _machine_text(hw: Hardware | None) -> str:
    if hw is None:
        return "not probed yet"
    ram = f"{format_bytes(hw.ram_available)} RAM free"
    if not hw.gpus:
        return f"{ram}, no GPU"
    gpu = hw.gpus[0]
    if gpu.unified:
        return f"{gpu.name}, {format_bytes(hw.ram_total)} unified memory"
    return f"{gpu.name} {format_bytes(gpu.vram_total)}, {ram}"


class UseButton(QPushButton):
    """A big checkable card: the use's title over one line saying what it covers."""

    def __init__(self, use: Use, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        info = USES[use]
        self.use = use
        self.setObjectName("guideUse")
        self.setCheckable(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAccessibleName(info.title)
        # As tall as its wrapped lines need at its width (a Fixed height was the button's own size hint,
        # which knows nothing of the labels laid out on it: a narrow card cut its last line).
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 10, 14, 10)
        lay.setSpacing(3)
        for text, name in ((info.title, "guideUseTitle"), (info.blurb, "guideUseBlurb")):
            label = _label(text, name)
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            lay.addWidget(label)
        lay.addStretch(1)


class GuideView(QWidget):
    download_requested = Signal(object)
    open_in_chat_requested = Signal(object)
    pick_shown = Signal(object)

    def _apply_theme(self, dark: bool) -> None:
        self.setStyleSheet(theme.dark_sheet(_STYLE) if dark else _STYLE)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("guideView")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self._apply_theme(theme.is_dark())
        theme.notifier().changed.connect(self._apply_theme)
        self._catalog: Catalog | None = None
        self._hw: Hardware | None = None
        self._ctx = DEFAULT_GUIDE_CTX
        self._use = Use.CHAT
        self.picks: dict[Use, Pick] = {}
        self.runner = LatestRunner(self)
        self.runner.result.connect(self._on_picks)
        self.runner.error.connect(self._on_error)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        body.setObjectName("guideView")
        scroll.setWidget(body)
        outer.addWidget(scroll)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(20, 16, 20, 16)
        lay.setSpacing(12)

        head = QHBoxLayout()
        head.addWidget(_label("What do you want to do?", "guideHeading", wrap=False))
        head.addStretch(1)
        self.status = _label("", "guideMuted", wrap=False)
        head.addWidget(self.status)
        lay.addLayout(head)

        self.use_buttons: dict[Use, UseButton] = {}
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        uses = QHBoxLayout()
        uses.setSpacing(10)
        for use in Use:
            button = UseButton(use)
            button.clicked.connect(lambda _checked=False, u=use: self.set_use(u))
            self._group.addButton(button)
            self.use_buttons[use] = button
            uses.addWidget(button)
        self.use_buttons[self._use].setChecked(True)
        lay.addLayout(uses)

        self.result = QWidget()
        res = QHBoxLayout(self.result)
        res.setContentsMargins(0, 0, 0, 0)
        res.setSpacing(12)
        res.addWidget(self._build_variant_card(), 1)
        res.addWidget(self._build_pick_card(), 1)
        lay.addWidget(self.result)
        lay.addStretch(1)
        self._recompute()  # says what it waits for

    # --- layout ----------------------------------------------------------------------------

    def _build_variant_card(self) -> QFrame:
        card, lay = _card_wide("The variant for it")
        self.variant_label = _label("", "guideVariant")
        self.why_label = _label("", select=True)
        self.compare_label = _label("", select=True)
        self.source_label = _label("", "guideSource", select=True)
        self.source_label.setToolTip("Where these facts come from")
        for w in (self.variant_label, self.why_label, self.compare_label, self.source_label):
            lay.addWidget(w)
        lay.addStretch(1)
        return card

    def _build_pick_card(self) -> QFrame:
        card, lay = _card_wide("Best file for this machine")
        top = QHBoxLayout()
        self.file_label = _label("", "guideFile", select=True)
        top.addWidget(self.file_label, 1)
        self.verdict_pill = QLabel()
        self.verdict_pill.setObjectName("verdictPill")
        self.verdict_pill.setAlignment(Qt.AlignmentFlag.AlignCenter)
        top.addWidget(self.verdict_pill, 0, Qt.AlignmentFlag.AlignTop)
        lay.addLayout(top)
        self.repo_label = _label("", "guideMuted", select=True)
        lay.addWidget(self.repo_label)

        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(4)
        self.memory_value = _label("", "guideBig", wrap=False)
        self.memory_detail = _label("", "guideMuted")
        self.speed_value = _label("", "guideBig", wrap=False)
        self.speed_detail = _label("", "guideMuted")
        grid.addWidget(_label("Memory", "guideKey", wrap=False), 0, 0)
        grid.addWidget(_label("Predicted speed", "guideKey", wrap=False), 0, 1)
        grid.addWidget(self.memory_value, 1, 0)
        grid.addWidget(self.speed_value, 1, 1)
        grid.addWidget(self.memory_detail, 2, 0)
        grid.addWidget(self.speed_detail, 2, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        lay.addLayout(grid)

        self.notes_label = _label("", "guideNote", select=True)
        lay.addWidget(self.notes_label)

        buttons = QHBoxLayout()
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("primaryButton")
        self.download_button.clicked.connect(self._download)
        self.chat_button = QPushButton("Open in chat")
        self.chat_button.setObjectName("rowButton")
        self.chat_button.clicked.connect(self._open_in_chat)
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.chat_button)
        buttons.addStretch(1)
        lay.addLayout(buttons)

        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setObjectName("guideRule")
        lay.addWidget(line)
        lay.addWidget(_label("Next step up", "cardTitle", wrap=False))
        self.next_label = _label("", select=True)
        self.next_label.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.next_label)
        lay.addStretch(1)
        lay.addWidget(_label(RULE, "guideSource"))
        return card

    # --- inputs ----------------------------------------------------------------------------

    def set_catalog(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._recompute()

    def set_hardware(self, hw: Hardware) -> None:
        self._hw = hw
        self._recompute()

    def set_context(self, ctx: int) -> None:
        if ctx != self._ctx:
            self._ctx = ctx
            self._recompute()

    def set_use(self, use: Use | str) -> None:
        self._use = Use(use)
        self.use_buttons[self._use].setChecked(True)
        self._show()

    def set_download_available(self, available: bool) -> None:
        self.download_button.setVisible(available)

    @property
    def use(self) -> Use:
        return self._use

    @property
    def ctx(self) -> int:
        return self._ctx

    @property
    def current(self) -> Pick | None:
        return self.picks.get(self._use)

    # --- computing -------------------------------------------------------------------------

    def _recompute(self) -> None:
        self.picks = {}
        if self._catalog is None or self._hw is None:
            self.status.setText("Waiting for the hardware probe…" if self._hw is None else "Waiting for the catalog…")
            self._show()
            return
        catalog, hw, ctx = self._catalog, self._hw, self._ctx
        self.status.setText(f"Working out the picks at {format_ctx(ctx)} context…")
        self._show()

        def job(token: CancelToken) -> dict[Use, Pick]:
            return pick_all(catalog, hw, ctx, cancelled=lambda: token.cancelled)

        self.runner.submit(job)

    def _on_picks(self, picks: object) -> None:
        assert isinstance(picks, dict)
        self.picks = picks
        self.status.setText(f"For this machine ({_machine_text(self._hw)}) at {format_ctx(self._ctx)} context")
        self._show()

    def _on_error(self, exc: object) -> None:
        self.status.setText(f"Could not work out the picks: {exc}")

    # --- showing ---------------------------------------------------------------------------

    def _show(self) -> None:
        info = USES[self._use]
        p = self.current
        choice = p.choice if p is not None and p.choice is not None else info.choices[0]
        thinking = {True: " · thinking on", False: " · thinking off", None: ""}[choice.thinking]
        self.variant_label.setText(f"{choice.variant.label}{thinking}")
        self.why_label.setText(choice.why)
        self.source_label.setText(f"Sources: {info.source}")
        self.compare_label.setText(self._compare_text(p))
        self.compare_label.setVisible(bool(self.compare_label.text()))
        best = p.best if p is not None else None
        if best is None:
            self.file_label.setText("—" if p is None else "Nothing runs here")
            self.repo_label.setText("" if p is None else "; ".join(p.notes))
            self._pill(None, "waiting…" if p is None else "does not fit")
            for w in (self.memory_value, self.memory_detail, self.speed_value, self.speed_detail):
                w.setText("–" if w in (self.memory_value, self.speed_value) else "")
            self.notes_label.setText("")
        else:
            fit = best.fit
            self.file_label.setText(f"{best.model.id}  ·  {best.file.quant}")
            self.repo_label.setText(f"{best.file.repo}  ·  {file_size_text(best.file)} download")
            self._pill(fit, verdict_text(fit))
            self.memory_value.setText(format_bytes(fit.total))
            self.memory_detail.setText(self._memory_text(fit))
            self.speed_value.setText(format_speed(fit.tokens_per_second))
            self.speed_detail.setText(f"this use wants {info.min_tokens_per_s:g} tok/s or more")
            self.notes_label.setText("\n".join(f"• {n}" for n in p.notes) if p is not None else "")
        self.notes_label.setVisible(bool(self.notes_label.text()))
        self.next_label.setText(self._next_text(p))
        self.download_button.setEnabled(best is not None)
        self.chat_button.setEnabled(best is not None and p is not None and p.chat is not None)
        two = p is not None and p.chat is not None and len(p.chat.panes) == 2
        self.chat_button.setText("Open in chat: thinking on and off" if two else "Open in chat")
        self.pick_shown.emit(p)

    @staticmethod
    def _memory_text(fit: FitEstimate) -> str:
        parts = []
        if fit.gpu.total:
            parts.append(f"{format_bytes(fit.gpu.total)} VRAM")
        parts.append(f"{format_bytes(fit.cpu.total)} RAM")
        return " + ".join(parts) + f" at {format_ctx(fit.ctx)} context"

    @staticmethod
    def _compare_text(p: Pick | None) -> str:
        if p is None or p.chat is None or len(p.chat.panes) != 2:
            return ""
        other = p.chat.panes[1]
        plan = "both load at once" if p.chat.together else "they run one after the other (not enough memory for both)"
        if other.file == p.chat.panes[0].file:
            return f"Open in chat shows the same file twice, thinking on next to thinking off; {plan}."
        return (f"Open in chat puts it next to {other.model.id} {other.file.quant}, which never thinks; {plan}.")

    @staticmethod
    def _next_text(p: Pick | None) -> str:
        if p is None:
            return ""
        if not p.steps_up:
            return "Nothing bigger or better in the catalog."

        def line(s: StepUp) -> str:
            c = s.candidate
            kind = s.kind[:1].upper() + s.kind[1:]
            return (f"<b>{kind}:</b> {escape(c.model.id)} · {escape(c.file.quant)} "
                    f"<span style='color:{theme.TEXT_MUTED}'>({escape(file_size_text(c.file))})</span><br>"
                    f"{escape(s.text)}")

        return "<br><br>".join(line(s) for s in p.steps_up)

    def _pill(self, fit: FitEstimate | None, text: str) -> None:
        bg, fg = theme.verdict_colors(fit.verdict if fit else None)
        self.verdict_pill.setText(text)
        self.verdict_pill.setStyleSheet(f"background: {bg.name()}; color: {fg.name()}; border-radius: 11px;"
                                        " padding: 3px 12px; font-weight: 600;")

    # --- actions ---------------------------------------------------------------------------

    def _download(self) -> None:
        p = self.current
        if p is not None and p.best is not None:
            self.download_requested.emit(Row(p.best.model, p.best.file, p.best.fit))

    def _open_in_chat(self) -> None:
        p = self.current
        if p is not None and p.chat is not None:
            self.open_in_chat_requested.emit(p.chat)
