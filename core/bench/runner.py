"""Runs a bench: connects its clients, starts them together, watches them each second, gathers the result.

Every client is connected (and every subscription acknowledged) before the first message goes
out, so a broker that cannot be reached fails the run before it starts, with the reason.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eventscope.core.bench.ceiling import Ceiling, assess
from eventscope.core.bench.latency import LatencyRecorder
from eventscope.core.bench.publisher import PublisherClient, PublisherPlan, PublisherStats
from eventscope.core.bench.receiver import SubscriberClient
from eventscope.core.bench.requester import RequestLoad, RequestPlan, RequestStats
from eventscope.core.bench.sequence import StreamCounts
from eventscope.core.bench.timeline import RateTimeline, TickListener
from eventscope.core.mqtt.raw_link import Link, open_link
from eventscope.core.profile import ConnectionProfile
from eventscope.core.requests.tracker import RequestTracker

DRAIN_IDLE_SECONDS = 1.0  # after the publishers finish: no message for this long ends the wait
DRAIN_LONGEST_SECONDS = 10.0

ReadyListener = Callable[[str], None]


def _ignore(_: str) -> None:
    pass


@dataclass(frozen=True)
class Endpoint:
    """A broker and how to log in; ``timeout`` bounds each connect and subscribe."""

    profile: ConnectionProfile
    password: str | None = None
    timeout: float = 5.0

    def connector(self, client_id: str) -> Callable[[], Link]:
        return lambda: open_link(self.profile, self.password, client_id, self.timeout)

    def client_id(self, role: str, index: int, run: int) -> str:
        return f"{self.profile.client_id or 'eventscope-bench'}-{role}{index}-{run:04x}"


@dataclass(frozen=True)
class PublishSpec:
    """``topics``: each client's topics (see ``topic_template.client_topics``). ``rate`` is the total."""

    endpoint: Endpoint
    topics: Sequence[tuple[str, ...]]
    size: int
    qos: int = 0
    retain: bool = False
    rate: float = 0.0
    count: int | None = None
    seconds: float | None = None

    def plans(self, run: int) -> list[PublisherPlan]:
        clients = len(self.topics)
        total = self.count
        if total is None and self.rate > 0 and self.seconds:
            total = round(self.rate * self.seconds)
        plans = []
        for index, topics in enumerate(self.topics):
            count = None if total is None else total // clients + (1 if index < total % clients else 0)
            plans.append(PublisherPlan(
                publisher=f"{run:04x}{index:04x}", topics=topics, size=self.size, qos=self.qos, retain=self.retain,
                mqtt_version=self.endpoint.profile.mqtt_version, rate=self.rate / clients, count=count,
                seconds=self.seconds, topic_offset=index))
        return plans


@dataclass(frozen=True)
class SubscribeSpec:
    endpoint: Endpoint
    topic_filter: str
    subscribers: int = 1
    qos: int = 0
    count: int | None = None  # bench sub: stop after this many messages (over every subscriber)
    seconds: float | None = None


@dataclass
class PublishOutcome:
    stats: list[PublisherStats]
    plans: list[PublisherPlan]
    offered_rate: float

    @property
    def sent(self) -> int:
        return sum(s.sent for s in self.stats)

    @property
    def sent_by_publisher(self) -> dict[bytes, int]:
        return {plan.publisher.encode("ascii"): s.sent for plan, s in zip(self.plans, self.stats)}

    @property
    def elapsed(self) -> float:
        started = [s.started for s in self.stats if s.started]
        finished = [s.finished for s in self.stats if s.finished]
        return max(finished) - min(started) if started and finished else 0.0

    @property
    def send_rate(self) -> float:
        """The publishers' own achieved rate: messages handed to the sockets per second of sending."""
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def max_lag(self) -> float:
        return max((s.max_lag for s in self.stats), default=0.0)

    @property
    def ceiling(self) -> Ceiling:
        return assess(self.stats, self.offered_rate, self.send_rate)

    def ack_latency(self) -> LatencyRecorder:
        merged = LatencyRecorder()
        for stats in self.stats:
            merged.add(stats.acks)
        return merged

    @property
    def errors(self) -> list[str]:
        return [s.error for s in self.stats if s.error]


