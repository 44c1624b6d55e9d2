"""The probe runner: every question of a set to every column (a file with its settings), headless.

The CLI runs it over files, the Probes tab over the chat grid's panes or files chosen in the Library.
Columns of one file at one context share one loaded model. The models are placed in waves by the same
plan as the chat grid (`fit/schedule.py`): those that fit together load together, each model loads
once per run, and within a wave the questions go in order, each to every column, one answer at a time
(so every tokens/s figure is measured alone). Each question gets a fresh `Conversation` (the
question's mode and system prompt, else the column's); the answer is marked by the question's checks,
never the thinking. A file that does not load, or a model that crashes or fails a question, marks its
cells with the error and the run goes on. A stop (`stop` set) ends the answer in progress, which is
not kept: resuming the saved run asks it again, with every cell the run does not have yet.
"""

from __future__ import annotations

import functools
import io
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from explorer.chat.records import PaneMode, StopReason
from explorer.chat.templates import preset_for, thinking_mode
from explorer.cli.model_run import Answer, ModelRun
from explorer.fit.contexts import DEFAULT_CHAT_CTX
from explorer.probes.results import Cell, Column, ProbeRun, QuestionRef
from explorer.probes.sets import ProbeSet, Question


@dataclass(frozen=True)
class ProbeSettings:
    """How a column answers. `mode` and `system` apply to questions that do not set their own."""

    max_tokens: int = 1024
    ctx: int = DEFAULT_CHAT_CTX
    seed: int = 0
    threads: int | None = None
    force: bool = False
    thinking: bool | None = None  # None: the model's default
    sampling: dict[str, Any] = field(default_factory=dict)  # values given; the rest is Qwen's preset
    mode: str | None = None  # None: the model's own
    system: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"max_tokens": self.max_tokens, "ctx": self.ctx, "seed": self.seed,
                               "threads": self.threads, "thinking": self.thinking, "sampling": dict(self.sampling)}
        if self.mode is not None:
            out["mode"] = self.mode
        if self.system is not None:
            out["system"] = self.system
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProbeSettings:
        known = {k: data[k] for k in ("max_tokens", "ctx", "seed", "threads", "force", "thinking", "mode", "system")
                 if k in data}
        return cls(**known, sampling=dict(data.get("sampling") or {}))


@dataclass(frozen=True)
class ProbeColumn:
    """One column to run: `key` is unique within the run (cells name it)."""

    key: str
    path: Path
    settings: ProbeSettings
    label: str = ""
    sha256: str = ""

    @property
    def model_key(self) -> tuple[str, int]:
        """Columns with equal keys share one loaded model."""
        return str(self.path.resolve()), self.settings.ctx


def columns_for(files: Sequence[Path], settings: ProbeSettings) -> list[ProbeColumn]:
    """One column per file, all with `settings`; a file named twice gets a second key ("path#2")."""
    out: list[ProbeColumn] = []
    for f in files:
        key, n = str(f), 1
        while any(c.key == key for c in out):
            n += 1
            key = f"{f}#{n}"
        out.append(ProbeColumn(key, f, settings))
    return out


def columns_of(run: ProbeRun) -> list[ProbeColumn]:
    """The columns of a saved run, to resume it."""
    out = []
    for key in run.files:
        col = run.column(key)
        settings = ProbeSettings.from_json(col.settings or run.settings)
        out.append(ProbeColumn(key, Path(col.file), settings, col.label, col.sha256))
    return out


