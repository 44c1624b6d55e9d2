"""The catalog: the shipped snapshot, its facts, its JSON format and the script that writes it."""

from __future__ import annotations

import copy
import importlib.resources
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from explorer.catalog.snapshot import (
    Catalog,
    CatalogError,
    catalog_from_json,
    catalog_to_json,
    load_catalog,
    save_catalog,
)
from explorer.gguf.shape import BITS_PER_WEIGHT
from explorer.gguf.shards import parse_shard
from explorer.gguf.variant import Variant

REPO = Path(__file__).resolve().parent.parent
SNAPSHOT = REPO / "assets" / "catalog.json"

HYBRID = ["0.6B", "1.7B", "4B", "8B", "14B", "32B", "30B-A3B", "235B-A22B"]
EXPECTED_IDS = (
    [f"Qwen3-{s}" for s in HYBRID]
    + [f"Qwen3-{s}-{k}-2507" for s in ("4B", "30B-A3B", "235B-A22B")
       for k in ("Instruct", "Thinking")]
    + ["Qwen3-Coder-30B-A3B-Instruct", "Qwen3-Coder-480B-A35B-Instruct"]
    + ["Qwen3-Next-80B-A3B-Instruct", "Qwen3-Next-80B-A3B-Thinking"]
    + [f"Qwen3-{s}-Base" for s in ("0.6B", "1.7B", "4B", "8B", "14B", "30B-A3B")]
)


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog(SNAPSHOT)


def _load_build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_catalog", REPO / "scripts" /
                                                  "build_catalog.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_catalog", module)
    spec.loader.exec_module(module)
    return module


# --- the shipped snapshot ------------------------------------------------------------------


def test_shipped_snapshot_loads_from_the_package(cat: Catalog) -> None:
    shipped = load_catalog()
    assert shipped == cat
    assert shipped.source == "snapshot"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", shipped.snapshot_date)


def test_falls_back_to_the_repo_assets_when_the_package_is_missing(
        monkeypatch: pytest.MonkeyPatch, cat: Catalog) -> None:
    def missing(name: str) -> Any:
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(importlib.resources, "files", missing)
    assert load_catalog() == cat


def test_snapshot_json_header_and_compact_layout() -> None:
    text = SNAPSHOT.read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["schema"] == 1 and data["source"] == "snapshot" and data["snapshot_date"]
    assert len(text.splitlines()) < 40  # one model object per line, no deep indentation
    assert "  " not in text


def test_every_model_and_variant_is_present(cat: Catalog) -> None:
    assert [m.id for m in cat.models] == EXPECTED_IDS
    assert set(cat.variants()) == set(Variant)
    for m in cat.models:
        assert m.files, m.id
        assert m.source_repo == f"Qwen/{m.id}"


def test_every_size_is_present(cat: Catalog) -> None:
    assert cat.size_labels() == ("0.6B", "1.7B", "4B", "8B", "14B", "30B-A3B", "32B", "80B-A3B",
                                 "235B-A22B", "480B-A35B")
    coder = cat.find("Qwen3-Coder-480B-A35B-Instruct")
    assert coder is not None and coder.size_label == "480B-A35B"


def test_variants_by_model(cat: Catalog) -> None:
    def variant(model_id: str) -> Variant:
        m = cat.find(model_id)
        assert m is not None, model_id
        return m.variant

    assert variant("Qwen3-8B") is Variant.HYBRID
    assert variant("Qwen3-4B-Instruct-2507") is Variant.INSTRUCT_2507
    assert variant("Qwen3-235B-A22B-Thinking-2507") is Variant.THINKING_2507
    assert variant("Qwen3-Coder-30B-A3B-Instruct") is Variant.CODER
    assert variant("Qwen3-14B-Base") is Variant.BASE


def test_total_file_count_is_reasonable(cat: Catalog) -> None:
    n = sum(1 for _ in cat.iter_files())
    assert 200 <= n <= 500


# --- architecture facts ---------------------------------------------------------------------


def test_architecture_matches_published_parameter_counts(cat: Catalog) -> None:
    for m in cat.models:
        a = m.arch
        total = a.params_total / 1e9
        assert abs(total - m.params_total) / m.params_total < 0.10, (m.id, total)
        if a.n_expert:
            idle = (a.n_expert - a.n_expert_used) * 3 * a.n_embd * a.n_ff_exp * a.n_layers
            active = (a.params_total - idle) / 1e9
            assert abs(active - m.params_active) / m.params_active < 0.10, (m.id, active)
        else:
            assert m.params_active == m.params_total


