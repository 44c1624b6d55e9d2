"""Refresh the catalog from the Hub: exact file sizes, shards and sha256, cached on disk with a date.

The shipped snapshot knows the models (architecture facts, which repos publish them); the Hub knows
the files. A refresh asks each repo for its file list with LFS metadata and replaces the snapshot's
files of that repo with what is really there. A repo that cannot be reached keeps its snapshot
entries, and the result says which ones failed, so the app keeps working offline.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from explorer.catalog.snapshot import Catalog, CatalogError, CatalogFile, load_catalog, save_catalog
from explorer.errors import describe_error
from explorer.gguf.names import quant_of
from explorer.gguf.shards import parse_shard
from explorer.paths import cache_root


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    sha256: str | None


@dataclass(frozen=True)
class RefreshResult:
    catalog: Catalog
    updated: tuple[str, ...]  # repos whose files now come from the Hub
    failed: tuple[tuple[str, str], ...]  # (repo, reason) kept from the snapshot


def list_repo_gguf(api: Any, repo: str) -> list[HubFile]:
    """Every GGUF in `repo` with its size and LFS sha256 (one model_info call)."""
    info = api.model_info(repo, files_metadata=True)
    out = []
    for s in info.siblings or ():
        if not s.rfilename.endswith(".gguf"):
            continue
        if s.size is None:
            raise CatalogError(f"{repo}: the Hub gave no size for {s.rfilename}")
        sha = s.lfs.sha256 if s.lfs is not None else None
        out.append(HubFile(s.rfilename, int(s.size), sha))
    return out


def files_from_hub(repo: str, hub_files: Iterable[HubFile]) -> list[CatalogFile]:
    """Group a repo's GGUFs into catalog files: split shards together, one entry per quant file."""
    groups: dict[str, list[HubFile]] = {}
    for f in hub_files:
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


def refresh_catalog(snapshot: Catalog, api: Any, *, repos: Iterable[str] | None = None,
                    progress: Callable[[int, int, str], None] | None = None,
                    cancelled: Callable[[], bool] | None = None, today: str | None = None) -> RefreshResult:
    """Ask the Hub for the files of every repo in `snapshot` (or just `repos`)."""
    wanted = list(dict.fromkeys(repos if repos is not None else (f.repo for _m, f in snapshot.iter_files())))
    fresh: dict[str, list[CatalogFile]] = {}
    failed: list[tuple[str, str]] = []
    for i, repo in enumerate(wanted):
        if cancelled is not None and cancelled():
            break
        if progress is not None:
            progress(i, len(wanted), repo)
        try:
            fresh[repo] = files_from_hub(repo, list_repo_gguf(api, repo))
        except Exception as exc:  # network, HTTP status, malformed reply: keep the snapshot's entries
            failed.append((repo, describe_error(exc, with_type=True)))
    models = []
    for model in snapshot.models:
        files: list[CatalogFile] = []
        for repo in dict.fromkeys(f.repo for f in model.files):
            files += fresh.get(repo) or [f for f in model.files if f.repo == repo]
        models.append(replace(model, files=tuple(files)))
    date = today or dt.date.today().isoformat()
    source = "hub" if fresh else snapshot.source
    catalog = Catalog(tuple(models), date if fresh else snapshot.snapshot_date, source)
    return RefreshResult(catalog, tuple(fresh), tuple(failed))


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
