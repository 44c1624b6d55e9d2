"""The hardware probe on fake machines (sysfs trees, NVML, sysctl) and once on this one."""

from __future__ import annotations

import shutil
import sys
from collections import namedtuple
from pathlib import Path

import psutil
import pytest
from fakes_hardware import (
    FakeDevice,
    FakeNVML,
    NVMLError,
    NVMLError_LibraryNotFound,
    amd_card,
    apple_m3_max_64,
    cgroup_v1,
    cgroup_v2,
    fake_sysctl,
    write_files,
)

from explorer.hardware.advice import PORTABLE_CPU_FLAGS, llama_warnings, warnings
from explorer.hardware.bandwidth import measure_ram_bandwidth
from explorer.hardware.describe import describe
from explorer.hardware.facts import GPU, CPUInfo, Hardware
from explorer.hardware.gpus import apple_bandwidth, apple_metal_share
from explorer.hardware.llama_build import MARKER, NOT_INSTALLED, LlamaBuild, probe_llama_build
from explorer.hardware.probe import probe_hardware
from explorer.units import format_bandwidth, format_bytes

GiB = 2**30
MiB = 2**20
NO_LLAMA = LlamaBuild(installed=False)
CPU_BUILD = LlamaBuild(installed=True, version="0.3.36", gpu_offload=False,
                       system_info="CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | ")
GPU_BUILD = LlamaBuild(installed=True, version="0.3.36", gpu_offload=True)
PLAIN_CPU = CPUInfo("Test CPU", 8, 16, frozenset({"avx", "avx2", "fma", "f16c"}))
AMX_CPU = CPUInfo("Xeon", 8, 16, frozenset({"avx", "avx2", "fma", "f16c", "avx512f", "amx_tile", "amx_int8"}))

VM = namedtuple("VM", "total available")


@pytest.fixture
def fixed_ram(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "virtual_memory", lambda: VM(16 * GiB, 10 * GiB))


def probe(tmp_path: Path, **kw: object) -> Hardware:
    """A Linux probe over an empty fake /sys and /proc unless told otherwise, no measuring, no child."""
    args: dict[str, object] = {
        "sysfs_root": tmp_path / "sys", "proc_root": tmp_path / "proc", "nvml": FakeNVML(),
        "system": "Linux", "machine": "x86_64", "llama": NO_LLAMA, "measure_bandwidth": False,
    }
    args.update(kw)
    return probe_hardware(tmp_path / "models", **args)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- units


def test_format_bytes_and_bandwidth() -> None:
    assert format_bytes(None) == "unknown"
    assert format_bytes(512 * MiB) == "512 MiB"
    assert format_bytes(int(7.45 * GiB)) == "7.45 GiB"
    assert format_bytes(31.2 * GiB) == "31.2 GiB"
    assert format_bytes(900) == "900 B"
    assert format_bytes(2 * 1024**4) == "2.00 TiB"
    assert format_bandwidth(3.35e12) == "3.35 TB/s"
    assert format_bandwidth(400e9) == "400 GB/s"
    assert format_bandwidth(None) == "unknown"


# ---------------------------------------------------------------------------------------------- AMD


