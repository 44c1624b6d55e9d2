"""Probe set files: TOML, schema 1, read and validated in full before anything runs.

    schema = 1                          # required: the version of this format
    name = "Seed 003, chatroom"         # optional: the file's stem when absent
    description = "..."                 # optional
    mode = "chatroom"                   # optional default for the questions: chatroom, free-form or fim
    system = "You are ..."              # optional default system prompt (chatroom questions)

    [[question]]
    id = "divisors"                     # optional: q1, q2, ... by position
    text = "How many positive whole-number divisors does 196 have?"
    mode = "chatroom"                   # optional; absent: the model's own (Base models free-form, others chat)
    system = "..."                      # optional (chatroom)
    number = 9                          # checks, all optional: contains (text or list), regex,
    tolerance = 0                       #   number (+ tolerance), one_of (list)

    [[question]]                        # fill-in-the-middle: prefix and suffix instead of text
    prefix = "def add(a, b):\\n    "
    suffix = "\\n"

Any error is a `ProbeSetError` naming the file, the line where it can be found, and the key:
unknown keys, wrong types, a regex that does not compile, a schema this app does not read.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from explorer.paths import probes_dir
from explorer.probes.checks import Checks

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SCHEMA = 1
MODES = ("chatroom", "free-form", "fim")  # explorer.chat.records.PaneMode's values
SET_KEYS = ("schema", "name", "description", "mode", "system", "question")
QUESTION_KEYS = ("id", "text", "prefix", "suffix", "mode", "system", "contains", "regex", "number", "tolerance",
                 "one_of")
ASSETS_PACKAGE = "qwen3_explorer_assets"
MAX_SET_BYTES = 1 << 20  # a set is questions: a bigger file is a mistake, refused before it is read
MAX_QUESTIONS = 500  # every question loads into every column: more would be hours of answers


class ProbeSetError(ValueError):
    """A set file that can not be used: one line, "FILE:LINE: key 'x': what is wrong"."""


@dataclass(frozen=True)
class Question:
    id: str
    text: str = ""  # chatroom and free-form: the prompt
    prefix: str = ""  # fim
    suffix: str = ""  # fim
    mode: str | None = None  # None: the model's own default
    system: str | None = None
    checks: Checks = field(default_factory=Checks)

    @property
    def is_fim(self) -> bool:
        return self.mode == "fim"

    @property
    def prompt(self) -> str:
        """The question as one text: the prompt, or the FIM prefix and suffix around a gap mark."""
        return f"{self.prefix}<|fim|>{self.suffix}" if self.is_fim else self.text


@dataclass(frozen=True)
class ProbeSet:
    name: str
    questions: tuple[Question, ...]
    description: str = ""
    source: str = ""  # the file it came from ("built-in" files keep their path too)
    builtin: bool = False


@dataclass(frozen=True)
class SetEntry:
    """One set for a listing: its file, and the set or the reason it does not load."""

    path: Path
    builtin: bool
    probe_set: ProbeSet | None
    error: str = ""

    @property
    def name(self) -> str:
        return self.probe_set.name if self.probe_set else self.path.stem


def load_set(path: Path, *, builtin: bool = False) -> ProbeSet:
    try:
        if not path.is_file():
            raise ProbeSetError(f"{path}: not a probe set file ({'a folder' if path.is_dir() else 'no such file'})")
        size = path.stat().st_size
        if size > MAX_SET_BYTES:
            raise ProbeSetError(f"{path}: {size:,} bytes is too big for a probe set (at most {MAX_SET_BYTES:,})")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProbeSetError(f"{path}: cannot read: {exc}") from exc
    return parse_set(text, str(path), default_name=path.stem, builtin=builtin)


def parse_set(text: str, source: str = "<text>", *, default_name: str = "probes", builtin: bool = False) -> ProbeSet:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProbeSetError(_decode_message(source, exc)) from None
    return _Reader(text, source).read(data, default_name, builtin)


def _decode_message(source: str, exc: Exception) -> str:
    message = str(exc)
    found = re.search(r"\(at line (\d+), column \d+\)", message)
    if found:
        return f"{source}:{found.group(1)}: not valid TOML: {message[:found.start()].strip()}"
    return f"{source}: not valid TOML: {message}"


class _Reader:
    def __init__(self, text: str, source: str) -> None:
        self.lines = text.splitlines()
        self.source = source
        # Where each [[question]] table starts (0-based line numbers), to find a key's line.
        self.starts = [i for i, line in enumerate(self.lines) if re.match(r"\s*\[\[\s*question\s*\]\]", line)]

    def fail(self, key: str, why: str, question: int | None = None) -> ProbeSetError:
        line = self.line_of(key, question)
        where = f"{self.source}:{line}" if line else self.source
        which = f"question {question + 1}: " if question is not None else ""
        return ProbeSetError(f"{where}: {which}key {key!r}: {why}")

    def line_of(self, key: str, question: int | None) -> int | None:
        if question is None:
            lo, hi = 0, self.starts[0] if self.starts else len(self.lines)
        elif question < len(self.starts):
            lo = self.starts[question]
            hi = self.starts[question + 1] if question + 1 < len(self.starts) else len(self.lines)
        else:
            return None
        pattern = re.compile(rf"\s*(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')\s*[=.]")
        for i in range(lo, hi):
            if pattern.match(self.lines[i]):
                return i + 1
        return lo + 1 if question is not None else None

    def read(self, data: Mapping[str, Any], default_name: str, builtin: bool) -> ProbeSet:
        for key in data:
            if key not in SET_KEYS:
                raise self.fail(key, f"unknown key (a set has {', '.join(SET_KEYS)})")
        if "schema" not in data:
            raise ProbeSetError(f"{self.source}: key 'schema': missing; a probe set starts with schema = {SCHEMA}")
        schema = data["schema"]
        if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
            raise self.fail("schema", f"must be a whole number ({SCHEMA}), not {schema!r}")
        if schema > SCHEMA:
            raise self.fail("schema", f"this set is written for schema {schema}; this app reads schema {SCHEMA}")
        name = self.text(data, "name", None) or default_name
        description = self.text(data, "description", None) or ""
        mode = self.mode(data, None)
        system = self.text(data, "system", None)
        questions = data.get("question")
        if not isinstance(questions, list) or not questions:
            raise self.fail("question", "a set needs at least one [[question]] table")
        if len(questions) > MAX_QUESTIONS:
            raise self.fail("question", f"{len(questions)} questions; a set holds at most {MAX_QUESTIONS}")
        out: list[Question] = []
        for i, q in enumerate(questions):
            if not isinstance(q, dict):
                raise self.fail("question", "must be a table ([[question]])")
            out.append(self.question(q, i, mode, system))
        ids = [q.id for q in out]
        for i, qid in enumerate(ids):
            if qid in ids[:i]:
                raise self.fail("id", f"{qid!r} is used by an earlier question", i)
        return ProbeSet(name=name, questions=tuple(out), description=description, source=self.source,
                        builtin=builtin)

    def text(self, table: Mapping[str, Any], key: str, question: int | None) -> str | None:
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            raise self.fail(key, f"must be text, not {_kind(value)}", question)
        return value

    def mode(self, table: Mapping[str, Any], question: int | None) -> str | None:
        mode = self.text(table, "mode", question)
        if mode is not None and mode not in MODES:
            raise self.fail("mode", f"{mode!r} is not a mode: {', '.join(MODES)}", question)
        return mode

    def question(self, q: Mapping[str, Any], i: int, set_mode: str | None, set_system: str | None) -> Question:
        for key in q:
            if key not in QUESTION_KEYS:
                raise self.fail(key, f"unknown key (a question has {', '.join(QUESTION_KEYS)})", i)
        text, prefix, suffix = (self.text(q, k, i) for k in ("text", "prefix", "suffix"))
        mode = self.mode(q, i)
        fim = prefix is not None or suffix is not None
        if fim:
            if text is not None:
                raise self.fail("text", "a question has either text or prefix/suffix (fill-in-the-middle)", i)
            if mode not in (None, "fim"):
                raise self.fail("mode", f"prefix and suffix are fill-in-the-middle, not {mode}", i)
            if not (prefix or suffix):
                raise self.fail("prefix", "fill-in-the-middle needs a prefix or a suffix that is not empty", i)
            mode = "fim"
        else:
            if (mode or set_mode) == "fim":
                raise self.fail("prefix", "a fill-in-the-middle question has prefix and suffix, not text", i)
            if not text or not text.strip():
                raise self.fail("text", "missing or empty (the question to ask)", i)
            mode = mode or set_mode
        system = self.text(q, "system", i)
        qid = self.text(q, "id", i) or f"q{i + 1}"
        return Question(id=qid, text=text or "", prefix=prefix or "", suffix=suffix or "", mode=mode,
                        system=(system if system is not None else set_system) if mode != "fim" else None,
                        checks=self.checks(q, i))

    def checks(self, q: Mapping[str, Any], i: int) -> Checks:
        contains = q.get("contains", ())
        if isinstance(contains, str):
            contains = (contains,)
        if not _texts(contains):
            raise self.fail("contains", "must be text or a list of texts, none empty", i)
        one_of = q.get("one_of", ())
        if not _texts(one_of) or ("one_of" in q and not one_of):
            raise self.fail("one_of", "must be a list of texts, none empty", i)
        regex = self.text(q, "regex", i)
        if regex is not None:
            try:
                re.compile(regex)
            except re.error as exc:
                raise self.fail("regex", f"does not compile: {exc}", i) from None
        number = q.get("number")
        if number is not None and not _is_number(number):
            raise self.fail("number", f"must be a number, not {_kind(number)}", i)
        tolerance = q.get("tolerance", 0.0)
        if "tolerance" in q and number is None:
            raise self.fail("tolerance", "belongs to a number check: add number = ...", i)
        if not _is_number(tolerance) or tolerance < 0:
            raise self.fail("tolerance", f"must be a number of 0 or more, not {tolerance!r}", i)
        return Checks(contains=tuple(contains), regex=regex, number=float(number) if number is not None else None,
                      tolerance=float(tolerance), one_of=tuple(one_of))


def _texts(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and abs(value) != float(
        "inf")


def _kind(value: Any) -> str:
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


# --- finding sets ------------------------------------------------------------------------------------------


def builtin_paths() -> list[Path]:
    folder = resources.files(ASSETS_PACKAGE) / "probes"
    return sorted((Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")), key=lambda p: p.name)


def user_paths(directory: Path | None = None) -> list[Path]:
    folder = directory or probes_dir()
    return sorted(folder.glob("*.toml")) if folder.is_dir() else []


def list_sets(directory: Path | None = None) -> list[SetEntry]:
    """The built-in sets, then the person's (a broken one is listed with its error; the others still load)."""
    entries = []
    for path, builtin in [*((p, True) for p in builtin_paths()), *((p, False) for p in user_paths(directory))]:
        try:
            entries.append(SetEntry(path, builtin, load_set(path, builtin=builtin)))
        except ProbeSetError as exc:
            entries.append(SetEntry(path, builtin, None, str(exc)))
    return entries


def find_set(name_or_path: str, directory: Path | None = None) -> ProbeSet:
    """A set by file path, or by name or file stem among the person's sets, then the built-in ones."""
    path = Path(name_or_path).expanduser()
    if path.suffix == ".toml" or "/" in name_or_path or path.is_file():
        if not path.is_file():
            raise ProbeSetError(f"{path}: no such probe set file")
        return load_set(path)
    candidates = [*((p, False) for p in user_paths(directory)), *((p, True) for p in builtin_paths())]
    for p, builtin in candidates:  # the file's stem first: it needs no parsing of the others
        if p.stem == name_or_path:
            return load_set(p, builtin=builtin)
    for entry in list_sets(directory):
        if entry.probe_set is not None and entry.probe_set.name == name_or_path:
            return entry.probe_set
    names = sorted({p.stem for p, _ in candidates})
    raise ProbeSetError(f"no probe set named {name_or_path!r} (sets: {', '.join(names)}; or give a .toml path)")
