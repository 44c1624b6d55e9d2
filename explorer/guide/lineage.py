"""The Qwen3 family tree drawn from a catalog: which models come from which, and how they were trained.

Columns (stages), left to right:

- Base: the pre-trained checkpoints.
- Hybrid: the original Qwen3 models, thinking and non-thinking in one model. The flagships went through
  the report's four post-training stages; the smaller ones were distilled from the flagships.
- 2507: the July 2025 releases, a separately trained non-thinking (Instruct) and thinking model per size.
- Coder: the Qwen3-Coder line. No card or blog we found says which Qwen3 checkpoint a Coder starts from,
  so no arrow leads into it.
- Other: any catalog model these rules do not place (a later release, a new variant). Nothing is dropped.

A node groups the catalog models of one stage and one size; every catalog model is in exactly one node.
Arrows join nodes of the same size: Base -> Hybrid -> 2507. Every fact carries its source (`Fact.source`):
the report, a model card, a blog, or the catalog itself. Plain Python: `ui/guide/lineage_view.py` draws it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum

from explorer.catalog.snapshot import Catalog, CatalogModel
from explorer.gguf.shape import Architecture
from explorer.gguf.variant import Variant

REPORT = "Qwen3 technical report, arXiv:2505.09388 (https://arxiv.org/abs/2505.09388)"
REPORT_PRETRAIN = REPORT + ", section 3 (pre-training)"
REPORT_POST = REPORT + ", section 4 and its Figure 1 (post-training)"
REPORT_DISTILL = REPORT + ", section 4.5 (strong-to-weak distillation)"
CODER_BLOG = "Qwen3-Coder blog, July 2025 (https://qwenlm.github.io/blog/qwen3-coder/)"
QWEN_DOCS = "Qwen docs, Quickstart (https://qwen.readthedocs.io/en/latest/getting_started/quickstart.html)"
HF = "https://huggingface.co/"

# The report's flagships (four-stage post-training) and the sizes it distilled from them.
FLAGSHIP_SIZES = ("32B", "235B-A22B")
DISTILLED_SIZES = ("0.6B", "1.7B", "4B", "8B", "14B", "30B-A3B")


class Stage(str, Enum):
    BASE = "base"
    HYBRID = "hybrid"
    RELEASE_2507 = "2507"
    NEXT = "next"
    CODER = "coder"
    OTHER = "other"

    @property
    def column(self) -> int:
        return list(Stage).index(self)


@dataclass(frozen=True)
class Fact:
    text: str
    source: str  # a short citation with its URL


@dataclass(frozen=True)
class StageInfo:
    stage: Stage
    title: str  # "Hybrid"
    subtitle: str  # one line under the title
    facts: tuple[Fact, ...]

    @property
    def column(self) -> int:
        return self.stage.column


@dataclass(frozen=True)
class LineageNode:
    key: str  # "hybrid:30B-A3B"
    stage: Stage
    size_label: str  # "30B-A3B"
    moe: bool
    params_total: float  # billions
    params_active: float  # billions (== total for dense)
    model_ids: tuple[str, ...]  # the catalog models it covers
    kinds: tuple[str, ...]  # what the models are: ("Instruct", "Thinking"), ("Base",)...
    tag: str  # a short training note drawn in the box: "4-stage", "distilled", "" ...
    facts: tuple[Fact, ...]

    @property
    def label(self) -> str:
        return self.size_label

    @property
    def params_text(self) -> str:
        """"MoE · 30.5B total, 3.3B active" or "dense · 8.2B"."""
        if self.moe:
            return f"MoE · {_b(self.params_total)} total, {_b(self.params_active)} active"
        return f"dense · {_b(self.params_total)}"

    @property
    def caption(self) -> str:
        """One line naming the node: "30B-A3B · MoE, 3.3B active"."""
        kind = f"MoE, {_b(self.params_active)} active" if self.moe else "dense"
        return f"{self.size_label} · {kind}"


@dataclass(frozen=True)
class LineageEdge:
    src: str  # node keys
    dst: str
    label: str
    source: str


@dataclass(frozen=True)
class Lineage:
    stages: tuple[StageInfo, ...]  # the columns in use, left to right
    nodes: tuple[LineageNode, ...]  # by column, then dense before MoE, smallest first
    edges: tuple[LineageEdge, ...]
    rows: tuple[str, ...]  # size labels, top to bottom: dense smallest first, then MoE
    notes: tuple[Fact, ...]  # what the whole diagram rests on (the footnote)

    def node(self, key: str) -> LineageNode | None:
        return next((n for n in self.nodes if n.key == key), None)

    def nodes_in(self, stage: Stage) -> tuple[LineageNode, ...]:
        return tuple(n for n in self.nodes if n.stage is stage)

    def node_of(self, model_id: str) -> LineageNode | None:
        return next((n for n in self.nodes if model_id in n.model_ids), None)

    def row_of(self, node: LineageNode) -> int:
        return self.rows.index(node.size_label)

    def sources(self) -> tuple[str, ...]:
        """Every distinct source the diagram cites, in first-seen order."""
        seen: dict[str, None] = {}
        for fact in self.notes:
            seen.setdefault(fact.source, None)
        for info in self.stages:
            for fact in info.facts:
                seen.setdefault(fact.source, None)
        for node in self.nodes:
            for fact in node.facts:
                seen.setdefault(fact.source, None)
        for edge in self.edges:
            seen.setdefault(edge.source, None)
        return tuple(seen)


def _b(billions: float) -> str:
    return f"{billions:g}B"


def _card(repo: str) -> str:
    return f"model card, {HF}{repo}"


_STAGES: dict[Stage, StageInfo] = {
    Stage.BASE: StageInfo(
        Stage.BASE, "Base", "pre-trained only",
        (Fact("Pre-trained in three stages on about 36 trillion tokens in 119 languages and dialects: general "
              "(S1), reasoning (S2, more STEM, code and synthetic data), then long context (32,768 tokens).",
              REPORT_PRETRAIN),
         Fact("No post-training: no chat, instruction or thinking training (the cards' Training Stage: "
              "Pretraining). Use them for completion and research.", _card("Qwen/Qwen3-8B-Base")))),
    Stage.HYBRID: StageInfo(
        Stage.HYBRID, "Hybrid (April 2025)", "thinks, or not, on request",
        (Fact("Thinking and non-thinking modes in one model: the chat template's enable_thinking switch, and "
              "/think or /no_think in a user turn.", REPORT + "; " + _card("Qwen/Qwen3-8B")),
         Fact("The flagships (235B-A22B, 32B) went through four post-training stages: (1) long chain-of-thought "
              "cold start, (2) reasoning RL, (3) thinking mode fusion, (4) general RL.", REPORT_POST),
         Fact("The smaller models (0.6B to 14B and 30B-A3B) were post-trained by strong-to-weak distillation "
              "from the flagships (off-policy, then on-policy), which saves the cost of running the four stages "
              "for each of them.", REPORT_DISTILL))),
    Stage.RELEASE_2507: StageInfo(
        Stage.RELEASE_2507, "2507 (July 2025)", "Instruct and Thinking",
        (Fact("Instruct-2507 is the updated non-thinking mode of the model of its size: non-thinking only, it "
              "writes no <think></think> block and has no enable_thinking switch.",
              _card("Qwen/Qwen3-30B-A3B-Instruct-2507") + "; " + QWEN_DOCS),
         Fact("Thinking-2507 continues the scaling of the thinking capability of the model of its size: "
              "thinking only; its chat template opens <think> itself, so the output shows only </think>.",
              _card("Qwen/Qwen3-4B-Thinking-2507")),
         Fact("The architecture is the one of the model of the same size; the 2507 models read 262,144 "
              "tokens natively (the originals 32,768).", _card("Qwen/Qwen3-30B-A3B-Instruct-2507")))),
    Stage.NEXT: StageInfo(
        Stage.NEXT, "Next (Sept. 2025)", "hybrid attention",
        (Fact("Qwen3-Next changes the architecture: in three of every four layers Gated DeltaNet (linear "
              "attention, a fixed-size state per sequence instead of a KV cache that grows with the context), "
              "gated attention in the fourth; a high-sparsity MoE of 512 experts, 10 routed and 1 shared per "
              "token.", _card("Qwen/Qwen3-Next-80B-A3B-Instruct") + " (and its config.json)"),
         Fact("Released as an Instruct model (non-thinking only) and a Thinking model (thinking only), like the "
              "2507 models.", _card("Qwen/Qwen3-Next-80B-A3B-Instruct") + "; "
              + _card("Qwen/Qwen3-Next-80B-A3B-Thinking")),
         Fact("Its llama.cpp architecture is qwen3next: a llama.cpp build that does not list it can not load "
              "these files (the Models tab says so).", "llama.cpp, src/models/qwen3next.cpp"))),
    Stage.CODER: StageInfo(
        Stage.CODER, "Coder (July 2025)", "agentic coding, never thinks",
        (Fact("Pre-trained on 7.5T tokens, 70% of them code, with noisy data cleaned and rewritten by "
              "Qwen2.5-Coder; post-trained with execution-driven reinforcement learning on real coding tasks "
              "and long-horizon agent RL.", CODER_BLOG),
         Fact("Non-thinking only (no <think></think> blocks); 256K tokens native context, up to 1M with YaRN.",
              _card("Qwen/Qwen3-Coder-30B-A3B-Instruct")),
         Fact("Neither the blog nor the model cards say which Qwen3 checkpoint a Coder starts from, so no "
              "arrow leads into this column.", CODER_BLOG + "; " + _card("Qwen/Qwen3-Coder-480B-A35B-Instruct")))),
    Stage.OTHER: StageInfo(
        Stage.OTHER, "Other", "not placed by the rules",
        (Fact("Catalog models this diagram has no rule for (a later release or a new variant): listed here "
              "rather than left out, with no claim about how they were trained.", "this app's lineage rules "
              "(explorer/guide/lineage.py)"),)),
}

NOTES: tuple[Fact, ...] = (
    Fact("Dense models use all their parameters for every token; mixture-of-experts (MoE) models route each "
         "token through a few of their experts, so only the active parameters compute.", REPORT),
    Fact("2507 models are updates of the hybrid model of the same size.",
         _card("Qwen/Qwen3-30B-A3B-Instruct-2507") + "; " + _card("Qwen/Qwen3-4B-Thinking-2507")),
    Fact("Qwen3-Coder is pre-trained and post-trained for agentic coding.", CODER_BLOG),
)

_KIND = {Variant.BASE: "Base", Variant.HYBRID: "Hybrid", Variant.INSTRUCT_2507: "Instruct",
         Variant.THINKING_2507: "Thinking", Variant.CODER: "Coder"}


_VARIANT_ORDER = {v: i for i, v in enumerate(Variant)}


def _kind(variant: object) -> str:
    """The short name of a variant, also of one this build does not know (a catalog from a newer app)."""
    if isinstance(variant, Variant):
        return _KIND[variant]
    return str(getattr(variant, "value", variant))


def stage_of(model: CatalogModel) -> Stage:
    """The column a catalog model belongs in; OTHER when no rule places it."""
    variant = model.variant
    if variant is Variant.BASE:
        return Stage.BASE
    if variant is Variant.HYBRID:
        return Stage.HYBRID if model.size_label in FLAGSHIP_SIZES + DISTILLED_SIZES else Stage.OTHER
    if variant in (Variant.INSTRUCT_2507, Variant.THINKING_2507):
        if "-2507" in model.id:
            return Stage.RELEASE_2507
        return Stage.NEXT if model.arch.arch == "qwen3next" else Stage.OTHER  # a later release: not these facts
    if variant is Variant.CODER:
        return Stage.CODER
    return Stage.OTHER


def _shape(model: CatalogModel) -> Architecture:
    """The architecture without its context lengths (a 2507 or Coder model reads longer texts, same weights' shape)."""
    return replace(model.arch, ctx_native=1, ctx_extended=1)


def _row_key(model: CatalogModel) -> tuple[bool, float, str]:
    return (model.is_moe, model.params_total, model.size_label)


def _catalog_fact(models: Iterable[CatalogModel], catalog: Catalog) -> list[Fact]:
    """Parameters, experts and context of a node's models, from the catalog (whose figures are the cards')."""
    models = list(models)
    m = models[0]
    repos = "; ".join(_card(x.source_repo) for x in models if x.source_repo) or "the model cards"
    where = f"the catalog ({catalog.source} of {catalog.snapshot_date}), figures from the {repos}"
    if m.is_moe:
        params = (f"Mixture of experts: {_b(m.params_total)} parameters in total, {_b(m.params_active)} active "
                  f"per token ({m.arch.n_expert_used} of {m.arch.n_expert} experts in each of "
                  f"{m.arch.n_layers} layers).")
    else:
        params = f"Dense: {_b(m.params_total)} parameters, all used for every token ({m.arch.n_layers} layers)."
    ctx = sorted({x.arch.ctx_native for x in models})
    ctx_text = " or ".join(f"{c:,}" for c in ctx)
    return [Fact(params, where), Fact(f"Native context: {ctx_text} tokens.", where)]


def _stage_facts(stage: Stage, size: str, models: list[CatalogModel], catalog: Catalog) -> tuple[str, list[Fact]]:
    """The node's training tag and the facts that hold for this stage and size."""
    first = models[0]
    if stage is Stage.BASE:
        return "pre-trained", [Fact("Pre-trained checkpoint: no chat, instruction or thinking training.",
                                    _card(first.source_repo or "Qwen/Qwen3-8B-Base"))]
    if stage is Stage.HYBRID:
        modes = Fact("Thinks by default; enable_thinking=False in the chat template, or /no_think in a turn, "
                     "turns thinking off (/think turns it back on).",
                     REPORT + "; " + _card(first.source_repo or f"Qwen/{first.id}"))
        if size in FLAGSHIP_SIZES:
            return "4-stage", [Fact(
                "Flagship: post-trained in four stages: long chain-of-thought cold start, reasoning RL, "
                "thinking mode fusion, general RL.", REPORT_POST), modes]
        return "distilled", [Fact(
            "Lightweight model: post-trained by strong-to-weak distillation from the flagships (Qwen3-235B-A22B "
            "and Qwen3-32B), not by the four stages.", REPORT_DISTILL), modes]
    if stage is Stage.RELEASE_2507:
        facts = []
        for m in models:
            card = _card(m.source_repo or f"Qwen/{m.id}")
            if m.variant is Variant.INSTRUCT_2507:
                facts.append(Fact(f"{m.id}: the updated non-thinking mode of Qwen3-{size}; never thinks.", card))
            else:
                facts.append(Fact(f"{m.id}: the thinking capability of Qwen3-{size} scaled further; always "
                                  "thinks, with a longer thinking length.", card))
        return "", facts
    if stage is Stage.NEXT:
        kinds = {Variant.INSTRUCT_2507: "non-thinking only", Variant.THINKING_2507: "thinking only"}
        return "DeltaNet", [Fact(f"{m.id}: {kinds.get(m.variant, 'a Qwen3-Next model')}; no earlier "
                                         "Qwen3 checkpoint is named as its start, so no arrow is drawn.",
                                         _card(m.source_repo or f"Qwen/{m.id}")) for m in models]
    if stage is Stage.CODER:
        facts = [Fact(f"{m.id}: agentic coding and tool calls; never thinks.",
                      _card(m.source_repo or f"Qwen/{m.id}")) for m in models]
        shape = _shape(first)
        same = [o for o in catalog.models if o.variant in (Variant.HYBRID, Variant.BASE) and _shape(o) == shape]
        if same:
            names = " and ".join(o.id for o in same)
            which = "either" if len(same) > 1 else "it"
            facts.append(Fact(f"It has the shape of {names} (layers, heads, experts), but no source we found "
                              f"says it was trained from {which}, so no arrow is drawn.",
                              f"the catalog ({catalog.snapshot_date}); " + CODER_BLOG))
        else:
            facts.append(Fact("No other catalog model has its shape, and the blog does not name the checkpoint "
                              "it starts from, so no arrow is drawn.", CODER_BLOG))
        return "", facts
    return "", [Fact("No rule of this diagram places these models; nothing is claimed about their training.",
                     "this app's lineage rules (explorer/guide/lineage.py)")]


def build_lineage(catalog: Catalog) -> Lineage:
    """The lineage graph of `catalog`: every model in exactly one node."""
    groups: dict[tuple[Stage, str], list[CatalogModel]] = {}
    for m in catalog.models:
        groups.setdefault((stage_of(m), m.size_label), []).append(m)
    # Rows: one per size label, dense before MoE, smallest first.
    firsts: dict[str, CatalogModel] = {}
    for m in catalog.models:
        if m.size_label not in firsts or _row_key(m) < _row_key(firsts[m.size_label]):
            firsts[m.size_label] = m
    rows = tuple(sorted(firsts, key=lambda label: _row_key(firsts[label])))

    nodes: list[LineageNode] = []
    for (stage, size), models in sorted(groups.items(), key=lambda kv: (kv[0][0].column, rows.index(kv[0][1]))):
        models.sort(key=lambda x: (_VARIANT_ORDER.get(x.variant, len(_VARIANT_ORDER)), x.id))
        tag, facts = _stage_facts(stage, size, models, catalog)
        nodes.append(LineageNode(
            key=f"{stage.value}:{size}", stage=stage, size_label=size, moe=any(x.is_moe for x in models),
            params_total=max(x.params_total for x in models), params_active=max(x.params_active for x in models),
            model_ids=tuple(x.id for x in models),
            kinds=tuple(dict.fromkeys(_kind(x.variant) for x in models)),
            tag=tag, facts=tuple(facts + _catalog_fact(models, catalog))))

    keys = {n.key for n in nodes}
    for i, n in enumerate(nodes):
        if n.stage is Stage.HYBRID and f"{Stage.BASE.value}:{n.size_label}" not in keys:
            missing = Fact(f"The catalog has no Base model of size {n.size_label}, so no arrow leads into this box.",
                           f"the catalog ({catalog.source} of {catalog.snapshot_date})")
            nodes[i] = replace(n, facts=(*n.facts, missing))
    edges: list[LineageEdge] = []
    for size in rows:
        base, hybrid, r2507 = (f"{s.value}:{size}" for s in (Stage.BASE, Stage.HYBRID, Stage.RELEASE_2507))
        if base in keys and hybrid in keys:
            how = "four-stage post-training" if size in FLAGSHIP_SIZES else "distilled from the flagships"
            edges.append(LineageEdge(base, hybrid, how, REPORT_POST if size in FLAGSHIP_SIZES else REPORT_DISTILL))
        if hybrid in keys and r2507 in keys:
            repos = "; ".join(_card(f"Qwen/{mid}") for mid in _ids(nodes, r2507))
            edges.append(LineageEdge(hybrid, r2507, "2507 update", repos))
    stages = tuple(_STAGES[s] for s in Stage if any(n.stage is s for n in nodes))
    return Lineage(stages=stages, nodes=tuple(nodes), edges=tuple(edges), rows=rows, notes=NOTES)


def _ids(nodes: list[LineageNode], key: str) -> tuple[str, ...]:
    return next((n.model_ids for n in nodes if n.key == key), ())
