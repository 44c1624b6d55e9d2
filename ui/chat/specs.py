"""What a chat pane's driver is asked to do: the model to load (`LoadSpec`) and the message to send (`SendSpec`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from explorer.chat.records import PaneMode
from explorer.chat.templates import SamplingPreset
from ui.chat.remote import RemoteTarget


@dataclass(frozen=True)
class LoadSpec:
    path: Path
    n_ctx: int
    n_gpu_layers: int = 0
    n_threads: int | None = None
    remote: RemoteTarget | None = None  # a model on an endpoint: `path` only names it, nothing is read


@dataclass(frozen=True)
class SendSpec:
    """One user message and the pane's settings for it.

    Chatroom: `text` through the template, after the `system` prompt ("": the template's own).
    Free-form: `text` exactly as typed. Fill-in-the-middle: `text` is the prefix, `suffix` the suffix."""

    text: str
    thinking: bool
    budget: int | None = None
    sampling: SamplingPreset | None = None  # None: Qwen's preset for the mode the turn runs in
    max_tokens: int = 1024
    seed: int = 0
    regenerate: bool = False  # drop the last answer and ask the same question again
    mode: PaneMode = PaneMode.CHATROOM
    system: str = ""
    suffix: str = ""  # fill-in-the-middle only


def same_model(a: LoadSpec | None, b: LoadSpec) -> bool:
    """Whether a model loaded as `a` serves `b` (the thread count alone is not worth a reload)."""
    if a is None or a.remote != b.remote:
        return False
    return b.remote is not None or (a.path, a.n_ctx, a.n_gpu_layers) == (b.path, b.n_ctx, b.n_gpu_layers)
