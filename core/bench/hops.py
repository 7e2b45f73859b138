"""One-way hop latency between brokers, from the same message's arrival on each of them.

An observer on every broker subscribes to the run's requests. Each request is known by its bench
header (pair and sequence number) and left on a known broker (its sender's), so its arrival on
any other broker minus its arrival on the sender's is the one-way latency from one to the other:
the bridge's hop when they are bridged directly, the sum of the hops on the way when a hub is in
between. Both arrivals are read on this machine's monotonic clock, so no clock sync is needed;
the observers' own delivery delay appears on both sides and cancels out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from eventscope.core.bench.header import decode_header
from eventscope.core.bench.latency import LatencyRecorder, LatencySummary, microseconds
from eventscope.core.bench.one_pass import summary
from eventscope.core.records import MessageRecord

# Requests whose arrivals are still awaited somewhere; beyond this the oldest are forgotten (a broker
# the namespace never reaches would otherwise keep every request).
MAX_OPEN_MESSAGES = 50_000


@dataclass(frozen=True, slots=True)
class HopSummary:
    sender: str  # the broker the message left on
    receiver: str  # a broker it reached
    latency: LatencySummary

    @property
    def samples(self) -> int:
        return self.latency.count


class HopClock:
    """Times every request of the run on every broker. ``origin_of[topic]`` is the broker a request on
    ``topic`` was sent on; ``tap(broker)`` is the observer session's tap for that broker."""

    def __init__(self, brokers: Sequence[str], origin_of: dict[str, str]) -> None:
        self.brokers = tuple(brokers)
        self._origin_of = dict(origin_of)
        self._lock = threading.Lock()
        self._arrivals: OrderedDict[tuple[str, int], dict[str, float]] = OrderedDict()
        self._hops = {(a, b): LatencyRecorder() for a in self.brokers for b in self.brokers if a != b}
        self._summaries = {hop: summary(recorder) for hop, recorder in self._hops.items()}  # until a new sample

    def tap(self, broker: str) -> Callable[[MessageRecord], None]:
        def on_record(record: MessageRecord) -> None:  # the observer's network thread
            origin = self._origin_of.get(record.topic)
            if origin is None or record.retain:
                return
            header = decode_header(record.payload)
            if header is not None:
                self.arrived((header.publisher, header.sequence), origin, broker, record.received_mono)
        return on_record

    def arrived(self, message: tuple[str, int], origin: str, broker: str, at: float) -> None:
        with self._lock:
            arrivals = self._arrivals.get(message)
            if arrivals is None:
                arrivals = self._arrivals[message] = {}
                if len(self._arrivals) > MAX_OPEN_MESSAGES:
                    self._arrivals.popitem(last=False)
            if broker in arrivals:  # a second copy (a loop in the bridges): the first arrival counts
                return
            arrivals[broker] = at
            if broker == origin:
                for other, then in arrivals.items():
                    if other != origin:
                        self._hops[(origin, other)].record(microseconds(then - at))
            elif origin in arrivals:
                self._hops[(origin, broker)].record(microseconds(at - arrivals[origin]))
            if len(arrivals) == len(self.brokers):
                del self._arrivals[message]

    def summaries(self) -> list[HopSummary]:
        with self._lock:
            for hop, recorder in self._hops.items():
                if self._summaries[hop].count != recorder.count:
                    self._summaries[hop] = summary(recorder)
            return [HopSummary(a, b, self._summaries[(a, b)]) for a, b in self._hops]
