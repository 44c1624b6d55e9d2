"""An exception as one sentence for a person: what the CLI prints, what a note or a job message says."""

from __future__ import annotations

LIMIT = 300  # characters; a server's HTML error page or a huge repr must not flood a status line


def describe_error(exc: BaseException, *, with_type: bool = False, limit: int = LIMIT) -> str:
    """One line: the exception's message, or its type name when the message is empty.

    An OSError gives its `strerror` ("Permission denied"), without the errno and the path that
    the caller's own words already name. Only the first non-empty line is kept, never a traceback,
    and the text is cut to `limit` characters. `with_type` puts the type name in front
    ("NVMLError: Not Supported"), for messages where the kind of failure is the useful part.
    """
    strerror = exc.strerror if isinstance(exc, OSError) else None
    text = strerror if isinstance(strerror, str) and strerror.strip() else str(exc)
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    name = type(exc).__name__
    if not line:
        return name
    if with_type:
        line = f"{name}: {line}"
    return line if len(line) <= limit else line[: max(1, limit - 1)].rstrip() + "…"
