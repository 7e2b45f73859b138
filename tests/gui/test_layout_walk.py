"""Every tab and dialog of the window at 1024×700: no control below its minimum size hint, no button or
field cut, no text clipped without its tooltip, and the window's size never changes by itself."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QLabel, QTabWidget, QWidget

from tests.conftest import publish_raw
from tests.gui.conftest import run_until
from tests.gui.test_layout import _clipped, window_on_one_broker

WIDTH, HEIGHT = 1024, 700
CONTROLS = ("QLineEdit", "QAbstractSpinBox", "QComboBox", "QAbstractButton")


def problems_in(top: QWidget) -> list[str]:
    """What is unreadable among ``top``'s visible controls and labels."""
    from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit

    found = []
    for widget in top.findChildren(QWidget):
        if not widget.isVisibleTo(top) or widget.window() is not top:
            continue
        name = widget.objectName() or (widget.text() if hasattr(widget, "text") else "")
        if isinstance(widget, (QLineEdit, QAbstractSpinBox, QComboBox, QAbstractButton)):
            if isinstance(widget.parent(), (QAbstractSpinBox, QComboBox)):
                continue
            why = _clipped(widget)
            if why:
                found.append(f"{type(widget).__name__} {name}: {why}")
        elif isinstance(widget, QLabel) and widget.text() and not widget.wordWrap() and not widget.toolTip():
            if widget.width() < widget.minimumSizeHint().width() - 1:
                found.append(f"QLabel {name!r}: {widget.width()} px shows less than its text "
                             f"({widget.minimumSizeHint().width()} px) and has no tooltip")
    return found


def walk_tabs(top: QWidget, label: str) -> list[str]:
    """Problems on every tab of every tab widget in ``top`` (each tab brought forward in turn)."""
    found = problems_in(top)
    for tabs in top.findChildren(QTabWidget):
        if not tabs.isVisibleTo(top):
            continue
        for index in range(tabs.count()):
            tabs.setCurrentIndex(index)
            QApplication.processEvents()
            found += [f"{label} / {tabs.tabText(index)}: {p}" for p in problems_in(top)]
    return sorted(set(found))


@pytest.fixture(params=["light", "dark"])
def walked_window(request, qtbot, qapp, context, qloop, mosquitto):
    """The window at 1024×700 on a light and on a dark palette (the plots, chips and notes follow it)."""
    from tests.gui.test_status_colours import DARK

    before = qapp.palette()
    if request.param == "dark":
        qapp.setPalette(DARK)
    window = window_on_one_broker(qtbot, context, mosquitto.port, WIDTH, HEIGHT)
    run_until(qloop, lambda: context.session is not None and context.session.is_connected, message="connected")
    yield window
    window.close()
    qapp.setPalette(before)


def test_every_panel_tab_at_1024x700(walked_window, qloop, mosquitto):
    window = walked_window
    publish_raw(mosquitto.port, [("us-east/hello/request", b'{"n": 1}')],
                [{"ResponseTopic": "us-east/hello/response", "CorrelationData": b"c1"}])
    for front in (window.request_dock, window.details_dock, window.stream_dock, window.audit_dock):
        front.raise_()
        QApplication.processEvents()
        assert walk_tabs(window, front.objectName()) == []
        assert (window.width(), window.height()) == (WIDTH, HEIGHT)
    plot = window.details_pane.plot  # drawn in the palette's colours, light or dark, never pyqtgraph's black
    assert plot.backgroundBrush().color() == plot.palette().color(QPalette.ColorRole.Base)


@pytest.mark.parametrize("opener", ["open_add_broker", "open_profile_manager", "open_publish", "open_subscriptions",
                                    "open_sys_stats", "show_shortcuts", "open_mesh_latency"])
def test_every_dialog_at_1024x700(walked_window, opener):
    window = walked_window
    dialog = getattr(window, opener)()
    assert dialog is not None, opener
    QApplication.processEvents()
    assert dialog.width() <= WIDTH and dialog.height() <= HEIGHT, (dialog.width(), dialog.height())
    assert walk_tabs(dialog, opener) == []
    assert (window.width(), window.height()) == (WIDTH, HEIGHT)
    dialog.close()
