"""Refresh the catalog from the Hub: exact file sizes, shards and sha256, cached on disk with a date.

The shipped snapshot knows the models (architecture facts, which repos publish them); the Hub knows
the files. A refresh asks each repo for its file list with LFS metadata and replaces the snapshot's
files of that repo with what is really there. A repo that cannot be reached keeps its snapshot
entries, and the result says which ones failed, so the app keeps working offline.

A refresh never hangs: it has an overall deadline (`deadline`, 60 s by default) and a timeout per
request, honours a 429's Retry-After only while the deadline allows, and stops within a fraction of
a second when `cancelled()` turns true. Each request runs on a daemon thread that the refresh stops
waiting for, so a Hub that never answers keeps neither the caller nor the process from exiting; a
request reads at most `MAX_LISTING_BYTES` of its answer, and stops reading once the refresh has given
up on it, so an endless body costs neither memory nor a thread that goes on reading.
File names from a listing that could escape a folder or break a file system are refused when the
listing is read, and counted in the result.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from explorer.catalog.snapshot import Catalog, CatalogError, CatalogFile, load_catalog, save_catalog
from explorer.errors import describe_error
from explorer.gguf.names import quant_of, unsafe_name
from explorer.gguf.shards import parse_shard
from explorer.paths import cache_root
from explorer.units import MIB

DEFAULT_DEADLINE = 60.0  # seconds for the whole refresh
REQUEST_TIMEOUT = 15.0  # seconds for one request (connect, or a pause between bytes)
POLL = 0.05  # how often a wait looks at `cancelled()`
MAX_LISTING_BYTES = 32 * MIB  # one repo's model_info (real ones: a few hundred KB at most)
_T = TypeVar("_T")


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    sha256: str | None


@dataclass(frozen=True)
class RepoListing:
    files: list[HubFile]  # the repo's GGUFs with safe names
    refused: list[tuple[str, str]] = field(default_factory=list)  # (name as repr, why) of unsafe GGUF names


@dataclass(frozen=True)
class RefreshResult:
    catalog: Catalog
    updated: tuple[str, ...]  # repos whose files now come from the Hub
    failed: tuple[tuple[str, str], ...]  # (repo, reason) kept from the snapshot
    refused: tuple[tuple[str, str, str], ...] = ()  # (repo, file name as repr, why) left out of the catalog
    skipped: tuple[str, ...] = ()  # repos not asked: the refresh was cancelled or ran out of time
    stopped: str | None = None  # None, "cancelled" or "deadline"

    @property
    def cancelled(self) -> bool:
        return self.stopped == "cancelled"


class RefreshStopped(Exception):
    """A wait ended early: `reason` is "cancelled" or "deadline"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def list_repo_gguf(api: Any, repo: str, *, timeout: float | None = None, max_bytes: int = MAX_LISTING_BYTES,
                   stop: Callable[[], bool] | None = None) -> RepoListing:
    """Every GGUF in `repo` with its size and LFS sha256 (one model_info call); unsafe names refused.

    With a real `HfApi` the answer is read as a stream of at most `max_bytes` (huggingface_hub's own
    model_info reads a body of any length into memory), and reading stops once `stop()` is true."""
    from huggingface_hub import HfApi

    if isinstance(api, HfApi):
        info = _model_info_bounded(api, repo, timeout=timeout, max_bytes=max_bytes, stop=stop or (lambda: False))
    else:  # a stand-in with the same call (tests)
        info = api.model_info(repo, files_metadata=True, timeout=timeout)
    out: list[HubFile] = []
    refused: list[tuple[str, str]] = []
    for s in info.siblings or ():
        name = s.rfilename
        if not isinstance(name, str) or not name.endswith(".gguf"):
            continue
        why = unsafe_name(name)
        if why is not None:
            refused.append((repr(name[:300]), why))
            continue
        if s.size is None:
            raise CatalogError(f"{repo}: the Hub gave no size for {name}")
        sha = s.lfs.sha256 if s.lfs is not None else None
        out.append(HubFile(name, int(s.size), sha))
    return RepoListing(out, refused)


class ListingTooLarge(CatalogError):
    """The Hub's answer for one repo went past the bound a refresh reads."""


