"""One model file, several panes, one pass over the weights per token: llama.cpp's sequences.

Generation on a CPU (and on most GPUs) is bound by memory bandwidth: each token reads every weight
once. Panes on the same file that each run their own worker (`client.EngineClient`) read the weights
once per pane per token. A `MultiClient` serves up to `n_seq` panes from one worker process holding one
llama.cpp context with `n_seq_max = n_seq` (each sequence its own KV cells, `n_ctx` of them): each
step decodes one batch holding every running sequence's next token, so the weights are read once for
all of them; each sequence then samples from its own logits with its own sampler chain (its pane's
settings and seed).

    client = MultiClient(n_seq=4)
    client.start(path, n_ctx=4096)          # n_ctx per sequence; one process, one model in memory
    for ev in client.events(timeout=60):    # LoadProgress... Loaded | LoadFailed | Crashed
        ...
    a, b = client.lane(0), client.lane(1)   # a pane's view of the worker: generate / stop / poll,
    a.generate("r1", prompt, max_tokens=256, temperature=0.7, seed=1)   # as an EngineClient has
    b.generate("r2", prompt, max_tokens=256, temperature=0.0)
    a.poll(0.1)   # -> [Tokens("r1", ...), ..., Done("r1", ...)]: lane 0's requests only
    a.stop()      # lane 0 stops within one token; lane 1 goes on, its output unchanged
    client.unload()

A lane runs one request at a time (a second one waits for the first, as with an EngineClient). A
sequence that ends (end of text, max tokens, a stop string, stop) keeps its KV cells: the lane's next
request decodes only what its prompt adds to the longest prefix already there (a conversation's next
turn, a Regenerate), as a single pane's worker does through `Llama.generate`. Each sequence has cells of
its own (the KV cache is not unified), so what one keeps never limits another; an error, or
`Lane.release` (the pane leaves the worker), gives them back. Events and requests are messages.py's
(`GenerateRequest`, `Tokens`, `Done`, ...): a `Lane` satisfies what `chat.conversation.Conversation`
needs from an engine. Stop is one lock-free byte per lane (`messages.StopFlag`).

Different files still get their own processes (a MultiClient each), so a crash stays with its file:
every lane of the crashed worker gets `Crashed`, other files' panes go on.

The child's side (the context, the batch, the samplers) and the messages beyond messages.py's are in
multi_worker.py; this module is the parent's: the client and its lanes.

Threads: a MultiClient runs one reader thread that takes the worker's events off the pipe and hands
each to its lane (lifecycle events go to the client and to every lane). Lanes may be polled from
different threads (one per pane); `Lane.idle_waitables` gives a pane's thread something to block on.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from collections import deque
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

from explorer.engine.client import crash_message
from explorer.engine.messages import (
    Crashed,
    Done,
    Event,
    Exit,
    GenerateRequest,
    Loaded,
    LoadFailed,
    LoadProgress,
    StopFlag,
    Tokens,
    iter_events,
)
from explorer.engine.multi_worker import AskCells, Cells, SeqGenerate, SeqPrefill, SeqRelease, multi_worker_main
from explorer.fit.estimate import FLASH_ATTN

__all__ = ["Cells", "Crashed", "Done", "Event", "Lane", "LoadFailed", "LoadProgress", "Loaded", "MultiClient",
           "SeqPrefill", "SeqRelease", "Tokens", "multi_worker_main"]


# --- the client (parent process) -------------------------------------------------------------------

class Lane:
    """One pane's view of a MultiClient: one sequence of its worker. Same calls as an `EngineClient`
    for answering (generate, stop, poll, events, idle_waitables); loading is the MultiClient's."""

    def __init__(self, client: MultiClient, index: int) -> None:
        self._client = client
        self.index = index
        self._queue: deque[Event] = deque()
        self._wake_r, self._wake_w = multiprocessing.Pipe(duplex=False)

    @property
    def alive(self) -> bool:
        return self._client.alive

    @property
    def loaded(self) -> bool:
        return self._client.loaded

    @property
    def pid(self) -> int | None:
        return self._client.pid

    def generate(self, request_id: str, prompt: str, *, max_tokens: int, temperature: float = 0.7,
                 top_p: float = 0.8, top_k: int = 20, min_p: float = 0.0, seed: int = 0,
                 stop: list[str] | None = None, raw: bool = False, fim: tuple[str, str] | None = None,
                 presence_penalty: float = 0.0, repeat_penalty: float = 1.0) -> None:
        """Send a generation request for this lane (returns at once); Tokens... then Done come to `poll`."""
        req = GenerateRequest(request_id, prompt, max_tokens, temperature, top_p, top_k, min_p, seed,
                              tuple(stop or ()), raw, fim, presence_penalty, repeat_penalty)
        self._client._submit(self, req)

    def stop(self) -> None:
        """Stop this lane's request; the worker notices within one token. Other lanes go on."""
        self._client._flag(self.index).set()

    def prefill(self, prompt: str) -> None:
        """Decode `prompt` into this lane's cells, generating nothing, once every lane is idle (what the
        next turn will start with); a request for the lane drops it. No event comes back."""
        self._client._prefill(self, prompt)

    def release(self) -> None:
        """The pane leaves the lane: its request ends, its queued ones and its KV cells are dropped, and
        events still on their way for them are discarded, so the next pane here starts clean."""
        self._client._release(self)

    def poll(self, timeout: float | None = 0.0) -> list[Event]:
        """This lane's events, waiting up to `timeout` seconds (None: forever) for the first one."""
        return self._client._take(self, timeout)

    def events(self, timeout: float = 1.0) -> Iterator[Event]:
        return iter_events(self.poll, timeout)

    def idle_waitables(self) -> list[Any] | None:
        """What `multiprocessing.connection.wait` can block on until this lane has news. None: there is
        news already (poll now); empty: no live worker to hear from."""
        return self._client._waitables(self)

    # the reader thread's side (called under the client's lock)

    def _put(self, ev: Event) -> None:
        if not self._queue:
            with contextlib.suppress(OSError, ValueError):
                self._wake_w.send_bytes(b"!")
        self._queue.append(ev)

    def _drain(self) -> list[Event]:
        out = list(self._queue)
        self._queue.clear()
        with contextlib.suppress(OSError, ValueError, EOFError):
            while self._wake_r.poll():
                self._wake_r.recv_bytes()
        return out

    def _close(self) -> None:
        self._wake_r.close()
        self._wake_w.close()


