"""The side-by-side chat: 1 to 4 panes, one input, and the plan that says which models run together.

Sending follows the plan from `explorer.schedule.plan_runs`: the panes of one wave load (when they
are not loaded so already) and answer at the same time; the next wave starts when every pane of the
current one has finished, after the models that are not part of it have been unloaded. A pane whose
model does not fit is left out unless its "Load anyway" box is ticked.

The order of a run's loads, unloads and answers is `explorer.chat.waves.WaveRunner`'s; the tab
carries out its actions. Every finished run is saved, and the Conversations menu reopens and exports
saved conversations (`ui.chat.history`).

A pane may run a model on an endpoint (`ui.chat.remote`): it uses no local memory, so the plan places
the local panes only and the remote ones answer alongside its first wave.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from explorer.chat.records import PaneMode, Session
from explorer.chat.sandbox import RenderLimits
from explorer.chat.sweep_plan import SweepPlan, plan_words
from explorer.chat.transcripts import ConversationStore, new_session_id, now_iso
from explorer.chat.waves import Action, Load, RunFinished, Send, Skip, Stop, Unload, Wait, WaveRunner
from explorer.engine.pool import EnginePool, LoadKey, LocalEngine, load_key, loads_together
from explorer.fit.schedule import PaneRequest, Plan, plan_runs
from explorer.hardware.facts import Hardware
from explorer.settings import PaneState
from explorer.store.library import LocalModel
from ui.chat.escalate import Escalator
from ui.chat.history import Conversations
from ui.chat.pane import ChatPane
from ui.chat.pane_record import MAX_PANES, pane_request, restore_into, session_of
from ui.chat.remote import (
    RemoteFactory,
    RemoteTarget,
    add_remote_panes,
    remote_factory,
    remote_line,
    target_for_ref,
)
from ui.chat.specs import LoadSpec, SendSpec, same_model
from ui.chat.sweep import SweepDialog, apply_sweep, mark_fastest, no_room
from ui.first_run import FirstRunPanel

if TYPE_CHECKING:
    from explorer.store.endpoints import EndpointStore


@dataclass(frozen=True)
class _Job:
    """One pane's part of a run, fixed when the prompt is sent (the pane's controls are locked until the end)."""

    load: LoadSpec
    send: SendSpec


class ChatTab(QWidget):
    run_finished = Signal()  # every pane of the run has ended (answered, failed, stopped or left out)
    plan_changed = Signal(object)  # Plan | None
    state_changed = Signal()  # a pane's choices changed (model, mode, thinking, settings), or a pane came or went

    def __init__(self, store: ConversationStore | None = None, parent: QWidget | None = None,
                 client_factory: Callable[[], LocalEngine] | None = None,
                 render_limits: RenderLimits | None = None, endpoints: EndpointStore | None = None,
                 remote: RemoteFactory | None = None) -> None:
        super().__init__(parent)
        # Panes of one wave on one file share a worker (one pass over the weights per token for all);
        # a factory given (tests) replaces the pool.
        self.pool = EnginePool()
        self._client_factory: Callable[[], LocalEngine] = client_factory or self.pool.client
        self.endpoints = endpoints  # the saved endpoints: their keys, and a reopened remote pane's endpoint
        self._remote = remote or remote_factory(endpoints)
        self.remotes: list[RemoteTarget] = []  # the endpoints' models, as the Library last listed them
        self._render_limits = render_limits  # how long and large a chat template may render (None: defaults)
        self.setObjectName("chatTab")
        self.store = store or ConversationStore()
        self.hardware: Hardware | None = None
        self.models: list[LocalModel] = []
        self.panes: list[ChatPane] = []
        self.plan: Plan | None = None
        # The run's order of unloads, loads and answers; the tab carries out its actions (`_do`).
        self.runner: WaveRunner[ChatPane] = WaveRunner(resident=self._resident)
        self._jobs: dict[ChatPane, _Job] = {}
        self._reload_spec: LoadSpec | None = None
        self._run_ids = 0
        self._last_text: str | None = None  # the last prompt sent: what Regenerate asks again
        self._closed = False  # shutdown() ran: nothing more is saved
        self.hardware_error: str | None = None
        self._closing: set[ChatPane] = set()  # removed panes whose engine thread is still ending
        self.session_id: str | None = None
        self.session_created: str | None = None
        self.history = Conversations(self.store, self.session, self.clear_all, self)
        self.history.opened.connect(self.restore_session)
        self.history.note.connect(self._set_note)
        self._build()
        self.add_pane()
        self.add_pane()

    # --- layout -------------------------------------------------------------------------------

    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(8)
        top = QHBoxLayout()
        self.add_button = QPushButton("Add pane")
        self.add_button.setObjectName("addPane")
        self.add_button.clicked.connect(lambda: self.add_pane())
        top.addWidget(self.add_button)
        self.share_box = QCheckBox("One worker per file")
        self.share_box.setObjectName("shareWorker")
        self.share_box.setToolTip("Panes that run the same file with the same context together share one process: "
                                  "the model is in memory once and each step reads its weights once for all of "
                                  "them. Off: every pane gets its own process (a crash then stays in its pane). "
                                  "Models loaded the other way are unloaded; the next message loads them again.")
        self.share_box.setChecked(self.pool.share)
        self.share_box.toggled.connect(self.set_share_worker)
        top.addWidget(self.share_box)
        self.plan_label = QLabel("")
        self.plan_label.setObjectName("planLabel")
        self.plan_label.setWordWrap(True)
        top.addWidget(self.plan_label, 1)
        top.addWidget(self.history.button)
        lay.addLayout(top)
        # No model to pick (none on disk, no endpoint's): what to do, and buttons that do it (the window connects them).
        self.first_run = FirstRunPanel("The panes pick from the models on disk and the saved endpoints' models; "
                                       "there are none yet.")
        lay.addWidget(self.first_run)

        # The panes share the tab's width; when they cannot all fit at their narrowest (4 panes on a small
        # screen) the grid scrolls sideways instead of pushing the window wider than the screen.
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("paneSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.pane_scroll = QScrollArea()
        self.pane_scroll.setObjectName("paneScroll")
        self.pane_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.pane_scroll.setWidgetResizable(True)
        self.pane_scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.pane_scroll.setWidget(self.splitter)
        lay.addWidget(self.pane_scroll, 1)

        bottom = QHBoxLayout()
        self.input = QPlainTextEdit()
        self.input.setObjectName("chatInput")
        self.input.setPlaceholderText("Message every pane…   Ctrl+Enter sends, Esc stops all")
        self.input.setFixedHeight(72)
        bottom.addWidget(self.input, 1)
        buttons = QVBoxLayout()
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.setToolTip("Send to every pane (Ctrl+Enter)")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop all")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Stop every pane (Esc)")
        self.stop_button.clicked.connect(self.stop_all)
        row = QHBoxLayout()
        self.regen_button = QPushButton("Regenerate")
        self.regen_button.setObjectName("regenButton")
        self.regen_button.setToolTip("Answer the last message again in every pane")
        self.regen_button.clicked.connect(self.regenerate)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setObjectName("clearButton")
        self.clear_button.setToolTip("Start a new conversation (the current one stays saved)")
        self.clear_button.clicked.connect(self.clear_all)
        row.addWidget(self.regen_button)
        row.addWidget(self.clear_button)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addLayout(row)
        bottom.addLayout(buttons)
        lay.addLayout(bottom)
        self.note = QLabel("")
        self.note.setObjectName("chatNote")
        self.note.setWordWrap(True)
        self.escalator = Escalator(self, self)
        self.run_finished.connect(self.escalator.on_run_finished)
        notes = QHBoxLayout()
        notes.addWidget(self.note, 1)
        notes.addWidget(self.escalator.auto)
        notes.addWidget(self.escalator.button)
        lay.addLayout(notes)

        # Ctrl+Enter in the input sends; Esc anywhere in the tab stops every pane. (Keys in the input go
        # through an event filter: a shortcut there would fight the editor for the key.)
        self.input.installEventFilter(self)
        esc = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        esc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        esc.activated.connect(self.stop_all)
        self._update_buttons()

    # --- panes --------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.input and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            key, mods = int(event.key()), event.modifiers()  # key() is a plain int in PySide6
            ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
            if ctrl and key in (Qt.Key.Key_Return.value, Qt.Key.Key_Enter.value):
                self.send()
                return True
            if key == Qt.Key.Key_Escape.value:
                self.stop_all()
                return True
        return super().eventFilter(watched, event)

    def add_pane(self, copy_of: ChatPane | None = None, *, at: int | None = None,
                 switch_thinking: bool = True) -> ChatPane | None:
        """A new pane at the end (or at `at`); a copy of `copy_of`, maybe with the thinking switched."""
        if len(self.panes) >= MAX_PANES:
            return None
        at = len(self.panes) if at is None else at
        pane = ChatPane(at + 1, client_factory=self._client_factory, render_limits=self._render_limits,
                        remote=self._remote)
        pane.set_models(self.models)
        pane.set_remotes(self.remotes)
        pane.model_changed.connect(self.update_plan)
        pane.override_changed.connect(self.update_plan)
        pane.message_done.connect(self._pane_done)
        pane.duplicate_requested.connect(lambda p=pane: self.add_pane(copy_of=p))
        pane.close_requested.connect(lambda p=pane: self.remove_pane(p))
        pane.driver.unloaded.connect(lambda p=pane: self._pane_unloaded(p))
        pane.reload_requested.connect(lambda p=pane: self.reload_pane(p))
        pane.sweep_requested.connect(lambda p=pane: self.open_sweep(p))
        for signal in (pane.model_changed, pane.think_box.toggled, pane.settings_form.edited, pane.mode_panel.changed,
                       pane.mode_panel.system_edit.textChanged):
            signal.connect(self.state_changed)
        self.panes.insert(at, pane)
        self.splitter.insertWidget(at, pane)
        if copy_of is not None:
            path, remote = copy_of.model_path(), copy_of.remote_target()
            if remote is not None:
                pane.select_remote(remote)
            elif path is not None:
                pane.select_path(path)
            st = copy_of.settings()
            pane.apply_settings(st)
            pane.mode_panel.fim.set_texts(*copy_of.mode_panel.fim.texts())
            if switch_thinking and copy_of.think_box.isEnabled():
                pane.set_thinking(not st.thinking)  # the usual comparison: the same model, thinking on vs off
        self.splitter.setSizes([1000] * len(self.panes))
        self._renumber()
        self.update_plan()
        self.state_changed.emit()
        return pane

    def remove_pane(self, pane: ChatPane) -> None:
        if len(self.panes) <= 1 or pane not in self.panes:
            return
        if self.runner.running:
            self._set_note("Stop the running message before closing a pane.")
            return
        self.panes.remove(pane)
        pane.hide()
        pane.setParent(None)
        # The worker process may take seconds to exit: let the pane's thread do it, and drop the
        # widget only when the thread says it has ended (the GUI thread never waits for it).
        self._closing.add(pane)
        pane.driver.closed.connect(lambda p=pane: self._pane_closed(p))
        pane.driver.close()
        self._renumber()
        self._do(self.runner.removed(pane))
        self.update_plan()
        self.state_changed.emit()

    def _pane_closed(self, pane: ChatPane) -> None:
        self._closing.discard(pane)
        pane.deleteLater()

    def _renumber(self) -> None:
        for i, pane in enumerate(self.panes, 1):
            pane.number = i
            pane.title.setText(str(i))
            pane.title.setToolTip(f"Pane {i}")
            pane.close_button.setProperty("allowed", len(self.panes) > 1)
            pane.copy_button.setProperty("allowed", len(self.panes) < MAX_PANES)
        self._update_buttons()

    def set_models(self, models: Sequence[LocalModel]) -> None:
        self.models = [m for m in models if m.complete and m.error is None]
        for pane in self.panes:
            pane.set_models(self.models)
        self._update_buttons()

    def set_remotes(self, targets: Sequence[RemoteTarget]) -> None:
        """The saved endpoints' models, offered in every pane's picker after the local files."""
        self.remotes = list(targets)
        for pane in self.panes:
            pane.set_remotes(self.remotes)
        self._update_buttons()

    def remote_panes(self) -> list[ChatPane]:
        return [p for p in self.panes if p.remote_target() is not None]

    def set_hardware(self, hw: Hardware) -> None:
        self.hardware = hw
        self.hardware_error = None
        self.update_plan()

    def set_hardware_error(self, message: str) -> None:
        """The probe failed: without RAM and GPU figures there is no plan, so nothing can be loaded safely."""
        self.hardware_error = message
        self.update_plan()

    def set_share_worker(self, on: bool) -> None:
        """Whether panes of one wave on one file share a worker (from the next load on)."""
        if self.share_box.isChecked() != on:
            self.share_box.setChecked(on)  # comes back here through `toggled`
            return
        if self.pool.share != on:
            self.pool.share = on
            # What is loaded was loaded the other way: let it go, so the next message loads as the plan says.
            for pane in self._resident():
                if pane.driver.state == "ready":
                    pane.unload()
            self.update_plan()
            self.state_changed.emit()

    # --- the plan -----------------------------------------------------------------------------

    def requests(self) -> list[PaneRequest]:
        """What the plan places: each pane with a model whose header has been read."""
        return [r for r in (pane_request(p) for p in self.panes) if r is not None]

    def update_plan(self) -> None:
        reqs = self.requests()
        details = ""  # the line's tooltip
        remote = [remote_line(p.number, t) for p in self.panes if (t := p.remote_target()) is not None]
        hw = self.hardware
        if hw is None and (reqs or not remote):
            self.plan = None
            text = (f"Hardware detection failed ({self.hardware_error}); without it no model can be placed. "
                    "Use File > Re-detect hardware." if self.hardware_error else "Detecting hardware…")
        elif not reqs or hw is None:  # (no hardware: only remote panes are chosen)
            self.plan = None
            text = "Reading the models…" if self._reading() else "" if remote else "Choose a model in each pane."
        else:
            self.plan = plan_runs(reqs, hw)
            workers = {r.pane: f"{r.key}|{r.ctx}" for r in reqs} if self.pool.share else None
            text, details = plan_words(self.plan, {r.pane: r.key for r in reqs}, workers)
        self.plan_label.setText("\n".join(t for t in (text, "; ".join(remote)) if t))
        self.plan_label.setToolTip(details)
        blocked = {n for n, _ in self.plan.blocked} if self.plan else set()
        for pane in self.panes:
            placement = self.plan.placement(pane.number) if self.plan else None
            pane.override_box.setVisible(pane.number in blocked or bool(placement and placement.overridden))
        self._update_buttons()
        self.plan_changed.emit(self.plan)

    # --- sending ------------------------------------------------------------------------------

    def _reading(self) -> bool:
        """A pane's model header is still being read (its plan is not known yet)."""
        return any(p.model_path() is not None and p.info is None and p.info_error is None for p in self.panes)

    @property
    def running(self) -> bool:
        """A prompt is going through the plan's waves."""
        return self.runner.running

    @property
    def unloading(self) -> frozenset[ChatPane]:
        """Panes whose models are being unloaded to make room (for a run's next wave, or a Reload)."""
        return self.runner.unloading

    @property
    def closing_panes(self) -> frozenset[ChatPane]:
        """Removed panes whose engine thread has not ended yet."""
        return frozenset(self._closing)

    def _resident(self) -> list[ChatPane]:
        """Panes holding local memory (a remote pane holds none: no wave waits for it to unload)."""
        return [p for p in self.panes if p.driver.state in ("loading", "ready", "generating")
                and p.remote_target() is None]

    def _update_buttons(self) -> None:
        self.first_run.setVisible(not self.models and not self.remotes)
        running = self.runner.running
        runnable = ((self.plan is not None and bool(self.plan.waves)) or bool(self.remote_panes())) \
            and not self._reading() and not self.runner.busy
        self.send_button.setEnabled(not running and runnable)
        self.regen_button.setEnabled(not running and runnable and self._last_text is not None)
        self.stop_button.setEnabled(running and not self.runner.cancelled)
        self.clear_button.setEnabled(not running)
        self.share_box.setEnabled(not running)
        self.add_button.setEnabled(not running and len(self.panes) < MAX_PANES)
        self.history.button.setEnabled(not running)
        self.escalator.update(running)
        for pane in self.panes:
            pane.set_locked(running)

    def send(self) -> bool:
        """The message box's text to every pane (free-form as typed), and each FIM pane's prefix and suffix."""
        text = self.input.toPlainText()
        fim = [p for p in self.panes if p.mode_panel.mode() is PaneMode.FIM]
        if (not text.strip() and not fim) or not self._start(text, regenerate=False):
            return False
        if len(fim) < len(self.panes):
            self.input.clear()
        return True

    def regenerate(self) -> bool:
        text = self._last_text
        return text is not None and self._start(text, regenerate=True)

    def start_only(self, pane: ChatPane, text: str) -> bool:
        """`text` to `pane` alone (an escalation): its conversation goes on, the other panes wait."""
        return self._start(text, regenerate=False, only=pane)

    def _start(self, text: str, *, regenerate: bool, only: ChatPane | None = None) -> bool:
        plan, remote = self.plan, self.remote_panes()
        if self.runner.busy or not ((plan is not None and plan.waves) or remote) or self._reading():
            return False
        waves: list[list[ChatPane]] = []
        refused: list[tuple[ChatPane, str]] = []
        self._jobs = {}
        placed = [[(self.panes[p.pane - 1], p.n_gpu_layers, p.n_threads) for p in w]
                  for w in (plan.waves if plan is not None else ())]
        for wave in add_remote_panes(placed, [(p, 0, 0) for p in remote]):
            panes = []
            for pane, n_gpu_layers, n_threads in wave:
                if (pane is not only) if only is not None else pane in self.escalator.only_escalations:
                    continue
                load = pane.load_spec(n_gpu_layers, n_threads)
                why = pane.refusal(text)
                if why is not None:
                    refused.append((pane, why))
                elif load is not None:
                    self._jobs[pane] = _Job(load, pane.send_spec(text, regenerate=regenerate))
                    panes.append(pane)
            if panes:
                waves.append(panes)
        for pane, why in refused:  # one line in the pane; nothing in its conversation changes
            pane.skip(f"Not run: {why[:1].upper()}{why[1:]}")
        if not self._jobs:
            return False
        self.pool.expect(self._loads_together(waves))
        if self.session_id is None:
            self.session_id = new_session_id()
            self.session_created = now_iso()
        self._run_ids += 1
        self._last_text = text
        for n, why in plan.blocked if plan is not None and only is None else ():
            self.panes[n - 1].skip(f"Not run: {why}")
        self._do(self.runner.start(waves))
        self._update_buttons()
        return True

    def _loads_together(self, waves: list[list[ChatPane]]) -> dict[LoadKey, tuple[int, int | None]]:
        """What the pool is to expect: the loads of each wave, less the panes that have their model
        loaded that way already (and remote ones)."""
        return loads_together([
            [(load_key(load.path, load.n_ctx, load.n_gpu_layers), load.n_threads) for pane in wave
             if (load := self._jobs[pane].load).remote is None
             and not (pane.driver.state in ("ready", "generating") and same_model(pane.driver.load_spec, load))]
            for wave in waves])

    def _do(self, actions: list[Action[ChatPane]]) -> None:
        """Carry out what the run's state machine says (`explorer.chat.waves`)."""
        for action in actions:
            if isinstance(action, Unload):
                action.pane.unload()
            elif isinstance(action, Send):
                job = self._jobs[action.pane]
                action.pane.run_message(self._run_ids, job.load, job.send)
            elif isinstance(action, Load):
                if action.pane in self.panes and self._reload_spec is not None:
                    action.pane.driver.load(self._reload_spec)
                self._reload_spec = None
            elif isinstance(action, Stop):
                action.pane.stop()
            elif isinstance(action, Wait):
                numbers = ", ".join(str(p.number) for p in action.after)
                action.pane.set_waiting(f"Waiting for pane {numbers}: the models do not fit in memory together"
                                        if action.after else "")
            elif isinstance(action, Skip):
                action.pane.skip("Not run: stopped.")
            elif isinstance(action, RunFinished):
                mark_fastest([p for p in self._jobs if p in self.panes])
                self._jobs = {}
                self.save()
                self.run_finished.emit()
        self._update_buttons()

    # --- sweeps -------------------------------------------------------------------------------

    def open_sweep(self, pane: ChatPane) -> SweepDialog:
        """The Sweep… dialog for `pane` (shown, not waited for); choosing makes the sweep."""
        dialog = SweepDialog.open_for(pane, room=MAX_PANES - len(self.panes) + 1, limit=MAX_PANES, parent=self)
        dialog.chosen.connect(lambda plan, p=pane: self.sweep(p, plan))
        return dialog

    def sweep(self, pane: ChatPane, plan: SweepPlan) -> list[ChatPane] | None:
        """Turn `pane` into one pane per value of `plan` where it was (same model, one seed); None, with
        a note, while a run goes on or when the tab (at most MAX_PANES panes) has no room for them."""
        if self.runner.busy or pane not in self.panes:
            return None
        if too_many := no_room(len(plan.values), len(self.panes) - 1, MAX_PANES):
            self._set_note(too_many)
            return None
        at = self.panes.index(pane)
        panes = [pane]
        for i in range(1, len(plan.values)):
            copy = self.add_pane(copy_of=pane, at=at + i, switch_thinking=False)
            panes += [copy] if copy is not None else []
        self._set_note(apply_sweep(panes, plan))
        self.update_plan()
        return panes

    def _pane_unloaded(self, pane: ChatPane) -> None:
        self._do(self.runner.unloaded(pane))

    def reload_pane(self, pane: ChatPane) -> None:
        """Load a pane's model again (after a crash) where the plan puts it; never one that does not fit.

        The models of the other waves are unloaded first (and waited for), as before a wave of a run."""
        if self.runner.busy:
            return
        if pane.remote_target() is not None:  # no memory to make room in: connect again
            spec = pane.load_spec(0, 0)
            pane.reload_button.setVisible(False)
            if spec is not None:
                pane.driver.load(spec)
            return
        if self.plan is None:
            return
        placement = self.plan.placement(pane.number)
        if placement is None:
            self._set_note(f"Pane {pane.number}: its model does not fit next to the others; "
                           "it loads when you send (or tick 'Load anyway').")
            return
        spec = pane.load_spec(placement.n_gpu_layers, placement.n_threads)
        if spec is None:
            return
        wave = next(w for w in self.plan.waves if any(p.pane == pane.number for p in w))
        numbers = {p.pane for p in wave}
        pane.reload_button.setVisible(False)
        self._reload_spec = spec
        self._do(self.runner.reload(pane, [p for p in self.panes if p.number in numbers]))

    def _pane_done(self, pane: ChatPane) -> None:
        self._do(self.runner.done(pane))

    def stop_all(self) -> None:
        self._do(self.runner.stop())

    def clear_all(self) -> None:
        if self.runner.running:
            return
        for pane in self.panes:
            pane.clear()
        self.session_id = None
        self.session_created = None
        self._last_text = None
        self._update_buttons()

    # --- the conversation as a record: saved, exported, reopened ------------------------------

    def session(self) -> Session | None:
        """The conversation as it stands (None before its first message)."""
        return session_of(self)

    def save(self) -> None:
        """Save the conversation (on a worker thread); nothing to save before the first message."""
        self.history.save()

    def restore_session(self, session: Session) -> None:
        """Show a saved conversation: its panes, models, settings and messages (models load on send)."""
        if not self.runner.running:
            restore_into(self, session)

    # --- the panes' choices that last (explorer.settings) -------------------------------------

    def pane_states(self) -> list[PaneState]:
        """Each pane's model (path or endpoint ref), mode, thinking and settings; never its conversation."""
        states = []
        for pane in self.panes:
            remote, path = pane.remote_target(), pane.model_path()
            model = remote.ref if remote is not None else str(path) if path is not None else ""
            states.append(PaneState(model, pane.settings()))
        return states

    def restore_panes(self, states: Sequence[PaneState]) -> None:
        """Panes as `pane_states()` gave them (nothing loads until a message is sent). A model file no longer
        on disk, or an endpoint no longer saved, leaves its pane without a model; the rest is restored."""
        states = states[:MAX_PANES]
        if not states or self.runner.busy:
            return
        while len(self.panes) < len(states):
            self.add_pane()
        while len(self.panes) > len(states):
            self.remove_pane(self.panes[-1])
        for pane, st in zip(self.panes, states, strict=False):
            remote = target_for_ref(st.model, self.endpoints) if st.model else None
            if isinstance(remote, RemoteTarget):
                pane.select_remote(remote)
            elif remote is None and st.model and Path(st.model).is_file():
                pane.select_path(Path(st.model))
            pane.apply_settings(st.settings)

    def _set_note(self, text: str) -> None:
        self.note.setText(text)

    def shutdown(self) -> None:
        """At exit: save, then end every pane's engine (all asked first, then waited for)."""
        if self._closed:
            return
        self.runner = WaveRunner(resident=list)  # late signals of the ending engines start no waves
        self.save()
        self._closed = True
        self.history.shutdown()
        drivers = [p.driver for p in [*self.panes, *self._closing]]
        for d in drivers:
            d.close()
        for d in drivers:
            d.join(10)
        self.pool.close()
