"""Downloads against the loopback Hub: layout, verification, resume, faults, disk, cancel, pause."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest
from hub_fixtures import hub  # noqa: F401 - the fixture
from huggingface_hub import hf_hub_download

from explorer.store.downloads import DownloadError, DownloadManager, Progress, State
from explorer.store.transfer import safe_repo_path
from explorer.testing.hub import HubServer
from explorer.testing.hub_repos import split_file
from explorer.testing.models import ensure_model
from explorer.units import format_bytes

REPO = "Qwen/Qwen3-Tiny-GGUF"
NAME = "Qwen3-Tiny-F16.gguf"


@pytest.fixture
def model_file() -> Path:
    return ensure_model("qwen3-fit-dense-q8_0")  # 36 MB


def manager(cache: Path, events: list[Progress] | None = None, **kw: object) -> DownloadManager:
    """One connection per file: these tests pin the single stream (its exact Range requests and partial
    sizes); the parallel parts have tests/test_parallel_download.py."""
    sink = events.append if events is not None else (lambda p: None)
    kw.setdefault("connections", 1)
    return DownloadManager(cache_dir=cache, on_progress=sink, backoff=0.01, timeout=2, **kw)  # type: ignore[arg-type]


def get_bytes(hub: HubServer, name: str) -> int:  # noqa: F811
    return sum(e.bytes_sent for e in hub.requests("GET", name))


def test_download_lands_verified_in_the_hf_cache(hub: HubServer, tmp_path: Path, model_file: Path) -> None:  # noqa: F811
    hub.add_repo(REPO, {NAME: model_file})
    events: list[Progress] = []
    dm = manager(tmp_path / "cache", events)
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=60)
    dm.close()
    assert job.state is State.DONE, job.message
    sha = hashlib.sha256(model_file.read_bytes()).hexdigest()
    repo_dir = tmp_path / "cache" / "models--Qwen--Qwen3-Tiny-GGUF"
    snap = job.results[0].path
    assert snap.is_symlink() and snap.resolve() == (repo_dir / "blobs" / sha).resolve()
    assert snap.read_bytes() == model_file.read_bytes()
    assert (repo_dir / "blobs" / f"{sha}.verified").exists()
    assert not list(repo_dir.glob("blobs/*.incomplete"))
    # The real client finds it in its own cache layout, offline.
    found = hf_hub_download(REPO, NAME, cache_dir=tmp_path / "cache", local_files_only=True)
    assert Path(found).read_bytes() == model_file.read_bytes()
    assert events[-1].state is State.DONE and events[-1].done == events[-1].total == model_file.stat().st_size
    assert any(e.state is State.RUNNING and 0 < e.done < e.total for e in events)


def test_split_model_is_ready_only_with_every_shard(hub: HubServer, tmp_path: Path, model_file: Path) -> None:  # noqa: F811
    shards = split_file(model_file, tmp_path / "src", "Qwen3-Tiny-Q8_0", 3)
    hub.add_repo(REPO, {f"Q8_0/{p.name}": p for p in shards})
    names = [f"Q8_0/{p.name}" for p in shards]
    hub.faults.set("status", "00003-of-00003", method="GET", status=404, times=None)
    dm = manager(tmp_path / "cache")
    job = dm.wait(dm.enqueue(REPO, names), timeout=60)
    assert job.state is State.FAILED and "00003-of-00003" in job.message
    hub.faults.clear()
    dm.resume(job.id)
    job = dm.wait(job.id, timeout=60)
    dm.close()
    assert job.state is State.DONE
    assert [r.path.read_bytes() for r in job.results] == [p.read_bytes() for p in shards]
    assert job.results[0].received == 0 and job.results[1].received == 0  # the first two were already there


def test_dropped_connection_resumes_without_resending(hub: HubServer, tmp_path: Path, model_file: Path) -> None:  # noqa: F811
    hub.add_repo(REPO, {NAME: model_file})
    size = model_file.stat().st_size
    for cut in (3_000_000, 17_000_000, 30_000_000):
        hub.faults.set("drop", NAME, method="GET", after_bytes=cut, times=1)
        dm = manager(tmp_path / f"cache{cut}")
        hub.clear_log()
        job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=60)
        dm.close()
        assert job.state is State.DONE, job.message
        gets = hub.requests("GET", NAME)
        assert len(gets) == 2 and gets[1].range == f"bytes={cut}-"
        assert get_bytes(hub, NAME) == size  # 0 bytes re-sent


def test_drops_at_random_points_never_corrupt_or_resend(hub: HubServer, tmp_path: Path) -> None:  # noqa: F811
    """Several drops in one download, at seeded random offsets: the result is intact, nothing twice."""
    import random

    src = ensure_model("qwen3-fit-dense-f16")  # 80 MiB
    size = src.stat().st_size
    hub.add_repo(REPO, {NAME: src})
    rng = random.Random(7)
    for _ in range(4):  # each resumed request breaks off again after a random number of bytes
        hub.faults.set("drop", NAME, method="GET", after_bytes=rng.randrange(1, size // 4), times=1)
    dm = manager(tmp_path / "cache")
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=120)
    dm.close()
    assert job.state is State.DONE, job.message
    assert len(hub.requests("GET", NAME)) == 5
    assert get_bytes(hub, NAME) == size
    assert hashlib.sha256(job.results[0].path.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()


@pytest.mark.parametrize("fault", [
    {"kind": "status", "status": 500, "times": 2},
    {"kind": "status", "status": 429, "retry_after": 1, "times": 1},
    {"kind": "stall", "seconds": 4, "after_bytes": 1_000_000, "times": 1},
])
def test_transient_faults_are_retried(hub: HubServer, tmp_path: Path, model_file: Path, fault: dict) -> None:  # noqa: F811
    hub.add_repo(REPO, {NAME: model_file})
    hub.faults.set(fault.pop("kind"), NAME, method="GET", **fault)
    dm = manager(tmp_path / "cache")
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=60)
    dm.close()
    assert job.state is State.DONE, job.message
    assert job.results[0].path.read_bytes() == model_file.read_bytes()


def test_a_wrong_byte_is_never_marked_complete(hub: HubServer, tmp_path: Path, model_file: Path) -> None:  # noqa: F811
    hub.add_repo(REPO, {NAME: model_file})
    hub.faults.set("corrupt", NAME, method="GET", offset=12345, times=None)
    dm = manager(tmp_path / "cache")
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=60)
    dm.close()
    assert job.state is State.FAILED and "sha256 mismatch" in job.message
    repo_dir = tmp_path / "cache" / "models--Qwen--Qwen3-Tiny-GGUF"
    assert not list(repo_dir.glob("blobs/*")) and not list(repo_dir.glob("snapshots/*/*"))


def test_permanent_errors_fail_clearly_and_keep_the_partial(hub: HubServer, tmp_path: Path, model_file: Path) -> None:  # noqa: F811
    hub.add_repo(REPO, {NAME: model_file})
    hub.faults.set("drop", NAME, method="GET", after_bytes=5_000_000, times=3)  # every try breaks off
    dm = manager(tmp_path / "cache", retries=2)
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=60)
    assert job.state is State.FAILED and "after 3 tries" in job.message and "kept for a resume" in job.message
    partials = list(tmp_path.glob("cache/*/blobs/*.incomplete"))
    assert len(partials) == 1 and partials[0].stat().st_size == 15_000_000  # each try resumed the last
    hub.faults.clear()
    hub.clear_log()
    dm.retry(job.id)
    assert dm.wait(job.id, timeout=60).state is State.DONE
    dm.close()
    assert get_bytes(hub, NAME) == model_file.stat().st_size - 15_000_000


def test_not_enough_disk_is_refused_before_any_byte(hub: HubServer, tmp_path: Path, model_file: Path) -> None:  # noqa: F811
    shards = split_file(model_file, tmp_path / "src", "Qwen3-Tiny-Q8_0", 3)
    hub.add_repo(REPO, {p.name: p for p in shards})
    dm = manager(tmp_path / "cache", disk_free=lambda _p: 20_000_000)
    job = dm.wait(dm.enqueue(REPO, [p.name for p in shards]), timeout=30)
    dm.close()
    assert job.state is State.FAILED and "not enough disk space" in job.message and "3 files" in job.message
    assert not hub.requests("GET", "Qwen3-Tiny")


def test_an_unexpected_error_in_a_jobs_setup_fails_the_job(hub: HubServer, tmp_path: Path,  # noqa: F811
                                                            model_file: Path) -> None:
    hub.add_repo(REPO, {NAME: model_file})
    calls: list[Path] = []

    def broken_then_fine(path: Path) -> int:
        calls.append(path)
        if len(calls) == 1:
            raise RuntimeError("statvfs exploded")
        return 1 << 40

    events: list[Progress] = []
    dm = manager(tmp_path / "cache", events, disk_free=broken_then_fine)
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=60)
    assert job.state is State.FAILED and job.message == "RuntimeError: statvfs exploded"
    assert events[-1].state is State.FAILED
    again = dm.wait(dm.enqueue(REPO, [NAME]), timeout=60)  # the worker lives on
    dm.close()
    assert again.state is State.DONE, again.message


@pytest.mark.parametrize("repo", ["bad repo", "a/b/c", "", "../x", "Qwen/Qwen3--8B"])
def test_malformed_repo_ids_are_refused_before_queueing(repo: str, tmp_path: Path) -> None:
    events: list[Progress] = []
    dm = manager(tmp_path / "cache", events)
    with pytest.raises(DownloadError, match="not a Hugging Face repo id"):
        dm.enqueue(repo, [NAME])
    with pytest.raises(DownloadError, match="no file"):
        dm.enqueue(REPO, [])
    dm.close()
    assert events == []


class FullDisk:
    """A partial file on a disk with room for `room` bytes in all: writing past them fails with ENOSPC."""

    def __init__(self, path: Path, mode: str, room: int) -> None:
        self.fh = path.open(mode)
        self.room = room

    def write(self, data: bytes) -> int:
        left = max(0, self.room - self.fh.tell())
        if len(data) > left:
            self.fh.write(data[:left])
            self.fh.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()

    def fileno(self) -> int:
        return self.fh.fileno()

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()


def test_disk_full_while_writing_reports_what_is_kept(hub: HubServer, tmp_path: Path,  # noqa: F811
                                                      model_file: Path) -> None:
    hub.add_repo(REPO, {NAME: model_file})
    room = 12_345_678
    dm = manager(tmp_path / "cache", open_file=lambda path, mode: FullDisk(path, mode, room))
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=60)
    dm.close()
    assert job.state is State.FAILED and "the disk is full" in job.message
    kept = next(tmp_path.glob("cache/*/blobs/*.incomplete"))
    assert kept.stat().st_size == room  # kept for a resume once there is space
    assert f"({format_bytes(room)} of {format_bytes(model_file.stat().st_size)} kept" in job.message
    assert not list(tmp_path.glob("cache/*/snapshots/*/*"))


def test_an_endless_body_is_cut_at_the_files_size(hub: HubServer, tmp_path: Path, model_file: Path) -> None:  # noqa: F811
    hub.add_repo(REPO, {NAME: model_file})
    hub.faults.set("endless", NAME, method="GET", times=None)  # no Content-Length, zeros after the file
    dm = manager(tmp_path / "cache")
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=60)
    dm.close()
    assert job.state is State.DONE, job.message
    assert job.results[0].path.read_bytes() == model_file.read_bytes()  # verified by its sha256
    assert all(p.stat().st_size <= model_file.stat().st_size for p in tmp_path.glob("cache/*/blobs/*"))


def test_an_endless_wrong_body_fails_clearly_and_keeps_nothing(hub: HubServer, tmp_path: Path,  # noqa: F811
                                                               model_file: Path) -> None:
    hub.add_repo(REPO, {NAME: model_file})
    hub.faults.set("endless", NAME, method="GET", times=None)
    hub.faults.set("corrupt", NAME, method="GET", offset=1000, times=None)
    dm = manager(tmp_path / "cache")
    job_id = dm.enqueue(REPO, [NAME])
    job = dm.wait(job_id, timeout=60)
    assert job.state is State.FAILED
    assert "sha256 mismatch" in job.message and "more than the file's size" in job.message
    assert not list(tmp_path.glob("cache/*/blobs/*"))  # no partial, let alone one larger than the file
    hub.faults.clear()
    dm.resume(job_id)  # a retry is not blocked by anything left behind
    assert dm.wait(job_id, timeout=60).state is State.DONE
    dm.close()


def test_pause_resume_and_restart_resend_nothing(hub: HubServer, tmp_path: Path, model_file: Path) -> None:  # noqa: F811
    hub.add_repo(REPO, {NAME: model_file})
    hub.faults.set("stall", NAME, method="GET", after_bytes=8_000_000, seconds=3, times=1)
    events: list[Progress] = []
    dm = manager(tmp_path / "cache", events, )
    job_id = dm.enqueue(REPO, [NAME])
    _wait_for(lambda: any(e.done >= 4_000_000 for e in events))
    dm.pause(job_id)
    job = dm.wait(job_id, timeout=10)
    assert job.state is State.PAUSED
    dm.close()  # the app quits
    kept = next(tmp_path.glob("cache/*/blobs/*.incomplete")).stat().st_size
    assert kept > 0
    hub.clear_log()
    dm2 = manager(tmp_path / "cache")  # the app starts again
    job2 = dm2.wait(dm2.enqueue(REPO, [NAME]), timeout=60)
    dm2.close()
    assert job2.state is State.DONE and job2.results[0].resumed_from == kept
    assert get_bytes(hub, NAME) == model_file.stat().st_size - kept  # bytes re-sent after resume: 0


def test_cancel_deletes_the_partial_file(hub: HubServer, tmp_path: Path, model_file: Path) -> None:  # noqa: F811
    hub.add_repo(REPO, {NAME: model_file})
    hub.faults.set("stall", NAME, method="GET", after_bytes=8_000_000, seconds=3, times=1)
    events: list[Progress] = []
    dm = manager(tmp_path / "cache", events)
    job_id = dm.enqueue(REPO, [NAME])
    _wait_for(lambda: any(e.done >= 4_000_000 for e in events))
    dm.cancel(job_id)
    job = dm.wait(job_id, timeout=10)
    dm.close()
    assert job.state is State.CANCELLED
    assert not list(tmp_path.glob("cache/*/blobs/*"))


@pytest.mark.parametrize(("bad", "why"), [
    ("../../outside.gguf", "path escapes its folder"), ("/etc/passwd", "absolute path"),
    ("a/../../b.gguf", "path escapes its folder"), ("dir\\..\\x.gguf", "backslash"), ("", "empty name"),
    ("C:x.gguf", "absolute path"), ("a\nb.gguf", "control character"),
    ("x" * 300 + ".gguf", "name longer than 255 bytes"),
])
def test_file_names_from_the_hub_cannot_escape(bad: str, why: str, tmp_path: Path) -> None:
    """The download refuses what the catalog refresh refuses (one rule: explorer.gguf.names.unsafe_name)."""
    with pytest.raises(DownloadError, match=f"refusing the file name .* from the Hub: {why}"):
        safe_repo_path(bad)
    with pytest.raises(DownloadError) as err:
        safe_repo_path(bad)
    assert len(str(err.value)) < 200  # a hostile name is not echoed whole
    dm = manager(tmp_path / "cache")
    with pytest.raises(DownloadError):
        dm.enqueue(REPO, [bad])
    dm.close()


def _wait_for(cond, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_file_fetched_by_huggingface_hub_is_checked_not_fetched_again(hub: HubServer, tmp_path: Path,  # noqa: F811
                                                                       model_file: Path) -> None:
    hub.add_repo(REPO, {NAME: model_file})
    hf_hub_download(REPO, NAME, cache_dir=tmp_path / "cache")  # the real client, no .verified marker
    hub.clear_log()
    events: list[Progress] = []
    dm = manager(tmp_path / "cache", events)
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=60)
    assert job.state is State.DONE and job.results[0].received == 0
    assert not hub.requests("GET", NAME)  # hashed on disk instead
    assert any(e.state is State.VERIFYING for e in events)
    assert list(tmp_path.glob("cache/*/blobs/*.verified"))
    # a damaged copy is not adopted: it is fetched again
    blob = next(p for p in tmp_path.glob("cache/*/blobs/*") if p.suffix == "")
    for marker in tmp_path.glob("cache/*/blobs/*.verified"):
        marker.unlink()
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    blob.write_bytes(bytes(data))
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=60)
    dm.close()
    assert job.state is State.DONE and job.results[0].received == model_file.stat().st_size
    assert job.results[0].path.read_bytes() == model_file.read_bytes()


def test_an_invalid_commit_id_from_the_hub_is_refused(hub: HubServer, tmp_path: Path,  # noqa: F811
                                                      model_file: Path) -> None:
    hub.add_repo(REPO, {NAME: model_file})
    hub.faults.set("headers", NAME, method="HEAD", headers={"X-Repo-Commit": "../../../outside"}, times=None)
    dm = manager(tmp_path / "cache")
    job = dm.wait(dm.enqueue(REPO, [NAME]), timeout=30)
    dm.close()
    assert job.state is State.FAILED and "invalid commit id" in job.message
    assert not (tmp_path / "outside").exists() and not list(tmp_path.glob("cache/*/snapshots/*"))


def test_the_same_model_is_not_queued_twice_and_close_pauses_the_queue(hub: HubServer, tmp_path: Path,  # noqa: F811
                                                                      model_file: Path) -> None:
    hub.add_repo(REPO, {NAME: model_file, "other.gguf": ensure_model("qwen3-tiny-hybrid-f16")})
    hub.faults.set("stall", NAME, method="GET", after_bytes=1_000_000, seconds=2, times=1)
    dm = manager(tmp_path / "cache")
    first = dm.enqueue(REPO, [NAME])
    assert dm.enqueue(REPO, [NAME]) == first
    queued = dm.enqueue(REPO, ["other.gguf"])
    dm.close(timeout=5)
    assert dm.job(queued).state is State.PAUSED
    assert dm.job(first).state is State.PAUSED
    with pytest.raises(DownloadError, match="closed"):
        dm.enqueue(REPO, ["other.gguf"])


def test_a_missing_repo_or_file_says_which_in_one_line(hub: HubServer, tmp_path: Path, model_file: Path) -> None:  # noqa: F811
    """The Hub says what it does not have (X-Error-Code): a mistyped repo is not blamed on the file."""
    hub.add_repo(REPO, {NAME: model_file})
    dm = manager(tmp_path / "cache", retries=0)
    missing = dm.wait(dm.enqueue("nobody/no-such-model-GGUF", [NAME]), timeout=30)
    assert missing.state is State.FAILED
    assert missing.message == ("nobody/no-such-model-GGUF: no such model repository on the Hub (check its name; "
                               "a private one needs a token)"), missing.message
    absent = dm.wait(dm.enqueue(REPO, ["Qwen3-Nothing-Q4_K_M.gguf"]), timeout=30)
    assert absent.state is State.FAILED and "\n" not in absent.message
    assert absent.message == f"{REPO} has no file Qwen3-Nothing-Q4_K_M.gguf", absent.message
    dm.close()
