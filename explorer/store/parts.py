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
- The `Assembler` (one thread) moves bytes from the part that holds offset P to the end of the prefix
  and feeds them to the sha256 on the way: the hash is computed in order, as the prefix grows, and
  each byte is read back once (from the page cache: parts are merged seconds after they are written
  and deleted once merged, so their dirty pages mostly never reach the disk).

The cost is one extra copy of the bytes that arrive out of order (in the kernel's page cache). The
alternatives were worse: writing parts into `.incomplete` at their offsets makes it sparse and longer
than its done prefix (a huggingface_hub resume would then append after a hole), and truncating it to
the prefix on exit does not survive a kill. This module does no network I/O: `explorer.store.transfer`
fetches the pieces that `Pieces` hands out and writes them through `PartWriter`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from explorer.units import MIB

COPY_CHUNK = 4 * MIB
MIN_PIECE = 4 * MIB  # no piece smaller (but a file's last bytes); below 2 pieces a file takes one connection
MAX_PIECE = 64 * MIB
WRITEBACK_BYTES = 64 * MIB


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
    """One file of the sidecar: bytes `[start, start + done)` of the download."""

    start: int
    done: int
    active: bool = False  # a writer is appending to it


@dataclass
class Piece:
    """A range to fetch, `[pos, end)`, appended to the part that starts at `part`."""

    part: int
    pos: int
    end: int


class PartStore:
    """The prefix and the sidecar of one download, shared by the writers and the assembler (thread-safe)."""

    def __init__(self, incomplete: Path, size: int,
                 open_file: Callable[[Path, str], BinaryIO]) -> None:
        self.incomplete, self.size, self.open_file = incomplete, size, open_file
        self.folder = sidecar(incomplete)
        self.cond = threading.Condition()
        self.parts: dict[int, Part] = {}
        self.prefix = 0
        self.failed: BaseException | None = None  # the first error of any thread; everyone stops on it
        self.writers_done = False  # no more bytes will come: the assembler stops when it runs out

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
                if not p.active and p.start + p.done == pos:
                    p.active = True
                    return p.start
            self.parts[pos] = Part(pos, 0, active=True)
            return pos

    def wrote(self, start: int, n: int) -> None:
        with self.cond:
            self.parts[start].done += n
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


class PartWriter:
    """Append a piece's bytes to its part file (a context manager; the file stays open between chunks)."""

    def __init__(self, store: PartStore, piece: Piece) -> None:
        self.store, self.piece = store, piece
        store.folder.mkdir(parents=True, exist_ok=True)
        self.path = store.folder / str(piece.part)
        self._opened = store.open_file(self.path, "ab")
        self.fh = self._opened.__enter__()

    def __enter__(self) -> PartWriter:
        return self

    def write(self, chunk: bytes) -> None:
        self.fh.write(chunk)
        self.fh.flush()  # visible to the assembler (and kept by the kernel if this process is killed)
        self.piece.pos += len(chunk)
        self.store.wrote(self.piece.part, len(chunk))

    def __exit__(self, *exc: object) -> None:
        try:
            if self.piece.pos < self.piece.end:  # left for a resume: make it last
                with contextlib.suppress(OSError):
                    self.fh.flush()
                    os.fsync(self.fh.fileno())
        finally:
            self._opened.__exit__(None, None, None)


class Pieces:
    """Hands out the ranges still to fetch, lowest first, in shrinking pieces ("guided" scheduling).

    A piece is about the remaining bytes / (2 x connections), within [MIN_PIECE, MAX_PIECE]: large
    pieces early (few requests), small ones at the end, so the connections finish together without
    splitting a range already requested (which would make the Hub send bytes twice).
    """

    def __init__(self, holes: list[tuple[int, int]], connections: int) -> None:
        self._holes = list(holes)
        self._n = max(1, connections)
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
            n = min(max(left // (2 * self._n), MIN_PIECE), MAX_PIECE, b - a)
            if b - (a + n) < MIN_PIECE:
                n = b - a  # no crumb left behind
            if a + n >= b:
                self._holes.pop(0)
            else:
                self._holes[0] = (a + n, b)
            return a, a + n


class Assembler:
    """Grow the prefix from the parts, in order, hashing every byte once (a thread of its own)."""

    def __init__(self, store: PartStore, digest: Any, check_stop: Callable[[], None]) -> None:
        self.store, self.digest, self.check_stop = store, digest, check_stop
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

    def _run(self) -> None:
        store = self.store
        store.incomplete.parent.mkdir(parents=True, exist_ok=True)
        with store.open_file(store.incomplete, "ab") as out:
            if store.prefix:  # what an earlier run left: hashed once, read from disk
                with store.incomplete.open("rb") as old:
                    for chunk in iter(lambda: old.read(COPY_CHUNK), b""):
                        self.check_stop()
                        self.digest.update(chunk)
            readers: dict[int, BinaryIO] = {}
            since_sync = 0
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
                        self.digest.update(chunk)
                        out.write(chunk)
                        offset += len(chunk)
                        since_sync += len(chunk)
                        with store.cond:
                            store.prefix = offset
                        if since_sync >= WRITEBACK_BYTES:  # let the disk catch up while we go on
                            since_sync = 0
                            out.flush()
                            with contextlib.suppress(OSError):
                                os.fdatasync(out.fileno())
                    out.flush()  # in the file before its part goes: a kill must not lose both copies
                    self._drop_merged(readers)
                out.flush()
                os.fsync(out.fileno())
            finally:
                for fh in readers.values():
                    fh.close()
                with contextlib.suppress(OSError):
                    out.flush()
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
