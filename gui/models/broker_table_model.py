"""The window's brokers as a table: state, rate, drops and the warnings a user must see.

A broker the user disconnected keeps its row (and its topics) until it is removed.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from eventscope.core.mqtt.session import SessionState
from eventscope.core.workspace.changes import BrokerSummary
from eventscope.gui.models.flat_table_model import FlatTableModel
from eventscope.gui.models.roles import ALIGN_RIGHT, ALIGNMENT, DISPLAY, TOOLTIP
from eventscope.gui.status_colours import status_colour

COLUMNS = ("", "Broker", "Address", "State", "msg/s", "Dropped", "Notes")
ACTION, NAME, ADDRESS, STATE, RATE, DROPPED, NOTES = range(len(COLUMNS))
FONT = int(Qt.ItemDataRole.FontRole.value)
FOREGROUND = int(Qt.ItemDataRole.ForegroundRole.value)
DECORATION = int(Qt.ItemDataRole.DecorationRole.value)
RETAINED_HINT_AFTER = 3.0  # seconds connected without a retained message before the hint shows
NO_RETAINED = "no retained seen"
AUDIT_WAITING = "audit waiting"  # for another recorder; the tooltip says which
INFORMATION_ONLY = frozenset((NO_RETAINED, AUDIT_WAITING))  # notes that are not faults
NO_RETAINED_TIP = ("No retained message has arrived since this broker connected. Some brokers (RabbitMQ's MQTT "
                   "plugin) send retained messages only to a subscription of that exact topic, never to a wildcard "
                   "such as '#', so the tree cannot show them. Subscribe to the exact topic to read one.")
TLS_OFF = "TLS verification OFF"
_BOLD = QFont()
_BOLD.setBold(True)
_STATE_KINDS = {SessionState.CONNECTED: "ok", SessionState.CONNECTING: "busy", SessionState.RECONNECTING: "warn",
                SessionState.DISCONNECTED: "error"}


def _brush(kind: str) -> QBrush:
    return QBrush(status_colour(kind))  # follows the palette: light or dark


class BrokerTableModel(FlatTableModel):
    """One row per broker of the window, in the order they were added; the current one in bold."""

    COLUMNS = COLUMNS

    def __init__(self, context, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self._ids: list[str] = [e.broker_id for e in context.entries()]
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
        entry = self.context.entry(broker_id)
        if entry is None:
            return None
        connection = self.context.workspace.broker(broker_id)
        column = index.column()
        summary = self._latest.get(broker_id) if connection is not None else None
        status = (summary.status if summary is not None else connection.session.status) if connection else None
        if role in (DISPLAY, TOOLTIP):
            if column == NAME:
                shown = entry.region and entry.region != broker_id and role == DISPLAY
                return f"{broker_id} · {entry.region}" if shown else broker_id
            if column == ADDRESS:  # host and port first: a narrow column showed only "mqtt://…"
                profile = entry.profile
                if role == TOOLTIP:
                    return profile.address
                extras = [e for e, on in (("TLS", profile.tls.enabled), ("WebSocket", profile.transport == "websockets"))
                          if on]
                return f"{profile.host}:{profile.port}" + "".join(f" · {e}" for e in extras)
            if column == STATE:
                if status is None:
                    return "Disconnected (Connect to open it again)"
                if status.state is SessionState.RECONNECTING and status.message and role == DISPLAY:
                    # The reason first: a narrow column elides the retry count, not why it failed.
                    return f"{status.message} · retrying (attempt {status.attempt})"
                return "Connected" if status.state is SessionState.CONNECTED else status.text
            if column == RATE:
                return f"{summary.messages_per_second:,.0f}" if summary else ""
            if column == DROPPED:
                return f"{summary.dropped:,}" if summary else ""
            if column == NOTES:
                notes = self.notes(entry, connection, summary)
                if role == TOOLTIP:
                    return self._notes_tooltip(notes, summary) or "  ".join(notes)
                return "  ".join(notes)
        if role == FONT and connection is not None and self.context.connection is connection:
            return _BOLD
        if role == DECORATION and column == NAME and entry.colour:
            return QColor(entry.colour)
        if role == FOREGROUND and column in (STATE, NOTES):
            notes = self.notes(entry, connection, summary) if column == NOTES else []
            if notes:  # a fault in red; information alone (no retained seen, audit waiting) is muted
                return _brush("muted" if INFORMATION_ONLY.issuperset(notes) else "error")
            return _brush(_STATE_KINDS.get(status.state, "muted") if status is not None else "muted")
        if role == ALIGNMENT and column in (RATE, DROPPED):
            return ALIGN_RIGHT
        return None

    @staticmethod
    def _notes_tooltip(notes: list[str], summary: BrokerSummary | None) -> str:
        """Each note that has more to say, in full."""
        parts = []
        if summary is not None:
            parts.extend(backlog.detail for backlog in summary.behind)
        if summary is not None and summary.audit is not None and summary.audit.warning:
            parts.append(summary.audit.warning)  # why it waits, or why writes fail
        if NO_RETAINED in notes:
            parts.append(NO_RETAINED_TIP)
        return "\n\n".join(parts)

    @staticmethod
    def notes(entry, connection=None, summary: BrokerSummary | None = None) -> list[str]:
        profile = entry.profile
        notes = []
        if profile.tls.enabled and not profile.tls.verify:
            notes.append(TLS_OFF)
        if profile.read_only:
            notes.append("read-only")
        if connection is not None and connection.audit_notice:
            notes.append("not recording")
        elif summary is not None and summary.audit is not None and summary.audit.warning:
            notes.append(AUDIT_WAITING if summary.audit.waiting else "audit not writing")
        if summary is not None:
            notes.extend(backlog.text for backlog in summary.behind)
        if summary is not None and _withholds_retained(entry, summary):
            notes.append(NO_RETAINED)
        return notes

    def _on_brokers_changed(self) -> None:
        current = [e.broker_id for e in self.context.entries()]
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
        for broker_id in self._ids:  # a reconnected broker starts its counts afresh
            if not self.context.is_open(broker_id):
                self._latest.pop(broker_id, None)
        self._refresh_all()

    def _on_summary(self, summary) -> None:
        for broker in summary.brokers:
            self._latest[broker.broker_id] = broker
        self._refresh_all()

    def _refresh_all(self) -> None:
        if self._ids:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._ids) - 1, len(COLUMNS) - 1))


def _withholds_retained(entry, summary: BrokerSummary) -> bool:
    """Connected a while under a wildcard subscription, and not one retained message seen."""
    status = summary.status
    if status.state is not SessionState.CONNECTED or summary.retained_seen:
        return False
    if not any("#" in f or "+" in f for f in entry.subscriptions):
        return False
    return time.time() - status.since >= RETAINED_HINT_AFTER
