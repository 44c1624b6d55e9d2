#!/usr/bin/env python3
"""Write assets/catalog.json, the offline snapshot of every Qwen3 GGUF a user can get.

The spec below is the source of truth; the JSON is generated from it, deterministically (running
this twice gives the same bytes; tests/test_catalog.py checks that the committed file matches).

    python scripts/build_catalog.py          # rewrite assets/catalog.json
    python scripts/build_catalog.py --check  # exit 1 if the committed file is stale

Where the facts come from (looked up November 2026; no Hub access from here):

* Architecture: each model's config.json on the Hub (hidden_size, num_hidden_layers,
  num_attention_heads, num_key_value_heads, head_dim, intermediate_size, moe_intermediate_size,
  num_experts, num_experts_per_tok, tie_word_embeddings, vocab_size 151936). Context lengths as
  the model cards document them: original models 32,768 native and 131,072 with YaRN (0.6B, 1.7B
  and the Base models document 32,768 only); 2507 models and Coder 262,144 native; Coder
  "extendable up to 1M tokens with YaRN"; the 30B-A3B and 235B-A22B 2507 models "up to
  1,010,000 tokens" (Qwen's Sept 2025 update, dual chunk attention rather than YaRN).
* Parameter counts: the model cards (0.6B, 1.7B, 4.0B, 8.2B, 14.8B, 32.8B, 30.5B/3.3B active,
  235B/22B, 480B/35B); tests check them against `Architecture.params_total`.
* Repos: the Hub's model search and model-tree pages (base_model:quantized:...) list
  unsloth/, bartowski/ and lmstudio-community/ GGUF repos for every hybrid, 2507 and Coder model.
  Qwen published GGUFs only for the original hybrid models; its model cards list q4_K_M, q5_0,
  q5_K_M, q6_K, q8_0 (0.6B and 1.7B: q8_0 only). unsloth publishes no Base GGUFs; community
  Base GGUFs come from mradermacher (Qwen3-30B-A3B-Base-GGUF seen; the smaller Base repos are
  inferred, so their files stay `verified: false`).
* File names and shard counts seen in public listings and scripts: Qwen's
  "Q4_K_M/Qwen3-235B-A22B-Q4_K_M-00001-of-00005.gguf" (model card) and its Q8_0 in 9 shards with
  sha256 (ModelScope mirror, commit ec2b43a2); unsloth's "Q4_K_M/Qwen3-235B-A22B-Q4_K_M-00001-of-
  00003.gguf"; lmstudio-community's "Qwen3-235B-A22B-Q4_K_M-00001-of-00004.gguf" and
  "Qwen3-Coder-480B-A35B-Instruct-Q4_K_M-00001-of-00008.gguf"; bartowski's "Qwen_Qwen3-8B-Q4_K_M.gguf"
  and "Qwen_Qwen3-8B-Q8_0/*" folders for split files (its README). From these, each publisher's
  largest shard: unsloth 50 GB, bartowski / lmstudio-community about 40 GB, Qwen about 35 GB
  (its 30B-A3B Q8_0 of 32.5 GB is one file, its 235B Q4_K_M has 5 shards; its 235B Q8_0 has 9,
  split by tensor count rather than size). Shard counts not seen are computed from these.
* Real sizes: bartowski's README tables (Qwen3-4B, -8B, -14B, -32B, -30B-A3B; read through
  model.aibase.com, hf.qhduan.com and lmstudio.ai mirrors), two decimals in GB (1e9 bytes).
  Other publishers' sizes seen for the same model and quant (ggml-org, codebasic) only feed
  estimates.

Qwen3-Next (added December 2026, issue 13 item 8): Qwen3-Next-80B-A3B-Instruct and -Thinking share
one config.json (Hub, Qwen/Qwen3-Next-80B-A3B-Instruct): hidden_size 2048, num_hidden_layers 48,
full_attention_interval 4 (12 gated-attention layers with num_attention_heads 16,
num_key_value_heads 2, head_dim 256; 36 gated DeltaNet layers with linear_num_key_heads 16,
linear_num_value_heads 32, linear_key_head_dim = linear_value_head_dim 128, linear_conv_kernel_dim 4),
num_experts 512, num_experts_per_tok 10, moe_intermediate_size 512, one shared expert of
shared_expert_intermediate_size 512, vocab_size 151936, tie_word_embeddings false,
max_position_embeddings 262144 (the model card: extensible to 1,010,000 with YaRN). The parameter count
from these facts is 79,674,391,296 with the output norm, the figure a config-based count of Qwen's
Qwen3-Coder-Next (same config) publishes; the card says "80B total, 3B activated", while the count
gives 3.9B active (10 routed experts of 512 plus the shared one and the non-expert weights), which is
what the catalog records. GGUF repos: the Hub's model search lists unsloth/ and bartowski/ repos for
both models and lmstudio-community/ for the Instruct one (its Thinking repo is inferred); no file
listing or size was seen, so every file is unverified and its size estimated; Q4_K_M takes the 48.5e9
bytes one quantizer published for Q4_K_M of the same architecture (steampunque/Qwen3-Coder-Next-Hybrid-
GGUF). Whether the installed llama.cpp loads `qwen3next` is the build's own answer (LlamaBuild).

Estimates (`size_is_estimate: true`): the same quant of the same architecture when a size is
known for it (the 2507, Coder and Base models share their shapes with the original models; same
publisher first), otherwise parameters in the file x BITS_PER_WEIGHT / 8 (explorer/gguf/shape.py).
Qwen3-0.6B and -1.7B checkpoints store lm_head.weight although tie_word_embeddings is true, and
their GGUFs carry output.weight (the Hub counts 0.75B and 2.03B parameters in them); the estimate
counts it.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from explorer.catalog.snapshot import (  # noqa: E402
    Catalog,
    CatalogFile,
    CatalogModel,
    catalog_to_json,
    format_catalog_json,
)
from explorer.gguf.shape import BITS_PER_WEIGHT, Architecture  # noqa: E402
from explorer.gguf.shards import shard_names  # noqa: E402
from explorer.gguf.variant import Variant  # noqa: E402

OUTPUT = REPO_ROOT / "assets" / "catalog.json"
SNAPSHOT_DATE = "2026-11-25"
GB = 1_000_000_000
N_VOCAB = 151936

# ---------------------------------------------------------------------------------------------
# Architectures (config.json), keyed by shape. Variants of one size share the shape.


def dense(n_layers: int, n_embd: int, n_head: int, n_head_kv: int, n_ff: int,
          tied: bool) -> dict[str, Any]:
    return dict(arch="qwen3", n_layers=n_layers, n_embd=n_embd, n_head=n_head,
                n_head_kv=n_head_kv, head_dim=128, n_ff=n_ff, n_vocab=N_VOCAB,
                tied_embeddings=tied)


def moe(n_layers: int, n_embd: int, n_head: int, n_head_kv: int, n_expert: int,
        n_ff_exp: int) -> dict[str, Any]:
    return dict(arch="qwen3moe", n_layers=n_layers, n_embd=n_embd, n_head=n_head,
                n_head_kv=n_head_kv, head_dim=128, n_ff=0, n_vocab=N_VOCAB,
                tied_embeddings=False, n_expert=n_expert, n_expert_used=8, n_ff_exp=n_ff_exp)


def next_moe() -> dict[str, Any]:
    """Qwen3-Next-80B-A3B (config.json): hybrid gated DeltaNet / gated attention, 512 experts."""
    return dict(arch="qwen3next", n_layers=48, n_embd=2048, n_head=16, n_head_kv=2, head_dim=256, n_ff=0,
                n_vocab=N_VOCAB, tied_embeddings=False, n_expert=512, n_expert_used=10, n_ff_exp=512,
                full_attention_interval=4, ssm_conv_kernel=4, ssm_state_size=128, ssm_group_count=16,
                ssm_value_heads=32, n_ff_shexp=512)


SHAPES: dict[str, dict[str, Any]] = {
    "0.6B": dense(28, 1024, 16, 8, 3072, tied=True),
    "1.7B": dense(28, 2048, 16, 8, 6144, tied=True),
    "4B": dense(36, 2560, 32, 8, 9728, tied=True),
    "8B": dense(36, 4096, 32, 8, 12288, tied=False),
    "14B": dense(40, 5120, 40, 8, 17408, tied=False),
    "32B": dense(64, 5120, 64, 8, 25600, tied=False),
    "30B-A3B": moe(48, 2048, 32, 4, 128, 768),
    "235B-A22B": moe(94, 4096, 64, 4, 128, 1536),
    "480B-A35B": moe(62, 6144, 96, 8, 160, 2560),
    "80B-A3B": next_moe(),
}
# GGUFs of these shapes carry output.weight although the config ties embeddings (see above).
LM_HEAD_IN_FILE = {"0.6B", "1.7B"}

# Published parameter counts (billions): total, active.
PARAMS: dict[str, tuple[float, float]] = {
    "0.6B": (0.6, 0.6), "1.7B": (1.7, 1.7), "4B": (4.0, 4.0), "8B": (8.2, 8.2),
    "14B": (14.8, 14.8), "32B": (32.8, 32.8), "30B-A3B": (30.5, 3.3),
    "235B-A22B": (235.0, 22.0), "480B-A35B": (480.0, 35.0), "80B-A3B": (80.0, 3.9),
}

CTX_ORIGINAL = (32768, 131072)  # YaRN factor 4
CTX_SHORT = (32768, 32768)  # 0.6B, 1.7B and the Base models document 32,768 only
CTX_2507 = (262144, 262144)
CTX_2507_1M = (262144, 1010000)
CTX_CODER = (262144, 1048576)

# ---------------------------------------------------------------------------------------------
# Publishers: repo and file naming, largest shard, and the quants each publishes.

ORIGINAL_QUANTS = ("Q4_K_M", "Q5_0", "Q5_K_M", "Q6_K", "Q8_0")
COMMUNITY_QUANTS = ("Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "BF16")
LMSTUDIO_QUANTS = ("Q3_K_L", "Q4_K_M", "Q6_K", "Q8_0")
BASE_QUANTS = ("Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16")


@dataclass(frozen=True)
class Publisher:
    owner: str
    max_shard: float  # bytes; files above it are split with gguf-split (0: never split)

    def repo(self, model_id: str) -> str:
        prefix = "Qwen_" if self.owner == "bartowski" else ""
        return f"{self.owner}/{prefix}{model_id}-GGUF"

    def paths(self, model_id: str, quant: str, n: int) -> tuple[str, ...]:
        if self.owner == "bartowski":
            stem = f"Qwen_{model_id}-{'bf16' if quant == 'BF16' else quant}"
            folder = f"{stem}/"
        elif self.owner == "mradermacher":
            assert n == 1, "mradermacher splits as .partXofY, which the catalog does not model"
            return (f"{model_id}.{'f16' if quant == 'F16' else quant}.gguf",)
        else:
            stem = f"{model_id}-{quant}"
            folder = "" if self.owner == "lmstudio-community" else f"{quant}/"
        if n == 1:
            return (f"{stem}.gguf",)
        return tuple(shard_names(f"{folder}{stem}", n))


QWEN = Publisher("Qwen", 35 * GB)
UNSLOTH = Publisher("unsloth", 50 * GB)
BARTOWSKI = Publisher("bartowski", 40 * GB)
LMSTUDIO = Publisher("lmstudio-community", 40 * GB)
MRADERMACHER = Publisher("mradermacher", 0)

COMMUNITY = ((UNSLOTH, COMMUNITY_QUANTS), (BARTOWSKI, COMMUNITY_QUANTS), (LMSTUDIO, LMSTUDIO_QUANTS))

# ---------------------------------------------------------------------------------------------
# Models: id, variant, shape, context (native, extended), publishers with their quants.


@dataclass(frozen=True)
class ModelSpec:
    id: str
    variant: Variant
    shape: str
    ctx: tuple[int, int]
    publishers: tuple[tuple[Publisher, tuple[str, ...]], ...]


def _hybrid(shape: str) -> ModelSpec:
    ctx = CTX_SHORT if shape in ("0.6B", "1.7B") else CTX_ORIGINAL
    qwen_quants = ("Q8_0",) if shape in ("0.6B", "1.7B") else ORIGINAL_QUANTS
    return ModelSpec(f"Qwen3-{shape}", Variant.HYBRID, shape, ctx,
                     ((QWEN, qwen_quants), *COMMUNITY))


def _base(shape: str) -> ModelSpec:
    return ModelSpec(f"Qwen3-{shape}-Base", Variant.BASE, shape, CTX_SHORT,
                     ((MRADERMACHER, BASE_QUANTS),))


def _v2507(shape: str, kind: str) -> ModelSpec:
    variant = Variant.INSTRUCT_2507 if kind == "Instruct" else Variant.THINKING_2507
    ctx = CTX_2507 if shape == "4B" else CTX_2507_1M
    return ModelSpec(f"Qwen3-{shape}-{kind}-2507", variant, shape, ctx, COMMUNITY)


def _next(kind: str) -> ModelSpec:
    variant = Variant.INSTRUCT_2507 if kind == "Instruct" else Variant.THINKING_2507
    return ModelSpec(f"Qwen3-Next-80B-A3B-{kind}", variant, "80B-A3B", CTX_2507_1M, COMMUNITY)


def _coder(shape: str) -> ModelSpec:
    return ModelSpec(f"Qwen3-Coder-{shape}-Instruct", Variant.CODER, shape, CTX_CODER, COMMUNITY)


MODELS: tuple[ModelSpec, ...] = (
    *(_hybrid(s) for s in ("0.6B", "1.7B", "4B", "8B", "14B", "32B", "30B-A3B", "235B-A22B")),
    *(_v2507(s, k) for s in ("4B", "30B-A3B", "235B-A22B") for k in ("Instruct", "Thinking")),
    _coder("30B-A3B"), _coder("480B-A35B"),
    _next("Instruct"), _next("Thinking"),
    *(_base(s) for s in ("0.6B", "1.7B", "4B", "8B", "14B", "30B-A3B")),
)

# ---------------------------------------------------------------------------------------------
# What public listings say: real sizes (GB), and paths seen (with shard count, sha256).

README = "bartowski README table"
REAL_SIZES: dict[tuple[str, str], tuple[float, str]] = {
    ("bartowski/Qwen_Qwen3-4B-GGUF", "BF16"): (8.05, README),
    ("bartowski/Qwen_Qwen3-4B-GGUF", "Q8_0"): (4.28, README),
    ("bartowski/Qwen_Qwen3-4B-GGUF", "Q6_K"): (3.31, README),
    ("bartowski/Qwen_Qwen3-4B-GGUF", "Q5_K_M"): (2.89, README),
    ("bartowski/Qwen_Qwen3-4B-GGUF", "Q4_K_M"): (2.50, README),
    ("bartowski/Qwen_Qwen3-8B-GGUF", "BF16"): (16.39, README),
    ("bartowski/Qwen_Qwen3-8B-GGUF", "Q8_0"): (8.71, README),
    ("bartowski/Qwen_Qwen3-8B-GGUF", "Q6_K"): (6.73, README),
    ("bartowski/Qwen_Qwen3-14B-GGUF", "BF16"): (29.54, README),
    ("bartowski/Qwen_Qwen3-14B-GGUF", "Q8_0"): (15.70, README),
    ("bartowski/Qwen_Qwen3-14B-GGUF", "Q6_K"): (12.12, README),
    ("bartowski/Qwen_Qwen3-14B-GGUF", "Q5_K_M"): (10.51, README),
    ("bartowski/Qwen_Qwen3-14B-GGUF", "Q4_K_M"): (9.00, README),
    ("bartowski/Qwen_Qwen3-32B-GGUF", "BF16"): (65.53, README),
    ("bartowski/Qwen_Qwen3-32B-GGUF", "Q8_0"): (34.82, README),
    ("bartowski/Qwen_Qwen3-30B-A3B-GGUF", "BF16"): (61.10, README),
    ("bartowski/Qwen_Qwen3-30B-A3B-GGUF", "Q8_0"): (32.48, README),
    ("bartowski/Qwen_Qwen3-30B-A3B-GGUF", "Q6_K"): (25.10, README),
    ("bartowski/Qwen_Qwen3-30B-A3B-GGUF", "Q5_K_M"): (21.74, README),
}

# Sizes seen for other publishers' files of the same model and quant (Hub pages); estimates only.
REFERENCE_SIZES: dict[tuple[str, str], tuple[float, str]] = {
    ("32B", "Q4_K_M"): (19.8, "ggml-org/Qwen3-32B-GGUF"),
    ("8B", "Q2_K"): (3.28, "codebasic/Qwen3-8B-GGUF"),
    ("1.7B", "Q4_K_M"): (1.28, "ggml-org/Qwen3-1.7B-GGUF"),
    ("1.7B", "Q8_0"): (2.17, "ggml-org/Qwen3-1.7B-GGUF"),
    ("80B-A3B", "Q4_K_M"): (48.5, "steampunque/Qwen3-Coder-Next-Hybrid-GGUF"),
}

QWEN_235B_Q8_SHA256 = (
    "f30035563d331a0333a32c8d46ee102f9c79bcb159b288071ad84c7997fc970f",
    "5fe4666715ed41267132004092cf3e4ce6baf27f22e46cb0e8dbccd2d5096db2",
    "d60b257562ba8492bffe350863bda9627f21edba725dd90faddb5fc4f6055992",
    "fdd9a62d0fda4fd83e939bec2cde15c0c09eb761a9b58dc8a7fb6100071efa7d",
    "2abcd716367d482d1042020429335acf66e451a9ee1bae000044426bf89ece31",
    "ab2a4b9f646e0c8bd86085a27cd5d4e603907781598d24306b6e0a3a670b228e",
    "db25dbe82c58e979764fbcfb04ee0d2f40071d9b3493877fed03b6d6a0e1e0e5",
    "e5f771b4dd5cb1ce4c85f084acbda58fd73894e2165378e14ff46a454fe1a68c",
    "18de673322f984dfbaf3ac22e2dc9412942fbf80448205bf764b6ea2a5077679",
)

# (repo, quant) -> (shard count, sha256 per shard or ()) for paths seen in public listings.
SEEN: dict[tuple[str, str], tuple[int, tuple[str, ...]]] = {
    ("Qwen/Qwen3-235B-A22B-GGUF", "Q4_K_M"): (5, ()),
    ("Qwen/Qwen3-235B-A22B-GGUF", "Q8_0"): (9, QWEN_235B_Q8_SHA256),
    ("Qwen/Qwen3-30B-A3B-GGUF", "Q8_0"): (
        1, ("4ad960d180b16f56024f5b704697e5dd5b0837167c2e515ef0569abfc599743c",)),
    ("Qwen/Qwen3-1.7B-GGUF", "Q8_0"): (1, ()),
    ("Qwen/Qwen3-4B-GGUF", "Q4_K_M"): (1, ()),
    ("Qwen/Qwen3-4B-GGUF", "Q8_0"): (1, ()),
    ("Qwen/Qwen3-8B-GGUF", "Q8_0"): (1, ()),
    ("Qwen/Qwen3-14B-GGUF", "Q8_0"): (1, ()),
    ("unsloth/Qwen3-235B-A22B-GGUF", "Q4_K_M"): (3, ()),
    ("unsloth/Qwen3-8B-GGUF", "Q4_K_M"): (1, ()),
    ("lmstudio-community/Qwen3-235B-A22B-GGUF", "Q4_K_M"): (4, ()),
    ("lmstudio-community/Qwen3-Coder-480B-A35B-Instruct-GGUF", "Q4_K_M"): (8, ()),
    ("lmstudio-community/Qwen3-Coder-30B-A3B-Instruct-GGUF", "Q4_K_M"): (1, ()),
    ("bartowski/Qwen_Qwen3-0.6B-GGUF", "Q4_K_M"): (1, ()),
    ("bartowski/Qwen_Qwen3-4B-GGUF", "Q4_K_M"): (1, ()),
    ("bartowski/Qwen_Qwen3-8B-GGUF", "Q4_K_M"): (1, ()),
    ("bartowski/Qwen_Qwen3-32B-GGUF", "Q4_K_M"): (1, ()),
}

# ---------------------------------------------------------------------------------------------
# Building


def architecture(spec: ModelSpec) -> Architecture:
    native, extended = spec.ctx
    return Architecture(**SHAPES[spec.shape], ctx_native=native, ctx_extended=extended)


def params_in_file(spec: ModelSpec) -> int:
    arch = architecture(spec)
    extra = arch.n_vocab * arch.n_embd if spec.shape in LM_HEAD_IN_FILE else 0
    return arch.params_total + extra + arch.n_embd  # + output_norm


def _shape_of_repo(repo: str) -> str | None:
    for spec in MODELS:
        for pub, _ in spec.publishers:
            if pub.repo(spec.id) == repo:
                return spec.shape
    return None


def size_of(spec: ModelSpec, pub: Publisher, quant: str) -> tuple[int, bool, str]:
    """(bytes, is_estimate, source) for one file."""
    repo = pub.repo(spec.id)
    if (repo, quant) in REAL_SIZES:
        gb, source = REAL_SIZES[(repo, quant)]
        return round(gb * GB), False, f"{source} ({repo}): {gb:.2f} GB"
    # Same quant, same shape: this publisher's sibling first, then any publisher's.
    siblings = sorted(
        (not r.startswith(pub.owner + "/"), r, gb)
        for (r, q), (gb, _) in REAL_SIZES.items()
        if q == quant and _shape_of_repo(r) == spec.shape
    )
    if siblings:
        _, r, gb = siblings[0]
        return round(gb * GB), True, f"estimate: same quant and shape in {r} ({gb:.2f} GB)"
    if (spec.shape, quant) in REFERENCE_SIZES:
        gb, r = REFERENCE_SIZES[(spec.shape, quant)]
        return round(gb * GB), True, f"estimate: same quant and shape in {r} ({gb:.2f} GB)"
    bpw = BITS_PER_WEIGHT[quant]
    n = params_in_file(spec)
    size = round(n * bpw / 8 / 1e6) * 1_000_000
    return size, True, f"estimate: {n / 1e9:.2f}B params x {bpw} bits"


def build_file(spec: ModelSpec, pub: Publisher, quant: str) -> CatalogFile | None:
    repo = pub.repo(spec.id)
    size, estimate, source = size_of(spec, pub, quant)
    seen = SEEN.get((repo, quant))
    n = 1 if not pub.max_shard else max(1, math.ceil(size / pub.max_shard))
    if seen is not None:
        n = seen[0]  # a listing beats the size rule (Qwen split its 235B Q8_0 by tensor count)
    if pub.max_shard == 0 and size > 50 * GB:
        return None  # split as .partXofY (mradermacher): not offered
    shards = pub.paths(spec.id, quant, n)
    shard_sizes: tuple[int, ...] = ()
    if n > 1:
        each = size // n
        shard_sizes = (each,) * (n - 1) + (size - each * (n - 1),)
    sha: tuple[str | None, ...] = tuple(seen[1]) if seen is not None and seen[1] else ()
    return CatalogFile(
        repo=repo, quant=quant, shards=shards, size=size, size_is_estimate=estimate,
        sha256=sha, shard_sizes=shard_sizes,
        verified=seen is not None or (repo, quant) in REAL_SIZES, size_source=source,
    )


def build_catalog() -> Catalog:
    models = []
    for spec in MODELS:
        files = [build_file(spec, pub, q) for pub, quants in spec.publishers for q in quants]
        total, active = PARAMS[spec.shape]
        owner = "Qwen"
        models.append(CatalogModel(
            id=spec.id, variant=spec.variant, size_label=spec.shape, params_total=total,
            params_active=active, arch=architecture(spec),
            files=tuple(f for f in files if f is not None), source_repo=f"{owner}/{spec.id}",
        ))
    return Catalog(models=tuple(models), snapshot_date=SNAPSHOT_DATE, source="snapshot")


def render() -> str:
    """The text of assets/catalog.json."""
    return format_catalog_json(catalog_to_json(build_catalog()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--check", action="store_true", help="fail if assets/catalog.json is stale")
    ap.add_argument("--output", type=Path, default=OUTPUT)
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale; run scripts/build_catalog.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_bytes(text.encode("utf-8"))
    cat = build_catalog()
    n_files = sum(len(m.files) for m in cat.models)
    n_real = sum(not f.size_is_estimate for m in cat.models for f in m.files)
    print(f"wrote {args.output}: {len(cat.models)} models, {n_files} files "
          f"({n_real} with published sizes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
