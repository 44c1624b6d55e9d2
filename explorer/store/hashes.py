"""A model file's sha256: the identity a blind vote keeps, so that a renamed or moved file is the same entry.

A file our downloads verified is a Hugging Face cache blob named by its sha256 and marked `.verified`:
its name is the hash, read without reading the file. Any other file is hashed once (about a second per
GB) and the result kept in a small cache keyed by path, size and modification time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

from explorer.paths import cache_root
from explorer.store.library import VERIFIED_SUFFIX

CHUNK = 4 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")


class HashStopped(Exception):
    """`stopped()` said yes before the file was read to its end."""


def _cache_file() -> Path:
    return cache_root() / "sha256.json"


def verified_blob_sha256(path: Path) -> str:
    """The sha256 a verified Hugging Face cache blob is named by, or "" when `path` is not one."""
    try:
        blob = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return ""
    if blob.parent.name == "blobs" and _HEX64.fullmatch(blob.name) and \
            blob.with_name(blob.name + VERIFIED_SUFFIX).is_file():
        return blob.name
    return ""


def file_sha256(path: Path, *, stopped: Callable[[], bool] = lambda: False, cache: Path | None = None) -> str:
    """The sha256 of `path` (see the module's doc). OSError when it can not be read; HashStopped."""
    known = verified_blob_sha256(path)
    if known:
        return known
    cache = cache or _cache_file()
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    entries = _read_cache(cache)
    if key in entries:
        return entries[key]
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            if stopped():
                raise HashStopped(str(path))
            h.update(chunk)
    digest = h.hexdigest()
    entries[key] = digest
    _write_cache(cache, entries)
    return digest


def _read_cache(cache: Path) -> dict[str, str]:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str) and _HEX64.fullmatch(v)}


def _write_cache(cache: Path, entries: dict[str, str]) -> None:
    """Best effort (a cache that can not be written only costs a hash next time); atomic, newest 500."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + ".tmp")
        tmp.write_text(json.dumps(dict(list(entries.items())[-500:])), encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        pass