def test_amd_sysfs_discrete_card_connector_and_apu(tmp_path: Path) -> None:
    sys_root = tmp_path / "sys"
    amd_card(sys_root, "card0", vram_total=24 * GiB, vram_used=3 * GiB, product_name="AMD Radeon RX 7900 XTX")
    # A connector entry that even looks like a device must not count as a second card.
    amd_card(sys_root, "card0-DP-1", vram_total=24 * GiB, vram_used=0, product_name="connector")
    amd_card(sys_root, "card1", device="0x1681", vram_total=512 * MiB, vram_used=100 * MiB)  # APU carve-out
    amd_card(sys_root, "card2", vendor="0x10de", vram_total=None)  # an NVIDIA card seen through DRM
    amd_card(sys_root, "card10", device="0x73bf", vram_total=16 * GiB, product_name="")  # no name, no used
    write_files(sys_root, {"class/drm/renderD128/dev": "226:128\n", "class/drm/version": "drm 1.1.0\n"})

    hw = probe(tmp_path, sysfs_root=sys_root)

    assert hw.gpus == (
        GPU(0, "amd", "AMD Radeon RX 7900 XTX", 24 * GiB, 21 * GiB),
        GPU(1, "amd", "AMD GPU 0x73bf", 16 * GiB, None),
    )
    assert hw.vram_total == 40 * GiB
    assert any("AMD GPU 0x1681 (card1) skipped: only 512 MiB of VRAM" in n and "APU" in n for n in hw.notes)
    assert any("card10" in n and "free VRAM unknown" in n for n in hw.notes)
    assert not any("no amdgpu devices" in n for n in hw.notes)


def test_amd_no_cards_and_no_drm(tmp_path: Path) -> None:
    sys_root = tmp_path / "sys"
    amd_card(sys_root, "card0", vendor="0x8086", vram_total=None)
    hw = probe(tmp_path, sysfs_root=sys_root)
    assert hw.gpus == ()
    assert f"AMD: no amdgpu devices in {sys_root / 'class' / 'drm'}" in hw.notes

    hw = probe(tmp_path, sysfs_root=tmp_path / "nowhere")
    assert any(n.startswith(f"AMD: cannot read {tmp_path / 'nowhere' / 'class' / 'drm'}") for n in hw.notes)


# ---------------------------------------------------------------------------------------------- NVIDIA


def test_nvml_two_gpus_one_call_failing(tmp_path: Path) -> None:
    nvml = FakeNVML([
        FakeDevice(b"NVIDIA GeForce RTX 4090", 24 * GiB, 20 * GiB, bus_width=384, mem_clock_mhz=10501),
        FakeDevice("NVIDIA RTX A4000", 16 * GiB, 15 * GiB, bus_width=NVMLError("Not Supported")),
    ])
    hw = probe(tmp_path, nvml=nvml)

    assert [g.name for g in hw.gpus] == ["NVIDIA GeForce RTX 4090", "NVIDIA RTX A4000"]
    first, second = hw.gpus
    assert (first.index, first.vendor, first.vram_total, first.vram_free) == (0, "nvidia", 24 * GiB, 20 * GiB)
    assert first.bandwidth == pytest.approx(384 / 8 * 10501e6 * 2)  # 1008 GB/s, the 4090's figure
    assert (second.index, second.vram_total, second.vram_free, second.bandwidth) == (1, 16 * GiB, 15 * GiB, None)
    assert "NVIDIA: GPU 1 memory bandwidth unknown (NVMLError: Not Supported)" in hw.notes
    assert nvml.calls == ["init", "shutdown"]


def test_nvml_device_without_memory_info_is_skipped_and_shutdown_still_called(tmp_path: Path) -> None:
    nvml = FakeNVML([FakeDevice("broken", 8 * GiB, 8 * GiB, memory_error=NVMLError("GPU is lost")),
                     FakeDevice("NVIDIA L4", 24 * GiB, 23 * GiB, bus_width=192, mem_clock_mhz=6251)])
    hw = probe(tmp_path, nvml=nvml)
    assert [(g.index, g.name) for g in hw.gpus] == [(1, "NVIDIA L4")]
    assert any("GPU 0 skipped" in n and "GPU is lost" in n for n in hw.notes)

    nvml = FakeNVML(count_error=NVMLError("Unknown Error"))
    hw = probe(tmp_path, nvml=nvml)
    assert hw.gpus == ()
    assert "NVIDIA: could not list the GPUs (NVMLError: Unknown Error)" in hw.notes
    assert nvml.calls == ["init", "shutdown"]


