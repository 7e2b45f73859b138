"""A bench publisher client: pre-encoded PUBLISH packets, sent in pre-joined chunks.

Before the clock starts, each client encodes one chunk of packets (its topics round robin, the
bench header and filler in each payload). For every send it only rewrites each packet's sequence
number and send time in place (and its packet id at QoS 1/2) and hands the whole chunk to one
``sendall``. At a fixed rate, chunks go out in 10 ms slots, each with the messages due by the slot's
end; flat out, chunk after chunk.

One thread per client does everything, acknowledgements included (QoS 1/2 keep at most a window
of messages in flight, as the broker's Receive Maximum allows): one thread per socket is also
what a TLS socket needs.

Where the time goes is kept (sending, waiting for the broker, pacing, the rest), so a run that
misses its rate can say whether the publisher's CPU or the broker and network held it back.
"""

from __future__ import annotations

import math
import select
import threading
import time
from dataclasses import dataclass, field

from eventscope.core.bench.header import HEADER_SIZE, SEQUENCE_AT, bench_payload
from eventscope.core.bench.latency import LatencyRecorder
from eventscope.core.mqtt.packet_codec import (
    DISCONNECT,
    PINGREQ_PACKET,
    PINGRESP,
    PUBACK,
    PUBCOMP,
    PUBREC,
    PUBREL,
    Packet,
    PacketReader,
    encode_ack,
    encode_publish,
    reason_of,
)
from eventscope.core.mqtt.raw_link import Link

SLOT_SECONDS = 0.010  # pacing granularity at a fixed rate
FLAT_OUT_CHUNK = 2_000  # packets per sendall when running flat out
CHUNK_BYTES = 1 << 20  # ... but no chunk above this many bytes
QOS_WINDOW = 1_000  # QoS 1/2 messages in flight at once (fewer if the broker's Receive Maximum says so)
ACK_WAIT_SECONDS = 10.0  # for the last acknowledgements, then the PINGRESP that follows everything
POLL_SECONDS = 0.25


def expected_interval(rate: float) -> float:
    """Seconds between a sender's sends at ``rate`` msg/s: a slot, or longer when slots go empty."""
    return max(SLOT_SECONDS, 1.0 / rate) if rate > 0 else 0.0


@dataclass(frozen=True)
class PublisherPlan:
    """What one client sends. ``rate`` 0 is flat out; ``count`` None and ``seconds`` None: until stopped."""

    publisher: str  # the header's 8-hex-digit id
    topics: tuple[str, ...]  # round robin over messages
    size: int
    qos: int = 0
    retain: bool = False
    mqtt_version: int = 5
    rate: float = 0.0
    count: int | None = None
    seconds: float | None = None
    topic_offset: int = 0  # where in ``topics`` message 0 starts

    def __post_init__(self) -> None:
        if self.size < HEADER_SIZE:
            raise ValueError(f"the payload size must be at least {HEADER_SIZE} bytes (the bench header)")
        if not self.topics:
            raise ValueError("a publisher needs a topic")


@dataclass
class PublisherStats:
    """Counters the sending thread updates; others only read them."""

    sent: int = 0  # handed to the socket
    completed: int = 0  # QoS 1/2: acknowledged (PUBACK, or PUBCOMP)
    refused: int = 0  # QoS 1/2: acknowledged with a failure reason code
    started: float = 0.0  # perf_counter of the first send
    finished: float = 0.0  # perf_counter after the last send
    send_seconds: float = 0.0  # inside sendall: copying out, and blocked while the broker did not read
    window_seconds: float = 0.0  # QoS 1/2: waiting for acknowledgements to free the window
    pacing_seconds: float = 0.0  # waiting for the next slot (nothing due)
    cpu_seconds: float = 0.0  # the sending thread's CPU time
    max_lag: float = 0.0  # how far behind its schedule the sender fell at worst (fixed rate)
    error: str = ""
    acks: LatencyRecorder = field(default_factory=LatencyRecorder)  # publish to acknowledgement (QoS 1/2)

    @property
    def elapsed(self) -> float:
        return max(0.0, self.finished - self.started)

    @property
    def busy_seconds(self) -> float:
        """Time the publisher spent in its own code (encoding, bookkeeping, waiting for the GIL)."""
        return max(0.0, self.elapsed - self.send_seconds - self.window_seconds - self.pacing_seconds)

    @property
    def blocked_seconds(self) -> float:
        """Time spent waiting for the broker: in sendall, or for acknowledgements."""
        return self.send_seconds + self.window_seconds


