"""A small Hugging Face Hub on loopback, for tests and demos (standard library only).

It serves model repos from a folder, `<root>/<owner>/<name>/<path in repo>`, with the endpoints that
huggingface_hub 2.4.0 uses to search, inspect and download (HF_HUB_DISABLE_XET=1, plain HTTP):

- `GET /api/models?search=&author=&filter=&sort=&limit=`: list_models
- `GET /api/models/{repo}[/revision/{rev}][?blobs=true]`: model_info (files_metadata=True adds sizes, lfs)
- `GET /api/models/{repo}/tree/{rev}[/{path}][?recursive=true]`: list_repo_tree
- `HEAD|GET /{repo}/resolve/{rev}/{path}`: hf_hub_download, with Range support; optionally a 302 to
  `/cdn/{repo}/{path}` for LFS files, as the real Hub redirects them to its CDN.

Files ending in `.gguf` are LFS files (ETag and X-Linked-Etag are their sha256); others are regular git
files (ETag is the git blob sha1). Each repo has a fixed commit sha (the sha1 of its id). Any other
`/api/` GET answers 404 JSON. Repo paths with `..`, empty or hidden parts never leave the root.

Tests inject faults with `server.faults.add(Fault(...))` and read `server.log` (one `LogEntry` per
request: method, path, Range header, status, body bytes sent). Demo:
`python -m explorer.testing.hub [--port P] [--root DIR]`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import email.utils
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

from explorer.gguf.shards import shard_names

FaultKind = Literal["drop", "stall", "status", "corrupt", "malformed", "ignore_range"]

LFS_SUFFIXES = (".gguf",)
META_FILE = ".hub.json"  # per-repo extras (downloads, likes, tags); hidden, so not listed
CHUNK = 64 * 1024
GITATTRIBUTES = "*.gguf filter=lfs diff=lfs merge=lfs -text\n"


# --- faults and the request log ---------------------------------------------------------------


@dataclass
class Fault:
    """One injected misbehaviour, applied to requests whose raw target (path and query) contains `match`.

    kinds:
    - drop: close the connection after `after_bytes` body bytes (None: before sending any response)
    - stall: sleep `seconds` after `after_bytes` body bytes (None: before sending any response)
    - status: answer `status` (500, 503, 429...) with a JSON error; `retry_after` adds Retry-After
    - corrupt: flip the byte at file offset `offset` (when the served range includes it)
    - malformed: answer 200 with truncated JSON (the /api/ endpoints)
    - ignore_range: answer 200 with the full body even when the request has a Range header
    `times`: how many requests it applies to (None: all). `method`: only "GET" or "HEAD" (None: any).
    """

    kind: FaultKind
    match: str = ""
    method: str | None = None
    times: int | None = 1
    after_bytes: int | None = None
    seconds: float = 0.0
    status: int = 500
    retry_after: int | None = None
    offset: int = 0
    hits: int = 0  # how many requests it has applied to


class Faults:
    """Thread-safe set of active faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def set(self, kind: FaultKind, match: str = "", **kw: Any) -> Fault:
        """Shorthand: `faults.set("status", "/resolve/", status=503, times=2)`."""
        return self.add(Fault(kind, match, **kw))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return [replace(f) for f in self._faults]

    def take(self, method: str, target: str) -> list[Fault]:
        """The faults that apply to this request (at most one per kind), counting them as used."""
        taken: list[Fault] = []
        with self._lock:
            for fault in self._faults:
                if fault.match not in target or (fault.method and fault.method.upper() != method):
                    continue
                if fault.times is not None and fault.hits >= fault.times:
                    continue
                if any(t.kind == fault.kind for t in taken):
                    continue
                fault.hits += 1
                taken.append(replace(fault))
        return taken


@dataclass(frozen=True)
class LogEntry:
    method: str
    path: str  # raw request target, query included
    range: str | None
    status: int  # 0: the connection was closed before a status line
    bytes_sent: int  # body bytes
    faults: tuple[str, ...] = ()


