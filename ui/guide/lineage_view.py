"""The lineage diagram: the Qwen3 family from the catalog, painted (no image file).

Columns are the stages of `explorer.guide.lineage` (Base -> Hybrid -> 2507, the Coder line, Other), rows are
sizes (dense smallest first, then MoE), arrows join the stages of one size. A box names its size, is marked
"MoE · 3.3B active" or "dense", and says what it holds; hovering it shows its facts with their sources,
clicking it emits its catalog model ids.

    view = LineageView()
    view.set_catalog(catalog)
    view.models_selected.connect(lambda ids: ...)   # a set[str] of catalog model ids

The layout is computed once per catalog and per size (`DiagramCanvas.node_rects`); painting only draws it.
Colours come from the palette (text, base, window), so a dark palette stays readable; the accents from
`ui.theme`.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QHelpEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
    QPolygonF,
    QResizeEvent,
)
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QToolTip, QVBoxLayout, QWidget

from explorer.catalog.snapshot import Catalog
from explorer.guide.lineage import CODER_BLOG, REPORT, Lineage, LineageNode, Stage, StageInfo, build_lineage
from ui import theme

MARGIN = 14
GUTTER = 40  # the left band naming the dense and MoE rows
HEADER_H = 46
ARROW_GAP = 36  # between two columns: room for an arrow
GROUP_GAP = 16  # between the dense rows and the MoE rows
MIN_ROW_H, MAX_ROW_H = 50, 62
ROW_GAP = 8
MIN_BOX_W, MAX_BOX_W = 160, 290
MOE_ACCENT = "#7b55c7"
STAGE_ACCENTS = {Stage.BASE: "#8a94a6", Stage.HYBRID: theme.MEM_WEIGHTS, Stage.RELEASE_2507: theme.MEM_COMPUTE,
                 Stage.NEXT: "#c2185b",
                 Stage.CODER: theme.MEM_KV, Stage.OTHER: theme.MEM_OTHERS}
FOOTNOTE = (
    "Sources: the Qwen3 technical report (<a href='https://arxiv.org/abs/2505.09388'>arXiv:2505.09388</a>), "
    "the model cards on <a href='https://huggingface.co/Qwen'>huggingface.co/Qwen</a> and the "
    "<a href='https://qwenlm.github.io/blog/qwen3-coder/'>Qwen3-Coder blog</a>; parameters and context from the "
    "catalog. Hover a box for its facts and where each comes from; click it to list its models in the Models tab.")


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    """`a` moved a fraction `t` towards `b`."""
    return QColor(round(a.red() + (b.red() - a.red()) * t), round(a.green() + (b.green() - a.green()) * t),
                  round(a.blue() + (b.blue() - a.blue()) * t))


@dataclass(frozen=True)
class _Colors:
    text: QColor
    muted: QColor
    background: QColor
    box: QColor
    moe_box: QColor
    border: QColor
    arrow: QColor
    hover: QColor
    band: QColor

    @staticmethod
    def of(palette: QPalette) -> _Colors:
        text = palette.color(QPalette.ColorRole.WindowText)
        window = palette.color(QPalette.ColorRole.Window)
        base = palette.color(QPalette.ColorRole.Base)
        return _Colors(
            text=text, muted=_mix(text, window, 0.4), background=window, box=base,
            moe_box=_mix(base, QColor(MOE_ACCENT), 0.12), border=_mix(text, base, 0.68),
            arrow=_mix(text, window, 0.45), hover=QColor(theme.MEM_WEIGHTS), band=_mix(window, text, 0.05))


class DiagramCanvas(QWidget):
    """The painted diagram. `node_rects` maps node keys to their boxes, in this widget's coordinates."""

    node_clicked = Signal(object)  # the LineageNode

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lineageCanvas")
        self.setMouseTracking(True)
        self.lineage: Lineage | None = None
        self.node_rects: dict[str, QRectF] = {}
        self.column_rects: dict[Stage, QRectF] = {}  # the column headers
        self.group_rects: dict[str, QRectF] = {}  # "Dense" / "MoE": the gutter label's band
        self.note_rects: dict[Stage, QRectF] = {}  # free space in a column for its note (the Coder's no-arrow)
        self.hovered: str | None = None
        self.selected: str | None = None
        self._laid_out_for = QSize(-1, -1)
        self._min_height = 0
        self._viewport_h = 0
        self.title_font = QFont(self.font())
        self.title_font.setBold(True)
        self.title_font.setPointSizeF(self.font().pointSizeF() + 1.5)
        self.small_font = QFont(self.font())
        self.small_font.setPointSizeF(max(7.5, self.font().pointSizeF() - 1))

    # --- inputs ----------------------------------------------------------------------------

    def set_lineage(self, lineage: Lineage | None) -> None:
        self.lineage = lineage
        self.hovered = self.selected = None
        self._laid_out_for = QSize(-1, -1)
        self.relayout()

    def set_viewport_height(self, height: int) -> None:
        """The visible height: rows stretch to fill it (within limits) before the canvas scrolls."""
        if height != self._viewport_h:
            self._viewport_h = height
            self._laid_out_for = QSize(-1, -1)
            self.relayout()

    # --- layout ----------------------------------------------------------------------------

    def minimum_width(self) -> int:
        n = len(self.lineage.stages) if self.lineage else 1
        return 2 * MARGIN + GUTTER + n * (MIN_BOX_W + ARROW_GAP)

    def sizeHint(self) -> QSize:
        return QSize(self.minimum_width(), max(self._min_height, 200))

    def relayout(self) -> None:
        """Place the headers, boxes and notes for the current width (cheap; painting reuses it)."""
        lineage = self.lineage
        self.node_rects, self.column_rects, self.group_rects, self.note_rects = {}, {}, {}, {}
        if lineage is None:
            self._min_height = 0
            self.setMinimumSize(0, 0)
            self.update()
            return
        width = max(self.width(), self.minimum_width())
        n_cols = len(lineage.stages)
        col_w = (width - 2 * MARGIN - GUTTER) / n_cols
        box_w = max(MIN_BOX_W, min(MAX_BOX_W, col_w - ARROW_GAP))
        rows = lineage.rows
        moe_rows = {n.size_label for n in lineage.nodes if n.moe}
        n_dense = sum(1 for r in rows if r not in moe_rows)
        gaps = GROUP_GAP if 0 < n_dense < len(rows) else 0
        room = self._viewport_h - 2 * MARGIN - HEADER_H - gaps
        row_h = max(MIN_ROW_H, min(MAX_ROW_H, room / max(1, len(rows)))) if self._viewport_h else MIN_ROW_H + 6
        box_h = row_h - ROW_GAP
        top = MARGIN + HEADER_H

        def row_y(i: int) -> float:
            return top + i * row_h + (gaps if i >= n_dense else 0)

        col_x = {info.stage: MARGIN + GUTTER + i * col_w + (col_w - box_w) / 2 for i, info in enumerate(lineage.stages)}
        for info in lineage.stages:
            self.column_rects[info.stage] = QRectF(col_x[info.stage] - 6, MARGIN, box_w + 12, HEADER_H - 8)
        for node in lineage.nodes:
            i = rows.index(node.size_label)
            self.node_rects[node.key] = QRectF(col_x[node.stage], row_y(i), box_w, box_h)
        bottom = row_y(len(rows) - 1) + row_h if rows else top
        if n_dense:
            self.group_rects["Dense"] = QRectF(MARGIN, row_y(0) - 3, width - 2 * MARGIN, row_y(n_dense - 1)
                                               + box_h - row_y(0) + 6)
        if n_dense < len(rows):
            self.group_rects["MoE"] = QRectF(MARGIN, row_y(n_dense) - 3, width - 2 * MARGIN,
                                             bottom - ROW_GAP - row_y(n_dense) + 6)
        # The Coder column's note goes in its longest run of empty rows.
        if Stage.CODER in col_x:
            taken = {rows.index(n.size_label) for n in lineage.nodes_in(Stage.CODER)}
            best, start = (0, 0), None
            for i in range(len(rows) + 1):
                if i < len(rows) and i not in taken:
                    start = i if start is None else start
                    continue
                if start is not None and i - start > best[1] - best[0]:
                    best = (start, i)
                start = None
            if best[1] - best[0] >= 2:
                y0, y1 = row_y(best[0]), row_y(best[1] - 1) + box_h
                self.note_rects[Stage.CODER] = QRectF(col_x[Stage.CODER], y0, box_w, y1 - y0)
        self._min_height = int(bottom + MARGIN)
        self.setMinimumSize(self.minimum_width(), self._min_height)
        self._laid_out_for = self.size()
        self.updateGeometry()
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != self._laid_out_for.width():
            self.relayout()

    # --- hit tests -------------------------------------------------------------------------

    def node_at(self, pos: QPointF) -> LineageNode | None:
        if self.lineage is None:
            return None
        for key, rect in self.node_rects.items():
            if rect.contains(pos):
                return self.lineage.node(key)
        return None

    def tooltip_at(self, pos: QPointF) -> str:
        """The rich-text tooltip for what is at `pos` (a box, a column header, a note), or ""."""
        lineage = self.lineage
        if lineage is None:
            return ""
        node = self.node_at(pos)
        if node is not None:
            return node_tooltip(lineage, node)
        for stage, rect in list(self.column_rects.items()) + list(self.note_rects.items()):
            if rect.contains(pos):
                info = next(s for s in lineage.stages if s.stage is stage)
                return stage_tooltip(info)
        return ""

    # --- events ----------------------------------------------------------------------------

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.ToolTip and isinstance(e, QHelpEvent):
            text = self.tooltip_at(QPointF(e.pos()))
            if text:
                QToolTip.showText(e.globalPos(), text, self)
            else:
                QToolTip.hideText()
                e.ignore()
            return True
        return super().event(e)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        node = self.node_at(event.position())
        key = node.key if node else None
        if key != self.hovered:
            self.hovered = key
            self.setCursor(Qt.CursorShape.PointingHandCursor if node else Qt.CursorShape.ArrowCursor)
            self.update()
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        if self.hovered is not None:
            self.hovered = None
            self.update()
        super().leaveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        node = self.node_at(event.position())
        if event.button() == Qt.MouseButton.LeftButton and node is not None:
            self.selected = node.key
            self.update()
            self.node_clicked.emit(node)
            return
        super().mouseReleaseEvent(event)

    # --- painting --------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        lineage = self.lineage
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        colors = _Colors.of(self.palette())
        p.fillRect(self.rect(), colors.background)
        if lineage is None:
            p.setPen(colors.muted)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No catalog loaded")
            return
        self._paint_groups(p, colors)
        for info in lineage.stages:
            self._paint_header(p, colors, info)
        self._paint_notes(p, colors)
        for edge in lineage.edges:
            a, b = self.node_rects.get(edge.src), self.node_rects.get(edge.dst)
            if a is not None and b is not None:
                self._paint_arrow(p, colors, a, b)
        for node in lineage.nodes:
            rect = self.node_rects.get(node.key)
            if rect is not None and rect.intersects(QRectF(event.rect())):
                self._paint_node(p, colors, node, rect)
        p.end()

    def _paint_groups(self, p: QPainter, colors: _Colors) -> None:
        p.setFont(self.small_font)
        for name, rect in self.group_rects.items():
            path = QPainterPath()
            path.addRoundedRect(rect, 8, 8)
            p.fillPath(path, colors.band)
            p.save()
            p.translate(rect.left() + GUTTER / 2 - 4, rect.center().y())
            p.rotate(-90)
            p.setPen(QColor(MOE_ACCENT) if name == "MoE" else colors.muted)
            text = "MoE (mixture of experts)" if name == "MoE" and rect.height() > 170 else name
            p.drawText(QRectF(-rect.height() / 2, -10, rect.height(), 20), Qt.AlignmentFlag.AlignCenter, text)
            p.restore()

    def _paint_header(self, p: QPainter, colors: _Colors, info: StageInfo) -> None:
        rect = self.column_rects[info.stage]
        p.setPen(QPen(QColor(STAGE_ACCENTS[info.stage]), 3))
        p.drawLine(QPointF(rect.left() + 6, rect.bottom() + 2), QPointF(rect.right() - 6, rect.bottom() + 2))
        p.setFont(self.title_font)
        p.setPen(colors.text)
        title_h = QFontMetrics(self.title_font).height()
        p.drawText(QRectF(rect.left(), rect.top(), rect.width(), title_h), Qt.AlignmentFlag.AlignHCenter,
                   _elide(self.title_font, info.title, rect.width()))
        p.setFont(self.small_font)
        p.setPen(colors.muted)
        p.drawText(QRectF(rect.left(), rect.top() + title_h, rect.width(), rect.height() - title_h),
                   Qt.AlignmentFlag.AlignHCenter, _elide(self.small_font, info.subtitle, rect.width()))

    def _paint_notes(self, p: QPainter, colors: _Colors) -> None:
        rect = self.note_rects.get(Stage.CODER)
        if rect is None:
            return
        p.setPen(QPen(colors.border, 1, Qt.PenStyle.DashLine))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), 8, 8)
        p.setFont(self.small_font)
        p.setPen(colors.muted)
        text = ("No arrow into the Coder line: neither the Qwen3-Coder blog nor the model cards say which Qwen3 "
                "checkpoint a Coder starts from. Pre-trained on 7.5T tokens (70% code), then agentic "
                "reinforcement learning; never thinks.")
        p.drawText(rect.adjusted(10, 8, -10, -8), Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWordWrap, text)

    def _paint_arrow(self, p: QPainter, colors: _Colors, a: QRectF, b: QRectF) -> None:
        start = QPointF(a.right() + 2, a.center().y())
        end = QPointF(b.left() - 2, b.center().y())
        p.setPen(QPen(colors.arrow, 1.6))
        p.drawLine(start, QPointF(end.x() - 7, end.y()))
        head = QPolygonF([end, QPointF(end.x() - 9, end.y() - 5), QPointF(end.x() - 9, end.y() + 5)])
        p.setBrush(colors.arrow)
        p.setPen(Qt.PenStyle.NoPen)
        p.drawPolygon(head)

    def _paint_node(self, p: QPainter, colors: _Colors, node: LineageNode, rect: QRectF) -> None:
        hovered, selected = node.key == self.hovered, node.key == self.selected
        path = QPainterPath()
        path.addRoundedRect(rect, 8, 8)
        p.fillPath(path, colors.moe_box if node.moe else colors.box)
        accent = QColor(STAGE_ACCENTS[node.stage])
        p.save()
        p.setClipPath(path)
        p.fillRect(QRectF(rect.left(), rect.top(), 5, rect.height()), accent)
        p.restore()
        width = 2.0 if (hovered or selected) else 1.0
        p.setPen(QPen(colors.hover if (hovered or selected) else colors.border, width))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(path)

        block = 2 * QFontMetrics(self.small_font).height() + 8  # the two lines, centred in the box
        pad = max(6.0, (rect.height() - block) / 2)
        inner = rect.adjusted(13, pad, -9, -pad)
        # The badge: "MoE · 3.3B active" on the accent, or an outlined "dense".
        bold = QFont(self.font())
        bold.setBold(True)
        bold.setPointSizeF(self.font().pointSizeF() + 0.5)
        fm_small = QFontMetrics(self.small_font)
        label_w = QFontMetrics(bold).horizontalAdvance(node.label)
        badge_text = f"MoE · {node.params_active:g}B active" if node.moe else "dense"
        if label_w + fm_small.horizontalAdvance(badge_text) + 18 > inner.width():
            badge_text = f"MoE {node.params_active:g}B act." if node.moe else "dense"
        active_below = node.moe and label_w + fm_small.horizontalAdvance(badge_text) + 18 > inner.width()
        if active_below:  # a narrow box: the name whole, the active parameters on the second line
            badge_text = "MoE"
        badge_w = fm_small.horizontalAdvance(badge_text) + 12
        badge_h = fm_small.height() + 2
        badge = QRectF(inner.right() - badge_w, inner.top(), badge_w, badge_h)
        bpath = QPainterPath()
        bpath.addRoundedRect(badge, badge_h / 2, badge_h / 2)
        p.setFont(self.small_font)
        if node.moe:
            p.fillPath(bpath, QColor(MOE_ACCENT))
            p.setPen(QColor("#ffffff"))
        else:
            p.setPen(QPen(colors.border, 1))
            p.drawPath(bpath)
            p.setPen(colors.muted)
        p.drawText(badge, Qt.AlignmentFlag.AlignCenter, badge_text)

        p.setFont(bold)
        p.setPen(colors.text)
        title_w = inner.width() - badge_w - 6
        p.drawText(QRectF(inner.left(), inner.top(), title_w, badge_h + 2),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, _elide(bold, node.label, title_w))
        p.setFont(self.small_font)
        p.setPen(colors.muted)
        line = " + ".join(node.kinds) + (f" · {node.tag}" if node.tag else "")
        if active_below:
            line = f"{node.params_active:g}B active · {line}"
        p.drawText(QRectF(inner.left(), inner.bottom() - fm_small.height(), inner.width(), fm_small.height()),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   _elide(self.small_font, line, inner.width()))