class _ChunkTemplate:
    """``capacity`` encoded packets whose topics start at one place of the round robin."""

    def __init__(self, plan: PublisherPlan, first_topic: int, capacity: int, interval_us: int) -> None:
        self.buffer = bytearray()
        self.fields: list[int] = []  # where each packet's sequence number starts (the send time follows it)
        self.ids: list[int] = []  # where each packet's packet id sits (QoS 1/2)
        self.ends: list[int] = []  # where each packet ends
        payload = bench_payload(plan.publisher, 0, 0, interval_us, plan.size)
        topics = [t.encode("utf-8") for t in plan.topics]
        for k in range(capacity):
            topic = topics[(first_topic + k) % len(topics)]
            packet, id_at, payload_at = encode_publish(topic, payload, plan.qos, plan.retain, plan.mqtt_version)
            base = len(self.buffer)
            self.fields.append(base + payload_at + SEQUENCE_AT)
            self.ids.append(base + id_at)
            self.buffer += packet
            self.ends.append(len(self.buffer))


def chunk_capacity(plan: PublisherPlan, window: int) -> int:
    """Packets in one chunk: a slot's worth at a fixed rate, else a flat-out chunk; never above the byte cap."""
    per_slot = math.ceil(plan.rate * SLOT_SECONDS) if plan.rate > 0 else FLAT_OUT_CHUNK
    packet_bytes = plan.size + 2 * max(len(t) for t in plan.topics) + 16
    capacity = max(1, min(per_slot, CHUNK_BYTES // packet_bytes))
    if plan.qos:
        capacity = max(1, min(capacity, window // 2))
    return capacity


class PublisherClient:
    """Sends one plan over one connected ``Link``, in its own thread (``start``, then ``join``)."""

    def __init__(self, link: Link, plan: PublisherPlan, stop: threading.Event) -> None:
        self.link = link
        self.plan = plan
        self.stats = PublisherStats()
        self._stop = stop
        self._go = threading.Event()
        self._ready = threading.Event()
        self.window = min(QOS_WINDOW, max(1, link.receive_maximum)) if plan.qos else 0
        self.capacity = chunk_capacity(plan, self.window)
        self.interval_us = round(expected_interval(plan.rate) * 1e6)
        self._templates: dict[int, _ChunkTemplate] = {}
        self._reader = PacketReader()
        self._sent_ns = [0] * 65536  # by packet id: when it was sent (QoS 1/2 acknowledgement latency)
        self._pingresp = False
        self._thread = threading.Thread(target=self._run, name=f"bench-pub-{plan.publisher}", daemon=True)

    # ----- control -------------------------------------------------------------------
    def prepare(self) -> None:
        """Encode the first chunk before the clock starts (the rest of the round robin comes on demand)."""
        self._template(0)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    # ----- the sending thread -----------------------------------------------------------------
    def _template(self, first_seq: int) -> _ChunkTemplate:
        first_topic = (self.plan.topic_offset + first_seq) % len(self.plan.topics)
        template = self._templates.get(first_topic)
        if template is None:
            template = self._templates[first_topic] = _ChunkTemplate(self.plan, first_topic, self.capacity,
                                                                     self.interval_us)
        return template

    def _run(self) -> None:
        cpu_start = time.thread_time()
        try:
            self._send_all()
            if not self.stats.error:
                self._finish()
        except OSError as exc:
            self._lost(exc)
        finally:
            if not self.stats.finished:
                self.stats.finished = time.perf_counter()
            self.stats.cpu_seconds = time.thread_time() - cpu_start
            self.link.close(say_goodbye=not self.stats.error)

    def _send_all(self) -> None:
        plan, stats = self.plan, self.stats
        rate = plan.rate
        total = plan.count
        start = stats.started = time.perf_counter()
        deadline = start + plan.seconds if plan.seconds else math.inf
        sent = 0
        while not self._stop.is_set():
            now = time.perf_counter()
            if now >= deadline or (total is not None and sent >= total):
                break
            if rate > 0:
                slot_end = (math.floor((now - start) / SLOT_SECONDS) + 1) * SLOT_SECONDS
                due = math.ceil(slot_end * rate)  # messages due before the next slot
                if total is not None:
                    due = min(due, total)
                count = due - sent
                if count <= 0:  # nothing due before the next slot: sleep until the slot of the next message
                    next_slot = math.floor((sent / rate) / SLOT_SECONDS) * SLOT_SECONDS
                    wake = start + max(slot_end, next_slot)
                    self._wait_for_acks(min(wake, deadline) - now, pacing=True)
                    continue
                stats.max_lag = max(stats.max_lag, now - (start + sent / rate))
            else:
                count = self.capacity if total is None else total - sent
            count = min(count, self.capacity)
            if plan.qos:
                count = self._window_room(count, deadline)
                if count <= 0:
                    continue
            self._send_chunk(sent, count)
            sent += count
            stats.sent = sent
            if plan.qos:
                self._read_ready(0.0)
        stats.finished = time.perf_counter()

    def _send_chunk(self, first_seq: int, count: int) -> None:
        template = self._template(first_seq)
        buffer = template.buffer
        sent_ns = time.time_ns()
        stamp = b"%019d" % sent_ns
        for at, seq in zip(template.fields, range(first_seq, first_seq + count)):
            buffer[at:at + 29] = b"%010d" % seq + stamp
        if self.plan.qos:
            times = self._sent_ns
            for at, seq in zip(template.ids, range(first_seq, first_seq + count)):
                packet_id = seq % 65535 + 1
                buffer[at:at + 2] = packet_id.to_bytes(2, "big")
                times[packet_id] = sent_ns
        before = time.perf_counter()
        self.link.send(memoryview(buffer)[:template.ends[count - 1]])
        self.stats.send_seconds += time.perf_counter() - before

    def _window_room(self, wanted: int, deadline: float) -> int:
        """How many more QoS 1/2 messages may go out now; waits for acknowledgements while none may."""
        stats = self.stats
        while not self._stop.is_set() and not stats.error:
            room = self.window - (stats.sent - stats.completed)
            if room > 0:
                return min(wanted, room)
            now = time.perf_counter()
            if now >= deadline:
                return 0
            before = now
            self._read_ready(min(POLL_SECONDS, deadline - now))
            stats.window_seconds += time.perf_counter() - before
        return 0

    def _wait_for_acks(self, seconds: float, pacing: bool = False) -> None:
        """Sleep ``seconds`` while reading whatever the broker sends (acknowledgements, PINGRESP)."""
        if seconds <= 0:
            return
        before = time.perf_counter()
        end = before + seconds
        while not self._stop.is_set():
            left = end - time.perf_counter()
            if left <= 0:
                break
            self.link.ping_if_idle()
            self._read_ready(left)
        if pacing:
            self.stats.pacing_seconds += time.perf_counter() - before

    def _read_ready(self, timeout: float) -> None:
        """Read and handle what the broker sent, waiting at most ``timeout`` for something to arrive."""
        sock = self.link.sock
        pending = getattr(sock, "pending", None)  # TLS may hold decrypted bytes select() cannot see
        if not (pending and pending()):
            readable, _, _ = select.select([sock], [], [], max(0.0, timeout))
            if not readable:
                return
        data = sock.recv(65536)
        if not data:
            raise ConnectionResetError("the broker closed the connection")
        for packet in self._reader.feed(data):
            self._handle(packet)

    def _handle(self, packet: Packet) -> None:
        stats = self.stats
        kind = packet.kind
        if kind in (PUBACK, PUBREC, PUBCOMP):
            packet_id = int.from_bytes(packet.body[:2], "big")
            refused = reason_of(packet) >= 0x80
            if kind == PUBREC and not refused:
                self.link.send(encode_ack(PUBREL, packet_id))
                return
            stats.completed += 1
            if refused:
                stats.refused += 1
            else:
                latency_us = (time.time_ns() - self._sent_ns[packet_id]) // 1000
                stats.acks.record(latency_us, self.interval_us)
        elif kind == PINGRESP:
            self._pingresp = True
        elif kind == DISCONNECT:
            reason = packet.body[0] if packet.body else 0
            raise ConnectionAbortedError(f"the broker disconnected the publisher (reason code {reason:#04x})")

    def _finish(self) -> None:
        """Wait for the last acknowledgements, then for a PINGRESP: the broker answers it only after
        reading everything sent before it, so nothing is lost by disconnecting then."""
        stats = self.stats
        deadline = time.perf_counter() + ACK_WAIT_SECONDS
        waiting = self.plan.qos > 0
        while waiting and stats.completed < stats.sent and time.perf_counter() < deadline and not self._stop.is_set():
            self._read_ready(min(POLL_SECONDS, deadline - time.perf_counter()))
        if waiting and stats.completed < stats.sent:
            stats.error = (f"{stats.sent - stats.completed} messages were not acknowledged within "
                           f"{ACK_WAIT_SECONDS:g} s")
            return
        self._pingresp = False
        self.link.send(PINGREQ_PACKET)
        deadline = time.perf_counter() + ACK_WAIT_SECONDS
        while not self._pingresp and time.perf_counter() < deadline:
            self._read_ready(min(POLL_SECONDS, deadline - time.perf_counter()))

    def _lost(self, exc: OSError) -> None:
        reason = exc.strerror or str(exc) or type(exc).__name__
        self.stats.error = (f"lost the connection to {self.link.profile.address} after {self.stats.sent} "
                            f"messages: {reason}")
