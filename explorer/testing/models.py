"""Write small Qwen3-architecture GGUFs that llama.cpp loads, for tests and benchmarks.

Real Qwen3 weights cannot be downloaded here, so the project makes its own: the `qwen3` (dense) and
`qwen3moe` architectures with random weights, a byte-level GPT-2 style vocabulary carrying Qwen's
special tokens, and the real chat template of each variant; also `qwen3next` (Qwen3-Next: gated
DeltaNet linear-attention layers with a full-attention layer every `full_attention_interval`, 512-way
MoE with a shared expert, at tiny widths). Random weights produce nonsense quickly,
which is what tests need; `QWEN3_0_6B_SHAPE` has the real layer sizes for realistic speed.

Files are generated on demand into a cache directory and reused while their spec is unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter, LlamaFileType, TokenType
from gguf.quants import quantize

from explorer.paths import test_models_dir

GENERATOR_VERSION = 2  # 2: the FIM tokens
CHAT_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>")
# Every Qwen3 vocabulary has these (Coder models are trained to use them); control tokens in a GGUF.
FIM_TOKENS = ("<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>")
SPECIAL_TOKENS = CHAT_TOKENS + FIM_TOKENS
MERGES = ("Ġ t", "h e", "i n", "Ġ a", "e r", "o n")

TEMPLATE_FILES = {
    "hybrid": "qwen3-hybrid.jinja",
    "thinking-2507": "qwen3-thinking-2507.jinja",
    "instruct-2507": "qwen3-instruct-2507.jinja",
    "coder": "qwen3-coder.jinja",
    "base": None,
}

_FILE_TYPES = {"F32": LlamaFileType.ALL_F32, "F16": LlamaFileType.MOSTLY_F16, "Q8_0": LlamaFileType.MOSTLY_Q8_0}
_GGML_TYPES = {"F32": GGMLQuantizationType.F32, "F16": GGMLQuantizationType.F16, "Q8_0": GGMLQuantizationType.Q8_0}


@dataclass(frozen=True)
class TinyModelSpec:
    name: str
    arch: str = "qwen3"  # or "qwen3moe"
    variant: str = "hybrid"  # key of TEMPLATE_FILES
    dtype: str = "F16"  # F32, F16 or Q8_0 for the 2-D weights (norms stay F32)
    n_layers: int = 2
    n_embd: int = 64
    n_head: int = 4
    n_head_kv: int = 2
    head_dim: int = 16
    n_ff: int = 128
    n_vocab: int = 0  # 0: just the byte vocabulary + merges + special tokens; more pads it
    fim_tokens: bool = True  # False: a vocabulary without the FIM tokens (not a Qwen3 one)
    ctx_train: int = 4096
    n_expert: int = 0
    n_expert_used: int = 0
    n_ff_exp: int = 0
    tied_embeddings: bool = False
    seed: int = 0
    # qwen3next only: every `full_attention_interval`-th block has full attention, the others are gated
    # DeltaNet blocks with `ssm_group_count` key heads and `ssm_time_step_rank` value heads of
    # `ssm_state_size` each, a causal convolution of `ssm_conv_kernel` taps; every block has a shared
    # expert of width `n_ff_shexp` beside the routed ones.
    full_attention_interval: int = 0
    ssm_conv_kernel: int = 4
    ssm_state_size: int = 0
    ssm_group_count: int = 0
    ssm_time_step_rank: int = 0
    n_ff_shexp: int = 0

    @property
    def filename(self) -> str:
        fields = asdict(self)
        # The Qwen3-Next fields join the digest only when used, so the other models keep their files.
        for key, default in _NEXT_DEFAULTS.items():
            if fields[key] == default:
                del fields[key]
        return spec_filename(self.name, fields, GENERATOR_VERSION)

    @property
    def ssm_inner_size(self) -> int:
        """Width of a linear-attention block's values: value heads x head size (qwen3next)."""
        return self.ssm_state_size * self.ssm_time_step_rank

    def is_recurrent(self, block: int) -> bool:
        """Whether block `block` is a linear-attention (recurrent) block, as llama.cpp decides it."""
        n = self.full_attention_interval
        return bool(n) and (block + 1) % n != 0


