"""The durable audit store: one SQLite file (WAL) per connection profile.

Writes are batched: ``write_batch`` is one transaction per flush, including request /
reply pairing and a small chunk of retention pruning, so the caller can acknowledge the
whole batch to the broker right after it returns.

Duplicates: a record is flagged ``duplicate`` when the broker marked it as a redelivery
(DUP flag) *and* a row with the same topic, payload and correlation data is already
stored. The DUP flag alone is not enough, because the first copy of a message that was
in flight when the recorder died also arrives with DUP set but was never stored; equal
content alone is not enough either, because devices legitimately repeat payloads.

The mesh path: one database serves every broker of a workspace. A message bridged across the
mesh arrives once per broker; the first arrival is its row, and each later one (another broker,
same content, within ``MESH_WINDOW_SECONDS``) is a sighting of that row, so the feed can show
the hop latency, e.g. "us-east +0 ms -> us-west +43 ms".

Payloads are kept whole up to ``payload_limit`` (16 MiB unless told otherwise); a longer one is cut
there, flagged ``truncated`` and keeps its original ``size``. Reads for a feed ask for a ``preview``:
each row then holds only the first ``PAYLOAD_PREVIEW_BYTES`` of its payload (``payload_is_preview``),
and the whole one is read by id when a row is opened. Exports read in chunks bounded in bytes as well
as in rows, so a run of 16 MiB payloads never sits in memory by the thousand.

A file that SQLite cannot read, or that fails its integrity check on open, is moved aside
(``<name>.corrupt-<time>``) and a fresh store is started; ``notice`` then says what happened,
so nothing is ever acknowledged into a damaged file. A full disk raises ``AuditStoreFull``
after rolling back, so nothing half-written is acknowledged. A reader (``open_reader``, for
the feed and export) never moves, creates or repairs anything: ``damage`` says what is wrong,
and ``readable_rows`` steps over the rows it cannot read.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from sys import intern

import platformdirs

from eventscope.core.audit.integrity import location_problem, quick_check
from eventscope.core.audit.lock import RecorderLock
from eventscope.core.audit.recent_copies import CopiesByBroker, RecentCopies
from eventscope.core.audit.topic_facts import TopicFacts, classify_known, hash_known, topic_bytes, topic_kind
from eventscope.core.records import NO_PROPERTIES, MessageProperties, MessageRecord, slot_builder

SCHEMA_VERSION = 2  # 2: sightings (a bridged message's arrival at each further broker)
# A copy of a message (same topic, payload and correlation data) that arrives on another broker
# within this many seconds is the same message crossing the mesh, not a new one.
MESH_WINDOW_SECONDS = 10.0
# Recent rows are held this much longer than the window, so a wall clock stepping back a little does not
# make the next batch read the window back from the file.
MESH_WINDOW_MARGIN = 5.0
# A redelivered message (DUP) is a duplicate when its copy was committed but not acknowledged. Acks follow
# each commit, and a broker keeps at most its in-flight limit unacknowledged (Mosquitto 20, MQTT's most
# 65,535), so the copy is among the broker's newest rows: the newest few, then up to 100,000.
DUPLICATE_LOOKBACK_STEPS = (2_000, 100_000)
# Payloads up to this are kept whole: a 100 KB JSON request is a normal message, and MQTT allows 256 MB.
DEFAULT_PAYLOAD_LIMIT = 16 * 1024 * 1024
# What a feed row holds of a longer payload: its one-line preview needs 800 bytes (``payload_text.preview``);
# most messages fit whole, so they open and match a live search without another read. 20,000 live rows
# then hold at most 80 MB of payload, however large the payloads kept.
PAYLOAD_PREVIEW_BYTES = 4096
# Payload bytes an export (or a replay) holds at once, beside its row count per chunk.
READ_CHUNK_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_ROWS = 2_000_000
DEFAULT_MAX_AGE_SECONDS = 30 * 24 * 3600
PRUNE_CHUNK = 2_000
KINDS = ("request", "reply", "other", "replay")

# A checkpoint copies the write-ahead log's pages into the database file. By default SQLite runs one inside
# the commit that takes the log past 1,000 pages (4 MiB). While a content-hash index spread every batch's
# pages at random, that was every other batch, and 4,096 pages cut the write from 19.4 to 13.7 µs a message.
# Without that index (recent_copies.py) the two settings measure the same; 4,096 stays for wide rows.
WAL_CHECKPOINT_PAGES = 4096
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes the log file keeps after a checkpoint; a burst's larger log shrinks back

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    received REAL NOT NULL,
    broker TEXT NOT NULL,
    topic TEXT NOT NULL,
    region TEXT NOT NULL,
    kind TEXT NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    correlation BLOB,
    response_topic TEXT,
    payload BLOB NOT NULL,
    truncated INTEGER NOT NULL,
    size INTEGER NOT NULL,
    duplicate INTEGER NOT NULL,
    properties TEXT NOT NULL,
    content_hash INTEGER NOT NULL,
    reply_id INTEGER,
    rtt_ms REAL
);
CREATE INDEX IF NOT EXISTS messages_received ON messages (received);
CREATE INDEX IF NOT EXISTS messages_correlation ON messages (correlation) WHERE correlation IS NOT NULL;
CREATE TABLE IF NOT EXISTS sightings (
    message_id INTEGER NOT NULL,
    broker TEXT NOT NULL,
    received REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sightings_message ON sightings (message_id);
"""

