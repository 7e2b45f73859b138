"""The audit feed without Qt: its reads on their own thread, and its rows with their pairing and paging rules.

``FeedReader`` owns one read-only connection to an audit database and uses it on one worker thread:
opening, history pages, searches, rows the window missed, replies by id and exports all return a
``Future`` with immutable results, so the window never waits on the database. Its rows hold a preview
of their payload (``PAYLOAD_PREVIEW_BYTES``), whatever its size; ``whole_row`` reads one row whole, for
the row a user opens.

``FeedRows`` is the feed's row list (newest first), the replies shown beside their requests, and the
rules that merge what the writers commit (late rows, pairings, sightings of a bridged message) into
it. The window's table model only turns its edits into Qt notifications.
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from eventscope.core.audit.export import ExportJob
from eventscope.core.audit.postgres import NOTIFY_CHANNEL, connect, is_postgres_url
from eventscope.core.audit.store import (
    PAYLOAD_PREVIEW_BYTES,
    AuditQuery,
    AuditRow,
    AuditStoreError,
    ReplyPairing,
    Sighting,
)
from eventscope.core.audit.stores import AnyAuditStore, open_reader

PAGE_SIZE = 200
LIVE_ROWS = 20_000  # rows kept while following the newest; older ones are paged back in on scroll
# Rows a feed holds at most while paging back through history (a loaded row costs about 0.9 KB: some 45 MB).
# Past it the newest loaded rows go, and page back in as the user scrolls back to them.
MAX_LOADED_ROWS = 50_000
PENDING_SIGHTINGS = 10_000  # sightings held for rows not shown yet
REPLY_NAMESPACE = "eventscope"  # the first level of Eventscope's own reply topics: not a region


@dataclass(frozen=True, slots=True)
class FeedPage:
    """Rows read for the feed (newest first) and the replies they point at."""

    rows: tuple[AuditRow, ...]
    replies: dict[int, AuditRow]
    exhausted: bool = False  # no older rows match
    newest_id: int = 0  # the newest row of the whole database when this page was read


@dataclass(frozen=True, slots=True)
class Commit:
    """A batch some recorder committed to the team database, as its NOTIFY announced it: its new rows
    are ids ``first``..``last``, and ``touched`` are older rows it changed (a sighting, a pairing).
    ``resync``: the listener (re)connected, so whatever came meanwhile must be read."""

    first: int
    last: int
    touched: tuple[int, ...] = ()
    resync: bool = False

    @classmethod
    def parse(cls, payload: str) -> Commit:
        try:
            data = json.loads(payload)
            return cls(int(data.get("first", 0)), int(data.get("last", 0)), tuple(int(i) for i in data.get("touched", ())),
                       bool(data.get("resync", False)))
        except (ValueError, TypeError, AttributeError):
            return cls(0, 0, (), resync=True)  # a payload it cannot read: read what is new


class ExportProgress:
    """An export running on the reader's thread: how far it got, and a way to stop it."""

    def __init__(self) -> None:
        self.total = 0
        self.written = 0
        self.cancelled = threading.Event()  # set to stop; ``stopped_early`` says whether it did
        self.stopped_early = False


