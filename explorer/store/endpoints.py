"""Saved OpenAI-compatible endpoints: a base URL, a name to show, whether an API key is kept for it,
and whether hybrid models there get the ``/no_think`` soft switch.

    store = EndpointStore()
    ep = store.save("http://gpu-box:8080", name="gpu box", api_key="sk-...")   # the key goes to `secrets`
    store.endpoints()   # [SavedEndpoint(url="http://gpu-box:8080/v1", name="gpu box", has_key=True, ...)]
    store.api_key(ep)   # "sk-..." (from the keyring or the key file), None when none is kept

The endpoints live in a JSON file (`endpoints_file()`, user data); the keys never do: they are in
`explorer.store.secrets`, under the endpoint's URL. A URL with a user name or password in it is
refused, so no secret reaches the file, a saved conversation or an export by way of a URL.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from explorer.engine.remote import endpoint_url
from explorer.paths import _data_dir
from explorer.store.secrets import Secrets, default_secrets

ENDPOINTS_DIR_ENV = "QWEN3_EXPLORER_ENDPOINTS"
SCHEMA = 1


class EndpointError(Exception):
    """The endpoints file could not be read or written; one line."""


def endpoints_file() -> Path:
    """Saved endpoints: user data ($XDG_DATA_HOME); $QWEN3_EXPLORER_ENDPOINTS names the folder."""
    return _data_dir(ENDPOINTS_DIR_ENV, "endpoints") / "endpoints.json"


@dataclass(frozen=True)
class SavedEndpoint:
    url: str  # the base URL requests go under (endpoint_url: ends in /v1 unless a path was given)
    name: str = ""
    has_key: bool = False
    soft_switch: bool = True  # append /no_think for hybrid models when thinking is off

    @property
    def label(self) -> str:
        return self.name or self.url


class EndpointStore:
    def __init__(self, path: Path | None = None, secrets: Secrets | None = None) -> None:
        self.path = path or endpoints_file()
        self._secrets = secrets

    @property
    def secrets(self) -> Secrets:
        if self._secrets is None:
            self._secrets = default_secrets()
        return self._secrets

    def endpoints(self) -> list[SavedEndpoint]:
        return self._read()

    def find(self, url_or_name: str) -> SavedEndpoint | None:
        """The endpoint with this name, or this URL (in any of its spellings)."""
        rows = self._read()
        for ep in rows:
            if ep.name and ep.name == url_or_name:
                return ep
        try:
            url = endpoint_url(url_or_name)
        except ValueError:
            return None
        return next((ep for ep in rows if ep.url == url), None)

    def save(self, url: str, *, name: str = "", api_key: str | None = None,
             soft_switch: bool = True) -> SavedEndpoint:
        """Add or update the endpoint at `url`. `api_key`: a key to keep (None: keep what is kept; "": forget
        it). ValueError (one line) for a URL that is not an endpoint."""
        base = endpoint_url(url)
        if api_key is not None:
            if api_key:
                self.secrets.set(base, api_key)
            else:
                self.secrets.delete(base)
        rows = [ep for ep in self._read() if ep.url != base]
        ep = SavedEndpoint(base, name.strip(), self.secrets.has(base), soft_switch)
        rows.append(ep)
        self._write(rows)
        return ep

    def remove(self, url_or_name: str) -> bool:
        """Forget the endpoint and its key; False when there was none."""
        ep = self.find(url_or_name)
        if ep is None:
            return False
        self.secrets.delete(ep.url)
        self._write([e for e in self._read() if e.url != ep.url])
        return True

    def api_key(self, ep: SavedEndpoint) -> str | None:
        return self.secrets.get(ep.url)

    # --- the file --------------------------------------------------------------------------------

    def _read(self) -> list[SavedEndpoint]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise EndpointError(f"cannot read {self.path}: {exc.strerror}") from None
        except ValueError:
            raise EndpointError(f"{self.path} is not an endpoints file (not JSON)") from None
        rows = data.get("endpoints") if isinstance(data, dict) else None
        out: list[SavedEndpoint] = []
        for row in rows if isinstance(rows, list) else []:
            if not isinstance(row, dict) or not isinstance(row.get("url"), str):
                continue
            try:
                url = endpoint_url(row["url"])
            except ValueError:
                continue
            name = row.get("name")
            out.append(SavedEndpoint(url, name if isinstance(name, str) else "", row.get("has_key") is True,
                                     row.get("soft_switch") is not False))
        return out

    def _write(self, rows: list[SavedEndpoint]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps({"schema": SCHEMA, "endpoints": [asdict(ep) for ep in rows]}, indent=1),
                           "utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.path.with_name(self.path.name + ".tmp").unlink()
            raise EndpointError(f"cannot write {self.path}: {exc.strerror}") from None
