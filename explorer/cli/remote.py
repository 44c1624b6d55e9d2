"""`--endpoint URL [--api-key-env VAR]`: which server, and which key, a command talks to.

URL is a server's address (``http://host:8080``, ``/v1`` is added) or a base URL with its path, or
the name of an endpoint saved in the app (`explorer.store.endpoints`). The key comes from the
environment variable named by --api-key-env, else from the one kept for a saved endpoint (the
keyring or the key file), else there is none. No message here or below ever holds the key.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import TextIO

from explorer.engine.remote import RemoteError, endpoint_url, list_models


@dataclass(frozen=True)
class Endpoint:
    url: str
    api_key: str | None
    soft_switch: bool = True

    def __repr__(self) -> str:  # never the key
        return f"Endpoint({self.url!r}, api_key={'set' if self.api_key else None})"


def resolve_endpoint(value: str, key_env: str | None) -> Endpoint | str:
    """The endpoint `value` names, with its key; a one-line reason when there is none."""
    from explorer.store.endpoints import EndpointError, EndpointStore
    from explorer.store.secrets import SecretsError

    store = EndpointStore()
    try:
        saved = store.find(value)
    except EndpointError:
        saved = None  # an unreadable endpoints file: the URL still works as given
    try:
        url = saved.url if saved is not None else endpoint_url(value)
    except ValueError as exc:
        if "://" not in value:  # a name, most likely: say which names there are
            try:
                names = [e.name for e in store.endpoints()]
            except EndpointError:
                names = []
            known = f" (saved: {', '.join(names)})" if names else " (none is saved yet: add one in the Library)"
            return f"no saved endpoint is named {value!r}{known}, and it is not an http:// or https:// URL"
        return str(exc)
    key: str | None = None
    if key_env:
        key = os.environ.get(key_env) or None
        if key is None:
            return f"the environment variable {key_env} is not set (--api-key-env names the variable holding the key)"
    elif saved is not None and saved.has_key:
        try:
            key = store.api_key(saved)
        except SecretsError as exc:
            return str(exc)
    return Endpoint(url, key, saved.soft_switch if saved is not None else True)


def cmd_models_remote(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`qwen3-explorer models --endpoint URL`: the models the server offers, one per line."""
    ep = resolve_endpoint(args.endpoint, getattr(args, "api_key_env", None))
    if isinstance(ep, str):
        err.write(f"error: {ep}\n")
        return 2
    try:
        models = list_models(ep.url, ep.api_key)
    except RemoteError as exc:
        err.write(f"error: {exc}\n")
        return 1
    if not models:
        out.write(f"{ep.url} offers no models.\n")
        return 0
    width = max(len(m.id) for m in models)
    for m in models:
        out.write(f"{m.id:<{width}}  {m.owned_by}".rstrip() + "\n")
    return 0