def test_nvml_library_missing_or_driver_not_loaded(tmp_path: Path) -> None:
    hw = probe(tmp_path, nvml=FakeNVML(init_error=NVMLError_LibraryNotFound()))
    assert hw.gpus == ()
    assert "NVIDIA: NVML library not found (no NVIDIA driver)" in hw.notes

    hw = probe(tmp_path, nvml=FakeNVML(init_error=NVMLError("Driver Not Loaded")))
    assert "NVIDIA: NVML did not start (NVMLError: Driver Not Loaded)" in hw.notes


def test_nvml_object_missing_everything_does_not_raise(tmp_path: Path) -> None:
    hw = probe(tmp_path, nvml=object())
    assert hw.gpus == ()
    assert any(n.startswith("NVIDIA: NVML did not start (AttributeError") for n in hw.notes)


# ---------------------------------------------------------------------------------------------- Apple


def test_apple_m3_max_64gib_default_metal_share(tmp_path: Path) -> None:
    sysctl = fake_sysctl(apple_m3_max_64())
    hw = probe(tmp_path, system="Darwin", machine="arm64", sysctl=sysctl, nvml=None)

    assert hw.gpus == (GPU(0, "apple", "Apple M3 Max", 48 * GiB, None, unified=True, bandwidth=400e9),)
    assert hw.cpu == CPUInfo("Apple M3 Max", 16, 16, frozenset({"neon", "dotprod"}))
    assert "CPU: 12 performance and 4 efficiency cores (hw.perflevel0/1)" in hw.notes
    assert any(n.startswith("Apple: Metal may use about 48.0 GiB of 64.0 GiB") for n in hw.notes)
    # No NVML, no sysfs on a Mac: nothing to complain about.
    assert not any(n.startswith(("NVIDIA", "AMD")) for n in hw.notes)
    assert ("GPU", "Apple M3 Max: 48.0 GiB of unified memory usable by the GPU, 400 GB/s") in describe(hw)


def test_apple_wired_limit_overrides_the_default(tmp_path: Path) -> None:
    sysctl = fake_sysctl(apple_m3_max_64(wired_limit_mb=57344))
    hw = probe(tmp_path, system="Darwin", machine="arm64", sysctl=sysctl, nvml=None)
    assert hw.gpus[0].vram_total == 56 * GiB
    assert "Apple: Metal may use 56.0 GiB of unified memory (iogpu.wired_limit_mb)" in hw.notes


def test_apple_share_rule_and_bandwidth_table() -> None:
    assert apple_metal_share(16 * GiB) == 16 * GiB * 2 // 3
    assert apple_metal_share(36 * GiB) == 24 * GiB
    assert apple_metal_share(128 * GiB) == 96 * GiB
    assert apple_bandwidth("Apple M1") == 68.25e9
    assert apple_bandwidth("Apple M4 Pro") == 273e9
    assert apple_bandwidth("Apple M3 Ultra") == 819e9
    assert apple_bandwidth("Apple M9 Hyper") is None


def test_intel_mac_reads_x86_features_from_sysctl(tmp_path: Path) -> None:
    sysctl = fake_sysctl({"machdep.cpu.brand_string": "Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz",
                          "machdep.cpu.features": "FPU SSE SSE2 AVX1.0 FMA F16C",
                          "machdep.cpu.leaf7_features": "AVX2 BMI2", "hw.physicalcpu": "8",
                          "hw.logicalcpu": "16"})
    hw = probe(tmp_path, system="Darwin", machine="x86_64", sysctl=sysctl, nvml=None)
    assert hw.gpus == ()
    assert hw.cpu.flags == {"fpu", "sse", "sse2", "avx", "fma", "f16c", "avx2", "bmi2"}
    assert (hw.cpu.physical_cores, hw.cpu.logical_cores) == (8, 16)


# ---------------------------------------------------------------------------------------------- RAM


