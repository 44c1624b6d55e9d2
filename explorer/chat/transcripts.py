"""Saved side-by-side chat sessions: one JSON file each (export: `explorer.chat.export`).

A session is an `explorer.chat.records.Session`; its module docstring shows the file format.
`validate_session` checks a file's JSON before it becomes one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import secrets
import stat
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from explorer.chat.export import to_json
from explorer.chat.records import SCHEMA, Session
from explorer.paths import conversations_dir
from explorer.units import KIB, MIB

__all__ = ["SCHEMA", "ConversationStore", "Session", "SessionInfo", "TranscriptError", "check_id", "new_session_id",
           "now_iso", "title_for", "validate_session"]

SUFFIX = ".json"
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class TranscriptError(Exception):
    """A saved session could not be read or written; the message names the file and the problem."""


def new_session_id(now: datetime | None = None) -> str:
    """A sortable, unique-enough id such as "20261126-054312-ab12" (local time, 4 random hex digits)."""
    when = now or datetime.now()
    return f"{when:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def title_for(text: str, limit: int = 60) -> str:
    """The first non-empty line of `text`, shortened to `limit` characters with "…"."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.split())
    if not line:
        return "Untitled conversation"
    if len(line) <= limit:
        return line
    return line[: max(1, limit - 1)].rstrip() + "…"


