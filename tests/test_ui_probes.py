"""The Probes tab over the real engine and generated models: a set run over two files (one that does
not load), the grid and totals, the run saved and reopened, Esc stops and Resume finishes, exports,
the Library's Probe… button, and the blind page hiding every model name the tab shows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QWidget
from pytestqt.qtbot import QtBot

from explorer.probes.results import read_csv, read_json
from explorer.probes.run_store import RunStore
from explorer.probes.votes import VoteStore
from explorer.testing.models import ensure_model
from explorer.testing.scripted import DEFAULT_ANSWER, ensure_scripted_model
from ui.probes.tab import ProbesTab
from ui.prompts import Prompts

SET = '''schema = 1
name = "Sky"
description = "Two questions about the sky"

[[question]]
id = "sky"
text = "Why is the sky blue?"
mode = "chatroom"
contains = "Rayleigh"

[[question]]
id = "night"
text = "Why is the night dark?"
mode = "chatroom"
contains = "Olbers"
'''


class SavePrompts(Prompts):
    def __init__(self, target: Path | None = None) -> None:
        self.target = target
        self.files: list[Path] = []

    def save_file(self, parent: QWidget, caption: str, path: Path, name_filter: str) -> Path | None:
        return self.target

    def open_file(self, parent: QWidget, caption: str, directory: Path, name_filter: str) -> Path | None:
        return self.files.pop(0) if self.files else None


@pytest.fixture()
def sets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "sets"
    d.mkdir()
    (d / "sky.toml").write_text(SET)
    monkeypatch.setenv("QWEN3_EXPLORER_PROBES", str(d))
    return d


def make_tab(qtbot: QtBot, tmp_path: Path, prompts: Prompts | None = None) -> ProbesTab:
    tab = ProbesTab(runs=RunStore(tmp_path / "runs"), votes=VoteStore(tmp_path / "votes.jsonl"),
                    prompts=prompts or SavePrompts())
    qtbot.addWidget(tab)
    tab.resize(1300, 850)
    tab.show()
    qtbot.waitUntil(lambda: bool(tab.entries), timeout=10000)
    index = next(i for i, e in enumerate(tab.entries) if e.probe_set is not None and e.probe_set.name == "Sky")
    tab.set_combo.setCurrentIndex(index)
    return tab


def finish(qtbot: QtBot, tab: ProbesTab) -> None:
    qtbot.waitUntil(lambda: not tab.active and tab.run_button.isEnabled(), timeout=120000)


@pytest.mark.llama
def test_a_set_over_two_files_fills_the_grid_is_saved_and_reopens(qtbot: QtBot, tmp_path: Path, sets_dir: Path) -> None:
    demo = ensure_scripted_model()
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    tab = make_tab(qtbot, tmp_path)
    tab.max_tokens.setValue(600)
    tab.add_files([demo, broken])
    assert tab.columns_label.text() == f"{demo.name}, broken.gguf"
    qtbot.mouseClick(tab.run_button, Qt.MouseButton.LeftButton)
    finish(qtbot, tab)
    run = tab.run
    assert run is not None and run.complete
    assert tab.grid.table.columnCount() == 2 and tab.grid.table.rowCount() == 2
    assert tab.grid.table.item(0, 0).text().startswith("✓  " + DEFAULT_ANSWER[:20])
    assert tab.grid.table.item(1, 0).text().startswith("✗")
    assert tab.grid.table.item(0, 1).text().startswith("!  error:")
    assert [tab.grid.totals.item(r, 1).text() for r in range(2)] == ["1/2", "–"]
    assert tab.status.text().startswith("Done. 2 errors")
    tab.grid.table.setCurrentCell(0, 0)
    assert tab.grid.answer.toPlainText() == DEFAULT_ANSWER and tab.grid.thinking_button.isVisible()
    assert not tab.grid.thinking.isVisible()  # folded
    qtbot.mouseClick(tab.grid.thinking_button, Qt.MouseButton.LeftButton)
    assert tab.grid.thinking.isVisible() and tab.grid.thinking.toPlainText()

    saved = RunStore(tmp_path / "runs").list()
    assert len(saved) == 1 and saved[0].run == run
    qtbot.waitUntil(lambda: tab.runs_combo.count() == 1)
    other = make_tab(qtbot, tmp_path)
    qtbot.waitUntil(lambda: other.runs_combo.count() == 1)
    other.open_saved(0)
    assert other.run == run and other.grid.table.item(0, 0).text() == tab.grid.table.item(0, 0).text()


@pytest.mark.llama
def test_esc_stops_and_resume_asks_only_the_rest(qtbot: QtBot, tmp_path: Path, sets_dir: Path) -> None:
    big = ensure_model("qwen3-fit-dense-f16")  # slow enough on the CPU to stop mid-answer
    tab = make_tab(qtbot, tmp_path)
    tab.max_tokens.setValue(20000)
    tab.add_files([big])
    tab.start()
    qtbot.waitUntil(lambda: tab.active and "loaded" in tab.status.text(), timeout=60000)
    qtbot.wait(300)
    qtbot.keyClick(tab.grid.table, Qt.Key.Key_Escape)
    finish(qtbot, tab)
    run = tab.run
    assert run is not None and not run.complete and run.cells == []  # the answer in progress is not kept
    assert "Stopped at 0 of 2 answers" in tab.status.text() and tab.resume_button.isEnabled()
    key = run.files[0]
    run.columns[key] = replace(run.columns[key], settings={**run.columns[key].settings, "max_tokens": 8})
    tab.resume()  # the run's own settings (8 tokens), not the tab's (20000)
    finish(qtbot, tab)
    assert tab.run is not None and tab.run.complete and len(tab.run.cells) == 2
    assert all(0 < c.tokens <= 8 for c in tab.run.cells), tab.run.cells
    assert RunStore(tmp_path / "runs").list()[0].run == tab.run


@pytest.mark.llama
def test_exports_write_what_reads_back(qtbot: QtBot, tmp_path: Path, sets_dir: Path) -> None:
    prompts = SavePrompts()
    tab = make_tab(qtbot, tmp_path, prompts)
    tab.max_tokens.setValue(600)
    tab.add_files([ensure_scripted_model()])
    tab.start()
    finish(qtbot, tab)
    for name in ("r.json", "r.csv", "r.md"):
        prompts.target = tmp_path / name
        tab.export()
        assert tab.status.text() == f"Exported to {tmp_path / name}"
    assert read_json(tmp_path / "r.json") == tab.run == read_csv(tmp_path / "r.csv")
    assert "# Probe set: Sky" in (tmp_path / "r.md").read_text()
    prompts.target = tmp_path / "r.txt"
    tab.export()
    assert tab.status.text().startswith("Not exported: name the file .md, .json or .csv")
    prompts.target = tmp_path / "no-such-dir" / "r.md"
    tab.export()
    assert tab.status.text().startswith("Not exported: cannot write") and "\n" not in tab.status.text()


def visible_strings(root: QWidget) -> list[str]:
    out = [root.window().windowTitle()]
    for w in [root, *root.findChildren(QWidget)]:
        if not w.isVisibleTo(root.window()):
            continue
        out += [w.toolTip(), w.statusTip(), w.whatsThis(), w.accessibleName(), w.accessibleDescription()]
        if isinstance(w, (QLabel, QAbstractButton)):
            out.append(w.text())
        if isinstance(w, QComboBox):
            out += [w.itemText(i) for i in range(w.count())]
        if hasattr(w, "toPlainText"):
            out.append(w.toPlainText())
    return [s for s in out if s]


@pytest.mark.llama
def test_the_blind_page_hides_every_name_the_tab_shows(qtbot: QtBot, tmp_path: Path, sets_dir: Path) -> None:
    demo = ensure_scripted_model()
    tab = make_tab(qtbot, tmp_path)
    tab.max_tokens.setValue(600)
    tab.add_files([demo, demo])  # one file twice: two columns, "name" and "name #2"
    tab.start()
    finish(qtbot, tab)
    assert any(demo.stem in s for s in visible_strings(tab))  # the results name them
    qtbot.mouseClick(tab.page_buttons.button(1), Qt.MouseButton.LeftButton)
    assert tab.pages.currentWidget() is tab.blind
    shown = visible_strings(tab)
    assert shown and not [s for s in shown if demo.stem in s or "gguf" in s.lower()]
    qtbot.mouseClick(tab.page_buttons.button(0), Qt.MouseButton.LeftButton)
    assert tab.setup.isVisible()


def test_the_library_probe_button_makes_the_columns(qtbot: QtBot, tmp_path: Path) -> None:
    from explorer.store.library import LocalModel
    from ui.library.view import LibraryView

    paths = [tmp_path / "a.gguf", tmp_path / "b.gguf"]
    models = [LocalModel(key=f"file:{p}", path=p, shards=(p,), size=1, repo=None, filename=p.name, quant="Q8_0",
                         arch="qwen3", variant=None, complete=True, verified=False, source="added") for p in paths]
    view = LibraryView(lambda: models)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: view.model.rowCount() == 2)
    assert not view.probe_button.isEnabled()
    view.table.selectAll()
    assert view.probe_button.isEnabled() and not view.delete_button.isEnabled()  # delete: one at a time
    with qtbot.waitSignal(view.probe_requested) as got:
        qtbot.mouseClick(view.probe_button, Qt.MouseButton.LeftButton)
    assert got.args == [paths]
    tab = make_tab_plain(qtbot, tmp_path)
    tab.add_files(paths)
    tab.add_files(paths[:1])
    assert [c.key for c in tab.columns] == [str(paths[0]), str(paths[1]), f"{paths[0]}#2"]
    assert [c.label for c in tab.columns] == ["a.gguf", "b.gguf", "a.gguf #2"]


def make_tab_plain(qtbot: QtBot, tmp_path: Path) -> ProbesTab:
    tab = ProbesTab(runs=RunStore(tmp_path / "runs"), votes=VoteStore(tmp_path / "votes.jsonl"))
    qtbot.addWidget(tab)
    return tab


def test_a_set_that_does_not_load_is_one_line_and_the_others_stay(qtbot: QtBot, tmp_path: Path,
                                                                  sets_dir: Path) -> None:
    (sets_dir / "broken.toml").write_text('schema = 1\n[[question]]\ntext = "x"\ncolour = "red"\n')
    tab = make_tab(qtbot, tmp_path)
    names = [tab.set_combo.itemText(i) for i in range(tab.set_combo.count())]
    assert "broken.toml (does not load)" in names and any(n.startswith("Sky · 2 questions") for n in names)
    tab.set_combo.setCurrentIndex(names.index("broken.toml (does not load)"))
    assert "key 'colour'" in tab.set_info.text() and "broken.toml:4" in tab.set_info.text()
    assert not tab.run_button.isEnabled()
    assert (sets_dir / "sky.toml").read_text() == SET


@pytest.mark.llama
def test_files_answer_with_the_tabs_settings_as_they_are_when_the_run_starts(qtbot: QtBot, tmp_path: Path,
                                                                             sets_dir: Path) -> None:
    tab = make_tab(qtbot, tmp_path)
    tab.add_files([ensure_scripted_model()])  # added at the default 1024
    tab.max_tokens.setValue(20)  # then changed: the run uses 20
    tab.start()
    finish(qtbot, tab)
    assert tab.run is not None and tab.run.complete
    assert all(0 < c.tokens <= 20 and c.stop_reason == "length" for c in tab.run.cells), tab.run.cells
    assert tab.run.column(tab.run.files[0]).settings["max_tokens"] == 20


def test_a_run_that_fails_keeps_saying_why(qtbot: QtBot, tmp_path: Path, sets_dir: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from ui.probes import run_job

    def boom(*a: object, **kw: object) -> None:
        raise RuntimeError("the engine could not start: boom")

    monkeypatch.setattr(run_job, "run_probe_set", boom)
    tab = make_tab(qtbot, tmp_path)
    tab.add_files([tmp_path / "x.gguf"])
    tab.start()
    finish(qtbot, tab)
    assert tab.status.text().startswith("The run failed: the engine could not start: boom. Stopped at 0 of 2")


def test_an_unreadable_saved_run_leaves_nothing_open_behind_its_name(qtbot: QtBot, tmp_path: Path,
                                                                     sets_dir: Path) -> None:
    from explorer.probes.results import Cell, ProbeRun, QuestionRef

    runs = RunStore(tmp_path / "runs")
    good = ProbeRun("Sky", [QuestionRef("sky", "", "Why?")], ["/m/a.gguf"], {}, created="2026-12-07T10:00:00",
                    cells=[Cell("sky", "/m/a.gguf", answer="Rayleigh", check=True)])
    runs.save(good)
    (tmp_path / "runs" / "9-list.json").write_text("[1, 2, 3]")
    tab = make_tab(qtbot, tmp_path)
    qtbot.waitUntil(lambda: tab.runs_combo.count() == 2)
    titles = [tab.runs_combo.itemText(i) for i in range(2)]
    bad, ok = titles.index("9-list.json (unreadable)"), 1 - titles.index("9-list.json (unreadable)")
    tab.open_saved(ok)
    assert tab.run == good and tab.export_button.isEnabled()
    tab.open_saved(bad)
    assert tab.run is None and tab.grid.table.rowCount() == 0 and not tab.export_button.isEnabled()
    assert tab.status.text().startswith("Cannot open 9-list.json: AttributeError")


def test_the_grid_marks_follow_the_theme(qtbot: QtBot) -> None:
    """Dark: a failed answer's cell is a dark red under light text, not the light theme's pink."""
    from PySide6.QtWidgets import QApplication

    from explorer.probes.results import Cell, ProbeRun, QuestionRef
    from ui import theme
    from ui.probes.grid import MARK_COLORS, ProbeGrid

    run = ProbeRun("Sky", [QuestionRef("q", "", "Why?")], ["/m/a.gguf", "/m/b.gguf"], {},
                   cells=[Cell("q", "/m/a.gguf", answer="no", check=False), Cell("q", "/m/b.gguf", answer="yes")])
    grid = ProbeGrid()
    qtbot.addWidget(grid)
    grid.set_run(run)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    try:
        theme.set_theme(app, "light")
        assert grid.table.item(0, 0).background().color().name() == MARK_COLORS[False]["fail"]
        theme.set_theme(app, "dark")
        assert grid.table.item(0, 0).background().color().name() == MARK_COLORS[True]["fail"]
        assert grid.table.item(0, 1).background().style() == Qt.BrushStyle.NoBrush  # nothing to check: the view's
    finally:
        theme.set_theme(app, "system")
