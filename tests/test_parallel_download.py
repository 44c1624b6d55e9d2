"""Parallel Range requests per file: parts reassemble to the right sha256, faults hit one connection only,
the partial left behind stays a valid prefix for huggingface_hub, nothing is sent twice on resume.

Correctness only: no timings (bench/downloads.py measures speed).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hub_fixtures import hub  # noqa: F401 - the fixture
from huggingface_hub import hf_hub_download
from huggingface_hub.file_download import http_get

from explorer.store import parts, transfer
from explorer.store.downloads import DownloadManager, Progress, State
from explorer.testing.hub import HubServer
from explorer.units import MIB

REPO = "Qwen/Parallel-GGUF"
NAME = "parallel-Q8_0.gguf"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 MiB of seeded random bytes: ten pieces or more, and no run of equal bytes to hide a wrong one."""
    path = tmp_path_factory.mktemp("src") / NAME
    path.write_bytes(random.Random(15).randbytes(40 * MIB))
    return path


def manager(cache: Path, events: list[Progress] | None = None, **kw: object) -> DownloadManager:
    sink = events.append if events is not None else (lambda p: None)
    return DownloadManager(cache_dir=cache, on_progress=sink, backoff=0.01, timeout=2, **kw)  # type: ignore[arg-type]


def gets(hub: HubServer) -> list:  # noqa: F811
    return hub.requests("GET", NAME)


def sent(hub: HubServer) -> int:  # noqa: F811
    return sum(e.bytes_sent for e in gets(hub))


def ranges(hub: HubServer) -> list[tuple[int, int]]:  # noqa: F811
    out = []
    for e in gets(hub):
        a, b = e.range.removeprefix("bytes=").split("-")
        out.append((int(a), int(b) + 1))
    return out


def blobs(cache: Path) -> Path:
    return next(cache.glob("models--*/blobs"))


def assert_clean_done(cache: Path, src: Path, job) -> None:  # type: ignore[no-untyped-def]
    assert job.state is State.DONE, job.message
    assert hashlib.sha256(job.results[0].path.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()
    left = sorted(p.name for p in blobs(cache).iterdir())
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    assert left == [sha, sha + ".verified"]  # no prefix, no sidecar left behind


def test_parts_come_over_several_connections_and_reassemble(hub: HubServer, tmp_path: Path, src: Path) -> None:  # noqa: F811
    hub.add_repo(REPO, {NAME: src})
    hub.rate_cap = 32 * MIB  # per connection: the parts really overlap
    events: list[Progress] = []
    dm = manager(tmp_path / "cache", events)
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=60)
    dm.close()
    assert_clean_done(tmp_path / "cache", src, job)
    size = src.stat().st_size
    assert len({e.connection for e in gets(hub)}) >= 4  # parallel for real
    got = sorted(ranges(hub))
    assert got[0][0] == 0 and got[-1][1] == size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(got))  # each byte asked for once
    assert sent(hub) == size and job.results[0].received == size
    assert events[-1].done == events[-1].total == size
    found = hf_hub_download(REPO, NAME, cache_dir=tmp_path / "cache", local_files_only=True)
    assert Path(found).read_bytes() == src.read_bytes()


def test_a_small_file_takes_one_connection(hub: HubServer, tmp_path: Path) -> None:  # noqa: F811
    data = random.Random(1).randbytes(3 * MIB)
    hub.add_repo(REPO, {NAME: data})
    dm = manager(tmp_path / "cache")
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=30)
    dm.close()
    assert job.state is State.DONE and job.results[0].path.read_bytes() == data
    assert [e.range for e in gets(hub)] == [None]