def now_iso() -> str:
    """Local time with its UTC offset, to the second: how conversations are dated."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def check_id(session_id: object) -> str:
    """`session_id` if it is safe as a file name (letters, digits, "-", "_", "."; no path separators)."""
    if not isinstance(session_id, str) or not _ID_RE.fullmatch(session_id):
        raise TranscriptError(f"invalid session id {session_id!r}: use letters, digits, '-', '_' or '.' "
                              "(no path separators)")
    return session_id


# --- validation --------------------------------------------------------------------------------

def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _need(obj: dict[str, Any], key: str, kinds: type | tuple[type, ...], where: str, source: str,
          optional: bool = False) -> Any:
    if key not in obj:
        if optional:
            return None
        raise TranscriptError(f"{source}: {where} is missing the field {key!r}")
    value = obj[key]
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in _as_tuple(kinds))
    if not ok and not (optional and value is None):
        names = " or ".join(_kind(k()) for k in _as_tuple(kinds))
        raise TranscriptError(f"{source}: {where}.{key} should be {names}, found {_kind(value)}")
    return value


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def validate_session(data: object, source: str = "session") -> dict[str, Any]:
    """`data` as a session dict, or TranscriptError saying (with `source`, e.g. the file) what is wrong."""
    if not isinstance(data, dict):
        raise TranscriptError(f"{source}: expected a JSON object, found {_kind(data)}")
    schema = data.get("schema")
    if schema != SCHEMA:
        if isinstance(schema, int) and not isinstance(schema, bool) and schema > SCHEMA:
            raise TranscriptError(f"{source}: saved by a newer version (schema {schema}); "
                                  f"this version reads schema {SCHEMA}")
        raise TranscriptError(f"{source}: not a saved conversation of schema {SCHEMA} (schema is {schema!r})")
    try:
        check_id(_need(data, "id", str, "session", source))
    except TranscriptError as e:
        raise TranscriptError(f"{source}: {e}") from None
    for key in ("title", "created", "updated"):
        _need(data, key, str, "session", source)
    panes = _need(data, "panes", list, "session", source)
    for i, pane in enumerate(panes):
        where = f"panes[{i}]"
        if not isinstance(pane, dict):
            raise TranscriptError(f"{source}: {where} should be an object, found {_kind(pane)}")
        _need(pane, "pane", int, where, source)
        model = _need(pane, "model", dict, where, source)
        _need(model, "label", str, f"{where}.model", source)
        for key in ("path", "variant", "quant"):
            _need(model, key, str, f"{where}.model", source, optional=True)
        _need(pane, "settings", dict, where, source)
        for j, turn in enumerate(_need(pane, "turns", list, where, source)):
            tw = f"{where}.turns[{j}]"
            if not isinstance(turn, dict):
                raise TranscriptError(f"{source}: {tw} should be an object, found {_kind(turn)}")
            _need(turn, "role", str, tw, source)
            _need(turn, "content", str, tw, source)
            _need(turn, "thinking", str, tw, source, optional=True)
            _need(turn, "stats", dict, tw, source, optional=True)
    return data


# --- the store -----------------------------------------------------------------------------------

LIST_READ_BYTES = 256 * KIB  # what the list reads of each file: a larger one is listed from its header
OPEN_READ_BYTES = 256 * MIB  # the largest file that opens


@dataclass(frozen=True)
class SessionInfo:
    id: str
    title: str
    updated: str  # ISO-8601; for an unreadable file, its modification time
    n_panes: int | None  # None: not read (the list reads only the header of a large file)
    path: Path  # open it with `ConversationStore.open(path)`
    error: str | None = None  # why the file cannot be opened; None when it can


def _timestamp(iso: str, fallback: float) -> float:
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return fallback
    if when.tzinfo is None:
        when = when.astimezone()  # naive: local time
    return when.timestamp()


class NotAFile(Exception):
    """The path is a folder, a FIFO, a device...: nothing a conversation is saved in."""


class ConversationStore:
    """Sessions as `<id>.json` files in one folder (by default `paths.conversations_dir()`).

    Reading is careful with what may be in the folder: what is not a regular file (a FIFO would block
    a plain read forever) is skipped, the list reads at most `list_read_bytes` of each file, and a
    file that cannot be parsed (not JSON, nested too deeply, too large) is listed with its error
    without hiding the others.
    """

    def __init__(self, folder: Path | None = None, *, list_read_bytes: int = LIST_READ_BYTES,
                 open_read_bytes: int = OPEN_READ_BYTES) -> None:
        self.folder = folder if folder is not None else conversations_dir()
        self.list_read_bytes = list_read_bytes
        self.open_read_bytes = open_read_bytes

    def path_for(self, session_id: str) -> Path:
        return self.folder / f"{check_id(session_id)}{SUFFIX}"

    def save(self, session: Session) -> Path:
        """Write `session` atomically under its id, dated now; returns the file.

        The file is written under a temporary name in the same folder, flushed to disk and renamed
        over the old one, so a crash leaves either the old or the new session, never half of one.
        """
        path = self.path_for(session.id)
        updated = now_iso()
        session = dataclasses.replace(session, updated=updated, created=session.created or updated)
        validate_session(session.to_json(), f"session {session.id}")
        text = to_json(session)
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{path.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.folder)
        return path

    def list(self) -> list[SessionInfo]:
        """Every saved session, newest first. Unreadable files are listed with `error` set."""
        try:
            paths = [p for p in self.folder.glob(f"*{SUFFIX}") if not p.name.startswith(".")]
        except OSError:
            return []
        found: list[tuple[float, SessionInfo]] = []
        for path in paths:
            try:
                mtime = path.stat().st_mtime
                info = _list_entry(path, self.list_read_bytes)
            except (OSError, NotAFile):
                continue  # deleted meanwhile, or not a file
            except TranscriptError as e:
                when = datetime.fromtimestamp(mtime).astimezone().isoformat(timespec="seconds")
                found.append((mtime, SessionInfo(path.stem, path.stem, when, 0, path, str(e))))
                continue
            found.append((_timestamp(info.updated, mtime), info))
        found.sort(key=lambda item: item[0], reverse=True)
        return [info for _, info in found]

    def load(self, session_id: str) -> Session:
        """The session saved under `session_id`."""
        return self.open(self.path_for(session_id))

    def open(self, path: Path) -> Session:
        """The session in `path` (from `list`). Saving it again writes this file, whatever id the file
        holds: its id is the file's name; or, when that name is no id (a copy such as "... copy.json") or
        the file is not in this folder, a new id, so a new file, never another conversation's."""
        try:
            data, _ = _read_json(path, self.open_read_bytes, whole=True)
        except FileNotFoundError:
            raise TranscriptError(f"{path}: no saved conversation there") from None
        except OSError as e:
            raise TranscriptError(f"{path}: could not read ({e.strerror or e})") from e
        except NotAFile as e:
            raise TranscriptError(f"{path}: {e}") from e
        session = Session.from_json(validate_session(data, str(path)))
        own = self._id_of(path)
        return replace(session, id=own if own is not None else self._new_id())

    def _id_of(self, path: Path) -> str | None:
        """The id that `save` writes back to `path`; None when no id does (then `path_for(id) != path`)."""
        stem = path.stem
        if path.suffix != SUFFIX or not _ID_RE.fullmatch(stem):
            return None
        try:
            same = path.parent.resolve() == self.folder.resolve()
        except (OSError, RuntimeError):
            return None
        return stem if same else None

    def _new_id(self) -> str:
        """A new id whose file does not exist yet."""
        while True:
            session_id = new_session_id()
            if not os.path.lexists(self.path_for(session_id)):
                return session_id

    def delete(self, session_id: str) -> None:
        """Remove the session's file; deleting one that is already gone is not an error."""
        path = self.path_for(session_id)
        try:
            path.unlink(missing_ok=True)
        except OSError as e:
            raise TranscriptError(f"{path}: could not delete ({e.strerror or e})") from e


