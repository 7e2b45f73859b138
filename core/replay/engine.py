"""The replay engine: audit rows sent again on their original schedule (× speed), replies compared.

``plan`` reads the rows through the same query as export and turns each into a ``ReplayItem``:
its topic and response topic rewritten, its MQTT 5 properties kept (content type, user properties,
response topic, correlation data; fresh correlation data on request), and a user property naming the
replay and the audit entry it came from, so the audit records it as a replay, not as production traffic.

``Replayer.run`` publishes them in order on a worker's own thread, sleeping to each item's scheduled
time (``speed`` None: as fast as possible), measures how late each send was, and with a ``ReplyWatcher``
waits for each request's reply on any broker given, matched by correlation data, and compares it with
the recorded one. A cancel stops before the next send.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace

from eventscope.core.audit.store import AuditQuery, AuditRow
from eventscope.core.mqtt.session import OutgoingMessage, SessionBase
from eventscope.core.records import REPLAY_PROPERTY, MessageProperties, MessageRecord
from eventscope.core.replay.compare import ReplyDiff, compare_replies
from eventscope.core.replay.rewrite import RewriteRules
from eventscope.core.replay.wire_sender import WireSenderProcess, outgoing
from eventscope.core.requests.rtt_stats import percentiles_of

OUTCOMES = ("same", "different", "no reply", "no recorded reply", "sent")
SENT_STALL_SECONDS = 30.0
MAX_SEND_BATCH = 500  # messages due at once that go out in one publish_many call
# Sent but not yet acknowledged: past this the replay waits (and shows as late) instead of piling up in the
# client, whose queue is finite (paho refuses past 65,535 messages waiting).
MAX_UNACKNOWLEDGED = 10_000


def is_replay(record: MessageRecord) -> bool:
    return any(key == REPLAY_PROPERTY for key, _ in record.properties.user_properties)


@dataclass(frozen=True, slots=True)
class ReplayItem:
    """One audit entry as it will be sent again."""

    audit_id: int
    received: float  # when it was recorded: its place in the schedule
    topic: str  # after rewriting
    payload: bytes
    qos: int
    properties: MessageProperties
    original_topic: str
    recorded_reply: bytes | None = None
    rtt_then_ms: float | None = None
    outgoing: tuple = field(default=(), repr=False, compare=False)  # what a sender process takes, built ahead

    def __post_init__(self) -> None:
        if not self.outgoing:
            object.__setattr__(self, "outgoing", outgoing(self.topic, self.payload, self.qos, self.properties,
                                                          self.received))

    @property
    def expects_reply(self) -> bool:
        return self.properties.response_topic is not None and self.properties.correlation_data is not None


@dataclass(frozen=True, slots=True)
class ReplayResult:
    item: ReplayItem
    sent_at: float  # epoch seconds
    late_ms: float  # how much later than scheduled it was sent
    outcome: str
    rtt_now_ms: float | None = None
    diff: ReplyDiff | None = None
    error: str = ""

    def as_json(self) -> dict:
        return {"audit_id": self.item.audit_id, "sent": self.sent_at, "topic": self.item.topic,
                "original_topic": self.item.original_topic, "outcome": self.outcome,
                "rtt_then_ms": self.item.rtt_then_ms, "rtt_now_ms": self.rtt_now_ms,
                "late_ms": round(self.late_ms, 3), "diff": list(self.diff.differences) if self.diff else [],
                **({"error": self.error} if self.error else {})}


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    replay_id: str
    planned: int
    results: tuple[ReplayResult, ...]
    cancelled: bool = False
    undelivered: int = 0  # handed to the client, then refused or lost before the broker acknowledged them
    error: str = ""  # why sending stopped early (the connection was lost)

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(r.outcome for r in self.results)
        return {outcome: found[outcome] for outcome in OUTCOMES if found[outcome]}

    @property
    def exit_code(self) -> int:
        """0: every compared reply was the same; 3: some differed or went missing (a CI gate)."""
        counts = self.counts
        return 3 if counts.get("different") or counts.get("no reply") else 0

    def late_p99_ms(self) -> float:
        return percentiles_of((r.late_ms for r in self.results), (0.99,))[0] if self.results else 0.0

    def rtts(self, which: str) -> tuple[float, float]:
        values = (v for v in ((r.item.rtt_then_ms if which == "then" else r.rtt_now_ms) for r in self.results)
                  if v is not None)
        p50, p99 = percentiles_of(values, (0.5, 0.99))
        return p50, p99

    def regressions(self, count: int = 5) -> list[ReplayResult]:
        """The requests whose RTT grew most, worst first."""
        compared = [r for r in self.results if r.rtt_now_ms is not None and r.item.rtt_then_ms is not None]
        compared.sort(key=lambda r: (r.rtt_now_ms or 0) - (r.item.rtt_then_ms or 0), reverse=True)
        return compared[:count]

    def text(self) -> str:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in self.counts.items()) or "nothing sent"
        lines = [f"replay {self.replay_id}: {len(self.results)} of {self.planned} sent"
                 f"{' (cancelled)' if self.cancelled else ''}: {counts}; "
                 f"timing error p99 {self.late_p99_ms():.1f} ms"
                 + (f"; {self.undelivered} not delivered (refused or lost before the broker took them)"
                    if self.undelivered else "")
                 + (f"; stopped early: {self.error}" if self.error else "")]
        then, now = self.rtts("then"), self.rtts("now")
        if now[0] == now[0]:  # not NaN: some replies were timed
            lines.append(f"RTT then p50 {then[0]:.1f} / p99 {then[1]:.1f} ms, now p50 {now[0]:.1f} / "
                         f"p99 {now[1]:.1f} ms")
            for result in self.regressions():
                lines.append(f"  {result.item.topic} (audit {result.item.audit_id}): {result.item.rtt_then_ms:.1f} → "
                             f"{result.rtt_now_ms:.1f} ms")
        return "\n".join(lines)


def plan(store, query: AuditQuery, until: float | None = None, rules: RewriteRules = RewriteRules(),
         fresh_correlation: bool = False, replay_id: str | None = None,
         ids: Iterable[int] | None = None) -> tuple[str, list[ReplayItem]]:
    """The replay's items in recorded order, from any audit store: the rows ``query`` selects (export's
    query), or the rows ``ids`` names (a window's selection). Replays of earlier replays are left out."""
    replay_id = replay_id or secrets.token_hex(4)
    chunks = [list(store.rows_by_id(ids).values())] if ids is not None else store.iter_rows(query)
    rows: list[AuditRow] = []
    for chunk in chunks:
        rows.extend(r for r in chunk if (until is None or r.received <= until) and not _was_replay(r))
    replies = store.rows_by_id([r.reply_id for r in rows if r.reply_id is not None])
    items = []
    for row in sorted(rows, key=lambda r: r.received):
        record = row.to_record()
        props = record.properties
        correlation = props.correlation_data
        if fresh_correlation and correlation is not None:
            correlation = secrets.token_bytes(16)
        user = tuple(props.user_properties) + ((REPLAY_PROPERTY, f"{replay_id}:{row.id}"),)
        properties = replace(props, response_topic=rules.apply(props.response_topic) if props.response_topic else None,
                             correlation_data=correlation, user_properties=user, subscription_identifiers=(),
                             topic_alias=None)
        reply = replies.get(row.reply_id) if row.reply_id is not None else None
        items.append(ReplayItem(row.id, row.received, rules.apply(row.topic), row.payload, row.qos, properties,
                                row.topic, reply.payload if reply is not None else None, row.rtt_ms))
    return replay_id, items


def _was_replay(row: AuditRow) -> bool:
    return any(pair[0] == REPLAY_PROPERTY for pair in row.properties.get("user_properties", ()))


class ReplyWatcher:
    """Replies to replayed requests, matched by correlation data, from whatever feeds ``on_message``: a
    headless command's sessions (``watch``), or a window's workspace tick."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[bytes, Future] = {}

    def watch(self, sessions: Iterable[SessionBase], topics: Iterable[str], timeout: float) -> None:
        """Subscribe each session to the reply topics, waiting for the SUBACKs (before anything is sent)."""
        for session in sessions:
            session.add_tap(self.on_message)  # type: ignore[attr-defined]
            for topic in sorted(set(topics)):
                session.subscribe(topic, 1).result(timeout)

    def expect(self, correlation: bytes) -> Future:
        future: Future = Future()
        with self._lock:
            self._waiting[correlation] = future
        return future

    def forget(self, correlation: bytes) -> None:
        with self._lock:
            self._waiting.pop(correlation, None)

    def on_message(self, record: MessageRecord) -> None:  # paho's or the tick's thread: a lookup, nothing more
        correlation = record.properties.correlation_data
        if correlation is None or is_replay(record):
            return
        with self._lock:
            future = self._waiting.pop(correlation, None)
        if future is not None and not future.done():  # its own arrival time: a tick may see it some ms later
            future.set_result((record.payload, record.received_mono or time.monotonic()))


class Replayer:
    """Sends ``items`` through ``publish`` on the original schedule × ``speed`` (None: flat out)."""

    def __init__(self, publish: Callable[..., Future], items: list[ReplayItem], speed: float | None = 1.0,
                 retain: bool = False, watcher: ReplyWatcher | None = None, timeout: float = 5.0,
                 on_result: Callable[[ReplayResult], None] | None = None,
                 publish_many: Callable[[list[OutgoingMessage]], Future] | None = None,
                 wire: WireSenderProcess | None = None) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("--speed takes a positive factor (0.5, 1, 10) or max")
        self.publish, self.items, self.speed, self.retain = publish, items, speed, retain
        self.watcher, self.timeout, self.on_result = watcher, timeout, on_result
        # Messages already due when one is sent go with it in one call (a connection in another process
        # then costs one crossing per batch, not per message); the schedule is kept as before.
        self.publish_many = publish_many
        # A sender process of its own (``wire_sender``) that keeps the schedule and writes to the socket itself:
        # the window's connection then carries none of the replay's sends.
        self.wire = wire

    def _due(self, start: float, first: float, index: int) -> float:
        return start + (self.items[index].received - first) / self.speed if self.speed is not None else 0.0

    def run(self, replay_id: str, cancel: threading.Event | None = None) -> ReplaySummary:
        cancel = cancel or threading.Event()
        if self.wire is not None:
            return self._run_wire(self.wire, replay_id, cancel)
        results: list[ReplayResult] = []
        pending: list[tuple[ReplayItem, float, float, float, Future]] = []
        acks = _Acknowledgements()
        start = time.monotonic()
        first = self.items[0].received if self.items else 0.0
        index = 0
        while index < len(self.items):
            if cancel.wait(max(0.0, self._due(start, first, index) - time.monotonic())):
                break
            if not acks.wait_below(MAX_UNACKNOWLEDGED - MAX_SEND_BATCH, cancel):
                break
            end = index + 1
            if self.publish_many is not None:
                now = time.monotonic()
                while end < len(self.items) and end - index < MAX_SEND_BATCH and self._due(start, first, end) <= now:
                    end += 1
            batch = self.items[index:end]
            dues = [self._due(start, first, i) for i in range(index, end)]
            index = end
            replies = [self.watcher.expect(item.properties.correlation_data)
                       if self.watcher is not None and item.expects_reply and item.properties.correlation_data is not None
                       else None for item in batch]
            sent_mono = time.monotonic()
            sent_together = False
            if len(batch) > 1 and self.publish_many is not None:
                try:
                    acks.add(self.publish_many([(item.topic, item.payload, item.qos, self.retain, item.properties)
                                                for item in batch]), len(batch), batched=True)
                    sent_together = True
                except Exception:  # noqa: BLE001 (one refused message: each alone below, with its own outcome)
                    sent_mono = time.monotonic()
            sent_at = time.time()
            for item, due, reply in zip(batch, dues, replies):
                late_ms = (sent_mono - due) * 1000 if self.speed is not None else 0.0
                if not sent_together:
                    try:
                        acks.add(self.publish(item.topic, item.payload, item.qos, self.retain, item.properties))
                    except Exception as exc:  # noqa: BLE001 (a refused publish is a result, not the end of the replay)
                        if reply is not None and item.properties.correlation_data is not None:
                            self.watcher.forget(item.properties.correlation_data)  # type: ignore[union-attr]
                        self._emit(results, ReplayResult(item, sent_at, late_ms, "sent", error=str(exc)))
                        continue
                if reply is None:  # nothing to wait for: its result is known now (and shows as progress)
                    self._emit(results, ReplayResult(item, sent_at, late_ms, "sent"))
                else:
                    pending.append((item, sent_at, late_ms, sent_mono, reply))
        self._collect(pending, results, cancel)
        acks.wait_all()
        return ReplaySummary(replay_id, len(self.items), tuple(results), cancel.is_set(), acks.undelivered)

    def _run_wire(self, wire: WireSenderProcess, replay_id: str, cancel: threading.Event) -> ReplaySummary:
        """The sender process keeps the schedule; this thread turns its progress into results."""
        items, results, pending = self.items, [], []
        first = items[0].received if items else 0.0
        replies = [self.watcher.expect(item.properties.correlation_data)  # before any send: no reply is missed
                   if self.watcher is not None and item.expects_reply and item.properties.correlation_data is not None
                   else None for item in items]
        wire.start([item.outgoing for item in items], self.speed, self.retain)
        sent_up_to = 0
        done = False
        while not done:
            if cancel.is_set():
                wire.stop()
            started, runs, done = wire.take(0.05)
            offset_now = time.time() - time.monotonic()
            for first_index, count, sent_mono in runs:
                for index in range(first_index, first_index + count):
                    item, reply = items[index], replies[index]
                    due = (started or sent_mono) + (item.received - first) / self.speed if self.speed else sent_mono
                    late_ms = (sent_mono - due) * 1000
                    if reply is None:
                        self._emit(results, ReplayResult(item, sent_mono + offset_now, late_ms, "sent"))
                    else:
                        pending.append((item, sent_mono + offset_now, late_ms, sent_mono, reply))
                sent_up_to = max(sent_up_to, first_index + count)
        for item in items[sent_up_to:]:  # never sent (cancelled, or the link failed): nothing to wait for
            if self.watcher is not None and item.expects_reply and item.properties.correlation_data is not None:
                self.watcher.forget(item.properties.correlation_data)
        if wire.progress.error and not results and not pending:
            raise ConnectionError(wire.progress.error)
        self._collect(pending, results, cancel)
        return ReplaySummary(replay_id, len(items), tuple(results), cancel.is_set(), wire.progress.undelivered,
                             wire.progress.error or "")

    def _collect(self, pending: list, results: list[ReplayResult], cancel: threading.Event) -> None:
        """Each sent request's reply, waited for up to ``timeout`` after its own send (not after a cancel)."""
        for item, sent_at, late_ms, sent_mono, reply in pending:
            if not reply.done() and not cancel.is_set():
                try:
                    reply.result(max(0.0, sent_mono + self.timeout - time.monotonic()))
                except Exception:  # noqa: BLE001 (a timeout: no reply)
                    pass
            if not reply.done():
                self._emit(results, ReplayResult(item, sent_at, late_ms, "no reply"))
                continue
            payload, arrived = reply.result()
            rtt_now = (arrived - sent_mono) * 1000
            if item.recorded_reply is None:
                self._emit(results, ReplayResult(item, sent_at, late_ms, "no recorded reply", rtt_now))
                continue
            diff = compare_replies(item.recorded_reply, payload)
            self._emit(results, ReplayResult(item, sent_at, late_ms, "same" if diff.same else "different", rtt_now,
                                             diff))

    def start(self, replay_id: str, before: Callable[[], None] | None = None) -> ReplayRun:
        """Run on a thread of its own: a window follows ``results`` and waits on nothing. ``before`` runs
        first on that thread (e.g. waiting for the reply subscriptions' SUBACKs)."""
        run = ReplayRun(replay_id)
        previous = self.on_result

        def note(result: ReplayResult) -> None:
            run.results.append(result)  # a list append: safe to read from another thread
            if previous is not None:
                previous(result)

        self.on_result = note

        def work() -> None:
            try:
                if before is not None:
                    before()
                summary = self.run(replay_id, run.cancelled)
                run.text = summary.text()  # percentiles over every result: here, not on a window's thread
                run.exit_code = summary.exit_code  # counts every outcome: here too
                run.future.set_result(summary)
            except Exception as exc:  # noqa: BLE001 (reported through the future)
                run.future.set_exception(exc)

        threading.Thread(target=work, name=f"replay-{replay_id}", daemon=True).start()
        return run

    def _emit(self, results: list[ReplayResult], result: ReplayResult) -> None:
        results.append(result)
        if self.on_result is not None:
            self.on_result(result)


class _Acknowledgements:
    """A replay's sends not yet acknowledged, oldest first, and how many of those done were not delivered."""

    def __init__(self) -> None:
        self._waiting: deque[tuple[Future, int, bool]] = deque()  # (ack, messages, from publish_many)
        self.outstanding = 0
        self.undelivered = 0

    def add(self, ack: Future, count: int = 1, batched: bool = False) -> None:
        """``ack`` of one publish (its mid, or its failure), or of a batch (how many of it failed)."""
        self._waiting.append((ack, count, batched))
        self.outstanding += count

    def _settle_oldest(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the oldest; raises ``FutureTimeout`` if it is still open."""
        ack, count, batched = self._waiting[0]
        try:
            outcome = ack.result(timeout)
        except FutureTimeout:
            raise
        except Exception:  # noqa: BLE001 (refused or lost: counted, not raised)
            failed = count
        else:
            failed = int(outcome) if batched else 0
        self._waiting.popleft()
        self.outstanding -= count
        self.undelivered += failed

    def wait_below(self, limit: int, cancel: threading.Event) -> bool:
        """Back-pressure: wait until fewer than ``limit`` are open. False if cancelled meanwhile."""
        while self.outstanding >= limit:
            if cancel.is_set():
                return False
            try:
                self._settle_oldest(0.05)
            except FutureTimeout:
                continue
        return True

    def wait_all(self) -> None:
        """Every send handed to the broker (QoS 1/2: acknowledged) before the caller disconnects: however long
        a backlog takes, as long as acknowledgements keep coming (30 s without one ends the wait)."""
        while self._waiting:
            try:
                self._settle_oldest(SENT_STALL_SECONDS)
            except FutureTimeout:
                return  # nothing moved for half a minute: the broker or the link is gone


class ReplayRun:
    """A replay under way: its results so far, its cancel, and its summary (``future``) once it ends."""

    def __init__(self, replay_id: str) -> None:
        self.replay_id = replay_id
        self.results: list[ReplayResult] = []
        self.cancelled = threading.Event()
        self.future: Future = Future()
        self.text = ""  # the summary as text, ready when ``future`` is
        self.exit_code = 0  # the summary's exit code, ready when ``future`` is

    def cancel(self) -> None:
        """Stop before the next send (at once: the pacing wait wakes up)."""
        self.cancelled.set()
