"""The request panel, driven like a user would, against a real Mosquitto and a real replier."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton

from core.ingest import IngestBuffer
from core.profile import MQTT_V311, ConnectionProfile
from core.replier import Replier, demo_reply_handler
from core.request_history import HistoryEntry, RequestHistory
from core.session import MqttSession
from gui.views.request_panel import RequestPanel
from tests.conftest import free_port
from tests.gui.conftest import run_until


@pytest.fixture
def history_path(tmp_path):
    return tmp_path / "history.json"


@pytest.fixture
def make_panel(qtbot, history_path):
    def make(context) -> RequestPanel:
        panel = RequestPanel(context, history=RequestHistory(history_path))
        qtbot.addWidget(panel)
        return panel

    return make


@pytest.fixture
def demo_replier(mosquitto):
    session = MqttSession(ConnectionProfile(host="127.0.0.1", port=mosquitto.port), buffer=IngestBuffer(),
                          buffer_messages=False)
    session.start()
    assert session.wait_connected(10), session.status
    replier = Replier(session, handler=demo_reply_handler)
    replier.start().result(10)
    yield replier
    replier.stop()
    session.stop()


def _status(panel) -> str:
    return panel.findChild(QLabel, "requestStatus").text()


def test_send_shows_reply_rtt_and_adds_history_row(connected_context, qloop, qtbot, qtmodeltester, make_panel, demo_replier):
    panel = make_panel(connected_context)
    panel.region_combo.setCurrentText("eu-central")
    assert panel.findChild(QLabel, "requestTopicPreview").text() == "eu-central/hello/request"
    qtbot.keyClicks(panel.payload_edit, '{"greeting": "<b>hi</b>"}')
    assert panel.payload_check.text() == "Valid JSON"
    send = panel.findChild(QPushButton, "sendRequestButton")
    qtbot.mouseClick(send, Qt.LeftButton)
    run_until(qloop, lambda: "Reply received" in _status(panel), message="the reply in the panel")

    answer = json.loads(panel.reply_view.toPlainText())
    assert answer["region"] == "eu-central"
    assert json.loads(answer["request"]) == {"greeting": "<b>hi</b>"}
    assert "\n  " in panel.reply_view.toPlainText()  # shown formatted
    details = panel.findChild(QLabel, "replyDetails")
    assert details.textFormat() == Qt.PlainText
    assert "RTT" in details.text() and " ms" in details.text()
    assert "reply topic eventscope/" in details.text()
    assert send.isEnabled()
    model = panel.history_model
    assert model.rowCount() == 1
    assert model.index(0, 2).data() == "ok"
    assert model.index(0, 1).data() == "eu-central/hello/request"
    assert model.index(0, 3).data().endswith(" ms")
    qtmodeltester.check(model)
    # The GUI session also subscribes '#': the broker's second copy of the reply is ignored, not a stray.
    run_until(qloop, lambda: panel.tracker.stats().duplicates == 1, message="duplicate copy counted")
    assert panel.tracker.stats().strays == 0


def test_timeout_is_shown_as_text_and_recorded(connected_context, qloop, qtbot, make_panel):
    panel = make_panel(connected_context)
    panel.template_edit.setText("nobody/{region}/request")
    panel.timeout_spin.setValue(0.3)
    qtbot.keyClicks(panel.payload_edit, "plain text is fine")
    assert panel.send_button.isEnabled()
    qtbot.mouseClick(panel.send_button, Qt.LeftButton)
    run_until(qloop, lambda: _status(panel).startswith("Timeout"), message="the timeout message")
    assert "No reply on" in _status(panel)
    assert panel.send_button.isEnabled() and not panel.progress.isVisible()
    assert panel.history_model.index(0, 2).data() == "timeout"


def test_wildcard_topic_is_refused_with_reason_via_ctrl_enter(connected_context, qloop, qtbot, make_panel):
    panel = make_panel(connected_context)
    panel.template_edit.setText("{region}/+/request")
    assert "wildcard" in panel.topic_preview.text()
    with qtbot.waitActive(panel):
        panel.show()
        panel.activateWindow()
    panel.payload_edit.setFocus()
    qtbot.keyClick(panel.payload_edit, Qt.Key_Return, Qt.ControlModifier)
    run_until(qloop, lambda: _status(panel).startswith("Not sent"), message="the refusal")
    assert "wildcard" in _status(panel)
    assert panel.history_model.rowCount() == 0  # nothing was sent


def test_burst_shows_rtt_spread(connected_context, qloop, qtbot, make_panel, demo_replier):
    panel = make_panel(connected_context)
    panel.burst_count.setValue(50)
    panel.burst_concurrency.setValue(10)
    qtbot.mouseClick(panel.burst_button, Qt.LeftButton)
    run_until(qloop, lambda: "replies" in panel.burst_result.text(), message="the burst summary")
    assert panel.burst_result.text().startswith("50 replies, 0 failed; RTT ms min")
    assert "p99" in panel.burst_result.text()


def test_read_only_session_disables_send(context, make_panel):
    profile = ConnectionProfile(host="127.0.0.1", port=free_port(), read_only=True)
    context.connect_broker(profile, subscriptions=())
    panel = make_panel(context)
    assert not panel.send_button.isEnabled()
    assert "read-only" in panel.send_button.toolTip()


def test_mqtt311_disables_fields_it_cannot_carry(context, make_panel):
    panel = make_panel(context)
    assert panel.content_type_edit.isEnabled()
    profile = ConnectionProfile(host="127.0.0.1", port=free_port(), mqtt_version=MQTT_V311)
    context.connect_broker(profile, subscriptions=())
    for widget in (panel.content_type_edit, panel.expiry_spin, panel.user_properties):
        assert not widget.isEnabled()
        assert "MQTT 3.1.1 cannot carry" in widget.toolTip()
    assert panel.reply_topic_edit.placeholderText() == "hello/response"
    assert "3.1.1" in panel.version_label.text()


def test_regions_seen_join_the_selector(context, make_panel):
    panel = make_panel(context)
    context.note_regions(["mars-1"])
    assert panel.region_combo.findText("mars-1") >= 0
    panel.region_combo.setCurrentText("mars-1")
    assert panel.topic_preview.text() == "mars-1/hello/request"


def test_editor_and_history_survive_restart_and_double_click_loads(context, qtbot, qtmodeltester, make_panel, history_path):
    panel = make_panel(context)
    qtbot.keyClicks(panel.payload_edit, "kept text")
    RequestHistory(history_path).add(HistoryEntry.create("ap-south/orders/request", b'{"id": 7}', "uncorrelated",
                                                         qos=1, rtt=0.002, reply_size=12))
    restarted = make_panel(context)
    assert restarted.payload_edit.toPlainText() == "kept text"
    model = restarted.history_model
    assert model.rowCount() == 1
    assert [model.index(0, c).data() for c in (1, 2, 3, 4)] == ["ap-south/orders/request", "uncorrelated", "2.00 ms", "12 B"]
    qtmodeltester.check(model)
    restarted.history_view.doubleClicked.emit(model.index(0, 1))
    assert restarted.topic_preview.text() == "ap-south/orders/request"
    assert restarted.payload_edit.toPlainText() == '{"id": 7}'
    assert restarted.qos_combo.currentText() == "1"


def test_format_button_pretty_prints_json(context, qtbot, make_panel):
    panel = make_panel(context)
    qtbot.keyClicks(panel.payload_edit, "{oops")
    assert panel.payload_check.text().startswith("Not JSON")
    assert not panel.format_button.isEnabled()
    panel.payload_edit.setPlainText('{"a":[1,2]}')
    qtbot.mouseClick(panel.format_button, Qt.LeftButton)
    assert panel.payload_edit.toPlainText() == '{\n  "a": [\n    1,\n    2\n  ]\n}'
