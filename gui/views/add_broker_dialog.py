"""Add a broker to the window: pick a saved profile or fill in a new one, then connect.

A new broker is saved as a profile unless the user unticks it, so it is there for the CLI's
``--profile`` and the next start. The password goes to the OS keychain.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from eventscope.core.profiles.credentials import CredentialError
from eventscope.core.profiles.store import ProfileError, ProfileStore, StoredProfile
from eventscope.gui.status_colours import status_style
from eventscope.gui.views.profile_form import ProfileForm

# Opens the broker (a saved profile or not); returns None, or why it could not be opened.
Opener = Callable[[StoredProfile, "str | None", bool], "str | None"]


class AddBrokerDialog(QDialog):
    def __init__(self, store: ProfileStore, opener: Opener, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("addBrokerDialog")
        self.setWindowTitle("Add a broker")
        self.store = store
        self._opener = opener
        self.saved_combo = QComboBox(objectName="addBrokerSaved")
        self.saved_combo.addItem("New broker", None)
        for name in store.names():
            self.saved_combo.addItem(name, name)
        self.form = ProfileForm()
        self.form.clear()
        self.save_check = QCheckBox("Save as a profile (the password goes to the OS keychain)",
                                    objectName="addBrokerSave", checked=True)
        self.error_label = QLabel("", objectName="addBrokerError")
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(status_style("error"))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.connect_button = self.buttons.addButton("Connect", QDialogButtonBox.ButtonRole.AcceptRole)
        self.connect_button.setObjectName("addBrokerConnect")
        self.connect_button.setDefault(True)
        layout = QVBoxLayout(self)
        start = QHBoxLayout()
        start.addWidget(QLabel("Start from"))
        start.addWidget(self.saved_combo, 1)
        layout.addLayout(start)
        layout.addWidget(self.form)
        layout.addWidget(self.save_check)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.saved_combo.currentIndexChanged.connect(self._on_saved_chosen)
        self.buttons.accepted.connect(self.connect_broker)
        self.buttons.rejected.connect(self.reject)
        self.form.address_edit.setFocus()
        self.form.address_edit.selectAll()

    def _on_saved_chosen(self) -> None:
        name = self.saved_combo.currentData()
        if name is None:
            self.form.clear()
            self.save_check.setChecked(True)
        else:
            self.form.set_profile(self.store.get(name))
            self.save_check.setChecked(False)  # it is saved already; tick to save edits
        self.error_label.clear()

    def connect_broker(self) -> bool:
        """Open the broker the form describes; stay open with the reason if that fails."""
        try:
            stored = self.form.stored_profile()
        except ValueError as exc:
            self.error_label.setText(str(exc))
            return False
        password = self.form.password()
        chosen = self.saved_combo.currentData()
        if password is None and chosen == stored.name:
            password = self.store.password(stored.name)
        if self.save_check.isChecked() and chosen != stored.name and stored.name in self.store.profiles:
            self.error_label.setText(f"A profile named {stored.name!r} exists already: choose it above, "
                                     "or give this broker another name")
            return False
        saved = self.save_check.isChecked() or chosen == stored.name
        problem = self._opener(stored, password, saved)
        if problem:
            self.error_label.setText(problem)
            return False
        if self.save_check.isChecked():
            try:
                self.store.put(stored, password)
            except (ProfileError, CredentialError) as exc:
                self.error_label.setText(f"Connected, but the profile was not saved: {exc}")
                return False
        self.accept()
        return True
