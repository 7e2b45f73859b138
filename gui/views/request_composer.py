"""The request composer: which broker and region a request goes to, its topic template, its payload, and
the send button. The panel does the sending, for the button and for Ctrl+Enter anywhere in the window
(``RequestPanel.send_from_shortcut``, which sends only while this button is enabled)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from eventscope.core.connections.handle import BrokerHandle
from eventscope.core.requests.saved import DEFAULT_TEMPLATE
from eventscope.core.topics import TopicError, region_of, validate_topic
from eventscope.gui.context import AppContext
from eventscope.gui.views.elided_label import ElidedLabel
from eventscope.gui.views.json_payload import JsonPayloadCheck
from eventscope.gui.views.request_common import plain_label, setting, store_setting

REGION_PLACEHOLDER = "{region}"
REPLY_NAMESPACE = "eventscope"
NOT_REGIONS = frozenset((REPLY_NAMESPACE, "spBv1.0"))


def request_regions(regions) -> list[str]:
    """Regions to send to: never Eventscope's own reply namespace (``eventscope/+/reply``), Sparkplug's
    ``spBv1.0`` or a ``$`` level, which are first topic levels but no regions."""
    return [r for r in regions if r not in NOT_REGIONS and not r.startswith("$")]


class RequestComposer(QWidget):
    """Broker, region, topic template and payload, with the send row under them.

    Signals:
        brokerChosen(): the user picked another broker to send on.
    """

    brokerChosen = Signal()

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("requestComposer")
        self.context = context
        self._build()
        self.json_check = JsonPayloadCheck(self.payload_edit, self.payload_check, self.format_button)
        self.broker_combo.currentIndexChanged.connect(lambda _i: self.brokerChosen.emit())
        self.context.regionsChanged.connect(self._on_regions_changed)

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
        self.payload_edit.setMinimumHeight(34)
        self.payload_check = plain_label("payloadValidation")
        self.format_button = QPushButton("Format", objectName="formatPayloadButton")

        self.send_button = QPushButton("Send request", objectName="sendRequestButton")
        self.progress = QProgressBar(objectName="requestProgress", minimum=0, maximum=0, textVisible=False)
        self.progress.setMaximumHeight(8)
        self.progress.setMaximumWidth(80)
        self.progress.hide()

        where = QHBoxLayout()
        where.addWidget(QLabel("Broker"))
        where.addWidget(self.broker_combo, 1)
        where.addWidget(QLabel("Region"))
        where.addWidget(self.region_combo, 1)
        topic_row = QHBoxLayout()
        topic_row.addWidget(QLabel("Topic"))
        topic_row.addWidget(self.template_edit, 1)
        send_row = QHBoxLayout()
        send_row.addWidget(self.send_button)
        send_row.addWidget(self.progress)
        send_row.addWidget(self.topic_preview, 2)
        send_row.addWidget(self.payload_check, 1)
        send_row.addWidget(self.format_button)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addLayout(where)
        self._layout.addLayout(topic_row)
        self._layout.addWidget(self.payload_edit, 2)
        self._layout.addLayout(send_row)

    def add_below(self, widget: QWidget, stretch: int = 0) -> None:
        """Put ``widget`` under the send row (the reply goes there, visible without scrolling)."""
        self._layout.addWidget(widget, stretch)

    def restore_settings(self) -> None:
        """Show the template, region and payload kept from the last run, then keep each edit in the settings.

        The panel calls this once the composer sits in its splitter, as it always has: the splitter's
        first division follows the composer's size hint from before these texts are set.
        """
        settings = self.context.settings
        self.template_edit.setText(str(setting(settings, "template", DEFAULT_TEMPLATE)))
        self.set_region(str(setting(settings, "region", self.region_combo.currentText())))
        self.payload_edit.setPlainText(str(setting(settings, "payload", "")))
        self._on_topic_inputs_changed()
        self._on_payload_changed()
        self.region_combo.currentTextChanged.connect(self._on_topic_inputs_changed)
        self.template_edit.textChanged.connect(self._on_topic_inputs_changed)
        self.payload_edit.textChanged.connect(self._on_payload_changed)

    # ----- the broker -------------------------------------------------------------------------
    @property
    def connection(self) -> BrokerHandle | None:
        """The broker chosen here (the current one until the user picks another)."""
        chosen = self.context.workspace.broker(self.broker_combo.currentText()) if self.broker_combo.count() else None
        return chosen if chosen is not None else self.context.connection

    def fill_brokers(self) -> None:
        """List the open brokers, keeping the user's choice while it is still open; quietly (no brokerChosen)."""
        chosen = self.broker_combo.currentText()
        names = [c.broker_id for c in self.context.connections()]
        self.broker_combo.blockSignals(True)
        self.broker_combo.clear()
        self.broker_combo.addItems(names)
        current = self.context.connection.broker_id if self.context.connection is not None else ""
        self.broker_combo.setCurrentText(chosen if chosen in names else current)
        self.broker_combo.blockSignals(False)

    def follow_current(self) -> None:
        """The window's current broker changed: requests leave on it, until the user picks another."""
        if self.context.connection is not None:
            self.broker_combo.setCurrentText(self.context.connection.broker_id)

    # ----- topic and payload --------------------------------------------------------------
    def request_topic(self) -> str:
        return self.template_edit.text().strip().replace(REGION_PLACEHOLDER, self.region_combo.currentText().strip())

    def payload(self) -> bytes:
        return self.payload_edit.toPlainText().encode("utf-8")

    def set_region(self, region: str) -> None:
        """Select ``region``, adding it to the list if it is not there (a region typed or saved before)."""
        if region and self.region_combo.findText(region) < 0:
            self.region_combo.addItem(region)
        self.region_combo.setCurrentText(region)

    def load_topic(self, topic: str) -> None:
        """Show a topic as region + template when its first level is a region, else as it is."""
        region = region_of(topic, 0)
        if "/" in topic and region:
            self.set_region(region)
            self.template_edit.setText(REGION_PLACEHOLDER + topic[len(region):])
        else:
            self.template_edit.setText(topic)

    def _on_topic_inputs_changed(self, *_args) -> None:
        topic = self.request_topic()
        try:
            validate_topic(topic)
            self.topic_preview.setText(topic)
        except TopicError as exc:
            self.topic_preview.setText(f"{topic or '(empty)'} — {exc}")
        store_setting(self.context.settings, "template", self.template_edit.text())
        store_setting(self.context.settings, "region", self.region_combo.currentText())

    def _on_regions_changed(self) -> None:
        current = self.region_combo.currentText()
        known = {self.region_combo.itemText(i) for i in range(self.region_combo.count())}
        self.region_combo.addItems([r for r in request_regions(self.context.regions) if r not in known])
        self.region_combo.setCurrentText(current)

    def _on_payload_changed(self) -> None:
        store_setting(self.context.settings, "payload", self.payload_edit.toPlainText())
