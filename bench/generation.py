"""Generation through the app's engine vs a plain llama-cpp-python loop on the same GGUF.

    .venv/bin/python bench/generation.py [--rounds 5] [--tokens 128] [--json out.json]

The model is generated with Qwen3-0.6B's real layer sizes (random weights, Q8_0), so the compute per
token is that of the real model. Both sides run in their own process with the same threads, context,
prompt, sampling and seed, and take turns (app then plain, plain then app, ...) so that drift in the
machine's speed hits both alike. The app side is the whole path a chat pane uses: `EngineClient` (worker
process, pipe, batched tokens) and `Conversation` (template, streaming thinking parser, stats).

Printed and written to --json:
- tokens/s of each side (the median over rounds) and their ratio (goal >= 0.98);
- time to first token, as the worker measures it and as the GUI side sees it;
- stop latency: from `stop()` to the `Done` event in the parent, mid-generation;
- memory: the worker's RSS when loaded, and the system's available memory before the load and after
  the unload (the worker process ends, so its memory comes back).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.chat.conversation import Conversation, Finished
from explorer.chat.sandbox import TemplateRenderer
from explorer.chat.templates import NON_THINKING_PRESET, render_prompt
from explorer.engine.client import EngineClient, Loaded, LoadFailed, LoadProgress
from explorer.engine.messages import Done, Tokens
from explorer.engine.worker import rss_bytes
from explorer.gguf.reader import chat_template, read_local_header
from explorer.gguf.variant import Variant
from explorer.hardware.cores import physical_cores
from explorer.testing.models import QWEN3_0_6B_SHAPE, ensure_model
from explorer.units import MIB

PROMPT = "Explain, step by step, why the sky is blue and why sunsets are red."
N_CTX = 2048


def plain_server(conn: Connection, path: str, n_ctx: int, threads: int) -> None:
    """The baseline: llama-cpp-python's own generate loop, nothing else, in its own process."""
    import llama_cpp

    llm = llama_cpp.Llama(path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, flash_attn=True,
                          verbose=False)
    vocab = llm._model.vocab
    conn.send("loaded")
    while True:
        msg = conn.recv()
        if msg is None:
            return
        prompt, max_tokens, seed = msg
        s = NON_THINKING_PRESET
        t0 = time.perf_counter()
        llm.set_seed(seed)
        tokens = llm.tokenize(prompt.encode(), add_bos=True, special=True)
        n = 0
        t_first = t_last = t0
        for tok in llm.generate(tokens, top_k=s.top_k, top_p=s.top_p, min_p=s.min_p, temp=s.temperature,
                                repeat_penalty=1.0):
            now = time.perf_counter()
            if n == 0:
                t_first = now
            t_last = now
            if llama_cpp.llama_vocab_is_eog(vocab, tok):
                break
            llm.detokenize([tok], special=True)
            n += 1
            if n >= max_tokens:
                break
        tps = (n - 1) / (t_last - t_first) if n > 1 and t_last > t_first else 0.0
        conn.send({"n": n, "ttft": t_first - t0, "tps": tps})


def app_round(client: EngineClient, renderer: TemplateRenderer, template: str | None, max_tokens: int,
              seed: int) -> dict[str, float]:
    conv = Conversation(client, template=template, variant=Variant.HYBRID, thinking=False,
                        sampling=NON_THINKING_PRESET, max_tokens=max_tokens, seed=seed, renderer=renderer)
    t0 = time.perf_counter()
    conv.send(PROMPT)
    t_first: float | None = None
    stats = None
    while stats is None:
        for up in conv.pump(1.0):
            if t_first is None and not isinstance(up, Finished):
                t_first = time.perf_counter()
            if isinstance(up, Finished):
                stats = up.stats
    t_end = time.perf_counter()
    assert stats.stop_reason in ("length", "stop"), stats
    # The worker's rate (first token to last) and the rate the GUI side sees (first text to Done).
    seen = (stats.n_tokens - 1) / (t_end - t_first) if t_first and t_end > t_first else 0.0
    return {"n": stats.n_tokens, "ttft": stats.ttft_s, "ttft_seen": (t_first or t_end) - t0,
            "tps": stats.tokens_per_s, "tps_seen": seen}