def _model_info_bounded(api: Any, repo: str, *, timeout: float | None, max_bytes: int,
                        stop: Callable[[], bool]) -> Any:
    """`api.model_info(repo, files_metadata=True)`, the same request and the same `ModelInfo`, read as a
    stream: at most `max_bytes` of body, and not a chunk more once `stop()` is true."""
    import httpx2
    from huggingface_hub import get_session
    from huggingface_hub.hf_api import ModelInfo
    from huggingface_hub.utils._headers import build_hf_headers
    from huggingface_hub.utils._http import hf_raise_for_status
    from huggingface_hub.utils._validators import validate_repo_id

    validate_repo_id(repo)
    headers = build_hf_headers(token=api.token, library_name=api.library_name,
                               library_version=api.library_version, user_agent=api.user_agent, headers=api.headers)
    with get_session().stream("GET", f"{api.endpoint}/api/models/{repo}", params={"blobs": True},
                              headers=headers, timeout=timeout) as response:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            if stop():
                raise RefreshStopped("deadline")
            size += len(chunk)
            if size > max_bytes:
                raise ListingTooLarge(f"the Hub's answer is larger than {max_bytes / MIB:g} MiB; "
                                      "not read further")
            chunks.append(chunk)
        body = b"".join(chunks)
        del chunks
        if response.status_code >= 400:  # the body read (bounded) for the error's message
            hf_raise_for_status(httpx2.Response(response.status_code, headers=response.headers, content=body,
                                                request=response.request))
    return ModelInfo(**json.loads(body))  # type: ignore[no-untyped-call]


def files_from_hub(repo: str, hub_files: Iterable[HubFile]) -> list[CatalogFile]:
    """Group a repo's GGUFs into catalog files: split shards together, one entry per quant file."""
    groups: dict[str, list[HubFile]] = {}
    for f in hub_files:
        if unsafe_name(f.path) is not None:
            continue  # list_repo_gguf refuses (and counts) these; never let one reach the catalog
        shard = parse_shard(f.path)
        key = shard.prefix if shard else f.path
        groups.setdefault(key, []).append(f)
    files = []
    for key, members in sorted(groups.items()):
        quant = quant_of(key if key.endswith(".gguf") else key + ".gguf")
        if quant is None:
            continue
        members.sort(key=lambda f: f.path)
        first = parse_shard(members[0].path)
        if first and len(members) != first.count:
            continue  # an incomplete split set on the Hub: not downloadable as a whole
        files.append(CatalogFile(
            repo=repo, quant=quant, shards=tuple(f.path for f in members), size=sum(f.size for f in members),
            size_is_estimate=False, sha256=tuple(f.sha256 for f in members),
            shard_sizes=tuple(f.size for f in members) if len(members) > 1 else (),
            verified=True, size_source="Hub",
        ))
    return files


def _wait(fn: Callable[[], _T], *, until: float, cancelled: Callable[[], bool],
          abandoned: threading.Event | None = None) -> _T:
    """`fn()` on a daemon thread; its result, or RefreshStopped when the deadline or a cancel comes first
    (then `abandoned` is set, so that `fn` can stop what it is doing)."""
    try:
        return _wait_for(fn, until=until, cancelled=cancelled)
    except RefreshStopped:
        if abandoned is not None:
            abandoned.set()
        raise


def _wait_for(fn: Callable[[], _T], *, until: float, cancelled: Callable[[], bool]) -> _T:
    box: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

    def run() -> None:
        try:
            box.put((True, fn()))
        except BaseException as exc:  # handed to the waiting thread
            box.put((False, exc))

    threading.Thread(target=run, name="hub-request", daemon=True).start()
    while True:
        if cancelled():
            raise RefreshStopped("cancelled")
        left = until - time.monotonic()
        if left <= 0:
            raise RefreshStopped("deadline")
        try:
            ok, value = box.get(timeout=min(POLL, left))
        except queue.Empty:
            continue
        if ok:
            return value  # type: ignore[no-any-return]
        raise value


def _sleep(seconds: float, *, until: float, cancelled: Callable[[], bool]) -> None:
    end = time.monotonic() + seconds
    while (now := time.monotonic()) < end:
        if cancelled():
            raise RefreshStopped("cancelled")
        if now >= until:
            raise RefreshStopped("deadline")
        time.sleep(min(POLL, end - now, max(until - now, 0.001)))


def retry_after(exc: BaseException) -> float | None:
    """The seconds a 429 answer asks to wait (Retry-After: seconds or an HTTP date); None if not a 429."""
    response = getattr(exc, "response", None)
    if getattr(response, "status_code", None) != 429:
        return None
    value = str(getattr(response, "headers", {}).get("Retry-After", "") or "").strip()
    if value.isdigit():
        return float(value)
    import email.utils  # here: only a 429 with a date needs it (9 ms at start-up otherwise)

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 1.0  # a 429 without a usable Retry-After: wait a little
    return max(0.0, when.timestamp() - time.time())