def test_architecture_sanity(cat: Catalog) -> None:
    for m in cat.models:
        a = m.arch
        assert a.n_vocab == 151936
        assert a.head_dim == (256 if a.arch == "qwen3next" else 128)
        assert a.n_head % a.n_head_kv == 0
        assert a.ctx_extended >= a.ctx_native >= 32768
        if a.arch == "qwen3next":  # Qwen3-Next: 10 of 512 experts, a full-attention layer in 4
            assert a.n_ff == 0 and a.n_expert_used == 10 and a.full_attention_interval == 4
            assert "-A" in m.size_label and not a.tied_embeddings
        elif m.is_moe:
            assert a.arch == "qwen3moe" and a.n_ff == 0 and a.n_expert_used == 8
            assert "-A" in m.size_label and not a.tied_embeddings
        else:
            assert a.arch == "qwen3" and a.n_ff > 0 and a.n_expert == 0
        assert a.tied_embeddings == (m.size_label in ("0.6B", "1.7B", "4B"))


def test_context_lengths_follow_the_model_cards(cat: Catalog) -> None:
    ctx = {m.id: (m.arch.ctx_native, m.arch.ctx_extended) for m in cat.models}
    assert ctx["Qwen3-0.6B"] == (32768, 32768)
    assert ctx["Qwen3-8B"] == (32768, 131072)
    assert ctx["Qwen3-235B-A22B"] == (32768, 131072)
    assert ctx["Qwen3-4B-Instruct-2507"] == (262144, 262144)
    assert ctx["Qwen3-235B-A22B-Instruct-2507"] == (262144, 1010000)
    assert ctx["Qwen3-Coder-480B-A35B-Instruct"] == (262144, 1048576)
    for m in cat.models:
        if m.variant in (Variant.INSTRUCT_2507, Variant.THINKING_2507, Variant.CODER):
            assert m.arch.ctx_native == 262144, m.id
        if m.variant is Variant.BASE:
            assert ctx[m.id] == (32768, 32768)


def test_variants_share_the_architecture_of_their_size(cat: Catalog) -> None:
    by_size: dict[str, set[tuple[int, ...]]] = {}
    for m in cat.models:
        a = m.arch
        key = (a.n_layers, a.n_embd, a.n_head, a.n_head_kv, a.n_ff, a.n_expert, a.n_ff_exp)
        by_size.setdefault(m.size_label, set()).add(key)
    assert all(len(shapes) == 1 for shapes in by_size.values()), by_size


# --- files ----------------------------------------------------------------------------------


def test_split_files_follow_gguf_split_names_and_add_up(cat: Catalog) -> None:
    n_split = 0
    for m, f in cat.iter_files():
        if not f.is_split:
            assert parse_shard(f.filename) is None, f.filename
            assert f.shard_sizes in ((), (f.size,))
            continue
        n_split += 1
        n = len(f.shards)
        prefixes = set()
        for k, path in enumerate(f.shards, start=1):
            shard = parse_shard(path)
            assert shard is not None and (shard.index, shard.count) == (k, n), path
            assert path.endswith(f"-{k:05d}-of-{n:05d}.gguf"), path
            prefixes.add(shard.prefix)
        assert len(prefixes) == 1
        assert len(f.shard_sizes) == n and sum(f.shard_sizes) == f.size, (m.id, f.repo, f.quant)
        assert f.size > 30e9, "only large files are split"
    assert n_split > 20


def test_files_above_50_gb_are_split(cat: Catalog) -> None:
    for m, f in cat.iter_files():
        if f.size > 50e9:
            assert f.is_split, (m.id, f.repo, f.quant)
            assert all(s <= 50e9 for s in f.shard_sizes)


def test_publisher_naming(cat: Catalog) -> None:
    for m, f in cat.iter_files():
        name = f.filename.rsplit("/", 1)[-1]
        assert f.repo.endswith("-GGUF")
        if f.publisher == "bartowski":
            assert f.repo == f"bartowski/Qwen_{m.id}-GGUF"
            quant = "bf16" if f.quant == "BF16" else f.quant
            assert name.startswith(f"Qwen_{m.id}-{quant}")
            if f.is_split:
                assert f.filename.startswith(f"Qwen_{m.id}-{quant}/")
        elif f.publisher == "mradermacher":
            assert m.variant is Variant.BASE
            quant = "f16" if f.quant == "F16" else f.quant
            assert f.shards == (f"{m.id}.{quant}.gguf",)
        else:
            assert f.repo == f"{f.publisher}/{m.id}-GGUF"
            assert name.startswith(f"{m.id}-{f.quant}")
            if f.is_split and f.publisher in ("Qwen", "unsloth"):
                assert f.filename.startswith(f"{f.quant}/")
            if f.is_split and f.publisher == "lmstudio-community":
                assert "/" not in f.filename


