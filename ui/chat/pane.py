"""One pane of the side-by-side chat: its model, thinking switch, settings, status and transcript.

The pane turns its `PaneDriver`'s signals into what the person sees; the chat tab decides when it
loads and what it sends (see `ui.chat.tab`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
    QWidgetAction,
)

from explorer.chat.records import (
    RANDOM_SEED,
    ConversationRecord,
    Message,
    MessageStats,
    PaneMode,
    PaneSettings,
    StopReason,
)
from explorer.chat.sandbox import RenderLimits
from explorer.chat.templates import preset_for, thinking_mode
from explorer.engine.client import EngineClient
from explorer.engine.pool import LocalEngine
from explorer.gguf.model_info import ModelInfo
from explorer.gguf.variant import Variant
from explorer.store.library import LocalModel
from ui.chat.driver import PaneDriver
from ui.chat.mode_panel import ModePanel
from ui.chat.model_picker import ModelPicker, model_label
from ui.chat.pane_settings import SettingsForm, default_budget, sampling_summary
from ui.chat.remote import RemoteFactory, RemoteTarget, remote_status
from ui.chat.specs import LoadSpec, SendSpec
from ui.chat.transcript import TranscriptView
from ui.fmt import format_ctx

__all__ = ["ChatPane", "PaneSettings", "model_label"]


class ChatPane(QFrame):
    """A pane. The tab calls `run_message`; the pane reports `message_done` when its answer ends."""

    model_changed = Signal()  # the model or anything the plan depends on (context) changed
    message_done = Signal(object)  # this pane: its message finished, failed or was not run
    duplicate_requested = Signal()
    close_requested = Signal()
    override_changed = Signal()
    reload_requested = Signal()
    sweep_requested = Signal()

    def __init__(self, number: int, parent: QWidget | None = None,
                 client_factory: Callable[[], LocalEngine] = EngineClient,
                 render_limits: RenderLimits | None = None, remote: RemoteFactory | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatPane")
        self.number = number
        self.info: ModelInfo | None = None
        self.info_error: str | None = None
        self.conversation: ConversationRecord | None = None  # as of the latest message
        self.running = False  # a message was handed to the engine and has not ended
        self.run_id = 0
        self.last_stats: MessageStats | None = None  # of this pane's answer in the latest run (None: none)
        self._load_started = 0.0
        self._load_fraction = 0.0
        self._status_detail = ""
        self.driver = PaneDriver(f"pane{number}", self, client_factory, render_limits, remote)
        self._build()
        self._connect_driver()
        self._elapsed = QTimer(self)
        self._elapsed.setInterval(250)
        self._elapsed.timeout.connect(self._tick)
        b = default_budget()
        self.settings_form.set_settings(PaneSettings(budget=b))
        self._apply_mode()

    # --- layout -------------------------------------------------------------------------------

    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.setSpacing(6)
        head = QHBoxLayout()
        head.setSpacing(6)
        self.title = QLabel(f"{self.number}")
        self.title.setObjectName("paneNumber")
        self.title.setToolTip(f"Pane {self.number}")
        head.addWidget(self.title)
        self.model_combo = ModelPicker()
        self.model_combo.setMinimumContentsLength(6)  # narrow panes: four fit side by side (the name elides)
        self.model_combo.currentIndexChanged.connect(self._model_picked)
        head.addWidget(self.model_combo, 1)
        self.settings_button = QToolButton()
        self.settings_button.setObjectName("paneSettingsButton")
        self.settings_button.setText("Settings")
        self.settings_button.setToolTip("Sampling, thinking budget, max tokens, seed, context")
        self.settings_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.settings_button)
        self.settings_form = SettingsForm()
        action = QWidgetAction(menu)
        action.setDefaultWidget(self.settings_form)
        menu.addAction(action)
        self.settings_button.setMenu(menu)
        self.settings_form.ctx_changed.connect(self.model_changed)  # the plan depends on the context
        head.addWidget(self.settings_button)
        self.copy_button = QToolButton()
        self.copy_button.setObjectName("paneCopy")
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Add a pane with the same model and other settings (thinking switched)")
        self.copy_button.clicked.connect(self.duplicate_requested)
        head.addWidget(self.copy_button)
        self.stop_button = QToolButton()  # this pane only; the tab's Stop all (Esc) stops every pane
        self.stop_button.setObjectName("paneStop")
        self.stop_button.setText("Stop")
        self.stop_button.setToolTip("Stop this pane's answer (the other panes go on)")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.hide()
        head.addWidget(self.stop_button)
        self.close_button = QToolButton()
        self.close_button.setObjectName("paneClose")
        self.close_button.setText("✕")
        self.close_button.setToolTip("Close this pane (unloads its model)")
        self.close_button.clicked.connect(self.close_requested)
        head.addWidget(self.close_button)
        lay.addLayout(head)

        status = QHBoxLayout()
        self.status = QLabel("Choose a model")
        self.status.setObjectName("paneStatus")
        self.status.setWordWrap(True)
        status.addWidget(self.status, 1)
        self.override_box = QCheckBox("Load anyway")
        self.override_box.setObjectName("paneOverride")
        self.override_box.setToolTip("The fit estimate says this model does not fit. Loading it anyway may "
                                     "swap heavily or be killed by the system.")
        self.override_box.setVisible(False)
        self.override_box.toggled.connect(self.override_changed)
        status.addWidget(self.override_box)
        self.reload_button = QPushButton("Reload")
        self.reload_button.setObjectName("paneReload")
        self.reload_button.setVisible(False)
        self.reload_button.clicked.connect(self.reload)
        status.addWidget(self.reload_button)
        lay.addLayout(status)

        self.mode_panel = ModePanel()  # the mode (chatroom, free-form, FIM), its editors, Sweep…
        self.mode_panel.changed.connect(self._apply_mode)
        self.mode_panel.sweep_button.clicked.connect(self.sweep_requested)
        self.think_box = QCheckBox("Think")  # beside the mode: free-form and fill-in-the-middle turn it off
        self.think_box.setObjectName("thinkToggle")
        self.think_box.toggled.connect(self._thinking_toggled)
        self.mode_panel.place_beside_mode(self.think_box)
        self.settings_form.changed.connect(self._show_summary)
        lay.addWidget(self.mode_panel)
        self.transcript = TranscriptView()
        lay.addWidget(self.transcript, 1)

    def _connect_driver(self) -> None:
        d = self.driver
        d.inspected.connect(self._on_inspected)
        d.inspect_failed.connect(self._on_inspect_failed)
        d.state_changed.connect(self._on_state)
        d.loaded.connect(self._on_loaded)
        d.fim_support.connect(self.mode_panel.set_fim_support)
        d.load_progress.connect(self._on_load_progress)
        d.load_failed.connect(self._on_load_failed)
        d.text.connect(self._on_text)
        d.finished.connect(self._on_finished)
        d.aborted.connect(self._on_aborted)
        d.engine_error.connect(self._on_engine_error)

    # --- models -------------------------------------------------------------------------------

    def set_models(self, models: list[LocalModel]) -> None:
        """The models the picker offers; the current choice stays (see `ModelPicker.set_models`)."""
        self.model_combo.set_models(models)

    def set_remotes(self, targets: list[RemoteTarget]) -> None:
        """The endpoints' models, offered after the local files."""
        self.model_combo.set_remotes(targets)

    def select_path(self, path: Path, variant: Variant | None = None) -> None:
        self.model_combo.select_path(path)

    def select_remote(self, target: RemoteTarget) -> None:
        self.model_combo.select_remote(target)

    def remote_target(self) -> RemoteTarget | None:
        """The endpoint's model this pane runs (None: a local file, or nothing)."""
        return self.model_combo.remote()

    def model_path(self) -> Path | None:
        return self.model_combo.path()

    def model_entry(self) -> LocalModel | None:
        return self.model_combo.entry()

    def label(self) -> str:
        return self.model_combo.label()

    def _model_picked(self) -> None:
        path = self.model_path()
        self.info = None
        self.info_error = None
        self.override_box.setChecked(False)
        self.mode_panel.set_model(None)
        if self.driver.state not in ("empty", "failed"):
            self.driver.unload()
        if self.remote_target() is not None:  # nothing to read: the variant is guessed from its id
            self._apply_mode()
            self._show_not_loaded()
        elif path is None:
            self._set_status("Choose a model")
        else:
            entry = self.model_entry()
            self._set_status("Reading the model's header…")
            self.driver.inspect(path, entry.variant if entry else None)
        self.model_changed.emit()

    def _on_inspected(self, info: ModelInfo) -> None:
        if info.path != self.model_path():
            return  # a late answer for a model no longer picked
        self.info = info
        self.mode_panel.set_model(info)
        self._apply_mode()
        self._show_not_loaded()
        self.model_changed.emit()

    def _on_inspect_failed(self, message: str) -> None:
        self.info = None
        self.info_error = message
        self._set_status(f"Cannot read this model: {message}", error=True)
        self.model_changed.emit()

    # --- thinking and settings ----------------------------------------------------------------

    def variant(self) -> Variant | None:
        remote = self.remote_target()
        return remote.variant if remote is not None else self.info.variant if self.info else None

    def _apply_mode(self) -> None:
        """The thinking switch follows the variant (hybrid toggles, the others are fixed) in a chatroom;
        free-form and fill-in-the-middle use no template, so the switch has nothing to switch."""
        variant = self.variant()
        chat = self.mode_panel.mode() is PaneMode.CHATROOM
        box = self.think_box
        box.blockSignals(True)
        if variant is None:
            box.setEnabled(False)
            box.setToolTip("Choose a model first")
        else:
            mode = thinking_mode(variant)
            box.setEnabled(mode.can_toggle and chat)
            box.setToolTip(mode.reason if chat else "No template in this mode: the model writes what it writes")
            if not chat:  # shown off (nothing asks for thinking); the chatroom's choice comes back with it
                if box.property("chatChecked") is None:
                    box.setProperty("chatChecked", box.isChecked())
                box.setChecked(False)
            elif box.property("chatChecked") is not None:
                box.setChecked(bool(box.property("chatChecked")))
                box.setProperty("chatChecked", None)
            if chat and mode.always:
                box.setChecked(True)
            elif chat and mode.never:
                box.setChecked(False)
            elif chat and not box.property("userSet"):
                box.setChecked(mode.default_on)
        box.blockSignals(False)
        self.settings_form.show_preset(self.thinking_on() and chat)
        self.settings_form.budget.setEnabled(chat and (variant is None or not thinking_mode(variant).never))
        self._show_summary()

    def _show_summary(self) -> None:
        st = self.settings()
        chat_thinks = st.thinking and st.mode is PaneMode.CHATROOM
        self.mode_panel.set_summary(sampling_summary(st.sampling or preset_for(chat_thinks), st.seed))

    def thinking_on(self) -> bool:
        return self.think_box.isChecked()

    def set_thinking(self, on: bool) -> None:
        """Set the switch (only a hybrid model's switch can change)."""
        self.think_box.setProperty("userSet", True)
        if self.think_box.isEnabled() or self.variant() is None:
            self.think_box.setChecked(on)

    def _thinking_toggled(self, on: bool) -> None:
        self.think_box.setProperty("userSet", True)
        self.settings_form.show_preset(on and self.mode_panel.mode() is PaneMode.CHATROOM)
        self._show_summary()

    def settings(self) -> PaneSettings:
        return self.mode_panel.complete(self.settings_form.read(self.thinking_on()))

    def apply_settings(self, st: PaneSettings) -> None:
        self.mode_panel.apply(st)
        self.settings_form.set_settings(st)
        self.set_thinking(st.thinking)
        self._apply_mode()

    def override(self) -> bool:
        return self.override_box.isChecked()

    # --- running ------------------------------------------------------------------------------

    def load_spec(self, n_gpu_layers: int, n_threads: int) -> LoadSpec | None:
        path, remote = self.model_path(), self.remote_target()
        if remote is not None:
            return LoadSpec(path=Path(remote.model), n_ctx=0, remote=remote)
        if path is None:
            return None
        return LoadSpec(path=path, n_ctx=self.settings().ctx, n_gpu_layers=n_gpu_layers, n_threads=n_threads)

    def send_spec(self, text: str, *, regenerate: bool = False) -> SendSpec:
        """The message as this pane's settings say now (the tab takes it when the prompt is sent)."""
        st = self.settings()
        seed = st.seed if st.seed != RANDOM_SEED else random.randrange(2**31)
        suffix = ""
        asked = self._last_fim() if regenerate else None
        if st.mode is PaneMode.FIM and asked is not None:
            text, suffix = asked  # Regenerate asks the last question again, whatever the editors hold now
        elif st.mode is PaneMode.FIM:
            text, suffix = self.mode_panel.fim.texts()
        elif st.mode is PaneMode.CHATROOM:
            text = text.strip()  # free-form sends the text exactly as typed
        return SendSpec(text=text, thinking=st.thinking, budget=st.budget, sampling=st.sampling,
                        max_tokens=st.max_tokens, seed=seed, regenerate=regenerate and self.last_question() == text,
                        mode=st.mode, system=st.system, suffix=suffix)

    def refusal(self, text: str) -> str | None:
        """Why this pane cannot send `text` now (an empty message or FIM prefix and suffix...); None: it can."""
        return self.mode_panel.refusal(text)

    def last_question(self) -> str | None:
        return self.conversation.last_question() if self.conversation is not None else None

    def _last_fim(self) -> tuple[str, str] | None:
        """The prefix and suffix of the last question when it was a fill-in-the-middle one."""
        messages = self.conversation.messages if self.conversation is not None else ()
        last = next((m for m in reversed(messages) if m.role == "user"), None)
        return (last.content, last.suffix) if last is not None and last.suffix is not None else None

    def run_message(self, run_id: int, load: LoadSpec, send: SendSpec) -> None:
        """Load the model as `load` says (when it is not loaded so already), then send the message."""
        if send.regenerate:
            self.transcript.remove_last_assistant()
        elif send.mode is not PaneMode.FIM:
            self.transcript.add_user(send.text)
        if send.mode is PaneMode.FIM:
            self.transcript.begin_fim(send.text, send.suffix)
        else:
            self.transcript.begin_assistant()
        self.last_stats = None
        self.run_id = run_id
        self.running = True
        self.stop_button.show()
        self.copy_button.hide()  # the Stop button takes its place while the answer runs (Copy is locked then)
        self.driver.run(run_id, load, send)

    def stop(self) -> None:
        if self.running:
            self.driver.stop(self.run_id)

    def set_locked(self, locked: bool) -> None:
        """While a run goes on, what it depends on can not change (model, settings, panes)."""
        self.model_combo.setEnabled(not locked)
        self.settings_button.setEnabled(not locked)
        self.override_box.setEnabled(not locked)
        self.copy_button.setEnabled(not locked and self.copy_button.property("allowed") is not False)
        self.close_button.setEnabled(not locked and self.close_button.property("allowed") is not False)
        self.reload_button.setEnabled(not locked)
        self.mode_panel.set_locked(locked)
        if locked:
            self.think_box.setEnabled(False)
        else:
            self._apply_mode()

    def unload(self) -> None:
        self.driver.unload()

    def reload(self) -> None:
        """Ask the tab to load this pane's model again (it knows where the plan puts it)."""
        self.reload_requested.emit()

    def clear(self) -> None:
        self.driver.clear()
        self.transcript.clear()
        self.conversation = None

    def restore(self, messages: list[Message]) -> None:
        self.driver.restore(messages)
        self.transcript.restore(messages)  # the last messages at once, earlier ones in slices (GUI stays live)

    def skip(self, why: str) -> None:
        """The run leaves this pane out (e.g. its model does not fit): say so in the transcript."""
        self.transcript.show_notice(why)

    def _end_message(self, *, notice: str | None = None, error: str | None = None) -> None:
        if error is not None:
            self.transcript.show_error(error)
        elif notice is not None:
            self.transcript.finish(MessageStats(stop_reason=StopReason.STOPPED))
            self.transcript.show_notice(notice)
        was = self.running
        self.running = False
        self.stop_button.hide()
        self.copy_button.show()
        if was:
            self.message_done.emit(self)

    # --- driver signals -----------------------------------------------------------------------

    def _on_state(self, state: str) -> None:
        if state == "loading":
            self._load_started = time.monotonic()
            self._load_fraction = 0.0
            self._elapsed.start()
            self._tick()
        else:
            self._elapsed.stop()
        if state == "generating":
            self._set_status(self._status_detail or "Generating…")
        elif state == "empty" and (self.info is not None or self.remote_target() is not None):
            self._show_not_loaded()
        elif state == "failed":
            self._set_status("Not loaded: the model failed (the message below says why)", error=True)
        self.reload_button.setVisible(state == "failed")

    def _tick(self) -> None:
        seconds = time.monotonic() - self._load_started
        done = f" {self._load_fraction:.0%} ·" if self._load_fraction > 0 else ""
        self._set_status(f"Loading {self.label()}…{done} {seconds:.0f} s")

    def _on_load_progress(self, fraction: float) -> None:
        self._load_fraction = fraction
        self._tick()

    def _on_loaded(self, seconds: float, n_ctx: int) -> None:
        spec = self.driver.load_spec
        if spec is not None and spec.remote is not None:
            self._status_detail = remote_status(spec.remote, seconds)
            self._set_status(self._status_detail)
            return
        where = "CPU"
        if spec is not None and spec.n_gpu_layers > 0:
            where = f"GPU {spec.n_gpu_layers} layers"
        threads = ""
        if spec is not None and spec.n_threads:
            threads = f" · {spec.n_threads} thread{'s' if spec.n_threads != 1 else ''}"
        # As the person waited: from the pane's load to Loaded, the worker's start and import included
        # (the worker's own figure leaves them out; a pane joining a shared worker reports 0).
        waited = time.monotonic() - self._load_started if self._load_started else seconds
        self._status_detail = f"Loaded in {max(seconds, waited):.1f} s · {where}{threads} · {format_ctx(n_ctx)} context"
        self._set_status(self._status_detail)

    def _on_load_failed(self, message: str) -> None:
        self._set_status("The model failed to load", error=True)
        self.reload_button.setVisible(True)
        if not self.running:
            self.transcript.show_error(f"Could not load the model: {message}")
        # during a run, `aborted` follows with the same message

    def _on_text(self, thinking: str, answer: str) -> None:
        if thinking:
            self.transcript.append_thinking(thinking)
        if answer:
            self.transcript.append_answer(answer)

    def _on_finished(self, run_id: int, stats: MessageStats, conversation: ConversationRecord) -> None:
        self.conversation = conversation
        if run_id != self.run_id:
            return
        self.last_stats = stats
        self.transcript.finish(stats)
        if stats.stop_reason is StopReason.ERROR and self.driver.state == "failed":
            self._set_status("The model process ended", error=True)
            self.reload_button.setVisible(True)
        self._end_message()

    def _on_aborted(self, run_id: int, reason: StopReason, why: str) -> None:
        if run_id != self.run_id or not self.running:
            return
        if reason is StopReason.STOPPED:
            self._end_message(notice=why)
        else:
            self._end_message(error=why)

    def _on_engine_error(self, message: str) -> None:
        if self.driver.state == "failed":
            self._set_status("The model process ended", error=True)
            self.reload_button.setVisible(self.model_path() is not None)
        if self.running:
            self._end_message(error=message)
        else:
            self.transcript.show_error(message)

    def set_waiting(self, text: str) -> None:
        """Show (or, with "", clear) why this pane waits for its turn in the plan."""
        if text:
            self._set_status(text)
        elif self.driver.state == "ready" and self._status_detail:
            self._set_status(self._status_detail)
        elif (self.info is not None or self.remote_target() is not None) and self.driver.state == "empty":
            self._show_not_loaded()

    def _show_not_loaded(self) -> None:
        remote = self.remote_target()
        if remote is not None:
            self._set_status(remote_status(remote))
            return
        assert self.info is not None
        self._set_status(f"{self.info.variant.label} · {self.info.shape.file_type} · not loaded")

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setProperty("error", error)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