def _elide(font: QFont, text: str, width: float) -> str:
    return QFontMetrics(font).elidedText(text, Qt.TextElideMode.ElideRight, int(width))


def _facts_html(facts: list[tuple[str, str]]) -> str:
    items = "".join(f"<li>{escape(text)}<br><span style='color:{theme.TEXT_MUTED}'>Source: {escape(source)}"
                    f"</span></li>" for text, source in facts)
    return f"<ul style='margin-left:0; -qt-list-indent:1'>{items}</ul>"


def node_tooltip(lineage: Lineage, node: LineageNode) -> str:
    """The box's tooltip: what it is, its models, its facts and the arrows into and out of it, each sourced."""
    stage = next((s for s in lineage.stages if s.stage is node.stage), None)
    head = f"<b>{escape(node.caption)}</b> — {escape(stage.title if stage else node.stage.value)}"
    models = ", ".join(escape(m) for m in node.model_ids)
    facts = [(f.text, f.source) for f in node.facts]
    for edge in lineage.edges:
        if edge.dst == node.key or edge.src == node.key:
            other = lineage.node(edge.src if edge.dst == node.key else edge.dst)
            if other is None:
                continue
            other_stage = next((s.title for s in lineage.stages if s.stage is other.stage), other.stage.value)
            if edge.dst == node.key:
                text = f"From {other_stage} {other.size_label}: {edge.label}."
            else:
                text = f"Leads to {other_stage} {other.size_label}: {edge.label}."
            facts.append((text, edge.source))
    return (f"<qt>{head}<br>{escape(node.params_text)}<br><i>Models:</i> {models}{_facts_html(facts)}"
            f"<i>Click to list these models in the Models tab.</i></qt>")


