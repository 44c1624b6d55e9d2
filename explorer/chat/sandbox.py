"""Render a model's chat template where a runaway one cannot hurt the app: a short-lived child process.

A GGUF's chat template is code from the file. Jinja's sandbox stops it from touching the system, not
from computing ``(n+9)**(10**9)`` for minutes while holding the GIL, looping over ``range(100000)``
twice, or building ``'x'*10**9``. So `render_isolated` renders in a child process with

- a time limit (`RenderLimits.seconds`): the child is killed and `ChatTemplateTimeout` says "the
  model's chat template did not finish in N s";
- a memory limit (`RenderLimits.memory_bytes` more address space than the child starts with,
  RLIMIT_AS on Linux): the render fails with MemoryError, reported as one line;
- a size limit on the prompt (`RenderLimits.max_prompt_bytes`, by default 8 bytes per token of the
  context, `prompt_cap`): a prompt larger than the context could never be used, so the render stops
  as soon as it passes that.

Every failure is a `ChatTemplateError` with a one-line message. The children are forked from a
small server process (multiprocessing "forkserver", started once, with this module preloaded), so
a render costs a fork and the template's compile, not a Python start; where there is no fork
server (macOS, Windows) each child is spawned.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, SpawnContext
from typing import Any

from explorer.chat.templates import ChatTemplateError, compiled_template, describe_render_error

BYTES_PER_TOKEN = 8  # no prompt that fits in the context is larger than this per token
MIN_PROMPT_BYTES = 64 * 1024


class ChatTemplateTimeout(ChatTemplateError):
    """The template did not finish rendering in the time allowed (its process was killed)."""


@dataclass(frozen=True)
class RenderLimits:
    seconds: float = 5.0
    memory_bytes: int = 512 * 1024 * 1024  # address space the render may add to the child's own
    max_prompt_bytes: int | None = None  # None: no limit on the prompt's size (but memory's)


def prompt_cap(n_ctx: int) -> int:
    """The largest prompt worth rendering for a context of `n_ctx` tokens."""
    return max(MIN_PROMPT_BYTES, n_ctx * BYTES_PER_TOKEN)


class _TooLarge(Exception):
    pass


def _render_limited(template: str, context: Mapping[str, Any], max_bytes: int | None) -> str:
    parts: list[str] = []
    size = 0
    for chunk in compiled_template(template).generate(**context):
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
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
    limit = now + extra if now else extra + 256 * 1024 * 1024
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _child(conn: Connection, template: str, context: dict[str, Any], limits: RenderLimits) -> None:
    """The render process: limit its memory, render, send ("ok", prompt) or ("error", message)."""
    _limit_memory(limits.memory_bytes)
    try:
        result: tuple[str, str] = ("ok", _render_limited(template, context, limits.max_prompt_bytes))
    except _TooLarge:
        result = ("error", f"the chat template's prompt is larger than {limits.max_prompt_bytes:,} bytes, "
                           "more than the context can hold")
    except MemoryError:
        result = ("error", f"the chat template needed more than {limits.memory_bytes // 2**20} MiB of memory")
    except ChatTemplateError as e:
        result = ("error", str(e))
    except BaseException as e:  # every failure of the template's code is one line
        result = ("error", describe_render_error(e))
    try:
        conn.send(result)
    except MemoryError:
        conn.send(("error", f"the chat template needed more than {limits.memory_bytes // 2**20} MiB of memory"))
    conn.close()


def _skip_main_in_children() -> None:
    """In the fork server only: its children (renders) do not run the app's main script again.

    multiprocessing prepares every child by re-running the parent's main script (`qwen3-explorer`
    imports the CLI and more: 250 ms a render; 25 ms without). A render needs none of it: its target
    is this module's `_child`, which the fork server has preloaded."""
    if sys.argv[:1] == ["-c"] and "multiprocessing.forkserver" in sys.modules:
        import multiprocessing.spawn as spawn

        if hasattr(spawn, "_fixup_main_from_path"):
            spawn._fixup_main_from_path = lambda main_path: None


_skip_main_in_children()


def _context() -> ForkServerContext | SpawnContext:
    if sys.platform.startswith("linux"):
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        return ctx
    return multiprocessing.get_context("spawn")


def render_isolated(template: str, messages: list[dict[str, str]], *, enable_thinking: bool | None,
                    add_generation_prompt: bool = True, variables: Mapping[str, Any] | None = None,
                    limits: RenderLimits | None = None) -> str:
    """`templates.render_prompt` in a child process within `limits`; ChatTemplateError on any failure.

    It blocks the calling thread for up to `limits.seconds` (never call it on a GUI thread). Even the
    compile happens in the child: Jinja folds constant expressions such as ``'x'*10**9`` then."""
    limits = limits or RenderLimits()
    context: dict[str, Any] = dict(variables or {})
    context["messages"] = messages
    context["add_generation_prompt"] = add_generation_prompt
    if enable_thinking is not None:
        context["enable_thinking"] = enable_thinking
    ctx = _context()
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, template, context, limits), name="explorer-chat-template",
                       daemon=True)
    try:
        proc.start()
    except OSError as e:
        parent.close()
        raise ChatTemplateError(f"could not start a process to render the chat template: {e}") from e
    finally:
        child.close()
    try:
        if not parent.poll(limits.seconds):
            raise ChatTemplateTimeout(f"the model's chat template did not finish in {limits.seconds:g} s")
        try:
            kind, text = parent.recv()
        except (EOFError, OSError):
            proc.join(1)
            raise ChatTemplateError(f"the chat template's process ended without a prompt "
                                    f"(exit code {proc.exitcode})") from None
    finally:
        parent.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        with contextlib.suppress(ValueError):
            proc.close()
    if kind != "ok":
        raise ChatTemplateError(text)
    return str(text)