def _read_bytes(path: Path, limit: int) -> tuple[bytes, int]:
    """Up to `limit` bytes of the regular file `path`, and its size. Opened without blocking, so a
    FIFO (or a device) is refused instead of waited on."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotAFile("not a regular file")
        chunks: list[bytes] = []
        left = limit
        while left > 0:
            chunk = os.read(fd, min(left, MIB))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks), st.st_size
    finally:
        os.close(fd)


def _read_json(path: Path, limit: int, *, whole: bool) -> tuple[Any, bool]:
    """The JSON in `path` and True; or, for a file over `limit` bytes and not `whole`, the first
    `limit` bytes as text and False. TranscriptError when it is not what a session file holds."""
    data, size = _read_bytes(path, limit)
    if size > limit:
        if whole:
            raise TranscriptError(f"{path}: too large to open ({size:,} bytes; at most {limit:,})")
        return data.decode("utf-8", errors="ignore"), False
    try:
        return json.loads(data.decode("utf-8")), True
    except UnicodeDecodeError as e:
        raise TranscriptError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    except json.JSONDecodeError as e:
        raise TranscriptError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from e
    except RecursionError:
        raise TranscriptError(f"{path}: not a saved conversation (its JSON is nested too deeply)") from None


def _list_entry(path: Path, limit: int) -> SessionInfo:
    data, whole = _read_json(path, limit, whole=False)
    if whole:
        session = validate_session(data, str(path))
        return SessionInfo(session["id"], session["title"], session["updated"], len(session["panes"]), path)
    head = _header(path, data)
    return SessionInfo(head["id"], head["title"], head["updated"], None, path)


_HEADER = {"schema": int, "id": str, "title": str, "created": str, "updated": str}


def _header(path: Path, text: str) -> dict[str, Any]:
    """The header fields of a session from the start of its file (they come before "panes")."""
    decoder = json.JSONDecoder()
    ws = re.compile(r"[ \t\n\r]*")
    head: dict[str, Any] = {}
    i = ws.match(text, 0).end()  # type: ignore[union-attr]
    if not text.startswith("{", i):
        raise TranscriptError(f"{path}: expected a JSON object")
    i += 1
    try:
        while set(_HEADER) - set(head):
            i = ws.match(text, i).end()  # type: ignore[union-attr]
            key, i = decoder.raw_decode(text, i)
            i = ws.match(text, i).end()  # type: ignore[union-attr]
            if not text.startswith(":", i):
                raise TranscriptError(f"{path}: not valid JSON after the field {key!r}")
            i = ws.match(text, i + 1).end()  # type: ignore[union-attr]
            if key == "panes":
                break
            value, i = decoder.raw_decode(text, i)
            head[key] = value
            i = ws.match(text, i).end()  # type: ignore[union-attr]
            if text.startswith(",", i):
                i += 1
    except (json.JSONDecodeError, RecursionError):
        raise TranscriptError(f"{path}: no header in the first {len(text):,} characters") from None
    data = {"panes": [], **{k: v for k, v in head.items() if k in _HEADER}}
    validate_session(data, str(path))  # the schema and the fields' types
    return data


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); not possible, nor needed, everywhere."""
    flags = getattr(os, "O_DIRECTORY", None)
    if flags is None:
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
