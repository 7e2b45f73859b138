"""A broker connection in this process: ``MqttSession``, ``RequestTracker`` and audit writer thread."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path

from eventscope.core.audit.commit_thread import AuditWriter
from eventscope.core.audit.postgres import is_postgres_url
from eventscope.core.audit.recorder import AuditRecorder
from eventscope.core.audit.stores import open_store, shown
from eventscope.core.connections.handle import AuditSettings, subscription_pairs
from eventscope.core.models.rate_meter import RateMeter
from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import ConnectionProfile
from eventscope.core.requests.tracker import ReplyRouter, RequestTracker


class BrokerConnection:
    """One broker of the workspace: its session and buffer, request tracker and audit writer, in this process."""

    def __init__(self, broker_id: str, profile: ConnectionProfile, session: MqttSession, tracker: RequestTracker) -> None:
        self.broker_id = broker_id
        self.profile = profile
        self.session = session
        self.tracker = tracker
        self.writer: AuditWriter | None = None
        self.audit_path: Path | str | None = None
        self.audit_notice = ""  # why recording is off or what happened to the file, for the window
        self.region = ""  # the broker's region in the mesh (from its profile), if it has one
        self.meter = RateMeter()
        self.closed = False
        self.opened: Future = Future()
        self.opened.set_result(None)  # set up by the time the constructor returns

    @classmethod
    def open(cls, broker_id: str, profile: ConnectionProfile, password: str | None, subscriptions: Iterable[str],
             audit: AuditSettings | None, region_level: int, buffer: IngestBuffer | None = None,
             router: ReplyRouter | None = None, connack_timeout: float | None = None) -> BrokerConnection:
        """Start a connection; ``router`` lets its replies reach requests sent on the workspace's other brokers;
        ``connack_timeout`` is how long an attempt waits for the broker's answer (default: the session's)."""
        session = MqttSession(profile, password=password, buffer=buffer or IngestBuffer(), session_id=broker_id)
        if connack_timeout is not None:
            session.connack_timeout = connack_timeout
        for topic_filter, qos in subscription_pairs(subscriptions):
            session.subscribe(topic_filter, qos)
        connection = cls(broker_id, profile, session, RequestTracker(session, router=router))
        session.start()  # first: a slow audit store (a team database far away) must not hold the broker back
        if audit is not None:
            connection.start_audit(audit, password, region_level)
        return connection

    @property
    def buffer(self) -> IngestBuffer:
        return self.session.buffer

    @property
    def recorder(self) -> AuditRecorder | None:
        return self.writer.recorder if self.writer is not None else None

    @property
    def dropped_elsewhere(self) -> int:
        """Drops counted outside ``buffer`` (a connection in another process has its own)."""
        return 0

    def start_audit(self, settings: AuditSettings, password: str | None, region_level: int = 0) -> None:
        """Open the store and start recording on the writer thread. Failures become ``audit_notice``."""
        self.stop_audit()
        self.audit_path = settings.path if is_postgres_url(settings.path) else Path(settings.path)
        try:
            # shared: the workspace's brokers record into one database through one writer connection
            store = open_store(self.audit_path, settings.db_password, shared=True, region_level=region_level,
                               max_bytes=settings.max_bytes, payload_limit=settings.max_payload)
        except Exception as exc:  # permissions, a directory in the way, a server down: say so, keep the window running
            self.audit_notice = f"The audit store {shown(self.audit_path)} cannot be opened: {exc}"
            return
        self.audit_notice = store.notice
        writer = AuditWriter(AuditRecorder(store, self.profile, password, filters=settings.filters,
                                           broker=self.broker_id), database=self.audit_path)
        # Another recorder of this database and broker (often a window that just closed, still committing):
        # the writer says so and takes over when it stops.
        writer.start(wait_for_lock=True)
        self.writer = writer

    def stop_audit(self) -> list:
        """Final commit and ack, then close the store. Returns the writer's last results."""
        writer, self.writer = self.writer, None
        if writer is None:
            return []
        writer.stop()
        writer.recorder.store.close()
        return writer.take_results()

    def take_audit_results(self) -> list:
        writer = self.writer  # once: another thread may stop the audit meanwhile
        return writer.take_results() if writer is not None else []

    def close(self) -> list:
        """Stop everything; returns the audit writer's final results."""
        self.tracker.close()
        results = self.stop_audit()
        self.session.stop()
        self.closed = True
        return results


class LocalConnector:
    """Opens every broker in this process; ``connack_timeout`` is a headless command's own wait for a broker's
    answer (its ``--connect-timeout``), set before the first attempt starts."""

    def __init__(self, connack_timeout: float | None = None) -> None:
        self.connack_timeout = connack_timeout

    def open(self, broker_id: str, profile: ConnectionProfile, password: str | None, subscriptions: Iterable,
             audit: AuditSettings | None, region_level: int, buffer: IngestBuffer | None,
             router: ReplyRouter) -> BrokerConnection:
        return BrokerConnection.open(broker_id, profile, password, subscriptions, audit, region_level, buffer, router,
                                     self.connack_timeout)

    def close(self) -> None:
        """Each connection closes with its handle."""
