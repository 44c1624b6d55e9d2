"""The shipped benchmark figures: every one has a source, names a catalog model and lies in its unit's range;
a malformed file is one line that says where."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from explorer.catalog.benchmarks import (
    MODES,
    UNIT_RANGES,
    BenchmarkData,
    BenchmarkError,
    benchmarks,
    benchmarks_from_json,
    chart_rows,
    figures_for,
    load_benchmarks,
)
from explorer.catalog.snapshot import Catalog, load_catalog
from explorer.gguf.variant import Variant

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shipped() -> BenchmarkData:
    return load_benchmarks()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_the_shipped_file_loads_with_figures(shipped: BenchmarkData) -> None:
    assert shipped.figures, "the shipped file has figures"
    names = [b.name for b in benchmarks()]
    assert names == ["MMLU-Pro", "GPQA", "AIME25", "LiveCodeBench v6"]
    assert all(b.about for b in benchmarks())


def test_every_figure_has_a_source_with_an_address(shipped: BenchmarkData) -> None:
    for f in shipped.figures:
        assert f.source.title and f.source.where, f
        assert f.source.url.startswith("https://"), f
        assert f.source.where.startswith("Performance table"), f  # a table, column and row a person can find


def test_every_model_is_in_the_catalog_with_the_right_mode(shipped: BenchmarkData, catalog: Catalog) -> None:
    assert shipped.check_against(catalog) == ()
    for f in shipped.figures:
        model = catalog.find(f.model)
        assert model is not None and model.id == f.model  # spelled as the catalog spells it
        assert (f.mode in MODES) if model.variant is Variant.HYBRID else f.mode == ""


def test_values_lie_in_their_units_range(shipped: BenchmarkData) -> None:
    for f in shipped.figures:
        low, high = UNIT_RANGES.get(f.unit, (0.0, float("inf")))
        assert low <= f.value <= high, f
    assert {f.unit for f in shipped.figures} == {"%"}


def test_one_figure_per_model_mode_and_benchmark(shipped: BenchmarkData) -> None:
    keys = [(f.model, f.mode, f.benchmark) for f in shipped.figures]
    assert len(keys) == len(set(keys))


def test_figures_for_a_hybrid_have_both_modes_and_the_2507_models_one() -> None:
    hybrid = figures_for("Qwen/Qwen3-32B")
    assert {f.mode for f in hybrid} == {"thinking", "non-thinking"}
    assert {(f.benchmark, f.mode): f.value for f in hybrid}[("AIME25", "thinking")] == 72.9
    thinking = figures_for("qwen3-4b-thinking-2507")
    assert {f.benchmark: f.value for f in thinking} == {"MMLU-Pro": 74.0, "GPQA": 65.8, "AIME25": 81.3,
                                                        "LiveCodeBench v6": 55.2}
    assert figures_for("Qwen3-0.6B") == ()  # nothing published for it in the cards read: no figure, no estimate


def test_chart_rows_hand_over_the_files_of_the_quant(shipped: BenchmarkData, catalog: Catalog) -> None:
    rows = chart_rows(shipped, "AIME25", catalog, "Q4_K_M")
    assert [r.figure for r in rows] == list(shipped.figures_of("AIME25"))
    assert all(r.files and {f.quant for f in r.files} == {"Q4_K_M"} for r in rows)
    every = chart_rows(shipped, "AIME25", catalog, None)
    assert all(len(r.files) == len(r.model.files) for r in every)
    assert chart_rows(shipped, "no such benchmark", catalog) == ()


def test_the_assets_package_ships_json_files() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    assert "*.json" in data["tool"]["setuptools"]["package-data"]["qwen3_explorer_assets"]
    assert (ROOT / "assets" / "benchmarks.json").is_file()


# --- malformed files ------------------------------------------------------------------------

SOURCE = {"title": "Some model card", "url": "https://example.org/card", "where": "Performance table"}


def _figure(**changes: Any) -> dict[str, Any]:
    f: dict[str, Any] = {"model": "Qwen3-4B-Thinking-2507", "benchmark": "AIME25", "value": 81.3, "unit": "%",
                         "source": dict(SOURCE)}
    f.update(changes)
    return {k: v for k, v in f.items() if v is not None}


def _file(*figures: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"schema": 1, "figures": list(figures), **top}


@pytest.mark.parametrize(("payload", "expect"), [
    ({"schema": 2, "figures": []}, "schema: expected 1"),
    ({"schema": 1}, "figures: expected a list"),
    (_file(_figure(source=None)), "missing field 'source'"),
    (_file(_figure(value=None)), "missing field 'value'"),
    (_file(_figure(value="81.3")), "value: expected a number"),
    (_file(_figure(value=True)), "value: expected a number"),
    (_file(_figure(value=181.3)), "181.3 is outside 0 to 100"),
    (_file(_figure(value=-1)), "is outside 0 to 100"),
    (_file(_figure(source={**SOURCE, "url": "http://example.org"})), "url: expected an https:// address"),
    (_file(_figure(source={**SOURCE, "where": ""})), "where: expected a non-empty string"),
    (_file(_figure(mode="fast")), "mode: expected 'thinking' or 'non-thinking'"),
    (_file(_figure(model="")), "model: expected a non-empty string"),
    (_file(_figure(), _figure(value=80.0)), "the same figure as figures[0]"),
    (_file(_figure(), _figure(model="Qwen3-8B", mode="thinking", unit="points")), "other AIME25 figures use '%'"),
    (_file(_figure(), benchmarks={"AIME25": {"about": 3}}), "about: expected a non-empty string"),
    ([1, 2], "expected an object, got a list"),
])
def test_a_malformed_file_is_one_line_naming_the_problem(tmp_path: Path, payload: object, expect: str) -> None:
    path = tmp_path / "benchmarks.json"
    path.write_text(json.dumps(payload), "utf-8")
    with pytest.raises(BenchmarkError) as info:
        load_benchmarks(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert expect in message


def test_bad_json_and_a_missing_file_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "benchmarks.json"
    path.write_text('{"schema": 1, "figures": [', "utf-8")
    with pytest.raises(BenchmarkError, match=r"not valid JSON: .* at line 1, column \d+$"):
        load_benchmarks(path)
    with pytest.raises(BenchmarkError, match="cannot read the benchmark figures"):
        load_benchmarks(tmp_path / "missing.json")


def test_a_file_without_figures_loads_empty() -> None:
    data = benchmarks_from_json({"schema": 1, "figures": []})
    assert data.figures == () and data.benchmarks() == ()


def test_unknown_models_and_wrong_modes_are_reported(catalog: Catalog) -> None:
    data = benchmarks_from_json(_file(
        _figure(model="Qwen3-9B"),
        _figure(model="Qwen3-8B"),  # a hybrid without a mode
        _figure(model="Qwen3-4B-Instruct-2507", mode="thinking"),  # a single-mode model with one
        _figure(model="Qwen3-8B", mode="thinking", benchmark="GPQA"),
    ))
    problems = data.check_against(catalog)
    assert len(problems) == 3
    assert "no model 'Qwen3-9B' in the catalog" in problems[0]
    assert "hybrid model" in problems[1]
    assert "has one mode" in problems[2]
