"""The installed Qt binding does not leak references to None (PySide6 6.12.0 on Python 3.11 does).

Every Qt call that returns nothing dropped one reference to None there; after some thousands of calls
(a minute of streaming into a chat pane) CPython aborts with "none_dealloc: deallocating None".
pyproject.toml keeps PySide6 below 6.12 for this; this test tells when an upgrade brings it back.
"""

from __future__ import annotations

import sys

import pytest
from pytestqt.qtbot import QtBot


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12 on")
def test_void_qt_calls_keep_none_alive(qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QLabel

    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for i in range(2000):
        label.setText(str(i))
        label.setFixedHeight(20 + i % 3)
    assert sys.getrefcount(None) - before > -100, "the Qt binding leaks references to None; pin another version"