@pytest.mark.usefixtures("fixed_ram")
def test_cgroup_v2_limit_below_ram(tmp_path: Path) -> None:
    cgroup_v2(tmp_path / "sys", str(2 * GiB), current=512 * MiB)
    hw = probe(tmp_path)
    assert (hw.ram_total, hw.ram_available) == (2 * GiB, 2 * GiB - 512 * MiB)
    assert any(n.startswith("RAM: this process runs in a container limited to 2.00 GiB of 16.0 GiB physical")
               for n in hw.notes)


@pytest.mark.usefixtures("fixed_ram")
def test_cgroup_v2_max_and_limits_above_ram_change_nothing(tmp_path: Path) -> None:
    cgroup_v2(tmp_path / "sys", "max")
    assert (probe(tmp_path).ram_total, probe(tmp_path).ram_available) == (16 * GiB, 10 * GiB)
    cgroup_v2(tmp_path / "sys", str(64 * GiB), current=GiB)
    hw = probe(tmp_path)
    assert (hw.ram_total, hw.ram_available) == (16 * GiB, 10 * GiB)
    assert not any(n.startswith("RAM") for n in hw.notes)


@pytest.mark.usefixtures("fixed_ram")
def test_cgroup_page_cache_does_not_count_as_used(tmp_path: Path) -> None:
    """Right after a big download the cgroup's usage is mostly page cache the kernel can drop."""
    cgroup_v2(tmp_path / "sys", str(8 * GiB), current=7 * GiB)
    (tmp_path / "sys/fs/cgroup/memory.stat").write_text(f"anon {GiB}\nfile {6 * GiB}\ninactive_file {5 * GiB}\n")
    assert probe(tmp_path).ram_available == 8 * GiB - (7 * GiB - 5 * GiB)
    cgroup_v1(tmp_path / "sys", 12 * GiB, usage=11 * GiB)
    (tmp_path / "sys/fs/cgroup/memory.max").unlink()
    (tmp_path / "sys/fs/cgroup/memory/memory.stat").write_text(f"cache {9 * GiB}\ntotal_inactive_file {8 * GiB}\n")
    assert probe(tmp_path).ram_available == 12 * GiB - 3 * GiB


@pytest.mark.usefixtures("fixed_ram")
def test_cgroup_v1_limit_and_absurd_value(tmp_path: Path) -> None:
    cgroup_v1(tmp_path / "sys", 9223372036854771712, usage=GiB)  # v1's "no limit"
    assert probe(tmp_path).ram_total == 16 * GiB
    cgroup_v1(tmp_path / "sys", 12 * GiB, usage=5 * GiB)
    hw = probe(tmp_path)
    assert (hw.ram_total, hw.ram_available) == (12 * GiB, 7 * GiB)
    cgroup_v1(tmp_path / "sys", 4 * GiB)  # usage unreadable: the limit bounds what is available
    (tmp_path / "sys/fs/cgroup/memory/memory.usage_in_bytes").unlink()
    hw = probe(tmp_path)
    assert (hw.ram_total, hw.ram_available) == (4 * GiB, 4 * GiB)


# ---------------------------------------------------------------------------------------------- CPU


def test_cpuinfo_x86_with_amx(tmp_path: Path) -> None:
    write_files(tmp_path / "proc", {"cpuinfo": (
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
        "flags\t\t: fpu SSE avx avx2 fma f16c avx512f avx512_vnni amx_bf16 amx_tile amx_int8\n\n"
        "processor\t: 1\nmodel name\t: ignored\nflags\t\t: fpu\n")})
    hw = probe(tmp_path)
    assert hw.cpu.model == "Intel(R) Xeon(R) Platinum 8480+"
    assert "sse" in hw.cpu.flags and hw.cpu.has_amx and hw.cpu.has_avx512 and hw.cpu.has_avx2
    assert dict(describe(hw))["CPU features"] == "AVX AVX2 FMA F16C AVX-512 VNNI AMX"


