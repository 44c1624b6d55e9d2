"""Fit verdicts on made-up machines: placement, verdict boundaries, MoE speed, unified memory."""

from __future__ import annotations

from dataclasses import replace

import pytest

from explorer.fit.estimate import GPU_OVERHEAD, Verdict, estimate_fit, kv_cache_bytes, usable_gpus
from explorer.gguf.shape import Architecture, estimate_shape
from explorer.hardware.facts import GPU, CPUInfo, Hardware
from explorer.hardware.llama_build import LlamaBuild

GiB = 2**30
CPU = CPUInfo("Test CPU", 8, 16, frozenset({"avx2"}))
CUDA_BUILD = LlamaBuild(installed=True, version="0.3.36", gpu_offload=True)
CPU_BUILD = LlamaBuild(installed=True, version="0.3.36", gpu_offload=False)

QWEN3_8B = Architecture("qwen3", 36, 4096, 32, 8, 128, 12288, 151936, 32768, 131072)
QWEN3_32B = Architecture("qwen3", 64, 5120, 64, 8, 128, 25600, 151936, 32768, 131072)
QWEN3_30B_A3B = Architecture("qwen3moe", 48, 2048, 32, 4, 128, 0, 151936, 32768, 131072,
                             n_expert=128, n_expert_used=8, n_ff_exp=768)


def machine(vram_gib: float = 0, ram_gib: float = 64, build: LlamaBuild = CUDA_BUILD, **gpu_kw: object) -> Hardware:
    gpus = ()
    if vram_gib:
        gpus = (GPU(0, "nvidia", "Test GPU", int(vram_gib * GiB), int(vram_gib * GiB), bandwidth=1000e9,
                    **gpu_kw),)  # type: ignore[arg-type]
    return Hardware(int(ram_gib * GiB) * 2, int(ram_gib * GiB), CPU, gpus, llama=build, ram_bandwidth=50e9)


def test_small_model_fits_fully_on_a_big_gpu() -> None:
    shape = estimate_shape(QWEN3_8B, "Q4_K_M")
    est = estimate_fit(shape, machine(24), ctx=8192)
    assert est.verdict is Verdict.FULL_GPU
    assert est.gpu_layers == est.n_layers == 37
    assert est.gpu.weights + est.cpu.weights >= shape.weights_bytes
    assert est.cpu.weights == shape.token_embd_bytes  # the input layer always stays in RAM
    assert est.gpu.kv == kv_cache_bytes(shape, 8192)
    assert est.gpu.overhead == GPU_OVERHEAD["nvidia"]
    assert "full GPU" in est.summary


def test_big_model_is_split_between_gpu_and_ram() -> None:
    shape = estimate_shape(QWEN3_32B, "Q8_0")  # ~35 GB of weights
    est = estimate_fit(shape, machine(24), ctx=8192)
    assert est.verdict is Verdict.PARTIAL
    assert 0 < est.gpu_layers < est.n_layers
    assert est.gpu.total <= 24 * GiB
    assert f"{est.gpu_layers}/65" in est.summary
    # one more layer would not have fitted
    more = estimate_fit(shape, machine(24 + 1.5), ctx=8192)
    assert more.gpu_layers > est.gpu_layers


def test_more_context_means_fewer_layers_on_gpu() -> None:
    shape = estimate_shape(QWEN3_32B, "Q4_K_M")
    short = estimate_fit(shape, machine(16), ctx=4096)
    long = estimate_fit(shape, machine(16), ctx=65536)
    assert long.gpu_layers < short.gpu_layers
    assert long.total > short.total


def test_quantized_kv_cache_shrinks_the_kv_share() -> None:
    shape = estimate_shape(QWEN3_8B, "Q4_K_M")
    f16 = estimate_fit(shape, machine(0), ctx=32768, kv_type="f16")
    q8 = estimate_fit(shape, machine(0), ctx=32768, kv_type="q8_0")
    assert q8.cpu.kv == pytest.approx(f16.cpu.kv * 34 / 64, rel=1e-6)
    assert f16.cpu.kv == 36 * 32768 * 8 * 256 * 2  # layers x ctx x kv heads x (k+v dims) x 2 bytes