@dataclass
class ReceiveOutcome:
    subscribers: list[SubscriberClient]
    sent_by_publisher: dict[bytes, int] | None = None  # known in pubsub: loss then includes the tail

    @property
    def counts(self) -> StreamCounts:
        total = StreamCounts()
        for subscriber in self.subscribers:
            total = total + subscriber.tracker.counts(self.sent_by_publisher)
        return total

    def latency(self) -> LatencyRecorder:
        merged = LatencyRecorder()
        for subscriber in self.subscribers:
            merged.add(subscriber.latency)
        return merged

    @property
    def received(self) -> int:
        return sum(s.stats.received for s in self.subscribers)

    @property
    def elapsed(self) -> float:
        """From the first bench message read to the last, over every subscriber."""
        firsts = [s.stats.first_at for s in self.subscribers if s.stats.first_at]
        lasts = [s.stats.last_at for s in self.subscribers if s.stats.last_at]
        return max(lasts) - min(firsts) if firsts and lasts else 0.0

    @property
    def rate(self) -> float:
        return self.received / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def foreign(self) -> int:
        return sum(s.stats.foreign for s in self.subscribers)

    @property
    def retained_ignored(self) -> int:
        return sum(s.stats.retained_ignored for s in self.subscribers)

    @property
    def reconnects(self) -> int:
        return sum(s.stats.reconnects for s in self.subscribers)

    @property
    def errors(self) -> list[str]:
        return [s.stats.error for s in self.subscribers if s.stats.error]


@dataclass
class BenchResult:
    kind: str  # pub, sub, pubsub or request
    seconds: float  # the run, from the start of sending (or subscribing) to the end
    per_second: dict[str, list[int]] = field(default_factory=dict)
    publish: PublishOutcome | None = None
    receive: ReceiveOutcome | None = None
    requests: RequestStats | None = None
    request_plan: RequestPlan | None = None
    interrupted: bool = False

    @property
    def errors(self) -> list[str]:
        found = []
        if self.publish is not None:
            found += self.publish.errors
        if self.receive is not None:
            found += self.receive.errors
        return found


def new_run_number() -> int:
    """A random number per run in every publisher id, so runs on the same topics never mix sequences."""
    return secrets.randbelow(0x10000)


def connect_publishers(spec: PublishSpec, stop: threading.Event, run: int) -> list[PublisherClient]:
    clients: list[PublisherClient] = []
    try:
        for index, plan in enumerate(spec.plans(run)):
            link = spec.endpoint.connector(spec.endpoint.client_id("pub", index, run))()
            clients.append(PublisherClient(link, plan, stop))
    except BaseException:
        for client in clients:
            client.link.close()
        raise
    for client in clients:
        client.prepare()
    return clients


def connect_subscribers(spec: SubscribeSpec, run: int, from_zero: bool) -> list[SubscriberClient]:
    subscribers: list[SubscriberClient] = []
    try:
        for index in range(spec.subscribers):
            subscriber = SubscriberClient(spec.endpoint.connector(spec.endpoint.client_id("sub", index, run)),
                                          spec.topic_filter, spec.qos, from_zero, spec.endpoint.timeout)
            subscriber.subscribe()
            subscribers.append(subscriber)
    except BaseException:
        for subscriber in subscribers:
            subscriber.stop()
        raise
    return subscribers


def _publishing(clients: Sequence[PublisherClient]) -> Callable[[], bool]:
    return lambda: not any(client.is_alive() for client in clients)


def run_pub(spec: PublishSpec, stop: threading.Event, on_tick: TickListener | None = None,
            on_ready: ReadyListener = _ignore) -> BenchResult:
    run = new_run_number()
    clients = connect_publishers(spec, stop, run)
    on_ready(f"{len(clients)} publisher(s) connected to {spec.endpoint.profile.address}")
    timeline = RateTimeline({"sent": lambda: sum(c.stats.sent for c in clients)}, on_tick)
    started = time.monotonic()
    for client in clients:
        client.start()
    timeline.watch(_publishing(clients), stop)
    for client in clients:
        client.join()
    outcome = PublishOutcome([c.stats for c in clients], [c.plan for c in clients], spec.rate)
    return BenchResult("pub", time.monotonic() - started, timeline.per_second, publish=outcome,
                       interrupted=stop.is_set())


