"""Connection profiles: create, edit, duplicate, delete, test, import and export; open one beside the others.

Profiles are the CLI's too (``--profile NAME``). Passwords go to the OS keychain, never to the
profiles file or an export.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QListWidget, QPushButton, QVBoxLayout, QWidget)

from core.credentials import CredentialError
from core.profile import MQTT_V5, MQTT_V311, ConnectionProfile, TlsSettings, parse_broker_address
from core.profile_store import ProfileError, ProfileStore, StoredProfile
from core.session import MqttSession, SessionState

TEST_TIMEOUT = 5.0  # seconds a connection test may take
TEST_POLL_MS = 20


class ProfileManagerDialog(QDialog):
    """Signals:
        openRequested(StoredProfile, password: str | None): open this profile beside the open brokers.
    """

    openRequested = Signal(object, object)

    def __init__(self, store: ProfileStore | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("profileManager")
        self.setWindowTitle("Connection profiles")
        self.store = store if store is not None else ProfileStore.load()
        self._test: tuple[MqttSession, float, QTimer] | None = None

        self.list = QListWidget(objectName="profileList")
        self.name_edit = QLineEdit(objectName="profileName")
        self.address_edit = QLineEdit(objectName="profileAddress", placeholderText="host:port or mqtt(s)://, ws(s):// URL")
        self.version_combo = QComboBox(objectName="profileMqttVersion")
        self.version_combo.addItem("MQTT 5", MQTT_V5)
        self.version_combo.addItem("MQTT 3.1.1", MQTT_V311)
        self.username_edit = QLineEdit(objectName="profileUsername")
        self.password_edit = QLineEdit(objectName="profilePassword", placeholderText="unchanged (kept in the keychain)")
        self.password_edit.setEchoMode(QLineEdit.Password)
        self.tls_check = QCheckBox("TLS", objectName="profileTls")
        self.verify_check = QCheckBox("Verify the broker's certificate", objectName="profileTlsVerify", checked=True)
        self.ca_edit = QLineEdit(objectName="profileCaFile", placeholderText="CA file (empty: the system's)")
        self.read_only_check = QCheckBox("Read-only (never publish)", objectName="profileReadOnly")
        self.region_edit = QLineEdit(objectName="profileRegion", placeholderText="e.g. us-east (optional)")
        self.colour_edit = QLineEdit(objectName="profileColour", placeholderText="#rrggbb (optional)")
        self.filters_edit = QLineEdit(objectName="profileAuditFilters")
        self.filters_edit.setToolTip("Audit filters, comma-separated; recorded at QoS 1")
        self.result_label = QLabel("", objectName="profileResult")
        self.result_label.setTextFormat(Qt.PlainText)
        self.result_label.setWordWrap(True)

        buttons = {}
        for key, text, tip in (("new", "New", "A new, empty profile"), ("duplicate", "Duplicate", "Copy the selected profile"),
                               ("delete", "Delete", "Delete the selected profile and its keychain password"),
                               ("import", "Import…", "Add profiles from an exported file"),
                               ("export", "Export…", "Save every profile to a file, without any password"),
                               ("save", "Save", "Store the profile (the password goes to the keychain)"),
                               ("test", "Test connection", "Connect once and report the time or the exact failure"),
                               ("open", "Open", "Open this broker beside the ones already open")):
            buttons[key] = QPushButton(text, objectName=f"profile{key.capitalize()}Button", toolTip=tip)
        self.buttons = buttons

        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("Broker", self.address_edit)
        form.addRow("Protocol", self.version_combo)
        form.addRow("User", self.username_edit)
        form.addRow("Password", self.password_edit)
        form.addRow("", self.tls_check)
        form.addRow("", self.verify_check)
        form.addRow("CA file", self.ca_edit)
        form.addRow("", self.read_only_check)
        form.addRow("Region", self.region_edit)
        form.addRow("Colour", self.colour_edit)
        form.addRow("Audit filters", self.filters_edit)
        left = QVBoxLayout()
        left.addWidget(self.list, 1)
        for row in (("new", "duplicate", "delete"), ("import", "export")):
            line = QHBoxLayout()
            for key in row:
                line.addWidget(buttons[key])
            left.addLayout(line)
        right = QVBoxLayout()
        right.addLayout(form)
        actions = QHBoxLayout()
        for key in ("save", "test", "open"):
            actions.addWidget(buttons[key])
        right.addLayout(actions)
        right.addWidget(self.result_label)
        right.addStretch(1)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 1)
        layout.addLayout(right, 2)

        self.list.currentTextChanged.connect(self._show_profile)
        buttons["new"].clicked.connect(self.new_profile)
        buttons["duplicate"].clicked.connect(self.duplicate_selected)
        buttons["delete"].clicked.connect(self.delete_selected)
        buttons["import"].clicked.connect(self._on_import_clicked)
        buttons["export"].clicked.connect(self._on_export_clicked)
        buttons["save"].clicked.connect(self.save_profile)
        buttons["test"].clicked.connect(self.test_connection)
        buttons["open"].clicked.connect(self._on_open_clicked)
        self.tls_check.toggled.connect(self.verify_check.setEnabled)
        self._reload()
        self.new_profile() if not self.store.names() else self.list.setCurrentRow(0)

    # ----- list -----
    def _reload(self, select: str | None = None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        self.list.addItems(self.store.names())
        self.list.blockSignals(False)
        if select is not None:
            matches = self.list.findItems(select, Qt.MatchExactly)
            if matches:
                self.list.setCurrentItem(matches[0])

    def _show_profile(self, name: str) -> None:
        if not name:
            return
        stored = self.store.get(name)
        profile = stored.connection
        self.name_edit.setText(profile.name)
        self.address_edit.setText(profile.address)
        self.version_combo.setCurrentIndex(max(0, self.version_combo.findData(profile.mqtt_version)))
        self.username_edit.setText(profile.username)
        self.password_edit.clear()
        self.tls_check.setChecked(profile.tls.enabled)
        self.verify_check.setChecked(profile.tls.verify)
        self.verify_check.setEnabled(profile.tls.enabled)
        self.ca_edit.setText(profile.tls.ca_file)
        self.read_only_check.setChecked(profile.read_only)
        self.region_edit.setText(stored.region)
        self.colour_edit.setText(stored.colour)
        self.filters_edit.setText(", ".join(stored.audit_filters))
        self.result_label.clear()

    def new_profile(self) -> None:
        self.list.clearSelection()
        for edit in (self.name_edit, self.username_edit, self.password_edit, self.ca_edit, self.region_edit,
                     self.colour_edit):
            edit.clear()
        self.address_edit.setText("127.0.0.1:1883")
        self.filters_edit.setText(", ".join(StoredProfile(ConnectionProfile()).audit_filters))
        self.read_only_check.setChecked(False)
        self.tls_check.setChecked(False)
        self.name_edit.setFocus()

    # ----- editing -----
    def profile_from_fields(self) -> StoredProfile:
        """The profile the fields describe. Raises ValueError with a readable message."""
        name = self.name_edit.text().strip()
        if not name:
            raise ValueError("Give the profile a name")
        host, port, tls_from_url, transport = parse_broker_address(self.address_edit.text())
        connection = ConnectionProfile(
            name=name, host=host, port=port, transport=transport,
            tls=TlsSettings(enabled=self.tls_check.isChecked() or tls_from_url, ca_file=self.ca_edit.text().strip(),
                            verify=self.verify_check.isChecked()),
            username=self.username_edit.text().strip(), mqtt_version=self.version_combo.currentData(),
            read_only=self.read_only_check.isChecked())
        filters = tuple(f.strip() for f in self.filters_edit.text().split(",") if f.strip())
        return StoredProfile(connection, self.region_edit.text().strip(), filters, self.colour_edit.text().strip())

    def save_profile(self) -> StoredProfile | None:
        try:
            stored = self.profile_from_fields()
            self.store.put(stored, self.password_edit.text() or None)
        except (ValueError, ProfileError, CredentialError) as exc:
            self.result_label.setText(f"Not saved: {exc}")
            return None
        self.password_edit.clear()
        self._reload(select=stored.name)
        self.result_label.setText(f"Saved {stored.name}" + (" (password in the OS keychain)" if stored.connection.username
                                                              else ""))
        return stored

    def selected_name(self) -> str | None:
        item = self.list.currentItem()
        return item.text() if item is not None and item.isSelected() else None

    def duplicate_selected(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        new_name = next(f"{name} copy{'' if n == 1 else f' {n}'}" for n in range(1, 1000)
                        if f"{name} copy{'' if n == 1 else f' {n}'}" not in self.store.profiles)
        try:
            self.store.duplicate(name, new_name)
        except (ProfileError, CredentialError) as exc:
            self.result_label.setText(str(exc))
            return
        self._reload(select=new_name)

    def delete_selected(self) -> None:
        name = self.selected_name()
        if name is not None:
            self.store.remove(name)
            self._reload()
            self.result_label.setText(f"Deleted {name}")

    # ----- import and export -----
    def _on_import_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import profiles", "", "Profiles (*.json)")
        if path:
            self.import_from(path)

    def import_from(self, path) -> list[str]:
        try:
            names = self.store.import_file(path)
        except ProfileError as exc:
            self.result_label.setText(f"Not imported: {exc}")
            return []
        self._reload(select=names[0] if names else None)
        self.result_label.setText(f"Imported {len(names)} profile{'s' if len(names) != 1 else ''}")
        return names

    def _on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export profiles (no passwords)", "eventscope-profiles.json",
                                              "Profiles (*.json)")
        if path:
            self.export_to(path)

    def export_to(self, path) -> int:
        try:
            count = self.store.export(path)
        except ProfileError as exc:
            self.result_label.setText(f"Not exported: {exc}")
            return 0
        self.result_label.setText(f"Exported {count} profiles to {path} (no passwords)")
        return count

    # ----- test and open -----
    def test_connection(self) -> None:
        """Connect once in the background; the result label says how long it took or exactly why it failed."""
        if self._test is not None:
            return
        try:
            stored = self.profile_from_fields()
        except ValueError as exc:
            self.result_label.setText(f"Cannot test: {exc}")
            return
        password = self.password_edit.text() or (self.store.password(stored.name) if stored.name in self.store.profiles
                                                 else None)
        session = MqttSession(stored.connection, password=password, buffer_messages=False, session_id="profile-test")
        timer = QTimer(self, interval=TEST_POLL_MS)
        self._test = (session, time.monotonic(), timer)
        timer.timeout.connect(self._on_test_poll)
        self.buttons["test"].setEnabled(False)
        self.result_label.setText(f"Testing {stored.connection.address}…")
        session.start()
        timer.start()

    def _on_test_poll(self) -> None:
        session, started, timer = self._test
        status = session.status
        elapsed = time.monotonic() - started
        if status.state is SessionState.CONNECTED:
            version = "MQTT 5" if session.profile.mqtt_version == MQTT_V5 else "MQTT 3.1.1"
            limit = f", broker's maximum packet size {session.max_packet_size:,} B" if session.max_packet_size else ""
            text = f"Connected in {elapsed * 1000:.0f} ms ({version}{limit})"
        elif status.state in (SessionState.DISCONNECTED, SessionState.RECONNECTING) and status.message:
            text = f"Failed after {elapsed * 1000:.0f} ms: {status.message}"
        elif elapsed > TEST_TIMEOUT:
            text = f"No answer from {session.profile.address} within {TEST_TIMEOUT:g} s"
        else:
            return
        timer.stop()
        self._test = None
        session.stop(timeout=1.0)
        self.buttons["test"].setEnabled(True)
        self.result_label.setText(text)

    def _on_open_clicked(self) -> None:
        stored = self.save_profile()
        if stored is not None:
            self.openRequested.emit(stored, self.store.password(stored.name))

    def done(self, result: int) -> None:
        if self._test is not None:
            session, _started, timer = self._test
            timer.stop()
            session.stop(timeout=1.0)
            self._test = None
        super().done(result)
