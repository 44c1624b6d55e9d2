"""The child side of the engine: one process per loaded model, talking to `client.EngineClient` over a Pipe.

`worker_main` runs in a process started with the "spawn" context. It imports llama_cpp (only here, in
the child), loads the model, reports `Loaded` or `LoadFailed`, then serves requests until told to
exit. `spare_main` is the same child started ahead of time: it imports llama_cpp, says `SpareReady`,
and waits for the `Load` that makes it the worker of a model (starting a Python process and importing
llama_cpp is a fifth of switching a pane to another model; a spare has done both already).

Generation runs token by token; between tokens it checks the shared stop flag, so a stop takes
effect within one token. Text goes back in batches (`Tokens`) at most every ~30 ms or 16 tokens.

The message types live here (not in client.py) so the child never imports the parent's module; all
are small frozen dataclasses, picklable across the pipe.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from explorer.gguf.fim import FimUnsupported, fim_prompt, find_fim_tokens
from explorer.hardware.cores import physical_cores

FLUSH_SECONDS = 0.03
WORKER_NICENESS = 5
FLUSH_TOKENS = 16

DoneReason = Literal["stop", "length", "stopped", "error"]


# --- events: worker (or client) -> caller ----------------------------------------------------------

@dataclass(frozen=True)
class Loaded:
    load_seconds: float
    n_ctx: int
    fim: bool = False  # the vocabulary has the fill-in-the-middle tokens


@dataclass(frozen=True)
class LoadProgress:
    fraction: float  # 0..1, from llama.cpp's model-load progress callback (at most ~10 a second)


@dataclass(frozen=True)
class LoadFailed:
    message: str


@dataclass(frozen=True)
class Tokens:
    request_id: str
    text: str
    n_tokens: int


@dataclass(frozen=True)
class Done:
    request_id: str
    reason: DoneReason
    n_prompt_tokens: int
    n_tokens: int
    ttft_s: float
    tokens_per_s: float
    message: str = ""  # why, for reason="error"
    prompt_eval_tokens: int = 0  # prompt tokens llama.cpp evaluated (the rest came from its KV cache)
    prompt_eval_s: float = 0.0  # the time it took (prompt processing, "prefill")


@dataclass(frozen=True)
class Crashed:
    """Made by the client, never sent by the worker: the pipe broke or the process died."""

    message: str
    exitcode: int | None


Event = LoadProgress | Loaded | LoadFailed | Tokens | Done | Crashed


E = TypeVar("E")


def iter_events(poll: Callable[[float], list[E]], timeout: float) -> Iterator[E]:
    """A client's events as they come (its `poll`), ending after `timeout` seconds with none, or when
    its source has nothing left to say: what each client's `events()` is."""
    while True:
        batch = poll(timeout)
        if not batch:
            return
        yield from batch


# --- requests: client -> worker --------------------------------------------------------------------

@dataclass(frozen=True)
class GenerateRequest:
    """What to generate from. `prompt` is tokenized with special tokens parsed (a rendered chat
    template), or as plain text when `raw` (free-form: the text as typed, the tokenizer's own BOS
    only). `fim` (prefix, suffix) asks for the middle: the prompt is built from the vocabulary's FIM
    token ids and `prompt` is ignored. Temperature 0 is greedy."""

    request_id: str
    prompt: str
    max_tokens: int
    temperature: float
    top_p: float
    top_k: int
    min_p: float
    seed: int
    stop: tuple[str, ...] = field(default_factory=tuple)
    raw: bool = False
    fim: tuple[str, str] | None = None
    presence_penalty: float = 0.0
    repeat_penalty: float = 1.0


@dataclass(frozen=True)
class Prefill:
    """Decode `prompt` into the KV cache and generate nothing: what the next turn's prompt will start
    with, sent while the person reads the answer. Dropped at once when a request comes meanwhile."""

    prompt: str


@dataclass(frozen=True)
class Exit:
    pass