def test_known_paths(cat: Catalog) -> None:
    paths = {(f.repo, f.filename) for _, f in cat.iter_files()}
    assert ("Qwen/Qwen3-8B-GGUF", "Qwen3-8B-Q5_0.gguf") in paths
    assert ("bartowski/Qwen_Qwen3-8B-GGUF", "Qwen_Qwen3-8B-Q4_K_M.gguf") in paths
    assert ("unsloth/Qwen3-8B-GGUF", "Qwen3-8B-Q4_K_M.gguf") in paths
    assert ("Qwen/Qwen3-235B-A22B-GGUF",
            "Q4_K_M/Qwen3-235B-A22B-Q4_K_M-00001-of-00005.gguf") in paths
    assert ("unsloth/Qwen3-235B-A22B-GGUF",
            "Q4_K_M/Qwen3-235B-A22B-Q4_K_M-00001-of-00003.gguf") in paths
    assert ("lmstudio-community/Qwen3-Coder-480B-A35B-Instruct-GGUF",
            "Qwen3-Coder-480B-A35B-Instruct-Q4_K_M-00001-of-00008.gguf") in paths


def test_official_qwen_quants(cat: Catalog) -> None:
    for m in cat.models:
        quants = sorted(f.quant for f in m.files if f.publisher == "Qwen")
        if m.variant is not Variant.HYBRID:
            assert quants == [], m.id
        elif m.size_label in ("0.6B", "1.7B"):
            assert quants == ["Q8_0"], m.id
        else:
            assert quants == sorted(["Q4_K_M", "Q5_0", "Q5_K_M", "Q6_K", "Q8_0"]), m.id


def test_no_duplicate_files(cat: Catalog) -> None:
    keys = [(f.repo, f.quant) for _, f in cat.iter_files()]
    assert len(keys) == len(set(keys))
    paths = [(f.repo, p) for _, f in cat.iter_files() for p in f.shards]
    assert len(paths) == len(set(paths))


def test_sha256_per_shard(cat: Catalog) -> None:
    with_hash = [f for _, f in cat.iter_files() if f.sha256]
    assert with_hash
    for f in with_hash:
        assert len(f.sha256) == len(f.shards)
        assert all(h is None or re.fullmatch(r"[0-9a-f]{64}", h) for h in f.sha256)


# --- sizes ----------------------------------------------------------------------------------


def test_estimated_sizes_are_flagged(cat: Catalog) -> None:
    real = [f for _, f in cat.iter_files() if not f.size_is_estimate]
    estimated = [f for _, f in cat.iter_files() if f.size_is_estimate]
    assert real and estimated
    for f in estimated:
        assert f.size_source.startswith("estimate"), f
    for f in real:
        assert not f.size_source.startswith("estimate"), f
        assert f.verified and f.size % 10_000_000 == 0  # published to two decimals in GB


def test_bits_per_weight_agree_with_published_sizes(cat: Catalog) -> None:
    """BITS_PER_WEIGHT (explorer/gguf/shape.py) against every published size: within 5%."""
    for m, f in cat.iter_files():
        if f.size_is_estimate:
            continue
        bpw = f.size * 8 / m.arch.params_total
        assert abs(bpw - BITS_PER_WEIGHT[f.quant]) / BITS_PER_WEIGHT[f.quant] < 0.05, (
            m.id, f.quant, bpw)


def test_sizes_grow_with_bits(cat: Catalog) -> None:
    for m in cat.models:
        for publisher in {f.publisher for f in m.files}:
            files = sorted((f for f in m.files if f.publisher == publisher),
                           key=lambda f: BITS_PER_WEIGHT[f.quant])
            sizes = [f.size for f in files]
            assert sizes == sorted(sizes), (m.id, publisher, [(f.quant, f.size) for f in files])


def test_every_file_gets_a_shape(cat: Catalog) -> None:
    for m, f in cat.iter_files():
        shape = m.shape_for(f)
        assert shape.file_bytes == f.size
        assert not shape.exact
        assert abs(shape.weights_bytes - f.size) / f.size < 0.01


# --- queries --------------------------------------------------------------------------------


def test_find(cat: Catalog) -> None:
    m = cat.find("Qwen3-8B")
    assert m is not None and m.id == "Qwen3-8B"
    assert cat.find("qwen3-8b") is m
    assert cat.find("Qwen/Qwen3-8B") is m
    assert cat.find("Qwen3-9B") is None


def test_quants_sorted_by_bits(cat: Catalog) -> None:
    quants = cat.quants()
    assert quants[0] == "Q2_K"
    assert set(quants) >= {"Q3_K_M", "Q4_K_M", "Q5_0", "Q5_K_M", "Q6_K", "Q8_0", "BF16"}
    bits = [BITS_PER_WEIGHT[q] for q in quants]
    assert bits == sorted(bits)


