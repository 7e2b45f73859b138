"""The durable audit recorder: its own MQTT session, its own buffer, ack after commit.

The audit subscription is QoS 1 on a persistent session (clean start off, MQTT 5 session
expiry) with a client id stored in the audit database, so a restarted recorder resumes
the same broker session and receives what was queued while it was down. Messages are
acknowledged by hand only after the transaction holding them has committed; if the
process dies first, the broker redelivers them (and the store flags true duplicates).

Nothing is ever dropped on the way: the recorder's ingest buffer blocks when full (the network
thread stops reading, so the broker keeps the messages), and while the store cannot write
(a full disk) at most ``MAX_PENDING`` records, and about ``MAX_PENDING_BYTES`` of payload, wait in
memory before the buffer fills.

The same class runs in the window (an ``AuditWriter`` thread calls ``flush``) and headless
(``eventscope audit record`` calls ``flush`` in a loop).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from eventscope.core.audit.store import AuditStore, AuditStoreError, AuditStoreFull, WriteResult
from eventscope.core.mqtt.failures import describe_silent_peer
from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.session import MqttSession, SessionState
from eventscope.core.profile import DEFAULT_AUDIT_FILTERS, ConnectionProfile
from eventscope.core.records import MessageRecord

if TYPE_CHECKING:
    from pathlib import Path

    from eventscope.core.audit.postgres import PostgresAuditStore
    from eventscope.core.audit.stores import SharedSqliteStore

log = logging.getLogger(__name__)

AUDIT_QOS = 1
AUDIT_SESSION_EXPIRY = 3600
RETRY_AFTER_FAILURE_SECONDS = 2.0  # the first retry; each failure after it doubles the wait …
RETRY_AFTER_FAILURE_MAX = 30.0  # … up to this (a database restarting or failing over)
MAX_PENDING = 50_000  # records held in memory while the store cannot write; then the buffer fills
MAX_PENDING_BYTES = 256 * 1024 * 1024  # … or this much held (payloads are kept whole up to 16 MiB each)
BUFFER_MAX_COUNT = 20_000  # the network thread waits for room beyond this (never drops)


RESOLVE_TIMEOUT = 2.0  # seconds the recorder lock waits for the host name's address


def broker_key(host: str, port: int, timeout: float = RESOLVE_TIMEOUT) -> str:
    """The broker as its address, so 'localhost' and '127.0.0.1' are one broker for the recorder lock.

    The lookup is bounded: a slow resolver must not hold the recorder's start. Unresolvable, or not
    resolved within ``timeout``, the lock is keyed on the name (the connection says what is wrong)."""
    found: list[str] = []

    def resolve() -> None:
        try:
            found.append(str(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]))
        except (OSError, UnicodeError):
            pass

    lookup = threading.Thread(target=resolve, name="recorder-lock-lookup", daemon=True)  # left behind if slow
    lookup.start()
    lookup.join(timeout)
    return f"{found[0] if found else host}:{port}"


@dataclass(frozen=True, slots=True)
class FlushSummary:
    """What one ``flush`` did. ``warning`` is non-empty while writes are failing."""

    received: int = 0
    written: int = 0
    duplicates: int = 0
    pending: int = 0
    result: WriteResult | None = None
    warning: str = ""
    # The store it was committed to (a file path, or the team database's URL): results cross a pipe and a
    # tick, so by the time the feed takes them the connection may already record somewhere else.
    database: Path | str | None = None
    # Another recorder wrote to the store meanwhile (this one waited for it): a feed reads those rows back.
    written_elsewhere: bool = False
    waiting: bool = False  # another recorder holds this database and broker; ``warning`` says which


class AuditReading(NamedTuple):
    """An audit recorder's backlog: its connection's socket, and what waits to be written."""

    unread: int = 0  # bytes arrived in the audit connection's socket, not yet read
    reads: int = 0
    full_reads: int = 0
    waiting: int = 0  # records read and not yet written (nor acknowledged)
    stalled: int = 0  # running total of records whose reader waited for room
    writing: float = 0.0  # running total of seconds spent writing to the store, the write under way included


class AuditRecorder:
    """Records audit filters from one broker into an ``AuditStore``.

    Events: none; ``flush()`` returns a ``FlushSummary`` for the caller to show.
    """

    def __init__(self, store: AuditStore | PostgresAuditStore | SharedSqliteStore, profile: ConnectionProfile,
                 password: str | None = None,
                 filters: tuple[str, ...] | list[str] = DEFAULT_AUDIT_FILTERS, session_expiry: int = AUDIT_SESSION_EXPIRY,
                 buffer: IngestBuffer | None = None, broker: str = "") -> None:
        """``broker`` names the broker in the store (default: its address); a workspace uses its broker names."""
        self.store = store
        self.filters = tuple(filters)
        self.profile = profile.with_changes(client_id=store.client_id, clean_start=False,
                                            session_expiry=session_expiry, read_only=True)
        self.buffer = buffer if buffer is not None else IngestBuffer(BUFFER_MAX_COUNT, block_when_full=True)
        self.session = MqttSession(self.profile, password=password, buffer=self.buffer,
                                   session_id=f"audit:{self.profile.name}", manual_ack=True)
        self.broker = broker or self.profile.address
        self._pending: list[MessageRecord] = []
        self._pending_bytes = 0
        self._warning = ""
        self._next_retry = 0.0
        self._failures = 0  # consecutive failed writes: the back-off
        self._write_seconds = 0.0  # spent in the store's writes, for how busy the writer is
        self._writing_since: float | None = None
        self.total_written = 0
        self._sub_futures: list = []
        self._lock: Any = None  # the store's recorder lock (a file lock, or an advisory lock on a server)
        self._started = threading.Event()
        self.not_ready_reason = ""

    @property
    def client_id(self) -> str:
        return self.session.client_id

    @property
    def pending(self) -> list[MessageRecord]:
        """Received but not yet stored (and so not acknowledged)."""
        return list(self._pending)

    @property
    def warning(self) -> str:
        return self._warning

    def reading(self) -> AuditReading:
        """How far the writer lags the audit's connection (from any thread)."""
        socket = self.session.socket_reading()
        stats = self.buffer.stats()
        since = self._writing_since
        writing = self._write_seconds + (time.monotonic() - since if since is not None else 0.0)
        return AuditReading(socket.unread, socket.reads, socket.full_reads, stats.buffered + len(self._pending),
                            stats.stalled, writing)

    def start(self) -> list:
        """Connect in the background and subscribe; returns the SUBACK futures.

        Raises ``RecorderBusyError`` if another process records the same database.
        """
        lock = self.store.recorder_lock(broker_key(self.profile.host, self.profile.port))
        lock.acquire()
        self._sub_futures = [self.session.subscribe(f, AUDIT_QOS) for f in self.filters]
        self.session.start()
        self._lock = lock
        self._started.set()
        return list(self._sub_futures)

    @property
    def started(self) -> bool:
        """It holds the lock and its session was started."""
        return self._started.is_set()

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Wait for the connection and every SUBACK; False at once when the first attempt fails or a
        subscription is refused, with the reason in ``not_ready_reason``."""
        deadline = time.monotonic() + timeout
        self.not_ready_reason = ""
        if not self._started.wait(timeout):  # its writer waits for another recorder's lock
            self.not_ready_reason = "another Eventscope is still recording this database from this broker"
            return False
        timeout = max(0.0, deadline - time.monotonic())
        if not self.session.wait_first_outcome(timeout):
            status = self.session.first_status
            self.not_ready_reason = (status.message if status.state is not SessionState.CONNECTING else
                                     describe_silent_peer(self.profile.host, self.profile.port, timeout))
            return False
        try:
            for future in self._sub_futures:
                future.result(max(0.1, deadline - time.monotonic()))
        except FutureTimeout:
            self.not_ready_reason = f"the broker did not answer the audit subscriptions within {timeout:g} s"
            return False
        except Exception as exc:  # a refused subscription names its filter and reason code
            self.not_ready_reason = str(exc)
            return False
        return True

    def flush(self, now: float | None = None) -> FlushSummary:
        """Drain the buffer, write one transaction, then acknowledge what was committed."""
        room = MAX_PENDING - len(self._pending) if self._pending_bytes < MAX_PENDING_BYTES else 0
        fresh = self.buffer.drain(room) if room > 0 else []
        if fresh:
            self._pending.extend(fresh)
            self._pending_bytes += sum(record.footprint for record in fresh)
        if not self._pending:
            return FlushSummary(warning=self._warning)
        clock = time.monotonic() if now is None else now
        if self._warning and clock < self._next_retry:
            return FlushSummary(received=len(fresh), pending=len(self._pending), warning=self._warning)
        batch = self._pending
        started = self._writing_since = time.monotonic()
        try:
            result = self.store.write_batch(batch, broker=self.broker)
        except (AuditStoreFull, AuditStoreError) as exc:
            if exc.__class__ is not AuditStoreFull:
                log.warning("audit write failed: %s", exc)
            self._warning = str(exc)
            self._failures += 1
            self._next_retry = clock + min(RETRY_AFTER_FAILURE_MAX, RETRY_AFTER_FAILURE_SECONDS * 2 ** (self._failures - 1))
            return FlushSummary(received=len(fresh), pending=len(batch), warning=self._warning)
        finally:
            self._writing_since = None  # first: a reading in between counts too little, never twice
            self._write_seconds += time.monotonic() - started
        self._pending = []
        self._pending_bytes = 0
        self._warning = ""
        self._failures = 0
        self.session.ack_many(batch)
        self.total_written += result.inserted
        return FlushSummary(len(fresh), result.inserted, result.duplicates, 0, result)

    def stop(self, final_flush: bool = True) -> FlushSummary | None:
        """Store and acknowledge what already arrived, then disconnect (the broker keeps the session)."""
        summary = self.flush(now=float("inf")) if final_flush else None
        self.buffer.close()  # a network thread waiting for room lets go; the broker keeps what was not acked
        self.session.stop()
        lock, self._lock = self._lock, None
        self._started.clear()
        if lock is not None:
            lock.release()
        return summary
