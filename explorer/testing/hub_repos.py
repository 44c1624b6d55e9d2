"""The loopback Hub's repos on disk: `<root>/<owner>/<name>/<path in repo>`, their files, hashes and API answers.

Files ending in `.gguf` are LFS files (their sha256 is the ETag); others are regular git files (the
git blob sha1). Each repo has a fixed commit sha (the sha1 of its id). Repo paths with `..`, empty
or hidden parts never leave the root.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from explorer.gguf.shards import shard_names

LFS_SUFFIXES = (".gguf",)
META_FILE = ".hub.json"  # per-repo extras (downloads, likes, tags); hidden, so not listed
GITATTRIBUTES = "*.gguf filter=lfs diff=lfs merge=lfs -text\n"


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def commit_sha(repo_id: str) -> str:
    return hashlib.sha1(repo_id.encode()).hexdigest()


def is_lfs(path: str) -> bool:
    return path.endswith(LFS_SUFFIXES)


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


_SAFE_PART = re.compile(r"^[^/\\\x00]+$")


def safe_parts(path: str) -> list[str] | None:
    """The parts of a repo-relative path, or None when it is absolute, empty, hidden or climbs out."""
    if not path or path.startswith("/"):
        return None
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", "..") or not _SAFE_PART.match(part) or part.startswith("."):
            return None
    return parts


@dataclass(frozen=True)
class FileEntry:
    path: str  # in repo, "/"-separated
    size: int
    lfs: bool
    sha256: str | None  # LFS files only
    blob_id: str  # git blob sha1 (of the pointer file for LFS files)
    pointer_size: int | None


class HashCache:
    """sha256 / git blob sha1 per file, reused while (size, mtime) is unchanged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, bool], tuple[int, int, str]] = {}

    def digest(self, path: Path, lfs: bool) -> str:
        st = path.stat()
        key = (str(path), lfs)
        with self._lock:
            hit = self._cache.get(key)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
        if lfs:
            h = hashlib.sha256()
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            value = h.hexdigest()
        else:
            value = _git_blob_sha1(path.read_bytes())
        with self._lock:
            self._cache[key] = (st.st_size, st.st_mtime_ns, value)
        return value


