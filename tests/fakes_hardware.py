"""Fake hardware sources for probe tests: /sys trees, an NVML module, macOS sysctl answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

GiB = 2**30
MiB = 2**20


# ---------------------------------------------------------------------------------------------- sysfs


def write_files(root: Path, files: dict[str, str]) -> Path:
    """Write {relative path: content} under root; returns root."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def amd_card(root: Path, card: str, *, vendor: str = "0x1002", device: str = "0x744c", vram_total: int | None,
             vram_used: int | None = None, product_name: str | None = None) -> None:
    """One /sys/class/drm/cardN/device directory as the amdgpu driver lays it out."""
    base = f"class/drm/{card}/device/"
    files = {base + "vendor": vendor + "\n", base + "device": device + "\n"}
    if vram_total is not None:
        files[base + "mem_info_vram_total"] = f"{vram_total}\n"
    if vram_used is not None:
        files[base + "mem_info_vram_used"] = f"{vram_used}\n"
    if product_name is not None:
        files[base + "product_name"] = product_name + "\n"
    write_files(root, files)


def cgroup_v2(root: Path, limit: str, current: int | None = None) -> None:
    files = {"fs/cgroup/memory.max": limit + "\n"}
    if current is not None:
        files["fs/cgroup/memory.current"] = f"{current}\n"
    write_files(root, files)


def cgroup_v1(root: Path, limit: int, usage: int | None = None) -> None:
    files = {"fs/cgroup/memory/memory.limit_in_bytes": f"{limit}\n"}
    if usage is not None:
        files["fs/cgroup/memory/memory.usage_in_bytes"] = f"{usage}\n"
    write_files(root, files)


# ---------------------------------------------------------------------------------------------- NVML


class NVMLError(Exception):
    pass


class NVMLError_LibraryNotFound(NVMLError):  # named as in pynvml
    def __str__(self) -> str:
        return "NVML Shared Library Not Found"


@dataclass
class FakeMemory:
    total: int
    free: int
    used: int = 0


@dataclass
class FakeDevice:
    name: bytes | str
    total: int
    free: int
    bus_width: int | Exception = 384
    mem_clock_mhz: int | Exception = 10501
    memory_error: Exception | None = None


@dataclass
class FakeNVML:
    """The pynvml functions the probe calls; any of them can be made to raise."""

    devices: list[FakeDevice] = field(default_factory=list)
    init_error: Exception | None = None
    count_error: Exception | None = None
    NVML_CLOCK_MEM: int = 2
    calls: list[str] = field(default_factory=list)

    def nvmlInit(self) -> None:
        self.calls.append("init")
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self) -> None:
        self.calls.append("shutdown")

    def nvmlDeviceGetCount(self) -> int:
        if self.count_error is not None:
            raise self.count_error
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> FakeDevice:
        return self.devices[i]

    def nvmlDeviceGetName(self, h: FakeDevice) -> bytes | str:
        return h.name

    def nvmlDeviceGetMemoryInfo(self, h: FakeDevice) -> FakeMemory:
        if h.memory_error is not None:
            raise h.memory_error
        return FakeMemory(h.total, h.free, h.total - h.free)

    def nvmlDeviceGetMemoryBusWidth(self, h: FakeDevice) -> int:
        if isinstance(h.bus_width, Exception):
            raise h.bus_width
        return h.bus_width

    def nvmlDeviceGetMaxClockInfo(self, h: FakeDevice, clock: int) -> int:
        assert clock == self.NVML_CLOCK_MEM
        if isinstance(h.mem_clock_mhz, Exception):
            raise h.mem_clock_mhz
        return h.mem_clock_mhz


# ---------------------------------------------------------------------------------------------- macOS


def fake_sysctl(answers: dict[str, str]) -> Callable[[str], str | None]:
    """`sysctl -n` answering from a dict; unknown keys give None, as a missing key does."""
    asked: list[str] = []

    def sysctl(name: str) -> str | None:
        asked.append(name)
        return answers.get(name)

    sysctl.asked = asked  # type: ignore[attr-defined]
    return sysctl


def apple_m3_max_64(wired_limit_mb: int = 0) -> dict[str, str]:
    return {
        "hw.memsize": str(64 * GiB),
        "machdep.cpu.brand_string": "Apple M3 Max",
        "hw.physicalcpu": "16",
        "hw.logicalcpu": "16",
        "hw.perflevel0.physicalcpu": "12",
        "hw.perflevel1.physicalcpu": "4",
        "hw.optional.neon": "1",
        "hw.optional.arm.FEAT_DotProd": "1",
        "hw.optional.arm.FEAT_I8MM": "0",
        "iogpu.wired_limit_mb": str(wired_limit_mb),
    }
