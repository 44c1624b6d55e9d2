"""Prompt reuse across the turns of a chat: what each turn prefills, and what that does to its TTFT.

    .venv/bin/python bench/turns.py [--samples 4] [--answer-tokens 16] [--json out.json]

A 6-turn conversation goes through the app's own path (`Conversation` renders each turn's prompt with
the chat template in the pane's renderer process, `EngineClient` runs it in the worker); every
question has the same length, so turn 6 prefills as much new text as turn 1 and differs only by the
conversation before it, which llama-cpp-python finds in its KV cache (`Llama.generate` keeps the
longest common token prefix of the new prompt and the cached one), and, as a pane does after each
answer, `Conversation.warm` decodes the history as the next prompt will render it while the person
reads (`--no-warm`: without it, as before). Then a Regenerate: the same
conversation minus the last answer, asked again as a pane does it (ui/chat/driver.py `_send`).

Part 1, on the 0.6B-shaped model (Qwen3-0.6B's layer sizes, random weights, Q8_0): the TTFT of turn 6
against turn 1 (goal: within 1.2x) and of the Regenerate, and the tokens each prefilled (the worker's
`Done.prompt_eval_tokens`: what llama.cpp evaluated, the rest came from its cache), for three
prompt styles: the hybrid template with thinking off, with thinking on, and the Instruct-2507
template. A random-weights model writes no `<think>` block, so here thinking on renders like
Instruct-2507.

Part 2, on the scripted model (`explorer.testing.scripted`: a real Qwen3 GGUF whose weights write a
fixed thinking and answer), token counts only: the hybrid template renders an earlier answer without
the `<think>` block it was generated with (thinking on) or the empty block of the prompt (thinking off),
so the cached tokens stop where the previous answer starts and the previous answer is prefilled again
with the new question.

The TTFT figures are samples taken in pairs, in alternating order: a turn 1 (a new conversation) on one
worker and a turn 6 (the conversation's 6th question, a different one each time, taken back after its
first token; before it, answer 5 is regenerated, untimed, so that the cache holds what it held right
after answer 5) on a second worker of the same model that holds the 5-turn conversation, so neither
evicts the other's cache. Printed: medians of each, their ratio and the median of the pairs' ratios;
the tokens prefilled and TTFT of every turn of the conversation itself (turn 6 with its answer) and of
its Regenerate.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.chat.conversation import Conversation, Finished
from explorer.chat.records import MessageStats
from explorer.chat.sandbox import TemplateRenderer
from explorer.engine.client import EngineClient, Loaded, LoadFailed
from explorer.engine.messages import Crashed, Done
from explorer.gguf.variant import Variant
from explorer.hardware.cores import physical_cores
from explorer.testing.models import QWEN3_0_6B_SHAPE, ensure_model, template_text
from explorer.testing.scripted import ensure_scripted_model

N_CTX = 4096
TURNS = 6
# Every question has this many characters (the test vocabulary has about a token per character); the
# first character differs between samples, so a turn 6 finds no more than "<|im_start|>user\n" of the
# sample before it cached.
QUESTION = "{tag} Which is the larger of {a} and {b}, and why so?"
QUESTION_CHARS = len(QUESTION.format(tag="Xx", a="00", b="00"))
STYLES = {  # name: (variant, template variant, thinking)
    "hybrid, thinking off": (Variant.HYBRID, "hybrid", False),
    "hybrid, thinking on": (Variant.HYBRID, "hybrid", True),
    "instruct-2507": (Variant.INSTRUCT_2507, "instruct-2507", False),
}


def question(n: int, turn: int) -> str:
    tag = chr(ord("A") + n % 26) + chr(ord("a") + turn)
    q = QUESTION.format(tag=tag, a=f"{(7 * turn + n) % 100:02d}", b=f"{(3 * turn + 2 * n) % 100:02d}")
    assert len(q) == QUESTION_CHARS
    return q


def finish(conv: Conversation) -> tuple[MessageStats, float]:
    """Pump until the message ends; its stats and the time the first text (or the end) reached this process."""
    t0 = time.perf_counter()
    seen = 0.0
    while True:
        for up in conv.pump(1.0):
            if not seen:
                seen = time.perf_counter() - t0
            if isinstance(up, Finished):
                if up.stats.message:
                    raise SystemExit(f"generation failed: {up.stats.message}")
                return up.stats, seen


def new_conversation(client: EngineClient, renderer: TemplateRenderer, style: str, seed: int, answer_tokens: int,
                     n_ctx: int = N_CTX) -> Conversation:
    variant, template, thinking = STYLES[style]
    return Conversation(client, template=template_text(template), variant=variant, thinking=thinking,
                        max_tokens=answer_tokens, seed=seed, n_ctx=n_ctx, renderer=renderer)


WARM = True  # --no-warm: as before Conversation.warm, the next turn decodes the re-rendered history itself
READ_PAUSE = 1.5  # seconds the person "reads" an answer, while the pane's worker warms the next prompt


def ask(conv: Conversation, text: str, turn: int | str) -> dict[str, Any]:
    conv.send(text)
    stats, seen = finish(conv)
    if WARM and conv.warm():  # what a pane does after each answer (ui/chat/driver.py)
        time.sleep(READ_PAUSE)
    return {"turn": turn, "prompt_tokens": stats.prompt_tokens, "prefilled": stats.prompt_eval_tokens,
            "ttft": stats.ttft_s, "ttft_seen": seen, "answer_tokens": stats.n_tokens}


def regenerate(conv: Conversation) -> dict[str, Any]:
    """As a pane does it (ui/chat/driver.py `_send`): the last answer and its question go, the question is
    asked again."""
    asked = conv.messages[-2].content
    del conv.messages[-2:]
    return ask(conv, asked, "regenerate")


def conversation(client: EngineClient, renderer: TemplateRenderer, style: str, n: int, answer_tokens: int,
                 *, n_ctx: int = N_CTX) -> list[dict[str, Any]]:
    """One conversation of TURNS turns and a Regenerate of the last: per generation, its prompt tokens, the
    tokens prefilled and the TTFT (the worker's, and as this process saw it)."""
    conv = new_conversation(client, renderer, style, n, answer_tokens, n_ctx)
    out = [ask(conv, question(n, turn), turn) for turn in range(1, TURNS + 1)]
    return [*out, regenerate(conv)]


def cold(client: EngineClient) -> None:
    """Leave nothing in the worker's cache that a chat prompt starts with (as after a load): a turn 1 then
    prefills its whole prompt, "<|im_start|>user\n" too."""
    client.generate("cold", "x", max_tokens=1, raw=True)
    while not any(isinstance(ev, Done) for ev in client.poll(1.0)):
        pass


def timed_style(history: EngineClient, fresh: EngineClient, renderer: TemplateRenderer, style: str, n: int,
                answer_tokens: int, samples: int) -> dict[str, Any]:
    """Turns 1-5 on `history`, then `samples` pairs of a turn 1 (a new conversation, on `fresh`) and a turn 6
    (on `history`: a new last question each time, then taken back), in alternating order; then turn 6
    with its answer, and its Regenerate. Two workers of the same model, so that a turn 1 never evicts
    the conversation that turn 6 needs from the KV cache."""
    conv = new_conversation(history, renderer, style, n, answer_tokens)
    turns = [ask(conv, question(n, turn), turn) for turn in range(1, TURNS)]
    firsts, sixths = [], []
    prompts: dict[str, str] = {}
    for i in range(samples):
        def first(i: int = i) -> None:
            cold(fresh)
            one = new_conversation(fresh, renderer, style, n, 1)
            firsts.append(ask(one, question(n + 1 + i, 1), 1))
            prompts["turn 1"] = one.last_prompt or ""

        def sixth(i: int = i) -> None:
            if i:  # back to the cache right after answer 5 (the hybrid template re-renders answer 5 otherwise)
                conv.max_tokens = answer_tokens
                regenerate(conv)
            conv.max_tokens = 1
            sixths.append(ask(conv, question(n + 1 + i, TURNS), TURNS))
            prompts["turn 6"] = conv.last_prompt or ""
            del conv.messages[-2:]

        for step in ((first, sixth) if i % 2 == 0 else (sixth, first)):
            step()
    conv.max_tokens = answer_tokens
    turns.append(ask(conv, question(n, TURNS), TURNS))
    turns.append(regenerate(conv))
    med = statistics.median
    ratios = [s["ttft"] / f["ttft"] for f, s in zip(firsts, sixths, strict=True)]
    return {"turns": turns, "turn1_samples": firsts, "turn6_samples": sixths,
            "ttft_turn1_s": med(f["ttft"] for f in firsts), "ttft_turn6_s": med(s["ttft"] for s in sixths),
            "prefilled_turn1": med(f["prefilled"] for f in firsts),
            "prefilled_turn6": med(s["prefilled"] for s in sixths),
            "paired_ratio_median": med(ratios), "paired_ratios": ratios, "prompts": prompts}


def load(client: EngineClient, path: Path, threads: int, n_ctx: int = N_CTX) -> None:
    client.start(path, n_ctx=n_ctx, n_threads=threads)
    for ev in client.events(timeout=300):
        if isinstance(ev, Loaded):
            return
        if isinstance(ev, (LoadFailed, Crashed)):
            raise SystemExit(f"load failed: {ev.message}")
    raise SystemExit("the model did not load")


def counts_on_the_scripted_model(renderer: TemplateRenderer) -> dict[str, list[dict[str, float]]]:
    """Part 2: what the hybrid template's history costs when the model really writes a thinking block."""
    out = {}
    with EngineClient() as client:
        load(client, ensure_scripted_model(), 2, n_ctx=8192)
        for n, style in enumerate(("hybrid, thinking off", "hybrid, thinking on")):
            out[style] = conversation(client, renderer, style, 100 + n, 4096, n_ctx=8192)
    return out


def tokenizing(path: Path, styles: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Milliseconds llama.cpp takes to tokenize each style's turn 1 and turn 6 prompts (median of 5), in
    this process on the file's vocabulary. The generated vocabulary pads its 151,936 rows with tokens
    typed USER_DEFINED, which llama.cpp scans every prompt for; Qwen's own files type them UNUSED, so
    there this cost is about a millisecond."""
    import llama_cpp

    vocab = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
    out: dict[str, dict[str, float]] = {}
    for style, got in styles.items():
        out[style] = {}
        for turn, prompt in got["prompts"].items():
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                vocab.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
                times.append((time.perf_counter() - t0) * 1000)
            out[style][turn] = statistics.median(times)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=4, help="turn 1 / turn 6 pairs per prompt style")
    ap.add_argument("--answer-tokens", type=int, default=16, help="each answer's length (max_tokens)")
    ap.add_argument("--threads", type=int, default=physical_cores())
    ap.add_argument("--no-warm", action="store_true", help="no idle prefill after an answer (the app before it)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    global WARM
    WARM = not args.no_warm

    path = ensure_model(QWEN3_0_6B_SHAPE)
    print(f"model: {path.name}; {args.threads} threads, ctx {N_CTX}; questions of {QUESTION_CHARS} characters, "
          f"answers of {args.answer_tokens} tokens; idle prefill after each answer {'on' if WARM else 'off'} "
          f"({READ_PAUSE} s to read); load average {os.getloadavg()[0]:.2f}")
    renderer = TemplateRenderer()
    result: dict[str, Any] = {"model": path.name, "threads": args.threads, "answer_tokens": args.answer_tokens,
                              "question_chars": QUESTION_CHARS, "samples": args.samples, "styles": {}}
    with EngineClient() as history, EngineClient() as fresh:
        for client in (history, fresh):
            load(client, path, args.threads)
            conversation(client, renderer, "instruct-2507", 90, 2)  # warm-up (first-touch allocations)
        for n, style in enumerate(STYLES):
            result["styles"][style] = timed_style(history, fresh, renderer, style, 10 * n, args.answer_tokens,
                                                  args.samples)
    result["scripted"] = counts_on_the_scripted_model(renderer)
    renderer.close()
    result["load_average"] = os.getloadavg()[0]

    tokenize_ms = tokenizing(path, result["styles"])
    result["tokenize_ms"] = tokenize_ms
    labels = [f"turn {t}" for t in range(1, TURNS + 1)] + ["regenerate"]
    print("\nPart 1: 0.6B-shaped model; TTFT as the worker measures it (prompt in to first token out)")
    for style, got in result["styles"].items():
        print(f"  {style}: turn 1 {got['ttft_turn1_s'] * 1000:.0f} ms ({got['prefilled_turn1']:.0f} tokens prefilled), "
              f"turn 6 {got['ttft_turn6_s'] * 1000:.0f} ms ({got['prefilled_turn6']:.0f} prefilled): ratio "
              f"{got['ttft_turn6_s'] / got['ttft_turn1_s']:.2f}, paired {got['paired_ratio_median']:.2f} (goal <= 1.2; "
              + ", ".join(f"{x:.2f}" for x in got["paired_ratios"]) + ")")
        tok = tokenize_ms[style]
        print(f"    of which tokenizing the prompt (part of the worker's TTFT): turn 1 {tok['turn 1']:.1f} ms, turn 6 "
              f"{tok['turn 6']:.1f} ms; without it the ratio is "
              f"{(got['ttft_turn6_s'] * 1000 - tok['turn 6']) / (got['ttft_turn1_s'] * 1000 - tok['turn 1']):.2f}")
        print("    prefilled/prompt tokens, TTFT: " + "; ".join(
            f"{label} {row['prefilled']}/{row['prompt_tokens']} {row['ttft'] * 1000:.0f} ms"
            for label, row in zip(labels, got["turns"], strict=True)))
    print("\nPart 2: scripted model (writes a real thinking block); prefilled/prompt tokens")
    for style, conv in result["scripted"].items():
        print(f"  {style}: " + "; ".join(f"{label} {row['prefilled']}/{row['prompt_tokens']}"
                                        for label, row in zip(labels, conv, strict=True))
              + f" (answers of {conv[0]['answer_tokens']} tokens)")
    print(f"load average at the end {result['load_average']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
