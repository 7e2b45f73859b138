"""Broker connections in a child process, so MQTT parsing and audit commits never hold the window's GIL.

Measured on a 2-core machine at 20k msg/s: with paho's network threads and the audit writer
in the window's process, every Python call the GUI thread makes while painting waited for the
interpreter lock, and the window stalled for 0.6-1.1 s at p99. Moving the MQTT sessions, the
request trackers and the audit writers into one child process leaves the window's process with
the tick (tree and streams) and the drawing.

The child owns, per broker: the ``MqttSession`` (paho thread), the ``RequestTracker`` and the
``AuditWriter``. Over one duplex pipe it sends record batches (compact tuples, about every
15 ms), status changes, committed audit results and tracker statistics; the parent sends
commands (open, close, subscribe, publish, request, ...) and gets each result back by call id.

In the parent, ``RemoteBrokerConnection`` and its ``RemoteSession``/``RemoteTracker``/
``RemoteRecorder`` have the same surface as the in-process objects, and the records land in an
ordinary ``IngestBuffer``, so the workspace's tick does not know where a broker lives.

If the window dies (even kill -9), the child sees the pipe close, stores and acknowledges what
it already received, and exits.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path

from eventscope.core.audit.recorder import AuditReading
from eventscope.core.connections.child import child_main
from eventscope.core.connections.handle import AuditSettings, subscription_pairs
from eventscope.core.connections.wire import unpack
from eventscope.core.models.rate_meter import RateMeter
from eventscope.core.mqtt.buffered_socket import SocketReading
from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.session import (
    NO_READING,
    OutgoingMessage,
    SessionBase,
    SessionError,
    SessionState,
    SessionStatus,
    check_publish,
)
from eventscope.core.profile import MQTT_V5, ConnectionProfile, unique_client_id
from eventscope.core.records import MessageProperties
from eventscope.core.requests.tracker import (
    DEFAULT_TIMEOUT,
    DEFAULT_V311_REPLY_TOPIC,
    ReplyRouter,
    TrackerStats,
    run_burst,
)
from eventscope.core.topics import validate_filter

log = logging.getLogger(__name__)


class ConnectionProcess:
    """The child process and its pipe, seen from the window's process."""

    def __init__(self, target: Callable = child_main) -> None:
        """``target`` runs in the child with the pipe (an importable function: the child is spawned)."""
        ctx = multiprocessing.get_context("spawn")
        self._pipe, child_end = ctx.Pipe(duplex=True)
        self._process = ctx.Process(target=target, args=(child_end,), name="eventscope-connections", daemon=True)
        self._process.start()
        child_end.close()
        self._send_lock = threading.Lock()
        self._calls: dict[int, Future] = {}
        self._call_ids = itertools.count(1)
        self._brokers: dict[str, RemoteBrokerConnection] = {}  # where the child's messages about a broker go
        self._next: dict[str, RemoteBrokerConnection] = {}  # opened again while the earlier one still closes
        self._routes_lock = threading.Lock()  # held for a dict update only
        self._closed = False
        self._receiver = threading.Thread(target=self._receive, name="connections-receiver", daemon=True)
        self._receiver.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def call(self, command: str, *args) -> Future:
        """Send a command; the future gets the child's result (or its exception)."""
        future: Future = Future()
        if self._closed:
            future.set_exception(SessionError("The connection process has stopped"))
            return future
        call_id = next(self._call_ids)
        self._calls[call_id] = future
        try:
            with self._send_lock:
                self._pipe.send((command, call_id, *args))
        except (OSError, ValueError) as exc:
            self._calls.pop(call_id, None)
            future.set_exception(SessionError(f"The connection process has stopped: {exc}"))
        return future

    def open(self, broker_id: str, profile: ConnectionProfile, password: str | None, subscriptions: tuple[str, ...],
             audit: AuditSettings | None, region_level: int) -> RemoteBrokerConnection:
        if not profile.client_id:  # chosen here, so both processes know the default reply topic
            profile = profile.with_changes(client_id=unique_client_id())
        connection = RemoteBrokerConnection(self, broker_id, profile, subscriptions)
        with self._routes_lock:  # the receiver thread hands routes over (``forget``) at the same time
            earlier = self._brokers.get(broker_id)
            if earlier is not None and earlier.closing and not earlier.closed:
                # The child closes the earlier one first (the pipe keeps order): what it still sends about
                # that broker is the earlier one's, until its close is answered; then this one takes over.
                self._next[broker_id] = connection
            else:
                self._brokers[broker_id] = connection
        opened = self.call("open", broker_id, profile, password, subscriptions, audit, region_level)
        connection._audit_asked = audit is not None
        connection.follow_audit_call(opened, audit)  # never waited on: the window's thread goes on drawing
        opened.add_done_callback(lambda f: connection.opened.set_result(None) if f.exception() is None
                                 else connection.opened.set_exception(f.exception()))
        return connection

    def close(self, timeout: float = 15.0) -> None:
        """Close every connection in the child (final audit commits) and end it."""
        if self._closed:
            return
        try:
            self.call("shutdown").result(timeout)
        except Exception:  # already gone: nothing left to save
            pass
        self._closed = True
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._pipe.close()

    def _receive(self) -> None:
        while True:
            try:
                message = self._pipe.recv()
            except (EOFError, OSError):
                break
            try:
                self._dispatch(message)
            except Exception:
                log.exception("cannot handle %r from the connection process", message[0])
        self._closed = True
        for future in list(self._calls.values()):
            if not future.done():
                future.set_exception(SessionError("The connection process has stopped"))
        for connection in [*self._brokers.values(), *self._next.values()]:
            connection.session.set_status(SessionStatus(SessionState.DISCONNECTED, "the connection process stopped",
                                                        since=time.time()))

    def _dispatch(self, message: tuple) -> None:
        kind = message[0]
        if kind == "records":
            _, broker_id, items = message
            connection = self._brokers.get(broker_id)
            if connection is not None:
                connection.buffer.extend([unpack(broker_id, item) for item in items])
        elif kind == "result":
            _, call_id, ok, value = message
            future = self._calls.pop(call_id, None)
            if future is not None and not future.done():
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        elif kind == "status":
            _, broker_id, status, max_packet_size, dropped = message
            connection = self._brokers.get(broker_id)
            if connection is not None:
                connection.session.max_packet_size = max_packet_size
                connection.child_dropped = dropped
                connection.session.set_status(status)
        elif kind == "audit":
            _, broker_id, results = message
            connection = self._brokers.get(broker_id)
            if connection is not None:
                connection.audit_results.extend(results)
        elif kind == "reading":
            _, broker_id, reading = message
            connection = self._brokers.get(broker_id)
            if connection is not None:
                connection.session.reading = SocketReading(*reading)
        elif kind == "audit_reading":
            _, broker_id, reading = message
            connection = self._brokers.get(broker_id)
            if connection is not None and connection.recorder is not None:
                connection.recorder.last_reading = AuditReading(*reading)
        elif kind == "tracker":
            _, broker_id, stats = message
            connection = self._brokers.get(broker_id)
            if connection is not None:
                connection.tracker.last_stats = stats

    def forget(self, connection: RemoteBrokerConnection) -> None:
        """Stop routing to ``connection``; a newer one of the same broker, if opened meanwhile, takes over."""
        with self._routes_lock:
            if self._brokers.get(connection.broker_id) is connection:
                following = self._next.pop(connection.broker_id, None)
                if following is not None:
                    self._brokers[connection.broker_id] = following
                else:
                    del self._brokers[connection.broker_id]