_COLUMNS = ("id, received, broker, topic, region, kind, qos, retain, correlation, response_topic, payload, "
            "truncated, size, duplicate, properties, reply_id, rtt_ms")


def _columns(preview: int | None) -> str:
    """The row's columns, with only the payload's first ``preview`` bytes (and whether there is more)."""
    if preview is None:
        return _COLUMNS
    head = int(preview)
    return (_COLUMNS.replace(" payload,", f" substr(payload, 1, {head}),", 1)
            + f", length(payload) > {head}")  # length() of a blob reads no content


class AuditStoreError(RuntimeError):
    """The audit store cannot do what was asked; the message says why."""


class AuditStoreDamaged(AuditStoreError):
    """The database file opens but fails its integrity check; the message says what SQLite found."""


class AuditStoreFull(AuditStoreError):
    """The disk (or the database's page limit) is full. Nothing of the batch was written."""


def default_audit_dir() -> Path:
    return Path(platformdirs.user_data_dir("eventscope")) / "audit"


def default_audit_path(profile_name: str) -> Path:
    """One audit file per connection profile, named after it."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", profile_name).strip("._") or "default"
    return default_audit_dir() / f"{safe}.sqlite3"


def classify(record: MessageRecord) -> str:
    """request / reply / other, from MQTT 5 properties first, then the topic's last level; ``replay`` for
    a message an Eventscope replay sent again (not production traffic)."""
    return classify_known(record.properties, topic_kind(record.topic))


def first_copy_elsewhere(copies_by_broker: CopiesByBroker, broker: str,
                          received: float) -> int | None:
    """The id of the first stored copy that arrived on another broker within the mesh window.

    Copies are kept per broker, so a burst of equal messages on one broker costs nothing here
    (one list shared by all brokers made each record scan every earlier copy: quadratic).
    """
    first: int | None = None
    for source, copies in copies_by_broker.items():
        if source == broker:
            continue
        for row_id, seen in copies:  # in id order: the first match is this broker's earliest
            if abs(received - seen) <= MESH_WINDOW_SECONDS:
                first = row_id if first is None else min(first, row_id)
                break
    return first


def content_hash(topic: str, payload: bytes, correlation: bytes | None) -> int:
    return hash_known(topic_bytes(topic), payload, correlation)


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One stored message, as read back."""

    id: int
    received: float
    broker: str
    topic: str
    region: str
    kind: str
    qos: int
    retain: bool
    correlation: bytes | None
    response_topic: str | None
    payload: bytes
    truncated: bool
    size: int
    duplicate: bool
    properties: dict
    reply_id: int | None
    rtt_ms: float | None
    sightings: tuple[tuple[str, float], ...] = ()  # (broker, received) of the later copies, in order
    # ``payload`` is only the first part of what is stored (a feed's row); the store's ``rows_by_id`` has it whole
    payload_is_preview: bool = False

    @property
    def path(self) -> list[tuple[str, float]]:
        """Every broker the message was seen on with its arrival, earliest first.

        The row itself is the copy committed first, which is not always the one that arrived first.
        """
        return sorted([(self.broker, self.received), *self.sightings], key=lambda hop: hop[1])

    def path_text(self) -> str:
        """'us-east +0 ms -> us-west +43 ms', or '' for a message seen on one broker only."""
        if not self.sightings:
            return ""
        path = self.path
        start = path[0][1]
        return " → ".join(f"{broker} +{(received - start) * 1000:.0f} ms" for broker, received in path)

    @classmethod
    def from_sql(cls, row: tuple) -> AuditRow:
        """A row of ``_columns(preview)``: with a preview, one more column says whether the payload goes on."""
        (id_, received, broker, topic, region, kind, qos, retain, correlation, response_topic, payload,
         truncated, size, duplicate, properties, reply_id, rtt_ms, *more) = row
        # A few brokers, regions and kinds name thousands of rows: one string each, not one per row (a feed
        # holds tens of thousands of rows).
        return cls(id_, received, intern(broker), topic, intern(region), intern(kind), qos, bool(retain), correlation,
                   response_topic if response_topic is None else intern(response_topic), bytes(payload),
                   bool(truncated), size, bool(duplicate), json.loads(properties), reply_id, rtt_ms,
                   (), bool(more and more[0]))

    # A feed changes a row for every bridged copy and every reply, tens of thousands a second on a busy mesh:
    # building it positionally costs a fraction of ``dataclasses.replace``.
    def with_sightings(self, hops: Iterable[tuple[str, float]]) -> AuditRow:
        """The row with more later copies."""
        return self._rebuilt(self.reply_id, self.rtt_ms, self.sightings + tuple(hops))

    def with_reply(self, reply_id: int, rtt_ms: float | None) -> AuditRow:
        """The request with its reply paired."""
        return self._rebuilt(reply_id, rtt_ms, self.sightings)

    def _rebuilt(self, reply_id: int | None, rtt_ms: float | None, sightings: tuple[tuple[str, float], ...]) -> AuditRow:
        return build_audit_row(self.id, self.received, self.broker, self.topic, self.region, self.kind, self.qos,
                               self.retain, self.correlation, self.response_topic, self.payload, self.truncated,
                               self.size, self.duplicate, self.properties, reply_id, rtt_ms, sightings,
                               self.payload_is_preview)

    def as_preview(self, head: int = PAYLOAD_PREVIEW_BYTES) -> AuditRow:
        """The row as a feed holds it: at most ``head`` bytes of its payload."""
        if len(self.payload) <= head:
            return self
        return replace(self, payload=self.payload[:head], payload_is_preview=True)

    def __reduce__(self):
        # Rows cross from the connection process by the thousand: plain positional pickling is
        # several times cheaper than the dataclass default (a fields() walk per row).
        return (AuditRow, (self.id, self.received, self.broker, self.topic, self.region, self.kind, self.qos,
                           self.retain, self.correlation, self.response_topic, self.payload, self.truncated, self.size,
                           self.duplicate, self.properties, self.reply_id, self.rtt_ms, self.sightings,
                           self.payload_is_preview))

    def to_record(self) -> MessageRecord:
        """A MessageRecord rebuilt from the row, for the shared details pane."""
        p = self.properties
        props = MessageProperties(
            response_topic=self.response_topic,
            correlation_data=self.correlation,
            content_type=p.get("content_type"),
            payload_format_indicator=p.get("payload_format_indicator"),
            message_expiry_interval=p.get("message_expiry_interval"),
            user_properties=tuple(tuple(u) for u in p.get("user_properties", ())),
        )
        return MessageRecord(topic=self.topic, payload=self.payload, qos=self.qos, retain=self.retain,
                             received=self.received, properties=props, broker_id=self.broker, dup=self.duplicate)


