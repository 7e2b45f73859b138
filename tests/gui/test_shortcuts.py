"""Every shortcut in the README's keyboard table, pressed in the real window, does what the table says."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence

from eventscope.core.profile import ConnectionProfile
from tests.conftest import publish_raw
from tests.gui.conftest import activate, run_until

README = Path(__file__).resolve().parents[2] / "README.md"
WIDGET_LEVEL = {"Ctrl+C", "Space"}  # documented as working in the tree / in the stream


def readme_shortcuts() -> list[str]:
    section = README.read_text().split("## Keyboard", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| ([A-Z][\w+]*) \|", section, flags=re.M)


def _press(qtbot, window, keys: str, target=None) -> None:
    sequence = QKeySequence(keys)[0]
    qtbot.keyClick(target or window, sequence.key(), sequence.keyboardModifiers())


def test_every_documented_shortcut_is_a_window_action(window):
    documented = readme_shortcuts()
    assert len(documented) >= 12
    window_keys = {s.toString() for a in window.findChildren(QAction) if a.shortcutContext() == Qt.WindowShortcut
                   or a in window.actions() for s in a.shortcuts()}
    for keys in documented:
        if keys in WIDGET_LEVEL:
            continue
        normalised = QKeySequence(keys.replace("Enter", "Return")).toString()
        assert normalised in window_keys or QKeySequence(keys).toString() in window_keys, keys
    help_rows = {keys for keys, _ in window.shortcut_table()}
    assert set(documented) - {"Ctrl+Enter", "Ctrl+Q"} <= help_rows | {"Ctrl+Return"}


def test_documented_shortcuts_do_what_the_table_says(window, mosquitto, qloop, qtbot):
    window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port))
    run_until(qloop, lambda: window.context.session.is_connected, message="connected")
    window.context.session.subscribe("#").result(10)
    publish_raw(mosquitto.port, [("plant/line1/temp", b"21.5")])
    tree = window.topic_tree
    run_until(qloop, lambda: tree.select_topic("plant/line1/temp"), message="the topic in the tree")
    activate(qtbot, window)

    _press(qtbot, window, "Ctrl+F")
    assert tree.filter_edit.hasFocus()
    _press(qtbot, window, "Ctrl+Shift+T")
    assert QGuiApplication.clipboard().text() == "plant/line1/temp"
    _press(qtbot, window, "Ctrl+Shift+Y")
    assert QGuiApplication.clipboard().text() == "21.5"
    tree.view.setFocus()
    QGuiApplication.clipboard().clear()
    _press(qtbot, window, "Ctrl+C", target=tree.view)
    assert QGuiApplication.clipboard().text() == "plant/line1/temp"
    assert "plant/line1/temp" in tree.breadcrumb.text().replace(" › ", "/")

    _press(qtbot, window, "Ctrl+Shift+M")
    assert window.topic_tree.publish_dialog.isVisible()
    window.topic_tree.publish_dialog.close()
    activate(qtbot, window)

    stream_tab = window.stream_view.stream_tab()
    stream_tab.table.setFocus()
    _press(qtbot, window, "Space", target=stream_tab.table)
    assert stream_tab.pause_button.isChecked()
    _press(qtbot, window, "Space", target=stream_tab.table)
    assert not stream_tab.pause_button.isChecked()

    _press(qtbot, window, "F1")
    table = window.findChild(object, "shortcutsBox")
    assert table.isVisible()
    rows = table.rows()
    assert len({keys for keys, _ in rows}) == len(rows)  # one row per key (Ctrl+Enter was listed twice)
    assert ("Ctrl+Return or Ctrl+Enter", "Send request") in rows and all("\t" not in k for k, _ in rows)
    table.close()
    activate(qtbot, window)

    _press(qtbot, window, "Ctrl+Shift+S")
    assert window.subscriptions_dialog is not None and window.subscriptions_dialog.isVisible()
    window.subscriptions_dialog.close()
    _press(qtbot, window, "Ctrl+Shift+B")
    assert window.sys_stats_view is not None and window.sys_stats_view.isVisible()
    window.sys_stats_view.close()
    activate(qtbot, window)

    for keys, dock in (("Alt+2", window.details_dock), ("Alt+1", window.request_dock),
                       ("Alt+4", window.audit_dock), ("Alt+3", window.stream_dock)):
        _press(qtbot, window, keys)
        assert not dock.visibleRegion().isEmpty(), keys  # in front of the dock tabbed with it

    _press(qtbot, window, "Ctrl+Shift+N")
    assert window.add_broker_dialog.isVisible()
    window.add_broker_dialog.close()
    activate(qtbot, window)
    _press(qtbot, window, "Ctrl+Shift+P")
    assert window.profile_manager.isVisible()
    window.profile_manager.close()
    activate(qtbot, window)

    _press(qtbot, window, "Ctrl+Shift+C")
    run_until(qloop, lambda: window.context.session is None, message="disconnected by the shortcut")
    _press(qtbot, window, "Ctrl+Shift+C")
    run_until(qloop, lambda: window.context.session is not None and window.context.session.is_connected,
              message="connected again")

    model = tree.model
    _press(qtbot, window, "Ctrl+Shift+L")
    run_until(qloop, lambda: model.rowCount() == 0, message="the tree cleared")
    publish_raw(mosquitto.port, [("plant/line1/temp", b"22.0")])
    run_until(qloop, lambda: model.rowCount() == 1, message="topics come back as messages arrive")

    _press(qtbot, window, "Ctrl+Q")
    run_until(qloop, lambda: not window.isVisible(), message="the window closed")