def stage_tooltip(info: StageInfo) -> str:
    facts = [(f.text, f.source) for f in info.facts]
    return f"<qt><b>{escape(info.title)}</b> — {escape(info.subtitle)}{_facts_html(facts)}</qt>"


class LineageView(QWidget):
    """The lineage diagram in a scroll area, with the sources in a footnote under it.

    Signals:
      models_selected(set)   the catalog model ids of the box that was clicked
    """

    models_selected = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lineageView")
        self.setAutoFillBackground(True)  # the footnote's background: the palette's window colour, dark or light
        self.lineage: Lineage | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 6)
        lay.setSpacing(4)
        self.scroll_area = QScrollArea()
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setWidgetResizable(True)
        self.canvas = DiagramCanvas()
        self.canvas.node_clicked.connect(lambda node: self.models_selected.emit(set(node.model_ids)))
        self.scroll_area.setWidget(self.canvas)
        self.scroll_area.viewport().installEventFilter(self)
        lay.addWidget(self.scroll_area, 1)
        self.footnote = QLabel(FOOTNOTE)
        self.footnote.setObjectName("lineageFootnote")
        self.footnote.setTextFormat(Qt.TextFormat.RichText)
        self.footnote.setOpenExternalLinks(True)
        self.footnote.setWordWrap(True)
        self.footnote.setContentsMargins(MARGIN, 0, MARGIN, 0)
        self.footnote.setToolTip(f"{REPORT}\n{CODER_BLOG}\nThe model cards: https://huggingface.co/Qwen")
        small = QFont(self.footnote.font())
        small.setPointSizeF(max(7.5, small.pointSizeF() - 1))
        self.footnote.setFont(small)
        lay.addWidget(self.footnote)

    def set_catalog(self, catalog: Catalog) -> None:
        """Draw the lineage of `catalog` (laid out now, not at every paint)."""
        self.lineage = build_lineage(catalog)
        self.canvas.set_lineage(self.lineage)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.scroll_area.viewport() and event.type() == QEvent.Type.Resize:
            self.canvas.set_viewport_height(self.scroll_area.viewport().height())
        return super().eventFilter(watched, event)
