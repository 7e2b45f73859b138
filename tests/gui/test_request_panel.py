"""The request panel, driven like a user would, against a real Mosquitto and a real replier."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton

from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import MQTT_V311, ConnectionProfile
from eventscope.core.requests.history import HistoryEntry, RequestHistory
from eventscope.core.requests.replier import Replier, demo_reply_handler
from eventscope.gui.models.request_history_model import (
    BROKER_COLUMN,
    REGION_COLUMN,
    RTT_COLUMN,
    SIZE_COLUMN,
    STATUS_COLUMN,
    TIME_COLUMN,
    TOPIC_COLUMN,
)
from eventscope.gui.views.request_panel import RequestPanel
from tests.conftest import free_port
from tests.gui.conftest import activate, connect_and_wait, run_until


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
    assert "Reply received in " in _status(panel) and " ms" in _status(panel)  # the RTT, once, in the status
    assert "RTT" not in details.text()
    assert "reply topic eventscope/" in details.text()
    assert send.isEnabled()
    model = panel.history_model
    assert model.rowCount() == 1
    assert model.index(0, STATUS_COLUMN).data() == "ok"
    assert model.index(0, TOPIC_COLUMN).data() == "eu-central/hello/request"
    assert model.index(0, REGION_COLUMN).data() == "eu-central"
    assert model.index(0, BROKER_COLUMN).data() == connected_context.connection.broker_id
    assert model.index(0, RTT_COLUMN).data().endswith(" ms")
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
    assert panel.history_model.index(0, STATUS_COLUMN).data() == "timeout"
    assert panel.reply_view.toPlainText() == "" and "earlier reply is cleared" in panel.reply_details.text()
    assert panel.history_model.index(0, REGION_COLUMN).data() == panel.region_combo.currentText()

    panel.template_edit.setText("nobody/hello/request")  # no {region}: the request names no region
    qtbot.mouseClick(panel.send_button, Qt.LeftButton)
    run_until(qloop, lambda: panel.history_model.rowCount() == 2, message="the second request recorded")
    newest = max(range(2), key=lambda r: panel.history_model.index(r, TOPIC_COLUMN).data() == "nobody/hello/request")
    assert panel.history_model.index(newest, REGION_COLUMN).data() == ""  # not "nobody", its first level


def test_ctrl_enter_sends_from_anywhere_in_the_window(window, mosquitto, qloop, qtbot, demo_replier):
    connect_and_wait(window.context, ConnectionProfile(name="test", host="127.0.0.1", port=mosquitto.port))
    panel = window.request_panel
    window.details_dock.raise_()  # the request panel is behind another tab
    activate(qtbot, window)
    window.topic_tree.setFocus()
    qtbot.keyClick(window.topic_tree, Qt.Key_Return, Qt.ControlModifier)
    run_until(qloop, lambda: _status(panel).startswith("Reply received in"), message="the reply")
    assert panel.isVisible()  # brought forward

    panel.template_edit.setText("{region}/+/request")
    assert "wildcard" in panel.topic_preview.text()
    panel.payload_edit.setFocus()
    qtbot.keyClick(panel.payload_edit, Qt.Key_Return, Qt.ControlModifier)
    run_until(qloop, lambda: _status(panel).startswith("Not sent"), message="the refusal")
    assert "wildcard" in _status(panel)
    assert panel.history_model.rowCount() == 1  # the refused one was not sent


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
    assert [model.index(0, c).data() for c in (TOPIC_COLUMN, STATUS_COLUMN, RTT_COLUMN, SIZE_COLUMN)] == [
        "ap-south/orders/request", "uncorrelated", "2.00 ms", "12 B"]
    qtmodeltester.check(model)
    restarted.history_view.doubleClicked.emit(restarted.history_view.model().index(0, TOPIC_COLUMN))
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


def test_history_sorts_by_rtt_and_the_region_list_skips_the_reply_namespace(context, qtbot, make_panel, history_path):
    history = RequestHistory(history_path)
    for topic, rtt in (("us-east/hello/request", 0.009), ("eu-central/hello/request", 0.001),
                       ("us-west/hello/request", 0.004)):
        history.add(HistoryEntry.create(topic, b"x", "ok", rtt=rtt, broker="east"))
    panel = make_panel(context)
    view = panel.history_view
    view.show()
    qtbot.mouseClick(view.horizontalHeader().viewport(), Qt.LeftButton, pos=_section_centre(view, RTT_COLUMN))
    rtts = [view.model().index(r, RTT_COLUMN).data() for r in range(3)]
    assert rtts in (["1.00 ms", "4.00 ms", "9.00 ms"], ["9.00 ms", "4.00 ms", "1.00 ms"])  # numbers, not text
    assert view.model().index(0, TIME_COLUMN).data()  # every row keeps its time
    context.note_regions(["eventscope", "mars-1", "spBv1.0", "$SYS"])
    names = [panel.region_combo.itemText(i) for i in range(panel.region_combo.count())]
    assert "mars-1" in names and not {"eventscope", "spBv1.0", "$SYS"} & set(names)


def _section_centre(view, column):
    from PySide6.QtCore import QPoint

    header = view.horizontalHeader()
    return QPoint(header.sectionViewportPosition(column) + header.sectionSize(column) // 2, header.height() // 2)


def test_saved_requests_send_again_from_the_list(connected_context, qloop, qtbot, make_panel, demo_replier):
    panel = make_panel(connected_context)
    panel.region_combo.setCurrentText("ap-south")
    panel.payload_edit.setPlainText('{"order": 42}')
    panel.qos_combo.setCurrentIndex(1)
    qtbot.keyClicks(panel.save_name_edit, "order 42")
    qtbot.mouseClick(panel.save_request_button, Qt.LeftButton)
    assert [panel.saved_list.item(i).text() for i in range(panel.saved_list.count())] == ["order 42"]
    panel.payload_edit.setPlainText("something else")
    panel.region_combo.setCurrentText("us-east")
    again = make_panel(connected_context)  # saved requests outlive the panel
    again.saved_list.setCurrentRow(0)
    qtbot.mouseClick(again.send_saved_button, Qt.LeftButton)
    run_until(qloop, lambda: _status(again).startswith("Reply received in"), message="the saved request's reply")
    assert again.topic_preview.text() == "ap-south/hello/request"
    assert again.payload_edit.toPlainText() == '{"order": 42}' and again.qos_combo.currentText() == "1"
    again.saved_list.setCurrentRow(0)
    qtbot.mouseClick(again.delete_saved_button, Qt.LeftButton)
    assert again.saved_list.count() == 0


def test_a_damaged_saved_request_is_explained_not_loaded(context, make_panel):
    import json as _json

    context.settings.setValue("request/saved", _json.dumps({"broken": {"qos": "high", "payload": "x"},
                                                             "props": {"user_properties": [["only-key"]]}}))
    panel = make_panel(context)
    panel.payload_edit.setPlainText("kept")
    assert not panel.load_saved("broken")
    assert "'broken' is damaged" in _status(panel) and panel.payload_edit.toPlainText() == "kept"
    panel.saved_list.setCurrentRow([panel.saved_list.item(i).text()
                                    for i in range(panel.saved_list.count())].index("props"))
    panel.send_saved()
    assert "'props' is damaged" in _status(panel) and panel.history_model.rowCount() == 0  # nothing was sent


def test_saving_again_under_a_name_replaces_it_and_double_click_loads(context, qtbot, make_panel):
    panel = make_panel(context)
    panel.payload_edit.setPlainText("first")
    qtbot.keyClicks(panel.save_name_edit, "same")
    qtbot.keyClick(panel.save_name_edit, Qt.Key_Return)  # Return in the name field saves, as the button does
    panel.payload_edit.setPlainText("second")
    panel.qos_combo.setCurrentIndex(2)
    qtbot.keyClicks(panel.save_name_edit, "same")
    qtbot.mouseClick(panel.save_request_button, Qt.LeftButton)
    assert [panel.saved_list.item(i).text() for i in range(panel.saved_list.count())] == ["same"]
    stored = json.loads(context.settings.value("request/saved"))  # the key and form earlier versions wrote
    assert stored["same"]["payload"] == "second" and stored["same"]["qos"] == 2
    panel.payload_edit.setPlainText("edited")
    panel.qos_combo.setCurrentIndex(0)
    panel.saved_list.itemDoubleClicked.emit(panel.saved_list.item(0))
    assert panel.payload_edit.toPlainText() == "second" and panel.qos_combo.currentText() == "2"
    assert _status(panel) == "Loaded 'same'"
