"""Status colours that stay readable: each has a variant for light and for dark palettes, picked by the
palette's base colour, with a WCAG contrast of at least 4.5:1 against it (tested)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

# kind: (on a light background, on a dark background)
_COLOURS = {
    "ok": ("#1b5e20", "#81c784"),
    "busy": ("#7a5c00", "#ffd54f"),
    "warn": ("#a33f00", "#ffb74d"),
    "error": ("#b71c1c", "#ef9a9a"),
    "muted": ("#595959", "#bdbdbd"),
}
KINDS = tuple(_COLOURS)
MIN_CONTRAST = 4.5


def _luminance(colour: QColor) -> float:
    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4
    return 0.2126 * channel(colour.redF()) + 0.7152 * channel(colour.greenF()) + 0.0722 * channel(colour.blueF())


def contrast(first: QColor, second: QColor) -> float:
    """The WCAG contrast ratio of two colours (1 to 21)."""
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def is_dark(palette: QPalette | None = None) -> bool:
    palette = palette or QApplication.palette()
    return _luminance(palette.color(QPalette.ColorRole.Base)) < 0.2


def status_colour(kind: str, palette: QPalette | None = None) -> QColor:
    light, dark = _COLOURS[kind]
    return QColor(dark if is_dark(palette) else light)


def status_style(kind: str, bold: bool = False) -> str:
    """A style sheet fragment for a label of this kind."""
    return f"color: {status_colour(kind).name()}" + ("; font-weight: bold" if bold else "")
