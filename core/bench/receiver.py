"""A bench subscriber client: counts bench messages, checks their sequence, measures their latency.

It reads the socket itself and takes packets apart in one loop over each read: for a bench
message that is a few slices and integer conversions, so one client keeps up with far more
messages than a paho callback would. Latency is the receive time (taken once per read) minus the
send time in the header; messages stamped in the same chunk and read together have the same
latency, so they go into the histogram as one value with a count.

When the connection drops it reconnects and subscribes again until stopped; what the broker
dropped meanwhile shows up as gaps in the sequence numbers.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from eventscope.core.bench.header import HEADER_SIZE, MAGIC, PUBLISHER_AT, SENT_AT, SEQUENCE_AT
from eventscope.core.bench.latency import LatencyRecorder
from eventscope.core.bench.sequence import SequenceTracker
from eventscope.core.mqtt.packet_codec import (
    PUBCOMP,
    PUBREL,
    SUBACK,
    decode_length,
    encode_ack,
    encode_subscribe,
    suback_codes,
)
from eventscope.core.mqtt.raw_link import Link, LinkConnectError
from eventscope.core.profile import MQTT_V5

POLL_SECONDS = 0.25  # how often a quiet receiver checks whether it should stop
RECONNECT_SECONDS = 0.25  # between attempts after the connection dropped

_INTERVAL_AT = SENT_AT + 19
_MAGIC_END = len(MAGIC)


class SubscribeRefused(ConnectionError):
    """The broker refused the subscription (or never answered it)."""


@dataclass
class ReceiverStats:
    received: int = 0  # bench messages, duplicates included
    foreign: int = 0  # messages on the filter without a bench header
    retained_ignored: int = 0  # retained messages (left by an earlier run)
    reconnects: int = 0
    first_at: float = 0.0  # perf_counter of the first and the last bench message read
    last_at: float = 0.0
    error: str = ""


class SubscriberClient:
    """One subscription on its own connection, read by its own thread.

    ``connect`` opens a fresh ``Link`` (for the first connection and every reconnect). Call
    ``subscribe`` (raises ``LinkConnectError`` / ``SubscribeRefused``), then ``start``; ``stop``
    ends it and disconnects.
    """

    def __init__(self, connect: Callable[[], Link], topic_filter: str, qos: int = 0, from_zero: bool = False,
                 timeout: float = 5.0) -> None:
        self._connect = connect
        self.topic_filter = topic_filter
        self.qos = qos
        self.timeout = timeout
        self.stats = ReceiverStats()
        self.tracker = SequenceTracker(from_zero=from_zero)
        self.latency = LatencyRecorder()
        self._link: Link | None = None
        self._pending = b""
        self._acks = bytearray()
        self._suback: bytes | None = None
        self.v5 = False
        self._run_latency = -1  # the run of equal (latency, interval) samples not yet in the histogram
        self._run_interval = 0
        self._run_count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"bench-sub-{topic_filter}", daemon=True)

    # ----- control -------------------------------------------------------------------
    def subscribe(self) -> None:
        """Connect and subscribe, in the caller's thread: the first failure is the caller's to report."""
        self._link = self._connect()
        try:
            self._subscribe(self._link)
        except BaseException:
            self._link.close()
            self._link = None
            raise

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        elif self._link is not None:  # subscribed, never started
            self._link.close()
            self._link = None

    # ----- the receiving thread -----------------------------------------------------------------
    def _subscribe(self, link: Link) -> None:
        self._pending, self._suback = b"", None
        self._acks.clear()  # packet ids of the connection before: meaningless on this one
        self.v5 = link.profile.mqtt_version == MQTT_V5
        link.send(encode_subscribe(self.topic_filter, self.qos, link.profile.mqtt_version))
        deadline = time.monotonic() + self.timeout
        while self._suback is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SubscribeRefused(f"{link.profile.address} did not answer the subscription to "
                                       f"{self.topic_filter} within {self.timeout:g} s")
            try:
                data = self._read(link, left)
                if data:
                    self._consume(data, time.time_ns())
            except (OSError, ValueError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise SubscribeRefused(f"{link.profile.address} failed on the subscription to "
                                       f"{self.topic_filter}: {reason}") from None
            if data == b"":
                raise SubscribeRefused(f"{link.profile.address} closed the connection on the subscription to "
                                       f"{self.topic_filter}")
        codes = self._suback
        if not codes or codes[0] >= 0x80:
            code = codes[0] if codes else -1
            raise SubscribeRefused(f"{link.profile.address} refused the subscription to {self.topic_filter!r} "
                                   f"(reason code {code:#04x})")
        if self._acks:  # for messages that came with the SUBACK
            link.send(self._acks)
            self._acks.clear()

    @staticmethod
    def _read(link: Link, timeout: float) -> bytes | None:
        """What the socket has (b"" when it closed), or None if nothing came within ``timeout``."""
        sock = link.sock
        pending = getattr(sock, "pending", None)
        if not (pending and pending()):
            readable, _, _ = select.select([sock], [], [], timeout)
            if not readable:
                return None
        return sock.recv(1 << 18)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                link = self._link
                if link is None:
                    link = self._reconnect()
                    if link is None:
                        break
                try:
                    data = self._read(link, POLL_SECONDS)
                    if data == b"":
                        raise ConnectionResetError("the broker closed the connection")
                    if data:
                        self._consume(data, time.time_ns())
                        if self._acks:
                            link.send(self._acks)
                            self._acks.clear()
                    link.ping_if_idle()
                except (OSError, ValueError) as exc:  # ValueError: a malformed packet; start afresh
                    if isinstance(exc, ValueError):
                        self.stats.error = f"malformed packet from {link.profile.address}: {exc}"
                    link.close(say_goodbye=False)
                    self._link = None
        finally:
            self._flush_latency()
            if self._link is not None:
                self._link.close()
                self._link = None

    def _reconnect(self) -> Link | None:
        while not self._stop.wait(RECONNECT_SECONDS):
            try:
                link = self._connect()
            except LinkConnectError as exc:
                self.stats.error = str(exc)
                continue
            try:
                self._subscribe(link)
            except (OSError, SubscribeRefused) as exc:
                self.stats.error = str(exc)
                link.close(say_goodbye=False)
                continue
            self.stats.reconnects += 1
            self.stats.error = ""
            self._link = link
            return link
        return None

    # ----- packets -------------------------------------------------------------------------
    def _consume(self, data: bytes, now_ns: int) -> None:
        buffer = self._pending + data if self._pending else data
        size = len(buffer)
        position = 0
        stats = self.stats
        streams = self.tracker.streams
        v5 = self.v5
        got_bench = False
        while position + 1 < size:
            first = buffer[position]
            length = buffer[position + 1]
            if length < 0x80:
                start = position + 2
            else:
                decoded = decode_length(buffer, position + 1)
                if decoded is None:
                    break
                length, start = decoded
            end = start + length
            if end > size:
                break
            position = end
            if first >> 4 != 3:
                self._control(first >> 4, buffer[start:end])
                continue
            at = start + 2 + ((buffer[start] << 8) | buffer[start + 1])
            qos = (first >> 1) & 3
            if qos:
                packet_id = buffer[at:at + 2]
                self._acks += (b"\x40\x02" if qos == 1 else b"\x50\x02") + packet_id
                at += 2
            if v5:
                properties = buffer[at]
                if properties < 0x80:
                    at += 1 + properties
                else:
                    decoded = decode_length(buffer, at)
                    if decoded is None:
                        stats.foreign += 1
                        continue
                    at = decoded[1] + decoded[0]
            if first & 1:
                stats.retained_ignored += 1
                continue
            if end - at < HEADER_SIZE or buffer[at:at + _MAGIC_END] != MAGIC:
                stats.foreign += 1
                continue
            try:
                sequence = int(buffer[at + SEQUENCE_AT:at + SENT_AT])
                sent_ns = int(buffer[at + SENT_AT:at + _INTERVAL_AT])
                interval_us = int(buffer[at + _INTERVAL_AT:at + HEADER_SIZE])
            except ValueError:
                stats.foreign += 1
                continue
            publisher = buffer[at + PUBLISHER_AT:at + SEQUENCE_AT]
            stream = streams.get(publisher)
            if stream is not None and sequence == stream.next_expected:
                stream.next_expected = sequence + 1
                stream.received += 1
            else:
                self.tracker.note(publisher, sequence)
            stats.received += 1
            got_bench = True
            latency_us = (now_ns - sent_ns) // 1000
            if latency_us == self._run_latency and interval_us == self._run_interval:
                self._run_count += 1
            else:
                self._flush_latency()
                self._run_latency, self._run_interval, self._run_count = latency_us, interval_us, 1
        self._pending = buffer[position:]
        if got_bench:
            now = time.perf_counter()
            if not stats.first_at:
                stats.first_at = now
            stats.last_at = now

    def _flush_latency(self) -> None:
        if self._run_count:
            self.latency.record(self._run_latency, self._run_interval, self._run_count)
            self._run_count = 0
            self._run_latency = -1

    def _control(self, kind: int, body: bytes) -> None:
        if kind == SUBACK:
            self._suback = suback_codes(body, MQTT_V5 if self.v5 else 4)
        elif kind == PUBREL:
            self._acks += encode_ack(PUBCOMP, int.from_bytes(body[:2], "big"))
        # PINGRESP, and anything else a subscriber may be sent: nothing to do.
