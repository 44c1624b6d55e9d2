"""One file from the Hub into the Hugging Face cache: resumable, hashed as it is written, verified.

The file streams into `blobs/<sha256>.incomplete` (the name huggingface_hub itself resumes from),
resumes with a Range request after checking for 206, and only after the size and the sha256 match
the Hub's LFS hash is it fsynced, renamed to `blobs/<sha256>`, marked `.verified` and linked from
`snapshots/<commit>/<path>`. `explorer.store.downloads` runs transfers as queued jobs.

A file of at least two pieces (`parts.MIN_PIECE`) comes over `connections` parallel Range requests
(default 8: the Hub's CDN caps what one connection gets). Each piece is appended to its own file in
the sidecar `blobs/<sha256>.parts/` and moved into the prefix in order, hashed on the way; the piece
at the prefix's end goes straight into it (`explorer.store.parts` says why the prefix never has
holes). A dropped or stalled connection resumes its own piece from its last byte; the others go on.
A server that ignores Range (200) makes the transfer fall back to one connection.

How many connections pay is measured, not assumed: a transfer starts with one, times it for
`PROBE_SECONDS` once bytes flow, then opens the rest (on short pieces) and times them all. Unless
they bring at least `PROBE_GAIN` times the one connection's rate (a link that caps each connection,
as the Hub's CDN does), it goes on with one: on a link that does not cap connections, more of them
only cost CPU.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, cast

from huggingface_hub import constants, get_hf_file_metadata, get_session, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HFValidationError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.utils._fixes import WeakFileLock
from huggingface_hub.utils._headers import build_hf_headers
from huggingface_hub.utils._validators import validate_repo_id

from explorer.errors import describe_error
from explorer.gguf.names import unsafe_name
from explorer.store import parts
from explorer.store.download_types import DownloadError
from explorer.units import MIB, format_bytes

CHUNK = MIB
DEFAULT_CONNECTIONS = 8
PART_WRITE = 256 * 1024  # a connection writes (and counts) its bytes in batches this big: one writev each
WRITEBACK_BYTES = 64 * MIB
PROBE_SECONDS = 0.1  # how long one connection, then all of them, are timed before choosing
PROBE_GAIN = 1.25  # all connections must bring this much more than one, or one goes on alone
PROBE_START = 2.0  # at most this long waiting for a probed connection's first bytes
ALONE_WAIT = 2.0  # a lone connection waits at most this long for the parts before its piece to be merged
_SHA256 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}")


def metadata_error(repo: str, filename: str, exc: BaseException) -> str:
    """One line for a HEAD the Hub refused: what is missing, in the person's words where the Hub says."""
    if isinstance(exc, GatedRepoError):
        return (f"{repo} is gated: accept its terms on huggingface.co, then log in (HF_TOKEN) to download "
                f"{filename}")
    if isinstance(exc, RepositoryNotFoundError):
        return f"{repo}: no such model repository on the Hub (check its name; a private one needs a token)"
    if isinstance(exc, RevisionNotFoundError):
        return f"{repo}: the Hub has no such revision of this repository"
    if isinstance(exc, EntryNotFoundError):
        return f"{repo} has no file {filename}"
    return f"{filename}: the Hub did not describe the file ({describe_error(exc)})"


@dataclass(frozen=True)
class FileResult:
    path: Path  # the snapshot path (a link to the verified blob)
    sha256: str
    size: int
    resumed_from: int  # bytes that were already on disk when this run started
    received: int  # bytes received over the network in this run


class Stop(Exception):
    """Raised inside a transfer when the job is paused or cancelled."""


def safe_repo_path(path: str) -> PurePosixPath:
    """A repo file path that cannot leave the folder it is joined to (explorer.gguf.names.unsafe_name)."""
    why = unsafe_name(path)
    if why is not None:
        shown = path if len(path) <= 80 else path[:77] + "..."
        raise DownloadError(f"refusing the file name {shown!r} from the Hub: {why}")
    return PurePosixPath(path)


def check_repo_id(repo: str) -> str:
    """`repo` when it is a valid Hugging Face repo id ("owner/name"), else DownloadError saying so."""
    try:
        validate_repo_id(repo)
    except HFValidationError as exc:
        raise DownloadError(f"not a Hugging Face repo id: {repo!r}") from exc
    return repo


def open_binary(path: Path, mode: str) -> BinaryIO:
    """Open a partial file for writing; the default of `Transfer`'s `open_file` (tests pass a full disk)."""
    return cast(BinaryIO, path.open(mode))