class RemoteSession(SessionBase):
    """The parent's view of an ``MqttSession`` that runs in the connection process."""

    def __init__(self, process: ConnectionProcess, broker_id: str, profile: ConnectionProfile,
                 subscriptions: tuple[str, ...]) -> None:
        self._process = process
        self.session_id = broker_id
        self.profile = profile
        self.client_id = profile.client_id
        self.buffer = IngestBuffer()
        self.max_packet_size: int | None = None
        self._status = SessionStatus(SessionState.CONNECTING, profile.address, since=time.time())
        self._connected = threading.Event()
        self._subscriptions = dict(subscription_pairs(subscriptions))
        self.reading = NO_READING  # as the connection process last measured its socket

    def socket_reading(self) -> SocketReading:
        return self.reading

    def set_status(self, status: SessionStatus) -> None:
        self._status = status
        if status.state is SessionState.CONNECTED:
            self._connected.set()
        else:
            self._connected.clear()

    @property
    def subscriptions(self) -> dict[str, int]:
        return dict(self._subscriptions)

    def subscribe(self, topic_filter: str, qos: int = 0) -> Future:
        validate_filter(topic_filter)
        self._subscriptions[topic_filter] = qos
        future = self._process.call("subscribe", self.session_id, topic_filter, qos)

        def refused(f: Future) -> None:
            if f.exception() is not None:
                self._subscriptions.pop(topic_filter, None)

        future.add_done_callback(refused)
        return future

    def unsubscribe(self, topic_filter: str) -> Future:
        self._subscriptions.pop(topic_filter, None)
        return self._process.call("unsubscribe", self.session_id, topic_filter)

    def publish(self, topic: str, payload: bytes | str = b"", qos: int = 0, retain: bool = False,
                properties: MessageProperties | None = None) -> Future:
        check_publish(self.profile, topic, qos, self.is_connected)
        data = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
        return self._process.call("publish", self.session_id, topic, data, qos, retain, properties)

    def publish_many(self, messages: list[OutgoingMessage]) -> Future:
        """One crossing for many messages: a call per message made a replay wait for the window's busy
        threads once per send (2,300 msg/s where 20,000 were due)."""
        for topic, _payload, qos, _retain, _properties in messages:
            check_publish(self.profile, topic, qos, self.is_connected)
        return self._process.call("publish_many", self.session_id, [
            (topic, payload.encode("utf-8") if isinstance(payload, str) else bytes(payload), qos, retain, properties)
            for topic, payload, qos, retain, properties in messages])

    def start(self) -> None:
        """The connection process started it already."""

    def stop(self, timeout: float = 10.0) -> None:
        """Closing the connection goes through ``RemoteBrokerConnection.close``."""


