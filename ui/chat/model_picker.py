"""A chat pane's model picker: the complete GGUFs of the Library, then the models of the saved endpoints
("Qwen3-8B · remote: gpu box"), and a reopened conversation's file or remote model."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QWidget

from explorer.gguf.shards import display_name
from explorer.store.library import LocalModel
from ui.chat.remote import RemoteTarget

REMOTE_ROLE = Qt.ItemDataRole.UserRole + 1  # a remote item's ref (its UserRole data is None: no path)


def model_label(m: LocalModel) -> str:
    return display_name(m.filename)


class ModelPicker(QComboBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("paneModel")
        self.setMinimumContentsLength(10)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.models: list[LocalModel] = []
        self.remotes: dict[str, RemoteTarget] = {}  # by ref: the endpoints' models, and a reopened one

    def set_models(self, models: list[LocalModel]) -> None:
        """The models offered (the tab passes complete files only); keeps the current choice when it is
        still there, or a model the list does not have (a reopened conversation's), without a signal."""
        self.models = list(models)
        self._rebuild()

    def set_remotes(self, targets: list[RemoteTarget]) -> None:
        """The endpoints' models, listed after the files; the current one stays even when its endpoint
        no longer lists it (the pane then says why when it connects)."""
        current = self.remote()
        self.remotes = {t.ref: t for t in targets}
        if current is not None and current.ref not in self.remotes:
            self.remotes[current.ref] = current
        self._rebuild()

    def _rebuild(self) -> None:
        current, remote = self.path(), self.remote()
        self.blockSignals(True)
        self.clear()
        self.addItem("Choose a model…", None)
        for m in self.models:
            variant = m.variant.label if m.variant else "?"
            self.addItem(f"{model_label(m)} · {variant}", str(m.path))
            self.setItemData(self.count() - 1, str(m.path), Qt.ItemDataRole.ToolTipRole)
        for t in self.remotes.values():
            self._add_remote(t)
        if remote is not None:
            i = self.findData(remote.ref, REMOTE_ROLE)
        else:
            i = self.findData(str(current)) if current else 0
            if current is not None and i < 0:
                self.addItem(current.name, str(current))
                i = self.count() - 1
        self.setCurrentIndex(max(0, i))  # signals blocked: the same model stays loaded
        self.blockSignals(False)

    def _add_remote(self, t: RemoteTarget) -> None:
        self.addItem(t.label, None)
        self.setItemData(self.count() - 1, t.ref, REMOTE_ROLE)
        self.setItemData(self.count() - 1, f"{t.model} on {t.url}", Qt.ItemDataRole.ToolTipRole)

    def select_path(self, path: Path) -> None:
        i = self.findData(str(path))
        if i < 0:
            self.addItem(Path(path).name, str(path))
            i = self.count() - 1
        if i != self.currentIndex():
            self.setCurrentIndex(i)

    def select_remote(self, target: RemoteTarget) -> None:
        self.remotes.setdefault(target.ref, target)
        i = self.findData(target.ref, REMOTE_ROLE)
        if i < 0:
            self._add_remote(target)
            i = self.count() - 1
        if i != self.currentIndex():
            self.setCurrentIndex(i)

    def path(self) -> Path | None:
        data = self.currentData()
        return Path(data) if isinstance(data, str) and data else None

    def remote(self) -> RemoteTarget | None:
        ref = self.currentData(REMOTE_ROLE)
        return self.remotes.get(ref) if isinstance(ref, str) else None

    def entry(self) -> LocalModel | None:
        path = self.path()
        return next((m for m in self.models if m.path == path), None)

    def label(self) -> str:
        remote = self.remote()
        if remote is not None:
            return remote.label
        m = self.entry()
        if m is not None:
            return model_label(m)
        path = self.path()
        return path.name if path else "no model"
