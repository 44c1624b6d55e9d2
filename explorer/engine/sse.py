"""Server-sent events, read line by line from a streaming HTTP response (the WHATWG format, the part
OpenAI-compatible servers use).

    for event in read_events(response.readline):
        if event.data == "[DONE]": ...

A line is ``field: value`` (one optional space after the colon); ``data`` lines accumulate, a blank
line dispatches the event; a line that starts with ``:`` is a comment (servers send them as
keep-alive pings) and is skipped, as are the fields a client of these servers has no use for (``id``,
``retry``). Lines end in LF or CRLF. An event cut off by the end of the stream (no blank line
after it) is dropped, as the format says: a dropped connection never passes for a complete event.
A line longer than `max_line` bytes, or one that is not UTF-8, raises `MalformedEvent`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

MAX_LINE = 4 * 1024 * 1024  # a server's chunk is a few hundred bytes; a line of megabytes is not SSE


class MalformedEvent(ValueError):
    """The stream is not server-sent events; the message quotes the start of the offending line."""


@dataclass(frozen=True)
class ServerEvent:
    data: str
    event: str = "message"


def _quote(raw: bytes, limit: int = 60) -> str:
    text = raw.decode("utf-8", "replace").strip()
    return repr(text if len(text) <= limit else text[:limit] + "…")


def read_events(readline: Callable[[int], bytes], *, max_line: int = MAX_LINE) -> Iterator[ServerEvent]:
    """The events of a stream; `readline(limit)` returns the next line with its ending (b"" at the end),
    as `http.client.HTTPResponse.readline` does."""
    data: list[str] = []
    kind = ""
    while True:
        raw = readline(max_line + 1)
        if not raw:
            return  # the end of the stream; an event without its blank line is incomplete
        if len(raw) > max_line:
            raise MalformedEvent(f"a line of more than {max_line} bytes: {_quote(raw)}")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedEvent(f"a line that is not UTF-8: {_quote(raw)}") from None
        line = line.rstrip("\r\n")
        if not line:
            if data:
                yield ServerEvent("\n".join(data), kind or "message")
            data, kind = [], ""
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            kind = value
