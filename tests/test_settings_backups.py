"""A settings file that cannot be used is kept aside (issue 16): a second one does not overwrite the first; they
go to settings.json.bak, .bak.1 … up to MAX_BACKUPS, then the oldest is replaced; the note names the file."""

from __future__ import annotations

import os
from pathlib import Path

from explorer.settings import MAX_BACKUPS, Settings, backup_path, load_settings


def corrupt(path: Path, text: str) -> tuple[Settings, list[str]]:
    path.write_text(text)
    return load_settings(path)


def test_each_corrupt_file_is_kept_apart_and_the_note_names_it(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    names = ["settings.json.bak", *(f"settings.json.bak.{n}" for n in range(1, MAX_BACKUPS))]
    for n, name in enumerate(names):
        st, notes = corrupt(path, f"{{ broken {n}")
        assert st == Settings() and len(notes) == 1
        assert notes[0].endswith(f"the file was kept as {name}"), notes
        assert not path.exists()
    for n, name in enumerate(names):  # none overwrote another
        assert (tmp_path / name).read_text() == f"{{ broken {n}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


def test_once_all_are_taken_the_oldest_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    for n in range(MAX_BACKUPS):
        corrupt(path, f"{{ broken {n}")
    backups = [tmp_path / "settings.json.bak", *(tmp_path / f"settings.json.bak.{n}" for n in range(1, MAX_BACKUPS))]
    for age, backup in enumerate(backups):  # .bak.2 the oldest
        os.utime(backup, (1_000_000 + age, 1_000_000 + (0 if backup.name.endswith(".2") else 10 + age)))
    assert backup_path(path).name == "settings.json.bak.2"
    _st, notes = corrupt(path, '{"schema": 99}')
    assert "newer version" in notes[0] and notes[0].endswith("kept as settings.json.bak.2")
    assert (tmp_path / "settings.json.bak.2").read_text() == '{"schema": 99}'
    assert len(list(tmp_path.iterdir())) == MAX_BACKUPS  # capped
