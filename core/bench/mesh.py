"""Measure a mesh: request/reply between every ordered pair of brokers, and each bridge's hop.

A ``MeshRun`` connects three clients to every broker of the mesh, each role on its own connection
so that one's queue never delays another's timing:

- a replier, answering the requests addressed to its broker (``mesh_topics.py``: a private
  namespace per run, under a prefix the mesh's bridges carry);
- a requester, sending a paced request stream (``requester.RequestLoad``, through the request
  tracker) to every broker's replier, its own included: the pair (A, B) is sent on A, answered on B;
- an observer, timing each request's arrival on its broker (``hops.py``).

All pairs run at once, each at its own rate, for the same time (or count). The run lives on a
thread of its own: ``start`` returns at once, ``snapshot`` gives progress and the results so far to
any thread, and ``stop`` ends it at once: the streams stop, requests still in flight are abandoned
(neither sent nor lost), the repliers unsubscribe and every connection closes. Nothing is retained.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from enum import Enum

from eventscope.core.bench.header import HEADER_SIZE, publisher_id
from eventscope.core.bench.hops import HopClock, HopSummary
from eventscope.core.bench.mesh_pair import PairLive, PairResult, PairTracker, pair_result
from eventscope.core.bench.mesh_topics import DEFAULT_TOPIC_PREFIX, MeshTopicError, MeshTopics, mesh_topics
from eventscope.core.bench.requester import RequestLoad, RequestPlan, RequestStats
from eventscope.core.bench.runner import new_run_number
from eventscope.core.mqtt.failures import describe_connect_exception, describe_silent_peer
from eventscope.core.mqtt.session import MqttSession, SessionError, SessionState
from eventscope.core.profile import ConnectionProfile
from eventscope.core.requests.replier import Replier
from eventscope.core.requests.tracker import DEFAULT_TIMEOUT

log = logging.getLogger(__name__)

DEFAULT_RATE = 50.0  # requests per second, per pair
DEFAULT_CONCURRENCY = 8  # per pair: a worker sends every 160 ms at the default rate, so RTTs up to that need no correction
DEFAULT_SIZE = 64
REFRESH_SECONDS = 0.2  # how often the results so far are summarised for ``snapshot``
CLEANUP_SECONDS = 3.0  # at most this long for the UNSUBACKs and the loads to end after a stop
ROLES = ("replier", "requester", "observer")


class MeshRefused(ValueError):
    """The run cannot start as asked (a read-only broker, a bad template, bad settings): nothing was sent."""


class _MeshFailure(Exception):
    """The run could not go on (a broker unreachable, a subscription refused); the message says why."""


class MeshPhase(str, Enum):
    CONNECTING = "connecting"
    RUNNING = "running"
    CLEANING_UP = "cleaning up"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True)
class MeshBroker:
    """A broker of the mesh: ``name`` labels it, ``region`` (else the name) is its level in the run's topics."""

    name: str
    profile: ConnectionProfile
    password: str | None = None
    region: str = ""


@dataclass(frozen=True)
class MeshPlan:
    rate: float = DEFAULT_RATE  # requests/s per pair; 0 = each worker sends when its last reply is in
    seconds: float | None = 10.0  # per pair (the pairs run at once); with ``count``, whichever ends first
    count: int | None = None  # requests per pair
    concurrency: int = DEFAULT_CONCURRENCY  # requests in flight per pair
    size: int = DEFAULT_SIZE  # request payload bytes, the bench header included
    qos: int = 0
    timeout: float = DEFAULT_TIMEOUT  # per request
    topic_prefix: str = DEFAULT_TOPIC_PREFIX
    connect_timeout: float = 5.0

    @property
    def planned_seconds(self) -> float | None:
        by_count = self.count / self.rate if self.count is not None and self.rate > 0 else None
        known = [s for s in (self.seconds, by_count) if s is not None]
        return min(known) if known else None


