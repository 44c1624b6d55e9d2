"""Plan across machines… (ui/models/cluster_dialog.py): machine files in, the split, verdict, speed and commands out."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from conftest import make_hardware
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

from explorer.catalog.snapshot import load_catalog
from explorer.cli.main import _jsonable
from explorer.fit.cluster import RPC_WARNING, ClusterVerdict
from ui.models.cluster_dialog import ClusterDialog
from ui.prompts import Prompts


class FilePrompts(Prompts):
    """Answers each file dialog with the next path, and records the captions asked."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = list(paths)
        self.asked: list[str] = []

    def open_file(self, parent: QWidget, caption: str, directory: Path, name_filter: str) -> Path | None:
        self.asked.append(caption)
        return self.paths.pop(0) if self.paths else None


def machine_files(tmp_path: Path) -> list[Path]:
    out = []
    for name, hw in (("a", make_hardware(ram=64, ram_free=60, vram=24, vram_free=23.5)),
                     ("b", make_hardware(ram=64, ram_free=60, vram=24, vram_free=23.5)),
                     ("c", make_hardware(ram=64, ram_free=60, vram=None))):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(_jsonable(asdict(hw))))
        out.append(path)
    return out


def make_dialog(qtbot, tmp_path: Path, paths: list[Path]) -> tuple[ClusterDialog, FilePrompts]:
    prompts = FilePrompts(paths)
    dialog = ClusterDialog(catalog=load_catalog(), prompts=prompts, start_dir=tmp_path)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog, prompts


def add_all(qtbot, dialog: ClusterDialog, count: int) -> None:
    for _ in range(count):
        qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)


def test_three_machines_for_235b(qtbot, tmp_path: Path) -> None:
    dialog, prompts = make_dialog(qtbot, tmp_path, machine_files(tmp_path))
    assert dialog.warning.isVisible() and RPC_WARNING in dialog.warning.text()
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("Qwen3-235B-A22B"))
    dialog.quant_combo.setCurrentText("Q4_K_M")
    dialog.ctx_spin.setValue(8192)
    add_all(qtbot, dialog, 2)
    for row, host in enumerate(("10.0.0.1", "10.0.0.2")):
        dialog.set_host(row, host)
    with qtbot.waitSignal(dialog.planned, timeout=10000) as blocker:
        qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
        dialog.set_host(2, "10.0.0.3")
    plan = blocker.args[0]
    assert prompts.asked == ["Machine file (hardware --json)"] * 3
    assert plan.verdict is ClusterVerdict.FITS and plan.tensor_split == (10, 25, 26, 25, 9)
    assert dialog.machine_list.count() == 3 and dialog.machine_list.item(2).text() == "c — 10.0.0.3  (c.json)"
    assert dialog.table.rowCount() == 6  # five devices and the head's own process
    assert [dialog.table.item(r, 1).text() for r in range(2)] == ["Fake RTX 4060 (CUDA0)", "RAM (CPU)"]
    assert dialog.table.item(2, 2).text() == "26 (35-60)"
    assert dialog.verdict_label.text().startswith("fits across 3 machines (a, b, c)")
    assert "--tensor-split 10,25,26,25,9" in dialog.verdict_label.text()
    assert "network: 64.0 KiB per token" in dialog.speed_label.text()
    text = dialog.commands_box.toPlainText()
    assert text.splitlines()[0] == "rpc-server -H 10.0.0.2 -p 50052 -c -d CUDA0,CPU   # on b"
    assert "--rpc 10.0.0.2:50052,10.0.0.3:50052,127.0.0.1:50052" in text
    assert text.endswith("# then connect to http://10.0.0.1:8080/v1 as a remote (OpenAI-compatible) engine")
    assert dialog.commands_box.isReadOnly()
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == text

    # The head moves to c: its RAM serves the last layers and the output layer.
    with qtbot.waitSignal(dialog.planned, timeout=10000) as blocker:
        dialog.head_combo.setCurrentText("c")
    assert blocker.args[0].head == "c" and blocker.args[0].devices[-1].machine == "c"


def test_a_small_model_runs_on_one_machine(qtbot, tmp_path: Path) -> None:
    dialog, _prompts = make_dialog(qtbot, tmp_path, machine_files(tmp_path)[:2])
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("Qwen3-8B"))
    dialog.quant_combo.setCurrentText("Q4_K_M")
    add_all(qtbot, dialog, 1)
    with qtbot.waitSignal(dialog.planned, timeout=10000) as blocker:
        qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].verdict is ClusterVerdict.ONE_MACHINE
    assert "RPC is not needed" in dialog.verdict_label.text()
    assert dialog.commands_box.toPlainText().startswith("llama-server -m Qwen3-8B-Q4_K_M.gguf ")
    assert "--rpc" not in dialog.commands_box.toPlainText()


def test_a_malformed_machine_file_is_one_line_and_not_added(qtbot, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"ram_total": 1}')
    dialog, _prompts = make_dialog(qtbot, tmp_path, [bad])
    with qtbot.waitSignal(dialog.failed, timeout=2000) as blocker:
        qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] == f"{bad}: key 'ram_available' is missing"
    assert dialog.verdict_label.text() == blocker.args[0]
    assert dialog.machine_list.count() == 0


def test_removing_a_machine_replans(qtbot, tmp_path: Path) -> None:
    dialog, _prompts = make_dialog(qtbot, tmp_path, machine_files(tmp_path))
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("Qwen3-235B-A22B"))
    dialog.quant_combo.setCurrentText("Q4_K_M")
    add_all(qtbot, dialog, 2)
    with qtbot.waitSignal(dialog.planned, timeout=10000):
        qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    dialog.machine_list.setCurrentRow(2)
    with qtbot.waitSignal(dialog.planned, timeout=10000) as blocker:
        qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    # a and b still hold it: 2 x (22.8 GiB of VRAM + 60 GiB of RAM) for 134 GiB of weights.
    assert blocker.args[0].verdict is ClusterVerdict.FITS
    assert {d.machine for d in blocker.args[0].devices} == {"a", "b"} and dialog.table.rowCount() == 5
    with qtbot.waitSignal(dialog.planned, timeout=10000) as blocker:
        dialog.quant_combo.setCurrentText("Q8_0")  # 232.6 GiB of weights
    assert blocker.args[0].verdict is ClusterVerdict.NO_FIT
    assert dialog.commands_box.toPlainText() == ""
    assert dialog.verdict_label.text().startswith("does not fit")
