"""Switching a chat pane to another model: from choosing it to its first token, against a plain load.

    .venv/bin/python bench/switch.py [--rounds 5] [--json out.json]

The app's side does what a chat pane's driver does when the person picks another downloaded model
while one is loaded (ui/chat/driver.py `_start_load`, then `_poll_load` and `_send`): read the new
file's header (`inspect_model`: variant, template, shape) while the new worker loads, unload the old
model first (its process ends),
`EngineClient.start` the new one, wait for `Loaded`, make the `Conversation`, render the prompt with the
file's chat template in the pane's renderer process, and generate until the first token reaches this
process. It runs twice, with a client that spawns a fresh worker for each model (`EngineClient()`)
and with one that keeps a spare worker (`EngineClient(spare=True)`: started, llama_cpp imported,
waiting for a model).

The baseline is what `llama-cli` does with a warm page cache: a plain `llama_cpp.Llama(path)` with the
same context, threads and flash attention, and one token of the same prompt with the same sampling,
in a process that imported llama_cpp long before (so it pays no Python start and no import) and runs
at the worker's priority (the worker lowers its own by `WORKER_NICENESS`; on a shared machine a
baseline at a higher priority would win by the neighbours' load, not by its code).

The model switched to is the 0.6B-shaped one (Qwen3-0.6B's layer sizes, random weights, Q8_0, 636 MB);
the model switched from is a small generated one. Each round runs the three sides in a rotating order,
after a warm-up round (page cache, first-touch allocations); each figure is the median over rounds,
and the ratio is app / plain within the same run. Printed: the three times, the ratios (goal <= 1.1),
and where the app's time goes (header read, unload, start to Loaded, prompt to first token).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.chat.conversation import Conversation, Finished
from explorer.chat.records import StopReason
from explorer.chat.sandbox import TemplateRenderer
from explorer.chat.templates import preset_for, render_prompt
from explorer.engine.client import EngineClient, Loaded, LoadFailed
from explorer.engine.messages import Crashed
from explorer.engine.worker import WORKER_NICENESS
from explorer.fit.contexts import DEFAULT_CHAT_CTX
from explorer.fit.estimate import FLASH_ATTN
from explorer.gguf.model_info import inspect_model
from explorer.hardware.cores import physical_cores
from explorer.testing.models import QWEN3_0_6B_SHAPE, ensure_model
from explorer.units import MIB

QUESTION = "Why is the sky blue?"
FROM_MODEL = "qwen3-fit-dense-q8_0"  # 36 MB: the model loaded before each switch
SIDES = ("plain", "app", "app+spare")


def plain_server(conn: Connection, n_ctx: int, threads: int) -> None:
    """The baseline, in a process of its own at the worker's priority: llama_cpp imported once, then for each
    request a plain load of the file and one token."""
    os.nice(WORKER_NICENESS)
    import llama_cpp

    conn.send("ready")
    while True:
        msg = conn.recv()
        if msg is None:
            return
        path, prompt = msg
        s = preset_for(True)
        t0 = time.perf_counter()
        llm = llama_cpp.Llama(path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, flash_attn=FLASH_ATTN,
                              verbose=False)
        t_loaded = time.perf_counter()
        tokens = llm.tokenize(prompt.encode(), add_bos=True, special=True)
        next(iter(llm.generate(tokens, top_k=s.top_k, top_p=s.top_p, min_p=s.min_p, temp=s.temperature)))
        t_first = time.perf_counter()
        del llm
        conn.send({"total": t_first - t0, "load": t_loaded - t0, "first_token": t_first - t_loaded})


class AppPane:
    """One pane's engine, driven as ui/chat/driver.py drives it (without Qt)."""

    def __init__(self, spare: bool, n_ctx: int) -> None:
        self.client = EngineClient(spare=spare)
        self.renderer = TemplateRenderer()
        self.n_ctx = n_ctx
        self.spare = spare

    def _wait_loaded(self) -> Loaded:
        while True:
            for ev in self.client.poll(1.0):
                if isinstance(ev, Loaded):
                    return ev
                if isinstance(ev, (LoadFailed, Crashed)):
                    raise SystemExit(f"load failed: {ev.message}")

    def switch(self, path: Path) -> dict[str, float]:
        t0 = time.perf_counter()
        self.client.unload()
        t_unload = time.perf_counter()
        self.client.start(path, n_ctx=self.n_ctx)
        info = inspect_model(path)  # while the worker loads, as the driver reads a switched-to model's header
        t_inspect = time.perf_counter()
        self.renderer.start()  # the pane's renderer: already running, as after the first model
        loaded = self._wait_loaded()
        t_loaded = time.perf_counter()
        conv = Conversation(self.client, template=info.template, variant=info.variant, thinking=True,
                            n_ctx=loaded.n_ctx, renderer=self.renderer, max_tokens=1)
        conv.send(QUESTION)
        t_first = 0.0
        while conv.busy:
            for up in conv.pump(1.0):
                if not t_first:
                    t_first = time.perf_counter()
                if isinstance(up, Finished) and up.stats.stop_reason is StopReason.ERROR:
                    raise SystemExit(f"generation failed: {up.stats.message}")
        if self.spare:  # the spare starts after the first answer: ready long before a person switches again
            self.client.spare_ready(timeout=30)
        return {"total": t_first - t0, "inspect": t_inspect - t_unload, "unload": t_unload - t0,
                "start_to_loaded": t_loaded - t_unload, "prompt_to_first_token": t_first - t_loaded,
                "worker_load_s": loaded.load_seconds}

    def close(self) -> None:
        self.client.close()
        self.renderer.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ctx", type=int, default=DEFAULT_CHAT_CTX, help="the context (a chat pane's default)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    t = time.perf_counter()
    target = ensure_model(QWEN3_0_6B_SHAPE)
    source = ensure_model(FROM_MODEL)
    threads = physical_cores()
    print(f"switch from {source.name} to {target.name} ({target.stat().st_size / MIB:.0f} MiB; made or found "
          f"in {time.perf_counter() - t:.1f} s); {threads} threads, ctx {args.ctx}, load "
          f"{os.getloadavg()[0]:.2f}")
    info = inspect_model(target)
    prompt = render_prompt(info.template, [{"role": "user", "content": QUESTION}], enable_thinking=True)

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    plain = ctx.Process(target=plain_server, args=(child, args.ctx, threads), daemon=True)
    plain.start()
    assert parent.recv() == "ready"
    panes = {"app": AppPane(False, args.ctx), "app+spare": AppPane(True, args.ctx)}

    def run(side: str) -> dict[str, float]:
        if side == "plain":
            parent.send((str(target), prompt))
            out: dict[str, float] = parent.recv()
            return out
        pane = panes[side]
        out = pane.switch(target)
        pane.switch(source)  # back, ready for the next round's switch
        return out

    for pane in panes.values():  # each pane has a model loaded (and answered once) before it switches
        pane.switch(source)
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in SIDES}
    for r in range(-1, args.rounds):  # round -1 warms up
        order = SIDES[r % 3:] + SIDES[:r % 3]
        got = {side: run(side) for side in order}
        if r < 0:
            continue
        for side in SIDES:
            runs[side].append(got[side])
        print(f"round {r + 1}: " + ", ".join(f"{s} {got[s]['total'] * 1000:.0f} ms" for s in SIDES))
    parent.send(None)
    plain.join(10)
    for pane in panes.values():
        pane.close()

    med = statistics.median
    result: dict[str, Any] = {"target": target.name, "threads": threads, "n_ctx": args.ctx, "rounds": args.rounds,
                              "load_average": os.getloadavg()[0], "runs": runs}
    for side in SIDES:
        result[side] = {k: med(run[k] for run in runs[side]) for k in runs[side][0]}
    plain_total = result["plain"]["total"]
    for side in ("app", "app+spare"):
        pairs = [a["total"] / p["total"] for a, p in zip(runs[side], runs["plain"], strict=True)]
        result[side]["ratio"] = result[side]["total"] / plain_total
        result[side]["paired_ratio_median"] = med(pairs)
    print(f"first token after choosing the model (median of {args.rounds}): plain load + 1 token "
          f"{plain_total * 1000:.0f} ms (load {result['plain']['load'] * 1000:.0f}, token "
          f"{result['plain']['first_token'] * 1000:.0f})")
    for side in ("app", "app+spare"):
        a = result[side]
        print(f"  {side:9}: {a['total'] * 1000:.0f} ms, ratio {a['ratio']:.3f} (paired {a['paired_ratio_median']:.3f}; "
              f"goal <= 1.1): header {a['inspect'] * 1000:.0f}, unload {a['unload'] * 1000:.0f}, start to "
              f"Loaded {a['start_to_loaded'] * 1000:.0f} (in the worker {a['worker_load_s'] * 1000:.0f}), "
              f"prompt to first token {a['prompt_to_first_token'] * 1000:.0f}")
    print(f"load average at the end {result['load_average']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
