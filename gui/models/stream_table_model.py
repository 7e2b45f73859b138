"""A lazy table over a core ``Stream``: rows arrive and leave in ranges, once per flush."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from core.payload_text import preview
from core.records import MessageRecord
from core.stream import Stream, StreamChange
from gui.models.flat_table_model import FlatTableModel
from gui.models.roles import ALIGN_RIGHT, ALIGNMENT, TEXT_ROLES

COLUMNS = ("Time", "Region", "Topic", "QoS", "Retain", "Size", "Payload")
CACHE_LIMIT = 4_000


class StreamTableModel(FlatTableModel):
    """Shows the visible rows of a ``Stream``.

    The model keeps its own first absolute row and row count, so while it announces a
    removal the rows being removed can still be read (the core keeps them until the next
    batch). Cells are formatted in ``data()`` only when asked, and cached per row.
    """

    COLUMNS = COLUMNS

    def __init__(self, stream: Stream, parent=None) -> None:
        super().__init__(parent)
        self.stream = stream
        self._first = stream.first_row
        self._rows = stream.row_count
        self._cache: dict[int, tuple[str, ...]] = {}

    # ----- Qt overrides -----
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else self._rows



    def data(self, index: QModelIndex | QPersistentModelIndex, role=Qt.DisplayRole):
        # Role first: views ask for many roles per cell and most get None, so answer those cheaply.
        if role in TEXT_ROLES:
            row = index.row()
            if not 0 <= row < self._rows:
                return None
            cells = self._cells(self._first + row)
            return cells[index.column()] if cells is not None else None
        if role == ALIGNMENT and index.column() in (3, 4, 5):
            return ALIGN_RIGHT
        return None

    # ----- own API -----
    def record(self, row: int) -> MessageRecord | None:
        if not 0 <= row < self._rows:
            return None
        return self.stream.record_at(self._first + row)

    def apply_change(self, change: StreamChange) -> None:
        """Announce what the core just did: one removal range and one insertion range, or a reset."""
        if change.reset:
            self.beginResetModel()
            self._cache.clear()
            self._first, self._rows = self.stream.first_row, self.stream.row_count
            self.endResetModel()
            return
        if change.evicted:
            self.beginRemoveRows(QModelIndex(), 0, change.evicted - 1)
            for absolute in range(self._first, self._first + change.evicted):
                self._cache.pop(absolute, None)
            self._first += change.evicted
            self._rows -= change.evicted
            self.endRemoveRows()
        if change.appended:
            self.beginInsertRows(QModelIndex(), self._rows, self._rows + change.appended - 1)
            self._rows += change.appended
            self.endInsertRows()

    def _cells(self, absolute: int) -> tuple[str, ...] | None:
        cells = self._cache.get(absolute)
        if cells is None:
            record = self.stream.record_at(absolute)
            if record is None:
                return None
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            cells = (
                datetime.fromtimestamp(record.received).strftime("%H:%M:%S.%f")[:-3],
                self.stream.region(record),
                record.topic,
                str(record.qos),
                "yes" if record.retain else "",
                str(record.size),
                preview(record.payload),
            )
            self._cache[absolute] = cells
        return cells
