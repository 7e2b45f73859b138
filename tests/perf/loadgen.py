"""A load generator that outruns every subscriber it measures.

It runs in its own process, speaks MQTT 3.1.1 over a plain socket, and pre-encodes every
PUBLISH packet before the clock starts; during the run it only calls ``sendall`` on large
pre-joined chunks, paced in 10 ms slots (or flat out). Each payload starts with a 10-digit
sequence number, so a subscriber can count exactly what it lost.

    gen = LoadGenerator(port, topics=request_topics(), count=600_000, rate=20_000, qos=1)
    gen.start(); gen.wait()
    gen.sent, gen.started_at, gen.finished_at

For a long run (a soak), ``batch_seconds`` encodes that many seconds of packets at a time on a
thread of the generator, ahead of the ones being sent, so its memory stays bounded; ``kind="churn"``
sends every message on a topic never used before (``churn_topic``).
"""

from __future__ import annotations

import multiprocessing
import queue
import socket
import struct
import threading
import time
from collections.abc import Iterator

from eventscope.core.mqtt.publish_properties import variable_int

SLOT_SECONDS = 0.010  # pacing granularity
CHUNK_PACKETS = 2_000  # packets joined into one sendall when running flat out
SEQ_DIGITS = 10
REGIONS = ("us-east", "us-west", "eu-central", "ap-south")


def request_topics(regions=REGIONS) -> list[str]:
    """The seed's traffic: requests from every region."""
    return [f"{region}/hello/request" for region in regions]


def telemetry_topics(count: int = 2_000, regions=REGIONS) -> list[str]:
    return [f"{regions[i % len(regions)]}/telemetry/device-{i:05d}/temp" for i in range(count)]


def churn_topic(n: int, regions=REGIONS) -> str:
    """The n-th topic of a churn load: devices that appear once and are never seen again."""
    return f"churn/{regions[n % len(regions)]}/device-{n:09d}/temp"


SPARKPLUG_DEVICES = 100
SPARKPLUG_METRICS = 10


def sparkplug_topics(devices: int = SPARKPLUG_DEVICES) -> list[str]:
    """DDATA topics of one edge node per region and its devices, as an industrial flood has them."""
    return [f"spBv1.0/plant-{REGIONS[i % len(REGIONS)]}/DDATA/edge-{i % 4}/device-{i:03d}" for i in range(devices)]


def sparkplug_births(devices: int = SPARKPLUG_DEVICES) -> list[tuple[str, bytes]]:
    """One DBIRTH per device naming its metrics and their aliases: what DDATA by alias needs first."""
    from eventscope.core.sparkplug.payload import MetricValue, encode_payload

    births = []
    for topic in sparkplug_topics(devices):
        metrics = [MetricValue(0.0, "Double", name=f"line/sensor-{m}", alias=m + 1) for m in range(SPARKPLUG_METRICS)]
        births.append((topic.replace("/DDATA/", "/DBIRTH/"), encode_payload(metrics, seq=0)))
    return births


