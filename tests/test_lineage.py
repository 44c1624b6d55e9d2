"""The lineage graph (explorer.guide.lineage) from the real catalog and from hand-made ones: every model in
exactly one node, arrows only left to right between boxes of one size, every fact with a source."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from explorer.catalog.snapshot import Catalog, load_catalog
from explorer.gguf.variant import Variant
from explorer.guide.lineage import Stage, build_lineage, stage_of


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_every_catalog_model_is_in_exactly_one_node(catalog: Catalog) -> None:
    lineage = build_lineage(catalog)
    counts = Counter(mid for node in lineage.nodes for mid in node.model_ids)
    assert set(counts) == {m.id for m in catalog.models}
    assert all(n == 1 for n in counts.values()), [mid for mid, n in counts.items() if n != 1]
    for m in catalog.models:
        node = lineage.node_of(m.id)
        assert node is not None and node.size_label == m.size_label and node.moe == m.is_moe


def test_the_real_catalog_lands_in_its_stages(catalog: Catalog) -> None:
    lineage = build_lineage(catalog)
    assert [s.stage for s in lineage.stages] == [Stage.BASE, Stage.HYBRID, Stage.RELEASE_2507, Stage.NEXT,
                                                 Stage.CODER]
    assert not lineage.nodes_in(Stage.OTHER)
    (nxt,) = lineage.nodes_in(Stage.NEXT)  # a new architecture: its own column, no arrow into it
    assert nxt.model_ids == ("Qwen3-Next-80B-A3B-Instruct", "Qwen3-Next-80B-A3B-Thinking")
    assert not [e for e in lineage.edges if e.dst == nxt.key] and all(f.source for f in nxt.facts)
    node = lineage.node("2507:30B-A3B")
    assert node is not None
    assert node.model_ids == ("Qwen3-30B-A3B-Instruct-2507", "Qwen3-30B-A3B-Thinking-2507")
    assert node.caption == "30B-A3B · MoE, 3.3B active" and node.params_total == 30.5
    coder = {n.size_label for n in lineage.nodes_in(Stage.CODER)}
    assert coder == {"30B-A3B", "480B-A35B"}
    # The flagships went through the four stages; the others were distilled.
    tags = {n.size_label: n.tag for n in lineage.nodes_in(Stage.HYBRID)}
    assert tags["32B"] == tags["235B-A22B"] == "4-stage"
    assert {k for k, v in tags.items() if v == "distilled"} == {"0.6B", "1.7B", "4B", "8B", "14B", "30B-A3B"}
    # Rows: dense smallest first, then MoE.
    assert lineage.rows == ("0.6B", "1.7B", "4B", "8B", "14B", "32B", "30B-A3B", "80B-A3B", "235B-A22B",
                            "480B-A35B")


def test_edges_go_left_to_right_within_one_size(catalog: Catalog) -> None:
    lineage = build_lineage(catalog)
    assert lineage.edges
    for edge in lineage.edges:
        src, dst = lineage.node(edge.src), lineage.node(edge.dst)
        assert src is not None and dst is not None
        assert src.stage.column < dst.stage.column
        assert src.size_label == dst.size_label
        assert edge.source.strip()
    pairs = {(e.src, e.dst) for e in lineage.edges}
    assert ("base:8B", "hybrid:8B") in pairs and ("hybrid:4B", "2507:4B") in pairs
    # No Base of 32B in the catalog, and no source for where a Coder comes from: no arrows there.
    assert not any(e.dst == "hybrid:32B" for e in lineage.edges)
    assert not any(e.dst.startswith("coder:") for e in lineage.edges)


def test_every_fact_has_a_source(catalog: Catalog) -> None:
    lineage = build_lineage(catalog)
    facts = [f for s in lineage.stages for f in s.facts] + [f for n in lineage.nodes for f in n.facts]
    facts += list(lineage.notes)
    assert all(f.text.strip() and f.source.strip() for f in facts)
    sources = " ".join(lineage.sources())
    assert "arXiv:2505.09388" in sources and "huggingface.co/Qwen/Qwen3-30B-A3B-Instruct-2507" in sources
    assert "qwenlm.github.io/blog/qwen3-coder" in sources
    # The seeds' false claims stay out: no reasoning head, no tokenizer extension, no "235B-Coder".
    text = " ".join(f.text for f in facts).lower()
    assert "reasoning head" not in text and "235b-coder" not in text and "/no think" not in text


def test_a_model_the_rules_do_not_place_lands_in_other(catalog: Catalog) -> None:
    instruct = catalog.find("Qwen3-4B-Instruct-2507")
    hybrid = catalog.find("Qwen3-8B")
    assert instruct is not None and hybrid is not None
    later = replace(instruct, id="Qwen3-4B-Instruct-2604")  # a later release: the 2507 facts do not hold
    odd_size = replace(hybrid, id="Qwen3-9B", size_label="9B", params_total=9.1, params_active=9.1)
    small = Catalog(models=(hybrid, instruct, later, odd_size), snapshot_date="2026-12-01", source="test")
    assert stage_of(later) is Stage.OTHER and stage_of(odd_size) is Stage.OTHER
    lineage = build_lineage(small)
    others = lineage.nodes_in(Stage.OTHER)
    assert {mid for n in others for mid in n.model_ids} == {"Qwen3-4B-Instruct-2604", "Qwen3-9B"}
    assert lineage.stages[-1].stage is Stage.OTHER
    counts = Counter(mid for n in lineage.nodes for mid in n.model_ids)
    assert sorted(counts) == sorted(m.id for m in small.models) and set(counts.values()) == {1}
    assert all(f.source for n in others for f in n.facts)


def test_an_unknown_variant_lands_in_other(catalog: Catalog) -> None:
    base = catalog.find("Qwen3-8B-Base")
    assert base is not None
    stranger = replace(base, id="Qwen3-8B-Omni", variant="omni")  # a variant this build does not know
    lineage = build_lineage(Catalog(models=(base, stranger), snapshot_date="2026-12-01", source="test"))
    node = lineage.node_of("Qwen3-8B-Omni")
    assert node is not None and node.stage is Stage.OTHER and node.kinds == ("omni",)
    assert lineage.node_of("Qwen3-8B-Base") is not None
    assert not lineage.edges  # no hybrid to point at


def test_a_coder_of_a_known_shape_says_so_without_an_arrow(catalog: Catalog) -> None:
    lineage = build_lineage(catalog)
    node = lineage.node("coder:30B-A3B")
    assert node is not None
    shape_fact = next(f for f in node.facts if "shape of" in f.text)
    assert "Qwen3-30B-A3B" in shape_fact.text and "no arrow" in shape_fact.text
    assert Variant.CODER.label in node.kinds
