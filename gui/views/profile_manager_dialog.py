"""Connection profiles: create, edit, duplicate, delete, test, import and export; open one beside the others.

Profiles are the CLI's too (``--profile NAME``). Passwords go to the OS keychain, never to the
profiles file or an export.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from eventscope.core.mqtt.session import MqttSession, SessionState
from eventscope.core.profile import MQTT_V5
from eventscope.core.profiles.credentials import CredentialError
from eventscope.core.profiles.store import ProfileError, ProfileStore, StoredProfile
from eventscope.gui.views.profile_form import ProfileForm

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
        self.form = ProfileForm()
        self.result_label = QLabel("", objectName="profileResult")
        self.result_label.setTextFormat(Qt.TextFormat.PlainText)
        self.result_label.setWordWrap(True)

        buttons = {}
        for key, text, tip in (("new", "New", "A new, empty profile"),
                               ("duplicate", "Duplicate", "Copy the selected profile"),
                               ("delete", "Delete", "Delete the selected profile and its keychain password"),
                               ("import", "Import…", "Add profiles from an exported file"),
                               ("export", "Export…", "Save every profile to a file, without any password"),
                               ("save", "Save", "Store the profile (the password goes to the keychain)"),
                               ("test", "Test connection", "Connect once and report the time or the exact failure"),
                               ("open", "Open", "Open this broker beside the ones already open")):
            buttons[key] = QPushButton(text, objectName=f"profile{key.capitalize()}Button", toolTip=tip)
        self.buttons = buttons

        self.empty_hint = QLabel("No saved profiles yet: fill in the form and Save, or Import… a file "
                                 "exported from another Eventscope", objectName="profileListEmpty")
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setTextFormat(Qt.TextFormat.PlainText)
        left = QVBoxLayout()
        left.addWidget(self.empty_hint)
        left.addWidget(self.list, 1)
        for row in (("new", "duplicate", "delete"), ("import", "export")):
            line = QHBoxLayout()
            for key in row:
                line.addWidget(buttons[key])
            left.addLayout(line)
        right = QVBoxLayout()
        right.addWidget(self.form)
        actions = QHBoxLayout()
        for key in ("save", "test", "open"):
            actions.addWidget(buttons[key])
        right.addLayout(actions)
        right.addWidget(self.result_label)
        right.addStretch(1)
        columns = QHBoxLayout()
        columns.addLayout(left, 1)
        columns.addLayout(right, 2)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(columns, 1)
        layout.addWidget(close)

        self.list.currentTextChanged.connect(self._show_profile)
        buttons["new"].clicked.connect(self.new_profile)
        buttons["duplicate"].clicked.connect(self.duplicate_selected)
        buttons["delete"].clicked.connect(self.delete_selected)
        buttons["import"].clicked.connect(self._on_import_clicked)
        buttons["export"].clicked.connect(self._on_export_clicked)
        buttons["save"].clicked.connect(self.save_profile)
        buttons["test"].clicked.connect(self.test_connection)
        buttons["open"].clicked.connect(self._on_open_clicked)
        self._reload()
        self.new_profile() if not self.store.names() else self.list.setCurrentRow(0)

    # ----- list -----
    def _reload(self, select: str | None = None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        self.list.addItems(self.store.names())
        self.list.blockSignals(False)
        self.empty_hint.setVisible(self.list.count() == 0)
        if select is not None:
            matches = self.list.findItems(select, Qt.MatchFlag.MatchExactly)
            if matches:
                self.list.setCurrentItem(matches[0])

    def _show_profile(self, name: str) -> None:
        if not name:
            return
        self.form.set_profile(self.store.get(name))
        self.result_label.clear()

    def new_profile(self) -> None:
        self.list.clearSelection()
        self.form.clear()
        self.form.name_edit.setFocus()

    # ----- editing -----
    def profile_from_fields(self) -> StoredProfile:
        """The profile the fields describe (an empty name is host:port, as the field says). Raises ValueError
        with a readable message."""
        return self.form.stored_profile()

    def save_profile(self) -> StoredProfile | None:
        try:
            stored = self.profile_from_fields()
            self.store.put(stored, self.form.password())
        except (ValueError, ProfileError, CredentialError) as exc:
            self.result_label.setText(f"Not saved: {exc}")
            return None
        self.form.password_edit.clear()
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
        password = self.form.password() or (self.store.password(stored.name) if stored.name in self.store.profiles
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
        if self._test is None:  # the timer stops whenever the test ends
            return
        session, started, timer = self._test
        status = session.status
        elapsed = time.monotonic() - started
        if status.state is SessionState.CONNECTED:
            text = describe_connected(session, elapsed)
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


def describe_connected(session: MqttSession, elapsed: float) -> str:
    """"Connected in 12 ms (MQTT 5)" and, one per line, what the CONNACK said."""
    version = "MQTT 5" if session.profile.mqtt_version == MQTT_V5 else "MQTT 3.1.1"
    lines = [f"Connected in {elapsed * 1000:.0f} ms ({version})", "CONNACK:"]
    lines += [f"  {name}: {value}" for name, value in session.connack.items()]
    return "\n".join(lines)
