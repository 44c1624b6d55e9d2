"""Light and dark themes (ui/theme.py): the palette, the style sheet, the painted widgets' colours, the View >
Theme actions, and following the system's colour scheme live."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QVBoxLayout, QWidget

from explorer.fit.estimate import Verdict
from explorer.hardware.facts import Hardware
from ui import theme
from ui.guide.chart_view import contrast
from ui.main_window import MainWindow
from ui.services import Services

MIN_TEXT_CONTRAST = 4.5  # WCAG AA for body text
MIN_MUTED_CONTRAST = 4.0  # the grey of keys and notes (the light theme's #6b7483 on #f6f7f9 is 4.4)


@pytest.fixture(autouse=True)
def _light_again(restore_theme: None) -> None:
    """Each test leaves the app as it found it (conftest's `restore_theme`)."""


@pytest.fixture
def window(qtbot, fake_hardware: Hardware, fake_catalog, tmp_path: Path) -> MainWindow:
    services = Services(probe_hardware=lambda: fake_hardware, load_catalog=lambda: fake_catalog,
                        models_dir=tmp_path / "models", conversations_dir=tmp_path / "conversations")
    w = MainWindow(services)
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitUntil(lambda: w.hardware is not None, timeout=10_000)
    return w


def _sheet_color(sheet: str, selector: str, prop: str) -> QColor:
    """`prop`'s colour in the first rule whose selector list starts with `selector`."""
    match = re.search(r"(?m)^" + re.escape(selector.rstrip(" {")) + r"[ ,{][^{]*\{([^}]*)\}", sheet)
    assert match, selector
    value = re.search(rf"(?:^|[\s;]){prop}\s*:\s*(#[0-9a-fA-F]{{6}})", match.group(1))
    assert value, (selector, prop)
    return QColor(value.group(1))


def test_forcing_dark_sets_a_dark_palette_and_the_dark_sheet(qapp: QApplication) -> None:
    theme.set_theme(qapp, "dark")
    assert theme.current_theme() == "dark" and theme.is_dark()
    pal = qapp.palette()
    assert pal.color(QPalette.ColorRole.Window).lightnessF() < 0.2
    assert pal.color(QPalette.ColorRole.WindowText).lightnessF() > 0.8
    assert qapp.styleSheet() == theme.load_style_sheet(dark=True) != theme.load_style_sheet()
    assert "#ffffff" not in qapp.styleSheet().split("QPushButton#primaryButton {")[0]
    assert theme.DARK["MEM_FREE"] == theme.MEM_FREE
    assert theme.VERDICT_COLORS[Verdict.FULL_GPU] == theme.DARK_VERDICTS[Verdict.FULL_GPU]
    theme.set_theme(qapp, "light")
    assert not theme.is_dark() and qapp.styleSheet() == theme.load_style_sheet()
    assert qapp.palette().color(QPalette.ColorRole.Window).lightnessF() > 0.9
    assert theme.LIGHT["MEM_FREE"] == theme.MEM_FREE
    with pytest.raises(ValueError):
        theme.set_theme(qapp, "sepia")


def test_every_colour_of_the_light_sheet_has_a_dark_one() -> None:
    light = theme.load_style_sheet()
    missing = {c for c in theme.SHEET_COLOR.findall(light) if c.lower() not in theme.DARK_SHEET}
    assert not missing


@pytest.mark.parametrize("dark", [False, True])
def test_text_contrasts_with_its_background(dark: bool) -> None:
    pal = theme.make_palette(dark)
    R = QPalette.ColorRole
    for fg, bg in ((R.WindowText, R.Window), (R.Text, R.Base), (R.ButtonText, R.Button),
                   (R.HighlightedText, R.Highlight), (R.ToolTipText, R.ToolTipBase)):
        assert contrast(pal.color(fg), pal.color(bg)) >= MIN_TEXT_CONTRAST, (dark, fg, bg)
    sheet = theme.load_style_sheet(dark)
    window_bg = _sheet_color(sheet, "QMainWindow", "background")
    for selector in ("QWidget {", "QLabel#paneTitle", "QLabel#detailTitle"):
        assert contrast(_sheet_color(sheet, selector, "color"), window_bg) >= MIN_TEXT_CONTRAST, (dark, selector)
    for selector in ("QLabel#rowKey", "QLabel#muted"):
        assert contrast(_sheet_color(sheet, selector, "color"), window_bg) >= MIN_MUTED_CONTRAST, (dark, selector)
    card = _sheet_color(sheet, "QFrame#card", "background")
    assert contrast(_sheet_color(sheet, "QLabel#cardTitle", "color"), card) >= MIN_TEXT_CONTRAST
    bubble = _sheet_color(sheet, "QFrame#userBubble", "background")
    assert contrast(_sheet_color(sheet, "QLabel#userText", "color"), bubble) >= MIN_TEXT_CONTRAST
    banner = _sheet_color(sheet, "QFrame#warningBanner", "background")
    for selector in ("QFrame#warningBanner QLabel#bannerTitle", "QLabel#note", "QLabel#bannerText"):
        assert contrast(_sheet_color(sheet, selector, "color"), banner) >= MIN_TEXT_CONTRAST, (dark, selector)
    colors = theme.DARK if dark else theme.LIGHT
    for name in ("CODE_BACKGROUND", "INLINE_CODE_BACKGROUND"):
        assert contrast(pal.color(R.Text), QColor(colors[name])) >= MIN_TEXT_CONTRAST, (dark, name)
    assert contrast(QColor(colors["LINK_COLOR"]), pal.color(R.Base)) >= MIN_TEXT_CONTRAST
    assert contrast(QColor(colors["TEXT_MUTED"]), pal.color(R.Base)) >= MIN_TEXT_CONTRAST
    for pill, ink in (theme.DARK_VERDICTS if dark else theme.LIGHT_VERDICTS).values():  # the fit badges
        assert contrast(QColor(ink), QColor(pill)) >= MIN_TEXT_CONTRAST, (dark, pill, ink)


@pytest.mark.parametrize("dark", [False, True])
def test_a_shown_label_contrasts_with_its_window(qtbot, qapp: QApplication, dark: bool) -> None:
    theme.set_theme(qapp, "dark" if dark else "light")
    w = QMainWindow()
    qtbot.addWidget(w)
    body = QWidget()
    QVBoxLayout(body).addWidget(label := QLabel("Some text"))
    w.setCentralWidget(body)
    w.show()
    qtbot.waitExposed(w)
    image = w.grab().toImage()
    background = image.pixelColor(2, 2)
    assert (background.lightnessF() < 0.2) == dark
    assert contrast(label.palette().color(label.foregroundRole()), background) >= MIN_TEXT_CONTRAST


MIN_INDICATOR_CONTRAST = 3.0  # WCAG 2.1's 1.4.11 for the parts of a control a person must see


@pytest.mark.parametrize("dark", [False, True])
def test_a_check_box_shows_its_box_on_either_theme(qtbot, qapp: QApplication, dark: bool) -> None:
    """The box of an unchecked check box (the chat's Think) stands out from the window: Fusion's own edge is the
    window's colour darkened, which on the dark window was all but invisible; the sheet draws it now."""
    from PySide6.QtWidgets import QCheckBox, QStyle, QStyleOptionButton

    theme.set_theme(qapp, "dark" if dark else "light")
    sheet = theme.load_style_sheet(dark)
    window_bg = _sheet_color(sheet, "QMainWindow", "background")
    edge = _sheet_color(sheet, "QCheckBox::indicator", "border-color")
    assert contrast(edge, window_bg) >= MIN_INDICATOR_CONTRAST
    assert contrast(edge, _sheet_color(sheet, "QCheckBox::indicator", "background")) >= MIN_INDICATOR_CONTRAST
    checked = _sheet_color(sheet, "QCheckBox::indicator:checked", "background")
    assert contrast(checked, window_bg) >= MIN_INDICATOR_CONTRAST
    w = QMainWindow()
    qtbot.addWidget(w)
    body = QWidget()
    QVBoxLayout(body).addWidget(box := QCheckBox("Think"))
    w.setCentralWidget(body)
    w.show()
    qtbot.waitExposed(w)
    option = QStyleOptionButton()
    box.initStyleOption(option)
    where = box.style().subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, option, box)
    image = box.grab().toImage()
    background = w.grab().toImage().pixelColor(2, 2)
    seen = max(contrast(image.pixelColor(x, y), background)
               for x in range(where.left(), where.right() + 1) for y in range(where.top(), where.bottom() + 1))
    assert seen >= MIN_INDICATOR_CONTRAST, (dark, seen)


