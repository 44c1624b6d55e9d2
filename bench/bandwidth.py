"""Memory-bandwidth bound: how fast the 0.6B-shaped model could generate here, and how close llama.cpp gets.

    .venv/bin/python bench/bandwidth.py [--tokens 64] [--json out.json]

On a CPU, generating one token reads every weight the token passes through once, so tokens/s can not
beat (memory bandwidth) / (bytes read per token). This measures the bandwidth two ways (the app's own
probe, a numpy copy with a thread per core; and a long single-buffer read), computes the bytes read per
token of the generated Qwen3-0.6B-shaped Q8_0 model from its GGUF header (every weight except the
token-embedding rows not looked up, plus the KV cache at the prompt length), and compares the limit
with what plain llama-cpp-python reaches on the same file.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generation import PROMPT, plain_server

from explorer.fit.estimate import kv_cache_bytes
from explorer.gguf.reader import read_shape
from explorer.hardware.bandwidth import measure_ram_bandwidth
from explorer.hardware.cores import physical_cores
from explorer.testing.models import QWEN3_0_6B_SHAPE, ensure_model
from explorer.units import MIB

GB = 1e9


def read_bandwidth(size: int = 512 * MIB, repeats: int = 5) -> float:
    """Bytes/s of summing a buffer far larger than the caches (one thread: numpy's sum does not fan out)."""
    buf = np.ones(size // 8, dtype=np.float64)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        buf.sum()
        best = min(best, time.perf_counter() - t)
    return size / best


def bytes_per_token(path: Path, n_past: int) -> tuple[int, int]:
    """(weight bytes read per generated token, KV cache bytes read at n_past tokens)."""
    shape = read_shape(path)
    layers = sum(shape.layer_bytes_read_per_token(i) for i in range(shape.n_layers))
    # The embedding lookup reads one row; with tied embeddings the output head reads the whole matrix.
    lookup = 0 if shape.tied_embeddings else shape.token_embd_bytes // shape.n_vocab
    return round(layers) + shape.output_head_bytes + lookup, kv_cache_bytes(shape, n_past, "f16")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=physical_cores())
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    path = ensure_model(QWEN3_0_6B_SHAPE)
    copy_bw = measure_ram_bandwidth(size=256 * MIB, threads=args.threads, repeats=5, deadline=5.0)
    sum_bw = read_bandwidth()
    bw = max(copy_bw, sum_bw)

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=plain_server, args=(child, str(path), 2048, args.threads), daemon=True)
    proc.start()
    assert parent.recv() == "loaded"
    parent.send((PROMPT, 16, 0))  # warm-up
    parent.recv()
    runs = []
    for seed in range(3):
        parent.send((PROMPT, args.tokens, seed))
        runs.append(parent.recv())
    parent.send(None)
    proc.join(10)
    tps = max(r["tps"] for r in runs)

    n_past = 40 + args.tokens // 2  # the prompt is about 40 tokens
    weights, kv = bytes_per_token(path, n_past)
    per_token = weights + kv
    limit = bw / per_token
    result = {
        "model": path.name, "threads": args.threads,
        "bandwidth_copy_gbs": copy_bw / GB, "bandwidth_read_gbs": sum_bw / GB, "bandwidth_used_gbs": bw / GB,
        "weight_bytes_per_token": weights, "kv_bytes_per_token": kv,
        "limit_tps": limit, "llama_tps": tps, "fraction": tps / limit if limit else 0.0,
        "runs": runs,
    }
    print(f"memory bandwidth: copy {copy_bw / GB:.1f} GB/s ({args.threads} threads), read {sum_bw / GB:.1f} GB/s "
          f"(1 thread); using {bw / GB:.1f} GB/s")
    print(f"bytes per token: {weights / MIB:.0f} MiB of weights + {kv / MIB:.1f} MiB of KV cache")
    print(f"limit {limit:.1f} tok/s; plain llama-cpp-python {tps:.1f} tok/s = {result['fraction']:.0%} of the limit")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
