"""The Brokers panel: every broker of the window with its state, rate and warnings, and what to do with each.

Each row has its own Connect/Disconnect button; adding, removing, connecting or disconnecting
one broker never disturbs the others. "Add broker…" and "Profiles…" are the window's actions.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from eventscope.gui.context import AppContext
from eventscope.gui.models.broker_table_model import (
    ACTION,
    ADDRESS,
    DROPPED,
    NAME,
    NOTES,
    RATE,
    STATE,
    BrokerTableModel,
)

ROW_HEIGHT = 24
ROWS_SHOWN = 3  # the panel asks for this many rows; more scroll, and the dock can be resized


class BrokersPanel(QWidget):
    """Signals:
        problem(str): connecting or disconnecting a broker failed; the text says why.
    """

    problem = Signal(str)
    roomChanged = Signal()  # the rows it wants to show changed (1 … ROWS_SHOWN, or the first screen)
    _rows_wanted: int | None = None  # the rows it last asked room for

    def __init__(self, context: AppContext, add_action: QAction | None = None, profiles_action: QAction | None = None,
                 demo_action: QAction | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("brokersPanel")
        self.setAccessibleName("Brokers")
        self.model = BrokerTableModel(context, self)
        self.table = QTableView(objectName="brokersTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        header = self.table.horizontalHeader()
        # Text columns share the width, so the table never needs a horizontal scroll bar.
        for column in (NAME, ADDRESS, STATE, NOTES):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        for column, width in ((ACTION, 96), (RATE, 64), (DROPPED, 64)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            self.table.setColumnWidth(column, width)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)  # what a cell says first is what matters
        self.table.setMinimumHeight(header.sizeHint().height() + ROW_HEIGHT + 4)  # one row, then it scrolls
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerItem)  # never half a row under the header
        # The first screen of an empty window: the two ways in, as big buttons.
        self.empty_label = QLabel("No broker yet: add one (Ctrl+Shift+N), open a saved profile (Ctrl+Shift+P), or try "
                                  "the demo (its own broker, traffic in several regions and a replier)",
                                  objectName="brokersEmpty")
        self.empty_label.setTextFormat(Qt.TextFormat.PlainText)
        self.empty_label.setWordWrap(True)
        self.first_add_button = self._big_button(add_action, "Add broker…", "firstAddBroker")
        self.demo_button = self._big_button(demo_action, "Try the demo", "firstTryDemo")
        self.empty_state = QWidget(objectName="brokersEmptyState")
        empty_layout = QVBoxLayout(self.empty_state)
        empty_layout.setContentsMargins(0, 0, 0, 0)
        empty_layout.addWidget(self.empty_label)
        first_row = QHBoxLayout()
        for button in (self.first_add_button, self.demo_button):
            first_row.addWidget(button)
        first_row.addStretch(1)
        empty_layout.addLayout(first_row)

        self.add_button = self._tool_button(add_action, "addBrokerButton")
        self.profiles_button = self._tool_button(profiles_action, "profilesButton")
        self.current_button = QPushButton("Make current", objectName="makeBrokerCurrent")
        self.current_button.setToolTip("Send requests through this broker by default (or double-click its row)")
        self.remove_button = QPushButton("Remove", objectName="removeBroker")
        self.remove_button.setToolTip("Disconnect this broker and remove its row and topics; the others keep running")
        # Buttons in a 2×2 grid beside the table: the panel stays short and shows more rows.
        buttons = QGridLayout()
        buttons.setSpacing(2)
        for index, button in enumerate(b for b in (self.add_button, self.profiles_button, self.current_button,
                                                   self.remove_button) if b is not None):
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            buttons.addWidget(button, index // 2, index % 2)
        buttons.setRowStretch(2, 1)
        listing = QVBoxLayout()
        listing.addWidget(self.empty_state)
        listing.addWidget(self.table, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(listing, 1)
        layout.addLayout(buttons)

        self.current_button.clicked.connect(self.make_selected_current)
        self.remove_button.clicked.connect(self.remove_selected)
        self.table.doubleClicked.connect(lambda index: self.context.set_current(self.model.broker_id(index.row())))
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.model.rowsInserted.connect(self._on_rows_inserted)
        self.model.rowsRemoved.connect(lambda *_: self._update_buttons())
        self.model.dataChanged.connect(lambda *_: self._update_row_buttons())
        self._on_rows_inserted(QModelIndex(), 0, self.model.rowCount() - 1)

    def sizeHint(self) -> QSize:
        """Room for the brokers open, up to a few (not half the window: the tree below gets the height)."""
        hint = super().sizeHint()
        if self.model.rowCount() == 0:
            return QSize(hint.width(), self.empty_state.sizeHint().height() + 8)
        header = self.table.horizontalHeader().sizeHint().height()
        frame = 2 * self.table.frameWidth()
        rows = min(self.model.rowCount(), ROWS_SHOWN)
        buttons = 2 * self.current_button.sizeHint().height() + 6
        return QSize(hint.width(), max(buttons, header + rows * ROW_HEIGHT + frame) + 6)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._fit_whole_rows()

    def _fit_whole_rows(self) -> None:
        """The table as high as the whole rows that fit: a row is never half under the header."""
        # The table's own chrome (header, frame) as measured once shown; before, as hinted.
        chrome = (self.table.height() - self.table.viewport().height() if self.table.isVisible()
                  else self.table.horizontalHeader().sizeHint().height() + 2 * self.table.frameWidth())
        room = self.height() - 4 - chrome  # the layout's margins
        rows = max(1, min(max(self.model.rowCount(), 1), room // ROW_HEIGHT))
        self.table.setFixedHeight(chrome + rows * ROW_HEIGHT)

    @staticmethod
    def _tool_button(action: QAction | None, name: str) -> QToolButton | None:
        if action is None:
            return None
        button = QToolButton(objectName=name)
        button.setDefaultAction(action)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        return button

    @staticmethod
    def _big_button(action: QAction | None, text: str, name: str) -> QPushButton:
        button = QPushButton(text, objectName=name)
        button.setMinimumHeight(36)
        font = button.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        button.setFont(font)
        if action is None:
            button.setEnabled(False)
        else:
            button.setToolTip(action.toolTip())
            button.clicked.connect(action.trigger)
        return button

    # ----- rows -----
    def _on_rows_inserted(self, _parent, first: int, last: int) -> None:
        for row in range(first, last + 1):
            broker_id = self.model.broker_id(row)
            if broker_id is None:  # rows in range always have an id
                continue
            button = QPushButton(objectName=f"brokerConnect_{broker_id}")
            button.clicked.connect(lambda _checked=False, b=broker_id: self.toggle(b))
            self.table.setIndexWidget(self.model.index(row, ACTION), button)
        self._update_buttons()

    def row_button(self, broker_id: str) -> QPushButton | None:
        row = self.model.row_of(broker_id)
        button = self.table.indexWidget(self.model.index(row, ACTION)) if row >= 0 else None
        return button if isinstance(button, QPushButton) else None

    def toggle(self, broker_id: str) -> None:
        """Disconnect an open broker (its row and topics stay) or connect a disconnected one."""
        try:
            if self.context.is_open(broker_id):
                self.context.disconnect(broker_id)
            else:
                self.context.reconnect(broker_id)
        except Exception as exc:  # noqa: BLE001 (a slot: say what failed, keep the window)
            self.problem.emit(f"{broker_id}: {exc}")

    def _update_row_buttons(self) -> None:
        for row in range(self.model.rowCount()):
            broker_id = self.model.broker_id(row)
            button = self.table.indexWidget(self.model.index(row, ACTION))
            if isinstance(button, QPushButton) and broker_id is not None:
                is_open = self.context.is_open(broker_id)
                button.setText("Disconnect" if is_open else "Connect")
                button.setToolTip(f"{'Disconnect' if is_open else 'Connect'} {broker_id}; "
                                  "the other brokers are not disturbed")

    # ----- selection -----
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
            if not self.context.is_open(broker_id):
                self.toggle(broker_id)
            self.context.set_current(broker_id)

    def remove_selected(self) -> None:
        broker_id = self.selected_broker()
        if broker_id is not None:
            self.context.remove_broker(broker_id)

    def _update_buttons(self) -> None:
        selected = self.selected_broker() is not None
        self.current_button.setEnabled(selected)
        self.remove_button.setEnabled(selected)
        empty = self.model.rowCount() == 0
        wanted = min(self.model.rowCount(), ROWS_SHOWN)
        if wanted != self._rows_wanted:
            self._rows_wanted = wanted
            self._fit_whole_rows()
            self.updateGeometry()
            self.roomChanged.emit()
        self.empty_state.setVisible(empty)
        self.table.setVisible(not empty)
        self._update_row_buttons()
