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

from core.audit_store import AuditQuery, AuditRow, AuditStore, ReplyPairing
from core.payload_text import preview
from gui.models.flat_table_model import FlatTableModel
from gui.models.roles import ALIGN_RIGHT, ALIGNMENT, TEXT_ROLES

COLUMNS = ("Time", "Kind", "Region", "Topic", "QoS", "Size", "RTT (ms)", "Reply", "Dup", "Payload")
RTT_COLUMN = COLUMNS.index("RTT (ms)")
REPLY_COLUMN = COLUMNS.index("Reply")
PAGE_SIZE = 200
LIVE_ROWS = 20_000  # rows kept while following the newest; older ones are paged back in on scroll


class AuditTableModel(FlatTableModel):
    """Rows of an ``AuditStore`` matching an ``AuditQuery``, newest first.

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
        self._exhausted = True
        self._newest_seen = 0
        self._fetching = False
        self._reload()

    # ----- Qt overrides -----
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)



    def data(self, index: QModelIndex | QPersistentModelIndex, role=Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        if role in TEXT_ROLES:
            return self._cell(self._rows[index.row()], index.column())
        if role == ALIGNMENT and index.column() in (4, 5, RTT_COLUMN):
            return ALIGN_RIGHT
        return None

    def canFetchMore(self, parent=QModelIndex()) -> bool:
        return not parent.isValid() and not self._exhausted and not self._fetching

    def fetchMore(self, parent=QModelIndex()) -> None:
        if parent.isValid() or self._exhausted or self.store is None or self._fetching:
            return  # views and testers call back into fetchMore while rows are being inserted
        self._fetching = True
        try:
            self._fetch_page()
        finally:
            self._fetching = False

    def _fetch_page(self) -> None:
        before = self._rows[-1].id if self._rows else None
        page = self.store.page_before(self.query, before, PAGE_SIZE)
        if len(page) < PAGE_SIZE:
            self._exhausted = True
        if not page:
            return
        self._load_replies(page)
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
        self._rows.extend(page)
        self.endInsertRows()

    # ----- own API -----
    def row(self, row: int) -> AuditRow | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

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

    def add_committed(self, rows: tuple[AuditRow, ...], pairings: tuple[ReplyPairing, ...], complete: bool = True) -> int:
        """Rows the writer thread just committed (oldest first) and the requests they answered.

        One insertion at the top, one ``dataChanged`` per answered request. ``complete=False``
        means rows were held back upstream: read what is missing from the store instead.
        """
        if self.store is None:
            return 0
        if not complete:
            added = self.add_new_rows()
        else:
            query = self.query
            fresh = [r for r in rows if r.id > self._newest_seen and (query.is_empty or query.matches(r))]
            added = self._insert_newest(fresh)
            if rows:
                self._newest_seen = max(self._newest_seen, rows[-1].id)
        self._apply_pairings(pairings, {row.id: row for row in rows if row.kind == "reply"})
        return added

    def _insert_newest(self, fresh: list[AuditRow]) -> int:
        if not fresh:
            return 0
        self._newest_seen = max(self._newest_seen, fresh[-1].id)
        fresh.reverse()
        self._load_replies(fresh)
        self.beginInsertRows(QModelIndex(), 0, len(fresh) - 1)
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
            position = bisect_left(self._rows, -pairing.request_id, key=lambda r: -r.id)
            if position < len(self._rows) and self._rows[position].id == pairing.request_id:
                row = self._rows[position]
                self._rows[position] = replace(row, reply_id=pairing.reply_id, rtt_ms=pairing.rtt_ms)
                self.dataChanged.emit(self.index(position, 0), self.index(position, len(COLUMNS) - 1))

    def trim(self, keep: int = LIVE_ROWS) -> int:
        """Forget the oldest loaded rows beyond ``keep`` (while following the newest); paging brings them back."""
        extra = len(self._rows) - keep
        if extra <= 0:
            return 0
        self.beginRemoveRows(QModelIndex(), keep, len(self._rows) - 1)
        del self._rows[keep:]
        self.endRemoveRows()
        self._exhausted = False
        shown = {row.reply_id for row in self._rows if row.reply_id is not None}
        self._replies = {k: v for k, v in self._replies.items() if k in shown}
        return extra

    def refresh_rows(self, row_ids) -> None:
        """Reload rows that changed in the store (a request that got its reply)."""
        if self.store is None or not self._rows:
            return
        fresh = self.store.rows_by_id(row_ids)
        self._load_replies(fresh.values())
        for row_id, row in fresh.items():
            position = bisect_left(self._rows, -row_id, key=lambda r: -r.id)
            if position < len(self._rows) and self._rows[position].id == row_id:
                self._rows[position] = row
                self.dataChanged.emit(self.index(position, 0), self.index(position, len(COLUMNS) - 1))

    def _load_replies(self, rows) -> None:
        wanted = [r.reply_id for r in rows if r.reply_id is not None and r.reply_id not in self._replies]
        if wanted and self.store is not None:
            self._replies.update(self.store.rows_by_id(wanted))

    def _cell(self, row: AuditRow, column: int) -> str:
        if column == 0:
            return datetime.fromtimestamp(row.received).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        if column == 1:
            return row.kind
        if column == 2:
            return row.region
        if column == 3:
            return row.topic
        if column == 4:
            return str(row.qos)
        if column == 5:
            return f"{row.size}" + (" (truncated)" if row.truncated else "")
        if column == RTT_COLUMN:
            return f"{row.rtt_ms:.1f}" if row.rtt_ms is not None else ""
        if column == REPLY_COLUMN:
            reply = self._replies.get(row.reply_id) if row.reply_id is not None else None
            if reply is not None:
                return f"{reply.topic}: {preview(reply.payload, 80)}"
            return "waiting" if row.kind == "request" else ""
        if column == 8:
            return "duplicate" if row.duplicate else ""
        return preview(row.payload)
