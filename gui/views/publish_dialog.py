"""A small form to publish one message to a topic: payload, QoS, retain and MQTT 5 properties.

Enter (or Ctrl+Enter in the payload) sends; nothing typed is ever lost to a key press, and the last
message sent to each topic comes back the next time the dialog opens on it.
"""

from __future__ import annotations

import json

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from eventscope.core.mqtt.session import SessionError
from eventscope.core.profile import MQTT_V5
from eventscope.core.records import MessageProperties
from eventscope.core.topics import TopicError, validate_topic
from eventscope.gui.views.json_payload import JsonPayloadCheck
from eventscope.gui.views.request_common import plain_label

POLL_MS = 50
LAST_MESSAGES_KEY = "publish/lastByTopic"  # one JSON object: topic -> the last message sent to it
LAST_MESSAGES_KEPT = 100


def parse_user_properties(text: str) -> tuple[tuple[str, str], ...]:
    """``key=value``, one a line (blank lines skipped); raises ``ValueError`` naming the line at fault."""
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"user property line {number} needs key=value")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


class PublishDialog(QDialog):
    """Publishes on one broker through the context (never a session); the result or why it failed shows here.

    Signals:
        published(str topic): the broker acknowledged (QoS 1/2) or the message was sent (QoS 0).
    """

    published = Signal(str)

    def __init__(self, context, broker_id: str | None, topic: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.broker_id = broker_id
        self.setObjectName("publishDialog")
        self.setWindowTitle("Publish")
        self._future = None
        self.topic_edit = QLineEdit(topic, objectName="publishTopic")
        self.payload_edit = QPlainTextEdit(objectName="publishPayload")
        self.payload_edit.setPlaceholderText("Payload (JSON or plain text); Ctrl+Enter sends")
        self.payload_check = plain_label("publishPayloadCheck")
        self.format_button = QPushButton("Format", objectName="publishFormat")
        self.json_check = JsonPayloadCheck(self.payload_edit, self.payload_check, self.format_button)
        self.qos_combo = QComboBox(objectName="publishQos")
        self.qos_combo.addItems(["0", "1", "2"])
        self.qos_combo.setCurrentIndex(1)
        self.retain_check = QCheckBox("Retain", objectName="publishRetain")

        self.properties_box = QGroupBox("MQTT 5 properties", objectName="publishProperties")
        self.content_type_edit = QLineEdit(objectName="publishContentType", placeholderText="e.g. application/json")
        self.response_topic_edit = QLineEdit(objectName="publishResponseTopic")
        self.correlation_edit = QLineEdit(objectName="publishCorrelation", placeholderText="sent as UTF-8 bytes")
        self.expiry_spin = QSpinBox(objectName="publishMessageExpiry", minimum=0, maximum=2**31 - 1, suffix=" s")
        self.expiry_spin.setSpecialValueText("none")
        self.user_properties_edit = QPlainTextEdit(objectName="publishUserProperties")
        self.user_properties_edit.setPlaceholderText("key=value, one a line")
        self.user_properties_edit.setMaximumHeight(60)
        props_form = QFormLayout(self.properties_box)
        props_form.addRow("Content type", self.content_type_edit)
        props_form.addRow("Response topic", self.response_topic_edit)
        props_form.addRow("Correlation data", self.correlation_edit)
        props_form.addRow("Message expiry", self.expiry_spin)
        props_form.addRow("User properties", self.user_properties_edit)

        self.result_label = QLabel("", objectName="publishResult")
        self.result_label.setTextFormat(Qt.TextFormat.PlainText)
        self.result_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close = self.buttons.button(QDialogButtonBox.StandardButton.Close)
        close.setAutoDefault(False)  # Enter must never close the dialog and lose what was typed
        close.setDefault(False)
        self.send_button = QPushButton("Send", objectName="publishSend")
        self.buttons.addButton(self.send_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.send_button.clicked.connect(self._on_send)
        self.buttons.rejected.connect(self.reject)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self, activated=self._on_send)

        check_row = QHBoxLayout()
        check_row.addWidget(self.payload_check, 1)
        check_row.addWidget(self.format_button)
        form = QFormLayout(self)
        form.addRow("Topic", self.topic_edit)
        form.addRow("Payload", self.payload_edit)
        form.addRow("", check_row)
        form.addRow("QoS", self.qos_combo)
        form.addRow("", self.retain_check)
        form.addRow(self.properties_box)
        form.addRow(self.result_label)
        form.addRow(self.buttons)
        # Enter in a field sends. Set once the button is in the dialog (before, Qt ignores it and makes the
        # first auto-default button the default: Format or Close); no other button is ever the default.
        self.format_button.setAutoDefault(False)
        self.send_button.setDefault(True)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._on_poll)
        connection = context.workspace.broker(broker_id) if broker_id else None
        self.v5 = connection is not None and connection.profile.mqtt_version == MQTT_V5
        if connection is not None and not self.v5:
            self.properties_box.setEnabled(False)
            self.properties_box.setToolTip("This broker is connected with MQTT 3.1.1, which has no properties")
        if connection is None or connection.profile.read_only:
            self.send_button.setEnabled(False)
            self.result_label.setText("Not connected: publishing is disabled." if connection is None
                                      else "This connection is read-only: publishing is disabled.")
        self._restore(topic)

    # ----- the last message per topic --------------------------------------------------------
    def _remembered(self) -> dict:
        try:
            kept = json.loads(str(self.context.settings.value(LAST_MESSAGES_KEY, "{}")))
        except ValueError:
            return {}
        return kept if isinstance(kept, dict) else {}

    def _restore(self, topic: str) -> None:
        last = self._remembered().get(topic)
        if not isinstance(last, dict):
            return
        self.payload_edit.setPlainText(str(last.get("payload", "")))
        self.qos_combo.setCurrentIndex(int(last.get("qos", 1)) if str(last.get("qos", 1)) in "012" else 1)
        self.retain_check.setChecked(bool(last.get("retain", False)))
        self.content_type_edit.setText(str(last.get("content_type", "")))
        self.response_topic_edit.setText(str(last.get("response_topic", "")))
        self.correlation_edit.setText(str(last.get("correlation", "")))
        self.expiry_spin.setValue(int(last.get("expiry", 0) or 0))
        self.user_properties_edit.setPlainText(str(last.get("user_properties", "")))

    def _remember(self, topic: str) -> None:
        kept = self._remembered()
        kept.pop(topic, None)
        kept[topic] = {"payload": self.payload_edit.toPlainText(), "qos": self.qos_combo.currentIndex(),
                       "retain": self.retain_check.isChecked(), "content_type": self.content_type_edit.text(),
                       "response_topic": self.response_topic_edit.text(), "correlation": self.correlation_edit.text(),
                       "expiry": self.expiry_spin.value(),
                       "user_properties": self.user_properties_edit.toPlainText()}
        while len(kept) > LAST_MESSAGES_KEPT:  # the oldest go first (dicts keep insertion order)
            kept.pop(next(iter(kept)))
        self.context.settings.setValue(LAST_MESSAGES_KEY, json.dumps(kept))

    # ----- sending ----------------------------------------------------------------------------
    def message_properties(self) -> MessageProperties | None:
        """The MQTT 5 properties filled in (None on MQTT 3.1.1 or when none are); ``ValueError`` if malformed."""
        if not self.v5:
            return None
        user_properties = parse_user_properties(self.user_properties_edit.toPlainText())
        props = MessageProperties(
            response_topic=self.response_topic_edit.text().strip() or None,
            correlation_data=self.correlation_edit.text().encode("utf-8") or None,
            content_type=self.content_type_edit.text().strip() or None,
            message_expiry_interval=self.expiry_spin.value() or None,
            user_properties=user_properties)
        if props.response_topic:
            validate_topic(props.response_topic)
        return None if props == MessageProperties() else props

    def _on_send(self) -> None:
        if not self.send_button.isEnabled():
            return  # read-only, not connected, or the last send still under way
        topic = self.topic_edit.text()
        try:
            validate_topic(topic)
            self._future = self.context.publish(self.broker_id or "", topic,
                                                self.payload_edit.toPlainText().encode("utf-8"),
                                                qos=int(self.qos_combo.currentText()),
                                                retain=self.retain_check.isChecked(),
                                                properties=self.message_properties())
        except (TopicError, SessionError, ValueError, RuntimeError) as exc:
            self.result_label.setText(f"Not sent: {exc}")
            return
        self._remember(topic)
        self.send_button.setEnabled(False)
        self.result_label.setText("Sending…")
        self._poll.start()

    def _on_poll(self) -> None:
        if self._future is None or not self._future.done():
            return
        self._poll.stop()
        self.send_button.setEnabled(True)
        error = self._future.exception()
        if error is not None:
            self.result_label.setText(f"Failed: {error}")
        else:
            self.result_label.setText(f"Published to {self.topic_edit.text()}")
            self.published.emit(self.topic_edit.text())