@pytest.mark.parametrize("kind", ["drop", "stall"])
def test_a_fault_on_one_connection_refetches_only_the_rest_of_its_part(hub: HubServer, tmp_path: Path,  # noqa: F811
                                                                         src: Path, kind: str) -> None:
    hub.add_repo(REPO, {NAME: src})
    hub.rate_cap = 32 * MIB
    fault = {"drop": {}, "stall": {"seconds": 5}}[kind]
    hub.faults.set(kind, NAME, method="GET", connection=3, after_bytes=1_000_000, times=1, **fault)
    dm = manager(tmp_path / "cache")
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=60)
    dm.close()
    assert_clean_done(tmp_path / "cache", src, job)
    hit = [e for e in gets(hub) if e.faults]
    assert len(hit) == 1 and hit[0].connection == 3
    start, end = ranges(hub)[gets(hub).index(hit[0])]
    others = [r for r, e in zip(ranges(hub), gets(hub), strict=True) if not e.faults]
    assert (start + 1_000_000, end) in others  # the same part, from its next byte, on another connection
    if kind == "drop":
        assert sent(hub) == src.stat().st_size  # 0 bytes re-sent
    # every other part was asked for once: no range overlaps another
    spans = sorted([*others, (start, start + 1_000_000)])
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_a_wrong_byte_in_one_part_deletes_everything_and_is_never_complete(hub: HubServer, tmp_path: Path,  # noqa: F811
                                                                           src: Path) -> None:
    hub.add_repo(REPO, {NAME: src})
    hub.faults.set("corrupt", NAME, method="GET", offset=23 * MIB + 5, times=None)  # the one part that holds it
    dm = manager(tmp_path / "cache")
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=60)
    assert job.state is State.FAILED and "sha256 mismatch" in job.message and "deleted" in job.message
    repo_dir = next((tmp_path / "cache").glob("models--*"))
    assert not list(repo_dir.glob("blobs/*")) and not list(repo_dir.glob("snapshots/*/*"))
    hub.faults.clear()
    dm.retry(job.id)
    job = dm.wait(job.id, timeout=60)
    dm.close()
    assert_clean_done(tmp_path / "cache", src, job)


def test_pause_and_restart_resend_nothing(hub: HubServer, tmp_path: Path, src: Path) -> None:  # noqa: F811
    hub.add_repo(REPO, {NAME: src})
    hub.rate_cap = 8 * MIB
    events: list[Progress] = []
    dm = manager(tmp_path / "cache", events)
    job_id = dm.enqueue(REPO, [NAME])
    deadline = time.monotonic() + 30
    while not any(e.done >= 15 * MIB for e in events):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    dm.pause(job_id)
    assert dm.wait(job_id, timeout=10).state is State.PAUSED
    dm.close()
    blob_dir = blobs(tmp_path / "cache")
    assert list(blob_dir.glob("*.parts/*"))  # parts beyond the prefix are kept in the sidecar
    kept = parts.bytes_on_disk(next(blob_dir.glob("*.incomplete")), src.stat().st_size)
    in_flight = sent(hub) - kept  # sent by the Hub, still in the sockets when the pause closed them
    assert 0 <= in_flight < 8 * MIB
    hub.rate_cap = None
    hub.clear_log()
    dm2 = manager(tmp_path / "cache")
    job = dm2.wait(dm2.enqueue(REPO, [NAME]), timeout=60)
    dm2.close()
    assert_clean_done(tmp_path / "cache", src, job)
    assert job.results[0].resumed_from == kept
    assert sent(hub) == job.results[0].received == src.stat().st_size - kept  # nothing kept is asked for again


KILLED_DOWNLOAD = """
import sys
from pathlib import Path
from explorer.store.downloads import DownloadManager
dm = DownloadManager(cache_dir=Path(sys.argv[1]))
dm.wait(dm.enqueue(sys.argv[2], [sys.argv[3]]))
"""


