"""Capability against cost: each model's published score on a benchmark against the memory it needs here.

x is the memory the model needs on this machine at the chosen context (the fit estimate's total, RAM
and VRAM together), on a log scale: the catalog runs from ~2.5 GiB (4B at Q4_K_M) to ~140 GiB
(235B-A22B), and on a linear axis every small model would crowd into the left edge. Dashed lines
mark what this machine has free (VRAM the estimate may use, and VRAM plus free RAM), and each dot
takes its verdict's colour, so the best model for the benchmark that runs here is the highest dot
left of the lines. y is the score as published (`assets/benchmarks.json`, with its source in the
dot's tooltip); a model with no published figure has no dot.

The points are computed on a `LatestRunner` (one fit per file of the models that have figures); a
newer catalog, hardware, context, benchmark or quant supersedes the running computation.

Signals:
  points_changed(object)  the `ChartData` now on screen (its `points` are the dots)
  point_clicked(object)   a `ChartPoint` the person clicked

Setters: `set_catalog(Catalog)`, `set_hardware(Hardware)`, `set_context(int)`, `set_benchmarks(BenchmarkData)`,
`set_benchmark(name)`, `set_quant(name or None for the best file that runs here)`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QHelpEvent, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QToolTip, QVBoxLayout, QWidget

from explorer.catalog.benchmarks import BenchmarkData, BenchmarkError, load_benchmarks
from explorer.catalog.snapshot import Catalog
from explorer.fit.estimate import Verdict
from explorer.guide.chart import DEFAULT_QUANT, ChartData, ChartPoint, compute_chart
from explorer.guide.pick import DEFAULT_GUIDE_CTX
from explorer.hardware.facts import Hardware
from ui import theme
from ui.fmt import format_bytes, format_ctx, verdict_text
from ui.workers import Cancelled, CancelToken, LatestRunner

BEST_QUANT_TEXT = "Best that runs here"
GIB = 1024**3
DOT_RADIUS = 6.0
MIN_CONTRAST = 4.5  # WCAG AA for body text


# ---------------------------------------------------------------------------------------------
# Colours


def _luminance(c: QColor) -> float:
    def chan(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    return 0.2126 * chan(c.redF()) + 0.7152 * chan(c.greenF()) + 0.0722 * chan(c.blueF())


def contrast(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio, 1 (same) to 21 (black on white)."""
    la, lb = _luminance(a), _luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def _most_contrast(background: QColor, *choices: QColor) -> QColor:
    return max(choices, key=lambda c: contrast(c, background))


def _blend(a: QColor, b: QColor, t: float) -> QColor:
    """a moved a share t of the way to b."""
    return QColor.fromRgbF(a.redF() + (b.redF() - a.redF()) * t, a.greenF() + (b.greenF() - a.greenF()) * t,
                           a.blueF() + (b.blueF() - a.blueF()) * t)


def _lighter(c: QColor) -> QColor:
    """The same hue, light enough to stand out on a dark background (the theme's pill text colours are dark)."""
    return QColor.fromHslF(max(c.hslHueF(), 0.0), min(1.0, c.hslSaturationF() * 1.1), 0.64)


@dataclass(frozen=True)
class ChartColors:
    background: QColor
    text: QColor
    muted: QColor
    grid: QColor
    frame: QColor
    vram: QColor
    total: QColor
    verdicts: dict[Verdict, QColor]


