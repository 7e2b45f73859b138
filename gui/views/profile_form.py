"""The fields of one connection profile, shared by the Add broker dialog and the profile manager.

Three tabs keep it small enough for a 1024×700 screen: the connection itself, TLS and session
details, and the broker's place in the mesh. The password field is only ever handed to the
keychain by the caller; the form never stores it.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from eventscope.core.decoding.decoders import DECODERS
from eventscope.core.decoding.rules import DecoderRule, DecoderRuleError
from eventscope.core.profile import (
    DEFAULT_AUDIT_FILTERS,
    MQTT_V5,
    MQTT_V311,
    ConnectionProfile,
    TlsSettings,
    parse_broker_address,
)
from eventscope.core.profiles.store import StoredProfile
from eventscope.core.topics import TopicError, validate_filter
from eventscope.gui.status_colours import status_style


class ProfileForm(QWidget):
    """Edit a ``StoredProfile``: ``set_profile`` fills the fields, ``stored_profile`` reads them back."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("profileForm")
        self._loaded = StoredProfile(ConnectionProfile(name=""))
        self.name_edit = QLineEdit(objectName="profileName", placeholderText="e.g. us-east (default: host:port)")
        self.address_edit = QLineEdit(objectName="profileAddress",
                                      placeholderText="host:port or mqtt://, mqtts://, ws://, wss:// URL")
        self.version_combo = QComboBox(objectName="profileMqttVersion")
        self.version_combo.addItem("MQTT 5", MQTT_V5)
        self.version_combo.addItem("MQTT 3.1.1", MQTT_V311)
        self.username_edit = QLineEdit(objectName="profileUsername")
        self.password_edit = QLineEdit(objectName="profilePassword", placeholderText="kept in the OS keychain")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.tls_check = QCheckBox("TLS", objectName="profileTls")
        self.verify_check = QCheckBox("Verify the broker's certificate", objectName="profileTlsVerify", checked=True)
        self.tls_warning = QLabel("⚠ TLS verification OFF: anyone on the path can read and change this traffic",
                                  objectName="profileTlsWarning")
        self.tls_warning.setWordWrap(True)
        self.tls_warning.setStyleSheet(status_style("error", bold=True))
        self.read_only_check = QCheckBox("Read-only (Eventscope never publishes here)", objectName="profileReadOnly")

        self.ca_edit = QLineEdit(objectName="profileCaFile", placeholderText="empty: the system's CA certificates")
        self.cert_edit = QLineEdit(objectName="profileCertFile", placeholderText="client certificate (PEM), mutual TLS")
        self.key_edit = QLineEdit(objectName="profileKeyFile", placeholderText="client private key (PEM)")
        self.client_id_edit = QLineEdit(objectName="profileClientId", placeholderText="empty: unique per run")
        self.client_id_edit.setToolTip("Two clients with one id kick each other off; leave empty unless the broker needs it")
        self.keepalive_spin = QSpinBox(objectName="profileKeepalive", minimum=5, maximum=3600, value=30, suffix=" s")
        self.clean_start_check = QCheckBox("Clean start", objectName="profileCleanStart", checked=True)
        self.session_expiry_spin = QSpinBox(objectName="profileSessionExpiry", minimum=0, maximum=7 * 24 * 3600,
                                            suffix=" s")
        self.session_expiry_spin.setToolTip("MQTT 5: how long the broker keeps the session after a disconnect")
        self.ws_path_edit = QLineEdit("/mqtt", objectName="profileWebsocketPath")
        self.will_topic_edit = QLineEdit(objectName="profileWillTopic", placeholderText="none")
        self.will_topic_edit.setToolTip("Last Will: the broker publishes this if Eventscope drops without saying goodbye")
        self.will_payload_edit = QLineEdit(objectName="profileWillPayload")
        self.will_qos_combo = QComboBox(objectName="profileWillQos")
        self.will_qos_combo.addItems(["0", "1", "2"])
        self.will_retain_check = QCheckBox("Retain the Last Will", objectName="profileWillRetain")

        self.region_edit = QLineEdit(objectName="profileRegion", placeholderText="e.g. us-east (optional)")
        self.region_edit.setToolTip("The broker's region in the mesh; streams can take their region from it")
        self.colour_edit = QLineEdit(objectName="profileColour", placeholderText="#rrggbb (optional)")
        self.colour_button = QPushButton("Pick…", objectName="profileColourPick")
        self.filters_edit = QLineEdit(", ".join(DEFAULT_AUDIT_FILTERS), objectName="profileAuditFilters")
        self.filters_edit.setToolTip("Audit filters, comma-separated; recorded at QoS 1")

        self.rules_edit = QPlainTextEdit(objectName="profileDecoderRules")
        self.rules_edit.setPlaceholderText("One rule a line, first match wins:\nfactory/+/telemetry=protobuf:acme.Telemetry"
                                           "\nspBv1.0/#=sparkplug\nlegacy/#=cbor")
        self.proto_paths_edit = QLineEdit(objectName="profileProtoPaths",
                                          placeholderText=".proto files, folders or descriptor sets, separated by ;")
        self.tabs = QTabWidget(objectName="profileTabs")
        self.tabs.addTab(self._form(("Name", self.name_edit), ("Broker", self.address_edit),
                                    ("Protocol", self.version_combo), ("User", self.username_edit),
                                    ("Password", self.password_edit), ("", self.tls_check), ("", self.verify_check),
                                    ("", self.tls_warning), ("", self.read_only_check)), "Connection")
        self.tabs.addTab(self._form(("CA file", self._with_browse(self.ca_edit)),
                                    ("Client certificate", self._with_browse(self.cert_edit)),
                                    ("Client key", self._with_browse(self.key_edit)), ("Client id", self.client_id_edit),
                                    ("Keepalive", self.keepalive_spin), ("", self.clean_start_check),
                                    ("Session expiry", self.session_expiry_spin),
                                    ("Websocket path", self.ws_path_edit)), "TLS and session")
        self.tabs.addTab(self._form(("Rules", self.rules_edit), ("Proto files", self.proto_paths_edit)), "Decoders")
        self.tabs.addTab(self._form(("Topic", self.will_topic_edit), ("Payload", self.will_payload_edit),
                                    ("QoS", self.will_qos_combo), ("", self.will_retain_check)), "Last Will")
        colour_row = QWidget()
        colour_layout = QHBoxLayout(colour_row)
        colour_layout.setContentsMargins(0, 0, 0, 0)
        colour_layout.addWidget(self.colour_edit, 1)
        colour_layout.addWidget(self.colour_button)
        self.tabs.addTab(self._form(("Region", self.region_edit), ("Colour", colour_row),
                                    ("Audit filters", self.filters_edit)), "Mesh")
        self.filters_edit.textChanged.connect(self.filters_edit.setToolTip)  # the whole list, however long
        # Every tab's name in view: five did not fit, and Mesh hid behind scroll arrows.
        self.tabs.tabBar().setUsesScrollButtons(False)
        self.tabs.setMinimumWidth(self.tabs.tabBar().sizeHint().width() + 8)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)

        self.tls_check.toggled.connect(self._update_tls)
        self.verify_check.toggled.connect(self._update_tls)
        self.colour_button.clicked.connect(self._pick_colour)
        self._update_tls()

    @staticmethod
    def _form(*rows) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for label, widget in rows:
            form.addRow(label, widget)
        return page

    def _with_browse(self, field: QLineEdit) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(field, 1)
        browse = QPushButton("Browse…", objectName=f"{field.objectName()}Browse")
        browse.clicked.connect(lambda: self._browse(field))
        layout.addWidget(browse)
        return row

    def _browse(self, field: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, field.placeholderText(), field.text(),
                                              "PEM files (*.pem *.crt *.key);;All files (*)")
        if path:
            field.setText(path)

    def _pick_colour(self) -> None:
        colour = QColorDialog.getColor(QColor(self.colour_edit.text() or "#1565c0"), self, "Broker colour")
        if colour.isValid():
            self.colour_edit.setText(colour.name())

    def _update_tls(self) -> None:
        self.verify_check.setEnabled(self.tls_check.isChecked())
        self.tls_warning.setVisible(self.tls_check.isChecked() and not self.verify_check.isChecked())

    # ----- in and out -----
    def set_profile(self, stored: StoredProfile) -> None:
        self._loaded = stored  # fields the form does not show (decoder rules, proto paths) survive an edit
        profile = stored.connection
        self.name_edit.setText(profile.name)
        self.address_edit.setText(profile.address)
        self.version_combo.setCurrentIndex(max(0, self.version_combo.findData(profile.mqtt_version)))
        self.username_edit.setText(profile.username)
        self.password_edit.clear()
        self.tls_check.setChecked(profile.tls.enabled)
        self.verify_check.setChecked(profile.tls.verify)
        self.read_only_check.setChecked(profile.read_only)
        self.ca_edit.setText(profile.tls.ca_file)
        self.cert_edit.setText(profile.tls.cert_file)
        self.key_edit.setText(profile.tls.key_file)
        self.client_id_edit.setText(profile.client_id)
        self.keepalive_spin.setValue(profile.keepalive)
        self.clean_start_check.setChecked(profile.clean_start)
        self.session_expiry_spin.setValue(profile.session_expiry)
        self.ws_path_edit.setText(profile.ws_path)
        self.will_topic_edit.setText(profile.will_topic)
        self.will_payload_edit.setText(profile.will_payload)
        self.will_qos_combo.setCurrentIndex(profile.will_qos)
        self.will_retain_check.setChecked(profile.will_retain)
        self.region_edit.setText(stored.region)
        self.colour_edit.setText(stored.colour)
        self.filters_edit.setText(", ".join(stored.audit_filters))
        self.rules_edit.setPlainText("\n".join(rule_text(rule) for rule in stored.decoder_rules))
        self.proto_paths_edit.setText("; ".join(stored.proto_paths))
        self._update_tls()

    def clear(self) -> None:
        self.set_profile(StoredProfile(ConnectionProfile(name="")))
        self.address_edit.setText("127.0.0.1:1883")

    def password(self) -> str | None:
        return self.password_edit.text() or None

    def stored_profile(self) -> StoredProfile:
        """The profile the fields describe. Raises ValueError with a message a user can act on."""
        host, port, tls_from_url, transport = parse_broker_address(self.address_edit.text())
        name = self.name_edit.text().strip() or f"{host}:{port}"
        colour = self.colour_edit.text().strip()
        if colour and not QColor.isValidColorName(colour):
            raise ValueError(f"{colour!r} is not a colour: use #rrggbb or a name such as 'teal'")
        filters = tuple(f.strip() for f in self.filters_edit.text().split(",") if f.strip())
        for topic_filter in filters:
            try:
                validate_filter(topic_filter)
            except TopicError as exc:
                raise ValueError(f"Audit filter {topic_filter!r}: {exc}") from None
        connection = ConnectionProfile(
            name=name, host=host, port=port, transport=transport, ws_path=self.ws_path_edit.text().strip() or "/mqtt",
            tls=TlsSettings(enabled=self.tls_check.isChecked() or tls_from_url, verify=self.verify_check.isChecked(),
                            ca_file=self.ca_edit.text().strip(), cert_file=self.cert_edit.text().strip(),
                            key_file=self.key_edit.text().strip()),
            username=self.username_edit.text().strip(), client_id=self.client_id_edit.text().strip(),
            mqtt_version=self.version_combo.currentData(), keepalive=self.keepalive_spin.value(),
            clean_start=self.clean_start_check.isChecked(), session_expiry=self.session_expiry_spin.value(),
            read_only=self.read_only_check.isChecked(), will_topic=self.will_topic_edit.text().strip(),
            will_payload=self.will_payload_edit.text(), will_qos=self.will_qos_combo.currentIndex(),
            will_retain=self.will_retain_check.isChecked())
        rules = []
        for number, line in enumerate(self.rules_edit.toPlainText().splitlines(), start=1):
            if line.strip():
                try:
                    rule = DecoderRule.parse(line.strip())
                    validate_filter(rule.topic_filter)
                except (DecoderRuleError, TopicError) as exc:
                    raise ValueError(f"Decoder rule {number} ({line.strip()!r}): {exc}") from None
                if rule.decoder not in DECODERS and rule.decoder != "protobuf":
                    raise ValueError(f"Decoder rule {number}: unknown decoder {rule.decoder!r} "
                                     f"(one of {', '.join(DECODERS[1:])}, protobuf:TYPE)")
                rules.append(rule)
        paths = tuple(p.strip() for p in self.proto_paths_edit.text().split(";") if p.strip())
        return replace(self._loaded, connection=connection, region=self.region_edit.text().strip(),
                       audit_filters=filters or DEFAULT_AUDIT_FILTERS, colour=colour, decoder_rules=tuple(rules),
                       proto_paths=paths)


__all__ = ["ProfileForm"]


def rule_text(rule: DecoderRule) -> str:
    """A rule as the user types it: ``FILTER=DECODER[:TYPE]``."""
    return f"{rule.topic_filter}={rule.decoder}" + (f":{rule.message_type}" if rule.message_type else "")
