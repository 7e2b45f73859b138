"""Request panel: compose a request, send it, see the reply with its RTT, and keep a history.

Sending is a qasync ``@asyncSlot()``: the button is disabled while the core's
``RequestTracker`` future is awaited and re-enabled in ``finally``. Every outcome, including
a timeout or a refusal, is shown as plain text in the panel; nothing here opens a modal.
"""

from __future__ import annotations

import json

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from eventscope.core.mqtt.session import MqttSession
from eventscope.core.payload_text import decode_utf8, preview
from eventscope.core.profile import MQTT_V5
from eventscope.core.requests.history import HistoryEntry, RequestHistory
from eventscope.core.requests.tracker import DEFAULT_TIMEOUT, Reply, RequestRefused, RequestTimeout, RequestTracker
from eventscope.core.topics import TopicError, region_of, validate_topic
from eventscope.gui.context import AppContext
from eventscope.gui.models.request_history_model import (
    BROKER_COLUMN,
    REGION_COLUMN,
    RTT_COLUMN,
    STATUS_COLUMN,
    TIME_COLUMN,
    TOPIC_COLUMN,
    EntryRole,
    RequestHistoryModel,
    SortRole,
)
from eventscope.gui.views.elided_label import ElidedLabel

DEFAULT_TEMPLATE = "{region}/hello/request"
REGION_PLACEHOLDER = "{region}"
SETTINGS_PREFIX = "request/"
REPLY_NAMESPACE = "eventscope"
NOT_REGIONS = frozenset((REPLY_NAMESPACE, "spBv1.0"))
SAVED_KEY = SETTINGS_PREFIX + "saved"
V311_ONLY_REASON = "MQTT 3.1.1 cannot carry {what}: connect with MQTT 5 to use it."


def _label(name: str, text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)  # payloads and topics are never rich text
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def request_regions(regions) -> list[str]:
    """Regions to send to: never Eventscope's own reply namespace (``eventscope/+/reply``), Sparkplug's
    ``spBv1.0`` or a ``$`` level, which are first topic levels but no regions."""
    return [r for r in regions if r not in NOT_REGIONS and not r.startswith("$")]


def format_payload(payload: bytes) -> str:
    """Reply payload for display: pretty JSON when it is JSON, else the text, else a hex preview."""
    text = decode_utf8(payload)
    if text is None:
        return preview(payload)
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


