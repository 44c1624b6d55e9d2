"""What the fit estimate needs to know about one model file.

A `ModelShape` comes either from a real GGUF header (`gguf_meta.shape_from_header`, exact tensor
bytes) or from catalog facts plus a quant type (`estimate_shape`, sizes scaled from the parameter
count). Both feed the same pure `fit.estimate_fit`.

Qwen3-Next (`qwen3next`) mixes two kinds of blocks: gated DeltaNet (linear attention) blocks keep a
fixed-size recurrent state per sequence, whatever the context, and only the full-attention blocks
(every `full_attention_interval`-th) keep a KV cache. llama.cpp sizes that state per recurrent block
and sequence as `n_embd_r` (the convolution's last `conv_kernel - 1` inputs of q, k and v) plus
`n_embd_s` (the DeltaNet matrix of every value head), both in F32 (llama-hparams.cpp,
llama-memory-recurrent.cpp).
"""

from __future__ import annotations

from dataclasses import dataclass

# Average bits per weight of each llama.cpp file type, as published quants of Qwen3 come out
# (embeddings and some tensors are kept at a higher type, so these sit a little above the block
# size of the main type). Used only when no header is at hand.
BITS_PER_WEIGHT: dict[str, float] = {
    "F32": 32.0,
    "BF16": 16.0,
    "F16": 16.0,
    "Q8_0": 8.5,
    "Q6_K": 6.56,
    "Q5_K_M": 5.69,
    "Q5_K_S": 5.54,
    "Q5_0": 5.54,
    "Q4_K_M": 4.89,
    "Q4_K_S": 4.58,
    "Q4_1": 5.0,
    "Q4_0": 4.55,
    "IQ4_XS": 4.32,
    "IQ4_NL": 4.56,
    "Q3_K_L": 4.27,
    "Q3_K_M": 3.91,
    "Q3_K_S": 3.5,
    "IQ3_M": 3.7,
    "IQ3_XXS": 3.21,
    "Q2_K": 3.35,
    "Q2_K_L": 3.6,
    "IQ2_M": 2.93,
    "IQ2_XXS": 2.38,
    "IQ1_M": 2.0,
    "IQ1_S": 1.78,
}


@dataclass(frozen=True)
class LayerWeights:
    """Weight bytes of one transformer block, split into always-read and expert tensors."""

    dense: int
    experts: int = 0

    @property
    def total(self) -> int:
        return self.dense + self.experts


@dataclass(frozen=True)
class ModelShape:
    """Architecture and weight layout of one GGUF model (all shards together)."""

    arch: str  # "qwen3", "qwen3moe" or "qwen3next"
    n_layers: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim_k: int
    head_dim_v: int
    n_ff: int
    n_vocab: int
    ctx_train: int
    layers: tuple[LayerWeights, ...]
    token_embd_bytes: int
    # output.weight + output_norm. A model with tied embeddings has no output.weight in the file,
    # but llama.cpp then uses token_embd for the output head too (and copies it to the GPU).
    output_bytes: int
    tied_embeddings: bool = False
    n_expert: int = 0
    n_expert_used: int = 0
    file_type: str = ""
    file_bytes: int = 0
    exact: bool = True  # False when sizes were estimated from the catalog, not read from a header
    # Linear-attention (recurrent) blocks, one flag per block; empty when every block has full attention.
    recurrent: tuple[bool, ...] = ()
    # Recurrent state of one such block for one sequence: llama.cpp's n_embd_r + n_embd_s values (F32).
    state_values_per_layer: int = 0

    @property
    def is_moe(self) -> bool:
        return self.n_expert > 0

    def is_recurrent(self, index: int) -> bool:
        """Whether block `index` keeps a recurrent state instead of a KV cache."""
        return bool(self.recurrent) and self.recurrent[index]

    @property
    def n_kv_layers(self) -> int:
        """Blocks with a KV cache (full attention)."""
        return self.n_layers - sum(self.recurrent)

    @property
    def state_bytes_per_layer(self) -> int:
        """Bytes of one recurrent block's state for one sequence (F32, as llama.cpp keeps it)."""
        return 4 * self.state_values_per_layer

    @property
    def weights_bytes(self) -> int:
        """Bytes of tensor data in the file."""
        return self.token_embd_bytes + self.output_bytes + sum(lw.total for lw in self.layers)

    @property
    def output_head_bytes(self) -> int:
        """Bytes the output head occupies where it is placed (token_embd again when tied)."""
        return self.output_bytes + (self.token_embd_bytes if self.tied_embeddings else 0)

    def layer_bytes_read_per_token(self, index: int) -> float:
        """Weight bytes streamed from memory for one token through block `index`.

        Only `n_expert_used` of `n_expert` experts are read per token in an MoE block.
        """
        lw = self.layers[index]
        if self.n_expert:
            return lw.dense + lw.experts * self.n_expert_used / self.n_expert
        return float(lw.total)


def kv_bytes_per_element(kv_type: str) -> float:
    """Bytes per cached K or V element for llama.cpp's cache types (block overhead included)."""
    table = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q5_1": 24 / 32,
             "q5_0": 22 / 32, "q4_1": 20 / 32, "q4_0": 18 / 32, "iq4_nl": 18 / 32}
    try:
        return table[kv_type.lower()]
    except KeyError:
        raise ValueError(f"unknown KV cache type {kv_type!r}; use one of {', '.join(table)}") from None


def recurrent_state_values(conv_kernel: int, state_size: int, group_count: int, inner_size: int) -> int:
    """n_embd_r + n_embd_s of llama.cpp for one recurrent block and sequence (values, F32).

    r: the causal convolution keeps its last `conv_kernel - 1` inputs of q, k (group_count heads of
    state_size) and v (inner_size); s: one state_size x head matrix per value head, inner_size x
    state_size values in all.
    """
    return max(0, conv_kernel - 1) * (inner_size + 2 * group_count * state_size) + state_size * inner_size


