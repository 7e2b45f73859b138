"""A replay's sends from a child process of its own, written straight to the socket.

Through the window's connection a replay went about 3,200 msg/s on a 20,000 msg/s schedule: every
message was handed to the connection process, built by paho there (tens of microseconds each) and
sent beside everything that process receives. Here a spawned child opens its own connection to the
target (``raw_link``: plain or TLS, the broker's profile and password), encodes each PUBLISH once
with its MQTT 5 properties (``packet_codec``), and writes every message that is due in one
``sendall``. It keeps the schedule itself, so the parent only reads progress: each batch's first
item, count and send time (``time.monotonic``, one clock for every process on the machine), a few
times a second. QoS 1 and 2 are acknowledged within the broker's receive maximum.

``stop`` is one message on the pipe; the child stops before its next batch. If the parent goes
(even kill -9), the child sees the pipe close and stops.
"""

from __future__ import annotations

import multiprocessing
import select
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from eventscope.core.child_stop import ask_to_stop, stop_when_told
from eventscope.core.mqtt.packet_codec import (
    PUBACK,
    PUBCOMP,
    PUBREC,
    PUBREL,
    PacketReader,
    encode_ack,
    encode_publish,
)
from eventscope.core.mqtt.publish_properties import encode_publish_properties
from eventscope.core.mqtt.raw_link import Link, LinkConnectError, open_link
from eventscope.core.profile import MQTT_V5, ConnectionProfile
from eventscope.core.records import MessageProperties

REPORT_SECONDS = 0.05  # how often the child reports what it sent
MAX_BATCH = 1_000  # messages due at once that go in one write
POLL_SECONDS = 0.02  # the longest the child waits before it looks at a stop again
ACK_STALL_SECONDS = 30.0  # at the end: this long without an acknowledgement and the wait ends
WINDOW_V311 = 1_000  # QoS 1/2 messages in flight on MQTT 3.1.1, which has no receive maximum
CONNECT_TIMEOUT = 10.0
JOIN_SECONDS = 5.0
TRANSFER_CHUNK = 2_000  # messages a pipe message carries to the child


@dataclass(frozen=True, slots=True)
class WireMessage:
    """One message as the child sends it, at ``offset`` seconds after the first (before the speed)."""

    topic: str
    payload: bytes
    qos: int
    properties: bytes  # MQTT 5's properties section, length first
    offset: float


# What the parent hands over per message: (topic, payload, qos, plain properties, recorded time), plain
# tuples that pickle in C; a replay's plan builds them ahead. The child encodes the properties: done in the
# window's process for 200k messages as a replay started, that work held the interpreter lock against the
# GUI thread for most of a second.
OutgoingWire = tuple


def outgoing(topic: str, payload: bytes, qos: int, properties: MessageProperties, received: float) -> OutgoingWire:
    plain = (properties.response_topic, properties.correlation_data, properties.content_type,
             properties.payload_format_indicator, properties.message_expiry_interval, properties.user_properties)
    return topic, payload, qos, plain, received


def wire_message(fields: OutgoingWire, first_received: float) -> WireMessage:
    topic, payload, qos, plain, received = fields
    return WireMessage(topic, payload, qos, encode_publish_properties(MessageProperties(*plain)),
                       received - first_received)


@dataclass
class SendProgress:
    """What the child reported so far: ``sent`` runs of (first index, count, monotonic send time)."""

    started: float | None = None  # the child's monotonic clock when the schedule began
    sent: list[tuple[int, int, float]] = field(default_factory=list)
    done: bool = False
    undelivered: int = 0  # QoS 1/2 messages the broker did not acknowledge (refused, or the link went)
    error: str | None = None


