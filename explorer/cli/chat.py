"""`qwen3-explorer chat FILE [PROMPT]`: talk to one local GGUF from a terminal, through the same engine as the app.

The answer goes to stdout, the thinking and the stats to stderr (dimmed on a terminal), so
`qwen3-explorer chat model.gguf "question" > answer.md` keeps only the answer. Without PROMPT it reads
one message per line from stdin until EOF. The fit estimate decides the GPU layers and refuses a
model that does not fit unless --force. Ctrl+C stops the answer being written; a second one quits.
With --escalate-to THINKING_FILE a thinking model answers the same conversation again on /escalate, or
by itself with --auto (`explorer.cli.escalate`).

With --endpoint URL (and --api-key-env VAR) the model is MODEL on an OpenAI-compatible server
(`explorer.cli.remote`): nothing loads here, and the answer streams in the same way.
"""

from __future__ import annotations

import argparse
import functools
import signal
import sys
import time
from collections.abc import Iterator
from typing import TextIO

from explorer.chat.escalation import ESCALATE_COMMANDS
from explorer.chat.templates import thinking_mode
from explorer.cli.escalate import Escalator, check_target, plan_layers
from explorer.cli.model_run import ModelRun, exit_code, sampling_from, write_json
from explorer.cli.remote import resolve_endpoint
from explorer.gguf.variant import Variant


def _messages(args: argparse.Namespace) -> Iterator[str]:
    if args.prompt is not None:
        yield args.prompt
        return
    for line in sys.stdin:
        if line.strip():
            yield line.rstrip("\n")


def cmd_chat(args: argparse.Namespace, out: TextIO) -> int:
    escalate_to = getattr(args, "escalate_to", None)
    endpoint_arg = getattr(args, "endpoint", None)

    def thinking_for(variant: Variant) -> bool:
        mode = thinking_mode(variant)
        if args.thinking is None:  # escalating: the fast model answers without thinking where it can
            return mode.default_on and not (escalate_to is not None and mode.can_toggle)
        return bool(args.thinking)

    try:
        sampling_from(args, thinking=True)  # a value out of range is refused before anything loads
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "auto", False) and escalate_to is None:
        print("error: --auto needs --escalate-to THINKING_FILE", file=sys.stderr)
        return 2
    if endpoint_arg is not None and escalate_to is not None:
        print("error: --escalate-to needs a local model file (not --endpoint)", file=sys.stderr)
        return 2
    endpoint = resolve_endpoint(endpoint_arg, getattr(args, "api_key_env", None)) if endpoint_arg else None
    if isinstance(endpoint, str):
        print(f"error: {endpoint}", file=sys.stderr)
        return 2
    if endpoint is None and getattr(args, "api_key_env", None):
        print("error: --api-key-env goes with --endpoint", file=sys.stderr)
        return 2
    target = check_target(escalate_to) if escalate_to is not None else None
    if isinstance(target, str):
        print(f"error: {target}", file=sys.stderr)
        return 2

    def body(run: ModelRun) -> int:
        layers = plan_layers(args, target) if target is not None else (None, None)
        if isinstance(layers, str):
            run.note(f"error: {layers}")
            return 1
        if endpoint is not None:
            code = run.open_remote(endpoint.url, str(args.file), api_key=endpoint.api_key,
                                   soft_switch=endpoint.soft_switch)
        else:
            code = run.open(args.file, ctx=args.ctx, threads=args.threads, seed=args.seed, force=args.force,
                            n_gpu_layers=layers[0],
                            describe=lambda info: f"; thinking {'on' if thinking_for(info.variant) else 'off'}")
        if code:
            return code
        mode = thinking_mode(run.variant)
        if args.thinking is not None and not mode.can_toggle and args.thinking != mode.default_on:
            run.note(f"note: {mode.reason}" if run.remote is None or run.remote_variant is not None else
                      "note: the model's name does not say it is a hybrid Qwen3: thinking is left to the server")
        if target is not None and mode.always:
            run.note(f"note: {args.file.name} always thinks: the escalation compares two thinking models")
        thinking = thinking_for(run.variant)
        conv = run.conversation(thinking=thinking, budget=args.budget, max_tokens=args.max_tokens, seed=args.seed,
                                sampling=sampling_from(args, thinking), system=args.system)
        escalator = Escalator(args, target, run.err) if target is not None else None
        stopping = {"n": 0}

        def on_sigint(_sig: int, _frame: object) -> None:  # the first Ctrl+C stops the answer, a second quits
            stopping["n"] += 1
            if stopping["n"] > 1:
                raise KeyboardInterrupt
            conv.stop()
            if escalator is not None:
                escalator.stop()

        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            if escalator is not None:
                if code := escalator.open(layers[1]):
                    return code
                if args.prompt is None and sys.stdin.isatty():
                    run.note(f"{' or '.join(ESCALATE_COMMANDS)}: ask {escalator.target.path.name} the latest question")
            for message in _messages(args):
                stopping["n"] = 0
                if escalator is not None and message.strip() in ESCALATE_COMMANDS:
                    if code := escalator.command(conv, message.strip(), out):
                        return code
                    continue
                t0 = time.monotonic()
                answer = run.stream(conv, functools.partial(conv.send, message), out, echo=not args.json)
                seconds = time.monotonic() - t0
                if answer is not None and args.json:
                    write_json(out, {"message": message, "thinking": answer.thinking, "answer": answer.answer,
                                     "stats": answer.stats.to_json()})
                if code := exit_code(answer):
                    return code
                assert answer is not None
                if escalator is not None and (code := escalator.fast_answered(conv, message, answer, seconds, out)):
                    return code
            return 0
        finally:
            signal.signal(signal.SIGINT, previous)
            if escalator is not None:
                escalator.close()

    return ModelRun.guarded(body)
