"""The team audit store: one PostgreSQL database that every regional recorder writes and every window reads.

Same calls and the same rows as the SQLite store (``core/audit/store.py``), so recorder, export and
feed do not care which one they have. What differs, and why:

- **Several recorders at once.** Each batch is one transaction that first takes a transaction-level
  advisory lock per content hash in it (sorted, so two recorders can never deadlock). A bridged
  message seen by the us-east and us-west recorders is then looked up and written by one of them
  at a time: the second finds the first's row and adds a sighting. 2,000 bridged messages recorded
  by three recorders are 2,000 entries with three sightings each.
- **Clock skew.** Each arrival is stamped by its own recorder's clock; copies match when their
  stamps are within ``MESH_WINDOW_SECONDS`` (10 s), which tolerates skew of the same size. The path
  shows each hop as measured by its recorder's clock, so skew shows there as it is (it can even
  make a hop negative; nothing is corrected silently).
- **COPY, ids ahead.** Rows go in with COPY; their ids are taken from the sequence first, so a batch
  knows its rows without reading them back. Ids grow across recorders but interleave, and feeds
  page by id.
- **Pairings are rows of their own**, so a recorder role needs INSERT and SELECT only, never UPDATE.
- **Retention by day partitions** (declarative, on the arrival time): ``prune`` drops whole days.
- **Live windows** hear every commit through ``NOTIFY eventscope_audit`` (its new id range, as JSON).
- **Schema versions.** ``init_schema`` creates or upgrades; a newer schema is refused, writing nothing.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from sys import intern
from typing import TYPE_CHECKING, Any, TypeGuard, cast
from urllib.parse import unquote

from eventscope.core.audit.store import (
    DEFAULT_MAX_AGE_SECONDS,
    DEFAULT_PAYLOAD_LIMIT,
    MESH_WINDOW_SECONDS,
    READ_CHUNK_BYTES,
    AuditQuery,
    AuditRow,
    AuditStoreError,
    ReplyPairing,
    Sighting,
    SqlDialect,
    WriteResult,
    content_hash,
    first_copy_elsewhere,
)
from eventscope.core.audit.topic_facts import TopicFacts, classify_known, hash_known
from eventscope.core.records import NO_PROPERTIES, MessageRecord

if TYPE_CHECKING:
    from typing import LiteralString

    from psycopg import Connection

SCHEMA_VERSION = 2  # 2: topic search through the topics table (1 had a trigram index on every row)
NOTIFY_CHANNEL = "eventscope_audit"
MAX_ANNOUNCED = 500  # older rows a NOTIFY names (a sighting, a pairing); more and listeners read afresh
DAY = 86_400.0
PRUNE_INTERVAL = 60.0  # seconds between retention checks while recording
RECORDER_ROLE = "eventscope_recorder"
VIEWER_ROLE = "eventscope_viewer"
# x'45564E54' ("EVNT") is the advisory lock key eventscope_day_partition takes: one creator at a time.
_SCHEMA_LOCK = 0x53434845  # advisory lock key for creating or upgrading the schema ("SCHE")
_RECORDER_LOCK_SPACE = 0x41554454  # first key of a recorder's lock on its broker ("AUDT")
MISSING_DRIVER = ("The team audit needs the PostgreSQL driver: pip install 'eventscope[postgres]' "
                  "(psycopg 3 with its binary package)")

_COLUMNS = ("m.id, m.received, m.broker, m.topic, m.region, m.kind, m.qos, m.retain, m.correlation, "
            "m.response_topic, m.payload, m.truncated, m.size, m.duplicate, m.properties, p.reply_id, p.rtt_ms")
_FROM = "messages m LEFT JOIN pairings p ON p.request_id = m.id"
_COPY_COLUMNS = ("id", "received", "broker", "topic", "region", "kind", "qos", "retain", "correlation",
                 "response_topic", "payload", "truncated", "size", "duplicate", "properties", "content_hash")
_COPY_TYPES = ("int8", "float8", "text", "text", "text", "text", "int2", "bool", "bytea", "text", "bytea", "bool",
               "int4", "bool", "bytea", "int8")  # properties: jsonb's binary form, see _jsonb_binary
# An export's cursor brings payloads up to this inline; longer ones are read by id, a byte-bounded group at a
# time, so a fetch of 2,000 rows never holds 2,000 large payloads.
INLINE_PAYLOAD_BYTES = 16 * 1024


def _columns(preview: int | None) -> str:
    """The row's columns, with only the payload's first ``preview`` bytes (and whether there is more): a
    TOASTed payload's slice is read without the rest."""
    if preview is None:
        return _COLUMNS
    head = int(preview)
    return (_COLUMNS.replace(" m.payload,", f" substring(m.payload from 1 for {head}),", 1)
            + f", octet_length(m.payload) > {head}")


