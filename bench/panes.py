"""Several panes on one model file: one worker per pane (today) vs one worker with llama.cpp sequences.

    .venv/bin/python bench/panes.py [--panes 4] [--tokens 128] [--rounds 3] [--div-prompts 8]
                                    [--div-tokens 384] [--no-flash-attn] [--json out.json]

The model has Qwen3-0.6B's real layer sizes (random weights, Q8_0, so every answer runs to its max
tokens). Generation is memory-bound: each token reads every weight once, so N panes as N processes
read the weights N times per step, and N sequences in one worker read them once.

Timed, each from the first request sent to the last Done (prompts prefilled included), median of
--rounds rounds taken in turns so that the machine's slow spells hit every side alike:
- one pane alone (an EngineClient worker, all cores);
- N panes as N EngineClient workers at once, the cores split between them as the chat tab's plan
  does (`fit.schedule`), and with every worker on all cores;
- N panes as N lanes of one MultiClient worker (all cores).
Goal: N lanes finish in at most 1.5x the time of one pane.

Then the greedy divergence study: --div-prompts different prompts, greedy, --div-tokens each, run by
a single-pane worker (EngineClient) and as lanes of a MultiClient N at a time; for each prompt, whether
the lanes' text matches the single pane's and, if not, at which token it first differs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.chat.templates import NON_THINKING_PRESET, render_prompt
from explorer.engine.client import EngineClient
from explorer.engine.messages import Crashed, Done, Loaded, LoadFailed, Tokens
from explorer.engine.multi import MultiClient
from explorer.gguf.reader import chat_template, read_local_header
from explorer.hardware.cores import physical_cores
from explorer.testing.models import QWEN3_0_6B_SHAPE, ensure_model
from explorer.units import MIB

N_CTX = 2048
QUESTIONS = [
    "Explain, step by step, why the sky is blue and why sunsets are red.",
    "Write a short poem about a lighthouse keeper.",
    "What are the main differences between TCP and UDP?",
    "Summarise the plot of Hamlet in five sentences.",
    "How do vaccines train the immune system?",
    "Give three tips for writing readable Python code.",
    "Why does ice float on water?",
    "Describe how a hash table works.",
    "What causes the seasons on Earth?",
    "Translate 'good morning, how are you?' into French and Spanish.",
    "List the planets of the solar system in order.",
    "What is the difference between weather and climate?",
]


def wait_loaded(poll: Any, what: str) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for ev in poll(1.0):
            if isinstance(ev, Loaded):
                return
            if isinstance(ev, (LoadFailed, Crashed)):
                raise SystemExit(f"{what}: {ev}")
    raise SystemExit(f"{what}: no Loaded in 300 s")


def collect(polls: list[Any], rids: list[str]) -> dict[str, tuple[list[Tokens], Done]]:
    """Every request's Tokens and Done, polling each source in turn until all are done."""
    toks: dict[str, list[Tokens]] = {r: [] for r in rids}
    done: dict[str, Done] = {}
    while len(done) < len(rids):
        for poll in polls:
            for ev in poll(0.02):
                if isinstance(ev, Tokens) and ev.request_id in toks:
                    toks[ev.request_id].append(ev)
                elif isinstance(ev, Done) and ev.request_id in toks:
                    done[ev.request_id] = ev
                elif isinstance(ev, Crashed):
                    raise SystemExit(f"worker crashed: {ev.message}")
    for rid, d in done.items():
        if d.reason == "error":
            raise SystemExit(f"{rid}: {d.message}")
    return {r: (toks[r], done[r]) for r in rids}


def sampling(seed: int, greedy: bool = False) -> dict[str, Any]:
    s = NON_THINKING_PRESET
    return {"temperature": 0.0 if greedy else s.temperature, "top_p": s.top_p, "top_k": s.top_k, "min_p": s.min_p,
            "seed": seed}


def stats(got: dict[str, tuple[list[Tokens], Done]]) -> dict[str, float]:
    dones = [d for _, d in got.values()]
    return {"prefill_s": sum(d.prompt_eval_s for d in dones),
            "decode_tps": statistics.median(d.tokens_per_s for d in dones)}


def timed_single(client: EngineClient, prompt: str, tokens: int, seed: int) -> tuple[float, dict[str, float]]:
    t0 = time.perf_counter()
    client.generate("one", prompt, max_tokens=tokens, **sampling(seed))
    got = collect([client.poll], ["one"])
    wall = time.perf_counter() - t0
    assert got["one"][1].n_tokens == tokens, got["one"][1]
    return wall, stats(got)


def timed_processes(clients: list[EngineClient], prompts: list[str], tokens: int,
                    seed: int) -> tuple[float, dict[str, float]]:
    t0 = time.perf_counter()
    for i, (c, p) in enumerate(zip(clients, prompts, strict=True)):
        c.generate(f"p{i}", p, max_tokens=tokens, **sampling(seed + i))
    got = collect([c.poll for c in clients], [f"p{i}" for i in range(len(clients))])
    wall = time.perf_counter() - t0
    assert all(d.n_tokens == tokens for _, d in got.values()), got
    return wall, stats(got)


