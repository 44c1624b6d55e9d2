"""This machine's RAM (and its container's limit), CPU model, cores and features, and free disk.

Linux reads /proc and /sys (both injectable for tests), macOS asks sysctl. Each reader appends what
it could not read to `notes` instead of raising.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from explorer.errors import describe_error
from explorer.hardware.facts import CPUInfo
from explorer.units import format_bytes

CGROUP_NO_LIMIT = 1 << 60  # cgroup v1 reports "no limit" as a number near 2**63

Sysctl = Callable[[str], "str | None"]


# ---------------------------------------------------------------------------------------------- helpers


def read_text(path: Path) -> str | None:
    try:
        return path.read_text("utf-8", "replace").strip()
    except (OSError, ValueError):
        return None


def read_int(path: Path) -> int | None:
    text = read_text(path)
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        return None


def run_sysctl(name: str) -> str | None:
    """`sysctl -n name` on macOS; None when the key does not exist or sysctl fails."""
    try:
        proc = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and out else None


def sysctl_int(sysctl: Sysctl, name: str) -> int | None:
    value = sysctl(name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------- RAM


def cgroup_limit(sysfs_root: Path) -> tuple[int, int | None, str] | None:
    """(limit, usage or None, file) of this container's memory cgroup, or None when unlimited.

    The cgroup's usage counts the page cache, which the kernel drops under pressure: right after a
    20 GB download it would make the container look full. Like docker and the kubelet, subtract the
    inactive file pages.
    """
    v2 = sysfs_root / "fs" / "cgroup" / "memory.max"
    text = read_text(v2)
    if text is not None:
        if text == "max" or not text.isdigit():
            return None
        usage = read_int(v2.with_name("memory.current"))
        cache = _stat_value(v2.with_name("memory.stat"), "inactive_file")
        return int(text), _minus(usage, cache), str(v2)
    v1 = sysfs_root / "fs" / "cgroup" / "memory" / "memory.limit_in_bytes"
    limit = read_int(v1)
    if limit is None or limit <= 0 or limit >= CGROUP_NO_LIMIT:
        return None
    usage = read_int(v1.with_name("memory.usage_in_bytes"))
    cache = _stat_value(v1.with_name("memory.stat"), "total_inactive_file")
    return limit, _minus(usage, cache), str(v1)


def _stat_value(path: Path, key: str) -> int | None:
    """One field of a cgroup memory.stat file."""
    text = read_text(path)
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


def _minus(usage: int | None, cache: int | None) -> int | None:
    return None if usage is None else max(0, usage - (cache or 0))


def read_ram(sysfs_root: Path, notes: list[str]) -> tuple[int, int]:
    total = available = 0
    try:
        import psutil

        vm = psutil.virtual_memory()
        total, available = int(vm.total), int(vm.available)
    except Exception as e:  # psutil missing or failing: fall back to sysconf
        try:
            total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            notes.append(f"RAM: psutil failed ({describe_error(e, with_type=True)}); read sysconf instead")
        except (AttributeError, ValueError, OSError):
            notes.append(f"RAM: could not read the amount of memory ({describe_error(e, with_type=True)})")
    limited = cgroup_limit(sysfs_root)
    if limited is not None and (total == 0 or limited[0] < total):
        limit, usage, source = limited
        physical = total
        total = limit
        headroom = max(0, limit - usage) if usage is not None else limit
        available = min(available, headroom) if available else headroom
        was = f" of {format_bytes(physical)} physical" if physical else ""
        notes.append(f"RAM: this process runs in a container limited to {format_bytes(limit)}{was} ({source})")
    return total, available


# ---------------------------------------------------------------------------------------------- CPU


def core_counts() -> tuple[int | None, int]:
    physical: int | None = None
    logical: int | None = None
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
        logical = psutil.cpu_count(logical=True)
    except Exception:
        pass
    return physical, int(logical or os.cpu_count() or 1)


def _cpuinfo_fields(text: str) -> dict[str, str]:
    """Fields of the first processor block (ARM kernels put "Hardware" after all the blocks)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    return fields


def cpu_linux(proc_root: Path, notes: list[str]) -> CPUInfo:
    physical, logical = core_counts()
    path = proc_root / "cpuinfo"
    try:
        text = path.read_text("utf-8", "replace")
    except OSError as e:
        notes.append(f"CPU: cannot read {path} ({describe_error(e, with_type=True)}); CPU features unknown")
        return CPUInfo(platform.processor() or platform.machine() or "unknown CPU", physical, logical)
    fields = _cpuinfo_fields(text)
    flags = set(fields.get("flags", "").lower().split())
    features = set(fields.get("features", "").lower().split())  # aarch64
    if features:
        flags |= features
        if "asimd" in features:
            flags.add("neon")
        if "asimddp" in features:
            flags.add("dotprod")
    model = (fields.get("model name") or fields.get("hardware") or fields.get("model")
             or platform.processor() or platform.machine() or "unknown CPU")
    if not flags:
        notes.append(f"CPU: no flags or Features line in {path}; CPU features unknown")
    return CPUInfo(model, physical, logical, frozenset(flags))


def cpu_macos(sysctl: Sysctl, notes: list[str]) -> CPUInfo:
    physical, logical = core_counts()
    physical = sysctl_int(sysctl, "hw.physicalcpu") or physical
    logical = sysctl_int(sysctl, "hw.logicalcpu") or logical
    model = sysctl("machdep.cpu.brand_string") or platform.processor() or "unknown CPU"
    flags: set[str] = set()
    # Intel Macs list x86 features in two keys ("AVX1.0" means AVX).
    for key in ("machdep.cpu.features", "machdep.cpu.leaf7_features"):
        for f in (sysctl(key) or "").lower().split():
            flags.add("avx" if f == "avx1.0" else f)
    # Apple Silicon answers 1 for each ARM feature it has.
    for key, flag in (("hw.optional.neon", "neon"), ("hw.optional.arm.FEAT_DotProd", "dotprod"),
                      ("hw.optional.arm.FEAT_I8MM", "i8mm"), ("hw.optional.arm.FEAT_BF16", "bf16")):
        if sysctl_int(sysctl, key) == 1:
            flags.add(flag)
    perf = sysctl_int(sysctl, "hw.perflevel0.physicalcpu")
    eff = sysctl_int(sysctl, "hw.perflevel1.physicalcpu")
    if perf and eff:
        notes.append(f"CPU: {perf} performance and {eff} efficiency cores (hw.perflevel0/1)")
    return CPUInfo(model, physical, logical, frozenset(flags))


# ---------------------------------------------------------------------------------------------- disk


def read_disk_free(models_dir: Path, notes: list[str]) -> int | None:
    try:
        where = models_dir.expanduser().absolute()
        while not where.exists() and where.parent != where:
            where = where.parent  # not created yet: the disk it will be created on
        return int(shutil.disk_usage(where).free)
    except (OSError, ValueError) as e:
        notes.append(f"Disk: cannot read the free space for {models_dir} ({describe_error(e, with_type=True)})")
        return None