@dataclass(frozen=True)
class MeshSnapshot:
    """The run as it is: its phase, and every pair's and hop's results so far (final once ``done``)."""

    phase: MeshPhase
    brokers: tuple[str, ...]
    run_id: str
    pairs: tuple[PairResult, ...] = ()
    hops: tuple[HopSummary, ...] = ()
    elapsed: float = 0.0  # seconds since the request streams started
    planned: float | None = None
    error: str = ""
    cleaned_up: bool = False  # the repliers' subscriptions were removed and every connection closed

    @property
    def done(self) -> bool:
        return self.phase in (MeshPhase.FINISHED, MeshPhase.STOPPED, MeshPhase.FAILED)

    @property
    def progress(self) -> float | None:
        """0 to 1 while the streams run (None when the run has no planned end)."""
        if self.phase in (MeshPhase.FINISHED, MeshPhase.CLEANING_UP) and not self.error:
            return 1.0
        if not self.planned:
            return None
        return min(1.0, self.elapsed / self.planned)

    def pair(self, sender: str, answerer: str) -> PairResult | None:
        return next((p for p in self.pairs if (p.sender, p.answerer) == (sender, answerer)), None)

    def hop(self, sender: str, receiver: str) -> HopSummary | None:
        return next((h for h in self.hops if (h.sender, h.receiver) == (sender, receiver)), None)


def _check(brokers: Sequence[MeshBroker], plan: MeshPlan) -> None:
    if not brokers:
        raise MeshRefused("No brokers to measure: give at least one (two or more for a mesh)")
    names = [b.name for b in brokers]
    if len(set(names)) != len(names):
        raise MeshRefused(f"Each broker needs its own name: {', '.join(names)}")
    for broker in brokers:
        if broker.profile.read_only:
            raise MeshRefused(f"{broker.name} is read-only (monitor mode): bench mesh publishes requests and replies "
                              "on every broker, so it does not run")
    if plan.rate < 0 or plan.concurrency < 1 or plan.timeout <= 0 or plan.qos not in (0, 1, 2):
        raise MeshRefused("The rate must be 0 or more, the concurrency at least 1, the timeout above 0 and QoS 0-2")
    if plan.seconds is None and plan.count is None:
        raise MeshRefused("Give the run an end: seconds or a count per pair")
    if plan.size < HEADER_SIZE:
        raise MeshRefused(f"A request has at least {HEADER_SIZE} bytes (the bench header), not {plan.size}")


def _run_profile(broker: MeshBroker, index: int, role: str, run_id: str) -> ConnectionProfile:
    """The broker's profile for one of the run's own clients: no will, no kept session, and a client id of its
    own even where two names reach the same broker, or a cluster shares client ids between its nodes."""
    prefix = broker.profile.client_id or "eventscope-mesh"
    return broker.profile.with_changes(client_id=f"{prefix}-{role}{index}-{run_id}", will_topic="",
                                       clean_start=True, session_expiry=0)


def _connect_failure(name: str, session: MqttSession, timeout: float) -> str:
    profile, status = session.profile, session.first_status
    if status.state not in (SessionState.DISCONNECTED, SessionState.RECONNECTING):
        if not session.tcp_open:
            reason = describe_connect_exception(TimeoutError(), profile.host, profile.port, timeout=timeout)
        else:
            reason = describe_silent_peer(profile.host, profile.port, timeout)
    else:
        reason = f"Cannot connect to {profile.address}: {status.message or 'no answer'}"
    return f"{name}: {reason}"