def chart_colors(palette: QPalette) -> ChartColors:
    """Colours for the palette's background: its text colour when that reads well on it, else whichever of
    black and white reads better (a light style sheet over a dark system palette must not hide the text);
    the verdicts in the theme's colours, lightened on a dark background."""
    bg = palette.color(QPalette.ColorRole.Base)
    text = palette.color(QPalette.ColorRole.Text)
    if contrast(text, bg) < MIN_CONTRAST:
        text = _most_contrast(bg, text, QColor("#000000"), QColor("#ffffff"))
    dark = _luminance(bg) < 0.25
    verdicts: dict[Verdict, QColor] = {}
    for v, (_pill, ink) in theme.VERDICT_COLORS.items():
        verdicts[v] = _lighter(QColor(ink)) if dark else QColor(ink)
    vram = QColor(theme.MEM_WEIGHTS)
    if dark:
        vram = _blend(vram, QColor("#ffffff"), 0.35)
    return ChartColors(background=bg, text=text, muted=_blend(text, bg, 0.35), grid=_blend(text, bg, 0.88),
                       frame=_blend(text, bg, 0.6), vram=vram, total=_blend(text, bg, 0.25), verdicts=verdicts)


# ---------------------------------------------------------------------------------------------
# The painted plot


@dataclass(frozen=True)
class DrawnPoint:
    point: ChartPoint
    center: QPointF
    label_rect: QRectF | None  # None when no free place for the label was found (the tooltip still has it)


def _gib_text(gib: float) -> str:
    """An axis tick: "0.5 GiB", "8 GiB", "1 TiB"."""
    return f"{gib / 1024:g} TiB" if gib >= 1024 else f"{gib:g} GiB"


def _nice_y(values: Sequence[float], unit: str) -> tuple[float, float, float]:
    """(low, high, step) for the score axis: whole tens around the values, within 0-100 for percentages."""
    lo, hi = min(values), max(values)
    step = 10.0 if hi - lo > 25 else 5.0
    low = math.floor((lo - step / 2) / step) * step
    high = math.ceil((hi + step / 2) / step) * step
    if unit == "%":
        low, high = max(0.0, low), min(100.0, high)
    if high <= low:
        high = low + step
    return low, high, step


