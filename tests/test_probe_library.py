"""The person's probe sets: import (validated first), new from the template, copy of a built-in set;
each writes one new file and touches no other."""

from __future__ import annotations

from pathlib import Path

import pytest

from explorer.probes.library import copy_set, import_set, new_set
from explorer.probes.sets import MAX_SET_BYTES, ProbeSetError, builtin_paths, list_sets, load_set


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_new_set_is_a_valid_set_and_never_overwrites(tmp_path: Path) -> None:
    a = new_set("Mine", tmp_path)
    b = new_set("Mine", tmp_path)
    assert (a.name, b.name) == ("mine.toml", "mine-2.toml")
    s = load_set(a)
    assert s.name == "Mine" and [q.id for q in s.questions] == ["capital", "arithmetic"]
    assert s.questions[1].checks.mark("391") is True and s.questions[0].checks.mark("Sydney") is False


def test_import_copies_a_good_set_and_refuses_a_broken_one_touching_nothing(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    first = new_set("Kept", mine)
    before = snapshot(mine)
    good = tmp_path / "good.toml"
    good.write_text('schema = 1\n[[question]]\ntext = "hi"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text('schema = 1\n[[question]]\ntext = "hi"\nregex = "("\n')
    with pytest.raises(ProbeSetError, match=r"bad.toml:4: question 1: key 'regex'"):
        import_set(bad, mine)
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"#" * (MAX_SET_BYTES + 1))
    with pytest.raises(ProbeSetError, match="too big"):
        import_set(huge, mine)
    with pytest.raises(ProbeSetError, match="no such file"):
        import_set(tmp_path / "gone.toml", mine)
    assert snapshot(mine) == before
    copied = import_set(good, mine)
    assert copied == mine / "good.toml" and copied.read_text() == good.read_text()
    assert snapshot(mine) == {**before, "good.toml": good.read_bytes()} and first.exists()
    assert [e.path.name for e in list_sets(mine) if not e.builtin] == ["good.toml", "kept.toml"]


def test_copy_of_a_builtin_set_is_the_persons_to_edit(tmp_path: Path) -> None:
    src = builtin_paths()[0]
    path = copy_set(src, tmp_path)
    assert path.name == f"{src.stem}-mine.toml" and load_set(path).questions == load_set(src).questions


def test_a_folder_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ProbeSetError, match="cannot write to"):
        new_set("x", blocker / "sub")


def test_a_set_too_big_or_with_too_many_questions_or_a_folder_is_one_line(tmp_path: Path) -> None:
    from explorer.probes.sets import MAX_QUESTIONS, MAX_SET_BYTES

    big = tmp_path / "big.toml"
    with big.open("wb") as f:
        f.truncate(MAX_SET_BYTES + 1)  # never read: refused by its size
    with pytest.raises(ProbeSetError, match="too big for a probe set"):
        load_set(big)
    many = tmp_path / "many.toml"
    many.write_text("schema = 1\n" + '[[question]]\ntext = "q"\n' * (MAX_QUESTIONS + 1))
    with pytest.raises(ProbeSetError, match=f"key 'question': {MAX_QUESTIONS + 1} questions; a set holds at most"):
        load_set(many)
    with pytest.raises(ProbeSetError, match="not a probe set file \\(a folder\\)"):
        load_set(tmp_path)
