"""A probe run's result: a grid of questions x files, its totals per file, and its exports.

JSON and CSV read back equal to what was written (`ProbeRun.from_json`, `read_csv`); Markdown is for
people (the totals, then each question with every file's mark and answer).
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

RESULTS_VERSION = 1
SHOWN_CHARS = 100_000  # an answer longer than this is shown cut (a view lays out every character); exports keep it


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """`text` for a view: cut at `limit` characters with a line saying how much more there is."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n\n… ({len(text) - limit:,} more characters: the whole answer is in the run's exports)"


@dataclass(frozen=True)
class QuestionRef:
    """The question as it was asked (enough to show and export it without the set file)."""

    id: str
    mode: str  # "" : the model's own default
    text: str  # the prompt, or the FIM prefix
    suffix: str = ""  # FIM only


@dataclass(frozen=True)
class Cell:
    """One question answered by one file. `error` set: no answer (the model failed to load or crashed)."""

    question: str  # QuestionRef.id
    file: str  # the file's path
    answer: str = ""
    thinking: str = ""
    check: bool | None = None  # None: nothing to check, or an error
    failed: tuple[str, ...] = ()  # the checks that failed
    tokens: int = 0
    thinking_tokens: int = 0
    seconds: float = 0.0
    tokens_per_s: float = 0.0
    stop_reason: str = ""
    error: str = ""


@dataclass(frozen=True)
class Column:
    """One column of the grid: a file and the settings it answered with (a pane of the chat grid, or a file
    run with the run's settings). Cells name their column by `key`."""

    key: str  # unique within the run: the file's path, or the path and "#N" for a second column of one file
    file: str
    label: str = ""  # what a person sees: the file's name, and what sets the column apart
    sha256: str = ""  # the file's content hash ("" while not known)
    settings: dict[str, Any] = field(default_factory=dict)  # {} : the run's settings

    @property
    def name(self) -> str:
        return self.label or Path(self.file).name


@dataclass(frozen=True)
class FileTotals:
    file: str
    passed: int  # checks passed
    checked: int  # answers with checks
    median_tokens_per_s: float
    seconds: float
    thinking_tokens: int
    errors: int


@dataclass
class ProbeRun:
    set_name: str
    questions: list[QuestionRef]
    files: list[str]
    settings: dict[str, Any] = field(default_factory=dict)
    cells: list[Cell] = field(default_factory=list)
    columns: dict[str, Column] = field(default_factory=dict)  # by key; a key without one is a plain file
    created: str = ""  # ISO time the run started: names its saved file

    def column(self, key: str) -> Column:
        return self.columns.get(key) or Column(key, key)

    def missing(self) -> list[tuple[str, str]]:
        """(question, column) pairs without a cell: what a resumed run still has to ask."""
        done = {(c.question, c.file) for c in self.cells}
        return [(q.id, f) for f in self.files for q in self.questions if (q.id, f) not in done]

    @property
    def complete(self) -> bool:
        return not self.missing()

    def cell(self, question: str, file: str) -> Cell | None:
        return next((c for c in self.cells if c.question == question and c.file == file), None)

    def totals(self) -> list[FileTotals]:
        out = []
        for f in self.files:
            cells = [c for c in self.cells if c.file == f]
            speeds = [c.tokens_per_s for c in cells if not c.error and c.tokens]
            out.append(FileTotals(
                file=f, passed=sum(c.check is True for c in cells), checked=sum(c.check is not None for c in cells),
                median_tokens_per_s=statistics.median(speeds) if speeds else 0.0,
                seconds=sum(c.seconds for c in cells), thinking_tokens=sum(c.thinking_tokens for c in cells),
                errors=sum(bool(c.error) for c in cells)))
        return out

    # --- JSON -------------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {"version": RESULTS_VERSION, "set": self.set_name, "settings": self.settings,
                "files": list(self.files), "questions": [asdict(q) for q in self.questions],
                "cells": [{**asdict(c), "failed": list(c.failed)} for c in self.cells],
                "totals": [asdict(t) for t in self.totals()], "created": self.created,
                "columns": [asdict(c) for c in self.columns.values()]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProbeRun:
        if data.get("version") != RESULTS_VERSION:
            raise ValueError(f"not a probe run of version {RESULTS_VERSION}: {data.get('version')!r}")
        return cls(set_name=data["set"], settings=dict(data.get("settings", {})), files=list(data["files"]),
                   questions=[QuestionRef(**q) for q in data["questions"]],
                   cells=[Cell(**{**c, "failed": tuple(c.get("failed", ()))}) for c in data["cells"]],
                   created=str(data.get("created", "")),
                   columns={c["key"]: Column(**c) for c in data.get("columns", [])})


# --- files --------------------------------------------------------------------------------------------------

CSV_COLUMNS = ("set", "created", "settings", "question", "mode", "text", "suffix", "file", "column_file", "label",
               "sha256", "column_settings", *(f.name for f in fields(Cell) if f.name not in ("question", "file")))