class RemoteTracker:
    """The parent's view of a ``RequestTracker`` in the connection process: same calls, awaited here."""

    def __init__(self, process: ConnectionProcess, session: RemoteSession) -> None:
        self._process = process
        self.session = session
        self.v5 = session.profile.mqtt_version == MQTT_V5
        self.last_stats = TrackerStats(0, 0, 0, 0, 0)

    def default_reply_topic(self) -> str:
        return f"eventscope/{self.session.client_id}/reply" if self.v5 else DEFAULT_V311_REPLY_TOPIC

    def stats(self) -> TrackerStats:
        return self.last_stats

    async def request(self, topic: str, payload: bytes | str = b"", *, qos: int = 0, reply_topic: str | None = None,
                      timeout: float = DEFAULT_TIMEOUT, user_properties: tuple[tuple[str, str], ...] = (),
                      content_type: str | None = None, message_expiry: int | None = None):
        data = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
        options = dict(qos=qos, reply_topic=reply_topic, timeout=timeout, user_properties=tuple(user_properties),
                       content_type=content_type, message_expiry=message_expiry)
        return await asyncio.wrap_future(self._process.call("request", self.session.session_id, topic, data, options))

    async def burst(self, topic, payload, count: int, concurrency: int, on_reply=None, on_failure=None, **options):
        return await run_burst(self.request, topic, payload, count, concurrency, on_reply, on_failure, **options)

    def close(self) -> None:
        """Requests in flight end when the child closes the tracker."""


class RemoteRecorder:
    """The parent's view of the child's ``AuditRecorder``."""

    def __init__(self, process: ConnectionProcess, broker_id: str, settings: AuditSettings) -> None:
        self._process = process
        self._broker_id = broker_id
        self.filters = tuple(settings.filters)
        self.path = settings.path
        self.last_reading = AuditReading()  # as the connection process last measured it

    def reading(self) -> AuditReading:
        return self.last_reading

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Block until the recorder's subscription is in (tests and headless tools, never the window)."""
        try:
            return bool(self._process.call("audit_ready", self._broker_id, timeout).result(timeout + 5))
        except Exception:
            return False


