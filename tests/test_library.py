"""The library: GGUF models found in a hand-built Hugging Face cache, our models folder, added paths."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from explorer.gguf.reader import GGUFError
from explorer.gguf.variant import Variant, guess_variant
from explorer.paths import cache_root
from explorer.store.delete import delete_model
from explorer.store.library import AddedFiles, LocalModel, scan_library, total_size
from explorer.testing.hub_repos import split_file
from explorer.testing.models import ensure_model

REPO = "Qwen/Qwen3-0.6B-GGUF"
C1, C2 = "a" * 40, "b" * 40


def put(cache: Path, repo: str, rel: str, data: bytes, *, commit: str = C1, verified: bool = False,
        main: bool = True) -> Path:
    """Store `data` like huggingface_hub does: a blob named by sha256, a relative snapshot link."""
    repo_dir = cache / f"models--{repo.replace('/', '--')}"
    sha = hashlib.sha256(data).hexdigest()
    blob = repo_dir / "blobs" / sha
    blob.parent.mkdir(parents=True, exist_ok=True)
    if not blob.exists():
        blob.write_bytes(data)
    if verified:
        blob.with_name(sha + ".verified").touch()
    link = repo_dir / "snapshots" / commit / rel
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(blob, link.parent))
    if main:
        (repo_dir / "refs").mkdir(exist_ok=True)
        (repo_dir / "refs" / "main").write_text(commit)
    return link


def disk_usage(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root, followlinks=False):
        for name in files:
            p = Path(dirpath, name)
            if not p.is_symlink():
                total += p.stat().st_size
    return total


def scan(tmp_path: Path, **kw: object) -> list[LocalModel]:
    cache = tmp_path / "hub"
    models = tmp_path / "models"
    return scan_library(cache, models, **kw)  # type: ignore[arg-type]


def by_key(models: list[LocalModel]) -> dict[str, LocalModel]:
    return {m.key: m for m in models}


@pytest.fixture
def q8() -> bytes:
    return ensure_model("qwen3-tiny-hybrid-q8_0").read_bytes()


@pytest.fixture
def f16_path() -> Path:
    return ensure_model("qwen3-tiny-hybrid-f16")


# --- scanning the hub cache -----------------------------------------------------------------

def test_scan_finds_hub_cache_files(tmp_path: Path, q8: bytes) -> None:
    cache = tmp_path / "hub"
    put(cache, REPO, "Qwen3-0.6B-Q8_0.gguf", q8)
    put(cache, REPO, "README.md", b"# readme")
    coder = ensure_model("qwen3moe-tiny-coder-q8_0").read_bytes()
    put(cache, "unsloth/Qwen3-Coder-30B-A3B-Instruct-GGUF", "Q8/Qwen3-Coder-30B-A3B-Instruct-Q8_0.gguf", coder)
    put(cache, "someone/Other-GGUF", "other-Q4_K_M.gguf", q8)  # not Qwen by name: still listed
    (cache / "datasets--x--y" / "snapshots").mkdir(parents=True)

    found = by_key(scan(tmp_path))
    assert set(found) == {f"hf:{REPO}:Qwen3-0.6B-Q8_0.gguf",
                          "hf:unsloth/Qwen3-Coder-30B-A3B-Instruct-GGUF:Q8/Qwen3-Coder-30B-A3B-Instruct-Q8_0.gguf",
                          "hf:someone/Other-GGUF:other-Q4_K_M.gguf"}
    m = found[f"hf:{REPO}:Qwen3-0.6B-Q8_0.gguf"]
    assert (m.repo, m.filename, m.quant, m.arch, m.variant) == (REPO, "Qwen3-0.6B-Q8_0.gguf", "Q8_0", "qwen3",
                                                                Variant.HYBRID)
    assert m.complete and not m.verified and m.error is None and m.source == "hub-cache"
    assert m.size == len(q8) and m.revision == C1
    assert m.path == cache / "models--Qwen--Qwen3-0.6B-GGUF" / "snapshots" / C1 / "Qwen3-0.6B-Q8_0.gguf"
    assert m.shards == (m.path,)
    c = found["hf:unsloth/Qwen3-Coder-30B-A3B-Instruct-GGUF:Q8/Qwen3-Coder-30B-A3B-Instruct-Q8_0.gguf"]
    assert (c.arch, c.variant, c.quant) == ("qwen3moe", Variant.CODER, "Q8_0")
    # the header's quant wins over the file name's
    assert found["hf:someone/Other-GGUF:other-Q4_K_M.gguf"].quant == "Q8_0"


def test_verified_marker(tmp_path: Path, q8: bytes, f16_path: Path) -> None:
    cache = tmp_path / "hub"
    put(cache, REPO, "Qwen3-0.6B-Q8_0.gguf", q8, verified=True)
    put(cache, REPO, "Qwen3-0.6B-F16.gguf", f16_path.read_bytes())
    found = {m.filename: m for m in scan(tmp_path)}
    assert found["Qwen3-0.6B-Q8_0.gguf"].verified
    assert not found["Qwen3-0.6B-F16.gguf"].verified


def test_split_set_is_one_entry_complete_only_with_every_shard(tmp_path: Path, f16_path: Path) -> None:
    cache = tmp_path / "hub"
    shards = split_file(f16_path, tmp_path / "parts", "Qwen3-0.6B-F16", 3)
    for p in shards[:2]:
        put(cache, REPO, f"F16/{p.name}", p.read_bytes(), verified=True)

    [m] = scan(tmp_path)
    assert m.key == f"hf:{REPO}:F16/Qwen3-0.6B-F16-00001-of-00003.gguf"
    assert not m.complete and not m.verified and m.error is None
    assert len(m.shards) == 3 and m.path == m.shards[0]
    assert m.size == shards[0].stat().st_size + shards[1].stat().st_size
    assert (m.quant, m.arch) == ("F16", "qwen3")  # from shard 1's header

    put(cache, REPO, f"F16/{shards[2].name}", shards[2].read_bytes())
    [m] = scan(tmp_path)
    assert m.complete and m.error is None and m.size == f16_path.stat().st_size
    assert not m.verified  # shard 3 has no marker
    sha = hashlib.sha256(shards[2].read_bytes()).hexdigest()
    (cache / "models--Qwen--Qwen3-0.6B-GGUF" / "blobs" / f"{sha}.verified").touch()
    [m] = scan(tmp_path)
    assert m.verified


def test_split_set_without_its_first_shard_is_listed_incomplete(tmp_path: Path, f16_path: Path) -> None:
    shards = split_file(f16_path, tmp_path / "parts", "Qwen3-0.6B-Q4_K_M", 3)
    put(tmp_path / "hub", REPO, shards[1].name, shards[1].read_bytes())
    [m] = scan(tmp_path)
    assert m.filename == shards[0].name and not m.complete and m.quant == "Q4_K_M" and m.arch is None


def test_incomplete_blobs_and_dangling_links_are_not_models(tmp_path: Path, q8: bytes) -> None:
    cache = tmp_path / "hub"
    repo_dir = cache / "models--Qwen--Qwen3-0.6B-GGUF"
    (repo_dir / "blobs").mkdir(parents=True)
    (repo_dir / "blobs" / ("c" * 64 + ".incomplete")).write_bytes(q8[:1000])
    link = put(cache, REPO, "Qwen3-0.6B-Q8_0.gguf", q8)
    link.resolve().unlink()
    assert scan(tmp_path) == []


def test_damaged_files_are_listed_with_their_error(tmp_path: Path, q8: bytes) -> None:
    cache = tmp_path / "hub"
    put(cache, REPO, "Qwen3-0.6B-Q8_0.gguf", q8[: len(q8) // 2])
    models = tmp_path / "models"
    models.mkdir()
    (models / "junk-Q4_K_M.gguf").write_bytes(b"hello, not a model")
    found = {m.filename: m for m in scan(tmp_path)}
    t = found["Qwen3-0.6B-Q8_0.gguf"]
    assert t.error and "truncated" in t.error and t.complete and t.quant == "Q8_0"  # quant from the name
    j = found["junk-Q4_K_M.gguf"]
    assert j.error and "not a GGUF" in j.error and j.arch is None and j.source == "models-dir"


def test_hub_cache_is_read_at_call_time(tmp_path: Path, q8: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    put(tmp_path / "elsewhere", REPO, "Qwen3-0.6B-Q8_0.gguf", q8)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    [m] = scan_library(models_dir=tmp_path / "none")
    assert m.repo == REPO


# --- our models folder and added files ------------------------------------------------------

def test_models_dir_top_level_and_one_subfolder(tmp_path: Path, q8: bytes, f16_path: Path) -> None:
    models = tmp_path / "models"
    (models / "sub" / "deeper").mkdir(parents=True)
    (models / "Qwen3-4B-Thinking-2507-Q8_0.gguf").write_bytes(q8)
    (models / "notes.txt").write_text("hi")
    (models / "sub" / "a.gguf").write_bytes(q8)
    (models / "sub" / "deeper" / "b.gguf").write_bytes(q8)
    split_file(f16_path, models / "sub", "Qwen3-8B-Base-F16", 3)
    found = {m.filename: m for m in scan(tmp_path)}
    assert set(found) == {"Qwen3-4B-Thinking-2507-Q8_0.gguf", "a.gguf", "Qwen3-8B-Base-F16-00001-of-00003.gguf"}
    t = found["Qwen3-4B-Thinking-2507-Q8_0.gguf"]
    assert t.key == f"file:{models / t.filename}" and t.variant == Variant.THINKING_2507 and t.repo is None
    s = found["Qwen3-8B-Base-F16-00001-of-00003.gguf"]
    assert s.complete and s.error is None and len(s.shards) == 3 and s.variant == Variant.BASE
    assert not s.verified


def test_delete_from_models_dir_removes_every_shard(tmp_path: Path, f16_path: Path) -> None:
    models = tmp_path / "models"
    split_file(f16_path, models, "Qwen3-8B-F16", 3)
    [m] = scan(tmp_path)
    before = disk_usage(models)
    assert delete_model(m, tmp_path / "hub", models) == f16_path.stat().st_size == before
    assert disk_usage(models) == 0 and scan(tmp_path) == []


def test_added_files_persist_and_are_never_deleted(tmp_path: Path, q8: bytes) -> None:
    mine = tmp_path / "mine" / "my-Qwen3-8B-Q8_0.gguf"
    mine.parent.mkdir()
    mine.write_bytes(q8)
    store = tmp_path / "cfg" / "library.json"
    m = AddedFiles(store).add(mine)
    assert m.source == "added" and m.key == f"file:{mine}" and not m.verified and m.error is None

    again = AddedFiles(store)
    assert again.paths() == [mine]
    [listed] = scan(tmp_path, added=again.paths())
    assert listed.source == "added" and listed.arch == "qwen3"
    assert delete_model(listed, tmp_path / "hub") == 0 and mine.exists()
    again.remove(mine)
    assert AddedFiles(store).paths() == []


def test_added_split_is_stored_by_its_first_shard(tmp_path: Path, f16_path: Path) -> None:
    shards = split_file(f16_path, tmp_path / "mine", "model-F16", 3)
    files = AddedFiles(tmp_path / "library.json")
    m = files.add(shards[2])
    assert m.path == shards[0] and m.complete and files.paths() == [shards[0]]
    shards[1].unlink()
    with pytest.raises(GGUFError, match="missing 1 shard"):
        AddedFiles(tmp_path / "other.json").add(shards[0])
    [listed] = scan(tmp_path, added=files.paths())  # a shard went missing later: listed, incomplete
    assert not listed.complete


def test_adding_a_non_gguf_raises(tmp_path: Path) -> None:
    text = tmp_path / "notes.gguf"
    text.write_text("just text")
    files = AddedFiles(tmp_path / "library.json")
    with pytest.raises(GGUFError, match="not a GGUF"):
        files.add(text)
    with pytest.raises(GGUFError, match="no such file"):
        files.add(tmp_path / "missing.gguf")
    assert files.paths() == [] and not files.file.exists()


def test_missing_added_file_is_listed_with_an_error(tmp_path: Path) -> None:
    [m] = scan(tmp_path, added=[tmp_path / "gone.gguf"])
    assert not m.complete and m.error and "no such file" in m.error and m.size == 0


def test_damaged_library_json_is_tolerated(tmp_path: Path, q8: bytes) -> None:
    assert AddedFiles().file == cache_root() / "library.json"
    store = tmp_path / "library.json"
    mine = tmp_path / "m.gguf"
    mine.write_bytes(q8)
    for damage in ("{not json", "[1, 2]", '{"paths": "x"}', '{"paths": [3, null, "' + str(mine) + '"]}'):
        store.write_text(damage)
        files = AddedFiles(store)
        assert files.paths() in ([], [mine])
        files.remove(mine)
    store.write_bytes(b"\xff\xfe garbage")
    files = AddedFiles(store)
    assert files.paths() == []
    files.add(mine)
    assert json.loads(store.read_text())["paths"] == [str(mine)]


# --- deleting from the hub cache ------------------------------------------------------------

def test_delete_frees_the_reported_bytes(tmp_path: Path, q8: bytes, f16_path: Path) -> None:
    cache = tmp_path / "hub"
    put(cache, REPO, "Qwen3-0.6B-Q8_0.gguf", q8, verified=True)
    put(cache, REPO, "Qwen3-0.6B-F16.gguf", f16_path.read_bytes())
    found = {m.filename: m for m in scan(tmp_path)}
    before = disk_usage(cache)
    freed = delete_model(found["Qwen3-0.6B-Q8_0.gguf"], cache)
    assert freed == len(q8) == before - disk_usage(cache)
    blobs = cache / "models--Qwen--Qwen3-0.6B-GGUF" / "blobs"
    assert sorted(p.name for p in blobs.iterdir()) == [hashlib.sha256(f16_path.read_bytes()).hexdigest()]
    assert [m.filename for m in scan(tmp_path)] == ["Qwen3-0.6B-F16.gguf"]
    # the last model of the repo: the repo folder goes too (its refs/main counts as freed)
    before = disk_usage(cache)
    freed = delete_model(found["Qwen3-0.6B-F16.gguf"], cache)
    assert freed == before == f16_path.stat().st_size + len(C1)
    assert not (cache / "models--Qwen--Qwen3-0.6B-GGUF").exists() and disk_usage(cache) == 0


def test_delete_split_set(tmp_path: Path, f16_path: Path) -> None:
    cache = tmp_path / "hub"
    for p in split_file(f16_path, tmp_path / "parts", "Qwen3-0.6B-F16", 3):
        put(cache, REPO, f"F16/{p.name}", p.read_bytes(), verified=True)
    [m] = scan(tmp_path)
    before = disk_usage(cache)
    assert delete_model(m, cache) == f16_path.stat().st_size + len(C1) == before - disk_usage(cache)
    assert scan(tmp_path) == [] and not cache.joinpath("models--Qwen--Qwen3-0.6B-GGUF").exists()


def test_delete_keeps_a_blob_another_snapshot_uses(tmp_path: Path, q8: bytes) -> None:
    cache = tmp_path / "hub"
    put(cache, REPO, "Qwen3-0.6B-Q8_0.gguf", q8, commit=C1, verified=True)
    put(cache, REPO, "old/Qwen3-0.6B-Q8_0-copy.gguf", q8, commit=C2, main=False)
    found = {m.filename: m for m in scan(tmp_path)}
    assert len(found) == 2  # same bytes under two names: two entries
    assert delete_model(found["Qwen3-0.6B-Q8_0.gguf"], cache) == 0
    repo_dir = cache / "models--Qwen--Qwen3-0.6B-GGUF"
    assert not (repo_dir / "snapshots" / C1).exists()  # the emptied snapshot folder is removed
    [left] = scan(tmp_path)
    assert left.filename == "old/Qwen3-0.6B-Q8_0-copy.gguf" and left.complete and left.verified
    before = disk_usage(cache)
    assert delete_model(left, cache) == before == len(q8) + len(C1)  # blob and refs/main


def test_same_file_in_two_snapshots_is_one_entry_deleted_everywhere(tmp_path: Path, q8: bytes) -> None:
    cache = tmp_path / "hub"
    put(cache, REPO, "Qwen3-0.6B-Q8_0.gguf", q8, commit=C2, main=False)
    put(cache, REPO, "Qwen3-0.6B-Q8_0.gguf", q8, commit=C1)
    [m] = scan(tmp_path)
    assert m.revision == C1  # the snapshot refs/main names
    before = disk_usage(cache)
    assert delete_model(m, cache) == before == len(q8) + len(C1)  # one blob and refs/main
    assert scan(tmp_path) == [] and disk_usage(cache) == 0


def test_delete_never_touches_files_outside_the_cache(tmp_path: Path, q8: bytes) -> None:
    cache = tmp_path / "hub"
    outside = tmp_path / "precious" / "Qwen3-0.6B-Q8_0.gguf"
    outside.parent.mkdir()
    outside.write_bytes(q8)
    link = cache / "models--Qwen--Qwen3-0.6B-GGUF" / "snapshots" / C1 / "Qwen3-0.6B-Q8_0.gguf"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    # a snapshot subfolder that links out is not walked, nor deleted through
    (link.parent / "sub").symlink_to(outside.parent, target_is_directory=True)

    [m] = scan(tmp_path)
    assert m.complete and m.error is None and not m.verified
    assert delete_model(m, cache) == 0
    assert outside.read_bytes() == q8 and not link.is_symlink()

    forged = LocalModel(key=f"hf:{REPO}:sub/Qwen3-0.6B-Q8_0.gguf", path=link.parent / "sub" / outside.name,
                        shards=(link.parent / "sub" / outside.name,), size=len(q8), repo=REPO,
                        filename="sub/Qwen3-0.6B-Q8_0.gguf", quant=None, arch=None, variant=None,
                        complete=True, verified=False, source="hub-cache")
    with pytest.raises(ValueError):
        delete_model(forged, cache)
    elsewhere = LocalModel(key=f"file:{outside}", path=outside, shards=(outside,), size=len(q8), repo=None,
                           filename=outside.name, quant=None, arch=None, variant=None, complete=True,
                           verified=False, source="models-dir")
    with pytest.raises(ValueError):
        delete_model(elsewhere, cache, tmp_path / "models")
    assert outside.read_bytes() == q8


# --- helpers ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("names", "variant"), [
    (("Qwen/Qwen3-8B-GGUF", "Qwen3-8B-Q4_K_M.gguf"), Variant.HYBRID),
    (("unsloth/Qwen3-30B-A3B-GGUF", "Qwen3-30B-A3B-Q4_K_M.gguf"), Variant.HYBRID),
    (("unsloth/Qwen3-4B-Thinking-2507-GGUF", "x.gguf"), Variant.THINKING_2507),
    (("unsloth/Qwen3-30B-A3B-Instruct-2507-GGUF", "x.gguf"), Variant.INSTRUCT_2507),
    (("unsloth/Qwen3-Coder-30B-A3B-Instruct-GGUF", "x.gguf"), Variant.CODER),
    (("", "Qwen3-8B-Base-Q8_0.gguf"), Variant.BASE),
    (("", "qwen3-tiny-hybrid-q8_0-e7e7.gguf"), Variant.HYBRID),
    (("Qwen/Qwen3-Embedding-0.6B-GGUF", "x.gguf"), None),
    (("TheBloke/Llama-2-7B-GGUF", "llama-2-7b.Q4_K_M.gguf"), None),
])
def test_guess_variant(names: tuple[str, str], variant: Variant | None) -> None:
    assert guess_variant(*names) == variant


def test_total_size_counts_each_model_once(tmp_path: Path, q8: bytes) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "a.gguf").write_bytes(q8)
    (models / "b.gguf").write_bytes(q8[:100])
    found = scan(tmp_path)
    assert total_size([*found, found[0]]) == len(q8) + 100