def test_cpu_only_build_with_a_gpu_says_so() -> None:
    shape = estimate_shape(QWEN3_8B, "Q4_K_M")
    est = estimate_fit(shape, machine(24, build=CPU_BUILD), ctx=8192)
    assert est.verdict is Verdict.CPU_ONLY
    assert est.gpu.total == 0 and est.gpu_layers == 0
    assert "cannot offload" in est.summary


def test_unknown_build_is_judged_on_the_hardware() -> None:
    """llama.cpp not checked yet: the verdict assumes the GPU is usable instead of saying it is not."""
    shape = estimate_shape(QWEN3_8B, "Q4_K_M")
    unknown = LlamaBuild(installed=False, error="not checked (--no-llama)")
    assert estimate_fit(shape, machine(24, build=unknown), ctx=8192).verdict is Verdict.FULL_GPU


def test_does_not_fit_anywhere() -> None:
    shape = estimate_shape(QWEN3_32B, "Q8_0")
    est = estimate_fit(shape, machine(8, ram_gib=16), ctx=8192)
    assert est.verdict is Verdict.NO_FIT
    assert est.tokens_per_second is None
    assert "short" in est.summary


def test_memory_already_taken_by_other_models_counts() -> None:
    shape = estimate_shape(QWEN3_8B, "Q8_0")
    alone = estimate_fit(shape, machine(12), ctx=8192)
    beside = estimate_fit(shape, machine(12), ctx=8192, reserved_vram=6 * GiB)
    assert beside.gpu_layers < alone.gpu_layers
    squeezed = estimate_fit(shape, machine(0, ram_gib=16), ctx=8192, reserved_ram=12 * GiB)
    assert squeezed.verdict is Verdict.NO_FIT


def test_moe_reads_only_its_active_experts() -> None:
    moe = estimate_shape(QWEN3_30B_A3B, "Q4_K_M")
    dense = estimate_shape(QWEN3_32B, "Q4_K_M")
    hw = machine(0, ram_gib=128)
    moe_est = estimate_fit(moe, hw, ctx=8192)
    dense_est = estimate_fit(dense, hw, ctx=8192)
    assert moe_est.verdict is dense_est.verdict is Verdict.CPU_ONLY
    assert moe_est.tokens_per_second and dense_est.tokens_per_second
    # similar total size, ~10x fewer bytes read per token
    assert moe_est.tokens_per_second > 5 * dense_est.tokens_per_second


def test_speed_bound_by_bandwidth() -> None:
    shape = estimate_shape(QWEN3_8B, "Q4_K_M")
    slow = estimate_fit(shape, replace(machine(0), ram_bandwidth=25e9), ctx=4096)
    fast = estimate_fit(shape, replace(machine(0), ram_bandwidth=100e9), ctx=4096)
    assert fast.tokens_per_second == pytest.approx(4 * slow.tokens_per_second, rel=1e-6)  # type: ignore[operator]
    assert estimate_fit(shape, replace(machine(0), ram_bandwidth=None), ctx=4096).tokens_per_second is None


def test_unified_memory_counts_against_ram() -> None:
    shape = estimate_shape(QWEN3_32B, "Q4_K_M")  # ~20 GB
    mac = Hardware(32 * GiB, 28 * GiB, CPU, (GPU(0, "apple", "Apple M3 Max", int(21.3 * GiB), None,
                                                  unified=True, bandwidth=400e9),),
                   llama=LlamaBuild(installed=True, gpu_offload=True), ram_bandwidth=400e9)
    est = estimate_fit(shape, mac, ctx=8192)
    assert est.verdict in (Verdict.FULL_GPU, Verdict.PARTIAL)
    assert est.gpu.total <= 21.3 * GiB
    small_mac = replace(mac, ram_available=12 * GiB)
    assert estimate_fit(shape, small_mac, ctx=8192).verdict is Verdict.NO_FIT