def test_cpuinfo_aarch64_features(tmp_path: Path) -> None:
    write_files(tmp_path / "proc", {"cpuinfo": (
        "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes asimddp sve i8mm\n"
        "CPU implementer\t: 0x41\n\nHardware\t: Ampere Altra\n")})
    hw = probe(tmp_path, machine="aarch64")
    assert hw.cpu.model == "Ampere Altra"
    assert {"neon", "dotprod", "sve", "i8mm", "asimd"} <= hw.cpu.flags
    assert dict(describe(hw))["CPU features"] == "NEON DOTPROD I8MM SVE"


def test_missing_cpuinfo(tmp_path: Path) -> None:
    hw = probe(tmp_path)
    assert hw.cpu.flags == frozenset()
    assert hw.cpu.logical_cores >= 1
    assert any(n.startswith(f"CPU: cannot read {tmp_path / 'proc' / 'cpuinfo'}") for n in hw.notes)
    assert dict(describe(hw))["CPU features"] == "unknown"


# ---------------------------------------------------------------------------------------------- disk


def test_disk_free_of_nearest_existing_parent(tmp_path: Path) -> None:
    hw = probe_hardware(tmp_path / "not" / "yet" / "made", sysfs_root=tmp_path, proc_root=tmp_path,
                        nvml=FakeNVML(), system="Linux", llama=NO_LLAMA, measure_bandwidth=False)
    assert hw.disk_free is not None and 0 < hw.disk_free <= shutil.disk_usage(tmp_path).total
    assert hw.disk_path == str(tmp_path / "not" / "yet" / "made")


def test_unreadable_disk_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path: object) -> object:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(shutil, "disk_usage", denied)
    hw = probe(tmp_path)
    assert hw.disk_free is None
    assert any(n.startswith(f"Disk: cannot read the free space for {tmp_path / 'models'} (PermissionError")
               for n in hw.notes)
    assert dict(describe(hw))["Disk free"] == f"unknown ({tmp_path / 'models'})"


# ---------------------------------------------------------------------------------------------- llama.cpp build


def _py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_buildinfo_child_without_llama_cpp() -> None:
    code = ("import sys; sys.modules['llama_cpp'] = None\n"  # makes `import llama_cpp` fail as if absent
            "from explorer.engine.buildinfo import main; sys.exit(main())")
    assert probe_llama_build(command=_py(code)) == LlamaBuild(installed=False, error=NOT_INSTALLED)


def test_buildinfo_child_that_crashes() -> None:
    build = probe_llama_build(command=_py("import os, sys; sys.stderr.write('ggml: fatal\\n'); os.abort()"))
    assert build.error is not None
    assert build.error.startswith("importing llama-cpp-python crashed the process (SIGABRT)")
    assert "ggml: fatal" in build.error
    assert build.version is None and build.gpu_offload is None


def test_buildinfo_child_failing_timing_out_or_talking_nonsense() -> None:
    build = probe_llama_build(command=_py("raise OSError('libllama.so: cannot open shared object file')"))
    assert build.error is not None
    assert build.error.startswith("importing llama-cpp-python failed (exit code 1)")
    assert "libllama.so: cannot open shared object file" in build.error

    build = probe_llama_build(0.5, command=_py("import time; time.sleep(30)"))
    assert build.error == "checking llama-cpp-python took longer than 0.5 s; gave up"

    build = probe_llama_build(command=_py("print('hello')"))
    assert build.error == "the llama.cpp check gave no answer that could be read: hello"


def test_buildinfo_parses_the_marked_line_among_log_noise() -> None:
    answer = ('{"installed": true, "version": "0.3.36", "gpu_offload": true, '
              '"system_info": "CUDA : ARCHS = 900 | CPU : AVX2 = 1 |"}')
    code = f"print('ggml_cuda_init: found 1 CUDA devices'); print({MARKER + answer!r})"
    assert probe_llama_build(command=_py(code)) == LlamaBuild(
        installed=True, version="0.3.36", gpu_offload=True, system_info="CUDA : ARCHS = 900 | CPU : AVX2 = 1 |")


