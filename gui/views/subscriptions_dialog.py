"""Edit one broker's subscriptions live: add a filter with its QoS, remove one, see what the broker granted.

Changes apply at once on the running session and are kept on the broker's entry, so a
Disconnect → Connect resubscribes the same set.
"""

from __future__ import annotations

from concurrent.futures import Future

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from eventscope.core.topics import TopicError, validate_filter
from eventscope.gui.status_colours import status_style

POLL_MS = 50


class SubscriptionsDialog(QDialog):
    def __init__(self, context, broker_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("subscriptionsDialog")
        self.setWindowTitle(f"Subscriptions of {broker_id}")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # each opening is a new dialog: nothing hidden left behind
        self.context = context
        self.broker_id = broker_id
        self._pending: list[tuple[str, str, Future]] = []  # (verb, filter, future)
        self.table = QTableWidget(0, 2, objectName="subscriptionsTable")
        self.table.setHorizontalHeaderLabels(["Filter", "QoS"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.filter_edit = QLineEdit(objectName="subscriptionFilter", placeholderText="e.g. factory/+/telemetry")
        self.qos_combo = QComboBox(objectName="subscriptionQos")
        self.qos_combo.addItems(["0", "1", "2"])
        self.add_button = QPushButton("Subscribe", objectName="subscribeButton")
        self.remove_button = QPushButton("Unsubscribe selected", objectName="unsubscribeButton")
        self.result_label = QLabel("", objectName="subscriptionsResult")
        self.result_label.setTextFormat(Qt.TextFormat.PlainText)
        self.result_label.setWordWrap(True)
        add_row = QHBoxLayout()
        add_row.addWidget(self.filter_edit, 1)
        add_row.addWidget(QLabel("QoS"))
        add_row.addWidget(self.qos_combo)
        add_row.addWidget(self.add_button)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.remove_button, 0, Qt.AlignmentFlag.AlignRight)
        layout.addLayout(add_row)
        layout.addWidget(self.result_label)
        layout.addWidget(buttons)
        self.add_button.clicked.connect(self.subscribe)
        self.filter_edit.returnPressed.connect(self.subscribe)
        self.remove_button.clicked.connect(self.unsubscribe_selected)
        buttons.rejected.connect(self.reject)
        self._poll = QTimer(self, interval=POLL_MS, timeout=self._on_poll)
        self._reload()

    @property
    def session(self):
        connection = self.context.workspace.broker(self.broker_id)
        return connection.session if connection is not None else None

    def _reload(self) -> None:
        session = self.session
        current = self.context.user_subscriptions(self.broker_id)
        self.table.setRowCount(0)
        for topic_filter, qos in sorted(current.items()):
            row = self.table.rowCount()
            self.table.insertRow(row)
            self.table.setItem(row, 0, QTableWidgetItem(topic_filter))
            self.table.setItem(row, 1, QTableWidgetItem(str(qos)))
        enabled = session is not None
        for widget in (self.add_button, self.remove_button, self.filter_edit):
            widget.setEnabled(enabled)
        if not enabled:
            self._say("error", f"{self.broker_id} is not connected: connect it to change its subscriptions")

    def _say(self, kind: str, text: str) -> None:
        self.result_label.setStyleSheet(status_style(kind))
        self.result_label.setText(text)

    def subscribe(self) -> None:
        topic_filter = self.filter_edit.text().strip()
        try:
            validate_filter(topic_filter)
        except TopicError as exc:
            self._say("error", f"Not subscribed: {exc}")
            return
        if self.session is None:
            return
        future = self.context.subscribe(self.broker_id, topic_filter, self.qos_combo.currentIndex())
        self._watch("subscribe", topic_filter, future)
        self.filter_edit.clear()

    def unsubscribe_selected(self) -> None:
        rows = sorted({index.row() for index in self.table.selectedIndexes()})
        if not rows or self.session is None:
            self._say("muted", "Select a subscription to remove it")
            return
        for row in rows:
            item = self.table.item(row, 0)
            if item is None:  # every listed row has its filter item
                continue
            topic_filter = item.text()
            self._watch("unsubscribe", topic_filter, self.context.unsubscribe(self.broker_id, topic_filter))

    def _watch(self, verb: str, topic_filter: str, future: Future) -> None:
        self._pending.append((verb, topic_filter, future))
        self._say("busy", f"{verb.capitalize()} {topic_filter}…")
        self._poll.start()

    def _on_poll(self) -> None:
        done = [item for item in self._pending if item[2].done()]
        for item in done:
            self._pending.remove(item)
            verb, topic_filter, future = item
            error = future.exception()
            if error is not None:
                self._say("error", f"{verb.capitalize()} {topic_filter} refused: {error}")
            else:
                self._say("ok", f"{'Subscribed to' if verb == 'subscribe' else 'Unsubscribed from'} {topic_filter}")
        if done:
            self._reload_keeping_message()
        if not self._pending:
            self._poll.stop()

    def _reload_keeping_message(self) -> None:
        text, style = self.result_label.text(), self.result_label.styleSheet()
        self._reload()
        self.result_label.setText(text)
        self.result_label.setStyleSheet(style)

    def done(self, result: int) -> None:
        self._poll.stop()
        super().done(result)
