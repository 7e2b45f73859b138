"""An empty window's first screen: Add broker and Try the demo as big buttons, the demo started from inside the
window (its own broker, traffic, replier) and stopped with it, and a tree that says what it waits for."""

from __future__ import annotations

import socket

from PySide6.QtCore import Qt

from eventscope.gui.main_window import MainWindow
from tests.gui.conftest import run_until


def _listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_try_the_demo_from_an_empty_window_and_it_stops_with_the_window(qtbot, context, qloop):
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.resize(1024, 700)
    window.show()
    panel = window.brokers_panel
    assert panel.empty_state.isVisible() and panel.demo_button.isEnabled() and panel.first_add_button.isVisible()
    assert "eventscope demo" not in panel.empty_label.text()  # the old hint named a command that fails
    note = window.topic_tree.empty_note
    assert note.isVisible() and note.text().startswith("No topics yet")

    qtbot.mouseClick(panel.demo_button, Qt.MouseButton.LeftButton)
    assert not panel.demo_button.isEnabled() and not window.demo_action.isEnabled()  # one demo at a time
    tree = context.workspace.tree
    run_until(qloop, lambda: window.demo.environment is not None and context.connection is not None
              and context.connection.session.is_connected, 20, message="the demo broker connected")
    run_until(qloop, lambda: sum(1 for _ in tree.topics()) > 10, 20, message="demo traffic in the tree")
    broker = window.demo.environment.broker
    host, port = broker.host, broker.port
    run_until(qloop, lambda: not panel.empty_state.isVisible() and not note.isVisible(), message="the first screen gone")
    assert context.connection.profile.name == "demo" and _listening(host, port)

    window.close()
    assert not window.isVisible()
    window.closing.result(30)  # the demo stops after the window's connections closed
    assert window.demo.environment is None and not _listening(host, port)


def test_a_filter_with_no_match_says_so_and_esc_clears_it(qtbot, context, qloop, mosquitto):
    from eventscope.core.profile import ConnectionProfile
    from tests.conftest import publish_raw

    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port))
    run_until(qloop, lambda: context.session is not None and context.session.is_connected, message="connected")
    context.session.subscribe("#").result(10)
    publish_raw(mosquitto.port, [("plant/a", b"1")])
    view = window.topic_tree
    run_until(qloop, lambda: view.select_topic("plant/a"), message="plant/a shown")
    assert not view.empty_note.isVisible()
    qtbot.keyClicks(view.filter_edit, "nothing-like-this")
    assert view.empty_note.isVisible() and 'No topic matches "nothing-like-this"' in view.empty_note.text()
    view.filter_edit.setFocus()
    qtbot.keyClick(view.filter_edit, Qt.Key.Key_Escape)
    assert view.filter_edit.text() == "" and not view.empty_note.isVisible()
    assert view.current_node() is not None and view.current_node().topic == "plant/a"  # the user's place is kept


def test_empty_details_and_audit_say_what_they_wait_for(qtbot, context, qloop):
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    window.details_dock.raise_()
    assert "Select a topic" in window.details_pane.payload_edit.placeholderText()
    window.audit_dock.raise_()
    feed = window.audit_feed
    run_until(qloop, lambda: feed.empty_note.isVisible(), message="the audit's empty state")
    assert feed.empty_note.text().startswith("No requests or replies recorded yet")
    feed.topic_edit.setText("nothing/like/this")
    feed.apply_search()
    run_until(qloop, lambda: feed.empty_note.text() == "No recorded row matches this search.", message="no match")


def test_the_current_broker_never_changes_without_saying_so(qtbot, context, qloop, mosquitto):
    from eventscope.core.profile import ConnectionProfile

    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    for name in ("east", "west"):
        window.add_broker(ConnectionProfile(name=name, host="127.0.0.1", port=mosquitto.port))
    run_until(qloop, lambda: context.connection is not None and context.connection.broker_id == "east",
              message="east current")
    context.remove_broker("east")
    run_until(qloop, lambda: context.connection is not None and context.connection.broker_id == "west",
              message="west takes over")
    assert window.status_bar.currentMessage() == "Requests now leave on west"


def test_a_window_closed_while_the_demo_starts_leaves_nothing_running(qtbot, context, qloop):
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    started = window.demo.start()
    window.close()  # before the embedded broker is up
    environment = started.result(30)  # the starting thread finishes, then stops what it started
    run_until(qloop, lambda: not _listening(environment.broker.host, environment.broker.port), 10,
              message="the demo broker stopped")
    assert window.demo.environment is None
