"""A partial download fetched in parts: the contiguous prefix plus a sidecar of done ranges beyond it.

Several connections fetch different ranges of one file at once, but `blobs/<sha>.incomplete` must stay
what huggingface_hub expects of it: the file's first bytes and nothing else, because a client that
resumes it appends from its size (releases before 2.5; 2.5.0 downloads into a fresh temporary file
instead and ignores it). A file with holes would look longer than what is really there. So:

- `<sha>.incomplete` holds only the contiguous done prefix `[0, P)`; it is only ever appended to, so
  it is a valid prefix at every instant, also after a kill.
- `<sha>.parts/<start>` (the sidecar) holds the bytes of one range beyond the prefix, appended as
  they arrive: the name is the range's offset in the file, the size is how many bytes of it are done.
  The sidecar is its own record: no index to fall out of step with the data, and a kill at any
  point leaves only done bytes (a half-finished write is still the range's next bytes).
- The connection whose bytes land exactly at P (the head) appends them to the prefix itself, and they
  are hashed from memory as they arrive: in-order bytes are written once and never read back. With
  one connection (a link that does not cap connections) every byte goes this way.
- The `Assembler` (one thread) moves bytes from the part that holds offset P to the end of the prefix
  and feeds them to the sha256 on the way: the hash is computed in order, as the prefix grows, and
  each byte is read back once (from the page cache: parts are merged seconds after they are written
  and deleted once merged, so their dirty pages mostly never reach the disk). It sleeps until the
  head part grows: writes beyond it do not wake it.
- The sha256 runs on a thread of its own (`Hasher`), fed in file order by whoever appends to the
  prefix, so hashing overlaps receiving and writing.

The cost is one extra copy of the bytes that arrive out of order (in the kernel's page cache). The
alternatives were worse: writing parts into `.incomplete` at their offsets makes it sparse and longer
than its done prefix (a huggingface_hub resume would then append after a hole), and truncating it to
the prefix on exit does not survive a kill. This module does no network I/O: `explorer.store.transfer`
fetches the pieces that `Pieces` hands out and writes them through `PartWriter`.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from explorer.units import MIB

COPY_CHUNK = 4 * MIB
MIN_PIECE = 4 * MIB  # no piece smaller (but a file's last bytes); below 2 pieces a file takes one connection
MAX_PIECE = 64 * MIB
WRITEBACK_BYTES = 64 * MIB
MAX_IOV = 256  # buffers per writev (Linux allows 1024)


def sidecar(incomplete: Path) -> Path:
    """The folder of parts beside `<sha>.incomplete`: `<sha>.parts`."""
    return incomplete.with_name(incomplete.name.removesuffix(".incomplete") + ".parts")


def discard(incomplete: Path) -> None:
    """Delete a partial download: its prefix and its sidecar."""
    incomplete.unlink(missing_ok=True)
    shutil.rmtree(sidecar(incomplete), ignore_errors=True)


def scan(incomplete: Path, size: int) -> tuple[int, dict[int, int]]:
    """(prefix length, {part start: done bytes}) of what is on disk, without touching anything."""
    prefix = incomplete.stat().st_size if incomplete.exists() else 0
    parts: dict[int, int] = {}
    folder = sidecar(incomplete)
    if folder.is_dir():
        for f in folder.iterdir():
            if f.name.isdigit() and f.is_file():
                parts[int(f.name)] = f.stat().st_size
    return prefix, parts


def bytes_on_disk(incomplete: Path, size: int) -> int:
    """Done bytes of a partial download (prefix and parts, overlaps counted once), at most `size`."""
    prefix, parts = scan(incomplete, size)
    if prefix > size:
        return 0
    ranges = [(0, prefix)] + [(s, min(s + n, size)) for s, n in parts.items() if s < size]
    return sum(b - a for a, b in _union(ranges))


def _union(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


@dataclass
class Part:
    """One file of the sidecar: bytes `[start, start + done)` of the download.

    `direct`: its writer reached the end of the prefix and appends there now; the part's file holds
    only its first bytes (all inside the prefix), so no other piece may append to it.
    """

    start: int
    done: int
    active: bool = False  # a writer is appending to it
    direct: bool = False


@dataclass
class Piece:
    """A range to fetch, `[pos, end)`, appended to the part that starts at `part`."""

    part: int
    pos: int
    end: int


def write_all(fh: BinaryIO, chunks: Sequence[bytes | memoryview]) -> None:
    """Write the chunks in order: one writev per batch for a real file, `write` for a stand-in (tests)."""
    if type(fh) not in (io.BufferedWriter, io.FileIO):
        for chunk in chunks:
            fh.write(chunk)
        fh.flush()
        return
    fh.flush()  # nothing is buffered (only writev writes), but never reorder around what might be
    fd = fh.fileno()
    pending = list(chunks)
    while pending:
        n = os.writev(fd, pending[:MAX_IOV])
        while pending and n >= len(pending[0]):
            n -= len(pending[0])
            pending.pop(0)
        if n:  # a short write (a signal, a disk filling up): the rest of that chunk next
            pending[0] = memoryview(pending[0])[n:]


class Hasher:
    """Feed a sha256 on a helper thread, so hashing overlaps receiving and writing.

    hashlib releases the GIL for large updates, as do socket reads and file writes: with the hash on
    its own thread a download runs at the pace of the slowest of the three instead of their sum.
    `update` takes a chunk or a list of them (never modified afterwards), in file order. The digest is
    complete after `close` (also when the transfer ends with an exception).
    """

    def __init__(self, digest: Any) -> None:
        self.digest = digest
        self._queue: queue.Queue[bytes | memoryview | Sequence[bytes | memoryview] | None] = queue.Queue(maxsize=32)
        self._thread = threading.Thread(target=self._run, daemon=True, name="download-hash")
        self._thread.start()

    def __enter__(self) -> Hasher:
        return self

    def update(self, chunk: bytes | memoryview | Sequence[bytes | memoryview]) -> None:
        self._queue.put(chunk)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if isinstance(item, bytes | memoryview):
                self.digest.update(item)
            else:
                for chunk in item:
                    self.digest.update(chunk)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def __exit__(self, *exc: object) -> None:
        self.close()


class PartStore:
    """The prefix and the sidecar of one download, shared by the writers and the assembler (thread-safe).

    `cond` guards the bookkeeping (parts, prefix length); `append_lock` is held by whoever appends to
    the prefix file (the assembler or the head writer), so bytes reach the file and the hash in order.
    """

    def __init__(self, incomplete: Path, size: int,
                 open_file: Callable[[Path, str], BinaryIO]) -> None:
        self.incomplete, self.size, self.open_file = incomplete, size, open_file
        self.folder = sidecar(incomplete)
        self.cond = threading.Condition()
        self.append_lock = threading.Lock()
        self.parts: dict[int, Part] = {}
        self.prefix = 0
        self.failed: BaseException | None = None  # the first error of any thread; everyone stops on it
        self.writers_done = False  # no more bytes will come: the assembler stops when it runs out
        self.direct_ok = False  # the old prefix is hashed: the head writer may append to the prefix
        self.out: BinaryIO | None = None  # the prefix, open for appending (open_prefix)
        self.hasher: Hasher | None = None
        self._unsynced = 0
        self._syncing: threading.Thread | None = None

    def recover(self) -> None:
        """Read what is on disk; drop what cannot be ours (longer than the file, already in the prefix)."""
        if self.incomplete.exists() and self.incomplete.stat().st_size > self.size:
            self.incomplete.unlink()  # longer than the file: not ours to resume
        prefix, parts = scan(self.incomplete, self.size)
        self.prefix = prefix
        for start, done in parts.items():
            path = self.folder / str(start)
            if start + done > self.size or start + done <= prefix or done == 0:
                path.unlink(missing_ok=True)  # past the end (not ours), merged before a kill, or empty
            else:
                self.parts[start] = Part(start, done)
        if self.folder.is_dir():
            for f in self.folder.iterdir():  # anything else in the sidecar is not ours
                if not (f.name.isdigit() and int(f.name) in self.parts):
                    if f.is_dir():
                        shutil.rmtree(f, ignore_errors=True)
                    else:
                        f.unlink(missing_ok=True)

    @contextlib.contextmanager
    def open_prefix(self, digest: Any) -> Any:
        """Open the prefix for appending and start its hasher; on exit the digest is complete and the
        file closed (flushed, not synced: the caller fsyncs a finished file)."""
        self.incomplete.parent.mkdir(parents=True, exist_ok=True)
        opened = self.open_file(self.incomplete, "ab")
        self.out = opened.__enter__()
        self.hasher = Hasher(digest)
        try:
            yield self
        finally:
            try:
                self.hasher.close()
                if self._syncing is not None:
                    self._syncing.join()  # before the file is closed: its descriptor must stay valid
            finally:
                opened.__exit__(None, None, None)

    def appended(self, n: int) -> None:
        """Count bytes appended to the prefix (caller holds `append_lock`); every WRITEBACK_BYTES a helper
        thread fdatasyncs it, so the disk writes overlap the download and the final fsync has little left.
        Without it a large download stays dirty in RAM until that fsync, which then stalls for seconds."""
        self._unsynced += n
        if self._unsynced >= WRITEBACK_BYTES and (self._syncing is None or not self._syncing.is_alive()):
            self._unsynced = 0
            assert self.out is not None
            with contextlib.suppress(AttributeError, io.UnsupportedOperation):  # a stand-in file (tests)
                fd = self.out.fileno()
                self._syncing = threading.Thread(target=_quiet_fdatasync, args=(fd,), daemon=True,
                                                 name="download-writeback")
                self._syncing.start()

    def done(self) -> int:
        with self.cond:
            ranges = [(0, self.prefix)] + [(p.start, p.start + p.done) for p in self.parts.values()]
        return sum(b - a for a, b in _union(ranges))

    def holes(self) -> list[tuple[int, int]]:
        """The ranges still to fetch, in order."""
        with self.cond:
            ranges = [(0, self.prefix)] + [(p.start, p.start + p.done) for p in self.parts.values()]
        out, pos = [], 0
        for a, b in _union(ranges):
            if a > pos:
                out.append((pos, a))
            pos = max(pos, b)
        if pos < self.size:
            out.append((pos, self.size))
        return out

    def fail(self, exc: BaseException) -> None:
        with self.cond:
            if self.failed is None:
                self.failed = exc
            self.cond.notify_all()

    def claim(self, pos: int) -> int:
        """The part a piece starting at `pos` appends to: one that ends there, or a new one."""
        with self.cond:
            for p in self.parts.values():
                if not p.active and not p.direct and p.start + p.done == pos:
                    p.active = True
                    return p.start
            self.parts[pos] = Part(pos, 0, active=True)
            return pos

    def wrote(self, start: int, n: int) -> None:
        with self.cond:
            part = self.parts[start]
            part.done += n
            if part.start <= self.prefix:  # the head part grew: the assembler has bytes to move
                self.cond.notify_all()

    def finish_writing(self) -> None:
        with self.cond:
            self.writers_done = True
            self.cond.notify_all()

    def release(self, start: int) -> None:
        with self.cond:
            part = self.parts.get(start)
            if part is not None:
                part.active = False
            self.cond.notify_all()

    def wait_prefix(self, pos: int, timeout: float) -> None:
        """Wait (at most `timeout`) until the prefix reaches `pos`: a piece that starts there then goes
        straight into the prefix instead of through a part. Gives up on a failure, or when nothing is
        left to merge before `pos` and no writer is working on it."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.prefix < pos and self.failed is None and time.monotonic() < deadline:
                if not any(p.active or p.start <= self.prefix < p.start + p.done for p in self.parts.values()):
                    return  # a hole before `pos` that no one fills now: waiting would not end it
                self.cond.wait(min(0.05, max(0.0, deadline - time.monotonic())))

    def append_direct(self, part: Part, chunks: Sequence[bytes | memoryview], n: int) -> bool:
        """Append a head writer's bytes to the prefix (and its hash) if they start exactly at its end."""
        if not self.direct_ok or part.start + part.done != self.prefix:  # a cheap look first, no lock
            return False
        with self.append_lock:
            with self.cond:
                if not self.direct_ok or part.start + part.done != self.prefix or self.failed is not None:
                    return False
            assert self.out is not None and self.hasher is not None
            write_all(self.out, chunks)
            self.hasher.update(chunks)
            self.appended(n)
            with self.cond:
                part.direct = True
                part.done += n
                self.prefix += n
                if self.prefix >= self.size:
                    self.cond.notify_all()
        return True