def kill_midway(hub: HubServer, cache: Path, src: Path) -> Path:  # noqa: F811
    """Start a download in a child process and SIGKILL it with some parts on disk; the partial file."""
    proc = subprocess.Popen([sys.executable, "-c", KILLED_DOWNLOAD, str(cache), REPO, NAME], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 60
    try:
        while True:
            assert proc.poll() is None, "the download ended before it was killed"
            assert time.monotonic() < deadline
            done = sum(p.stat().st_size for p in cache.glob("models--*/blobs/*.parts/*"))
            if done >= 12 * MIB:
                break
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return next(cache.glob("models--*/blobs/*.incomplete"))


def check_partial(incomplete: Path, data: bytes) -> tuple[int, int]:
    """The prefix is the file's first bytes, each part its bytes at its offset: (prefix, parts' bytes)."""
    prefix = incomplete.read_bytes()
    assert prefix == data[: len(prefix)]
    in_parts = 0
    for f in parts.sidecar(incomplete).iterdir():
        start, body = int(f.name), f.read_bytes()
        assert body == data[start:start + len(body)]
        in_parts += len(body)
    return len(prefix), in_parts


def test_a_killed_download_leaves_a_valid_prefix_that_huggingface_hub_resumes(hub: HubServer, tmp_path: Path,  # noqa: F811
                                                                             src: Path) -> None:
    """huggingface_hub before 2.5 resumed `<sha>.incomplete` by appending from its size (2.5.0 starts a
    fresh temporary file): its own resume function, from the partial a killed app left, gives the file."""
    hub.add_repo(REPO, {NAME: src})
    hub.rate_cap = 4 * MIB
    data = src.read_bytes()
    cache = tmp_path / "cache"
    incomplete = kill_midway(hub, cache, src)
    prefix, in_parts = check_partial(incomplete, data)
    assert in_parts > 0 and prefix < len(data)
    hub.rate_cap = None
    copy = tmp_path / "hf-resume.incomplete"
    copy.write_bytes(incomplete.read_bytes())
    with copy.open("ab") as fh:  # what huggingface_hub's _download_to_tmp_and_move did before 2.5
        http_get(hub.url(REPO, NAME), fh, resume_size=copy.stat().st_size, expected_size=len(data))
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    # 2.5.0's hf_hub_download ignores the partial and fetches whole; the app then adopts its blob
    path = hf_hub_download(REPO, NAME, cache_dir=cache)
    assert Path(path).read_bytes() == data
    hub.clear_log()
    dm = manager(cache)
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=60)
    dm.close()
    assert job.results[0].received == 0 and not gets(hub)
    assert_clean_done(cache, src, job)


def test_kills_at_random_points_resend_only_what_was_in_flight(hub: HubServer, tmp_path: Path,  # noqa: F811
                                                               src: Path) -> None:
    """Killed (SIGKILL) twice, then finished: every byte on disk at a kill is never asked for again."""
    hub.add_repo(REPO, {NAME: src})
    hub.rate_cap = 4 * MIB
    data = src.read_bytes()
    cache = tmp_path / "cache"
    have: list[tuple[int, int]] = []
    for _ in range(2):
        hub.clear_log()
        incomplete = kill_midway(hub, cache, src)
        check_partial(incomplete, data)
        # nothing that was on disk when this run started was asked for again: it asked only for holes
        assert not any(min(b, d) > max(a, c) for a, b in ranges(hub) for c, d in have)
        prefix, on = parts.scan(incomplete, len(data))
        have = [(0, prefix)] + [(s, s + n) for s, n in on.items()]
    hub.rate_cap = None
    hub.clear_log()
    on_disk = parts.bytes_on_disk(incomplete, len(data))
    dm = manager(cache)
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=60)
    dm.close()
    assert_clean_done(cache, src, job)
    assert job.results[0].resumed_from == on_disk
    assert sent(hub) == len(data) - on_disk


def test_a_server_that_ignores_range_falls_back_to_one_stream(hub: HubServer, tmp_path: Path, src: Path) -> None:  # noqa: F811
    hub.add_repo(REPO, {NAME: src})
    hub.faults.set("ignore_range", NAME, method="GET", times=None)
    dm = manager(tmp_path / "cache")
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=60)
    dm.close()
    assert_clean_done(tmp_path / "cache", src, job)


def test_cancel_deletes_the_prefix_and_the_sidecar(hub: HubServer, tmp_path: Path, src: Path) -> None:  # noqa: F811
    hub.add_repo(REPO, {NAME: src})
    hub.rate_cap = 8 * MIB
    events: list[Progress] = []
    dm = manager(tmp_path / "cache", events)
    job_id = dm.enqueue(REPO, [NAME])
    deadline = time.monotonic() + 30
    while not any(e.done >= 8 * MIB for e in events):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    dm.cancel(job_id)
    job = dm.wait(job_id, timeout=10)
    dm.close()
    assert job.state is State.CANCELLED and "1 partial file deleted" in job.message
    assert not list((tmp_path / "cache").glob("models--*/blobs/*"))


