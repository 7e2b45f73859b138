"""The workspace's brokers as a table: state, rate, drops and the warnings a user must see."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from core.session import SessionState
from core.workspace import BrokerSummary
from gui.models.flat_table_model import FlatTableModel
from gui.models.roles import ALIGN_RIGHT, ALIGNMENT, DISPLAY, TOOLTIP

COLUMNS = ("Broker", "Address", "State", "msg/s", "Dropped", "Notes")
NAME, ADDRESS, STATE, RATE, DROPPED, NOTES = range(len(COLUMNS))
FONT = int(Qt.FontRole.value)
FOREGROUND = int(Qt.ForegroundRole.value)
_BOLD = QFont()
_BOLD.setBold(True)
_STATE_BRUSHES = {  # dark enough on a light background
    SessionState.CONNECTED: QBrush(QColor("#1b5e20")),
    SessionState.CONNECTING: QBrush(QColor("#8d6e00")),
    SessionState.RECONNECTING: QBrush(QColor("#b34700")),
    SessionState.DISCONNECTED: QBrush(QColor("#b71c1c")),
}


class BrokerTableModel(FlatTableModel):
    """One row per open broker, in the order they were added; the current one in bold."""

    COLUMNS = COLUMNS

    def __init__(self, context, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self._ids: list[str] = [c.broker_id for c in context.connections()]
        self._latest: dict[str, BrokerSummary] = {}
        context.brokersChanged.connect(self._on_brokers_changed)
        context.sessionChanged.connect(lambda _session: self._refresh_all())
        context.bridge.summaryReady.connect(self._on_summary)

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._ids)

    def broker_id(self, row: int) -> str | None:
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def row_of(self, broker_id: str) -> int:
        return self._ids.index(broker_id) if broker_id in self._ids else -1

    def data(self, index: QModelIndex, role=DISPLAY):
        if not index.isValid() or not 0 <= index.row() < len(self._ids):
            return None
        role = int(role)
        broker_id = self._ids[index.row()]
        connection = self.context.workspace.broker(broker_id)
        if connection is None:
            return None
        column = index.column()
        summary = self._latest.get(broker_id)
        status = summary.status if summary is not None else connection.session.status
        if role in (DISPLAY, TOOLTIP):
            if column == NAME:
                return broker_id
            if column == ADDRESS:
                return connection.profile.address
            if column == STATE:  # the address has its own column
                return "Connected" if status.state is SessionState.CONNECTED else status.text
            if column == RATE:
                return f"{summary.messages_per_second:,.0f}" if summary else "0"
            if column == DROPPED:
                return f"{summary.dropped:,}" if summary else "0"
            if column == NOTES:
                return "  ".join(self.notes(connection))
        if role == FONT and self.context.connection is connection:
            return _BOLD
        if role == FOREGROUND and column in (STATE, NOTES):
            if column == NOTES and self.notes(connection):
                return _STATE_BRUSHES[SessionState.DISCONNECTED]
            return _STATE_BRUSHES.get(status.state)
        if role == ALIGNMENT and column in (RATE, DROPPED):
            return ALIGN_RIGHT
        return None

    @staticmethod
    def notes(connection) -> list[str]:
        profile = connection.profile
        notes = []
        if profile.tls.enabled and not profile.tls.verify:
            notes.append("TLS verification OFF")
        if profile.read_only:
            notes.append("read-only")
        if connection.audit_notice:
            notes.append("not recording")
        return notes

    def _on_brokers_changed(self) -> None:
        current = [c.broker_id for c in self.context.connections()]
        for row in range(len(self._ids) - 1, -1, -1):
            if self._ids[row] not in current:
                self.beginRemoveRows(QModelIndex(), row, row)
                self._latest.pop(self._ids.pop(row), None)
                self.endRemoveRows()
        new = [b for b in current if b not in self._ids]
        if new:
            self.beginInsertRows(QModelIndex(), len(self._ids), len(self._ids) + len(new) - 1)
            self._ids.extend(new)
            self.endInsertRows()

    def _on_summary(self, summary) -> None:
        for broker in summary.brokers:
            self._latest[broker.broker_id] = broker
        self._refresh_all()

    def _refresh_all(self) -> None:
        if self._ids:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._ids) - 1, len(COLUMNS) - 1))