@dataclass
class _Record:
    method: str
    path: str
    range: str | None
    faults: tuple[str, ...]
    status: int = 0
    bytes_sent: int = 0


# --- repos on disk ------------------------------------------------------------------------------


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


# --- HTTP ------------------------------------------------------------------------------------------


class _Dropped(Exception):
    """A drop fault closed the connection."""


class _HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    hub: HubServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HubHTTPServer

    # request state
    _faults: list[Fault]
    _rec: _Record

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.hub.verbose:
            sys.stderr.write("hub: " + (format % args) + "\n")

    def setup(self) -> None:
        super().setup()
        self.server.hub._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.hub._track(self.connection, False)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    # --- plumbing

    def _fault(self, kind: FaultKind) -> Fault | None:
        return next((f for f in self._faults if f.kind == kind), None)

    def _handle(self, method: str) -> None:
        hub = self.server.hub
        self._faults = hub.faults.take(method, self.path)
        self._rec = hub._record(method, self.path, self.headers.get("Range"), self._faults)
        try:
            for kind in ("stall", "drop"):
                f = self._fault(kind)
                if f is not None and f.after_bytes is None:
                    if kind == "stall":
                        hub._sleep(f.seconds)
                    else:
                        raise _Dropped
            status = self._fault("status")
            if status is not None:
                headers = {"Retry-After": str(status.retry_after)} if status.retry_after is not None else {}
                self._json(status.status, {"error": f"injected {status.status}"}, headers)
                return
            self._route(method)
        except _Dropped:
            self._abort()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _abort(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _start(self, status: int, headers: Mapping[str, str]) -> None:
        self._rec.status = status  # before the client can see the status line
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _body(self, data: bytes, file_offset: int = 0) -> None:
        """Send a body (already announced), applying corrupt / stall / drop faults."""
        corrupt = self._fault("corrupt")
        if corrupt is not None and file_offset <= corrupt.offset < file_offset + len(data):
            i = corrupt.offset - file_offset
            data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
        for kind in ("stall", "drop"):
            f = self._fault(kind)
            sent = self._rec.bytes_sent
            if f is not None and f.after_bytes is not None and sent <= f.after_bytes < sent + len(data):
                cut = f.after_bytes - sent
                self._write(data[:cut])
                data, file_offset = data[cut:], file_offset + cut
                if kind == "stall":
                    self.server.hub._sleep(f.seconds)
                else:
                    raise _Dropped
        self._write(data)

    def _write(self, data: bytes) -> None:
        if data:
            self._rec.bytes_sent += len(data)  # counted first, so the log is current when the client has it
            self.wfile.write(data)

    def _json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None,
              head: bool = False) -> None:
        body = json.dumps(payload).encode()
        if self._fault("malformed") is not None:
            body = body[: max(1, len(body) // 2)]
        self._start(status, {"Content-Type": "application/json; charset=utf-8",
                             "Content-Length": str(len(body)), **(headers or {})})
        if not head:
            self._body(body)

    def _not_found(self, code: str, message: str, headers: Mapping[str, str] | None = None,
                   head: bool = False) -> None:
        self._json(404, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message, **(headers or {})},
                   head=head)

    # --- routes

    def _route(self, method: str) -> None:
        hub = self.server.hub
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        raw = split.path.split("/")[1:]
        seg = [unquote(s) for s in raw]
        head = method == "HEAD"
        if seg[:1] == ["api"]:
            if seg[:2] == ["api", "models"] and method == "GET":
                if len(seg) == 2 or (len(seg) == 3 and seg[2] == ""):
                    self._json(200, hub._list_models(query))
                    return
                if len(seg) >= 4:
                    self._api_repo(seg[2:4], seg[4:], query)
                    return
            self._json(404, {"error": "Sorry, we can't find the page you are looking for."}, head=head)
            return
        if seg[:1] == ["cdn"] and len(seg) >= 4:
            repo = hub._repo(seg[1:3])
            if repo is None:
                self._not_found("RepoNotFound", "Repository not found", head=head)
                return
            self._serve_file(repo, "/".join(seg[3:]), head, cdn=True)
            return
        if len(seg) >= 5 and seg[2] == "resolve":
            repo = hub._repo(seg[:2])
            if repo is None:
                self._not_found("RepoNotFound", "Repository not found", head=head)
                return
            if seg[3] not in ("main", repo.sha):
                self._not_found("RevisionNotFound", "Invalid rev id: " + seg[3], head=head)
                return
            self._serve_file(repo, "/".join(seg[4:]), head, cdn=False)
            return
        self._json(404, {"error": "Not found"}, head=head)

    def _api_repo(self, repo_seg: list[str], rest: list[str], query: Mapping[str, str]) -> None:
        hub = self.server.hub
        repo = hub._repo(repo_seg)
        if repo is None:
            self._not_found("RepoNotFound", "Repository not found")
            return
        if not rest or (rest[:1] == ["revision"] and len(rest) == 2):
            if rest and rest[1] not in ("main", repo.sha):
                self._not_found("RevisionNotFound", "Invalid rev id: " + rest[1])
                return
            blobs = query.get("blobs", "").lower() in ("1", "true")
            self._json(200, repo.info(blobs))
            return
        if rest[0] == "tree" and len(rest) >= 2:
            if rest[1] not in ("main", repo.sha):
                self._not_found("RevisionNotFound", "Invalid rev id: " + rest[1])
                return
            recursive = query.get("recursive", "").lower() in ("1", "true")
            entries = repo.tree("/".join(rest[2:]), recursive)
            if entries is None:
                self._not_found("EntryNotFound", "Entry not found", {"X-Repo-Commit": repo.sha})
                return
            self._json(200, entries)
            return
        self._json(404, {"error": "Not found"})

    def _serve_file(self, repo: Repo, path: str, head: bool, cdn: bool) -> None:
        hub = self.server.hub
        entry = repo.entry(path)
        file = repo.file_path(path)
        if entry is None or file is None:
            self._not_found("EntryNotFound", f"{path} does not exist on \"main\"", {"X-Repo-Commit": repo.sha},
                            head=head)
            return
        etag = entry.sha256 if entry.lfs else entry.blob_id
        common = {"X-Repo-Commit": repo.sha, "ETag": f'"{etag}"', "Accept-Ranges": "bytes",
                  "Last-Modified": email.utils.formatdate(file.stat().st_mtime, usegmt=True)}
        if entry.lfs:
            common["X-Linked-Etag"] = f'"{entry.sha256}"'
            common["X-Linked-Size"] = str(entry.size)
        if entry.lfs and hub.lfs_redirect and not cdn:
            location = f"{hub.cdn_base}/cdn/{quote(repo.id)}/{quote(path)}"
            self._start(302, {**common, "Location": location, "Content-Length": "0"})
            return
        total = entry.size
        start, end, status = 0, total - 1, 200
        rng = self.headers.get("Range")
        if rng and self._fault("ignore_range") is None:
            parsed = _parse_range(rng, total)
            if parsed is None:
                self._start(416, {**common, "Content-Range": f"bytes */{total}", "Content-Length": "0"})
                return
            if parsed != (-1, -1):
                start, end, status = parsed[0], parsed[1], 206
        length = max(0, end - start + 1)
        headers = {**common, "Content-Type": "application/octet-stream", "Content-Length": str(length)}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        if not entry.lfs:
            headers["Content-Type"] = "text/plain; charset=utf-8"
        self._start(status, headers)
        if head:
            return
        with file.open("rb") as f:
            _send_range(self, f, start, length)


def _send_range(handler: _Handler, f: BinaryIO, start: int, length: int) -> None:
    f.seek(start)
    pos = start
    remaining = length
    while remaining > 0:
        chunk = f.read(min(CHUNK, remaining))
        if not chunk:
            break
        handler._body(chunk, pos)
        pos += len(chunk)
        remaining -= len(chunk)


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _parse_range(value: str, total: int) -> tuple[int, int] | None:
    """(start, end) inclusive; (-1, -1): ignore the header (answer 200); None: unsatisfiable (416)."""
    m = _RANGE.match(value.strip())
    if m is None:
        return (-1, -1)  # multiple ranges or another unit: serve the whole file
    a, b = m.groups()
    if not a and not b:
        return (-1, -1)
    if not a:
        n = int(b)
        if n == 0:
            return None
        return (max(0, total - n), total - 1)
    start = int(a)
    end = int(b) if b else total - 1
    if start >= total or end < start:
        return None
    return (start, min(end, total - 1))


class HubServer:
    """A loopback Hub serving the repos under `root`. Use as a context manager, or start()/stop()."""

    def __init__(self, root: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 0,
                 lfs_redirect: bool = False, cdn_host: str | None = None, verbose: bool = False) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port
        self.lfs_redirect = lfs_redirect
        self.cdn_host = cdn_host
        self.verbose = verbose
        self.faults = Faults()
        self._log: list[_Record] = []
        self._log_lock = threading.Lock()
        self._hashes = HashCache()
        self._httpd: _HubHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()

    # lifecycle

    def start(self) -> HubServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HubHTTPServer((self.host, self.port), _Handler)
        httpd.hub = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"hub-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def cdn_base(self) -> str:
        return f"http://{self.cdn_host or self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment for a client process: this endpoint, plain HTTP downloads (no Xet)."""
        return {"HF_ENDPOINT": self.endpoint, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0"}

    # repos

    def add_repo(self, repo_id: str, files: Mapping[str, str | bytes | os.PathLike[str]], **kw: Any) -> Path:
        return make_repo(self.root, repo_id, files, **kw)

    def url(self, repo_id: str, path: str, revision: str = "main") -> str:
        return f"{self.endpoint}/{repo_id}/resolve/{revision}/{quote(path)}"

    def repo_ids(self) -> list[str]:
        out = []
        for owner in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            if owner.is_dir() and safe_parts(owner.name):
                out += [f"{owner.name}/{n.name}" for n in sorted(owner.iterdir())
                        if n.is_dir() and safe_parts(n.name)]
        return out

    def _repo(self, seg: list[str]) -> Repo | None:
        if len(seg) != 2 or any(safe_parts(s) is None for s in seg):
            return None
        repo = Repo(self.root, "/".join(seg), self._hashes)
        try:
            if not repo.dir.is_dir() or not repo.dir.resolve().is_relative_to(self.root.resolve()):
                return None
        except OSError:
            return None
        return repo

    def _list_models(self, q: Mapping[str, str]) -> list[dict[str, Any]]:
        search = q.get("search", "").lower()
        author = q.get("author", "").lower()
        wanted = [t for t in q.get("filter", "").split(",") if t]
        out: list[dict[str, Any]] = []
        for rid in self.repo_ids():
            repo = Repo(self.root, rid, self._hashes)
            if search and search not in rid.lower():
                continue
            if author and repo.owner.lower() != author:
                continue
            item = repo.summary()
            if any(t not in item["tags"] for t in wanted):
                continue
            if q.get("full", "").lower() in ("1", "true") or "siblings" in q.get("expand", ""):
                item["siblings"] = [{"rfilename": p} for p in repo.paths()]
            out.append(item)
        sort = q.get("sort")
        key = {"downloads": "downloads", "likes": "likes", "lastModified": "lastModified",
               "last_modified": "lastModified", "createdAt": "createdAt", "created_at": "createdAt"}.get(sort or "")
        if key:
            out.sort(key=lambda m: m[key], reverse=True)
        limit = q.get("limit", "")
        if limit.isdigit():
            out = out[: int(limit)]
        return out

    # faults, log, connections

    @property
    def log(self) -> list[LogEntry]:
        with self._log_lock:
            return [LogEntry(r.method, r.path, r.range, r.status, r.bytes_sent, r.faults) for r in self._log]

    def clear_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    def requests(self, method: str | None = None, contains: str = "") -> list[LogEntry]:
        return [e for e in self.log if (method is None or e.method == method) and contains in e.path]

    def _record(self, method: str, path: str, rng: str | None, faults: list[Fault]) -> _Record:
        rec = _Record(method, path, rng, tuple(f.kind for f in faults))
        with self._log_lock:
            self._log.append(rec)
        return rec

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)


# --- demo ------------------------------------------------------------------------------------------

DEMO_README = """---
library_name: gguf
tags: [gguf, qwen3, test-model]
---
# {repo}

Generated test model (random weights) served by explorer.testing.hub.
"""


def build_demo(root: Path) -> list[str]:
    """Demo repos from the generated test models; one model is also split in 3 shards."""
    from explorer.testing.models import FIT_MODELS, TEST_MODELS, ensure_model

    repos: dict[str, dict[str, str | bytes | os.PathLike[str]]] = {}
    downloads = 1000
    for spec in TEST_MODELS.values():
        src = ensure_model(spec)
        base = spec.name.replace("qwen3moe-tiny", "Qwen3-MoE-Tiny").replace("qwen3-tiny", "Qwen3-Tiny")
        stem, dtype = base.rsplit("-", 1)
        parts = stem.split("-")
        repo_id = "Qwen/" + "-".join(p.capitalize() if p.islower() else p for p in parts) + "-GGUF"
        files = repos.setdefault(repo_id, {"README.md": DEMO_README.format(repo=repo_id)})
        files[f"{repo_id.split('/')[1].removesuffix('-GGUF')}-{dtype.upper()}.gguf"] = src
    for rid, files in repos.items():
        make_repo(root, rid, files, downloads=downloads, likes=downloads // 100, link=True)
        downloads += 250
    # A larger model in three shards, under a subfolder, like the big Qwen3 GGUF repos.
    fit = next(iter(FIT_MODELS.values()))
    src = ensure_model(fit)
    rid = "Qwen/Qwen3-Fit-Dense-GGUF"
    shard_dir = root / "Qwen" / "Qwen3-Fit-Dense-GGUF" / "F16"
    split_file(src, shard_dir, "Qwen3-Fit-Dense-F16", 3)
    make_repo(root, rid, {"README.md": DEMO_README.format(repo=rid), "Qwen3-Fit-Dense-F16.gguf": src},
              downloads=5000, likes=42, link=True)
    return [*repos, rid]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m explorer.testing.hub", description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--root", type=Path, default=None, help="repos folder (default: a demo built in a temp dir)")
    ap.add_argument("--redirect", action="store_true", help="302 LFS downloads to /cdn/ like the real Hub")
    ap.add_argument("--verbose", action="store_true", help="log every request")
    args = ap.parse_args(argv)
    import tempfile

    tmp: tempfile.TemporaryDirectory[str] | None = None
    root: Path = args.root
    if root is None:
        tmp = tempfile.TemporaryDirectory(prefix="qwen3-hub-")
        root = Path(tmp.name)
    if not any(root.glob("*/*")):
        print(f"building demo repos in {root} ...", file=sys.stderr)
        for rid in build_demo(root):
            print(f"  {rid}", file=sys.stderr)
    server = HubServer(root, host=args.host, port=args.port, lfs_redirect=args.redirect, verbose=args.verbose)
    with server:
        print(f"export HF_ENDPOINT={server.endpoint} HF_HUB_DISABLE_XET=1", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    if tmp is not None:
        tmp.cleanup()
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
