"""The child side of a shared worker (`multi.MultiClient`): one llama.cpp context with a sequence per
pane, one batch per step, each sequence sampled with its own chain; and the messages beyond messages.py's.

Runs in the spawned process only (it imports llama_cpp there, through worker.py's set-up). The parent's
side, the lanes and the client, is multi.py; this module never imports it.
"""

from __future__ import annotations

import codecs
import contextlib
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from explorer.engine.generation import (
    FLUSH_SECONDS,
    FLUSH_TOKENS,
    PREFILL_CHUNK,
    _has_fim,
    common_prefix,
    prompt_tokens,
    think_tokens,
)
from explorer.engine.messages import (
    Done,
    DoneReason,
    Exit,
    GenerateRequest,
    Loaded,
    LoadFailed,
    Prefill,
    Tokens,
    _Conn,
    _Flag,
)
from explorer.engine.worker import _load_error, _load_progress, hooked_llama_cpp, start_child
from explorer.gguf.fim import FimUnsupported
from explorer.hardware.cores import physical_cores

__all__ = ["AskCells", "Cells", "SeqGenerate", "SeqPrefill", "SeqRelease", "multi_worker_main"]

PENALTY_LAST_N = 64  # llama-cpp-python's default (Llama.last_n_tokens_size), which generation.py's path uses


# --- messages beyond messages.py's -------------------------------------------------------------------

@dataclass(frozen=True)
class SeqGenerate:
    """Client -> worker: run `request` on sequence `seq` (after the one it runs now, if any)."""

    seq: int
    request: GenerateRequest


@dataclass(frozen=True)
class SeqPrefill:
    """Client -> worker: decode `prompt` into sequence `seq`'s cells once it and every other sequence
    are idle (messages.Prefill's rule: what the next turn will start with); a request for it drops it."""

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
        """generation._prefill for one sequence: decode what `prompt` adds to its cells, a chunk at a time;
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
        """A token sampled for `seq`: text out, or the end of the sequence (generation.py's rules)."""
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
