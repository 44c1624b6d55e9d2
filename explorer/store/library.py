"""What is on disk: GGUF models in the Hugging Face cache, in our models folder, and added by path.

`scan_library` lists every GGUF it finds, one entry per model (a split set of shards is one entry).
A damaged or truncated file is listed with its `error`, never hidden, and a scan never raises for
a bad file. `delete_model` frees a model's space:

- Hugging Face cache ("hub-cache"): the snapshot links of the model's files (in every snapshot of
  the repo) are removed, and each blob (with its `.verified` marker) only when no remaining link in
  the repo still points at it. Nothing outside the hub cache is touched: a link that points out of
  the cache is removed, its target never.
- Our models folder ("models-dir"): the files (all shards) are deleted; a symlink is removed, not
  its target.
- Added by path ("added"): the user's file is never deleted; `delete_model` returns 0 and the
  caller drops it from `AddedFiles`.

Asking the user for confirmation is the UI's job.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from explorer.errors import describe_error
from explorer.gguf.names import quant_of
from explorer.gguf.reader import (
    GGUFError,
    GGUFHeader,
    chat_template,
    file_type_name,
    read_header,
    split_siblings,
)
from explorer.gguf.shards import sibling_names
from explorer.gguf.variant import Variant, guess_variant, variant_from_template
from explorer.paths import cache_root
from explorer.paths import models_dir as default_models_dir

Source = Literal["hub-cache", "models-dir", "added"]
VERIFIED_SUFFIX = ".verified"
_SOURCE_ORDER = {"hub-cache": 0, "models-dir": 1, "added": 2}


@dataclass(frozen=True)
class LocalModel:
    key: str  # "hf:owner/name:path/in/repo.gguf" or "file:/abs/path.gguf"
    path: Path  # the first shard (what llama.cpp opens); may be missing when complete is False
    shards: tuple[Path, ...]
    size: int  # bytes of the shards present
    repo: str | None
    filename: str  # path in the repo, or the file name
    quant: str | None
    arch: str | None  # "qwen3", "qwen3moe", ...; None when the header is unreadable
    variant: Variant | None
    complete: bool  # every shard is present
    verified: bool  # every shard's blob has its .verified marker (hub cache only)
    source: Source
    error: str | None = None
    revision: str | None = None  # hub cache: the snapshot (commit) the shards were read from

    @property
    def is_split(self) -> bool:
        return len(self.shards) > 1


def total_size(models: Iterable[LocalModel]) -> int:
    """Bytes of all the models, each key counted once."""
    seen: dict[str, int] = {}
    for m in models:
        seen.setdefault(m.key, m.size)
    return sum(seen.values())


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read at call time (so HF_HUB_CACHE changes are seen)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _variant_from_header(header: GGUFHeader) -> Variant | None:
    if not header.arch.startswith("qwen3"):
        return None
    return variant_from_template(chat_template(header))


# --- reading one model ----------------------------------------------------------------------

@dataclass(frozen=True)
class _HeaderFacts:
    quant: str | None
    arch: str | None
    variant: Variant | None
    error: str | None


_HEADER_CACHE: dict[tuple[str, int, int, int], _HeaderFacts] = {}
_HEADER_CACHE_MAX = 512


def _header_facts(first: Path, limit: int | None) -> _HeaderFacts:
    """Quant, arch and variant from the first shard's header only (later byte-split shards have none).

    `limit`: the bytes the header's tensors must fit in (the file, or all shards of a split set);
    None skips that check (a split set still downloading).
    """
    try:
        st = first.stat()
        key = (str(first.resolve()), st.st_size, st.st_mtime_ns, -1 if limit is None else limit)
    except (OSError, RuntimeError) as exc:
        return _HeaderFacts(None, None, None, f"{first.name}: cannot read the file: {describe_error(exc)}")
    cached = _HEADER_CACHE.get(key)
    if cached is not None:
        return cached
    facts = _read_facts(first, st.st_mode, limit)
    if len(_HEADER_CACHE) >= _HEADER_CACHE_MAX:
        _HEADER_CACHE.clear()
    _HEADER_CACHE[key] = facts
    return facts


def _read_facts(first: Path, mode: int, limit: int | None) -> _HeaderFacts:
    try:
        if not stat.S_ISREG(mode):
            raise GGUFError(f"{first.name}: not a regular file")
        with first.open("rb") as fh:
            header = read_header(fh.read, source=first.name)
        described = header.header_size + header.data_size
        if limit is not None and described > limit:
            raise GGUFError(f"{first.name}: truncated: the header describes {described:,} bytes "
                            f"but the file has {limit:,}")
    except GGUFError as exc:
        return _HeaderFacts(None, None, None, str(exc))
    except OSError as exc:
        return _HeaderFacts(None, None, None, f"{first.name}: cannot read the file: {describe_error(exc)}")
    return _HeaderFacts(file_type_name([header]), header.arch or None, _variant_from_header(header), None)


def _file_size(p: Path) -> int | None:
    """Size of a present regular file (following links), else None."""
    try:
        st = p.stat()
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _is_verified(p: Path) -> bool:
    if not p.is_symlink():
        return False
    try:
        blob = p.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return blob.parent.name == "blobs" and blob.with_name(blob.name + VERIFIED_SUFFIX).is_file()


def _build(shards: list[Path], *, key: str, repo: str | None, filename: str, source: Source,
           revision: str | None = None, hub: bool = False) -> LocalModel:
    sizes = [_file_size(p) for p in shards]
    present = [s for s in sizes if s is not None]
    complete = len(present) == len(shards)
    first = shards[0]
    error: str | None = None
    if sizes[0] is not None:
        # a split set's first shard may hold only the start of the data: check against all shards
        limit = None if not complete else sum(present)
        facts = _header_facts(first, limit)
        error = facts.error
        quant, arch, header_variant = facts.quant, facts.arch, facts.variant
    else:
        quant = arch = header_variant = None
        if not present:
            error = f"{first.name}: no such file"
    quant = quant or quant_of(filename)
    variant = guess_variant(repo or "", filename) or header_variant
    verified = hub and complete and all(_is_verified(p) for p in shards)
    return LocalModel(key=key, path=first, shards=tuple(shards), size=sum(present), repo=repo,
                      filename=filename, quant=quant, arch=arch, variant=variant, complete=complete,
                      verified=verified, source=source, error=error, revision=revision)


def _first_shard(path: Path) -> tuple[Path, list[Path]]:
    shards = split_siblings(path)
    return shards[0], shards


# --- the hub cache --------------------------------------------------------------------------

def _repo_id(folder: str) -> str | None:
    if not folder.startswith("models--"):
        return None
    return folder.removeprefix("models--").replace("--", "/")


def _snapshot_ggufs(snapshot: Path) -> Iterator[str]:
    """Paths in the repo (posix) of the .gguf entries of one snapshot; directories are not followed."""
    for dirpath, dirnames, filenames in os.walk(snapshot, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            if name.lower().endswith(".gguf"):
                yield Path(dirpath, name).relative_to(snapshot).as_posix()


def _snapshots(repo_dir: Path) -> list[Path]:
    """Snapshot folders, the one refs/main names first, then newest first."""
    snaps_dir = repo_dir / "snapshots"
    try:
        snaps = [p for p in snaps_dir.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []
    try:
        main = (repo_dir / "refs" / "main").read_text().strip()
    except (OSError, UnicodeDecodeError):
        main = ""

    def order(p: Path) -> tuple[int, float]:
        try:
            mtime = p.stat().st_mtime
        except OSError:
            mtime = 0.0
        return (0 if p.name == main else 1, -mtime)

    return sorted(snaps, key=order)


def _group_key(rel: str) -> tuple[str, list[str]]:
    """(first shard's repo path, all shard repo paths) for a repo path."""
    names = sibling_names(rel)
    return names[0], names


def _scan_hub(cache: Path) -> list[LocalModel]:
    out: list[LocalModel] = []
    try:
        repo_dirs = sorted(p for p in cache.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return out
    for repo_dir in repo_dirs:
        repo = _repo_id(repo_dir.name)
        if repo is None:
            continue
        snaps = _snapshots(repo_dir)
        # every model (split set) named in any snapshot, with the snapshots that hold part of it
        groups: dict[str, list[str]] = {}
        found: dict[str, set[str]] = {}  # first shard -> snapshot names holding any shard
        for snap in snaps:
            for rel in _snapshot_ggufs(snap):
                first, names = _group_key(rel)
                groups.setdefault(first, names)
                if _file_size(snap / rel) is not None:
                    found.setdefault(first, set()).add(snap.name)
        for first, names in groups.items():
            holders = [s for s in snaps if s.name in found.get(first, set())]
            if not holders:
                continue  # only dangling links: nothing on disk
            # the snapshot holding most shards (refs/main first, then newest, on ties)
            best = max(holders, key=lambda s: (sum(_file_size(s / n) is not None for n in names),
                                               -snaps.index(s)))
            out.append(_build([best / n for n in names], key=f"hf:{repo}:{first}", repo=repo,
                              filename=first, source="hub-cache", revision=best.name, hub=True))
    return out


# --- plain folders and added files ----------------------------------------------------------

def _scan_dir(folder: Path) -> Iterator[Path]:
    """.gguf files in `folder` and one level of subfolders (not hidden, not hub-cache repos)."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.name.lower().endswith(".gguf"):
            yield entry
        elif entry.is_dir() and not entry.name.startswith(("models--", "datasets--", "spaces--")):
            try:
                sub = sorted(entry.iterdir())
            except OSError:
                continue
            yield from (p for p in sub if p.name.lower().endswith(".gguf") and not p.name.startswith("."))


def _file_model(path: Path, source: Source) -> LocalModel:
    first, shards = _first_shard(Path(os.path.abspath(path)))
    return _build(shards, key=f"file:{first}", repo=None, filename=first.name, source=source)


def _real(p: Path) -> str:
    try:
        return str(p.resolve())
    except (OSError, RuntimeError):
        return str(p)


def scan_library(hub_cache: Path | None = None, models_dir: Path | None = None,
                 added: Iterable[Path] = ()) -> list[LocalModel]:
    """Every GGUF model on disk; unreadable files are listed with their error, never raised."""
    cache = hub_cache if hub_cache is not None else hub_cache_dir()
    folder = models_dir if models_dir is not None else default_models_dir()
    out: list[LocalModel] = []
    seen: set[str] = set()

    def keep(m: LocalModel) -> None:
        # Hub entries may share a blob (the same bytes under two names): each is its own entry.
        # A models-dir or added path that is one already listed (a link, or the same file) is not.
        real = _real(m.path)
        if m.key in seen or (m.source != "hub-cache" and real in seen):
            return
        seen.update((m.key, real))
        out.append(m)

    for m in _scan_hub(cache):
        keep(m)
    firsts: dict[Path, None] = {}
    for p in _scan_dir(folder):
        if p.is_file():  # follows links; a dangling link or a directory named .gguf is skipped
            firsts.setdefault(_first_shard(Path(os.path.abspath(p)))[0], None)
    for first in firsts:
        keep(_file_model(first, "models-dir"))
    for p in added:
        keep(_file_model(Path(p).expanduser(), "added"))
    out.sort(key=lambda m: (_SOURCE_ORDER[m.source], (m.repo or "").lower(), m.filename.lower()))
    return out


# --- deleting -------------------------------------------------------------------------------

def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _regular_size(p: Path) -> int:
    try:
        st = p.lstat()
    except OSError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


def delete_model(model: LocalModel, hub_cache: Path | None = None, models_dir: Path | None = None) -> int:
    """Delete a model's files and return the bytes freed (see the module notes for each source).

    Raises ValueError when the model's files are not where its source says (outside the hub cache
    or the models folder), so a stale or forged entry can never delete elsewhere.
    """
    if model.source == "added":
        return 0  # the user's own file: the caller just forgets it (AddedFiles.remove)
    if model.source == "models-dir":
        return _delete_plain(model, models_dir if models_dir is not None else default_models_dir())
    return _delete_hub(model, hub_cache if hub_cache is not None else hub_cache_dir())


def _delete_plain(model: LocalModel, folder: Path) -> int:
    root = folder.resolve()
    freed = 0
    for p in model.shards:
        parent = p.parent.resolve()
        if not _inside(parent, root):
            raise ValueError(f"{p} is not inside the models folder {root}")
        if not p.is_symlink() and not p.exists():
            continue
        size = _regular_size(p)  # a symlink frees nothing: its target is not ours
        p.unlink(missing_ok=True)
        freed += size
    return freed


def _delete_hub(model: LocalModel, cache: Path) -> int:
    if model.repo is None:
        raise ValueError(f"{model.key}: a hub-cache model without a repo")
    root = cache.resolve()
    repo_dir = root / f"models--{model.repo.replace('/', '--')}"
    if repo_dir.is_symlink() or not repo_dir.is_dir() or not _inside(repo_dir.resolve(), root):
        raise ValueError(f"{model.repo} is not in the hub cache {root}")
    repo_dir = repo_dir.resolve()
    snaps_dir = repo_dir / "snapshots"
    blobs_dir = repo_dir / "blobs"
    for p in model.shards:  # the entry must describe files of this repo's snapshots
        if not _inside(p.parent.resolve(), snaps_dir):
            raise ValueError(f"{p} is not inside {snaps_dir}")
    first_rel = model.filename
    _, names = _group_key(first_rel)

    freed = 0
    candidates: set[Path] = set()  # blobs that lost a link
    emptied: set[Path] = set()
    for snap in _snapshots(repo_dir):
        for rel in names:
            link = snap / rel
            if not _inside(link.parent.resolve(), snaps_dir):
                continue  # a snapshot subfolder that is a link out: leave it alone
            if link.is_symlink():
                target = _blob_of(link, blobs_dir)
                if target is not None:
                    candidates.add(target)
                link.unlink()
            elif link.is_file():  # a copy instead of a link (no-symlink platforms)
                freed += _regular_size(link)
                link.unlink()
            else:
                continue
            emptied.add(link.parent)
    still_used = _linked_blobs(snaps_dir, blobs_dir)
    for blob in candidates - still_used:
        freed += _regular_size(blob)
        blob.unlink(missing_ok=True)
        blob.with_name(blob.name + VERIFIED_SUFFIX).unlink(missing_ok=True)
    for folder in emptied:
        _prune_empty(folder, snaps_dir)
    return freed + _prune_repo(repo_dir)


def _blob_of(link: Path, blobs_dir: Path) -> Path | None:
    """The blob a snapshot link points at, only when it is a regular file in this repo's blobs/."""
    try:
        target = link.resolve()
    except (OSError, RuntimeError):
        return None
    if target.parent != blobs_dir or not target.is_file() or target.is_symlink():
        return None
    return target


def _linked_blobs(snaps_dir: Path, blobs_dir: Path) -> set[Path]:
    used: set[Path] = set()
    for dirpath, _dirs, files in os.walk(snaps_dir, followlinks=False):
        for name in files:
            p = Path(dirpath, name)
            if p.is_symlink():
                blob = _blob_of(p, blobs_dir)
                if blob is not None:
                    used.add(blob)
    return used


def _prune_empty(folder: Path, snaps_dir: Path) -> None:
    """Remove `folder` and its parents while empty, up to and including the snapshot folder."""
    while folder != snaps_dir and _inside(folder, snaps_dir):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _prune_repo(repo_dir: Path) -> int:
    """Drop the repo folder when no snapshot and no blob is left (a download may be running).

    Returns the bytes of the refs removed with it, so the freed total matches the disk usage.
    """
    try:
        if any((repo_dir / "snapshots").iterdir()) or any((repo_dir / "blobs").iterdir()):
            return 0
    except OSError:
        return 0
    freed = 0
    for sub in ("snapshots", "blobs"):
        try:
            (repo_dir / sub).rmdir()
        except OSError:
            return 0
    refs = repo_dir / "refs"
    for ref in sorted(refs.rglob("*"), reverse=True) if refs.is_dir() and not refs.is_symlink() else []:
        if ref.is_symlink() or ref.is_file():
            size = _regular_size(ref)
            ref.unlink(missing_ok=True)
            freed += size
        elif ref.is_dir():
            try:
                ref.rmdir()
            except OSError:
                return freed
    for leftover in (refs, repo_dir / ".no_exist", repo_dir):
        with contextlib.suppress(OSError):
            leftover.rmdir()
    return freed


# --- files added by path --------------------------------------------------------------------

class AddedFiles:
    """User-added GGUF paths, kept in a small JSON file; a damaged file reads as empty."""

    def __init__(self, path: Path | None = None) -> None:
        self.file = path if path is not None else cache_root() / "library.json"

    def paths(self) -> list[Path]:
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        items = data.get("paths") if isinstance(data, dict) else None
        if not isinstance(items, list):
            return []
        out: list[Path] = []
        for item in items:
            if isinstance(item, str) and item and Path(item) not in out:
                out.append(Path(item))
        return out

    def add(self, path: Path | str) -> LocalModel:
        """Validate `path` as a readable GGUF (any shard of a split set) and remember it."""
        model = _file_model(Path(path).expanduser(), "added")
        if not model.complete:
            missing = [p.name for p in model.shards if _file_size(p) is None]
            if len(missing) == len(model.shards) and not model.is_split:
                raise GGUFError(model.error or f"{model.path.name}: no such file")
            raise GGUFError(f"{model.path.name}: split model is missing {len(missing)} shard(s): "
                            f"{', '.join(missing)}")
        if model.error:
            raise GGUFError(model.error)
        paths = self.paths()
        if model.path not in paths:
            paths.append(model.path)
        self._write(paths)
        return model

    def remove(self, path: Path | str) -> None:
        first = _first_shard(Path(os.path.abspath(Path(path).expanduser())))[0]
        paths = self.paths()
        if first in paths:
            self._write([p for p in paths if p != first])

    def _write(self, paths: list[Path]) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_name(self.file.name + ".tmp")
        tmp.write_text(json.dumps({"version": 1, "paths": [str(p) for p in paths]}, indent=1), encoding="utf-8")
        os.replace(tmp, self.file)