def _sparkplug_payloads(topics: list[str], count: int, first: int = 0) -> list[bytes]:
    """DDATA by alias with a running seq. 256 payloads are encoded and reused (seq wraps at 256 anyway),
    so encoding never slows the generator."""
    from eventscope.core.sparkplug.payload import MetricValue, encode_payload

    cycle = [encode_payload([MetricValue(20.0 + (seq % 50) / 10 + m, "Double", alias=m + 1)
                             for m in range(SPARKPLUG_METRICS)], seq=seq) for seq in range(256)]
    return [cycle[(i // len(topics)) % 256] for i in range(first, first + count)]


def sequence_of(payload: bytes) -> int | None:
    """The sequence number a generated payload starts with (None for anything else)."""
    head = payload[:SEQ_DIGITS]
    return int(head) if len(head) == SEQ_DIGITS and head.isdigit() else None


def encode_publish(topic: bytes, payload: bytes, qos: int, packet_id: int) -> bytes:
    body = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", packet_id) if qos else b"") + payload
    return bytes((0x30 | (qos << 1),)) + variable_int(len(body)) + body


def encode_connect(client_id: str, keepalive: int = 60) -> bytes:
    cid = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02" + struct.pack("!H", keepalive) + struct.pack("!H", len(cid)) + cid
    return b"\x10" + variable_int(len(body)) + body


def payload_for(seq: int, size: int) -> bytes:
    head = b"%0*d" % (SEQ_DIGITS, seq)
    return head + b"x" * max(0, size - len(head))


def _encode_all(topics: list[str], count: int, size: int, qos: int, kind: str = "sequence",
                first: int = 0) -> list[bytes]:
    """Packets ``first`` to ``first + count - 1`` of the run."""
    seqs = range(first, first + count)
    if kind == "churn":
        return [encode_publish(churn_topic(seq).encode(), payload_for(seq, size), qos, seq % 65535 + 1) for seq in seqs]
    encoded_topics = [t.encode() for t in topics]
    if kind == "sparkplug":
        payloads = _sparkplug_payloads(topics, count, first)
        return [encode_publish(encoded_topics[seq % len(topics)], payload, qos, seq % 65535 + 1)
                for seq, payload in zip(seqs, payloads)]
    return [encode_publish(encoded_topics[seq % len(topics)], payload_for(seq, size), qos, seq % 65535 + 1)
            for seq in seqs]


def _encode_chunks(topics: list[str], first: int, count: int, size: int, qos: int, kind: str,
                   per_chunk: int) -> list[bytes]:
    packets = _encode_all(topics, count, size, qos, kind, first)
    return [b"".join(packets[i:i + per_chunk]) for i in range(0, count, per_chunk)]


def _encoded_batches(topics: list[str], count: int, size: int, qos: int, kind: str, per_chunk: int,
                     batch: int) -> Iterator[list[bytes]]:
    """The run's chunks in batches of ``batch`` packets. The first batch is encoded when this is called;
    each later one on a thread while the one before it is sent (one waits ready, so memory stays bounded)."""
    starts = range(0, count, batch)
    first_batch = _encode_chunks(topics, 0, min(batch, count), size, qos, kind, per_chunk)
    ahead: queue.Queue[list[bytes]] = queue.Queue(maxsize=1)

    def encode_ahead() -> None:
        for first in starts[1:]:
            ahead.put(_encode_chunks(topics, first, min(batch, count - first), size, qos, kind, per_chunk))

    if len(starts) > 1:
        threading.Thread(target=encode_ahead, name="loadgen-encoder", daemon=True).start()

    def batches() -> Iterator[list[bytes]]:
        yield first_batch
        for _ in starts[1:]:
            yield ahead.get()

    return batches()


class _Acks:
    """Counts what the broker sends back (PUBACK, PINGRESP) so the end of a run can wait for it."""

    def __init__(self) -> None:
        self.pubacks = 0
        self.pingresp = threading.Event()


def _drain(sock: socket.socket, stop: threading.Event, acks: _Acks) -> None:
    """Read the broker's PUBACKs and PINGRESP, so it never blocks on our receive window."""
    sock.settimeout(0.2)
    pending = b""
    while not stop.is_set():
        try:
            data = sock.recv(1 << 16)
        except socket.timeout:
            continue
        except OSError:
            return
        if not data:
            return
        pending += data
        while len(pending) >= 2 and len(pending) >= 2 + pending[1]:  # short packets: one length byte
            kind, size = pending[0] >> 4, pending[1]
            pending = pending[2 + size:]
            if kind == 4:
                acks.pubacks += 1
            elif kind == 13:
                acks.pingresp.set()


def _run(port: int, topics: list[str], count: int, size: int, qos: int, rate: float | None,
         ready, go, started_at, finished_at, sent, kind: str = "sequence", batch_seconds: float | None = None) -> None:
    per_slot = max(1, round(rate * SLOT_SECONDS)) if rate else CHUNK_PACKETS
    # Whole slots per batch, so the pacing below never sees a short chunk in the middle of the run.
    batch = count if not (batch_seconds and rate) else max(1, round(rate * batch_seconds) // per_slot) * per_slot
    batches = _encoded_batches(topics, count, size, qos, kind, per_slot, batch)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(encode_connect(f"eventscope-loadgen-{port}-{time.monotonic_ns()}"))
    connack = sock.recv(4)
    if len(connack) < 4 or connack[0] != 0x20 or connack[3] != 0:
        raise ConnectionError(f"load generator: CONNACK {connack!r}")
    stop = threading.Event()
    acks = _Acks()
    reader = threading.Thread(target=_drain, args=(sock, stop, acks), daemon=True)
    reader.start()
    ready.set()
    go.wait()
    start = time.perf_counter()
    started_at.value = time.time()
    done = 0
    index = 0
    for chunks in batches:
        for chunk in chunks:
            if rate:
                due = start + index * SLOT_SECONDS
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)  # pacing, not synchronisation
            sock.sendall(chunk)
            index += 1
            done = min(count, done + per_slot)
            sent.value = done
    finished_at.value = time.time()
    # Closing at once makes Mosquitto drop what it has not read yet: wait until it answered everything.
    deadline = time.monotonic() + 30
    while qos and acks.pubacks < count and time.monotonic() < deadline:
        time.sleep(0.01)  # polling with a deadline
    sock.sendall(b"\xc0\x00")  # PINGREQ: its answer comes after every packet before it
    acks.pingresp.wait(30)
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    stop.set()
    sock.close()


class LoadGenerator:
    """``count`` messages of ``size`` bytes over ``topics`` (round robin), at ``rate`` msg/s or flat out."""

    def __init__(self, port: int, topics: list[str], count: int, size: int = 60, qos: int = 0,
                 rate: float | None = None, kind: str = "sequence", batch_seconds: float | None = None) -> None:
        """``kind``: "sequence" payloads (numbered, for loss counting), "sparkplug" DDATA by alias, or "churn":
        numbered payloads, each on a new topic (``churn_topic(seq)``; ``topics`` is not used).

        ``batch_seconds`` (with ``rate``): encode that many seconds of packets at a time while sending, for
        runs too long to hold in memory; None encodes the whole run before ``prepare`` returns."""
        ctx = multiprocessing.get_context("spawn")
        self.count = count
        self._ready, self._go = ctx.Event(), ctx.Event()
        self._started, self._finished, self._sent = ctx.Value("d", 0.0), ctx.Value("d", 0.0), ctx.Value("q", 0)
        self._process = ctx.Process(target=_run, daemon=True, args=(
            port, topics, count, size, qos, rate, self._ready, self._go, self._started, self._finished, self._sent,
            kind, batch_seconds))

    def prepare(self, timeout: float = 60.0) -> None:
        """Encode every packet and connect; returns when the generator waits for ``go``."""
        self._process.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise TimeoutError("the load generator did not get ready")

    def go(self) -> None:
        self._go.set()

    def start(self) -> None:
        self.prepare()
        self.go()

    def wait(self, timeout: float | None = None) -> None:
        self._process.join(timeout)

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)

    @property
    def started_at(self) -> float:
        return self._started.value

    @property
    def finished_at(self) -> float:
        return self._finished.value

    @property
    def sent(self) -> int:
        return self._sent.value

    @property
    def send_rate(self) -> float:
        elapsed = self.finished_at - self.started_at
        return self.sent / elapsed if elapsed > 0 else 0.0


class SequenceCounter:
    """Counts generated messages by sequence number: received, unique, and so lost."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.seen = bytearray(expected)
        self.received = 0
        self.first = 0.0
        self.last = 0.0

    def note(self, payload: bytes, when: float) -> None:
        seq = sequence_of(payload)
        if seq is None or seq >= self.expected:
            return
        if not self.received:
            self.first = when
        self.received += 1
        self.seen[seq] = 1
        self.last = when

    @property
    def unique(self) -> int:
        return self.seen.count(1)

    @property
    def lost(self) -> int:
        return self.expected - self.unique
