"""A lazy table over the request history: cells are formatted in data() and cached."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from eventscope.core.requests.history import HistoryEntry, RequestHistory
from eventscope.gui.models.flat_table_model import FlatTableModel
from eventscope.gui.models.roles import ALIGN_RIGHT, ALIGNMENT, DISPLAY, TOOLTIP

COLUMNS = ("Time", "Broker", "Region", "Topic", "Status", "RTT", "Reply size")
TIME_COLUMN, BROKER_COLUMN, REGION_COLUMN, TOPIC_COLUMN, STATUS_COLUMN, RTT_COLUMN, SIZE_COLUMN = range(len(COLUMNS))
EntryRole = Qt.ItemDataRole.UserRole + 1
SortRole = Qt.ItemDataRole.UserRole + 2  # numbers sort as numbers, times as times


def _sort_key(entry: HistoryEntry, column: int):
    if column == TIME_COLUMN:
        return entry.sent_at
    if column == RTT_COLUMN:
        return entry.rtt if entry.rtt is not None else float("inf")
    if column == SIZE_COLUMN:
        return entry.reply_size if entry.reply_size is not None else -1
    return _format_cell(entry, column)


def _format_cell(entry: HistoryEntry, column: int) -> str:
    if column == TIME_COLUMN:
        return datetime.fromtimestamp(entry.sent_at).strftime("%H:%M:%S")
    if column == BROKER_COLUMN:
        if entry.reply_broker and entry.reply_broker != entry.broker:
            return f"{entry.broker} → {entry.reply_broker}"
        return entry.broker
    if column == REGION_COLUMN:  # what {region} named; a topic without it has none (not its first level)
        return entry.region
    if column == TOPIC_COLUMN:
        return entry.topic
    if column == STATUS_COLUMN:
        return entry.status
    if column == RTT_COLUMN:
        return f"{entry.rtt * 1e3:.2f} ms" if entry.rtt is not None else ""
    if column == SIZE_COLUMN:
        return f"{entry.reply_size} B" if entry.reply_size is not None else ""
    return ""


class RequestHistoryModel(FlatTableModel):
    """Rows are ``RequestHistory`` entries, oldest first; new requests append one row."""

    COLUMNS = COLUMNS

    def __init__(self, history: RequestHistory, parent=None) -> None:
        super().__init__(parent)
        self.history = history
        self._cache: dict[tuple[int, int], str] = {}

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.history)


    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.history):
            return None
        entry = self.history[index.row()]
        if role == DISPLAY:
            key = (index.row(), index.column())
            text = self._cache.get(key)
            if text is None:
                text = self._cache[key] = _format_cell(entry, index.column())
            return text
        if role == TOOLTIP:
            return entry.detail or entry.topic
        if role == SortRole:
            return _sort_key(entry, index.column())
        if role == ALIGNMENT and index.column() in (RTT_COLUMN, SIZE_COLUMN):
            return ALIGN_RIGHT
        if role == EntryRole:
            return entry
        return None


    def entry(self, row: int) -> HistoryEntry:
        return self.history[row]

    def add(self, entry: HistoryEntry) -> None:
        """Append one row (dropping the oldest rows first when the history is full), never a reset."""
        excess = len(self.history) + 1 - self.history.max_entries
        if excess > 0:
            self.beginRemoveRows(QModelIndex(), 0, excess - 1)
            self.history.drop_oldest(excess)
            self._cache.clear()  # rows shifted
            self.endRemoveRows()
        row = len(self.history)
        self.beginInsertRows(QModelIndex(), row, row)
        self.history.add(entry)
        self.endInsertRows()