class FeedReader:
    """One read-only connection to an audit database, used only on this reader's own thread."""

    def __init__(self, path: str | Path, region_level: int = 0, password: str | None = None) -> None:
        """``path``: a SQLite file or the team database's ``postgresql://`` URL (``password`` apart)."""
        self.path: str | Path = path if is_postgres_url(path) else Path(path)
        self.region_level = region_level
        self._password = password
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-feed")
        self._store: AnyAuditStore | None = None
        self._listening = threading.Event()

    def read(self, work: Callable[[AnyAuditStore], object]) -> Future:
        """``work(store)`` on the reader's thread (a page, an export, planning a replay): its result in the future."""
        return self._executor.submit(lambda: work(self._open_store()))

    def _open_store(self) -> AnyAuditStore:
        if self._store is None:
            self._store = open_reader(self.path, self.region_level, self._password)
        return self._store

    @property
    def live(self) -> bool:
        """Other writers' commits are announced (the team database); a SQLite feed has only its own."""
        return is_postgres_url(self.path)

    def open(self) -> Future:
        """Opens the database; fails with ``AuditStoreError`` (what is wrong with the file)."""
        return self.read(lambda store: store.path)

    def first_page(self, query: AuditQuery, size: int = PAGE_SIZE) -> Future:
        """The newest ``size`` rows matching ``query`` (a ``FeedPage``)."""
        def read(store: AnyAuditStore) -> FeedPage:
            newest = store.newest_id()
            rows = store.page_before(query, None, size, preview=PAYLOAD_PREVIEW_BYTES)
            return FeedPage(tuple(rows), _replies_of(store, rows), len(rows) < size, newest)
        return self.read(read)

    def page_before(self, query: AuditQuery, before_id: int | None, size: int = PAGE_SIZE) -> Future:
        def read(store: AnyAuditStore) -> FeedPage:
            rows = store.page_before(query, before_id, size, preview=PAYLOAD_PREVIEW_BYTES)
            return FeedPage(tuple(rows), _replies_of(store, rows), len(rows) < size)
        return self.read(read)

    def rows_after(self, query: AuditQuery, after_id: int, size: int | None = None) -> Future:
        """Rows stored since ``after_id`` (oldest first, at most ``size``), for a feed whose live rows were held
        back, or that pages back to the newest rows."""
        def read(store: AnyAuditStore) -> FeedPage:
            if size is None:
                rows = store.rows_after(query, after_id, preview=PAYLOAD_PREVIEW_BYTES)
            else:
                rows = store.rows_after(query, after_id, size, preview=PAYLOAD_PREVIEW_BYTES)
            return FeedPage(tuple(rows), _replies_of(store, rows), size is not None and len(rows) < size)
        return self.read(read)

    def rows_by_id(self, ids: Iterable[int]) -> Future:
        wanted = tuple(ids)
        return self.read(lambda store: store.rows_by_id(wanted, preview=PAYLOAD_PREVIEW_BYTES))

    def rows_matching(self, query: AuditQuery, ids: Iterable[int]) -> Future:
        """The rows with these ids that match ``query`` (a ``FeedPage``, oldest first): the store decides a
        payload search that a row's preview cannot."""
        wanted = tuple(ids)

        def read(store: AnyAuditStore) -> FeedPage:
            rows = sorted(store.rows_by_id(wanted, preview=PAYLOAD_PREVIEW_BYTES, query=query).values(),
                          key=lambda r: r.id)
            return FeedPage(tuple(rows), _replies_of(store, rows))
        return self.read(read)

    def whole_row(self, row_id: int) -> Future:
        """One row with its whole stored payload (None if it is gone): the row a user opens."""
        return self.read(lambda store: store.rows_by_id([row_id]).get(row_id))

    def rows_between(self, query: AuditQuery, first_id: int, last_id: int) -> Future:
        """Rows with ids in [first_id, last_id] that match (a batch another recorder committed)."""
        def read(store) -> FeedPage:
            rows = [r for r in store.rows_after(query, first_id - 1, last_id - first_id + 1,
                                                preview=PAYLOAD_PREVIEW_BYTES) if r.id <= last_id]
            return FeedPage(tuple(rows), _replies_of(store, rows))
        return self.read(read)

    def listen(self, on_commit: Callable[[Commit], None]) -> None:
        """The team database: call ``on_commit`` (on a listener thread) for every batch any recorder commits,
        from PostgreSQL's NOTIFY; no polling. Ends with ``close``. A SQLite feed has nothing to listen to."""
        if not self.live or self._listening.is_set():
            return
        self._listening.set()
        threading.Thread(target=self._listen, args=(on_commit,), name="audit-feed-listen", daemon=True).start()

    def _listen(self, on_commit: Callable[[Commit], None]) -> None:
        backoff = 1.0
        while self._listening.is_set():
            try:
                conn = connect(str(self.path), self._password, autocommit=True)
            except AuditStoreError:
                self._listening.wait(backoff)  # a server restarting: try again, a little later each time
                backoff = min(backoff * 2, 30.0)
                continue
            try:
                conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                on_commit(Commit(0, 0, (), resync=True))  # what was committed while nobody listened
                backoff = 1.0
                while self._listening.is_set():
                    for notify in conn.notifies(timeout=1.0):
                        on_commit(Commit.parse(notify.payload))
            except Exception:  # noqa: BLE001 (the connection broke: listen again, after a pause)
                self._listening.wait(backoff)
                backoff = min(backoff * 2, 30.0)
            finally:
                conn.close()

    def export(self, query: AuditQuery, fmt: str, path: str | Path) -> tuple[ExportProgress, Future]:
        """Write every row matching ``query`` to ``path``; the future has the rows written (it stops
        early, keeping what it wrote, when ``progress.cancelled`` is set)."""
        progress = ExportProgress()

        def write(store: AnyAuditStore) -> int:
            with open(path, "w", newline="", encoding="utf-8") as out:
                job = ExportJob(store, query, fmt, out)
                progress.total = job.total
                while True:
                    if progress.cancelled.is_set():
                        progress.stopped_early = True
                        break
                    if not job.step():
                        break
                    progress.written = job.written
                progress.written = job.written
            return job.written
        return progress, self.read(write)

    def close(self) -> None:
        """Finish what is queued, then close the connection (on its own thread, as SQLite wants)."""
        self._listening.clear()
        def close_store() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None
        self._executor.submit(close_store)
        self._executor.shutdown(wait=False)