def run_sub(spec: SubscribeSpec, stop: threading.Event, on_tick: TickListener | None = None,
            on_ready: ReadyListener = _ignore) -> BenchResult:
    subscribers = connect_subscribers(spec, new_run_number(), from_zero=False)
    on_ready(f"{len(subscribers)} subscriber(s) on {spec.topic_filter} at {spec.endpoint.profile.address}")
    outcome = ReceiveOutcome(subscribers)
    timeline = RateTimeline({"received": lambda: outcome.received}, on_tick)
    started = time.monotonic()
    for subscriber in subscribers:
        subscriber.start()

    def done() -> bool:
        return ((spec.count is not None and outcome.received >= spec.count)
                or (spec.seconds is not None and time.monotonic() - started >= spec.seconds))

    try:
        timeline.watch(done, stop)
    finally:
        for subscriber in subscribers:
            subscriber.stop()
    return BenchResult("sub", time.monotonic() - started, timeline.per_second, receive=outcome,
                       interrupted=stop.is_set())


class _Drained:
    """True once every copy of every message sent arrived, or nothing came for a while (the rest is lost)."""

    def __init__(self, outcome: ReceiveOutcome, expected: int) -> None:
        self.outcome = outcome
        self.expected = expected
        self.started = self.changed = time.monotonic()
        self.last = outcome.received

    def __call__(self) -> bool:
        now = time.monotonic()
        received = self.outcome.received
        if received != self.last:
            self.last, self.changed = received, now
        return (received >= self.expected or now - self.changed >= DRAIN_IDLE_SECONDS
                or now - self.started >= DRAIN_LONGEST_SECONDS)


def run_pubsub(publish: PublishSpec, subscribe: SubscribeSpec, stop: threading.Event,
               on_tick: TickListener | None = None, on_ready: ReadyListener = _ignore) -> BenchResult:
    run = new_run_number()
    subscribers = connect_subscribers(subscribe, run, from_zero=True)
    try:
        clients = connect_publishers(publish, stop, run)
    except BaseException:
        for subscriber in subscribers:
            subscriber.stop()
        raise
    on_ready(f"{len(subscribers)} subscriber(s) on {subscribe.topic_filter} at {subscribe.endpoint.profile.address}, "
             f"{len(clients)} publisher(s) on {publish.endpoint.profile.address}")
    received = ReceiveOutcome(subscribers)
    timeline = RateTimeline({"sent": lambda: sum(c.stats.sent for c in clients),
                             "received": lambda: received.received}, on_tick)
    started = time.monotonic()
    try:
        for subscriber in subscribers:
            subscriber.start()
        for client in clients:
            client.start()
        timeline.watch(_publishing(clients), stop)
        for client in clients:
            client.join()
        sent = PublishOutcome([c.stats for c in clients], [c.plan for c in clients], publish.rate)
        timeline.watch(_Drained(received, sent.sent * len(subscribers)), stop)
        received.sent_by_publisher = sent.sent_by_publisher
        return BenchResult("pubsub", time.monotonic() - started, timeline.per_second, publish=sent,
                           receive=received, interrupted=stop.is_set())
    finally:
        for subscriber in subscribers:
            subscriber.stop()


def run_requests(tracker: RequestTracker, plan: RequestPlan, stop: threading.Event,
                 on_tick: TickListener | None = None) -> BenchResult:
    """Raises ``RequestRefused`` when the tracker refuses the request (nothing is sent then)."""
    load = RequestLoad(tracker, plan, stop)
    timeline = RateTimeline({"sent": lambda: load.stats.sent, "replies": lambda: load.stats.replies}, on_tick)
    started = time.monotonic()
    load.start()
    timeline.watch(lambda: not load.is_alive(), stop)
    load.join()
    if load.refused is not None:
        raise load.refused
    return BenchResult("request", time.monotonic() - started, timeline.per_second, requests=load.stats,
                       request_plan=plan, interrupted=stop.is_set())
