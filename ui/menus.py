"""The View and Help menus: the tabs by Ctrl+1…Ctrl+6; the README, the keyboard shortcuts (the menus' read
from the window's actions, so that list is always the real one; the views' own keys from `VIEW_SHORTCUTS`,
which tests/test_ui_desktop_habits.py checks against the views' shortcuts) and About (the version, the
llama.cpp build and its flags, and the folders the app keeps its files in, each with an Open button).

The README's pictures (docs/*.png) load from the README's folder, scaled to the view; where there is no such
file (an installed wheel's description) they are left out, not shown as broken icons.

Nothing here blocks: the dialogs are non-modal, the README is a small local file, and a folder opens
in the desktop's file manager (`QDesktopServices`), which returns at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QUrl
from PySide6.QtGui import QAction, QActionGroup, QDesktopServices, QImage, QKeySequence, QTextDocument
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QPushButton,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from explorer.cli.main import app_version
from explorer.hardware.llama_build import LlamaBuild
from ui import theme

MAX_TAB_KEYS = 9  # Ctrl+1…Ctrl+9 at most; the window has six tabs

# The keys a view handles itself (a QShortcut of the view, or the chat's message box): (where > what, keys in
# QKeySequence's portable text). Listed here, not read from the views: the Chat and Probes tabs are built on
# first use, and the shortcuts dialog lists them before that.
VIEW_SHORTCUTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Chat > Send to every pane (in the message box)", ("Ctrl+Return", "Ctrl+Enter")),
    ("Chat > Stop every pane", ("Esc",)),
    ("Probes > Run the probe set", ("Ctrl+Return",)),
    ("Probes > Stop the run", ("Esc",)),
    ("Probes > Blind vote > A is better", ("1", "A")),
    ("Probes > Blind vote > B is better", ("2", "B")),
    ("Probes > Blind vote > Tie", ("3", "T")),
    ("Probes > Blind vote > Both bad", ("4", "X")),
    ("Probes > Blind vote > Skip the pair", ("S",)),
    ("Probes > Blind vote > Next pair (after the vote)", ("Return", "Enter")),
)


def native_keys(keys: tuple[str, ...]) -> str:
    """Keys in portable text as this platform writes them (Ctrl is ⌘ on macOS)."""
    native = QKeySequence.SequenceFormat.NativeText
    return ", ".join(QKeySequence(k, QKeySequence.SequenceFormat.PortableText).toString(native) for k in keys)


def view_shortcut_rows() -> list[tuple[str, str]]:
    """(where > what, key) for the keys the views handle themselves (`VIEW_SHORTCUTS`)."""
    return [(what, native_keys(keys)) for what, keys in VIEW_SHORTCUTS]


def readme_path() -> Path | None:
    """The README next to ui/ (a checkout or an editable install); None when this install has none."""
    path = Path(__file__).resolve().parent.parent / "README.md"
    return path if path.is_file() else None


def readme_text() -> str:
    """The README's Markdown: the file, else the package's long description, else a line saying so."""
    path = readme_path()
    if path is not None:
        return path.read_text("utf-8", errors="replace")
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        text = metadata("qwen3-explorer")["Description"] or ""
    except (PackageNotFoundError, KeyError):
        text = ""
    return text or "This install has no README. `qwen3-explorer --help` lists the commands."


# A Markdown picture: ![alt](target "title"), the target maybe in <…>.
_PICTURE = re.compile(r'!\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')


def readme_markdown(text: str, folder: Path | None) -> str:
    """`text` with each picture the dialog could not show taken out (a broken-image icon otherwise): one
    whose file is not under `folder` (the README's; None, an installed wheel's description: every one), or
    one on the web (the dialog fetches nothing)."""

    def keep(m: re.Match[str]) -> str:
        target = m.group(2)
        if folder is None or "://" in target or target.startswith(("/", "data:")):
            return ""
        return m.group(0) if (folder / target).is_file() else ""

    return _PICTURE.sub(keep, text)


def llama_line(llama: LlamaBuild | None) -> str:
    """One line on the llama.cpp build, its GPU offload and its flags (llama_print_system_info)."""
    if llama is None:
        return "llama.cpp: being checked (the hardware detection has not finished)"
    if not llama.installed:
        return f"llama.cpp: not installed ({llama.error or 'llama-cpp-python is not importable'})"
    offload = {True: "GPU offload yes", False: "GPU offload no (CPU only)", None: "GPU offload unknown"}
    parts = [f"llama.cpp: llama-cpp-python {llama.version or '?'}", offload[llama.gpu_offload]]
    if llama.error:
        parts.append(llama.error)
    line = ", ".join(parts)
    return f"{line}; flags: {llama.system_info.strip()}" if llama.system_info.strip() else line


def settings_file() -> Path:
    """Where the app's few settings (QSettings: e.g. the default thinking budget) are kept."""
    return Path(QSettings().fileName())


