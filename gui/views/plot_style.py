"""Plots that follow the window's palette (light or dark), not pyqtgraph's black background."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette


def follow_palette(plot: pg.PlotWidget) -> QColor:
    """Background, axes, labels and legend in ``plot``'s palette; returns the colour for a first curve."""
    palette = plot.palette()
    text = palette.color(QPalette.ColorRole.Text)
    plot.setBackground(palette.color(QPalette.ColorRole.Base))
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(text))
        axis.setTextPen(pg.mkPen(text))
    item = plot.getPlotItem()
    legend = item.legend if item is not None else None
    if legend is not None:
        legend.setLabelTextColor(text)
        backdrop = palette.color(QPalette.ColorRole.Base)
        backdrop.setAlpha(200)  # readable over the curves it covers
        legend.setBrush(pg.mkBrush(backdrop))
    return palette.color(QPalette.ColorRole.Highlight)


class ClockAxis(pg.AxisItem):
    """A time axis in wall-clock hours, minutes and seconds (pyqtgraph's date axis showed "38.000 39.000"
    over a short span)."""

    def __init__(self, orientation: str = "bottom") -> None:
        super().__init__(orientation)
        self.enableAutoSIPrefix(False)  # epoch seconds are not "× 1e9"
        self.setLabel("time (local)")

    def tickStrings(self, values, scale, spacing) -> list[str]:  # noqa: N802 (pyqtgraph's name)
        import time

        if spacing >= 1:
            return [time.strftime("%H:%M:%S", time.localtime(v)) for v in values]
        return [time.strftime("%H:%M:%S", time.localtime(v)) + f".{int(round((v % 1) * 1000)):03d}" for v in values]


def fit_values(plot: pg.PlotWidget, values: list[float]) -> None:
    """Y range for ``values``: automatic, except that a flat or nearly flat line keeps a readable margin
    (autoscaling 2,456 alone gave an axis of 2455.9 … 2456.7 that made a constant look like noise)."""
    if not values:
        plot.enableAutoRange(axis="y")
        return
    low, high = min(values), max(values)
    if high - low < max(1.0, abs(high) * 0.01):
        margin = max(1.0, abs(high) * 0.1)
        item = plot.getPlotItem()
        if item is not None:
            item.getViewBox().setYRange(low - margin, high + margin, padding=0)
    else:
        plot.enableAutoRange(axis="y")