_SCHEMA = f"""
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE IF NOT EXISTS eventscope_schema (version integer NOT NULL);
CREATE TABLE IF NOT EXISTS eventscope_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE SEQUENCE IF NOT EXISTS eventscope_message_ids;
CREATE TABLE IF NOT EXISTS messages (
    id bigint NOT NULL,
    received double precision NOT NULL,
    broker text NOT NULL,
    topic text NOT NULL,
    region text NOT NULL,
    kind text NOT NULL,
    qos smallint NOT NULL,
    retain boolean NOT NULL,
    correlation bytea,
    response_topic text,
    payload bytea NOT NULL,
    truncated boolean NOT NULL,
    size integer NOT NULL,
    duplicate boolean NOT NULL,
    properties jsonb NOT NULL,
    content_hash bigint NOT NULL,
    PRIMARY KEY (id, received)
) PARTITION BY RANGE (received);
CREATE INDEX IF NOT EXISTS messages_content ON messages (content_hash, received);
-- Pairing looks up the other half only: requests for a reply, replies for a request.
CREATE INDEX IF NOT EXISTS messages_request_correlation ON messages (correlation)
    WHERE kind = 'request' AND correlation IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_reply_correlation ON messages (correlation)
    WHERE kind = 'reply' AND correlation IS NOT NULL;
-- Topic search: a trigram index over the distinct topics (a trigram index on every row cost a third of
-- a batch's insert time), then a plain index from topic to rows.
CREATE INDEX IF NOT EXISTS messages_topic ON messages (topic);
CREATE TABLE IF NOT EXISTS topics (topic text PRIMARY KEY);
CREATE INDEX IF NOT EXISTS topics_trgm ON topics USING gin (topic gin_trgm_ops);
CREATE TABLE IF NOT EXISTS sightings (message_id bigint NOT NULL, broker text NOT NULL,
                                      received double precision NOT NULL);
CREATE INDEX IF NOT EXISTS sightings_message ON sightings (message_id);
CREATE TABLE IF NOT EXISTS pairings (request_id bigint PRIMARY KEY, reply_id bigint NOT NULL,
                                     rtt_ms double precision NOT NULL);
CREATE INDEX IF NOT EXISTS pairings_reply ON pairings (reply_id);
-- A day's partition, created with the owner's rights: a recorder role (INSERT and SELECT only) calls it.
CREATE OR REPLACE FUNCTION eventscope_day_partition(day_start double precision) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $fn$
DECLARE
    name text := 'messages_' || to_char(to_timestamp(day_start) AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
    PERFORM pg_advisory_xact_lock(x'45564E54'::int);
    IF to_regclass(name) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF messages FOR VALUES FROM (%s) TO (%s)',
                       name, day_start, day_start + 86400);
    END IF;
END $fn$;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM eventscope_schema) THEN
        INSERT INTO eventscope_schema VALUES ({SCHEMA_VERSION});
    END IF;
END $$;
"""
_TABLES = ("messages", "sightings", "pairings", "topics", "eventscope_meta", "eventscope_schema")
# From an older version to the next: run after _SCHEMA (which creates what is new) in the same transaction.
_UPGRADES = {
    1: """
DROP INDEX IF EXISTS messages_topic_trgm;
DROP INDEX IF EXISTS messages_id;
INSERT INTO topics SELECT DISTINCT topic FROM messages ON CONFLICT DO NOTHING;
""",
}
KNOWN_TOPICS_LIMIT = 100_000  # topics a store remembers as already in the topics table


def _q(text: str) -> LiteralString:
    """SQL put together here from this module's constants (column lists, day partition names, the
    schema): no user input ever reaches it (values always go as parameters)."""
    return cast("LiteralString", text)


def _one(conn: Connection, query: LiteralString, params: tuple = ()) -> Any:
    """The first column of the first row (queries that always return one)."""
    row = conn.execute(query, params).fetchone()
    return row[0] if row is not None else None


def is_postgres_url(location: object) -> TypeGuard[str]:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


_URL_PASSWORD = re.compile(r"^(postgres(?:ql)?://[^:/@?#]*):[^@/?#]*@")  # user:password@ (any host list)
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """The URL with its password replaced, for anything shown or logged: in the user part and in a
    ``password=`` parameter, whatever the host list looks like."""
    return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1:***@", url))


def split_password(url: str) -> tuple[str, str | None]:
    """The URL without any password in it (user part or ``password=``), and that password, decoded."""
    password = None
    found = _URL_PASSWORD.match(url)
    if found:  # scheme://user:password@hosts…
        password = unquote(url[found.end(1) + 1:found.end() - 1])
        url = found.group(1) + "@" + url[found.end():]
    base, question, query = url.partition("?")
    kept = []
    for param in query.split("&") if question else ():
        if param.lower().startswith("password="):
            password = unquote(param.split("=", 1)[1])
        elif param:
            kept.append(param)
    return base + ("?" + "&".join(kept) if kept else ""), password


def _driver():
    try:
        import psycopg
    except ImportError as exc:
        raise AuditStoreError(MISSING_DRIVER) from exc
    return psycopg


def connect(url: str, password: str | None = None, autocommit: bool = False) -> Connection:
    """A connection, or an ``AuditStoreError`` that says what failed and never shows the password."""
    psycopg = _driver()
    # A dead link is noticed in seconds (keepalives, TCP user timeout), and no statement waits forever:
    # a recorder then keeps its messages unacknowledged and reconnects, instead of hanging.
    conninfo: dict[str, Any] = dict(connect_timeout=5, application_name="eventscope", keepalives=1,
                                    keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
                                    tcp_user_timeout=20_000, options="-c statement_timeout=60000")
    if password:
        conninfo["password"] = password
    try:
        return psycopg.connect(url, autocommit=autocommit, **conninfo)
    except psycopg.Error as exc:
        raise AuditStoreError(f"Cannot open the team audit database {mask_url(url)}: {_reason(exc, url)}") from None


