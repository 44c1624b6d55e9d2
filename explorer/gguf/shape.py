"""What the fit estimate needs to know about one model file.

A `ModelShape` comes either from a real GGUF header (`gguf_meta.shape_from_header`, exact tensor
bytes) or from catalog facts plus a quant type (`estimate_shape`, sizes scaled from the parameter
count). Both feed the same pure `fit.estimate_fit`.
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

    arch: str  # "qwen3" or "qwen3moe"
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

    @property
    def is_moe(self) -> bool:
        return self.n_expert > 0

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


@dataclass(frozen=True)
class Architecture:
    """Published architecture facts of one Qwen3 model (its config.json)."""

    arch: str  # "qwen3" or "qwen3moe"
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

    def layer_params(self) -> tuple[int, int]:
        """(dense, expert) parameter counts of one block."""
        d, hd = self.n_embd, self.head_dim
        attn = d * self.n_head * hd * 2 + d * self.n_head_kv * hd * 2  # q, o, k, v
        norms = 2 * d + 2 * hd  # attn_norm, ffn_norm, q_norm, k_norm
        if self.n_expert:
            router = d * self.n_expert
            return attn + norms + router, 3 * d * self.n_ff_exp * self.n_expert
        return attn + norms + 3 * d * self.n_ff, 0

    @property
    def params_total(self) -> int:
        dense, experts = self.layer_params()
        embd = self.n_vocab * self.n_embd
        return self.n_layers * (dense + experts) + embd * (1 if self.tied_embeddings else 2)


def estimate_shape(arch: Architecture, file_type: str, file_bytes: int = 0) -> ModelShape:
    """A ModelShape from catalog facts, for files whose header has not been read.

    Tensor bytes come from the average bits per weight of `file_type`; when the real file size is
    known (`file_bytes`), all sizes are scaled so that they add up to it.
    """
    bpw = BITS_PER_WEIGHT.get(file_type.upper())
    if bpw is None:
        raise ValueError(f"unknown quant type {file_type!r}")
    dense_p, expert_p = arch.layer_params()
    embd_p = arch.n_vocab * arch.n_embd
    out_p = (0 if arch.tied_embeddings else embd_p) + arch.n_embd
    total_p = arch.n_layers * (dense_p + expert_p) + embd_p + out_p
    scale = bpw / 8
    if file_bytes > 0:
        scale = file_bytes / total_p

    def size(p: int) -> int:
        return int(p * scale)

    layer = LayerWeights(dense=size(dense_p), experts=size(expert_p))
    return ModelShape(
        arch=arch.arch, n_layers=arch.n_layers, n_embd=arch.n_embd, n_head=arch.n_head,
        n_head_kv=arch.n_head_kv, head_dim_k=arch.head_dim, head_dim_v=arch.head_dim,
        n_ff=arch.n_ff or arch.n_ff_exp, n_vocab=arch.n_vocab, ctx_train=arch.ctx_native,
        layers=(layer,) * arch.n_layers, token_embd_bytes=size(embd_p), output_bytes=size(out_p),
        tied_embeddings=arch.tied_embeddings, n_expert=arch.n_expert,
        n_expert_used=arch.n_expert_used, file_type=file_type.upper(),
        file_bytes=file_bytes or size(total_p), exact=False,
    )
