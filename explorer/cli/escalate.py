"""`qwen3-explorer chat FAST --escalate-to THINKING [--auto]`: seed 004's hybrid deployment in a terminal.

The fast model answers every message (a hybrid one without thinking, unless --think). A line that is
only ``/escalate`` (or ``/ask-thinking``) sends the latest question, with the conversation before it,
to the thinking model (`explorer.chat.escalation` says what it is sent and why it answers fresh);
with --auto, the rule checks each fast answer and escalates by itself when one fires. Either way the
line ``escalating: <rule> (<match>)`` comes first on stdout, then the thinking model's answer (its
thinking and stats on stderr, as for the fast one), then on stderr the two costs side by side. With
--json, an escalation is one more JSON object: the question, the reason, the answer and the costs.

Both models load at start, placed together by the chat tab's plan (`fit.schedule.plan_runs`). A
target that is not thinking-capable, does not fit beside the fast model or does not load is refused
before the first question instead of in the middle of the conversation, and an escalation then costs
only its answer, which is what the comparison reports. Loading it on the first escalation would save
memory only until that escalation (both stay loaded after it) and would make that first answer wait
for the load.
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path
from typing import TextIO

from explorer.chat.conversation import Conversation
from explorer.chat.escalation import (
    Cost,
    CostComparison,
    Reason,
    Rule,
    escalation_request,
    refusal,
    should_escalate,
    start_escalation,
)
from explorer.chat.records import StopReason
from explorer.cli.model_run import Answer, ModelRun, exit_code, sampling_from, write_json
from explorer.gguf.model_info import ModelInfo, inspect_model
from explorer.gguf.reader import GGUFError
from explorer.gguf.variant import Variant


def check_target(path: Path) -> ModelInfo | str:
    """The thinking model's header, or one line that says why it can not take escalations (exit 2)."""
    if not path.is_file():
        return f"--escalate-to: {'not a regular file' if path.exists() else 'no such file'}: {path}"
    try:
        info = inspect_model(path, fallback=Variant.INSTRUCT_2507)
    except (GGUFError, OSError) as exc:
        return f"--escalate-to: {path.name} is not a readable GGUF: {exc}"
    why = refusal(path.name, info.variant)
    return f"--escalate-to: {why}" if why else info


def plan_layers(args: argparse.Namespace, target: ModelInfo) -> tuple[int | None, int | None] | str:
    """GPU layers for the fast model and the thinking one loaded together, or one line that says why they
    can not be (exit 1). None: the model's own estimate alone (with --force, or a fast file its own load
    will report on)."""
    try:
        fast = inspect_model(args.file, fallback=Variant.INSTRUCT_2507)
    except (GGUFError, OSError):
        return None, None
    from explorer.fit.schedule import PaneRequest, plan_runs
    from explorer.hardware.probe import probe_hardware

    requests = [PaneRequest(pane, info.path.name, str(info.path.resolve()), info.shape, args.ctx, override=args.force)
                for pane, info in ((1, fast), (2, target))]
    plan = plan_runs(requests, probe_hardware(args.file.parent))
    if len(plan.waves) == 1 and len(plan.waves[0]) == 2:
        by_pane = {p.pane: p.n_gpu_layers for p in plan.waves[0]}
        return by_pane[1], by_pane[2]
    blocked = dict(plan.blocked)
    if args.force or 1 in blocked:  # forced; or the fast model does not fit alone: its own load says so
        return None, None
    if 2 in blocked:
        return f"{target.path.name} at {args.ctx} tokens of context does not fit. Use a smaller --ctx, or --force."
    return (f"{args.file.name} and {target.path.name} do not fit in memory together at {args.ctx} tokens of "
            "context. Use a smaller --ctx, or --force to load them anyway.")


class Escalator:
    """The thinking model of a chat, and the escalations to it (see the module's doc)."""

    def __init__(self, args: argparse.Namespace, target: ModelInfo, err: TextIO) -> None:
        self.args = args
        self.target = target
        self.run = ModelRun(err=err)
        self.conv: Conversation | None = None
        self.fast_cost: Cost | None = None  # of the latest fast answer

    def open(self, n_gpu_layers: int | None) -> int:
        """Load the thinking model (0, or the exit code); a placement from the plan needs no check alone."""
        a = self.args
        code = self.run.open(self.target.path, ctx=a.ctx, threads=a.threads, seed=a.seed,
                             force=a.force or n_gpu_layers is not None, n_gpu_layers=n_gpu_layers,
                             describe=lambda info: "; escalation target, thinking on")
        if code:
            return code
        self.conv = self.run.conversation(thinking=True, budget=a.budget, max_tokens=a.max_tokens, seed=a.seed,
                                          sampling=sampling_from(a, True))
        return 0

    def stop(self) -> None:
        if self.conv is not None:
            self.conv.stop()

    def close(self) -> None:
        self.run.close()

    def fast_answered(self, fast: Conversation, question: str, answer: Answer, seconds: float, out: TextIO) -> int:
        """After each fast answer: keep its cost; with --auto, escalate when the rule fires (the exit code)."""
        self.fast_cost = Cost.of(answer.stats, seconds)
        if not self.args.auto or answer.stats.stop_reason is StopReason.STOPPED:
            return 0
        reason = should_escalate(question, answer.answer)
        return self.escalate(fast, reason, out) if reason is not None else 0

    def command(self, fast: Conversation, word: str, out: TextIO) -> int:
        """/escalate: the latest question again, to the thinking model."""
        if self.fast_cost is None:
            self.run.note("nothing to escalate yet: ask a question first")
            return 0
        return self.escalate(fast, Reason(Rule.ASKED, word), out)

    def escalate(self, fast: Conversation, reason: Reason, out: TextIO) -> int:
        assert self.conv is not None and self.fast_cost is not None
        try:
            request = escalation_request(fast.messages)
        except ValueError as exc:
            self.run.note(f"error: {exc}")
            return 0
        if not self.args.json:
            out.write(f"escalating: {reason}\n")
            out.flush()
        t0 = time.monotonic()
        answer = self.run.stream(self.conv, functools.partial(start_escalation, self.conv, request), out,
                                 echo=not self.args.json)
        if answer is None:
            return 1
        costs = CostComparison(self.fast_cost, Cost.of(answer.stats, time.monotonic() - t0))
        if self.args.json:
            write_json(out, {"message": request.question,
                             "escalation": {**reason.to_json(), "model": self.target.path.name},
                             "thinking": answer.thinking, "answer": answer.answer, "stats": answer.stats.to_json(),
                             "cost": costs.to_json()})
        else:
            self.run.note(f"cost: {costs.line()}")
        return exit_code(answer)
