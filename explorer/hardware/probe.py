"""Probe the machine: RAM, GPUs and their VRAM, CPU features, free disk, llama.cpp offload support.

Every source may be missing or fail (no NVML, no GPU, a container with limits, a sandbox without
/sys): the probe records what it could not read in `Hardware.notes` and never raises.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explorer.errors import describe_error
from explorer.hardware.llama_build import NOT_INSTALLED, LlamaBuild, probe_llama_build
from explorer.units import GIB, MIB, format_bandwidth, format_bytes


@dataclass(frozen=True)
class GPU:
    index: int
    vendor: str  # "nvidia" | "amd" | "apple" | "intel"
    name: str
    vram_total: int  # bytes; for Apple: the share of unified memory Metal may use
    vram_free: int | None  # bytes, None when the driver does not say
    unified: bool = False  # memory shared with the CPU (Apple Silicon)
    bandwidth: float | None = None  # bytes/s, from a table of known cards or the driver


@dataclass(frozen=True)
class CPUInfo:
    model: str
    physical_cores: int | None
    logical_cores: int
    flags: frozenset[str] = frozenset()  # lower-case: "avx", "avx2", "fma", "f16c", "avx512f", "amx_tile", "neon" ...

    @property
    def has_avx2(self) -> bool:
        return "avx2" in self.flags

    @property
    def has_avx512(self) -> bool:
        return "avx512f" in self.flags

    @property
    def has_amx(self) -> bool:
        return any(f.startswith("amx") for f in self.flags)


@dataclass(frozen=True)
class Hardware:
    ram_total: int  # bytes, the container limit when lower than the physical RAM
    ram_available: int
    cpu: CPUInfo
    gpus: tuple[GPU, ...] = ()
    disk_path: str = ""
    disk_free: int | None = None
    llama: LlamaBuild = field(default_factory=lambda: LlamaBuild(installed=False))
    ram_bandwidth: float | None = None  # bytes/s estimate for system memory
    notes: tuple[str, ...] = ()  # what could not be read, and warnings for the user

    @property
    def vram_total(self) -> int:
        return sum(g.vram_total for g in self.gpus)

    @property
    def offload_possible(self) -> bool:
        """A GPU is there and the llama.cpp build can use it (or has not said it cannot)."""
        # Unknown (llama.cpp not checked or not installed yet) is not "no": the verdict then speaks
        # of the hardware, and a separate warning speaks of the build.
        return bool(self.gpus) and self.llama.gpu_offload is not False


WARNING_PREFIX = "Warning:"
LLAMA_CPP_VERSION = "0.3.36"  # the version pyproject.toml pins
# A native build on AMX CPUs crashes in llama_decode on quantized models (DESIGN.md); these flags do not.
PORTABLE_CPU_FLAGS = "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
GPU_CMAKE_FLAGS = {"nvidia": "-DGGML_CUDA=on", "amd": "-DGGML_HIP=on", "apple": "-DGGML_METAL=on",
                   "intel": "-DGGML_SYCL=on"}
_VENDOR_NAMES = {"nvidia": "NVIDIA", "amd": "AMD", "apple": "Apple", "intel": "Intel"}

# Peak unified-memory bandwidth in GB/s as Apple states it (for binned Max chips, the full chip's).
APPLE_BANDWIDTH_GBS: dict[str, float] = {
    "M1": 68.25, "M1 Pro": 200, "M1 Max": 400, "M1 Ultra": 800,
    "M2": 100, "M2 Pro": 200, "M2 Max": 400, "M2 Ultra": 800,
    "M3": 100, "M3 Pro": 150, "M3 Max": 400, "M3 Ultra": 819,
    "M4": 120, "M4 Pro": 273, "M4 Max": 546,
}
_APPLE_CHIP_RE = re.compile(r"\b(M\d+)(?:\s+(Pro|Max|Ultra))?\b")
_AMX_ENABLED_RE = re.compile(r"\bAMX\w*\s*=\s*1\b")
_MIN_DISCRETE_VRAM = GIB  # AMD APUs report a small BIOS carve-out as "VRAM"
_CGROUP_NO_LIMIT = 1 << 60  # cgroup v1 reports "no limit" as a number near 2**63

Sysctl = Callable[[str], "str | None"]


# ---------------------------------------------------------------------------------------------- helpers


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text("utf-8", "replace").strip()
    except (OSError, ValueError):
        return None


def _read_int(path: Path) -> int | None:
    text = _read_text(path)
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        return None


def _run_sysctl(name: str) -> str | None:
    """`sysctl -n name` on macOS; None when the key does not exist or sysctl fails."""
    try:
        proc = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and out else None


def _sysctl_int(sysctl: Sysctl, name: str) -> int | None:
    value = sysctl(name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------- RAM


def _cgroup_limit(sysfs_root: Path) -> tuple[int, int | None, str] | None:
    """(limit, usage or None, file) of this container's memory cgroup, or None when unlimited.

    The cgroup's usage counts the page cache, which the kernel drops under pressure: right after a
    20 GB download it would make the container look full. Like docker and the kubelet, subtract the
    inactive file pages.
    """
    v2 = sysfs_root / "fs" / "cgroup" / "memory.max"
    text = _read_text(v2)
    if text is not None:
        if text == "max" or not text.isdigit():
            return None
        usage = _read_int(v2.with_name("memory.current"))
        cache = _stat_value(v2.with_name("memory.stat"), "inactive_file")
        return int(text), _minus(usage, cache), str(v2)
    v1 = sysfs_root / "fs" / "cgroup" / "memory" / "memory.limit_in_bytes"
    limit = _read_int(v1)
    if limit is None or limit <= 0 or limit >= _CGROUP_NO_LIMIT:
        return None
    usage = _read_int(v1.with_name("memory.usage_in_bytes"))
    cache = _stat_value(v1.with_name("memory.stat"), "total_inactive_file")
    return limit, _minus(usage, cache), str(v1)


def _stat_value(path: Path, key: str) -> int | None:
    """One field of a cgroup memory.stat file."""
    text = _read_text(path)
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


def _minus(usage: int | None, cache: int | None) -> int | None:
    return None if usage is None else max(0, usage - (cache or 0))


def _ram(sysfs_root: Path, notes: list[str]) -> tuple[int, int]:
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
    limited = _cgroup_limit(sysfs_root)
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


def _cores() -> tuple[int | None, int]:
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


def _cpu_linux(proc_root: Path, notes: list[str]) -> CPUInfo:
    physical, logical = _cores()
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


def _cpu_macos(sysctl: Sysctl, notes: list[str]) -> CPUInfo:
    physical, logical = _cores()
    physical = _sysctl_int(sysctl, "hw.physicalcpu") or physical
    logical = _sysctl_int(sysctl, "hw.logicalcpu") or logical
    model = sysctl("machdep.cpu.brand_string") or platform.processor() or "unknown CPU"
    flags: set[str] = set()
    # Intel Macs list x86 features in two keys ("AVX1.0" means AVX).
    for key in ("machdep.cpu.features", "machdep.cpu.leaf7_features"):
        for f in (sysctl(key) or "").lower().split():
            flags.add("avx" if f == "avx1.0" else f)
    # Apple Silicon answers 1 for each ARM feature it has.
    for key, flag in (("hw.optional.neon", "neon"), ("hw.optional.arm.FEAT_DotProd", "dotprod"),
                      ("hw.optional.arm.FEAT_I8MM", "i8mm"), ("hw.optional.arm.FEAT_BF16", "bf16")):
        if _sysctl_int(sysctl, key) == 1:
            flags.add(flag)
    perf = _sysctl_int(sysctl, "hw.perflevel0.physicalcpu")
    eff = _sysctl_int(sysctl, "hw.perflevel1.physicalcpu")
    if perf and eff:
        notes.append(f"CPU: {perf} performance and {eff} efficiency cores (hw.perflevel0/1)")
    return CPUInfo(model, physical, logical, frozenset(flags))


# ---------------------------------------------------------------------------------------------- GPUs


def _cuda_visible_devices() -> set[int] | None:
    """The GPU indices CUDA_VISIBLE_DEVICES leaves to CUDA programs; None when it does not restrict.

    NVML sees every GPU regardless, but llama.cpp can use only these. UUID entries are not mapped
    (None: no restriction assumed).
    """
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    visible: set[int] = set()
    for p in parts:  # CUDA stops at the first entry that is not a device: "-1" or "" hides all
        if p.startswith("GPU-") or p.startswith("MIG-"):
            return None
        if not p.isdigit():
            break
        visible.add(int(p))
    return visible


def _nvidia(nvml: object | None, notes: list[str]) -> list[GPU]:
    lib: Any = nvml
    if lib is None:
        try:
            import pynvml

            lib = pynvml
        except ImportError:
            notes.append("NVIDIA: nvidia-ml-py (pynvml) is not installed; NVIDIA GPUs are not detected")
            return []
    try:
        lib.nvmlInit()
    except Exception as e:
        if "LibraryNotFound" in type(e).__name__ or "not found" in str(e).lower():
            notes.append("NVIDIA: NVML library not found (no NVIDIA driver)")
        else:
            notes.append(f"NVIDIA: NVML did not start ({describe_error(e, with_type=True)})")
        return []
    gpus: list[GPU] = []
    visible = _cuda_visible_devices()
    try:
        count = int(lib.nvmlDeviceGetCount())
        if count == 0:
            notes.append("NVIDIA: the driver is loaded but reports no GPUs")
        hidden = [i for i in range(count) if visible is not None and i not in visible]
        if hidden:
            notes.append(f"NVIDIA: GPU {', '.join(map(str, hidden))} hidden from llama.cpp by "
                         f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')}")
        for i in range(count):
            if i in hidden:
                continue
            try:
                handle = lib.nvmlDeviceGetHandleByIndex(i)
                mem = lib.nvmlDeviceGetMemoryInfo(handle)
                total, free = int(mem.total), int(mem.free)
            except Exception as e:
                notes.append(f"NVIDIA: GPU {i} skipped, its memory could not be read "
                             f"({describe_error(e, with_type=True)})")
                continue
            try:
                raw = lib.nvmlDeviceGetName(handle)
                name = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            except Exception as e:
                name = f"NVIDIA GPU {i}"
                notes.append(f"NVIDIA: GPU {i} name unknown ({describe_error(e, with_type=True)})")
            bandwidth: float | None = None
            try:
                bus_bits = int(lib.nvmlDeviceGetMemoryBusWidth(handle))
                mem_mhz = int(lib.nvmlDeviceGetMaxClockInfo(handle, lib.NVML_CLOCK_MEM))
                # Double data rate: two transfers per clock on the bus.
                bandwidth = bus_bits / 8 * mem_mhz * 1e6 * 2 if bus_bits > 0 and mem_mhz > 0 else None
            except Exception as e:
                notes.append(f"NVIDIA: GPU {i} memory bandwidth unknown ({describe_error(e, with_type=True)})")
            gpus.append(GPU(i, "nvidia", name.strip() or f"NVIDIA GPU {i}", total, free, bandwidth=bandwidth))
    except Exception as e:
        notes.append(f"NVIDIA: could not list the GPUs ({describe_error(e, with_type=True)})")
    finally:
        with contextlib.suppress(Exception):
            lib.nvmlShutdown()
    return gpus


def _amd(sysfs_root: Path, notes: list[str]) -> list[GPU]:
    drm = sysfs_root / "class" / "drm"
    try:
        entries = [p for p in drm.iterdir() if re.fullmatch(r"card\d+", p.name)]  # not card0-DP-1 connectors
    except OSError as e:
        notes.append(f"AMD: cannot read {drm} ({describe_error(e, with_type=True)}); AMD GPUs are not detected")
        return []
    gpus: list[GPU] = []
    for card in sorted(entries, key=lambda p: int(p.name[4:])):
        dev = card / "device"
        if (_read_text(dev / "vendor") or "").lower() != "0x1002":
            continue
        device_id = _read_text(dev / "device") or "?"
        name = _read_text(dev / "product_name") or f"AMD GPU {device_id}"
        total = _read_int(dev / "mem_info_vram_total")
        if total is None:
            notes.append(f"AMD: {name} ({card.name}) skipped: cannot read mem_info_vram_total (amdgpu driver?)")
            continue
        if total < _MIN_DISCRETE_VRAM:
            notes.append(f"AMD: {name} ({card.name}) skipped: only {format_bytes(total)} of VRAM, "
                         "an integrated GPU (APU) that shares system RAM")
            continue
        used = _read_int(dev / "mem_info_vram_used")
        free = max(0, total - used) if used is not None else None
        if free is None:
            notes.append(f"AMD: {name} ({card.name}): free VRAM unknown (cannot read mem_info_vram_used)")
        gpus.append(GPU(len(gpus), "amd", name, total, free))
    if not gpus and not any("AMD:" in n for n in notes):
        notes.append(f"AMD: no amdgpu devices in {drm}")
    return gpus


def apple_metal_share(memsize: int) -> int:
    """Unified memory macOS lets Metal use by default (recommendedMaxWorkingSetSize, approximately)."""
    return memsize * 2 // 3 if memsize <= 36 * GIB else memsize * 3 // 4


def apple_bandwidth(chip: str) -> float | None:
    """Peak memory bandwidth in bytes/s for an Apple chip name such as "Apple M3 Max"."""
    m = _APPLE_CHIP_RE.search(chip)
    if m is None:
        return None
    key = f"{m.group(1)} {m.group(2)}" if m.group(2) else m.group(1)
    gbs = APPLE_BANDWIDTH_GBS.get(key)
    return gbs * 1e9 if gbs is not None else None


def _apple(sysctl: Sysctl, cpu_model: str, ram_total: int, notes: list[str]) -> list[GPU]:
    memsize = _sysctl_int(sysctl, "hw.memsize")
    if memsize is None:
        notes.append("Apple: sysctl hw.memsize unreadable; used the RAM total instead")
        memsize = ram_total
    if memsize <= 0:
        notes.append("Apple: unified memory size unknown; the GPU is not counted")
        return []
    wired_mb = _sysctl_int(sysctl, "iogpu.wired_limit_mb") or 0
    if wired_mb > 0:
        share = min(memsize, wired_mb * MIB)
        notes.append(f"Apple: Metal may use {format_bytes(share)} of unified memory (iogpu.wired_limit_mb)")
    else:
        share = apple_metal_share(memsize)
        notes.append(f"Apple: Metal may use about {format_bytes(share)} of {format_bytes(memsize)} unified "
                     "memory (the macOS default; raise it with `sudo sysctl iogpu.wired_limit_mb=N`)")
    chip = cpu_model if "apple" in cpu_model.lower() else "Apple Silicon"
    bandwidth = apple_bandwidth(chip)
    if bandwidth is None:
        notes.append(f"Apple: memory bandwidth of {chip} not in the table")
    return [GPU(0, "apple", chip, share, None, unified=True, bandwidth=bandwidth)]


# ---------------------------------------------------------------------------------------------- disk, bandwidth


def _disk(models_dir: Path, notes: list[str]) -> int | None:
    try:
        where = models_dir.expanduser().absolute()
        while not where.exists() and where.parent != where:
            where = where.parent  # not created yet: the disk it will be created on
        return int(shutil.disk_usage(where).free)
    except (OSError, ValueError) as e:
        notes.append(f"Disk: cannot read the free space for {models_dir} ({describe_error(e, with_type=True)})")
        return None


def measure_ram_bandwidth(size: int = 128 * MIB, threads: int | None = None, repeats: int = 3,
                          deadline: float = 0.4) -> float:
    """Bytes/s for copying a `size` buffer into another (read + write counted), a slice per thread.

    Token generation on the CPU is bound by memory bandwidth, so this is what the speed estimate
    needs; numpy's copy releases the GIL, so the threads run in parallel. Best of `repeats`, fewer
    when `deadline` seconds have passed (touching fresh pages is slow in some VMs).
    """
    import numpy as np

    n_threads = max(1, min(threads or _cores()[0] or os.cpu_count() or 1, 32))
    src = np.empty(size, dtype=np.uint8)
    dst = np.empty(size, dtype=np.uint8)
    bounds = [(size * k // n_threads, size * (k + 1) // n_threads) for k in range(n_threads)]

    def copy(b: tuple[int, int]) -> None:
        np.copyto(dst[b[0]:b[1]], src[b[0]:b[1]])

    def touch(b: tuple[int, int]) -> None:  # fault the pages in before timing
        src[b[0]:b[1]] = 1
        dst[b[0]:b[1]] = 0

    best = float("inf")
    began = time.perf_counter()
    with ThreadPoolExecutor(n_threads) as pool:
        list(pool.map(touch, bounds))
        for k in range(max(1, repeats)):
            if k and time.perf_counter() - began > deadline:
                break
            start = time.perf_counter()
            list(pool.map(copy, bounds))
            best = min(best, time.perf_counter() - start)
    return 2 * size / best if best > 0 else 0.0


# ---------------------------------------------------------------------------------------------- warnings


def _install_command(flags: list[str], system: str) -> str:
    pip = f"pip install --force-reinstall --no-cache-dir llama-cpp-python=={LLAMA_CPP_VERSION}"
    if not flags:
        return pip
    cmake = " ".join(flags)
    if system == "Windows":
        return f'$env:CMAKE_ARGS = "{cmake}"; {pip}'
    return f'CMAKE_ARGS="{cmake}" {pip}'


def _build_flags(cpu: CPUInfo, gpus: tuple[GPU, ...] | list[GPU]) -> list[str]:
    """CMAKE_ARGS for a build that uses the GPU here and does not crash on this CPU."""
    flags: list[str] = []
    for vendor in dict.fromkeys(g.vendor for g in gpus):
        if vendor in GPU_CMAKE_FLAGS:
            flags.append(GPU_CMAKE_FLAGS[vendor])
    if cpu.has_amx:
        flags.extend(PORTABLE_CPU_FLAGS.split())
    return flags


def llama_warnings(cpu: CPUInfo, gpus: tuple[GPU, ...] | list[GPU], llama: LlamaBuild,
                   system: str | None = None) -> list[str]:
    """Warnings (each starting with "Warning:") about the llama.cpp build on this hardware."""
    system = system or platform.system()
    out: list[str] = []
    command = _install_command(_build_flags(cpu, gpus), system)
    if not llama.installed:
        if llama.error == NOT_INSTALLED:
            out.append(f"{WARNING_PREFIX} llama-cpp-python is not installed, so no model can be loaded. "
                       f"Install it with: {command}")
        return out
    if llama.error:
        hint = ""
        if "SIGILL" in llama.error:
            hint = (" SIGILL means it was built for a different CPU; rebuild it here: "
                    + _install_command(_build_flags(cpu, gpus) or PORTABLE_CPU_FLAGS.split(), system))
        out.append(f"{WARNING_PREFIX} llama-cpp-python is installed but could not be checked: {llama.error}.{hint}")
    if gpus and llama.gpu_offload is False:
        vendors = " and ".join(dict.fromkeys(_VENDOR_NAMES.get(g.vendor, g.vendor) for g in gpus))
        out.append(f"{WARNING_PREFIX} this machine has an {vendors} GPU but the installed llama-cpp-python is a "
                   f"CPU-only build, so models run on the CPU only. Reinstall it with GPU support: {command}")
    if cpu.has_amx and _AMX_ENABLED_RE.search(llama.system_info):
        out.append(f"{WARNING_PREFIX} this CPU has AMX and llama-cpp-python was built natively with AMX enabled; "
                   "such builds are known to crash (segfault) in llama_decode on quantized models. "
                   f"Rebuild it without native CPU tuning: {command}")
    return out


def warnings(hw: Hardware) -> list[str]:
    """The notes the UI should highlight."""
    return [n for n in hw.notes if n.startswith(WARNING_PREFIX)]


# ---------------------------------------------------------------------------------------------- probe


def probe_hardware(
    models_dir: Path,
    *,
    sysfs_root: Path = Path("/sys"),
    proc_root: Path = Path("/proc"),
    nvml: object | None = None,
    sysctl: Callable[[str], str | None] | None = None,
    system: str | None = None,
    machine: str | None = None,
    llama: LlamaBuild | None = None,
    measure_bandwidth: bool = True,
) -> Hardware:
    """Read everything the fit estimate needs. Never raises; what could not be read goes to `notes`.

    The keyword arguments let tests feed fake /sys and /proc trees, a fake NVML module, fake macOS
    sysctl answers, a fake platform and a ready llama.cpp build description.
    """
    notes: list[str] = []
    system = system if system is not None else platform.system()
    machine = machine if machine is not None else platform.machine()
    ask = sysctl if sysctl is not None else _run_sysctl

    def guarded(what: str, fn: Callable[[], Any], default: Any) -> Any:
        try:
            return fn()
        except Exception as e:  # a bug or a very odd machine must not stop the app from starting
            notes.append(f"{what}: unexpected error ({describe_error(e, with_type=True)})")
            return default

    if system == "Darwin":
        cpu = guarded("CPU", lambda: _cpu_macos(ask, notes), None)
    elif system == "Linux":
        cpu = guarded("CPU", lambda: _cpu_linux(proc_root, notes), None)
    else:
        cpu = None
    if cpu is None:
        physical, logical = _cores()
        cpu = CPUInfo(platform.processor() or machine or "unknown CPU", physical, logical)
        if system not in ("Darwin", "Linux"):
            notes.append(f"CPU: features are not read on {system or 'this system'}")

    ram_total, ram_available = guarded("RAM", lambda: _ram(sysfs_root, notes), (0, 0))

    gpus: list[GPU] = []
    if system == "Darwin" and machine == "arm64":
        gpus += guarded("Apple", lambda: _apple(ask, cpu.model, ram_total, notes), [])
    if nvml is not None or system != "Darwin":
        gpus += guarded("NVIDIA", lambda: _nvidia(nvml, notes), [])
    if system == "Linux":
        gpus += guarded("AMD", lambda: _amd(sysfs_root, notes), [])
    elif system != "Darwin":
        notes.append(f"AMD: GPUs are only detected on Linux (through sysfs), not on {system or 'this system'}")

    disk_free = guarded("Disk", lambda: _disk(models_dir, notes), None)

    build: LlamaBuild
    if llama is None:
        build = guarded("llama.cpp", probe_llama_build, LlamaBuild(installed=False, error="the check failed"))
    else:
        build = llama
    if not build.installed and build.error and build.error != NOT_INSTALLED:
        notes.append(f"llama.cpp: {build.error}")

    ram_bandwidth: float | None = None
    # Two buffers of `size` are allocated: in a small container that must not invite the OOM killer.
    size = min(128 * MIB, ram_available // 16)
    if measure_bandwidth and size < 16 * MIB:
        notes.append("Memory bandwidth: not measured, too little free memory")
    elif measure_bandwidth:
        start = time.perf_counter()
        ram_bandwidth = guarded("Memory bandwidth", lambda: measure_ram_bandwidth(size), None)
        if ram_bandwidth:
            notes.append(f"Memory bandwidth: measured {format_bandwidth(ram_bandwidth)} by copying a buffer "
                         f"in RAM ({time.perf_counter() - start:.2f} s); real token speed is lower")

    notes = llama_warnings(cpu, gpus, build, system) + notes
    return Hardware(ram_total=ram_total, ram_available=ram_available, cpu=cpu, gpus=tuple(gpus),
                    disk_path=str(models_dir), disk_free=disk_free, llama=build, ram_bandwidth=ram_bandwidth,
                    notes=tuple(notes))


# ---------------------------------------------------------------------------------------------- describe

_FEATURE_LABELS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("avx",), "AVX"), (("avx2",), "AVX2"), (("fma",), "FMA"), (("f16c",), "F16C"),
    (("avx512f",), "AVX-512"), (("avx512_vnni", "avx_vnni"), "VNNI"), (("avx512_bf16",), "AVX-512 BF16"),
    (("amx_tile", "amx_int8", "amx_bf16"), "AMX"),
    (("neon",), "NEON"), (("dotprod",), "DOTPROD"), (("i8mm",), "I8MM"), (("sve",), "SVE"),
)


def cpu_features_text(cpu: CPUInfo) -> str:
    """The CPU features llama.cpp cares about, e.g. "AVX AVX2 FMA F16C AVX-512 AMX"."""
    if not cpu.flags:
        return "unknown"
    names = [label for keys, label in _FEATURE_LABELS if any(k in cpu.flags for k in keys)]
    return " ".join(names) if names else "none of AVX/AVX2/AVX-512/NEON"


def _gpu_text(g: GPU) -> str:
    bw = f", {format_bandwidth(g.bandwidth)}" if g.bandwidth else ""
    if g.unified:
        return f"{g.name}: {format_bytes(g.vram_total)} of unified memory usable by the GPU{bw}"
    free = f", {format_bytes(g.vram_free)} free" if g.vram_free is not None else ", free unknown"
    return f"{g.name}: {format_bytes(g.vram_total)} VRAM{free}{bw}"


def describe(hw: Hardware) -> list[tuple[str, str]]:
    """(label, value) rows a person reads: what the probe found. The CLI prints them, the GUI lays them out."""
    cpu = hw.cpu
    cores = (f"{cpu.physical_cores} cores, {cpu.logical_cores} threads" if cpu.physical_cores
             else f"{cpu.logical_cores} logical cores")
    rows = [
        ("CPU", f"{cpu.model}, {cores}"),
        ("CPU features", cpu_features_text(cpu)),
        ("RAM", f"{format_bytes(hw.ram_total)} total, {format_bytes(hw.ram_available)} available"
         if hw.ram_total else "unknown"),
    ]
    if not hw.gpus:
        rows.append(("GPU", "none found"))
    for g in hw.gpus:
        label = "GPU" if len(hw.gpus) == 1 else f"GPU {g.index}" if g.vendor != "amd" else f"AMD GPU {g.index}"
        rows.append((label, _gpu_text(g)))
    rows.append(("Memory bandwidth", f"RAM {format_bandwidth(hw.ram_bandwidth)} (measured)"
                 if hw.ram_bandwidth else "RAM not measured"))
    rows.append(("Disk free", f"{format_bytes(hw.disk_free)} ({hw.disk_path})" if hw.disk_path
                 else format_bytes(hw.disk_free)))
    llama = hw.llama
    if llama.installed:
        mode = "GPU offload" if llama.gpu_offload else "CPU only" if llama.gpu_offload is False else "offload unknown"
        text = f"{llama.version or 'unknown version'}, {mode}" if not llama.error else f"error: {llama.error}"
    else:
        text = "not installed" if llama.error in (None, NOT_INSTALLED) else llama.error or "not installed"
    rows.append(("llama.cpp", text))
    return rows
