"""One MQTT connection: a paho 2.x client on paho's own network thread.

The network thread does three things only: it builds immutable ``MessageRecord``s and
appends them to the ``IngestBuffer``, it calls the registered taps (cheap lookups such as
the request tracker's correlation table), and it updates the immutable ``status``.
Nothing here knows about Qt.

Events (callables registered with ``add_status_listener``; called on the thread that
changed the state, so a GUI must hop threads itself or poll ``status``):
    status(SessionStatus): connecting, connected, reconnecting (attempt, delay), disconnected (reason).
"""

from __future__ import annotations

import logging
import random
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from enum import Enum

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, _ConnectionState
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from eventscope.core.mqtt.buffered_socket import BufferedSocket, SocketReading
from eventscope.core.mqtt.failures import (
    FATAL_CONNACK_CODES,
    describe_connack,
    describe_connect_exception,
    describe_silent_peer,
    describe_socket_error,
)
from eventscope.core.mqtt.graceful_close import close_after_peer
from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.publish_properties import to_publish_properties
from eventscope.core.mqtt.publish_reader import read_publishes
from eventscope.core.mqtt.tls_files import tls_files_problem
from eventscope.core.profile import MQTT_V5, ConnectionProfile, unique_client_id
from eventscope.core.records import NO_PROPERTIES, MessageProperties, MessageRecord
from eventscope.core.topics import validate_filter, validate_topic

log = logging.getLogger(__name__)

RECONNECT_BASE_DELAY = 0.5
RECONNECT_MAX_DELAY = 30.0
CONNECT_TIMEOUT = 5.0
# A listener that accepts TCP but never answers CONNECT (a non-MQTT port, or a broker
# listener for another MQTT version) would otherwise leave the session "connecting" forever.
CONNACK_TIMEOUT = 10.0  # counted once the TCP (and TLS) connection is open
# How long stop() lets the network thread write what is queued (manual acks, then DISCONNECT): paho's
# loop_stop ends the thread at once, and acks it drops make the broker deliver stored messages again.
GOODBYE_TIMEOUT = 2.0


class SessionError(RuntimeError):
    """An operation the session cannot do now; the message says why."""


class ReadOnlyError(SessionError):
    """Raised when anything tries to publish through a read-only (monitor) session."""


READ_ONLY_MESSAGE = "This connection is read-only (monitor mode): publishing is disabled"


class SubscribeError(SessionError):
    """The broker refused a subscription."""


