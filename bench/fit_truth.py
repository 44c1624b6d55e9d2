"""Fit estimate vs llama.cpp's reported buffers for every generated model.

    .venv/bin/python bench/fit_truth.py [--widths] [--json out.json]

Loads each model in a child process (CPU), at two context sizes and two KV types, and prints the
estimate's error per component: weights, KV cache, compute buffer, and the total against the
process's RSS growth (RSS counts only touched pages, so it reads lower than the buffers). The last
line compares the fit's whole reservation (buffers plus its fixed allowance for the runtime) with
llama.cpp's buffers plus the worker's own memory before loading: the verdict must never reserve less.

--widths also checks the compute buffer at the widths of Qwen3 1.7B to 32B and 30B-A3B (two layers
each, 0.4-1.8 GiB, generated once; about 5 minutes and 6 GiB of disk) at 4k, 16k and 32k context.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from explorer.engine.measure import measure_buffers
from explorer.fit.estimate import CPU_OVERHEAD, compute_buffer_bytes, kv_cache_bytes
from explorer.gguf.reader import read_shape
from explorer.testing.models import FIT_MODELS, QWEN3_0_6B_SHAPE, QWEN3_WIDTHS, TEST_MODELS, ensure_model

# Two context sizes, two KV types (quantized KV needs head dims of at least 32: the tiny models get
# f16 at both sizes), flash attention on and off.
SETTINGS = [(4096, "f16", True), (16384, "q8_0", True), (16384, "f16", True), (4096, "f16", False)]


def pct(est: float, real: float) -> float:
    return (est - real) / real * 100 if real else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--widths", action="store_true", help="also the compute buffer at Qwen3 1.7B-32B widths")
    args = ap.parse_args()
    rows = []
    print(f"{'model':28} {'ctx':>6} {'kv':5} {'fa':3} {'weights':>9} {'KV':>8} {'compute':>9}  MiB est/real"
          f"  {'RSS':>8} MiB est/RSS")
    for name in [*FIT_MODELS, QWEN3_0_6B_SHAPE.name, *TEST_MODELS]:
        path = ensure_model(name)
        shape = read_shape(path)
        for ctx, kv, fa in SETTINGS:
            if kv != "f16" and shape.head_dim_k < 32:
                continue  # quantized KV needs head dims of at least one 32-wide block
            if kv == "f16" and ctx == 16384 and shape.head_dim_k >= 32:
                continue  # these get their second context size with the q8_0 cache
            real = measure_buffers(path, ctx=ctx, kv_type=kv, flash_attn=fa)
            est_w, est_kv = shape.weights_bytes, kv_cache_bytes(shape, ctx, kv)
            est_c = compute_buffer_bytes(shape, ctx, flash_attn=fa, kv_type=kv)
            # RSS after a 512-token prompt against the buffers the estimate predicts (its overhead
            # allowance, a fixed margin for the runtime, is left out: RSS before load already has it).
            est_total = est_w + est_kv + est_c
            rss = (real.rss_warm or 0) - (real.rss_before or 0)
            real_buffers = sum(real.total(k) for k in ("model", "kv", "compute"))
            row = {
                "model": name, "ctx": ctx, "kv_type": kv, "flash_attn": fa,
                "weights": [est_w, real.total("model")], "kv": [est_kv, real.total("kv")],
                "compute": [est_c, real.total("compute")],
                "rss_growth": (real.rss_loaded or 0) - (real.rss_before or 0),
                "rss": [est_total, rss],
            }
            row["reserve_margin"] = (est_total + CPU_OVERHEAD) - (real_buffers + (real.rss_before or 0))
            rows.append(row)
            est_mib, real_mib = est_total / 2**20, real_buffers / 2**20
            print(f"{name:28} {ctx:6} {kv:5} {'on' if fa else 'off':3} {pct(est_w, real.total('model')):+8.2f}% "
                  f"{pct(est_kv, real.total('kv')):+7.2f}% {pct(est_c, real.total('compute')):+8.2f}%  "
                  f"{est_mib:8.1f}/{real_mib:.1f}  {pct(est_total, rss):+7.2f}% "
                  f"{est_total / 2**20:8.1f}/{rss / 2**20:.1f}")
    worst = {k: max(abs(pct(*r[k])) for r in rows) for k in ("weights", "kv", "compute", "rss")}
    big = [r for r in rows if r["rss"][1] > 64 * 2**20]
    worst["rss_models_over_64mib"] = max((abs(pct(*r["rss"])) for r in big), default=0.0)
    print("worst |error|: " + ", ".join(f"{k} {v:.2f}%" for k, v in worst.items()))
    margin = min(rows, key=lambda r: r["reserve_margin"])
    print(f"whole reservation (buffers + {CPU_OVERHEAD / 2**20:.0f} MiB allowance) minus what the worker took "
          f"(buffers + its memory before loading): at least {margin['reserve_margin'] / 2**20:+.1f} MiB "
          f"({margin['model']}, {margin['ctx']}, {margin['kv_type']})")
    widths = check_widths() if args.widths else []
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "worst_pct": worst, "widths": widths}, indent=1))


def check_widths() -> list[dict[str, object]]:
    """The compute buffer at the real widths of the larger Qwen3 models (flash attention, f16 KV)."""
    out: list[dict[str, object]] = []
    print("compute buffer at Qwen3 widths (2 layers, f16 KV, flash attention), MiB est/real:")
    for size, spec in QWEN3_WIDTHS.items():
        path = ensure_model(spec)
        shape = read_shape(path)
        cells = []
        for ctx in (4096, 16384, 32768):
            real = measure_buffers(path, ctx=ctx, kv_type="f16", flash_attn=True, timeout=900).total("compute")
            est = compute_buffer_bytes(shape, ctx, flash_attn=True, kv_type="f16")
            out.append({"width": size, "ctx": ctx, "compute": [est, real]})
            cells.append(f"{ctx // 1024}k {est / 2**20:.1f}/{real / 2**20:.1f} ({pct(est, real):+.2f}%)")
        print(f"  {size:8} " + ", ".join(cells), flush=True)
    return out


if __name__ == "__main__":
    main()
