"""Saved side-by-side chat sessions: one JSON file each (export: `explorer.chat.export`).

A session is a plain dict the UI builds:

    {"schema": 1, "id": "20261126-054312-ab12", "title": "...", "created": ISO-8601, "updated": ISO-8601,
     "panes": [{"pane": 1, "model": {"label", "path", "variant", "quant"},
                "settings": {...}, "turns": [...]}]}

where "settings" and "turns" are what `Conversation.to_dict()` returns.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from explorer.chat.export import to_json
from explorer.paths import conversations_dir

SCHEMA = 1
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

@dataclass(frozen=True)
class SessionInfo:
    id: str
    title: str
    updated: str  # ISO-8601; for an unreadable file, its modification time
    n_panes: int
    path: Path
    error: str | None = None  # why the file cannot be opened; None when it can


def _timestamp(iso: str, fallback: float) -> float:
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return fallback
    if when.tzinfo is None:
        when = when.astimezone()  # naive: local time
    return when.timestamp()


class ConversationStore:
    """Sessions as `<id>.json` files in one folder (by default `paths.conversations_dir()`)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder if folder is not None else conversations_dir()

    def path_for(self, session_id: str) -> Path:
        return self.folder / f"{check_id(session_id)}{SUFFIX}"

    def save(self, session: dict[str, Any]) -> Path:
        """Write `session` atomically; sets its "updated" (and "created" and "schema" when missing).

        The file is written under a temporary name in the same folder, flushed to disk and renamed
        over the old one, so a crash leaves either the old or the new session, never half of one.
        """
        path = self.path_for(_need(session, "id", str, "session", "session"))
        now = now_iso()
        session.setdefault("schema", SCHEMA)
        session.setdefault("created", now)
        session["updated"] = now
        validate_session(session, f"session {session['id']}")
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
        if not self.folder.is_dir():
            return []
        found: list[tuple[float, SessionInfo]] = []
        for path in self.folder.glob(f"*{SUFFIX}"):
            if path.name.startswith("."):
                continue
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue  # deleted meanwhile
            try:
                data = _read(path)
            except TranscriptError as e:
                when = datetime.fromtimestamp(mtime).astimezone().isoformat(timespec="seconds")
                found.append((mtime, SessionInfo(path.stem, path.stem, when, 0, path, str(e))))
                continue
            info = SessionInfo(data["id"], data["title"], data["updated"], len(data["panes"]), path)
            found.append((_timestamp(info.updated, mtime), info))
        found.sort(key=lambda item: item[0], reverse=True)
        return [info for _, info in found]

    def load(self, session_id: str) -> dict[str, Any]:
        path = self.path_for(session_id)
        if not path.exists():
            raise TranscriptError(f"{path}: no saved conversation with id {session_id!r}")
        return _read(path)

    def delete(self, session_id: str) -> None:
        """Remove the session's file; deleting one that is already gone is not an error."""
        path = self.path_for(session_id)
        try:
            path.unlink(missing_ok=True)
        except OSError as e:
            raise TranscriptError(f"{path}: could not delete ({e.strerror or e})") from e


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise TranscriptError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    except OSError as e:
        raise TranscriptError(f"{path}: could not read ({e.strerror or e})") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise TranscriptError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from e
    return validate_session(data, str(path))


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