class PartWriter:
    """Append a piece's bytes to its part file, or straight to the prefix once it is the head (a context
    manager; the part's file stays open between writes)."""

    def __init__(self, store: PartStore, piece: Piece) -> None:
        self.store, self.piece = store, piece
        store.folder.mkdir(parents=True, exist_ok=True)
        self.path = store.folder / str(piece.part)
        self.part = store.parts[piece.part]
        self._opened = store.open_file(self.path, "ab")
        self.fh = self._opened.__enter__()
        self._in_file = False  # wrote to the part's file in this run (it is synced if left unfinished)

    def __enter__(self) -> PartWriter:
        return self

    def write(self, chunks: Sequence[bytes | memoryview], n: int) -> None:
        """`n` bytes in `chunks`, the piece's next ones. A raw write: in the kernel's page cache at once, so
        visible to the assembler and kept if this process is killed; the part's size is its record."""
        if not self.store.append_direct(self.part, chunks, n):
            write_all(self.fh, chunks)
            self._in_file = True
            self.store.wrote(self.piece.part, n)
        self.piece.pos += n

    def __exit__(self, *exc: object) -> None:
        try:
            if self._in_file and self.piece.pos < self.piece.end:  # left for a resume: make it last
                with contextlib.suppress(OSError):
                    self.fh.flush()
                    os.fsync(self.fh.fileno())
        finally:
            self._opened.__exit__(None, None, None)


