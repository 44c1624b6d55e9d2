"""`complete`, `fim` and `sweep`: seed 003's experiments from a terminal, on the app's engine.

    qwen3-explorer complete FILE "The capital of Singapore is"       free-form: the text as typed
    qwen3-explorer fim FILE --prefix @head.py --suffix @tail.py      the middle, from the FIM tokens
    qwen3-explorer sweep FILE "Who are you?" --temperature 0,0.6,1.0,1.5 [--mode chat|free-form]

A sweep loads the model once and answers the prompt once per value, each from a fresh conversation
with the same seed; --json gives one object per answer.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from typing import Any, TextIO

from explorer.chat.records import PaneMode
from explorer.cli.model_run import ModelRun, exit_code, sampling_from, write_json
from explorer.gguf.fim import check_fim_input

SWEEPABLE = ("temperature", "top_p", "mode")


def cmd_complete(args: argparse.Namespace, out: TextIO) -> int:
    text = args.text if args.text is not None else sys.stdin.read()
    if not text:
        print("qwen3-explorer: nothing to complete: the text is empty", file=sys.stderr)
        return 2
    return _single(args, out, PaneMode.FREE_FORM, lambda conv: functools.partial(conv.send, text),
                   lambda a: {"text": text, "answer": a.answer})


def cmd_fim(args: argparse.Namespace, out: TextIO) -> int:
    prefix, suffix = args.prefix, args.suffix
    try:
        check_fim_input(prefix, suffix)  # before anything loads
    except ValueError as exc:
        print(f"qwen3-explorer: {exc}", file=sys.stderr)
        return 2

    def show(a: Any) -> dict[str, Any]:
        return {"prefix": prefix, "suffix": suffix, "middle": a.answer}

    code = _single(args, out, PaneMode.FIM, lambda conv: functools.partial(conv.send_fim, prefix, suffix), show,
                   echo_middle=not args.whole)
    return code


def _single(args: argparse.Namespace, out: TextIO, mode: PaneMode, start: Callable[[Any], Callable[[], None]],
            record: Callable[[Any], dict[str, Any]], *, echo_middle: bool = True) -> int:
    def body(run: ModelRun) -> int:
        try:
            sampling = sampling_from(args, thinking=False)
        except ValueError as exc:
            run.note(f"error: {exc}")
            return 2
        code = run.open_file(args, lambda info: f"; {mode.label.lower()}")
        if code:
            return code
        conv = run.conversation(thinking=False, max_tokens=args.max_tokens, seed=args.seed, sampling=sampling,
                                mode=mode)
        answer = run.stream(conv, start(conv), out, echo=echo_middle and not args.json, show_stats=not args.json)
        if answer is not None:
            if args.json:
                write_json(out, {**record(answer), "stats": answer.stats.to_json()})
            elif not echo_middle:  # fim --whole
                out.write(args.prefix + answer.answer + args.suffix)
                out.flush()
        return exit_code(answer)

    return ModelRun.guarded(body)


def cmd_sweep(args: argparse.Namespace, out: TextIO) -> int:
    swept = [name for name in SWEEPABLE if getattr(args, name) is not None and len(getattr(args, name)) > 1]
    if len(swept) > 1:
        print("qwen3-explorer: sweep one of --temperature, --top-p or --mode at a time", file=sys.stderr)
        return 2
    name = swept[0] if swept else "temperature"
    values: list[Any] = getattr(args, name) or [0.0, 0.6, 1.0, 1.5]
    if name == "mode":
        values = [PaneMode(v) for v in values]
    fixed = {k: getattr(args, k)[0] for k in ("temperature", "top_p") if getattr(args, k) and k != name}
    try:
        for v in values if name != "mode" else [None]:  # every value is checked before anything loads
            sampling_from(args, args.thinking, **fixed, **({name: v} if v is not None else {}))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def body(run: ModelRun) -> int:
        code = run.open_file(args, lambda info: f"; {len(values)} answers, {name.replace('_', '-')} swept")
        if code:
            return code
        worst = 0
        for value in values:
            mode = value if name == "mode" else (PaneMode(args.mode[0]) if args.mode else None)
            override = {} if name == "mode" else {name: value}
            conv = run.conversation(thinking=args.thinking, max_tokens=args.max_tokens, seed=args.seed,
                                    sampling=sampling_from(args, args.thinking, **fixed, **override), mode=mode)
            label = f"mode {value.value}" if isinstance(value, PaneMode) else f"{name.replace('_', '-')} {value:g}"
            if not args.json:
                out.write(f"--- {label} ---\n")
                out.flush()
            answer = run.stream(conv, functools.partial(conv.send, args.prompt), out, echo=not args.json)
            if answer is not None and args.json:
                write_json(out, {name: value.value if isinstance(value, PaneMode) else value, "seed": args.seed,
                                 "thinking": answer.thinking, "answer": answer.answer,
                                 "stats": answer.stats.to_json()})
            worst = max(worst, exit_code(answer))
        return worst

    return ModelRun.guarded(body)
