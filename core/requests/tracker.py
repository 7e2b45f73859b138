"""Request/reply over one MQTT session: send a request, await its reply, measure the RTT.

MQTT 5: every request carries a ResponseTopic and a fresh random CorrelationData; replies
are matched on the correlation data only, so a stale retained message, a reply meant for
someone else, or the second copy Mosquitto delivers when the reply topic also matches
another subscription of the session (the GUI's "#") is never taken as the reply.

MQTT 3.1.1 cannot carry either property. The fallback (as in the "hello/request" /
"hello/response" pattern) uses a fixed reply topic, and the first non-retained message on
it after the publish is the reply, oldest request first; such replies are marked
uncorrelated wherever they are shown.

The network thread only does a dict lookup in a session tap and hands the record to the
caller's loop with ``call_soon_threadsafe``; it works with plain asyncio and with qasync.

Events: none; each ``request`` returns its own awaitable. ``stats()`` counts what the tap
ignored (strays, retained messages, duplicate copies).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from eventscope.core.mqtt.session import MqttSession, SessionError
from eventscope.core.profile import MQTT_V5
from eventscope.core.records import MessageProperties, MessageRecord
from eventscope.core.requests.rtt_stats import RttSummary
from eventscope.core.topics import FilterSet, TopicError, validate_topic

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0
DEFAULT_V311_REPLY_TOPIC = "hello/response"
CORRELATION_BYTES = 16
# Headroom for the fixed header, topic length and properties when checking the packet size.
PACKET_OVERHEAD_BYTES = 64
# How many answered correlation ids to remember, to tell a duplicate copy from a stray.
ANSWERED_MEMORY = 8192


class RequestError(Exception):
    """A request that did not get a reply; the message says why, for the user."""


class RequestRefused(RequestError, ValueError):
    """Bad input, refused before anything was sent."""


class RequestTimeout(RequestError, TimeoutError):
    """No reply arrived in time."""


def default_reply_topic(session: MqttSession) -> str:
    """The per-session reply topic: one per client id, so two windows never share replies."""
    if session.profile.mqtt_version != MQTT_V5:
        return DEFAULT_V311_REPLY_TOPIC
    return f"eventscope/{session.client_id}/reply"


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to one request. ``rtt`` is seconds from publish to arrival (monotonic clock).

    ``sent_on`` is the broker the request left on; ``received_on`` the one the reply came back on
    (another broker of the mesh when a bridge carried the request).
    """

    request_topic: str
    reply_topic: str
    record: MessageRecord
    rtt: float
    correlation_id: str  # hex; "" when uncorrelated (MQTT 3.1.1)
    sent_on: str = ""

    @property
    def received_on(self) -> str:
        return self.record.broker_id

    @property
    def correlated(self) -> bool:
        return bool(self.correlation_id)

    @property
    def payload(self) -> bytes:
        return self.record.payload

    @property
    def status(self) -> str:
        return "ok" if self.correlated else "uncorrelated"


@dataclass(frozen=True, slots=True)
class TrackerStats:
    in_flight: int
    answered: int
    strays: int  # on a reply topic, not matching any request in flight
    retained_ignored: int
    duplicates: int  # a second copy of a reply already taken (overlapping subscriptions)


class _Pending:
    __slots__ = ("loop", "future", "sent_mono")

    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future) -> None:
        self.loop = loop
        self.future = future
        self.sent_mono = 0.0


def _deliver(future: asyncio.Future, value) -> None:
    """Runs on the caller's loop."""
    if future.done():
        return
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)


class ReplyRouter:
    """Hands every message of a workspace's sessions to the trackers waiting on its topic.

    A request may leave on one broker and its reply come back on another (the mesh bridged the
    request; the replier answered on its own broker). Each session has one tap into the router,
    and each tracker looks only at its own reply topics, so unrelated traffic costs one set lookup
    per tracker.
    """

    def __init__(self) -> None:
        self._trackers: tuple[RequestTracker, ...] = ()  # replaced, never mutated: read by network threads

    def attach(self, tracker: RequestTracker) -> None:
        self._trackers = self._trackers + (tracker,)

    def detach(self, tracker: RequestTracker) -> None:
        self._trackers = tuple(t for t in self._trackers if t is not tracker)

    def dispatch(self, record: MessageRecord) -> None:
        for tracker in self._trackers:
            tracker._on_record(record)