def _reason(exc: Exception, url: str = "") -> str:
    text = " ".join(str(exc).split())
    secret = split_password(url)[1] if url else None
    if secret:
        text = text.replace(secret, "***")
    if "password authentication failed" in text:
        return "the user name or password was refused"
    if "Connection refused" in text or "could not receive data" in text or "server closed the connection" in text:
        return f"the server is not reachable ({text})"
    if "server does not support SSL" in text:
        return "the connection asks for TLS (sslmode), but the server does not offer it"
    return text


def _jsonb_safe(value: Any) -> Any:
    """jsonb refuses the NUL character that MQTT allows in a user property: shown as U+FFFD instead, so
    one such message cannot make its whole batch fail again and again."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {k: _jsonb_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonb_safe(v) for v in value]
    return value


_NO_JSONB = b"\x01{}"


def _jsonb_binary(properties: dict) -> bytes:
    """jsonb's binary COPY form (a version byte, then the text), dumped once here. json.dumps writes NUL
    as an escape, so only a dump that holds one takes the slower, exact walk."""
    text = json.dumps(properties)
    if "\\u0000" in text:
        text = json.dumps(_jsonb_safe(properties))
    return b"\x01" + text.encode()


def _correlation_key(correlation: bytes) -> int:
    """The advisory lock key of a correlation: a request and its reply, on any recorder, take the same."""
    return int.from_bytes(hashlib.blake2b(b"\x00correlation\x00" + correlation + b"\x00", digest_size=8).digest(),
                          "big", signed=True)


# Arrays go to the server as one text literal each, joined in C: psycopg's list dumper works element by
# element in Python, a fifth of a batch's client time at 1,000 rows.
def _int_array(values: Iterable[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def _float_array(values: Iterable[float]) -> str:
    return "{" + ",".join(map(repr, values)) + "}"


def _hex_array(values: Iterable[bytes]) -> str:
    """bytea values as hex text; the SQL decodes them (``decode(h, 'hex')``)."""
    return "{" + ",".join(f'"{v.hex()}"' for v in values) + "}"


def _day_start(received: float) -> float:
    return (received // DAY) * DAY


POSTGRES = SqlDialect("%s", "m.", "m.topic IN (SELECT t.topic FROM topics t WHERE t.topic LIKE %s)",
                      "position(%s IN m.payload) > 0", like=True)


MAX_LISTED_TOPICS = 10_000  # a topic search names up to this many matching topics; past it, a subquery


def _row(values: tuple) -> AuditRow:
    """A row of ``_columns(preview)``: with a preview, one more column says whether the payload goes on."""
    (id_, received, broker, topic, region, kind, qos, retain, correlation, response_topic, payload,
     truncated, size, duplicate, properties, reply_id, rtt_ms, *more) = values
    return AuditRow(id_, received, intern(broker), topic, intern(region), intern(kind), qos, bool(retain),
                    bytes(correlation) if correlation is not None else None,
                    response_topic if response_topic is None else intern(response_topic),
                    bytes(payload), bool(truncated), size, bool(duplicate),
                    properties if isinstance(properties, dict) else {}, reply_id, rtt_ms, (), bool(more and more[0]))


def _byte_bounded(batch: list[tuple]) -> Iterator[list[tuple]]:
    """An export cursor's rows (their payload's length last) in groups of about ``READ_CHUNK_BYTES``."""
    group: list[tuple] = []
    held = 0
    for values in batch:
        if group and held + values[-1] > READ_CHUNK_BYTES:
            yield group
            group, held = [], 0
        group.append(values)
        held += values[-1]
    if group:
        yield group


def _with_payloads(conn: Connection, group: list[tuple]) -> list[AuditRow]:
    """The rows of an export cursor's group, with the payloads it left out read by id."""
    missing = [(values[0], values[1]) for values in group if values[10] is None]
    payloads: dict[int, bytes] = {}
    if missing:  # ids and arrivals: each partition is searched by its primary key
        payloads = {row_id: bytes(payload) for row_id, payload in conn.execute(
            "SELECT id, payload FROM messages WHERE id = ANY(%s::bigint[]) AND received = ANY(%s::float8[])",
            (_int_array(i for i, _ in missing), _float_array(r for _, r in missing)))}
    rows = []
    for values in group:
        payload = values[10] if values[10] is not None else payloads.get(values[0])
        if payload is None:
            continue  # gone meanwhile (a day dropped by retention)
        rows.append(_row((*values[:10], payload, *values[11:-1])))
    return rows


def _announcement(result: WriteResult) -> str:
    """The NOTIFY payload for a committed batch (under PostgreSQL's 8,000-byte limit): the range of its new
    ids (ids interleave across recorders, so a range, not a list), and the older rows it changed."""
    ids = [row.id for row in result.rows]
    touched = sorted({s.message_id for s in result.sightings} | {p.request_id for p in result.pairings})
    announcement: dict = {"first": min(ids, default=0), "last": max(ids, default=0)}
    if len(touched) <= MAX_ANNOUNCED:
        announcement["touched"] = touched
    else:
        announcement["resync"] = True  # too many older rows to name: listeners read the newest page again
    return json.dumps(announcement, separators=(",", ":"))


