"""A lazy table over one stream's visible rows, fed by the workspace's ``StreamDelta``s.

The model keeps its own list of the (immutable) records the deltas carried, so it never reads
the core stream that the tick thread is changing. Rows arrive and leave in ranges, once per
delta; cells are formatted in ``data()`` only when asked, and cached per row.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from eventscope.core.payload_text import preview
from eventscope.core.records import MessageRecord
from eventscope.core.topics import region_of
from eventscope.core.workspace.changes import StreamDelta
from eventscope.gui.models.flat_table_model import FlatTableModel
from eventscope.gui.models.roles import ALIGN_RIGHT, ALIGNMENT, TEXT_ROLES

COLUMNS = ("Time", "Broker", "Region", "Topic", "QoS", "Retain", "Size", "Payload")
TIME, BROKER, REGION, TOPIC, QOS, RETAIN, SIZE, PAYLOAD = range(len(COLUMNS))
CACHE_LIMIT = 4_000
COMPACT_AFTER = 4_096  # evicted rows kept at the front of the list before it is compacted


class StreamTableModel(FlatTableModel):
    """The visible rows of one stream, oldest first.

    ``region`` gives the Region column from a record: the stream filter's own ``region``.
    """

    COLUMNS = COLUMNS

    def __init__(self, region: Callable[[MessageRecord], str] | None = None, parent=None) -> None:
        super().__init__(parent)
        self.region = region or (lambda record: region_of(record.topic, 0))
        self._records: list[MessageRecord] = []
        self._head = 0  # rows before it were evicted and wait for compaction
        self._base = 0  # absolute number of _records[0]; absolute numbers key the cell cache
        self._cache: dict[int, tuple[str, ...]] = {}

    # ----- Qt overrides -----
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._records) - self._head

    def data(self, index: QModelIndex | QPersistentModelIndex, role=Qt.ItemDataRole.DisplayRole):
        # Role first: views ask for many roles per cell and most get None, so answer those cheaply.
        if role in TEXT_ROLES:
            row = index.row()
            if not 0 <= row < len(self._records) - self._head:
                return None
            return self._cells(self._head + row)[index.column()]
        if role == ALIGNMENT and index.column() in (QOS, RETAIN, SIZE):
            return ALIGN_RIGHT
        return None

    # ----- own API -----
    def record(self, row: int) -> MessageRecord | None:
        if not 0 <= row < len(self._records) - self._head:
            return None
        return self._records[self._head + row]

    def records(self) -> list[MessageRecord]:
        return self._records[self._head:]

    def apply_delta(self, delta: StreamDelta) -> None:
        """Announce one delta: a reset (only when the filter changed), then one removal and one insertion range."""
        if delta.reset is not None:
            self.beginResetModel()
            self._base += len(self._records)
            self._records, self._head = list(delta.reset), 0
            self._cache.clear()
            self.endResetModel()
        if delta.evicted:
            self.beginRemoveRows(QModelIndex(), 0, delta.evicted - 1)
            for position in range(self._head, self._head + delta.evicted):
                self._cache.pop(self._base + position, None)
            self._head += delta.evicted
            self.endRemoveRows()
            if self._head >= COMPACT_AFTER and self._head * 2 >= len(self._records):
                del self._records[:self._head]
                self._base += self._head
                self._head = 0
        if delta.appended:
            rows = len(self._records) - self._head
            self.beginInsertRows(QModelIndex(), rows, rows + len(delta.appended) - 1)
            self._records.extend(delta.appended)
            self.endInsertRows()

    def _cells(self, position: int) -> tuple[str, ...]:
        key = self._base + position
        cells = self._cache.get(key)
        if cells is None:
            record = self._records[position]
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            cells = (
                datetime.fromtimestamp(record.received).strftime("%H:%M:%S.%f")[:-3],
                record.broker_id,
                self.region(record),
                record.topic,
                str(record.qos),
                "yes" if record.retain else "",
                str(record.size),
                preview(record.payload),
            )
            self._cache[key] = cells
        return cells
