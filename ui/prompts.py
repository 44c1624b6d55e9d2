"""The modal questions the app asks a person, in one place so they can be passed in.

The window and the Library tab take a `Prompts`; the default one shows Qt dialogs. Tests pass a
subclass that answers at once and records what was asked, instead of patching QMessageBox.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget


class Prompts:
    def confirm(self, parent: QWidget, title: str, text: str) -> bool:
        """Ask Yes or Cancel (Cancel is the default); True for Yes."""
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel
        answer = QMessageBox.question(parent, title, text, buttons, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def warn(self, parent: QWidget, title: str, text: str) -> None:
        QMessageBox.warning(parent, title, text)

    def open_file(self, parent: QWidget, caption: str, directory: Path, name_filter: str) -> Path | None:
        """A file the person picked, or None when they cancelled."""
        path, _filter = QFileDialog.getOpenFileName(parent, caption, str(directory), name_filter)
        return Path(path) if path else None

    def save_file(self, parent: QWidget, caption: str, path: Path, name_filter: str) -> Path | None:
        """Where the person chose to save (starting at `path`), or None when they cancelled."""
        chosen, _filter = QFileDialog.getSaveFileName(parent, caption, str(path), name_filter)
        return Path(chosen) if chosen else None