_NEXT_DEFAULTS = {"full_attention_interval": 0, "ssm_conv_kernel": 4, "ssm_state_size": 0, "ssm_group_count": 0,
                  "ssm_time_step_rank": 0, "n_ff_shexp": 0}


def spec_filename(name: str, fields: dict[str, Any], version: int) -> str:
    """`name` plus a digest of the spec's fields and its generator's version: a changed spec gets a new file."""
    digest = hashlib.sha256(json.dumps({**fields, "v": version}, sort_keys=True).encode()).hexdigest()[:10]
    return f"{name}-{digest}.gguf"


def _spec(name: str, **kw: object) -> TinyModelSpec:
    return TinyModelSpec(name=name, **kw)  # type: ignore[arg-type]


_MOE = {"arch": "qwen3moe", "n_expert": 4, "n_expert_used": 2, "n_ff_exp": 64, "n_ff": 0}

# The set every test run can rely on: each variant, both architectures, float and quantized types.
TEST_MODELS: dict[str, TinyModelSpec] = {
    s.name: s
    for s in (
        _spec("qwen3-tiny-hybrid-f16", variant="hybrid", dtype="F16"),
        _spec("qwen3-tiny-hybrid-f32", variant="hybrid", dtype="F32"),
        _spec("qwen3-tiny-hybrid-q8_0", variant="hybrid", dtype="Q8_0"),
        _spec("qwen3-tiny-thinking-q8_0", variant="thinking-2507", dtype="Q8_0"),
        _spec("qwen3-tiny-instruct-q8_0", variant="instruct-2507", dtype="Q8_0"),
        _spec("qwen3-tiny-coder-f16", variant="coder", dtype="F16", tied_embeddings=True),
        _spec("qwen3-tiny-base-f16", variant="base", dtype="F16"),
        _spec("qwen3moe-tiny-hybrid-f16", variant="hybrid", dtype="F16", **_MOE),
        _spec("qwen3moe-tiny-coder-q8_0", variant="coder", dtype="Q8_0", **_MOE),
        _spec("qwen3moe-tiny-thinking-f32", variant="thinking-2507", dtype="F32", **_MOE),
    )
}

# Qwen3-Next's layout at tiny widths: three DeltaNet blocks, then one full-attention block.
_NEXT = {"arch": "qwen3next", "variant": "instruct-2507", "n_layers": 4, "full_attention_interval": 4,
         "n_expert": 4, "n_expert_used": 2, "n_ff_exp": 64, "n_ff_shexp": 64, "n_ff": 0, "ssm_state_size": 16,
         "ssm_group_count": 2, "ssm_time_step_rank": 4}
NEXT_MODELS: dict[str, TinyModelSpec] = {
    s.name: s
    for s in (
        _spec("qwen3next-tiny-instruct-f16", dtype="F16", **_NEXT),
        _spec("qwen3next-tiny-thinking-q8_0", dtype="Q8_0", **{**_NEXT, "variant": "thinking-2507"}),
        # Wide enough that the recurrent state, the KV cache and the compute buffer are all measurable.
        _spec("qwen3next-fit-q8_0", dtype="Q8_0", **{**_NEXT, "n_layers": 8, "n_embd": 512, "n_head": 8,
              "n_head_kv": 2, "head_dim": 64, "n_vocab": 16384, "n_expert": 16, "n_expert_used": 4,
              "n_ff_exp": 256, "n_ff_shexp": 256, "ssm_state_size": 64, "ssm_group_count": 4,
              "ssm_time_step_rank": 8}),
    )
}

