"""The loopback Hub's HTTP side: routes for the API, file downloads with Range, and injected faults."""

from __future__ import annotations

import email.utils
import json
import re
import socket
import sys
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import parse_qs, quote, unquote, urlsplit

from explorer.testing.hub_faults import Fault, FaultKind, Faults, Record
from explorer.testing.hub_repos import Repo

CHUNK = 64 * 1024
PACE_SLICE = 64 * 1024  # a rate-capped connection sends this much at a time
PACE_BURST = 0.02  # seconds of credit an idle capped connection may send at once


class Backend(Protocol):
    """What the request handler needs from the server (`explorer.testing.hub.HubServer`)."""

    faults: Faults
    verbose: bool
    lfs_redirect: bool
    rate_cap: float | None  # bytes per second per connection (a CDN's cap); None: as fast as it goes

    @property
    def cdn_base(self) -> str: ...

    def find_repo(self, seg: list[str]) -> Repo | None: ...

    def list_models(self, q: Mapping[str, str]) -> list[dict[str, Any]]: ...

    def record(self, method: str, path: str, rng: str | None, faults: list[Fault], connection: int = 0) -> Record: ...

    def next_connection(self) -> int: ...

    def sleep(self, seconds: float) -> None: ...

    def stopping(self) -> bool: ...

    def track(self, conn: socket.socket, add: bool) -> None: ...


class _Dropped(Exception):
    """A drop fault closed the connection."""


class HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    hub: Backend


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HubHTTPServer

    # request state
    _faults: list[Fault]
    _rec: Record
    # connection state
    _conn_id: int = 0
    _paid_until: float = 0.0  # with a rate cap: when the bytes sent so far on this connection are paid for

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.hub.verbose:
            sys.stderr.write("hub: " + (format % args) + "\n")

    def setup(self) -> None:
        super().setup()
        self._conn_id = self.server.hub.next_connection()
        self.server.hub.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.hub.track(self.connection, False)

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):  # the client went away between requests (killed)
            self.close_connection = True

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    # --- plumbing

    def _fault(self, kind: FaultKind) -> Fault | None:
        return next((f for f in self._faults if f.kind == kind), None)

    def _handle(self, method: str) -> None:
        hub = self.server.hub
        self._faults = hub.faults.take(method, self.path, self._conn_id)
        self._rec = hub.record(method, self.path, self.headers.get("Range"), self._faults, self._conn_id)
        try:
            for kind in ("stall", "drop"):
                f = self._fault(kind)
                if f is not None and f.after_bytes is None:
                    if kind == "stall":
                        hub.sleep(f.seconds)
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
        forged = self._fault("headers")
        if forged is not None and forged.headers:
            headers = {**headers, **forged.headers}
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
                    self.server.hub.sleep(f.seconds)
                else:
                    raise _Dropped
        self._write(data)

    def _write(self, data: bytes) -> None:
        cap = self.server.hub.rate_cap
        if cap:
            self._paced(data, cap)
        elif data:
            self._send(data)

    def _send(self, data: bytes) -> None:
        """Send all of `data`, counting what the kernel took: counted first, so the log is current when the
        client has the bytes, and on an error (the client went away) only what was really sent stays counted."""
        self._rec.bytes_sent += len(data)
        view, sent = memoryview(data), 0
        try:
            while sent < len(view):
                sent += self.connection.send(view[sent:])
        except OSError:
            self._rec.bytes_sent -= len(view) - sent
            raise

    def _paced(self, data: bytes, cap: float) -> None:
        """Send at most `cap` bytes a second on this connection (keep-alive requests share the budget)."""
        for i in range(0, len(data), PACE_SLICE):
            piece = data[i:i + PACE_SLICE]
            now = time.monotonic()
            self._paid_until = max(self._paid_until, now - PACE_BURST)  # an idle connection saves little
            if self._paid_until > now:
                self.server.hub.sleep(self._paid_until - now)
                if self.server.hub.stopping():
                    raise _Dropped
            self._paid_until += len(piece) / cap
            self._send(piece)

    def _json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None,
              head: bool = False) -> None:
        body = json.dumps(payload).encode()
        if self._fault("malformed") is not None:
            body = body[: max(1, len(body) // 2)]
        if self._fault("endless") is not None and not head and body.endswith(b"}"):
            self._endless_json(status, body, headers or {})
            return
        self._start(status, {"Content-Type": "application/json; charset=utf-8",
                             "Content-Length": str(len(body)), **(headers or {})})
        if not head:
            self._body(body)

    def _endless_json(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        """The object's JSON without its closing brace, then a list that never ends, with no length."""
        self.close_connection = True
        self._start(status, {**headers, "Content-Type": "application/json; charset=utf-8", "Connection": "close"})
        self._body(body[:-1] + b', "padding": [')
        filler = b'{"rfilename": "pad.gguf", "size": 1},' * 2000
        while not self.server.hub.stopping():
            self._write(filler)

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
                    self._json(200, hub.list_models(query))
                    return
                if len(seg) >= 4:
                    self._api_repo(seg[2:4], seg[4:], query)
                    return
            self._json(404, {"error": "Sorry, we can't find the page you are looking for."}, head=head)
            return
        if seg[:1] == ["cdn"] and len(seg) >= 4:
            repo = hub.find_repo(seg[1:3])
            if repo is None:
                self._not_found("RepoNotFound", "Repository not found", head=head)
                return
            self._serve_file(repo, "/".join(seg[3:]), head, cdn=True)
            return
        if len(seg) >= 5 and seg[2] == "resolve":
            repo = hub.find_repo(seg[:2])
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
        repo = hub.find_repo(repo_seg)
        if repo is None:
            self._not_found("RepoNotFound", "Repository not found")
            return
        if not rest or (rest[:1] == ["revision"] and len(rest) == 2):
            if rest and rest[1] not in ("main", repo.sha):
                self._not_found("RevisionNotFound", "Invalid rev id: " + rest[1])
                return
            blobs = query.get("blobs", "").lower() in ("1", "true")
            info = repo.info(blobs)
            listing = self._fault("listing")
            if listing is not None:
                info["siblings"] += [{"rfilename": n, "size": 100} for n in listing.names]
            self._json(200, info)
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
        if self._fault("endless") is not None and not head:
            self._endless(status, headers, file, start, length)
            return
        self._start(status, headers)
        if head:
            return
        with file.open("rb") as f:
            _send_range(self, f, start, length)

    def _endless(self, status: int, headers: dict[str, str], file: Path, start: int, length: int) -> None:
        """The file's bytes, then zeros, with no length, until the client or the server hangs up."""
        del headers["Content-Length"]
        self.close_connection = True  # without a length, only the end of the connection ends a body
        self._start(status, {**headers, "Connection": "close"})
        with file.open("rb") as f:
            _send_range(self, f, start, length)
        zeros = bytes(CHUNK)
        while not self.server.hub.stopping():
            self._write(zeros)


def _send_range(handler: Handler, f: BinaryIO, start: int, length: int) -> None:
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
