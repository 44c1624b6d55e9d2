"""Qwen3-Next (`qwen3next`): generated files llama.cpp loads, the fit's KV cache and recurrent state
against llama.cpp's own buffers, the catalog entries, and "needs a newer llama.cpp" for a build
whose own architecture list lacks it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from explorer.catalog.snapshot import load_catalog
from explorer.engine.measure import MIB, measure_buffers, parse_llama_log
from explorer.fit.estimate import (
    NEEDS_NEWER_LLAMA,
    Verdict,
    compute_buffer_bytes,
    estimate_fit,
    kv_cache_bytes,
    recurrent_state_bytes,
)
from explorer.gguf.reader import read_shape
from explorer.gguf.shape import ModelShape, estimate_shape
from explorer.gguf.variant import Variant
from explorer.hardware.facts import GPU, CPUInfo, Hardware
from explorer.hardware.llama_build import MARKER, LlamaBuild, probe_llama_build
from explorer.testing.models import NEXT_MODELS, ensure_model

GiB = 2**30
ROUNDING = 0.006 * MIB  # llama.cpp prints MiB with two decimals
FIT = "qwen3next-fit-q8_0"


def _fit_shape() -> ModelShape:
    return read_shape(ensure_model(FIT))


# --- the generated files --------------------------------------------------------------------


def test_generated_file_has_the_hybrid_layout() -> None:
    spec = NEXT_MODELS[FIT]
    shape = _fit_shape()
    assert shape.arch == "qwen3next" and shape.n_layers == 8
    # blocks 3 and 7 have full attention, the others are gated DeltaNet blocks
    assert shape.recurrent == (True, True, True, False, True, True, True, False)
    assert shape.n_kv_layers == 2
    # llama.cpp's n_embd_r + n_embd_s by hand: conv (4 - 1) x (512 + 2 x 4 x 64), DeltaNet 64 x 512
    assert spec.ssm_inner_size == 512
    assert shape.state_values_per_layer == 3 * (512 + 2 * 4 * 64) + 64 * 512
    assert shape.state_bytes_per_layer == 4 * 35840


GENERATE = r"""
import json, sys, llama_cpp
llm = llama_cpp.Llama(sys.argv[1], n_ctx=512, n_threads=2, verbose=False, seed=1)
out = llm.create_completion("<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n", max_tokens=6,
                            temperature=0.0)
print(json.dumps({"tokens": out["usage"]["completion_tokens"]}))
"""


@pytest.mark.llama
@pytest.mark.parametrize("name", sorted(NEXT_MODELS))
def test_llama_cpp_loads_and_generates(name: str) -> None:
    proc = subprocess.run([sys.executable, "-c", GENERATE, str(ensure_model(name))],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["tokens"] >= 1


# --- the estimate against llama.cpp ---------------------------------------------------------

CASES = [
    (FIT, 4096, "f16", True),
    (FIT, 16384, "f16", True),
    (FIT, 8192, "q8_0", True),
    (FIT, 2048, "f16", False),
    ("qwen3next-tiny-instruct-f16", 2048, "f16", True),
]


@pytest.mark.llama
@pytest.mark.parametrize("name,ctx,kv,flash", CASES)
def test_estimate_matches_llama_buffers(name: str, ctx: int, kv: str, flash: bool) -> None:
    path = ensure_model(name)
    shape = read_shape(path)
    real = measure_buffers(path, ctx=ctx, kv_type=kv, flash_attn=flash)
    assert set(real.model) == {"CPU"} and real.rs, (real.model, real.rs)
    assert shape.weights_bytes == pytest.approx(real.total("model"), rel=0.005, abs=ROUNDING)
    assert kv_cache_bytes(shape, ctx, kv) == pytest.approx(real.total("kv"), rel=0.005, abs=ROUNDING)
    assert recurrent_state_bytes(shape) == pytest.approx(real.total("rs"), rel=0.005, abs=ROUNDING)
    # together, as the brief of this check asks: within 5%
    ours = shape.weights_bytes + kv_cache_bytes(shape, ctx, kv) + recurrent_state_bytes(shape)
    theirs = real.total("model") + real.total("kv") + real.total("rs")
    assert ours == pytest.approx(theirs, rel=0.05)
    compute = compute_buffer_bytes(shape, ctx, flash_attn=flash, kv_type=kv)
    assert compute == pytest.approx(real.total("compute"), rel=0.05, abs=0.5 * MIB)


@pytest.mark.llama
def test_llama_cpp_keeps_the_state_fixed_and_grows_kv_for_attention_layers_only() -> None:
    path = ensure_model(FIT)
    short = measure_buffers(path, ctx=2048, flash_attn=True)
    long = measure_buffers(path, ctx=8192, flash_attn=True)
    assert short.total("rs") == long.total("rs") > 0
    shape = _fit_shape()
    per_token = shape.n_head_kv * (shape.head_dim_k + shape.head_dim_v) * 2  # f16 K and V
    assert long.total("kv") - short.total("kv") == pytest.approx(2 * (8192 - 2048) * per_token, rel=0.005)


def test_kv_grows_with_context_only_for_the_full_attention_layers() -> None:
    shape = _fit_shape()
    per_token = shape.n_head_kv * (shape.head_dim_k + shape.head_dim_v) * 2
    assert kv_cache_bytes(shape, 8192) - kv_cache_bytes(shape, 4096) == 2 * 4096 * per_token
    assert recurrent_state_bytes(shape) == 6 * shape.state_bytes_per_layer  # whatever the context
    # the same widths with full attention everywhere would cache four times as much
    plain = replace(shape, recurrent=(), state_values_per_layer=0)
    assert kv_cache_bytes(plain, 8192) == 4 * kv_cache_bytes(shape, 8192)
    assert recurrent_state_bytes(plain) == 0
    # the last k blocks: block 7 has a KV cache, blocks 4-6 a state
    assert kv_cache_bytes(shape, 4096, layers=1) == 4096 * per_token
    assert kv_cache_bytes(shape, 4096, layers=3) == 4096 * per_token
    assert recurrent_state_bytes(shape, layers=4) == 3 * shape.state_bytes_per_layer


def test_fit_places_state_and_kv_with_their_blocks() -> None:
    shape = _fit_shape()
    est = estimate_fit(shape, _machine(0, build=_build({"qwen3next"})), ctx=4096)
    assert est.verdict is Verdict.CPU_ONLY
    assert est.cpu.kv == kv_cache_bytes(shape, 4096) + recurrent_state_bytes(shape)
    assert est.tokens_per_second


def test_parse_llama_log_reads_the_recurrent_state_buffer() -> None:
    log = """llama_kv_cache:        CPU KV buffer size =     4.00 MiB
