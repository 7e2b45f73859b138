"""Status colours keep a 4.5:1 contrast on light and dark palettes, and the brokers table follows the palette."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from eventscope.core.profile import ConnectionProfile
from eventscope.gui.models.broker_table_model import STATE
from eventscope.gui.status_colours import KINDS, MIN_CONTRAST, contrast, is_dark, status_colour
from tests.conftest import free_port


def _palette(base: str, text: str) -> QPalette:
    palette = QPalette()
    for group in (QPalette.Active, QPalette.Inactive):
        palette.setColor(group, QPalette.Base, QColor(base))
        palette.setColor(group, QPalette.Window, QColor(base))
        palette.setColor(group, QPalette.Text, QColor(text))
    return palette


LIGHT, DARK = _palette("#ffffff", "#000000"), _palette("#232629", "#eff0f1")  # Qt's default and a Breeze-dark base


@pytest.mark.parametrize("palette", [LIGHT, DARK], ids=["light", "dark"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_status_colour_reads_on_its_palette(qapp, palette, kind):
    base = palette.color(QPalette.Base)
    assert contrast(status_colour(kind, palette), base) >= MIN_CONTRAST


def test_the_brokers_table_switches_to_the_dark_variant(window, qapp):
    window.add_broker(ConnectionProfile(name="nowhere", host="127.0.0.1", port=free_port()))
    model = window.brokers_panel.model
    light_colour = model.index(0, STATE).data(Qt.ForegroundRole).color()
    previous = QApplication.palette()
    QApplication.setPalette(DARK)
    try:
        assert is_dark()
        dark_colour = model.index(0, STATE).data(Qt.ForegroundRole).color()
        assert dark_colour != light_colour
        assert contrast(dark_colour, DARK.color(QPalette.Base)) >= MIN_CONTRAST
    finally:
        QApplication.setPalette(previous)