class Repo:
    def __init__(self, root: Path, repo_id: str, hashes: HashCache) -> None:
        self.id = repo_id
        self.dir = root / repo_id
        self.sha = commit_sha(repo_id)
        self._hashes = hashes

    @property
    def owner(self) -> str:
        return self.id.split("/")[0]

    def meta(self) -> dict[str, Any]:
        try:
            data = json.loads((self.dir / META_FILE).read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def paths(self) -> list[str]:
        out = []
        for dirpath, dirnames, filenames in os.walk(self.dir):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel = Path(dirpath).relative_to(self.dir)
            for name in filenames:
                if name.startswith(".") and not (name == ".gitattributes" and rel == Path(".")):
                    continue
                if (Path(dirpath) / name).is_file():
                    out.append((rel / name).as_posix())
        return sorted(out)

    def file_path(self, path: str) -> Path | None:
        """The file on disk for a repo path, or None (missing, unsafe, or outside the repo)."""
        if path == ".gitattributes":
            parts: list[str] | None = [path]
        else:
            parts = safe_parts(path)
        if parts is None:
            return None
        candidate = self.dir.joinpath(*parts)
        try:
            resolved = candidate.resolve(strict=True)
            if not resolved.is_relative_to(self.dir.resolve()) or not resolved.is_file():
                return None
        except (OSError, RuntimeError):
            return None
        return resolved

    def entry(self, path: str, with_hashes: bool = True) -> FileEntry | None:
        file = self.file_path(path)
        if file is None:
            return None
        size = file.stat().st_size
        lfs = is_lfs(path)
        if not with_hashes:
            return FileEntry(path, size, lfs, None, "", None)
        if lfs:
            sha = self._hashes.digest(file, True)
            pointer = lfs_pointer(sha, size)
            return FileEntry(path, size, True, sha, _git_blob_sha1(pointer), len(pointer))
        return FileEntry(path, size, False, None, self._hashes.digest(file, False), None)

    def last_modified(self) -> str:
        mtimes = [(self.dir / p).stat().st_mtime for p in self.paths()]
        return _iso(max(mtimes, default=self.dir.stat().st_mtime))

    def summary(self) -> dict[str, Any]:
        meta = self.meta()
        paths = self.paths()
        tags = meta.get("tags") or (["gguf"] if any(is_lfs(p) for p in paths) else [])
        return {
            "_id": self.sha[:24],
            "id": self.id,
            "modelId": self.id,
            "author": self.owner,
            "sha": self.sha,
            "lastModified": self.last_modified(),
            "createdAt": meta.get("createdAt", "2025-04-28T00:00:00.000Z"),
            "private": False,
            "gated": False,
            "disabled": False,
            "downloads": int(meta.get("downloads", 0)),
            "likes": int(meta.get("likes", 0)),
            "tags": list(tags),
            "pipeline_tag": meta.get("pipeline_tag", "text-generation"),
            "library_name": meta.get("library_name", "gguf"),
        }

    def info(self, blobs: bool) -> dict[str, Any]:
        siblings: list[dict[str, Any]] = []
        for p in self.paths():
            if not blobs:
                siblings.append({"rfilename": p})
                continue
            e = self.entry(p)
            if e is None:
                continue
            sib: dict[str, Any] = {"rfilename": p, "size": e.size, "blobId": e.blob_id}
            if e.lfs:
                sib["lfs"] = {"sha256": e.sha256, "size": e.size, "pointerSize": e.pointer_size}
            siblings.append(sib)
        info = self.summary()
        info["siblings"] = siblings
        if blobs:
            info["usedStorage"] = sum(s.get("size", 0) for s in siblings)
        return info

    def tree(self, path: str, recursive: bool) -> list[dict[str, Any]] | None:
        prefix = ""
        if path:
            parts = safe_parts(path)
            if parts is None or not self.dir.joinpath(*parts).is_dir():
                return None
            prefix = "/".join(parts) + "/"
        out: list[dict[str, Any]] = []
        dirs: set[str] = set()
        for p in self.paths():
            if not p.startswith(prefix):
                continue
            rest = p[len(prefix):].split("/")
            # directories between prefix and the file
            for i in range(1, len(rest) if recursive else min(len(rest), 2)):
                d = prefix + "/".join(rest[:i])
                if d not in dirs:
                    dirs.add(d)
                    oid = hashlib.sha1(f"tree {self.sha} {d}".encode()).hexdigest()
                    out.append({"type": "directory", "oid": oid, "size": 0, "path": d})
            if len(rest) > 1 and not recursive:
                continue
            e = self.entry(p)
            if e is None:
                continue
            item: dict[str, Any] = {"type": "file", "oid": e.blob_id, "size": e.size, "path": p}
            if e.lfs:
                item["lfs"] = {"oid": e.sha256, "size": e.size, "pointerSize": e.pointer_size}
            out.append(item)
        return out


def make_repo(root: str | os.PathLike[str], repo_id: str, files: Mapping[str, str | bytes | os.PathLike[str]],
              *, downloads: int = 0, likes: int = 0, tags: list[str] | None = None,
              link: bool = False) -> Path:
    """Write a repo under `root`: `files` maps repo paths to text, bytes or a file to copy (or hard-link
    with `link=True`, falling back to a copy). Returns the repo folder."""
    owner_name = repo_id.split("/")
    if len(owner_name) != 2 or any(safe_parts(p) is None for p in owner_name):
        raise ValueError(f"bad repo id {repo_id!r}")
    repo = Path(root, *owner_name)
    repo.mkdir(parents=True, exist_ok=True)
    if not (repo / ".gitattributes").exists():
        (repo / ".gitattributes").write_text(GITATTRIBUTES)
    for rel, content in files.items():
        parts = safe_parts(rel)
        if parts is None:
            raise ValueError(f"bad path in repo {rel!r}")
        target = repo.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        elif isinstance(content, str):
            target.write_text(content)
        else:
            if target.exists():
                target.unlink()
            if link:
                try:
                    os.link(content, target)
                    continue
                except OSError:
                    pass
            shutil.copyfile(content, target)
    meta = {"downloads": downloads, "likes": likes}
    if tags is not None:
        meta["tags"] = tags  # type: ignore[assignment]
    (repo / META_FILE).write_text(json.dumps(meta))
    return repo


def split_file(src: str | os.PathLike[str], dest_dir: str | os.PathLike[str], stem: str, n: int) -> list[Path]:
    """Byte-split `src` into `n` files named like llama.cpp's gguf-split: `{stem}-00001-of-0000N.gguf`."""
    data = Path(src).read_bytes()
    step = -(-len(data) // n)
    out = []
    for i, name in enumerate(shard_names(stem, n)):
        p = Path(dest_dir) / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data[i * step:(i + 1) * step])
        out.append(p)
    return out
