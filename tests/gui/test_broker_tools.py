"""Tools on one broker: its subscriptions edited live, and its $SYS statistics with a plot."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from eventscope.core.profile import ConnectionProfile
from tests.conftest import publish_raw
from tests.gui.conftest import run_until


def test_subscriptions_are_edited_live_and_survive_a_reconnect(window, mosquitto, qloop, qtbot):
    window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port))
    context = window.context
    run_until(qloop, lambda: context.session.is_connected, message="connected")
    context.unsubscribe("east", "#").result(10)  # start from nothing, to see exactly what the editor adds
    dialog = window.open_subscriptions()
    qtbot.keyClicks(dialog.filter_edit, "plant/#/x")
    qtbot.mouseClick(dialog.add_button, Qt.LeftButton)
    assert dialog.result_label.text().startswith("Not subscribed:")
    dialog.filter_edit.setText("plant/+/temp")
    dialog.qos_combo.setCurrentIndex(1)
    qtbot.mouseClick(dialog.add_button, Qt.LeftButton)
    run_until(qloop, lambda: dialog.result_label.text() == "Subscribed to plant/+/temp", message="the SUBACK")
    assert [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())] == ["plant/+/temp"]
    assert dialog.table.item(0, 1).text() == "1"
    tree = context.workspace.tree
    publish_raw(mosquitto.port, [("plant/a/temp", b"1"), ("plant/a/pressure", b"2")])
    run_until(qloop, lambda: tree.node("plant/a/temp", "east") is not None, message="the subscribed topic")
    assert tree.node("plant/a/pressure", "east") is None  # not subscribed

    context.disconnect("east")
    context.reconnect("east")
    run_until(qloop, lambda: context.session is not None and context.session.is_connected, message="reconnected")
    assert context.session.subscriptions == {"plant/+/temp": 1}  # with its QoS

    dialog = window.open_subscriptions()
    dialog.table.selectRow(0)
    qtbot.mouseClick(dialog.remove_button, Qt.LeftButton)
    run_until(qloop, lambda: dialog.result_label.text() == "Unsubscribed from plant/+/temp", message="the UNSUBACK")
    assert dialog.table.rowCount() == 0 and context.session.subscriptions == {}
    dialog.close()


def test_sys_statistics_fill_in_and_plot(window, mosquitto_factory, qloop):
    broker = mosquitto_factory("allow_anonymous true\nsys_interval 1\n")
    window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=broker.port))
    run_until(qloop, lambda: window.context.session.is_connected, message="connected")
    view = window.open_sys_stats()
    assert "$SYS/#" in window.context.session.subscriptions

    def value(label: str) -> str:
        rows = [r for r in range(view.table.rowCount()) if view.table.item(r, 0).text() == label]
        return view.table.item(rows[0], 1).text()

    run_until(qloop, lambda: value("Clients connected").isdigit() and int(value("Clients connected")) >= 1,
              timeout=15, message="$SYS values")
    assert value("Version").startswith("mosquitto version")
    view.table.selectRow(2)  # clients connected
    run_until(qloop, lambda: len(view.plotted()) >= 2, timeout=15, message="two samples plotted")
    view.close()
    run_until(qloop, lambda: "$SYS/#" not in window.context.session.subscriptions, message="unsubscribed on close")


def test_a_tool_never_takes_away_a_subscription_it_did_not_make(window, mosquitto, qloop, qtbot):
    window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port))
    context = window.context
    run_until(qloop, lambda: context.session.is_connected, message="connected")
    session = context.session
    view = window.open_sys_stats()  # the $SYS view holds $SYS/# …
    tab = window.stream_view.add_stream("$SYS/#")  # … and so does a $ stream tab
    assert "$SYS/#" in session.subscriptions and context.workspace.subscriptions.held_filters("east") == {"$SYS/#"}
    view.close()
    assert "$SYS/#" in session.subscriptions  # the tab still needs it
    window.stream_view._on_tab_close_requested(window.stream_view.tabs.indexOf(tab))
    run_until(qloop, lambda: "$SYS/#" not in session.subscriptions, message="released by the last tool")

    editor = window.open_subscriptions()  # now the user subscribes to it themselves
    editor.filter_edit.setText("$SYS/#")
    qtbot.mouseClick(editor.add_button, Qt.LeftButton)
    run_until(qloop, lambda: editor.result_label.text() == "Subscribed to $SYS/#", message="the user's SUBACK")
    editor.close()
    window.open_sys_stats().close()  # a tool opened and closed on top of it …
    assert "$SYS/#" in session.subscriptions  # … leaves the user's subscription alone
    assert ("$SYS/#", 0) in context.entry("east").subscriptions


def test_the_users_filter_added_while_a_tool_holds_it_outlives_the_tool_and_a_reconnect(window, mosquitto, qloop, qtbot):
    """The $SYS view holds $SYS/#, the user adds it in the Subscriptions dialog, the view closes."""
    window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port))
    context = window.context
    run_until(qloop, lambda: context.session.is_connected, message="connected")
    view = window.open_sys_stats()
    editor = window.open_subscriptions()
    editor.filter_edit.setText("$SYS/#")
    qtbot.mouseClick(editor.add_button, Qt.LeftButton)
    run_until(qloop, lambda: editor.result_label.text() == "Subscribed to $SYS/#", message="the user's SUBACK")
    editor.close()
    view.close()

    assert "$SYS/#" in context.session.subscriptions
    assert ("$SYS/#", 0) in context.entry("east").subscriptions
    context.disconnect("east")
    context.reconnect("east")
    run_until(qloop, lambda: context.session is not None and context.session.is_connected, message="reconnected")
    assert "$SYS/#" in context.session.subscriptions
    editor = window.open_subscriptions()
    shown = [editor.table.item(r, 0).text() for r in range(editor.table.rowCount())]
    assert shown == ["#", "$SYS/#"]
    editor.close()