def test_buildinfo_real_child() -> None:
    """The real child against whatever llama-cpp-python this environment has (or has not)."""
    build = probe_llama_build()
    assert build.error in (None, NOT_INSTALLED), build.error
    if build.installed:
        assert build.version and isinstance(build.gpu_offload, bool) and "CPU" in build.system_info


# ---------------------------------------------------------------------------------------------- warnings


def test_cuda_visible_devices_hides_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNVML([FakeDevice("GPU A", 24 * GiB, 24 * GiB), FakeDevice("GPU B", 24 * GiB, 24 * GiB)])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    hw = probe(tmp_path, nvml=nvml, llama=CPU_BUILD)
    assert [g.name for g in hw.gpus] == ["GPU B"]
    assert any("GPU 0 hidden from llama.cpp by CUDA_VISIBLE_DEVICES=1" in n for n in hw.notes)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert probe(tmp_path, nvml=FakeNVML([FakeDevice("GPU A", GiB, GiB)]), llama=CPU_BUILD).gpus == ()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-5a1b")  # UUIDs: not mapped, nothing hidden
    assert len(probe(tmp_path, nvml=FakeNVML([FakeDevice("GPU A", GiB, GiB)]), llama=CPU_BUILD).gpus) == 1


def test_cpu_only_build_with_nvidia_gpu_warns_with_the_cuda_command(tmp_path: Path) -> None:
    nvml = FakeNVML([FakeDevice("NVIDIA H100 80GB HBM3", 80 * GiB, 79 * GiB, bus_width=5120, mem_clock_mhz=2619)])
    hw = probe(tmp_path, nvml=nvml, llama=CPU_BUILD)
    assert hw.gpus[0].bandwidth == pytest.approx(3.352e12, rel=1e-3)
    assert not hw.offload_possible
    (warning,) = warnings(hw)
    assert warning.startswith("Warning: this machine has an NVIDIA GPU but the installed llama-cpp-python "
                              "is a CPU-only build")
    assert warning.endswith('CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir '
                            "llama-cpp-python==0.3.36")
    assert hw.notes[0] == warning  # warnings come first
    assert dict(describe(hw))["llama.cpp"] == "0.3.36, CPU only"


def test_gpu_warning_commands_per_vendor() -> None:
    amd = [GPU(0, "amd", "Radeon", 24 * GiB, None)]
    apple = [GPU(0, "apple", "Apple M2", 10 * GiB, None, unified=True)]
    assert '"-DGGML_HIP=on"' in llama_warnings(PLAIN_CPU, amd, CPU_BUILD, "Linux")[0]
    assert '"-DGGML_METAL=on"' in llama_warnings(PLAIN_CPU, apple, CPU_BUILD, "Darwin")[0]
    assert llama_warnings(PLAIN_CPU, amd, GPU_BUILD, "Linux") == []
    assert llama_warnings(PLAIN_CPU, [], CPU_BUILD, "Linux") == []
    nvidia = [GPU(0, "nvidia", "RTX", 8 * GiB, None)]
    assert '$env:CMAKE_ARGS = "-DGGML_CUDA=on"; pip install' in llama_warnings(PLAIN_CPU, nvidia, CPU_BUILD,
                                                                                "Windows")[0]


def test_amx_cpu_with_native_amx_build_warns() -> None:
    native = LlamaBuild(installed=True, version="0.3.36", gpu_offload=False,
                        system_info="CPU : SSE3 = 1 | AVX512 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 |")
    (warning,) = llama_warnings(AMX_CPU, [], native, "Linux")
    assert warning.startswith("Warning: this CPU has AMX")
    assert "crash" in warning and "llama_decode" in warning
    assert warning.endswith(f'CMAKE_ARGS="{PORTABLE_CPU_FLAGS}" pip install --force-reinstall --no-cache-dir '
                            "llama-cpp-python==0.3.36")
    # The portable build this project uses does not enable AMX: no warning.
    assert llama_warnings(AMX_CPU, [], CPU_BUILD, "Linux") == []
    # A CPU without AMX never gets it, whatever the build says.
    assert llama_warnings(PLAIN_CPU, [], native, "Linux") == []
    # With a GPU too, the suggested rebuild keeps both the GPU and the portable CPU flags.
    both = llama_warnings(AMX_CPU, [GPU(0, "nvidia", "RTX", 8 * GiB, None)], native, "Linux")
    assert len(both) == 2
    assert all(f'CMAKE_ARGS="-DGGML_CUDA=on {PORTABLE_CPU_FLAGS}"' in w for w in both)


