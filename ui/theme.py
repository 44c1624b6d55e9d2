"""The light and dark themes: the colours shared by the painted widgets, the application palette, the style
sheet (assets/style.qss, written for light; `DARK_SHEET` maps each of its colours to its dark one), and
`set_theme(app, "system" | "light" | "dark")`, which switches all of them live.

"system" follows Qt's style hints (`QStyleHints.colorScheme()`, re-read on `colorSchemeChanged`); an unknown
scheme reads as light. The painted widgets read the module's colours (`theme.MEM_WEIGHTS`, …) when they
paint; widgets that bake a colour in (a document's code blocks, a local style sheet) connect to
`notifier().changed`. The choice is kept in memory only (`current_theme()`).
"""

from __future__ import annotations

import importlib.resources
import re
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from explorer.fit.estimate import Verdict

THEMES = ("system", "light", "dark")
ASSETS_PACKAGE = "qwen3_explorer_assets"
STYLE_FILE = "style.qss"

# (background, text) of the verdict pills
LIGHT_VERDICTS: dict[Verdict, tuple[str, str]] = {
    Verdict.FULL_GPU: ("#d9f2e3", "#17643a"),
    Verdict.PARTIAL: ("#fcebc7", "#8a5a00"),
    Verdict.CPU_ONLY: ("#e3e8ef", "#3d4a5c"),
    Verdict.NO_FIT: ("#fbdcdc", "#a32121"),
}
DARK_VERDICTS: dict[Verdict, tuple[str, str]] = {
    Verdict.FULL_GPU: ("#1d4a31", "#a6e9c1"),
    Verdict.PARTIAL: ("#4d3a12", "#f6d38a"),
    Verdict.CPU_ONLY: ("#343c4a", "#ccd5e3"),
    Verdict.NO_FIT: ("#5a2424", "#ffb4b4"),
}

# The module colours of each theme; `_apply` copies one set onto the module names below.
LIGHT: dict[str, str] = {
    "PENDING_BG": "#eef0f3", "PENDING_FG": "#7a8494",
    "MEM_OTHERS": "#b8bfca", "MEM_WEIGHTS": "#5b6ee1", "MEM_KV": "#36a3a0", "MEM_COMPUTE": "#e0a33a",
    "MEM_FREE": "#eceff3", "MEM_OVERFLOW": "#d64545", "MEM_BORDER": "#cfd5de",
    "TEXT_MUTED": "#6b7483", "TEXT_NORMAL": "#1f2733",
    "CODE_BACKGROUND": "#f1f3f6", "INLINE_CODE_BACKGROUND": "#eceff3", "LINK_COLOR": "#3b4fc4",
    "THINKING_RULE": "#e3e6eb", "GAP_BACKGROUND": "#fff1bf",
}
DARK: dict[str, str] = {
    "PENDING_BG": "#2c323c", "PENDING_FG": "#9aa3b2",
    "MEM_OTHERS": "#6c7585", "MEM_WEIGHTS": "#7386f0", "MEM_KV": "#3fb5b1", "MEM_COMPUTE": "#e3a941",
    "MEM_FREE": "#2e343e", "MEM_OVERFLOW": "#e05a5a", "MEM_BORDER": "#475061",
    "TEXT_MUTED": "#9aa3b2", "TEXT_NORMAL": "#e4e8ee",
    "CODE_BACKGROUND": "#262c35", "INLINE_CODE_BACKGROUND": "#2e3540", "LINK_COLOR": "#93a4ff",
    "THINKING_RULE": "#3a414d", "GAP_BACKGROUND": "#5a4a14",
}

