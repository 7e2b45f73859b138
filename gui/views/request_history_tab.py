"""The request panel's History tab: the requests sent, sortable, newest at the bottom; double-click or
Re-send puts one back into the composer."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractItemView, QPushButton, QTableView, QVBoxLayout, QWidget

from eventscope.core.requests.history import HistoryEntry, RequestHistory
from eventscope.gui.models.request_history_model import (
    BROKER_COLUMN,
    REGION_COLUMN,
    RTT_COLUMN,
    STATUS_COLUMN,
    TIME_COLUMN,
    TOPIC_COLUMN,
    EntryRole,
    RequestHistoryModel,
    SortRole,
)

COLUMN_WIDTHS = ((TIME_COLUMN, 70), (BROKER_COLUMN, 90), (REGION_COLUMN, 80), (TOPIC_COLUMN, 170),
                 (STATUS_COLUMN, 70), (RTT_COLUMN, 75))


class RequestHistoryTab(QWidget):
    """The history table. ``resend_button`` is made here but shown by the panel, in the tab bar's corner.

    Signals:
        entryActivated(HistoryEntry): a row was double-clicked (load it into the composer).
        resendRequested(): Re-send was clicked or chosen from the table's context menu.
    """

    entryActivated = Signal(object)
    resendRequested = Signal()

    def __init__(self, history: RequestHistory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history_model = RequestHistoryModel(history, self)
        self.history_view = QTableView(objectName="requestHistory")
        self.history_sorter = QSortFilterProxyModel(self)
        self.history_sorter.setSourceModel(self.history_model)
        self.history_sorter.setSortRole(SortRole)
        self.history_view.setModel(self.history_sorter)
        self.history_view.setSortingEnabled(True)
        self.history_view.sortByColumn(TIME_COLUMN, Qt.SortOrder.AscendingOrder)  # newest at the bottom, as streams
        for column, width in COLUMN_WIDTHS:
            self.history_view.setColumnWidth(column, width)
        self.history_view.verticalHeader().setDefaultSectionSize(20)
        self.history_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.history_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.history_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.history_view.verticalHeader().hide()
        self.history_view.setWordWrap(False)
        self.history_view.horizontalHeader().setStretchLastSection(True)
        self.history_view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.resend_action = QAction("Re-send", self, objectName="resendAction")
        self.history_view.addAction(self.resend_action)
        self.resend_button = QPushButton("Re-send", objectName="resendButton", flat=True)
        self.resend_button.setToolTip("Load the selected request into the editor and send it again")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.history_view, 1)

        self.history_view.doubleClicked.connect(self._on_double_clicked)
        self.resend_action.triggered.connect(self.resendRequested)
        self.resend_button.clicked.connect(self.resendRequested)

    def add(self, entry: HistoryEntry) -> None:
        self.history_model.add(entry)
        self.history_view.scrollToBottom()

    def selected_entry(self) -> HistoryEntry | None:
        rows = self.history_view.selectionModel().selectedRows()
        return rows[0].data(EntryRole) if rows else None

    def _on_double_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.entryActivated.emit(index.data(EntryRole))
