"""Plots readable on any palette: a flat line keeps a margin, the time axis reads as a clock, several fields
are scaled each to its own range with their names and ranges in the legend."""

from __future__ import annotations

import time

import pyqtgraph as pg
from PySide6.QtGui import QPalette

from eventscope.gui.views.plot_style import ClockAxis, fit_values, follow_palette


def test_a_flat_line_keeps_a_readable_margin_and_the_axis_is_a_clock(qtbot):
    plot = pg.PlotWidget(axisItems={"bottom": ClockAxis()})
    qtbot.addWidget(plot)
    fit_values(plot, [2456.0, 2456.0, 2456.0])
    low, high = plot.getPlotItem().getViewBox().viewRange()[1]
    assert high - low >= 400  # not 2455.9 … 2456.7
    at = time.mktime((2026, 12, 6, 14, 5, 9, 0, 0, -1))
    assert plot.getAxis("bottom").tickStrings([at], 1.0, 5.0) == ["14:05:09"]
    assert follow_palette(plot) == plot.palette().color(QPalette.ColorRole.Highlight)
    assert plot.backgroundBrush().color() == plot.palette().color(QPalette.ColorRole.Base)


def test_several_fields_are_scaled_each_to_its_range_with_a_named_legend(window):
    import json

    from eventscope.core.models.topic_tree import TopicTree
    from eventscope.core.records import MessageRecord
    from eventscope.gui.views.details_pane import ALL_FIELDS

    tree = TopicTree()
    tree.apply([MessageRecord("m", json.dumps({"cpu": c, "heap": h}).encode(), received=100.0 + i)
                for i, (c, h) in enumerate(((10, 2_000_000), (30, 2_500_000), (20, 3_000_000)))])
    pane = window.details_pane
    pane.show_topic(tree.node("m"))
    pane.plot_field.setCurrentIndex(pane.plot_field.findData(ALL_FIELDS))
    assert pane.plotted_values == [0.0, 1.0, 0.5]  # cpu 10 … 30
    legend = pane.plot.getPlotItem().legend
    assert [label.text for _sample, label in legend.items] == ["cpu (10 … 30)", "heap (2e+06 … 3e+06)"]
