"""The Guide view: the four uses, the pick card, the next step up, and the Download / Open in chat signals."""

from __future__ import annotations

from typing import Any

import pytest

from explorer.catalog.snapshot import Catalog, load_catalog
from explorer.fit.estimate import Verdict
from explorer.gguf.variant import Variant
from explorer.guide import OpenInChat, Use, pick
from explorer.hardware.facts import GPU, CPUInfo, Hardware
from explorer.hardware.llama_build import LlamaBuild
from ui.guide.view import GuideView
from ui.models.table import Row

GiB = 1024**3
CPU = CPUInfo(model="Fake Ryzen", physical_cores=8, logical_cores=16, flags=frozenset({"avx2"}))


def desktop_24gb() -> Hardware:
    gpu = GPU(index=0, vendor="nvidia", name="NVIDIA GeForce RTX 4090", vram_total=24 * GiB,
              vram_free=int(23.2 * GiB), bandwidth=1008e9)
    return Hardware(ram_total=32 * GiB, ram_available=26 * GiB, cpu=CPU, gpus=(gpu,), ram_bandwidth=60e9,
                    llama=LlamaBuild(installed=True, gpu_offload=True, system_info="CUDA : ARCHS = 890"))


def laptop(free: float = 6) -> Hardware:
    return Hardware(ram_total=8 * GiB, ram_available=int(free * GiB), cpu=CPU, ram_bandwidth=51.2e9,
                    llama=LlamaBuild(installed=True, gpu_offload=False, system_info="CPU : AVX2 = 1"))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _ready(qtbot: Any, view: GuideView, catalog: Catalog, hw: Hardware) -> None:
    with qtbot.waitSignal(view.runner.result, timeout=20000):
        view.set_catalog(catalog)
        view.set_hardware(hw)


@pytest.fixture
def guide(qtbot: Any) -> GuideView:
    v = GuideView()
    qtbot.addWidget(v)
    v.resize(1200, 640)
    v.show()
    return v


def test_waits_for_hardware_and_catalog_with_buttons_off(guide: GuideView, catalog: Catalog) -> None:
    assert "Waiting for the hardware probe" in guide.status.text()
    guide.set_catalog(catalog)
    assert guide.current is None
    assert not guide.download_button.isEnabled() and not guide.chat_button.isEnabled()
    # Before any pick, the card still says which variant serves the use and why.
    assert guide.variant_label.text() == "Instruct-2507" and "non-thinking" in guide.why_label.text()


def test_shows_the_pick_with_verdict_memory_and_speed(qtbot: Any, guide: GuideView, catalog: Catalog) -> None:
    hw = desktop_24gb()
    _ready(qtbot, guide, catalog, hw)
    expected = pick(Use.CHAT, catalog, hw, guide.ctx)
    assert expected.best is not None
    assert guide.use is Use.CHAT and guide.current == expected
    assert guide.file_label.text() == f"{expected.best.model.id}  ·  {expected.best.file.quant}"
    assert guide.verdict_pill.text() == "full GPU"
    assert guide.memory_value.text().endswith("GiB") and "VRAM" in guide.memory_detail.text()
    assert guide.speed_value.text().startswith("~") and "tok/s" in guide.speed_value.text()
    # The next size up is Qwen3-Next-80B-A3B: it would run half on the card, but take ~24 of the 26 GiB free RAM,
    # and the card says that room is what it lacks.
    assert "Bigger model:" in guide.next_label.text() and "Qwen3-Next-80B-A3B-Instruct" in guide.next_label.text()
    assert "of the 26.0 GiB free RAM (the guide keeps 15% for the rest of the machine)" in guide.next_label.text()
    assert "RTX 4090" in guide.status.text() and "8K" in guide.status.text()
    assert guide.download_button.isEnabled() and guide.chat_button.isEnabled()