def folder_to_open(path: Path) -> Path:
    """The folder a path's Open button shows: the folder itself, a file's folder, or the nearest that exists."""
    folder = path if path.is_dir() or not path.suffix else path.parent
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def open_folder(path: Path) -> bool:
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder_to_open(path))))


@dataclass(frozen=True)
class AboutFacts:
    """What About shows: the build (it changes once the hardware probe returns) and the paths."""

    llama: Callable[[], LlamaBuild | None]
    paths: Callable[[], dict[str, Path]]  # label ("Models", "Cache", …) -> file or folder


class AboutDialog(QDialog):
    """The version, the llama.cpp line, and each path with an Open button (`open_folder`)."""

    def __init__(self, facts: AboutFacts, parent: QWidget | None = None,
                 opener: Callable[[Path], object] = open_folder) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About Qwen3 Explorer")
        self.facts = facts
        self._opener = opener
        lay = QVBoxLayout(self)
        self.version_label = QLabel(f"<b>Qwen3 Explorer</b> {app_version()}")
        lay.addWidget(self.version_label)
        self.llama_label = QLabel("")
        self.llama_label.setWordWrap(True)
        self.llama_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.llama_label.setMinimumWidth(560)
        lay.addWidget(self.llama_label)
        grid = QGridLayout()
        self.path_labels: dict[str, QLabel] = {}
        self.path_buttons: dict[str, QPushButton] = {}
        self.targets: dict[str, Path] = {}  # label -> the folder its Open button shows
        for row, (name, path) in enumerate(facts.paths().items()):
            grid.addWidget(QLabel(name), row, 0)
            label = QLabel(str(path))
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(label, row, 1)
            button = QPushButton("Open")
            button.setObjectName("rowButton")
            button.setToolTip(f"Show {folder_to_open(path)} in the file manager")
            button.clicked.connect(lambda _c=False, n=name: self.open_path(n))
            grid.addWidget(button, row, 2)
            self.path_labels[name], self.path_buttons[name], self.targets[name] = label, button, path
        grid.setColumnStretch(1, 1)
        lay.addLayout(grid)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.close)
        lay.addWidget(box)
        self.refresh()

    def refresh(self) -> None:
        self.llama_label.setText(llama_line(self.facts.llama()))

    def target(self, name: str) -> Path:
        """The folder the `name` row's Open button shows."""
        return folder_to_open(self.targets[name])

    def open_path(self, name: str) -> None:
        self._opener(self.targets[name])


def shortcut_rows(window: QMainWindow) -> list[tuple[str, str]]:
    """(where > what, key) for every action with a shortcut in the window's menus (and submenus)."""
    rows: list[tuple[str, str]] = []

    def walk(menu: QMenu, where: str) -> None:
        for action in menu.actions():
            sub = action.menu()
            if isinstance(sub, QMenu):
                walk(sub, f"{where} > {sub.title().replace('&', '')}")
            elif not action.isSeparator() and not action.shortcut().isEmpty():
                keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts())
                rows.append((f"{where} > {action.text().replace('&', '')}", keys))

    for action in window.menuBar().actions():
        menu = action.menu()
        if isinstance(menu, QMenu):
            walk(menu, menu.title().replace("&", ""))
    return rows


class ShortcutsDialog(QDialog):
    """The menus' keys (`rows`), then the keys of the views themselves (`view_rows`), under a heading each."""

    def __init__(self, window: QMainWindow, extra: list[tuple[str, str]] | None = None) -> None:
        super().__init__(window)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        self.rows = [*shortcut_rows(window), *(extra or [])]
        self.view_rows = view_shortcut_rows()
        lay = QVBoxLayout(self)
        grid = QGridLayout()
        r = 0
        for heading, rows in (("In the menus", self.rows), ("In the views", self.view_rows)):
            title = QLabel(heading)
            title.setObjectName("cardTitle")
            title.setContentsMargins(0, 10 if r else 0, 0, 2)
            grid.addWidget(title, r, 0, 1, 2)
            r += 1
            for what, keys in rows:
                grid.addWidget(QLabel(what), r, 0)
                key = QLabel(f"<b>{escape(keys)}</b>")
                grid.addWidget(key, r, 1)
                r += 1
        lay.addLayout(grid)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.close)
        lay.addWidget(box)


class ReadmeBrowser(QTextBrowser):
    """Shows Markdown whose pictures are files relative to `folder` (the README's: docs/*.png), each scaled
    down to the width of the view (the screenshots are wider than the dialog)."""

    def __init__(self, folder: Path | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder = folder
        if folder is not None:  # relative names resolve against the README's folder, not the working directory
            self.setSearchPaths([str(folder)])
            self.document().setBaseUrl(QUrl.fromLocalFile(str(folder) + "/"))

    def loadResource(self, kind: int, name: QUrl | str) -> object:
        url = QUrl(name) if isinstance(name, str) else name
        if kind == QTextDocument.ResourceType.ImageResource and self.folder is not None:
            path = Path(url.toLocalFile()) if url.isLocalFile() else self.folder / url.toString()
            image = QImage(str(path))
            if not image.isNull():
                width = max(200, self.viewport().width() - 40)
                if image.width() > width:
                    image = image.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)
                return image
        return super().loadResource(kind, name)


class ReadmeDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, *, path: Path | None = None, text: str | None = None) -> None:
        """The README (`path`, else `readme_text()`: the file next to ui/, else the package's description)."""
        super().__init__(parent)
        self.setObjectName("readmeDialog")
        self.setWindowTitle("Qwen3 Explorer: README")
        self.resize(900, 760)
        lay = QVBoxLayout(self)
        path = path or (readme_path() if text is None else None)
        folder = path.parent if path is not None else None
        if text is None:
            text = path.read_text("utf-8", errors="replace") if path is not None else readme_text()
        self.browser = ReadmeBrowser(folder)
        self.browser.setOpenExternalLinks(True)
        self.browser.setMarkdown(readme_markdown(text, folder))
        lay.addWidget(self.browser)


class Menus:
    """The View and Help menus of `window` (after its File menu); the dialogs they open, non-modal."""

    def __init__(self, window: QMainWindow, tabs: QTabWidget, facts: AboutFacts) -> None:
        self.window, self.tabs, self.facts = window, tabs, facts
        bar = window.menuBar()
        view = bar.addMenu("&View")
        self.tab_actions: list[QAction] = []
        for i in range(min(tabs.count(), MAX_TAB_KEYS)):
            action = QAction(tabs.tabText(i), window)
            action.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            action.setToolTip(f"Show the {tabs.tabText(i)} tab")
            action.triggered.connect(lambda _c=False, n=i: tabs.setCurrentIndex(n))
            view.addAction(action)
            self.tab_actions.append(action)
        view.addSeparator()
        self.theme_menu = view.addMenu("&Theme")
        self.theme_group = QActionGroup(window)
        self.theme_actions: dict[str, QAction] = {}
        self.theme_chosen: Callable[[str], None] | None = None  # the window saves the choice
        for choice, label in (("system", "&System"), ("light", "&Light"), ("dark", "&Dark")):
            action = QAction(label, window)
            action.setCheckable(True)
            action.setChecked(choice == theme.current_theme())
            action.setToolTip("Follow the system's colour scheme" if choice == "system" else f"Always {choice}")
            action.triggered.connect(lambda _c=False, c=choice: self.set_theme(c))
            self.theme_group.addAction(action)
            self.theme_menu.addAction(action)
            self.theme_actions[choice] = action
        help_menu = bar.addMenu("&Help")
        self.readme_action = QAction("README", window)
        self.readme_action.setShortcut(QKeySequence.StandardKey.HelpContents)
        self.readme_action.triggered.connect(lambda: self.show_readme())
        self.shortcuts_action = QAction("Keyboard shortcuts", window)
        self.shortcuts_action.setShortcut(QKeySequence("Ctrl+/"))
        self.shortcuts_action.triggered.connect(lambda: self.show_shortcuts())
        self.about_action = QAction("About Qwen3 Explorer", window)
        self.about_action.triggered.connect(lambda: self.show_about())
        for action in (self.readme_action, self.shortcuts_action, self.about_action):
            help_menu.addAction(action)
        self.about: AboutDialog | None = None

    def set_theme(self, choice: str) -> None:
        """System, light or dark, at once; `theme_chosen` tells the window, which keeps it in the settings."""
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.set_theme(app, choice)
        self.theme_actions[choice].setChecked(True)
        if self.theme_chosen is not None:
            self.theme_chosen(choice)

    def _show(self, dialog: QDialog) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

    def show_readme(self) -> ReadmeDialog:
        dialog = ReadmeDialog(self.window)
        self._show(dialog)
        return dialog

    def show_shortcuts(self) -> ShortcutsDialog:
        dialog = ShortcutsDialog(self.window)
        self._show(dialog)
        return dialog

    def show_about(self) -> AboutDialog:
        dialog = AboutDialog(self.facts, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda: setattr(self, "about", None))
        self.about = dialog
        dialog.show()
        return dialog

    def hardware_changed(self) -> None:
        """The probe returned: an open About shows the build it found."""
        if self.about is not None:
            self.about.refresh()
