"""Speed predictions calibrated by what ran here.

A prediction is the bandwidth-bound ideal (bytes read per token over the memory bandwidth) times an
efficiency: the share of the bandwidth generation really gets (0.6 on a CPU, 0.75 on a GPU by
default). Each answer generated alone on this machine with enough tokens is kept with its ideal
(`SpeedMeasurement`); the efficiency becomes the median ratio of measured to ideal, per side, and
every prediction, for models not run yet too, uses it (`probe_hardware` reads it). Answers from the
chat grid's side-by-side panes are not kept: panes answering together share the bandwidth.
"""

from __future__ import annotations

from dataclasses import replace

from explorer.fit.estimate import FitEstimate, Verdict, estimate_fit
from explorer.gguf.shape import ModelShape
from explorer.hardware.facts import Hardware
from explorer.hardware.machine_store import MAX_IDEAL_TOKENS_PER_S, MachineStore, SpeedMeasurement, machine_key

MIN_TOKENS = 32  # fewer generated tokens time the start more than the generation


def ideal_speed(shape: ModelShape, hw: Hardware, ctx: int, kv_type: str = "f16") -> float | None:
    """The bandwidth-bound tokens/s of `shape` placed as the estimate places it, at efficiency 1."""
    return estimate_fit(shape, replace(hw, cpu_efficiency=1.0, gpu_efficiency=1.0), ctx=ctx,
                        kv_type=kv_type).tokens_per_second


def where(fit: FitEstimate) -> str:
    return {Verdict.FULL_GPU: "gpu", Verdict.CPU_ONLY: "cpu"}.get(fit.verdict, "mixed")


def measurement(file_name: str, shape: ModelShape, hw: Hardware, fit: FitEstimate, *, tokens: int,
                tokens_per_s: float) -> SpeedMeasurement | None:
    """What to keep of one answer, or None when it says little (too short, no prediction to compare)."""
    if tokens < MIN_TOKENS or tokens_per_s <= 0:
        return None
    ideal = ideal_speed(shape, hw, fit.ctx, fit.kv_type)
    if not ideal or ideal > MAX_IDEAL_TOKENS_PER_S:  # a tiny model: its speed is not the memory's
        return None
    return SpeedMeasurement(file=file_name, where=where(fit), ctx=fit.ctx, measured=tokens_per_s,
                            predicted_raw=ideal, tokens=tokens)


def record(hw: Hardware, m: SpeedMeasurement, store: MachineStore | None = None) -> None:
    (store or MachineStore()).add_speed(machine_key(hw.cpu, hw.ram_total, hw.gpus), m)


def reset(hw: Hardware, store: MachineStore | None = None) -> None:
    (store or MachineStore()).reset_speeds(machine_key(hw.cpu, hw.ram_total, hw.gpus))