def test_the_theme_switch_repaints_the_window_without_warnings(qtbot, qapp: QApplication,
                                                                window: MainWindow) -> None:
    """Qt warnings fail a test here (tests/conftest.py): each tab is shown and painted in both themes."""
    for choice in ("dark", "light", "dark"):
        theme.set_theme(qapp, choice)
        for i in range(window.tabs.count()):
            window.tabs.setCurrentIndex(i)
            image = window.grab().toImage()
            corner = image.pixelColor(image.width() // 2, image.height() - 40)
            assert corner.isValid()
        top = window.grab().toImage().pixelColor(window.width() // 2, 4)  # the menu bar
        assert (top.lightnessF() < 0.3) == (choice == "dark"), choice
    window.tabs.setCurrentIndex(0)


def test_view_theme_actions_switch_live(qtbot, qapp: QApplication, window: MainWindow) -> None:
    actions = window.menus.theme_actions
    assert set(actions) == {"system", "light", "dark"}
    assert [a.text().replace("&", "") for a in window.menus.theme_menu.actions()] == ["System", "Light", "Dark"]
    actions["dark"].trigger()
    assert theme.current_theme() == "dark" and theme.is_dark() and actions["dark"].isChecked()
    assert qapp.styleSheet() == theme.load_style_sheet(dark=True)
    actions["light"].trigger()
    assert theme.current_theme() == "light" and not theme.is_dark() and not actions["dark"].isChecked()
    actions["system"].trigger()
    assert theme.current_theme() == "system"
    assert theme.is_dark() == (qapp.styleHints().colorScheme() == Qt.ColorScheme.Dark)


def test_system_follows_the_colour_scheme_live_unless_forced(qapp: QApplication) -> None:
    theme.set_theme(qapp, "system")
    qapp.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert theme.is_dark() and qapp.styleSheet() == theme.load_style_sheet(dark=True)
    qapp.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert not theme.is_dark()
    theme.set_theme(qapp, "light")
    qapp.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert not theme.is_dark()  # forced light stays light


def test_transcript_code_blocks_and_thinking_follow_the_theme(qtbot, qapp: QApplication, view) -> None:
    from ui.chat.messages import AssistantMessage

    msg = AssistantMessage()
    qtbot.addWidget(msg)
    msg.append_thinking("Let me think.")
    msg.append_answer("Here:\n\n```python\nprint(1)\n```\n\nand `x`.\n")
    msg.finish(None)

    def code_background() -> str:
        block = msg.answer_view.document().firstBlock()
        while block.isValid():
            if "print(1)" in block.text():
                return block.blockFormat().background().color().name()
            block = block.next()
        raise AssertionError("no code block")

    assert code_background() == theme.LIGHT["CODE_BACKGROUND"]
    theme.set_theme(qapp, "dark")
    assert code_background() == theme.DARK["CODE_BACKGROUND"]
    assert msg.thinking_view.palette().color(QPalette.ColorRole.Text).name() == theme.DARK["TEXT_MUTED"]
    theme.set_theme(qapp, "light")
    assert code_background() == theme.LIGHT["CODE_BACKGROUND"]