class MultiClient:
    """One worker process holding one model file, serving `n_seq` lanes (panes) with one context."""

    def __init__(self, n_seq: int) -> None:
        if not 1 <= n_seq <= 64:
            raise ValueError(f"n_seq must be 1..64, not {n_seq}")
        self.n_seq = n_seq
        self._ctx = multiprocessing.get_context("spawn")
        self._proc: SpawnProcess | None = None
        self._conn: Connection | None = None
        self._flags: list[StopFlag] = []
        self._reader: threading.Thread | None = None
        self._lock = threading.Condition()
        self._send_lock = threading.Lock()
        self._queue: deque[Event | Cells] = deque()
        self._lanes = [Lane(self, i) for i in range(n_seq)]
        self._owner: dict[str, Lane | None] = {}  # request id -> its lane (None: released), until its Done
        self._loaded = False
        self._ended = True
        self.n_ctx = 0  # cells per sequence, from Loaded
        self.load_event: Loaded | None = None  # the worker's Loaded, while it lives

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self, path: str | Path, *, n_ctx: int, n_gpu_layers: int = 0, flash_attn: bool = FLASH_ATTN,
              n_threads: int | None = None, kv_unified: bool = False) -> None:
        """Spawn a worker that loads `path` with `n_seq` sequences of `n_ctx` cells each; it reports
        LoadProgress... then Loaded or LoadFailed (or Crashed) to `poll` and to every lane."""
        if self._proc is not None:
            self.unload()
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        self._flags = [StopFlag(self._ctx.RawValue("b", 0)) for _ in range(self.n_seq)]
        proc = self._ctx.Process(
            target=multi_worker_main,
            args=(child_conn, self._flags, str(path), self.n_seq, n_ctx, n_gpu_layers, flash_attn, n_threads,
                  kv_unified),
            name=f"explorer-engine-multi:{Path(path).name}", daemon=True,
        )
        proc.start()
        child_conn.close()
        with self._lock:
            self._queue.clear()
            for lane in self._lanes:
                lane._drain()
            self._owner.clear()
            self._proc, self._conn = proc, parent_conn
            self._loaded, self._ended = False, False
            self.load_event = None
        self._reader = threading.Thread(target=self._read, args=(parent_conn, proc), daemon=True,
                                        name=f"explorer-multi-reader:{Path(path).name}")
        self._reader.start()

    def unload(self, timeout: float = 5.0) -> None:
        """Ask the worker to exit (ending every lane's generation first); kill it if it does not in `timeout`."""
        with self._lock:
            proc, conn, reader = self._proc, self._conn, self._reader
            self._ended = True
        for flag in self._flags:
            flag.set()
        if conn is not None:
            self._send(conn, Exit())
        if proc is not None:
            proc.join(timeout)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        if reader is not None:
            reader.join(5)
        if conn is not None:
            conn.close()
        if proc is not None:
            with contextlib.suppress(ValueError):
                proc.close()
        with self._lock:
            self._proc = self._conn = None
            self._reader = None
            self._loaded = False
            self._queue.clear()
            self._owner.clear()
            for lane in self._lanes:
                lane._drain()

    def close(self) -> None:
        """Unload, and close the lanes' wake pipes (the client is not used again)."""
        self.unload()
        for lane in self._lanes:
            lane._close()

    @property
    def alive(self) -> bool:
        return self._proc is not None and not self._ended and self._proc.is_alive()

    @property
    def loaded(self) -> bool:
        return self.alive and self._loaded

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None else None

    def lane(self, index: int) -> Lane:
        return self._lanes[index]

    @property
    def lanes(self) -> list[Lane]:
        return list(self._lanes)

    def ask_cells(self) -> None:
        """Ask the worker for each sequence's KV cells: a `Cells` event comes to `poll`."""
        conn = self._conn
        if conn is not None and not self._ended:
            self._send(conn, AskCells())

    def stop_all(self) -> None:
        for flag in self._flags:
            flag.set()

    # --- events ----------------------------------------------------------------------------------

    def poll(self, timeout: float | None = 0.0) -> list[Event | Cells]:
        """The worker's lifecycle events (LoadProgress, Loaded, LoadFailed, Crashed) and Cells answers,
        waiting up to `timeout` seconds (None: forever) for the first. Tokens and Done go to the lanes."""
        with self._lock:
            self._lock.wait_for(lambda: bool(self._queue) or self._ended, timeout)
            out = list(self._queue)
            self._queue.clear()
        return out

    def events(self, timeout: float = 1.0) -> Iterator[Event | Cells]:
        return iter_events(self.poll, timeout)

    def __enter__(self) -> MultiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the lanes' side ---------------------------------------------------------------------------

    def _flag(self, index: int) -> StopFlag:
        flags = self._flags  # read once: another thread may start a new worker meanwhile
        return flags[index] if flags else StopFlag(self._ctx.RawValue("b", 0))

    def _submit(self, lane: Lane, req: GenerateRequest) -> None:
        with self._lock:
            conn = self._conn
            if conn is None or self._ended:
                lane._put(Done(req.request_id, "error", 0, 0, 0.0, 0.0, "no model is loaded"))
                self._lock.notify_all()
                return
            self._owner[req.request_id] = lane
        self._flags[lane.index].clear()  # here, not in the worker, so a stop() right after is not lost
        self._send(conn, SeqGenerate(lane.index, req))

    def _prefill(self, lane: Lane, prompt: str) -> None:
        with self._lock:
            conn = None if self._ended else self._conn
        if conn is not None:
            self._send(conn, SeqPrefill(lane.index, prompt))

    def _release(self, lane: Lane) -> None:
        with self._lock:
            conn = None if self._ended else self._conn
            for rid, owner in self._owner.items():
                if owner is lane:
                    self._owner[rid] = None
            lane._drain()
        self._flag(lane.index).set()
        if conn is not None:
            self._send(conn, SeqRelease(lane.index))

    def _send(self, conn: Connection, msg: object) -> None:
        """Lanes send from their own threads: one message at a time on the pipe. Not under the event
        lock: a send may wait for the worker to read, and the worker may wait for the reader thread."""
        with self._send_lock, contextlib.suppress(OSError, ValueError):
            conn.send(msg)  # a broken pipe: the reader thread reports the worker's end

    def _take(self, lane: Lane, timeout: float | None) -> list[Event]:
        with self._lock:
            self._lock.wait_for(lambda: bool(lane._queue) or self._ended, timeout)
            return lane._drain()

    def _waitables(self, lane: Lane) -> list[Any] | None:
        with self._lock:
            if lane._queue:
                return None
            if self._ended:
                return []
            return [lane._wake_r]

    def _read(self, conn: Connection, proc: SpawnProcess) -> None:
        """The reader thread: the worker's events to their lanes, until the worker ends."""
        while True:
            try:
                ready = wait([conn, proc.sentinel])
                if conn not in ready and not conn.poll():
                    raise EOFError  # the process ended and left nothing more to read
                ev = conn.recv()
            except (EOFError, OSError, ValueError):
                self._gone(proc)
                return
            with self._lock:
                if isinstance(ev, (Tokens, Done)):
                    known = ev.request_id in self._owner
                    lane = self._owner.get(ev.request_id)
                    if isinstance(ev, Done):
                        self._owner.pop(ev.request_id, None)
                    if lane is not None:
                        lane._put(ev)
                    elif not known:
                        self._queue.append(ev)  # (a released lane's events are dropped)
                elif isinstance(ev, Cells):
                    self._queue.append(ev)
                else:
                    if isinstance(ev, Loaded):
                        self._loaded = True
                        self.n_ctx = ev.n_ctx
                        self.load_event = ev
                    self._broadcast(ev)
                    if isinstance(ev, LoadFailed):
                        self._ended = True  # the worker exits by itself
                self._lock.notify_all()

    def _broadcast(self, ev: Event) -> None:
        self._queue.append(ev)
        for lane in self._lanes:
            lane._put(ev)

    def _gone(self, proc: SpawnProcess) -> None:
        with self._lock:
            if self._ended:
                self._lock.notify_all()
                return
            self._ended = True
        proc.join(5)  # reaped, so the exit code is known (a loaded machine can take a moment)
        code = proc.exitcode
        with self._lock:
            crash = Crashed(crash_message(code, loading=not self._loaded), code)
            self._broadcast(crash)
            # Requests that will not finish: their lanes have Crashed, as an EngineClient's pane has.
            self._owner.clear()
            self._lock.notify_all()
