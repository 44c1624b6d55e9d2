"""Saved probe runs: written atomically, listed newest first with a title, a damaged file listed with
its error and the others still read."""

from __future__ import annotations

from pathlib import Path

from explorer.probes.results import Cell, ProbeRun, QuestionRef
from explorer.probes.run_store import RunStore


def make(created: str, cells: int) -> ProbeRun:
    qs = [QuestionRef("a", "", "A?"), QuestionRef("b", "", "B?")]
    run = ProbeRun("Seed 003, chatroom", qs, ["/m/x.gguf"], {}, created=created)
    run.cells = [Cell(q.id, "/m/x.gguf", answer="ok") for q in qs[:cells]]
    return run


def test_save_list_and_reopen(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    old = store.save(make("2026-12-06T10:00:00", 2))
    new = store.save(make("2026-12-07T09:30:05", 1))
    assert new.name == "20261207093005-seed-003-chatroom.json"
    (tmp_path / "zz-broken.json").write_text("{\"version\": 1, ")
    (tmp_path / "zy-list.json").write_text("[1, 2, 3]")  # JSON, but not a run: listed, never raised
    (tmp_path / "zx-fields.json").write_text('{"version": 1, "set": "x", "files": [], "questions": [{"oops": 1}], '
                                             '"cells": []}')
    listed = store.list()
    assert [s.path for s in listed] == [tmp_path / n for n in ("zz-broken.json", "zy-list.json", "zx-fields.json")] + [
        new, old]
    assert listed[0].run is None and "JSONDecodeError" in listed[0].error and "unreadable" in listed[0].title
    assert listed[1].run is None and listed[2].run is None and "TypeError" in listed[2].error
    listed = listed[2:]
    assert listed[1].title == "Seed 003, chatroom · 2026-12-07 09:30 · 1 columns, 1 of 2 answers"
    assert listed[2].title == "Seed 003, chatroom · 2026-12-06 10:00 · 1 columns"
    assert listed[1].run == make("2026-12-07T09:30:05", 1)
    assert not list(tmp_path.glob("*.tmp"))


def test_saving_again_replaces_the_file(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    run = make("2026-12-07T09:30:05", 1)
    path = store.save(run)
    run.cells.append(Cell("b", "/m/x.gguf", answer="later"))
    assert store.save(run) == path and RunStore.load(path).run == run and len(store.list()) == 1


def test_a_missing_folder_lists_nothing(tmp_path: Path) -> None:
    assert RunStore(tmp_path / "none").list() == []
