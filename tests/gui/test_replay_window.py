"""Replay… in the window: from the audit feed, against a real Mosquitto and a replier, the result table
and its summary; and a Cancel that stops publishing at once."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt

from eventscope.core.audit.store import default_audit_path
from eventscope.core.profile import ConnectionProfile
from eventscope.core.workspace.brokers import WORKSPACE_AUDIT_NAME
from tests.gui.conftest import run_until
from tests.helpers.replay import Listener, Replier, recorded_audit


def _window_on_recorded_audit(window, qloop, mosquitto, count: int, spacing: float):
    path = default_audit_path(WORKSPACE_AUDIT_NAME)  # the window's own audit database
    path.parent.mkdir(parents=True, exist_ok=True)
    recorded_audit(path, count, spacing=spacing)
    window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port))
    context = window.context
    run_until(qloop, lambda: context.session is not None and context.session.is_connected, message="connected")
    view = window.audit_feed
    run_until(qloop, lambda: view.model.rowCount() >= 2 * count, message="the recorded rows in the feed")
    return view


def _open_dialog(qtbot, qloop, view):
    qtbot.mouseClick(view.replay_button, Qt.MouseButton.LeftButton)
    dialog = view.replay_dialog
    run_until(qloop, lambda: dialog.start_button.isEnabled(), message="the replay planned")
    return dialog


def test_replay_and_compare_from_the_feed(window, qloop, qtbot, mosquitto, tmp_path):
    view = _window_on_recorded_audit(window, qloop, mosquitto, 100, 0.001)
    replier = Replier(mosquitto.port, change_every=10)
    try:
        view.kind_combo.setCurrentText("request")
        view.apply_search()
        run_until(qloop, lambda: view.model.rowCount() == 100 and not view.model.busy, message="the requests")
        dialog = _open_dialog(qtbot, qloop, view)
        assert dialog.count_label.text() == "100 messages from the rows of the current search"
        dialog.rewrite_edit.setPlainText("us-east/=us-east/")  # a rule that keeps the topics: preview follows
        run_until(qloop, lambda: "us-east/hello/request → us-east/hello/request" in dialog.preview_label.text(),
                  message="the rewrite preview")
        dialog.compare_check.setChecked(True)
        dialog.speed_combo.setCurrentText("max")
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
        run_until(qloop, lambda: dialog.export_button.isEnabled(), timeout=30, message="the replay done")
    finally:
        replier.close()
    outcomes = [r.outcome for r in dialog.model.results]
    assert len(outcomes) == 100 and outcomes.count("different") == 10 and outcomes.count("same") == 90
    assert "90 same, 10 different" in dialog.summary_label.text()
    different = next(row for row, r in enumerate(dialog.model.results) if r.outcome == "different")
    dialog.table.selectRow(different)
    assert dialog.diff_label.text() == 'changed $.status: "ok" → "changed"'
    assert dialog.export_to(tmp_path / "replay.jsonl") == 100
    assert not window.context.workspace.subscriptions.held_filters("east")  # the reply topics let go
    dialog.close()


def test_cancel_stops_publishing_at_once(window, qloop, qtbot, mosquitto):
    view = _window_on_recorded_audit(window, qloop, mosquitto, 60, 0.05)  # three seconds of requests
    listener = Listener(mosquitto.port, "us-east/hello/request")
    try:
        dialog = _open_dialog(qtbot, qloop, view)
        dialog.speed_combo.setCurrentText("1")
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
        run_until(qloop, lambda: len(listener.messages) >= 5, message="the replay under way")
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
        cancelled = time.monotonic()
        run_until(qloop, lambda: dialog.run is not None and dialog.run.future.done(), message="the replay stopped")
        settle = time.monotonic() + 0.5
        run_until(qloop, lambda: time.monotonic() >= settle, message="half a second")
    finally:
        listener.close()
    late = [at for _, _, at, _ in listener.messages if at > cancelled + 0.1]
    assert late == [] and len(listener.messages) < 60
    assert "(cancelled)" in dialog.summary_label.text()
    dialog.close()