def test_the_sidecar_is_the_record_of_done_ranges(tmp_path: Path) -> None:
    """What recovery makes of a sidecar: parts merged before a kill and parts not ours are dropped."""
    inc = tmp_path / "blobs" / ("a" * 64 + ".incomplete")
    inc.parent.mkdir()
    inc.write_bytes(b"x" * 100)
    side = parts.sidecar(inc)
    side.mkdir()
    (side / "50").write_bytes(b"x" * 40)  # inside the prefix: merged before the kill
    (side / "80").write_bytes(b"x" * 40)  # overlaps the prefix: its tail still counts
    (side / "300").write_bytes(b"x" * 50)
    (side / "990").write_bytes(b"x" * 20)  # past the end: not ours
    (side / "junk").write_bytes(b"?")
    assert parts.bytes_on_disk(inc, 1000) == 120 + 50 + 10
    store = parts.PartStore(inc, 1000, lambda p, m: p.open(m))  # type: ignore[arg-type,return-value]
    store.recover()
    assert sorted(p.name for p in side.iterdir()) == ["300", "80"]
    assert store.holes() == [(120, 300), (350, 1000)]
    assert store.done() == 170


def test_a_link_that_does_not_cap_connections_goes_on_with_one_straight_into_the_prefix(
        hub: HubServer, tmp_path: Path, src: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """The probe: all connections bring no more than one did, so the others stop after their short piece and
    the lone one fetches the rest, each piece from where the prefix ends, written there directly."""
    hub.add_repo(REPO, {NAME: src})
    hub.rate_cap = 16 * MIB  # the probe's pieces overlap for real; the rates it sees are replaced below
    measure = transfer._Meter.rate

    def rate(self: transfer._Meter, connections: int, running: Callable[[], bool]) -> float | None:
        measure(self, connections, running)  # waits as the real one does
        return 100.0 if connections == 1 else 110.0  # less than PROBE_GAIN x one connection

    monkeypatch.setattr(transfer._Meter, "rate", rate)
    monkeypatch.setattr(transfer, "PROBE_SECONDS", 0.01)  # decided early: most of the file is still to come
    direct: list[tuple[int, bool]] = []
    append = parts.PartStore.append_direct

    def spy(self: parts.PartStore, part: parts.Part, chunks: Sequence[bytes], n: int) -> bool:
        went = append(self, part, chunks, n)
        direct.append((part.start, went))
        return went

    monkeypatch.setattr(parts.PartStore, "append_direct", spy)
    by: list[tuple[int, str]] = []  # (piece start, the connection's thread)
    fetch_piece = transfer.Transfer._piece

    def piece(self: transfer.Transfer, store: parts.PartStore, rng: tuple[int, int],
              count: Callable[[int], None]) -> None:
        by.append((rng[0], threading.current_thread().name))
        fetch_piece(self, store, rng, count)

    monkeypatch.setattr(transfer.Transfer, "_piece", piece)
    dm = manager(tmp_path / "cache")
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=60)
    dm.close()
    assert_clean_done(tmp_path / "cache", src, job)
    got = ranges(hub)
    assert sorted(got)[-1][1] == src.stat().st_size and sent(hub) == src.stat().st_size  # each byte once
    assert len({name for _start, name in by}) > 1  # the probe opened the others
    last = max(start for start, _name in by)
    assert dict(by)[last] == "download-part-0"  # ...and the first one finished alone
    assert [went for start, went in direct if start == last] and all(went for start, went in direct if start == last)


def test_the_head_writes_straight_into_the_prefix_and_its_part_is_never_reused(tmp_path: Path) -> None:
    inc = tmp_path / "blobs" / ("b" * 64 + ".incomplete")
    data = random.Random(3).randbytes(100)
    store = parts.PartStore(inc, len(data), lambda p, m: p.open(m))  # type: ignore[arg-type,return-value]
    store.recover()
    digest = hashlib.sha256()
    with store.open_prefix(digest):
        store.direct_ok = True  # the assembler says so once an old prefix is hashed; here there is none
        head = parts.Piece(store.claim(0), 0, 40)
        with parts.PartWriter(store, head) as writer:
            writer.write([data[:10], data[10:25]], 25)
        assert store.prefix == 25 and (parts.sidecar(inc) / "0").stat().st_size == 0  # nothing through the part
        assert store.claim(25) == 25  # a new part: nothing is appended after bytes that went elsewhere
        ahead = parts.Piece(store.claim(60), 60, 100)
        with parts.PartWriter(store, ahead) as writer:
            writer.write([data[60:70]], 10)  # not at the prefix: into its part
        assert store.prefix == 25 and (parts.sidecar(inc) / "60").read_bytes() == data[60:70]
        store.wait_prefix(60, timeout=0.5)  # nothing fills the hole before 60 now: returns at once
    assert inc.read_bytes() == data[:25] and digest.hexdigest() == hashlib.sha256(data[:25]).hexdigest()
