"""Verified, resumable downloads from the Hub into the Hugging Face cache layout.

One job is one model: a single GGUF or every shard of a split one. Each file streams into
`blobs/<sha256>.incomplete` (the name huggingface_hub itself resumes from, so either tool picks up
the other's partial file), resumes with a Range request after checking for 206, hashes as it
writes, and only after the size and the sha256 match the Hub's LFS hash is it fsynced, renamed to
`blobs/<sha256>`, marked `.verified` and linked from `snapshots/<commit>/<path>`. A model is ready
only when all its shards are. Nothing that failed its check is ever marked complete.

Everything here runs on worker threads and reports through plain callbacks; the UI turns them into
signals. Pause keeps the partial file; cancel deletes it; a corrupt file is deleted (its bytes are
of no use to a resume).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import re
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from huggingface_hub import constants, get_hf_file_metadata, get_session, hf_hub_url
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.utils._fixes import WeakFileLock
from huggingface_hub.utils._headers import build_hf_headers

from explorer.errors import describe_error
from explorer.store.download_types import DownloadError as DownloadError
from explorer.store.download_types import Progress as Progress
from explorer.store.download_types import State as State
from explorer.units import format_bytes

CHUNK = 1 << 20
WRITEBACK_BYTES = 64 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}")
DISK_MARGIN = 256 << 20  # leave this much free after the download
PROGRESS_INTERVAL = 0.1  # at most ~10 progress reports a second per job


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
    """A repo file path that cannot leave the folder it is joined to (no '..', no absolute path)."""
    p = PurePosixPath(path)
    if not path or "\\" in path or "\x00" in path or p.is_absolute() or any(part in ("..", ".", "") for part in
                                                                            path.split("/")):
        raise DownloadError(f"refusing the file name {path!r} from the Hub: it would leave the download folder")
    return p


class Transfer:
    """Download one file of one repo into the cache; used by the job runner and the CLI."""

    def __init__(self, repo: str, filename: str, *, cache_dir: Path | None = None, revision: str | None = None,
                 token: str | bool | None = None, retries: int = 5, backoff: float = 1.0, timeout: float = 30,
                 stop: Callable[[], str | None] = lambda: None,
                 on_bytes: Callable[[int], None] = lambda n: None,
                 on_phase: Callable[[str], None] = lambda phase: None) -> None:
        self.repo, self.filename = repo, filename
        self.rel = safe_repo_path(filename)
        self.cache = Path(cache_dir or constants.HF_HUB_CACHE)
        self.revision, self.token = revision, token
        self.retries, self.backoff, self.timeout = retries, backoff, timeout
        self.stop, self.on_bytes, self.on_phase = stop, on_bytes, on_phase
        self.url = hf_hub_url(repo, filename, revision=revision)  # HEAD; the GETs use the commit it names
        self.repo_dir = self.cache / repo_folder_name(repo_id=repo, repo_type="model")
        self._digest = hashlib.sha256()
        self.get_url = self.url

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
                    raise DownloadError(f"{self.filename}: the Hub did not describe the file "
                                        f"({describe_error(exc)})") from exc
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
        if self.is_complete(commit, sha, size):
            return FileResult(self.snapshot(commit), sha, size, size, 0)
        blob = self.blob(sha)
        if blob.exists() and blob.stat().st_size == size:
            # Fetched earlier by huggingface_hub (or without our marker): check it instead of fetching it again.
            self.on_phase("verifying")
            if self._hash_file(blob) == sha:
                self._finish(None, blob, sha, commit)
                return FileResult(self.snapshot(commit), sha, size, size, 0)
            blob.unlink()
        part = blob.with_name(sha + ".incomplete")
        part.parent.mkdir(parents=True, exist_ok=True)
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
                    raise DownloadError(f"{self.filename}: the disk is full ({format_bytes(start)} of "
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
            raise DownloadError(f"{self.filename}: sha256 mismatch (expected {sha[:12]}…, got "
                                f"{self._digest.hexdigest()[:12]}…); the corrupt file was deleted, nothing was kept")
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
            with part.open(mode) as fh, _Writeback(fh) as writeback, _Hasher(self._digest) as hasher:
                for chunk in resp.iter_bytes():  # as received: a drop loses nothing already read
                    self._check_stop()
                    fh.write(chunk)
                    hasher.update(chunk)
                    got += len(chunk)
                    writeback.wrote(len(chunk))
                    self.on_bytes(len(chunk))
                fh.flush()
                os.fsync(fh.fileno())
        return got, restarted

    def _finish(self, part: Path | None, blob: Path, sha: str, commit: str) -> None:
        if part is not None:
            os.replace(part, blob)
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

    def _sleep(self, attempt: int, exc: Exception) -> None:
        wait = self.backoff * (2 ** attempt)
        if isinstance(exc, _HTTPStatus) and exc.retry_after is not None:
            wait = max(wait, exc.retry_after)
        deadline = time.monotonic() + min(wait, 60)
        while time.monotonic() < deadline:  # stay responsive to pause/cancel while backing off
            self._check_stop()
            time.sleep(0.05)


class _HTTPStatus(Exception):
    def __init__(self, status: int, retry_after: str | None, text: str = "") -> None:
        super().__init__(text or f"HTTP {status}")
        self.status = status
        self.retry_after = float(retry_after) if retry_after and retry_after.isdigit() else None


def _transient(exc: BaseException) -> bool:
    """Worth another try: network trouble, timeouts, 5xx, 429."""
    if isinstance(exc, _HTTPStatus):
        return exc.status >= 500 or exc.status == 429
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        return status >= 500 or status == 429
    name = type(exc).__name__
    return any(k in name for k in ("Timeout", "Network", "Connect", "Read", "Protocol", "Transport", "Remote"))


# ------------------------------------------------------------------------------------------- jobs
@dataclass
class Job:
    id: int
    repo: str
    files: tuple[str, ...]  # every shard, in order
    state: State = State.QUEUED
    done: int = 0
    total: int = 0
    message: str = ""
    results: list[FileResult] = field(default_factory=list)
    partials: list[Path] = field(default_factory=list)  # this job's .incomplete files, once known
    _stop: str | None = None  # "pause" or "cancel", read by the worker between chunks

    @property
    def received(self) -> int:
        return sum(r.received for r in self.results)


def free_disk(path: Path) -> int:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


class _Hasher:
    """Feed a sha256 on a helper thread, so hashing overlaps receiving and writing.

    hashlib releases the GIL for large updates, as do socket reads and file writes: with the hash on
    its own thread a download runs at the pace of the slowest of the three instead of their sum.
    The digest is complete when the `with` block ends (also when it ends with an exception).
    """

    def __init__(self, digest: Any) -> None:
        self._digest = digest
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=64)
        self._thread = threading.Thread(target=self._run, daemon=True, name="download-hash")

    def __enter__(self) -> _Hasher:
        self._thread.start()
        return self

    def update(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._digest.update(chunk)

    def __exit__(self, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join()


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


class DownloadManager:
    """A queue of model downloads run by worker threads, reporting `Progress` to `on_progress`."""

    def __init__(self, *, cache_dir: Path | None = None, on_progress: Callable[[Progress], None] = lambda p: None,
                 parallel: int = 1, retries: int = 5, backoff: float = 1.0, timeout: float = 30,
                 disk_free: Callable[[Path], int] = free_disk) -> None:
        self.cache_dir = cache_dir
        self.on_progress = on_progress
        self.retries, self.backoff, self.timeout = retries, backoff, timeout
        self.disk_free = disk_free
        self._jobs: dict[int, Job] = {}
        self._queue: list[int] = []
        self._lock = threading.Condition()
        self._next = 1
        self._closed = False
        self._workers = [threading.Thread(target=self._work, daemon=True, name=f"download-{i}")
                         for i in range(parallel)]
        for t in self._workers:
            t.start()

    # -- public API (any thread) ------------------------------------------------------------------
    def enqueue(self, repo: str, files: Sequence[str]) -> int:
        """Queue a model; the same model already queued or running is not queued twice (its id comes back)."""
        for f in files:
            safe_repo_path(f)
        with self._lock:
            if self._closed:
                raise DownloadError("the download manager is closed")
            for other in self._jobs.values():
                if (other.repo, other.files) == (repo, tuple(files)) and other.state in (
                        State.QUEUED, State.RUNNING, State.VERIFYING):
                    return other.id
            job = Job(self._next, repo, tuple(files))
            self._next += 1
            self._jobs[job.id] = job
            self._queue.append(job.id)
            self._lock.notify_all()
            snapshot = self._snapshot(job, 0.0)
        self._emit(snapshot)
        return job.id

    def pause(self, job_id: int) -> None:
        self._signal(job_id, "pause")

    def cancel(self, job_id: int) -> None:
        self._signal(job_id, "cancel")

    def resume(self, job_id: int) -> None:
        """Queue a paused or failed job again; bytes already on disk are not fetched again."""
        with self._lock:
            job = self._jobs[job_id]
            if self._closed or job.state not in (State.PAUSED, State.FAILED):
                return
            job.state, job.message, job._stop = State.QUEUED, "", None
            job.results = []
            self._queue.append(job_id)
            self._lock.notify_all()
            snapshot = self._snapshot(job, 0.0)
        self._emit(snapshot)

    retry = resume

    def job(self, job_id: int) -> Job:
        with self._lock:
            return replace(self._jobs[job_id])

    def wait(self, job_id: int, timeout: float | None = None) -> Job:
        """Block until the job stops running (for the CLI and tests)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._jobs[job_id].state in (State.QUEUED, State.RUNNING, State.VERIFYING):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._lock.wait(left)
            return replace(self._jobs[job_id])

    def close(self, timeout: float = 5) -> None:
        """Pause everything (partial files stay for a resume) and stop the workers.

        Queued jobs become paused. Running ones stop at their next chunk; a worker blocked in a
        network read is left to finish on its own (it is a daemon thread) after `timeout` seconds.
        """
        with self._lock:
            self._closed = True
            for job_id in self._queue:
                self._jobs[job_id].state = State.PAUSED
            self._queue.clear()
            for job in self._jobs.values():
                if job.state in (State.RUNNING, State.VERIFYING):
                    job._stop = "pause"
            self._lock.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._workers:
            t.join(timeout=max(0.0, deadline - time.monotonic()))

    # -- internals --------------------------------------------------------------------------------
    def _signal(self, job_id: int, what: str) -> None:
        with self._lock:
            job = self._jobs[job_id]
            if job.state is State.QUEUED:
                self._queue.remove(job_id)
                job.state = State.PAUSED if what == "pause" else State.CANCELLED
                if what == "cancel":
                    job.message = self._discard_partials(job)
                self._lock.notify_all()
            elif job.state in (State.RUNNING, State.VERIFYING):
                job._stop = what
                return  # the worker reports when it has stopped
            elif job.state in (State.PAUSED, State.FAILED) and what == "cancel":
                job.state = State.CANCELLED
                job.message = self._discard_partials(job)
                self._lock.notify_all()
            else:
                return
            snapshot = self._snapshot(job, 0.0)
        self._emit(snapshot)

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                job = self._jobs[self._queue.pop(0)]
                job.state = State.RUNNING
            self._run(job)
            with self._lock:
                self._lock.notify_all()

    def _run(self, job: Job) -> None:
        speed = _Speed()
        last = [0.0]

        def on_bytes(n: int) -> None:
            job.done += n
            speed.add(n)
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL:
                last[0] = now
                self._report(job, speed.rate())

        def stop() -> str | None:
            return job._stop

        def on_phase(phase: str) -> None:
            job.state = State.VERIFYING if phase == "verifying" else State.RUNNING
            self._report(job, speed.rate())

        transfers = [Transfer(job.repo, f, cache_dir=self.cache_dir, retries=self.retries, backoff=self.backoff,
                              timeout=self.timeout, stop=stop, on_bytes=on_bytes, on_phase=on_phase)
                     for f in job.files]
        final: tuple[State, str]
        try:
            first = transfers[0].metadata()
            for t in transfers[1:]:  # every shard from the commit the first one named
                t.url = hf_hub_url(t.repo, t.filename, revision=first[0])
            metas = [first] + [t.metadata() for t in transfers[1:]]
            for t, (_c, sha, _s) in zip(transfers, metas, strict=True):
                part = t.blob(sha).with_name(sha + ".incomplete")
                if part not in job.partials:
                    job.partials.append(part)
            job.total = sum(size for _c, _s, size in metas)
            on_disk = sum(_bytes_on_disk(t, m) for t, m in zip(transfers, metas, strict=True))
            job.done = on_disk
            need = job.total - on_disk
            cache = transfers[0].repo_dir
            free = self.disk_free(cache)
            if need + DISK_MARGIN > free:
                raise DownloadError(f"not enough disk space: {format_bytes(need)} still to download "
                                    f"({len(job.files)} file{'s' if len(job.files) > 1 else ''}), "
                                    f"{format_bytes(free)} free in {cache.parent}")
            for t, meta in zip(transfers, metas, strict=True):
                self._report(job, speed.rate(), t.filename)
                job.results.append(t.run(meta))  # bytes are counted as they arrive (on_bytes)
            job.done = job.total
            final = (State.DONE, f"{len(job.files)} file(s) verified")
        except Stop as stop_exc:
            if str(stop_exc) == "cancel":
                final = (State.CANCELLED, self._discard_partials(job))
            else:
                final = (State.PAUSED, "paused; resume continues where it stopped")
        except DownloadError as exc:
            final = (State.FAILED, str(exc))
        except Exception as exc:  # anything unexpected still ends as a readable failure
            final = (State.FAILED, describe_error(exc, with_type=True))
        with self._lock:
            job.state, job.message = final
            snapshot = self._snapshot(job, 0.0)
        self._emit(snapshot)

    @staticmethod
    def _discard_partials(job: Job) -> str:
        removed = 0
        for part in job.partials:
            if part.exists():
                part.unlink(missing_ok=True)
                removed += 1
        return f"cancelled; {removed} partial file{'s' if removed != 1 else ''} deleted"

    @staticmethod
    def _snapshot(job: Job, speed: float, file: str = "") -> Progress:
        return Progress(job.id, job.state, job.done, job.total, speed, file, job.message)

    def _emit(self, progress: Progress) -> None:
        with contextlib.suppress(Exception):  # a broken listener must not kill a download
            self.on_progress(progress)

    def _report(self, job: Job, speed: float, file: str = "") -> None:
        self._emit(self._snapshot(job, speed, file))


def _bytes_on_disk(t: Transfer, meta: tuple[str, str, int]) -> int:
    commit, sha, size = meta
    if t.is_complete(commit, sha, size):
        return size
    part = t.blob(sha).with_name(sha + ".incomplete")
    return min(part.stat().st_size, size) if part.exists() else 0


class _Speed:
    """Bytes per second over a sliding window of a few seconds."""

    def __init__(self, window: float = 3.0) -> None:
        self.window = window
        self.samples: list[tuple[float, int]] = []

    def add(self, n: int) -> None:
        now = time.monotonic()
        self.samples.append((now, n))
        while self.samples and now - self.samples[0][0] > self.window:
            self.samples.pop(0)

    def rate(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        span = self.samples[-1][0] - self.samples[0][0]
        return sum(n for _t, n in self.samples[1:]) / span if span > 0 else 0.0
