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
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from huggingface_hub import hf_hub_url

from explorer.errors import describe_error
from explorer.store import parts
from explorer.store.download_types import DownloadError as DownloadError
from explorer.store.download_types import Progress as Progress
from explorer.store.download_types import State as State
from explorer.store.transfer import (
    DEFAULT_CONNECTIONS,
    FileResult,
    Stop,
    Transfer,
    check_repo_id,
    open_binary,
    safe_repo_path,
)
from explorer.units import MIB, format_bytes

DISK_MARGIN = 256 * MIB  # leave this much free after the download
PROGRESS_INTERVAL = 0.1  # at most ~10 progress reports a second per job


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
    partials: list[Path] = field(default_factory=list)  # this job's .incomplete files (and sidecars), once known
    _stop: str | None = None  # "pause" or "cancel", read by the worker between chunks

    @property
    def received(self) -> int:
        return sum(r.received for r in self.results)


def free_disk(path: Path) -> int:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


class DownloadManager:
    """A queue of model downloads run by worker threads, reporting `Progress` to `on_progress`."""

    def __init__(self, *, cache_dir: Path | None = None, on_progress: Callable[[Progress], None] = lambda p: None,
                 parallel: int = 1, retries: int = 5, backoff: float = 1.0, timeout: float = 30,
                 disk_free: Callable[[Path], int] = free_disk,
                 open_file: Callable[[Path, str], BinaryIO] = open_binary,
                 connections: int = DEFAULT_CONNECTIONS) -> None:
        self.cache_dir = cache_dir
        self.connections = connections  # per file (explorer.store.transfer); small files take one
        self.open_file = open_file
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
        """Queue a model; the same model already queued or running is not queued twice (its id comes back).

        Raises DownloadError, before queueing anything, for a malformed repo id or file name.
        """
        check_repo_id(repo)
        if not files:
            raise DownloadError(f"{repo}: no file to download")
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
            try:
                self._run(job)
            except Exception as exc:  # a bug in the bookkeeping itself: the job still ends, the worker lives
                self._end(job, (State.FAILED, describe_error(exc, with_type=True)))
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

        final: tuple[State, str]
        try:  # everything, setup included: any exception ends the job with a message
            transfers = [Transfer(job.repo, f, cache_dir=self.cache_dir, retries=self.retries,
                                  backoff=self.backoff, timeout=self.timeout, stop=stop, on_bytes=on_bytes,
                                  on_phase=on_phase, open_file=self.open_file, connections=self.connections)
                         for f in job.files]
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
        self._end(job, final)

    def _end(self, job: Job, final: tuple[State, str]) -> None:
        with self._lock:
            job.state, job.message = final
            snapshot = self._snapshot(job, 0.0)
        self._emit(snapshot)

    @staticmethod
    def _discard_partials(job: Job) -> str:
        removed = 0
        for part in job.partials:
            if part.exists() or parts.sidecar(part).exists():
                parts.discard(part)  # the prefix and the sidecar of parts beyond it
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
    return parts.bytes_on_disk(t.blob(sha).with_name(sha + ".incomplete"), size)


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