class RequestPanel(QWidget):
    """Compose, send and review requests on the current session."""

    def __init__(self, context: AppContext, parent: QWidget | None = None, history: RequestHistory | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("requestPanel")
        self.setAccessibleName("Request panel")
        self._busy = False
        self.history_model = RequestHistoryModel(history if history is not None else RequestHistory(), self)
        self._build()
        self._restore_settings()
        self._connect_signals()
        self._on_current_changed(context.session)

    # ----- construction ---------------------------------------------------------------
    def _build(self) -> None:
        self.broker_combo = QComboBox(objectName="requestBroker")
        self.broker_combo.setToolTip("The broker the request leaves on; its reply may come back on any open broker")
        self.region_combo = QComboBox(objectName="requestRegion", editable=True)
        self.region_combo.setToolTip("Region: replaces {region} in the topic template")
        self.region_combo.addItems(request_regions(self.context.regions))
        self.template_edit = QLineEdit(DEFAULT_TEMPLATE, objectName="requestTopicTemplate")
        self.template_edit.setToolTip("Request topic; {region} is replaced by the selected region")
        self.topic_preview = ElidedLabel(objectName="requestTopicPreview", mode=Qt.TextElideMode.ElideLeft)

        self.payload_edit = QPlainTextEdit(objectName="requestPayload")
        self.payload_edit.setPlaceholderText("Request payload (JSON or plain text)")
        self.payload_check = _label("payloadValidation")
        self.format_button = QPushButton("Format", objectName="formatPayloadButton")
        self.format_button.setToolTip("Pretty-print the JSON payload")

        self.qos_combo = QComboBox(objectName="requestQos")
        self.qos_combo.addItems(["0", "1", "2"])
        self.reply_topic_edit = QLineEdit(objectName="requestReplyTopic")
        self.timeout_spin = QDoubleSpinBox(objectName="requestTimeout", minimum=0.1, maximum=600.0, decimals=1,
                                           value=DEFAULT_TIMEOUT, suffix=" s", singleStep=0.5)
        self.content_type_edit = QLineEdit(objectName="requestContentType")
        self.content_type_edit.setPlaceholderText("e.g. application/json")
        self.expiry_spin = QSpinBox(objectName="requestMessageExpiry", minimum=0, maximum=2**31 - 1, suffix=" s")
        self.expiry_spin.setSpecialValueText("none")
        self.user_properties = QTableWidget(0, 2, objectName="requestUserProperties")
        self.user_properties.setHorizontalHeaderLabels(["Key", "Value"])
        self.user_properties.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.user_properties.setMinimumHeight(60)
        self.user_properties.setMaximumHeight(110)
        self.add_property_button = QPushButton("+", objectName="addUserPropertyButton", toolTip="Add a user property")
        self.remove_property_button = QPushButton("−", objectName="removeUserPropertyButton",
                                                  toolTip="Remove the selected user property")
        self.version_label = _label("requestMqttVersion")

        self.send_button = QPushButton("Send request", objectName="sendRequestButton")
        self.progress = QProgressBar(objectName="requestProgress", minimum=0, maximum=0, textVisible=False)
        self.progress.setMaximumHeight(8)
        self.progress.hide()
        self.status_label = _label("requestStatus")
        self.reply_view = QPlainTextEdit(objectName="replyPayload", readOnly=True)
        self.reply_view.setPlaceholderText("The reply appears here")
        self.reply_details = ElidedLabel(objectName="replyDetails", mode=Qt.TextElideMode.ElideRight)  # whole text in its tooltip
        self.reply_details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.burst_count = QSpinBox(objectName="burstCount", minimum=1, maximum=100000, value=100, prefix="N ")
        self.burst_concurrency = QSpinBox(objectName="burstConcurrency", minimum=1, maximum=1000, value=10, prefix="C ")
        self.burst_button = QPushButton("Send N", objectName="sendBurstButton")
        self.burst_button.setToolTip("Send N requests with C in flight and show the RTT spread")
        self.burst_result = _label("burstResult")

        self.history_view = QTableView(objectName="requestHistory")
        self.history_sorter = QSortFilterProxyModel(self)
        self.history_sorter.setSourceModel(self.history_model)
        self.history_sorter.setSortRole(SortRole)
        self.history_view.setModel(self.history_sorter)
        self.history_view.setSortingEnabled(True)
        self.history_view.sortByColumn(TIME_COLUMN, Qt.SortOrder.AscendingOrder)  # newest at the bottom, as streams
        for column, width in ((TIME_COLUMN, 70), (BROKER_COLUMN, 90), (REGION_COLUMN, 80), (TOPIC_COLUMN, 170),
                              (STATUS_COLUMN, 70), (RTT_COLUMN, 75)):
            self.history_view.setColumnWidth(column, width)
        self.history_view.verticalHeader().setDefaultSectionSize(20)
        self.history_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.history_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.history_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.history_view.verticalHeader().hide()
        self.history_view.setWordWrap(False)
        self.history_view.horizontalHeader().setStretchLastSection(True)
        self.history_view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.resend_action = QAction("Re-send", self, objectName="resendAction")
        self.history_view.addAction(self.resend_action)
        self.resend_button = QPushButton("Re-send", objectName="resendButton", flat=True)
        self.resend_button.setToolTip("Load the selected request into the editor and send it again")

        self.saved_list = QListWidget(objectName="savedRequests")
        self.saved_list.setToolTip("Saved requests: double-click to load one, or select it and press Send saved")
        self.save_name_edit = QLineEdit(objectName="savedRequestName", placeholderText="name for the current request")
        self.save_request_button = QPushButton("Save", objectName="saveRequestButton")
        self.save_request_button.setToolTip("Save topic, region, payload and options under this name")
        self.send_saved_button = QPushButton("Send saved", objectName="sendSavedRequestButton")
        self.delete_saved_button = QPushButton("Delete", objectName="deleteSavedRequestButton")

        # The composer and its result sit together on top, visible without scrolling; the
        # rarely changed options, bursts, history and saved requests share tabs below.
        where = QHBoxLayout()
        where.addWidget(QLabel("Broker"))
        where.addWidget(self.broker_combo, 1)
        where.addWidget(QLabel("Region"))
        where.addWidget(self.region_combo, 1)
        topic_row = QHBoxLayout()
        topic_row.addWidget(QLabel("Topic"))
        topic_row.addWidget(self.template_edit, 1)
        self.payload_edit.setMinimumHeight(34)
        send_row = QHBoxLayout()
        send_row.addWidget(self.send_button)
        send_row.addWidget(self.progress)
        send_row.addWidget(self.topic_preview, 2)
        send_row.addWidget(self.payload_check, 1)
        send_row.addWidget(self.format_button)
        self.progress.setMaximumWidth(80)
        self.reply_view.setMinimumHeight(34)
        composer = QWidget(objectName="requestComposer")
        composer_layout = QVBoxLayout(composer)
        composer_layout.setContentsMargins(0, 0, 0, 0)
        for item in (where, topic_row):
            composer_layout.addLayout(item)
        composer_layout.addWidget(self.payload_edit, 2)
        composer_layout.addLayout(send_row)
        composer_layout.addWidget(self.status_label)
        composer_layout.addWidget(self.reply_details)
        composer_layout.addWidget(self.reply_view, 3)

        options_page = QWidget()
        options_form = QFormLayout(options_page)
        options_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        options_form.addRow("Protocol", self.version_label)
        options_form.addRow("QoS", self.qos_combo)
        options_form.addRow("Reply topic", self.reply_topic_edit)
        options_form.addRow("Timeout", self.timeout_spin)
        options_form.addRow("Content type", self.content_type_edit)
        options_form.addRow("Message expiry", self.expiry_spin)
        property_buttons = QHBoxLayout()
        property_buttons.addWidget(self.add_property_button)
        property_buttons.addWidget(self.remove_property_button)
        property_buttons.addStretch(1)
        options_form.addRow("User properties", self.user_properties)
        options_form.addRow("", property_buttons)
        options_scroll = QScrollArea()
        options_scroll.setWidget(options_page)
        options_scroll.setWidgetResizable(True)
        options_scroll.setFrameShape(QScrollArea.Shape.NoFrame)

        history_page = QWidget()
        history_layout = QVBoxLayout(history_page)
        history_layout.setContentsMargins(2, 2, 2, 2)
        history_layout.addWidget(self.history_view, 1)

        burst_page = QWidget()
        burst_layout = QVBoxLayout(burst_page)
        burst_row = QHBoxLayout()
        burst_row.addWidget(self.burst_count)
        burst_row.addWidget(self.burst_concurrency)
        burst_row.addWidget(self.burst_button)
        burst_row.addStretch(1)
        burst_layout.addLayout(burst_row)
        burst_layout.addWidget(self.burst_result)
        burst_layout.addStretch(1)

        saved_page = QWidget()
        saved_layout = QVBoxLayout(saved_page)
        saved_layout.setContentsMargins(2, 2, 2, 2)
        save_row = QHBoxLayout()
        save_row.addWidget(self.save_name_edit, 1)
        save_row.addWidget(self.save_request_button)
        saved_layout.addLayout(save_row)
        saved_layout.addWidget(self.saved_list, 1)
        saved_buttons = QHBoxLayout()
        saved_buttons.addStretch(1)
        saved_buttons.addWidget(self.delete_saved_button)
        saved_buttons.addWidget(self.send_saved_button)
        saved_layout.addLayout(saved_buttons)

        self.tabs = QTabWidget(objectName="requestTabs")
        self.tabs.setMinimumHeight(72)  # the history scrolls; the composer above keeps its room
        self.tabs.addTab(history_page, "History")
        self.tabs.addTab(options_scroll, "Options")
        self.tabs.addTab(saved_page, "Saved")
        self.tabs.addTab(burst_page, "Burst")
        self.tabs.setCornerWidget(self.resend_button, Qt.Corner.TopRightCorner)  # beside the History tab, never squeezed
        splitter = QSplitter(Qt.Orientation.Vertical, objectName="requestSplitter")
        splitter.addWidget(composer)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addWidget(splitter)

    def _connect_signals(self) -> None:
        self.region_combo.currentTextChanged.connect(self._on_topic_inputs_changed)
        self.template_edit.textChanged.connect(self._on_topic_inputs_changed)
        self.payload_edit.textChanged.connect(self._on_payload_changed)
        self.format_button.clicked.connect(self._on_format_clicked)
        self.add_property_button.clicked.connect(self._on_add_property)
        self.remove_property_button.clicked.connect(self._on_remove_property)
        self.qos_combo.currentIndexChanged.connect(lambda i: self._save("qos", i))
        self.timeout_spin.valueChanged.connect(lambda v: self._save("timeout", v))
        self.reply_topic_edit.textChanged.connect(lambda t: self._save("replyTopic", t))
        self.send_button.clicked.connect(self.send_request)
        self.burst_button.clicked.connect(self.send_burst)
        self.history_view.doubleClicked.connect(self._on_history_double_clicked)
        self.resend_action.triggered.connect(self.resend_selected)
        self.resend_button.clicked.connect(self.resend_selected)
        self.context.sessionChanged.connect(self._on_current_changed)
        self.context.brokersChanged.connect(self._fill_brokers)
        self.broker_combo.currentIndexChanged.connect(lambda _i: self._on_session_changed(self.session))
        self.context.regionsChanged.connect(self._on_regions_changed)
        self.save_request_button.clicked.connect(self.save_current_request)
        self.save_name_edit.returnPressed.connect(self.save_current_request)
        self.send_saved_button.clicked.connect(self.send_saved)
        self.delete_saved_button.clicked.connect(self.delete_saved)
        self.saved_list.itemDoubleClicked.connect(lambda item: self.load_saved(item.text()))

    # ----- settings ---------------------------------------------------------------------
    def _save(self, key: str, value) -> None:
        self.context.settings.setValue(SETTINGS_PREFIX + key, value)

    def _restore_settings(self) -> None:
        settings = self.context.settings
        value = settings.value
        self.template_edit.setText(str(value(SETTINGS_PREFIX + "template", DEFAULT_TEMPLATE)))
        region = str(value(SETTINGS_PREFIX + "region", self.region_combo.currentText()))
        if region and self.region_combo.findText(region) < 0:
            self.region_combo.addItem(region)
        self.region_combo.setCurrentText(region)
        self.payload_edit.setPlainText(str(value(SETTINGS_PREFIX + "payload", "")))
        self.qos_combo.setCurrentIndex(int(value(SETTINGS_PREFIX + "qos", 0)))
        self.timeout_spin.setValue(float(value(SETTINGS_PREFIX + "timeout", DEFAULT_TIMEOUT)))
        self.reply_topic_edit.setText(str(value(SETTINGS_PREFIX + "replyTopic", "")))
        self._on_topic_inputs_changed()
        self._on_payload_changed()
        self._saved = self._read_saved()
        self.saved_list.addItems(sorted(self._saved))

    # ----- topic and payload --------------------------------------------------------------
    def request_topic(self) -> str:
        return self.template_edit.text().strip().replace(REGION_PLACEHOLDER, self.region_combo.currentText().strip())

    def _on_topic_inputs_changed(self, *_args) -> None:
        topic = self.request_topic()
        try:
            validate_topic(topic)
            self.topic_preview.setText(topic)
        except TopicError as exc:
            self.topic_preview.setText(f"{topic or '(empty)'} — {exc}")
        self._save("template", self.template_edit.text())
        self._save("region", self.region_combo.currentText())

    def _on_regions_changed(self) -> None:
        current = self.region_combo.currentText()
        known = {self.region_combo.itemText(i) for i in range(self.region_combo.count())}
        self.region_combo.addItems([r for r in request_regions(self.context.regions) if r not in known])
        self.region_combo.setCurrentText(current)

    def _on_payload_changed(self) -> None:
        text = self.payload_edit.toPlainText()
        self._save("payload", text)
        if not text.strip():
            self.payload_check.setText("Empty payload")
            self.format_button.setEnabled(False)
            return
        try:
            json.loads(text)
        except ValueError as exc:
            self.payload_check.setText(f"Not JSON ({exc.msg}, line {exc.lineno}): sent as plain text")
            self.format_button.setEnabled(False)
        else:
            self.payload_check.setText("Valid JSON")
            self.format_button.setEnabled(True)

    def _on_format_clicked(self) -> None:
        try:
            formatted = json.dumps(json.loads(self.payload_edit.toPlainText()), indent=2, ensure_ascii=False)
        except ValueError:
            return
        self.payload_edit.setPlainText(formatted)

    def _on_add_property(self) -> None:
        row = self.user_properties.rowCount()
        self.user_properties.insertRow(row)
        self.user_properties.setItem(row, 0, QTableWidgetItem(""))
        self.user_properties.setItem(row, 1, QTableWidgetItem(""))
        self.user_properties.editItem(self.user_properties.item(row, 0))

    def _on_remove_property(self) -> None:
        row = self.user_properties.currentRow()
        if row >= 0:
            self.user_properties.removeRow(row)

    def user_property_pairs(self) -> tuple[tuple[str, str], ...]:
        pairs = []
        for row in range(self.user_properties.rowCount()):
            key, value = self.user_properties.item(row, 0), self.user_properties.item(row, 1)
            if key is not None and key.text().strip():
                pairs.append((key.text().strip(), value.text() if value is not None else ""))
        return tuple(pairs)

    def request_options(self) -> dict:
        v5 = self.tracker is None or self.tracker.v5
        return dict(
            qos=self.qos_combo.currentIndex(),
            reply_topic=self.reply_topic_edit.text().strip() or None,
            timeout=self.timeout_spin.value(),
            user_properties=self.user_property_pairs() if v5 else (),
            content_type=(self.content_type_edit.text().strip() or None) if v5 else None,
            message_expiry=(self.expiry_spin.value() or None) if v5 else None,
        )

    # ----- session ----------------------------------------------------------------------
    @property
    def connection(self):
        """The broker chosen in the panel (the current one until the user picks another)."""
        chosen = self.context.workspace.broker(self.broker_combo.currentText()) if self.broker_combo.count() else None
        return chosen if chosen is not None else self.context.connection

    @property
    def tracker(self) -> RequestTracker | None:
        connection = self.connection
        return connection.tracker if connection is not None else None

    @property
    def session(self) -> MqttSession | None:
        connection = self.connection
        return connection.session if connection is not None else None

    def _fill_brokers(self) -> None:
        chosen = self.broker_combo.currentText()
        names = [c.broker_id for c in self.context.connections()]
        self.broker_combo.blockSignals(True)
        self.broker_combo.clear()
        self.broker_combo.addItems(names)
        current = self.context.connection.broker_id if self.context.connection is not None else ""
        self.broker_combo.setCurrentText(chosen if chosen in names else current)
        self.broker_combo.blockSignals(False)
        self._on_session_changed(self.session)

    def _on_current_changed(self, _session) -> None:
        """The window's current broker changed: requests leave on it, until the user picks another."""
        self._fill_brokers()
        if self.context.connection is not None:
            self.broker_combo.setCurrentText(self.context.connection.broker_id)
        self._on_session_changed(self.session)

    def _on_session_changed(self, session: MqttSession | None) -> None:
        v5 = session is None or session.profile.mqtt_version == MQTT_V5
        if session is None:
            self.version_label.setText("not connected")
        else:
            self.version_label.setText("MQTT 5 (correlated replies)" if v5 else "MQTT 3.1.1 (uncorrelated replies)")
        for widget, what in ((self.content_type_edit, "a content type"), (self.expiry_spin, "a message expiry"),
                             (self.user_properties, "user properties"), (self.add_property_button, "user properties"),
                             (self.remove_property_button, "user properties")):
            widget.setEnabled(v5)
            widget.setToolTip("" if v5 else V311_ONLY_REASON.format(what=what))
        if self.tracker is not None:
            self.reply_topic_edit.setPlaceholderText(self.tracker.default_reply_topic())
        self.reply_topic_edit.setToolTip(
            "Where replies are expected (empty: the default shown)" if v5 else
            "MQTT 3.1.1 has no response-topic property: the replier must answer on this fixed topic, "
            "and the next message on it is taken as the reply (uncorrelated)")
        self._update_send_enabled()

    def _update_send_enabled(self) -> None:
        session = self.session
        if session is None:
            reason = "Connect to a broker to send requests"
        elif session.read_only:
            reason = "This connection is read-only (monitor mode): requests are disabled"
        elif self._busy:
            reason = "Waiting for the reply…"
        else:
            reason = ""
        for button in (self.send_button, self.burst_button, self.resend_button):
            button.setEnabled(not reason)
        self.resend_action.setEnabled(not reason)
        self.send_button.setToolTip(reason or "Send the request (Ctrl+Enter)")

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.progress.setVisible(busy)
        self._update_send_enabled()

    # ----- sending ------------------------------------------------------------------------
    def send_from_shortcut(self) -> bool:
        """Ctrl+Enter anywhere in the window: send, if sending is possible now."""
        if not self.send_button.isEnabled():
            return False
        self.send_request()
        return True

    @asyncSlot()
    async def send_request(self) -> None:
        """Send the composed request and show its reply, timeout or error in the panel."""
        if self._busy or self.tracker is None or not self.send_button.isEnabled():
            return
        broker_id, topic = self.connection.broker_id, self.request_topic()
        payload = self.payload_edit.toPlainText().encode("utf-8")
        options = self.request_options()
        self._set_busy(True)
        self.status_label.setText(f"Waiting for a reply to {topic}…")
        self._clear_reply(f"Waiting for the reply to {topic}…")
        try:
            reply = await self.context.request(broker_id, topic, payload, **options)
        except RequestRefused as exc:
            self.reply_details.clear()
            self.status_label.setText(f"Not sent: {exc}")
        except RequestTimeout as exc:
            self._clear_reply(f"No reply to {topic}: the earlier reply is cleared")
            self.status_label.setText(f"Timeout: {exc}")
            self._record(topic, payload, "timeout", options, detail=str(exc))
        except Exception as exc:  # never let a failure escape the slot: show it
            message = str(exc) or type(exc).__name__
            self.reply_details.clear()
            self.status_label.setText(f"Error: {message}")
            self._record(topic, payload, "error", options, detail=message)
        else:
            self._show_reply(reply)
            self._record(topic, payload, reply.status, options, reply=reply)
        finally:
            self._set_busy(False)

    def _clear_reply(self, why: str) -> None:
        """A reply on screen always belongs to the last request: clear it when a new one starts or fails."""
        self.reply_view.clear()
        self.reply_details.setText(why)

    def _show_reply(self, reply: Reply) -> None:
        self.reply_view.setPlainText(format_payload(reply.payload))
        correlation = reply.correlation_id or "none (uncorrelated: MQTT 3.1.1)"
        route = f" · left on {reply.sent_on}, came back on {reply.received_on}" if reply.sent_on else ""
        self.reply_details.setText(f"RTT {reply.rtt * 1e3:.2f} ms · {len(reply.payload)} B · reply topic {reply.reply_topic}"
                                   f" · correlation {correlation}{route}")
        route = f" · left on {reply.sent_on}, came back on {reply.received_on}" if reply.sent_on else ""
        self.status_label.setText(f"Reply received in {reply.rtt * 1e3:.2f} ms"
                                  + ("" if reply.correlated else " (uncorrelated)") + route)

    def _record(self, topic: str, payload: bytes, status: str, options: dict, reply: Reply | None = None,
                detail: str = "") -> None:
        reply_topic = reply.reply_topic if reply else (options["reply_topic"] or (self.tracker.default_reply_topic() if self.tracker else ""))
        self.history_model.add(HistoryEntry.create(
            topic, payload, status, qos=options["qos"], reply_topic=reply_topic,
            rtt=reply.rtt if reply else None, reply_size=len(reply.payload) if reply else None,
            correlation_id=reply.correlation_id if reply else "", detail=detail,
            broker=(reply.sent_on if reply and reply.sent_on else self.broker_combo.currentText()),
            reply_broker=reply.received_on if reply and reply.received_on else ""))
        self.history_view.scrollToBottom()

    @asyncSlot()
    async def send_burst(self) -> None:
        """Send N requests with C in flight and show min/p50/p99/max RTT and failures."""
        if self._busy or self.tracker is None or not self.burst_button.isEnabled():
            return
        broker_id, topic = self.connection.broker_id, self.request_topic()
        payload = self.payload_edit.toPlainText().encode("utf-8")
        count, concurrency = self.burst_count.value(), self.burst_concurrency.value()
        self._set_busy(True)
        self.burst_result.setText(f"Sending {count} requests, {concurrency} at a time…")
        try:
            summary = await self.context.burst(broker_id, topic, payload, count, concurrency, **self.request_options())
        except Exception as exc:
            self.burst_result.setText(f"Burst not completed: {exc}")
        else:
            self.burst_result.setText(summary.text())
        finally:
            self._set_busy(False)

    # ----- history ----------------------------------------------------------------------
    def load_entry(self, entry: HistoryEntry) -> None:
        """Put a past request back into the editor: topic (as region + template), payload, QoS, reply topic."""
        region = region_of(entry.topic, 0)
        if "/" in entry.topic and region:
            if self.region_combo.findText(region) < 0:
                self.region_combo.addItem(region)
            self.region_combo.setCurrentText(region)
            self.template_edit.setText(REGION_PLACEHOLDER + entry.topic[len(region):])
        else:
            self.template_edit.setText(entry.topic)
        self.payload_edit.setPlainText(entry.payload_bytes.decode("utf-8", "replace"))
        self.qos_combo.setCurrentIndex(entry.qos)
        default = self.tracker.default_reply_topic() if self.tracker else ""
        self.reply_topic_edit.setText("" if entry.reply_topic == default else entry.reply_topic)

    def _on_history_double_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.load_entry(index.data(EntryRole))

    def resend_selected(self) -> None:
        rows = self.history_view.selectionModel().selectedRows()
        if not rows:
            self.status_label.setText("Select a request in the history to re-send it")
            return
        self.load_entry(rows[0].data(EntryRole))
        self.send_request()

    # ----- saved requests -----------------------------------------------------------------
    def _read_saved(self) -> dict[str, dict]:
        try:
            saved = json.loads(self.context.settings.value(SAVED_KEY, "{}") or "{}")
        except (TypeError, ValueError):
            return {}  # a hand-edited settings file loses its saved requests, not the window
        return {str(k): v for k, v in saved.items() if isinstance(v, dict)} if isinstance(saved, dict) else {}

    def _write_saved(self) -> None:
        self._save("saved", json.dumps(self._saved))
        self.saved_list.clear()
        self.saved_list.addItems(sorted(self._saved))

    def save_current_request(self) -> str | None:
        """Save the composer (topic template, region, payload, options) under the typed name."""
        name = self.save_name_edit.text().strip()
        if not name:
            self.status_label.setText("Type a name for the request to save it")
            return None
        self._saved[name] = {
            "template": self.template_edit.text(), "region": self.region_combo.currentText(),
            "payload": self.payload_edit.toPlainText(), "qos": self.qos_combo.currentIndex(),
            "reply_topic": self.reply_topic_edit.text(), "timeout": self.timeout_spin.value(),
            "content_type": self.content_type_edit.text(), "message_expiry": self.expiry_spin.value(),
            "user_properties": [list(pair) for pair in self.user_property_pairs()],
        }
        self._write_saved()
        self.save_name_edit.clear()
        self.status_label.setText(f"Saved the request as {name!r}")
        return name

    def load_saved(self, name: str) -> bool:
        saved = self._saved.get(name)
        if saved is None:
            return False
        try:
            return self._load_saved(name, saved)
        except (TypeError, ValueError) as exc:  # a hand-edited or older settings entry
            self.status_label.setText(f"The saved request {name!r} is damaged and was not loaded: {exc}")
            return False

    def _load_saved(self, name: str, saved: dict) -> bool:
        qos, timeout, expiry = int(saved.get("qos", 0)), float(saved.get("timeout", DEFAULT_TIMEOUT)), \
            int(saved.get("message_expiry", 0))
        properties = [(str(key), str(value)) for key, value in saved.get("user_properties", [])]
        if not 0 <= qos <= 2:
            raise ValueError(f"QoS {qos}")
        self.template_edit.setText(str(saved.get("template", DEFAULT_TEMPLATE)))
        region = str(saved.get("region", ""))
        if region and self.region_combo.findText(region) < 0:
            self.region_combo.addItem(region)
        self.region_combo.setCurrentText(region)
        self.payload_edit.setPlainText(str(saved.get("payload", "")))
        self.qos_combo.setCurrentIndex(qos)
        self.reply_topic_edit.setText(str(saved.get("reply_topic", "")))
        self.timeout_spin.setValue(timeout)
        self.content_type_edit.setText(str(saved.get("content_type", "")))
        self.expiry_spin.setValue(expiry)
        self.user_properties.setRowCount(0)
        for key, value in properties:
            row = self.user_properties.rowCount()
            self.user_properties.insertRow(row)
            self.user_properties.setItem(row, 0, QTableWidgetItem(str(key)))
            self.user_properties.setItem(row, 1, QTableWidgetItem(str(value)))
        self.status_label.setText(f"Loaded {name!r}")
        return True

    def _selected_saved(self) -> str | None:
        item = self.saved_list.currentItem()
        return item.text() if item is not None else None

    def send_saved(self) -> None:
        name = self._selected_saved()
        if name is None:
            self.status_label.setText("Select a saved request to send it")
            return
        if self.load_saved(name):
            self.send_request()

    def delete_saved(self) -> None:
        name = self._selected_saved()
        if name is not None:
            self._saved.pop(name, None)
            self._write_saved()
