"""What the main window needs from the outside world, passed in explicitly (no globals).

The real services call into `explorer`; tests build a `Services` with fakes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from explorer.catalog import Catalog
from explorer.hardware import Hardware
from explorer.paths import models_dir as default_models_dir


@dataclass(frozen=True)
class Services:
    probe_hardware: Callable[[], Hardware]  # slow (seconds): the UI runs it on a worker thread
    load_catalog: Callable[[], Catalog]
    models_dir: Path


def default_services(models_dir: Path | None = None) -> Services:
    """The real services: probe this machine, read the shipped catalog snapshot."""
    # Imported here so that merely importing the UI does not pull in the probe's dependencies.
    from explorer import catalog, hardware

    models_dir = models_dir or default_models_dir()
    return Services(
        probe_hardware=functools.partial(hardware.probe_hardware, models_dir),
        load_catalog=catalog.load_catalog,
        models_dir=models_dir,
    )
