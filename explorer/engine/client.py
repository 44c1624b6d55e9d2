"""The parent side of the engine: start a worker process for one model and talk to it.

    client = EngineClient()
    client.start(path, n_ctx=4096)
    for ev in client.events(timeout=60):   # Loaded | LoadFailed | Crashed ...
        ...
    client.generate("r1", prompt, max_tokens=256, temperature=0.7, top_p=0.8, top_k=20, min_p=0.0, seed=1)
    client.poll(0.1)  # -> [Tokens(...), ..., Done(...)]
    client.stop()     # the worker stops within one token: Done(reason="stopped")
    client.unload()   # the process exits, and its memory goes with it

A worker that dies (SIGKILL, segfault, abort in llama.cpp) becomes a `Crashed` event from `poll` or
`events`, never an exception; `start` again on the same client loads a fresh worker.

`EngineClient(spare=True)` (a chat pane's) keeps a spare worker: a process that has started and
imported llama_cpp and waits for a model (`worker.spare_main`). `start` hands the model to it, so a
switch to another model costs the load itself, not a Python start and a ~0.15 s import on top. The
next spare starts when the worker first goes idle (its first `Done`, or a `LoadFailed`), not during a
load or an answer, where it would take CPU from them. A spare holds no model and runs nothing: each
model still has a process of its own, and a crash ends that process only (a dead spare is replaced by
a fresh start). `unload` leaves the spare waiting (a pane that unloads usually loads again); `close`
ends it too, and so does the parent's end (it exits when its pipe closes).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

from explorer.engine.messages import (
    Crashed,
    Done,
    Event,
    Exit,
    GenerateRequest,
    Load,
    Loaded,
    LoadFailed,
    LoadProgress,
    Prefill,
    SpareReady,
    StopFlag,
    Tokens,
    iter_events,
)
from explorer.engine.worker import rss_bytes, spare_main, worker_main
from explorer.fit.estimate import FLASH_ATTN

__all__ = ["Crashed", "Done", "EngineClient", "Event", "LoadFailed", "LoadProgress", "Loaded", "Tokens",
           "crash_message", "rss_bytes"]

REBUILD_CMD = ('CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" '
               "pip install --force-reinstall --no-cache-dir llama-cpp-python==0.3.36")


def crash_message(exitcode: int | None, *, loading: bool = False) -> str:
    """What to tell the user when the worker died: what happened and how to recover."""
    if exitcode is None:
        how = "the connection to it broke"
    elif exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        how = f"it was killed by {name}"
    else:
        how = f"it exited with code {exitcode}"
    stage = "while loading the model" if loading else ""
    msg = f"The model process ended unexpectedly {stage}: {how}. Load the model again to continue."
    msg = msg.replace("  ", " ").replace(" :", ":")
    if exitcode == -signal.SIGSEGV:
        msg += (" A segmentation fault inside llama.cpp is a known problem of llama-cpp-python built natively"
                " on CPUs with AMX/AVX-512 (it crashes on quantized models). Rebuild it without native"
                f" CPU tuning:\n  {REBUILD_CMD}")
    return msg


@dataclass
class _Spare:
    """A started worker process with llama_cpp imported, waiting for its `Load`."""

    proc: SpawnProcess
    conn: Connection
    stop: StopFlag
    ready: bool = False  # it said SpareReady (its import is done)

    def end(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(Exit())
        self.conn.close()
        self.proc.join(1)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        with contextlib.suppress(ValueError):
            self.proc.close()


class EngineClient:
    """One worker process holding one loaded model (and, with `spare`, one waiting for the next)."""

    def __init__(self, *, spare: bool = False) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._proc: SpawnProcess | None = None
        self._conn: Connection | None = None
        self._stop: StopFlag | None = None
        self._pending: deque[Event] = deque()
        self._loaded = False
        self._ended = True  # no live worker we still expect messages from
        self._keep_spare = spare
        self._spare: _Spare | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self, path: str | Path, *, n_ctx: int, n_gpu_layers: int = 0, flash_attn: bool = FLASH_ATTN,
              n_threads: int | None = None, seed: int = 0) -> None:
        """Spawn a worker that loads `path`; it reports Loaded or LoadFailed (or Crashed) via poll/events."""
        if self._proc is not None:
            self.unload()
        self._pending.clear()
        name = f"explorer-engine:{Path(path).name}"
        spare = self._take_spare()
        if spare is not None:
            try:
                spare.conn.send(Load(str(path), n_ctx, n_gpu_layers, flash_attn, n_threads, seed))
            except (OSError, ValueError):  # it died meanwhile: start afresh
                spare.end()
                spare = None
        if spare is not None:
            proc, parent_conn, self._stop = spare.proc, spare.conn, spare.stop
            proc.name = name
        else:
            parent_conn, child_conn = self._ctx.Pipe(duplex=True)
            self._stop = StopFlag(self._ctx.RawValue("b", 0))
            proc = self._ctx.Process(
                target=worker_main,
                args=(child_conn, self._stop, str(path), n_ctx, n_gpu_layers, flash_attn, n_threads, seed),
                name=name, daemon=True,
            )
            proc.start()
            child_conn.close()  # so the parent sees EOF when the child dies
        self._proc, self._conn = proc, parent_conn
        self._loaded, self._ended = False, False

    # --- the spare worker ------------------------------------------------------------------------

    def _take_spare(self) -> _Spare | None:
        spare, self._spare = self._spare, None
        if spare is not None and not spare.proc.is_alive():
            spare.end()
            return None
        return spare

    def _start_spare(self) -> None:
        """Start a spare worker now, unless this client keeps none or has one."""
        if not self._keep_spare or self._spare is not None:
            return
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        flag = StopFlag(self._ctx.RawValue("b", 0))
        proc = self._ctx.Process(target=spare_main, args=(child_conn, flag), name="explorer-engine:spare",
                                 daemon=True)
        try:
            proc.start()
        except OSError:  # no process to spare: the next start() starts one as it always could
            parent_conn.close()
            return
        finally:
            child_conn.close()
        self._spare = _Spare(proc, parent_conn, flag)

    def prepare_spare(self) -> None:
        """Start the spare worker now (a client with `spare` and no worker of its own yet: a pane that
        answers through a shared worker keeps one for its next model switch)."""
        self._start_spare()

    def spare_ready(self, timeout: float = 0.0) -> bool:
        """A spare worker is waiting with llama_cpp imported (waiting up to `timeout` s for it to be)."""
        spare = self._spare
        if spare is None:
            return False
        if not spare.ready:
            with contextlib.suppress(EOFError, OSError):
                if spare.conn.poll(timeout):
                    spare.ready = isinstance(spare.conn.recv(), SpareReady)
        return spare.ready and spare.proc.is_alive()

    @property
    def spare_pid(self) -> int | None:
        """The spare worker's process id (None: no spare)."""
        return self._spare.proc.pid if self._spare is not None else None

    def close(self) -> None:
        """`unload`, and end the spare worker too: nothing of this client runs after it."""
        self.unload()
        spare, self._spare = self._spare, None
        if spare is not None:
            spare.end()

    def unload(self, timeout: float = 5.0) -> None:
        """Ask the worker to exit (ending any generation first); kill it if it does not within `timeout`."""
        proc, conn = self._proc, self._conn
        self._ended = True
        flag = self._stop
        if flag is not None:
            flag.set()
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(Exit())
        if proc is not None:
            proc.join(timeout)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
            with contextlib.suppress(ValueError):
                proc.close()
        if conn is not None:
            conn.close()
        self._proc = self._conn = None
        self._stop = None
        self._loaded = False
        self._pending.clear()

    @property
    def alive(self) -> bool:
        """A worker process is running and has not been reported crashed."""
        return self._proc is not None and not self._ended and self._proc.is_alive()

    @property
    def loaded(self) -> bool:
        return self.alive and self._loaded

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # --- requests --------------------------------------------------------------------------------

    def generate(self, request_id: str, prompt: str, *, max_tokens: int, temperature: float = 0.7,
                 top_p: float = 0.8, top_k: int = 20, min_p: float = 0.0, seed: int = 0,
                 stop: list[str] | None = None, raw: bool = False, fim: tuple[str, str] | None = None,
                 presence_penalty: float = 0.0, repeat_penalty: float = 1.0) -> None:
        """Send a generation request (returns at once); results come as Tokens... then Done."""
        if self._conn is None or self._ended:
            self._pending.append(Done(request_id, "error", 0, 0, 0.0, 0.0, "no model is loaded"))
            return
        flag = self._stop
        if flag is not None:
            flag.clear()  # here, not in the worker, so a stop() right after generate() is not lost
        req = GenerateRequest(request_id, prompt, max_tokens, temperature, top_p, top_k, min_p, seed,
                              tuple(stop or ()), raw, fim, presence_penalty, repeat_penalty)
        try:
            self._conn.send(req)
        except (OSError, ValueError):
            self._worker_gone()

    def prefill(self, prompt: str) -> None:
        """Decode `prompt` into the worker's cache, generating nothing (what the next turn's prompt will
        start with); a request sent meanwhile goes first. No event comes back."""
        if self._conn is None or self._ended:
            return
        try:
            self._conn.send(Prefill(prompt))
        except (OSError, ValueError):
            self._worker_gone()

    def stop(self) -> None:
        """Stop the current generation; the worker notices between tokens and answers Done("stopped")."""
        flag = self._stop  # read once: another thread may unload (and reset it) meanwhile
        if flag is not None:
            flag.set()

    # --- events ----------------------------------------------------------------------------------

    def poll(self, timeout: float | None = 0.0) -> list[Event]:
        """Events that arrived, waiting up to `timeout` seconds (None: forever) for the first one."""
        if not self._pending and self._conn is not None and self._proc is not None and not self._ended:
            ready = wait([self._conn, self._proc.sentinel], timeout)
            if ready:
                self._drain()
        out = list(self._pending)
        self._pending.clear()
        return out

    def idle_waitables(self) -> list[Any] | None:
        """What `multiprocessing.connection.wait` can block on until this client has news: the
        worker's pipe and its process (an event, or its exit). None: there is news already (poll
        now); empty: no live worker to hear from."""
        if self._pending:
            return None
        if self._conn is None or self._proc is None or self._ended:
            return []
        return [self._conn, self._proc.sentinel]

    def events(self, timeout: float = 1.0) -> Iterator[Event]:
        """Yield events as they come; ends after `timeout` seconds with none, or when no worker is left."""
        return iter_events(self.poll, timeout)

    def _drain(self) -> None:
        assert self._conn is not None
        try:
            while self._conn.poll():
                ev = self._conn.recv()
                if isinstance(ev, SpareReady):  # said before it was given this model
                    continue
                if isinstance(ev, Loaded):
                    self._loaded = True
                elif isinstance(ev, LoadFailed):
                    self._finish_failed_load()
                    self._pending.append(ev)
                    self._start_spare()  # a pane whose load failed is likely to load another file
                    return
                elif isinstance(ev, Done):
                    self._start_spare()  # the worker is idle now: the spare's start takes nothing from it
                self._pending.append(ev)
        except (EOFError, OSError):
            self._worker_gone()
            return
        if self._proc is not None and not self._proc.is_alive():
            self._worker_gone()

    def _finish_failed_load(self) -> None:
        """The worker reported LoadFailed and exits by itself: reap it, leaving the client ready for start()."""
        self._ended = True
        if self._proc is not None:
            self._proc.join(5)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(5)

    def _worker_gone(self) -> None:
        if self._ended or self._proc is None:
            return
        self._ended = True
        self._proc.join(2)
        code = self._proc.exitcode
        self._pending.append(Crashed(crash_message(code, loading=not self._loaded), code))

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