class ChartCanvas(QWidget):
    """The plot: axes, the machine's memory lines, one dot per point, labels, a legend and the tooltip."""

    clicked = Signal(object)  # ChartPoint

    MARGIN_LEFT = 58.0
    MARGIN_RIGHT = 22.0
    MARGIN_TOP = 34.0
    MARGIN_BOTTOM = 50.0

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("capabilityCanvas")
        self.setMouseTracking(True)
        self.setMinimumSize(420, 280)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.data: ChartData | None = None
        self.message = "Working out the memory each model needs…"
        self.drawn: tuple[DrawnPoint, ...] = ()  # what the last paint drew

    def sizeHint(self) -> QSize:
        return QSize(900, 520)

    def set_data(self, data: ChartData | None, message: str = "") -> None:
        self.data = data
        self.message = message
        self.drawn = ()
        self.update()

    def colors(self) -> ChartColors:
        return chart_colors(self.palette())

    # geometry

    def plot_rect(self) -> QRectF:
        return QRectF(self.MARGIN_LEFT, self.MARGIN_TOP, max(10.0, self.width() - self.MARGIN_LEFT - self.MARGIN_RIGHT),
                      max(10.0, self.height() - self.MARGIN_TOP - self.MARGIN_BOTTOM))

    def x_range(self) -> tuple[float, float]:
        """Log2 of the GiB at the left and right edges: whole powers of two around the dots and the lines."""
        assert self.data is not None
        gib = [p.memory / GIB for p in self.data.points] + [lim.bytes / GIB for lim in self.data.limits if lim.bytes]
        lo = math.floor(math.log2(max(min(gib) / 1.15, 0.25)))
        hi = math.ceil(math.log2(max(gib) * 1.15))
        return float(lo), float(max(hi, lo + 1))

    def y_range(self) -> tuple[float, float, float]:
        assert self.data is not None
        return _nice_y([p.value for p in self.data.points], self.data.unit)

    def to_x(self, nbytes: float) -> float:
        r = self.plot_rect()
        lo, hi = self.x_range()
        t = (math.log2(max(nbytes, 1.0) / GIB) - lo) / (hi - lo)
        return r.left() + t * r.width()

    def to_y(self, value: float) -> float:
        r = self.plot_rect()
        lo, hi, _ = self.y_range()
        return r.bottom() - (value - lo) / (hi - lo) * r.height()

    def dot_centers(self) -> list[tuple[ChartPoint, QPointF]]:
        if self.data is None:
            return []
        return [(p, QPointF(self.to_x(p.memory), self.to_y(p.value))) for p in self.data.points]

    def point_at(self, pos: QPointF) -> ChartPoint | None:
        """The dot under `pos` (within a few pixels), the nearest one when several are."""
        best: tuple[float, ChartPoint] | None = None
        for p, c in self.dot_centers():
            d = math.hypot(c.x() - pos.x(), c.y() - pos.y())
            if d <= DOT_RADIUS + 4 and (best is None or d < best[0]):
                best = (d, p)
        return best[1] if best else None

    def tooltip_text(self, p: ChartPoint) -> str:
        """Rich text: the model and file, the figure, what it needs here, and where the figure comes from."""
        assert self.data is not None
        f, src = p.figure, p.figure.source
        mode = f" ({escape(f.mode)} mode)" if f.mode else ""
        lines = [
            f"<b>{escape(p.model.id)}</b>{mode} · {escape(p.file.quant)} ({escape(p.file.repo)})",
            f"{escape(f.benchmark)}: <b>{escape(f.value_text)}</b>",
            f"Needs {escape(format_bytes(p.memory))} here at {escape(format_ctx(p.fit.ctx))} context: "
            f"{escape(p.fit.summary)}",
            f"Source: {escape(src.title)}, {escape(src.where)}",
            f"<a href=\"{escape(src.url)}\">{escape(src.url)}</a>",
        ]
        return "<br>".join(lines)

    def event(self, ev: QEvent) -> bool:
        if ev.type() == QEvent.Type.ToolTip and isinstance(ev, QHelpEvent):
            p = self.point_at(QPointF(ev.pos()))
            if p is None:
                QToolTip.hideText()
                ev.ignore()
            else:
                QToolTip.showText(ev.globalPos(), self.tooltip_text(p), self)
            return True
        return super().event(ev)

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:
        hit = self.point_at(ev.position())
        self.setCursor(Qt.CursorShape.PointingHandCursor if hit else Qt.CursorShape.ArrowCursor)
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:
        if ev.button() == Qt.MouseButton.LeftButton and (hit := self.point_at(ev.position())) is not None:
            self.clicked.emit(hit)
        super().mouseReleaseEvent(ev)

    # painting

    def paintEvent(self, event: QPaintEvent) -> None:
        colors = self.colors()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), colors.background)
        if self.data is None or not self.data.points:
            text = self.message or "No published figures to show."
            painter.setPen(colors.muted)
            f = QFont(self.font())
            f.setPointSizeF(f.pointSizeF() * 1.1)
            painter.setFont(f)
            painter.drawText(QRectF(self.rect()).adjusted(24, 24, -24, -24),
                             int(Qt.AlignmentFlag.AlignCenter) | int(Qt.TextFlag.TextWordWrap), text)
            painter.end()
            return
        self._paint_axes(painter, colors)
        self._paint_limits(painter, colors)
        self.drawn = self._paint_points(painter, colors)
        self._paint_legend(painter, colors)
        painter.end()

    def _paint_axes(self, painter: QPainter, colors: ChartColors) -> None:
        assert self.data is not None
        r = self.plot_rect()
        fm = QFontMetricsF(self.font())
        lo, hi = self.x_range()
        every = 1 if hi - lo <= 9 else 2
        painter.setFont(self.font())
        for e in range(int(lo), int(hi) + 1, every):
            x = r.left() + (e - lo) / (hi - lo) * r.width()
            painter.setPen(QPen(colors.grid, 1))
            painter.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
            text = _gib_text(2.0**e)
            w = fm.horizontalAdvance(text)
            painter.setPen(colors.muted)
            tx = min(max(x - w / 2, 0.0), self.width() - w - 2)  # the end labels stay inside the widget
            painter.drawText(QPointF(tx, r.bottom() + fm.ascent() + 5), text)
        ylo, yhi, step = self.y_range()
        v = ylo
        while v <= yhi + 1e-9:
            y = self.to_y(v)
            painter.setPen(QPen(colors.grid, 1))
            painter.drawLine(QPointF(r.left(), y), QPointF(r.right(), y))
            text = f"{v:g}{self.data.unit if self.data.unit == '%' else ''}"
            painter.setPen(colors.muted)
            painter.drawText(QPointF(r.left() - 8 - fm.horizontalAdvance(text), y + fm.ascent() / 2 - 1), text)
            v += step
        painter.setPen(QPen(colors.frame, 1))
        painter.drawLine(r.bottomLeft(), r.bottomRight())
        painter.drawLine(r.bottomLeft(), r.topLeft())
        painter.setPen(colors.muted)
        xtitle = f"memory needed here at {format_ctx(self.data.ctx)} context (log scale)"
        painter.drawText(QPointF(r.center().x() - fm.horizontalAdvance(xtitle) / 2, self.height() - 8), xtitle)
        painter.save()
        ytitle = f"{self.data.benchmark} score, as published"
        painter.translate(14 + fm.ascent() / 2, r.center().y() + fm.horizontalAdvance(ytitle) / 2)
        painter.rotate(-90)
        painter.drawText(QPointF(0, 0), ytitle)
        painter.restore()

    def _paint_limits(self, painter: QPainter, colors: ChartColors) -> None:
        assert self.data is not None
        r = self.plot_rect()
        fm = QFontMetricsF(self.font())
        total = next((lim for lim in self.data.limits if lim.kind == "total"), None)
        if total is not None:  # beyond what the machine has: nothing runs there
            x = min(max(self.to_x(total.bytes), r.left()), r.right())
            shade = QColor(theme.VERDICT_COLORS[Verdict.NO_FIT][1])
            shade.setAlphaF(0.07)
            painter.fillRect(QRectF(QPointF(x, r.top()), r.bottomRight()), shade)
        top = r.top() + 2
        for i, lim in enumerate(self.data.limits):
            x = self.to_x(lim.bytes)
            if not r.left() <= x <= r.right():
                continue
            color = colors.vram if lim.kind == "vram" else colors.total
            pen = QPen(color, 1.5, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
            w = fm.horizontalAdvance(lim.label)
            lx = x + 5 if x + 5 + w <= r.right() else x - 5 - w
            painter.setPen(color)
            painter.drawText(QPointF(lx, top + fm.ascent() + i * (fm.height() + 2)), lim.label)

    def _paint_points(self, painter: QPainter, colors: ChartColors) -> tuple[DrawnPoint, ...]:
        assert self.data is not None
        r = self.plot_rect()
        fm = QFontMetricsF(self.font())
        centers = self.dot_centers()
        best = self.data.best
        pad = 2.0
        blocked: list[QRectF] = [QRectF(c.x() - DOT_RADIUS - 1, c.y() - DOT_RADIUS - 1, 2 * DOT_RADIUS + 2,
                                        2 * DOT_RADIUS + 2) for _, c in centers]
        # the limit labels at the top of the plot
        for i, lim in enumerate(self.data.limits):
            x = self.to_x(lim.bytes)
            w = fm.horizontalAdvance(lim.label)
            lx = x + 5 if x + 5 + w <= r.right() else x - 5 - w
            blocked.append(QRectF(lx, r.top() + 2 + i * (fm.height() + 2), w, fm.height()))
        labels: dict[int, QRectF] = {}
        order = sorted(range(len(centers)), key=lambda i: (centers[i][0] is not best, -centers[i][0].value))
        gap = DOT_RADIUS + 4
        bold = QFont(self.font())
        bold.setBold(True)
        bold_fm = QFontMetricsF(bold)
        for i in order:
            p, c = centers[i]
            w, h = (bold_fm if p is best else fm).horizontalAdvance(p.short_label) + 2 * pad, fm.height()
            spots = [
                QRectF(c.x() + gap, c.y() - h / 2, w, h), QRectF(c.x() - gap - w, c.y() - h / 2, w, h),
                QRectF(c.x() - w / 2, c.y() - gap - h, w, h), QRectF(c.x() - w / 2, c.y() + gap, w, h),
                QRectF(c.x() + gap - 2, c.y() - gap - h + 4, w, h), QRectF(c.x() + gap - 2, c.y() + gap - 4, w, h),
                QRectF(c.x() - gap - w + 2, c.y() - gap - h + 4, w, h),
                QRectF(c.x() - gap - w + 2, c.y() + gap - 4, w, h),
            ]
            for spot in spots:  # clear of every dot (its own included), label and line label
                if not r.adjusted(-4, -4, 4, 4).contains(spot) or any(spot.intersects(b) for b in blocked):
                    continue
                labels[i] = spot
                blocked.append(spot)
                break
        # dots: the ones that do not fit first, so the ones that run sit on top
        for i in sorted(range(len(centers)), key=lambda i: centers[i][0].runs):
            p, c = centers[i]
            fill = colors.verdicts.get(p.verdict, colors.muted)
            painter.setPen(QPen(colors.background, 1.5))
            painter.setBrush(fill)
            painter.drawEllipse(c, DOT_RADIUS, DOT_RADIUS)
            if p is best:
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.setPen(QPen(colors.text, 1.5))
                painter.drawEllipse(c, DOT_RADIUS + 4, DOT_RADIUS + 4)
        for i, rect in labels.items():
            p = centers[i][0]
            painter.setFont(bold if p is best else self.font())
            painter.setPen(colors.text if p.runs else colors.muted)
            align = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            painter.drawText(rect.adjusted(pad, 0, 0, 0), align, p.short_label)
        painter.setFont(self.font())
        return tuple(DrawnPoint(p, c, labels.get(i)) for i, (p, c) in enumerate(centers))

    def _paint_legend(self, painter: QPainter, colors: ChartColors) -> None:
        fm = QFontMetricsF(self.font())
        x = self.MARGIN_LEFT
        y = 8 + fm.height() / 2
        for v in (Verdict.FULL_GPU, Verdict.PARTIAL, Verdict.CPU_ONLY, Verdict.NO_FIT):
            painter.setPen(QPen(colors.background, 1))
            painter.setBrush(colors.verdicts[v])
            painter.drawEllipse(QPointF(x + 5, y), 5, 5)
            painter.setPen(colors.text)
            painter.drawText(QPointF(x + 14, y + fm.ascent() / 2 - 1), v.value)
            x += 14 + fm.horizontalAdvance(v.value) + 18
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(colors.text, 1.5))
        painter.drawEllipse(QPointF(x + 5, y), 7, 7)
        painter.drawText(QPointF(x + 17, y + fm.ascent() / 2 - 1), "highest score that runs here")


