"""The data behind the capability chart: each benchmark figure's model at the file chosen for it, with the
memory that file needs on this machine at the chart's context and its verdict (`ui/guide/chart_view`
draws it). Plain Python: it runs on the view's worker thread."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from explorer.catalog.benchmarks import BenchmarkData, ChartRow, Figure, chart_rows
from explorer.catalog.snapshot import Catalog, CatalogFile, CatalogModel
from explorer.fit.batch import compute_fits
from explorer.fit.estimate import FitEstimate, Verdict, usable_gpus, verdict_rank
from explorer.guide.pick import QUALITY_FLOOR_BPW, bits_of, publisher_rank, usable_vram
from explorer.hardware.facts import Hardware
from explorer.units import format_bytes

DEFAULT_QUANT = "Q4_K_M"


@dataclass(frozen=True)
class ChartPoint:
    figure: Figure
    model: CatalogModel
    file: CatalogFile
    fit: FitEstimate

    @property
    def memory(self) -> int:
        """Bytes the file needs here at the chart's context: RAM and VRAM together."""
        return self.fit.total

    @property
    def verdict(self) -> Verdict:
        return self.fit.verdict

    @property
    def value(self) -> float:
        return self.figure.value

    @property
    def runs(self) -> bool:
        return self.fit.verdict is not Verdict.NO_FIT

    @property
    def short_label(self) -> str:
        """"30B-A3B-Thinking-2507", "32B thinking": the dot's label."""
        name = self.model.id.removeprefix("Qwen3-")
        return f"{name} {self.figure.mode}" if self.figure.mode else name


@dataclass(frozen=True)
class Limit:
    """A vertical line: memory this machine has for models."""

    label: str
    bytes: int
    kind: str  # "vram" or "total"


@dataclass(frozen=True)
class ChartData:
    benchmark: str
    unit: str
    about: str
    quant: str | None  # None: each model at its best file that runs here
    ctx: int
    points: tuple[ChartPoint, ...]
    limits: tuple[Limit, ...]
    missing: tuple[str, ...] = field(default=())  # figures left out, one line each (no file of the quant)

    @property
    def best(self) -> ChartPoint | None:
        """The highest score that runs here (the smaller model on a tie)."""
        running = [p for p in self.points if p.runs]
        return max(running, key=lambda p: (p.value, -p.memory)) if running else None

    @property
    def best_on_gpu(self) -> ChartPoint | None:
        on_gpu = [p for p in self.points if p.verdict is Verdict.FULL_GPU]
        return max(on_gpu, key=lambda p: (p.value, -p.memory)) if on_gpu else None


def memory_limits(hw: Hardware) -> tuple[Limit, ...]:
    """The free VRAM the estimate may use (less its headroom) and what RAM adds to it."""
    gpus = usable_gpus(hw) if hw.offload_possible else []
    vram = usable_vram(hw)
    if any(g.unified for g in gpus):
        return (Limit(f"memory free {format_bytes(vram)}", vram, "total"),)
    if vram:
        return (Limit(f"VRAM free {format_bytes(vram)}", vram, "vram"),
                Limit(f"VRAM + RAM free {format_bytes(vram + hw.ram_available)}", vram + hw.ram_available, "total"))
    return (Limit(f"RAM free {format_bytes(hw.ram_available)}", hw.ram_available, "total"),)


def _choose(cands: Sequence[tuple[CatalogFile, FitEstimate]], best_quant: bool) -> tuple[CatalogFile, FitEstimate]:
    """One file per figure. A fixed quant: its file with the best placement, then the smallest need.
    The best that runs here: at >= 4.5 bits when one runs (the guide's quality floor), the best placement,
    then the most bits; nothing runs: the file that needs least."""
    def placement(c: tuple[CatalogFile, FitEstimate]) -> tuple[float, int, int]:
        return (verdict_rank(c[1]), c[1].total, publisher_rank(c[0]))

    if not best_quant:
        return min(cands, key=placement)
    running = [c for c in cands if c[1].verdict is not Verdict.NO_FIT]
    if not running:
        return min(cands, key=lambda c: (c[1].total, publisher_rank(c[0])))
    good = [c for c in running if bits_of(c[0]) >= QUALITY_FLOOR_BPW] or running
    return min(good, key=lambda c: (int(verdict_rank(c[1])), -bits_of(c[0]), c[1].total, publisher_rank(c[0])))


def compute_chart(data: BenchmarkData, benchmark: str, catalog: Catalog, hw: Hardware, ctx: int,
                  quant: str | None = DEFAULT_QUANT, *, kv_type: str = "f16",
                  cancelled: Callable[[], bool] | None = None) -> ChartData:
    """The dots for `benchmark`: each figure whose model is in the catalog, at the memory its chosen file
    needs on `hw` at `ctx` tokens (from `fit.batch.compute_fits`, as the Models tab), with the verdict."""
    rows: tuple[ChartRow, ...] = chart_rows(data, benchmark, catalog, quant)
    pairs: list[tuple[CatalogModel, CatalogFile]] = []
    seen: dict[tuple[str, tuple[str, ...]], int] = {}
    for row in rows:  # the two modes of a hybrid share their files: estimate each file once
        for f in row.files:
            key = (f.repo, f.shards)
            if key not in seen:
                seen[key] = len(pairs)
                pairs.append((row.model, f))
    batch = compute_fits(pairs, hw, ctx, kv_type, cancelled=cancelled)
    points: list[ChartPoint] = []
    missing: list[str] = []
    for row in rows:
        cands = [(f, fit) for f in row.files if (fit := batch.fits[seen[(f.repo, f.shards)]]) is not None]
        if not cands:
            why = f"no {quant} file in the catalog" if quant and not row.files else "no estimate"
            missing.append(f"{row.figure.label}: {why}")
            continue
        file, fit = _choose(cands, quant is None)
        points.append(ChartPoint(row.figure, row.model, file, fit))
    figures = data.figures_of(benchmark)
    unit = figures[0].unit if figures else "%"
    return ChartData(benchmark, unit, data.about.get(benchmark, ""), quant, ctx, tuple(points), memory_limits(hw),
                     tuple(missing))