def stop_latency(client: EngineClient, after_tokens: int = 24) -> float:
    client.generate("stop-probe", PROMPT, max_tokens=100000, seed=1)
    seen = 0
    t_stop = 0.0
    while True:
        for ev in client.poll(1.0):
            if isinstance(ev, Tokens) and not t_stop:
                seen += ev.n_tokens
                if seen >= after_tokens:
                    t_stop = time.perf_counter()
                    client.stop()
            elif isinstance(ev, Done):
                assert ev.reason == "stopped", ev
                return time.perf_counter() - t_stop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=physical_cores())
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    t = time.perf_counter()
    path = ensure_model(QWEN3_0_6B_SHAPE)
    print(f"model: {path.name} ({path.stat().st_size / MIB:.0f} MiB, made or found in "
          f"{time.perf_counter() - t:.1f} s); {args.threads} threads, ctx {N_CTX}")
    template = chat_template(read_local_header(path))

    avail_before = psutil.virtual_memory().available
    client = EngineClient()
    client.start(path, n_ctx=N_CTX, n_threads=args.threads)
    load = next(ev for ev in client.events(timeout=300) if not isinstance(ev, LoadProgress))
    if isinstance(load, LoadFailed):
        raise SystemExit(f"load failed: {load.message}")
    assert isinstance(load, Loaded), load
    assert client.pid is not None
    worker_rss = rss_bytes(client.pid) or 0

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    plain = ctx.Process(target=plain_server, args=(child, str(path), N_CTX, args.threads), daemon=True)
    plain.start()
    assert parent.recv() == "loaded"

    # Warm both up once (page cache, first-touch allocations), then alternate.
    renderer = TemplateRenderer()  # as a chat pane has: the template renders in its own process
    app_round(client, renderer, template, 16, 0)
    # The plain loop gets the very text the app sends to llama.cpp (the chat template applied), so both
    # sides decode with the same number of tokens in the KV cache.
    rendered = render_prompt(template, [{"role": "user", "content": PROMPT}], enable_thinking=False)
    parent.send((rendered, 16, 0))
    parent.recv()
    app_runs: list[dict[str, float]] = []
    plain_runs: list[dict[str, Any]] = []
    for r in range(args.rounds):
        # Alternate which side goes first, so a slow spell of the machine does not always hit the same side.
        if r % 2:
            parent.send((rendered, args.tokens, 1000 + r))
            plain_runs.append(parent.recv())
        app_runs.append(app_round(client, renderer, template, args.tokens, 1000 + r))
        if not r % 2:
            parent.send((rendered, args.tokens, 1000 + r))
            plain_runs.append(parent.recv())
        print(f"round {r + 1}: app {app_runs[-1]['tps']:.1f} tok/s ({app_runs[-1]['n']:.0f} tokens), "
              f"plain {plain_runs[-1]['tps']:.1f} tok/s ({plain_runs[-1]['n']} tokens)")
    parent.send(None)
    plain.join(10)

    stops = [stop_latency(client) for _ in range(5)]
    renderer.close()
    client.unload()
    time.sleep(1.0)
    avail_after = psutil.virtual_memory().available

    med = statistics.median
    result = {
        "model": path.name, "threads": args.threads, "n_ctx": N_CTX, "tokens": args.tokens, "rounds": args.rounds,
        "app_tps": med(r["tps"] for r in app_runs), "app_tps_seen": med(r["tps_seen"] for r in app_runs),
        "plain_tps": med(r["tps"] for r in plain_runs),
        "app_ttft_s": med(r["ttft"] for r in app_runs), "app_ttft_seen_s": med(r["ttft_seen"] for r in app_runs),
        "plain_ttft_s": med(r["ttft"] for r in plain_runs),
        "stop_latency_ms": [round(s * 1000, 2) for s in stops],
        "worker_rss_loaded_mib": worker_rss / MIB,
        "available_before_mib": avail_before / MIB, "available_after_unload_mib": avail_after / MIB,
        "runs": {"app": app_runs, "plain": plain_runs},
    }
    # Each round pairs an app run with a plain run made right before or after it: the median of the
    # per-round ratios is less sensitive to the machine's slow spells than the ratio of medians.
    pairs = [a["tps"] / p["tps"] for a, p in zip(app_runs, plain_runs, strict=True) if p["tps"]]
    result["paired_ratio_median"] = med(pairs) if pairs else 0.0
    result["paired_ratios"] = pairs
    result["ratio"] = result["app_tps"] / result["plain_tps"] if result["plain_tps"] else 0.0
    result["ratio_seen"] = result["app_tps_seen"] / result["plain_tps"] if result["plain_tps"] else 0.0
    print(f"tokens/s: app {result['app_tps']:.1f} (GUI side sees {result['app_tps_seen']:.1f}), "
          f"plain llama-cpp-python {result['plain_tps']:.1f}; ratio of medians {result['ratio']:.3f}, "
          f"median of paired ratios {result['paired_ratio_median']:.3f} (goal >= 0.98; rounds ranged "
          f"{min(pairs):.2f}-{max(pairs):.2f})")
    print(f"TTFT: app {result['app_ttft_s'] * 1000:.1f} ms (GUI side {result['app_ttft_seen_s'] * 1000:.1f} ms), "
          f"plain {result['plain_ttft_s'] * 1000:.1f} ms")
    print(f"stop latency: median {med(stops) * 1000:.1f} ms, max {max(stops) * 1000:.1f} ms")
    print(f"memory: worker RSS loaded {worker_rss / MIB:.0f} MiB; available before load "
          f"{avail_before / MIB:.0f} MiB, after unload {avail_after / MIB:.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
