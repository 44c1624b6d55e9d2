"""Hardware pane: describe() rows, warning banner, memory bars; and the detail view."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel

from explorer.fit.estimate import Breakdown, Verdict, estimate_fit
from explorer.hardware.describe import describe
from ui.models.detail import ESTIMATE_NOTE, DetailView
from ui.models.hardware_panel import HardwarePanel
from ui.models.memory_bar import MemoryBar, Need
from ui.models.table import Row

GiB = 1024**3


def test_panel_shows_placeholders_then_describe_rows(qtbot, fake_hardware) -> None:
    panel = HardwarePanel()
    qtbot.addWidget(panel)
    panel.show()
    assert any("Detecting hardware" in v for _k, v in panel.row_texts())
    assert "Detecting" in panel.ram_bar.caption()

    panel.set_hardware(fake_hardware)
    assert panel.row_texts() == [(k, v) for k, v in describe(fake_hardware)]
    assert panel.warning_banners == []
    assert panel.ram_bar.total == fake_hardware.ram_total
    assert panel.ram_bar.free == fake_hardware.ram_available
    assert len(panel.gpu_bars) == 1
    assert panel.gpu_bars[0].free == fake_hardware.gpus[0].vram_free


def test_warning_note_becomes_a_visible_copyable_banner(qtbot, cpu_build_hardware) -> None:
    panel = HardwarePanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_hardware(cpu_build_hardware)
    banners = panel.warning_banners
    assert len(banners) == 1
    banner = banners[0]
    qtbot.waitUntil(banner.isVisible, timeout=2000)
    assert "CPU-only build" in banner.label.text()
    assert banner.command_label is not None and banner.command_label.isVisible()
    assert banner.command == ('CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall '
                              "--no-cache-dir llama-cpp-python==0.3.36")
    for label in (banner.label, banner.command_label):
        assert label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    banner.copy()
    assert QGuiApplication.clipboard().text() == banner.command
    # The ordinary note is listed, not bannered.
    notes = panel.findChild(QLabel, "notes")
    assert "free space read" in notes.text()
    assert panel.notes_toggle.text() == "Probe notes (1)"
    assert not notes.isVisible()  # folded away until asked for
    panel.notes_toggle.click()
    assert notes.isVisible()
    # The GPU is there, but unused by this build.
    assert "cannot offload" in panel.gpu_bars[0].caption()


def test_no_banner_without_warning_and_banner_goes_away(qtbot, cpu_build_hardware, fake_hardware) -> None:
    panel = HardwarePanel()
    qtbot.addWidget(panel)
    panel.set_hardware(cpu_build_hardware)
    assert len(panel.warning_banners) == 1
    panel.set_hardware(fake_hardware)
    qtbot.waitUntil(lambda: panel.warning_banners == [], timeout=2000)


def test_memory_bar_fits_and_overflows(qtbot) -> None:
    bar = MemoryBar("GPU")
    qtbot.addWidget(bar)
    bar.resize(300, bar.sizeHint().height())
    bar.show()
    bar.set_capacity(8 * GiB, used_by_others=2 * GiB)
    assert bar.free == 6 * GiB

    bar.set_need(Need(weights=4 * GiB, kv=1 * GiB, compute=GiB // 2))
    assert not bar.is_overflowing
    assert bar.overflow == 0
    assert "short" not in bar.caption()
    bar.grab()  # paints without errors

    bar.set_need(Breakdown(weights=5 * GiB, kv=2 * GiB, compute=GiB // 2, overhead=GiB // 2))
    assert bar.need == Need(5 * GiB, 2 * GiB, GiB)
    assert bar.is_overflowing
    assert bar.overflow == 2 * GiB
    assert "short" in bar.caption()
    assert "Does not fit" in bar.toolTip()
    image = bar.grab().toImage()
    # The right end of the bar is painted red where the model does not fit.
    y = bar.height() - MemoryBar.BAR_HEIGHT // 2 - 1
    pixel = image.pixelColor(image.width() - 8, y)
    assert pixel.red() > 150 and pixel.green() < 120, pixel.name()

    bar.set_need(None)
    assert not bar.is_overflowing


def test_memory_bar_with_unknown_free_memory(qtbot) -> None:
    bar = MemoryBar("GPU")
    qtbot.addWidget(bar)
    bar.set_capacity(4 * GiB, used_by_others=None)
    assert bar.free == 4 * GiB
    assert "unknown" in bar.caption()


def test_panel_bars_follow_the_selected_fit(qtbot, hardware_factory, fake_catalog) -> None:
    hw = hardware_factory(vram=6, vram_free=6)
    panel = HardwarePanel()
    qtbot.addWidget(panel)
    panel.set_hardware(hw)
    model = fake_catalog.models[1]  # 8B
    q8 = next(f for f in model.files if f.quant == "Q8_0")
    fit = estimate_fit(model.shape_for(q8), hw, ctx=32768)
    assert fit.verdict is Verdict.PARTIAL
    panel.set_fit(fit, "Qwen3-8B Q8_0")
    assert panel.gpu_bars[0].need == Need.from_breakdown(fit.gpu)
    assert panel.ram_bar.need == Need.from_breakdown(fit.cpu)
    panel.set_fit(None)
    assert panel.gpu_bars[0].need is None


def test_detail_view_shows_the_selected_file(qtbot, fake_catalog, fake_hardware) -> None:
    view = DetailView()
    qtbot.addWidget(view)
    view.show()
    assert view.placeholder.isVisible()

    moe = fake_catalog.models[2]
    split = next(f for f in moe.files if f.is_split)
    fit = estimate_fit(moe.shape_for(split), fake_hardware, ctx=16384, kv_type="q8_0")
    view.set_row(Row(moe, split, fit))
    assert not view.placeholder.isVisible()
    assert view.title.text() == moe.id
    assert view.model_form.values["Repo"].text() == split.repo
    assert split.shards[0] in view.model_form.values["Files"].text()
    assert "+ 1 more shard" in view.model_form.values["Files"].text()
    assert split.shards[1] in view.model_form.values["Files"].toolTip()
    assert "2 shards" in view.model_form.keys["Files"].text()
    assert "estimate" in view.model_form.values["Size"].text()
    assert "128 total, 8 active" in view.arch_form.values["Experts"].text()
    assert "256K" in view.arch_form.values["Context"].text()
    assert view.summary.text() == fit.summary
    assert "16K" in (view.fit_title.text() if view.fit_title else "")
    assert view.breakdown[("Total", "ram")].text() != ""
    assert view.note.isVisible() and view.note.text() == ESTIMATE_NOTE  # catalog estimate

    dense = fake_catalog.models[0]
    view.set_row(Row(dense, dense.files[0], None))
    assert not view.arch_form.values["Experts"].isVisible()
    assert "waiting" in view.verdict.text()
