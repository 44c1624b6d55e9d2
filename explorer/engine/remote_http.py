"""The HTTP side of a remote engine: the endpoint's URL, one request to an OpenAI-compatible server (the
key only in the Authorization header, TLS always verified), a failed status as one line for a person,
429's Retry-After, and GET /v1/models. `explorer.engine.remote` streams answers over it."""

from __future__ import annotations

import email.utils
import http.client
import json
import math
import ssl
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from explorer.errors import describe_error

CONNECT_TIMEOUT = 10.0  # seconds to open the connection (and finish TLS)
READ_TIMEOUT = 300.0  # the longest silence while waiting for a response or the next event (a long prefill)
RETRY_WAIT_LIMIT = 30.0  # the most a request waits in all on 429 Retry-After before giving up
DEFAULT_RETRY_AFTER = 1.0  # a 429 without Retry-After
MESSAGE_LIMIT = 200  # characters of a server's own error text kept in a message
ERROR_BODY_LIMIT = 64 * 1024
USER_AGENT = "qwen3-explorer"


class RemoteError(Exception):
    """A request to the server failed; str() is one line for a person, without the API key."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RemoteModel:
    """A model the server offers (GET /v1/models)."""

    id: str
    owned_by: str = ""


def endpoint_url(url: str) -> str:
    """The base URL requests are made under (``.../v1``): a bare server address gets ``/v1``, a URL with
    a path is kept as given (``https://host/api/v1``). ValueError, one line, for a URL that is not
    http(s), has no host, or carries credentials (a key belongs in the keyring, not in a URL that
    would be saved and shown)."""
    text = url.strip()
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"an endpoint is an http:// or https:// URL, not {safe_url(text)!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("an endpoint URL may not carry a user name or password: save the API key with the endpoint")
    if not parts.hostname:
        raise ValueError(f"the endpoint URL has no host: {safe_url(text)!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ValueError(f"the endpoint URL has a bad port: {safe_url(text)!r}") from None
    path = parts.path.rstrip("/")
    if not path:
        path = "/v1"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def remote_ref(url: str, model: str) -> str:
    """How a remote model is named where a local one has its path (a saved conversation's model, a
    probe column): ``<base URL>#<model id>``; no key, no query."""
    return f"{endpoint_url(url)}#{model}"


def safe_url(text: str) -> str:
    parts = urllib.parse.urlsplit(text)
    if parts.username is None and parts.password is None:
        return text[:120]
    host = parts.hostname or ""
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def scrub(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "[api key]")
    return text


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


# --- HTTP --------------------------------------------------------------------------------------

class Target:
    def __init__(self, url: str) -> None:
        self.base = endpoint_url(url)
        parts = urllib.parse.urlsplit(self.base)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port
        self.path = parts.path
        self.where = parts.netloc

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


def request_headers(api_key: str | None, *, stream: bool) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "text/event-stream" if stream else "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def open_request(target: Target, method: str, path: str, body: Mapping[str, Any] | None, api_key: str | None, *,
                 connect_timeout: float, read_timeout: float, stream: bool,
                 on_connect: Any = None) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """Send one request and read the response's head. OSError or HTTPException when the server cannot
    be reached or answers no HTTP."""
    conn = target.connection(connect_timeout)
    try:
        conn.connect()
        if on_connect is not None:
            on_connect(conn)
        if conn.sock is not None:
            conn.sock.settimeout(read_timeout)
        headers = request_headers(api_key, stream=stream)
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        conn.request(method, target.path + path, body=data, headers=headers)
        return conn, conn.getresponse()
    except BaseException:
        conn.close()
        raise


def server_message(resp: http.client.HTTPResponse) -> str:
    """The server's own words from an error response: the JSON ``error.message`` (or ``detail``,
    ``message``), else the first text of the body; "" when there is none."""
    try:
        raw = resp.read(ERROR_BODY_LIMIT)
    except (OSError, http.client.HTTPException):
        return ""
    text = raw.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return "" if text.lstrip().startswith("<") else one_line(text)  # an HTML error page says nothing useful
    found: Any = data
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            found = err.get("message") or err
        else:
            found = err or data.get("detail") or data.get("message") or data
    return one_line(found if isinstance(found, str) else json.dumps(found))


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (a number, or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def status_message(status: int, server: str, *, model: str, what: str, has_key: bool) -> str:
    said = f": {server}" if server else ""
    if status == 401:
        if has_key:
            return f"the server refused the API key (HTTP 401){said}"
        return f"the server needs an API key (HTTP 401){said}"
    if status == 403:
        return f"the server refused access (HTTP 403){said}"
    if status == 404:
        if what == "models":
            return f"the server has no model list (HTTP 404){said}: is this an OpenAI-compatible endpoint?"
        return f"no model named {model!r} on this server (HTTP 404){said}"
    if status >= 500:
        return f"the server failed (HTTP {status}){said}"
    return f"the server refused the request (HTTP {status}){said}"


def list_models(url: str, api_key: str | None = None, *, timeout: float = CONNECT_TIMEOUT) -> list[RemoteModel]:
    """The models the server offers, in its order. RemoteError (one line, no key in it) when it cannot be
    reached, refuses, or does not answer a model list; ValueError for a URL that is not an endpoint."""
    target = Target(url)
    try:
        conn, resp = open_request(target, "GET", "/models", None, api_key, connect_timeout=timeout,
                                  read_timeout=timeout, stream=False)
    except (OSError, http.client.HTTPException) as exc:
        raise RemoteError(scrub(f"cannot reach {target.where}: {describe_error(exc)}", api_key)) from None
    try:
        if resp.status != 200:
            msg = status_message(resp.status, server_message(resp), model="", what="models", has_key=bool(api_key))
            raise RemoteError(scrub(msg, api_key), resp.status)
        try:
            data = json.loads(resp.read(16 * 1024 * 1024))
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise RemoteError(scrub(f"the server's model list is unreadable: {describe_error(exc)}", api_key)) \
                from None
    finally:
        conn.close()
    rows = data.get("data") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise RemoteError("the server's model list has no 'data' list: is this an OpenAI-compatible endpoint?")
    out = []
    for row in rows:
        if isinstance(row, dict) and isinstance(row.get("id"), str) and row["id"]:
            owner = row.get("owned_by")
            out.append(RemoteModel(row["id"], owner if isinstance(owner, str) else ""))
    return out


# --- the stream's text, in the shape a local model writes -----------------------------------------
