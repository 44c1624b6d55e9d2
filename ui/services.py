"""What the main window needs from the outside world, passed in explicitly (no globals).

The real services call into `explorer`; tests build a `Services` with fakes. The fields added for
downloads, the catalog refresh and the library default to None, which the window shows as
"not available" (the Download button and the refresh action are disabled, the library is empty).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias

from explorer.catalog.snapshot import Catalog
from explorer.gguf.shape import ModelShape
from explorer.hardware.facts import Hardware
from explorer.paths import models_dir as default_models_dir

if TYPE_CHECKING:  # explorer.store.downloads imports huggingface_hub: keep it off the start-up path
    from explorer.catalog.refresh import RefreshResult
    from explorer.store.download_types import Progress
    from explorer.store.endpoints import EndpointStore
    from explorer.store.library import LocalModel


class Downloader(Protocol):
    """What the UI uses of `explorer.downloads.DownloadManager` (tests pass a fake)."""

    def enqueue(self, repo: str, files: Sequence[str]) -> int: ...
    def pause(self, job_id: int) -> None: ...
    def resume(self, job_id: int) -> None: ...
    def cancel(self, job_id: int) -> None: ...
    def close(self) -> None: ...


# Builds the download manager given the progress callback (called from worker threads). The
# window calls it lazily, on the first download, so merely opening the app starts no threads.
DownloaderFactory: TypeAlias = "Callable[[Callable[[Progress], None]], Downloader]"


@dataclass(frozen=True)
class Services:
    probe_hardware: Callable[[], Hardware]  # slow (seconds): the UI runs it on a worker thread
    load_catalog: Callable[[], Catalog]
    models_dir: Path
    downloads: DownloaderFactory | None = None
    # network: runs on a daemon worker thread, given `cancelled()`; ends by its own deadline
    refresh_catalog: Callable[[Callable[[], bool]], RefreshResult] | None = None
    scan_library: Callable[[], list[LocalModel]] | None = None  # disk: runs on a worker thread
    delete_model: Callable[[LocalModel], int] | None = None  # returns the bytes freed
    add_model_file: Callable[[Path], LocalModel] | None = None  # raises GGUFError for a non-GGUF
    # The exact shape of a Hub file from its GGUF header (HTTP Range, a few MB): network, worker thread.
    read_remote_shape: Callable[[str, Sequence[str]], ModelShape] | None = None
    # Where chat conversations are saved; None: explorer.paths.conversations_dir().
    conversations_dir: Path | None = None
    # Where probe runs and blind votes are kept; None: explorer.paths' probe_runs_dir() and votes_file().
    probe_runs_dir: Path | None = None
    votes_file: Path | None = None
    # Re-detect: the probe with the memory bandwidth measured again (None: the plain probe).
    remeasure_hardware: Callable[[], Hardware] | None = None
    reset_calibration: Callable[[Hardware], None] | None = None  # forget the speeds measured here
    # OpenAI-compatible servers whose models chat panes run (keys in the keyring); None: none offered.
    endpoints: EndpointStore | None = None


def default_services(models_dir: Path | None = None) -> Services:
    """The real services: probe this machine, the cached Hub catalog (else the shipped snapshot)."""
    # Imported here so that merely importing the UI does not pull in the probe's dependencies.
    from explorer.catalog import refresh as hub_catalog
    from explorer.hardware import probe as hardware
    from explorer.store.endpoints import EndpointStore

    models_dir = models_dir or default_models_dir()
    return Services(
        probe_hardware=functools.partial(hardware.probe_hardware, models_dir),
        remeasure_hardware=functools.partial(hardware.probe_hardware, models_dir, remeasure=True),
        reset_calibration=_reset_calibration,
        load_catalog=hub_catalog.current_catalog,
        models_dir=models_dir,
        downloads=_download_manager,
        refresh_catalog=_refresh_catalog,
        scan_library=functools.partial(_scan_library, models_dir),
        delete_model=functools.partial(_delete_model, models_dir),
        add_model_file=_add_model_file,
        read_remote_shape=_read_remote_shape,
        endpoints=EndpointStore(),
    )


def _reset_calibration(hw: Hardware) -> None:
    from explorer.fit.calibration import reset

    reset(hw)


def _read_remote_shape(repo: str, shards: Sequence[str]) -> ModelShape:
    from explorer.gguf.remote import read_remote_shape

    return read_remote_shape(repo, shards)


def _download_manager(on_progress: Callable[[Progress], None]) -> Downloader:
    from explorer.store.downloads import DownloadManager

    return DownloadManager(on_progress=on_progress)  # the Hugging Face cache, one file at a time


def _refresh_catalog(cancelled: Callable[[], bool]) -> RefreshResult:
    """Ask the Hub for every repo of the shipped snapshot (within the refresh's deadline); keep the
    result when any repo answered and the person did not cancel."""
    from huggingface_hub import HfApi

    from explorer.catalog import refresh as hub_catalog
    from explorer.catalog import snapshot as catalog

    result = hub_catalog.refresh_catalog(catalog.load_catalog(), HfApi(), cancelled=cancelled)
    if result.updated and not result.cancelled:
        hub_catalog.save_refreshed(result.catalog)
    return result


def _scan_library(models_dir: Path) -> list[LocalModel]:
    from explorer.store import library as library

    return library.scan_library(models_dir=models_dir, added=library.AddedFiles().paths())


def _delete_model(models_dir: Path, model: LocalModel) -> int:
    from explorer.store import library as library
    from explorer.store.delete import delete_model

    freed = delete_model(model, models_dir=models_dir)
    if model.source == "added":
        library.AddedFiles().remove(model.path)  # the user's file stays; we forget it
    return freed


def _add_model_file(path: Path) -> LocalModel:
    from explorer.store import library as library

    return library.AddedFiles().add(path)
