"""The request panel's Saved tab: the named requests, kept in the settings under ``SAVED_KEY``.

What a saved request holds and how a damaged one is refused is core's (``core/requests/saved.py``);
this tab lists them and keeps them in QSettings, as JSON text under the key they have always used.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QListWidget, QPushButton, QVBoxLayout, QWidget

from eventscope.core.requests.saved import SavedRequest, SavedRequests
from eventscope.gui.views.request_common import SETTINGS_PREFIX

SAVED_KEY = SETTINGS_PREFIX + "saved"


class RequestSavedTab(QWidget):
    """The saved-request list with its name field and buttons. Deleting is the tab's own business; saving,
    loading and sending need the composer, so they are asked of the panel.

    Signals:
        saveRequested(): Save was clicked, or Return pressed in the name field.
        loadRequested(str): a saved request was double-clicked.
        sendRequested(): Send saved was clicked.
    """

    saveRequested = Signal()
    loadRequested = Signal(str)
    sendRequested = Signal()

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self.requests = SavedRequests.from_json(settings.value(SAVED_KEY, "{}"))
        self.saved_list = QListWidget(objectName="savedRequests")
        self.saved_list.setToolTip("Saved requests: double-click to load one, or select it and press Send saved")
        self.save_name_edit = QLineEdit(objectName="savedRequestName", placeholderText="name for the current request")
        self.save_request_button = QPushButton("Save", objectName="saveRequestButton")
        self.save_request_button.setToolTip("Save topic, region, payload and options under this name")
        self.send_saved_button = QPushButton("Send saved", objectName="sendSavedRequestButton")
        self.delete_saved_button = QPushButton("Delete", objectName="deleteSavedRequestButton")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        save_row = QHBoxLayout()
        save_row.addWidget(self.save_name_edit, 1)
        save_row.addWidget(self.save_request_button)
        layout.addLayout(save_row)
        layout.addWidget(self.saved_list, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.delete_saved_button)
        buttons.addWidget(self.send_saved_button)
        layout.addLayout(buttons)
        self.saved_list.addItems(self.requests.names())

        self.save_request_button.clicked.connect(self.saveRequested)
        self.save_name_edit.returnPressed.connect(self.saveRequested)
        self.send_saved_button.clicked.connect(self.sendRequested)
        self.delete_saved_button.clicked.connect(self.delete_selected)
        self.saved_list.itemDoubleClicked.connect(lambda item: self.loadRequested.emit(item.text()))

    def typed_name(self) -> str:
        return self.save_name_edit.text().strip()

    def selected_name(self) -> str | None:
        item = self.saved_list.currentItem()
        return item.text() if item is not None else None

    def save(self, name: str, request: SavedRequest) -> None:
        """Save ``request`` as ``name`` (replacing one of that name), store the list and clear the name field."""
        self.requests.save(name, request)
        self._write()
        self.save_name_edit.clear()

    def delete_selected(self) -> None:
        name = self.selected_name()
        if name is not None:
            self.requests.delete(name)
            self._write()

    def _write(self) -> None:
        self._settings.setValue(SAVED_KEY, self.requests.to_json())
        self.saved_list.clear()
        self.saved_list.addItems(self.requests.names())
