"""The headless probe runner: every question of a set to every file, the model loaded once per file.

Each question gets a fresh `Conversation` on the file's loaded model (its own mode and system prompt);
the answer is marked by the question's checks (never the thinking). A file that does not load, or a
model that crashes or fails a question, marks its cells with the error and the run goes on.
"""

from __future__ import annotations

import functools
import io
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from explorer.chat.records import PaneMode, StopReason
from explorer.chat.templates import preset_for, thinking_mode
from explorer.cli.model_run import Answer, ModelRun
from explorer.fit.contexts import DEFAULT_CHAT_CTX
from explorer.probes.results import Cell, ProbeRun, QuestionRef
from explorer.probes.sets import ProbeSet, Question


@dataclass(frozen=True)
class ProbeSettings:
    max_tokens: int = 1024
    ctx: int = DEFAULT_CHAT_CTX
    seed: int = 0
    threads: int | None = None
    force: bool = False
    thinking: bool | None = None  # None: the model's default
    sampling: dict[str, Any] = field(default_factory=dict)  # flags given; the rest is Qwen's preset

    def to_json(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "ctx": self.ctx, "seed": self.seed, "threads": self.threads,
                "thinking": self.thinking, "sampling": dict(self.sampling)}


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


def run_probe_set(probe_set: ProbeSet, files: list[Path], settings: ProbeSettings, *,
                  err: TextIO | None = None, on_cell: Callable[[Cell], None] | None = None) -> ProbeRun:
    """The grid of `probe_set`'s questions x `files` (see the module's doc). Ctrl+C propagates (the model
    is unloaded first)."""
    notes = _Errors(err or sys.stderr)
    run = ProbeRun(set_name=probe_set.name, questions=[question_ref(q) for q in probe_set.questions],
                   files=[str(f) for f in files], settings=settings.to_json())

    def add(cell: Cell) -> None:
        run.cells.append(cell)
        if on_cell is not None:
            on_cell(cell)

    for path in files:
        model = ModelRun(err=notes)
        try:
            notes.last_error = ""
            code = model.open(path, ctx=settings.ctx, threads=settings.threads, seed=settings.seed,
                              force=settings.force,
                              describe=lambda info: f"; {len(probe_set.questions)} questions")
            if code:
                reason = notes.last_error or "the model did not load"
                for q in probe_set.questions:
                    add(Cell(q.id, str(path), error=reason, stop_reason=StopReason.ERROR.value))
                continue
            for q in probe_set.questions:
                add(_ask(model, q, path, settings, notes))
        finally:
            model.close()
    return run


def _ask(model: ModelRun, q: Question, path: Path, settings: ProbeSettings, notes: _Errors) -> Cell:
    if not model.client.alive:  # crashed on an earlier question
        return Cell(q.id, str(path), error=notes.last_error or "the model's process ended",
                    stop_reason=StopReason.ERROR.value)
    assert model.info is not None
    mode = thinking_mode(model.info.variant)
    thinking = mode.default_on if settings.thinking is None or not mode.can_toggle else settings.thinking
    sampling = replace(preset_for(thinking), **settings.sampling).check() if settings.sampling else None
    notes.last_error = ""
    t0 = time.monotonic()
    try:
        conv = model.conversation(thinking=thinking, max_tokens=settings.max_tokens, seed=settings.seed,
                                  sampling=sampling, system=q.system, mode=PaneMode(q.mode) if q.mode else None)
        start = (functools.partial(conv.send_fim, q.prefix, q.suffix) if q.is_fim
                 else functools.partial(conv.send, q.text))
        if q.is_fim or conv.prompting is not PaneMode.CHATROOM:
            conv.set_system("")  # a system prompt belongs to the chatroom
        answer = model.stream(conv, start, io.StringIO(), echo=False)
    except (ValueError, RuntimeError) as exc:
        answer, notes.last_error = None, str(exc)
    seconds = time.monotonic() - t0
    return _cell(q, path, answer, seconds, notes.last_error)


def _cell(q: Question, path: Path, answer: Answer | None, seconds: float, error: str) -> Cell:
    if answer is None:
        return Cell(q.id, str(path), seconds=seconds, error=error or "no answer",
                    stop_reason=StopReason.ERROR.value)
    stats = answer.stats
    if stats.stop_reason is StopReason.ERROR:
        return Cell(q.id, str(path), answer=answer.answer, thinking=answer.thinking, tokens=stats.n_tokens,
                    thinking_tokens=stats.thinking_tokens, seconds=seconds, tokens_per_s=stats.tokens_per_s,
                    stop_reason=stats.stop_reason.value, error=stats.message or "the answer failed")
    failed = tuple(q.checks.failures(answer.answer))
    return Cell(q.id, str(path), answer=answer.answer, thinking=answer.thinking,
                check=q.checks.mark(answer.answer), failed=failed, tokens=stats.n_tokens,
                thinking_tokens=stats.thinking_tokens, seconds=seconds, tokens_per_s=stats.tokens_per_s,
                stop_reason=stats.stop_reason.value)
