"""A small form to publish one message to a topic: payload, QoS, retain."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

from eventscope.core.mqtt.session import SessionError
from eventscope.core.topics import TopicError, validate_topic

POLL_MS = 50


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
        self.qos_combo = QComboBox(objectName="publishQos")
        self.qos_combo.addItems(["0", "1", "2"])
        self.qos_combo.setCurrentIndex(1)
        self.retain_check = QCheckBox("Retain", objectName="publishRetain")
        self.result_label = QLabel("", objectName="publishResult")
        self.result_label.setTextFormat(Qt.TextFormat.PlainText)
        self.result_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.send_button = QPushButton("Send", objectName="publishSend")
        self.buttons.addButton(self.send_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.send_button.clicked.connect(self._on_send)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Topic", self.topic_edit)
        form.addRow("Payload", self.payload_edit)
        form.addRow("QoS", self.qos_combo)
        form.addRow("", self.retain_check)
        form.addRow(self.result_label)
        form.addRow(self.buttons)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._on_poll)
        connection = context.workspace.broker(broker_id) if broker_id else None
        if connection is None or connection.profile.read_only:
            self.send_button.setEnabled(False)
            self.result_label.setText("Not connected: publishing is disabled." if connection is None
                                      else "This connection is read-only: publishing is disabled.")

    def _on_send(self) -> None:
        topic = self.topic_edit.text()
        try:
            validate_topic(topic)
            self._future = self.context.publish(self.broker_id or "", topic,
                                                self.payload_edit.toPlainText().encode("utf-8"),
                                                qos=int(self.qos_combo.currentText()),
                                                retain=self.retain_check.isChecked())
        except (TopicError, SessionError, ValueError, RuntimeError) as exc:
            self.result_label.setText(f"Not sent: {exc}")
            return
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
