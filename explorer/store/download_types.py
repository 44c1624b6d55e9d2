"""The plain data of downloads: states, progress reports, the error type.

Kept apart from `explorer.store.downloads` so that the UI can show progress without importing
huggingface_hub at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class DownloadError(Exception):
    """A download could not go on; the message is for a person."""


class State(str, Enum):
    QUEUED = "queued"
    RUNNING = "downloading"
    VERIFYING = "verifying"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Progress:
    job: int
    state: State
    done: int  # bytes on disk for this model (all shards)
    total: int
    speed: float  # bytes/s over the last seconds
    file: str = ""  # the shard being worked on
    message: str = ""  # the error for FAILED, what happens for other states

    @property
    def eta(self) -> float | None:
        return (self.total - self.done) / self.speed if self.speed > 0 and self.total > self.done else None