class MeshRun:
    """One measurement of a mesh (see the module's docstring). Raises ``MeshRefused`` before connecting."""

    def __init__(self, brokers: Sequence[MeshBroker], plan: MeshPlan, run_number: int | None = None) -> None:
        """``run_number`` (0 to 0xFFFF) names the run's topics: a new random one unless given."""
        _check(brokers, plan)
        self.brokers = tuple(brokers)
        self.plan = plan
        self.run_number = new_run_number() if run_number is None else run_number
        self.run_id = f"{self.run_number:04x}"
        try:
            self.topics: MeshTopics = mesh_topics(plan.topic_prefix, self.run_id,
                                                  {b.name: b.region for b in self.brokers})
        except MeshTopicError as exc:
            raise MeshRefused(str(exc)) from None
        names = tuple(b.name for b in self.brokers)
        self.pairs = tuple((a, b) for a in names for b in names)
        self._stop = threading.Event()
        self._done = threading.Event()
        self._sessions: dict[tuple[str, str], MqttSession] = {}  # (role, broker) -> session
        self._repliers: list[Replier] = []
        self._trackers: list[PairTracker] = []
        self._loads: list[RequestLoad] = []
        self._lives: list[PairLive] = []
        self._settled: list[RequestStats] | None = None  # the loads' counts when a stop abandoned the rest
        self._hops = HopClock(names, {self.topics.request_topic(a, b): a for a, b in self.pairs})
        self._started = self._ended = 0.0  # monotonic: the request streams' start and end
        self._snapshot = MeshSnapshot(MeshPhase.CONNECTING, names, self.run_id, planned=plan.planned_seconds)
        self._thread = threading.Thread(target=self._run, name=f"bench-mesh-{self.run_id}", daemon=True)

    # ----- for any thread ---------------------------------------------------------------------
    def start(self) -> MeshRun:
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the run now: returns at once; the clean-up follows on the run's thread (``wait``)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the run ended (cleaned up) within ``timeout``."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def snapshot(self) -> MeshSnapshot:
        """The latest summary (refreshed a few times a second by the run's thread): cheap to call often."""
        return self._snapshot

    # ----- the run's thread -----------------------------------------------------------------------
    def _run(self) -> None:
        error = ""
        try:
            self._connect()
            if not self._stop.is_set():
                self._listen()
            if not self._stop.is_set():
                self._send()
        except _MeshFailure as exc:
            error = str(exc)
        except Exception as exc:  # a failure nobody described: still a message, never a traceback on a terminal
            log.exception("the mesh run failed")
            error = f"The mesh run stopped: {exc}"
        finally:
            stopped = self._stop.is_set()
            self._summarise(MeshPhase.CLEANING_UP, error)
            cleaned = self._clean_up()
            phase = MeshPhase.FAILED if error else MeshPhase.STOPPED if stopped else MeshPhase.FINISHED
            self._summarise(phase, error, cleaned)
            self._done.set()

    def _connect(self) -> None:
        for index, broker in enumerate(self.brokers):
            for role in ROLES:
                session = MqttSession(_run_profile(broker, index, role, self.run_id), broker.password,
                                      session_id=broker.name, buffer_messages=False)
                session.connack_timeout = self.plan.connect_timeout
                self._sessions[(role, broker.name)] = session
                session.start()
        deadline = time.monotonic() + self.plan.connect_timeout
        for (_role, name), session in self._sessions.items():
            while not session.wait_first_outcome(0.1):
                if self._stop.is_set():
                    return
                failed = session.first_status.state in (SessionState.DISCONNECTED, SessionState.RECONNECTING)
                if failed or time.monotonic() >= deadline:
                    raise _MeshFailure(_connect_failure(name, session, self.plan.connect_timeout))

    def _listen(self) -> None:
        """The repliers and observers subscribe; every SUBACK is in before the first request goes out."""
        subscriptions: list[tuple[str, str, Future]] = []
        for sender, answerer in self.pairs:
            # One replier per pair, with the pair's reply topic as its fixed one: MQTT 3.1.1 requests carry
            # no response topic, and each sender waits for its replies on a topic of its own.
            replier = Replier(self._sessions[("replier", answerer)], self.topics.request_topic(sender, answerer),
                              fixed_reply_topic=self.topics.reply_topic(sender, answerer), qos=self.plan.qos)
            self._repliers.append(replier)
            subscriptions.append((answerer, replier.topic_filter, replier.start()))
        observed = self.topics.requests_everywhere()
        for broker in self.brokers:
            observer = self._sessions[("observer", broker.name)]
            observer.add_tap(self._hops.tap(broker.name))
            subscriptions.append((broker.name, observed, observer.subscribe(observed, 0)))
        deadline = time.monotonic() + self.plan.connect_timeout
        for name, topic_filter, suback in subscriptions:
            try:
                suback.result(max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                raise _MeshFailure(f"{name} did not answer the subscription to {topic_filter} within "
                                   f"{self.plan.connect_timeout:g} s") from None
            except SessionError as exc:
                raise _MeshFailure(f"{name}: {exc}") from None

    def _send(self) -> None:
        plan = self.plan
        self._started = time.monotonic()
        for index, (sender, answerer) in enumerate(self.pairs):
            request_plan = RequestPlan(self.topics.request_topic(sender, answerer), b"x" * plan.size, plan.rate,
                                       plan.concurrency, plan.count, plan.seconds, plan.timeout, plan.qos,
                                       self.topics.reply_topic(sender, answerer))
            live = PairLive(request_plan.worker_interval, self._started)
            tracker = PairTracker(self._sessions[("requester", sender)], publisher_id(self.run_number, index),
                                  plan.size, live)
            self._lives.append(live)
            self._trackers.append(tracker)
            self._loads.append(RequestLoad(tracker, request_plan, self._stop))
        for load in self._loads:
            load.start()
        self._summarise(MeshPhase.RUNNING)
        while any(load.is_alive() for load in self._loads) and not self._stop.wait(REFRESH_SECONDS):
            self._summarise(MeshPhase.RUNNING)
        self._ended = time.monotonic()
        if self._stop.is_set():
            # Counted now: closing the trackers next fails what is still in flight, and that is no loss.
            self._settled = [replace(load.stats) for load in self._loads]
        refused = next((load.refused for load in self._loads if load.refused is not None), None)
        if refused is not None and not self._stop.is_set():
            raise _MeshFailure(str(refused))

    def _clean_up(self) -> bool:
        """Stop the streams, remove the repliers' subscriptions, close every connection. Returns whether
        every replier's UNSUBACK came (its subscription is gone) and every connection closed."""
        self._stop.set()
        for tracker in self._trackers:
            tracker.close()  # abandons requests in flight at once, and drops the reply subscriptions
        deadline = time.monotonic() + CLEANUP_SECONDS
        for load in self._loads:
            load.join(max(0.0, deadline - time.monotonic()))
        unsubscribed: list[Future] = []
        for replier in self._repliers:
            if replier.session.is_connected:
                unsubscribed.append(replier.session.unsubscribe(replier.topic_filter))
            replier.stop()  # the tap goes; its unsubscribe finds the filter gone already
        confirmed = all(r.session.is_connected for r in self._repliers)
        for future in unsubscribed:
            try:
                future.result(max(0.0, deadline - time.monotonic()))
            except (FutureTimeout, SessionError):
                confirmed = False
        for session in self._sessions.values():
            session.stop(timeout=1.0)
        self._summarise(MeshPhase.CLEANING_UP)  # the last counts, with the streams ended
        return confirmed or not self._repliers

    def _summarise(self, phase: MeshPhase, error: str = "", cleaned_up: bool = False) -> None:
        pairs = []
        for index, ((sender, answerer), load, live) in enumerate(zip(self.pairs, self._loads, self._lives)):
            settled = self._settled[index] if self._settled is not None else None
            pairs.append(pair_result(sender, answerer, load.stats, live, settled))
        if not self._started:
            elapsed = 0.0
        else:
            elapsed = (self._ended or time.monotonic()) - self._started  # the streams' time, not the clean-up's
        previous = self._snapshot
        self._snapshot = MeshSnapshot(phase, previous.brokers, self.run_id, tuple(pairs),
                                      tuple(self._hops.summaries()), elapsed, self.plan.planned_seconds,
                                      error or previous.error, cleaned_up)