def test_switching_use_is_instant_and_reasoning_opens_two_panes(qtbot: Any, guide: GuideView,
                                                                catalog: Catalog) -> None:
    _ready(qtbot, guide, catalog, desktop_24gb())
    computed = guide.runner.generation
    with qtbot.waitSignal(guide.pick_shown) as shown:
        qtbot.mouseClick(guide.use_buttons[Use.REASONING], _left())
    assert guide.runner.generation == computed  # no recomputation: all four picks were made at once
    p = shown.args[0]
    assert p.use is Use.REASONING and p.best.model.variant is Variant.THINKING_2507
    assert guide.use_buttons[Use.REASONING].isChecked() and not guide.use_buttons[Use.CHAT].isChecked()
    assert guide.variant_label.text() == "Thinking-2507 · thinking on"
    assert "<think>" in guide.why_label.text()  # shown as text, not swallowed as a tag
    assert "Instruct-2507" in guide.compare_label.text() and guide.compare_label.isVisibleTo(guide)
    assert guide.chat_button.text() == "Open in chat: thinking on and off"
    with qtbot.waitSignal(guide.open_in_chat_requested) as opened:
        qtbot.mouseClick(guide.chat_button, _left())
    request = opened.args[0]
    assert isinstance(request, OpenInChat) and request.ctx == guide.ctx
    assert [(c.model.variant, c.thinking) for c in request.panes] == [(Variant.THINKING_2507, True),
                                                                       (Variant.INSTRUCT_2507, None)]


def test_download_sends_the_models_tab_row(qtbot: Any, guide: GuideView, catalog: Catalog) -> None:
    _ready(qtbot, guide, catalog, desktop_24gb())
    guide.set_use(Use.CODE)
    best = guide.current.best if guide.current else None
    assert best is not None
    with qtbot.waitSignal(guide.download_requested) as sent:
        qtbot.mouseClick(guide.download_button, _left())
    assert sent.args[0] == Row(best.model, best.file, best.fit)
    assert best.model.variant is Variant.CODER
    with qtbot.waitSignal(guide.open_in_chat_requested) as opened:
        qtbot.mouseClick(guide.chat_button, _left())
    assert [(c.file, c.thinking) for c in opened.args[0].panes] == [(best.file, None)]
    guide.set_download_available(False)
    assert not guide.download_button.isVisible()


def test_a_new_context_recomputes_and_a_newer_machine_wins(qtbot: Any, guide: GuideView, catalog: Catalog) -> None:
    _ready(qtbot, guide, catalog, desktop_24gb())
    with qtbot.waitSignal(guide.runner.result, timeout=20000):
        guide.set_context(32768)
    assert guide.current is not None and guide.current.best is not None
    assert guide.current.best.fit.ctx == 32768 and "32K" in guide.status.text()
    # Two machines in a row: the first computation is superseded, only the laptop's picks arrive.
    with qtbot.waitSignal(guide.runner.result, timeout=20000):
        guide.set_hardware(desktop_24gb())
        guide.set_hardware(laptop())
    assert guide.current is not None and guide.current.best is not None
    assert guide.current.best.fit.verdict is Verdict.CPU_ONLY and "no GPU" in guide.status.text()


def test_fallback_notes_and_nothing_runs(qtbot: Any, guide: GuideView, catalog: Catalog) -> None:
    _ready(qtbot, guide, catalog, laptop())
    guide.set_use(Use.CODE)
    assert guide.variant_label.text() == "Instruct-2507"  # no Coder below 30B-A3B
    assert "no Coder runs well here" in guide.notes_label.text() and guide.notes_label.isVisibleTo(guide)
    with qtbot.waitSignal(guide.runner.result, timeout=20000):
        guide.set_hardware(laptop(free=0.25))
    assert guide.file_label.text() == "Nothing runs here" and guide.verdict_pill.text() == "does not fit"
    assert not guide.download_button.isEnabled() and not guide.chat_button.isEnabled()
    assert "Smallest model:" in guide.next_label.text()  # nothing picked: where to start, not "bigger"


def _left() -> Any:
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton
