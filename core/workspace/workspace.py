"""The workspace: every broker connection and every shared model, advanced in one tick.

A message's way through Eventscope:
1. paho's network thread builds an immutable ``MessageRecord`` and appends it to the
   connection's bounded ``IngestBuffer`` (``core/mqtt/session.py``).
2. ``Workspace.tick()`` drains every buffer, merges the records by arrival time, applies them
   to the topic tree and every stream, collects what the audit writers committed, and returns
   one immutable ``ChangeSummary``. ``start()`` runs ticks on a worker thread.
3. The window takes at most one summary per frame and only turns it into Qt notifications.

Where the work runs (chosen by measurement, ``python -m tests.perf.bench_window_stall``): the
tick runs on a worker thread of the window's process, and in the window the broker connections
(paho's network threads, request trackers, audit writers) run in a child process
(``core/connections/child.py``). With everything in one process, at 20k msg/s the GUI thread
waited for the interpreter lock on every Python call it made while painting: p99 stalls of
0.6-1.1 s. With the connections in the child, the same load gives p99 13-15 ms. The tick stays
in the window's process because the views read the topic tree in place (a mirror in another
process would cost more than the apply itself), and it is bursty: a few ms per frame.

How the race between the tick thread (writing) and the window (reading) is solved, per model:
- Topic tree: append-only (see ``core/models/topic_tree.py``). The Qt model only exposes rows that a
  summary announced, and reads scalar fields that are replaced by single assignments.
- Streams: immutable deltas. A ``StreamDelta`` carries the appended records themselves and the
  number evicted from the front; the Qt model keeps its own list and never reads the core stream.
- Audit: the writer thread hands over the committed rows (``AuditRow``, immutable) and the
  request/reply pairings; the feed reads older pages on its reader thread (``core/audit/feed.py``).
- Broker state, rates and region counts: immutable snapshots in the summary.
Anything the window wants to change (a stream filter, pause, a retained clear) is posted as a
command that the tick thread runs before its next apply, so only that thread mutates models.

Backpressure: the worker does not start a new tick while the previous summary is untaken, so
a slow window never queues summaries; records then wait in the bounded buffers, and drops
are counted per broker and shown. The audit path never drops (see ``core/audit/recorder.py``).
"""

from __future__ import annotations

import gc
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from eventscope.core.audit.store import AuditRow, ReplyPairing, Sighting
from eventscope.core.connections.handle import AuditSettings, BrokerConnector, BrokerHandle, subscription_pairs
from eventscope.core.connections.local import LocalConnector
from eventscope.core.decoding.decoders import DecodedPayload
from eventscope.core.decoding.protobuf_schemas import ProtoSchemas
from eventscope.core.decoding.rules import DecoderRule, DecoderRules
from eventscope.core.models.backlog import BacklogWatch
from eventscope.core.models.rate_meter import RateMeter
from eventscope.core.models.stream import DEFAULT_CAPACITY, Stream
from eventscope.core.models.stream_filter import StreamFilter
from eventscope.core.models.topic_forest import ForestChanges, TopicForest
from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.retained import RetainedClear, clear_retained
from eventscope.core.mqtt.session import OutgoingMessage, SessionError, SessionState
from eventscope.core.profile import ConnectionProfile
from eventscope.core.records import MessageProperties, MessageRecord
from eventscope.core.requests.rtt_stats import RttSummary
from eventscope.core.requests.tracker import Reply, ReplyRouter
from eventscope.core.sparkplug.payload import NAMESPACE as SPARKPLUG_ROOT
from eventscope.core.sparkplug.payload import SparkplugError
from eventscope.core.sparkplug.state import SparkplugState
from eventscope.core.workspace.allocator import return_freed_memory
from eventscope.core.workspace.changes import (
    AuditDelta,
    AuditState,
    BrokerSummary,
    ChangeSummary,
    StreamDelta,
    chain_changes,
    merge_summaries,
)
from eventscope.core.workspace.sparkplug_metrics import SPARKPLUG_PREFIX, alias_folds, metric_records
from eventscope.core.workspace.subscriptions import Subscriptions

log = logging.getLogger(__name__)
DATA_TYPES = frozenset(("NDATA", "DDATA"))
METRIC_INTERVAL = 0.2  # seconds between a device's metric-node updates in a flood

TICK_INTERVAL = 0.033  # about 30 summaries a second: the window's frame, not the message rate
# Full garbage collections scan every tracked object, and the tree's history is hundreds of
# thousands of them: measured 60-170 ms pauses of every thread at 20k msg/s. Freezing what is
# alive (gc.freeze) twice a second keeps each full collection to what arrived since (a 2 s interval
# still let one full collection take 79 ms under a Sparkplug flood); frozen
# objects are still freed by reference counting. Models keep no reference cycles that die, and each
# freeze collects first, so garbage cycles of the last interval are never frozen.
GC_FREEZE_INTERVAL = 0.5
# Seconds the next tick waits for a window to apply the summary it took (see ``take_summary``); a window
# busy elsewhere must not hold records back for long.
APPLY_WAIT = 0.1


@dataclass
class _StreamState:
    stream: Stream
    first: int = 0
    rows: int = 0
    generation: int = 0
    new_regions: list[str] = field(default_factory=list)


class Workspace:
    """The broker connections and the shared models, advanced one tick at a time.

    ``tick()`` may be called directly (tests, headless tools) or by the worker thread that
    ``start()`` runs; only one tick runs at a time. Everything else is safe to call from the
    window's thread.

    Events: none; ``take_summary()`` returns the latest ``ChangeSummary`` (or None).

    Opt-ins for a headless command that only prints messages (``eventscope sub``): ``keep_tree=False``
    skips the topic tree, which grows for as long as the process runs (without it there are no Sparkplug
    metric nodes either, and no Sparkplug state is learnt); ``keep_records=True`` puts each tick's merged
    records in ``ChangeSummary.records``. The window keeps the defaults and pays for neither.
    """

    def __init__(self, tree: TopicForest | None = None, region_level: int = 0, interval: float = TICK_INTERVAL,
                 connector: BrokerConnector | None = None, keep_tree: bool = True, keep_records: bool = False) -> None:
        self.tree = tree if tree is not None else TopicForest()  # one root per broker
        self.keep_tree = keep_tree
        self.keep_records = keep_records
        # Where broker connections run: in this process by default, in the child for the window.
        self._connector: BrokerConnector = connector if connector is not None else LocalConnector()
        self.subscriptions = Subscriptions()  # the one owner of what each broker is subscribed to
        self._taps: tuple[Callable[[MessageRecord], None], ...] = ()
        self._router = ReplyRouter()  # replies on any broker reach the request that any broker sent
        self.region_level = region_level
        self.interval = interval
        # Copy-on-write: the tick thread iterates these while the window adds and removes.
        self._brokers: dict[str, BrokerHandle] = {}
        self._streams: dict[int, _StreamState] = {}
        self._next_stream_id = 1
        self._local = IngestBuffer()
        self._closed_audit: deque[AuditDelta] = deque()
        self._backlogs: dict[str, BacklogWatch] = {}  # per broker, on the tick thread
        self._audit_backlogs: dict[str, BacklogWatch] = {}  # per recording broker, on the tick thread
        self._audit_warnings: dict[str, tuple[str, bool]] = {}  # per broker: its writer's last (warning, waiting)
        self._closing: list[BrokerHandle] = []  # removed, but final audit results may still arrive
        self._closing_lock = threading.Lock()  # held for a list swap only, never across I/O
        self.sparkplug = SparkplugState()  # aliases and session health, written on the tick thread
        # Decoding from the window never takes a lock the tick holds: the tick is the only writer of the
        # Sparkplug state (every change to it runs there), and a resolve only looks values up. Decoder
        # rules are swapped whole; this lock orders their writers only (never taken by tick or decode).
        self._rules_lock = threading.Lock()
        self._default_rules = DecoderRules(sparkplug=self.sparkplug)
        self._decoder_rules: dict[str, DecoderRules] = {}
        self._pending_data: dict[tuple[str, str], MessageRecord] = {}  # see _observe_sparkplug
        self._metrics_due: dict[tuple[str, str], float] = {}
        self._connected_since: dict[str, float] = {}  # per broker: when its current connection came up (tick thread)
        self._commands: deque[tuple[Callable[[], object], Future]] = deque()
        self._tick_lock = threading.Lock()
        self._ticks = 0
        self._memory_releases = 0  # the trees' count of them at the last tick
        self._meter = RateMeter()
        self._summary: ChangeSummary | None = None
        self._summary_lock = threading.Lock()
        self._taken = threading.Event()
        self._taken.set()
        self._applied = threading.Event()  # cleared while a window applies a summary it took
        self._applied.set()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ----- brokers -------------------------------------------------------------------------
    @property
    def brokers(self) -> dict[str, BrokerHandle]:
        return dict(self._brokers)

    def broker(self, broker_id: str) -> BrokerHandle | None:
        return self._brokers.get(broker_id)

    def add_broker(self, profile: ConnectionProfile, password: str | None = None, subscriptions: Iterable | None = None,
                   audit: AuditSettings | None = None, broker_id: str | None = None,
                   buffer: IngestBuffer | None = None, region: str = "") -> BrokerHandle:
        """Connect to one more broker (in the background). Other brokers are not disturbed.

        ``subscriptions`` (filters, or (filter, QoS) pairs) become the user's filters on it; None keeps
        the ones it had before a disconnect (``#`` for a new broker). Filters that tools hold are added.
        """
        broker_id = broker_id or profile.name
        if broker_id in self._brokers:
            raise ValueError(f"A broker named {broker_id!r} is already in the workspace")
        if subscriptions is not None:
            self.subscriptions.set_user_filters(broker_id, subscription_pairs(subscriptions))
        elif not self.subscriptions.wanted(broker_id):
            self.subscriptions.set_user_filters(broker_id, (("#", 0),))
        connection = self._connector.open(broker_id, profile, password, self.subscriptions.wanted(broker_id), audit,
                                          self.region_level, buffer, self._router)
        self.subscriptions.attach(broker_id, connection.session)
        connection.region = region
        self._brokers = {**self._brokers, broker_id: connection}
        return connection

    def set_audit(self, broker_id: str, settings: AuditSettings | None, password: str | None = None) -> BrokerHandle:
        """Start, move or stop one broker's audit recording."""
        connection = self._brokers[broker_id]
        self._keep_final_audit(connection)
        if settings is not None:
            connection.start_audit(settings, password, self.region_level)
        return connection

    def remove_broker(self, broker_id: str, keep_topics: bool = False) -> None:
        """Disconnect one broker: final audit commit and ack, then the session stops.

        With ``keep_topics`` its tree stays (a disconnected broker the user may connect again);
        otherwise its root leaves the tree, on the tick thread.
        """
        if keep_topics:
            self.subscriptions.detach(broker_id)
        else:
            self.subscriptions.forget(broker_id)
        connection = self._brokers.get(broker_id)
        if connection is None:
            if not keep_topics:
                self.post(lambda: self.tree.remove(broker_id))
            return
        self._brokers = {k: v for k, v in self._brokers.items() if k != broker_id}
        with self._closing_lock:  # before the close starts: results that race its answer are still collected
            self._closing = [*self._closing, connection]
        self._keep_audit(connection, connection.close())
        if not keep_topics:  # its rules leave with it: a profile edited meanwhile brings its own
            with self._rules_lock:
                self._decoder_rules = {k: v for k, v in self._decoder_rules.items() if k != broker_id}
        self.post(lambda: self.sparkplug.forget_broker(broker_id))  # aliases are valid only until the next BIRTH
        self.post(lambda: self._forget_pending(broker_id))
        self.post(lambda: (self._backlogs.pop(broker_id, None), self._audit_backlogs.pop(broker_id, None)))
        if not keep_topics:
            self.post(lambda: self.tree.remove(broker_id))

    def add_tap(self, tap: Callable[[MessageRecord], None]) -> None:
        """Call ``tap(record)`` on the tick thread for every record of every broker, in arrival order. Keep it
        cheap (a lookup): it runs before the tree and the streams see the batch."""
        self._taps = (*self._taps, tap)

    def remove_tap(self, tap: Callable[[MessageRecord], None]) -> None:
        self._taps = tuple(t for t in self._taps if t is not tap)

    # ----- commands: the one path from a front end to a broker -----------------------------------
    def _open_broker(self, broker_id: str) -> BrokerHandle:
        connection = self._brokers.get(broker_id)
        if connection is None:
            raise SessionError(f"{broker_id} is not connected")
        return connection

    def publish(self, broker_id: str, topic: str, payload: bytes | str = b"", qos: int = 0, retain: bool = False,
                properties: MessageProperties | None = None) -> Future:
        """Publish on one broker; never blocks. Raises ``SessionError`` (``ReadOnlyError`` for a
        read-only broker) or ``TopicError`` before anything is sent."""
        return self._open_broker(broker_id).session.publish(topic, payload, qos, retain, properties)

    def publish_many(self, broker_id: str, messages: list[OutgoingMessage]) -> Future:
        """Publish several on one broker in one go (every one checked first); never blocks. The future
        resolves once all are sent or acknowledged, with how many failed."""
        return self._open_broker(broker_id).session.publish_many(messages)

    async def request(self, broker_id: str, topic: str, payload: bytes | str = b"", **options) -> Reply:
        """A correlated request that leaves on ``broker_id``; its reply may come back on any broker."""
        return await self._open_broker(broker_id).tracker.request(topic, payload, **options)

    async def burst(self, broker_id: str, topic: str, payload: bytes | str, count: int, concurrency: int,
                    **options) -> RttSummary:
        """``count`` requests with ``concurrency`` in flight, on ``broker_id``."""
        return await self._open_broker(broker_id).tracker.burst(topic, payload, count, concurrency, **options)

    def clear_retained(self, broker_id: str, topics: Iterable[str]) -> RetainedClear:
        """Start clearing retained ``topics`` on one broker (an empty retained QoS 1 publish each)."""
        return clear_retained(self._open_broker(broker_id).session, topics)

    def clear_topics(self) -> None:
        """Forget every broker's topics (on the tick thread); a broker's root comes back with its next message."""
        def clear() -> None:
            for broker_id in list(self.tree.trees):
                self.tree.remove(broker_id)
        self.post(clear)

    def _keep_final_audit(self, connection: BrokerHandle) -> None:
        self._keep_audit(connection, connection.stop_audit())

    def _keep_audit(self, connection: BrokerHandle, results: list) -> None:
        for delta in self._audit_deltas(connection.broker_id, connection.audit_path, results):
            self._closed_audit.append(delta)

    # ----- streams -------------------------------------------------------------------------
    def add_stream(self, stream_filter: StreamFilter, capacity: int = DEFAULT_CAPACITY) -> int:
        """A new stream that starts empty; its rows arrive in ``StreamDelta``s. Returns its id."""
        stream_id = self._next_stream_id
        self._next_stream_id += 1
        self._streams = {**self._streams, stream_id: _StreamState(Stream(stream_filter, capacity))}
        return stream_id

    def remove_stream(self, stream_id: int) -> None:
        self._streams = {k: v for k, v in self._streams.items() if k != stream_id}

    def stream(self, stream_id: int) -> Stream:
        """The core stream (for reading its filter; its rows belong to the tick thread)."""
        return self._streams[stream_id].stream

    def change_stream(self, stream_id: int, change: Callable[[Stream], object]) -> Future:
        """Run ``change(stream)`` on the tick thread before the next apply (set_filter, pause, resume, clear)."""
        return self.post(lambda: change(self._streams[stream_id].stream) if stream_id in self._streams else None)

    # ----- commands and local records --------------------------------------------------------
    def post(self, command: Callable[[], object]) -> Future:
        """Run ``command`` on the tick thread at the start of the next tick; the future has its result."""
        future: Future = Future()
        self._commands.append((command, future))
        self._wake.set()
        return future

    def feed(self, records: Iterable[MessageRecord]) -> None:
        """Records that did not come from a broker of the workspace (tests, replays)."""
        self._local_extend(records)
        self._wake.set()

    def _local_extend(self, records: Iterable[MessageRecord]) -> None:
        for record in records:
            self._local.append(record)

    # ----- the tick ------------------------------------------------------------------------
    def tick(self, now_mono: float | None = None) -> ChangeSummary:
        """Drain, merge, apply to every model, collect audit commits; one summary."""
        with self._tick_lock:
            started = time.perf_counter()
            now = time.monotonic() if now_mono is None else now_mono
            self._run_commands()
            brokers = list(self._brokers.values())
            self._forget_on_reconnect(brokers)
            batch = self._local.drain()
            per_broker: dict[str, int] = {}
            sources = 1 if batch else 0
            for connection in brokers:
                records = connection.buffer.drain()
                per_broker[connection.broker_id] = len(records)
                connection.meter.note(len(records), now)
                if records:
                    batch.extend(records)
                    sources += 1
            if sources > 1:
                batch.sort(key=_arrival)
            for tap in self._taps:  # e.g. a replay's reply watcher: a lookup per record, on this thread
                for record in batch:
                    tap(record)
            tree_changes = self.tree.apply(batch, now) if self.keep_tree else ForestChanges()
            metrics, folds = self._observe_sparkplug(batch)  # none without a tree: it finds no spBv1.0 root
            if metrics:  # each Sparkplug metric as its own tree node, after the messages that carried them
                tree_changes = chain_changes(tree_changes, self.tree.apply(metrics, now))
            if folds:  # a BIRTH named aliases whose values came before it: their nodes take the names
                tree_changes = chain_changes(tree_changes, self.tree.fold(folds))
            root = self.tree.root
            # Regions are the first topic level, right under each broker's root.
            new_regions = tuple(node.name for node in tree_changes.created
                                if node.parent is not None and node.parent.parent is root)
            streams = tuple(self._apply_streams(batch, now))
            audit = tuple(self._collect_audit(brokers))
            for delta in audit:
                self._audit_warnings[delta.broker_id] = (delta.warning, delta.waiting)
            self._meter.note(len(batch), now)
            self._ticks += 1
            freed = self.tree.memory_releases
            if freed != self._memory_releases:  # a tree let go of much memory at once: give the system its share
                self._memory_releases = freed
                return_freed_memory()
            return ChangeSummary(
                tick=self._ticks, messages=len(batch), tree=tree_changes, new_regions=new_regions,
                streams=streams, audit=audit, brokers=tuple(self._broker_summary(c, now) for c in brokers),
                messages_per_second=self._meter.rate, duration=time.perf_counter() - started,
                records=tuple(batch) if self.keep_records else ())

    # ----- decoding ------------------------------------------------------------------------
    def set_topic_budget(self, topic_budget: int) -> Future:
        """Every broker's tree keeps at most ``topic_budget`` topic levels; past it the least recently seen
        leaves are evicted (the next summary reports them). Raises ``ValueError`` below 1."""
        if topic_budget < 1:
            raise ValueError("the topic budget must be at least 1")
        return self.post(lambda: self.tree.set_topic_budget(topic_budget))

    def set_history_budget(self, history_budget: int) -> Future:
        """Every broker's tree keeps at most ``history_budget`` counted bytes of history; a smaller budget
        shortens every topic's history at once. Raises ``ValueError`` below 1."""
        if history_budget < 1:
            raise ValueError("the history budget must be at least 1 byte")
        return self.post(lambda: self.tree.set_history_budget(history_budget))

    def set_decoder_rules(self, broker_id: str, rules: Iterable[DecoderRule] = (),
                          schemas: ProtoSchemas | None = None) -> None:
        """The broker's decoder rules (from its profile), used by ``decode``; Sparkplug state is shared.

        Ignored for a broker no longer open (a slow .proto compile may finish after it closed)."""
        with self._rules_lock:
            if broker_id not in self._brokers:
                return
            self._decoder_rules = {**self._decoder_rules,
                                   broker_id: DecoderRules(rules, schemas, sparkplug=self.sparkplug)}

    def decode(self, record: MessageRecord, decoder: str = "") -> DecodedPayload:
        """``record`` decoded by its broker's rules (or ``decoder``, the user's pick), with Sparkplug aliases
        as the tick thread has learnt them. Safe from any thread, and waits on no lock; never raises on bad input."""
        rules = self._decoder_rules.get(record.broker_id) or self._default_rules
        return rules.decode(record, decoder)

    def _observe_sparkplug(self, batch: list[MessageRecord]) -> tuple[list[MessageRecord], list[tuple[str, str, str]]]:
        """Teach the Sparkplug state every message in arrival order (aliases and seq need it).

        BIRTH, DEATH and STATE are decoded in full. A DATA costs only a parse (its seq and the
        node's state); its values are converted for the tree's metric nodes at most every
        ``METRIC_INTERVAL`` per device (the newest DATA then), so a flood of 20k msg/s over 100
        devices costs 500 conversions a second, not 20k. The DATA topic itself keeps every message.
        Returns one record per named metric, for the tree's metrics branch (see ``metric_records``),
        and (broker, alias node, name node) for each alias a BIRTH named after its DATA came in.
        Only brokers whose tree has an ``spBv1.0`` root level pay for the per-record check.
        """
        trees = self.tree.trees
        sparkplug_brokers = {b for b, tree in trees.items() if tree.node(SPARKPLUG_ROOT) is not None}
        if not sparkplug_brokers:
            return [], []
        records = [r for r in batch if r.broker_id in sparkplug_brokers and r.topic.startswith(SPARKPLUG_PREFIX)]
        metrics: list[MessageRecord] = []
        folds: list[tuple[str, str, str]] = []
        pending = self._pending_data  # (broker, topic) -> the newest DATA not yet in the metric nodes
        state = self.sparkplug
        for record in records:
            try:
                if "DATA/" in record.topic and record.topic.split("/", 3)[2] in DATA_TYPES:
                    state.observe_seq(record)
                    pending[(record.broker_id, record.topic)] = record
                    continue
                if pending:  # a BIRTH or DEATH changes what earlier DATA meant: settle them first
                    metrics.extend(self._data_metrics(everything=True))
                message = state.observe(record)
                metrics.extend(metric_records(record, message))
                folds.extend((record.broker_id, old, new) for old, new in alias_folds(message))
            except SparkplugError:
                continue  # a malformed payload teaches nothing; the details pane shows why it failed
        metrics.extend(self._data_metrics())
        return metrics, folds

    def _forget_on_reconnect(self, brokers: list[BrokerHandle]) -> None:
        """Tick thread: a broker that connected again (its session reconnected by itself) taught aliases
        that hold only until the edge nodes' next BIRTH, so they are forgotten, as for a closed broker."""
        for connection in brokers:
            status = connection.session.status
            if status.state is not SessionState.CONNECTED:
                continue
            before = self._connected_since.get(connection.broker_id)
            if before == status.since:
                continue
            self._connected_since[connection.broker_id] = status.since
            if before is not None:
                self.sparkplug.forget_broker(connection.broker_id)
                self._forget_pending(connection.broker_id)

    def _forget_pending(self, broker_id: str) -> None:
        """Tick thread: a closed broker's pending Sparkplug DATA must not bring its tree root back."""
        for key in [k for k in self._pending_data if k[0] == broker_id]:
            del self._pending_data[key]
        for key in [k for k in self._metrics_due if k[0] == broker_id]:
            del self._metrics_due[key]

    def _data_metrics(self, everything: bool = False) -> list[MessageRecord]:
        """Metric records of the pending DATA whose device is due (or of all of them)."""
        now = time.monotonic()
        due = self._metrics_due
        out = []
        for key in [k for k in self._pending_data if everything or due.get(k, 0.0) <= now]:
            record = self._pending_data.pop(key)
            # Jittered, so a hundred devices that started together do not all convert in one tick.
            due[key] = now + METRIC_INTERVAL * (0.5 + random.random())
            try:
                out.extend(metric_records(record, self.sparkplug.observe_values(record)))
            except SparkplugError:
                pass
        return out

    def _run_commands(self) -> None:
        while self._commands:
            command, future = self._commands.popleft()
            try:
                future.set_result(command())
            except Exception as exc:  # the poster sees the failure through its future
                future.set_exception(exc)

    def _apply_streams(self, batch: list[MessageRecord], now: float):
        for stream_id, state in list(self._streams.items()):
            stream = state.stream
            if batch:
                change = stream.apply(batch, now)
                state.new_regions.extend(change.new_regions)
            yield self._stream_delta(stream_id, state)

    @staticmethod
    def _stream_delta(stream_id: int, state: _StreamState) -> StreamDelta:
        """Compare the stream's visible rows with what the last delta told the window."""
        stream = state.stream
        first, rows = stream.first_row, stream.row_count
        new_regions, state.new_regions = tuple(state.new_regions), []
        regions = tuple(stream.region_stats.snapshot())
        if stream.generation != state.generation:
            state.generation, state.first, state.rows = stream.generation, first, rows
            return StreamDelta(stream_id, reset=tuple(stream.records()), paused=stream.paused, waiting=stream.waiting,
                               new_regions=new_regions, regions=regions)
        evicted = min(first - state.first, state.rows)
        appended = rows - (state.rows - evicted)
        state.first, state.rows = first, rows
        records = stream.records()
        return StreamDelta(stream_id, evicted=evicted, appended=tuple(records[len(records) - appended:]) if appended else (),
                           paused=stream.paused, waiting=stream.waiting, new_regions=new_regions, regions=regions)

    def _collect_audit(self, brokers: list[BrokerHandle]):
        while self._closed_audit:
            yield self._closed_audit.popleft()
        if self._closing:
            done = [c for c in self._closing if c.closed]  # read before draining: nothing can follow those
            for connection in self._closing:
                yield from self._audit_deltas(connection.broker_id, connection.audit_path,
                                              connection.take_audit_results())
            if done:
                with self._closing_lock:
                    self._closing = [c for c in self._closing if c not in done]
        for connection in brokers:
            yield from self._audit_deltas(connection.broker_id, connection.audit_path, connection.take_audit_results())

    @classmethod
    def _audit_deltas(cls, broker_id: str, path: Path | str | None, results) -> list[AuditDelta]:
        """One delta per store the results were committed to (``path`` for results that do not say), in order:
        results committed just before the audit moved keep the store they are in."""
        deltas: list[AuditDelta] = []
        start = 0
        for end in range(1, len(results) + 1):
            database = results[start].database or path
            if end == len(results) or (results[end].database or path) != database:
                if database is not None:
                    deltas.append(cls._audit_delta(broker_id, database, results[start:end]))
                start = end
        return deltas

    @staticmethod
    def _audit_delta(broker_id: str, database: Path | str, results) -> AuditDelta:
        rows: list[AuditRow] = []
        pairings: list[ReplyPairing] = []
        sightings: list[Sighting] = []
        committed = duplicates = 0
        complete = True
        for summary in results:
            complete = complete and not summary.written_elsewhere
            result = summary.result
            if result is None:
                continue
            committed += result.inserted
            duplicates += result.duplicates
            complete = complete and len(result.rows) == result.inserted
            rows.extend(result.rows)
            pairings.extend(result.pairings)
            sightings.extend(result.sightings)
        last = results[-1]
        return AuditDelta(broker_id, database, tuple(rows), tuple(pairings), tuple(sightings), committed, duplicates,
                          complete, last.warning, last.pending, last.waiting)

    def _broker_summary(self, connection: BrokerHandle, now: float) -> BrokerSummary:
        stats = connection.buffer.stats()
        tree = self.tree.trees.get(connection.broker_id)
        reading = connection.session.socket_reading()
        watch = self._backlogs.get(connection.broker_id)
        if watch is None:
            watch = self._backlogs[connection.broker_id] = BacklogWatch()
        backlog = watch.update(now, reading.unread, reading.reads, reading.full_reads, stats.buffered,
                               connection.meter.rate)
        return BrokerSummary(connection.broker_id, connection.session.status, stats.received,
                             stats.dropped + connection.dropped_elsewhere, stats.buffered, connection.meter.rate,
                             tree.retained_seen if tree is not None else 0,
                             self._audit_state(connection, now), backlog)

    def _audit_state(self, connection: BrokerHandle, now: float) -> AuditState:
        recorder = connection.recorder
        recording = recorder is not None
        warning, waiting = self._audit_warnings.get(connection.broker_id, ("", False)) if recording else ("", False)
        if recorder is None:
            self._audit_backlogs.pop(connection.broker_id, None)
            return AuditState(connection.audit_path, recording, connection.audit_notice, warning, waiting)
        watch = self._audit_backlogs.get(connection.broker_id)
        if watch is None:
            watch = self._audit_backlogs[connection.broker_id] = BacklogWatch(audit=True)
        reading = recorder.reading()
        backlog = watch.update(now, reading.unread, reading.reads, reading.full_reads, reading.waiting,
                               stalls=reading.stalled, writing=reading.writing)
        return AuditState(connection.audit_path, recording, connection.audit_notice, warning, waiting, backlog)

    # ----- the worker thread -------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Tick on a worker thread about every ``interval`` seconds, once the last summary was taken."""
        if self.running:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="workspace-tick", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._taken.set()
        self._applied.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def take_summary(self, until_applied: bool = False) -> ChangeSummary | None:
        """The summary of the latest tick, once; None if there is no new one. Lets the next tick start.

        ``until_applied``: the next tick also waits for ``summary_applied()`` (``APPLY_WAIT`` at most). A window
        applies the summary on its own thread, and a tick running meanwhile takes the interpreter lock back
        from it at every call from Qt into Python: a frame of 9 ms took 95 under load that way."""
        with self._summary_lock:
            summary, self._summary = self._summary, None
        if summary is not None and until_applied:
            self._applied.clear()
        self._taken.set()
        return summary

    def summary_applied(self) -> None:
        """The window has applied the summary it took with ``until_applied``: the next tick may start."""
        self._applied.set()

    def tick_now(self, timeout: float = 5.0) -> ChangeSummary | None:
        """One tick, now: on the worker thread when it runs (waiting for it), else on this thread.

        With the worker running, every summary taken meanwhile is merged into the one returned.
        """
        if not self.running:
            return self.tick()
        done = self.post(lambda: self._ticks + 1)  # the number of the tick that runs it
        merged: ChangeSummary | None = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            summary = self.take_summary()
            if summary is not None:
                merged = merge_summaries(merged, summary)
                if done.done() and summary.tick >= done.result():
                    break
            else:
                self._stopping.wait(0.001)  # polling with a deadline while the worker ticks
        return merged

    def _run(self) -> None:
        next_tick = time.monotonic()
        next_freeze = next_tick + GC_FREEZE_INTERVAL
        while not self._stopping.is_set():
            self._taken.wait()
            self._applied.wait(APPLY_WAIT)
            self._applied.set()  # a window that did not say so in time: tick anyway
            if self._stopping.is_set():
                return
            if time.monotonic() >= next_freeze:  # between frames too: a collection holds the interpreter
                # Collect first: a dead cycle not yet collected would be frozen with the living, for good.
                # Only what is not frozen is scanned, so this covers the last interval's objects.
                gc.collect()
                gc.freeze()
                next_freeze = time.monotonic() + GC_FREEZE_INTERVAL
            delay = next_tick - time.monotonic()
            if delay > 0 and not self._commands:
                self._wake.wait(delay)
                self._wake.clear()
            next_tick = time.monotonic() + self.interval
            try:
                summary = self.tick()
            except Exception:  # keep ticking: a bad record must not freeze every view
                log.exception("workspace tick failed")
                continue
            with self._summary_lock:
                self._summary = summary
                self._taken.clear()

    def close(self) -> None:
        """Stop ticking and disconnect every broker (each with its final audit commit)."""
        self.stop()
        for broker_id in list(self._brokers):
            self.remove_broker(broker_id)
        self._connector.close()


def _arrival(record: MessageRecord) -> float:
    return record.received_mono