class Pieces:
    """Hands out the ranges still to fetch, lowest first, in shrinking pieces ("guided" scheduling).

    A piece is about the remaining bytes / (2 x connections), within [MIN_PIECE, MAX_PIECE]: large
    pieces early (few requests), small ones at the end, so the connections finish together without
    splitting a range already requested (which would make the Hub send bytes twice). `limit` caps a
    piece while the transfer is still choosing how many connections to keep (a connection told to
    stop then stops soon); `connections` may change as it chooses.
    """

    def __init__(self, holes: list[tuple[int, int]], connections: int) -> None:
        self._holes = list(holes)
        self.connections = max(1, connections)
        self.limit: int | None = None
        self._lock = threading.Lock()

    def left(self) -> int:
        with self._lock:
            return sum(b - a for a, b in self._holes)

    def count_hint(self) -> int:
        """How many pieces there will be at least (so no more threads than that are started)."""
        with self._lock:
            return sum(max(1, (b - a) // MIN_PIECE) for a, b in self._holes)

    def take(self) -> tuple[int, int] | None:
        with self._lock:
            if not self._holes:
                return None
            left = sum(b - a for a, b in self._holes)
            a, b = self._holes[0]
            n = min(max(left // (2 * self.connections), MIN_PIECE), self.limit or MAX_PIECE, MAX_PIECE, b - a)
            if b - (a + n) < MIN_PIECE:
                n = b - a  # no crumb left behind
            if a + n >= b:
                self._holes.pop(0)
            else:
                self._holes[0] = (a + n, b)
            return a, a + n


class Assembler:
    """Grow the prefix from the parts, in order, hashing every byte once (a thread of its own).

    Runs inside `PartStore.open_prefix`: it appends to `store.out` and feeds `store.hasher`.
    """

    def __init__(self, store: PartStore, check_stop: Callable[[], None]) -> None:
        self.store, self.check_stop = store, check_stop
        self._thread = threading.Thread(target=self._main, daemon=True, name="download-assemble")
        self.error: BaseException | None = None

    def start(self) -> Assembler:
        self._thread.start()
        return self

    def join(self) -> None:
        self._thread.join()

    def _main(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # handed to the transfer, which stops every connection
            self.error = exc
            self.store.fail(exc)
        finally:
            with self.store.cond:
                self.store.direct_ok = False

    def _run(self) -> None:
        store = self.store
        out, hasher = store.out, store.hasher
        assert out is not None and hasher is not None
        if store.prefix:  # what an earlier run left: hashed once, read from disk, before anything is appended
            with store.incomplete.open("rb") as old:
                for chunk in iter(lambda: old.read(COPY_CHUNK), b""):
                    self.check_stop()
                    hasher.update(chunk)
        with store.cond:
            store.direct_ok = store.failed is None
        readers: dict[int, BinaryIO] = {}
        try:
            while True:
                src: Part | None = None
                start = upto = offset = 0
                with store.cond:
                    while True:
                        if store.failed is not None:
                            return
                        if store.prefix >= store.size:
                            break
                        src = next((p for p in store.parts.values()
                                    if p.start <= store.prefix < p.start + p.done), None)
                        if src is not None:
                            start, upto, offset = src.start, src.start + src.done, store.prefix
                            break
                        if store.writers_done:
                            break  # a hole no one will fill: the transfer reports the short file
                        store.cond.wait(0.5)
                if store.prefix >= store.size or src is None:
                    break
                self.check_stop()
                fh = readers.get(start)
                if fh is None:
                    fh = readers[start] = (store.folder / str(start)).open("rb")
                fh.seek(offset - start)
                while offset < upto:
                    chunk = fh.read(min(COPY_CHUNK, upto - offset))
                    if not chunk:
                        raise OSError(f"part {start} of {store.incomplete.name} is shorter than recorded")
                    with store.append_lock:  # the head writer cannot append here: the prefix ends inside this part
                        write_all(out, (chunk,))
                        hasher.update(chunk)
                        store.appended(len(chunk))
                        offset += len(chunk)
                        with store.cond:
                            store.prefix = offset
                            store.cond.notify_all()  # a lone connection may be waiting for the prefix
                self._drop_merged(readers)  # the prefix is in the file before its part goes
            if store.prefix >= store.size:  # complete: on the disk before the transfer renames it
                os.fsync(out.fileno())
        finally:
            for fh in readers.values():
                fh.close()
        self._drop_merged({})

    def _drop_merged(self, readers: dict[int, BinaryIO]) -> None:
        """Delete the parts that the prefix has swallowed and no writer appends to any more."""
        store = self.store
        with store.cond:
            gone = [p.start for p in store.parts.values()
                    if not p.active and p.start + p.done <= store.prefix]
            for start in gone:
                del store.parts[start]
        for start in gone:
            fh = readers.pop(start, None)
            if fh is not None:
                fh.close()
            (store.folder / str(start)).unlink(missing_ok=True)


def _quiet_fdatasync(fd: int) -> None:
    with contextlib.suppress(OSError, AttributeError):  # the final fsync reports real errors
        os.fdatasync(fd)
