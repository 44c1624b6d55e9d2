"""What is on disk: GGUF models in the Hugging Face cache, in our models folder, and added by path.

`scan_library` lists every GGUF it finds, one entry per model (a split set of shards is one entry).
A damaged or truncated file is listed with its `error`, never hidden, and a scan never raises for
a bad file. `AddedFiles` remembers the files added by path; `explorer.store.delete` frees a
model's space.
"""

from __future__ import annotations

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


def snapshots(repo_dir: Path) -> list[Path]:
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
        snaps = snapshots(repo_dir)
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