# Mid-sized models for comparing the fit estimate with llama.cpp's own buffer sizes: large enough
# that weights, KV cache and compute buffers are all measurable, small enough to write in seconds.
FIT_MODELS: dict[str, TinyModelSpec] = {
    s.name: s
    for s in (
        _spec("qwen3-fit-dense-f16", dtype="F16", n_layers=8, n_embd=512, n_head=8, n_head_kv=4,
              head_dim=64, n_ff=1536, n_vocab=16384),
        _spec("qwen3-fit-dense-q8_0", dtype="Q8_0", n_layers=8, n_embd=512, n_head=8, n_head_kv=4,
              head_dim=64, n_ff=1536, n_vocab=16384, tied_embeddings=True),
        _spec("qwen3moe-fit-q8_0", dtype="Q8_0", n_layers=6, n_embd=512, n_head=8, n_head_kv=2,
              head_dim=64, n_vocab=16384, **{**_MOE, "n_expert": 16, "n_expert_used": 4, "n_ff_exp": 256}),
    )
}

# Real Qwen3-0.6B layer sizes (config.json), random weights: for speed benchmarks.
QWEN3_0_6B_SHAPE = _spec("qwen3-0.6b-shape-q8_0", dtype="Q8_0", n_layers=28, n_embd=1024, n_head=16,
                         n_head_kv=8, head_dim=128, n_ff=3072, n_vocab=151936, ctx_train=40960,
                         tied_embeddings=True)


def _width(size: str, **kw: object) -> TinyModelSpec:
    return _spec(f"qwen3-{size}-width-2l-q8_0", dtype="Q8_0", n_layers=2, n_vocab=151936, ctx_train=40960,
                 tied_embeddings=True, **kw)


# The widths of the larger Qwen3 models (config.json) with two layers: the compute buffer depends on
# the widths, the vocabulary and the context, not on the number of layers, so these check the compute
# estimate at real sizes in a few hundred MiB to 1.8 GiB each (bench/fit_truth.py --widths).
QWEN3_WIDTHS = {
    "1.7B": _width("1.7b", n_embd=2048, n_head=16, n_head_kv=8, head_dim=128, n_ff=6144),
    "4B": _width("4b", n_embd=2560, n_head=32, n_head_kv=8, head_dim=128, n_ff=9728),
    "8B": _width("8b", n_embd=4096, n_head=32, n_head_kv=8, head_dim=128, n_ff=12288),
    "14B": _width("14b", n_embd=5120, n_head=40, n_head_kv=8, head_dim=128, n_ff=17408),
    "32B": _width("32b", n_embd=5120, n_head=64, n_head_kv=8, head_dim=128, n_ff=25600),
    "30B-A3B": _width("30b-a3b", arch="qwen3moe", n_embd=2048, n_head=32, n_head_kv=4, head_dim=128,
                      n_ff=6144, n_expert=128, n_expert_used=8, n_ff_exp=768),
}


def template_text(variant: str) -> str | None:
    name = TEMPLATE_FILES[variant]
    if name is None:
        return None
    try:
        return resources.files("qwen3_explorer_assets").joinpath("templates").joinpath(name).read_text("utf-8")
    except ModuleNotFoundError:  # running from a source tree that is not installed
        return (Path(__file__).resolve().parents[2] / "assets" / "templates" / name).read_text("utf-8")


