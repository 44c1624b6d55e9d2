"""Ask a thinking model (seed 004): a non-thinking pane's latest question goes to a thinking-capable pane.

The target is an open pane whose model can think (Thinking-2507 first, then a hybrid, switched on);
without one, a new pane gets the library's best-fitting Thinking-2507 or hybrid model (read and
estimated on a worker). A target that already answered the question with thinking has nothing to add
(said, not re-run); one whose conversation holds the same questions before it goes on from its own
answers; any other gets the source's conversation before the question (`explorer.chat.escalation`: the
thinking model answers fresh, without the fast answer). Only the target runs. A pane the escalation
opened answers only what is escalated to it (the seed's deployment: the thinking model is asked only
the hard questions); a pane the person opened answers every message, and then there is nothing to
escalate to it. When it ends, the note compares the two answers' cost. "Escalate by itself" checks the
rules after every run and escalates the first non-thinking answer they flag, saying which rule fired.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QCheckBox, QPushButton

from explorer.chat.escalation import (
    Candidate,
    Cost,
    CostComparison,
    EscalationRequest,
    Reason,
    Rule,
    best_target,
    escalation_request,
    should_escalate,
)
from explorer.chat.records import ConversationRecord, Message, PaneMode
from explorer.chat.templates import thinking_mode
from explorer.fit.contexts import DEFAULT_CHAT_CTX
from explorer.gguf.variant import Variant
from explorer.hardware.facts import Hardware
from explorer.store.library import LocalModel
from ui.chat.pane import ChatPane
from ui.chat.pane_record import MAX_PANES
from ui.workers import CancelToken, LatestRunner

READ_WAIT_MS = 15_000  # how long a new pane may take to read its model's header


class Grid(Protocol):
    """What the escalation uses of `ui.chat.tab.ChatTab` (which imports this module)."""

    panes: list[ChatPane]
    models: list[LocalModel]
    hardware: Hardware | None

    def add_pane(self) -> ChatPane | None: ...
    def start_only(self, pane: ChatPane, text: str) -> bool: ...
    def _set_note(self, text: str) -> None: ...


def can_think(pane: ChatPane) -> bool:
    v = pane.variant()
    return v is not None and pane.mode_panel.mode() is PaneMode.CHATROOM and not thinking_mode(v).never


def answered_without_thinking(pane: ChatPane) -> bool:
    """The pane's latest answer is a chatroom answer made without thinking, and it ended."""
    v, conv = pane.variant(), pane.conversation
    if v is None or conv is None or pane.running or conv.settings.mode is not PaneMode.CHATROOM:
        return False
    last = conv.messages[-1] if conv.messages else None
    if last is None or last.role != "assistant" or last.stats is None or last.stats.stop_reason.value == "error":
        return False
    mode = thinking_mode(v)
    return mode.never or (mode.can_toggle and not conv.settings.thinking)


def _merged(history: tuple[Message, ...], own: tuple[Message, ...]) -> tuple[Message, ...]:
    """The conversation before the question for the target: each exchange of the source's `history`, taken
    from the target's `own` messages where it asked the same question at the same place."""
    def exchanges(messages: tuple[Message, ...]) -> list[tuple[Message, ...]]:
        out: list[tuple[Message, ...]] = []
        for m in messages:
            if m.role == "user" or not out:
                out.append((m,))
            else:
                out[-1] = (*out[-1], m)
        return out

    mine = exchanges(own)
    merged: list[Message] = []
    for i, ex in enumerate(exchanges(history)):
        same = i < len(mine) and mine[i][0].role == ex[0].role and mine[i][0].content.strip() == ex[0].content.strip()
        merged.extend(mine[i] if same else ex)
    return tuple(merged)


def _thought_about(messages: tuple[Message, ...], question: str) -> bool:
    """The last exchange of `messages` is `question` answered with thinking (and it did not fail)."""
    if len(messages) < 2 or messages[-2].role != "user" or messages[-1].role != "assistant":
        return False
    answer = messages[-1]
    ok = answer.stats is not None and answer.stats.stop_reason.value != "error"
    return messages[-2].content.strip() == question.strip() and ok and bool(answer.thinking.strip())


def _last(messages: tuple[Message, ...], role: str) -> Message | None:
    return next((m for m in reversed(messages) if m.role == role), None)


def pick_model(models: list[LocalModel], hw: Hardware, token: CancelToken) -> LocalModel | None:
    """On a worker: the library's best-fitting Thinking-2507 or hybrid model (headers read, fits estimated)."""
    from explorer.fit.estimate import estimate_fit
    from explorer.gguf.reader import GGUFError, read_shape

    found: dict[str, LocalModel] = {}
    candidates = []
    for m in models:
        if token.cancelled:
            return None
        if not m.complete or m.error or m.variant not in (Variant.THINKING_2507, Variant.HYBRID):
            continue
        try:
            fit = estimate_fit(read_shape(m.path), hw, ctx=DEFAULT_CHAT_CTX)
        except (GGUFError, OSError):
            continue
        found[m.key] = m
        candidates.append(Candidate(m.key, m.variant, fit.verdict, m.size))
    best = best_target(candidates)
    return found.get(best.label) if best is not None else None


