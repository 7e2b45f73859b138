"""The Publish dialog from the keyboard, with MQTT 5 properties, the JSON check, and the last message kept
per topic, against a real Mosquitto (an independent paho subscriber sees what was sent)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from eventscope.core.profile import ConnectionProfile
from eventscope.gui.views.publish_dialog import PublishDialog
from tests.helpers.replay import Listener

WAIT_MS = 15_000


@pytest.fixture
def broker(context, mosquitto) -> str:
    connection = context.connect_broker(ConnectionProfile(name="pub", host="127.0.0.1", port=mosquitto.port),
                                        subscriptions=())
    assert connection.session.wait_connected(10), connection.session.status
    return connection.broker_id


@pytest.fixture
def listener(mosquitto):
    """An independent paho subscriber on dev/#."""
    subscriber = Listener(mosquitto.port, "dev/#")
    yield subscriber
    subscriber.close()


def test_enter_sends_and_never_closes_the_dialog_with_the_message(qtbot, context, broker, listener):
    dialog = PublishDialog(context, broker, "dev/cmd")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.payload_edit, '{"on": true}')
    dialog.topic_edit.setFocus()
    qtbot.keyClick(dialog.topic_edit, Qt.Key.Key_Return)  # Enter in the topic field
    assert dialog.isVisible() and dialog.payload_edit.toPlainText() == '{"on": true}'
    qtbot.waitUntil(lambda: dialog.result_label.text() == "Published to dev/cmd", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(listener.messages) == 1, timeout=WAIT_MS)
    assert listener.messages[0][:2] == ("dev/cmd", b'{"on": true}')

    dialog.payload_edit.setFocus()
    qtbot.keyClick(dialog.payload_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # Ctrl+Enter
    qtbot.waitUntil(lambda: len(listener.messages) == 2, timeout=WAIT_MS)
    assert dialog.isVisible()


def test_mqtt5_properties_the_json_check_and_the_last_message_per_topic(qtbot, context, broker, listener):
    dialog = PublishDialog(context, broker, "dev/props")
    qtbot.addWidget(dialog)
    qtbot.keyClicks(dialog.payload_edit, '{"a":1,')
    assert dialog.payload_check.text().startswith("Not JSON") and not dialog.format_button.isEnabled()
    qtbot.keyClicks(dialog.payload_edit, '"b":[2]}')
    assert dialog.payload_check.text() == "Valid JSON"
    qtbot.mouseClick(dialog.format_button, Qt.MouseButton.LeftButton)
    assert dialog.payload_edit.toPlainText() == '{\n  "a": 1,\n  "b": [\n    2\n  ]\n}'
    qtbot.keyClicks(dialog.content_type_edit, "application/json")
    qtbot.keyClicks(dialog.response_topic_edit, "dev/reply")
    qtbot.keyClicks(dialog.correlation_edit, "abc-1")
    dialog.user_properties_edit.setPlainText("trace=t-9\nbroken line")
    qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
    assert dialog.result_label.text() == "Not sent: user property line 2 needs key=value"
    dialog.user_properties_edit.setPlainText("trace=t-9\n<b>x</b>=<i>y</i>")
    qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(listener.messages) == 1, timeout=WAIT_MS)
    props = listener.messages[0][3]
    assert (props.ContentType, props.ResponseTopic, props.CorrelationData) == (
        "application/json", "dev/reply", b"abc-1")
    assert props.UserProperty == [("trace", "t-9"), ("<b>x</b>", "<i>y</i>")]
    dialog.close()

    again = PublishDialog(context, broker, "dev/props")  # the last message to this topic comes back
    qtbot.addWidget(again)
    assert again.payload_edit.toPlainText().startswith('{\n  "a": 1')
    assert again.correlation_edit.text() == "abc-1" and "trace=t-9" in again.user_properties_edit.toPlainText()
    other = PublishDialog(context, broker, "dev/other")
    qtbot.addWidget(other)
    assert other.payload_edit.toPlainText() == ""


def test_a_read_only_broker_cannot_send_from_the_keyboard_either(qtbot, context, mosquitto):
    connection = context.connect_broker(ConnectionProfile(name="ro", host="127.0.0.1", port=mosquitto.port,
                                                          read_only=True), subscriptions=())
    assert connection.session.wait_connected(10)
    dialog = PublishDialog(context, connection.broker_id, "dev/cmd")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.payload_edit, "x")
    qtbot.keyClick(dialog.payload_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert "read-only" in dialog.result_label.text() and dialog.isVisible()