def _replies_of(store: AnyAuditStore, rows: list[AuditRow]) -> dict[int, AuditRow]:
    wanted = [r.reply_id for r in rows if r.reply_id is not None]
    return store.rows_by_id(wanted, preview=PAYLOAD_PREVIEW_BYTES) if wanted else {}


class FeedRows:
    """The rows a feed shows, newest first, with the replies beside their requests.

    Positions are indexes into ``rows`` (newest first). Methods named ``*_position`` only look;
    the others change the rows and return the positions that changed, for the caller to announce.
    """

    def __init__(self) -> None:
        self.rows: list[AuditRow] = []
        self.replies: dict[int, AuditRow] = {}
        self.request_regions: dict[int, str] = {}  # reply id → the region of the request it answers
        self.answered: dict[int, tuple[int, float | None]] = {}  # reply id → (its request's id, the pair's RTT)
        self.pending_sightings: dict[int, list[tuple[str, float]]] = {}
        self.newest_seen = 0  # the newest row id the feed knows of (shown or not)
        self.exhausted = True  # no older rows to page in
        self.newer_dropped = False  # rows newer than the loaded ones were let go of (``drop_newest``): they page in

    def __len__(self) -> int:
        return len(self.rows)

    def reset(self, page: FeedPage | None) -> None:
        self.rows, self.replies, self.request_regions, self.pending_sightings = [], {}, {}, {}
        self.answered = {}
        self.newest_seen = page.newest_id if page is not None else 0
        self.exhausted = page is None
        self.newer_dropped = False
        if page is not None:
            self.add_older(page)

    # ----- adding rows ----------------------------------------------------------------------
    def add_older(self, page: FeedPage) -> None:
        """Append a history page at the old end (the caller announced ``len(page.rows)`` rows there)."""
        self.exhausted = page.exhausted
        self._learn_replies(page.rows, page.replies)
        self.rows.extend(page.rows)

    def newest_id(self) -> int:
        return self.rows[0].id if self.rows else 0

    def fresh_rows(self, rows: Iterable[AuditRow], query: AuditQuery,
                   matched: bool = False) -> tuple[list[AuditRow], list[AuditRow]]:
        """Committed ``rows`` that match ``query`` (all of them when the store ``matched`` them already),
        split into newer than every shown row (oldest first) and late ones (a slower writer's) that belong
        among them. A row whose payload preview leaves the search undecided is not among them: the caller
        asks the store (``undecided``)."""
        fresh = sorted((r for r in rows if matched or query.is_empty or query.matches(r)), key=lambda r: r.id)
        newest = self.newest_id()
        newer = [r for r in fresh if r.id > newest]
        if self.newer_dropped and newer:  # not next to the loaded rows: they page in after the ones let go of
            self.newest_seen = max(self.newest_seen, newer[-1].id)
            newer = []
        return newer, [r for r in fresh if r.id < newest]

    def undecided(self, rows: Iterable[AuditRow], query: AuditQuery) -> list[int]:
        """Ids of rows not shown that only the store can match against ``query``'s payload search (their
        payload here is a preview without the text)."""
        return [r.id for r in rows if query.undecided(r) and self.position(r.id) is None]

    def add_newest(self, fresh: list[AuditRow], replies: dict[int, AuditRow] | None = None) -> int:
        """Put ``fresh`` (oldest first) at the new end; the caller announced ``len(fresh)`` rows there."""
        if not fresh:
            return 0
        self.newest_seen = max(self.newest_seen, fresh[-1].id)
        newest_first = [self._with_pending_sightings(row) for row in reversed(fresh)]
        self._learn_replies(newest_first, replies or {})
        self.rows[0:0] = newest_first
        return len(fresh)

    def add_newer(self, page: FeedPage, size: int) -> int:
        """Put a page of the rows newer than the loaded ones (oldest first, at most ``size``; the caller announced
        them at the new end) back after ``drop_newest``. Rows stay let go of while a full page came, or a
        commit announced a newer row than the page brought."""
        added = self.add_newest(list(page.rows), page.replies)
        self.newer_dropped = len(page.rows) >= size or self.newest_seen > self.newest_id()
        return added

    def late_position(self, row: AuditRow) -> int | None:
        """Where a late row goes, or None when it is shown already or older than what is loaded."""
        position = bisect_left(self.rows, -row.id, key=lambda r: -r.id)
        if position < len(self.rows) and self.rows[position].id == row.id:
            return None
        if position == len(self.rows) and not self.exhausted:
            return None  # paging brings it
        return position

    def insert_late(self, position: int, row: AuditRow, replies: dict[int, AuditRow] | None = None) -> None:
        self._learn_replies([row], replies or {})
        self.rows.insert(position, self._with_pending_sightings(row))

    def refresh(self, rows: Iterable[AuditRow], query: AuditQuery,
                matched: bool = False) -> tuple[list[AuditRow], list[AuditRow], list[int]]:
        """Rows read again from the store (another recorder's batch, a row it changed): shown ones are
        replaced and their positions returned last; the rest come back split as ``fresh_rows`` does
        (``matched``: the store read them with ``query``)."""
        changed, unseen = [], []
        for row in rows:
            position = self.position(row.id)
            if position is None:
                unseen.append(row)
            elif self.rows[position] != row:
                self.rows[position] = row
                changed.append(position)
        newer, late = self.fresh_rows(unseen, query, matched)
        return newer, late, changed

    def missing_replies(self, rows: Iterable[AuditRow] = (), pairings: Iterable[ReplyPairing] = ()) -> list[int]:
        """Reply ids to read from the store before ``rows`` or ``pairings`` can show their reply."""
        wanted = {r.reply_id for r in rows if r.reply_id is not None} | {p.reply_id for p in pairings}
        return sorted(i for i in wanted if i not in self.replies)

    # ----- what changes shown rows ----------------------------------------------------------
    def apply_pairings(self, pairings: Iterable[ReplyPairing], replies: dict[int, AuditRow]) -> list[int]:
        """Requests that got their reply. Returns the positions whose cells changed."""
        self.replies.update(replies)
        changed = []
        for pairing in pairings:
            position = self.position(pairing.request_id)
            if position is None:
                continue
            row = self.rows[position]
            self.request_regions[pairing.reply_id] = row.region
            self.answered[pairing.reply_id] = (pairing.request_id, pairing.rtt_ms)
            self.rows[position] = row.with_reply(pairing.reply_id, pairing.rtt_ms)
            changed.append(position)
            reply_position = self.position(pairing.reply_id)
            if reply_position is not None:
                changed.append(reply_position)  # its region is the request's now
        return changed

    def apply_sightings(self, sightings: Iterable[Sighting]) -> list[int]:
        """A shown message arrived on one more broker: its path grows. A sighting may come before its
        row (another broker's writer was faster): it waits for it. Returns the changed positions."""
        hops_of: dict[int, list[tuple[str, float]]] = {}  # a message's copies on several brokers: one change
        for sighting in sightings:
            hops_of.setdefault(sighting.message_id, []).append((sighting.broker, sighting.received))
        changed = []
        for message_id, hops in hops_of.items():
            position = self.position(message_id)
            if position is None:
                if len(self.pending_sightings) < PENDING_SIGHTINGS:
                    self.pending_sightings.setdefault(message_id, []).extend(hops)
                continue
            row = self.rows[position]
            new = [hop for hop in dict.fromkeys(hops) if hop not in row.sightings]  # each hop once
            if new:
                self.rows[position] = row.with_sightings(new)
                changed.append(position)
        return changed

    def overflow(self, keep: int = LIVE_ROWS) -> int:
        """How many of the oldest rows ``trim(keep)`` would drop."""
        return max(0, len(self.rows) - keep)

    def trim(self, keep: int = LIVE_ROWS) -> None:
        """Forget the oldest rows beyond ``keep`` (the caller announced their removal); paging brings them back."""
        if len(self.rows) <= keep:
            return
        del self.rows[keep:]
        self.exhausted = False
        self._forget_unshown()

    def drop_newest(self, count: int) -> None:
        """Forget the ``count`` newest loaded rows (the caller announced their removal), to page deeper into
        history within ``MAX_LOADED_ROWS``; ``add_newer`` brings them back."""
        if count <= 0:
            return
        del self.rows[:count]
        self.newer_dropped = True
        self._forget_unshown()

    def _forget_unshown(self) -> None:
        """Pairs and replies of rows no longer loaded."""
        shown = {row.reply_id for row in self.rows if row.reply_id is not None}
        self.replies = {k: v for k, v in self.replies.items() if k in shown}
        kept = shown | {row.id for row in self.rows if row.kind == "reply"}  # pairs with a half still shown
        self.answered = {k: v for k, v in self.answered.items() if k in kept}
        self.request_regions = {k: v for k, v in self.request_regions.items() if k in kept}

    # ----- reading --------------------------------------------------------------------------
    def position(self, row_id: int) -> int | None:
        rows = self.rows
        if not rows:
            return None
        guess = rows[0].id - row_id  # right when the loaded ids run without a gap (every row matches the search)
        if 0 <= guess < len(rows) and rows[guess].id == row_id:
            return guess
        position = bisect_left(rows, -row_id, key=lambda r: -r.id)
        return position if position < len(rows) and rows[position].id == row_id else None

    def reply_of(self, row: AuditRow) -> AuditRow | None:
        return self.replies.get(row.reply_id) if row.reply_id is not None else None

    def request_of(self, row: AuditRow) -> tuple[int, float | None] | None:
        """A reply's request (its id, and the pair's RTT), when the feed has seen the request."""
        return self.answered.get(row.id) if row.kind == "reply" else None

    def partner_id(self, row: AuditRow) -> int | None:
        """The other half of a request/reply pair: a request's reply id, a reply's request id."""
        if row.kind == "request":
            return row.reply_id
        answered = self.request_of(row)
        return answered[0] if answered is not None else None

    def region_of(self, row: AuditRow) -> str:
        """A reply to Eventscope's own request (topic ``eventscope/...``) shows its request's region."""
        if row.kind == "reply" and row.region == REPLY_NAMESPACE:
            return self.request_regions.get(row.id, row.region)
        return row.region

    def _learn_replies(self, rows: Iterable[AuditRow], replies: dict[int, AuditRow]) -> None:
        self.replies.update(replies)
        for row in rows:
            if row.reply_id is not None:
                self.request_regions[row.reply_id] = row.region
                self.answered[row.reply_id] = (row.id, row.rtt_ms)

    def _with_pending_sightings(self, row: AuditRow) -> AuditRow:
        waiting = self.pending_sightings.pop(row.id, None)
        return row.with_sightings(waiting) if waiting else row