class SessionState(Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class SessionStatus:
    state: SessionState
    message: str = ""
    attempt: int = 0
    retry_in: float = 0.0
    since: float = 0.0

    @property
    def text(self) -> str:
        """A short line for a status bar."""
        if self.state is SessionState.RECONNECTING:
            extra = f": {self.message}" if self.message else ""
            return f"Reconnecting (attempt {self.attempt}, next in {self.retry_in:.1f}s){extra}"
        if self.message:
            return f"{self.state.value.capitalize()}: {self.message}"
        return self.state.value.capitalize()


def reconnect_delay(attempt: int, rng: random.Random = random._inst) -> float:
    """Exponential back-off with jitter, capped: spreads reconnect storms after a broker restart."""
    ceiling = min(RECONNECT_MAX_DELAY, RECONNECT_BASE_DELAY * (2 ** max(0, attempt - 1)))
    return ceiling * rng.uniform(0.5, 1.0)


def to_message_properties(props: Properties | None) -> MessageProperties:
    if props is None:
        return NO_PROPERTIES
    names = props.__dict__
    if names.keys().isdisjoint(_PROPERTY_NAMES):  # the common case: no properties at all
        return NO_PROPERTIES
    sub_ids = names.get("SubscriptionIdentifier", ())
    return MessageProperties(
        response_topic=names.get("ResponseTopic"),
        correlation_data=names.get("CorrelationData"),
        content_type=names.get("ContentType"),
        payload_format_indicator=names.get("PayloadFormatIndicator"),
        message_expiry_interval=names.get("MessageExpiryInterval"),
        user_properties=tuple(tuple(p) for p in names.get("UserProperty", ())),
        subscription_identifiers=tuple(sub_ids) if isinstance(sub_ids, list) else ((sub_ids,) if sub_ids else ()),
        topic_alias=names.get("TopicAlias"),
    )


_PROPERTY_NAMES = frozenset(("ResponseTopic", "CorrelationData", "ContentType", "PayloadFormatIndicator",
                   "MessageExpiryInterval", "UserProperty", "SubscriptionIdentifier", "TopicAlias"))


Tap = Callable[[MessageRecord], None]


def check_publish(profile: ConnectionProfile, topic: str, qos: int, connected: bool) -> None:
    """Refuse, with the reason, what no broker should be sent: from a monitor, to a bad topic, while offline."""
    if profile.read_only:
        raise ReadOnlyError(READ_ONLY_MESSAGE)
    validate_topic(topic)
    if qos not in (0, 1, 2):
        raise ValueError("QoS must be 0, 1 or 2")
    if not connected:
        raise SessionError(f"Not connected to {profile.host}:{profile.port}")


# QoS 1/2 publishes in flight at once. paho scans every message in flight on each acknowledgement, so
# 1,000 capped a flat-out QoS 1 sender at 4-8k msg/s; 100 still fills a loopback link many times over.
MAX_INFLIGHT = 100
READ_BURST_PACKETS = 4000  # packets read per wake-up before paho's loop writes and checks keepalive
NO_READING = SocketReading()


_PUBACK = struct.Struct("!BBH")  # without a reason code it means success in MQTT 5 too (3.4.2.1)


class _Client(mqtt.Client):
    """paho's client with a read-buffered socket (see ``core/mqtt/buffered_socket.py``).

    paho reads one packet per ``select()`` round; here every packet already in the buffer is
    read in the same round, so a burst costs one system call and one lock hand-over, not one each.
    """

    read_only = False  # set from the profile: the last guard, under every publishing path

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stop_waiting = threading.Event()  # set by stop(): ends a reconnect wait at once
        # The last attempt's TCP connect: its error, and whether it got through (a timeout after it is TLS's).
        self.connect_error: OSError | None = None
        self.tcp_open = False

    def _create_socket_connection(self):
        self.connect_error, self.tcp_open = None, False
        self.answered = False
        try:
            sock = super()._create_socket_connection()
        except OSError as exc:
            self.connect_error = exc
            raise
        self.tcp_open = True
        return sock

    answered = False  # the broker sent a CONNACK on this socket

    def _handle_connack(self):
        self.answered = True
        return super()._handle_connack()

    def _sock_close(self) -> None:
        # A broker that never answered has nothing of ours to lose: no goodbye to wait for (a silent
        # port would hold every stop for GOODBYE_TIMEOUT).
        if self._sock is not None and self._state == _ConnectionState.MQTT_CS_DISCONNECTING and self.answered:
            close_after_peer(self._sock, GOODBYE_TIMEOUT)
        super()._sock_close()

    def _reconnect_wait(self) -> None:
        # paho sleeps out the delay in 1 s slices that nothing can cut short, so stopping a session
        # that was waiting to reconnect took up to a second; the session sets min == max delay.
        self.stop_waiting.wait(self._reconnect_max_delay)
    last_socket_error: OSError | None = None  # paho logs it and says only "connection lost"

    def _sock_recv(self, bufsize: int) -> bytes:
        try:
            return super()._sock_recv(bufsize)
        except BlockingIOError:
            raise
        except OSError as exc:
            self.last_socket_error = exc
            raise

    def _sock_send(self, buf: bytes) -> int:
        try:
            return super()._sock_send(buf)
        except BlockingIOError:
            raise
        except OSError as exc:  # a TLS alert often surfaces here, on sending CONNECT
            self.last_socket_error = exc
            raise

    def publish(self, topic, payload=None, qos=0, retain=False, properties=None):
        if self.read_only:
            raise ReadOnlyError(READ_ONLY_MESSAGE)
        return super().publish(topic, payload, qos, retain, properties)

    def _handle_pubrec(self):
        """paho ignores a PUBREC's reason code and completes a refused QoS 2 publish as delivered.

        A reason code of 0x80 or more ends the flow (MQTT 5, 4.3.3): no PUBREL, and the publish
        is reported to ``on_publish`` with the broker's reason, as a refused PUBACK is.
        """
        packet = self._in_packet["packet"]
        if self._protocol == mqtt.MQTTv5 and len(packet) > 2 and packet[2] >= 0x80:
            mid = int.from_bytes(packet[:2], "big")
            with self._out_message_mutex:
                if mid in self._out_messages:
                    return self._do_on_publish(mid, ReasonCode(PacketTypes.PUBREC, identifier=packet[2]),
                                               Properties(PacketTypes.PUBREC))
            return mqtt.MQTT_ERR_SUCCESS
        return super()._handle_pubrec()

    # Called with (topic, payload, qos, retain, properties, mid, dup) for each PUBLISH the fast path reads.
    on_publish_received: Callable[[str, bytes, int, bool, MessageProperties, int, bool], None] | None = None

    def _handle_publish(self):
        """A PUBLISH at QoS 0 or 1 decoded here, straight into the session's record.

        paho builds an ``MQTTMessage`` and, on MQTT 5, a ``Properties`` object per message even when
        it has no properties, which took about half the time of reading a message. Anything unusual
        (QoS 2, a topic that is not UTF-8, no receiver set) goes through paho's own handler.
        """
        receive = self.on_publish_received
        command = self._in_packet["command"]
        qos = (command & 0x06) >> 1
        if receive is None or qos == 2:
            return super()._handle_publish()
        packet = self._in_packet["packet"]
        end = 2 + ((packet[0] << 8) | packet[1])
        try:
            topic = packet[2:end].decode("utf-8")
        except UnicodeDecodeError:
            return super()._handle_publish()
        mid = 0
        if qos:
            mid = (packet[end] << 8) | packet[end + 1]
            end += 2
        properties = NO_PROPERTIES
        if self._protocol == mqtt.MQTTv5:
            length, shift, start = 0, 0, end
            while True:  # the property length: a variable byte integer
                byte = packet[end]
                end += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            if length:
                decoded = Properties(PacketTypes.PUBLISH)
                decoded.unpack(bytes(packet[start:end + length]))  # from the length on, as paho reads it
                properties = to_message_properties(decoded)
            end += length
        body = packet[end:]
        # paho gathers a packet that came in pieces in a bytearray; records hold bytes
        payload = body if isinstance(body, bytes) else bytes(body)
        with self._in_callback_mutex:
            receive(topic, payload, qos, bool(command & 0x01), properties, mid, bool(command & 0x08))
        if qos == 1 and not self._manual_ack:
            return self._send_puback(mid)
        return mqtt.MQTT_ERR_SUCCESS

    def _create_socket(self):
        sock = super()._create_socket()
        return sock if self._transport == "websockets" else BufferedSocket(sock)

    # Called with the records of every QoS 0/1 PUBLISH one socket read brought, in order (see publish_reader).
    on_publishes_received: Callable[[list[MessageRecord]], None] | None = None
    broker_id = ""  # the records' broker

    def loop_read(self, max_packets: int = 1):
        rc = super().loop_read(max_packets)
        sock = self._sock
        if isinstance(sock, BufferedSocket):
            read = 0
            while read < READ_BURST_PACKETS:
                if rc != mqtt.MQTT_ERR_SUCCESS or sock.buffered == 0 or self._sock is not sock:
                    break
                read += self._read_buffered_publishes(sock) + 1
                if sock.buffered == 0:
                    break
                # The packet the fast path left: another kind, or one cut off at the buffer's end
                # (paho's read of it fills the buffer again).
                rc = super().loop_read(1)
        return rc

    def _read_buffered_publishes(self, sock: BufferedSocket) -> int:
        receive = self.on_publishes_received
        if receive is None or self._in_packet["command"] != 0:
            return 0
        data, start = sock.unconsumed()
        records: list[MessageRecord] = []
        end = read_publishes(data, start, self._protocol == mqtt.MQTTv5, self.broker_id, records)
        if end == start:
            return 0
        sock.consume_to(end)
        with self._msgtime_mutex:
            self._last_bytes_received = mqtt.time_func()  # paho's keepalive clock
        with self._in_callback_mutex:
            receive(records)
        if not self._manual_ack:  # the fast path reads QoS 0 and 1 only
            self.puback_many([record.mid for record in records if record.qos])
        return len(records)

    def puback_many(self, mids: list[int]) -> None:
        """Acknowledge QoS 1 messages with one queued write. paho's ``ack`` queues each 4-byte PUBACK on
        its own, wakes the network thread for it (a system call) and sends it alone (another one)."""
        if mids:
            packet = b"".join([_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids])
            self._packet_queue(mqtt.PUBACK, packet, 0, 1)


class SessionBase:
    """What every session shows, whether it runs here or in the connection process."""

    profile: ConnectionProfile
    _status: SessionStatus
    _connected: threading.Event

    @property
    def status(self) -> SessionStatus:
        return self._status

    @property
    def is_connected(self) -> bool:
        return self._status.state is SessionState.CONNECTED

    @property
    def read_only(self) -> bool:
        return self.profile.read_only

    def wait_connected(self, timeout: float | None = None) -> bool:
        return self._connected.wait(timeout)

    def socket_reading(self) -> SocketReading:
        """How the connection's socket is read: totals since it opened, and what waits unread now (zeros where
        not known)."""
        return NO_READING

    # Every session type implements these three (MqttSession here, RemoteSession in the connection process).
    def subscribe(self, topic_filter: str, qos: int = 0) -> Future:
        raise NotImplementedError

    def unsubscribe(self, topic_filter: str) -> Future:
        raise NotImplementedError

    def publish(
        self,
        topic: str,
        payload: bytes | str = b"",
        qos: int = 0,
        retain: bool = False,
        properties: MessageProperties | None = None,
    ) -> Future:
        raise NotImplementedError

    def publish_many(self, messages: list[OutgoingMessage]) -> Future:
        raise NotImplementedError


def connack_summary(flags, properties: Properties | None) -> dict[str, object]:
    """What the broker said in its CONNACK, as plain names and values (for a connection test)."""
    summary: dict[str, object] = {"SessionPresent": bool(getattr(flags, "session_present", False))}
    if properties is not None:
        for name, value in properties.json().items():
            summary[name] = value
    return summary


# One message to publish: topic, payload, QoS, retain, MQTT 5 properties (None: none).
OutgoingMessage = tuple[str, bytes, int, bool, "MessageProperties | None"]


def failures_when_done(futures: list[Future]) -> Future:
    """One future for many: once every one is done, how many of them failed (an int; it never raises)."""
    combined: Future = Future()
    state = {"remaining": len(futures), "failed": 0}
    lock = threading.Lock()
    if not futures:
        combined.set_result(0)
        return combined

    def one_done(future: Future) -> None:
        failed = future.exception() is not None
        with lock:
            state["remaining"] -= 1
            state["failed"] += failed
            last = state["remaining"] == 0
        if last:
            combined.set_result(state["failed"])

    for future in futures:
        future.add_done_callback(one_done)
    return combined


class MqttSession(SessionBase):
    """A supervised MQTT connection with a subscription registry that survives reconnects."""

    def __init__(
        self,
        profile: ConnectionProfile,
        password: str | None = None,
        buffer: IngestBuffer | None = None,
        session_id: str = "",
        manual_ack: bool = False,
        buffer_messages: bool = True,
    ) -> None:
        self.profile = profile
        self.buffer = buffer if buffer is not None else IngestBuffer(block_when_full=manual_ack)
        if manual_ack and not self.buffer.block_when_full:
            # A dropped record is never acknowledged and never stored: the broker would not resend it.
            raise ValueError("a manual-ack session needs a buffer that blocks when full, never one that drops")
        self.client_id = profile.client_id or unique_client_id()
        self.session_id = session_id or profile.name
        self.manual_ack = manual_ack
        self.buffer_messages = buffer_messages
        self.max_packet_size: int | None = None
        self.connack: dict[str, object] = {}  # the last CONNACK: session present and its MQTT 5 properties
        self.connack_timeout = CONNACK_TIMEOUT
        self._connack_timer: threading.Timer | None = None
        self._connack_timed_out = False
        self._password = password
        self._status = SessionStatus(SessionState.IDLE, since=time.time())
        # Copy-on-write tuples: other threads add and remove while the network thread iterates.
        self._status_listeners: tuple[Callable[[SessionStatus], None], ...] = ()
        self._taps: tuple[Tap, ...] = ()
        self._lock = threading.RLock()
        self._subscriptions: dict[str, int] = {}
        self._suback_waiters: dict[str, list[Future]] = {}
        self._pending_sub_mids: dict[int, list[str]] = {}
        self._pending_unsub: dict[int, Future] = {}
        self._publish_waiters: dict[int, Future] = {}
        self._early_acks: dict[int, object] = {}  # PUBACKs that beat publish() to registering its future
        self._attempt = 0
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._said_goodbye = threading.Event()  # paho wrote DISCONNECT (the socket closes right after)
        self._first_outcome = threading.Event()  # the first attempt connected, failed, or was refused
        self._first_status = self._status
        self._connect_thread: threading.Thread | None = None
        self._loop_running = False
        self._client = self._make_client()

    # ----- set-up -----------------------------------------------------------------
    def _make_client(self) -> _Client:
        p = self.profile
        client = _Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5 if p.mqtt_version == MQTT_V5 else mqtt.MQTTv311,
            transport=p.transport,
            clean_session=None if p.mqtt_version == MQTT_V5 else p.clean_start,
            manual_ack=self.manual_ack,
        )
        client.connect_timeout = CONNECT_TIMEOUT
        client.read_only = p.read_only
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(MAX_INFLIGHT)
        if p.transport == "websockets":
            client.ws_set_options(path=p.ws_path or "/mqtt")
        if p.username:
            client.username_pw_set(p.username, self._password)
        if p.will_topic and not p.read_only:
            client.will_set(p.will_topic, p.will_payload.encode("utf-8"), p.will_qos, p.will_retain)
        self._setup_error = tls_files_problem(p.tls) if p.tls.enabled else ""
        if p.tls.enabled and not self._setup_error:
            client.tls_set(
                ca_certs=p.tls.ca_file or None,
                certfile=p.tls.cert_file or None,
                keyfile=p.tls.key_file or None,
                cert_reqs=ssl.CERT_REQUIRED if p.tls.verify else ssl.CERT_NONE,
            )
            client.tls_insecure_set(not p.tls.verify)
        client.on_connect = self._on_connect
        client.on_pre_connect = self._on_pre_connect
        client.on_socket_open = self._on_socket_open
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message  # paho's own path: QoS 2, and topics that are not UTF-8
        client.on_publish_received = self._on_publish_received
        client.on_publishes_received = self._on_publishes_received
        client.broker_id = self.session_id
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        client.on_publish = self._on_publish
        return client

    # ----- public API -------------------------------------------------------------
    @property
    def subscriptions(self) -> dict[str, int]:
        with self._lock:
            return dict(self._subscriptions)

    def add_status_listener(self, listener: Callable[[SessionStatus], None]) -> None:
        with self._lock:
            self._status_listeners = (*self._status_listeners, listener)

    def add_tap(self, tap: Tap) -> None:
        """Call ``tap(record)`` on the network thread for every message. Keep it cheap."""
        with self._lock:
            self._taps = (*self._taps, tap)

    def remove_tap(self, tap: Tap) -> None:
        with self._lock:
            taps = list(self._taps)
            if tap in taps:
                taps.remove(tap)
                self._taps = tuple(taps)

    def start(self) -> None:
        """Connect in the background; never blocks the caller on DNS, TCP or TLS."""
        if self._connect_thread is not None:
            return
        self._stopping.clear()
        self._client.stop_waiting.clear()
        self._first_outcome.clear()
        if self._setup_error:  # a bad TLS file: no attempt can succeed until the user fixes it
            self._set_status(SessionStatus(SessionState.DISCONNECTED, self._setup_error, since=time.time()))
            return
        self._connect_thread = threading.Thread(target=self._first_connect, name=f"mqtt-connect-{self.session_id}",
                                                daemon=True)
        self._connect_thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Disconnect cleanly and stop the network thread."""
        self._stopping.set()
        self._client.stop_waiting.set()
        self._cancel_connack_timer()
        self._said_goodbye.clear()
        was_connected = self._connected.is_set()
        try:
            self._client.disconnect()
        except Exception:  # not connected: nothing to say goodbye to
            was_connected = False
        if was_connected and self._loop_running:
            self._said_goodbye.wait(min(timeout, GOODBYE_TIMEOUT))
        if self._connect_thread is not None:
            self._connect_thread.join(timeout)
            self._connect_thread = None
        if self._loop_running:
            self._client.loop_stop()
            self._loop_running = False
        self._connected.clear()
        if self._status.state is not SessionState.DISCONNECTED or not self._status.message:
            self._set_status(SessionStatus(SessionState.DISCONNECTED, "disconnected by user", since=time.time()))
        self._fail_waiters(SessionError("Session stopped"))

    def subscribe(self, topic_filter: str, qos: int = 0) -> Future:
        """Add ``topic_filter`` to the registry (re-applied on every connect).

        Returns a future that resolves with the granted QoS when the SUBACK arrives,
        or fails with ``SubscribeError``. Works while connected, with no reconnect.
        """
        validate_filter(topic_filter)
        future: Future = Future()
        with self._lock:
            self._subscriptions[topic_filter] = qos
            self._suback_waiters.setdefault(topic_filter, []).append(future)
            if self.is_connected:
                self._send_subscribe([(topic_filter, qos)])
        return future

    def unsubscribe(self, topic_filter: str) -> Future:
        future: Future = Future()
        with self._lock:
            known = self._subscriptions.pop(topic_filter, None) is not None
            if known and self.is_connected:
                result, mid = self._client.unsubscribe(topic_filter)
                if result == mqtt.MQTT_ERR_SUCCESS:
                    assert mid is not None  # paho returns a packet id with every success
                    self._pending_unsub[mid] = future
                    return future
            future.set_result(None)
        return future

    def publish(
        self,
        topic: str,
        payload: bytes | str = b"",
        qos: int = 0,
        retain: bool = False,
        properties: MessageProperties | None = None,
    ) -> Future:
        """Publish; the future resolves when the broker has it (QoS 1/2) or it is sent (QoS 0)."""
        check_publish(self.profile, topic, qos, self.is_connected)
        data = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
        if self.max_packet_size and len(data) + len(topic) + 64 > self.max_packet_size:
            raise SessionError(f"Payload of {len(data)} bytes exceeds the broker's maximum packet size "
                               f"of {self.max_packet_size} bytes")
        props = to_publish_properties(properties) if self.profile.mqtt_version == MQTT_V5 else None
        future: Future = Future()
        # Not under self._lock: paho holds its own message lock while calling _on_publish, which
        # takes self._lock, so publishing under self._lock deadlocks against a concurrent PUBACK.
        info = self._client.publish(topic, data, qos=qos, retain=retain, properties=props)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise SessionError(f"Publish to {topic!r} failed: {mqtt.error_string(info.rc)}")
        with self._lock:
            early = self._early_acks.pop(info.mid, None)
            if info.is_published() or early is not None:
                if early is not None and getattr(early, "is_failure", False):
                    future.set_exception(SessionError(f"The broker refused the publish: {early}"))
                else:
                    future.set_result(info.mid)
            else:
                self._publish_waiters[info.mid] = future
        return future

    def publish_many(self, messages: list[OutgoingMessage]) -> Future:
        """Publish several at once (a replay's due messages): every one is checked before any is sent. The
        future resolves once all are handed over (QoS 0) or acknowledged, with how many failed."""
        for topic, _payload, qos, _retain, _properties in messages:
            check_publish(self.profile, topic, qos, self.is_connected)
        futures: list[Future] = []
        for message in messages:  # once the first is out, a failure is the combined future's, never a raise
            try:
                futures.append(self.publish(*message))
            except Exception as exc:  # noqa: BLE001 (too large for the broker, or the link went down meanwhile)
                failed: Future = Future()
                failed.set_exception(exc)
                futures.append(failed)
        return failures_when_done(futures)

    def ack_many(self, records: list[MessageRecord]) -> None:
        """Acknowledge QoS>0 messages by hand (only with ``manual_ack``); QoS 1 ones go out as one write.
        Records from another session (its ``session_id``) are not this one's to acknowledge."""
        if not self.manual_ack:
            return
        mine = [record for record in records if record.qos > 0 and record.broker_id == self.session_id]
        self._client.puback_many([record.mid for record in mine if record.qos == 1])
        for record in mine:
            if record.qos == 2:  # answered with PUBCOMP, paho's own, one at a time
                self._client.ack(record.mid, 2)

    # ----- connection supervision ------------------------------------------------------
    def _connect_properties(self) -> Properties | None:
        if self.profile.mqtt_version != MQTT_V5:
            return None
        props = Properties(PacketTypes.CONNECT)
        if self.profile.session_expiry:
            props.SessionExpiryInterval = self.profile.session_expiry
        return props

    def _first_connect(self) -> None:
        p = self.profile
        while not self._stopping.is_set():
            self._attempt += 1
            self._set_status(SessionStatus(SessionState.CONNECTING, f"{p.address}", attempt=self._attempt,
                                           since=time.time()))
            try:
                self._client.connect(
                    p.host, p.port, keepalive=p.keepalive,
                    clean_start=p.clean_start if p.mqtt_version == MQTT_V5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
                    properties=self._connect_properties(),
                )
            except (OSError, ValueError) as exc:
                tls_phase = isinstance(exc, TimeoutError) and getattr(self._client, "tcp_open", False)
                message = (describe_connect_exception(exc, p.host, p.port, tls=p.tls.enabled, timeout=CONNECT_TIMEOUT,
                                                      tcp_open=tls_phase) if isinstance(exc, OSError) else str(exc))
                if isinstance(exc, (ssl.SSLCertVerificationError, FileNotFoundError, ValueError)):
                    # Retrying cannot fix a bad certificate or a bad setting; say so and stop.
                    self._set_status(SessionStatus(SessionState.DISCONNECTED, message, since=time.time()))
                    return
                delay = reconnect_delay(self._attempt)
                self._set_status(SessionStatus(SessionState.RECONNECTING, message, self._attempt, delay, time.time()))
                if self._stopping.wait(delay):
                    return
                continue
            # paho annotates the delays as int but sleeps for them as given: 0.5 s is meant.
            self._client.reconnect_delay_set(
                RECONNECT_BASE_DELAY, RECONNECT_BASE_DELAY)  # pyright: ignore[reportArgumentType]
            self._client.loop_start()
            self._loop_running = True
            return

    def _schedule_paho_reconnect(self, message: str) -> None:
        """paho's loop reconnects by itself; we choose each wait so it has jitter and a cap."""
        if self._stopping.is_set():
            return
        self._attempt += 1
        delay = reconnect_delay(self._attempt)
        # paho annotates the delays as int but sleeps for them as given: a jittered float is meant.
        self._client.reconnect_delay_set(delay, delay)  # pyright: ignore[reportArgumentType]
        self._set_status(SessionStatus(SessionState.RECONNECTING, message, self._attempt, delay, time.time()))

    def socket_reading(self) -> SocketReading:
        sock = self._client._sock  # read once: the network thread replaces it on a reconnect
        return sock.reading() if isinstance(sock, BufferedSocket) else NO_READING

    @property
    def tcp_open(self) -> bool:
        """Whether the current attempt's TCP connection is open (False while the handshake gets no answer)."""
        return self._client.tcp_open

    def wait_first_outcome(self, timeout: float | None = None) -> bool:
        """Wait until the first connection attempt connects (True) or fails (False; ``status`` says why).

        Also False on timeout, with the status still CONNECTING. For a command line that, like
        ``mosquitto_sub``, reports the first failure instead of retrying.
        """
        self._first_outcome.wait(timeout)
        return self.is_connected

    @property
    def first_status(self) -> SessionStatus:
        """The status the first attempt ended in (the current one until then): later retries overwrite ``status``."""
        return self._first_status if self._first_outcome.is_set() else self._status

    def _set_status(self, status: SessionStatus) -> None:
        self._status = status
        if (status.state in (SessionState.CONNECTED, SessionState.RECONNECTING, SessionState.DISCONNECTED)
                and not self._first_outcome.is_set()):
            self._first_status = status
            self._first_outcome.set()
        for listener in self._status_listeners:
            try:
                listener(status)
            except Exception:
                log.exception("status listener failed")

    # ----- paho callbacks (network thread) ----------------------------------------------
    def _on_pre_connect(self, client, userdata) -> None:
        client.last_socket_error = None
        self._connack_timed_out = False
        self._cancel_connack_timer()

    def _on_socket_open(self, client, userdata, sock) -> None:
        # The CONNACK wait starts once TCP (and TLS) are up: a host that never answers the handshake is
        # the connect timeout's, with its own message, not "no MQTT answer".
        self._cancel_connack_timer()
        timer = threading.Timer(self.connack_timeout, self._on_connack_timeout)
        timer.daemon = True
        self._connack_timer = timer
        timer.start()

    def _cancel_connack_timer(self) -> None:
        timer, self._connack_timer = self._connack_timer, None
        if timer is not None:
            timer.cancel()

    def _on_connack_timeout(self) -> None:
        """No CONNACK in time: drop the socket so paho's loop reconnects (with our back-off)."""
        if self._connected.is_set() or self._stopping.is_set():
            return
        self._connack_timed_out = True
        sock = self._client.socket()
        if sock is not None:
            try:
                # paho's SocketLike protocol omits shutdown(); the sockets it hands back have it.
                sock.shutdown(socket.SHUT_RDWR)  # pyright: ignore[reportAttributeAccessIssue]
            except OSError:
                pass

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self._cancel_connack_timer()
        if reason_code.is_failure:
            message = describe_connack(reason_code.value, str(reason_code), self.profile.mqtt_version)
            if reason_code.value in FATAL_CONNACK_CODES:
                self._stopping.set()
                self._set_status(SessionStatus(SessionState.DISCONNECTED, message, since=time.time()))
                client.disconnect()
                self._fail_waiters(SessionError(message))
            else:
                self._schedule_paho_reconnect(message)
            return
        self._attempt = 0
        self._disable_nagle(client)
        if properties is not None and hasattr(properties, "MaximumPacketSize"):
            self.max_packet_size = int(properties.MaximumPacketSize)
        self.connack = connack_summary(flags, properties)
        with self._lock:
            # Status first, so a subscribe() racing with us sends its own packet only once.
            self._set_status(SessionStatus(SessionState.CONNECTED, self.profile.address, since=time.time()))
            if self._subscriptions:
                self._send_subscribe(list(self._subscriptions.items()))
        self._connected.set()

    @staticmethod
    def _disable_nagle(client: mqtt.Client) -> None:
        """paho leaves Nagle on, which holds back small packets: ~40 ms per QoS 1 round trip."""
        sock = client.socket()
        if sock is None:  # a closed socket: nothing to tune
            return
        try:
            # paho's SocketLike protocol omits setsockopt(); a websockets wrapper may lack it (caught below).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # pyright: ignore[reportAttributeAccessIssue]
        except (AttributeError, OSError):  # websockets wrapper or a closed socket: leave it
            pass

    def _on_connect_fail(self, client, userdata) -> None:
        self._connected.clear()
        p = self.profile
        error = getattr(client, "connect_error", None)
        if error is not None:
            message = describe_connect_exception(error, p.host, p.port, tls=p.tls.enabled, timeout=CONNECT_TIMEOUT)
        elif getattr(client, "tcp_open", False) and p.tls.enabled:
            message = f"connected to {p.host}:{p.port}, but the TLS handshake failed or got no answer"
        else:
            message = f"cannot reach {p.host}:{p.port}"
        self._schedule_paho_reconnect(message)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._said_goodbye.set()
        was_connected = self._connected.is_set()
        self._connected.clear()
        if self._stopping.is_set():
            return
        where = f"{self.profile.host}:{self.profile.port}"
        received_error = client.last_socket_error  # paho may report one failure twice: keep it for both
        if was_connected:
            reason = "connection lost"
        elif received_error is not None:
            reason = describe_socket_error(received_error, self.profile.host, self.profile.port,
                                           client_certificate=bool(self.profile.tls.cert_file))
        else:
            reason = f"{where} closed the connection without an MQTT answer (is this an MQTT port? TLS vs plain?)"
        if self._connack_timed_out:
            self._connack_timed_out = False
            reason = describe_silent_peer(self.profile.host, self.profile.port, self.connack_timeout)
        if reason_code is not None and reason_code.value not in (0, 7) and str(reason_code) != "Unspecified error":
            reason = f"{reason} ({reason_code})"
        self._schedule_paho_reconnect(reason)

    def _on_publish_received(self, topic: str, payload: bytes, qos: int, retain: bool, properties: MessageProperties,
                             mid: int, dup: bool) -> None:
        self._keep(MessageRecord(topic, payload, qos, retain, time.time(), time.monotonic(), properties,
                                 self.session_id, mid, dup))

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        self._keep(MessageRecord(
            topic=message.topic,
            # paho types it bytes | bytearray, but a received payload comes from struct.unpack: always bytes.
            payload=message.payload,  # pyright: ignore[reportArgumentType]
            qos=message.qos,
            retain=bool(message.retain),
            received=time.time(),
            received_mono=time.monotonic(),
            properties=to_message_properties(getattr(message, "properties", None)),
            broker_id=self.session_id,
            mid=message.mid,
            dup=bool(message.dup),
        ))

    def _on_publishes_received(self, records: list[MessageRecord]) -> None:
        taps = self._taps
        if taps:
            for record in records:
                for tap in taps:
                    try:
                        tap(record)
                    except Exception:
                        log.exception("message tap failed")
        if not self.buffer_messages:
            return
        if self.buffer.block_when_full:  # the audit's session: wait for room, never drop
            for record in records:
                self.buffer.append(record)
        else:
            self.buffer.extend(records)

    def _keep(self, record: MessageRecord) -> None:
        for tap in self._taps:
            try:
                tap(record)
            except Exception:
                log.exception("message tap failed")
        if self.buffer_messages:
            self.buffer.append(record)

    def _send_subscribe(self, items: list[tuple[str, int]]) -> None:
        if self.profile.mqtt_version == MQTT_V5:
            # Retain as published: a retained message published while we watch keeps its flag, so the
            # tree can show it as retained (by default brokers clear the flag on live copies).
            request = [(f, SubscribeOptions(qos=q, retainAsPublished=True)) for f, q in items]
        else:
            request = [(f, q) for f, q in items]
        result, mid = self._client.subscribe(request)
        if result == mqtt.MQTT_ERR_SUCCESS:
            assert mid is not None  # paho returns a packet id with every success
            self._pending_sub_mids[mid] = [f for f, _ in items]

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._lock:
            filters = self._pending_sub_mids.pop(mid, [])
            for topic_filter, code in zip(filters, reason_codes):
                for future in self._suback_waiters.pop(topic_filter, []):
                    if future.done():
                        continue
                    if code.is_failure:
                        future.set_exception(SubscribeError("The broker refused the subscription to "
                                                            f"{topic_filter!r}: {code}"))
                    else:
                        future.set_result(code.value)
                if code.is_failure:
                    self._subscriptions.pop(topic_filter, None)

    def _on_unsubscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._lock:
            future = self._pending_unsub.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            future = self._publish_waiters.pop(mid, None)
            if future is None:
                self._early_acks[mid] = reason_code if reason_code is not None else True
        if future is not None and not future.done():
            if reason_code is not None and reason_code.is_failure:
                future.set_exception(SessionError(f"The broker refused the publish: {reason_code}"))
            else:
                future.set_result(mid)

    def _fail_waiters(self, error: Exception) -> None:
        with self._lock:
            waiters = [f for fs in self._suback_waiters.values() for f in fs]
            waiters += list(self._pending_unsub.values()) + list(self._publish_waiters.values())
            self._suback_waiters.clear()
            self._pending_unsub.clear()
            self._publish_waiters.clear()
        for future in waiters:
            if not future.done():
                future.set_exception(error)
