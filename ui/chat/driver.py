"""One chat pane's engine, driven from a background thread: the GUI thread only sends commands.

`PaneDriver` owns a local engine (an `EngineClient`: the model's worker process; or the chat tab's
pool's client, which may be a lane of a worker shared with other panes on the same file) and a
`Conversation`. Its thread
reads the model's header, loads and unloads, sends prompts and pumps the conversation; it emits Qt
signals, which reach the pane on the GUI thread through queued connections. So no model load, file
read, pipe wait or token decode ever runs on the GUI thread.

Text is coalesced: thinking and answer deltas collect for `FLUSH_SECONDS` (~30 updates a second at
most) and go out as one `text` signal; `finished` always comes after the last text of its message.

A pane that picked a model on an endpoint (`LoadSpec.remote`) runs it through a `RemoteClient`
instead (`remote_factory` builds it, with the endpoint's key, on this thread): no header is read and no
template renders here; the conversation sends messages, and "loading" is the check that the server
offers the model.

Stop goes straight to the worker's stop flag (a lock-free shared byte, `StopFlag`) from the calling
thread, so it does not wait behind the driver's loop; the loop also passes it to the conversation,
which then ends the message with stop reason "stopped".
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import wait
from pathlib import Path
from typing import Literal, Union

from PySide6.QtCore import QObject, Signal

from explorer.chat.conversation import AnswerText, Conversation, EngineError, Finished, Message, ThinkingText
from explorer.chat.records import PaneMode, StopReason
from explorer.chat.sandbox import ChatTemplateTimeout, RenderLimits, TemplateRenderer, prompt_cap
from explorer.chat.templates import ChatTemplateError
from explorer.engine.client import EngineClient, Loaded, LoadFailed, LoadProgress
from explorer.engine.messages import Crashed
from explorer.engine.pool import LocalEngine
from explorer.engine.remote import RemoteClient
from explorer.gguf.model_info import ModelInfo, inspect_model
from explorer.gguf.reader import GGUFError
from explorer.gguf.variant import Variant
from ui.chat.remote import RemoteFactory, remote_factory
from ui.chat.specs import LoadSpec, SendSpec, same_model

FLUSH_SECONDS = 1 / 30
PUMP_WAIT = 0.01  # how long it waits for engine events while streaming or loading

NO_FIM_TEXT = ("This model's vocabulary has no fill-in-the-middle tokens (<|fim_prefix|>, <|fim_suffix|>, "
               "<|fim_middle|>): nothing was sent. Fill-in-the-middle is made for Qwen3 Coder models.")

State = Literal["empty", "loading", "ready", "generating", "failed"]


# --- commands: GUI thread -> the driver's thread ---------------------------------------------

@dataclass(frozen=True)
class _Inspect:
    path: Path
    variant: Variant | None


@dataclass(frozen=True)
class _Load:
    spec: LoadSpec


@dataclass(frozen=True)
class _Run:
    run_id: int
    load: LoadSpec
    send: SendSpec


@dataclass(frozen=True)
class _Stop:
    run_id: int


@dataclass(frozen=True)
class _Unload:
    pass


@dataclass(frozen=True)
class _Clear:
    pass


@dataclass(frozen=True)
class _Restore:
    messages: tuple[Message, ...]


@dataclass(frozen=True)
class _Quit:
    pass


_Command = Union[_Inspect, _Load, _Run, _Stop, _Unload, _Clear, _Restore, _Quit]  # noqa: UP007


class PaneDriver(QObject):
    """The engine of one pane. Methods return at once; results come back as signals.

    A message is a *run*: `run(run_id, load, send)` loads the model when it is not loaded that way
    already, then sends. Every run ends with exactly one `finished(run_id, ...)` (it generated: done,
    stopped, error) or `aborted(run_id, why)` (it never generated: stopped while loading, the load
    failed, the template rejected the conversation...). `stop(run_id)` only stops that run, so a late
    stop never reaches the next message.
    """

    inspected = Signal(object)  # ModelInfo
    inspect_failed = Signal(str)
    state_changed = Signal(str)  # State
    load_progress = Signal(float)  # 0..1
    loaded = Signal(float, int)  # load seconds, n_ctx
    fim_support = Signal(bool)  # after `loaded`: whether the vocabulary has the fill-in-the-middle tokens
    load_failed = Signal(str)
    text = Signal(str, str)  # thinking delta, answer delta (coalesced)
    finished = Signal(int, object, object)  # run id, MessageStats, ConversationRecord
    aborted = Signal(int, object, str)  # run id, StopReason (STOPPED or ERROR), why the message did not run
    engine_error = Signal(str)  # the worker died while no message was running
    unloaded = Signal()
    closed = Signal()  # the thread has ended (after `close`)
    worker_pid = Signal(int)

    def __init__(self, name: str = "pane", parent: QObject | None = None,
                 client_factory: Callable[[], LocalEngine] = EngineClient,
                 render_limits: RenderLimits | None = None, remote: RemoteFactory | None = None) -> None:
        super().__init__(parent)
        self._render_limits = render_limits  # None: the conversation's own (a few seconds, the context's size)
        self._queue: queue.Queue[_Command] = queue.Queue()
        # A byte on this pipe says "a command is queued": idle, the thread blocks on it and on the
        # worker's pipe and process together, instead of waking up to look.
        self._wake_r, self._wake_w = multiprocessing.Pipe(duplex=False)
        self._local = client_factory()
        self._client: LocalEngine | RemoteClient = self._local  # the remote one while a remote model is picked
        self._remote_factory = remote or remote_factory(None)
        self._renderer = TemplateRenderer()  # the pane's chat templates render in its process
        self._conv: Conversation | None = None
        self._messages: list[Message] = []  # kept across model changes and reloads
        self._info: ModelInfo | None = None
        self._load: LoadSpec | None = None
        self._fim: bool | None = None  # the loaded model has the FIM tokens (None: nothing loaded)
        self._state: State = "empty"
        self._run_id = 0  # the run being loaded for or generated (0: none)
        self._pending_send: SendSpec | None = None  # the run's message, sent once Loaded
        self._stop_run = 0  # the run the GUI asked to stop (an int write is atomic)
        self._thinking_buf: list[str] = []
        self._answer_buf: list[str] = []
        self._last_flush = 0.0
        self._idle = False  # the thread is blocked until a command or the worker's news
        self._wakes = 0
        self._thread = threading.Thread(target=self._loop, name=f"engine-{name}", daemon=True)
        self._thread.start()

    # --- commands (any thread) --------------------------------------------------------------

    def inspect(self, path: Path, variant: Variant | None = None) -> None:
        self._post(_Inspect(Path(path), variant))

    def load(self, spec: LoadSpec) -> None:
        """Load `spec` now, with no message (Reload)."""
        self._post(_Load(spec))

    def run(self, run_id: int, load: LoadSpec, send: SendSpec) -> None:
        if run_id <= 0:
            raise ValueError("run ids start at 1")
        self._post(_Run(run_id, load, send))

    def stop(self, run_id: int) -> None:
        """Stop run `run_id` (the worker sees the flag within one token); a later run is not affected."""
        self._stop_run = run_id
        if self._run_id == run_id and self._state == "generating":
            self._client.stop()  # at once, from this thread: the flag is lock-free shared memory
        self._post(_Stop(run_id))

    def unload(self) -> None:
        self._post(_Unload())

    def clear(self) -> None:
        self._post(_Clear())

    def restore(self, messages: list[Message]) -> None:
        self._post(_Restore(tuple(messages)))

    def close(self) -> None:
        """End the thread and the worker process without waiting; `closed` says when it is done."""
        self._stop_run = self._run_id
        self._client.stop()
        self._post(_Quit())

    def _post(self, cmd: _Command) -> None:
        self._queue.put(cmd)
        with contextlib.suppress(OSError):  # the thread has ended and closed its end
            self._wake_w.send_bytes(b"")

    def join(self, timeout: float = 10.0) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def state(self) -> State:
        return self._state

    @property
    def idle(self) -> bool:
        """The thread is blocked waiting for a command or for the worker (no polling meanwhile)."""
        return self._idle

    @property
    def idle_wakes(self) -> int:
        """How many times the idle wait has ended (a command, or the worker's news)."""
        return self._wakes

    @property
    def prompts(self) -> tuple[str, ...]:
        """Every prompt the loaded model was sent, in order (none when nothing is loaded)."""
        conv = self._conv
        return tuple(conv.prompts) if conv is not None else ()

    @property
    def fim(self) -> bool | None:
        """Whether the loaded model's vocabulary has the fill-in-the-middle tokens (None: none loaded)."""
        return self._fim

    @property
    def load_spec(self) -> LoadSpec | None:
        """What is loaded (or loading) now."""
        return self._load

    # --- the thread ---------------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while True:
                busy = self._state in ("loading", "generating")
                cmd: _Command | None
                try:
                    cmd = self._queue.get_nowait()
                except queue.Empty:
                    cmd = None
                    if not busy and not self._wait_idle():
                        continue  # a command came: read it
                if isinstance(cmd, _Quit):
                    break
                try:
                    if cmd is not None:
                        self._command(cmd)
                        continue  # drain the queue before waiting on the engine
                    if self._state == "loading":
                        self._poll_load()
                    elif self._state in ("ready", "generating"):
                        self._pump()
                except Exception as exc:  # a bug or a surprise must not kill the pane's thread
                    self._fail(f"{type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception):
                self._use(self._local)  # closes a remote client
                self._local.close()  # the model, and a spare worker kept for the next switch
            self._renderer.close()
            self._wake_r.close()
            with contextlib.suppress(RuntimeError):  # the QObject may be gone at exit
                self.closed.emit()

    def _wait_idle(self) -> bool:
        """Block until a command is queued (False) or the worker has news (True): an event, or its
        end (a crash while idle shows at once). Nothing runs meanwhile: no polling."""
        worker = self._client.idle_waitables() if self._state == "ready" else []
        if worker is None:
            return True
        self._idle = True
        try:
            ready = wait([self._wake_r, *worker])
        finally:
            self._idle = False
            self._wakes += 1
        if self._wake_r in ready:
            while self._wake_r.poll():
                self._wake_r.recv_bytes()
            return False
        return True

    def _set_state(self, state: State) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    def _mark_failed(self) -> None:
        """The worker is gone or unusable: nothing is loaded; the pane offers Reload."""
        self._conv = None
        self._load = None
        self._fim = None
        self._set_state("failed")

    def _end_run(self, why: str, reason: StopReason = StopReason.ERROR) -> None:
        """The current run will not generate: say so (once)."""
        run_id, self._run_id, self._pending_send = self._run_id, 0, None
        if run_id:
            self.aborted.emit(run_id, reason, why)

    def _fail(self, message: str) -> None:
        """Something unexpected: drop the worker and end the run, leaving the pane usable (Reload)."""
        busy = self._conv is not None and self._conv.busy
        with contextlib.suppress(Exception):
            self._client.unload()
        self._mark_failed()
        if self._run_id:
            self._end_run(f"Internal error{' while generating' if busy else ''}: {message}")
        else:
            self.engine_error.emit(f"Internal error: {message}")

    def _command(self, cmd: _Command) -> None:
        if isinstance(cmd, _Inspect):
            try:
                info = inspect_model(cmd.path, cmd.variant)
            except (GGUFError, OSError) as exc:
                self.inspect_failed.emit(f"{cmd.path.name}: {exc}")
                return
            self._info = info
            self.inspected.emit(info)
        elif isinstance(cmd, _Load):
            self._start_load(cmd.spec)
        elif isinstance(cmd, _Run):
            if self._run_id:
                self._end_run("Another message was still running.")
            self._run_id = cmd.run_id
            if self._stop_run == cmd.run_id:
                self._end_run("Stopped before it started.", StopReason.STOPPED)
            elif self._state in ("ready", "generating") and same_model(self._load, cmd.load):
                self._send(cmd.send)
            else:
                self._pending_send = cmd.send
                self._start_load(cmd.load)
        elif isinstance(cmd, _Stop):
            # Generating, the next _pump stops the conversation; a late stop (another run) does nothing.
            if cmd.run_id == self._run_id and self._state == "loading":
                # Said before _unload says it otherwise; then the load is abandoned (llama.cpp aborts it at once).
                self._end_run("Stopped before the model had loaded.", StopReason.STOPPED)
                self._unload()
        elif isinstance(cmd, _Unload):
            self._unload()
        elif isinstance(cmd, _Clear):
            if self._conv is not None and self._conv.busy:
                self._conv.stop()
            self._messages = []
            if self._conv is not None:
                self._conv.messages = self._messages
        elif isinstance(cmd, _Restore):
            self._messages = list(cmd.messages)
            if self._conv is not None:
                self._conv.messages = self._messages

    def _use(self, client: LocalEngine | RemoteClient) -> None:
        """Make `client` the pane's engine; the one before is unloaded (a remote one closed)."""
        old = self._client
        if client is old:
            return
        with contextlib.suppress(Exception):
            old.unload()
        if isinstance(old, RemoteClient):
            with contextlib.suppress(Exception):
                old.close()
        self._client = client

    def _start_remote(self, spec: LoadSpec) -> None:
        """Connect to the endpoint's model: `Loaded` once the server says it offers it."""
        assert spec.remote is not None
        self._info = None
        try:
            client = self._remote_factory(spec.remote)
        except Exception as exc:  # a bad URL, an unreadable keyring or endpoints file: one line
            self._use(self._local)
            self._load = None
            self._set_state("failed")
            self.load_failed.emit(str(exc))
            self._end_run(f"Could not connect: {exc}")
            return
        self._use(client)
        self._load = spec
        self._conv = None
        self._fim = None
        self._set_state("loading")
        client.start()

    def _start_load(self, spec: LoadSpec) -> None:
        if spec.remote is not None:
            if self._state != "empty":
                self._client.unload()
            self._start_remote(spec)
            return
        if isinstance(self._client, RemoteClient):
            self._use(self._local)
        if self._state != "empty":
            self._client.unload()
        self._load = spec
        self._conv = None
        self._fim = None
        self._set_state("loading")
        self._client.start(spec.path, n_ctx=spec.n_ctx, n_gpu_layers=spec.n_gpu_layers, n_threads=spec.n_threads)
        if self._info is None or self._info.path != spec.path:  # read while the worker loads (a model switch)
            try:
                self._info = inspect_model(spec.path)
            except (GGUFError, OSError) as exc:
                self._client.unload()
                self._load = None
                self._set_state("failed")
                self.load_failed.emit(f"{spec.path.name}: {exc}")
                self._end_run(f"Could not read the model: {spec.path.name}: {exc}")
                return
            self.inspected.emit(self._info)
        with contextlib.suppress(ChatTemplateError):  # ready before the first message; a failure shows then
            self._renderer.start()
        if self._client.pid is not None:
            self.worker_pid.emit(self._client.pid)

    def _poll_load(self) -> None:
        for ev in self._client.poll(PUMP_WAIT):
            if isinstance(ev, LoadProgress):
                self.load_progress.emit(ev.fraction)
            elif isinstance(ev, Loaded):
                self._conv = self._conversation(ev)
                self._conv.messages = self._messages
                self._fim = ev.fim
                self._set_state("ready")
                self.loaded.emit(ev.load_seconds, ev.n_ctx)
                self.fim_support.emit(ev.fim)
                pending, self._pending_send = self._pending_send, None
                if pending is not None and self._run_id:
                    self._send(pending)
            elif isinstance(ev, (LoadFailed, Crashed)):
                self._mark_failed()
                self.load_failed.emit(ev.message)
                self._end_run(f"Could not load the model: {ev.message}")
                return

    def _conversation(self, ev: Loaded) -> Conversation:
        remote = self._load.remote if self._load is not None else None
        if remote is not None:  # messages go to the server as they are: no template, the context is its own
            return Conversation(self._client, template=None, variant=remote.variant, thinking=True)
        info = self._info
        assert info is not None
        limits = self._render_limits
        if limits is not None and limits.max_prompt_bytes is None:
            limits = replace(limits, max_prompt_bytes=prompt_cap(ev.n_ctx))
        return Conversation(self._client, template=info.template, variant=info.variant, thinking=True,
                            n_ctx=ev.n_ctx, render_limits=limits, renderer=self._renderer)

    def _send(self, spec: SendSpec) -> None:
        conv = self._conv
        assert conv is not None
        if spec.mode is PaneMode.FIM and not self._fim:  # the engine would refuse it too: say so, send nothing
            self._end_run(NO_FIM_TEXT)
            return
        if spec.regenerate and _asked_last(conv.messages, spec.text):
            while conv.messages and conv.messages[-1].role == "assistant":
                conv.messages.pop()
            conv.messages.pop()  # the question; send() asks it again
        conv.thinking = spec.thinking
        conv.budget = spec.budget
        conv.sampling = spec.sampling
        conv.max_tokens = spec.max_tokens
        conv.seed = spec.seed
        conv.set_prompting(spec.mode)
        if spec.mode is PaneMode.CHATROOM:
            conv.set_system(spec.system)
        try:
            if spec.mode is PaneMode.FIM:
                conv.send_fim(spec.text, spec.suffix)
            else:
                conv.send(spec.text)  # renders the template in a child process: up to its time limit
        except ChatTemplateTimeout as exc:
            self._end_run(f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
            return
        except ChatTemplateError as exc:
            self._end_run(f"The model's chat template rejected the conversation: {exc}")
            return
        except ValueError as exc:  # an empty prefix and suffix: nothing was sent, nothing is lost
            self._end_run(f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
            return
        self._set_state("generating")  # a stop already asked for is carried out by the next _pump

    def _pump(self) -> None:
        conv = self._conv
        assert conv is not None
        if self._run_id and self._stop_run == self._run_id and conv.busy:
            conv.stop()  # on every pass: a budget-forced generation may start after the first stop
        for up in conv.pump(PUMP_WAIT if self._state == "generating" else 0.0):
            if isinstance(up, ThinkingText):
                self._thinking_buf.append(up.text)
            elif isinstance(up, AnswerText):
                self._answer_buf.append(up.text)
            elif isinstance(up, Finished):
                self._flush()
                if up.stats.stop_reason is StopReason.ERROR and not self._client.alive:
                    self._mark_failed()
                else:
                    self._set_state("ready")
                run_id, self._run_id = self._run_id, 0
                self.finished.emit(run_id, up.stats, conv.record())
                if self._conv is None:
                    return
                if up.stats.stop_reason is not StopReason.ERROR:
                    with contextlib.suppress(Exception):  # a warm-up: nothing is lost without it
                        conv.warm()  # the next turn's prefix decodes while the person reads
            elif isinstance(up, EngineError):
                self._mark_failed()
                if self._run_id:
                    self._end_run(up.message)
                else:
                    self.engine_error.emit(up.message)
                return
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self._flush()

    def _flush(self) -> None:
        self._last_flush = time.monotonic()
        if self._thinking_buf or self._answer_buf:
            thinking, answer = "".join(self._thinking_buf), "".join(self._answer_buf)
            self._thinking_buf.clear()
            self._answer_buf.clear()
            self.text.emit(thinking, answer)

    def _unload(self) -> None:
        busy = self._conv is not None and self._conv.busy
        with contextlib.suppress(Exception):
            self._client.unload()
        self._conv = None
        self._load = None
        self._fim = None
        if busy or self._pending_send is not None:
            self._flush()
            self._end_run("The model was unloaded before the answer ended.")
        self._set_state("empty")
        self.unloaded.emit()


def _asked_last(messages: list[Message], text: str) -> bool:
    """The conversation's last question is `text` (so regenerating replaces its answer)."""
    last_user = next((m for m in reversed(messages) if m.role == "user"), None)
    return last_user is not None and last_user.content == text