class _Sender:
    """The child's side: the schedule, the socket and the acknowledgements."""

    def __init__(self, link: Link, messages: Sequence[WireMessage], speed: float | None, retain: bool,
                 stop: threading.Event, report) -> None:
        self.link, self.messages, self.speed, self.retain = link, messages, speed, retain
        self.stop, self.report = stop, report
        self.version = link.profile.mqtt_version
        self.window = link.receive_maximum if self.version == MQTT_V5 else WINDOW_V311
        self.free_ids = list(range(min(self.window, 65535), 0, -1))
        self.in_flight: dict[int, int] = {}  # packet id -> QoS
        self.reader = PacketReader()
        self.undelivered = 0
        self.pending_report: list[tuple[int, int, float]] = []
        self.last_report = time.monotonic()

    def run(self) -> None:
        start = time.monotonic()
        self.report(("started", start))
        index, total = 0, len(self.messages)
        while index < total and not self.stop.is_set():
            due = start + self.messages[index].offset / self.speed if self.speed is not None else 0.0
            wait = due - time.monotonic()
            if wait > 0:
                self._read_acks(min(wait, POLL_SECONDS))
                continue
            index = self._send_due(index, start)
            self._report_if_due()
        self.flush_report()
        self._wait_for_acks()

    def _send_due(self, index: int, start: float) -> int:
        """Every message due now (up to a batch, and the flight window), in one write; the next index."""
        now = time.monotonic()
        chunks: list[bytes] = []
        first = index
        while index < len(self.messages) and index - first < MAX_BATCH:
            message = self.messages[index]
            if self.speed is not None and start + message.offset / self.speed > now:
                break
            packet_id = 0
            if message.qos:
                if not self.free_ids:
                    break  # the broker's receive maximum: wait for acknowledgements first
                packet_id = self.free_ids.pop()
                self.in_flight[packet_id] = message.qos
            packet, _, _ = encode_publish(message.topic.encode("utf-8"), message.payload, message.qos, self.retain,
                                          self.version, packet_id or 1, message.properties)
            chunks.append(packet)
            index += 1
        if chunks:
            self.link.send(b"".join(chunks))
            self.pending_report.append((first, len(chunks), time.monotonic()))
        else:
            self._read_acks(POLL_SECONDS)
        return index

    def _read_acks(self, timeout: float) -> None:
        sock = self.link.sock
        buffered = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0  # decrypted already: select cannot see it
        readable = buffered or select.select([sock], [], [], max(0.0, timeout))[0]
        if not readable:
            self.link.ping_if_idle()
            return
        data = self.link.sock.recv(65536)
        if not data:
            raise ConnectionError("the broker closed the connection")
        for packet in self.reader.feed(data):
            if len(packet.body) < 2:
                continue
            packet_id = int.from_bytes(packet.body[:2], "big")
            failed = len(packet.body) > 2 and packet.body[2] >= 0x80  # MQTT 5: a reason code of failure
            if packet.kind == PUBREC and not failed:
                self.link.send(encode_ack(PUBREL, packet_id))
                continue
            if packet.kind in (PUBACK, PUBREC, PUBCOMP) and packet_id in self.in_flight:
                del self.in_flight[packet_id]
                self.free_ids.append(packet_id)
                self.undelivered += failed

    def _report_if_due(self) -> None:
        if time.monotonic() - self.last_report >= REPORT_SECONDS:
            self.flush_report()

    def flush_report(self) -> None:
        if self.pending_report:
            self.report(("sent", self.pending_report))
            self.pending_report = []
        self.last_report = time.monotonic()

    def _wait_for_acks(self) -> None:
        last_progress = time.monotonic()
        while self.in_flight and time.monotonic() - last_progress < ACK_STALL_SECONDS and not self.stop.is_set():
            before = len(self.in_flight)
            self._read_acks(POLL_SECONDS)
            if len(self.in_flight) < before:
                last_progress = time.monotonic()
        self.undelivered += len(self.in_flight)


