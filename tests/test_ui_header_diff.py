"""The Compare headers dialog: two generated models side by side, the differences tinted, the templates'
diff coloured, an error as one line; the headers are read off the GUI thread."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFontDatabase
from PySide6.QtWidgets import QWidget

from explorer.gguf.header_diff import HeaderSummary, read_local_summary
from explorer.testing.models import ensure_model
from ui.models.header_diff import DIFF_BACKGROUND, MARK, SECTION_ROLE, HeaderDiffDialog
from ui.prompts import Prompts

INSTRUCT, THINKING = "qwen3-tiny-instruct-q8_0", "qwen3-tiny-thinking-q8_0"


def dialog_for(qtbot, a: str = "", b: str = "", **kw: object) -> HeaderDiffDialog:
    dialog = HeaderDiffDialog(a=a, b=b, **kw)  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def compare(qtbot, dialog: HeaderDiffDialog) -> None:
    with qtbot.waitSignal(dialog.compared, timeout=20000):
        qtbot.mouseClick(dialog.compare_button, Qt.MouseButton.LeftButton)


def test_instruct_against_thinking(qtbot) -> None:
    a, b = ensure_model(INSTRUCT), ensure_model(THINKING)
    dialog = dialog_for(qtbot, str(a), str(b))
    assert not dialog.isModal()
    compare(qtbot, dialog)
    rows = {label: (mark, va, vb) for mark, label, va, vb in dialog.visible_rows()}
    assert rows["variant (guess)"] == (MARK, "Instruct-2507", "Thinking-2507")
    assert rows["chat template"][0] == MARK
    assert rows["blocks"] == ("", "2", "2") and rows["<think>"] == ("", "id 265", "id 265")
    assert rows["FIM tokens"] == ("", "all 6", "all 6")
    assert dialog.status.text() == "5 differences" and dialog.error.isHidden()
    assert rows["file"] == (MARK, a.name, b.name)

    # Differing rows are tinted, equal ones are not; each section has a heading row.
    table = dialog.table
    tinted = {table.item(r, 1).text() for r in range(table.rowCount())
              if not table.item(r, 0).data(SECTION_ROLE) and table.item(r, 2).background().color() == QColor(
                  DIFF_BACKGROUND)}
    assert tinted == {"file", "size", "model name", "variant (guess)", "chat template"}
    headings = [table.item(r, 0).text() for r in range(table.rowCount()) if table.item(r, 0).data(SECTION_ROLE)]
    assert headings == ["file", "architecture", "context", "vocabulary", "special tokens", "quantization",
                        "chat template"]

    dialog.only_differences.setChecked(True)
    shown = dialog.visible_rows()
    assert [label for _m, label, _a, _b in shown] == ["file", "size", "model name", "variant (guess)",
                                                      "chat template"]
    assert all(mark == MARK for mark, *_ in shown)
    shown_headings = [table.item(r, 0).text() for r in range(table.rowCount())
                      if table.item(r, 0).data(SECTION_ROLE) and not table.isRowHidden(r)]
    assert shown_headings == ["file", "chat template"]
    dialog.only_differences.setChecked(False)
    assert len(dialog.visible_rows()) == len(dialog.diff.rows)  # type: ignore[union-attr]

    # The template diff: read-only, monospace, + lines green and - lines red.
    view = dialog.template_view
    assert view.isReadOnly()
    assert view.font().family() == QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).family()
    assert dialog.template_note.text() == "Chat templates: different"
    text = view.toPlainText()
    assert text.startswith(f"--- a/{a.name}\n+++ b/{b.name}\n@@ ")
    doc = dialog.template_document()
    colours = {}
    for i in range(doc.blockCount()):
        block = doc.findBlockByNumber(i)
        formats = block.layout().formats()
        colours[block.text()[:1] if not block.text().startswith(("---", "+++")) else "name"] = (
            formats[0].format.foreground().color().name() if formats else None)
    assert colours["+"] == "#17643a" and colours["-"] == "#a32121" and colours[" "] is None


def test_the_same_file_twice_has_no_difference(qtbot) -> None:
    path = str(ensure_model("qwen3-tiny-coder-f16"))
    dialog = dialog_for(qtbot, path, path)
    compare(qtbot, dialog)
    assert dialog.status.text() == "No differences"
    assert all(mark == "" for mark, *_ in dialog.visible_rows())
    assert dialog.template_note.text() == "Chat templates: identical" and dialog.template_view.toPlainText() == ""
    dialog.only_differences.setChecked(True)
    assert dialog.visible_rows() == []


def test_a_bad_file_is_one_error_line(qtbot, tmp_path: Path) -> None:
    good = ensure_model(INSTRUCT)
    bad = tmp_path / "page.gguf"
    bad.write_bytes(b"<html>rate limited</html>")
    dialog = dialog_for(qtbot, str(good), str(good))
    compare(qtbot, dialog)
    assert dialog.table.rowCount() > 0
    dialog.field_b.edit.setText(str(bad))
    with qtbot.waitSignal(dialog.failed, timeout=20000) as blocker:
        qtbot.mouseClick(dialog.compare_button, Qt.MouseButton.LeftButton)
    line = blocker.args[0]
    assert "not a GGUF file" in line and "\n" not in line
    assert dialog.error.isVisible() and dialog.error.text() == line
    assert dialog.table.rowCount() == 0 and dialog.template_view.toPlainText() == "" and dialog.diff is None
    # A missing one, and an empty field, are said the same way.
    dialog.field_b.edit.setText(str(tmp_path / "missing.gguf"))
    with qtbot.waitSignal(dialog.failed, timeout=20000) as blocker:
        dialog.compare()
    assert "no such file" in blocker.args[0]
    dialog.field_a.edit.clear()
    with qtbot.waitSignal(dialog.failed, timeout=1000) as blocker:
        dialog.compare()
    assert blocker.args[0].startswith("Choose file A")
    # The next good comparison clears the error.
    dialog.field_a.edit.setText(str(good))
    dialog.field_b.edit.setText(str(good))
    compare(qtbot, dialog)
    assert dialog.error.isHidden()


def test_a_hub_file_is_read_by_the_reader_passed_in_off_the_gui_thread(qtbot) -> None:
    thinking = ensure_model(THINKING)
    calls: list[tuple[str, str, bool]] = []

    def read_hub(repo: str, filename: str) -> HeaderSummary:
        calls.append((repo, filename, threading.current_thread() is threading.main_thread()))
        return read_local_summary(thinking)

    dialog = dialog_for(qtbot, str(ensure_model(INSTRUCT)), "Qwen/Tiny-GGUF/Q8_0/Tiny-Thinking-Q8_0.gguf",
                        read_hub=read_hub)
    compare(qtbot, dialog)
    assert calls == [("Qwen/Tiny-GGUF", "Q8_0/Tiny-Thinking-Q8_0.gguf", False)]
    assert {label for mark, label, _a, _b in dialog.visible_rows() if mark} >= {"chat template", "variant (guess)"}


class PickFile(Prompts):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.asked: list[tuple[str, Path]] = []

    def open_file(self, parent: QWidget, caption: str, directory: Path, name_filter: str) -> Path | None:
        self.asked.append((caption, directory))
        return self.path


def test_browse_fills_the_field(qtbot, tmp_path: Path) -> None:
    path = ensure_model(INSTRUCT)
    prompts = PickFile(path)
    dialog = dialog_for(qtbot, prompts=prompts, start_dir=tmp_path)
    qtbot.mouseClick(dialog.field_b.browse, Qt.MouseButton.LeftButton)
    assert dialog.field_b.text() == str(path) and dialog.field_a.text() == ""
    assert prompts.asked == [("GGUF file B", tmp_path)]
