"""Colours shared by the painted widgets (the style sheet covers the rest)."""

from __future__ import annotations

from PySide6.QtGui import QColor

from explorer.fit.estimate import Verdict

# (background, text) of the verdict pills
VERDICT_COLORS: dict[Verdict, tuple[str, str]] = {
    Verdict.FULL_GPU: ("#d9f2e3", "#17643a"),
    Verdict.PARTIAL: ("#fcebc7", "#8a5a00"),
    Verdict.CPU_ONLY: ("#e3e8ef", "#3d4a5c"),
    Verdict.NO_FIT: ("#fbdcdc", "#a32121"),
}
PENDING_COLORS = ("#eef0f3", "#7a8494")

# Memory bar segments
MEM_OTHERS = "#b8bfca"  # used by other programs
MEM_WEIGHTS = "#5b6ee1"
MEM_KV = "#36a3a0"
MEM_COMPUTE = "#e0a33a"  # compute buffers and overhead
MEM_FREE = "#eceff3"
MEM_OVERFLOW = "#d64545"
MEM_BORDER = "#cfd5de"

TEXT_MUTED = "#6b7483"
TEXT_NORMAL = "#1f2733"


def verdict_colors(verdict: Verdict | None) -> tuple[QColor, QColor]:
    bg, fg = VERDICT_COLORS.get(verdict, PENDING_COLORS) if verdict else PENDING_COLORS
    return QColor(bg), QColor(fg)
