"""The capability chart: its dots are the catalog data's figures for the chosen benchmark, at the memory the fit
estimate gives; the tooltip names the figure's source; the empty states; a dark palette stays readable."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QHelpEvent, QPalette
from PySide6.QtWidgets import QApplication

import ui.guide.chart_view as chart_view
from explorer.catalog.benchmarks import BenchmarkData, BenchmarkError, load_benchmarks
from explorer.catalog.snapshot import Catalog, load_catalog
from explorer.fit.estimate import Verdict, estimate_fit
from explorer.hardware.facts import GPU, CPUInfo, Hardware
from explorer.hardware.llama_build import LlamaBuild
from ui.guide.chart_view import DOT_RADIUS, MIN_CONTRAST, CapabilityChart, ChartData, chart_colors, contrast

GiB = 1024**3
CPU = CPUInfo(model="Fake Ryzen", physical_cores=8, logical_cores=16, flags=frozenset({"avx2"}))


def desktop_24gb() -> Hardware:
    gpu = GPU(index=0, vendor="nvidia", name="NVIDIA GeForce RTX 4090", vram_total=24 * GiB,
              vram_free=int(23.2 * GiB), bandwidth=1008e9)
    return Hardware(ram_total=64 * GiB, ram_available=48 * GiB, cpu=CPU, gpus=(gpu,), ram_bandwidth=60e9,
                    llama=LlamaBuild(installed=True, gpu_offload=True, system_info="CUDA : ARCHS = 890"))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def figures() -> BenchmarkData:
    return load_benchmarks()


def _wait(qtbot: Any, chart: CapabilityChart, change: Any) -> ChartData:
    with qtbot.waitSignal(chart.points_changed, timeout=20000) as blocker:
        change()
    assert isinstance(blocker.args[0], ChartData)
    return blocker.args[0]


@pytest.fixture
def chart(qtbot: Any, catalog: Catalog) -> CapabilityChart:
    c = CapabilityChart()
    qtbot.addWidget(c)
    c.resize(1200, 700)
    c.show()

    def ready() -> None:
        c.set_catalog(catalog)
        c.set_hardware(desktop_24gb())
        c.set_context(32768)

    _wait(qtbot, c, ready)
    return c


def _drawn(qtbot: Any, chart: CapabilityChart) -> list[Any]:
    chart.canvas.grab()  # paints, and records what it drew
    return list(chart.canvas.drawn)


def test_the_dots_drawn_are_the_figures_of_the_chosen_benchmark(qtbot: Any, chart: CapabilityChart,
                                                                 figures: BenchmarkData, catalog: Catalog) -> None:
    names = [chart.benchmark_box.itemData(i) for i in range(chart.benchmark_box.count())]
    assert names == [b.name for b in figures.benchmarks()]
    hw = desktop_24gb()
    for name in names:
        if chart.benchmark != name:
            _wait(qtbot, chart, lambda n=name: chart.set_benchmark(n))
        want = {(f.model, f.mode, f.value) for f in figures.figures_of(name)}
        assert {(p.model.id, p.figure.mode, p.value) for p in chart.points} == want
        drawn = _drawn(qtbot, chart)
        assert [d.point for d in drawn] == list(chart.points)
        plot = chart.canvas.plot_rect()
        for d in drawn:
            p = d.point
            assert p.file.quant == "Q4_K_M"
            fit = estimate_fit(p.model.shape_for(p.file), hw, ctx=32768)
            assert p.memory == fit.total and p.verdict is fit.verdict  # the fit estimate's own numbers
            assert plot.adjusted(-1, -1, 1, 1).contains(d.center)
            assert abs(d.center.y() - chart.canvas.to_y(p.value)) < 1e-6
        # higher figures sit higher, larger needs further right
        by_value = sorted(drawn, key=lambda d: d.point.value)
        assert all(a.center.y() >= b.center.y() for a, b in pairwise(by_value))
        by_memory = sorted(drawn, key=lambda d: d.point.memory)
        assert all(a.center.x() <= b.center.x() for a, b in pairwise(by_memory))


def test_each_dot_has_its_verdicts_colour(qtbot: Any, chart: CapabilityChart) -> None:
    drawn = _drawn(qtbot, chart)
    image = chart.canvas.grab().toImage()
    ratio = image.devicePixelRatio()
    colors = chart.canvas.colors()
    verdicts = {d.point.verdict for d in drawn}
    assert {Verdict.FULL_GPU, Verdict.NO_FIT} <= verdicts  # 4B and 30B-A3B fit the GPU, 235B fits nowhere
    for d in drawn:
        pixel = image.pixelColor(int(d.center.x() * ratio), int(d.center.y() * ratio))
        near = [e.point.verdict for e in drawn
                if abs(e.center.x() - d.center.x()) <= DOT_RADIUS and abs(e.center.y() - d.center.y()) <= DOT_RADIUS]
        assert any(_close(pixel, colors.verdicts[v]) for v in near), (d.point.short_label, pixel.name())


def _close(a: QColor, b: QColor, tol: int = 12) -> bool:
    return abs(a.red() - b.red()) <= tol and abs(a.green() - b.green()) <= tol and abs(a.blue() - b.blue()) <= tol


def test_the_tooltip_carries_the_figures_source(qtbot: Any, chart: CapabilityChart,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = _drawn(qtbot, chart)
    d = max(drawn, key=lambda d: d.point.value)
    assert chart.canvas.point_at(d.center) is not None
    text = chart.canvas.tooltip_text(d.point)
    src = d.point.figure.source
    assert src.url in text and src.title in text
    assert "Performance table" in text and d.point.figure.value_text in text
    assert chart.canvas.point_at(QPointF(1, 1)) is None
    shown: list[str] = []

    class FakeToolTip:  # the offscreen platform warns when a real tooltip window is raised
        @staticmethod
        def showText(pos: Any, text: str, widget: Any = None) -> None:
            shown.append(text)

        @staticmethod
        def hideText() -> None:
            shown.append("")

    monkeypatch.setattr(chart_view, "QToolTip", FakeToolTip)
    pos = d.center.toPoint()
    QApplication.sendEvent(chart.canvas, QHelpEvent(QEvent.Type.ToolTip, pos, chart.canvas.mapToGlobal(pos)))
    assert shown and src.url in shown[-1]
    corner = QPoint(1, 1)
    QApplication.sendEvent(chart.canvas, QHelpEvent(QEvent.Type.ToolTip, corner, chart.canvas.mapToGlobal(corner)))
    assert shown[-1] == ""  # off the dots: no tooltip


def test_the_summary_names_the_best_that_runs_and_a_click_reports_the_dot(qtbot: Any, chart: CapabilityChart) -> None:
    chart_data = chart.chart
    assert chart_data is not None and chart_data.best is not None
    best = chart_data.best
    assert best.runs and all(p.value <= best.value for p in chart.points if p.runs)
    assert best.figure.label in chart.summary_label.text()
    drawn = _drawn(qtbot, chart)
    target = next(d for d in drawn if d.point is best)
    with qtbot.waitSignal(chart.point_clicked, timeout=2000) as blocker:
        qtbot.mouseClick(chart.canvas, Qt.MouseButton.LeftButton, pos=target.center.toPoint())
    assert blocker.args[0] is best


def test_quant_and_context_move_the_dots(qtbot: Any, chart: CapabilityChart) -> None:
    q4 = {p.figure: p.memory for p in chart.points}
    _wait(qtbot, chart, lambda: chart.set_quant("Q8_0"))
    assert {p.file.quant for p in chart.points} == {"Q8_0"}
    assert all(p.memory > q4[p.figure] for p in chart.points)
    _wait(qtbot, chart, lambda: chart.set_quant(None))  # each model at its best file that runs here
    assert chart.quant is None
    for p in chart.points:
        if p.runs:
            assert (p.file.bits_per_weight or 0) >= 4.5
    _wait(qtbot, chart, lambda: chart.set_quant("Q4_K_M"))
    _wait(qtbot, chart, lambda: chart.set_context(131072))
    assert all(p.memory > q4[p.figure] for p in chart.points)
    assert "128K" in chart.context_label.text()


def test_empty_states(qtbot: Any, catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    waiting = CapabilityChart()
    qtbot.addWidget(waiting)
    assert "Waiting for the catalog" in waiting.canvas.message and waiting.points == ()

    empty = CapabilityChart(benchmarks=BenchmarkData(figures=(), about={}))
    qtbot.addWidget(empty)
    empty.resize(800, 500)
    empty.set_catalog(catalog)
    empty.set_hardware(desktop_24gb())
    assert "No published benchmark figures" in empty.canvas.message
    assert not empty.benchmark_box.isEnabled() and empty.points == ()
    empty.canvas.grab()
    assert empty.canvas.drawn == ()

    def broken() -> BenchmarkData:
        raise BenchmarkError("assets/benchmarks.json: figures[3].value: expected a number, got string '8'")

    monkeypatch.setattr(chart_view, "load_benchmarks", broken)
    bad = CapabilityChart()
    qtbot.addWidget(bad)
    assert "could not be read" in bad.canvas.message and "figures[3].value" in bad.canvas.message


def _dark_palette(text: str = "#e8eaed") -> QPalette:
    pal = QPalette()
    for role, color in ((QPalette.ColorRole.Window, "#202124"), (QPalette.ColorRole.Base, "#1b1c1f"),
                        (QPalette.ColorRole.Text, text), (QPalette.ColorRole.WindowText, text)):
        pal.setColor(role, QColor(color))
    return pal


def test_a_dark_palette_keeps_text_and_dots_readable(qtbot: Any, chart: CapabilityChart) -> None:
    light = chart.canvas.colors()
    chart.setPalette(_dark_palette())
    colors = chart.canvas.colors()
    assert colors.background.name() == "#1b1c1f"
    assert colors.text != colors.background and contrast(colors.text, colors.background) >= MIN_CONTRAST
    assert contrast(colors.muted, colors.background) >= 3
    for v, c in colors.verdicts.items():
        assert contrast(c, colors.background) >= 3, v
        assert c != light.verdicts[v]  # lightened for the dark background
    assert len({c.name() for c in colors.verdicts.values()}) == 4
    drawn = _drawn(qtbot, chart)
    image = chart.canvas.grab().toImage()
    assert image.pixelColor(2, 2).name() == "#1b1c1f"
    ratio = image.devicePixelRatio()
    labelled = next(d for d in drawn if d.label_rect is not None and d.point.runs)
    rect = labelled.label_rect
    inks = [image.pixelColor(int(x * ratio), int(y * ratio))
            for x in range(int(rect.left()), int(rect.right())) for y in range(int(rect.top()), int(rect.bottom()))]
    assert max(contrast(c, colors.background) for c in inks) >= MIN_CONTRAST  # the label's text was drawn legibly


def test_text_stays_legible_when_the_palettes_text_does_not_suit_its_background() -> None:
    """A light style sheet's dark text over a dark system palette: the chart picks a text colour that reads."""
    colors = chart_colors(_dark_palette(text="#1f2733"))
    assert contrast(colors.text, colors.background) >= MIN_CONTRAST
    assert colors.text.name() == "#ffffff"
    plain = chart_colors(QApplication.palette())
    assert contrast(plain.text, plain.background) >= MIN_CONTRAST
