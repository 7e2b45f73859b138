"""A paged table over the audit store: newest first, history fetched as the user scrolls.

Live rows come from the workspace's change summaries (the writer thread hands over what it
committed), so the GUI thread never runs a query for them; only paging into history and a
new search read the store, through the feed's own read-only connection.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import replace
from datetime import datetime

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from eventscope.core.audit.store import AuditQuery, AuditRow, AuditStore, ReplyPairing, Sighting
from eventscope.core.payload_text import preview
from eventscope.gui.models.flat_table_model import FlatTableModel
from eventscope.gui.models.roles import ALIGN_RIGHT, ALIGNMENT, BACKGROUND, TEXT_ROLES, TOOLTIP

COLUMNS = ("Time", "Broker", "Kind", "Region", "Topic", "QoS", "Size", "RTT (ms)", "Reply", "Path", "Dup", "Payload",
           "Correlation")
(TIME_COLUMN, BROKER_COLUMN, KIND_COLUMN, REGION_COLUMN, TOPIC_COLUMN, QOS_COLUMN, SIZE_COLUMN, RTT_COLUMN,
 REPLY_COLUMN, PATH_COLUMN, DUP_COLUMN, PAYLOAD_COLUMN, CORRELATION_COLUMN) = range(len(COLUMNS))
REPLY_NAMESPACE = "eventscope"  # the first level of Eventscope's own reply topics: not a region
PAGE_SIZE = 200
LIVE_ROWS = 20_000
PENDING_SIGHTINGS = 10_000  # sightings held for rows not shown yet  # rows kept while following the newest; older ones are paged back in on scroll


class AuditTableModel(FlatTableModel):
    """Rows of an ``AuditStore`` matching an ``AuditQuery``, newest first (or, with ``newest_last``, as
    streams show them: oldest at the top, new rows at the bottom). ``_rows`` is always newest first;
    only the row numbers Qt sees are mirrored.

    Only pages the view asks for are loaded (``canFetchMore``/``fetchMore``), so a
    million-row store opens at once. New rows arrive at the top in one insertion per
    flush; requests that got their reply are refreshed with one ``dataChanged`` each.
    """

    COLUMNS = COLUMNS

    def __init__(self, store: AuditStore | None = None, parent=None) -> None:
        super().__init__(parent)
        self.store = store
        self.query = AuditQuery()
        self._rows: list[AuditRow] = []
        self._replies: dict[int, AuditRow] = {}
        self._pending_sightings: dict[int, list[tuple[str, float]]] = {}
        self._request_regions: dict[int, str] = {}  # reply id → the region of the request it answers
        self.newest_last = False
        self._exhausted = True
        self._newest_seen = 0
        self._fetching = False
        self._reload()

    # ----- Qt overrides -----
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)



    def data(self, index: QModelIndex | QPersistentModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        if role in TEXT_ROLES:
            row = self._rows[self._stored(index.row())]
            if role == TOOLTIP and index.column() == TIME_COLUMN:
                return datetime.fromtimestamp(row.path[0][1]).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            return self._cell(row, index.column())
        if role == BACKGROUND:
            return _pair_tint(self._rows[self._stored(index.row())].correlation)
        if role == ALIGNMENT and index.column() in (QOS_COLUMN, SIZE_COLUMN, RTT_COLUMN):
            return ALIGN_RIGHT
        return None

    def canFetchMore(self, parent=QModelIndex()) -> bool:
        # Qt asks when the *last* row shows; with the newest last that is the live end, not history,
        # so the view pages older rows in itself then (``fetch_older``).
        return not self.newest_last and self.has_older()

    def has_older(self) -> bool:
        return not self._exhausted and not self._fetching

    def fetch_older(self) -> int:
        """Load the next page of older rows. Returns how many came."""
        before = len(self._rows)
        if self.has_older() and self.store is not None:
            self._fetching = True
            try:
                self._fetch_page()
            finally:
                self._fetching = False
        return len(self._rows) - before

    def fetchMore(self, parent=QModelIndex()) -> None:
        if not parent.isValid():  # views and testers call back into fetchMore while rows are being inserted
            self.fetch_older()

    def _fetch_page(self) -> None:
        before = self._rows[-1].id if self._rows else None
        page = self.store.page_before(self.query, before, PAGE_SIZE)
        if len(page) < PAGE_SIZE:
            self._exhausted = True
        if not page:
            return
        self._load_replies(page)
        first = 0 if self.newest_last else len(self._rows)  # older rows: the far end from the newest
        self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
        self._rows.extend(page)
        self.endInsertRows()

    # ----- own API -----
    def row(self, row: int) -> AuditRow | None:
        return self._rows[self._stored(row)] if 0 <= row < len(self._rows) else None

    def set_newest_last(self, newest_last: bool) -> None:
        """Show the newest row at the bottom (as streams do) or at the top; the same rows either way."""
        if newest_last != self.newest_last:
            self.beginResetModel()
            self.newest_last = newest_last
            self.endResetModel()

    # Row numbers: stored positions (newest first) to what Qt sees, and back; the mirror is its own inverse.
    def _stored(self, shown: int) -> int:
        return len(self._rows) - 1 - shown if self.newest_last else shown

    _shown = _stored

    def _shown_index(self, position: int, column: int) -> QModelIndex:
        return self.index(self._shown(position), column)

    def set_store(self, store: AuditStore | None) -> None:
        self.store = store
        self._reload()

    def set_query(self, query: AuditQuery) -> None:
        """A new search: a reset is right here, the rows are a different set."""
        self.query = query
        self._reload()

    def _reload(self) -> None:
        # The first page is loaded inside the reset, so views reacting to modelReset see it at once.
        self._fetching = True
        self.beginResetModel()
        self._rows = []
        self._replies = {}
        self._pending_sightings = {}
        self._request_regions = {}
        self._exhausted = self.store is None
        self._newest_seen = self.store.newest_id() if self.store is not None else 0
        if self.store is not None:
            page = self.store.page_before(self.query, None, PAGE_SIZE)
            self._exhausted = len(page) < PAGE_SIZE
            self._load_replies(page)
            self._rows = page
        self.endResetModel()  # views fetch the next page later (after layout), not inside this signal
        self._fetching = False

    def add_new_rows(self) -> int:
        """Read rows stored since the newest shown and insert them at the top. Returns how many."""
        if self.store is None:
            return 0
        return self._insert_newest(self.store.rows_after(self.query, self._newest_seen))

    def add_committed(self, rows: tuple[AuditRow, ...], pairings: tuple[ReplyPairing, ...], complete: bool = True,
                      sightings: tuple[Sighting, ...] = ()) -> int:
        """Rows the writer threads just committed and the requests they answered.

        One insertion at the top, one ``dataChanged`` per answered request. Several brokers' writers
        commit independently, so a row can come after a newer one: it goes in at its own place.
        ``complete=False`` means rows were held back upstream: read what is missing from the store.
        """
        if self.store is None:
            return 0
        if not complete:
            added = self.add_new_rows()
        else:
            query = self.query
            fresh = sorted((r for r in rows if query.is_empty or query.matches(r)), key=lambda r: r.id)
            newest = self._rows[0].id if self._rows else 0
            added = self._insert_newest([r for r in fresh if r.id > newest])
            for late in (r for r in fresh if r.id < newest):
                added += self._insert_late(late)
            if rows:
                self._newest_seen = max(self._newest_seen, max(r.id for r in rows))
        self._apply_pairings(pairings, {row.id: row for row in rows if row.kind == "reply"})
        self._apply_sightings(sightings)
        return added

    def _insert_late(self, row: AuditRow) -> int:
        position = bisect_left(self._rows, -row.id, key=lambda r: -r.id)
        if position < len(self._rows) and self._rows[position].id == row.id:
            return 0  # shown already
        if position == len(self._rows) and not self._exhausted:
            return 0  # older than what is loaded: paging brings it
        self._load_replies([row])
        shown = len(self._rows) - position if self.newest_last else position
        self.beginInsertRows(QModelIndex(), shown, shown)
        self._rows.insert(position, self._with_pending_sightings(row))
        self.endInsertRows()
        return 1

    def _apply_sightings(self, sightings: tuple[Sighting, ...]) -> None:
        """A shown message arrived on one more broker: its Path cell grows.

        A sighting may be reported before its row (another broker's writer was faster): it waits.
        """
        for sighting in sightings:
            hop = (sighting.broker, sighting.received)
            position = self._position(sighting.message_id)
            if position is None:
                if len(self._pending_sightings) < PENDING_SIGHTINGS:
                    self._pending_sightings.setdefault(sighting.message_id, []).append(hop)
                continue
            row = self._rows[position]
            if hop not in row.sightings:
                self._rows[position] = replace(row, sightings=row.sightings + (hop,))
                cell = self._shown_index(position, PATH_COLUMN)
                self.dataChanged.emit(cell, cell)

    def _with_pending_sightings(self, row: AuditRow) -> AuditRow:
        waiting = self._pending_sightings.pop(row.id, None)
        return replace(row, sightings=row.sightings + tuple(waiting)) if waiting else row

    def _position(self, row_id: int) -> int | None:
        position = bisect_left(self._rows, -row_id, key=lambda r: -r.id)
        return position if position < len(self._rows) and self._rows[position].id == row_id else None

    def _insert_newest(self, fresh: list[AuditRow]) -> int:
        if not fresh:
            return 0
        self._newest_seen = max(self._newest_seen, fresh[-1].id)
        fresh.reverse()
        if self._pending_sightings:
            fresh = [self._with_pending_sightings(row) for row in fresh]
        self._load_replies(fresh)
        first = len(self._rows) if self.newest_last else 0
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        self._rows[0:0] = fresh
        self.endInsertRows()
        return len(fresh)

    def _apply_pairings(self, pairings: tuple[ReplyPairing, ...], replies: dict[int, AuditRow]) -> None:
        # A reply is committed in the same batch as its pairing, so it is almost always at hand.
        for pairing in pairings:
            if pairing.reply_id in replies:
                self._replies[pairing.reply_id] = replies[pairing.reply_id]
        missing = [p.reply_id for p in pairings if p.reply_id not in self._replies]
        if missing and self.store is not None:
            self._replies.update(self.store.rows_by_id(missing))
        for pairing in pairings:
            position = self._position(pairing.request_id)
            if position is not None:
                row = self._rows[position]
                self._request_regions[pairing.reply_id] = row.region
                self._rows[position] = replace(row, reply_id=pairing.reply_id, rtt_ms=pairing.rtt_ms)
                reply_position = self._position(pairing.reply_id)
                if reply_position is not None:
                    cell = self._shown_index(reply_position, REGION_COLUMN)
                    self.dataChanged.emit(cell, cell)
                self.dataChanged.emit(self._shown_index(position, 0), self._shown_index(position, len(COLUMNS) - 1))

    def trim(self, keep: int = LIVE_ROWS) -> int:
        """Forget the oldest loaded rows beyond ``keep`` (while following the newest); paging brings them back."""
        extra = len(self._rows) - keep
        if extra <= 0:
            return 0
        if self.newest_last:  # the oldest rows are at the top
            self.beginRemoveRows(QModelIndex(), 0, extra - 1)
        else:
            self.beginRemoveRows(QModelIndex(), keep, len(self._rows) - 1)
        del self._rows[keep:]
        self.endRemoveRows()
        self._exhausted = False
        shown = {row.reply_id for row in self._rows if row.reply_id is not None}
        self._replies = {k: v for k, v in self._replies.items() if k in shown}
        return extra

    def _load_replies(self, rows) -> None:
        for row in rows:
            if row.reply_id is not None:
                self._request_regions[row.reply_id] = row.region
        wanted = [r.reply_id for r in rows if r.reply_id is not None and r.reply_id not in self._replies]
        if wanted and self.store is not None:
            self._replies.update(self.store.rows_by_id(wanted))

    def _cell(self, row: AuditRow, column: int) -> str:
        if column == TIME_COLUMN:  # first arrival anywhere in the mesh; the date is in the tooltip
            return datetime.fromtimestamp(row.path[0][1]).strftime("%H:%M:%S.%f")[:-3]
        if column == BROKER_COLUMN:  # where it was seen first (its Path has the others)
            return row.path[0][0]
        if column == KIND_COLUMN:
            return row.kind
        if column == REGION_COLUMN:
            if row.kind == "reply" and row.region == REPLY_NAMESPACE:  # a reply to our own request: its region
                return self._request_regions.get(row.id, row.region)
            return row.region
        if column == TOPIC_COLUMN:
            return row.topic
        if column == QOS_COLUMN:
            return str(row.qos)
        if column == SIZE_COLUMN:
            return f"{row.size}" + (" (truncated)" if row.truncated else "")
        if column == RTT_COLUMN:
            return f"{row.rtt_ms:.1f}" if row.rtt_ms is not None else ""
        if column == REPLY_COLUMN:
            reply = self._replies.get(row.reply_id) if row.reply_id is not None else None
            if reply is not None:
                return f"{reply.topic}: {preview(reply.payload, 80)}"
            return "waiting" if row.kind == "request" else ""
        if column == PATH_COLUMN:
            return row.path_text()
        if column == DUP_COLUMN:
            return "duplicate" if row.duplicate else ""
        if column == CORRELATION_COLUMN:
            return correlation_text(row.correlation)
        return preview(row.payload)


def correlation_text(correlation: bytes | None) -> str:
    """Correlation data as text when it is printable, else hex: the key that pairs a request and its reply."""
    if not correlation:
        return ""
    try:
        text = correlation.decode("utf-8")
    except UnicodeDecodeError:
        return correlation.hex()
    return text if text.isprintable() else correlation.hex()


_TINTS: dict[bytes, QBrush] = {}


def _pair_tint(correlation: bytes | None) -> QBrush | None:
    """A request and its reply share a faint tint picked from their correlation data, so the pair stands out.

    Translucent, so it reads on light and dark palettes alike.
    """
    if not correlation:
        return None
    brush = _TINTS.get(correlation)
    if brush is None:
        if len(_TINTS) > 4096:
            _TINTS.clear()
        brush = _TINTS[correlation] = QBrush(QColor.fromHsv(hash(correlation) % 360, 160, 230, 48))
    return brush