@dataclass(frozen=True)
class Load:
    """To a spare worker (`spare_main`): load this model and serve it, as `worker_main` would."""

    path: str
    n_ctx: int
    n_gpu_layers: int = 0
    flash_attn: bool = True
    n_threads: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class SpareReady:
    """From a spare worker: llama_cpp is imported; a `Load` now costs only the load itself."""


class _Conn(Protocol):
    def send(self, obj: Any) -> None: ...
    def recv(self) -> Any: ...


class _Flag(Protocol):
    def is_set(self) -> bool: ...


class StopFlag:
    """A stop flag shared with the worker, without a lock.

    multiprocessing.Event takes a lock shared by both processes; a worker killed (SIGKILL) while it
    holds that lock in `is_set()` would leave `set()` blocked forever in the parent. A byte of shared
    memory needs no lock: one side writes it, the other reads it between tokens.
    """

    def __init__(self, value: Any) -> None:
        self._value = value  # multiprocessing RawValue("b")

    def set(self) -> None:
        self._value.value = 1

    def clear(self) -> None:
        self._value.value = 0

    def is_set(self) -> bool:
        return bool(self._value.value)


_KEEP_ALIVE: list[Any] = []


def rss_bytes(pid: int) -> int | None:
    """Resident memory of process `pid` in bytes (Linux /proc); None elsewhere or when it is gone."""
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def _load_progress(llama_cpp: Any, conn: _Conn, stop_flag: _Flag) -> Iterator[None]:
    """Report llama.cpp's load progress, and abort the load when the stop flag is set (unload while loading).

    llama-cpp-python's `Llama` has no argument for the progress callback, but it builds its model
    parameters with `llama_model_default_params()`: for the duration of the load (in this process
    only) that function hands out parameters with our callback set.
    """
    last = [0.0]

    @llama_cpp.llama_progress_callback  # type: ignore[untyped-decorator]
    def on_progress(progress: float, user_data: ctypes.c_void_p) -> bool:
        now = time.perf_counter()
        if progress >= 1.0 or now - last[0] >= 0.1:
            last[0] = now
            with contextlib.suppress(Exception):
                conn.send(LoadProgress(min(1.0, max(0.0, float(progress)))))
        return not stop_flag.is_set()

    _KEEP_ALIVE.append(on_progress)
    lib = llama_cpp.llama_cpp
    original = lib.llama_model_default_params

    def params() -> Any:
        p = original()
        p.progress_callback = on_progress
        return p

    lib.llama_model_default_params = params
    try:
        yield
    finally:
        lib.llama_model_default_params = original


class _UnusedChatFormatter:
    """Stands in for llama-cpp-python's Jinja2ChatFormatter in the worker. Llama() builds one for every
    chat template in the file's metadata at load, compiling it outside any sandbox (a template such as
    ``{{ 'x'*10**9 }}`` took 20 s and 4 GB there, since Jinja folds constants when it compiles). The app
    never uses llama-cpp-python's chat handlers: it renders templates itself, in its sandbox."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def to_chat_handler(self) -> Any:
        def refuse(*args: object, **kwargs: object) -> None:
            raise RuntimeError("Qwen3 Explorer renders chat templates itself (explorer.chat.sandbox)")

        return refuse


def _load_error(exc: BaseException, log: list[str]) -> str:
    lines = [ln.strip() for ln in "".join(log).splitlines() if ln.strip()]
    detail = "\n".join(lines[-6:])
    msg = f"{type(exc).__name__}: {exc}"
    return f"{msg}\n{detail}" if detail else msg


def ignore_interrupts() -> None:
    """Ctrl+C in a terminal sends SIGINT to the whole process group: a child ignores it, and the parent
    stops an answer through the stop flag (or ends the child) as it decides."""
    with contextlib.suppress(ValueError, OSError, AttributeError):  # not the main thread; no SIGINT here
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_child() -> None:
    """A worker child's first steps: no SIGINT, and below the GUI's priority: when the models keep every
    core busy, the window still gets the CPU the moment it needs it (a few ms per update), and the models
    lose nothing while it does not."""
    ignore_interrupts()
    with contextlib.suppress(OSError, AttributeError):
        os.nice(WORKER_NICENESS)


def hooked_llama_cpp(log: list[str]) -> Any:
    """`llama_cpp`, imported, with llama.cpp's warnings and errors (verbose=False hides them) kept in `log`
    for the LoadFailed message, and llama-cpp-python's own Jinja chat formatter replaced by an inert one."""
    import llama_cpp

    keep = [False]

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def _on_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        # ggml_log_level: 3 WARN, 4 ERROR, 5 CONT (continues the previous line)
        if level in (3, 4) or (level == 5 and keep[0]):
            log.append(text.decode("utf-8", "replace"))
            del log[:-50]
        if level != 5:
            keep[0] = level in (3, 4)

    llama_cpp.llama_chat_format.Jinja2ChatFormatter = _UnusedChatFormatter  # type: ignore[misc,assignment]
    _KEEP_ALIVE.append(_on_log)  # llama.cpp calls it until the process ends, even while freeing
    llama_cpp.llama_log_set(_on_log, ctypes.c_void_p(0))
    return llama_cpp


