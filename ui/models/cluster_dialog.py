"""Plan across machines…: one model over several machines with llama.cpp RPC.

The person adds the files `qwen3-explorer hardware --json` wrote on each machine (through the
`Prompts` passed in), gives each its address, picks the head, a catalog model, its quant and the
context. The plan (`explorer.fit.cluster`) is computed on a `LatestRunner` after every change; a
newer change drops the older answer. The dialog shows the split per device, the verdict, the
predicted speed with the network's share, and the commands in a monospace box to copy. The warning
that RPC has no authentication stays visible.

Not wired into the main window yet: `ClusterDialog(parent, catalog=..., prompts=..., start_dir=...)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from explorer.catalog.snapshot import Catalog
from explorer.cli.cluster import TABLE_HEADER, table_rows
from explorer.errors import describe_error
from explorer.fit.cluster import (
    RPC_WARNING,
    ClusterPlan,
    ClusterVerdict,
    Machine,
    commands,
    describe_speed,
    engine_url,
    plan_cluster,
)
from explorer.fit.contexts import DEFAULT_FIT_CTX
from explorer.hardware.machine_file import MachineFileError, read_machine_file
from explorer.paths import models_dir
from ui.prompts import Prompts
from ui.workers import CancelToken, LatestRunner

MAX_CTX = 1 << 20


@dataclass(frozen=True)
class PlanResult:
    plan: ClusterPlan
    commands: tuple[str, ...]


class ClusterDialog(QDialog):
    """Signals: planned(object) with the ClusterPlan shown; failed(str) with the line shown instead."""

    planned = Signal(object)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, catalog: Catalog, prompts: Prompts | None = None,
                 start_dir: Path | None = None, connect: Callable[[str], object] | None = None) -> None:
        """`connect`: saves the head's llama-server as an endpoint (None: no Connect button)."""
        super().__init__(parent)
        self.setWindowTitle("Plan across machines")
        self._connect = connect
        self.head_url: str | None = None  # the planned head's OpenAI-compatible URL
        self.resize(980, 720)
        self.catalog = catalog
        self.prompts = prompts or Prompts()
        self.start_dir = start_dir or models_dir()
        self.machines: list[Machine] = []
        self.files: list[Path] = []

        self.machine_list = QListWidget()
        self.machine_list.setMaximumHeight(110)
        self.add_button = QPushButton("Add machine file…")
        self.add_button.setToolTip("A file written by `qwen3-explorer hardware --json` on that machine")
        self.remove_button = QPushButton("Remove")
        self.host_edit = QLineEdit()
        self.host_edit.setPlaceholderText("the address the other machines reach it at")
        self.head_combo = QComboBox()
        self.model_combo = QComboBox()
        for m in catalog.models:
            self.model_combo.addItem(m.id, m.id)
        self.quant_combo = QComboBox()
        self.ctx_spin = QSpinBox()
        self.ctx_spin.setRange(256, MAX_CTX)
        self.ctx_spin.setSingleStep(1024)
        self.ctx_spin.setValue(DEFAULT_FIT_CTX)
        self.kv_combo = QComboBox()
        self.kv_combo.addItems(["f16", "q8_0", "q4_0"])

        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        form = QFormLayout()
        form.addRow("Machines", self.machine_list)
        form.addRow("", buttons)
        form.addRow("Address of the selected machine", self.host_edit)
        form.addRow("Head (runs llama-server)", self.head_combo)
        form.addRow("Model", self.model_combo)
        form.addRow("Quant", self.quant_combo)
        form.addRow("Context (tokens)", self.ctx_spin)
        form.addRow("KV cache", self.kv_combo)

        self.warning = QLabel(f"⚠ {RPC_WARNING}")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #a32121; font-weight: bold;")
        self.verdict_label = QLabel("Add the machine files to plan.")
        self.verdict_label.setWordWrap(True)
        self.table = QTableWidget(0, len(TABLE_HEADER))
        self.table.setHorizontalHeaderLabels(list(TABLE_HEADER))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumHeight(170)  # the header and five device rows without scrolling
        self.speed_label = QLabel("")
        self.speed_label.setWordWrap(True)
        self.commands_box = QPlainTextEdit()
        self.commands_box.setReadOnly(True)
        self.commands_box.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        # Wrapped: a llama-server line is longer than the dialog, and a command cut at the edge gets copied
        # by hand wrong; Copy commands copies them unwrapped.
        self.commands_box.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.commands_box.setMinimumHeight(110)
        self.commands_box.setMaximumHeight(180)
        self.copy_button = QPushButton("Copy commands")
        self.connect_button = QPushButton("Connect to the head")
        self.connect_button.setToolTip("Save the head's llama-server as an endpoint (Library > Endpoints): once the "
                                       "commands run, chat panes can pick its model")
        self.connect_button.setVisible(connect is not None)
        self.connect_button.setEnabled(False)
        self.connect_button.clicked.connect(self.connect_head)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.warning)
        layout.addWidget(self.verdict_label)
        layout.addWidget(self.table, 2)
        layout.addWidget(self.speed_label)
        layout.addWidget(QLabel("Commands (workers first, then the head):"))
        layout.addWidget(self.commands_box)
        copy_row = QHBoxLayout()
        copy_row.addStretch(1)
        copy_row.addWidget(self.connect_button)
        copy_row.addWidget(self.copy_button)
        layout.addLayout(copy_row)

        self.runner = LatestRunner(self)
        self.runner.result.connect(self._show)
        self.runner.error.connect(self._fail)
        self.add_button.clicked.connect(self.add_machine_dialog)
        self.remove_button.clicked.connect(self._remove_selected)
        self.machine_list.currentRowChanged.connect(self._select_machine)
        self.host_edit.editingFinished.connect(self._set_host)
        self.model_combo.currentIndexChanged.connect(self._fill_quants)
        for signal in (self.quant_combo.currentIndexChanged, self.head_combo.currentIndexChanged,
                       self.kv_combo.currentIndexChanged, self.ctx_spin.valueChanged):
            signal.connect(self.replan)
        self.copy_button.clicked.connect(self._copy)
        self._fill_quants()

    # --- machines -------------------------------------------------------------------------------

    def add_machine_dialog(self) -> None:
        path = self.prompts.open_file(self, "Machine file (hardware --json)", self.start_dir,
                                      "Machine files (*.json);;All files (*)")
        if path is not None:
            self.add_machine_file(path)

    def add_machine_file(self, path: Path, host: str = "") -> bool:
        """Read one machine file; a bad one is reported in the verdict line and not added."""
        try:
            hw = read_machine_file(path)
        except MachineFileError as exc:
            self._fail(exc)
            return False
        name = path.stem or path.name
        taken = {m.name for m in self.machines}
        base, k = name, 2
        while name in taken:
            name, k = f"{base}-{k}", k + 1
        self.machines.append(Machine(name, host or name, hw))
        self.files.append(path)
        self._refresh_machines(len(self.machines) - 1)
        return True

    def set_host(self, row: int, host: str) -> None:
        m = self.machines[row]
        self.machines[row] = Machine(m.name, host.strip() or m.name, m.hw)
        self._refresh_machines(row)

    def _refresh_machines(self, select: int) -> None:
        head = self.head_combo.currentText()
        for widget in (self.machine_list, self.head_combo):
            widget.blockSignals(True)
        self.machine_list.clear()
        self.head_combo.clear()
        for m, path in zip(self.machines, self.files, strict=True):
            self.machine_list.addItem(f"{m.name} — {m.host}  ({path.name})")
            self.head_combo.addItem(m.name)
        if head in [m.name for m in self.machines]:
            self.head_combo.setCurrentText(head)
        for widget in (self.machine_list, self.head_combo):
            widget.blockSignals(False)
        if 0 <= select < len(self.machines):
            self.machine_list.setCurrentRow(select)
        self.replan()

    def _select_machine(self, row: int) -> None:
        self.host_edit.setText(self.machines[row].host if 0 <= row < len(self.machines) else "")

    def _set_host(self) -> None:
        row = self.machine_list.currentRow()
        if 0 <= row < len(self.machines) and self.host_edit.text().strip() != self.machines[row].host:
            self.set_host(row, self.host_edit.text())

    def _remove_selected(self) -> None:
        row = self.machine_list.currentRow()
        if 0 <= row < len(self.machines):
            del self.machines[row]
            del self.files[row]
            self._refresh_machines(min(row, len(self.machines) - 1))

    # --- the plan -------------------------------------------------------------------------------

    def _fill_quants(self) -> None:
        model = self.catalog.find(self.model_combo.currentData() or "")
        self.quant_combo.blockSignals(True)
        self.quant_combo.clear()
        if model is not None:
            for q in dict.fromkeys(f.quant for f in model.files):
                self.quant_combo.addItem(q)
        self.quant_combo.blockSignals(False)
        self.replan()

    def replan(self) -> None:
        model = self.catalog.find(self.model_combo.currentData() or "")
        quant = self.quant_combo.currentText()
        if not self.machines or model is None or not quant:
            self.runner.cancel()
            return
        files = model.files_for(quant)
        if not files:
            return
        file = files[0]
        machines = list(self.machines)
        head = max(0, self.head_combo.currentIndex())
        ctx, kv = self.ctx_spin.value(), self.kv_combo.currentText()
        label = f"{model.id} {file.quant}"
        model_path = Path(file.shards[0]).name

        def work(token: CancelToken) -> PlanResult:
            plan = plan_cluster(model.shape_for(file), machines, ctx, kv, head, model=label)
            return PlanResult(plan, tuple(commands(plan, model_path)))

        self.verdict_label.setText("Planning…")
        self.runner.submit(work)

    def _show(self, result: object) -> None:
        assert isinstance(result, PlanResult)
        plan = result.plan
        rows = table_rows(plan)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        colour = {ClusterVerdict.FITS: "#17643a", ClusterVerdict.ONE_MACHINE: "#1f4e9c",
                  ClusterVerdict.NO_FIT: "#a32121"}[plan.verdict]
        self.verdict_label.setStyleSheet(f"color: {colour};")
        split = ",".join(str(c) for c in plan.tensor_split)
        self.verdict_label.setText(f"{plan.summary}\nSplit {plan.split_rule}: --tensor-split {split}")
        self.speed_label.setText("\n".join(describe_speed(plan)))
        text = "\n".join(result.commands)
        self.head_url = engine_url(plan) if result.commands else None
        if self.head_url is not None:
            text += f"\n# then connect to {self.head_url} as a remote (OpenAI-compatible) engine"
        self.connect_button.setEnabled(self.head_url is not None)
        self.commands_box.setPlainText(text)
        self.planned.emit(plan)

    def _fail(self, exc: object) -> None:
        line = describe_error(exc) if isinstance(exc, BaseException) else str(exc)
        self.verdict_label.setStyleSheet("color: #a32121;")
        self.verdict_label.setText(line)
        self.head_url = None
        self.connect_button.setEnabled(False)
        self.failed.emit(line)

    def connect_head(self) -> None:
        """Save the planned head's llama-server (``http://HEAD:8080/v1``) as an endpoint."""
        if self.head_url is not None and self._connect is not None:
            self._connect(self.head_url)

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.commands_box.toPlainText())
