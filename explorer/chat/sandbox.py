"""Render a model's chat template where a runaway one cannot hurt the app: a renderer process.

A GGUF's chat template is code from the file. Jinja's sandbox stops it from touching the system, not
from computing ``(n+9)**(10**9)`` for minutes while holding the GIL, looping over ``range(100000)``
twice, or building ``'x'*10**9``. So a `TemplateRenderer` renders in a child process of its own, with

- a time limit (`RenderLimits.seconds`): the child is killed and `ChatTemplateTimeout` says "the
  model's chat template did not finish in N s";
- a memory limit (`RenderLimits.memory_bytes` more address space than the child starts with,
  RLIMIT_AS on Linux): the render fails with MemoryError, reported as one line;
- a size limit on the prompt in characters (`RenderLimits.max_prompt_bytes`, by default 32 characters
  per token of the context, `prompt_cap`): a prompt larger than the context could never be used, so
  the render stops as soon as it passes that. Qwen's tokenizer makes single tokens of long runs of
  dashes or spaces (16 characters and more), so the cap is generous: it is there against a template
  that builds megabytes, not to judge a prompt that fits.

Every failure is a `ChatTemplateError` with a one-line message. The child lives as long as its
renderer (one per chat pane, started while the model loads) and keeps the compiled templates, so a
render costs a pipe round trip and the render itself (well under a millisecond for Qwen's templates),
not a process start. A child that overran its time is killed, and one that ran out of memory exits:
the next render starts a fresh one.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from explorer.chat.templates import ChatTemplateError, compiled_template, describe_render_error
from explorer.units import KIB, MIB

CHARS_PER_TOKEN = 32  # no prompt that fits in the context has more characters than this per token
MIN_PROMPT_CHARS = 64 * KIB


class ChatTemplateTimeout(ChatTemplateError):
    """The template did not finish rendering in the time allowed (its process was killed)."""


@dataclass(frozen=True)
class RenderLimits:
    seconds: float = 5.0
    memory_bytes: int = 512 * MIB  # address space the render may add to the child's own
    max_prompt_bytes: int | None = None  # characters (the name is older); None: no limit but memory's


def prompt_cap(n_ctx: int) -> int:
    """The largest prompt, in characters, worth rendering for a context of `n_ctx` tokens."""
    return max(MIN_PROMPT_CHARS, n_ctx * CHARS_PER_TOKEN)


class _TooLarge(Exception):
    pass


def _render_limited(template: str, context: Mapping[str, Any], max_chars: int | None) -> str:
    parts: list[str] = []
    size = 0
    for chunk in compiled_template(template).generate(**context):
        size += len(chunk)
        if max_chars is not None and size > max_chars:
            raise _TooLarge
        parts.append(chunk)
    return "".join(parts)


def _limit_memory(extra: int) -> None:
    try:
        import resource
    except ImportError:  # not on Windows
        return
    try:
        with open("/proc/self/statm") as fh:
            now = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        now = 0
    limit = now + extra if now else extra + 256 * MIB
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


_NO_MEMORY = "the chat template needed more than {} MiB of memory"


def _serve(conn: Connection, memory_bytes: int) -> None:
    """The renderer process: limit its memory once, then render each request until the pipe closes.

    A request is (template, context, max_chars); the answer (kind, text, exiting): ("ok", prompt, False)
    or ("error", message, exiting). After a MemoryError it answers with `exiting` True and exits (its
    heap may be in no state to go on), so the parent replaces it at once. It ignores SIGINT (Ctrl+C in
    a terminal reaches the whole process group): the parent ends it when it must."""
    with contextlib.suppress(ValueError, OSError, AttributeError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _limit_memory(memory_bytes)
    no_memory = _NO_MEMORY.format(memory_bytes // MIB)
    while True:
        try:
            template, context, max_chars = conn.recv()
        except (EOFError, OSError):
            return
        out_of_memory = False
        try:
            result: tuple[str, str, bool] = ("ok", _render_limited(template, context, max_chars), False)
        except _TooLarge:
            result = ("error", f"the chat template's prompt is larger than {max_chars:,} characters, "
                               "more than the context can hold", False)
        except MemoryError:
            result, out_of_memory = ("error", no_memory, True), True
        except BaseException as e:  # every failure of the template's code is one line
            result = ("error", describe_render_error(e), False)
        try:
            conn.send(result)
        except MemoryError:
            out_of_memory = True
            conn.send(("error", no_memory, True))
        if out_of_memory:
            return


class TemplateRenderer:
    """Renders chat templates in its own child process within `RenderLimits` (see the module's doc).

    Use from one thread at a time (a lock guards it anyway); `render` blocks that thread for up to
    `limits.seconds`, so never call it on a GUI thread. `start` starts the child ahead of the first
    render (a chat pane does it while its model loads); `close` ends it."""

    def __init__(self, memory_bytes: int = RenderLimits.memory_bytes) -> None:
        self.memory_bytes = memory_bytes
        self._lock = threading.Lock()
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None
        self.starts = 0  # how many children it has started (a test sees a killed one replaced)

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        proc = self._proc
        return proc.pid if proc is not None else None

    def start(self) -> None:
        with self._lock:
            self._ensure()

    def _ensure(self) -> Connection:
        if self._conn is not None and self._proc is not None and self._proc.is_alive():
            return self._conn
        self._stop()
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=_serve, args=(child, self.memory_bytes), name="explorer-chat-template",
                           daemon=True)
        try:
            proc.start()
        except OSError as e:
            parent.close()
            raise ChatTemplateError(f"could not start a process to render the chat template: {e}") from e
        finally:
            child.close()
        self._proc, self._conn = proc, parent
        self.starts += 1
        return parent

    def _stop(self) -> None:
        conn, proc = self._conn, self._proc
        self._conn = self._proc = None
        if conn is not None:
            conn.close()
        if proc is not None:
            if proc.is_alive():
                proc.kill()
            proc.join(5)
            with contextlib.suppress(ValueError):
                proc.close()

    def close(self) -> None:
        with self._lock:
            self._stop()

    def render(self, template: str, messages: list[dict[str, str]], *, enable_thinking: bool | None,
               add_generation_prompt: bool = True, variables: Mapping[str, Any] | None = None,
               limits: RenderLimits | None = None) -> str:
        """`templates.render_prompt` in the child within `limits`; ChatTemplateError on any failure.

        Even the compile happens in the child: Jinja folds constant expressions such as ``'x'*10**9``
        then."""
        limits = limits or RenderLimits(memory_bytes=self.memory_bytes)
        context: dict[str, Any] = dict(variables or {})
        context["messages"] = messages
        context["add_generation_prompt"] = add_generation_prompt
        if enable_thinking is not None:
            context["enable_thinking"] = enable_thinking
        with self._lock:
            conn = self._ensure()
            try:
                conn.send((template, context, limits.max_prompt_bytes))
                if not conn.poll(limits.seconds):
                    self._stop()
                    raise ChatTemplateTimeout(f"the model's chat template did not finish in {limits.seconds:g} s")
                kind, text, exiting = conn.recv()
            except (EOFError, OSError):
                code = self._proc.exitcode if self._proc is not None else None
                self._stop()
                raise ChatTemplateError(f"the chat template's process ended without a prompt "
                                        f"(exit code {code})") from None
            if exiting:  # it ran out of memory and is ending: the next render starts a fresh one
                self._stop()
        if kind != "ok":
            raise ChatTemplateError(text)
        return str(text)

    def __enter__(self) -> TemplateRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def render_isolated(template: str, messages: list[dict[str, str]], *, enable_thinking: bool | None,
                    add_generation_prompt: bool = True, variables: Mapping[str, Any] | None = None,
                    limits: RenderLimits | None = None) -> str:
    """One render in a renderer of its own (started and ended here): for a one-off; a chat keeps one."""
    limits = limits or RenderLimits()
    with TemplateRenderer(limits.memory_bytes) as renderer:
        return renderer.render(template, messages, enable_thinking=enable_thinking,
                               add_generation_prompt=add_generation_prompt, variables=variables, limits=limits)