# Each colour of the light style sheet, and what it is in the dark one (tests/test_ui_theme.py checks
# that the sheet has no colour left out).
DARK_SHEET: dict[str, str] = {
    "#ffffff": "#1f242c", "#f6f7f9": "#171b21", "#fafbfc": "#232830", "#f7f8fa": "#1b2027",
    "#f3f4f6": "#262b33", "#f0f2f5": "#2c323c", "#e9ecf1": "#2c323c",
    "#e3e6eb": "#333a45", "#d5dae1": "#414958", "#dfe4f8": "#3a4470",
    "#e6e9fb": "#313b6b", "#eef1fc": "#283158", "#d6dcf7": "#3c4a8c",
    "#141a23": "#eef1f5", "#1f2733": "#e4e8ee", "#3d4a5c": "#c2cad6", "#4a5363": "#b7c0cd",
    "#6b7483": "#9aa3b2", "#8a93a3": "#8a93a3", "#a3aab5": "#5f6775",
    "#5b6ee1": "#5b6ee1", "#4c5fd4": "#6d7fe8", "#2a3bb5": "#b3bfff", "#3b4fc4": "#93a4ff",
    "#b42318": "#ff8a80", "#9b1c1c": "#ffb4b4", "#7f1d1d": "#ffc9c9", "#fde8e8": "#4a2020",
    "#eea3a3": "#8a3a3a", "#f5c2c2": "#7a3030", "#d05c5c": "#e06c6c",
    "#7a4f00": "#f6d38a", "#3b2f12": "#f0e2c0", "#fff6dc": "#3d3218", "#fff8e6": "#3d3218", "#f0cf72": "#7a6220",
    "#d9a520": "#d9a520", "#2da44e": "#3fb866", "#1a7f37": "#6fdc92", "#17643a": "#a6e9c1", "#d9f2e3": "#1d4a31",
    "#f4f6fb": "#262d3a", "#b9c2f0": "#5b6ee1", "#eef0fc": "#283158", "#8a5a00": "#f6d38a",  # ui/guide/view.py
    "rgba(255, 255, 255, 0.7)": "rgba(0, 0, 0, 0.25)", "rgba(0, 0, 0, 0.18)": "rgba(255, 255, 255, 0.22)",
    "rgba(0, 0, 0, 0.08)": "rgba(255, 255, 255, 0.10)", "rgba(0, 0, 0, 0.06)": "rgba(255, 255, 255, 0.08)",
}
SHEET_COLOR = re.compile(r"#[0-9a-fA-F]{6}\b|rgba\([^)]*\)")

# The names the painted widgets read (the light set until `set_theme` says otherwise).
VERDICT_COLORS: dict[Verdict, tuple[str, str]] = dict(LIGHT_VERDICTS)
PENDING_COLORS = (LIGHT["PENDING_BG"], LIGHT["PENDING_FG"])
MEM_OTHERS = LIGHT["MEM_OTHERS"]  # used by other programs
MEM_WEIGHTS = LIGHT["MEM_WEIGHTS"]
MEM_KV = LIGHT["MEM_KV"]
MEM_COMPUTE = LIGHT["MEM_COMPUTE"]  # compute buffers and overhead
MEM_FREE = LIGHT["MEM_FREE"]
MEM_OVERFLOW = LIGHT["MEM_OVERFLOW"]
MEM_BORDER = LIGHT["MEM_BORDER"]
TEXT_MUTED = LIGHT["TEXT_MUTED"]
TEXT_NORMAL = LIGHT["TEXT_NORMAL"]
CODE_BACKGROUND = LIGHT["CODE_BACKGROUND"]
INLINE_CODE_BACKGROUND = LIGHT["INLINE_CODE_BACKGROUND"]
LINK_COLOR = LIGHT["LINK_COLOR"]
THINKING_RULE = LIGHT["THINKING_RULE"]
GAP_BACKGROUND = LIGHT["GAP_BACKGROUND"]

_state = {"choice": "system", "dark": False, "following": False}


def verdict_colors(verdict: Verdict | None) -> tuple[QColor, QColor]:
    bg, fg = VERDICT_COLORS.get(verdict, PENDING_COLORS) if verdict else PENDING_COLORS
    return QColor(bg), QColor(fg)


class ThemeNotifier(QObject):
    changed = Signal(bool)  # dark


_notifier: list[ThemeNotifier] = []


def notifier() -> ThemeNotifier:
    """The object whose `changed(dark)` fires after each switch (one per process)."""
    if not _notifier:
        _notifier.append(ThemeNotifier())
    return _notifier[0]


def current_theme() -> str:
    """The choice: "system", "light" or "dark"."""
    return _state["choice"]  # type: ignore[return-value]


def is_dark() -> bool:
    """Whether the theme in effect is the dark one."""
    return bool(_state["dark"])


def system_is_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


# --- The style sheet ------------------------------------------------------------------------------


def assets_dir() -> Path | None:
    """The assets folder: the installed package, else the repo's assets/ next to ui/."""
    try:
        root = importlib.resources.files(ASSETS_PACKAGE)
        if isinstance(root, Path) and (root / STYLE_FILE).is_file():
            return root
    except ModuleNotFoundError:
        pass
    fallback = Path(__file__).resolve().parent.parent / "assets"
    return fallback if (fallback / STYLE_FILE).is_file() else None


def dark_sheet(light: str) -> str:
    """The light sheet with each colour replaced by its dark one (a colour not in `DARK_SHEET` stays)."""
    return SHEET_COLOR.sub(lambda m: DARK_SHEET.get(m.group(0).lower(), m.group(0)), light)