def test_iter_files_and_files_for(cat: Catalog) -> None:
    pairs = list(cat.iter_files())
    assert len(pairs) == sum(len(m.files) for m in cat.models)
    assert all(f in m.files for m, f in pairs)
    m = cat.find("Qwen3-14B")
    assert m is not None
    q4 = m.files_for("q4_k_m")
    assert {f.publisher for f in q4} == {"Qwen", "unsloth", "bartowski", "lmstudio-community"}


# --- JSON: round trip and errors ------------------------------------------------------------


def test_round_trip(cat: Catalog, tmp_path: Path) -> None:
    data = catalog_to_json(cat)
    assert catalog_from_json(json.loads(json.dumps(data))) == cat
    path = tmp_path / "cache" / "catalog.json"
    refreshed = Catalog(models=cat.models, snapshot_date="2026-12-01", source="hub")
    save_catalog(refreshed, path)
    assert load_catalog(path) == refreshed


def _data(cat: Catalog) -> dict[str, Any]:
    return copy.deepcopy(catalog_to_json(cat))


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_malformed_json_is_a_catalog_error(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text('{"schema": 1, "models": [', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"catalog\.json: not valid JSON: .* line 1"):
        load_catalog(path)


def test_missing_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "nope.json")


def test_missing_field_names_the_field_and_the_model(cat: Catalog, tmp_path: Path) -> None:
    data = _data(cat)
    del data["models"][2]["files"][1]["size"]
    with pytest.raises(CatalogError) as err:
        load_catalog(_write(tmp_path, data))
    msg = str(err.value)
    assert "models[2] (Qwen3-4B).files[1]" in msg and "missing field 'size'" in msg


def test_missing_arch_field(cat: Catalog, tmp_path: Path) -> None:
    data = _data(cat)
    del data["models"][0]["arch"]["n_head_kv"]
    with pytest.raises(CatalogError, match=r"models\[0\] \(Qwen3-0\.6B\)\.arch: missing field "
                                           r"'n_head_kv'"):
        load_catalog(_write(tmp_path, data))


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda d: d.update(schema=2), "unsupported version 2"),
    (lambda d: d.pop("snapshot_date"), "missing field 'snapshot_date'"),
    (lambda d: d.update(models=[]), "lists no models"),
    (lambda d: d.update(models={}), r"catalog\.models: expected a list, got an object"),
    (lambda d: d["models"][0].update(variant="chat"), "unknown variant 'chat'"),
    (lambda d: d["models"][0].update(params_total="big"), r"params_total: expected a positive"),
    (lambda d: d["models"][0]["files"][0].update(size=-5), r"size: expected an integer >= 1"),
    (lambda d: d["models"][0]["files"][0].update(size=True), r"size: expected an integer"),
    (lambda d: d["models"][0]["files"][0].update(shards=[]), "non-empty list of file paths"),
    (lambda d: d["models"][0]["files"][0].update(repo="no-owner"), "expected 'owner/name'"),
    (lambda d: d["models"][0]["files"][0].update(sha256=["xyz"]), "not a sha256"),
    (lambda d: d["models"][0]["arch"].update(arch="llama"), "expected 'qwen3', 'qwen3moe' or 'qwen3next'"),
    (lambda d: d["models"].append(copy.deepcopy(d["models"][0])), "appears twice"),
    (lambda d: d["models"][0]["files"][0].update(
        shards=["a-00001-of-00002.gguf", "a-00003-of-00002.gguf"], shard_sizes=None),
     r"ending in -00002-of-00002\.gguf"),
    (lambda d: d["models"][0]["files"][0].update(
        shards=["a-00001-of-00002.gguf", "a-00002-of-00002.gguf"], shard_sizes=[1, 2]),
     "add up to 3"),
])
def test_invalid_data_gives_a_useful_error(cat: Catalog, tmp_path: Path, mutate: Any,
                                           expected: str) -> None:
    data = _data(cat)
    mutate(data)
    with pytest.raises(CatalogError, match=expected):
        load_catalog(_write(tmp_path, data))


def test_not_an_object(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="catalog: expected an object, got a list"):
        load_catalog(_write(tmp_path, [1, 2]))


# --- the build script -----------------------------------------------------------------------


def test_build_script_output_equals_the_committed_snapshot() -> None:
    build = _load_build_script()
    text = build.render()
    assert text == build.render(), "the build is not deterministic"
    assert text == SNAPSHOT.read_text(encoding="utf-8"), (
        "assets/catalog.json is stale: run python scripts/build_catalog.py")


def test_build_script_check_mode(tmp_path: Path) -> None:
    build = _load_build_script()
    out = tmp_path / "catalog.json"
    assert build.main(["--output", str(out)]) == 0
    assert build.main(["--check", "--output", str(out)]) == 0
    out.write_text("{}", encoding="utf-8")
    assert build.main(["--check", "--output", str(out)]) == 1
