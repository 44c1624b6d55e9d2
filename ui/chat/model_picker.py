"""A chat pane's model picker: the complete GGUFs of the Library, and a reopened conversation's file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QWidget

from explorer.gguf.shards import display_name
from explorer.store.library import LocalModel


def model_label(m: LocalModel) -> str:
    return display_name(m.filename)


class ModelPicker(QComboBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("paneModel")
        self.setMinimumContentsLength(10)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.models: list[LocalModel] = []

    def set_models(self, models: list[LocalModel]) -> None:
        """The models offered (the tab passes complete files only); keeps the current choice when it is
        still there, or a model the list does not have (a reopened conversation's), without a signal."""
        current = self.path()
        self.models = list(models)
        self.blockSignals(True)
        self.clear()
        self.addItem("Choose a model…", None)
        for m in self.models:
            variant = m.variant.label if m.variant else "?"
            self.addItem(f"{model_label(m)} · {variant}", str(m.path))
            self.setItemData(self.count() - 1, str(m.path), Qt.ItemDataRole.ToolTipRole)
        i = self.findData(str(current)) if current else 0
        if current is not None and i < 0:
            self.addItem(current.name, str(current))
            i = self.count() - 1
        self.setCurrentIndex(max(0, i))  # signals blocked: the same model stays loaded
        self.blockSignals(False)

    def select_path(self, path: Path) -> None:
        i = self.findData(str(path))
        if i < 0:
            self.addItem(Path(path).name, str(path))
            i = self.count() - 1
        if i != self.currentIndex():
            self.setCurrentIndex(i)

    def path(self) -> Path | None:
        data = self.currentData()
        return Path(data) if data else None

    def entry(self) -> LocalModel | None:
        path = self.path()
        return next((m for m in self.models if m.path == path), None)

    def label(self) -> str:
        m = self.entry()
        if m is not None:
            return model_label(m)
        path = self.path()
        return path.name if path else "no model"