llama_memory_recurrent:        CPU RS buffer size =     0.82 MiB
llama_memory_recurrent:      CUDA0 RS buffer size =    75.38 MiB
"""
    b = parse_llama_log(log)
    assert b.kv == {"CPU": 4 * MIB}
    assert b.rs == {"CPU": round(0.82 * MIB), "CUDA0": round(75.38 * MIB)}


# --- the catalog ----------------------------------------------------------------------------


def test_catalog_has_both_qwen3_next_models() -> None:
    cat = load_catalog()
    instruct = cat.find("Qwen3-Next-80B-A3B-Instruct")
    thinking = cat.find("Qwen3-Next-80B-A3B-Thinking")
    assert instruct is not None and thinking is not None
    assert instruct.variant is Variant.INSTRUCT_2507 and thinking.variant is Variant.THINKING_2507
    assert instruct.arch == thinking.arch
    a = instruct.arch
    assert (a.arch, a.n_layers, a.n_embd, a.n_expert, a.n_expert_used, a.full_attention_interval) == (
        "qwen3next", 48, 2048, 512, 10, 4)
    assert sum(a.recurrent) == 36
    # config.json by hand: 79,674,391,296 parameters with the output norm
    assert a.params_total + a.n_embd == 79_674_391_296
    assert {f.publisher for f in instruct.files} >= {"unsloth", "bartowski"}
    assert all(f.size_is_estimate for f in instruct.files)


def test_qwen3_next_memory_by_hand() -> None:
    model = load_catalog().find("Qwen3-Next-80B-A3B-Instruct")
    assert model is not None
    f = model.files_for("Q4_K_M")[0]
    shape = model.shape_for(f)
    assert abs(shape.weights_bytes - f.size) < 1e-6 * f.size
    # 36 DeltaNet layers x (3 x (4096 + 2 x 16 x 128) + 128 x 4096) F32 values per sequence
    assert recurrent_state_bytes(shape) == 36 * (3 * (4096 + 2 * 16 * 128) + 128 * 4096) * 4
    # 12 attention layers x K and V x 2 heads x 256 x 262,144 tokens x 2 bytes = 6 GiB
    assert kv_cache_bytes(shape, 262144) == 12 * 2 * 2 * 256 * 262144 * 2 == 6 * GiB


# --- the build's list of architectures -----------------------------------------------------

CPU = CPUInfo("Test CPU", 8, 16, frozenset({"avx2"}))


def _build(archs: set[str] | None) -> LlamaBuild:
    return LlamaBuild(installed=True, version="0.3.36", gpu_offload=True,
                      architectures=None if archs is None else frozenset(archs))


def _machine(vram_gib: float, ram_gib: float = 512, build: LlamaBuild | None = None) -> Hardware:
    gpus = ()
    if vram_gib:
        gpus = (GPU(0, "nvidia", "Test GPU", int(vram_gib * GiB), int(vram_gib * GiB), bandwidth=1000e9),)
    return Hardware(int(ram_gib * GiB) * 2, int(ram_gib * GiB), CPU, gpus, llama=build or _build(None),
                    ram_bandwidth=50e9)


@pytest.mark.parametrize("model_id", ["Qwen3-Next-80B-A3B-Instruct", "Qwen3-Next-80B-A3B-Thinking"])
def test_a_build_without_qwen3next_says_it_needs_a_newer_llama_cpp(model_id: str) -> None:
    model = load_catalog().find(model_id)
    assert model is not None
    shape = model.shape_for(model.files_for("Q4_K_M")[0])
    old = _build({"qwen3", "qwen3moe", "llama"})
    for vram in (0, 80, 192):  # no amount of memory makes it load
        est = estimate_fit(shape, _machine(vram, build=old), ctx=8192)
        assert est.verdict is Verdict.NO_FIT and est.needs_newer_llama
        assert est.summary.startswith(NEEDS_NEWER_LLAMA) and "'qwen3next'" in est.summary
        assert est.tokens_per_second is None
    new = estimate_fit(shape, _machine(192, build=_build({"qwen3", "qwen3next"})), ctx=8192)
    assert new.verdict is Verdict.FULL_GPU and not new.needs_newer_llama
    unknown = estimate_fit(shape, _machine(192, build=_build(None)), ctx=8192)
    assert unknown.verdict is Verdict.FULL_GPU  # an unknown list is not a "no"
    # the other models do not care
    qwen3 = load_catalog().find("Qwen3-8B")
    assert qwen3 is not None
    small = qwen3.shape_for(qwen3.files_for("Q4_K_M")[0])
    assert estimate_fit(small, _machine(24, build=old), ctx=8192).verdict is Verdict.FULL_GPU


def test_the_list_comes_from_the_build_check_child() -> None:
    answer = {"installed": True, "version": "0.3.1", "gpu_offload": False, "system_info": "CPU : AVX2 = 1",
              "architectures": ["llama", "qwen3", "qwen3moe"]}
    cmd = [sys.executable, "-c", f"print({MARKER + json.dumps(answer)!r})"]
    build = probe_llama_build(command=cmd)
    assert build.architectures == frozenset({"llama", "qwen3", "qwen3moe"})
    assert build.supports("qwen3next") is False and build.supports("qwen3") is True
    answer["architectures"] = None  # a build that does not export its table
    build = probe_llama_build(command=[sys.executable, "-c", f"print({MARKER + json.dumps(answer)!r})"])
    assert build.architectures is None and build.supports("qwen3next") is None


@pytest.mark.llama
def test_the_installed_build_lists_its_architectures() -> None:
    build = probe_llama_build(timeout=120)
    assert build.installed and build.architectures is not None, build.error
    assert {"qwen3", "qwen3moe", "qwen3next"} <= build.architectures
    assert not any(a in ("unknown", "(unknown)") for a in build.architectures)


def test_estimated_and_header_shapes_agree_for_a_generated_model() -> None:
    """estimate_shape from the spec's facts has the header's layout and state size."""
    from explorer.gguf.shape import Architecture

    spec = NEXT_MODELS[FIT]
    arch = Architecture("qwen3next", spec.n_layers, spec.n_embd, spec.n_head, spec.n_head_kv, spec.head_dim, 0,
                        16384, 4096, 4096, n_expert=spec.n_expert, n_expert_used=spec.n_expert_used,
                        n_ff_exp=spec.n_ff_exp, full_attention_interval=4, ssm_conv_kernel=4,
                        ssm_state_size=spec.ssm_state_size, ssm_group_count=spec.ssm_group_count,
                        ssm_value_heads=spec.ssm_time_step_rank, n_ff_shexp=spec.n_ff_shexp)
    header = _fit_shape()
    est = estimate_shape(arch, "F16")
    assert est.recurrent == header.recurrent
    assert est.state_values_per_layer == header.state_values_per_layer
    # parameters: F16 estimate vs the Q8_0 file's bytes (8.5 bits per weight, norms in F32)
    n_params_file = arch.params_total + arch.n_embd
    assert est.weights_bytes == pytest.approx(2 * n_params_file, rel=0.001)
    assert header.weights_bytes == pytest.approx(n_params_file * 8.5 / 8, rel=0.03)
