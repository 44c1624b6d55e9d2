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
`Lane.release` (the pane leaves the worker), gives them back. Events and requests are worker.py's
(`GenerateRequest`, `Tokens`, `Done`, ...): a `Lane` satisfies what `chat.conversation.Conversation`
needs from an engine. Stop is one lock-free byte per lane (`worker.StopFlag`).

Different files still get their own processes (a MultiClient each), so a crash stays with its file:
every lane of the crashed worker gets `Crashed`, other files' panes go on.

Threads: a MultiClient runs one reader thread that takes the worker's events off the pipe and hands
each to its lane (lifecycle events go to the client and to every lane). Lanes may be polled from
different threads (one per pane); `Lane.idle_waitables` gives a pane's thread something to block on.
"""

from __future__ import annotations

import codecs
import contextlib
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any, Protocol

from explorer.engine.client import crash_message
from explorer.engine.worker import (
    FLUSH_SECONDS,
    FLUSH_TOKENS,
    PREFILL_CHUNK,
    Crashed,
    Done,
    DoneReason,
    Event,
    Exit,
    GenerateRequest,
    Loaded,
    LoadFailed,
    LoadProgress,
    Prefill,
    StopFlag,
    Tokens,
    _Conn,
    _Flag,
    _has_fim,
    _load_error,
    _load_progress,
    common_prefix,
    hooked_llama_cpp,
    prompt_tokens,
    start_child,
    think_tokens,
)
from explorer.fit.estimate import FLASH_ATTN
from explorer.gguf.fim import FimUnsupported
from explorer.hardware.cores import physical_cores

__all__ = ["Cells", "Crashed", "Done", "Event", "Lane", "LoadFailed", "LoadProgress", "Loaded", "MultiClient",
           "SeqPrefill", "SeqRelease", "Tokens", "multi_worker_main"]

PENALTY_LAST_N = 64  # llama-cpp-python's default (Llama.last_n_tokens_size), which worker.py's path uses


# --- messages beyond worker.py's -------------------------------------------------------------------

@dataclass(frozen=True)
class SeqGenerate:
    """Client -> worker: run `request` on sequence `seq` (after the one it runs now, if any)."""

    seq: int
    request: GenerateRequest


@dataclass(frozen=True)
class SeqPrefill:
    """Client -> worker: decode `prompt` into sequence `seq`'s cells once it and every other sequence
    are idle (worker.Prefill's rule: what the next turn will start with); a request for it drops it."""

    seq: int
    prompt: str


@dataclass(frozen=True)
class SeqRelease:
    """Client -> worker: sequence `seq` has no pane any more: end what it runs, drop its queue and cells."""

    seq: int


@dataclass(frozen=True)
class AskCells:
    """Client -> worker: answer with `Cells`."""


@dataclass(frozen=True)
class Cells:
    """Worker -> client: the KV cells each sequence holds now (0: none), and how many one may hold."""

    used: tuple[int, ...]
    n_ctx_seq: int


# --- the worker (child process) --------------------------------------------------------------------

class _PollConn(_Conn, Protocol):
    def poll(self) -> bool: ...


class _AnyFlag:
    """Set when any lane's flag is: unload sets them all, which also aborts a load under way."""

    def __init__(self, flags: Sequence[_Flag]) -> None:
        self._flags = flags

    def is_set(self) -> bool:
        return any(f.is_set() for f in self._flags)


@contextlib.contextmanager
def _context_params(llama_cpp: Any, n_seq: int, kv_unified: bool) -> Iterator[None]:
    """llama-cpp-python's `Llama` has no argument for the number of sequences: while it builds its
    context (in this process only), `llama_context_default_params()` hands out parameters with ours."""
    lib = llama_cpp.llama_cpp
    original = lib.llama_context_default_params

    def params() -> Any:
        p = original()
        p.n_seq_max = n_seq
        p.kv_unified = kv_unified
        return p

    lib.llama_context_default_params = params
    try:
        yield
    finally:
        lib.llama_context_default_params = original


def multi_worker_main(conn: _PollConn, flags: list[_Flag], path: str, n_seq: int, n_ctx: int, n_gpu_layers: int,
                      flash_attn: bool, n_threads: int | None, kv_unified: bool) -> None:
    """Entry point of the child process: load `path` with `n_seq` sequences of `n_ctx` cells each, serve."""
    start_child()
    t0 = time.perf_counter()
    log: list[str] = []
    try:
        llama_cpp = hooked_llama_cpp(log)
        threads = n_threads or physical_cores()
        with _load_progress(llama_cpp, conn, _AnyFlag(flags)), _context_params(llama_cpp, n_seq, kv_unified):
            llm = llama_cpp.Llama(path, n_ctx=n_ctx * n_seq, n_gpu_layers=n_gpu_layers, flash_attn=flash_attn,
                                  n_threads=threads, n_threads_batch=threads, verbose=False)
        server = _Server(llama_cpp, llm, conn, flags, n_ctx)
    except Exception as exc:
        conn.send(LoadFailed(_load_error(exc, log)))
        return
    conn.send(Loaded(load_seconds=time.perf_counter() - t0, n_ctx=server.n_ctx_seq, fim=_has_fim(llm)))
    server.run()


class _Seq:
    """One running request on one sequence (the child's state for it)."""

    def __init__(self, req: GenerateRequest, slot: int, t_start: float) -> None:
        self.req = req
        self.slot = slot
        self.t_start = t_start
        self.sampler: Any = None
        self.stop_ids: frozenset[int] = frozenset()
        self.n_prompt = 0
        self.evaluated = 0  # prompt tokens decoded (the rest were in the sequence's cells already)
        self.max_tokens = 0
        self.pos = 0  # where the next token goes in the sequence
        self.next_token: int | None = None  # sampled, not yet decoded
        self.t_first: float | None = None
        self.n_tokens = 0
        self.prefill_s = 0.0
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.stops = [s for s in req.stop if s]
        self.hold = max((len(s) for s in self.stops), default=1) - 1
        self.text = ""  # decoded, not yet sent
        self.pending = 0  # tokens not yet sent
        self.last_send = t_start


class _Server:
    """The child's loop: take requests between steps, prefill new sequences, decode one batch per step."""

    def __init__(self, llama_cpp: Any, llm: Any, conn: _PollConn, flags: list[_Flag], n_ctx: int) -> None:
        self.lib = llama_cpp
        self.llm = llm
        self.conn = conn
        self.flags = flags
        self.n_seq = len(flags)
        self.ctx = llm.ctx
        self.mem = llama_cpp.llama_get_memory(self.ctx)
        # Not unified: each sequence has its own cells (llama_n_ctx_seq). Unified: one pool of n_ctx x
        # n_seq cells; each sequence is still held to n_ctx, so the pool can not run out.
        self.n_ctx_seq = min(n_ctx, int(llama_cpp.llama_n_ctx_seq(self.ctx)))
        self.n_batch = int(llama_cpp.llama_n_batch(self.ctx))
        self.batch = llama_cpp.llama_batch_init(max(self.n_batch, self.n_seq), 0, 1)
        self.vocab = llm._model.vocab
        self.think_open, self.think_close = think_tokens(llm)
        self.n_vocab = int(llm.n_vocab())
        self.queues: list[deque[GenerateRequest | Prefill]] = [deque() for _ in range(self.n_seq)]
        self.seqs: list[_Seq | None] = [None] * self.n_seq
        # The tokens whose KV each sequence holds, at positions 0..len-1 (kept after a request ends).
        self.cached: list[list[int]] = [[] for _ in range(self.n_seq)]

    # messages

    def run(self) -> None:
        while True:
            idle = all(s is None for s in self.seqs) and not any(self.queues)
            try:
                if idle and not self._handle(self.conn.recv()):
                    return
                while self.conn_poll():
                    if not self._handle(self.conn.recv()):
                        return
            except (EOFError, OSError):
                return  # the parent went away
            for slot, queue in enumerate(self.queues):
                while queue and isinstance(queue[0], Prefill) and (len(queue) > 1 or self.seqs[slot] is not None):
                    queue.popleft()  # a request came after it: the request's own reuse does the work
                if self.seqs[slot] is None and queue:
                    item = queue[0]
                    if isinstance(item, Prefill):
                        if all(seq is None for seq in self.seqs):  # never while a neighbour answers
                            queue.popleft()
                            self._prefill(slot, item.prompt)
                    else:
                        queue.popleft()
                        self._begin(slot, item)
            self._step()

    def conn_poll(self) -> bool:
        return bool(self.conn.poll())

    def _handle(self, msg: Any) -> bool:
        if isinstance(msg, Exit):
            return False
        if isinstance(msg, SeqGenerate):
            self.queues[msg.seq].append(msg.request)
        elif isinstance(msg, SeqPrefill):
            self.queues[msg.seq].append(Prefill(msg.prompt))
        elif isinstance(msg, SeqRelease):
            self.queues[msg.seq].clear()
            seq = self.seqs[msg.seq]
            if seq is not None:
                self._done(seq, "stopped")
            self._forget(msg.seq)
        elif isinstance(msg, AskCells):
            used = tuple(int(self.lib.llama_memory_seq_pos_max(self.mem, s)) + 1 for s in range(self.n_seq))
            self.conn.send(Cells(used, self.n_ctx_seq))
        return True

    # one sequence

    def _done(self, seq: _Seq, reason: DoneReason, message: str = "") -> None:
        """End `seq`: the rest of its text, then Done; its sampler and KV cells are freed."""
        now = time.perf_counter()
        with contextlib.suppress(Exception):
            seq.text += seq.decoder.decode(b"", final=True)
            self._flush(seq, final=True)
        ttft = (seq.t_first - seq.t_start) if seq.t_first is not None else 0.0
        if seq.n_tokens > 1 and seq.t_first is not None and now > seq.t_first:
            tps = (seq.n_tokens - 1) / (now - seq.t_first)
        elif seq.n_tokens == 1 and ttft > 0:
            tps = 1 / ttft
        else:
            tps = 0.0
        evaluated = seq.evaluated if seq.t_first is not None else 0
        self.conn.send(Done(seq.req.request_id, reason, seq.n_prompt, seq.n_tokens, ttft, tps, message,
                            evaluated, seq.prefill_s if evaluated else 0.0))
        if seq.sampler is not None:
            self.lib.llama_sampler_free(seq.sampler)
            seq.sampler = None
        if reason == "error":  # what the cells hold is not known: start the next request afresh
            self._forget(seq.slot)
        self.seqs[seq.slot] = None

    def _forget(self, slot: int) -> None:
        self.lib.llama_memory_seq_rm(self.mem, slot, -1, -1)
        self.cached[slot] = []

    def _reuse(self, slot: int, tokens: Sequence[int], *, whole: bool = False) -> int:
        """Keep the cells of the longest prefix `tokens` shares with what `slot` holds, drop the rest;
        how many tokens are kept. The last prompt token is decoded again (its logits give the first
        sample) unless `whole` (a prefill, which samples nothing)."""
        cached = self.cached[slot]
        keep = common_prefix(cached, list(tokens if whole else tokens[:-1]))
        if keep < len(cached) and not self.lib.llama_memory_seq_rm(self.mem, slot, keep, -1):
            keep = 0  # a memory that can not cut a sequence short (none in Qwen3): start afresh
            self.lib.llama_memory_seq_rm(self.mem, slot, -1, -1)
        self.cached[slot] = list(tokens[:keep])
        return keep

    def _prefill(self, slot: int, prompt: str) -> None:
        """worker.Prefill for one sequence: decode what `prompt` adds to its cells, a chunk at a time;
        a message that comes meanwhile is read first and the prefill waits in the queue."""
        try:
            tokens = self.llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
            if not tokens or len(tokens) >= self.n_ctx_seq:
                return
            keep = self._reuse(slot, tokens, whole=True)
            try:
                for start in range(keep, len(tokens), PREFILL_CHUNK):
                    if self.conn_poll():
                        # A message first (another lane's request or warm-up); the rest of this one waits
                        # at the head of its lane's queue: it goes on once all are idle again (what is
                        # decoded stays), or is dropped by a request for its own lane.
                        self.queues[slot].appendleft(Prefill(prompt))
                        return
                    chunk = tokens[start:start + PREFILL_CHUNK]
                    self._fill([(t, start + i, slot, False) for i, t in enumerate(chunk)])
                    if self.lib.llama_decode(self.ctx, self.batch) != 0:
                        self._forget(slot)
                        return
                    self.cached[slot].extend(chunk)
            finally:
                self.lib.llama_synchronize(self.ctx)  # the decodes are done before the next request's timing
        except Exception:  # a warm-up only: the next request decodes whatever this did not
            self._forget(slot)

    def _flush(self, seq: _Seq, final: bool) -> None:
        cut = len(seq.text) if final else max(0, len(seq.text) - seq.hold)
        if cut > 0 or (final and seq.pending):
            self.conn.send(Tokens(seq.req.request_id, seq.text[:cut], seq.pending))
            seq.text, seq.pending = seq.text[cut:], 0
            seq.last_send = time.perf_counter()

    def _sampler(self, req: GenerateRequest) -> Any:
        """The chain llama-cpp-python's `Llama.generate` builds for these settings (so a pane samples here
        as it does in its own worker): penalties, then greedy, or top-k, typical, top-p, min-p, temperature
        and a draw seeded with the request's seed."""
        lib = self.lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        add = lib.llama_sampler_chain_add
        add(chain, lib.llama_sampler_init_penalties(self.n_vocab, PENALTY_LAST_N, req.repeat_penalty, 0.0,
                                                    req.presence_penalty))
        if req.temperature < 0:
            add(chain, lib.llama_sampler_init_dist(req.seed))
        elif req.temperature == 0:
            add(chain, lib.llama_sampler_init_greedy())
        else:
            add(chain, lib.llama_sampler_init_top_k(req.top_k))
            add(chain, lib.llama_sampler_init_typical(1.0, 1))
            add(chain, lib.llama_sampler_init_top_p(req.top_p, 1))
            add(chain, lib.llama_sampler_init_min_p(req.min_p, 1))
            add(chain, lib.llama_sampler_init_temp(req.temperature))
            add(chain, lib.llama_sampler_init_dist(req.seed))
        return chain

    def _fill(self, entries: Sequence[tuple[int, int, int, bool]]) -> None:
        """Put (token, position, sequence, wants logits) entries into the batch."""
        b = self.batch
        b.n_tokens = len(entries)
        for i, (token, pos, slot, logits) in enumerate(entries):
            b.token[i] = token
            b.pos[i] = pos
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = slot
            b.logits[i] = logits

    def _begin(self, slot: int, req: GenerateRequest) -> None:
        """Start `req` on `slot`: what its prompt adds to the prefix the sequence holds is decoded alone
        (a batch per n_batch tokens, as a single pane's worker does), then its first token is sampled."""
        seq = _Seq(req, slot, time.perf_counter())
        self.seqs[slot] = seq
        flag = self.flags[slot]
        try:
            try:
                tokens, seq.stop_ids = prompt_tokens(self.llm, req)
            except FimUnsupported as exc:
                self._done(seq, "error", str(exc))
                return
            seq.n_prompt = len(tokens)
            room = self.n_ctx_seq - seq.n_prompt
            if room <= 0:
                self._done(seq, "error", f"the prompt has {seq.n_prompt} tokens, more than the {self.n_ctx_seq} "
                                         "the context holds: shorten it (or clear the conversation), or use a "
                                         "larger context (--ctx, or the pane's settings)")
                return
            seq.max_tokens = min(req.max_tokens, room) if req.max_tokens > 0 else room
            if flag.is_set():
                self._done(seq, "stopped")
                return
            seq.sampler = self._sampler(req)
            t0 = time.perf_counter()
            keep = self._reuse(slot, tokens)
            seq.evaluated = len(tokens) - keep
            for start in range(keep, len(tokens), self.n_batch):
                chunk = tokens[start:start + self.n_batch]
                last = start + len(chunk) == len(tokens)
                self._fill([(t, start + i, slot, last and i == len(chunk) - 1) for i, t in enumerate(chunk)])
                rc = self.lib.llama_decode(self.ctx, self.batch)
                if rc != 0:
                    self._done(seq, "error", f"llama_decode returned {rc} on the prompt")
                    return
                self.cached[slot].extend(chunk)
                if not last and flag.is_set():
                    self._done(seq, "stopped")
                    return
            seq.prefill_s = time.perf_counter() - t0
            seq.pos = len(tokens)
            token = int(self.lib.llama_sampler_sample(seq.sampler, self.ctx, self.batch.n_tokens - 1))
            self._take(seq, token)
        except Exception as exc:
            if self.seqs[slot] is seq:
                self._done(seq, "error", f"{type(exc).__name__}: {exc}")

    def _take(self, seq: _Seq, token: int) -> None:
        """A token sampled for `seq`: text out, or the end of the sequence (worker.py's rules)."""
        seq.next_token = None
        if seq.t_first is None:
            seq.t_first = time.perf_counter()
        if self.lib.llama_vocab_is_eog(self.vocab, token) or token in seq.stop_ids:
            self._done(seq, "stop")
            return
        if token == self.think_open and seq.pending:
            self._flush(seq, final=True)  # what came before the thinking goes in a batch of its own
        seq.n_tokens += 1
        seq.pending += 1
        seq.text += seq.decoder.decode(self.llm.detokenize([token], special=True))
        if seq.stops:
            hit = min((i for i in (seq.text.find(s) for s in seq.stops) if i >= 0), default=-1)
            if hit >= 0:
                seq.text = seq.text[:hit]
                self._done(seq, "stop")
                return
        if seq.n_tokens >= seq.max_tokens:
            self._done(seq, "length")
            return
        if self.flags[seq.slot].is_set():
            self._done(seq, "stopped")
            return
        if token == self.think_close:
            self._flush(seq, final=True)  # the thinking ends this batch: the next one is answer only
        elif (seq.n_tokens == 1 or seq.pending >= FLUSH_TOKENS
              or time.perf_counter() - seq.last_send >= FLUSH_SECONDS):
            self._flush(seq, final=False)
        seq.next_token = token

    # all sequences

    def _step(self) -> None:
        """One batch with each running sequence's last token; each samples its next from its own logits."""
        running: list[_Seq] = []
        for seq in self.seqs:
            if seq is None or seq.next_token is None:
                continue
            if self.flags[seq.slot].is_set():  # stopped while another sequence's prompt was decoded
                self._done(seq, "stopped")
            else:
                running.append(seq)
        if not running:
            return
        try:
            self._fill([(s.next_token, s.pos, s.slot, True) for s in running if s.next_token is not None])
            rc = self.lib.llama_decode(self.ctx, self.batch)
        except Exception as exc:
            for seq in running:
                self._done(seq, "error", f"{type(exc).__name__}: {exc}")
            return
        if rc != 0:
            for seq in running:
                self._done(seq, "error", f"llama_decode returned {rc}")
            return
        for i, seq in enumerate(running):
            if seq.next_token is not None:
                self.cached[seq.slot].append(seq.next_token)
            seq.pos += 1
            try:
                self._take(seq, int(self.lib.llama_sampler_sample(seq.sampler, self.ctx, i)))
            except Exception as exc:
                if self.seqs[seq.slot] is seq:
                    self._done(seq, "error", f"{type(exc).__name__}: {exc}")


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
        while True:
            batch = self.poll(timeout)
            if not batch:
                return
            yield from batch

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
        while True:
            batch = self.poll(timeout)
            if not batch:
                return
            yield from batch

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
