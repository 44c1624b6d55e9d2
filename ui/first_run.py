"""First run: what the Library and the Chat tab show while no model is on disk, and the demo model.

`FirstRunPanel` says what to do and offers it: "Get a model" (the Guide's pick for this machine) and
"Try the demo model". `DemoWriter` writes the scripted demo model (`explorer.testing.scripted`, a few
MB that chat by script, thinking on or off) on a worker thread into the models folder: the Library
scans the Hugging Face cache and the models folder (not the test-model cache), so the demo shows up
there and in every pane's picker like a downloaded file, and Delete… removes it like one.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ui.workers import LatestRunner

GET_MODEL_TEXT = "Get a model: the guide's pick for this machine"
DEMO_TEXT = "Try the demo model"


class FirstRunPanel(QFrame):
    """No model on disk yet: the two ways on, as buttons (the owner connects their signals)."""

    get_model = Signal()
    try_demo = Signal()

    def __init__(self, what: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRunPanel")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(18, 16, 18, 16)
        lay.setSpacing(10)
        title = QLabel("No models on disk yet")
        title.setObjectName("paneTitle")
        lay.addWidget(title)
        self.text = QLabel(f"{what} Download the file the Guide picks for this machine, or try the demo model: "
                           "a tiny file written here in a second that answers by script, so you can see two "
                           "panes side by side, thinking on and off, before any download.")
        self.text.setWordWrap(True)
        self.text.setObjectName("muted")
        lay.addWidget(self.text)
        row = QHBoxLayout()
        self.get_button = QPushButton(GET_MODEL_TEXT)
        self.get_button.setObjectName("primaryButton")
        self.get_button.setToolTip("The Guide's “Which model for me” page: the best file for this machine, "
                                   "with its Download button")
        self.get_button.clicked.connect(self.get_model)
        self.demo_button = QPushButton(DEMO_TEXT)
        self.demo_button.setObjectName("rowButton")
        self.demo_button.setToolTip("Write the scripted demo model into the models folder and open it in two "
                                    "chat panes, thinking on in pane 1 and off in pane 2")
        self.demo_button.clicked.connect(self.try_demo)
        row.addWidget(self.get_button)
        row.addWidget(self.demo_button)
        row.addStretch(1)
        lay.addLayout(row)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setWordWrap(True)
        self.status.hide()
        lay.addWidget(self.status)

    def set_busy(self, text: str) -> None:
        """A line under the buttons ("Writing the demo model…", or why it failed); empty hides it."""
        self.status.setText(text)
        self.status.setVisible(bool(text))
        self.demo_button.setEnabled(not text.startswith("Writing"))


def write_demo_model(models_dir: Path) -> Path:
    """The scripted demo model in `models_dir` (written once, atomically; reused when it is there)."""
    from explorer.testing.scripted import ensure_scripted_model  # numpy and the GGUF writer: only when asked

    return ensure_scripted_model(directory=models_dir)


class DemoWriter(QObject):
    """Writes the demo model off the UI thread; `written(path)` or `failed(message)` on the GUI thread."""

    written = Signal(object)  # Path
    failed = Signal(str)

    def __init__(self, models_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.models_dir = models_dir
        self.runner = LatestRunner(self)
        self.runner.result.connect(self.written)
        self.runner.error.connect(lambda exc: self.failed.emit(str(exc) or type(exc).__name__))

    @property
    def busy(self) -> bool:
        return self.runner.busy

    def start(self) -> bool:
        """Write it (False, and nothing started, while a write is going)."""
        if self.runner.busy:
            return False
        folder = self.models_dir
        self.runner.submit(lambda _token: write_demo_model(folder))
        return True