class RequestTracker:
    """Sends requests through ``session`` and matches each reply to its request.

    With a shared ``router``, replies that arrive on any session of the router are matched too.
    """

    def __init__(self, session: MqttSession, v311_reply_topic: str = DEFAULT_V311_REPLY_TOPIC,
                 router: ReplyRouter | None = None) -> None:
        self.session = session
        self.v5 = session.profile.mqtt_version == MQTT_V5
        self.v311_reply_topic = v311_reply_topic
        self._lock = threading.Lock()
        self._reply_topics: set[str] = set()  # read by the tap without the lock: replaced, never mutated
        self._subscriptions: dict[str, Future] = {}  # reply topic -> concurrent SUBACK future
        self._added_filters: list[str] = []
        self._by_correlation: dict[bytes, _Pending] = {}
        self._uncorrelated: dict[str, deque[_Pending]] = {}
        self._answered: OrderedDict[bytes, None] = OrderedDict()
        self._answered_count = 0
        self._strays = 0
        self._retained_ignored = 0
        self._duplicates = 0
        self._closed = False
        self._router = router if router is not None else ReplyRouter()
        self._router.attach(self)
        session.add_tap(self._router.dispatch)

    # ----- public API -----------------------------------------------------------
    def default_reply_topic(self) -> str:
        return default_reply_topic(self.session) if self.v5 else self.v311_reply_topic

    def stats(self) -> TrackerStats:
        with self._lock:
            in_flight = len(self._by_correlation) + sum(len(q) for q in self._uncorrelated.values())
            return TrackerStats(in_flight, self._answered_count, self._strays, self._retained_ignored, self._duplicates)

    def check(self, topic: str, payload: bytes, qos: int = 0, reply_topic: str | None = None,
              timeout: float = DEFAULT_TIMEOUT, properties_size: int = 0) -> str:
        """Refuse bad input with the reason (``RequestRefused``); returns the reply topic to use."""
        if self._closed:
            raise RequestRefused("This request tracker is closed")
        if self.session.read_only:
            raise RequestRefused("This connection is read-only (monitor mode): requests are disabled")
        try:
            validate_topic(topic)
        except TopicError as exc:
            raise RequestRefused(str(exc)) from None
        reply_topic = reply_topic or self.default_reply_topic()
        try:
            validate_topic(reply_topic)
        except TopicError as exc:
            raise RequestRefused(f"Reply topic: {exc}") from None
        if reply_topic == topic:
            raise RequestRefused("The reply topic must differ from the request topic")
        if qos not in (0, 1, 2):
            raise RequestRefused("QoS must be 0, 1 or 2")
        if not timeout > 0:
            raise RequestRefused("The timeout must be more than 0 seconds")
        limit = self.session.max_packet_size
        size = len(payload) + len(topic.encode()) + len(reply_topic.encode()) + properties_size + PACKET_OVERHEAD_BYTES
        if limit and size > limit:
            raise RequestRefused(f"Payload of {len(payload)} bytes exceeds the broker's maximum packet size "
                                 f"of {limit} bytes")
        return reply_topic

    async def request(
        self,
        topic: str,
        payload: bytes | str = b"",
        *,
        qos: int = 0,
        reply_topic: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        user_properties: tuple[tuple[str, str], ...] = (),
        content_type: str | None = None,
        message_expiry: int | None = None,
    ) -> Reply:
        """Publish a request and return its reply.

        Raises ``RequestRefused`` (bad input, nothing sent), ``RequestTimeout`` or ``RequestError``.
        """
        data = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
        user_properties = tuple((str(k), str(v)) for k, v in user_properties)
        props_size = (sum(len(k.encode()) + len(v.encode()) + 5 for k, v in user_properties)
                      + len((content_type or "").encode()))
        reply_topic = self.check(topic, data, qos, reply_topic, timeout, props_size + CORRELATION_BYTES)
        if not self.session.is_connected:
            raise RequestError(f"Not connected to {self.session.profile.host}:{self.session.profile.port}")
        await self._ensure_subscribed(reply_topic, qos, timeout)

        loop = asyncio.get_running_loop()
        pending = _Pending(loop, loop.create_future())
        correlation = secrets.token_bytes(CORRELATION_BYTES) if self.v5 else b""
        with self._lock:
            if self.v5:
                self._by_correlation[correlation] = pending
            else:
                self._uncorrelated.setdefault(reply_topic, deque()).append(pending)
        properties = MessageProperties(
            response_topic=reply_topic if self.v5 else None,
            correlation_data=correlation if self.v5 else None,
            content_type=content_type or None,
            message_expiry_interval=message_expiry or None,
            user_properties=user_properties,
        )
        try:
            pending.sent_mono = time.monotonic()
            try:
                published = self.session.publish(topic, data, qos=qos, properties=properties)
            except SessionError as exc:
                raise RequestError(str(exc)) from None
            published.add_done_callback(lambda f: self._on_published(f, pending))
            try:
                record = await asyncio.wait_for(pending.future, timeout)
            except asyncio.TimeoutError:
                raise RequestTimeout(f"No reply on {reply_topic!r} within {timeout:g} s (request to {topic!r})") from None
        finally:
            self._forget(pending, correlation, reply_topic)
        return Reply(topic, reply_topic, record, record.received_mono - pending.sent_mono, correlation.hex(),
                     self.session.session_id)

    async def burst(self, topic: str, payload: bytes | str | Callable[[int], bytes | str], count: int,
                    concurrency: int, on_reply: Callable[[Reply], None] | None = None,
                    on_failure: Callable[[RequestError], None] | None = None, **options) -> RttSummary:
        """Send ``count`` requests, at most ``concurrency`` in flight, and summarise their RTTs (see ``run_burst``)."""
        return await run_burst(self.request, topic, payload, count, concurrency, on_reply, on_failure, **options)

    def close(self) -> None:
        """Stop matching, fail what is in flight, and drop the reply subscriptions this tracker added."""
        self._closed = True
        self._router.detach(self)
        self.session.remove_tap(self._router.dispatch)
        with self._lock:
            pendings = list(self._by_correlation.values()) + [p for q in self._uncorrelated.values() for p in q]
            self._by_correlation.clear()
            self._uncorrelated.clear()
            added, self._added_filters = self._added_filters, []
        for pending in pendings:
            self._resolve(pending, RequestError("The request was abandoned: the connection closed"))
        for topic_filter in added:
            try:
                self.session.unsubscribe(topic_filter)
            except Exception:  # the session may already be gone
                pass

    # ----- internals ------------------------------------------------------------
    async def _ensure_subscribed(self, reply_topic: str, qos: int, timeout: float) -> None:
        """Subscribe to the reply topic once and wait for its SUBACK before the first publish."""
        suback = self._subscriptions.get(reply_topic)
        if suback is None:
            with self._lock:
                self._reply_topics = self._reply_topics | {reply_topic}
            if not self.v5 and FilterSet(self.session.subscriptions).matches(reply_topic):
                # Another subscription already brings the reply topic. Without correlation data a
                # second, overlapping one would make the broker's duplicate copy look like the next reply.
                return
            suback = self.session.subscribe(reply_topic, max(qos, 1))
            self._subscriptions[reply_topic] = suback
            self._added_filters.append(reply_topic)
        try:
            await asyncio.wait_for(asyncio.wrap_future(suback), timeout)
        except asyncio.TimeoutError:
            raise RequestTimeout(f"No SUBACK for the reply topic {reply_topic!r} within {timeout:g} s") from None
        except SessionError as exc:
            self._subscriptions.pop(reply_topic, None)
            raise RequestError(str(exc)) from None

    def _forget(self, pending: _Pending, correlation: bytes, reply_topic: str) -> None:
        with self._lock:
            if correlation:
                self._by_correlation.pop(correlation, None)
            else:
                queue = self._uncorrelated.get(reply_topic)
                if queue is not None and pending in queue:
                    queue.remove(pending)

    def _on_published(self, published, pending: _Pending) -> None:
        """The broker refused the publish (QoS 1/2): fail the request now rather than time out."""
        error = published.exception()
        if error is not None:
            self._resolve(pending, RequestError(str(error)))

    @staticmethod
    def _resolve(pending: _Pending, value) -> None:
        if pending.loop.is_closed():  # qasync would emit on a signaller that may be gone
            return
        try:
            pending.loop.call_soon_threadsafe(_deliver, pending.future, value)
        except RuntimeError:  # the caller's loop is closed; nobody is waiting any more
            pass

    def _on_record(self, record: MessageRecord) -> None:
        """Session tap, on the network thread: one set lookup for unrelated traffic."""
        if record.topic not in self._reply_topics:
            return
        if record.retain:
            with self._lock:
                self._retained_ignored += 1
            return
        correlation = record.properties.correlation_data
        with self._lock:
            if self.v5:
                pending = self._by_correlation.pop(correlation, None) if correlation else None
                if pending is None:
                    if correlation in self._answered:
                        self._duplicates += 1
                    else:
                        self._strays += 1
                    return
                assert correlation is not None  # the pending request was found by its correlation data
                self._answered[correlation] = None
                if len(self._answered) > ANSWERED_MEMORY:
                    self._answered.popitem(last=False)
            else:
                queue = self._uncorrelated.get(record.topic)
                if not queue:
                    self._strays += 1
                    return
                pending = queue.popleft()
            self._answered_count += 1
        self._resolve(pending, record)


async def run_burst(request, topic: str, payload: bytes | str | Callable[[int], bytes | str], count: int,
                    concurrency: int, on_reply: Callable[[Reply], None] | None = None,
                    on_failure: Callable[[RequestError], None] | None = None, **options) -> RttSummary:
    """Send ``count`` requests through ``request``, at most ``concurrency`` in flight, and summarise their RTTs.

    ``payload`` may be a function of the request's index. ``on_reply`` / ``on_failure`` see
    each outcome as it comes. Bad input raises ``RequestRefused`` before the first send.
    """
    if count < 1 or concurrency < 1:
        raise RequestRefused("Count and concurrency must be at least 1")
    rtts: list[float] = []
    failures = 0
    indexes = iter(range(count))

    async def worker() -> None:
        nonlocal failures
        for index in indexes:
            body = payload(index) if callable(payload) else payload
            try:
                reply = await request(topic, body, **options)
            except RequestRefused:
                raise
            except RequestError as exc:
                failures += 1
                if on_failure is not None:
                    on_failure(exc)
            else:
                rtts.append(reply.rtt)
                if on_reply is not None:
                    on_reply(reply)

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(min(count, concurrency))))
    return RttSummary.from_samples(rtts, failures, time.monotonic() - started)