# ``AuditRow(...)`` with every field given positionally: the store makes one per message it writes.
build_audit_row: Callable[..., AuditRow] = slot_builder(AuditRow)


@dataclass(frozen=True, slots=True)
class SqlDialect:
    """How an ``AuditQuery`` reads in one database's SQL: its parameter mark, the messages table's alias,
    and its substring tests (PostgreSQL's ``LIKE`` goes through the trigram-indexed topics table)."""

    mark: str
    column: str
    topic_contains: str
    payload_contains: str
    like: bool  # the topic test takes a LIKE pattern, not the plain text

    def topic_pattern(self, text: str) -> str:
        if not self.like:
            return text
        return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

    def region_in(self, count: int) -> str:
        if self.mark == "?":
            return f"{self.column}region IN ({', '.join('?' * count)})"
        return f"{self.column}region = ANY({self.mark})"


SQLITE = SqlDialect("?", "", "instr(topic, ?) > 0", "instr(payload, ?) > 0", like=False)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """What the feed and export show: every field optional, all must match."""

    topic: str = ""  # substring of the topic
    region: str = ""  # exact region
    regions: tuple[str, ...] = ()  # any of these regions
    kind: str = ""  # request / reply / other
    text: str = ""  # substring of the (stored) payload
    since: float | None = None  # received at or after (epoch seconds)

    def where(self, dialect: SqlDialect | None = None) -> tuple[str, list]:
        """The query as a condition and its parameters, in SQLite's SQL (or ``dialect``'s)."""
        d = dialect or SQLITE
        clauses, params = [], []
        if self.topic:
            clauses.append(d.topic_contains)
            params.append(d.topic_pattern(self.topic))
        if self.region:
            clauses.append(f"{d.column}region = {d.mark}")
            params.append(self.region)
        if self.regions:
            clauses.append(d.region_in(len(self.regions)))
            if d.mark == "?":  # SQLite: one mark per region
                params.extend(self.regions)
            else:  # PostgreSQL: one array
                params.append(list(self.regions))
        if self.kind:
            clauses.append(f"{d.column}kind = {d.mark}")
            params.append(self.kind)
        if self.text:
            clauses.append(d.payload_contains)
            params.append(self.text.encode("utf-8"))
        if self.since is not None:
            clauses.append(f"{d.column}received >= {d.mark}")
            params.append(self.since)
        return " AND ".join(clauses), params

    def matches(self, row: AuditRow) -> bool:
        """The same test as ``where()``, for rows that arrive live instead of from a query. A row holding a
        preview matches the payload search only when the preview shows the text (see ``undecided``)."""
        if self.text and self.text.encode("utf-8") not in row.payload:
            return False
        return self._matches_apart_from_text(row)

    def undecided(self, row: AuditRow) -> bool:
        """Whether only the store can tell if ``row`` matches: it matches all but the payload search, and its
        payload is a preview without the text, which may be in the rest."""
        return (bool(self.text) and row.payload_is_preview and self.text.encode("utf-8") not in row.payload
                and self._matches_apart_from_text(row))

    def _matches_apart_from_text(self, row: AuditRow) -> bool:
        if self.topic and self.topic not in row.topic:
            return False
        if self.region and row.region != self.region:
            return False
        if self.regions and row.region not in self.regions:
            return False
        if self.kind and row.kind != self.kind:
            return False
        return self.since is None or row.received >= self.since

    @property
    def is_empty(self) -> bool:
        return not (self.topic or self.region or self.kind or self.text or self.since is not None)