def refresh_catalog(snapshot: Catalog, api: Any, *, repos: Iterable[str] | None = None,
                    progress: Callable[[int, int, str], None] | None = None,
                    cancelled: Callable[[], bool] | None = None, today: str | None = None,
                    deadline: float = DEFAULT_DEADLINE, request_timeout: float = REQUEST_TIMEOUT,
                    attempts: int = 3, max_bytes: int = MAX_LISTING_BYTES) -> RefreshResult:
    """Ask the Hub for the files of every repo in `snapshot` (or just `repos`), within `deadline` seconds.

    A repo that answers 429 is asked again after its Retry-After (up to `attempts` times) when that
    wait ends before the deadline. When the deadline passes or `cancelled()` turns true, the repos
    not asked yet are `skipped`; what was fetched so far is kept.
    """
    wanted = list(dict.fromkeys(repos if repos is not None else (f.repo for _m, f in snapshot.iter_files())))
    is_cancelled = cancelled or (lambda: False)
    until = time.monotonic() + deadline
    fresh: dict[str, list[CatalogFile]] = {}
    failed: list[tuple[str, str]] = []
    refused: list[tuple[str, str, str]] = []
    stopped: str | None = None
    asked = 0
    for i, repo in enumerate(wanted):
        if progress is not None:
            progress(i, len(wanted), repo)
        try:
            listing = _ask_repo(api, repo, until=until, cancelled=is_cancelled, request_timeout=request_timeout,
                                attempts=attempts, max_bytes=max_bytes)
        except RefreshStopped as stop:
            stopped = stop.reason
            if stop.reason == "deadline":
                failed.append((repo, f"no answer within the refresh's {deadline:g} s"))
                asked += 1
            break
        except Exception as exc:  # network, HTTP status, malformed reply: keep the snapshot's entries
            failed.append((repo, describe_error(exc, with_type=True)))
        else:
            fresh[repo] = files_from_hub(repo, listing.files)
            refused += [(repo, name, why) for name, why in listing.refused]
        asked += 1
    models = []
    for model in snapshot.models:
        files: list[CatalogFile] = []
        for repo in dict.fromkeys(f.repo for f in model.files):
            files += fresh.get(repo) or [f for f in model.files if f.repo == repo]
        models.append(replace(model, files=tuple(files)))
    date = today or dt.date.today().isoformat()
    source = "hub" if fresh else snapshot.source
    catalog = Catalog(tuple(models), date if fresh else snapshot.snapshot_date, source)
    return RefreshResult(catalog, tuple(fresh), tuple(failed), tuple(refused), tuple(wanted[asked:]), stopped)


def _ask_repo(api: Any, repo: str, *, until: float, cancelled: Callable[[], bool], request_timeout: float,
              attempts: int, max_bytes: int) -> RepoListing:
    for attempt in range(1, attempts + 1):
        abandoned = threading.Event()
        ask = functools.partial(list_repo_gguf, api, repo, max_bytes=max_bytes, stop=abandoned.is_set,
                                timeout=max(0.1, min(request_timeout, until - time.monotonic())))
        try:
            return _wait(ask, until=until, cancelled=cancelled, abandoned=abandoned)
        except RefreshStopped:
            raise
        except Exception as exc:
            wait = retry_after(exc)
            if wait is None or attempt == attempts:
                raise
            if time.monotonic() + wait >= until:
                raise CatalogError(f"rate limited: the Hub asks to wait {wait:.0f} s, past the refresh's deadline"
                                   ) from exc
            _sleep(wait, until=until, cancelled=cancelled)
    raise AssertionError("unreachable")


def cache_path() -> Path:
    return cache_root() / "catalog-hub.json"


def save_refreshed(catalog: Catalog, path: Path | None = None) -> Path:
    target = path or cache_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    save_catalog(catalog, target)
    return target


def current_catalog(path: Path | None = None) -> Catalog:
    """The last catalog refreshed from the Hub if there is a readable one, else the shipped snapshot."""
    cached = path or cache_path()
    if cached.exists():
        try:
            return load_catalog(cached)
        except (CatalogError, OSError, json.JSONDecodeError):
            pass  # a damaged cache is ignored; the next refresh rewrites it
    return load_catalog()


def describe_source(catalog: Catalog) -> str:
    if catalog.source == "hub":
        return f"Hub catalog, refreshed {catalog.snapshot_date}"
    return f"Offline snapshot, {catalog.snapshot_date}"
