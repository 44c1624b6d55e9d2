"""Refreshing the catalog from the (loopback) Hub: exact sizes, shards, sha256; offline fallback."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from hub_fixtures import hub  # noqa: F401 - the fixture
from huggingface_hub import HfApi

from explorer.catalog.refresh import (
    MAX_LISTING_BYTES,
    HubFile,
    current_catalog,
    describe_source,
    files_from_hub,
    list_repo_gguf,
    refresh_catalog,
    retry_after,
    save_refreshed,
)
from explorer.catalog.snapshot import Catalog, CatalogFile, CatalogModel
from explorer.gguf.names import quant_of, unsafe_name
from explorer.gguf.shape import Architecture
from explorer.gguf.variant import Variant
from explorer.testing.hub import HubServer
from explorer.testing.hub_repos import split_file
from explorer.testing.models import ensure_model

ARCH = Architecture("qwen3", 2, 64, 4, 2, 16, 128, 267, 4096, 4096)


def snapshot() -> Catalog:
    estimated = CatalogFile("Qwen/Qwen3-Tiny-GGUF", "Q8_0", ("Qwen3-Tiny-Q8_0.gguf",), 999, True)
    elsewhere = CatalogFile("bartowski/Qwen_Qwen3-Tiny-GGUF", "Q4_K_M", ("Qwen_Qwen3-Tiny-Q4_K_M.gguf",), 500, True)
    model = CatalogModel("Qwen3-Tiny", Variant.HYBRID, "0.6B", 0.6, 0.6, ARCH, (estimated, elsewhere))
    return Catalog((model,), "2026-11-01", "snapshot")


def test_refresh_replaces_estimates_with_hub_facts(hub: HubServer, tmp_path: Path) -> None:  # noqa: F811
    q8 = ensure_model("qwen3-tiny-hybrid-q8_0")
    f16 = ensure_model("qwen3-tiny-hybrid-f16")
    shards = split_file(f16, tmp_path, "Qwen3-Tiny-F16", 3)
    hub.add_repo("Qwen/Qwen3-Tiny-GGUF", {
        "Qwen3-Tiny-Q8_0.gguf": q8, "README.md": "tiny", "mmproj-F16.gguf": b"x" * 10,
        **{f"F16/{p.name}": p for p in shards},
    })
    result = refresh_catalog(snapshot(), HfApi(), today="2026-11-25")
    assert result.updated == ("Qwen/Qwen3-Tiny-GGUF",)
    assert [r for r, _ in result.failed] == ["bartowski/Qwen_Qwen3-Tiny-GGUF"]  # not on this Hub
    cat = result.catalog
    assert (cat.source, cat.snapshot_date) == ("hub", "2026-11-25")
    files = {f.quant: f for f in cat.models[0].files}
    q8_file = files["Q8_0"]
    assert q8_file.size == q8.stat().st_size and not q8_file.size_is_estimate
    assert q8_file.sha256 == (hashlib.sha256(q8.read_bytes()).hexdigest(),)
    split = files["F16"]
    assert split.shards == tuple(f"F16/{p.name}" for p in shards)
    assert split.size == f16.stat().st_size and split.shard_sizes == tuple(p.stat().st_size for p in shards)
    assert files["Q4_K_M"].size_is_estimate  # the unreachable repo keeps its snapshot entry
    assert "mmproj" not in str(cat.models[0].files)
    assert describe_source(cat) == "Hub catalog, refreshed 2026-11-25"


def test_malformed_hub_reply_keeps_the_snapshot(hub: HubServer) -> None:  # noqa: F811
    hub.add_repo("Qwen/Qwen3-Tiny-GGUF", {"Qwen3-Tiny-Q8_0.gguf": ensure_model("qwen3-tiny-hybrid-q8_0")})
    hub.faults.set("malformed", "/api/models/", times=None)
    result = refresh_catalog(snapshot(), HfApi())
    assert result.updated == ()
    assert len(result.failed) == 2
    assert result.catalog.source == "snapshot" and result.catalog.models == snapshot().models


def test_cached_refresh_is_used_and_a_damaged_cache_is_ignored(tmp_path: Path) -> None:
    cache = tmp_path / "catalog-hub.json"
    assert current_catalog(cache).source == "snapshot"  # nothing cached: the shipped snapshot
    refreshed = Catalog(snapshot().models, "2026-11-25", "hub")
    save_refreshed(refreshed, cache)
    assert current_catalog(cache) == refreshed
    cache.write_text("{not json")
    assert current_catalog(cache).source == "snapshot"


def test_quant_names() -> None:
    assert quant_of("Q4_K_M/Qwen3-235B-A22B-Q4_K_M-00001-of-00003.gguf") == "Q4_K_M"
    assert quant_of("Qwen_Qwen3-8B-IQ4_XS.gguf") == "IQ4_XS"
    assert quant_of("mmproj-F16.gguf") is None


# --- a Hub that stalls, limits the rate, or lists hostile names ------------------------------

BOUND = 30.0  # seconds: "ends within a generous bound", never a timing claim


def test_a_stalled_hub_ends_at_the_deadline(hub: HubServer) -> None:  # noqa: F811
    hub.faults.set("stall", "/api/models/", seconds=600, times=None)
    started = time.monotonic()
    result = refresh_catalog(snapshot(), HfApi(), deadline=1.0, request_timeout=60)
    assert time.monotonic() - started < BOUND
    assert result.stopped == "deadline" and result.updated == ()
    assert result.failed == (("Qwen/Qwen3-Tiny-GGUF", "no answer within the refresh's 1 s"),)
    assert result.skipped == ("bartowski/Qwen_Qwen3-Tiny-GGUF",)  # never asked
    assert result.catalog.models == snapshot().models
    assert len(hub.requests(contains="/api/models/")) == 1


def _rss_mib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2**20


def _request_threads_end_with_rss_below(limit_mib: int) -> tuple[bool, int]:
    """Wait (up to BOUND) for the refresh's request threads to end; (ended, the highest RSS seen in MiB).
    Gives up early once RSS passes `limit_mib`."""
    peak, end = _rss_mib(), time.monotonic() + BOUND
    while time.monotonic() < end and peak < limit_mib:
        if not any(t.name == "hub-request" and t.is_alive() for t in threading.enumerate()):
            return True, peak
        time.sleep(0.05)
        peak = max(peak, _rss_mib())
    return False, peak


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads RSS from /proc")
def test_an_endless_listing_is_read_only_up_to_a_bound(hub: HubServer) -> None:  # noqa: F811
    """A Hub (or a proxy) that answers model_info with a body that never ends: the refresh reads at most
    MAX_LISTING_BYTES of it, fails that repo, and its request thread ends; memory stays bounded."""
    hub.add_repo("Qwen/Qwen3-Tiny-GGUF", {"Qwen3-Tiny-Q8_0.gguf": ensure_model("qwen3-tiny-hybrid-q8_0")})
    hub.faults.set("endless", "/api/models/", times=None)
    before = _rss_mib()
    started = time.monotonic()
    result = refresh_catalog(snapshot(), HfApi(), repos=["Qwen/Qwen3-Tiny-GGUF"], deadline=BOUND / 3,
                             request_timeout=BOUND)
    assert time.monotonic() - started < BOUND
    ended, peak = _request_threads_end_with_rss_below(before + 8 * MAX_LISTING_BYTES // 2**20)
    assert ended and peak - before < 8 * MAX_LISTING_BYTES // 2**20, (ended, before, peak)
    assert result.stopped is None and result.updated == ()
    [(repo, why)] = result.failed
    assert repo == "Qwen/Qwen3-Tiny-GGUF" and "larger than 32 MiB" in why, why
    assert result.catalog.models == snapshot().models


def test_a_request_past_the_deadline_stops_reading(hub: HubServer) -> None:  # noqa: F811
    """Below the size bound, a request that the refresh gave up on at its deadline stops reading too."""
    hub.add_repo("Qwen/Qwen3-Tiny-GGUF", {"Qwen3-Tiny-Q8_0.gguf": ensure_model("qwen3-tiny-hybrid-q8_0")})
    hub.faults.set("endless", "/api/models/", times=None)
    result = refresh_catalog(snapshot(), HfApi(), repos=["Qwen/Qwen3-Tiny-GGUF"], deadline=0.5,
                             request_timeout=BOUND, max_bytes=2**62)
    assert result.stopped == "deadline"
    ended, _peak = _request_threads_end_with_rss_below(2**40)
    assert ended


def test_each_request_has_its_own_timeout(hub: HubServer) -> None:  # noqa: F811
    hub.faults.set("stall", "/api/models/", seconds=600, times=None)
    result = refresh_catalog(snapshot(), HfApi(), deadline=BOUND, request_timeout=0.3)
    assert result.stopped is None and result.skipped == () and result.updated == ()
    assert [r for r, _ in result.failed] == ["Qwen/Qwen3-Tiny-GGUF", "bartowski/Qwen_Qwen3-Tiny-GGUF"]
    assert all("Timeout" in why for _r, why in result.failed), result.failed


def test_cancel_stops_a_refresh_waiting_on_the_hub(hub: HubServer) -> None:  # noqa: F811
    hub.faults.set("stall", "/api/models/", seconds=600, times=None)

    def cancelled() -> bool:  # the person presses Cancel once the first request is on its way
        return bool(hub.requests(contains="/api/models/"))

    result = refresh_catalog(snapshot(), HfApi(), cancelled=cancelled, deadline=BOUND, request_timeout=BOUND)
    assert result.cancelled and result.updated == () and result.failed == ()
    assert result.skipped == ("Qwen/Qwen3-Tiny-GGUF", "bartowski/Qwen_Qwen3-Tiny-GGUF")


def test_429_waits_for_retry_after_then_asks_again(hub: HubServer) -> None:  # noqa: F811
    hub.add_repo("Qwen/Qwen3-Tiny-GGUF", {"Qwen3-Tiny-Q8_0.gguf": ensure_model("qwen3-tiny-hybrid-q8_0")})
    hub.faults.set("status", "/api/models/Qwen/Qwen3-Tiny-GGUF", status=429, retry_after=1, times=1)
    result = refresh_catalog(snapshot(), HfApi(), repos=["Qwen/Qwen3-Tiny-GGUF"], deadline=BOUND)
    assert result.updated == ("Qwen/Qwen3-Tiny-GGUF",) and result.failed == ()
    assert [e.status for e in hub.requests(contains="/api/models/Qwen/Qwen3-Tiny-GGUF")] == [429, 200]


def test_429_past_the_deadline_fails_at_once(hub: HubServer) -> None:  # noqa: F811
    hub.add_repo("Qwen/Qwen3-Tiny-GGUF", {"Qwen3-Tiny-Q8_0.gguf": ensure_model("qwen3-tiny-hybrid-q8_0")})
    hub.faults.set("status", "/api/models/", status=429, retry_after=3600, times=None)
    started = time.monotonic()
    result = refresh_catalog(snapshot(), HfApi(), deadline=BOUND)
    assert time.monotonic() - started < BOUND
    assert result.updated == () and len(result.failed) == 2
    assert all("rate limited" in why and "3600 s" in why for _r, why in result.failed)
    assert len(hub.requests(contains="/api/models/")) == 2  # one each: no retry before the Hub allows it


def test_retry_after_reads_seconds_and_dates() -> None:
    def answer(status: int, value: str | None) -> Exception:
        exc = Exception("HTTP error")
        exc.response = SimpleNamespace(status_code=status, headers={"Retry-After": value} if value else {})  # type: ignore[attr-defined]
        return exc

    assert retry_after(answer(429, "7")) == 7
    later = email.utils.format_datetime(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=120), usegmt=True)
    assert 100 < (retry_after(answer(429, later)) or 0) <= 120
    assert retry_after(answer(429, None)) == 1.0
    assert retry_after(answer(503, "7")) is None and retry_after(ValueError("x")) is None


HOSTILE = ["../escape-Q4_K_M.gguf", "/etc/Qwen3-Q4_K_M.gguf", "C:/Qwen3-Q4_K_M.gguf", "dir\\Qwen3-Q4_K_M.gguf",
           "Qwen3-\x1b[31m-Q4_K_M.gguf", "Q4_K_M/./Qwen3-Q4_K_M.gguf", "a//Qwen3-Q4_K_M.gguf",
           "x" * 250 + "-Q4_K_M.gguf", "Q8_0/" + "é" * 130 + "-Q8_0.gguf"]


class ListingApi:
    """The one call a refresh makes (model_info), answering a fixed listing: hostile names a Hub could send."""

    def __init__(self, names: list[str]) -> None:
        self.names = names

    def model_info(self, repo: str, *, files_metadata: bool, timeout: float | None) -> SimpleNamespace:
        return SimpleNamespace(siblings=[SimpleNamespace(rfilename=n, size=100, lfs=None) for n in self.names])


def test_hostile_names_are_refused_when_the_listing_is_read() -> None:
    good = ["Qwen3-Tiny-Q8_0.gguf", "F16/Qwen3-Tiny-F16-00001-of-00002.gguf", "F16/Qwen3-Tiny-F16-00002-of-00002.gguf"]
    assert all(unsafe_name(n) for n in HOSTILE) and not any(unsafe_name(n) for n in good)
    listing = list_repo_gguf(ListingApi([*good, *HOSTILE, "../notes.txt"]), "Qwen/Qwen3-Tiny-GGUF")
    assert [f.path for f in listing.files] == good
    assert [name for name, _why in listing.refused] == [repr(n) for n in HOSTILE]  # .txt is no GGUF: not counted

    result = refresh_catalog(snapshot(), ListingApi([*good, *HOSTILE]), repos=["Qwen/Qwen3-Tiny-GGUF"])
    assert len(result.refused) == len(HOSTILE)
    assert {why for _repo, _name, why in result.refused} >= {"path escapes its folder", "absolute path",
                                                             "backslash in the name", "control character in the name",
                                                             "name longer than 255 bytes"}
    shards = [s for f in result.catalog.models[0].files for s in f.shards]
    assert not any(s in HOSTILE for s in shards) and "Qwen3-Tiny-Q8_0.gguf" in shards
    # files_from_hub, given hostile names by another caller, still leaves them out
    assert files_from_hub("r", [HubFile(n, 1, None) for n in HOSTILE]) == []


def test_hostile_names_from_the_loopback_hub_through_the_real_client(hub: HubServer) -> None:  # noqa: F811
    hub.add_repo("Qwen/Qwen3-Tiny-GGUF", {"Qwen3-Tiny-Q8_0.gguf": ensure_model("qwen3-tiny-hybrid-q8_0")})
    hub.faults.set("listing", "/api/models/Qwen/Qwen3-Tiny-GGUF", times=None, names=tuple(HOSTILE))
    result = refresh_catalog(snapshot(), HfApi(), repos=["Qwen/Qwen3-Tiny-GGUF"])
    assert result.updated == ("Qwen/Qwen3-Tiny-GGUF",)
    assert sorted(name for _repo, name, _why in result.refused) == sorted(repr(n) for n in HOSTILE)
    files = [f for f in result.catalog.models[0].files if f.repo == "Qwen/Qwen3-Tiny-GGUF"]
    assert [s for f in files for s in f.shards] == ["Qwen3-Tiny-Q8_0.gguf"]


@pytest.mark.parametrize(("given", "seen"), [(None, "True"), ("0", "False")])
def test_the_app_turns_hub_telemetry_off_unless_the_person_chose(given: str | None, seen: str) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_TELEMETRY"}
    if given is not None:
        env["HF_HUB_DISABLE_TELEMETRY"] = given
    code = "import explorer, huggingface_hub.constants as c; print(c.HF_HUB_DISABLE_TELEMETRY)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.stdout.strip() == seen, proc.stderr[-1000:]