def write_json(run: ProbeRun, path: Path) -> None:
    path.write_text(json.dumps(run.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def read_json(path: Path) -> ProbeRun:
    return ProbeRun.from_json(json.loads(path.read_text(encoding="utf-8")))


def csv_text(run: ProbeRun) -> str:
    """One row per cell, questions in order, each question's files in order (the question's columns repeat)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    settings = json.dumps(run.settings, sort_keys=True)
    for q in run.questions:
        for f in run.files:
            c = run.cell(q.id, f) or Cell(q.id, f, error="not run")
            col = run.column(f)
            check = "" if c.check is None else ("pass" if c.check else "fail")
            w.writerow([run.set_name, run.created, settings, q.id, q.mode, q.text, q.suffix, c.file, col.file,
                        col.label, col.sha256, json.dumps(col.settings, sort_keys=True), c.answer, c.thinking,
                        check, json.dumps(list(c.failed)), c.tokens, c.thinking_tokens, repr(c.seconds),
                        repr(c.tokens_per_s), c.stop_reason, c.error])
    return buf.getvalue()


def parse_csv(text: str) -> ProbeRun:
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or tuple(rows[0].keys()) != CSV_COLUMNS:
        raise ValueError("not a probe run CSV (its columns are: " + ", ".join(CSV_COLUMNS) + ")")
    run = ProbeRun(set_name=rows[0]["set"], questions=[], files=[], settings=json.loads(rows[0]["settings"]),
                   created=rows[0]["created"])
    for r in rows:
        if not any(q.id == r["question"] for q in run.questions):
            run.questions.append(QuestionRef(r["question"], r["mode"], r["text"], r["suffix"]))
        if r["file"] not in run.files:
            run.files.append(r["file"])
            if (r["column_file"], r["label"], r["sha256"], r["column_settings"]) != (r["file"], "", "", "{}"):
                run.columns[r["file"]] = Column(r["file"], r["column_file"], r["label"], r["sha256"],
                                                json.loads(r["column_settings"]))
        check = {"": None, "pass": True, "fail": False}[r["check"]]
        run.cells.append(Cell(question=r["question"], file=r["file"], answer=r["answer"], thinking=r["thinking"],
                              check=check, failed=tuple(json.loads(r["failed"])), tokens=int(r["tokens"]),
                              thinking_tokens=int(r["thinking_tokens"]), seconds=float(r["seconds"]),
                              tokens_per_s=float(r["tokens_per_s"]), stop_reason=r["stop_reason"], error=r["error"]))
    return run


def write_csv(run: ProbeRun, path: Path) -> None:
    path.write_text(csv_text(run), encoding="utf-8")


def read_csv(path: Path) -> ProbeRun:
    return parse_csv(path.read_text(encoding="utf-8"))


# --- Markdown and the terminal's table ----------------------------------------------------------------------


def stats_line(cell: Cell, *, checks: bool = False, ended: bool = False) -> str:
    """One cell's stats for a view: tokens, time, speed, thinking tokens; its checks' mark and why it ended
    when asked."""
    from explorer.units import format_tokens_per_s

    parts = [f"{cell.tokens} tokens", f"{cell.seconds:.1f} s"]
    if cell.tokens_per_s:
        parts.append(format_tokens_per_s(cell.tokens_per_s))
    if cell.thinking_tokens:
        parts.append(f"{cell.thinking_tokens} thinking tokens")
    if checks and cell.check is not None:
        parts.append(f"checks {mark(cell)}" + (f" ({'; '.join(cell.failed)})" if cell.failed else ""))
    if ended and cell.stop_reason:
        parts.append(f"ended: {cell.stop_reason}")
    return "  ·  ".join(parts)


def mark(cell: Cell | None) -> str:
    if cell is None or cell.error:
        return "error"
    return {None: "–", True: "✓", False: "✗"}[cell.check]


def totals_rows(run: ProbeRun) -> list[list[str]]:
    """The totals table: a header row, then one row per file."""
    rows = [["file", "checks", "median tok/s", "time", "thinking tokens", "errors"]]
    for t in run.totals():
        rows.append([run.column(t.file).name, f"{t.passed}/{t.checked}" if t.checked else "–",
                     f"{t.median_tokens_per_s:.1f}", f"{t.seconds:.1f} s", str(t.thinking_tokens), str(t.errors)])
    return rows


def plain_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _md_row(values: list[str]) -> str:
    return "| " + " | ".join(v.replace("|", "\\|").replace("\n", "<br>") for v in values) + " |"


def markdown_text(run: ProbeRun) -> str:
    rows = totals_rows(run)
    out = [f"# Probe set: {run.set_name}", "", _md_row(rows[0]), "|" + "---|" * len(rows[0])]
    out += [_md_row(r) for r in rows[1:]]
    for q in run.questions:
        title = f"{q.text}<|fim|>{q.suffix}" if q.mode == "fim" else q.text
        out += ["", f"## {q.id} ({q.mode or 'the model’s own mode'})", "", "```text", title, "```", "",
                _md_row(["file", "check", "tokens", "time", "tok/s", "answer"]), "|---|---|---|---|---|---|"]
        for f in run.files:
            c = run.cell(q.id, f) or Cell(q.id, f, error="not run")
            answer = f"error: {c.error}" if c.error else c.answer.strip()
            if c.failed:
                answer += f" (failed: {'; '.join(c.failed)})"
            out.append(_md_row([run.column(f).name, mark(c), str(c.tokens), f"{c.seconds:.1f} s",
                                f"{c.tokens_per_s:.1f}", answer]))
    return "\n".join(out) + "\n"


def write_markdown(run: ProbeRun, path: Path) -> None:
    path.write_text(markdown_text(run), encoding="utf-8")
