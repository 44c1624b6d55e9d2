"""Published benchmark figures per catalog model, each with the source it was read from.

The data is `assets/benchmarks.json` (schema 1), shipped with the catalog snapshot:

    {"schema": 1, "note": "...", "benchmarks": {"AIME25": {"about": "..."}, ...},
     "figures": [{"model": "Qwen3-4B-Thinking-2507", "benchmark": "AIME25", "value": 81.3, "unit": "%",
                  "source": {"title": "...", "url": "https://...", "where": "Performance table, ..."}},
                 {"model": "Qwen3-4B", "mode": "thinking", ...}, ...]}

A figure is what its publisher printed, never an estimate: a model with no published figure for a
benchmark simply has none. Hybrid models (the original Qwen3-*B) are measured in each mode, so their
figures carry `mode` ("thinking" or "non-thinking"); the other variants have one mode and no `mode`.

Loading validates the whole file and raises `BenchmarkError` with one line that names the bad value.
`check_against(catalog)` lists the figures whose model the catalog does not know (or whose mode does
not fit the model's variant). The memory each model needs comes from the fit package, which sits above
this one; `chart_rows` hands it the files to estimate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from explorer.catalog.snapshot import Catalog, CatalogFile, CatalogModel, read_json_asset
from explorer.gguf.variant import Variant

SCHEMA_VERSION = 1
BENCHMARKS_FILENAME = "benchmarks.json"
MODES = ("thinking", "non-thinking")
PERCENT = "%"
# Each unit's range of valid values (inclusive); a unit not listed only needs a finite value >= 0.
UNIT_RANGES: dict[str, tuple[float, float]] = {PERCENT: (0.0, 100.0)}


class BenchmarkError(ValueError):
    """The benchmark file is malformed; the message is one line that says where."""


@dataclass(frozen=True)
class Source:
    title: str  # e.g. "Qwen3-4B-Thinking-2507 model card (Qwen, Hugging Face)"
    url: str  # https://...
    where: str  # the table, column and row the figure was read from

    def text(self) -> str:
        return f"{self.title}, {self.where}: {self.url}"


@dataclass(frozen=True)
class Figure:
    """One published score of one model on one benchmark."""

    model: str  # a catalog model id
    benchmark: str  # e.g. "AIME25"
    value: float
    unit: str  # "%" for accuracies and pass rates
    source: Source
    mode: str = ""  # "thinking" / "non-thinking" for hybrid models; "" for the single-mode variants

    @property
    def label(self) -> str:
        """The model and its mode, as a person reads it: "Qwen3-32B (thinking)"."""
        return f"{self.model} ({self.mode})" if self.mode else self.model

    @property
    def value_text(self) -> str:
        return f"{self.value:g}{self.unit}" if self.unit == PERCENT else f"{self.value:g} {self.unit}"


@dataclass(frozen=True)
class BenchmarkInfo:
    """A benchmark that has figures: its unit, what it measures, and who has a figure."""

    name: str
    unit: str
    about: str
    labels: tuple[str, ...]  # the figures' labels (model, and mode for hybrids), in file order

    @property
    def count(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class BenchmarkData:
    figures: tuple[Figure, ...]
    about: Mapping[str, str]  # benchmark name -> what it measures (may lack some names)
    note: str = ""

    def figures_for(self, model_id: str) -> tuple[Figure, ...]:
        """Every figure of this model (both modes of a hybrid), in file order; case does not matter."""
        key = _model_key(model_id)
        return tuple(f for f in self.figures if f.model.lower() == key)

    def figures_of(self, benchmark: str) -> tuple[Figure, ...]:
        return tuple(f for f in self.figures if f.benchmark == benchmark)

    def benchmarks(self) -> tuple[BenchmarkInfo, ...]:
        """The benchmarks that have at least one figure, in the order they first appear."""
        names: dict[str, list[Figure]] = {}
        for f in self.figures:
            names.setdefault(f.benchmark, []).append(f)
        return tuple(BenchmarkInfo(name, figs[0].unit, self.about.get(name, ""), tuple(f.label for f in figs))
                     for name, figs in names.items())

    def check_against(self, catalog: Catalog) -> tuple[str, ...]:
        """One line per figure the catalog cannot place: an unknown model id, or a mode that does
        not fit the model's variant (a hybrid needs one, the other variants have none)."""
        problems: list[str] = []
        for f in self.figures:
            model = catalog.find(f.model)
            if model is None:
                problems.append(f"{f.label} {f.benchmark}: no model {f.model!r} in the catalog")
            elif model.variant is Variant.HYBRID and not f.mode:
                problems.append(f"{f.label} {f.benchmark}: {f.model} is a hybrid model; say which mode "
                                f"the figure is for ({' or '.join(MODES)})")
            elif model.variant is not Variant.HYBRID and f.mode:
                problems.append(f"{f.label} {f.benchmark}: {f.model} has one mode; drop 'mode'")
        return tuple(problems)


@dataclass(frozen=True)
class ChartRow:
    """A figure with its catalog model and the files whose memory the chart may place it at."""

    figure: Figure
    model: CatalogModel
    files: tuple[CatalogFile, ...]  # empty when the model has no file of the chosen quant


def chart_rows(data: BenchmarkData, benchmark: str, catalog: Catalog, quant: str | None = None) -> tuple[ChartRow, ...]:
    """The figures of `benchmark` whose model is in the catalog, each with its files of `quant`
    (every file when None: the chart then places it at the best file that runs here)."""
    rows: list[ChartRow] = []
    for f in data.figures_of(benchmark):
        model = catalog.find(f.model)
        if model is None:
            continue
        files = model.files if quant is None else model.files_for(quant)
        rows.append(ChartRow(f, model, files))
    return tuple(rows)


