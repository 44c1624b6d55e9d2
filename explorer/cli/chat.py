"""`qwen3-explorer chat FILE [PROMPT]`: talk to one local GGUF from a terminal, through the same engine as the app.

The answer goes to stdout, the thinking and the stats to stderr (dimmed on a terminal), so
`qwen3-explorer chat model.gguf "question" > answer.md` keeps only the answer. Without PROMPT it reads
one message per line from stdin until EOF. The fit estimate decides the GPU layers and refuses a
model that does not fit unless --force. Ctrl+C stops the answer being written; a second one quits.
"""

from __future__ import annotations

import argparse
import functools
import signal
import sys
from collections.abc import Iterator
from typing import TextIO

from explorer.chat.templates import thinking_mode
from explorer.cli.model_run import ModelRun, exit_code, sampling_from, write_json
from explorer.gguf.model_info import ModelInfo


def _messages(args: argparse.Namespace) -> Iterator[str]:
    if args.prompt is not None:
        yield args.prompt
        return
    for line in sys.stdin:
        if line.strip():
            yield line.rstrip("\n")


def cmd_chat(args: argparse.Namespace, out: TextIO) -> int:
    def thinking_for(info: ModelInfo) -> bool:
        mode = thinking_mode(info.variant)
        return mode.default_on if args.thinking is None else bool(args.thinking)

    try:
        sampling_from(args, thinking=True)  # a value out of range is refused before anything loads
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def body(run: ModelRun) -> int:
        code = run.open_file(args, lambda info: f"; thinking {'on' if thinking_for(info) else 'off'}")
        if code:
            return code
        assert run.info is not None
        mode = thinking_mode(run.info.variant)
        if args.thinking is not None and not mode.can_toggle and args.thinking != mode.default_on:
            run.note(f"note: {mode.reason}")
        thinking = thinking_for(run.info)
        conv = run.conversation(thinking=thinking, budget=args.budget, max_tokens=args.max_tokens, seed=args.seed,
                                sampling=sampling_from(args, thinking), system=args.system)
        stopping = {"n": 0}

        def on_sigint(_sig: int, _frame: object) -> None:  # the first Ctrl+C stops the answer, a second quits
            stopping["n"] += 1
            if stopping["n"] > 1:
                raise KeyboardInterrupt
            conv.stop()

        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            for message in _messages(args):
                stopping["n"] = 0
                answer = run.stream(conv, functools.partial(conv.send, message), out, echo=not args.json)
                if answer is not None and args.json:
                    write_json(out, {"message": message, "thinking": answer.thinking, "answer": answer.answer,
                                     "stats": answer.stats.to_json()})
                if code := exit_code(answer):
                    return code
            return 0
        finally:
            signal.signal(signal.SIGINT, previous)

    return ModelRun.guarded(body)