def worker_main(conn: _Conn, stop_flag: _Flag, path: str, n_ctx: int, n_gpu_layers: int, flash_attn: bool,
                n_threads: int | None, seed: int) -> None:
    """Entry point of the child process."""
    start_child()
    t0 = time.perf_counter()
    log: list[str] = []
    try:
        llama_cpp = hooked_llama_cpp(log)
    except Exception as exc:
        conn.send(LoadFailed(_load_error(exc, log)))
        return
    _load_and_serve(llama_cpp, log, conn, stop_flag, Load(path, n_ctx, n_gpu_layers, flash_attn, n_threads, seed), t0)
    _end_child()


def spare_main(conn: _Conn, stop_flag: _Flag) -> None:
    """Entry point of a spare worker: llama_cpp imported ahead of time, then the `Load` it is given is
    served as `worker_main` serves its model. `Exit`, or the parent going away, ends it unused."""
    start_child()
    log: list[str] = []
    error: Exception | None = None
    llama_cpp: Any = None
    try:
        llama_cpp = hooked_llama_cpp(log)
    except Exception as exc:  # said when a load comes: the client reports it as that load's failure
        error = exc
    with contextlib.suppress(OSError, ValueError):
        conn.send(SpareReady())
    try:
        msg = conn.recv()
    except (EOFError, OSError):
        return
    if not isinstance(msg, Load):
        return
    if error is not None:
        conn.send(LoadFailed(_load_error(error, log)))
        return
    _load_and_serve(llama_cpp, log, conn, stop_flag, msg, time.perf_counter())
    _end_child()


def _end_child() -> None:
    """End a worker process that is done (Exit, or its parent gone) at once: the kernel takes its memory
    back, and the parent's `unload` waits on that alone. Python's own teardown would first free the
    model and its context through llama.cpp and tear down every module: ~0.1 s for a 0.6B model at an
    8k context, added to every unload and model switch. Nothing is left to flush (the pipe's sends are
    synchronous). In a process that is not a child (a test calling it in-process) it just returns."""
    if multiprocessing.parent_process() is not None:
        os._exit(0)


