"""A window started with --read-only never publishes, whatever the user does: checked in the broker's own log."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.conftest import publish_raw
from tests.gui.conftest import activate, add_through_dialog, run_until


def _publishes_logged(broker, client_prefix: str = "") -> list[str]:
    """PUBLISH packets the broker received, from clients whose id starts with ``client_prefix``."""
    needle = f"Received PUBLISH from {client_prefix}"
    return [line for line in broker.log_path.read_text(errors="replace").splitlines() if needle in line]


def test_no_window_action_publishes_in_monitor_mode(window, mosquitto_factory, qloop, qtbot):
    broker = mosquitto_factory("allow_anonymous true\nlog_type all\n")
    context = window.context
    context.read_only = True  # what --read-only sets at start-up
    dialog = add_through_dialog(qtbot, window, f"127.0.0.1:{broker.port}", name="plant", save=False)
    assert not dialog.isVisible() and not dialog.form.read_only_check.isEnabled()
    entry = context.entry("plant")
    assert entry.profile.read_only and "(read-only monitor)" in window.windowTitle()
    run_until(qloop, lambda: context.session is not None and context.session.is_connected, message="connected")
    context.session.subscribe("#").result(10)
    publish_raw(broker.port, [("plant/line1/state", b"running")])
    tree = context.workspace.tree
    run_until(qloop, lambda: window.topic_tree.select_topic("plant/line1/state"), message="the topic in the tree")

    # Every way the window offers to publish.
    panel = window.request_panel
    assert not panel.send_button.isEnabled() and "read-only" in panel.send_button.toolTip()
    activate(qtbot, window)
    qtbot.keyClick(window, Qt.Key_Return, Qt.ControlModifier)
    panel.send_request()
    panel.send_burst()
    panel.save_name_edit.setText("saved")
    panel.save_current_request()
    panel.saved_list.setCurrentRow(0)
    panel.send_saved()
    publish_dialog = window.open_publish()
    assert not publish_dialog.send_button.isEnabled() and "read-only" in publish_dialog.result_label.text()
    publish_dialog.close()
    menu = window.topic_tree.build_context_menu(tree.node("plant/line1/state", "plant"))
    assert all(not a.isEnabled() for a in menu.actions()
               if a.objectName() in ("actionPublish", "actionDeleteRetained", "actionDeleteRetainedRecursive"))
    # Disconnect and connect again: still a monitor.
    context.disconnect("plant")
    context.reconnect("plant")
    run_until(qloop, lambda: context.session is not None and context.session.is_connected, message="reconnected")
    assert context.session.read_only and not panel.send_button.isEnabled()
    # A marker the broker logs after everything above: then nothing from the window may be in the log.
    publish_raw(broker.port, [("marker/done", b"1")], [None])
    run_until(qloop, lambda: tree.node("marker/done", "plant") is not None, message="the marker")
    assert len(_publishes_logged(broker)) == 2  # the test's own two: the log does record every PUBLISH
    window.context.settings.setValue(window.WORKSPACE_KEY, "[]")
    window.save_workspace()  # a monitor run leaves the saved workspace of normal runs alone
    assert window.context.settings.value(window.WORKSPACE_KEY) == "[]"
    log = broker.log_path.read_text(errors="replace")
    assert "as eventscope-" in log  # the window's client ids do start so …
    assert _publishes_logged(broker, "eventscope") == []  # … and none of them published


def test_connect_argument_keeps_tls_and_monitor_mode():
    from eventscope.gui.app import profile_from_address

    profile = profile_from_address("mqtts://broker.example:8883", read_only=True)
    assert (profile.host, profile.port, profile.tls.enabled, profile.tls.verify, profile.read_only) == (
        "broker.example", 8883, True, True, True)
    assert profile_from_address("wss://broker.example/mqtt", read_only=False).transport == "websockets"
