"""`qwen3-explorer chat FILE [PROMPT]`: talk to one local GGUF from a terminal, through the same engine as the app.

The answer goes to stdout, the thinking and the stats to stderr (dimmed on a terminal), so
`qwen3-explorer chat model.gguf "question" > answer.md` keeps only the answer. Without PROMPT it reads
one message per line from stdin until EOF. The fit estimate decides the GPU layers and refuses a
model that does not fit unless --force. Ctrl+C stops the answer being written; a second one quits.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from explorer.chat.conversation import AnswerText, Conversation, EngineError, Finished, ThinkingText
from explorer.chat.records import StopReason
from explorer.chat.sandbox import RenderLimits, TemplateRenderer, prompt_cap
from explorer.chat.stats import format_stats
from explorer.chat.templates import ChatTemplateError, thinking_mode
from explorer.engine.client import Crashed, EngineClient, Loaded, LoadFailed, LoadProgress
from explorer.fit.estimate import Verdict, estimate_fit
from explorer.fit.schedule import n_gpu_layers_for
from explorer.gguf.model_info import inspect_model
from explorer.gguf.reader import GGUFError
from explorer.gguf.variant import Variant

DIM, RESET = "\033[2m", "\033[0m"
TEMPLATE_SECONDS = 5.0  # the longest a model's chat template may take to render a prompt


def _messages(args: argparse.Namespace) -> Iterator[str]:
    if args.prompt is not None:
        yield args.prompt
        return
    for line in sys.stdin:
        if line.strip():
            yield line.rstrip("\n")


def cmd_chat(args: argparse.Namespace, out: TextIO) -> int:
    err = sys.stderr
    dim = err.isatty()

    def note(text: str) -> None:
        err.write(f"{DIM}{text}{RESET}\n" if dim else f"{text}\n")
        err.flush()

    path: Path = args.file
    if not path.is_file():
        note(f"error: no such file: {path}")
        return 2
    try:
        info = inspect_model(path, fallback=Variant.INSTRUCT_2507)
    except GGUFError as exc:
        note(f"error: {path.name} is not a readable GGUF: {exc}")
        return 1
    template, variant, shape = info.template, info.variant, info.shape
    mode = thinking_mode(variant)
    thinking = mode.default_on if args.thinking is None else args.thinking
    if args.thinking is not None and not mode.can_toggle and args.thinking != mode.default_on:
        note(f"note: {mode.reason}")

    from explorer.hardware.probe import probe_hardware

    hw = probe_hardware(path.parent)
    fit = estimate_fit(shape, hw, ctx=args.ctx)
    if fit.verdict is Verdict.NO_FIT and not args.force:
        note(f"error: {path.name} at {args.ctx} tokens of context {fit.summary}. Use a smaller --ctx, "
             "or --force to load it anyway.")
        return 1
    note(f"{path.name}: {variant.label}, {fit.summary}; thinking {'on' if thinking else 'off'}")

    client = EngineClient()
    renderer = TemplateRenderer()
    previous = signal.getsignal(signal.SIGINT)
    try:
        client.start(path, n_ctx=args.ctx, n_gpu_layers=n_gpu_layers_for(fit), n_threads=args.threads,
                     seed=args.seed)
        with contextlib.suppress(ChatTemplateError):  # while the model loads; a failure shows at the render
            renderer.start()
        loaded = _wait_loaded(client, note, dim)
        if loaded is None:
            return 1
        limits = RenderLimits(seconds=TEMPLATE_SECONDS, max_prompt_bytes=prompt_cap(loaded.n_ctx))
        conv = Conversation(client, template=template, variant=variant, thinking=thinking, budget=args.budget,
                            max_tokens=args.max_tokens, seed=args.seed, n_ctx=loaded.n_ctx, render_limits=limits,
                            renderer=renderer)
        stopping = {"n": 0}

        def on_sigint(_sig: int, _frame: object) -> None:
            stopping["n"] += 1
            if stopping["n"] > 1:
                raise KeyboardInterrupt
            conv.stop()

        signal.signal(signal.SIGINT, on_sigint)
        for message in _messages(args):
            stopping["n"] = 0
            code = _one_message(conv, message, out, err, dim, args.json, note)
            if code:
                return code
        return 0
    except KeyboardInterrupt:
        note("interrupted")
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
        client.unload()
        renderer.close()


def _wait_loaded(client: EngineClient, note: Callable[[str], None], dim: bool) -> Loaded | None:
    t0 = time.monotonic()
    while True:
        for ev in client.poll(0.2):
            if isinstance(ev, LoadProgress):
                if dim:
                    sys.stderr.write(f"\r{DIM}loading… {ev.fraction:.0%}{RESET}")
            elif isinstance(ev, Loaded):
                if dim:
                    sys.stderr.write("\r")
                note(f"loaded in {ev.load_seconds:.1f} s")
                return ev
            elif isinstance(ev, (LoadFailed, Crashed)):
                note(f"error: {ev.message}")
                return None
        if time.monotonic() - t0 > 600:
            note("error: the model did not load in 10 minutes")
            return None


def _one_message(conv: Conversation, message: str, out: TextIO, err: TextIO, dim: bool, as_json: bool,
                 note: Callable[[str], None]) -> int:
    try:
        conv.send(message)
    except ChatTemplateError as exc:  # rejected, failed, too slow or too large: one line, no traceback
        note(f"error: {exc}")
        return 1
    thinking: list[str] = []
    answer: list[str] = []
    while True:
        for up in conv.pump(0.1):
            if isinstance(up, ThinkingText):
                thinking.append(up.text)
                if not as_json:
                    err.write(f"{DIM}{up.text}{RESET}" if dim else up.text)
                    err.flush()
            elif isinstance(up, AnswerText):
                if not answer and thinking and not as_json:
                    err.write("\n")
                answer.append(up.text)
                if not as_json:
                    out.write(up.text)
                    out.flush()
            elif isinstance(up, Finished):
                s = up.stats
                if as_json:
                    out.write(json.dumps({"message": message, "thinking": "".join(thinking),
                                          "answer": "".join(answer), "stats": s.to_json()}) + "\n")
                else:
                    out.write("\n")
                    note(format_stats(s))
                out.flush()
                return 1 if s.stop_reason is StopReason.ERROR else 0
            elif isinstance(up, EngineError):
                err.write(f"error: {up.message}\n")
                return 1
