"""Advanced connection settings: TLS files, client id, keepalive, session, websocket path.

Saved in QSettings with the rest of the connection bar; never a password.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLineEdit, QPushButton,
    QSpinBox, QWidget,
)

KEY = "connection/advanced/"


class ConnectionSettingsDialog(QDialog):
    def __init__(self, settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("connectionSettingsDialog")
        self.setWindowTitle("Connection settings")
        self._settings = settings
        self.ca_file = self._path_field("caFile", "CA certificates (PEM) to verify the broker")
        self.cert_file = self._path_field("certFile", "Client certificate (PEM) for mutual TLS")
        self.key_file = self._path_field("keyFile", "Client private key (PEM)")
        self.client_id = QLineEdit(objectName="clientId", placeholderText="unique per run")
        self.client_id.setToolTip("Leave empty for a unique id per run (two clients with one id kick each other off)")
        self.keepalive = QSpinBox(objectName="keepalive", minimum=5, maximum=3600, suffix=" s")
        self.clean_start = QCheckBox("Clean start", objectName="cleanStart")
        self.session_expiry = QSpinBox(objectName="sessionExpiry", minimum=0, maximum=7 * 24 * 3600, suffix=" s")
        self.session_expiry.setToolTip("MQTT 5: how long the broker keeps the session after a disconnect")
        self.ws_path = QLineEdit(objectName="websocketPath")

        form = QFormLayout(self)
        form.addRow("CA file", self._with_browse(self.ca_file))
        form.addRow("Client certificate", self._with_browse(self.cert_file))
        form.addRow("Client key", self._with_browse(self.key_file))
        form.addRow("Client id", self.client_id)
        form.addRow("Keepalive", self.keepalive)
        form.addRow("", self.clean_start)
        form.addRow("Session expiry", self.session_expiry)
        form.addRow("Websocket path", self.ws_path)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._load()

    def _path_field(self, name: str, tip: str) -> QLineEdit:
        field = QLineEdit(objectName=name)
        field.setToolTip(tip)
        return field

    def _with_browse(self, field: QLineEdit) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(field, 1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(field))
        layout.addWidget(browse)
        return row

    def _browse(self, field: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, field.toolTip(), field.text(), "PEM files (*.pem *.crt *.key);;All files (*)")
        if path:
            field.setText(path)

    def _load(self) -> None:
        values = load_advanced(self._settings)
        self.ca_file.setText(values["ca_file"])
        self.cert_file.setText(values["cert_file"])
        self.key_file.setText(values["key_file"])
        self.client_id.setText(values["client_id"])
        self.keepalive.setValue(values["keepalive"])
        self.clean_start.setChecked(values["clean_start"])
        self.session_expiry.setValue(values["session_expiry"])
        self.ws_path.setText(values["ws_path"])

    def accept(self) -> None:
        s = self._settings
        for key, field in (("ca_file", self.ca_file), ("cert_file", self.cert_file), ("key_file", self.key_file),
                           ("client_id", self.client_id), ("ws_path", self.ws_path)):
            s.setValue(KEY + key, field.text().strip())
        s.setValue(KEY + "keepalive", self.keepalive.value())
        s.setValue(KEY + "clean_start", self.clean_start.isChecked())
        s.setValue(KEY + "session_expiry", self.session_expiry.value())
        super().accept()


def load_advanced(settings) -> dict:
    """The saved advanced settings, with defaults."""
    return {
        "ca_file": settings.value(KEY + "ca_file", "") or "",
        "cert_file": settings.value(KEY + "cert_file", "") or "",
        "key_file": settings.value(KEY + "key_file", "") or "",
        "client_id": settings.value(KEY + "client_id", "") or "",
        "keepalive": int(settings.value(KEY + "keepalive", 30)),
        "clean_start": settings.value(KEY + "clean_start", True, type=bool),
        "session_expiry": int(settings.value(KEY + "session_expiry", 0)),
        "ws_path": settings.value(KEY + "ws_path", "/mqtt") or "/mqtt",
    }
