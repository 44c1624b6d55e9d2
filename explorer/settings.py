"""The app's settings that last: one typed, versioned JSON file in the platform's config folder.

`settings_file()` is `$XDG_CONFIG_HOME/qwen3-explorer/settings.json` on Linux (~/.config when unset),
~/Library/Application Support/qwen3-explorer on macOS, %APPDATA%\\qwen3-explorer on Windows (the
platformdirs conventions, written out: platformdirs is not a dependency). It holds choices, never
running state: the window's geometry and splitters, the Models tab's context, KV type, filters, sort and
selected file, the chat panes (model, mode, thinking, settings) and the default thinking budget.

The schema is versioned (`SCHEMA_VERSION`), as napari's settings are: a file of an older version is
migrated step by step (`MIGRATIONS`), every value is checked field by field (a wrong type or a value out
of range falls back to that field's default, an unknown key is ignored, each with a note), and a file that
is not JSON, has no version or has a newer one is set aside (`settings.json.bak`; a second one
`settings.json.bak.1` and so on, at most `MAX_BACKUPS` kept, the oldest replaced after that) and the defaults
used, with a note that names the file it was kept as. Loading never raises. Writing is atomic (a temporary
file in the same folder, then a rename).

Versions:
  1. today's one QSettings key as a file: {"schema": 1, "chat/default_budget": N} (-1: no limit; Qt's INI
     backend may give the number as a string).
  2. {"schema": 2, "window": {...}, "models": {...}, "chat": {...}}: the dataclasses below.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from explorer.chat.records import LIMITS, PaneSettings
from explorer.fit.contexts import DEFAULT_FIT_CTX

SCHEMA_VERSION = 2
APP_DIR = "qwen3-explorer"
MAX_PANES = 4  # as the chat grid (ui.chat.pane_record.MAX_PANES)
CTX_RANGE = LIMITS["ctx"]
BUDGET_RANGE = LIMITS["budget"]
MAX_BACKUPS = 5  # settings files set aside: <name>.bak, <name>.bak.1 … <name>.bak.4


def config_dir() -> Path:
    """The platform's folder for this app's settings (platformdirs' user_config_dir, by hand)."""
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Application Support")
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / APP_DIR


def settings_file() -> Path:
    return config_dir() / "settings.json"


# --- the schema (version 2) ------------------------------------------------------------------


@dataclass
class WindowSettings:
    geometry: str = ""  # QMainWindow.saveGeometry(), base64 ("": Qt's default)
    state: str = ""  # QMainWindow.saveState(), base64
    splitters: dict[str, list[int]] = field(default_factory=dict)  # a splitter's name -> its sizes
    theme: str = "system"  # "system" (follow the desktop), "light" or "dark"


@dataclass(frozen=True)
class SelectedFile:
    """The Models tab's selected file, by what identifies a catalog row."""

    model_id: str
    quant: str
    repo: str


@dataclass
class ModelsSettings:
    ctx: int = DEFAULT_FIT_CTX
    kv_type: str = "f16"
    search: str = ""
    variants: list[str] = field(default_factory=list)  # Variant values; empty: all
    size: str = ""  # a size label; "": all sizes
    quant: str = ""  # "": all quants
    verdict: str = ""  # the verdict filter's label; "": any fit
    hide_no_fit: bool = False
    sort_column: int = 0
    sort_descending: bool = False
    selected: SelectedFile | None = None


@dataclass
class PaneState:
    """A chat pane's choices: its model (a file path or an endpoint's `remote_ref`; "": none) and its
    settings (mode and thinking included), never its conversation or its loaded model."""

    model: str = ""
    settings: PaneSettings = field(default_factory=PaneSettings)


@dataclass
class ChatSettings:
    default_budget: int | None = None  # a new pane's thinking budget (None: no limit)
    share_worker: bool = True  # panes of one wave on one file share a worker (engine/pool.py)
    panes: list[PaneState] = field(default_factory=list)  # empty: the chat grid's default two panes


@dataclass
class Settings:
    window: WindowSettings = field(default_factory=WindowSettings)
    models: ModelsSettings = field(default_factory=ModelsSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "window": asdict(self.window),
            "models": asdict(self.models),
            "chat": {"default_budget": self.chat.default_budget, "share_worker": self.chat.share_worker,
                     "panes": [{"model": p.model, "settings": p.settings.to_json(None)} for p in self.chat.panes]},
        }


# --- checking a loaded value field by field ---------------------------------------------------

T = TypeVar("T")
Check = Callable[[object], object]  # the value as the field holds it; raises ValueError when it does not fit


def _int(low: int, high: int) -> Callable[[object], int]:
    def check(v: object) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise ValueError(f"not a whole number from {low} to {high}")
        return v
    return check


def _optional(check: Check) -> Check:
    return lambda v: None if v is None else check(v)


def _str(v: object) -> str:
    if not isinstance(v, str) or len(v) > 100_000:
        raise ValueError("not a string")
    return v


def _bool(v: object) -> bool:
    if not isinstance(v, bool):
        raise ValueError("not true or false")
    return v


def _list(item: Check, most: int) -> Check:
    def check(v: object) -> list[Any]:
        if not isinstance(v, list) or len(v) > most:
            raise ValueError(f"not a list of at most {most}")
        return [item(x) for x in v]
    return check


def _splitters(v: object) -> dict[str, list[int]]:
    if not isinstance(v, dict) or len(v) > 16:
        raise ValueError("not an object of splitter sizes")
    size = _int(0, 100_000)
    out: dict[str, list[int]] = {}
    for k, s in v.items():
        if not isinstance(s, list) or len(s) > 8:
            raise ValueError("not a list of splitter sizes")
        out[_str(k)] = [size(x) for x in s]
    return out


def _selected(v: object) -> SelectedFile:
    if not isinstance(v, dict) or set(v) != {f.name for f in fields(SelectedFile)}:
        raise ValueError("not a selected file")
    return SelectedFile(_str(v["model_id"]), _str(v["quant"]), _str(v["repo"]))


def _pane(v: object) -> PaneState:
    if not isinstance(v, dict):
        raise ValueError("not a pane")
    raw = v.get("settings", {})
    if not isinstance(raw, Mapping):
        raise ValueError("a pane's settings are not an object")
    return PaneState(model=_str(v.get("model", "")), settings=PaneSettings.from_json(raw))  # bounds every value


def _section(cls: Callable[..., T], raw: object, where: str, checks: Mapping[str, Check], notes: list[str]) -> T:
    """`cls` from the JSON object `raw`: each known key checked (a bad value: the default, with a note),
    unknown keys ignored with a note."""
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        notes.append(f"settings: “{where}” is not an object; its defaults are used")
        return cls()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        check = checks.get(key)
        if check is None:
            notes.append(f"settings: unknown key “{where}.{key}” ignored")
            continue
        try:
            values[key] = check(value)
        except (ValueError, TypeError, KeyError) as exc:
            notes.append(f"settings: “{where}.{key}” is {exc}; its default is used")
    return cls(**values)


def _theme(v: object) -> str:
    if v not in THEMES:
        raise ValueError(f"not one of {', '.join(THEMES)}")
    return str(v)


THEMES = ("system", "light", "dark")
_WINDOW: dict[str, Check] = {"geometry": _str, "state": _str, "splitters": _splitters, "theme": _theme}
_MODELS: dict[str, Check] = {
    "ctx": _int(*CTX_RANGE), "kv_type": _str, "search": _str, "variants": _list(_str, 32), "size": _str,
    "quant": _str, "verdict": _str, "hide_no_fit": _bool, "sort_column": _int(0, 64), "sort_descending": _bool,
    "selected": _optional(_selected),
}
_CHAT: dict[str, Check] = {"default_budget": _optional(_int(*BUDGET_RANGE)), "share_worker": _bool,
                           "panes": _list(_pane, MAX_PANES)}


def from_json(data: Mapping[str, Any], notes: list[str]) -> Settings:
    """Settings from a version-2 object; never raises (see the module's doc)."""
    for key in set(data) - {"schema", "window", "models", "chat"}:
        notes.append(f"settings: unknown key “{key}” ignored")
    return Settings(window=_section(WindowSettings, data.get("window"), "window", _WINDOW, notes),
                    models=_section(ModelsSettings, data.get("models"), "models", _MODELS, notes),
                    chat=_section(ChatSettings, data.get("chat"), "chat", _CHAT, notes))


# --- migrations ------------------------------------------------------------------------------

V1_BUDGET_KEY = "chat/default_budget"


def _v1_to_v2(data: Mapping[str, Any], notes: list[str]) -> dict[str, Any]:
    """Version 1 was the default thinking budget alone, as QSettings kept it (-1: no limit)."""
    for key in set(data) - {"schema", V1_BUDGET_KEY}:
        notes.append(f"settings: unknown version-1 key “{key}” ignored")
    raw = data.get(V1_BUDGET_KEY)
    budget: int | None = None
    try:
        n = int(raw) if isinstance(raw, (int, str)) and not isinstance(raw, bool) else -1
        budget = n if BUDGET_RANGE[0] <= n <= BUDGET_RANGE[1] else None
    except ValueError:
        notes.append(f"settings: the version-1 default budget {raw!r} is not a number; no limit is used")
    return {"schema": 2, "chat": {"default_budget": budget}}


MIGRATIONS: dict[int, Callable[[Mapping[str, Any], list[str]], dict[str, Any]]] = {1: _v1_to_v2}


def migrate(data: Mapping[str, Any], version: int, notes: list[str]) -> dict[str, Any]:
    """`data` of schema `version` brought to SCHEMA_VERSION, one step at a time."""
    out = dict(data)
    while version < SCHEMA_VERSION:
        out = MIGRATIONS[version](out, notes)
        version += 1
    return out


# --- reading and writing ---------------------------------------------------------------------


def load_settings(path: Path) -> tuple[Settings, list[str]]:
    """The settings in `path` and notes for a person on what was ignored or reset. No file: the defaults,
    no note. A file that cannot be used at all is moved aside (`backup_path`: so the next save starts clean
    and a newer version's file is not lost) and the defaults are returned. Never raises."""
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        return Settings(), []
    except OSError as exc:
        return Settings(), [f"settings: {path} could not be read ({exc}); the defaults are used"]
    try:
        data = json.loads(blob.decode("utf-8"))
    except ValueError as exc:
        return Settings(), [_set_aside(path, f"is not valid JSON ({exc})")]
    if not isinstance(data, dict):
        return Settings(), [_set_aside(path, "is not a JSON object")]
    version = data.get("schema")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return Settings(), [_set_aside(path, "has no schema version")]
    if version > SCHEMA_VERSION:
        return Settings(), [_set_aside(path, f"was written by a newer version of the app (schema {version}; this "
                                             f"one reads up to {SCHEMA_VERSION})")]
    notes: list[str] = []
    return from_json(migrate(data, version, notes), notes), notes


def backup_path(path: Path) -> Path:
    """Where the unusable settings file `path` is kept: the first of `<name>.bak`, `<name>.bak.1` …
    `<name>.bak.{MAX_BACKUPS - 1}` that does not exist; when all do, the one least recently written."""
    names = [path.with_name(path.name + ".bak")]
    names += [path.with_name(f"{path.name}.bak.{n}") for n in range(1, MAX_BACKUPS)]
    free = next((p for p in names if not p.exists()), None)
    if free is not None:
        return free

    def written(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return 0.0

    return min(names, key=written)


def _set_aside(path: Path, why: str) -> str:
    backup = backup_path(path)
    try:
        os.replace(path, backup)
    except OSError as exc:
        return f"settings: {path} {why}; the defaults are used (it could not be set aside: {exc})"
    return f"settings: {path} {why}; the defaults are used and the file was kept as {backup.name}"


def save_settings(path: Path, settings: Settings) -> None:
    """Write `settings` to `path` atomically: a reader sees the old file or the new one, never half of one.
    Raises OSError when the folder cannot be written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(settings.to_json(), indent=2, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