def test_unified_memory_falls_back_to_fewer_layers_when_ram_is_tight() -> None:
    """On a Mac a GPU layer costs RAM too (plus a second compute buffer): full offload can be the
    placement that does not fit while CPU-only still does."""
    shape = estimate_shape(QWEN3_8B, "Q4_K_M")
    cpu_only = estimate_fit(shape, machine(0, ram_gib=64), ctx=8192)
    budget = cpu_only.cpu.total + 64 * 2**20  # enough for CPU only, not for a GPU copy of anything
    mac = Hardware(32 * GiB, budget, CPU, (GPU(0, "apple", "Apple M2", 21 * GiB, None, unified=True,
                                                 bandwidth=100e9),),
                   llama=LlamaBuild(installed=True, gpu_offload=True), ram_bandwidth=100e9)
    est = estimate_fit(shape, mac, ctx=8192)
    assert est.verdict is not Verdict.NO_FIT
    assert est.cpu.total + est.gpu.total <= budget
    roomy = estimate_fit(shape, replace(mac, ram_available=28 * GiB), ctx=8192)
    assert roomy.verdict is Verdict.FULL_GPU
    # another model's VRAM is the Mac's RAM too
    crowded = estimate_fit(shape, replace(mac, ram_available=12 * GiB), ctx=8192, reserved_vram=8 * GiB)
    assert crowded.verdict is Verdict.NO_FIT


def test_tied_output_head_is_copied_to_the_gpu() -> None:
    arch = replace(QWEN3_8B, tied_embeddings=True)
    shape = estimate_shape(arch, "Q8_0")
    est = estimate_fit(shape, machine(24), ctx=4096)
    assert est.verdict is Verdict.FULL_GPU
    assert est.cpu.weights == shape.token_embd_bytes  # the input layer keeps its own copy
    # every block, the output norm and the embedding matrix again as the output head
    assert est.gpu.weights == shape.weights_bytes
    assert est.gpu.weights + est.cpu.weights == shape.weights_bytes + shape.token_embd_bytes


def test_each_gpu_gets_its_own_compute_buffer() -> None:
    shape = estimate_shape(QWEN3_32B, "Q4_K_M")
    one = estimate_fit(shape, machine(48), ctx=8192)
    two_gpus = replace(machine(24), gpus=(GPU(0, "nvidia", "A", 24 * GiB, 24 * GiB, bandwidth=1e12),
                                          GPU(1, "nvidia", "B", 24 * GiB, 24 * GiB, bandwidth=1e12)))
    two = estimate_fit(shape, two_gpus, ctx=8192)
    assert two.gpu.compute == 2 * one.gpu.compute
    assert two.gpu.overhead == 2 * one.gpu.overhead


def test_only_gpus_the_build_has_a_backend_for_count() -> None:
    shape = estimate_shape(QWEN3_32B, "Q4_K_M")
    cuda = LlamaBuild(installed=True, gpu_offload=True, system_info="CUDA : ARCHS = 890 | CPU : AVX2 = 1 |")
    mixed = replace(machine(24, build=cuda), gpus=(
        GPU(0, "nvidia", "RTX 4090", 24 * GiB, 24 * GiB, bandwidth=1e12),
        GPU(1, "amd", "RX 7900 XTX", 24 * GiB, 24 * GiB, bandwidth=960e9)))
    assert [g.name for g in usable_gpus(mixed)] == ["RTX 4090"]
    assert estimate_fit(shape, mixed, ctx=8192).gpu.overhead == GPU_OVERHEAD["nvidia"]
    vulkan = replace(mixed, llama=replace(cuda, system_info="Vulkan : ... | CPU : AVX2 = 1 |"))
    assert len(usable_gpus(vulkan)) == 2


def test_estimated_shape_scales_to_the_real_file_size() -> None:
    shape = estimate_shape(QWEN3_8B, "Q4_K_M", file_bytes=5_027_783_488)
    assert shape.weights_bytes == pytest.approx(5_027_783_488, rel=1e-6)
    assert not shape.exact
    assert not estimate_fit(shape, machine(24), ctx=4096).exact
    with pytest.raises(ValueError, match="unknown quant"):
        estimate_shape(QWEN3_8B, "Q9_X")
