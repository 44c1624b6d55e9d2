"""The loopback Hub's misbehaviours on request (drops, stalls, error statuses, wrong bytes, endless bodies,
forged headers) and its request log."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any, Literal

FaultKind = Literal["drop", "stall", "status", "corrupt", "malformed", "ignore_range", "endless", "headers",
                    "listing"]


@dataclass
class Fault:
    """One injected misbehaviour, applied to requests whose raw target (path and query) contains `match`.

    kinds:
    - drop: close the connection after `after_bytes` body bytes (None: before sending any response)
    - stall: sleep `seconds` after `after_bytes` body bytes (None: before sending any response)
    - status: answer `status` (500, 503, 429...) with a JSON error; `retry_after` adds Retry-After
    - corrupt: flip the byte at file offset `offset` (when the served range includes it)
    - malformed: answer 200 with truncated JSON (the /api/ endpoints)
    - ignore_range: answer 200 with the full body even when the request has a Range header
    - endless: a file body without Content-Length that never ends: the requested bytes, then zeros
      until the client hangs up (a broken proxy or server; 200, or 206 for a Range request); on the
      /api/ endpoints, a JSON object that never closes (a list in it goes on until the client hangs up)
    - headers: replace or add the response `headers` (e.g. a forged X-Repo-Commit)
    - listing: add `names` to a repo's model info (siblings of 100 bytes), as a hostile Hub could
    `times`: how many requests it applies to (None: all). `method`: only "GET" or "HEAD" (None: any).
    `connection`: only requests on that connection (the server numbers them 0, 1, ... as it accepts
    them; `LogEntry.connection` says which one a request came on), so one of several parallel
    connections can misbehave while the others do not.
    """

    kind: FaultKind
    match: str = ""
    method: str | None = None
    times: int | None = 1
    after_bytes: int | None = None
    seconds: float = 0.0
    status: int = 500
    retry_after: int | None = None
    offset: int = 0
    headers: dict[str, str] | None = None
    names: tuple[str, ...] = ()
    connection: int | None = None
    hits: int = 0  # how many requests it has applied to


class Faults:
    """Thread-safe set of active faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def set(self, kind: FaultKind, match: str = "", **kw: Any) -> Fault:
        """Shorthand: `faults.set("status", "/resolve/", status=503, times=2)`."""
        return self.add(Fault(kind, match, **kw))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return [replace(f) for f in self._faults]

    def take(self, method: str, target: str, connection: int = 0) -> list[Fault]:
        """The faults that apply to this request (at most one per kind), counting them as used."""
        taken: list[Fault] = []
        with self._lock:
            for fault in self._faults:
                if fault.match not in target or (fault.method and fault.method.upper() != method):
                    continue
                if fault.connection is not None and fault.connection != connection:
                    continue
                if fault.times is not None and fault.hits >= fault.times:
                    continue
                if any(t.kind == fault.kind for t in taken):
                    continue
                fault.hits += 1
                taken.append(replace(fault))
        return taken


@dataclass(frozen=True)
class LogEntry:
    method: str
    path: str  # raw request target, query included
    range: str | None
    status: int  # 0: the connection was closed before a status line
    bytes_sent: int  # body bytes
    faults: tuple[str, ...] = ()
    connection: int = 0  # which connection of the server's (numbered as accepted) it came on


@dataclass
class Record:
    method: str
    path: str
    range: str | None
    faults: tuple[str, ...]
    status: int = 0
    bytes_sent: int = 0
    connection: int = 0
