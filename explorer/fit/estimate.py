"""Will this model file run here, and how? A pure function of shape, hardware and settings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from explorer.gguf.shape import ModelShape, kv_bytes_per_element
from explorer.hardware.facts import GPU, Hardware
from explorer.units import MIB

KV_PAD = 256  # llama.cpp rounds the KV cache size up to a multiple of 256 cells
# Memory a worker process holds besides what the estimate counts: Python, libllama and ggml (RSS
# 41-49 MiB measured before loading), and ggml-alloc's placement of the compute buffer, which sits
# up to 20 MiB above the graph's peak at some contexts on Qwen3-0.6B's widths (bench/fit_truth.py).
CPU_OVERHEAD = 80 * MIB
# A GPU backend's context, kernels and scratch (CUDA/ROCm reserve several hundred MB per device).
GPU_OVERHEAD = {"nvidia": 480 * MIB, "amd": 480 * MIB, "apple": 256 * MIB, "intel": 384 * MIB}
GPU_HEADROOM = 0.03  # keep 3% of free VRAM spare: drivers and other apps move around
# Fraction of peak memory bandwidth llama.cpp turns into token generation (rough; bench/ measures it).
CPU_EFFICIENCY = 0.6
GPU_EFFICIENCY = 0.75
KV_TOKENS_FOR_SPEED = 1024  # predict speed with this many tokens already in the cache
# The engine loads models with flash attention on (llama-cpp-python's own default is off): it keeps
# the compute buffer small at long contexts and is required for a quantized V cache. Estimates
# assume the same unless told otherwise.
FLASH_ATTN = True


class Verdict(str, Enum):
    FULL_GPU = "full GPU"
    PARTIAL = "partial offload"
    CPU_ONLY = "CPU only"
    NO_FIT = "does not fit"  # also when the installed llama.cpp cannot load the architecture


NEEDS_NEWER_LLAMA = "needs a newer llama.cpp"


@dataclass(frozen=True)
class Breakdown:
    """Bytes one device holds for a model."""

    weights: int = 0
    kv: int = 0
    compute: int = 0
    overhead: int = 0

    @property
    def total(self) -> int:
        return self.weights + self.kv + self.compute + self.overhead


@dataclass(frozen=True)
class FitEstimate:
    verdict: Verdict
    gpu_layers: int  # layers placed on the GPU (the output head counts as one, as in llama.cpp)
    n_layers: int  # offloadable layers: blocks + 1 for the output head
    gpu: Breakdown  # bytes in VRAM
    cpu: Breakdown  # bytes in system RAM
    ctx: int
    kv_type: str
    tokens_per_second: float | None  # predicted generation speed, None when it does not fit
    summary: str  # one line a person reads, e.g. "partial offload: 20/37 layers on GPU"
    flash_attn: bool = FLASH_ATTN
    exact: bool = True  # False when the shape came from catalog estimates
    # The installed llama.cpp's own list of architectures lacks this model's: the verdict is NO_FIT,
    # the summary starts with NEEDS_NEWER_LLAMA, and the memory figures are what a newer build would need.
    needs_newer_llama: bool = False

    @property
    def total(self) -> int:
        return self.gpu.total + self.cpu.total


def padded_ctx(ctx: int) -> int:
    return max(KV_PAD, -(-ctx // KV_PAD) * KV_PAD)


def kv_cache_bytes(shape: ModelShape, ctx: int, kv_type: str = "f16", layers: int | None = None) -> int:
    """K and V cache of the last `layers` blocks (all by default) at `ctx` tokens, as llama.cpp sizes it.

    Only full-attention blocks have one: a linear-attention block of a hybrid (Qwen3-Next) keeps a
    fixed recurrent state instead (`recurrent_state_bytes`).
    """
    n = shape.n_layers if layers is None else layers
    n = sum(1 for i in range(shape.n_layers - n, shape.n_layers) if not shape.is_recurrent(i))
    per_token = shape.n_head_kv * (shape.head_dim_k + shape.head_dim_v) * kv_bytes_per_element(kv_type)
    return int(n * padded_ctx(ctx) * per_token)


def kv_bytes_per_layer(shape: ModelShape, ctx: int, kv_type: str = "f16") -> int:
    """K and V cache of one full-attention block at `ctx` tokens."""
    per_token = shape.n_head_kv * (shape.head_dim_k + shape.head_dim_v) * kv_bytes_per_element(kv_type)
    return int(padded_ctx(ctx) * per_token)


def recurrent_state_bytes(shape: ModelShape, layers: int | None = None, n_seq: int = 1) -> int:
    """Recurrent state of the last `layers` blocks (all by default) for `n_seq` sequences.

    A fixed size whatever the context: llama.cpp keeps one state per sequence for each
    linear-attention block (`llama_memory_recurrent`, R + S, in F32). Zero for non-hybrid models.
    """
    n = shape.n_layers if layers is None else layers
    blocks = sum(1 for i in range(shape.n_layers - n, shape.n_layers) if shape.is_recurrent(i))
    return blocks * shape.state_bytes_per_layer * max(1, n_seq)


def memory_bytes_per_block(shape: ModelShape, ctx: int, kv_type: str = "f16") -> list[int]:
    """What each block keeps besides its weights: KV cache (full attention) or recurrent state."""
    kv = kv_bytes_per_layer(shape, ctx, kv_type)
    return [shape.state_bytes_per_layer if shape.is_recurrent(i) else kv for i in range(shape.n_layers)]


def compute_buffer_bytes(shape: ModelShape, ctx: int, *, flash_attn: bool = FLASH_ATTN,
                         kv_type: str = "f16", n_ubatch: int = 512) -> int:
    """Size of llama.cpp's compute buffer: the peak of the graph reserved for one full ubatch.

    The graph allocator reuses memory, so the buffer is the largest set of tensors alive at once:
    the attention scores (without flash attention an f32 n_head x ctx x ubatch matrix), the logits
    (n_vocab x ubatch f32), or the FFN activations. Checked against llama.cpp's reported sizes for
    the generated models (tests/test_fit_vs_llama.py).
    """
    kv = padded_ctx(ctx)
    row = n_ubatch * 4  # one f32 value per token of the ubatch
    embd = shape.n_embd * row
    logits = shape.n_vocab * row
    if flash_attn:
        attn = kv * n_ubatch * 2 + kv * shape.n_head_kv * shape.head_dim_k + 6 * embd
        out = logits + 2 * embd + (embd if kv_type.lower() not in ("f16", "f32", "bf16") else 0)
    else:
        mask = kv * row
        attn = shape.n_head * kv * row + mask + 6 * embd
        out = logits + mask + embd
    ff = shape.n_ff * (shape.n_expert_used or 1)
    ffn = 3 * ff * row + 2 * embd + shape.n_expert * row
    if shape.recurrent:
        # A hybrid's graph (Qwen3-Next) keeps the flash-attention mask alive for the whole graph, and the
        # gated query (twice as wide) beside the activations. Fitted to llama.cpp's reported buffers for
        # generated qwen3next models (tests/test_qwen3next.py): within 1% where the logits or the
        # attention scores are the peak, as for every real Qwen3 vocabulary. Not modelled: the DeltaNet
        # chunk intermediates, the peak only when the linear-attention widths dwarf the vocabulary
        # (up to 37% above this in such generated shapes).
        live = kv * n_ubatch * 2 if flash_attn else 0
        gate = 2 * shape.n_head * shape.head_dim_k * row
        if flash_attn:
            out = logits + 3 * embd + live
        else:
            attn = shape.n_head * kv * row + kv * row + 6 * embd + gate
            out = logits + 8 * embd
        ffn = 2 * ff * row + 8 * embd + gate + live
    return max(attn, out, ffn)


# The backend name llama.cpp's system info shows for each vendor's GPUs (Vulkan serves them all).
_BACKENDS = {"nvidia": ("CUDA",), "amd": ("ROCm", "HIP"), "apple": ("Metal",), "intel": ("SYCL",)}


def usable_gpus(hw: Hardware) -> list[GPU]:
    """The GPUs the installed llama.cpp build has a backend for (all of them when unknown)."""
    info = hw.llama.system_info
    if not info or "Vulkan" in info:
        return list(hw.gpus)
    return [g for g in hw.gpus if any(b in info for b in _BACKENDS.get(g.vendor, ()))]


def _gpu_pool(hw: Hardware, reserved_vram: int) -> tuple[int, int, float | None, list[GPU]]:
    """(usable VRAM bytes, backend overhead, slowest bandwidth, gpus) when offload is possible."""
    if not hw.offload_possible:
        return 0, 0, None, []
    gpus = usable_gpus(hw)
    free = 0
    for g in gpus:
        avail = g.vram_free if g.vram_free is not None else g.vram_total
        if g.unified:
            avail = min(avail, hw.ram_available)
        free += int(avail * (1 - GPU_HEADROOM))
    overhead = sum(GPU_OVERHEAD.get(g.vendor, 480 * MIB) for g in gpus)
    bws = [g.bandwidth for g in gpus if g.bandwidth]
    return max(0, free - reserved_vram), overhead, (min(bws) if bws else None), gpus


def estimate_fit(shape: ModelShape, hw: Hardware, *, ctx: int, kv_type: str = "f16",
                 reserved_ram: int = 0, reserved_vram: int = 0, n_ubatch: int = 512,
                 flash_attn: bool = FLASH_ATTN) -> FitEstimate:
    """Place the model the way llama.cpp would and say whether, and how fast, it runs.

    llama.cpp offloads whole blocks from the last one down, the output head counting as one more
    layer; token embeddings always stay in system RAM. The largest offload that fits the usable
    VRAM wins. `reserved_*` is memory already taken by other loaded models.
    """
    n = shape.n_layers
    memory = memory_bytes_per_block(shape, ctx, kv_type)  # KV cache or recurrent state, per block
    compute = compute_buffer_bytes(shape, ctx, flash_attn=flash_attn, kv_type=kv_type, n_ubatch=n_ubatch)
    output_buf = shape.n_vocab * 4
    vram, gpu_overhead, gpu_bw, gpus = _gpu_pool(hw, reserved_vram)
    unified = any(g.unified for g in gpus)

    # llama.cpp gives every GPU that holds layers its own compute buffer.
    gpu_compute = compute * max(1, len(gpus))
    small_compute = 2 * shape.n_embd * n_ubatch * 4  # what stays on the CPU when all layers are off it

    last_blocks = [0]  # last_blocks[b]: weight bytes of the last b blocks
    last_memory = [0]  # last_memory[b]: KV cache and recurrent state of the last b blocks
    for lw in reversed(shape.layers):
        last_blocks.append(last_blocks[-1] + lw.total)
    for mem in reversed(memory):
        last_memory.append(last_memory[-1] + mem)

    def place(k: int) -> tuple[Breakdown, Breakdown]:
        """(VRAM, RAM) with the last `k` offloadable layers on the GPU (k = n + 1: the output head too)."""
        blocks = min(k, n)
        layer_w = last_blocks[blocks]
        head_on_gpu = k > n
        cpu_w = shape.weights_bytes - layer_w - (shape.output_bytes if head_on_gpu else 0)
        cpu = Breakdown(cpu_w, last_memory[n] - last_memory[blocks], small_compute if head_on_gpu else compute,
                        CPU_OVERHEAD + output_buf)
        if k == 0:
            return Breakdown(), cpu
        gpu_w = layer_w + (shape.output_head_bytes if head_on_gpu else 0)
        return Breakdown(gpu_w, last_memory[blocks], gpu_compute, gpu_overhead), cpu

    ram_budget = hw.ram_available - reserved_ram - (reserved_vram if unified else 0)

    def ram_need(gpu: Breakdown, cpu: Breakdown) -> int:
        # Unified memory (Apple): the GPU's share is system RAM too.
        return cpu.total + (gpu.total if unified else 0)

    # The largest offload that fits the VRAM and, with it, the RAM. Without unified memory more
    # layers on the GPU never need more RAM; with it they can (a second compute buffer), so fewer
    # layers or none may be the placement that fits.
    candidates = [k for k in range(n + 1, 0, -1) if gpus and place(k)[0].total <= vram] + [0]
    best = next((k for k in candidates if ram_need(*place(k)) <= ram_budget), candidates[0])
    gpu, cpu = place(best)
    blocks_on_gpu = min(best, n)
    ram_need_best = ram_need(gpu, cpu)
    total_layers = n + 1
    if ram_need_best > ram_budget:
        verdict = Verdict.NO_FIT
        short = ram_need_best - ram_budget
        summary = (f"does not fit: needs {_gib(ram_need_best)} of RAM, {_gib(max(ram_budget, 0))} available "
                   f"({_gib(short)} short)")
        if gpus and best == 0:
            summary += "; not even one layer fits in VRAM"
    elif best == total_layers:
        verdict, summary = Verdict.FULL_GPU, f"full GPU: all {total_layers} layers, {_gib(gpu.total)} of VRAM"
    elif best > 0:
        verdict = Verdict.PARTIAL
        summary = f"partial offload: {best}/{total_layers} layers on GPU, {_gib(cpu.total)} in RAM"
    else:
        verdict = Verdict.CPU_ONLY
        why = "" if not hw.gpus else (" (no layer fits in VRAM)" if gpus else " (this llama.cpp build cannot offload)")
        summary = f"CPU only{why}: {_gib(cpu.total)} of RAM"

    speed = None
    unsupported = hw.llama.supports(shape.arch) is False
    if unsupported:
        # Never "fits": the build cannot load the file at all, whatever the memory says.
        verdict = Verdict.NO_FIT
        version = f" ({hw.llama.version})" if hw.llama.version else ""
        summary = (f"{NEEDS_NEWER_LLAMA}: the installed build{version} cannot load {shape.arch!r} models "
                   f"(it would need {_gib(ram_need_best)} of RAM" + (f" and {_gib(gpu.total)} of VRAM)" if gpu.total
                                                                       else ")"))
    if verdict is not Verdict.NO_FIT:
        speed = _predict_speed(shape, ctx, kv_type, blocks_on_gpu, best > n, gpu_bw, hw.ram_bandwidth,
                               (hw.cpu_efficiency or CPU_EFFICIENCY, hw.gpu_efficiency or GPU_EFFICIENCY))
    return FitEstimate(verdict, best, total_layers, gpu, cpu, ctx, kv_type, speed, summary,
                       flash_attn, shape.exact, needs_newer_llama=unsupported)


def _predict_speed(shape: ModelShape, ctx: int, kv_type: str, blocks_on_gpu: int, head_on_gpu: bool,
                   gpu_bw: float | None, cpu_bw: float | None, efficiency: tuple[float, float]) -> float | None:
    """Tokens/s when generation is bound by reading weights and KV cache from memory, at the
    (CPU, GPU) `efficiency`: the share of the bandwidth generation gets (defaults, or calibrated)."""
    n = shape.n_layers
    # Each token reads a full-attention block's KV cache so far, or a linear-attention block's state.
    mem = memory_bytes_per_block(shape, min(ctx, KV_TOKENS_FOR_SPEED), kv_type)
    gpu_bytes = sum(shape.layer_bytes_read_per_token(i) + mem[i] for i in range(n - blocks_on_gpu, n))
    cpu_bytes = sum(shape.layer_bytes_read_per_token(i) + mem[i] for i in range(n - blocks_on_gpu))
    head = shape.output_bytes + (shape.token_embd_bytes if shape.tied_embeddings else 0)
    if head_on_gpu:
        gpu_bytes += head
    else:
        cpu_bytes += head
    seconds = 0.0
    if gpu_bytes:
        if not gpu_bw:
            return None
        seconds += gpu_bytes / (gpu_bw * efficiency[1])
    if cpu_bytes:
        if not cpu_bw:
            return None
        seconds += cpu_bytes / (cpu_bw * efficiency[0])
    return 1 / seconds if seconds else None


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


VERDICT_ORDER = {Verdict.FULL_GPU: 0, Verdict.PARTIAL: 1, Verdict.CPU_ONLY: 2, Verdict.NO_FIT: 3}


def verdict_rank(fit: FitEstimate) -> float:
    """Lower is better; partial offloads with more layers on the GPU sort first."""
    rank = float(VERDICT_ORDER[fit.verdict])
    if fit.verdict is Verdict.PARTIAL and fit.n_layers:
        rank += 1.0 - fit.gpu_layers / fit.n_layers
        rank = min(rank, 1.999)
    return rank
