"""A machine file: what `qwen3-explorer hardware --json` writes on one machine, read back into the `Hardware`
it describes so that another machine can plan with it (`explorer.fit.cluster`). Checked whole: a file
that is not one is one line naming the file and the key."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from explorer.hardware.facts import GPU, CPUInfo, Hardware
from explorer.hardware.llama_build import LlamaBuild


class MachineFileError(ValueError):
    """A machine file that is not what `hardware --json` writes: one line naming the file and the key."""


MAX_MACHINE_BYTES = 1 << 20  # `hardware --json` writes a few KB


def read_machine_file(path: Path) -> Hardware:
    """The `Hardware` a `qwen3-explorer hardware --json` file describes."""
    try:
        if path.stat().st_size > MAX_MACHINE_BYTES:
            raise MachineFileError(f"{path}: too big for a machine file (at most {MAX_MACHINE_BYTES:,} bytes)")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MachineFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise MachineFileError(f"{path}: not a machine file (not UTF-8 text at byte {exc.start})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MachineFileError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc
    except RecursionError as exc:
        raise MachineFileError(f"{path}: not a machine file (nested too deeply)") from exc
    return hardware_from_json(data, str(path))


class _Reader:
    def __init__(self, obj: object, where: str, key: str) -> None:
        if not isinstance(obj, dict):
            raise MachineFileError(f"{where}: {key or 'the file'} should be an object, not {type(obj).__name__}")
        self.obj: dict[str, Any] = obj
        self.where = where
        self.key = key

    def _name(self, key: str) -> str:
        return f"{self.key}.{key}" if self.key else key

    def _fail(self, key: str, what: str) -> MachineFileError:
        return MachineFileError(f"{self.where}: key {self._name(key)!r} {what}")

    def raw(self, key: str, required: bool) -> object:
        if key not in self.obj:
            if required:
                raise self._fail(key, "is missing")
            return None
        return self.obj[key]

    def integer(self, key: str, required: bool = True) -> int | None:
        value = self.raw(key, required)
        if value is None and not required:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._fail(key, f"should be a whole number of 0 or more, not {value!r}")
        return value

    def number(self, key: str) -> float | None:
        value = self.raw(key, False)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise self._fail(key, f"should be a positive number, not {value!r}")
        return float(value)

    def text(self, key: str, required: bool = True, default: str = "") -> str:
        value = self.raw(key, required)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._fail(key, f"should be text, not {value!r}")
        return value

    def flag(self, key: str, default: bool | None) -> bool | None:
        value = self.raw(key, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._fail(key, f"should be true or false, not {value!r}")
        return value

    def items(self, key: str) -> list[object]:
        value = self.raw(key, False)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._fail(key, f"should be a list, not {value!r}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        items = self.items(key)
        if not all(isinstance(s, str) for s in items):
            raise self._fail(key, "should be a list of text")
        return tuple(str(s) for s in items)


def hardware_from_json(data: object, where: str) -> Hardware:
    """The inverse of `hardware --json` (`asdict` of a `Hardware`, sets as sorted lists).

    Required: the RAM figures, the CPU's model and threads, each GPU's index, vendor, name and total
    VRAM. Everything else falls back to what the probe says when it does not know.
    """
    r = _Reader(data, where, "")
    ram_total, ram_available = r.integer("ram_total") or 0, r.integer("ram_available") or 0
    cpu_r = _Reader(r.raw("cpu", True), where, "cpu")
    cpu = CPUInfo(model=cpu_r.text("model"), physical_cores=cpu_r.integer("physical_cores", False),
                  logical_cores=cpu_r.integer("logical_cores") or 0, flags=frozenset(cpu_r.strings("flags")))
    gpus: list[GPU] = []
    for i, item in enumerate(r.items("gpus")):
        g = _Reader(item, where, f"gpus[{i}]")
        gpus.append(GPU(index=g.integer("index") or 0, vendor=g.text("vendor"), name=g.text("name"),
                        vram_total=g.integer("vram_total") or 0, vram_free=g.integer("vram_free", False),
                        unified=bool(g.flag("unified", False)), bandwidth=g.number("bandwidth")))
    llama = LlamaBuild(installed=False)
    if r.raw("llama", False) is not None:
        llama = _llama_from_json(_Reader(r.raw("llama", False), where, "llama"))
    speeds: list[tuple[str, float]] = []
    for i, item in enumerate(r.items("measured_speeds")):
        if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str)
                or isinstance(item[1], bool) or not isinstance(item[1], (int, float))):
            raise MachineFileError(f"{where}: key 'measured_speeds[{i}]' should be [file name, tokens/s]")
        speeds.append((item[0], float(item[1])))
    return Hardware(ram_total=ram_total, ram_available=ram_available, cpu=cpu,
                    gpus=tuple(gpus), disk_path=r.text("disk_path", False), disk_free=r.integer("disk_free", False),
                    llama=llama, ram_bandwidth=r.number("ram_bandwidth"), notes=r.strings("notes"),
                    cpu_efficiency=r.number("cpu_efficiency"), gpu_efficiency=r.number("gpu_efficiency"),
                    measured_speeds=tuple(speeds))


def _llama_from_json(r: _Reader) -> LlamaBuild:
    values: dict[str, Any] = {}
    for f in fields(LlamaBuild):  # whatever this version's LlamaBuild holds, and nothing it does not
        if f.name not in r.obj:
            continue
        if f.name in ("installed", "gpu_offload"):
            values[f.name] = r.flag(f.name, None)
        elif f.name in ("version", "error"):
            values[f.name] = r.text(f.name, False, "") or None
        elif f.name == "system_info":
            values[f.name] = r.text(f.name, False, "")
        elif f.name == "architectures":
            values[f.name] = None if r.obj[f.name] is None else frozenset(r.strings(f.name))
        else:
            values[f.name] = r.obj[f.name]
    values["installed"] = bool(values.get("installed"))
    return LlamaBuild(**values)


# --- the plan ------------------------------------------------------------------------------------
