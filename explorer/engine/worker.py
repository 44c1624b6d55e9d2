"""The child side of the engine: one process per loaded model, talking to `client.EngineClient` over a Pipe.

`worker_main` runs in a process started with the "spawn" context. It imports llama_cpp (only here, in
the child), loads the model, reports `Loaded` or `LoadFailed`, then serves requests until told to
exit. `spare_main` is the same child started ahead of time: it imports llama_cpp, says `SpareReady`,
and waits for the `Load` that makes it the worker of a model (starting a Python process and importing
llama_cpp is a fifth of switching a pane to another model; a spare has done both already).

Generation runs token by token; between tokens it checks the shared stop flag, so a stop takes
effect within one token. Text goes back in batches (`Tokens`) at most every ~30 ms or 16 tokens.

The message types are messages.py's (both sides use them), and generation is generation.py's.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

from explorer.engine.generation import _generate, _has_fim, _prefill, think_tokens
from explorer.engine.messages import (
    Exit,
    GenerateRequest,
    Load,
    Loaded,
    LoadFailed,
    LoadProgress,
    Prefill,
    SpareReady,
    _Conn,
    _Flag,
)
from explorer.hardware.cores import physical_cores

WORKER_NICENESS = 5



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
    think = think_tokens(llm)  # once per model: each answer's batches end at these tokens
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the parent went away
        if isinstance(msg, Exit):
            return
        if isinstance(msg, GenerateRequest):
            _generate(llm, conn, stop_flag, msg, think)
        elif isinstance(msg, Prefill):
            _prefill(llm, conn, msg)

