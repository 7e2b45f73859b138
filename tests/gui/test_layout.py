"""The window at 1024×700, 1366×768 and 1920×1080: every control readable and unclipped, the tree the largest."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QWidget

from eventscope.core.profile import ConnectionProfile
from eventscope.gui.main_window import MainWindow

SIZES = ((1024, 700), (1366, 768), (1920, 1080))
MIN_LINE_EDIT_CHARS = 8  # a field narrower than this shows "Fi…" instead of its text


def _clipped(widget: QWidget) -> str | None:
    """Why ``widget`` is unreadable at its current size, or None."""
    size, minimum, hint = widget.size(), widget.minimumSizeHint(), widget.sizeHint()
    if minimum.isValid() and (size.width() < minimum.width() or size.height() < minimum.height()):
        return f"smaller than its minimum size hint {minimum.width()}×{minimum.height()}"
    if isinstance(widget, (QLineEdit, QAbstractSpinBox, QComboBox, QAbstractButton)) and size.height() < hint.height():
        return f"height {size.height()} < {hint.height()} (text cut)"
    if isinstance(widget, QAbstractButton) and widget.text() and size.width() < hint.width():
        return f"button width {size.width()} < {hint.width()} (label cut)"
    if isinstance(widget, QAbstractSpinBox) and size.width() < hint.width() - 4:
        return f"spin box width {size.width()} < {hint.width()} (its text cut)"
    if isinstance(widget, QLineEdit) and size.width() < widget.fontMetrics().averageCharWidth() * MIN_LINE_EDIT_CHARS:
        return f"line edit {size.width()} px wide shows fewer than {MIN_LINE_EDIT_CHARS} characters"
    return None


def _visible_problems(window: MainWindow) -> list[str]:
    problems = []
    for widget in window.findChildren(QWidget):
        if not widget.isVisibleTo(window) or widget.window() is not window:
            continue
        if isinstance(widget, (QLineEdit, QAbstractSpinBox, QComboBox, QAbstractButton)):
            if isinstance(widget.parent(), (QAbstractSpinBox, QComboBox)):  # their own inner editor
                continue
            why = _clipped(widget)
            if why:
                problems.append(f"{type(widget).__name__} "
                                f"{widget.objectName() or widget.text() if hasattr(widget, 'text') else ''}: {why}")
    return problems


def window_on_one_broker(qtbot, context, port: int, width: int, height: int) -> MainWindow:
    """The real window at ``width``×``height`` in its default layout, with one broker open."""
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=port))
    window.resize(width, height)
    window.show()
    window.reset_layout()
    QApplication.processEvents()
    return window


@pytest.mark.parametrize("width,height", SIZES)
def test_every_control_fits_and_the_tree_gets_the_most_room(qtbot, context, mosquitto, width, height):
    window = window_on_one_broker(qtbot, context, mosquitto.port, width, height)
    assert (window.width(), window.height()) == (width, height), "minimum sizes force the window larger"
    for front in ((window.request_dock, window.stream_dock), (window.details_dock, window.audit_dock)):
        for dock in front:
            dock.raise_()
        QApplication.processEvents()
        assert _visible_problems(window) == [], [d.objectName() for d in front]
    tree = window.topic_tree
    assert tree.width() >= 0.4 * width and tree.height() >= 0.3 * height, (tree.width(), tree.height())
    for dock in (window.request_dock, window.stream_dock):
        assert dock.isVisible() and dock.width() > 0
    window.close()


def test_last_value_stays_readable_when_the_window_shrinks_after_topic_was_widened(qtbot, context, qloop, mosquitto):
    from eventscope.gui.models.topic_tree_model import COL_RATE, COL_SEEN, COL_TOPIC, COL_VALUE
    from tests.conftest import publish_raw
    from tests.gui.conftest import run_until

    window = window_on_one_broker(qtbot, context, mosquitto.port, 1920, 1080)
    run_until(qloop, lambda: context.session is not None and context.session.is_connected, message="connected")
    context.session.subscribe("#").result(10)
    publish_raw(mosquitto.port, [("plant/line1/temp", b"21.5")])
    view = window.topic_tree
    run_until(qloop, lambda: view.select_topic("plant/line1/temp"), message="the topic shown")
    header = view.view.header()
    header.resizeSection(COL_TOPIC, 900)  # the user drags Topic wide
    window.resize(1024, 700)  # then makes the window small, without Reset layout
    QApplication.processEvents()
    assert header.sectionSize(COL_VALUE) >= 120, header.sectionSize(COL_VALUE)
    index = view.model.index_for_topic("plant/line1/temp")
    rate = index.siblingAtColumn(COL_RATE).data()
    seen = index.siblingAtColumn(COL_SEEN).data()
    assert (rate.endswith("/s") or rate == "–") and seen.endswith("ago")  # one quantity a column