@pytest.mark.parametrize("how", ["broker restart", "reconnect"])
def test_sys_statistics_carry_on_after_a_reconnect(window, mosquitto_factory, qloop, how):
    broker = mosquitto_factory("allow_anonymous true\nsys_interval 1\n")
    window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=broker.port))
    context = window.context
    run_until(qloop, lambda: context.session.is_connected, message="connected")
    view = window.open_sys_stats()
    uptime_row = next(r for r in range(view.table.rowCount()) if view.table.item(r, 0).text() == "Uptime")
    run_until(qloop, lambda: context.workspace.tree.node("$SYS/broker/uptime", "east") is not None, timeout=15,
              message="$SYS values")
    uptime_node = context.workspace.tree.node("$SYS/broker/uptime", "east")
    before = uptime_node.count
    if how == "broker restart":
        broker.restart()
    else:
        context.disconnect("east")
        context.reconnect("east")
    run_until(qloop, lambda: context.session is not None and context.session.is_connected, timeout=20,
              message="reconnected")
    # New statistics arrive from the restarted broker, and the table shows them.
    run_until(qloop, lambda: uptime_node.count >= before + 2, timeout=15, message="$SYS after the restart")
    assert "$SYS/#" in context.session.subscriptions
    run_until(qloop, lambda: view.table.item(uptime_row, 1).text() == view.value("$SYS/broker/uptime"),
              message="the table follows")
    view.close()


def test_sys_statistics_opened_while_disconnected_start_when_the_broker_connects(window, mosquitto_factory, qloop):
    broker = mosquitto_factory("allow_anonymous true\nsys_interval 1\n")
    window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=broker.port))
    context = window.context
    run_until(qloop, lambda: context.session.is_connected, message="connected")
    context.disconnect("east")
    view = window.open_sys_stats()
    run_until(qloop, lambda: "not connected" in view.note.text(), message="the note says why nothing moves")
    context.reconnect("east")
    run_until(qloop, lambda: view.value("$SYS/broker/version") is not None, timeout=15, message="$SYS values")
    run_until(qloop, lambda: view.note.text().startswith("Subscribed to $SYS/#"), message="the note follows")
    view.close()