def load_style_sheet(dark: bool = False) -> str:
    """The style sheet, with `@ICONS@` pointing at the icons folder; empty when not found."""
    try:
        text = importlib.resources.files(ASSETS_PACKAGE).joinpath(STYLE_FILE).read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        text = ""
    assets = assets_dir()
    if not text and assets is not None:
        text = (assets / STYLE_FILE).read_text("utf-8")
    icons = (assets / "icons").as_posix() if assets is not None else ""
    text = text.replace("@ICONS@", icons)
    return dark_sheet(text) if dark else text


# --- The palette ----------------------------------------------------------------------------------


def make_palette(dark: bool) -> QPalette:
    """The application palette of either theme (what the style sheet does not colour: dialogs, views)."""
    R = QPalette.ColorRole
    if dark:
        roles = {R.Window: "#171b21", R.WindowText: "#e4e8ee", R.Base: "#1f242c", R.AlternateBase: "#232830",
                 R.Text: "#e4e8ee", R.Button: "#262b33", R.ButtonText: "#e4e8ee", R.BrightText: "#ffffff",
                 R.Highlight: "#3c4a8c", R.HighlightedText: "#ffffff", R.ToolTipBase: "#2c323c",
                 R.ToolTipText: "#e4e8ee", R.PlaceholderText: "#7d8696", R.Link: "#93a4ff", R.LinkVisited: "#c39bff",
                 R.Light: "#3a414d", R.Midlight: "#2f3540", R.Mid: "#262b33", R.Dark: "#101318", R.Shadow: "#000000"}
        disabled = {R.WindowText: "#6b7483", R.Text: "#6b7483", R.ButtonText: "#6b7483"}
    else:
        roles = {R.Window: "#f6f7f9", R.WindowText: "#1f2733", R.Base: "#ffffff", R.AlternateBase: "#fafbfc",
                 R.Text: "#1f2733", R.Button: "#f3f4f6", R.ButtonText: "#1f2733", R.BrightText: "#ffffff",
                 R.Highlight: "#4c5fd4", R.HighlightedText: "#ffffff", R.ToolTipBase: "#1f2733",
                 R.ToolTipText: "#f6f7f9", R.PlaceholderText: "#8a93a3", R.Link: "#3b4fc4", R.LinkVisited: "#6a3bc4",
                 R.Light: "#ffffff", R.Midlight: "#eceff3", R.Mid: "#cfd5de", R.Dark: "#a3aab5", R.Shadow: "#6b7483"}
        disabled = {R.WindowText: "#a3aab5", R.Text: "#a3aab5", R.ButtonText: "#a3aab5"}
    pal = QPalette()
    for role, color in roles.items():
        pal.setColor(role, QColor(color))
    for role, color in disabled.items():
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(color))
    return pal


# --- Switching ------------------------------------------------------------------------------------


def _apply_colors(dark: bool) -> None:
    colors = DARK if dark else LIGHT
    g = globals()
    for name, value in colors.items():
        if name not in ("PENDING_BG", "PENDING_FG"):
            g[name] = value
    g["PENDING_COLORS"] = (colors["PENDING_BG"], colors["PENDING_FG"])
    VERDICT_COLORS.clear()
    VERDICT_COLORS.update(DARK_VERDICTS if dark else LIGHT_VERDICTS)


def _apply(app: QApplication, dark: bool) -> None:
    _state["dark"] = dark
    _apply_colors(dark)
    app.setPalette(make_palette(dark))
    app.setStyleSheet(load_style_sheet(dark))
    notifier().changed.emit(dark)
    for widget in app.allWidgets():  # painted widgets read the module colours at paint time
        widget.update()


def set_theme(app: QApplication, choice: str) -> None:
    """Switch to "system" (follow the system's colour scheme, live), "light" or "dark"."""
    if choice not in THEMES:
        raise ValueError(f"unknown theme {choice!r}; one of {', '.join(THEMES)}")
    _state["choice"] = choice
    if not _state["following"]:
        _state["following"] = True
        app.styleHints().colorSchemeChanged.connect(lambda scheme: system_scheme_changed(app, scheme))
    _apply(app, system_is_dark() if choice == "system" else choice == "dark")


def system_scheme_changed(app: QApplication, scheme: Qt.ColorScheme) -> None:
    """The system switched between light and dark (`colorSchemeChanged`): follow it unless a theme is forced."""
    dark = scheme == Qt.ColorScheme.Dark
    if _state["choice"] == "system" and dark != is_dark():
        _apply(app, dark)