class Escalator(QObject):
    def __init__(self, grid: Grid, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.grid = grid
        self.button = QPushButton("Ask a thinking model")
        self.button.setObjectName("escalateButton")
        self.button.setToolTip("Send the latest question of a pane that answered without thinking to a pane "
                               "with a thinking model (a new one when none is open)")
        self.button.clicked.connect(lambda: self.ask())
        self.auto = QCheckBox("Escalate by itself")
        self.auto.setToolTip("After each answer without thinking, escalate when the question looks like "
                             "multi-step work or the answer hedges (the note says which rule fired)")
        self.pending: tuple[ChatPane, ChatPane, Reason] | None = None  # source, target, why: a run going on
        self.runner = LatestRunner(self)
        self.runner.result.connect(self._on_model_picked)
        self.runner.error.connect(lambda exc: self.grid._set_note(f"Could not pick a thinking model: {exc}"))
        self._waiting: tuple[ChatPane, EscalationRequest, Reason] | None = None
        self.only_escalations: weakref.WeakSet[ChatPane] = weakref.WeakSet()  # panes opened by an escalation

    # --- asking -------------------------------------------------------------------------------

    def sources(self) -> list[ChatPane]:
        return [p for p in self.grid.panes if answered_without_thinking(p)]

    def ask(self, source: ChatPane | None = None, reason: Reason | None = None) -> bool:
        """Escalate `source`'s latest question (default: the first pane that answered without thinking)."""
        source = source or next(iter(self.sources()), None)
        if source is None or source.conversation is None:
            self.grid._set_note("Nothing to escalate: no pane's latest answer was made without thinking.")
            return False
        try:
            request = escalation_request(source.conversation.messages)
        except ValueError as exc:
            self.grid._set_note(f"Not escalated: {exc}")
            return False
        reason = reason or Reason(Rule.ASKED, "")
        target = self._target(source)
        if target is not None:
            return self._launch(source, target, request, reason)
        hw = self.grid.hardware
        if len(self.grid.panes) >= MAX_PANES or hw is None:
            self.grid._set_note("No pane has a thinking model: pick a Thinking-2507 or hybrid model in a pane"
                                + (" (or close one: four is the most)" if len(self.grid.panes) >= MAX_PANES else ""))
            return False
        models = list(self.grid.models)
        self._waiting = (source, request, reason)
        self.grid._set_note("Choosing a thinking model from the library…")
        self.runner.submit(lambda token: pick_model(models, hw, token))
        return True

    def _target(self, source: ChatPane) -> ChatPane | None:
        ready = [p for p in self.grid.panes if p is not source and not p.running and can_think(p)]
        always = [p for p in ready if (v := p.variant()) is not None and thinking_mode(v).always]
        pool = always or ready
        return pool[0] if pool else None

    def _on_model_picked(self, model: LocalModel | None) -> None:
        waiting, self._waiting = self._waiting, None
        if waiting is None:
            return
        if model is None:
            self.grid._set_note("No Thinking-2507 or hybrid model in the library fits here: download one "
                                "(the Guide's “Solve multi-step problems” picks it)")
            return
        pane = self.grid.add_pane()
        if pane is None:
            return
        self.only_escalations.add(pane)
        pane.select_path(model.path)
        self._when_read(pane, lambda: self._launch(waiting[0], pane, waiting[1], waiting[2]), READ_WAIT_MS)

    def _when_read(self, pane: ChatPane, then: Callable[[], Any], left_ms: int) -> None:
        """Run `then` once the pane has read its model's header (the plan needs it)."""
        if pane.info is not None:
            QTimer.singleShot(0, then)  # after the plan has been updated for it
        elif pane.info_error is not None or left_ms <= 0:
            self.grid._set_note(f"Not escalated: pane {pane.number}'s model could not be read")
        else:
            QTimer.singleShot(100, lambda: self._when_read(pane, then, left_ms - 100))

    def _launch(self, source: ChatPane, target: ChatPane, request: EscalationRequest, reason: Reason) -> bool:
        v = target.variant()
        own = target.conversation.messages if target.conversation is not None else ()
        if _thought_about(own, request.question):
            self.grid._set_note(f"Pane {target.number} already answered that question with thinking: "
                                "nothing to escalate")
            return False
        if v is not None and thinking_mode(v).can_toggle:
            target.set_thinking(True)
        history = _merged(request.history, own)
        if history != own:  # its own answers where it answered the same question, the source's elsewhere
            target.clear()
            target.restore(list(history))
            target.conversation = ConversationRecord(target.settings(), v, history)
        self.pending = (source, target, reason)
        if not self.grid.start_only(target, request.question):
            self.pending = None
            self.grid._set_note(f"Not escalated: pane {target.number} can not run now (see its plan line)")
            return False
        why = "asked" if reason.rule is Rule.ASKED else f"escalating: {reason}"
        only = " (it answers only what is escalated to it)" if target in self.only_escalations else ""
        self.grid._set_note(f"Pane {source.number} → pane {target.number} with thinking ({why}){only}")
        return True

    # --- when a run ends ----------------------------------------------------------------------

    def on_run_finished(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None:
            self._compare(*pending)
            return
        if not self.auto.isChecked():
            return
        for source in self.sources():
            conv = source.conversation
            assert conv is not None
            question, answer = _last(conv.messages, "user"), _last(conv.messages, "assistant")
            reason = should_escalate(question.content if question else "", answer.content if answer else None)
            if reason is not None:
                QTimer.singleShot(0, lambda s=source, r=reason: self.ask(s, r))
                return

    def _compare(self, source: ChatPane, target: ChatPane, reason: Reason) -> None:
        fast = _last(source.conversation.messages, "assistant") if source.conversation else None
        slow = _last(target.conversation.messages, "assistant") if target.conversation else None
        if fast is None or slow is None or fast.stats is None or slow.stats is None:
            return
        cmp = CostComparison(Cost.of(fast.stats), Cost.of(slow.stats))
        why = "" if reason.rule is Rule.ASKED else f" ({reason})"
        self.grid._set_note(f"Pane {target.number} thought it over{why}: {cmp.summary()}")

    def update(self, running: bool) -> None:
        self.button.setEnabled(not running and bool(self.sources()) and self._waiting is None)
