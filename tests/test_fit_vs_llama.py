"""The fit estimate against what llama.cpp itself allocates for the generated models.

Each case loads the model in a child process with verbose=True and compares weights, KV cache and
compute buffer with the estimate for the same settings (CPU build, so everything is in RAM).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from explorer.engine.measure import MIB, measure_buffers, parse_llama_log
from explorer.fit.estimate import compute_buffer_bytes, kv_cache_bytes
from explorer.gguf.reader import read_shape
from explorer.testing.models import TEST_MODELS, ensure_model

pytestmark = pytest.mark.llama

# llama.cpp prints MiB with two decimals: sub-MiB buffers carry up to 0.005 MiB of rounding.
ROUNDING = 0.006 * MIB

CASES = [
    ("qwen3-fit-dense-f16", 4096, "f16", True),
    ("qwen3-fit-dense-f16", 16384, "f16", False),
    ("qwen3-fit-dense-q8_0", 2048, "q8_0", True),
    ("qwen3-fit-dense-q8_0", 1000, "f16", False),
    ("qwen3moe-fit-q8_0", 8192, "f16", True),
    ("qwen3moe-fit-q8_0", 4096, "q4_0", True),
    ("qwen3-tiny-hybrid-f32", 2048, "f16", False),
    ("qwen3moe-tiny-hybrid-f16", 512, "f16", False),
]


@pytest.mark.parametrize("name,ctx,kv,flash", CASES)
def test_estimate_matches_llama_buffers(name: str, ctx: int, kv: str, flash: bool) -> None:
    path = ensure_model(name)
    shape = read_shape(path)
    real = measure_buffers(path, ctx=ctx, kv_type=kv, flash_attn=flash)
    assert set(real.model) == {"CPU"}, real.model
    assert shape.weights_bytes == pytest.approx(real.total("model"), rel=0.005, abs=ROUNDING)
    assert kv_cache_bytes(shape, ctx, kv) == pytest.approx(real.total("kv"), rel=0.005, abs=ROUNDING)
    compute = compute_buffer_bytes(shape, ctx, flash_attn=flash, kv_type=kv)
    assert compute == pytest.approx(real.total("compute"), rel=0.05, abs=0.5 * MIB)


def test_parse_llama_log_reads_every_device() -> None:
    log = """load_tensors: offloaded 20/37 layers to GPU
load_tensors:        CUDA0 model buffer size =  2048.50 MiB
load_tensors:   CPU_Mapped model buffer size =   512.25 MiB
llama_kv_cache:      CUDA0 KV buffer size =   160.00 MiB
llama_kv_cache:        CPU KV buffer size =    96.00 MiB
llama_context:  CUDA_Host  output buffer size =     0.58 MiB
sched_reserve:      CUDA0 compute buffer size =   300.75 MiB
sched_reserve:  CUDA_Host compute buffer size =    12.01 MiB
~llama_context:      CUDA0 compute buffer size is 300.7500 MiB, matches expectation of 300.7500 MiB
"""
    b = parse_llama_log(log)
    assert b.offloaded_layers == (20, 37)
    assert b.model == {"CUDA0": round(2048.5 * MIB), "CPU": round(512.25 * MIB)}
    assert b.kv == {"CUDA0": 160 * MIB, "CPU": 96 * MIB}
    assert b.compute == {"CUDA0": round(300.75 * MIB), "CUDA_Host": round(12.01 * MIB)}
    assert b.output == {"CUDA_Host": round(0.58 * MIB)}


GENERATE = r"""
import json, sys, llama_cpp
llm = llama_cpp.Llama(sys.argv[1], n_ctx=512, n_threads=2, verbose=False, seed=1)
out = llm.create_completion("<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n", max_tokens=6,
                            temperature=0.0)
print(json.dumps({"tokens": out["usage"]["completion_tokens"], "text": out["choices"][0]["text"]}))
"""


@pytest.mark.parametrize("name", sorted(TEST_MODELS))
def test_llama_cpp_loads_and_generates(name: str) -> None:
    """Every generated model, dense and MoE, float and quantized, loads and decodes in llama.cpp."""
    proc = subprocess.run([sys.executable, "-c", GENERATE, str(ensure_model(name))],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["tokens"] >= 1