def init_schema(url: str, password: str | None = None) -> str:
    """Create the schema, or upgrade an older one; idempotent. Returns what it did, as a sentence.
    Refuses a database with a newer schema (nothing is changed)."""
    conn = connect(url, password, autocommit=True)
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))  # recorders starting together
            found = _schema_version(conn)
            if found is not None and found > SCHEMA_VERSION:
                raise AuditStoreError(_newer_schema(url, found))
            conn.execute(_q(_SCHEMA))
            if found is not None and found < SCHEMA_VERSION:
                for version in range(found, SCHEMA_VERSION):
                    conn.execute(_q(_UPGRADES[version]))
                conn.execute("UPDATE eventscope_schema SET version = %s", (SCHEMA_VERSION,))
        return (f"schema version {SCHEMA_VERSION} created" if found is None else
                f"schema version {SCHEMA_VERSION} already in place" if found == SCHEMA_VERSION else
                f"schema upgraded from version {found} to {SCHEMA_VERSION}")
    except _driver().Error as exc:
        raise AuditStoreError(f"Cannot set up {mask_url(url)}: {_reason(exc, url)}") from None
    finally:
        conn.close()


def role_grants() -> list[str]:
    """The SQL that gives the two team roles their rights: recorders insert (and read what they match
    against), viewers only read. Run by ``audit init-db --roles`` or printed for a DBA."""
    tables = ", ".join(_TABLES)
    return [
        f"DO $$ BEGIN CREATE ROLE {RECORDER_ROLE} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        f"DO $$ BEGIN CREATE ROLE {VIEWER_ROLE} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        f"GRANT SELECT, INSERT ON {tables} TO {RECORDER_ROLE}",
        f"GRANT USAGE ON SEQUENCE eventscope_message_ids TO {RECORDER_ROLE}",
        f"GRANT EXECUTE ON FUNCTION eventscope_day_partition(double precision) TO {RECORDER_ROLE}",
        f"GRANT SELECT ON {tables} TO {VIEWER_ROLE}",
        f"ALTER DEFAULT PRIVILEGES GRANT SELECT, INSERT ON TABLES TO {RECORDER_ROLE}",
        f"ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO {VIEWER_ROLE}",
    ]


def create_roles(url: str, password: str | None = None) -> None:
    conn = connect(url, password, autocommit=True)
    try:
        for statement in role_grants():
            conn.execute(_q(statement))
    except _driver().Error as exc:
        raise AuditStoreError(f"Cannot create the roles in {mask_url(url)}: {_reason(exc, url)}") from None
    finally:
        conn.close()


def _schema_version(conn) -> int | None:
    exists = conn.execute("SELECT to_regclass('eventscope_schema') IS NOT NULL").fetchone()[0]
    if not exists:
        return None
    row = conn.execute("SELECT max(version) FROM eventscope_schema").fetchone()
    return row[0] if row and row[0] is not None else None


def _newer_schema(url: str, found: int) -> str:
    return (f"The team audit database {mask_url(url)} has schema version {found}, newer than this Eventscope "
            f"understands ({SCHEMA_VERSION}); upgrade Eventscope. Nothing was written to it.")


