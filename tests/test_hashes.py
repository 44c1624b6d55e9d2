"""A model file's sha256 for the votes: a verified blob's name, else the content, cached by path/size/mtime."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from explorer.store.hashes import HashStopped, file_sha256, verified_blob_sha256


def test_a_plain_file_is_hashed_and_the_hash_cached(tmp_path: Path) -> None:
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF" + bytes(range(256)) * 100)
    want = hashlib.sha256(f.read_bytes()).hexdigest()
    cache = tmp_path / "c.json"
    assert file_sha256(f, cache=cache) == want
    st = f.stat()
    f.write_bytes(b"XXXX" + bytes(range(256)) * 100)  # same size; mtime put back: the cache answers
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert file_sha256(f, cache=cache) == want
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: hashed again
    assert file_sha256(f, cache=cache) == hashlib.sha256(f.read_bytes()).hexdigest() != want


def test_a_verified_blob_is_known_by_its_name_without_reading_it(tmp_path: Path) -> None:
    blobs = tmp_path / "models--Qwen--X" / "blobs"
    blobs.mkdir(parents=True)
    name = "ab" * 32  # not the content's hash: proves the name is what counts
    (blobs / name).write_bytes(b"content")
    (blobs / f"{name}.verified").touch()
    link = tmp_path / "snap.gguf"
    link.symlink_to(blobs / name)
    assert verified_blob_sha256(link) == name == file_sha256(link, cache=tmp_path / "c.json")
    (blobs / f"{name}.verified").unlink()  # not verified: the content decides
    assert file_sha256(link, cache=tmp_path / "c.json") == hashlib.sha256(b"content").hexdigest()


def test_stop_and_unreadable(tmp_path: Path) -> None:
    f = tmp_path / "m.gguf"
    f.write_bytes(b"x" * 10)
    with pytest.raises(HashStopped):
        file_sha256(f, stopped=lambda: True, cache=tmp_path / "c.json")
    with pytest.raises(OSError):
        file_sha256(tmp_path / "gone.gguf", cache=tmp_path / "c.json")
    (tmp_path / "c.json").write_text("{not json")  # a damaged cache is ignored and rewritten
    assert file_sha256(f, cache=tmp_path / "c.json") == hashlib.sha256(b"x" * 10).hexdigest()
