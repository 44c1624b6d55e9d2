"""Remote models in the chat grid: a model an OpenAI-compatible endpoint offers, picked in a pane like
a local file and run through `explorer.engine.remote.RemoteClient`.

A `RemoteTarget` names one (the endpoint's base URL, the model id, the endpoint's label); it holds no
key: the pane's driver asks the endpoint store for it when it connects (`remote_factory`), on its own
thread. A remote pane uses no local memory, so the plan (`explorer.fit.schedule.plan_runs`) places
local panes only and the remote ones run alongside its first wave (`add_remote_panes`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from explorer.engine.remote import RemoteClient, RemoteModel, endpoint_url, remote_ref
from explorer.gguf.variant import Variant, guess_variant

if TYPE_CHECKING:
    from explorer.store.endpoints import EndpointStore, SavedEndpoint

P = TypeVar("P")
REMOTE_FALLBACK = Variant.INSTRUCT_2507  # a model whose name says no Qwen3 variant: no thinking switch sent


@dataclass(frozen=True)
class RemoteTarget:
    """One model on one endpoint, as a pane picks it."""

    url: str  # the endpoint's base URL (endpoint_url)
    model: str  # the model id the server lists
    endpoint: str = ""  # the endpoint's name to show ("" : its URL)
    soft_switch: bool = True

    @property
    def ref(self) -> str:
        """How a saved conversation names it: ``<base URL>#<model id>`` (no key)."""
        return remote_ref(self.url, self.model)

    @property
    def where(self) -> str:
        return self.endpoint or urllib.parse.urlsplit(self.url).netloc or self.url

    @property
    def label(self) -> str:
        return f"{self.model} · remote: {self.where}"

    @property
    def variant(self) -> Variant:
        """Guessed from the model id (a server says nothing else); not a Qwen3 name: no switch."""
        return guess_variant(self.model) or REMOTE_FALLBACK


@dataclass(frozen=True)
class EndpointModels:
    """A saved endpoint as last listed: its models, or why there are none (one line)."""

    endpoint: SavedEndpoint
    models: tuple[RemoteModel, ...] = ()
    error: str | None = None
    listing: bool = False  # not listed yet

    def targets(self) -> list[RemoteTarget]:
        ep = self.endpoint
        return [RemoteTarget(ep.url, m.id, ep.name, ep.soft_switch) for m in self.models]

    @property
    def summary(self) -> str:
        if self.listing:
            return "listing…"
        if self.error is not None:
            return self.error
        n = len(self.models)
        return f"{n} model{'s' if n != 1 else ''}"


def all_targets(rows: Sequence[EndpointModels]) -> list[RemoteTarget]:
    return [t for row in rows for t in row.targets()]


def split_ref(ref: str) -> tuple[str, str] | None:
    """(base URL, model id) of a saved remote model (`remote_ref`); None for a local path."""
    if not ref.startswith(("http://", "https://")) or "#" not in ref:
        return None
    url, _, model = ref.partition("#")
    try:
        return endpoint_url(url), model
    except ValueError:
        return None


def target_for_ref(ref: str, store: EndpointStore | None) -> RemoteTarget | str | None:
    """The saved endpoint's model a saved pane names; a one-line reason when the endpoint is gone;
    None when `ref` is a local path."""
    parts = split_ref(ref)
    if parts is None:
        return None
    url, model = parts
    ep = None
    if store is not None:
        try:
            ep = store.find(url)
        except Exception as exc:  # an unreadable endpoints file: say so in the pane
            return f"The saved endpoints could not be read ({exc}): {model} at {url} cannot answer."
    if ep is None:
        return (f"The endpoint {url} is no longer saved: add it again in Library > Endpoints for {model} "
                "to answer here.")
    return RemoteTarget(ep.url, model, ep.name, ep.soft_switch)


# --- connecting ----------------------------------------------------------------------------------

RemoteFactory = Callable[[RemoteTarget], RemoteClient]


def remote_factory(store: EndpointStore | None) -> RemoteFactory:
    """Builds a pane's client for a target, with the key the store keeps for its endpoint (read on
    the pane's thread: a keyring may take a moment)."""

    def open_remote(target: RemoteTarget) -> RemoteClient:
        key = None
        if store is not None:
            ep = store.find(target.url)
            if ep is not None and ep.has_key:
                key = store.api_key(ep)
        return RemoteClient(target.url, target.model, api_key=key, soft_switch=target.soft_switch)

    return open_remote


# --- the plan --------------------------------------------------------------------------------------

def remote_line(number: int, target: RemoteTarget) -> str:
    return f"pane {number}: remote ({target.where}), no local memory"


def add_remote_panes(waves: list[list[P]], remote: Sequence[P]) -> list[list[P]]:
    """The plan's waves of local panes with the remote panes added to the first (they use no local
    memory, so they answer at once, alongside it)."""
    if not remote:
        return waves
    if not waves:
        return [list(remote)]
    return [[*waves[0], *remote], *waves[1:]]


def remote_status(target: RemoteTarget, seconds: float | None = None) -> str:
    """A remote pane's status line: where it runs, and (connected) how long the check took."""
    head = f"{target.variant.label} · remote: {target.where}"
    if seconds is None:
        return f"{head} · not connected"
    return f"{head} · connected in {seconds:.1f} s · context as the server has it"