def _load_and_serve(llama_cpp: Any, log: list[str], conn: _Conn, stop_flag: _Flag, load: Load, t0: float) -> None:
    """Load `load.path`, report `Loaded` (or `LoadFailed`), then serve requests until `Exit` or EOF."""
    try:
        threads = load.n_threads or physical_cores()
        with _load_progress(llama_cpp, conn, stop_flag):
            llm = llama_cpp.Llama(load.path, n_ctx=load.n_ctx, n_gpu_layers=load.n_gpu_layers,
                                  flash_attn=load.flash_attn, n_threads=threads, n_threads_batch=threads,
                                  seed=load.seed, verbose=False)
    except Exception as exc:
        conn.send(LoadFailed(_load_error(exc, log)))
        return
    conn.send(Loaded(load_seconds=time.perf_counter() - t0, n_ctx=int(llm.n_ctx()), fim=_has_fim(llm)))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the parent went away
        if isinstance(msg, Exit):
            return
        if isinstance(msg, GenerateRequest):
            _generate(llm, conn, stop_flag, msg)
        elif isinstance(msg, Prefill):
            _prefill(llm, conn, msg)


PREFILL_CHUNK = 64  # tokens decoded between two looks for a request that should go first


def common_prefix(a: Any, b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _prefill(llm: Any, conn: Any, req: Prefill) -> None:
    """Extend the cache to `req.prompt` (the part it does not hold yet), a chunk at a time; a request
    waiting on the pipe ends it (what is decoded stays: `Llama.generate` finds it as a prefix)."""
    try:
        tokens = llm.tokenize(req.prompt.encode("utf-8"), add_bos=True, special=True)
        if not tokens or len(tokens) >= int(llm.n_ctx()):
            return
        keep = common_prefix(llm._input_ids, tokens)
        if keep >= len(tokens):
            return
        try:
            for start in range(keep, len(tokens), PREFILL_CHUNK):
                if conn.poll():
                    return
                # Cut back only right before an eval: llama-cpp-python takes the logits it holds as the
                # last kept token's, and an exact prompt hit samples from them (a cut with no eval after
                # it made a Regenerate sample from the previous answer's last token: an empty answer).
                llm.n_tokens = start  # eval() drops the cells after it
                llm.eval(tokens[start:start + PREFILL_CHUNK])
        finally:
            # llama.cpp adds decoded tokens to its prompt counters when it next synchronizes: do it now,
            # or the next answer's "prompt tokens evaluated" and prefill time would count this work.
            import llama_cpp

            llama_cpp.llama_synchronize(llm.ctx)
    except Exception:  # a warm-up only: the next request decodes whatever this did not
        with contextlib.suppress(Exception):
            llm.n_tokens = 0


def token_id(llm: Any, text: str) -> int | None:
    """The id of the special token spelled `text` in the model's vocabulary, None if it has none."""
    ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    if len(ids) != 1 or llm.detokenize(ids, special=True).decode("utf-8", "replace") != text:
        return None
    return int(ids[0])


def think_tokens(llm: Any) -> tuple[int | None, int | None]:
    """The ids of <think> and </think> (None where the vocabulary has no such token). A batch of text
    sent to the client never holds tokens from both sides of one (`Tokens` ends before <think> and
    after </think>), so the client can count thinking tokens exactly from whole batches."""
    return token_id(llm, "<think>"), token_id(llm, "</think>")


def _has_fim(llm: Any) -> bool:
    try:
        find_fim_tokens(lambda text: token_id(llm, text))
    except FimUnsupported:
        return False
    return True


def prompt_tokens(llm: Any, req: GenerateRequest) -> tuple[list[int], frozenset[int]]:
    """The prompt's token ids for `req`, and the extra ids that end its generation (FIM's stop set).
    FimUnsupported when a FIM request meets a vocabulary without the FIM tokens."""
    if req.fim is not None:
        fim = find_fim_tokens(lambda text: token_id(llm, text))
        prefix, suffix = (llm.tokenize(part.encode("utf-8"), add_bos=False, special=False) for part in req.fim)
        bos = llm.tokenize(b"", add_bos=True, special=False)  # [BOS] where the GGUF asks for one, else []
        return fim_prompt(fim, prefix, suffix, bos=bos[0] if bos else None), fim.stops
    return llm.tokenize(req.prompt.encode("utf-8"), add_bos=True, special=not req.raw), frozenset()


def _generate(llm: Any, conn: _Conn, stop_flag: _Flag, req: GenerateRequest) -> None:
    import llama_cpp

    t_start = time.perf_counter()
    n_prompt = 0
    n_tokens = 0
    t_first: float | None = None

    def done(reason: DoneReason, message: str = "") -> None:
        now = time.perf_counter()
        perf = llama_cpp.llama_perf_context(llm.ctx) if t_first is not None else None
        evaluated = int(perf.n_p_eval) if perf is not None else 0
        ttft = (t_first - t_start) if t_first is not None else 0.0
        if n_tokens > 1 and t_first is not None and now > t_first:
            tps = (n_tokens - 1) / (now - t_first)
        elif n_tokens == 1 and ttft > 0:
            tps = 1 / ttft
        else:
            tps = 0.0
        conn.send(Done(req.request_id, reason, n_prompt, n_tokens, ttft, tps, message,
                       evaluated, float(perf.t_p_eval_ms) / 1000 if perf is not None and evaluated else 0.0))

    try:
        try:
            tokens, stop_ids = prompt_tokens(llm, req)
        except FimUnsupported as exc:
            done("error", str(exc))
            return
        n_prompt = len(tokens)
        room = int(llm.n_ctx()) - n_prompt
        if room <= 0:
            done("error", f"the prompt has {n_prompt} tokens, more than the {llm.n_ctx()} the context holds: "
                          "shorten it (or clear the conversation), or use a larger context (--ctx, or the pane's "
                          "settings)")
            return
        max_tokens = min(req.max_tokens, room) if req.max_tokens > 0 else room
        if stop_flag.is_set():
            done("stopped")
            return
        llm.set_seed(req.seed)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = [s for s in req.stop if s]
        hold = max((len(s) for s in stops), default=1) - 1
        text = ""  # decoded, not yet sent
        pending_tokens = 0
        last_send = time.perf_counter()
        reason: DoneReason = "length"
        vocab = llm._model.vocab
        think_open, think_close = think_tokens(llm)

        def flush(final: bool) -> None:
            nonlocal text, pending_tokens, last_send
            cut = len(text) if final else max(0, len(text) - hold)
            if cut > 0 or (final and pending_tokens):
                conn.send(Tokens(req.request_id, text[:cut], pending_tokens))
                text, pending_tokens = text[cut:], 0
                last_send = time.perf_counter()

        llama_cpp.llama_perf_context_reset(llm.ctx)  # its prompt counters then tell this prompt's prefill
        for token in llm.generate(tokens, top_k=req.top_k, top_p=req.top_p, min_p=req.min_p,
                                  temp=req.temperature, repeat_penalty=req.repeat_penalty,
                                  presence_penalty=req.presence_penalty):
            if t_first is None:
                t_first = time.perf_counter()
            if llama_cpp.llama_vocab_is_eog(vocab, token) or token in stop_ids:
                reason = "stop"
                break
            if token == think_open and pending_tokens:
                flush(final=True)  # what came before the thinking goes in a batch of its own
            n_tokens += 1
            pending_tokens += 1
            piece = llm.detokenize([token], special=True)
            text += decoder.decode(piece)
            if stops:
                hit = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
                if hit >= 0:
                    text = text[:hit]
                    reason = "stop"
                    break
            if n_tokens >= max_tokens:
                break
            if stop_flag.is_set():
                reason = "stopped"
                break
            # The first token goes out at once (time to first token is what a person notices), the rest
            # in batches.
            if token == think_close:
                flush(final=True)  # the thinking ends this batch: the next one is answer only
            elif (n_tokens == 1 or pending_tokens >= FLUSH_TOKENS
                  or time.perf_counter() - last_send >= FLUSH_SECONDS):
                flush(final=False)
        text += decoder.decode(b"", final=True)
        flush(final=True)
        done(reason)
    except Exception as exc:
        done("error", f"{type(exc).__name__}: {exc}")