class Transfer:
    """Download one file of one repo into the cache; used by the job runner and the CLI."""

    def __init__(self, repo: str, filename: str, *, cache_dir: Path | None = None, revision: str | None = None,
                 token: str | bool | None = None, retries: int = 5, backoff: float = 1.0, timeout: float = 30,
                 stop: Callable[[], str | None] = lambda: None,
                 on_bytes: Callable[[int], None] = lambda n: None,
                 on_phase: Callable[[str], None] = lambda phase: None,
                 open_file: Callable[[Path, str], BinaryIO] = open_binary,
                 connections: int = DEFAULT_CONNECTIONS) -> None:
        self.repo, self.filename = repo, filename
        self.connections = max(1, connections)
        self.rel = safe_repo_path(filename)
        self.cache = Path(cache_dir or constants.HF_HUB_CACHE)
        self.revision, self.token = revision, token
        self.retries, self.backoff, self.timeout = retries, backoff, timeout
        self.stop, self.on_bytes, self.on_phase = stop, on_bytes, on_phase
        self.open_file = open_file  # how the partial file is opened for writing ("ab" or "wb")
        self.url = hf_hub_url(repo, filename, revision=revision)  # HEAD; the GETs use the commit it names
        self.repo_dir = self.cache / repo_folder_name(repo_id=repo, repo_type="model")
        self._digest = hashlib.sha256()
        self.get_url = self.url
        self.overlong = False  # a response ran past the file's size (cut at the size)
        self.keep = self.connections  # parallel parts: connections numbered this and above stop after their piece

    # -- metadata ---------------------------------------------------------------------------------
    def metadata(self) -> tuple[str, str, int]:
        """(commit, sha256, size) from a HEAD request; retried like the body."""
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                meta = get_hf_file_metadata(self.url, token=self.token)
                break
            except Exception as exc:
                last = exc
                if not _transient(exc) or attempt == self.retries:
                    raise DownloadError(metadata_error(self.repo, self.filename, exc)) from exc
                self._sleep(attempt, exc)
        else:  # pragma: no cover - the loop always breaks or raises
            raise DownloadError(str(last))
        sha = (meta.etag or "").strip('"').removeprefix("W/").strip('"').lower()
        commit = (meta.commit_hash or "").lower()
        if meta.size is None or not _SHA256.fullmatch(sha):
            raise DownloadError(f"{self.filename}: the Hub gave no LFS sha256 for this file, so it cannot be verified")
        if not _COMMIT.fullmatch(commit):  # it becomes a folder name: never trust it as a path
            raise DownloadError(f"{self.filename}: the Hub answered with an invalid commit id {commit[:60]!r}")
        return commit, sha, int(meta.size)

    # -- paths ------------------------------------------------------------------------------------
    def blob(self, sha: str) -> Path:
        return self.repo_dir / "blobs" / sha

    def snapshot(self, commit: str) -> Path:
        target = self.repo_dir / "snapshots" / commit / self.rel
        base = (self.repo_dir / "snapshots" / commit).resolve()
        # The link itself points into blobs/; its folder must stay inside the snapshot (a planted
        # directory link must not redirect the write).
        if not target.parent.resolve().is_relative_to(base):
            raise DownloadError(f"refusing to write {self.filename}: it resolves outside the cache")
        return target

    def is_complete(self, commit: str, sha: str, size: int) -> bool:
        blob = self.blob(sha)
        return blob.exists() and blob.stat().st_size == size and blob.with_name(sha + ".verified").exists() \
            and self.snapshot(commit).exists()

    # -- the transfer -----------------------------------------------------------------------------
    def pin(self, commit: str) -> None:
        """Ask for this exact commit from now on (every shard, every resume): no mixing of versions."""
        self.get_url = hf_hub_url(self.repo, self.filename, revision=commit)

    def run(self, meta: tuple[str, str, int] | None = None) -> FileResult:
        commit, sha, size = meta or self.metadata()
        self.pin(commit)
        lock_dir = self.cache / ".locks" / self.repo_dir.name
        lock_dir.mkdir(parents=True, exist_ok=True)
        # The same lock huggingface_hub takes for this blob: never two writers on one file.
        with WeakFileLock(lock_dir / f"{sha}.lock"):
            return self._run_locked(commit, sha, size)

    def _run_locked(self, commit: str, sha: str, size: int) -> FileResult:
        blob = self.blob(sha)
        part = blob.with_name(sha + ".incomplete")
        if self.is_complete(commit, sha, size):
            parts.discard(part)  # a partial of ours that another client finished: of no use now
            return FileResult(self.snapshot(commit), sha, size, size, 0)
        if blob.exists() and blob.stat().st_size == size:
            # Fetched earlier by huggingface_hub (or without our marker): check it instead of fetching it again.
            self.on_phase("verifying")
            if self._hash_file(blob) == sha:
                self._finish(None, blob, sha, commit)
                return FileResult(self.snapshot(commit), sha, size, size, 0)
            blob.unlink()
        part.parent.mkdir(parents=True, exist_ok=True)
        if (self.connections > 1 and size >= 2 * parts.MIN_PIECE) or parts.sidecar(part).is_dir():
            try:
                return self._run_parts(part, blob, commit, sha, size)
            except _NoRanges:  # the server ignores Range: one connection, which copes with a 200
                prefix = part.stat().st_size if part.exists() else 0
                self.on_bytes(-(parts.bytes_on_disk(part, size) - prefix))  # the parts go
                shutil.rmtree(parts.sidecar(part), ignore_errors=True)
        if part.exists() and part.stat().st_size > size:
            part.unlink()  # longer than the file: not ours to resume
        start = part.stat().st_size if part.exists() else 0
        resumed_from, received = start, 0
        self._digest = hashlib.sha256()
        if start:  # hash what is already there, once, then keep hashing as we write
            self.on_phase("verifying")
            self._hash_file(part, self._digest)
        self.on_phase("downloading")
        attempt = 0
        while start < size:
            self._check_stop()
            try:
                got, restarted = self._fetch(part, start, size)
                received += got
                if restarted:
                    resumed_from = 0
                start = part.stat().st_size
                attempt = 0
            except Stop:
                raise
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    kept = part.stat().st_size if part.exists() else 0  # what is on disk, not what was there before
                    raise DownloadError(f"{self.filename}: the disk is full ({format_bytes(kept)} of "
                                        f"{format_bytes(size)} kept; free some space and resume)") from exc
                raise DownloadError(f"{self.filename}: cannot write {part}: {exc.strerror or exc}") from exc
            except Exception as exc:
                start = part.stat().st_size if part.exists() else 0
                if not _transient(exc) or attempt >= self.retries:
                    raise DownloadError(f"{self.filename}: download failed after {attempt + 1} tries "
                                        f"({describe_error(exc)}); {format_bytes(start)} kept for a resume") from exc
                self._sleep(attempt, exc)
                attempt += 1
        self._check_stop()
        if part.stat().st_size != size:
            raise DownloadError(f"{self.filename}: got {part.stat().st_size} bytes, the Hub says {size}")
        if self._digest.hexdigest() != sha:
            part.unlink()
            why = (" after the server sent more than the file's size (the extra bytes were not written)"
                   if self.overlong else "")
            raise DownloadError(f"{self.filename}: sha256 mismatch (expected {sha[:12]}…, got "
                                f"{self._digest.hexdigest()[:12]}…){why}; the corrupt file was deleted, "
                                "nothing was kept")
        self._finish(part, blob, sha, commit)
        return FileResult(self.snapshot(commit), sha, size, resumed_from, received)

    def _hash_file(self, path: Path, digest: Any = None) -> str:
        """sha256 of a file on disk, stopping promptly on pause or cancel."""
        digest = digest or hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                self._check_stop()
                digest.update(chunk)
        return str(digest.hexdigest())

    def _fetch(self, part: Path, start: int, size: int) -> tuple[int, bool]:
        """One GET from `start`; returns (bytes received, whether the server restarted from 0)."""
        headers = build_hf_headers(token=self.token)
        if start:
            headers["Range"] = f"bytes={start}-"
        got = 0
        restarted = False
        with get_session().stream("GET", self.get_url, headers=headers, follow_redirects=True,
                                  timeout=self.timeout) as resp:
            if resp.status_code == 416 and start == size:
                return 0, False
            if resp.status_code not in (200, 206):
                raise _HTTPStatus(resp.status_code, resp.headers.get("Retry-After"))
            mode = "ab"
            if start and resp.status_code == 200:  # the server ignored Range: start over, honestly
                mode, restarted = "wb", True
                self._digest = hashlib.sha256()
                self.on_bytes(-start)  # what was on disk is being replaced
            elif start and not resp.headers.get("Content-Range", "").startswith(f"bytes {start}-"):
                got_range = resp.headers.get("Content-Range")
                raise _HTTPStatus(resp.status_code, None, f"unexpected Content-Range {got_range!r}")
            pos = start if mode == "ab" else 0  # where the next byte lands in the file
            with self.open_file(part, mode) as fh, _Writeback(fh) as writeback, parts.Hasher(self._digest) as hasher:
                for received in resp.iter_bytes():  # as received: a drop loses nothing already read
                    self._check_stop()
                    # Never past the Hub's size: a body without a length (or a broken one) may not end.
                    chunk = received[: size - pos]
                    if len(chunk) < len(received):
                        self.overlong = True
                    pos += len(chunk)
                    fh.write(chunk)
                    hasher.update(chunk)
                    got += len(chunk)
                    writeback.wrote(len(chunk))
                    self.on_bytes(len(chunk))
                    if pos >= size:
                        break  # the file is complete; anything more the server sends is not part of it
                fh.flush()
                os.fsync(fh.fileno())
        if got == 0:
            raise _EmptyBody(f"HTTP {resp.status_code} with no bytes at offset {start}")
        return got, restarted

    def _finish(self, part: Path | None, blob: Path, sha: str, commit: str) -> None:
        if part is not None:
            os.replace(part, blob)
        parts.discard(blob.with_name(sha + ".incomplete"))  # leftovers (a sidecar, another client's partial)
        blob.with_name(sha + ".verified").touch()
        link = self.snapshot(commit)
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        try:
            link.symlink_to(os.path.relpath(blob, link.parent))
        except OSError:  # no symlinks (some Windows setups): a copy, as huggingface_hub does
            shutil.copy2(blob, link)
        refs = self.repo_dir / "refs"
        refs.mkdir(parents=True, exist_ok=True)
        if self.revision in (None, "main") or (self.revision and len(self.revision) != 40):
            (refs / (self.revision or "main")).write_text(commit)

    def _check_stop(self) -> None:
        why = self.stop()
        if why:
            raise Stop(why)

    def _sleep(self, attempt: int, exc: Exception, check: Callable[[], None] | None = None) -> None:
        wait = self.backoff * (2 ** attempt)
        if isinstance(exc, _HTTPStatus) and exc.retry_after is not None:
            wait = max(wait, exc.retry_after)
        deadline = time.monotonic() + min(wait, 60)
        while time.monotonic() < deadline:  # stay responsive to pause/cancel while backing off
            (check or self._check_stop)()
            time.sleep(0.05)

    # -- parallel parts ---------------------------------------------------------------------------
    def _run_parts(self, part: Path, blob: Path, commit: str, sha: str, size: int) -> FileResult:
        """Fetch the missing ranges over several connections; assemble and hash the prefix in order."""
        store = parts.PartStore(part, size, self.open_file)
        store.recover()
        resumed_from = store.done()
        pieces = parts.Pieces(store.holes(), self.connections)
        self._digest = hashlib.sha256()
        self.on_phase("downloading")
        meter = _Meter(self.on_bytes)
        with store.open_prefix(self._digest):
            assembler = parts.Assembler(store, self._check_stop).start()
            try:
                self._connections(store, pieces, meter)
            finally:
                store.finish_writing()
                assembler.join()
        failed = store.failed
        if failed is not None:
            self._raise_parts_failure(failed, store, size)
        if store.prefix != size or part.stat().st_size != size:
            raise DownloadError(f"{self.filename}: got {store.prefix} bytes, the Hub says {size}")
        if self._digest.hexdigest() != sha:
            parts.discard(part)
            why = (" after the server sent more than was asked for (the extra bytes were not written)"
                   if self.overlong else "")
            raise DownloadError(f"{self.filename}: sha256 mismatch (expected {sha[:12]}…, got "
                                f"{self._digest.hexdigest()[:12]}…){why}; the corrupt file was deleted, "
                                "nothing was kept")
        self._finish(part, blob, sha, commit)
        return FileResult(self.snapshot(commit), sha, size, resumed_from, meter.total)

    def _connections(self, store: parts.PartStore, pieces: parts.Pieces, meter: _Meter) -> None:
        """Run the connections: one first, then all of them while that pays (the module's doc)."""
        most = min(self.connections, pieces.count_hint())
        self.keep = 1 if most > 1 else most  # connections numbered `keep` and above stop after their piece
        workers: list[threading.Thread] = []

        def start(index: int) -> None:
            w = threading.Thread(target=self._worker, args=(store, pieces, meter, index), daemon=True,
                                 name=f"download-part-{index}")
            workers.append(w)
            w.start()

        def running() -> bool:
            return store.failed is None and any(w.is_alive() for w in workers)

        start(0)
        if most > 1:
            one = meter.rate(1, running)
            if one is not None and running() and pieces.left():
                pieces.limit = parts.MIN_PIECE  # short pieces: a connection told to stop stops soon
                self.keep = most
                for i in range(1, most):
                    start(i)
                every = meter.rate(most, running)
                if every is not None and every < PROBE_GAIN * one:
                    self.keep = 1  # the link does not cap a connection: one does it with less work
                    pieces.connections = 1
                pieces.limit = None
            else:
                self.keep = most  # nothing measurable (an error, a stall, the end): all, as without a probe
                for i in range(1, most):
                    start(i)
        for w in workers:
            w.join()

    def _raise_parts_failure(self, failed: BaseException, store: parts.PartStore, size: int) -> None:
        if isinstance(failed, Stop | _NoRanges | DownloadError):
            raise failed
        cause = failed.cause if isinstance(failed, _WriteError) else failed
        if isinstance(cause, OSError):
            if cause.errno == errno.ENOSPC:
                raise DownloadError(f"{self.filename}: the disk is full ({format_bytes(store.done())} of "
                                    f"{format_bytes(size)} kept; free some space and resume)") from failed
            raise DownloadError(f"{self.filename}: cannot write {store.incomplete.parent}: "
                                f"{cause.strerror or cause}") from failed
        raise DownloadError(f"{self.filename}: {describe_error(failed, with_type=True)}; "
                            f"{format_bytes(store.done())} kept for a resume") from failed

    def _worker(self, store: parts.PartStore, pieces: parts.Pieces, meter: _Meter, index: int) -> None:
        try:
            while store.failed is None and index < self.keep and (rng := pieces.take()) is not None:
                if self.keep == 1:  # alone: start where the prefix ends, so every byte goes straight in
                    store.wait_prefix(rng[0], ALONE_WAIT)
                self._piece(store, rng, meter.counter(index))
        except _Aborted:
            pass
        except BaseException as exc:  # the first error stops every connection; the transfer reports it
            store.fail(exc)

    def _piece(self, store: parts.PartStore, rng: tuple[int, int], count: Callable[[int], None]) -> None:
        """Fetch `[start, end)` into its part, resuming from its last byte after a drop or a stall."""
        def check() -> None:
            self._check_stop()
            if store.failed is not None:
                raise _Aborted

        start, end = rng
        piece = parts.Piece(store.claim(start), start, end)
        try:
            with parts.PartWriter(store, piece) as writer:
                attempt = 0
                while piece.pos < end:
                    check()
                    before = piece.pos
                    try:
                        self._fetch_piece(writer, piece, count, check)
                    except (Stop, _Aborted, _NoRanges, _WriteError):
                        raise
                    except Exception as exc:
                        if piece.pos > before:
                            attempt = 0  # it got somewhere: a flaky link is not a dead one
                        if not _transient(exc) or attempt >= self.retries:
                            raise DownloadError(
                                f"{self.filename}: download failed after {attempt + 1} tries "
                                f"({describe_error(exc)}); {format_bytes(store.done())} kept for a resume") from exc
                        self._sleep(attempt, exc, check)
                        attempt += 1
        except OSError as exc:  # opening or closing the part
            raise _WriteError(exc) from exc
        finally:
            store.release(piece.part)

    def _fetch_piece(self, writer: parts.PartWriter, piece: parts.Piece, count: Callable[[int], None],
                     check: Callable[[], None]) -> None:
        headers = build_hf_headers(token=self.token)
        headers["Range"] = f"bytes={piece.pos}-{piece.end - 1}"
        got = 0
        with get_session().stream("GET", self.get_url, headers=headers, follow_redirects=True,
                                  timeout=self.timeout) as resp:
            if resp.status_code == 200:
                raise _NoRanges
            if resp.status_code != 206:
                raise _HTTPStatus(resp.status_code, resp.headers.get("Retry-After"))
            if not resp.headers.get("Content-Range", "").startswith(f"bytes {piece.pos}-"):
                got_range = resp.headers.get("Content-Range")
                raise _HTTPStatus(resp.status_code, None, f"unexpected Content-Range {got_range!r}")
            # Chunks as received, written in batches of PART_WRITE with one writev (no copy in Python),
            # and always on the way out: bytes received before a drop are good bytes.
            batch: list[bytes] = []
            pending = 0
            try:
                for received in resp.iter_bytes():
                    check()
                    room = piece.end - piece.pos - pending  # never past what was asked for
                    if len(received) > room:
                        received = received[:room]
                        self.overlong = True
                    if received:
                        batch.append(received)
                        pending += len(received)
                    if pending >= PART_WRITE or len(batch) >= parts.MAX_IOV or pending == piece.end - piece.pos:
                        got += self._flush_part(writer, batch, pending, count)
                        batch, pending = [], 0
                        if piece.pos >= piece.end:
                            break
            finally:
                if batch:
                    got += self._flush_part(writer, batch, pending, count)
        if got == 0:
            raise _EmptyBody(f"HTTP {resp.status_code} with no bytes at offset {piece.pos}")

    @staticmethod
    def _flush_part(writer: parts.PartWriter, batch: list[bytes], n: int, count: Callable[[int], None]) -> int:
        try:
            writer.write(batch, n)
        except OSError as exc:
            raise _WriteError(exc) from exc
        count(n)
        return n