class _Errors(io.StringIO):
    """The run's notes: passed on to a stream and kept, so that a failure's reason lands in its cells."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self.last_error = ""

    def write(self, text: str) -> int:
        self.stream.write(text)
        for line in text.splitlines():
            if line.startswith("error: "):
                self.last_error = line[len("error: "):].strip()
        return len(text)

    def isatty(self) -> bool:
        return False

    def flush(self) -> None:
        self.stream.flush()


def question_ref(q: Question) -> QuestionRef:
    return QuestionRef(id=q.id, mode=q.mode or "", text=q.prefix if q.is_fim else q.text,
                       suffix=q.suffix if q.is_fim else "")


def new_run(probe_set: ProbeSet, columns: Sequence[ProbeColumn], settings: ProbeSettings) -> ProbeRun:
    return ProbeRun(set_name=probe_set.name, questions=[question_ref(q) for q in probe_set.questions],
                    files=[c.key for c in columns], settings=settings.to_json(),
                    created=datetime.now().isoformat(timespec="seconds"),
                    columns={c.key: Column(c.key, str(c.path), c.label, c.sha256, c.settings.to_json())
                             for c in columns if (c.label, c.sha256, str(c.path)) != ("", "", c.key)
                             or c.settings != settings})


def plan_waves(columns: Sequence[ProbeColumn]) -> list[list[list[ProbeColumn]]]:
    """Waves of models, each model the columns that share it (see the module's doc). A file that can not
    be read or does not fit gets a wave of its own: its load reports why."""
    models: dict[tuple[str, int], list[ProbeColumn]] = {}
    for c in columns:
        models.setdefault(c.model_key, []).append(c)
    groups = list(models.values())
    if len(groups) < 2:
        return [groups] if groups else []
    from explorer.fit.schedule import PaneRequest, plan_runs
    from explorer.gguf.model_info import inspect_model
    from explorer.gguf.reader import GGUFError
    from explorer.gguf.variant import Variant
    from explorer.hardware.probe import probe_hardware

    requests, alone = [], []
    for i, group in enumerate(groups):
        first = group[0]
        try:
            shape = inspect_model(first.path, fallback=Variant.INSTRUCT_2507).shape
        except (GGUFError, OSError):
            alone.append(i)
            continue
        requests.append(PaneRequest(pane=i + 1, label=first.path.name, key=first.model_key[0], shape=shape,
                                    ctx=first.settings.ctx, override=first.settings.force))
    plan = plan_runs(requests, probe_hardware(groups[0][0].path.parent))
    waves = [[groups[p.pane - 1] for p in wave] for wave in plan.waves]
    waves += [[groups[pane - 1]] for pane, _ in plan.blocked]
    waves += [[groups[i]] for i in alone]
    return sorted(waves, key=lambda w: min(groups.index(g) for g in w))  # in the order of the columns


def run_probe_set(probe_set: ProbeSet, columns: Sequence[ProbeColumn | Path],
                  settings: ProbeSettings | None = None, *, err: TextIO | None = None,
                  on_cell: Callable[[Cell], None] | None = None, stop: threading.Event | None = None,
                  resume: ProbeRun | None = None) -> ProbeRun:
    """The grid of `probe_set`'s questions x `columns` (paths: one column each with `settings`); with
    `resume`, that run with its missing cells asked (see the module's doc). Ctrl+C propagates (the models
    are unloaded first)."""
    settings = settings or ProbeSettings()
    cols = [c for c in columns if isinstance(c, ProbeColumn)]
    cols += columns_for([c for c in columns if isinstance(c, Path)], settings)
    notes = _Errors(err or sys.stderr)
    run = resume if resume is not None else new_run(probe_set, cols, settings)
    todo = set(run.missing())
    _hash_columns(run, cols, notes, stopped=lambda: stop is not None and stop.is_set())
    by_id = {q.id: q for q in probe_set.questions}

    def add(cell: Cell) -> None:
        run.cells.append(cell)
        if on_cell is not None:
            on_cell(cell)

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    for wave in plan_waves([c for c in cols if any(f == c.key for _, f in todo)]):
        if stopped():
            break
        loaded: list[tuple[ModelRun, list[ProbeColumn]]] = []
        try:
            for group in wave:
                model = ModelRun(err=notes, stop=stop)
                loaded.append((model, group))
                first = group[0]
                notes.last_error = ""
                code = model.open(first.path, ctx=first.settings.ctx, threads=first.settings.threads,
                                  seed=first.settings.seed, force=first.settings.force,
                                  describe=lambda info: f"; {len(probe_set.questions)} questions")
                if code and not stopped():
                    reason = notes.last_error or "the model did not load"
                    for c in group:
                        for q in probe_set.questions:
                            if (q.id, c.key) in todo:
                                add(Cell(q.id, c.key, error=reason, stop_reason=StopReason.ERROR.value))
            for qid in [q.id for q in run.questions]:
                for model, group in loaded:
                    for c in group:
                        if (qid, c.key) not in todo or run.cell(qid, c.key) is not None or qid not in by_id:
                            continue
                        if stopped():
                            return run
                        cell = _ask(model, by_id[qid], c, notes)
                        if not (stopped() and cell.stop_reason == StopReason.STOPPED.value):
                            add(cell)
        finally:
            for model, _ in loaded:
                model.close()
    return run


def _hash_columns(run: ProbeRun, cols: Sequence[ProbeColumn], notes: _Errors, stopped: Callable[[], bool]) -> None:
    """Each column's file sha256 (a blind vote's identity of the file), once per file; a file that can not
    be read keeps "" (its load will say why)."""
    from explorer.store.hashes import HashStopped, file_sha256

    for c in cols:
        col = run.column(c.key)
        if col.sha256 or stopped():
            continue
        if c.path.is_file() and c.path.stat().st_size > 1 << 30:
            notes.write(f"hashing {c.path.name} (its identity for the votes)…\n")
        try:
            sha = file_sha256(c.path, stopped=stopped)
        except (OSError, HashStopped):
            continue
        run.columns[c.key] = replace(col, sha256=sha)


def _ask(model: ModelRun, q: Question, col: ProbeColumn, notes: _Errors) -> Cell:
    if not model.client.alive:  # did not load, or crashed on an earlier question
        return Cell(q.id, col.key, error=notes.last_error or "the model's process ended",
                    stop_reason=StopReason.ERROR.value)
    assert model.info is not None
    s = col.settings
    mode = thinking_mode(model.info.variant)
    thinking = mode.default_on if s.thinking is None or not mode.can_toggle else s.thinking
    sampling = replace(preset_for(thinking), **s.sampling).check() if s.sampling else None
    prompting = q.mode or s.mode
    notes.last_error = ""
    t0 = time.monotonic()
    try:
        conv = model.conversation(thinking=thinking, max_tokens=s.max_tokens, seed=s.seed, sampling=sampling,
                                  system=q.system if q.system is not None else s.system,
                                  mode=PaneMode(prompting) if prompting else None)
        start = (functools.partial(conv.send_fim, q.prefix, q.suffix) if q.is_fim
                 else functools.partial(conv.send, q.text))
        if q.is_fim or conv.prompting is not PaneMode.CHATROOM:
            conv.set_system("")  # a system prompt belongs to the chatroom
        answer = model.stream(conv, start, io.StringIO(), echo=False)
    except (ValueError, RuntimeError) as exc:
        answer, notes.last_error = None, str(exc)
    seconds = time.monotonic() - t0
    return _cell(q, col.key, answer, seconds, notes.last_error)


def _cell(q: Question, key: str, answer: Answer | None, seconds: float, error: str) -> Cell:
    if answer is None:
        return Cell(q.id, key, seconds=seconds, error=error or "no answer", stop_reason=StopReason.ERROR.value)
    stats = answer.stats
    if stats.stop_reason is StopReason.ERROR:
        return Cell(q.id, key, answer=answer.answer, thinking=answer.thinking, tokens=stats.n_tokens,
                    thinking_tokens=stats.thinking_tokens, seconds=seconds, tokens_per_s=stats.tokens_per_s,
                    stop_reason=stats.stop_reason.value, error=stats.message or "the answer failed")
    failed = tuple(q.checks.failures(answer.answer))
    return Cell(q.id, key, answer=answer.answer, thinking=answer.thinking,
                check=q.checks.mark(answer.answer), failed=failed, tokens=stats.n_tokens,
                thinking_tokens=stats.thinking_tokens, seconds=seconds, tokens_per_s=stats.tokens_per_s,
                stop_reason=stats.stop_reason.value)