@dataclass(frozen=True, slots=True)
class ReplyPairing:
    """A stored request that got its reply in this batch: the request row id, the reply row id and the RTT."""

    request_id: int
    reply_id: int
    rtt_ms: float


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one batch did: the new rows (in order), duplicates flagged, requests paired with a reply.

    ``rows`` are built from what was written, so a feed can show them without reading them back.
    """

    first_id: int
    last_id: int
    inserted: int
    duplicates: int
    paired_request_ids: tuple[int, ...]
    pruned: int
    rows: tuple[AuditRow, ...] = ()
    pairings: tuple[ReplyPairing, ...] = ()
    sightings: tuple[Sighting, ...] = ()


@dataclass(frozen=True, slots=True)
class Sighting:
    """A stored message seen again on another broker of the mesh."""

    message_id: int
    broker: str
    received: float


class AuditStore:
    """SQLite audit storage. Single writer; safe to read from the same thread while writing."""

    def __init__(self, path: str | Path, payload_limit: int = DEFAULT_PAYLOAD_LIMIT,
                 max_rows: int = DEFAULT_MAX_ROWS, max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
                 region_level: int = 0, max_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.payload_limit = payload_limit
        self.max_rows = max_rows
        self.max_age_seconds = max_age_seconds
        self.region_level = region_level
        self.notice = ""  # set when a corrupt file was moved aside
        self.damage = ""
        # Writers on several threads (one per broker of a workspace) take turns on the one connection.
        self._writing = threading.RLock()
        problem = location_problem(self.path, write=True)
        if problem:
            raise AuditStoreError(problem)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = self._open_checked()
        except OSError as exc:
            raise AuditStoreError(f"Cannot open the audit database {self.path}: {exc.strerror or exc}") from exc
        self._row_count = self._conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        self._recent = RecentCopies()
        self._topic_facts = TopicFacts(region_level)
        if max_bytes:
            self.limit_size(max_bytes)

    def limit_size(self, max_bytes: int) -> None:
        """Cap the database file: past it, writes fail as on a full disk (kept in memory, not acked)."""
        page_size = self._conn.execute("PRAGMA page_size").fetchone()[0]
        used = self._conn.execute("PRAGMA page_count").fetchone()[0]
        self._conn.execute(f"PRAGMA max_page_count={max(used, max_bytes // page_size)}")

    @classmethod
    def open_reader(cls, path: str | Path, region_level: int = 0, snapshot: bool = False) -> AuditStore:
        """A second, query-only connection to a store that another thread (or process) writes.

        WAL lets it read while the writer commits; it never creates, repairs or moves anything. With
        ``snapshot`` (a one-off read such as an export), a fully checkpointed file (no ``-wal`` beside
        it, so no writer) is opened immutable, so SQLite adds no side files either; a view that keeps
        reading while a recorder may start must not use it. Only a snapshot runs the integrity check
        (up to its time budget); ``damage`` then says what it found ('' when whole).
        Raises ``AuditStoreError`` with the reason when the file cannot be read at all.
        """
        path = Path(path)
        problem = location_problem(path, write=False)
        if problem:
            raise AuditStoreError(problem)
        store = cls.__new__(cls)
        store.path = Path(path)
        store.payload_limit = DEFAULT_PAYLOAD_LIMIT
        store.max_rows = DEFAULT_MAX_ROWS
        store.max_age_seconds = DEFAULT_MAX_AGE_SECONDS
        store.region_level = region_level
        store.notice = ""
        store._writing = threading.RLock()
        idle = snapshot and not path.with_name(path.name + "-wal").exists()
        try:
            store._conn = sqlite3.connect(f"{store.path.resolve().as_uri()}?mode=ro{'&immutable=1' if idle else ''}",
                                          uri=True, isolation_level=None, check_same_thread=False)
            store._conn.execute("PRAGMA query_only=1")
            store.damage = quick_check(store._conn) if snapshot else ""  # a view must open in milliseconds
            tables = {row[0] for row in store._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.Error as exc:
            raise AuditStoreError(f"Cannot read the audit database {store.path}: {exc}") from exc
        if "messages" not in tables:
            store._conn.close()
            raise AuditStoreError(f"{store.path} is not an Eventscope audit database (it has no messages table)")
        try:
            store._row_count = store._conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            store.damage = store.damage or str(exc)
            store._row_count = 0
        return store

    def _open_checked(self) -> sqlite3.Connection:
        """Open for writing; a damaged file is moved aside for a fresh one, an unusable place raises."""
        try:
            return self._open()
        except sqlite3.OperationalError as exc:  # cannot open or lock: nothing to move aside
            raise AuditStoreError(f"Cannot open the audit database {self.path}: {exc}") from exc
        except (sqlite3.DatabaseError, AuditStoreDamaged) as exc:
            moved = self._move_aside()
            self.notice = (f"The audit database {self.path} could not be read ({exc}); it was moved to "
                           f"{moved} and a new, empty audit database was started.")
        return self._open()

    def _open(self) -> sqlite3.Connection:
        existed = self.path.exists() and self.path.stat().st_size > 0
        conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        try:
            problem = quick_check(conn) if existed else ""
            if problem:
                raise AuditStoreDamaged(problem)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            conn.executescript(_SCHEMA)
            conn.execute("DROP INDEX IF EXISTS messages_content")  # made by earlier versions: see recent_copies.py
            version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if version is None:
                conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            conn.execute("SELECT id FROM messages ORDER BY id DESC LIMIT 1").fetchall()
        except (sqlite3.DatabaseError, AuditStoreDamaged):
            conn.close()
            raise
        return conn

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            n += 1
        self.path.rename(target)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                side.rename(target.with_name(target.name + suffix))
        return target

    # ----- meta -----
    def meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._writing:
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def client_id(self) -> str:
        """The audit subscription's client id, stable for this database so its broker session resumes."""
        with self._writing:
            value = self.meta("client_id")
            if value is None:
                value = f"eventscope-audit-{secrets.token_hex(6)}"
                self.set_meta("client_id", value)
            return value

    def recorder_lock(self, broker: str) -> RecorderLock:
        """The lock that lets one recorder per broker write this database (see ``core/audit/lock.py``)."""
        return RecorderLock(self.path, broker)

    @property
    def connection(self) -> sqlite3.Connection:
        """The SQLite connection (for tests and benchmarks; e.g. ``PRAGMA max_page_count``)."""
        return self._conn

    @property
    def row_count(self) -> int:
        return self._row_count

    def close(self) -> None:
        try:
            self._conn.close()
        except sqlite3.Error:
            pass

    # ----- writing -----
    def write_batch(self, records: Iterable[MessageRecord], broker: str = "", now: float | None = None) -> WriteResult:
        """Store a flush batch in one transaction: insert, pair replies, prune a chunk. Safe from several
        threads: their batches take turns.

        Raises ``AuditStoreFull`` (and rolls back) when the disk or page limit is full.
        """
        with self._writing:
            return self._write_batch(records, broker, now)

    def _write_batch(self, records: Iterable[MessageRecord], broker: str, now: float | None) -> WriteResult:
        conn = self._conn
        records = list(records)
        facts = self._topic_facts = self._topic_facts.at_level(self.region_level)
        limit = self.payload_limit
        paired: list[int] = []
        pairings: list[ReplyPairing] = []
        written: list[AuditRow] = []
        params: list[tuple] = []
        sightings: list[Sighting] = []
        digests: set[int] = set()
        duplicates = 0
        first_id = last_id = 0
        known = [facts.of(r.topic) for r in records]
        hashes = [hash_known(k[2], r.payload, r.properties.correlation_data) for r, k in zip(records, known)]
        try:
            conn.execute("BEGIN IMMEDIATE")
            # One writer holds the transaction, so new rows get the ids after the largest one, in order.
            base = conn.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0]
            if records:
                self._catch_up(base, min(r.received for r in records))
            copies = self._recent.lookup(hashes)
            several_sources = not broker and len({r.broker_id for r in records}) > 1
            committed_before = self._committed_before(records, hashes, broker, copies)
            for record, digest, (region, kind_by_topic, _) in zip(records, hashes, known):
                props = record.properties
                correlation = props.correlation_data
                source = broker or record.broker_id
                found = copies.get(digest)  # most messages have no copy in the mesh window: no search
                first_seen = first_copy_elsewhere(found, source, record.received) if found else None
                if first_seen is not None:  # the same message, arriving over the mesh on one more broker
                    sightings.append(Sighting(first_seen, source, record.received))
                    continue
                duplicate = record.dup and (digest in digests or digest in committed_before)
                digests.add(digest)
                duplicates += duplicate
                kind = classify_known(props, kind_by_topic)
                payload = record.payload
                stored = payload[:limit]  # within the limit, the payload object itself: a 16 MiB one is not copied
                properties = props.as_dict() if props is not NO_PROPERTIES else {}
                row_id = base + 1 + len(params)
                params.append((record.received, source, record.topic, region, kind, record.qos, int(record.retain),
                               correlation, props.response_topic, stored, int(len(payload) > limit), len(payload),
                               int(duplicate), json.dumps(properties) if properties else "{}", digest))
                written.append(build_audit_row(row_id, record.received, source, record.topic, region, kind,
                                               record.qos, record.retain, correlation, props.response_topic,
                                               bytes(stored), len(payload) > limit, len(payload), bool(duplicate),
                                               properties, None, None, (), False))
                if several_sources:  # a later record of this batch from another broker may be this one's copy
                    copies.setdefault(digest, {}).setdefault(source, []).append((row_id, record.received))
            # One call for the batch: the lock is released once, not once per row.
            conn.executemany(
                "INSERT INTO messages (received, broker, topic, region, kind, qos, retain, correlation, "
                "response_topic, payload, truncated, size, duplicate, properties, content_hash) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", params)
            if params:
                first_id, last_id = base + 1, base + len(params)
                self._recent.add([p[14] for p in params], range(first_id, last_id + 1), [p[0] for p in params],
                                 [p[1] for p in params])
                if conn.execute("SELECT MAX(id) FROM messages").fetchone()[0] != last_id:
                    raise sqlite3.DatabaseError("row ids were not assigned in order")
            if sightings:
                conn.executemany("INSERT INTO sightings (message_id, broker, received) VALUES (?,?,?)",
                                 [(s.message_id, s.broker, s.received) for s in sightings])
            for row in written:
                if row.kind == "reply" and row.correlation is not None and not row.duplicate:
                    request = conn.execute(
                        "SELECT id, received FROM messages WHERE correlation=? AND kind='request' AND reply_id IS NULL "
                        "AND id < ? ORDER BY id DESC LIMIT 1", (row.correlation, row.id)).fetchone()
                    if request is not None:
                        rtt = max(0.0, (row.received - request[1]) * 1000.0)
                        conn.execute("UPDATE messages SET reply_id=?, rtt_ms=? WHERE id=?", (row.id, rtt, request[0]))
                        paired.append(request[0])
                        pairings.append(ReplyPairing(request[0], row.id, rtt))
            pruned = self._prune_chunk(now, len(params))
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._recent.clear()  # it holds this batch's rows, which are not stored
            self._rollback()
            if "full" in str(exc).lower():
                raise AuditStoreFull(f"The audit database {self.path} is full ({exc}); new messages are kept in "
                                     "memory and not acknowledged until there is space") from exc
            raise AuditStoreError(f"Cannot write the audit database {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            self._recent.clear()
            self._rollback()
            raise AuditStoreError(f"Cannot write the audit database {self.path}: {exc}") from exc
        self._row_count += len(params) - pruned
        return WriteResult(first_id, last_id, len(params), duplicates, tuple(paired), pruned,
                           tuple(written), tuple(pairings), tuple(sightings))

    def _catch_up(self, newest_id: int, earliest: float) -> None:
        """Hold every stored row received since ``earliest`` less the mesh window (in the caller's
        transaction, so no other writer adds rows meanwhile)."""
        recent, conn = self._recent, self._conn
        since = earliest - MESH_WINDOW_SECONDS
        if since < recent.covered_since:  # the first batch, or one reaching further back than held
            recent.reset(since, newest_id)
            recent.add_rows(conn.execute("SELECT content_hash, id, broker, received FROM messages "
                                         "WHERE received >= ? ORDER BY id", (since,)))
        elif newest_id > recent.known_id:  # another connection wrote since this one's last batch
            recent.add_rows(conn.execute("SELECT content_hash, id, broker, received FROM messages "
                                         "WHERE id > ? ORDER BY id", (recent.known_id,)))
        recent.known_id = newest_id
        recent.forget_before(since - MESH_WINDOW_MARGIN)

    def _committed_before(self, records: list[MessageRecord], hashes: list[int], broker: str,
                          copies: dict[int, CopiesByBroker]) -> set[int]:
        """Of the redelivered (DUP) records' hashes, those already stored: in the mesh window, or among
        their broker's newest rows (one search per broker for the whole batch)."""
        found: set[int] = set()
        wanted: dict[str, set[int]] = {}
        for record, digest in zip(records, hashes):
            if not record.dup:
                continue
            if digest in copies:
                found.add(digest)
            else:
                wanted.setdefault(broker or record.broker_id, set()).add(digest)
        for source, digests in wanted.items():
            for lookback in DUPLICATE_LOOKBACK_STEPS:  # most are among the last few: 2 ms, where 100,000 take 180
                marks = ",".join("?" * len(digests))
                stored = {row[0] for row in self._conn.execute(
                    f"SELECT content_hash FROM (SELECT content_hash FROM messages WHERE broker=? ORDER BY id DESC "
                    f"LIMIT ?) WHERE content_hash IN ({marks})", (source, lookback, *digests))}
                found |= stored
                digests = digests - stored
                if not digests:
                    break
        return found

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _prune_chunk(self, now: float | None, adding: int = 0) -> int:
        """Delete at most one chunk of rows beyond the retention limits (inside the caller's transaction)."""
        conn = self._conn
        pruned = 0
        excess = self._row_count + adding - self.max_rows
        if excess > 0:
            pruned += conn.execute("DELETE FROM messages WHERE id IN (SELECT id FROM messages ORDER BY id LIMIT ?)",
                                   (min(excess, PRUNE_CHUNK),)).rowcount
        if self.max_age_seconds:
            cutoff = (time.time() if now is None else now) - self.max_age_seconds
            pruned += conn.execute(
                "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE received < ? ORDER BY received LIMIT ?)",
                (cutoff, PRUNE_CHUNK)).rowcount
        if pruned:  # rows go oldest first, so their sightings are the ones below the oldest row left
            first_kept = conn.execute("SELECT MIN(id) FROM messages").fetchone()[0]
            conn.execute("DELETE FROM sightings WHERE message_id < ?", (first_kept or 0,))
            self._recent.forget_ids_below(self._recent.known_id + 1 if first_kept is None else first_kept)
        return pruned

    def prune(self, now: float | None = None) -> int:
        """Prune until within limits, chunk by chunk (each its own short transaction)."""
        with self._writing:
            return self._prune_all(now)

    def _prune_all(self, now: float | None) -> int:
        total = 0
        while True:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                n = self._prune_chunk(now)
                self._conn.execute("COMMIT")
            except sqlite3.Error:
                self._rollback()
                raise
            self._row_count -= n
            total += n
            if n == 0:
                return total

    # ----- reading -----
    def newest_id(self) -> int:
        row = self._conn.execute("SELECT MAX(id) FROM messages").fetchone()
        return row[0] or 0

    def page_before(self, query: AuditQuery, before_id: int | None, limit: int,
                    preview: int | None = None) -> list[AuditRow]:
        """Newest-first page of rows with id < before_id (all rows if None); with ``preview``, each row holds
        at most that many bytes of its payload."""
        where, params = query.where()
        clauses = [where] if where else []
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        sql = f"SELECT {_columns(preview)} FROM messages" + (" WHERE " + " AND ".join(clauses) if clauses else "")
        sql += " ORDER BY id DESC LIMIT ?"
        return self._with_sightings([AuditRow.from_sql(r) for r in self._conn.execute(sql, (*params, limit))])

    def rows_after(self, query: AuditQuery, after_id: int, limit: int = 100_000,
                   preview: int | None = None) -> list[AuditRow]:
        """Rows with id > after_id that match, oldest first (``preview`` as for ``page_before``)."""
        return self._rows_after(query, after_id, limit, preview)

    def _rows_after(self, query: AuditQuery, after_id: int, limit: int, preview: int | None = None,
                    max_bytes: int | None = None) -> list[AuditRow]:
        """``rows_after``, stopping early once the rows hold ``max_bytes`` of payload (at least one row)."""
        where, params = query.where()
        sql = f"SELECT {_columns(preview)} FROM messages WHERE id > ?" + (f" AND {where}" if where else "")
        sql += " ORDER BY id LIMIT ?"
        rows: list[AuditRow] = []
        held = 0
        for found in self._conn.execute(sql, (after_id, *params, limit)):  # a row at a time, not fetchall
            rows.append(AuditRow.from_sql(found))
            held += len(rows[-1].payload)
            if max_bytes is not None and held >= max_bytes:
                break
        return self._with_sightings(rows)

    def rows_by_id(self, ids: Iterable[int], preview: int | None = None,
                   query: AuditQuery | None = None) -> dict[int, AuditRow]:
        """The rows with these ids (those that match ``query``), whole (``preview`` as for ``page_before``)."""
        ids = list(ids)
        where, params = query.where() if query is not None else ("", [])
        out: dict[int, AuditRow] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT {_columns(preview)} FROM messages WHERE id IN ({marks})" + (f" AND {where}" if where else "")
            for r in self._conn.execute(sql, (*chunk, *params)):
                row = AuditRow.from_sql(r)
                out[row.id] = row
        return {row.id: row for row in self._with_sightings(list(out.values()))}

    def _with_sightings(self, rows: list[AuditRow]) -> list[AuditRow]:
        """The rows with their later arrivals on other brokers (one query per 500 rows)."""
        if not rows:
            return rows
        seen: dict[int, list[tuple[str, float]]] = {}
        ids = [row.id for row in rows]
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for message_id, broker, received in self._conn.execute(
                    f"SELECT message_id, broker, received FROM sightings WHERE message_id IN ({marks}) "
                    "ORDER BY received", chunk):
                seen.setdefault(message_id, []).append((broker, received))
        if not seen:
            return rows
        return [replace(row, sightings=tuple(seen[row.id])) if row.id in seen else row for row in rows]

    def iter_rows(self, query: AuditQuery = AuditQuery(), chunk: int = 2_000) -> Iterator[list[AuditRow]]:
        """Every matching row, oldest first, in chunks of at most ``chunk`` rows and about
        ``READ_CHUNK_BYTES`` of payload (for export and replay)."""
        after = 0
        while True:
            rows = self._rows_after(query, after, chunk, max_bytes=READ_CHUNK_BYTES)
            if not rows:
                return
            yield rows
            after = rows[-1].id

    def readable_rows(self, query: AuditQuery = AuditQuery(), chunk: int = 2_000,
                      skipped: list[int] | None = None) -> Iterator[list[AuditRow]]:
        """``iter_rows`` for a damaged file: a chunk that cannot be read is retried row by row, and
        the ids that still fail are appended to ``skipped``."""
        try:
            last_id = self._conn.execute("SELECT MAX(id) FROM messages").fetchone()[0] or 0
        except sqlite3.DatabaseError:
            last_id = None
        after = 0
        while True:
            try:
                rows = self._rows_after(query, after, chunk, max_bytes=READ_CHUNK_BYTES)
            except sqlite3.DatabaseError:
                if last_id is None or after >= last_id:
                    return
                rows, after = self._rows_one_by_one(query, after, min(after + chunk, last_id), skipped)
                if rows:
                    yield rows
                continue
            if not rows:
                return
            yield rows
            after = rows[-1].id

    def _rows_one_by_one(self, query: AuditQuery, after: int, until: int,
                         skipped: list[int] | None) -> tuple[list[AuditRow], int]:
        """The readable rows after ``after`` up to ``until`` (or up to ``READ_CHUNK_BYTES`` of payload), and
        the last id tried."""
        where, params = query.where()
        sql = f"SELECT {_COLUMNS} FROM messages WHERE id = ?" + (f" AND {where}" if where else "")
        rows = []
        held = 0
        row_id = after
        while row_id < until and held < READ_CHUNK_BYTES:
            row_id += 1
            try:
                found = self._conn.execute(sql, (row_id, *params)).fetchone()
            except sqlite3.DatabaseError:
                if skipped is not None:
                    skipped.append(row_id)
                continue
            if found is not None:
                rows.append(AuditRow.from_sql(found))
                held += len(rows[-1].payload)
        try:
            return self._with_sightings(rows), row_id
        except sqlite3.DatabaseError:
            return rows, row_id

    def count(self, query: AuditQuery = AuditQuery()) -> int:
        where, params = query.where()
        if not where:
            return self._row_count
        return self._conn.execute(f"SELECT COUNT(*) FROM messages WHERE {where}", params).fetchone()[0]