class _Meter:
    """Bytes received by all connections: reported to `on_bytes` (one thread at a time), timed for the probe."""

    def __init__(self, on_bytes: Callable[[int], None]) -> None:
        self._on_bytes = on_bytes
        self._lock = threading.Lock()
        self.total = 0
        self._flowing: set[int] = set()  # connections that have received bytes

    def counter(self, index: int) -> Callable[[int], None]:
        def count(n: int) -> None:
            with self._lock:
                self.total += n
                self._flowing.add(index)
                self._on_bytes(n)
        return count

    def rate(self, connections: int, running: Callable[[], bool]) -> float | None:
        """Bytes a second over PROBE_SECONDS, timed once the first `connections` have bytes flowing; None
        if they do not start within PROBE_START or the transfer ends first."""
        deadline = time.monotonic() + PROBE_START
        while len({i for i in self._flowing if i < connections}) < connections:
            if not running() or time.monotonic() > deadline:
                return None
            time.sleep(0.005)
        t0, b0 = time.monotonic(), self.total
        while time.monotonic() - t0 < PROBE_SECONDS:
            if not running():
                return None
            time.sleep(0.01)
        return (self.total - b0) / max(time.monotonic() - t0, 1e-6)


class _HTTPStatus(Exception):
    def __init__(self, status: int, retry_after: str | None, text: str = "") -> None:
        super().__init__(text or f"HTTP {status}")
        self.status = status
        self.retry_after = float(retry_after) if retry_after and retry_after.isdigit() else None