def sender_child_main(pipe: Connection, profile: ConnectionProfile, password: str | None, client_id: str) -> None:
    """The child: take the messages (in chunks), connect, send on schedule, report; stop when told or orphaned."""
    messages: list[WireMessage] = []
    first_received: float | None = None  # the schedule's zero: the first message's recorded time
    try:
        while True:
            received = pipe.recv()
            if received == "stop":
                return
            if received[0] == "go":
                _, speed, retain = received
                break
            if first_received is None and received[1]:
                first_received = received[1][0][4]
            messages.extend(wire_message(fields, first_received or 0.0) for fields in received[1])
    except (EOFError, OSError):  # the parent went before the start
        return
    stop = threading.Event()
    lock = threading.Lock()

    def report(message) -> None:
        with lock:
            pipe.send(message)

    stop_when_told(pipe, stop.set, "replay-sender-stop")
    try:
        link = open_link(profile, password, client_id, CONNECT_TIMEOUT)
    except LinkConnectError as exc:
        report(("done", 0, str(exc)))
        return
    sender = _Sender(link, messages, speed, retain, stop, report)
    error = None
    try:
        sender.run()
    except OSError as exc:  # the link went: what was not acknowledged counts as undelivered
        sender.flush_report()
        sender.undelivered += len(sender.in_flight)
        error = f"the connection to {profile.address} was lost ({exc})"
    finally:
        link.close(say_goodbye=error is None)
    try:
        report(("done", sender.undelivered, error))
    except OSError:
        pass


class WireSenderProcess:
    """Sends ``messages`` from a spawned child (see the module's docstring); ``take`` reads its progress."""

    def __init__(self, profile: ConnectionProfile, password: str | None, client_id: str) -> None:
        if profile.read_only:
            raise PermissionError(f"{profile.name} is read-only: a replay cannot publish to it")
        if profile.transport != "tcp":
            raise ValueError("the replay sender speaks MQTT over TCP (or TLS)")
        self.profile, self.password, self.client_id = profile, password, client_id
        self.progress = SendProgress()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pipe: Connection | None = None
        self._process = None

    def start(self, messages: Sequence[OutgoingWire], speed: float | None, retain: bool) -> WireSenderProcess:
        ctx = multiprocessing.get_context("spawn")  # never fork a process with Qt's and paho's threads
        self._pipe, child_end = ctx.Pipe(duplex=True)
        self._process = ctx.Process(target=sender_child_main,
                                    args=(child_end, self.profile, self.password, self.client_id),
                                    name=f"eventscope-replay-{self.client_id}", daemon=True)
        self._process.start()
        child_end.close()
        # In chunks: one pickle of 200k messages would hold the interpreter lock (and the window's GUI
        # thread) for a long moment.
        for first in range(0, len(messages), TRANSFER_CHUNK):
            self._pipe.send(("messages", messages[first:first + TRANSFER_CHUNK]))
            time.sleep(0)  # lets a waiting thread (the GUI's) take the interpreter between chunks
        self._pipe.send(("go", speed, retain))
        threading.Thread(target=self._receive, name=f"replay-sender-{self.client_id}", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop before the next batch: returns at once."""
        if not self.progress.done:
            ask_to_stop(self._pipe, self._lock)

    def take(self, timeout: float) -> tuple[float | None, list[tuple[int, int, float]], bool]:
        """Wait up to ``timeout`` for news; (the schedule's start, the runs sent since the last take, done)."""
        with self._changed:
            if not self.progress.sent and not self.progress.done:
                self._changed.wait(timeout)
            sent, self.progress.sent = self.progress.sent, []
            return self.progress.started, sent, self.progress.done

    def _receive(self) -> None:
        assert self._pipe is not None and self._process is not None
        try:
            while True:
                message = self._pipe.recv()
                with self._changed:
                    if message[0] == "started":
                        self.progress.started = message[1]
                    elif message[0] == "sent":
                        self.progress.sent.extend(message[1])
                    else:
                        _, self.progress.undelivered, self.progress.error = message
                        self.progress.done = True
                    self._changed.notify_all()
                if self.progress.done:
                    break
        except (EOFError, OSError):
            with self._changed:
                if not self.progress.done:
                    self.progress.error = self.progress.error or "the replay's sending process ended unexpectedly"
                    self.progress.done = True
                self._changed.notify_all()
        self._process.join(JOIN_SECONDS)
        self._pipe.close()