def _model_key(model_id: str) -> str:
    key = model_id.strip()
    if key.lower().startswith("qwen/"):
        key = key[5:]
    return key.lower()


# ---------------------------------------------------------------------------------------------
# JSON


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}" if len(value) < 60 else "a long string"
    return "an object" if isinstance(value, dict) else ("a list" if isinstance(value, list) else type(value).__name__)


def _text(obj: Mapping[str, object], key: str, where: str, *, required: bool = True) -> str:
    if key not in obj:
        if required:
            raise BenchmarkError(f"{where}: missing field {key!r}")
        return ""
    v = obj[key]
    if not isinstance(v, str) or not v.strip():
        raise BenchmarkError(f"{where}.{key}: expected a non-empty string, got {_kind(v)}")
    return v.strip()


def _object(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise BenchmarkError(f"{where}: expected an object, got {_kind(value)}")
    return value


def _source(value: object, where: str) -> Source:
    obj = _object(value, where)
    url = _text(obj, "url", where)
    if not url.startswith("https://") or " " in url:
        raise BenchmarkError(f"{where}.url: expected an https:// address, got {_kind(url)}")
    return Source(title=_text(obj, "title", where), url=url, where=_text(obj, "where", where))


def _figure(value: object, where: str) -> Figure:
    obj = _object(value, where)
    model = _text(obj, "model", where)
    benchmark = _text(obj, "benchmark", where)
    where = f"{where} ({model} {benchmark})"
    mode = _text(obj, "mode", where, required=False)
    if mode and mode not in MODES:
        raise BenchmarkError(f"{where}.mode: expected {' or '.join(repr(m) for m in MODES)}, got {_kind(mode)}")
    if "value" not in obj:
        raise BenchmarkError(f"{where}: missing field 'value' (a figure nobody published stays out of the file)")
    raw = obj["value"]
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise BenchmarkError(f"{where}.value: expected a number, got {_kind(raw)}")
    unit = _text(obj, "unit", where)
    low, high = UNIT_RANGES.get(unit, (0.0, math.inf))
    if not low <= raw <= high:
        span = f"{low:g} to {high:g}" if math.isfinite(high) else f"at least {low:g}"
        raise BenchmarkError(f"{where}.value: {raw:g} is outside {span} for unit {unit!r}")
    if "source" not in obj:
        raise BenchmarkError(f"{where}: missing field 'source' (every figure says where it was read)")
    return Figure(model=model, benchmark=benchmark, value=float(raw), unit=unit,
                  source=_source(obj["source"], f"{where}.source"), mode=mode)


def benchmarks_from_json(data: object) -> BenchmarkData:
    """Validate JSON data and build the figures; raises `BenchmarkError` naming what is wrong."""
    top = _object(data, "benchmarks")
    schema = top.get("schema")
    if schema != SCHEMA_VERSION:
        raise BenchmarkError(f"benchmarks.schema: expected {SCHEMA_VERSION}, got {_kind(schema)}")
    raw_about = top.get("benchmarks", {})
    about: dict[str, str] = {}
    for name, info in _object(raw_about, "benchmarks.benchmarks").items():
        about[name] = _text(_object(info, f"benchmarks.benchmarks[{name!r}]"), "about",
                            f"benchmarks.benchmarks[{name!r}]")
    raw_figures = top.get("figures")
    if not isinstance(raw_figures, list):
        raise BenchmarkError(f"benchmarks.figures: expected a list, got {_kind(raw_figures)}")
    figures = tuple(_figure(f, f"figures[{i}]") for i, f in enumerate(raw_figures))
    seen: dict[tuple[str, str, str], int] = {}
    units: dict[str, str] = {}
    for i, f in enumerate(figures):
        key = (f.model.lower(), f.mode, f.benchmark)
        if key in seen:
            raise BenchmarkError(f"figures[{i}] ({f.label} {f.benchmark}): the same figure as figures[{seen[key]}]")
        seen[key] = i
        if units.setdefault(f.benchmark, f.unit) != f.unit:
            raise BenchmarkError(f"figures[{i}] ({f.label} {f.benchmark}).unit: {f.unit!r}, but other "
                                 f"{f.benchmark} figures use {units[f.benchmark]!r}")
    note = top.get("note", "")
    return BenchmarkData(figures=figures, about=about, note=note if isinstance(note, str) else "")


def load_benchmarks(path: Path | None = None) -> BenchmarkData:
    """Read and validate the figures: the shipped file when `path` is None."""
    data, where = read_json_asset(path, BENCHMARKS_FILENAME, "the benchmark figures", BenchmarkError)
    try:
        return benchmarks_from_json(data)
    except BenchmarkError as e:
        raise BenchmarkError(f"{where}: {e}") from e


@lru_cache(maxsize=1)
def shipped_benchmarks() -> BenchmarkData:
    """The shipped figures, read once."""
    return load_benchmarks()


def figures_for(model_id: str) -> tuple[Figure, ...]:
    """The shipped figures of one model."""
    return shipped_benchmarks().figures_for(model_id)


def benchmarks() -> tuple[BenchmarkInfo, ...]:
    """The shipped benchmarks that have figures, with who has them."""
    return shipped_benchmarks().benchmarks()