def test_llama_not_installed_or_broken() -> None:
    (warning,) = llama_warnings(PLAIN_CPU, [], LlamaBuild(installed=False, error=NOT_INSTALLED), "Linux")
    assert warning == ("Warning: llama-cpp-python is not installed, so no model can be loaded. Install it with: "
                       "pip install --force-reinstall --no-cache-dir llama-cpp-python==0.3.36")
    assert llama_warnings(PLAIN_CPU, [], NO_LLAMA, "Linux") == []  # not checked: nothing to say
    broken = LlamaBuild(installed=True, error="importing llama-cpp-python crashed the process (SIGILL)")
    (warning,) = llama_warnings(PLAIN_CPU, [], broken, "Linux")
    assert "SIGILL" in warning and "-DGGML_NATIVE=OFF" in warning


# ---------------------------------------------------------------------------------------------- describe


def test_describe_rows() -> None:
    hw = Hardware(
        ram_total=int(31.2 * GiB), ram_available=int(20.1 * GiB), cpu=AMX_CPU,
        gpus=(GPU(0, "nvidia", "RTX 4090", 24 * GiB, 20 * GiB, bandwidth=1008e9),
              GPU(1, "nvidia", "RTX 3090", 24 * GiB, None)),
        disk_path="/models", disk_free=500 * GiB, llama=GPU_BUILD, ram_bandwidth=41.5e9)
    assert describe(hw) == [
        ("CPU", "Xeon, 8 cores, 16 threads"),
        ("CPU features", "AVX AVX2 FMA F16C AVX-512 AMX"),
        ("RAM", "31.2 GiB total, 20.1 GiB available"),
        ("GPU 0", "RTX 4090: 24.0 GiB VRAM, 20.0 GiB free, 1.01 TB/s"),
        ("GPU 1", "RTX 3090: 24.0 GiB VRAM, free unknown"),
        ("Memory bandwidth", "RAM 41.5 GB/s (measured)"),
        ("Disk free", "500 GiB (/models)"),
        ("llama.cpp", "0.3.36, GPU offload"),
    ]
    bare = Hardware(ram_total=0, ram_available=0, cpu=CPUInfo("?", None, 1),
                    llama=LlamaBuild(installed=False, error=NOT_INSTALLED))
    rows = dict(describe(bare))
    assert (rows["RAM"], rows["GPU"], rows["llama.cpp"], rows["Memory bandwidth"]) == (
        "unknown", "none found", "not installed", "RAM not measured")


# ---------------------------------------------------------------------------------------------- this machine


def test_measure_ram_bandwidth_small() -> None:
    assert measure_ram_bandwidth(8 * MiB, threads=2, repeats=2) > 1e8  # more than 100 MB/s anywhere


def test_real_probe_on_this_machine(tmp_path: Path) -> None:
    hw = probe_hardware(tmp_path, llama=NO_LLAMA)
    assert hw.ram_total > 0 and 0 < hw.ram_available <= hw.ram_total
    assert hw.cpu.logical_cores >= 1
    assert hw.disk_free is not None and hw.disk_free > 0
    assert hw.ram_bandwidth is not None and hw.ram_bandwidth > 1e8
    assert any(n.startswith("Memory bandwidth: measured") for n in hw.notes)
    rows = dict(describe(hw))
    assert {"CPU", "CPU features", "RAM", "Memory bandwidth", "Disk free", "llama.cpp"} <= rows.keys()