class RemoteBrokerConnection:
    """A broker whose session, tracker and audit writer live in the connection process (a ``BrokerHandle``)."""

    def __init__(self, process: ConnectionProcess, broker_id: str, profile: ConnectionProfile,
                 subscriptions: tuple[str, ...]) -> None:
        self.broker_id = broker_id
        self.profile = profile
        self.session = RemoteSession(process, broker_id, profile, subscriptions)
        self.tracker = RemoteTracker(process, self.session)
        self.region = ""
        self.meter = RateMeter()
        self.audit_path: Path | str | None = None
        self.audit_notice = ""
        self._process = process
        self._recorder: RemoteRecorder | None = None
        self.audit_results: deque = deque()
        self.child_dropped = 0
        self.closing = False  # its close was asked for
        self.closed = False  # true once the child has closed it: no audit results can follow
        self._audit_asked = False  # recording was asked for (the child may not have answered yet)
        self.opened: Future = Future()  # the child's answer to "open" (never waited on by the window)

    @property
    def buffer(self) -> IngestBuffer:
        return self.session.buffer

    @property
    def recorder(self) -> RemoteRecorder | None:
        return self._recorder

    @property
    def dropped_elsewhere(self) -> int:
        return self.child_dropped

    def set_audit_state(self, state: tuple, settings: AuditSettings | None) -> None:
        """``state`` is the child's (audit path, notice, recording)."""
        path, notice, recording = state
        self.audit_path = path or None  # the child's own value: a Path, or the team database's URL
        self.audit_notice = notice or ""
        self._recorder = RemoteRecorder(self._process, self.broker_id, settings) if recording and settings else None

    def follow_audit_call(self, call: Future, settings: AuditSettings | None) -> None:
        """When the child answers an open or audit change, take its audit state (or show why it failed)."""
        def answered(f: Future) -> None:
            error = f.exception()
            if error is None:
                self.set_audit_state(f.result(), settings)
            elif not self.closed:
                self.session.set_status(SessionStatus(SessionState.DISCONNECTED, f"cannot open {self.broker_id}: {error}",
                                                      since=time.time()))

        call.add_done_callback(answered)

    def start_audit(self, settings: AuditSettings, password: str | None, region_level: int = 0) -> None:
        """Ask the child to record; the new state arrives with its answer (and in the next change summary)."""
        self._audit_asked = True
        self.follow_audit_call(self._process.call("set_audit", self.broker_id, settings, password, region_level),
                               settings)

    def stop_audit(self) -> list:
        """Ask the child to stop recording (also when its answer to starting is still on the way); its final
        commit's results arrive like any other."""
        if self._recorder is not None or self._audit_asked:
            self._recorder = None
            self._audit_asked = False
            self.follow_audit_call(self._process.call("set_audit", self.broker_id, None, None, 0), None)
        return self.take_audit_results()

    def take_audit_results(self) -> list:
        results = []
        while self.audit_results:
            results.append(self.audit_results.popleft())
        return results

    def close(self) -> list:
        """Ask the child to close it (final audit commit and ack there). Returns at once with the results
        so far; the rest arrive until ``closed`` turns true, and the workspace keeps collecting them."""
        self.session.set_status(SessionStatus(SessionState.DISCONNECTED, "disconnected by user", since=time.time()))
        self.closing = True

        def finished(f: Future) -> None:
            if f.exception() is not None:
                log.warning("closing %s: %s", self.broker_id, f.exception())
            self.closed = True
            self._process.forget(self)

        self._process.call("close", self.broker_id).add_done_callback(finished)
        return self.take_audit_results()


class RemoteConnector:
    """Opens every broker in one connection child process, started with the first broker.

    With ``per_broker``, each broker gets a child of its own, so several brokers' parsing and audit
    commits run on several cores. A reply is then matched only by its own broker's child, not by
    another broker's; the README measures what it gives on a two-core machine.
    """

    def __init__(self, child: Callable = child_main, per_broker: bool = False) -> None:
        self._child = child
        self._per_broker = per_broker
        self._processes: dict[str, ConnectionProcess] = {}  # by broker id; by '' when one serves them all

    def open(self, broker_id: str, profile: ConnectionProfile, password: str | None, subscriptions: Iterable,
             audit: AuditSettings | None, region_level: int, buffer: IngestBuffer | None,
             router: ReplyRouter) -> RemoteBrokerConnection:
        """``buffer`` and ``router`` stay in this process: the child has its own (replies to any broker of it)."""
        key = broker_id if self._per_broker else ""
        process = self._processes.get(key)
        if process is None:
            process = self._processes[key] = ConnectionProcess(self._child)
        return process.open(broker_id, profile, password, tuple(subscriptions), audit, region_level)

    @property
    def pid(self) -> int | None:
        """The first child's process id (the only one unless ``per_broker``)."""
        return next((process.pid for process in self._processes.values()), None)

    @property
    def pids(self) -> list[int]:
        return [pid for pid in (process.pid for process in self._processes.values()) if pid is not None]

    def close(self) -> None:
        processes, self._processes = list(self._processes.values()), {}
        for process in processes:
            process.close()
