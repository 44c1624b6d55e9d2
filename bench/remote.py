"""Generation through the app's remote engine vs a plain streaming client, against the same loopback server.

    .venv/bin/python bench/remote.py [--model scripted|0.6b] [--rounds 5] [--tokens 400] [--json out.json]

The server is llama-cpp-python's own OpenAI-compatible one (`python -m llama_cpp.server`, the `server`
extra), on loopback with one model. Two models: `scripted` (default) is the generated model that
writes a fixed text at a few thousand tokens/s on a CPU, so any per-token cost on the client side
shows; `0.6b` has Qwen3-0.6B's layer sizes (random weights, Q8_0), the speed of a small real model.

Both sides send the same request (messages, sampling, seed, max_tokens) and take turns (app then
plain, plain then app, ...) so drift in the machine's speed hits both alike:
- app: the whole path a chat pane uses, `RemoteClient` (its thread, SSE reader, events) under
  `Conversation` (thinking parser, stats), pumped as the pane's driver pumps it;
- plain: `http.client` reading the stream line by line and decoding each chunk's JSON, nothing else.

Tokens/s on each side is measured where the text arrives (from the first chunk to the last, the
chunks counted: this server sends no usage block), the median over rounds; the ratio app/plain has
the goal >= 0.98 (and the median of each round's app/plain ratio, the pair run back to back).
Also: time to first token on each side, and the app's stop latency (stop() to the Finished update,
mid-answer).
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.chat.conversation import AnswerText, Conversation, Finished, ThinkingText
from explorer.chat.records import StopReason
from explorer.chat.templates import THINKING_PRESET
from explorer.engine.messages import Loaded
from explorer.engine.remote import RemoteClient
from explorer.gguf.variant import Variant
from explorer.hardware.cores import physical_cores
from explorer.testing.models import QWEN3_0_6B_SHAPE, ensure_model
from explorer.testing.scripted import ScriptedSpec, ensure_scripted_model

MODEL_ID = "Qwen3-0.6B-bench"
QUESTION = "Why is the sky blue?"
LONG_ANSWER = "Here is a long answer, word by word: " + " ".join(f"item{i}" for i in range(1200)) + "."


def start_server(model: Path, threads: int) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias",
                             MODEL_ID, "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
                             "--n_threads", str(threads), "--n_threads_batch", str(threads)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"llama_cpp.server exited with {proc.returncode} (is the server extra installed?)")
        try:
            with urllib.request.urlopen(url + "/v1/models", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("llama_cpp.server did not start in 120 s")


def request_body(max_tokens: int, seed: int) -> dict[str, Any]:
    """What RemoteClient sends for QUESTION with thinking on (the plain client sends the same)."""
    s = THINKING_PRESET
    return {"model": MODEL_ID, "stream": True, "stream_options": {"include_usage": True},
            "temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k, "min_p": s.min_p, "seed": seed,
            "max_tokens": max_tokens, "messages": [{"role": "user", "content": QUESTION}],
            "chat_template_kwargs": {"enable_thinking": True}}


def plain_round(url: str, max_tokens: int, seed: int) -> dict[str, float]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=300)
    t0 = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body=json.dumps(request_body(max_tokens, seed)),
                 headers={"Content-Type": "application/json", "Accept": "text/event-stream"})
    resp = conn.getresponse()
    n = 0
    t_first = t_last = 0.0
    for raw in resp:
        line = raw.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        choices = json.loads(data).get("choices") or [{}]
        if (choices[0].get("delta") or {}).get("content"):
            now = time.perf_counter()
            if n == 0:
                t_first = now
            t_last = now
            n += 1
    conn.close()
    return {"tokens": n, "tokens_per_s": (n - 1) / (t_last - t_first), "ttft_s": t_first - t0}


def app_round(client: RemoteClient, max_tokens: int, seed: int) -> dict[str, float]:
    conv = Conversation(client, template=None, variant=Variant.HYBRID, thinking=True, max_tokens=max_tokens,
                        seed=seed)
    t0 = time.perf_counter()
    conv.send(QUESTION)
    t_first = t_last = 0.0
    while True:
        for up in conv.pump(0.03):  # the pane driver's pump
            if isinstance(up, (ThinkingText, AnswerText)):
                now = time.perf_counter()
                if not t_first:
                    t_first = now
                t_last = now
            elif isinstance(up, Finished):
                n = up.stats.n_tokens
                return {"tokens": n, "tokens_per_s": (n - 1) / (t_last - t_first), "ttft_s": t_first - t0,
                        "client_tokens_per_s": up.stats.tokens_per_s, "client_ttft_s": up.stats.ttft_s}


def stop_latency(client: RemoteClient) -> float:
    conv = Conversation(client, template=None, variant=Variant.HYBRID, thinking=True, max_tokens=100_000)
    conv.send(QUESTION)
    t_stop = 0.0
    while True:
        for up in conv.pump(0.03):
            if isinstance(up, AnswerText) and not t_stop:
                conv.stop()
                t_stop = time.perf_counter()
            elif isinstance(up, Finished):
                stopped = t_stop and up.stats.stop_reason is StopReason.STOPPED
                return time.perf_counter() - t_stop if stopped else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("scripted", "0.6b"), default="scripted")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=400, help="max_tokens of each answer")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.model == "scripted":
        model = ensure_scripted_model(ScriptedSpec(name="qwen3-bench-scripted", answer=LONG_ANSWER))
    else:
        model = ensure_model(QWEN3_0_6B_SHAPE)
    threads = args.threads or physical_cores()
    proc, url = start_server(model, threads)
    try:
        client = RemoteClient(url, MODEL_ID)
        client.start()
        assert any(isinstance(e, Loaded) for e in client.poll(30))
        plain_round(url, 16, 0)  # warm both paths
        app_round(client, 16, 0)
        app: list[dict[str, float]] = []
        plain: list[dict[str, float]] = []
        for r in range(args.rounds):
            order = (app_round, plain_round) if r % 2 == 0 else (plain_round, app_round)
            for fn in order:
                if fn is app_round:
                    app.append(app_round(client, args.tokens, r))
                else:
                    plain.append(plain_round(url, args.tokens, r))
        stops = [stop_latency(client) for _ in range(3)]
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(row[key] for row in rows)

    result = {
        "model": args.model, "server": "llama_cpp.server (llama-cpp-python, loopback)", "rounds": args.rounds,
        "tokens": med(app, "tokens"), "plain_tokens": med(plain, "tokens"),
        "app_tokens_per_s": med(app, "tokens_per_s"), "plain_tokens_per_s": med(plain, "tokens_per_s"),
        "ratio": med(app, "tokens_per_s") / med(plain, "tokens_per_s"),
        # each round's app/plain pair ran back to back: the median of their ratios shrugs off drift
        "paired_ratio": statistics.median(a["tokens_per_s"] / b["tokens_per_s"]
                                          for a, b in zip(app, plain, strict=True)),
        "app_client_tokens_per_s": med(app, "client_tokens_per_s"),
        "app_ttft_ms": med(app, "ttft_s") * 1000, "plain_ttft_ms": med(plain, "ttft_s") * 1000,
        "stop_latency_ms": statistics.median(stops) * 1000,
    }
    print(f"model {args.model}, {args.rounds} rounds of {args.tokens} tokens, server threads {threads}")
    print(f"tokens/s  app {result['app_tokens_per_s']:.1f} (client's own figure "
          f"{result['app_client_tokens_per_s']:.1f})  plain {result['plain_tokens_per_s']:.1f}  "
          f"ratio {result['ratio']:.3f}, median of paired rounds {result['paired_ratio']:.3f} (goal >= 0.98)")
    print(f"first token  app {result['app_ttft_ms']:.1f} ms  plain {result['plain_ttft_ms']:.1f} ms")
    print(f"stop latency  {result['stop_latency_ms']:.2f} ms (stop() to Finished, mid-answer)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