def recurrent_flags(n_layers: int, full_attention_interval: int) -> tuple[bool, ...]:
    """Which blocks are recurrent: all but every `full_attention_interval`-th (llama.cpp's rule)."""
    if full_attention_interval <= 0:
        return ()
    return tuple((i + 1) % full_attention_interval != 0 for i in range(n_layers))


@dataclass(frozen=True)
class Architecture:
    """Published architecture facts of one Qwen3 model (its config.json)."""

    arch: str  # "qwen3", "qwen3moe" or "qwen3next"
    n_layers: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ff: int  # dense FFN width (0 for MoE blocks)
    n_vocab: int
    ctx_native: int
    ctx_extended: int  # with YaRN rope scaling, as Qwen documents it
    tied_embeddings: bool = False
    n_expert: int = 0
    n_expert_used: int = 0
    n_ff_exp: int = 0
    # Qwen3-Next (qwen3next) only, as its config.json names them: full_attention_interval,
    # linear_conv_kernel_dim, linear_key_head_dim (= value head dim), linear_num_key_heads,
    # linear_num_value_heads, shared_expert_intermediate_size.
    full_attention_interval: int = 0
    ssm_conv_kernel: int = 0
    ssm_state_size: int = 0
    ssm_group_count: int = 0
    ssm_value_heads: int = 0
    n_ff_shexp: int = 0

    @property
    def recurrent(self) -> tuple[bool, ...]:
        return recurrent_flags(self.n_layers, self.full_attention_interval)

    @property
    def ssm_inner_size(self) -> int:
        return self.ssm_state_size * self.ssm_value_heads

    def layer_params(self, recurrent: bool = False) -> tuple[int, int]:
        """(dense, expert) parameter counts of one block (a linear-attention one when `recurrent`)."""
        d, hd = self.n_embd, self.head_dim
        gated = self.arch == "qwen3next"  # the query projection also carries the output gate
        if recurrent:
            key, value = self.ssm_state_size * self.ssm_group_count, self.ssm_inner_size
            attn = (d * (2 * key + 2 * value) + d * 2 * self.ssm_value_heads  # ssm_in, ssm_ba
                    + (2 * key + value) * self.ssm_conv_kernel + 2 * self.ssm_value_heads  # conv, dt, a
                    + self.ssm_state_size + value * d)  # ssm_norm, ssm_out
            norms = 2 * d
        else:
            attn = d * self.n_head * hd * (3 if gated else 2) + d * self.n_head_kv * hd * 2  # q, o, k, v
            norms = 2 * d + 2 * hd  # attn_norm, ffn_norm (post_attention_norm), q_norm, k_norm
        if self.n_expert:
            router = d * self.n_expert
            shared = 3 * d * self.n_ff_shexp + (d if self.n_ff_shexp else 0)  # + its gate
            return attn + norms + router + shared, 3 * d * self.n_ff_exp * self.n_expert
        return attn + norms + 3 * d * self.n_ff, 0

    def block_params(self) -> list[tuple[int, int]]:
        """(dense, expert) parameter counts of every block, in order."""
        flags = self.recurrent or (False,) * self.n_layers
        kinds = {r: self.layer_params(r) for r in set(flags)}
        return [kinds[r] for r in flags]

    @property
    def state_values_per_layer(self) -> int:
        if not self.full_attention_interval:
            return 0
        return recurrent_state_values(self.ssm_conv_kernel, self.ssm_state_size, self.ssm_group_count,
                                      self.ssm_inner_size)

    @property
    def params_total(self) -> int:
        blocks = sum(dense + experts for dense, experts in self.block_params())
        embd = self.n_vocab * self.n_embd
        return blocks + embd * (1 if self.tied_embeddings else 2)


def estimate_shape(arch: Architecture, file_type: str, file_bytes: int = 0) -> ModelShape:
    """A ModelShape from catalog facts, for files whose header has not been read.

    Tensor bytes come from the average bits per weight of `file_type`; when the real file size is
    known (`file_bytes`), all sizes are scaled so that they add up to it.
    """
    bpw = BITS_PER_WEIGHT.get(file_type.upper())
    if bpw is None:
        raise ValueError(f"unknown quant type {file_type!r}")
    blocks = arch.block_params()
    embd_p = arch.n_vocab * arch.n_embd
    out_p = (0 if arch.tied_embeddings else embd_p) + arch.n_embd
    total_p = sum(d + e for d, e in blocks) + embd_p + out_p
    scale = bpw / 8
    if file_bytes > 0:
        scale = file_bytes / total_p

    def size(p: int) -> int:
        return int(p * scale)

    return ModelShape(
        arch=arch.arch, n_layers=arch.n_layers, n_embd=arch.n_embd, n_head=arch.n_head,
        n_head_kv=arch.n_head_kv, head_dim_k=arch.head_dim, head_dim_v=arch.head_dim,
        n_ff=arch.n_ff or arch.n_ff_exp, n_vocab=arch.n_vocab, ctx_train=arch.ctx_native,
        layers=tuple(LayerWeights(dense=size(d), experts=size(e)) for d, e in blocks),
        token_embd_bytes=size(embd_p), output_bytes=size(out_p),
        tied_embeddings=arch.tied_embeddings, n_expert=arch.n_expert,
        n_expert_used=arch.n_expert_used, file_type=file_type.upper(),
        file_bytes=file_bytes or size(total_p), exact=False,
        recurrent=arch.recurrent, state_values_per_layer=arch.state_values_per_layer,
    )