class PostgresRecorderLock:
    """One recorder per broker per database: a session advisory lock, released with its connection
    (also when the recorder is killed: the server sees the connection drop)."""

    def __init__(self, url: str, password: str | None, broker: str) -> None:
        self.url, self.password, self.broker = url, password, broker
        self._conn = None

    def acquire(self) -> None:
        from eventscope.core.audit.lock import RecorderBusyError

        conn = connect(self.url, self.password, autocommit=True)
        key = content_hash(self.broker, b"", None) & 0x7FFFFFFF
        if not _one(conn, "SELECT pg_try_advisory_lock(%s, %s)", (_RECORDER_LOCK_SPACE, key)):
            conn.close()
            raise RecorderBusyError(f"Another Eventscope recorder is already recording {self.broker} into "
                                    f"{mask_url(self.url)}; one recorder per broker and database",
                                    recording=f"{self.broker} into {mask_url(self.url)}")
        self._conn = conn

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class PostgresAuditStore:
    """The audit in PostgreSQL. One connection, used by one thread at a time (the recorder's writer or
    a feed's reader); recorders on other machines write the same database at the same time."""

    def __init__(self, url: str, password: str | None = None, payload_limit: int = DEFAULT_PAYLOAD_LIMIT,
                 max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS, region_level: int = 0,
                 read_only: bool = False) -> None:
        self.url = url
        self.path = mask_url(url)  # what the window and logs show: never the password
        self.password = password
        self.payload_limit = payload_limit
        self.max_age_seconds = max_age_seconds
        self.region_level = region_level
        self.read_only = read_only
        self.notice = ""
        self.damage = ""
        self._partitions: set[float] = set()
        self._known_topics: set[str] = set()
        self._topic_facts = TopicFacts(region_level)
        self._may_drop: bool | None = None  # may this login drop old days (the owner)? asked once
        self._next_prune = 0.0
        self._lock = threading.Lock()
        self._conn = None
        self._open()

    @classmethod
    def open_reader(cls, url: str, region_level: int = 0, password: str | None = None) -> PostgresAuditStore:
        return cls(url, password, region_level=region_level, read_only=True)

    # ----- the connection -----------------------------------------------------------------
    def _open(self) -> None:
        conn = connect(self.url, self.password, autocommit=True)
        try:
            found = _schema_version(conn)
            if found is not None and found > SCHEMA_VERSION:
                raise AuditStoreError(_newer_schema(self.url, found))
            if found is None and self.read_only:
                raise AuditStoreError(f"{mask_url(self.url)} holds no Eventscope audit yet "
                                      "(a recorder or `eventscope audit init-db` creates it)")
            if found is not None and found < SCHEMA_VERSION and self.read_only:
                raise AuditStoreError(f"{mask_url(self.url)} has the older schema version {found}: its owner upgrades "
                                      f"it with `eventscope audit init-db` (to version {SCHEMA_VERSION})")
            if found is None or found < SCHEMA_VERSION:  # create, or upgrade before the first write needs it
                conn.close()
                try:
                    init_schema(self.url, self.password)
                except AuditStoreError as exc:
                    raise AuditStoreError(f"{exc} (an older schema is upgraded by its owner: "
                                          "`eventscope audit init-db`)") from None
                conn = connect(self.url, self.password, autocommit=True)
            if not self.read_only:
                allowed = _one(conn, "SELECT has_table_privilege('messages', 'INSERT')")
                if not allowed:
                    user = _one(conn, "SELECT current_user")
                    raise AuditStoreError(f"The database role {user} may not record into {mask_url(self.url)} "
                                          f"(it needs INSERT: grant it {RECORDER_ROLE})")
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _connection(self) -> Connection:
        """The live connection, opened again after the server went away."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = None
            self._open()
        assert self._conn is not None  # _open set it or raised
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 (closing a dead connection)
                pass
            self._conn = None

    def _failed(self, exc: Exception, doing: str) -> AuditStoreError:
        psycopg = _driver()
        if isinstance(exc, psycopg.OperationalError):
            self.close()  # opened again on the next call
        return AuditStoreError(f"Cannot {doing} the team audit database {self.path}: {_reason(exc, self.url)}")

    # ----- metadata -----------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self._connection().execute("SELECT value FROM eventscope_meta WHERE key = %s", (key,)).fetchone()
        return row[0] if row else None

    @property
    def client_id(self) -> str:
        """The audit subscription's client id, stable for this database so a broker session resumes."""
        import secrets

        value = self.meta("client_id")
        if value is None:
            self._connection().execute("INSERT INTO eventscope_meta VALUES ('client_id', %s) ON CONFLICT DO NOTHING",
                                       (f"eventscope-audit-{secrets.token_hex(6)}",))
            value = self.meta("client_id")
        return value or ""

    def recorder_lock(self, broker: str) -> PostgresRecorderLock:
        return PostgresRecorderLock(self.url, self.password, broker)

    # ----- writing ------------------------------------------------------------------------
    def write_batch(self, records: Iterable[MessageRecord], broker: str = "", now: float | None = None) -> WriteResult:
        """Store a batch in one transaction; the same result as the SQLite store's. Raises ``AuditStoreError``
        (nothing of the batch written) when the database cannot be written."""
        records = list(records)
        if not records:
            return WriteResult(0, 0, 0, 0, (), 0)
        psycopg = _driver()
        with self._lock:
            try:
                conn = self._connection()
                self._ensure_partitions(conn, {_day_start(r.received) for r in records})
                self._ensure_topics(conn, {r.topic for r in records})
                with conn.transaction():
                    result = self._write(conn, records, broker)
                    if result.inserted or result.sightings:
                        conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, _announcement(result)))
            except psycopg.Error as exc:
                self._partitions.clear()  # another recorder's retention may have dropped a day: ask again
                raise self._failed(exc, "write") from None
            clock = time.time() if now is None else now
            if clock >= self._next_prune and self.max_age_seconds:
                self._next_prune = clock + PRUNE_INTERVAL
                try:
                    pruned = self._drop_old_partitions(conn, clock)
                except psycopg.Error:  # a recorder role may not drop: the owner's `audit prune` does it
                    pruned = 0
                result = replace(result, pruned=pruned)
        return result

    def _write(self, conn, records: list[MessageRecord], broker: str) -> WriteResult:
        facts = self._topic_facts = self._topic_facts.at_level(self.region_level)
        known = [facts.of(r.topic) for r in records]
        hashes = [hash_known(k[2], r.payload, r.properties.correlation_data) for r, k in zip(records, known)]
        # Recorders of other brokers may hold the same messages (the mesh), or a request's reply: one of
        # them at a time per correlation data (it covers every copy of a message that carries it, and its
        # other half), else per content. Sorted, so two recorders never deadlock.
        keys = {_correlation_key(r.properties.correlation_data) if r.properties.correlation_data is not None
                else digest for r, digest in zip(records, hashes)}
        conn.execute("SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT unnest(%s::bigint[]) AS h) s ORDER BY h",
                     (_int_array(sorted(keys)),))
        earliest = min(r.received for r in records) - MESH_WINDOW_SECONDS
        copies: dict[int, dict[str, list[tuple[int, float]]]] = {}
        for digest, row_id, source, received in conn.execute(
                "SELECT content_hash, id, broker, received FROM messages WHERE content_hash = ANY(%s::bigint[]) "
                "AND received >= %s ORDER BY id", (_int_array(set(hashes)), earliest)):
            copies.setdefault(digest, {}).setdefault(source, []).append((row_id, received))
        dup_hashes = [h for r, h in zip(records, hashes) if r.dup]
        stored_before: set[int] = set()
        if dup_hashes:  # a redelivery (DUP) is a duplicate when its content is stored already
            stored_before = {h for (h,) in conn.execute(
                "SELECT DISTINCT content_hash FROM messages WHERE content_hash = ANY(%s::bigint[])",
                (_int_array(dup_hashes),))}
        limit = self.payload_limit
        rows: list[AuditRow] = []
        copy_rows: list[tuple] = []
        sightings: list[Sighting] = []
        seen_now: set[int] = set()
        duplicates = 0
        ids = _one(conn, "SELECT string_agg(nextval('eventscope_message_ids')::text, ',') FROM generate_series(1, %s)",
                   (len(records),))  # one row, not one per id
        next_id = map(int, ids.split(","))
        for record, digest, (region, kind_by_topic, _) in zip(records, hashes, known):
            source = broker or record.broker_id
            stored_copies = copies.get(digest)
            first_seen = first_copy_elsewhere(stored_copies, source, record.received) if stored_copies else None
            if first_seen is not None:  # the same message, arriving over the mesh on one more broker
                sightings.append(Sighting(first_seen, source, record.received))
                continue
            duplicate = record.dup and (digest in seen_now or digest in stored_before)
            seen_now.add(digest)
            duplicates += duplicate
            props = record.properties
            properties = props.as_dict() if props is not NO_PROPERTIES else {}
            row_id = next(next_id)
            stored = bytes(record.payload[:limit])  # within the limit, the payload object itself: not copied
            row = AuditRow(row_id, record.received, source, record.topic, region, classify_known(props, kind_by_topic),
                           record.qos, record.retain, props.correlation_data, props.response_topic, stored,
                           len(record.payload) > limit, len(record.payload), bool(duplicate), properties, None, None)
            rows.append(row)
            copy_rows.append((row.id, row.received, row.broker, row.topic, row.region, row.kind, row.qos, row.retain,
                              row.correlation, row.response_topic, stored, row.truncated, row.size, row.duplicate,
                              _jsonb_binary(properties) if properties else _NO_JSONB, digest))
            copies.setdefault(digest, {}).setdefault(source, []).append((row_id, record.received))
        if copy_rows:
            # Binary COPY: the server parses no text (measured: a third faster than text COPY here).
            with conn.cursor().copy(f"COPY messages ({', '.join(_COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(_COPY_TYPES)
                for values in copy_rows:
                    copy.write_row(values)
        if sightings:
            with conn.cursor().copy("COPY sightings (message_id, broker, received) FROM STDIN") as copy:
                for s in sightings:
                    copy.write_row((s.message_id, s.broker, s.received))
        pairings = self._pair(conn, rows)
        first_id = rows[0].id if rows else 0
        last_id = rows[-1].id if rows else max((s.message_id for s in sightings), default=0)
        return WriteResult(first_id, last_id, len(rows), duplicates, tuple(p.request_id for p in pairings), 0,
                           tuple(rows), tuple(pairings), tuple(sightings))

    @staticmethod
    def _pair(conn, rows: list[AuditRow]) -> list[ReplyPairing]:
        """Requests and replies of this batch with their other half, whichever recorder stored it and in
        whichever order they came: a reply takes the newest unanswered request before it, a request the
        first unclaimed reply after it. The batch holds each correlation's lock, so a half committed by
        another recorder at the same moment is seen by whichever of the two commits second."""
        with_correlation = [r for r in rows if r.correlation is not None and not r.duplicate]
        replies = [r for r in with_correlation if r.kind == "reply"]
        requests = [r for r in with_correlation if r.kind == "request"]
        found: list[tuple[int, int, float, float]] = []  # request id, reply id, request time, reply time
        if replies:
            found += [(q_id, r_id, q_at, r_at) for r_id, r_at, q_id, q_at in conn.execute(
                "SELECT r.id, r.at, q.id, q.received FROM unnest(%s::bigint[], %s::text[], %s::float8[]) "
                "AS r(id, corr, at) CROSS JOIN LATERAL (SELECT m.id, m.received FROM messages m "
                "WHERE m.correlation = decode(r.corr, 'hex') AND m.kind = 'request' AND m.received <= r.at AND m.id <> r.id "
                "AND NOT EXISTS (SELECT 1 FROM pairings p WHERE p.request_id = m.id) "
                "ORDER BY m.received DESC, m.id DESC LIMIT 1) q",
                (_int_array(r.id for r in replies), _hex_array(r.correlation or b"" for r in replies),
                 _float_array(r.received for r in replies)))]
        if requests:  # replies stored before their request (another recorder was ahead): one set lookup
            stored: dict[bytes, list[tuple[float, int]]] = {}
            for reply_id, correlation, answered in conn.execute(
                    "SELECT m.id, m.correlation, m.received FROM messages m "
                    "WHERE m.correlation = ANY(ARRAY(SELECT decode(h, 'hex') FROM unnest(%s::text[]) h)) "
                    "AND m.kind = 'reply' AND NOT EXISTS (SELECT 1 FROM pairings p WHERE p.reply_id = m.id)",
                    (_hex_array({r.correlation or b"" for r in requests}),)):
                stored.setdefault(bytes(correlation), []).append((answered, reply_id))
            for request in requests:
                later = sorted(hit for hit in stored.get(request.correlation or b"", ()) if hit[0] >= request.received)
                if later:
                    found.append((request.id, later[0][1], request.received, later[0][0]))
        pairings: list[ReplyPairing] = []
        taken_requests: set[int] = set()
        taken_replies: set[int] = set()
        for request_id, reply_id, asked, answered in found:  # each half pairs once, even within one batch
            if request_id in taken_requests or reply_id in taken_replies:
                continue
            taken_requests.add(request_id)
            taken_replies.add(reply_id)
            pairings.append(ReplyPairing(request_id, reply_id, max(0.0, (answered - asked) * 1000.0)))
        if pairings:
            inserted = conn.execute(
                "INSERT INTO pairings (request_id, reply_id, rtt_ms) SELECT * FROM unnest(%s::bigint[], %s::bigint[], "
                "%s::double precision[]) ON CONFLICT DO NOTHING RETURNING request_id",
                (_int_array(p.request_id for p in pairings), _int_array(p.reply_id for p in pairings),
                 _float_array(p.rtt_ms for p in pairings))).fetchall()
            kept = {request_id for (request_id,) in inserted}
            pairings = [p for p in pairings if p.request_id in kept]
        return pairings

    def _ensure_partitions(self, conn, days: set[float]) -> None:
        """Each day's partition, through the owner's function (a recorder role may not create tables). Its
        own short transaction, before the batch's: a day is remembered only once it surely exists."""
        for start in sorted(days - self._partitions):
            with conn.transaction():
                conn.execute("SELECT eventscope_day_partition(%s)", (start,))
            self._partitions.add(start)

    def _ensure_topics(self, conn, topics: set[str]) -> None:
        """New topics into the searchable list, in a short transaction of their own (like a day's partition):
        a topic listed without rows yet costs nothing, and no batch holds a topic's row while it waits."""
        new = topics - self._known_topics
        if not new:
            return
        with conn.transaction():
            conn.execute("INSERT INTO topics SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING", (sorted(new),))
        if len(self._known_topics) + len(new) > KNOWN_TOPICS_LIMIT:
            self._known_topics.clear()  # bounded: forgetting costs one ON CONFLICT per topic seen again
        self._known_topics |= new

    def _drop_old_partitions(self, conn, now: float) -> int:
        """Drop the days wholly older than ``max_age_seconds``; returns the rows dropped."""
        if self._may_drop is None:  # only the owner may: a recorder role leaves retention to the owner's prune
            self._may_drop = bool(_one(conn, "SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class "
                                             "WHERE relname = 'messages'"))
        if not self._may_drop:
            return 0
        cutoff = now - self.max_age_seconds
        dropped = 0
        for (name,) in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'messages'").fetchall():
            match = re.fullmatch(r"messages_(\d{8})", name)
            if not match:
                continue
            start = float(calendar.timegm(time.strptime(match.group(1), "%Y%m%d")))
            if start + DAY > cutoff:
                continue
            with conn.transaction():
                conn.execute("SET LOCAL lock_timeout = '2s'")  # never queue every recorder behind a long reader
                dropped += _one(conn, _q(f"SELECT count(*) FROM {name}"))
                conn.execute(_q(f"DROP TABLE {name}"))
            self._partitions.discard(_day_start(start))
        if dropped:
            with conn.transaction():
                oldest = conn.execute("SELECT coalesce(min(id), 0) FROM messages").fetchone()[0]
                conn.execute("DELETE FROM sightings WHERE message_id < %s", (oldest,))
                conn.execute("DELETE FROM pairings WHERE request_id < %s", (oldest,))
        return dropped

    def prune(self, now: float | None = None) -> int:
        """Apply retention now (whole days)."""
        psycopg = _driver()
        try:
            dropped = self._drop_old_partitions(self._connection(), time.time() if now is None else now)
        except psycopg.Error as exc:
            raise self._failed(exc, "prune") from None
        if self._may_drop is False:
            raise AuditStoreError(f"Only the owner of {self.path} may drop old days: prune as the owner")
        return dropped

    # ----- reading ------------------------------------------------------------------------
    def _query(self, sql: str, params: Iterable = ()) -> list[tuple]:
        psycopg = _driver()
        try:
            return self._connection().execute(_q(sql), tuple(params)).fetchall()
        except psycopg.Error as exc:
            raise self._failed(exc, "read") from None

    def _where(self, query: AuditQuery) -> tuple[str, list]:
        """``AuditQuery`` as a condition on ``messages m``. A topic search first lists the matching topics
        (the trigram index on the topics table): with the topics named, the planner sees how rare they are
        and reads a rare one through the topic index instead of walking every row newest first."""
        if not query.topic:
            return query.where(POSTGRES)
        pattern = POSTGRES.topic_pattern(query.topic)
        topics = [t for (t,) in self._query("SELECT topic FROM topics WHERE topic LIKE %s LIMIT %s",
                                            (pattern, MAX_LISTED_TOPICS + 1))]
        if len(topics) > MAX_LISTED_TOPICS:
            return query.where(POSTGRES)
        where, params = replace(query, topic="").where(POSTGRES)
        return " AND ".join(c for c in ("m.topic = ANY(%s)", where) if c), [topics, *params]

    def newest_id(self) -> int:
        return self._query("SELECT coalesce(max(id), 0) FROM messages")[0][0]

    def page_before(self, query: AuditQuery, before_id: int | None, limit: int,
                    preview: int | None = None) -> list[AuditRow]:
        """Newest-first page of rows with id < before_id: a keyset page, never an OFFSET. With ``preview``,
        each row holds at most that many bytes of its payload."""
        where, params = self._where(query)
        clauses = [where] if where else []
        if before_id is not None:
            clauses.append("m.id < %s")
            params.append(before_id)
        sql = f"SELECT {_columns(preview)} FROM {_FROM}" + (" WHERE " + " AND ".join(clauses) if clauses else "")
        return self._with_sightings([_row(r) for r in self._query(sql + " ORDER BY m.id DESC LIMIT %s",
                                                                  (*params, limit))])

    def rows_after(self, query: AuditQuery, after_id: int, limit: int = 100_000,
                   preview: int | None = None) -> list[AuditRow]:
        where, params = self._where(query)
        sql = f"SELECT {_columns(preview)} FROM {_FROM} WHERE m.id > %s" + (f" AND {where}" if where else "")
        return self._with_sightings([_row(r) for r in self._query(sql + " ORDER BY m.id LIMIT %s",
                                                                  (after_id, *params, limit))])

    def rows_by_id(self, ids: Iterable[int], preview: int | None = None,
                   query: AuditQuery | None = None) -> dict[int, AuditRow]:
        """The rows with these ids (those that match ``query``), whole (``preview`` as for ``page_before``)."""
        wanted = list(ids)
        if not wanted:
            return {}
        where, params = self._where(query) if query is not None else ("", [])
        sql = f"SELECT {_columns(preview)} FROM {_FROM} WHERE m.id = ANY(%s)" + (f" AND {where}" if where else "")
        rows = [_row(r) for r in self._query(sql, (wanted, *params))]
        return {row.id: row for row in self._with_sightings(rows)}

    def _with_sightings(self, rows: list[AuditRow]) -> list[AuditRow]:
        if not rows:
            return rows
        seen: dict[int, list[tuple[str, float]]] = {}
        for message_id, broker, received in self._query(
                "SELECT message_id, broker, received FROM sightings WHERE message_id = ANY(%s) ORDER BY received",
                ([row.id for row in rows],)):
            seen.setdefault(message_id, []).append((broker, received))
        return [replace(row, sightings=tuple(seen[row.id])) if row.id in seen else row for row in rows]

    def iter_rows(self, query: AuditQuery = AuditQuery(), chunk: int = 2_000) -> Iterator[list[AuditRow]]:
        """Every matching row, oldest first, through a server-side cursor (memory stays flat): chunks of at
        most ``chunk`` rows and about ``READ_CHUNK_BYTES`` of payload. The cursor brings short payloads
        along; longer ones are read by id for each chunk as it is handed on."""
        psycopg = _driver()
        where, params = self._where(query)
        inline = (_COLUMNS.replace(" m.payload,", f" CASE WHEN octet_length(m.payload) <= {INLINE_PAYLOAD_BYTES} "
                                                   "THEN m.payload END,", 1) + ", octet_length(m.payload)")
        sql = f"SELECT {inline} FROM {_FROM}" + (f" WHERE {where}" if where else "") + " ORDER BY m.id"
        try:
            conn = connect(self.url, self.password)  # a cursor of its own: reads may go on meanwhile
            try:
                with conn.transaction(), conn.cursor(name="eventscope_export") as cursor:
                    cursor.itersize = chunk
                    cursor.execute(_q(sql), params)
                    while True:
                        batch = cursor.fetchmany(chunk)
                        if not batch:
                            return
                        for group in _byte_bounded(batch):
                            yield self._with_sightings(_with_payloads(conn, group))
            finally:
                conn.close()
        except psycopg.Error as exc:
            raise self._failed(exc, "export") from None

    def readable_rows(self, query: AuditQuery = AuditQuery(), chunk: int = 2_000,
                      skipped: list[int] | None = None) -> Iterator[list[AuditRow]]:
        """The same as ``iter_rows``: a server has no half-readable file."""
        return self.iter_rows(query, chunk)

    def count(self, query: AuditQuery = AuditQuery()) -> int:
        where, params = self._where(query)
        return self._query("SELECT count(*) FROM messages m" + (f" WHERE {where}" if where else ""), params)[0][0]

    @property
    def row_count(self) -> int:
        return self.count()