def timed_lanes(client: MultiClient, prompts: list[str], tokens: int, seed: int) -> tuple[float, dict[str, float]]:
    t0 = time.perf_counter()
    for i, p in enumerate(prompts):
        client.lane(i).generate(f"l{i}", p, max_tokens=tokens, **sampling(seed + i))
    got = collect([lane.poll for lane in client.lanes], [f"l{i}" for i in range(len(prompts))])
    wall = time.perf_counter() - t0
    assert all(d.n_tokens == tokens for _, d in got.values()), got
    return wall, stats(got)


def split_threads(cores: int, n: int) -> list[int]:
    """The chat tab's split of the cores over n CPU models in one wave (fit.schedule._threads)."""
    share, extra = divmod(cores, n)
    return [max(1, share + (1 if i < extra else 0)) for i in range(n)]


def text_and_marks(toks: list[Tokens]) -> tuple[str, list[tuple[int, int]]]:
    """The text, and (character offset where an event's text ends, tokens up to there) per event."""
    text, n, marks = "", 0, []
    for t in toks:
        text += t.text
        n += t.n_tokens
        marks.append((len(text), n))
    return text, marks


def first_diff_token(ref: list[Tokens], got: list[Tokens]) -> tuple[int, int] | None:
    """None when the texts are equal; else (first differing character, index of the token holding it in
    `got`: exact while each event carries one token, which is the case when a step takes over 30 ms)."""
    a, _ = text_and_marks(ref)
    b, marks = text_and_marks(got)
    if a == b:
        return None
    i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    before = 0
    for end, n in marks:
        if end > i:
            break
        before = n
    return i, before


def divergence(path: Path, prompts: list[str], panes: int, tokens: int, threads: int,
               flash_attn: bool) -> dict[str, Any]:
    """Greedy answers of `panes` lanes at a time, compared with two references: a single-pane worker
    started fresh for each prompt (today's path, no prompt cache carried over from another prompt), and
    the same MultiClient running that prompt on one lane alone (a batch of one)."""
    greedy = sampling(0, greedy=True)
    fresh: dict[int, list[Tokens]] = {}
    for i, p in enumerate(prompts):
        single = EngineClient()
        single.start(path, n_ctx=N_CTX, n_threads=threads, flash_attn=flash_attn)
        wait_loaded(single.poll, "single-pane worker")
        single.generate(f"r{i}", p, max_tokens=tokens, **greedy)
        fresh[i] = collect([single.poll], [f"r{i}"])[f"r{i}"][0]
        single.unload()
    multi = MultiClient(panes)
    multi.start(path, n_ctx=N_CTX, n_threads=threads, flash_attn=flash_attn)
    wait_loaded(multi.poll, "multi worker")
    alone: dict[int, list[Tokens]] = {}
    for i, p in enumerate(prompts):
        multi.lane(i % panes).generate(f"a{i}", p, max_tokens=tokens, **greedy)
        alone[i] = collect([multi.lane(i % panes).poll], [f"a{i}"])[f"a{i}"][0]
    out: list[dict[str, Any]] = []
    for g in range(0, len(prompts), panes):
        group = list(range(g, min(g + panes, len(prompts))))
        for lane in range(panes):  # from empty cells, as the references: batching alone is compared
            multi.lane(lane).release()
        for lane, i in enumerate(group):
            multi.lane(lane).generate(f"m{i}", prompts[i], max_tokens=tokens, **greedy)
        got = collect([multi.lane(k).poll for k in range(len(group))], [f"m{i}" for i in group])
        for i in group:
            n_prompt = got[f"m{i}"][1].n_prompt_tokens
            row: dict[str, Any] = {"prompt": i, "n_prompt": n_prompt}
            for name, ref in (("vs_fresh_single_pane", fresh[i]), ("vs_lane_alone", alone[i]),
                              ("lane_alone_vs_fresh", None)):
                d = first_diff_token(ref, got[f"m{i}"][0]) if ref is not None else first_diff_token(fresh[i], alone[i])
                row[name] = None if d is None else {"token": d[1], "char": d[0], "cells": n_prompt + d[1]}
            out.append(row)
    multi.close()
    return {"flash_attn": flash_attn, "tokens": tokens, "prompts": len(prompts), "panes": panes,
            "diverged": {k: sum(r[k] is not None for r in out)
                         for k in ("vs_fresh_single_pane", "vs_lane_alone", "lane_alone_vs_fresh")},
            "runs": out}