class _NoRanges(Exception):
    """The server answered a Range request with the whole file (200): parts cannot work."""


class _Aborted(Exception):
    """Another connection (or the assembler) failed: this one stops."""


class _WriteError(Exception):
    """Writing a part failed (the disk, not the network)."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _EmptyBody(Exception):
    """A 200 or 206 that carried no byte: retried (counted), so that it cannot loop forever."""


def _transient(exc: BaseException) -> bool:
    """Worth another try: network trouble, timeouts, 5xx, 429, an empty body."""
    if isinstance(exc, _EmptyBody):
        return True
    if isinstance(exc, _HTTPStatus):
        return exc.status >= 500 or exc.status == 429
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        return status >= 500 or status == 429
    name = type(exc).__name__
    return any(k in name for k in ("Timeout", "Network", "Connect", "Read", "Protocol", "Transport", "Remote"))


class _Writeback:
    """Flush a file being downloaded to disk in the background, every WRITEBACK_BYTES.

    With plenty of RAM the kernel keeps a whole multi-GB download as dirty pages until the final
    fsync, which then stalls for seconds (40% of the time of a 512 MiB download on a disk doing
    400 MB/s). A helper thread calls fdatasync while the download goes on, so the disk writes
    overlap the network and the hashing, and the last fsync has little left to do.
    """

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self._since = 0
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Writeback:
        return self

    def wrote(self, n: int) -> None:
        self._since += n
        if self._since >= WRITEBACK_BYTES and (self._thread is None or not self._thread.is_alive()):
            self._since = 0
            self._fh.flush()
            fd = self._fh.fileno()
            self._thread = threading.Thread(target=_quiet_fdatasync, args=(fd,), daemon=True,
                                            name="download-writeback")
            self._thread.start()

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._thread.join()  # before the file is closed: its descriptor must stay valid


def _quiet_fdatasync(fd: int) -> None:
    with contextlib.suppress(OSError, AttributeError):  # the final fsync reports real errors
        os.fdatasync(fd)