# ---------------------------------------------------------------------------------------------
# The widget


class CapabilityChart(QWidget):
    """Benchmark and quant choices above the plot, a one-line summary of the best that runs here below them."""

    points_changed = Signal(object)  # ChartData
    point_clicked = Signal(object)  # ChartPoint

    def __init__(self, parent: QWidget | None = None, *, benchmarks: BenchmarkData | None = None,
                 kv_type: str = "f16") -> None:
        super().__init__(parent)
        self.setObjectName("capabilityChart")
        self.catalog: Catalog | None = None
        self.hardware: Hardware | None = None
        self.ctx = DEFAULT_GUIDE_CTX
        self.kv_type = kv_type
        self.chart: ChartData | None = None
        self.load_error = ""
        self.data: BenchmarkData
        if benchmarks is None:
            try:
                benchmarks = load_benchmarks()
            except BenchmarkError as e:
                self.load_error = str(e)
                benchmarks = BenchmarkData(figures=(), about={})
        self.data = benchmarks

        self.benchmark_box = QComboBox()
        self.benchmark_box.setObjectName("chartBenchmark")
        self.benchmark_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.quant_box = QComboBox()
        self.quant_box.setObjectName("chartQuant")
        self.quant_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.context_label = QLabel()
        self.context_label.setObjectName("chartContext")
        self.about_label = QLabel()
        self.about_label.setObjectName("chartAbout")
        self.about_label.setWordWrap(True)
        self.summary_label = QLabel()
        self.summary_label.setObjectName("chartSummary")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.canvas = ChartCanvas()
        self.canvas.clicked.connect(self.point_clicked)

        top = QHBoxLayout()
        top.addWidget(QLabel("Benchmark"))
        top.addWidget(self.benchmark_box)
        top.addSpacing(12)
        top.addWidget(QLabel("Quant"))
        top.addWidget(self.quant_box)
        top.addSpacing(12)
        top.addWidget(self.context_label)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addWidget(self.about_label)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.canvas, 1)

        self.runner = LatestRunner(self)
        self.runner.result.connect(self._on_result)
        self.runner.error.connect(self._on_error)
        self._fill_benchmarks()
        self._fill_quants()
        self.benchmark_box.currentIndexChanged.connect(self._recompute)
        self.quant_box.currentIndexChanged.connect(self._recompute)
        self._update_context_label()
        self._recompute()

    # setters

    def set_catalog(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._fill_quants()
        self._recompute()

    def set_hardware(self, hw: Hardware) -> None:
        self.hardware = hw
        self._recompute()

    def set_context(self, ctx: int) -> None:
        if ctx <= 0:
            raise ValueError(f"context must be positive, got {ctx}")
        self.ctx = ctx
        self._update_context_label()
        self._recompute()

    def set_benchmarks(self, data: BenchmarkData) -> None:
        self.data = data
        self.load_error = ""
        self._fill_benchmarks()
        self._recompute()

    def set_benchmark(self, name: str) -> None:
        i = self.benchmark_box.findData(name)
        if i < 0:
            raise ValueError(f"no figures for benchmark {name!r}")
        self.benchmark_box.setCurrentIndex(i)

    def set_quant(self, quant: str | None) -> None:
        """A quant type ("Q4_K_M"), or None for each model's best file that runs here."""
        i = self.quant_box.findData(quant or "")
        if i < 0:
            raise ValueError(f"no {quant} files in the catalog")
        self.quant_box.setCurrentIndex(i)

    # state

    @property
    def benchmark(self) -> str:
        return str(self.benchmark_box.currentData() or "")

    @property
    def quant(self) -> str | None:
        return str(self.quant_box.currentData() or "") or None

    @property
    def points(self) -> tuple[ChartPoint, ...]:
        return self.chart.points if self.chart is not None else ()

    def _fill_benchmarks(self) -> None:
        current = self.benchmark
        self.benchmark_box.blockSignals(True)
        self.benchmark_box.clear()
        for info in self.data.benchmarks():
            self.benchmark_box.addItem(f"{info.name} ({info.count} figures)", info.name)
            self.benchmark_box.setItemData(self.benchmark_box.count() - 1, info.about, Qt.ItemDataRole.ToolTipRole)
        if (i := self.benchmark_box.findData(current)) >= 0:
            self.benchmark_box.setCurrentIndex(i)
        self.benchmark_box.setEnabled(self.benchmark_box.count() > 0)
        self.benchmark_box.blockSignals(False)

    def _fill_quants(self) -> None:
        current = self.quant_box.currentData() if self.quant_box.count() else DEFAULT_QUANT
        quants = list(self.catalog.quants()) if self.catalog is not None else [DEFAULT_QUANT]
        self.quant_box.blockSignals(True)
        self.quant_box.clear()
        self.quant_box.addItem(BEST_QUANT_TEXT, "")
        self.quant_box.setItemData(0, "Each model at its best file that runs here: at least 4.5 bits per weight "
                                      "when one runs, the best placement, then the most bits.",
                                   Qt.ItemDataRole.ToolTipRole)
        for q in quants:
            self.quant_box.addItem(q, q)
        i = self.quant_box.findData(current)
        self.quant_box.setCurrentIndex(i if i >= 0 else max(0, self.quant_box.findData(DEFAULT_QUANT)))
        self.quant_box.blockSignals(False)

    def _update_context_label(self) -> None:
        self.context_label.setText(f"at {format_ctx(self.ctx)} context")

    def _recompute(self) -> None:
        info = next((b for b in self.data.benchmarks() if b.name == self.benchmark), None)
        self.about_label.setText(info.about if info is not None else "")
        self.about_label.setVisible(bool(info and info.about))
        if self.load_error:
            self._show_empty(f"The benchmark figures could not be read: {self.load_error}")
            return
        if not self.data.figures:
            self._show_empty("No published benchmark figures in the catalog data yet, so there is nothing to "
                             "plot. A figure nobody published is left out rather than estimated.")
            return
        if self.catalog is None or self.hardware is None:
            self.runner.cancel()
            self.chart = None
            self.summary_label.setText("")
            self.canvas.set_data(None, "Waiting for the catalog and this machine's hardware…")
            return
        data, benchmark, catalog, hw = self.data, self.benchmark, self.catalog, self.hardware
        ctx, quant, kv_type = self.ctx, self.quant, self.kv_type
        if self.chart is None:
            self.canvas.set_data(None, "Working out the memory each model needs…")

        def job(token: CancelToken) -> ChartData:
            def cancelled() -> bool:
                return token.cancelled
            chart = compute_chart(data, benchmark, catalog, hw, ctx, quant, kv_type=kv_type, cancelled=cancelled)
            if token.cancelled:
                raise Cancelled()
            return chart

        self.runner.submit(job)

    def _show_empty(self, message: str) -> None:
        self.runner.cancel()
        self.chart = None
        self.summary_label.setText("")
        self.canvas.set_data(None, message)
        self.points_changed.emit(None)

    def _on_result(self, chart: object) -> None:
        if not isinstance(chart, ChartData):
            return
        self.chart = chart
        message = "" if chart.points else f"No model in the catalog has a published {chart.benchmark} figure."
        self.canvas.set_data(chart, message)
        self.summary_label.setText(self._summary(chart))
        self.points_changed.emit(chart)

    def _on_error(self, exc: object) -> None:
        if isinstance(exc, Cancelled):
            return
        self.chart = None
        self.summary_label.setText("")
        self.canvas.set_data(None, f"The chart could not be computed: {exc}")

    def _summary(self, chart: ChartData) -> str:
        best, on_gpu = chart.best, chart.best_on_gpu
        quant = chart.quant or "its best file"
        if best is None:
            text = (f"None of the {len(chart.points)} models with a {chart.benchmark} figure runs here at "
                    f"{format_ctx(chart.ctx)} context with {quant}.")
        else:
            text = (f"Highest {chart.benchmark} that runs here: {best.figure.label} {best.file.quant}, "
                    f"{best.figure.value_text} ({verdict_text(best.fit)}, {format_bytes(best.memory)}).")
            if on_gpu is not None and on_gpu is not best:
                text += (f" Fully on the GPU: {on_gpu.figure.label} {on_gpu.file.quant}, "
                         f"{on_gpu.figure.value_text} ({format_bytes(on_gpu.memory)}).")
        if chart.missing:
            text += " Left out: " + "; ".join(chart.missing) + "."
        if self.catalog is not None and (problems := self.data.check_against(self.catalog)):
            text += f" {len(problems)} figure(s) name no catalog model: {problems[0]}."
        return text