def _byte_tokens() -> list[str]:
    """The 256 byte tokens of GPT-2's byte-level BPE, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    out: dict[int, str] = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in out:
            out[b] = chr(256 + extra)
            extra += 1
    return [out[b] for b in range(256)]


def vocabulary(n_vocab: int = 0, *, fim: bool = True) -> tuple[list[str], list[int], list[str]]:
    """(tokens, token types, merges): bytes, merged pairs, optional padding, special tokens last."""
    special = SPECIAL_TOKENS if fim else CHAT_TOKENS
    tokens = _byte_tokens() + [m.replace(" ", "") for m in MERGES]
    types = [int(TokenType.NORMAL)] * len(tokens)
    pad = max(0, n_vocab - len(tokens) - len(special))
    tokens += [f"[PAD{i}]" for i in range(pad)]
    types += [int(TokenType.USER_DEFINED)] * pad
    tokens += list(special)
    types += [int(TokenType.CONTROL)] * len(special)
    return tokens, types, list(MERGES)


def add_metadata(w: GGUFWriter, spec: TinyModelSpec, tokens: list[str], types: list[int], merges: list[str]) -> None:
    """Every key/value of a generated model: `spec`'s hyperparameters, the vocabulary, the chat template."""
    w.add_name(spec.name)
    w.add_file_type(int(_FILE_TYPES[spec.dtype]))
    w.add_block_count(spec.n_layers)
    w.add_context_length(spec.ctx_train)
    w.add_embedding_length(spec.n_embd)
    w.add_head_count(spec.n_head)
    w.add_head_count_kv(spec.n_head_kv)
    w.add_key_length(spec.head_dim)
    w.add_value_length(spec.head_dim)
    w.add_rope_freq_base(1_000_000.0)
    w.add_layer_norm_rms_eps(1e-6)
    if spec.full_attention_interval:
        w.add_rope_dimension_count(spec.head_dim // 4)  # Qwen3-Next rotates a quarter of each head
        w.add_full_attention_interval(spec.full_attention_interval)
        w.add_ssm_conv_kernel(spec.ssm_conv_kernel)
        w.add_ssm_state_size(spec.ssm_state_size)
        w.add_ssm_group_count(spec.ssm_group_count)
        w.add_ssm_time_step_rank(spec.ssm_time_step_rank)
        w.add_ssm_inner_size(spec.ssm_inner_size)
        w.add_expert_shared_feed_forward_length(spec.n_ff_shexp)
    if spec.n_expert:
        w.add_expert_count(spec.n_expert)
        w.add_expert_used_count(spec.n_expert_used)
        w.add_expert_feed_forward_length(spec.n_ff_exp)
    else:
        w.add_feed_forward_length(spec.n_ff)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(tokens.index("<|endoftext|>"))
    w.add_eos_token_id(tokens.index("<|im_end|>"))
    w.add_pad_token_id(tokens.index("<|endoftext|>"))
    w.add_add_bos_token(False)
    template = template_text(spec.variant)
    if template is not None:
        w.add_chat_template(template)


def write_model(spec: TinyModelSpec, path: Path) -> Path:
    """Write `spec` to `path` (atomically: a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    rng = np.random.default_rng(spec.seed)
    tokens, types, merges = vocabulary(spec.n_vocab, fim=spec.fim_tokens)
    n_vocab = len(tokens)
    arch = spec.arch

    w = GGUFWriter(str(tmp), arch)
    add_metadata(w, spec, tokens, types, merges)

    def weight(name: str, *shape: int) -> None:
        # numpy shape is reversed ggml order: (rows..., row length)
        data = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)
        if spec.dtype == "F32":
            w.add_tensor(name, data)
        elif spec.dtype == "F16":
            w.add_tensor(name, data.astype(np.float16))
        else:
            w.add_tensor(name, quantize(data, _GGML_TYPES[spec.dtype]), raw_dtype=_GGML_TYPES[spec.dtype])

    def norm(name: str, n: int) -> None:
        w.add_tensor(name, np.ones(n, dtype=np.float32))

    def f32(name: str, *shape: int) -> None:
        w.add_tensor(name, rng.standard_normal(shape, dtype=np.float32) * 0.02)

    d, hd = spec.n_embd, spec.head_dim
    weight("token_embd.weight", n_vocab, d)
    norm("output_norm.weight", d)
    if not spec.tied_embeddings:
        weight("output.weight", n_vocab, d)
    for i in range(spec.n_layers):
        b = f"blk.{i}."
        if spec.arch == "qwen3next":
            _next_block(spec, i, weight, norm, f32)
            continue
        norm(b + "attn_norm.weight", d)
        weight(b + "attn_q.weight", spec.n_head * hd, d)
        weight(b + "attn_k.weight", spec.n_head_kv * hd, d)
        weight(b + "attn_v.weight", spec.n_head_kv * hd, d)
        weight(b + "attn_output.weight", d, spec.n_head * hd)
        norm(b + "attn_q_norm.weight", hd)
        norm(b + "attn_k_norm.weight", hd)
        norm(b + "ffn_norm.weight", d)
        if spec.n_expert:
            w.add_tensor(b + "ffn_gate_inp.weight",
                         (rng.standard_normal((spec.n_expert, d), dtype=np.float32) * 0.02))
            weight(b + "ffn_gate_exps.weight", spec.n_expert, spec.n_ff_exp, d)
            weight(b + "ffn_up_exps.weight", spec.n_expert, spec.n_ff_exp, d)
            weight(b + "ffn_down_exps.weight", spec.n_expert, d, spec.n_ff_exp)
        else:
            weight(b + "ffn_gate.weight", spec.n_ff, d)
            weight(b + "ffn_up.weight", spec.n_ff, d)
            weight(b + "ffn_down.weight", d, spec.n_ff)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, path)
    return path


def _next_block(spec: TinyModelSpec, i: int, weight: Callable[..., None], norm: Callable[[str, int], None],
                f32: Callable[..., None]) -> None:
    """The tensors of Qwen3-Next block `i`, as llama.cpp's qwen3next loader expects them.

    A full-attention block projects queries and their output gate together (attn_q is twice as wide);
    a DeltaNet block has the fused q/k/v/z input projection (ssm_in), the beta/alpha projection
    (ssm_ba), the causal convolution over q, k and v (kept in F32, as ggml's conv needs), the per-head
    decay (ssm_a, ssm_dt) and the gated norm. Both are followed by routed experts and a shared one.
    """
    d, hd, b = spec.n_embd, spec.head_dim, f"blk.{i}."
    norm(b + "attn_norm.weight", d)
    norm(b + "post_attention_norm.weight", d)
    if spec.is_recurrent(i):
        key_dim = spec.ssm_state_size * spec.ssm_group_count
        value_dim = spec.ssm_inner_size
        weight(b + "ssm_in.weight", 2 * key_dim + 2 * value_dim, d)
        weight(b + "ssm_ba.weight", 2 * spec.ssm_time_step_rank, d)
        f32(b + "ssm_conv1d.weight", 2 * key_dim + value_dim, spec.ssm_conv_kernel)
        f32(b + "ssm_dt.bias", spec.ssm_time_step_rank)
        f32(b + "ssm_a", spec.ssm_time_step_rank)
        norm(b + "ssm_norm.weight", spec.ssm_state_size)
        weight(b + "ssm_out.weight", d, value_dim)
    else:
        weight(b + "attn_q.weight", 2 * spec.n_head * hd, d)
        weight(b + "attn_k.weight", spec.n_head_kv * hd, d)
        weight(b + "attn_v.weight", spec.n_head_kv * hd, d)
        weight(b + "attn_output.weight", d, spec.n_head * hd)
        norm(b + "attn_q_norm.weight", hd)
        norm(b + "attn_k_norm.weight", hd)
    f32(b + "ffn_gate_inp.weight", spec.n_expert, d)
    weight(b + "ffn_gate_exps.weight", spec.n_expert, spec.n_ff_exp, d)
    weight(b + "ffn_up_exps.weight", spec.n_expert, spec.n_ff_exp, d)
    weight(b + "ffn_down_exps.weight", spec.n_expert, d, spec.n_ff_exp)
    f32(b + "ffn_gate_inp_shexp.weight", d)
    weight(b + "ffn_gate_shexp.weight", spec.n_ff_shexp, d)
    weight(b + "ffn_up_shexp.weight", spec.n_ff_shexp, d)
    weight(b + "ffn_down_shexp.weight", d, spec.n_ff_shexp)


def ensure_model(spec: TinyModelSpec | str, directory: Path | None = None) -> Path:
    """Path of the generated model for `spec` (a spec or a name from TEST_MODELS/FIT_MODELS/NEXT_MODELS)."""
    if isinstance(spec, str):
        spec = {**TEST_MODELS, **FIT_MODELS, **NEXT_MODELS, QWEN3_0_6B_SHAPE.name: QWEN3_0_6B_SHAPE}[spec]
    return ensure_file(spec.filename, functools.partial(write_model, spec), directory)


def ensure_file(filename: str, write: Callable[[Path], object], directory: Path | None = None) -> Path:
    """`directory` (default: the test-model cache) / `filename`, made by `write(path)` unless it exists."""
    path = (directory or test_models_dir()) / filename
    if not path.exists():
        write(path)
    return path
