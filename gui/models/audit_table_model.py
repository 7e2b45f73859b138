"""A paged table over an audit database: newest first, history fetched as the user scrolls.

Live rows come from the workspace's change summaries (the writer threads hand over what they
committed), so they need no query. History pages, a new search, rows the feed missed and replies
it has not seen are read by a ``FeedReader`` on its own thread; the model asks and inserts the
answer when it arrives, so the GUI thread never runs a query. The rows and their merge rules are
core's ``FeedRows``; this model only announces its edits to Qt.
"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import datetime

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor

from eventscope.core.audit.feed import LIVE_ROWS, MAX_LOADED_ROWS, PAGE_SIZE, Commit, FeedPage, FeedReader, FeedRows
from eventscope.core.audit.store import AuditQuery, AuditRow, ReplyPairing, Sighting
from eventscope.core.payload_text import preview
from eventscope.gui.futures import FutureWatcher
from eventscope.gui.models.flat_table_model import FlatTableModel
from eventscope.gui.models.roles import ALIGN_RIGHT, ALIGNMENT, BACKGROUND, TEXT_ROLES, TOOLTIP

__all__ = ["PAGE_SIZE", "LIVE_ROWS", "AuditTableModel", "correlation_text"]

# What tells a pair apart comes first (Pair, RTT, Correlation); what is often empty (Path and Dup with one
# broker) last, where the view hides it until it has something to say.
COLUMNS = ("Time", "Broker", "Kind", "Pair", "RTT (ms)", "Topic", "Region", "Correlation", "Payload", "Reply", "QoS",
           "Size", "Path", "Dup")
(TIME_COLUMN, BROKER_COLUMN, KIND_COLUMN, PAIR_COLUMN, RTT_COLUMN, TOPIC_COLUMN, REGION_COLUMN, CORRELATION_COLUMN,
 PAYLOAD_COLUMN, REPLY_COLUMN, QOS_COLUMN, SIZE_COLUMN, PATH_COLUMN, DUP_COLUMN) = range(len(COLUMNS))


class AuditTableModel(FlatTableModel):
    """Rows of an audit database matching an ``AuditQuery``, newest first (or, with ``newest_last``, as
    streams show them: oldest at the top, new rows at the bottom). ``feed.rows`` is always newest first;
    only the row numbers Qt sees are mirrored.

    Only pages the view asks for are loaded (``canFetchMore``/``fetchMore``, answered asynchronously),
    so a million-row database opens at once. New rows arrive in one insertion per flush; requests that
    got their reply, and rows whose path grew, are refreshed with one ``dataChanged`` over the rows changed.

    Paging back through history holds at most ``MAX_LOADED_ROWS``: past it the newest loaded rows go, and
    ``fetch_newer`` pages them back in when the user scrolls back to them.

    Signals:
        loaded(bool first_page): a search's first page (True) or a history page arrived and is shown.
        readFailed(str): the database could not be read.
        rowsPagedAbove(int): paging put rows in (or, negative, took them out) above every shown row; a view
            scrolls as many to keep the user's rows in place.
    """

    COLUMNS = COLUMNS
    loaded = Signal(bool)
    readFailed = Signal(str)
    rowsPagedAbove = Signal(int)
    _commitHeard = Signal(object)  # from the reader's listener thread: queued to the GUI thread

    def __init__(self, reader: FeedReader | None = None, parent=None) -> None:
        super().__init__(parent)
        self.reader = reader
        self.query = AuditQuery()
        self.feed = FeedRows()
        self.newest_last = False
        self._generation = 0  # bumped by every reload: answers to an older one are dropped
        self._fetching = False
        self._watcher = FutureWatcher(self)
        self._commitHeard.connect(self._on_commit)
        self._reload()

    # ----- Qt overrides -----
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.feed)

    def data(self, index: QModelIndex | QPersistentModelIndex, role=Qt.ItemDataRole.DisplayRole):
        rows = self.feed.rows
        if not index.isValid() or not 0 <= index.row() < len(rows):
            return None
        if role in TEXT_ROLES:
            row = rows[self._stored(index.row())]
            if role == TOOLTIP and index.column() == TIME_COLUMN:
                return datetime.fromtimestamp(row.path[0][1]).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            return self._cell(row, index.column())
        if role == BACKGROUND:  # only while both halves can show: with one kind searched, partners are hidden
            return _pair_tint(rows[self._stored(index.row())].correlation) if not self.query.kind else None
        if role == ALIGNMENT and index.column() in (QOS_COLUMN, SIZE_COLUMN, RTT_COLUMN):
            return ALIGN_RIGHT
        return None

    def canFetchMore(self, parent=QModelIndex()) -> bool:
        # Qt asks when the *last* row shows; with the newest last that is the live end, not history,
        # so the view pages older rows in itself then (``fetch_older``).
        return not self.newest_last and self.has_older()

    def fetchMore(self, parent=QModelIndex()) -> None:
        if not parent.isValid():  # views and testers call back into fetchMore while rows are being inserted
            self.fetch_older()

    # ----- own API -----
    @property
    def busy(self) -> bool:
        """A read is on its way (the first page of a search, or a history page)."""
        return self._fetching

    def has_older(self) -> bool:
        return not self.feed.exhausted and not self._fetching

    def fetch_older(self) -> bool:
        """Ask for the next page of older rows; it is inserted when it arrives. False if none is due."""
        if not self.has_older() or self.reader is None:
            return False
        self._fetching = True
        before = self.feed.rows[-1].id if self.feed.rows else None
        self._read(self.reader.page_before(self.query, before), self._on_older_page)
        return True

    def drop_newest_beyond_cap(self) -> int:
        """Past ``MAX_LOADED_ROWS``, let the newest loaded rows go (``fetch_newer`` pages them back in); how many went.
        For a view away from the newest end: paging deep into history, or sitting there while rows arrive."""
        extra = len(self.feed) - MAX_LOADED_ROWS
        if extra <= 0:
            return 0
        first = len(self.feed) - extra if self.newest_last else 0
        self.beginRemoveRows(QModelIndex(), first, first + extra - 1)
        self.feed.drop_newest(extra)
        self.endRemoveRows()
        if not self.newest_last:
            self.rowsPagedAbove.emit(-extra)
        return extra

    def has_newer(self) -> bool:
        """Rows newer than the loaded ones were let go of while paging back, and none is on its way."""
        return self.feed.newer_dropped and not self._fetching

    def fetch_newer(self) -> bool:
        """Ask for the next page of the newer rows let go of; it is inserted when it arrives. False if none is due."""
        if not self.has_newer() or self.reader is None:
            return False
        self._fetching = True
        self._read(self.reader.rows_after(self.query, self.feed.newest_id(), PAGE_SIZE), self._on_newer_page)
        return True

    def shown_position(self, row_id: int) -> int | None:
        """The row number Qt shows ``row_id`` at, if it is loaded."""
        position = self.feed.position(row_id)
        return self._shown(position) if position is not None else None

    def row(self, row: int) -> AuditRow | None:
        rows = self.feed.rows
        return rows[self._stored(row)] if 0 <= row < len(rows) else None

    def set_newest_last(self, newest_last: bool) -> None:
        """Show the newest row at the bottom (as streams do) or at the top; the same rows either way."""
        if newest_last != self.newest_last:
            self.beginResetModel()
            self.newest_last = newest_last
            self.endResetModel()

    def set_reader(self, reader: FeedReader | None) -> None:
        self.reader = reader
        self._reload()
        if reader is not None:  # the team database: every recorder's commits, as NOTIFY announces them
            reader.listen(self._commitHeard.emit)

    def set_query(self, query: AuditQuery) -> None:
        """A new search: a reset is right here, the rows are a different set."""
        self.query = query
        self._reload()

    def add_committed(self, rows: tuple[AuditRow, ...], pairings: tuple[ReplyPairing, ...], complete: bool = True,
                      sightings: tuple[Sighting, ...] = ()) -> int:
        """Rows the writer threads just committed and the requests they answered.

        One insertion at the new end, one ``dataChanged`` over the answered requests. Several brokers' writers
        commit independently, so a row can come after a newer one: it goes in at its own place.
        ``complete=False`` means rows were held back upstream: what is missing is read from the database.
        Returns how many rows were inserted now.
        """
        if self.reader is None:
            return 0
        added = 0
        if not complete:
            self._read(self.reader.rows_after(self.query, self.feed.newest_seen), self._on_rows_after)
        else:
            newer, late = self.feed.fresh_rows(rows, self.query)
            added = self._insert_newest(newer)
            for row in late:
                added += self._insert_late(row)
            if rows:
                self.feed.newest_seen = max(self.feed.newest_seen, max(r.id for r in rows))
            self._match_in_store(rows)
        replies = {row.id: row for row in rows if row.kind == "reply"}
        missing = [i for i in self.feed.missing_replies(pairings=pairings) if i not in replies]
        if missing:  # almost never: a reply is committed in the same batch as its pairing
            self._read(self.reader.rows_by_id(missing),
                       lambda found: self._announce(self.feed.apply_pairings(pairings, {**replies, **found})))
        else:
            self._announce(self.feed.apply_pairings(pairings, replies))
        self._announce(self.feed.apply_sightings(sightings), PATH_COLUMN)
        return added

    def trim(self, keep: int = LIVE_ROWS) -> int:
        """Forget the oldest loaded rows beyond ``keep`` (while following the newest); paging brings them back."""
        extra = self.feed.overflow(keep)
        if extra <= 0:
            return 0
        if self.newest_last:  # the oldest rows are at the top
            self.beginRemoveRows(QModelIndex(), 0, extra - 1)
        else:
            self.beginRemoveRows(QModelIndex(), keep, len(self.feed) - 1)
        self.feed.trim(keep)
        self.endRemoveRows()
        return extra

    # ----- reads, answered on the GUI thread ----------------------------------------------------
    def _read(self, future: Future, apply) -> None:
        generation = self._generation

        def done(f: Future) -> None:
            if generation != self._generation:
                return  # a newer search or database replaced the one this read was for
            error = f.exception()
            if error is not None:
                self._fetching = False
                self.readFailed.emit(str(error))
                return
            apply(f.result())

        self._watcher.watch(future, done)

    def _reload(self) -> None:
        self._generation += 1
        self.beginResetModel()
        self.feed.reset(None)
        self.endResetModel()
        self._fetching = self.reader is not None
        if self.reader is not None:
            self._read(self.reader.first_page(self.query), self._on_first_page)

    def _on_first_page(self, page: FeedPage) -> None:
        in_page = {r.id for r in page.rows}  # a row committed while the page was read may be in both
        live = [r for r in reversed(self.feed.rows) if r.id > page.newest_id and r.id not in in_page]
        self.beginResetModel()  # nothing was shown for this search yet: its first page replaces the empty one
        self.feed.reset(page)
        self.feed.add_newest(live)
        self.endResetModel()
        self._fetching = False
        self.loaded.emit(True)

    def _on_older_page(self, page: FeedPage) -> None:
        count = len(page.rows)
        if count:
            first = 0 if self.newest_last else len(self.feed)  # older rows: the far end from the newest
            self.beginInsertRows(QModelIndex(), first, first + count - 1)
            self.feed.add_older(page)
            self.endInsertRows()
            if self.newest_last:
                self.rowsPagedAbove.emit(count)
        else:
            self.feed.exhausted = page.exhausted
        self.drop_newest_beyond_cap()  # deep in history: the newest loaded rows go, at the other end
        self._fetching = False  # only now: views ask for the next page while rows are being inserted
        self.loaded.emit(False)

    def _on_newer_page(self, page: FeedPage) -> None:
        count = len(page.rows)
        first = len(self.feed) if self.newest_last else 0
        if count:
            self.beginInsertRows(QModelIndex(), first, first + count - 1)
        self.feed.add_newer(page, PAGE_SIZE)
        if count:
            self.endInsertRows()
            self._fetch_missing_replies(list(page.rows))
            if not self.newest_last:
                self.rowsPagedAbove.emit(count)
        extra = self.feed.overflow(MAX_LOADED_ROWS)
        if extra > 0:
            self.trim(MAX_LOADED_ROWS)  # the oldest go; paging back brings them again
            if self.newest_last:
                self.rowsPagedAbove.emit(-extra)
        self._fetching = False
        self.loaded.emit(False)

    def _on_rows_after(self, page: FeedPage) -> None:
        self._merge(page)

    def _on_commit(self, commit: Commit) -> None:
        """Another recorder (or this window's own) committed to the team database: read what it announced."""
        if self.reader is None:
            return
        if commit.resync:  # the newest page; and a named batch below, read whole
            self._read(self.reader.first_page(self.query), self._merge)
        if commit.last:
            self._read(self.reader.rows_between(self.query, commit.first, commit.last), self._merge)
        if commit.touched:
            self._read(self.reader.rows_by_id(commit.touched),
                       lambda rows: self._merge(FeedPage(tuple(rows.values()), {}), matched=False))

    def _merge(self, page: FeedPage, matched: bool = True) -> None:
        """Rows read again: new ones inserted where they belong, shown ones refreshed (path, reply, RTT).
        ``matched``: the store read them with this search (else rows by id, tested here)."""
        self.feed.replies.update(page.replies)
        newer, late, changed = self.feed.refresh(page.rows, self.query, matched)
        self._insert_newest(newer, page.replies)
        for row in late:
            self._insert_late(row)
        self._announce(changed)
        if not matched:
            self._match_in_store(page.rows)

    def _match_in_store(self, rows) -> None:
        """Rows whose payload preview cannot decide the payload search: the store matches them whole."""
        undecided = self.feed.undecided(rows, self.query)
        if undecided and self.reader is not None:
            self._read(self.reader.rows_matching(self.query, undecided), self._merge)

    # ----- edits announced to Qt ----------------------------------------------------------------
    # Row numbers: stored positions (newest first) to what Qt sees, and back; the mirror is its own inverse.
    def _stored(self, shown: int) -> int:
        return len(self.feed) - 1 - shown if self.newest_last else shown

    _shown = _stored

    def _insert_newest(self, fresh: list[AuditRow], replies: dict[int, AuditRow] | None = None) -> int:
        if not fresh:
            return 0
        first = len(self.feed) if self.newest_last else 0
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        added = self.feed.add_newest(fresh, replies)
        self.endInsertRows()
        self._fetch_missing_replies(fresh)
        return added

    def _insert_late(self, row: AuditRow) -> int:
        position = self.feed.late_position(row)
        if position is None:
            return 0
        shown = len(self.feed) - position if self.newest_last else position
        self.beginInsertRows(QModelIndex(), shown, shown)
        self.feed.insert_late(position, row)
        self.endInsertRows()
        self._fetch_missing_replies([row])
        return 1

    def _fetch_missing_replies(self, rows: list[AuditRow]) -> None:
        missing = self.feed.missing_replies(rows)
        if missing and self.reader is not None:
            self._read(self.reader.rows_by_id(missing), self._on_replies)

    def _on_replies(self, replies: dict[int, AuditRow]) -> None:
        self.feed.replies.update(replies)
        changed = [p for p in (self.feed.position(i) for i in self._requests_of(replies)) if p is not None]
        self._announce(changed, REPLY_COLUMN)

    def _requests_of(self, replies: dict[int, AuditRow]) -> list[int]:
        return [row.id for row in self.feed.rows if row.reply_id in replies]

    def _announce(self, positions: list[int], column: int | None = None) -> None:
        """One ``dataChanged`` over the changed rows (the whole rows, or one column of them). A busy mesh
        changes tens of thousands of rows a second; the view repaints only what it shows of the span."""
        if not positions:
            return
        shown = [self._shown(position) for position in (min(positions), max(positions))]
        first, last = (column, column) if column is not None else (0, len(COLUMNS) - 1)
        self.dataChanged.emit(self.index(min(shown), first), self.index(max(shown), last))

    def _cell(self, row: AuditRow, column: int) -> str:
        if column == TIME_COLUMN:  # first arrival anywhere in the mesh; the date is in the tooltip
            return datetime.fromtimestamp(row.path[0][1]).strftime("%H:%M:%S.%f")[:-3]
        if column == BROKER_COLUMN:  # where it was seen first (its Path has the others)
            return row.path[0][0]
        if column == KIND_COLUMN:
            return row.kind
        if column == REGION_COLUMN:
            return self.feed.region_of(row)
        if column == TOPIC_COLUMN:
            return row.topic
        if column == QOS_COLUMN:
            return str(row.qos)
        if column == SIZE_COLUMN:
            return f"{row.size}" + (" (truncated)" if row.truncated else "")
        if column == PAIR_COLUMN:  # the explicit link, as Wireshark's "response in frame N"
            if row.kind == "request":
                return f"→ reply #{row.reply_id}" if row.reply_id is not None else "→ waiting"
            answered = self.feed.request_of(row)
            return f"← request #{answered[0]}" if answered is not None else ""
        if column == RTT_COLUMN:  # on both halves of the pair
            rtt = row.rtt_ms if row.kind == "request" else (self.feed.request_of(row) or (0, None))[1]
            return f"{rtt:.1f}" if rtt is not None else ""
        if column == REPLY_COLUMN:
            reply = self.feed.reply_of(row)
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
