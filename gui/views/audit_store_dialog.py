"""Where the audit feed records and reads: this computer (a SQLite file) or the team's PostgreSQL database,
and how much of each payload the recording keeps.

The URL is remembered without its password; the password goes to the OS keychain. A password typed
into the URL itself is moved to the password field, so it never reaches the settings file. The payload
cap is remembered in the settings too, in MiB (``saved_max_payload``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from eventscope.core.audit.postgres import is_postgres_url, mask_url, split_password
from eventscope.core.audit.store import DEFAULT_PAYLOAD_LIMIT
from eventscope.core.profiles.credentials import CredentialError, load_password, save_password
from eventscope.gui.settings_values import bounded_int
from eventscope.gui.status_colours import status_style

STORE_KEY = "audit/store"  # "" (this computer) or the team database's URL, never with a password
URL_HINT = "postgresql://user@host:5432/audit?sslmode=verify-full&sslrootcert=ca.pem"
MAX_PAYLOAD_KEY = "audit/maxPayloadMiB"  # payloads are kept whole up to this many MiB
MIB = 1024 * 1024
MAX_PAYLOAD_MIB = 256  # MQTT's largest message: no cap need be higher


def saved_max_payload(settings: QSettings) -> int:
    """The payload cap chosen in the window, in bytes (16 MiB until one is chosen)."""
    return bounded_int(settings, MAX_PAYLOAD_KEY, DEFAULT_PAYLOAD_LIMIT // MIB, 1, MAX_PAYLOAD_MIB) * MIB


def keychain_account(url: str) -> tuple[str, str]:
    """The keychain entry for a team database: (name, user); the URL is taken without its password."""
    parts = urlsplit(split_password(url)[0])
    user, _, hosts = parts.netloc.rpartition("@")
    return f"audit {hosts}{parts.path}", user


def team_password(url: str) -> str | None:
    """The team database's password from the keychain (None: libpq may still find one in PGPASSFILE)."""
    name, user = keychain_account(url)
    return load_password(name, user) if user else None


def tls_state(url: str) -> tuple[str, bool]:
    """How the connection to the team database is protected, and whether that is weak (shown in red)."""
    query = dict(part.split("=", 1) for part in urlsplit(url).query.split("&") if "=" in part)
    mode = query.get("sslmode", "prefer")
    if mode in ("verify-full", "verify-ca"):
        return f"TLS {mode}", False
    if mode == "require":
        return "TLS without certificate verification (sslmode=require)", True
    return f"TLS not verified (sslmode={mode})", True


class AuditStoreDialog(QDialog):
    """Choose the audit store and the payload cap. ``location()``, ``password()`` and ``max_payload()`` are
    the choice once accepted."""

    def __init__(self, current: str, max_payload: int = DEFAULT_PAYLOAD_LIMIT, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("auditStoreDialog")
        self.setWindowTitle("Audit store")
        self.setMinimumWidth(560)  # a whole URL readable in its field
        self.local_radio = QRadioButton("This computer (SQLite file)", objectName="auditStoreLocal")
        self.team_radio = QRadioButton("Team database (PostgreSQL URL)", objectName="auditStoreTeam")
        group = QButtonGroup(self)
        group.addButton(self.local_radio)
        group.addButton(self.team_radio)
        self.url_edit = QLineEdit(objectName="auditStoreUrl", placeholderText=URL_HINT)
        self.password_edit = QLineEdit(objectName="auditStorePassword", placeholderText="stored in the OS keychain")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.result_label = QLabel("", objectName="auditStoreResult")
        self.result_label.setTextFormat(Qt.TextFormat.PlainText)  # a URL is user input: never markup
        self.result_label.setWordWrap(True)
        self.max_payload_spin = QSpinBox(objectName="auditMaxPayload", minimum=1, maximum=MAX_PAYLOAD_MIB,
                                         suffix=" MiB")
        self.max_payload_spin.setValue(min(max(max_payload // MIB, 1), MAX_PAYLOAD_MIB))
        self.max_payload_spin.setToolTip("Each recorded payload is kept whole up to this size; a longer one is cut "
                                         "there and marked truncated, with its original size")
        form = QFormLayout()
        form.addRow("URL", self.url_edit)
        form.addRow("Password", self.password_edit)
        keep_form = QFormLayout()  # for either store: apart from the team database's fields
        keep_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        keep_form.addRow("Keep payloads up to", self.max_payload_spin)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.local_radio)
        layout.addWidget(self.team_radio)
        layout.addLayout(form)
        layout.addWidget(self.result_label)
        layout.addLayout(keep_form)
        layout.addWidget(buttons)
        self.team_radio.toggled.connect(self._on_mode_changed)
        self.url_edit.textChanged.connect(self._on_url_changed)
        if is_postgres_url(current):
            self.team_radio.setChecked(True)
            self.url_edit.setText(current)
        else:
            self.local_radio.setChecked(True)
        self._on_mode_changed(self.team_radio.isChecked())

    def _on_mode_changed(self, team: bool) -> None:
        self.url_edit.setEnabled(team)
        self.password_edit.setEnabled(team)
        self._on_url_changed(self.url_edit.text())

    def _on_url_changed(self, text: str) -> None:
        if not self.team_radio.isChecked():
            self.result_label.setText("The audit is a SQLite file in this computer's data folder.")
            return
        text = text.strip()
        if not text:
            self.result_label.setText("Type the team database's URL; ask its administrator for a recorder or "
                                      "viewer login (eventscope audit init-db --roles).")
            return
        if not is_postgres_url(text):
            self.result_label.setText("A team database URL starts with postgresql://")
            return
        url, typed = split_password(text)
        if typed is not None:  # never kept in the URL: the password field (and so the keychain) takes it
            self.url_edit.blockSignals(True)
            self.url_edit.setText(url)
            self.url_edit.blockSignals(False)
            self.password_edit.setText(typed)
        state, weak = tls_state(url)
        self.result_label.setText(f"{mask_url(url)} · {state}" + (": the server's identity is not checked" if weak else ""))
        self.result_label.setStyleSheet(status_style("error" if weak else "muted"))
        self.adjustSize()  # a longer note wraps onto more lines: the dialog grows rather than clipping it

    def accept(self) -> None:
        if self.team_radio.isChecked() and not is_postgres_url(self.url_edit.text().strip()):
            self.result_label.setText("A team database URL starts with postgresql://")
            return
        super().accept()

    def max_payload(self) -> int:
        """The payload cap, in bytes."""
        return self.max_payload_spin.value() * MIB

    def location(self) -> str:
        """The chosen store: "" for this computer, else the URL without a password."""
        return split_password(self.url_edit.text().strip())[0] if self.team_radio.isChecked() else ""

    def password(self) -> str | None:
        """The typed password, stored in the keychain; else the keychain's."""
        url = self.location()
        if not url:
            return None
        typed = self.password_edit.text()
        name, user = keychain_account(url)
        if typed and user:
            try:
                save_password(name, user, typed)
            except CredentialError:
                pass  # kept for this run only; the feed says nothing more: the keychain note is in the status bar
        return typed or team_password(url)
