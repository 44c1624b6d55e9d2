"""The left pane: what this machine has, warnings about it, and memory bars for the selected model."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from explorer.fit.estimate import Breakdown, FitEstimate
from explorer.hardware import advice, describe
from explorer.hardware.advice import WARNING_PREFIX
from explorer.hardware.facts import Hardware
from ui.models.memory_bar import MemoryBar, MemoryLegend, Need

_SELECTABLE = Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
# A shell command at the end of a warning ("... Reinstall it with GPU support: CMAKE_ARGS=... pip ...")
_COMMAND_RE = re.compile(r":\s+((?:\$env:)?CMAKE_ARGS\s*=.*|pip install .*)$")


def split_notes(hw: Hardware) -> tuple[list[str], list[str]]:
    """(warnings, other notes) from the probe's notes."""
    warnings = advice.warnings(hw)
    others = [n for n in hw.notes if n not in warnings]
    return warnings, others


def split_command(text: str) -> tuple[str, str | None]:
    """('message', 'command') when the text ends with a shell command, else (text, None)."""
    m = _COMMAND_RE.search(text)
    if not m:
        return text, None
    return text[: m.start()].rstrip() + ":", m.group(1).strip()


def _clear(layout: QVBoxLayout | QGridLayout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        w = item.widget() if item is not None else None
        if w is not None:
            w.setParent(None)
            w.deleteLater()


class Banner(QFrame):
    """A coloured box with selectable text; a command in it gets its own line and a Copy button."""

    def __init__(self, text: str, kind: str = "warning", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorBanner" if kind == "error" else "warningBanner")
        self.text = text
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.setSpacing(6)
        body = text
        if body.startswith(WARNING_PREFIX):
            body = body[len(WARNING_PREFIX):].strip()
        body = body[:1].upper() + body[1:]
        message, self.command = split_command(body)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        head = QLabel("Warning" if kind == "warning" else "Error")
        head.setObjectName("bannerTitle")
        top.addWidget(head)
        top.addStretch(1)
        layout.addLayout(top)
        self.label = QLabel(message)
        self.label.setObjectName("bannerText")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(_SELECTABLE)
        self.label.setCursor(Qt.CursorShape.IBeamCursor)
        layout.addWidget(self.label)
        self.command_label: QLabel | None = None
        if self.command:
            copy = QPushButton("Copy command")
            copy.setObjectName("bannerCopy")
            copy.setToolTip("Copy the command to the clipboard")
            copy.setCursor(Qt.CursorShape.PointingHandCursor)
            copy.clicked.connect(self.copy)
            top.addWidget(copy)
            cmd = QLabel(self.command)
            cmd.setObjectName("command")
            cmd.setWordWrap(True)
            cmd.setTextFormat(Qt.TextFormat.PlainText)
            cmd.setTextInteractionFlags(_SELECTABLE)
            cmd.setCursor(Qt.CursorShape.IBeamCursor)
            self.command_label = cmd
            layout.addWidget(cmd)

    def copy(self) -> None:
        """Put the command (or the whole message when there is none) on the clipboard."""
        QGuiApplication.clipboard().setText(self.command or self.text)


class HardwarePanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("hardwarePanel")
        self.hardware: Hardware | None = None
        self._fit: FitEstimate | None = None

        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 14, 16, 14)
        outer.setSpacing(10)

        title = QLabel("This machine")
        title.setObjectName("paneTitle")
        outer.addWidget(title)

        self._banners = QVBoxLayout()
        self._banners.setSpacing(6)
        outer.addLayout(self._banners)

        self._rows = QGridLayout()
        self._rows.setHorizontalSpacing(12)
        self._rows.setVerticalSpacing(5)
        self._rows.setColumnStretch(1, 1)
        outer.addLayout(self._rows)

        self.notes_toggle = QToolButton()
        self.notes_toggle.setObjectName("notesToggle")
        self.notes_toggle.setCheckable(True)
        self.notes_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.notes_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.notes_toggle.toggled.connect(self._toggle_notes)
        self.notes_toggle.hide()
        outer.addWidget(self.notes_toggle)
        self._notes = QLabel()
        self._notes.setObjectName("notes")
        self._notes.setWordWrap(True)
        self._notes.setTextInteractionFlags(_SELECTABLE)
        self._notes.hide()
        outer.addWidget(self._notes)

        mem_title = QLabel("Memory")
        mem_title.setObjectName("sectionTitle")
        outer.addWidget(mem_title)
        self._fit_label = QLabel("Select a model to see what it needs.")
        self._fit_label.setObjectName("muted")
        self._fit_label.setWordWrap(True)
        outer.addWidget(self._fit_label)

        self._bars_box = QVBoxLayout()
        self._bars_box.setSpacing(10)
        outer.addLayout(self._bars_box)
        self.ram_bar = MemoryBar("RAM")
        self._bars_box.addWidget(self.ram_bar)
        self.gpu_bars: list[MemoryBar] = []
        outer.addWidget(MemoryLegend())
        outer.addStretch(1)

        self.set_probing()

    # --- states ----------------------------------------------------------------------------

    @property
    def warning_banners(self) -> list[Banner]:
        return [b for b in self.findChildren(Banner) if b.objectName() == "warningBanner"]

    def row_texts(self) -> list[tuple[str, str]]:
        out = []
        for r in range(self._rows.rowCount()):
            items = [self._rows.itemAtPosition(r, c) for c in (0, 1)]
            if all(i is not None and i.widget() is not None for i in items):
                k, v = (i.widget() for i in items)  # type: ignore[union-attr]
                if isinstance(k, QLabel) and isinstance(v, QLabel):
                    out.append((k.text(), v.text()))
        return out

    def set_probing(self) -> None:
        self.hardware = None
        _clear(self._banners)
        self._set_rows([("CPU", "Detecting hardware…"), ("Memory", "Detecting hardware…"),
                        ("GPU", "Detecting hardware…")])
        self._set_notes([])
        self.ram_bar.set_placeholder("Detecting hardware…")
        self._set_gpu_bars(0)

    def set_error(self, message: str) -> None:
        _clear(self._banners)
        self._banners.addWidget(Banner(f"Hardware detection failed: {message}", "error"))
        self._set_rows([])
        self.ram_bar.set_placeholder("unknown")

    def set_hardware(self, hw: Hardware) -> None:
        self.hardware = hw
        _clear(self._banners)
        warnings, notes = split_notes(hw)
        for w in warnings:
            self._banners.addWidget(Banner(w, "warning"))
        self._set_rows(describe.describe(hw))
        self._set_notes(notes)
        self.ram_bar.set_capacity(hw.ram_total, hw.ram_total - hw.ram_available)
        self._set_gpu_bars(len(hw.gpus))
        for bar, gpu in zip(self.gpu_bars, hw.gpus, strict=True):
            bar.set_title(f"GPU {gpu.index}" if len(hw.gpus) > 1 else "GPU")
            used = None if gpu.vram_free is None else gpu.vram_total - gpu.vram_free
            bar.set_capacity(gpu.vram_total, used)
            bar.set_note("" if hw.offload_possible else "unused: llama.cpp cannot offload")
        self.set_fit(self._fit)

    def set_fit(self, fit: FitEstimate | None, label: str = "") -> None:
        """Show what `fit` needs on each bar (None: nothing selected)."""
        self._fit = fit
        if fit is None:
            self._fit_label.setText("Select a model to see what it needs.")
        else:
            self._fit_label.setText(label or "Selected model")
        hw = self.hardware
        if hw is None:
            return
        if fit is None:
            self.ram_bar.set_need(None)
            for bar in self.gpu_bars:
                bar.set_need(None)
            return
        ram_need = Need.from_breakdown(fit.cpu)
        if any(g.unified for g in hw.gpus):
            ram_need = ram_need + Need.from_breakdown(fit.gpu)
        self.ram_bar.set_need(ram_need)
        for bar, share in zip(self.gpu_bars, _split_gpu(fit.gpu, hw), strict=True):
            bar.set_need(share)

    # --- helpers ---------------------------------------------------------------------------

    def _set_rows(self, rows: list[tuple[str, str]]) -> None:
        _clear(self._rows)
        for r, (key, value) in enumerate(rows):
            k = QLabel(key)
            k.setObjectName("rowKey")
            k.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            v = QLabel(value)
            v.setObjectName("rowValue")
            v.setWordWrap(True)
            v.setTextInteractionFlags(_SELECTABLE)
            v.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            self._rows.addWidget(k, r, 0)
            self._rows.addWidget(v, r, 1)

    def _set_notes(self, notes: list[str]) -> None:
        """What the probe could not read: folded away under a toggle, it is rarely news."""
        self._notes.setText("\n".join(f"• {n}" for n in notes))
        self.notes_toggle.setText(f"Probe notes ({len(notes)})")
        self.notes_toggle.setVisible(bool(notes))
        self._notes.setVisible(bool(notes) and self.notes_toggle.isChecked())

    def _toggle_notes(self, shown: bool) -> None:
        self.notes_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self._notes.setVisible(shown and bool(self._notes.text()))

    def _set_gpu_bars(self, n: int) -> None:
        while len(self.gpu_bars) > n:
            bar = self.gpu_bars.pop()
            bar.setParent(None)
            bar.deleteLater()
        while len(self.gpu_bars) < n:
            bar = MemoryBar("GPU")
            self.gpu_bars.append(bar)
            self._bars_box.addWidget(bar)


def _split_gpu(b: Breakdown, hw: Hardware) -> list[Breakdown]:
    """Share the VRAM breakdown out over the GPUs in proportion to their free memory.

    llama.cpp splits layers by free VRAM by default; the estimate gives one total.
    """
    gpus = hw.gpus
    if len(gpus) <= 1:
        return [b] * len(gpus)
    free = [g.vram_free if g.vram_free is not None else g.vram_total for g in gpus]
    whole = sum(free) or 1
    return [Breakdown(int(b.weights * f / whole), int(b.kv * f / whole),
                      int(b.compute * f / whole), int(b.overhead * f / whole)) for f in free]
