"""Refreshing the catalog from the (loopback) Hub: exact sizes, shards, sha256; offline fallback."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hub_fixtures import hub  # noqa: F401 - the fixture
from huggingface_hub import HfApi

from explorer.catalog.refresh import current_catalog, describe_source, refresh_catalog, save_refreshed
from explorer.catalog.snapshot import Catalog, CatalogFile, CatalogModel
from explorer.gguf.names import quant_of
from explorer.gguf.shape import Architecture
from explorer.gguf.variant import Variant
from explorer.testing.hub import HubServer, split_file
from explorer.testing.models import ensure_model

ARCH = Architecture("qwen3", 2, 64, 4, 2, 16, 128, 267, 4096, 4096)


def snapshot() -> Catalog:
    estimated = CatalogFile("Qwen/Qwen3-Tiny-GGUF", "Q8_0", ("Qwen3-Tiny-Q8_0.gguf",), 999, True)
    elsewhere = CatalogFile("bartowski/Qwen_Qwen3-Tiny-GGUF", "Q4_K_M", ("Qwen_Qwen3-Tiny-Q4_K_M.gguf",), 500, True)
    model = CatalogModel("Qwen3-Tiny", Variant.HYBRID, "0.6B", 0.6, 0.6, ARCH, (estimated, elsewhere))
    return Catalog((model,), "2026-11-01", "snapshot")


def test_refresh_replaces_estimates_with_hub_facts(hub: HubServer, tmp_path: Path) -> None:  # noqa: F811
    q8 = ensure_model("qwen3-tiny-hybrid-q8_0")
    f16 = ensure_model("qwen3-tiny-hybrid-f16")
    shards = split_file(f16, tmp_path, "Qwen3-Tiny-F16", 3)
    hub.add_repo("Qwen/Qwen3-Tiny-GGUF", {
        "Qwen3-Tiny-Q8_0.gguf": q8, "README.md": "tiny", "mmproj-F16.gguf": b"x" * 10,
        **{f"F16/{p.name}": p for p in shards},
    })
    result = refresh_catalog(snapshot(), HfApi(), today="2026-11-25")
    assert result.updated == ("Qwen/Qwen3-Tiny-GGUF",)
    assert [r for r, _ in result.failed] == ["bartowski/Qwen_Qwen3-Tiny-GGUF"]  # not on this Hub
    cat = result.catalog
    assert (cat.source, cat.snapshot_date) == ("hub", "2026-11-25")
    files = {f.quant: f for f in cat.models[0].files}
    q8_file = files["Q8_0"]
    assert q8_file.size == q8.stat().st_size and not q8_file.size_is_estimate
    assert q8_file.sha256 == (hashlib.sha256(q8.read_bytes()).hexdigest(),)
    split = files["F16"]
    assert split.shards == tuple(f"F16/{p.name}" for p in shards)
    assert split.size == f16.stat().st_size and split.shard_sizes == tuple(p.stat().st_size for p in shards)
    assert files["Q4_K_M"].size_is_estimate  # the unreachable repo keeps its snapshot entry
    assert "mmproj" not in str(cat.models[0].files)
    assert describe_source(cat) == "Hub catalog, refreshed 2026-11-25"


def test_malformed_hub_reply_keeps_the_snapshot(hub: HubServer) -> None:  # noqa: F811
    hub.add_repo("Qwen/Qwen3-Tiny-GGUF", {"Qwen3-Tiny-Q8_0.gguf": ensure_model("qwen3-tiny-hybrid-q8_0")})
    hub.faults.set("malformed", "/api/models/", times=None)
    result = refresh_catalog(snapshot(), HfApi())
    assert result.updated == ()
    assert len(result.failed) == 2
    assert result.catalog.source == "snapshot" and result.catalog.models == snapshot().models


def test_cached_refresh_is_used_and_a_damaged_cache_is_ignored(tmp_path: Path) -> None:
    cache = tmp_path / "catalog-hub.json"
    assert current_catalog(cache).source == "snapshot"  # nothing cached: the shipped snapshot
    refreshed = Catalog(snapshot().models, "2026-11-25", "hub")
    save_refreshed(refreshed, cache)
    assert current_catalog(cache) == refreshed
    cache.write_text("{not json")
    assert current_catalog(cache).source == "snapshot"


def test_quant_names() -> None:
    assert quant_of("Q4_K_M/Qwen3-235B-A22B-Q4_K_M-00001-of-00003.gguf") == "Q4_K_M"
    assert quant_of("Qwen_Qwen3-8B-IQ4_XS.gguf") == "IQ4_XS"
    assert quant_of("mmproj-F16.gguf") is None
