"""Connection bar: where to connect, Connect/Disconnect, and what the connection is doing."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget,
)

from core.profile import MQTT_V5, MQTT_V311, ConnectionProfile, TlsSettings, parse_broker_address
from core.session import SessionState, SessionStatus
from gui.views.connection_settings_dialog import ConnectionSettingsDialog, load_advanced

MAX_RECENT = 10

_STATE_COLOURS = {
    SessionState.CONNECTED: "#2e7d32",
    SessionState.CONNECTING: "#f9a825",
    SessionState.RECONNECTING: "#ef6c00",
    SessionState.DISCONNECTED: "#c62828",
    SessionState.IDLE: "#757575",
}


class ConnectionBar(QWidget):
    """Signals:
        connectRequested(ConnectionProfile, password: str | None): replace the current broker.
        addRequested(ConnectionProfile, password: str | None): open it beside the others.
        disconnectRequested()
    """

    connectRequested = Signal(object, object)
    addRequested = Signal(object, object)
    disconnectRequested = Signal()

    def __init__(self, settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("connectionBar")
        self.setAccessibleName("Connection")
        self._settings = settings
        self._connected = False

        self.address = QComboBox(editable=True, objectName="brokerAddress")
        self.address.setToolTip("Broker: host:port or mqtt://, mqtts://, ws://, wss:// URL")
        self.address.setMinimumWidth(220)
        self.address.lineEdit().setPlaceholderText("127.0.0.1:1883")
        self.version = QComboBox(objectName="mqttVersion")
        self.version.addItem("MQTT 5", MQTT_V5)
        self.version.addItem("MQTT 3.1.1", MQTT_V311)
        self.username = QLineEdit(objectName="username", placeholderText="user")
        self.username.setMaximumWidth(110)
        self.password = QLineEdit(objectName="password", placeholderText="password")
        self.password.setEchoMode(QLineEdit.Password)
        self.password.setMaximumWidth(110)
        self.tls = QCheckBox("TLS", objectName="tlsEnabled")
        self.verify = QCheckBox("Verify cert", objectName="tlsVerify", checked=True)
        self.verify.setToolTip("Verify the broker's TLS certificate (recommended)")
        self.read_only = QCheckBox("Read-only", objectName="readOnly")
        self.read_only.setToolTip("Monitor mode: Eventscope will never publish on this connection")
        self.settings_button = QPushButton("Settings…", objectName="connectionSettingsButton")
        self.settings_button.setToolTip("TLS files, client id, keepalive, session, websocket path")
        self.connect_button = QPushButton("Connect", objectName="connectButton")
        self.connect_button.setShortcut("Ctrl+Shift+C")
        self.add_button = QPushButton("Add", objectName="addBrokerButton")
        self.add_button.setToolTip("Open this broker beside the ones already open (Brokers panel)")
        self.state_label = QLabel("Idle", objectName="connectionState")
        self.state_label.setTextFormat(Qt.PlainText)
        self.tls_warning = QLabel("⚠ TLS verification OFF", objectName="tlsWarning")
        self.tls_warning.setStyleSheet("color: #c62828; font-weight: bold")
        self.tls_warning.setVisible(False)
        self.error_label = QLabel("", objectName="connectionError")
        self.error_label.setTextFormat(Qt.PlainText)
        self.error_label.setStyleSheet("color: #c62828")

        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        for widget in (QLabel("Broker"), self.address, self.version, self.username, self.password,
                       self.tls, self.verify, self.read_only, self.settings_button, self.connect_button, self.add_button,
                       self.state_label,
                       self.tls_warning, self.error_label):
            layout.addWidget(widget)
        layout.addStretch(1)

        self.tls.toggled.connect(self._update_tls_widgets)
        self.verify.toggled.connect(self._update_tls_widgets)
        self.connect_button.clicked.connect(self._on_connect_clicked)
        self.add_button.clicked.connect(self._on_add_clicked)
        self.settings_button.clicked.connect(self.open_settings)
        self.address.lineEdit().returnPressed.connect(self._on_connect_clicked)
        self._restore()
        self._update_tls_widgets()

    # ----- persistence (never the password) -----
    def _restore(self) -> None:
        recent = self._settings.value("connection/recent", []) or []
        if isinstance(recent, str):
            recent = [recent]
        self.address.addItems(recent)
        self.address.setCurrentText(recent[0] if recent else "127.0.0.1:1883")
        index = self.version.findData(int(self._settings.value("connection/mqtt_version", MQTT_V5)))
        self.version.setCurrentIndex(max(0, index))
        self.username.setText(self._settings.value("connection/username", "") or "")
        self.tls.setChecked(self._settings.value("connection/tls", False, type=bool))
        self.verify.setChecked(self._settings.value("connection/tls_verify", True, type=bool))
        self.read_only.setChecked(self._settings.value("connection/read_only", False, type=bool))

    def _remember(self, address: str) -> None:
        recent = [address] + [self.address.itemText(i) for i in range(self.address.count()) if self.address.itemText(i) != address]
        recent = recent[:MAX_RECENT]
        self._settings.setValue("connection/recent", recent)
        self._settings.setValue("connection/mqtt_version", self.version.currentData())
        self._settings.setValue("connection/username", self.username.text())
        self._settings.setValue("connection/tls", self.tls.isChecked())
        self._settings.setValue("connection/tls_verify", self.verify.isChecked())
        self._settings.setValue("connection/read_only", self.read_only.isChecked())
        self.address.blockSignals(True)
        self.address.clear()
        self.address.addItems(recent)
        self.address.setCurrentText(address)
        self.address.blockSignals(False)

    # ----- building a profile -----
    def profile(self) -> ConnectionProfile:
        """The profile the fields describe. Raises ValueError with a readable message."""
        host, port, tls_from_url, transport = parse_broker_address(self.address.currentText())
        tls = self.tls.isChecked() or tls_from_url
        advanced = load_advanced(self._settings)
        return ConnectionProfile(
            name=f"{host}:{port}", host=host, port=port, transport=transport, ws_path=advanced["ws_path"],
            tls=TlsSettings(enabled=tls, verify=self.verify.isChecked(), ca_file=advanced["ca_file"],
                            cert_file=advanced["cert_file"], key_file=advanced["key_file"]),
            username=self.username.text().strip(), mqtt_version=self.version.currentData(),
            read_only=self.read_only.isChecked(), client_id=advanced["client_id"],
            keepalive=advanced["keepalive"], clean_start=advanced["clean_start"],
            session_expiry=advanced["session_expiry"],
        )

    def open_settings(self) -> ConnectionSettingsDialog:
        dialog = ConnectionSettingsDialog(self._settings, self)
        dialog.open()
        return dialog

    def set_address(self, host: str, port: int) -> None:
        self.address.setCurrentText(f"{host}:{port}")

    def _on_connect_clicked(self) -> None:
        if self._connected:
            self.disconnectRequested.emit()
            return
        self._request(self.connectRequested)

    def _on_add_clicked(self) -> None:
        self._request(self.addRequested)

    def _request(self, signal) -> None:
        try:
            profile = self.profile()
        except ValueError as exc:
            self.error_label.setText(str(exc))
            return
        self.error_label.clear()
        self._remember(self.address.currentText().strip())
        signal.emit(profile, self.password.text() or None)

    def show_error(self, text: str) -> None:
        self.error_label.setText(text)

    def _update_tls_widgets(self) -> None:
        self.verify.setEnabled(self.tls.isChecked())
        self.tls_warning.setVisible(self.tls.isChecked() and not self.verify.isChecked())

    def show_status(self, status: SessionStatus | None) -> None:
        """Reflect the session's state; None means no session."""
        if status is None:
            self._connected = False
            self.connect_button.setText("Connect")
            self.state_label.setText("Idle")
            return
        self._connected = status.state is not SessionState.DISCONNECTED
        self.connect_button.setText("Disconnect" if self._connected else "Connect")
        colour = _STATE_COLOURS.get(status.state, "#757575")
        self.state_label.setStyleSheet(f"color: {colour}; font-weight: bold")
        self.state_label.setText(status.text)
        self.error_label.setText(status.message if status.state is SessionState.DISCONNECTED and status.message != "disconnected by user" else "")