def timing(path: Path, template: str | None, n: int, tokens: int, rounds: int, threads: int, flash_attn: bool,
           oversubscribed: bool) -> dict[str, Any]:
    def prompts(r: int) -> list[str]:
        """Round r's prompts: each worker gets a prompt other than its last, so no side reuses more of a
        prompt cache than the chat template's first tokens (a single-pane worker and a lane both keep
        their last prompt's cells)."""
        return [render_prompt(template, [{"role": "user", "content": QUESTIONS[(r + i) % len(QUESTIONS)]}],
                              enable_thinking=False) for i in range(n)]

    split = split_threads(threads, n)
    one = EngineClient()
    one.start(path, n_ctx=N_CTX, n_threads=threads, flash_attn=flash_attn)
    procs_split = [EngineClient() for _ in range(n)]
    for c, t in zip(procs_split, split, strict=True):
        c.start(path, n_ctx=N_CTX, n_threads=t, flash_attn=flash_attn)
    procs_all = [EngineClient() for _ in range(n if oversubscribed else 0)]
    for c in procs_all:
        c.start(path, n_ctx=N_CTX, n_threads=threads, flash_attn=flash_attn)
    multi = MultiClient(n)
    multi.start(path, n_ctx=N_CTX, n_threads=threads, flash_attn=flash_attn)
    for c in (one, *procs_split, *procs_all):
        wait_loaded(c.poll, "worker")
    wait_loaded(multi.poll, "multi worker")
    lanes_key = f"{n} lanes, one worker"
    sides: dict[str, Any] = {
        "one pane": lambda r, k: timed_single(one, prompts(r)[0], k, 100 * r),
        f"{n} processes (threads {'+'.join(map(str, split))})":
            lambda r, k: timed_processes(procs_split, prompts(r), k, 100 * r),
        lanes_key: lambda r, k: timed_lanes(multi, prompts(r), k, 100 * r),
    }
    if oversubscribed:
        sides[f"{n} processes ({threads} threads each)"] = lambda r, k: timed_processes(procs_all, prompts(r), k,
                                                                                       100 * r)
    for side in sides.values():  # warm-up: page cache, first-touch allocations, each worker's first decode
        side(-1, 8)
    times: dict[str, list[float]] = {k: [] for k in sides}
    details: dict[str, list[dict[str, float]]] = {k: [] for k in sides}
    for r in range(rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for k in order:
            wall, st = sides[k](r, tokens)
            times[k].append(wall)
            details[k].append(st)
        print(f"round {r + 1}: " + ", ".join(f"{k} {times[k][-1]:.2f} s" for k in sides), flush=True)
    for c in (one, *procs_split, *procs_all):
        c.unload()
    multi.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["one pane"]
    print(f"\nmedian wall time, first request sent to last Done, {tokens} tokens per pane (ratio to one pane):")
    for k, v in med.items():
        panes = 1 if k == "one pane" else n
        pre = statistics.median(d["prefill_s"] for d in details[k])
        tps = statistics.median(d["decode_tps"] for d in details[k])
        print(f"  {k:32s} {v:6.2f} s  {v / base:5.2f}x   {panes * tokens / v:5.1f} tok/s in all; prompts "
              f"{pre:.2f} s of it (summed), {tps:.1f} tok/s per pane after its first token")
    print(f"goal: {n} lanes <= 1.5x one pane: {med[lanes_key] / base:.2f}x "
          f"({'met' if med[lanes_key] / base <= 1.5 else 'NOT met'})")
    return {"times_s": times, "median_s": med, "ratios": {k: v / base for k, v in med.items()}, "details": details}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--panes", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=physical_cores())
    ap.add_argument("--div-prompts", type=int, default=8)
    ap.add_argument("--div-tokens", type=int, default=384)
    ap.add_argument("--no-flash-attn", action="store_true")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--oversubscribed", action="store_true", help=f"also N workers with all {physical_cores()} "
                    "threads each (much slower on a small CPU)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    flash_attn = not args.no_flash_attn
    n = args.panes

    path = ensure_model(QWEN3_0_6B_SHAPE)
    template = chat_template(read_local_header(path))
    print(f"model: {path.name} ({path.stat().st_size / MIB:.0f} MiB); {args.threads} threads, ctx {N_CTX} per pane, "
          f"{n} panes x {args.tokens} tokens, flash attention {'on' if flash_attn else 'off'}")
    result: dict[str, Any] = {"model": path.name, "threads": args.threads, "panes": n, "tokens": args.tokens,
                              "flash_attn": flash_attn}

    if not args.skip_timing:
        result.update(timing(path, template, n, args.tokens, args.rounds, args.threads, flash_attn,
                             args.oversubscribed))

    if args.div_prompts:
        t0 = time.perf_counter()
        questions = (QUESTIONS * (1 + args.div_prompts // len(QUESTIONS)))[:args.div_prompts]
        div_prompts = [render_prompt(template, [{"role": "user", "content": q}], enable_thinking=False)
                       for q in questions]
        div = divergence(path, div_prompts, n, args.div_tokens, args.threads, flash_attn)
        print(f"\ngreedy divergence, {div['prompts']} prompts x {div['tokens']} tokens, {n} lanes at a time "
              f"(flash attention {'on' if flash_attn else 'off'}, {time.perf_counter() - t0:.0f} s); diverged: "
              + ", ".join(f"{k} {v} of {div['prompts']}" for k, v in div["diverged"].items()))
        for r in div["runs"]:
            cols = [f"{k} " + ("identical" if r[k] is None else f"token {r[k]['token']} ({r[k]['cells']} cells)")
                    for k in div["diverged"]]
            print(f"  prompt {r['prompt']} ({r['n_prompt']} tokens): " + "; ".join(cols))
        result["divergence"] = div
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
