"""Deleting a model from disk, by where it came from:

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
import os
import stat
from pathlib import Path

from explorer.gguf.shards import sibling_names
from explorer.paths import models_dir as default_models_dir
from explorer.store.library import VERIFIED_SUFFIX, LocalModel, hub_cache_dir, snapshots


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
    names = sibling_names(first_rel)

    freed = 0
    candidates: set[Path] = set()  # blobs that lost a link
    emptied: set[Path] = set()
    for snap in snapshots(repo_dir):
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
