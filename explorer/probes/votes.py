"""The blind comparison's votes: one JSON line each, appended to `paths.votes_file()`.

A vote keeps what it was about (the set, the question, each side's file, label, sha256 and settings), so
the leaderboard can be recomputed from the file alone. Reading never fails on a bad line: a line that
does not parse (a crash mid-write, a hand edit, a line over `MAX_LINE` bytes) is skipped and counted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import IO, Any

from explorer.paths import votes_file

VOTES_VERSION = 1
MAX_LINE = 1 << 20  # bytes; a longer line is skipped unread (no vote is anywhere near this)


class Outcome(str, Enum):
    A = "a"
    B = "b"
    TIE = "tie"
    BOTH_BAD = "both-bad"


@dataclass(frozen=True)
class VoteSide:
    """One side of a vote: the file that answered, as the probe run's column named it."""

    file: str
    label: str = ""
    sha256: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Who this side is for the rating: the content hash (one file at two paths is one entry), else the path."""
        return self.sha256 or self.file

    @property
    def name(self) -> str:
        return self.label or Path(self.file).name

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "label": self.label, "sha256": self.sha256, "settings": self.settings}

    @classmethod
    def from_json(cls, data: Any) -> VoteSide:
        if not isinstance(data, dict):
            raise ValueError("a side is not an object")
        settings = data.get("settings", {})
        side = cls(file=data["file"], label=data.get("label", ""), sha256=data.get("sha256", ""),
                   settings=settings)
        if not all(isinstance(v, str) for v in (side.file, side.label, side.sha256)) or not side.file \
                or not isinstance(settings, dict):
            raise ValueError("a side's fields have the wrong types")
        return side


@dataclass(frozen=True)
class Vote:
    set_name: str
    question_id: str
    question_text: str  # the prompt, or a FIM question's prefix
    a: VoteSide
    b: VoteSide
    outcome: Outcome
    time: str  # ISO 8601
    question_suffix: str = ""  # a FIM question's suffix

    def to_json(self) -> dict[str, Any]:
        return {"version": VOTES_VERSION, "set": self.set_name, "question": self.question_id,
                "text": self.question_text, "suffix": self.question_suffix, "a": self.a.to_json(),
                "b": self.b.to_json(), "outcome": self.outcome.value, "time": self.time}

    @classmethod
    def from_json(cls, data: Any) -> Vote:
        """ValueError, KeyError or TypeError when `data` is not a vote this version wrote."""
        if not isinstance(data, dict) or data.get("version") != VOTES_VERSION:
            raise ValueError("not a vote of version 1")
        vote = cls(set_name=data["set"], question_id=data["question"], question_text=data.get("text", ""),
                   question_suffix=data.get("suffix", ""), a=VoteSide.from_json(data["a"]),
                   b=VoteSide.from_json(data["b"]), outcome=Outcome(data["outcome"]), time=data.get("time", ""))
        if not all(isinstance(v, str) for v in (vote.set_name, vote.question_id, vote.question_text,
                                                vote.question_suffix, vote.time)):
            raise ValueError("a vote's fields have the wrong types")
        return vote


@dataclass
class VoteLog:
    votes: list[Vote] = field(default_factory=list)
    skipped: int = 0  # lines that were not votes

    def set_names(self) -> list[str]:
        """The sets with votes, in the order they were first voted on."""
        return list(dict.fromkeys(v.set_name for v in self.votes))


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


class VoteStore:
    """The votes file: `add` appends and syncs one line; `load` reads every line that is a vote."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else votes_file()

    def add(self, vote: Vote) -> None:
        """Append `vote`; ValueError with one line for a person when it cannot be written."""
        line = json.dumps(vote.to_json(), ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a+b") as f:
                f.seek(0, os.SEEK_END)
                if f.tell():  # a line cut short by a crash must not swallow this one
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        line = b"\n" + line
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise ValueError(f"the vote could not be saved to {self.path}: {_reason(exc)}") from None

    def load(self) -> VoteLog:
        """Every vote in the file (none when it does not exist yet); ValueError when it cannot be read."""
        log = VoteLog()
        try:
            with self.path.open("rb") as f:
                for raw in _lines(f):
                    if raw is None:
                        log.skipped += 1
                        continue
                    if not raw.strip():
                        continue
                    try:
                        log.votes.append(Vote.from_json(json.loads(raw)))
                    except (ValueError, KeyError, TypeError, RecursionError):
                        log.skipped += 1
        except FileNotFoundError:
            return log
        except OSError as exc:
            raise ValueError(f"the votes in {self.path} could not be read: {_reason(exc)}") from None
        return log


def _lines(f: IO[bytes]) -> Iterator[bytes | None]:
    """The file's lines, None for one over MAX_LINE (read past in pieces, never held whole)."""
    while line := f.readline(MAX_LINE + 1):
        if len(line) <= MAX_LINE:
            yield line
            continue
        while not line.endswith(b"\n"):
            line = f.readline(MAX_LINE)
            if not line:
                break
        yield None
