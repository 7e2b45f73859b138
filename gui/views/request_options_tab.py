"""The request panel's Options tab: QoS, reply topic, timeout and the MQTT 5 properties of a request.

The fields MQTT 3.1.1 cannot carry stay visible but disabled, with the reason in their tooltip.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from eventscope.core.mqtt.session import SessionBase
from eventscope.core.profile import MQTT_V5
from eventscope.core.requests.saved import SavedRequest
from eventscope.core.requests.tracker import DEFAULT_TIMEOUT
from eventscope.gui.views.request_common import plain_label, setting, store_setting

V311_ONLY_REASON = "MQTT 3.1.1 cannot carry {what}: connect with MQTT 5 to use it."


class RequestOptionsTab(QScrollArea):
    """The options form, scrolling when the tab is short. QoS, reply topic and timeout outlive a restart."""

    def __init__(self, settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self._build()
        self.add_property_button.clicked.connect(self._on_add_property)
        self.remove_property_button.clicked.connect(self._on_remove_property)

    def _build(self) -> None:
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
        self.version_label = plain_label("requestMqttVersion")

        page = QWidget()
        form = QFormLayout(page)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Protocol", self.version_label)
        form.addRow("QoS", self.qos_combo)
        form.addRow("Reply topic", self.reply_topic_edit)
        form.addRow("Timeout", self.timeout_spin)
        form.addRow("Content type", self.content_type_edit)
        form.addRow("Message expiry", self.expiry_spin)
        property_buttons = QHBoxLayout()
        property_buttons.addWidget(self.add_property_button)
        property_buttons.addWidget(self.remove_property_button)
        property_buttons.addStretch(1)
        form.addRow("User properties", self.user_properties)
        form.addRow("", property_buttons)
        self.setWidget(page)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)

    def restore_settings(self) -> None:
        """Show the QoS, timeout and reply topic kept from the last run, then keep each change in the settings."""
        self.qos_combo.setCurrentIndex(int(setting(self._settings, "qos", 0)))
        self.timeout_spin.setValue(float(setting(self._settings, "timeout", DEFAULT_TIMEOUT)))
        self.reply_topic_edit.setText(str(setting(self._settings, "replyTopic", "")))
        self.qos_combo.currentIndexChanged.connect(lambda i: store_setting(self._settings, "qos", i))
        self.timeout_spin.valueChanged.connect(lambda v: store_setting(self._settings, "timeout", v))
        self.reply_topic_edit.textChanged.connect(lambda t: store_setting(self._settings, "replyTopic", t))

    # ----- user properties -----------------------------------------------------------------
    def _on_add_property(self) -> None:
        row = self.user_properties.rowCount()
        self.user_properties.insertRow(row)
        key = QTableWidgetItem("")
        self.user_properties.setItem(row, 0, key)
        self.user_properties.setItem(row, 1, QTableWidgetItem(""))
        self.user_properties.editItem(key)

    def _on_remove_property(self) -> None:
        row = self.user_properties.currentRow()
        if row >= 0:
            self.user_properties.removeRow(row)

    def user_property_pairs(self) -> tuple[tuple[str, str], ...]:
        """The table's rows with a key, in order; a row without a key is not sent."""
        pairs = []
        for row in range(self.user_properties.rowCount()):
            key, value = self.user_properties.item(row, 0), self.user_properties.item(row, 1)
            if key is not None and key.text().strip():
                pairs.append((key.text().strip(), value.text() if value is not None else ""))
        return tuple(pairs)

    def set_user_properties(self, pairs) -> None:
        self.user_properties.setRowCount(0)
        for key, value in pairs:
            row = self.user_properties.rowCount()
            self.user_properties.insertRow(row)
            self.user_properties.setItem(row, 0, QTableWidgetItem(str(key)))
            self.user_properties.setItem(row, 1, QTableWidgetItem(str(value)))

    # ----- the request's options --------------------------------------------------------------
    def request_options(self, v5: bool) -> dict:
        """Keyword arguments for ``AppContext.request``/``burst``; MQTT 3.1.1 gets no MQTT 5 properties."""
        return dict(
            qos=self.qos_combo.currentIndex(),
            reply_topic=self.reply_topic_edit.text().strip() or None,
            timeout=self.timeout_spin.value(),
            user_properties=self.user_property_pairs() if v5 else (),
            content_type=(self.content_type_edit.text().strip() or None) if v5 else None,
            message_expiry=(self.expiry_spin.value() or None) if v5 else None,
        )

    def apply_saved(self, saved: SavedRequest) -> None:
        self.qos_combo.setCurrentIndex(saved.qos)
        self.reply_topic_edit.setText(saved.reply_topic)
        self.timeout_spin.setValue(saved.timeout)
        self.content_type_edit.setText(saved.content_type)
        self.expiry_spin.setValue(saved.message_expiry)
        self.set_user_properties(saved.user_properties)

    def show_protocol(self, session: SessionBase | None, default_reply_topic: str | None) -> None:
        """Say which MQTT version the chosen broker speaks, and allow only the fields it can carry."""
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
        if default_reply_topic is not None:
            self.reply_topic_edit.setPlaceholderText(default_reply_topic)
        self.reply_topic_edit.setToolTip(
            "Where replies are expected (empty: the default shown)" if v5 else
            "MQTT 3.1.1 has no response-topic property: the replier must answer on this fixed topic, "
            "and the next message on it is taken as the reply (uncorrelated)")
