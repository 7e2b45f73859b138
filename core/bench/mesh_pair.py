"""One ordered pair of a mesh run: requests sent on one broker, answered by the replier on another.

``PairTracker`` is the request tracker of the sender's session with two additions: each request
gets its own bench header (pair and sequence number, so the observers on every broker can tell
the requests apart: the load sends one payload over and over), and each RTT also goes into the
pair's ``PairLive``, which another thread can read while the run goes on.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from eventscope.core.bench.header import HEADER_SIZE, bench_payload
from eventscope.core.bench.latency import LatencyRecorder, LatencySummary, microseconds
from eventscope.core.bench.one_pass import summary
from eventscope.core.bench.requester import RequestStats
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.requests.tracker import DEFAULT_TIMEOUT, Reply, RequestTracker

SERIES_BUCKET_SECONDS = 0.25  # the RTT-over-time series: one point (the median) per bucket


class RttSeries:
    """RTTs over time as one median per bucket; ``points()`` includes the bucket still filling."""

    def __init__(self, bucket: float = SERIES_BUCKET_SECONDS) -> None:
        self.bucket = bucket
        self._closed: list[tuple[float, float]] = []
        self._open_index = -1
        self._open: list[float] = []

    def add(self, at: float, rtt_ms: float) -> None:
        index = int(at // self.bucket)
        if index != self._open_index:
            self._close()
            self._open_index = index
        self._open.append(rtt_ms)

    def _close(self) -> None:
        if self._open:
            self._closed.append(self._point())
            self._open = []

    def _point(self) -> tuple[float, float]:
        ordered = sorted(self._open)
        return (self._open_index + 0.5) * self.bucket, ordered[len(ordered) // 2]

    def points(self) -> list[tuple[float, float]]:
        return self._closed + ([self._point()] if self._open else [])


class PairLive:
    """A pair's RTTs as they come (any thread writes, any thread reads)."""

    def __init__(self, interval: float, started: float) -> None:
        self.interval_us = microseconds(interval)  # coordinated-omission correction, as the load's own
        self.started = started  # monotonic: the series' time 0
        self._lock = threading.Lock()
        self._rtt = LatencyRecorder()
        self._series = RttSeries()
        self._summary = summary(self._rtt)  # kept until a new RTT comes: reading is often, and costs a walk

    def record(self, rtt: float) -> None:
        with self._lock:
            self._rtt.record(microseconds(rtt), self.interval_us)
            self._series.add(time.monotonic() - self.started, rtt * 1e3)

    def read(self) -> tuple[LatencySummary, int, list[tuple[float, float]]]:
        """The RTT percentiles, the measured samples and the series so far."""
        with self._lock:
            if self._summary.count != self._rtt.count:
                self._summary = summary(self._rtt)
            return self._summary, self._rtt.samples, self._series.points()


class PairTracker(RequestTracker):
    """The sender session's tracker for one pair (see the module's docstring)."""

    def __init__(self, session: MqttSession, publisher: str, size: int, live: PairLive) -> None:
        super().__init__(session)
        self.publisher = publisher  # 8 hex digits: the run and the pair's index
        self.size = max(size, HEADER_SIZE)
        self.live = live
        self._sequence = 0

    async def request(self, topic: str, payload: bytes | str = b"", *, qos: int = 0, reply_topic: str | None = None,
                      timeout: float = DEFAULT_TIMEOUT, user_properties: tuple[tuple[str, str], ...] = (),
                      content_type: str | None = None, message_expiry: int | None = None) -> Reply:
        stamped = bench_payload(self.publisher, self._sequence, time.time_ns(), self.live.interval_us, self.size)
        self._sequence += 1
        reply = await super().request(topic, stamped, qos=qos, reply_topic=reply_topic, timeout=timeout,
                                      user_properties=user_properties, content_type=content_type,
                                      message_expiry=message_expiry)
        self.live.record(reply.rtt)
        return reply


@dataclass(frozen=True, slots=True)
class PairResult:
    """One cell of the matrix. ``sent`` counts requests whose outcome is known (a reply, a timeout or a
    failure); ``in_flight`` those still awaited, or abandoned by a stop, which are never counted lost."""

    sender: str
    answerer: str
    sent: int
    replies: int
    timeouts: int
    failed: int
    in_flight: int
    rtt: LatencySummary
    samples: int  # RTTs measured (the histogram holds coordinated-omission corrections on top)
    series: tuple[tuple[float, float], ...] = ()
    first_error: str = ""

    @property
    def lost(self) -> int:
        return self.timeouts + self.failed

    @property
    def loss(self) -> float:
        """Lost as a fraction of ``sent``."""
        return self.lost / self.sent if self.sent else 0.0


def pair_result(sender: str, answerer: str, stats: RequestStats, live: PairLive,
                settled: RequestStats | None = None) -> PairResult:
    """The pair's result from its load's counters (``settled``: as they were when a stop abandoned the rest)."""
    counts = settled if settled is not None else stats
    summary, samples, series = live.read()
    done = counts.replies + counts.timeouts + counts.errors
    return PairResult(sender, answerer, done, counts.replies, counts.timeouts, counts.errors,
                      max(0, stats.sent - done), summary, samples, tuple(series), counts.first_error)
