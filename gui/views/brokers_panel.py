"""The Brokers panel: every open broker with its state, rate and warnings; remove one, pick the current one."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QHeaderView, QPushButton, QTableView, QVBoxLayout, QWidget

from gui.context import AppContext
from gui.models.broker_table_model import ADDRESS, NAME, NOTES, STATE, BrokerTableModel


class BrokersPanel(QWidget):
    """Adding a broker is the connection bar's "Add"; removing or switching one never disturbs the others."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("brokersPanel")
        self.setAccessibleName("Brokers")
        self.model = BrokerTableModel(context, self)
        self.table = QTableView(objectName="brokersTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(20)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        for column, width in ((NAME, 110), (ADDRESS, 190), (STATE, 190)):
            self.table.setColumnWidth(column, width)
        header.setSectionResizeMode(NOTES, QHeaderView.Stretch)
        self.current_button = QPushButton("Make current", objectName="makeBrokerCurrent")
        self.current_button.setToolTip("Send requests through this broker and show its audit feed (double-click a row)")
        self.remove_button = QPushButton("Remove", objectName="removeBroker")
        self.remove_button.setToolTip("Disconnect this broker and remove its topics; the others keep running")
        buttons = QHBoxLayout()
        buttons.addWidget(self.current_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.current_button.clicked.connect(self.make_selected_current)
        self.remove_button.clicked.connect(self.remove_selected)
        self.table.doubleClicked.connect(lambda index: self.context.set_current(self.model.broker_id(index.row())))
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.model.rowsRemoved.connect(lambda *_: self._update_buttons())
        self._update_buttons()

    def selected_broker(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.broker_id(rows[0].row()) if rows else None

    def select(self, broker_id: str) -> None:
        row = self.model.row_of(broker_id)
        if row >= 0:
            self.table.selectRow(row)

    def make_selected_current(self) -> None:
        broker_id = self.selected_broker()
        if broker_id is not None:
            self.context.set_current(broker_id)

    def remove_selected(self) -> None:
        broker_id = self.selected_broker()
        if broker_id is not None:
            self.context.remove_broker(broker_id)

    def _update_buttons(self) -> None:
        selected = self.selected_broker() is not None
        self.current_button.setEnabled(selected)
        self.remove_button.setEnabled(selected)
