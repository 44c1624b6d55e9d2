"""The lineage diagram (ui.guide.lineage_view): every box laid out inside the canvas without overlaps, a click
on a box emits its model ids, the tooltip at a box names its sources, and a dark palette keeps it readable."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from explorer.catalog.snapshot import Catalog, load_catalog
from explorer.guide.lineage import Stage
from ui.guide.lineage_view import LineageView


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def view(qtbot: Any, catalog: Catalog) -> LineageView:
    v = LineageView()
    qtbot.addWidget(v)
    v.set_catalog(catalog)
    v.resize(1100, 600)
    v.show()
    qtbot.waitExposed(v)
    return v


@pytest.mark.parametrize("size", [(1100, 600), (1400, 800), (1900, 1000)])
def test_every_node_is_inside_the_canvas_and_none_overlap(view: LineageView, catalog: Catalog,
                                                          size: tuple[int, int]) -> None:
    view.resize(*size)
    for _ in range(3):  # the scroll area lays out on posted events (a scroll bar may come and take width)
        QApplication.processEvents()
    canvas = view.canvas
    lineage = view.lineage
    assert lineage is not None
    rects = canvas.node_rects
    assert set(rects) == {n.key for n in lineage.nodes}
    area = canvas.rect().toRectF()
    for key, rect in rects.items():
        assert area.contains(rect), (key, rect, area)
        assert rect.width() >= 160 and rect.height() >= 40
    for (a, ra), (b, rb) in combinations(rects.items(), 2):
        assert not ra.intersects(rb), (a, b)
    # Columns left to right in stage order; a node's headers sit above it.
    for node in lineage.nodes:
        header = canvas.column_rects[node.stage]
        assert header.bottom() <= rects[node.key].top()
    xs = [canvas.column_rects[s.stage].left() for s in lineage.stages]
    assert xs == sorted(xs)
    # At 1100 wide everything fits across: no horizontal scrolling.
    assert canvas.width() <= view.scroll_area.viewport().width()


def test_clicking_a_node_emits_its_model_ids(qtbot: Any, view: LineageView) -> None:
    rect = view.canvas.node_rects["2507:30B-A3B"]
    with qtbot.waitSignal(view.models_selected, timeout=2000) as blocker:
        qtbot.mouseClick(view.canvas, Qt.MouseButton.LeftButton, pos=rect.center().toPoint())
    assert blocker.args == [{"Qwen3-30B-A3B-Instruct-2507", "Qwen3-30B-A3B-Thinking-2507"}]
    assert view.canvas.selected == "2507:30B-A3B"
    # Between boxes nothing is emitted.
    gap = QPoint(int(rect.left()) - 10, int(rect.center().y()))
    with qtbot.assertNotEmitted(view.models_selected):
        qtbot.mouseClick(view.canvas, Qt.MouseButton.LeftButton, pos=gap)


def test_each_box_selects_exactly_its_models_and_all_are_covered(qtbot: Any, view: LineageView,
                                                                 catalog: Catalog) -> None:
    seen: list[set[str]] = []
    view.models_selected.connect(seen.append)
    for rect in view.canvas.node_rects.values():
        qtbot.mouseClick(view.canvas, Qt.MouseButton.LeftButton, pos=rect.center().toPoint())
    assert len(seen) == len(view.canvas.node_rects)
    ids = [mid for s in seen for mid in s]
    assert sorted(ids) == sorted(m.id for m in catalog.models)


def test_the_tooltip_at_a_node_lists_its_facts_and_sources(view: LineageView) -> None:
    canvas = view.canvas
    tip = canvas.tooltip_at(canvas.node_rects["hybrid:235B-A22B"].center())
    assert "235B-A22B · MoE, 22B active" in tip
    assert "long chain-of-thought cold start" in tip and "arXiv:2505.09388" in tip
    assert tip.count("Source:") >= 3
    tip = canvas.tooltip_at(canvas.node_rects["2507:4B"].center())
    assert "huggingface.co/Qwen/Qwen3-4B-Thinking-2507" in tip and "From Hybrid (April 2025) 4B" in tip
    tip = canvas.tooltip_at(canvas.node_rects["coder:480B-A35B"].center())
    assert "qwenlm.github.io/blog/qwen3-coder" in tip and "no arrow" in tip
    # A column header explains its stage, with sources; the empty space between boxes has no tooltip.
    header = canvas.tooltip_at(canvas.column_rects[Stage.HYBRID].center())
    assert "four post-training stages" in header and "Source:" in header
    assert canvas.tooltip_at(QPointF(2, 2)) == ""
    assert "arxiv.org/abs/2505.09388" in view.footnote.text()


def test_a_dark_palette_draws_light_text_on_dark_boxes(qtbot: Any, catalog: Catalog) -> None:
    v = LineageView()
    qtbot.addWidget(v)
    pal = v.palette()
    for role, color in ((QPalette.ColorRole.Window, "#1e1f22"), (QPalette.ColorRole.Base, "#2b2d30"),
                        (QPalette.ColorRole.WindowText, "#e8e8e8"), (QPalette.ColorRole.Text, "#e8e8e8")):
        pal.setColor(role, QColor(color))
    v.setPalette(pal)
    v.set_catalog(catalog)
    v.resize(1100, 600)
    v.show()
    qtbot.waitExposed(v)
    image = v.canvas.grab().toImage()
    rect = v.canvas.node_rects["base:8B"]
    inside = image.pixelColor(int(rect.left()) + 40, int(rect.center().y()))  # the box, between its lines
    assert inside.lightness() < 90
    light = [image.pixelColor(x, y).lightness() for x in range(int(rect.left()) + 12, int(rect.left()) + 60)
             for y in range(int(rect.top()) + 4, int(rect.top()) + 24)]
    assert max(light) > 170  # the size label is drawn in the light text colour


def test_an_empty_view_paints_without_a_catalog(qtbot: Any) -> None:
    v = LineageView()
    qtbot.addWidget(v)
    v.resize(800, 400)
    v.show()
    qtbot.waitExposed(v)
    assert v.canvas.node_rects == {} and v.canvas.tooltip_at(QPointF(100, 100)) == ""
    assert not v.canvas.grab().isNull()


def test_the_models_tab_shows_the_models_of_a_clicked_box(qtbot: Any, view: LineageView, catalog: Catalog) -> None:
    from ui.models.tab import ModelsTab
    from ui.models.table import ROW_ROLE

    tab = ModelsTab()
    qtbot.addWidget(tab)
    tab.set_catalog(catalog)
    tab.filters.search.setText("Q8_0")  # whatever the person had typed is replaced
    view.models_selected.connect(tab.show_models)
    for key in ("2507:30B-A3B", "base:8B", "coder:480B-A35B"):
        node = view.lineage.node(key) if view.lineage else None
        assert node is not None
        qtbot.mouseClick(view.canvas, Qt.MouseButton.LeftButton, pos=view.canvas.node_rects[key].center().toPoint())
        shown = {tab.proxy.index(r, 0).data(ROW_ROLE).model.id for r in range(tab.proxy.rowCount())}
        assert shown == set(node.model_ids), key
        files = sum(len(m.files) for m in catalog.models if m.id in node.model_ids)
        assert tab.proxy.rowCount() == files
