"""What was measured on this machine, kept across launches: the memory bandwidth behind speed
predictions, and the generation speeds of models that ran here (the calibration's evidence).

One JSON file (`paths.machine_file()`) holds an entry per machine, keyed by what identifies it (the
CPU, its threads, the RAM, the GPUs), so a home folder shared between machines keeps each apart. A
damaged file reads as empty and is rewritten; a file that can not be written costs only the memory of
the figures (the app goes on with what it measured this time).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from explorer.hardware.bandwidth import BandwidthSample
from explorer.hardware.facts import GPU, CPUInfo
from explorer.paths import machine_file

VERSION = 1
MAX_SPEEDS = 200  # measurements kept per machine, newest last
GIB = 1 << 30


def machine_key(cpu: CPUInfo, ram_total: int, gpus: tuple[GPU, ...] | list[GPU]) -> str:
    gpu = "+".join(sorted(f"{g.name} {round(g.vram_total / GIB)}G" for g in gpus)) or "no GPU"
    return f"{cpu.model} · {cpu.logical_cores} threads · {round(ram_total / GIB)} GiB · {gpu}"


@dataclass(frozen=True)
class SpeedMeasurement:
    """One answer's generation speed against what the estimate predicted for it."""

    file: str  # the file's name (a catalog file and a downloaded one share it)
    where: str  # "cpu", "gpu" or "mixed" (layers on both)
    ctx: int
    measured: float  # tokens/s of the answer's generation
    predicted_raw: float  # the estimate's tokens/s with an efficiency of 1 (bandwidth-bound ideal)
    tokens: int
    date: str = ""


class MachineStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or machine_file()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"version": VERSION, "machines": {}}
        if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("machines"), dict):
            return {"version": VERSION, "machines": {}}
        return data

    def _write(self, data: dict[str, Any]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass  # see the module's doc

    def _entry(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        entry = data["machines"].get(key)
        if not isinstance(entry, dict):
            entry = data["machines"][key] = {}
        out: dict[str, Any] = entry
        return out

    # --- bandwidth ------------------------------------------------------------------------------

    def bandwidth(self, key: str) -> tuple[BandwidthSample, str] | None:
        """The kept measurement and its date, or None."""
        bw = self._read()["machines"].get(key, {}).get("bandwidth")
        try:
            sample = BandwidthSample(float(bw["median"]), tuple(float(x) for x in bw["passes"]), float(bw["seconds"]))
            return (sample, str(bw.get("date", ""))) if sample.median > 0 else None
        except (TypeError, KeyError, ValueError):
            return None

    def save_bandwidth(self, key: str, sample: BandwidthSample) -> None:
        data = self._read()
        self._entry(data, key)["bandwidth"] = {**asdict(sample), "passes": list(sample.passes),
                                               "date": datetime.now().isoformat(timespec="seconds")}
        self._write(data)

    # --- speeds ---------------------------------------------------------------------------------

    def speeds(self, key: str) -> list[SpeedMeasurement]:
        raw = self._read()["machines"].get(key, {}).get("speeds", [])
        out = []
        for item in raw if isinstance(raw, list) else []:
            try:
                m = SpeedMeasurement(**item)
                if m.measured > 0 and m.predicted_raw > 0:
                    out.append(m)
            except TypeError:
                continue
        return out

    def add_speed(self, key: str, m: SpeedMeasurement) -> None:
        data = self._read()
        entry = self._entry(data, key)
        old = entry.get("speeds")
        speeds: list[Any] = old if isinstance(old, list) else []
        m = m if m.date else SpeedMeasurement(**{**asdict(m), "date": datetime.now().isoformat(timespec="seconds")})
        entry["speeds"] = [*speeds, asdict(m)][-MAX_SPEEDS:]
        self._write(data)

    def reset_speeds(self, key: str) -> None:
        """Forget the calibration's evidence (the bandwidth stays)."""
        data = self._read()
        self._entry(data, key).pop("speeds", None)
        self._write(data)


# --- what the measurements say ----------------------------------------------------------------------

EFFICIENCY_RANGE = (0.05, 1.5)
# A model whose bandwidth-bound ideal is above this reads so few bytes a token that fixed per-token costs
# (sampling, detokenizing, the pipe) decide its speed, not the memory: it says nothing of the efficiency.
# (The generated test models run at thousands of tokens/s; Qwen3-0.6B at 8 bits is ~50 on a desktop CPU.)
MAX_IDEAL_TOKENS_PER_S = 1000.0


def telling(m: SpeedMeasurement) -> bool:
    """The measurement can calibrate predictions (see MAX_IDEAL_TOKENS_PER_S)."""
    return 0 < m.predicted_raw <= MAX_IDEAL_TOKENS_PER_S


def efficiencies(speeds: list[SpeedMeasurement]) -> tuple[float | None, float | None]:
    """(CPU, GPU) efficiency: the median of measured / bandwidth-bound ideal over the answers that ran
    all on that side (mixed placements say nothing about either alone); None without one."""
    def median_ratio(where: str) -> float | None:
        ratios = sorted(m.measured / m.predicted_raw for m in speeds if m.where == where and telling(m))
        if not ratios:
            return None
        mid = len(ratios) // 2
        value = ratios[mid] if len(ratios) % 2 else (ratios[mid - 1] + ratios[mid]) / 2
        return min(max(value, EFFICIENCY_RANGE[0]), EFFICIENCY_RANGE[1])

    return median_ratio("cpu"), median_ratio("gpu")


def measured_by_file(speeds: list[SpeedMeasurement]) -> tuple[tuple[str, float], ...]:
    """Each file's median measured generation speed (newest placements and contexts mixed)."""
    by: dict[str, list[float]] = {}
    for m in speeds:
        by.setdefault(m.file, []).append(m.measured)
    out = []
    for name, values in sorted(by.items()):
        values.sort()
        mid = len(values) // 2
        out.append((name, values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2))
    return tuple(out)
