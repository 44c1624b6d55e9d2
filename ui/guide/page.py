"""The Guide tab: the pick for a use on this machine, the family tree, and capability against cost,
one click apart (a row of page buttons over a stack)."""

from __future__ import annotations

from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QPushButton, QStackedWidget, QVBoxLayout, QWidget

from explorer.catalog.snapshot import Catalog
from explorer.hardware.facts import Hardware
from ui.guide.chart_view import CapabilityChart
from ui.guide.lineage_view import LineageView
from ui.guide.view import GuideView


class GuidePage(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("guidePage")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 6, 0, 0)
        lay.setSpacing(0)
        self._row = QHBoxLayout()
        self._row.setContentsMargins(14, 0, 14, 0)
        self._row.addStretch(1)
        lay.addLayout(self._row)
        self.stack = QStackedWidget()
        lay.addWidget(self.stack, 1)
        self.buttons = QButtonGroup(self)
        self.buttons.idClicked.connect(self.stack.setCurrentIndex)
        self.guide = GuideView()
        self.lineage = LineageView()
        self.chart = CapabilityChart()
        self.add_page("Which model for me", self.guide)
        self.add_page("Family tree", self.lineage)
        self.add_page("Capability vs cost", self.chart)
        self.buttons.button(0).setChecked(True)

    def add_page(self, title: str, page: QWidget) -> int:
        b = QPushButton(title)
        b.setObjectName("rowButton")
        b.setCheckable(True)
        n = self.stack.addWidget(page)
        self.buttons.addButton(b, n)
        self._row.insertWidget(self._row.count() - 1, b)
        return n

    def show_page(self, index: int) -> None:
        self.stack.setCurrentIndex(index)
        self.buttons.button(index).setChecked(True)

    def set_catalog(self, catalog: Catalog) -> None:
        self.guide.set_catalog(catalog)
        self.lineage.set_catalog(catalog)
        self.chart.set_catalog(catalog)

    def set_hardware(self, hw: Hardware) -> None:
        self.guide.set_hardware(hw)
        self.chart.set_hardware(hw)

    def set_context(self, ctx: int) -> None:
        """The chart follows the Models tab's context (the pick stays at the chat context it opens with)."""
        self.chart.set_context(ctx)
