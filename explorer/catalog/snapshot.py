"""The Qwen3 GGUF catalog: variants, sizes, quants and files.

Loaded from the offline snapshot shipped in `assets/catalog.json` (written by
`scripts/build_catalog.py`); the next issue adds a live refresh from the Hub, which can cache its
result with `catalog_to_json` / `save_catalog` and read it back with `load_catalog`.

Sizes: `size_is_estimate=False` means the figure was published for that very file (a Hub file list
or the publisher's README), which rounds to about three significant digits; estimates are marked.
Neither is exact to the byte, so a download checks the size and sha256 the Hub reports for the
file (`X-Linked-Size`, `X-Linked-Etag`), not these. A snapshot sha256 may belong to an older
revision of the file; the Hub's value wins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from explorer.gguf.shape import BITS_PER_WEIGHT, Architecture, ModelShape, estimate_shape
from explorer.gguf.shards import parse_shard, shard_name
from explorer.gguf.variant import Variant

SCHEMA_VERSION = 1
ASSETS_PACKAGE = "qwen3_explorer_assets"
CATALOG_FILENAME = "catalog.json"

class CatalogError(ValueError):
    """The catalog JSON is malformed or misses something; the message says where."""


@dataclass(frozen=True)
class CatalogFile:
    """One downloadable model: a single GGUF or a set of split shards."""

    repo: str  # e.g. "Qwen/Qwen3-8B-GGUF"
    quant: str  # e.g. "Q4_K_M"
    shards: tuple[str, ...]  # file paths in the repo, in order (one entry when not split)
    size: int  # bytes, all shards together
    size_is_estimate: bool
    sha256: tuple[str | None, ...] = ()  # per shard, when known
    shard_sizes: tuple[int, ...] = ()  # per shard, adding up to `size` (empty when not split)
    verified: bool = False  # path (and shard count) seen in a published listing, not inferred
    size_source: str = ""  # where the size comes from, or how it was estimated

    @property
    def filename(self) -> str:
        return self.shards[0]

    @property
    def is_split(self) -> bool:
        return len(self.shards) > 1

    @property
    def publisher(self) -> str:
        return self.repo.split("/", 1)[0]

    @property
    def bits_per_weight(self) -> float | None:
        return BITS_PER_WEIGHT.get(self.quant.upper())


@dataclass(frozen=True)
class CatalogModel:
    id: str  # e.g. "Qwen3-30B-A3B-Thinking-2507"
    variant: Variant
    size_label: str  # "0.6B", "30B-A3B", ...
    params_total: float  # billions
    params_active: float  # billions (== total for dense)
    arch: Architecture
    files: tuple[CatalogFile, ...]
    source_repo: str = ""  # the original weights, e.g. "Qwen/Qwen3-8B"

    @property
    def is_moe(self) -> bool:
        return self.arch.n_expert > 0

    def shape_for(self, file: CatalogFile) -> ModelShape:
        return estimate_shape(self.arch, file.quant, file.size)

    def files_for(self, quant: str) -> tuple[CatalogFile, ...]:
        q = quant.upper()
        return tuple(f for f in self.files if f.quant.upper() == q)


def _quant_key(quant: str) -> tuple[float, str]:
    bits = BITS_PER_WEIGHT.get(quant.upper())
    return (bits if bits is not None else float("inf"), quant)


@dataclass(frozen=True)
class Catalog:
    models: tuple[CatalogModel, ...]
    snapshot_date: str  # ISO date of the data
    source: str  # "snapshot" (shipped offline) or "hub"

    def find(self, model_id: str) -> CatalogModel | None:
        """The model with this id ("Qwen3-8B"; case and a leading "Qwen/" do not matter)."""
        key = model_id.strip()
        if key.lower().startswith("qwen/"):
            key = key[5:]
        key = key.lower()
        for m in self.models:
            if m.id.lower() == key:
                return m
        return None

    def quants(self) -> tuple[str, ...]:
        """Every quant type in the catalog, fewest bits per weight first (unknown types last)."""
        return tuple(sorted({f.quant for _, f in self.iter_files()}, key=_quant_key))

    def size_labels(self) -> tuple[str, ...]:
        """Every size label ("0.6B" ... "480B-A35B"), smallest model first."""
        smallest: dict[str, float] = {}
        for m in self.models:
            smallest[m.size_label] = min(m.params_total, smallest.get(m.size_label, m.params_total))
        return tuple(sorted(smallest, key=lambda label: (smallest[label], label)))

    def variants(self) -> tuple[Variant, ...]:
        present = {m.variant for m in self.models}
        return tuple(v for v in Variant if v in present)

    def iter_files(self) -> Iterator[tuple[CatalogModel, CatalogFile]]:
        for m in self.models:
            for f in m.files:
                yield m, f


# ---------------------------------------------------------------------------------------------
# JSON


def catalog_to_json(cat: Catalog) -> dict[str, Any]:
    """The catalog as plain JSON data (the inverse of `catalog_from_json`)."""
    return {
        "schema": SCHEMA_VERSION,
        "snapshot_date": cat.snapshot_date,
        "source": cat.source,
        "models": [_model_to_json(m) for m in cat.models],
    }


def _model_to_json(m: CatalogModel) -> dict[str, Any]:
    # The hybrid-only fields (Qwen3-Next) are written only when set, so other models read as before.
    arch = {f.name: getattr(m.arch, f.name) for f in fields(Architecture)
            if f.name not in _HYBRID_FIELDS or getattr(m.arch, f.name)}
    return {
        "id": m.id,
        "variant": m.variant.value,
        "size_label": m.size_label,
        "params_total": m.params_total,
        "params_active": m.params_active,
        "source_repo": m.source_repo,
        "arch": arch,
        "files": [_file_to_json(f) for f in m.files],
    }


def _file_to_json(f: CatalogFile) -> dict[str, Any]:
    out: dict[str, Any] = {
        "repo": f.repo,
        "quant": f.quant,
        "shards": list(f.shards),
        "size": f.size,
        "size_is_estimate": f.size_is_estimate,
    }
    if f.shard_sizes:
        out["shard_sizes"] = list(f.shard_sizes)
    if any(h is not None for h in f.sha256):
        out["sha256"] = list(f.sha256)
    out["verified"] = f.verified
    out["size_source"] = f.size_source
    return out


class _Reader:
    """Typed access to one JSON object, with errors that name the path of the bad value."""

    def __init__(self, obj: object, where: str) -> None:
        if not isinstance(obj, dict):
            raise CatalogError(f"{where}: expected an object, got {_kind(obj)}")
        self.obj: Mapping[str, object] = obj
        self.where = where

    def raw(self, key: str, required: bool = True) -> object:
        if key not in self.obj:
            if required:
                raise CatalogError(f"{self.where}: missing field {key!r}")
            return None
        return self.obj[key]

    def _bad(self, key: str, expected: str, value: object) -> CatalogError:
        return CatalogError(f"{self.where}.{key}: expected {expected}, got {_kind(value)}")

    def text(self, key: str, required: bool = True, default: str = "") -> str:
        v = self.raw(key, required)
        if v is None and not required:
            return default
        if not isinstance(v, str) or (required and not v):
            raise self._bad(key, "a non-empty string" if required else "a string", v)
        return v

    def integer(self, key: str, minimum: int = 0, required: bool = True, default: int = 0) -> int:
        v = self.raw(key, required)
        if v is None and not required:
            return default
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise self._bad(key, f"an integer >= {minimum}", v)
        return v

    def number(self, key: str) -> float:
        v = self.raw(key, True)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise self._bad(key, "a positive number", v)
        return float(v)

    def flag(self, key: str, required: bool = True, default: bool = False) -> bool:
        v = self.raw(key, required)
        if v is None and not required:
            return default
        if not isinstance(v, bool):
            raise self._bad(key, "true or false", v)
        return v

    def items(self, key: str, required: bool = True) -> list[object] | None:
        v = self.raw(key, required)
        if v is None and not required:
            return None
        if not isinstance(v, list):
            raise self._bad(key, "a list", v)
        return v


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}" if len(value) < 60 else "a long string"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def catalog_from_json(data: object) -> Catalog:
    """Validate JSON data and build the catalog; raises `CatalogError` naming what is wrong."""
    r = _Reader(data, "catalog")
    schema = r.integer("schema")
    if schema != SCHEMA_VERSION:
        raise CatalogError(f"catalog.schema: unsupported version {schema} (this build reads "
                           f"version {SCHEMA_VERSION})")
    snapshot_date = r.text("snapshot_date")
    source = r.text("source")
    raw_models = r.items("models") or []
    if not raw_models:
        raise CatalogError("catalog.models: the catalog lists no models")
    models = tuple(_model_from_json(m, f"models[{i}]") for i, m in enumerate(raw_models))
    seen: set[str] = set()
    for m in models:
        if m.id.lower() in seen:
            raise CatalogError(f"catalog.models: model id {m.id!r} appears twice")
        seen.add(m.id.lower())
    return Catalog(models=models, snapshot_date=snapshot_date, source=source)


def _model_from_json(obj: object, where: str) -> CatalogModel:
    r = _Reader(obj, where)
    model_id = r.text("id")
    where = f"{where} ({model_id})"
    r.where = where
    variant_name = r.text("variant")
    try:
        variant = Variant(variant_name)
    except ValueError:
        known = ", ".join(v.value for v in Variant)
        raise CatalogError(f"{where}.variant: unknown variant {variant_name!r}; use one of "
                           f"{known}") from None
    total = r.number("params_total")
    active = r.number("params_active")
    if active > total:
        raise CatalogError(f"{where}: params_active ({active}) exceeds params_total ({total})")
    arch = _arch_from_json(r.raw("arch", True), f"{where}.arch")
    raw_files = r.items("files") or []
    files = tuple(_file_from_json(f, f"{where}.files[{i}]") for i, f in enumerate(raw_files))
    return CatalogModel(
        id=model_id, variant=variant, size_label=r.text("size_label"), params_total=total,
        params_active=active, arch=arch, files=files,
        source_repo=r.text("source_repo", required=False),
    )


_HYBRID_FIELDS = ("full_attention_interval", "ssm_conv_kernel", "ssm_state_size", "ssm_group_count",
                  "ssm_value_heads", "n_ff_shexp")


def _arch_from_json(obj: object, where: str) -> Architecture:
    r = _Reader(obj, where)
    arch = r.text("arch")
    if arch not in ("qwen3", "qwen3moe", "qwen3next"):
        raise CatalogError(f"{where}.arch: expected 'qwen3', 'qwen3moe' or 'qwen3next', got {arch!r}")
    values: dict[str, Any] = {"arch": arch}
    positive = ("n_layers", "n_embd", "n_head", "n_head_kv", "head_dim", "n_vocab", "ctx_native",
                "ctx_extended")
    for name in positive:
        values[name] = r.integer(name, minimum=1)
    for name in ("n_ff", "n_expert", "n_expert_used", "n_ff_exp"):
        values[name] = r.integer(name, required=name == "n_ff")
    for name in _HYBRID_FIELDS:
        values[name] = r.integer(name, required=False)
    values["tied_embeddings"] = r.flag("tied_embeddings", required=False)
    a = Architecture(**values)
    if a.ctx_extended < a.ctx_native:
        raise CatalogError(f"{where}: ctx_extended ({a.ctx_extended}) is below ctx_native "
                           f"({a.ctx_native})")
    if arch in ("qwen3moe", "qwen3next") and not (a.n_expert and a.n_expert_used and a.n_ff_exp):
        raise CatalogError(f"{where}: a {arch} model needs n_expert, n_expert_used and n_ff_exp")
    if arch == "qwen3next" and not (a.full_attention_interval and a.ssm_conv_kernel and a.ssm_state_size
                                    and a.ssm_group_count and a.ssm_value_heads):
        raise CatalogError(f"{where}: a qwen3next model needs full_attention_interval and the ssm_* sizes")
    if arch == "qwen3" and (a.n_ff <= 0 or a.n_expert):
        raise CatalogError(f"{where}: a dense qwen3 model needs n_ff > 0 and no experts")
    return a


def _file_from_json(obj: object, where: str) -> CatalogFile:
    r = _Reader(obj, where)
    repo = r.text("repo")
    if repo.count("/") != 1:
        raise CatalogError(f"{where}.repo: expected 'owner/name', got {repo!r}")
    quant = r.text("quant")
    raw_shards = r.items("shards") or []
    if not raw_shards or not all(isinstance(s, str) and s for s in raw_shards):
        raise CatalogError(f"{where}.shards: expected a non-empty list of file paths")
    shards = tuple(str(s) for s in raw_shards)
    size = r.integer("size", minimum=1)
    if len(shards) > 1:
        _check_shard_names(shards, f"{where}.shards")
    raw_sizes = r.items("shard_sizes", required=False)
    shard_sizes: tuple[int, ...] = ()
    if raw_sizes is not None:
        if (len(raw_sizes) != len(shards)
                or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                           for s in raw_sizes)):
            raise CatalogError(f"{where}.shard_sizes: expected {len(shards)} positive integers")
        shard_sizes = tuple(s for s in raw_sizes if isinstance(s, int))
        if sum(shard_sizes) != size:
            raise CatalogError(f"{where}.shard_sizes: they add up to {sum(shard_sizes)}, "
                               f"not to size {size}")
    raw_sha = r.items("sha256", required=False)
    sha: tuple[str | None, ...] = ()
    if raw_sha is not None:
        if len(raw_sha) != len(shards):
            raise CatalogError(f"{where}.sha256: expected one entry per shard ({len(shards)}), "
                               f"got {len(raw_sha)}")
        for h in raw_sha:
            if h is not None and not (isinstance(h, str) and re.fullmatch(r"[0-9a-f]{64}", h)):
                raise CatalogError(f"{where}.sha256: {_kind(h)} is not a sha256 hex digest")
        sha = tuple(h if isinstance(h, str) else None for h in raw_sha)
    return CatalogFile(
        repo=repo, quant=quant, shards=shards, size=size,
        size_is_estimate=r.flag("size_is_estimate"), sha256=sha, shard_sizes=shard_sizes,
        verified=r.flag("verified", required=False),
        size_source=r.text("size_source", required=False),
    )


def _check_shard_names(shards: tuple[str, ...], where: str) -> None:
    n = len(shards)
    prefixes = set()
    for k, path in enumerate(shards, start=1):
        shard = parse_shard(path)
        if shard is None or (shard.index, shard.count) != (k, n):
            raise CatalogError(f"{where}[{k - 1}]: expected a name ending in "
                               f"{shard_name('', k, n)}, got {path!r}")
        prefixes.add(shard.prefix)
    if len(prefixes) != 1:
        raise CatalogError(f"{where}: the shards do not share one prefix")


# ---------------------------------------------------------------------------------------------
# Files


def format_catalog_json(data: Mapping[str, Any]) -> str:
    """Compact, stable text for catalog JSON data: the header, then one model object per line."""
    head = {k: v for k, v in data.items() if k != "models"}
    lines = ["{"]
    for key, value in head.items():
        lines.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
    lines.append('"models": [')
    models = list(data.get("models", []))
    for i, m in enumerate(models):
        sep = "," if i < len(models) - 1 else ""
        lines.append(json.dumps(m, ensure_ascii=False, separators=(",", ":")) + sep)
    lines.append("]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def shipped_text(filename: str) -> str:
    """An asset file's text: from the installed assets package, or the repo's assets/ folder next to
    explorer/ in a plain checkout."""
    try:
        return (resources.files(ASSETS_PACKAGE) / filename).read_text(encoding="utf-8")
    except ModuleNotFoundError:
        return (Path(__file__).resolve().parents[2] / "assets" / filename).read_text(encoding="utf-8")


def read_json_asset(path: Path | None, filename: str, what: str, error: type[Exception]) -> tuple[Any, str]:
    """(the JSON at `path`, or in the shipped asset `filename` when None; where it came from). An unreadable
    file or invalid JSON raises `error` in one line naming where and `what` it should hold."""
    where = str(path) if path is not None else f"{ASSETS_PACKAGE}/{filename}"
    try:
        text = path.read_text(encoding="utf-8") if path is not None else shipped_text(filename)
    except OSError as e:
        raise error(f"{where}: cannot read {what}: {e}") from e
    try:
        return json.loads(text), where
    except json.JSONDecodeError as e:
        raise error(f"{where}: not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from e


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate a catalog: the shipped snapshot when `path` is None."""
    data, where = read_json_asset(path, CATALOG_FILENAME, "the catalog", CatalogError)
    try:
        return catalog_from_json(data)
    except CatalogError as e:
        raise CatalogError(f"{where}: {e}") from e


def save_catalog(cat: Catalog, path: Path) -> None:
    """Write the catalog (e.g. a Hub-refreshed copy) atomically, in the snapshot's format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(format_catalog_json(catalog_to_json(cat)), encoding="utf-8")
    tmp.replace(path)
