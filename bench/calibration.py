"""Speed prediction vs measurement on the 0.6B-shaped model, before and after calibration; and how much
the memory-bandwidth figure behind predictions moves between measurements, the old way and the new.

    .venv/bin/python bench/calibration.py [--answers 3] [--tokens 128] [--rounds 5] [--json out.json]

1. Bandwidth: `--rounds` launches (fresh processes) measuring the old way (best of up to three single
   copies, a fraction of a second) and the new (`measure_bandwidth`: the median of timed passes after a
   warm-up); printed: each figure and the spread (max / min) of each way. The app measures once per
   machine and keeps the figure, so between launches a prediction no longer moves at all.
2. Calibration, in a fresh data folder: the prediction for the model at its context, `--answers`
   answers of `--tokens` tokens generated through the CLI's `ModelRun` (which keeps each speed), the
   prediction again from a new probe (now calibrated). Printed: measured / predicted, before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


PROMPT = "Explain, step by step, why the sky is blue and why sunsets are red."
CTX = 2048


LAUNCH = """
import sys, time
sys.path.insert(0, {root!r})
from explorer.units import MIB
if {new}:
    from explorer.hardware.bandwidth import measure_bandwidth
    print(measure_bandwidth(128 * MIB).median)
else:  # what a launch measured before: a slice per thread, best of up to 3 copies within 0.4 s
    import numpy as np
    from concurrent.futures import ThreadPoolExecutor
    from explorer.hardware.system import core_counts
    n, size = max(1, core_counts()[0] or 1), 128 * MIB
    src = np.empty(size, dtype=np.uint8); dst = np.empty(size, dtype=np.uint8)
    bounds = [(size * k // n, size * (k + 1) // n) for k in range(n)]
    def touch(b): src[b[0]:b[1]] = 1; dst[b[0]:b[1]] = 0
    def copy(b): np.copyto(dst[b[0]:b[1]], src[b[0]:b[1]])
    best, began = float("inf"), time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(touch, bounds))
        for k in range(3):
            if k and time.perf_counter() - began > 0.4:
                break
            t = time.perf_counter(); list(pool.map(copy, bounds)); best = min(best, time.perf_counter() - t)
    print(2 * size / best)
"""


def bandwidth(rounds: int) -> dict[str, Any]:
    """Each measurement in a fresh process, as a launch of the app makes it."""
    import subprocess

    root = str(Path(__file__).resolve().parents[1])

    def launch(new: bool) -> float:
        code = LAUNCH.format(root=root, new=new)
        return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout)

    one, kept = [], []
    for _ in range(rounds):  # alternating, so drift in the machine hits both alike
        one.append(launch(False))
        kept.append(launch(True))
    return {"single_pass_gbps": [x / 1e9 for x in one], "median_of_passes_gbps": [x / 1e9 for x in kept],
            "single_pass_spread": max(one) / min(one), "median_of_passes_spread": max(kept) / min(kept)}


def calibration(answers: int, tokens: int) -> dict[str, Any]:
    import io

    from explorer.chat.records import PaneMode
    from explorer.cli.model_run import ModelRun
    from explorer.fit.estimate import estimate_fit
    from explorer.hardware.cores import physical_cores
    from explorer.hardware.probe import probe_hardware
    from explorer.testing.models import QWEN3_0_6B_SHAPE, ensure_model

    path = ensure_model(QWEN3_0_6B_SHAPE)
    run = ModelRun(err=io.StringIO())
    try:
        if run.open(path, ctx=CTX, threads=physical_cores(), seed=1, force=False):
            raise SystemExit(f"the model did not load: {run.err.getvalue()}")
        assert run.calibrate is not None and run.info is not None
        hw, fit = run.calibrate
        before = fit.tokens_per_second
        speeds = []
        for k in range(answers):
            conv = run.conversation(thinking=False, max_tokens=tokens, seed=k + 1, mode=PaneMode.FREE_FORM)
            answer = run.stream(conv, lambda conv=conv: conv.send(PROMPT), io.StringIO(), echo=False)
            if answer is not None:
                speeds.append(answer.stats.tokens_per_s)
        shape = run.info.shape
    finally:
        run.close()
    calibrated = probe_hardware(path.parent)
    after = estimate_fit(shape, calibrated, ctx=CTX).tokens_per_second
    measured = statistics.median(speeds)
    return {"bandwidth_gbps": (hw.ram_bandwidth or 0) / 1e9, "predicted_before": before, "measured": measured,
            "answers": speeds, "predicted_after": after, "cpu_efficiency_after": calibrated.cpu_efficiency,
            "measured_over_predicted_before": measured / before if before else None,
            "measured_over_predicted_after": measured / after if after else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--answers", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="qwen3-calibration-")  # a machine with no history
    bw = bandwidth(args.rounds)
    print("memory bandwidth, GB/s (read + write):")
    print("  old (single copies):  " + "  ".join(f"{x:.1f}" for x in bw["single_pass_gbps"])
          + f"   spread {bw['single_pass_spread']:.2f}x")
    print("  new (median of passes):" + "  ".join(f"{x:.1f}" for x in bw["median_of_passes_gbps"])
          + f"   spread {bw['median_of_passes_spread']:.2f}x")
    cal = calibration(args.answers, args.tokens)
    print(f"0.6B-shaped Q8_0 at {CTX} context, bandwidth {cal['bandwidth_gbps']:.1f} GB/s:")
    print(f"  predicted before calibration {cal['predicted_before']:.1f} tok/s, measured {cal['measured']:.1f} "
          f"tok/s (median of {len(cal['answers'])}): measured / predicted = "
          f"{cal['measured_over_predicted_before']:.2f}")
    print(f"  predicted after calibration  {cal['predicted_after']:.1f} tok/s (CPU efficiency "
          f"{cal['cpu_efficiency_after']:.2f}): measured / predicted = {cal['measured_over_predicted_after']:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"bandwidth": bw, "calibration": cal}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
