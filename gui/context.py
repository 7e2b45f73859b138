"""What every view shares: the workspace, the bridge that delivers its summaries, settings, selection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal

from eventscope.core.audit.store import DEFAULT_PAYLOAD_LIMIT
from eventscope.core.bench.mesh import MeshBroker, MeshPlan, MeshRefused
from eventscope.core.bench.mesh_process import MeshRunProcess
from eventscope.core.connections.handle import AuditSettings, BrokerHandle
from eventscope.core.connections.remote import RemoteConnector
from eventscope.core.models.topic_tree import DEFAULT_HISTORY_BUDGET, DEFAULT_TOPIC_BUDGET
from eventscope.core.mqtt.retained import RetainedClear
from eventscope.core.mqtt.session import OutgoingMessage, SessionBase
from eventscope.core.profile import ConnectionProfile
from eventscope.core.records import MessageProperties
from eventscope.core.replay.wire_sender import WireSenderProcess
from eventscope.core.requests.rtt_stats import RttSummary
from eventscope.core.requests.tracker import Reply, RequestTracker
from eventscope.core.sparkplug.commands import edge_node_of, rebirth_command
from eventscope.core.workspace.brokers import DEFAULT_SUBSCRIPTIONS, BrokerEntry, BrokerRegistry
from eventscope.core.workspace.changes import AuditState
from eventscope.core.workspace.workspace import Workspace
from eventscope.gui.bridge import SummaryBridge
from eventscope.gui.settings_values import bounded_int

DEFAULT_REGIONS = ("us-east", "us-west", "eu-central", "ap-south")
TOPIC_BUDGET_KEY = "tree/topicBudget"
MIN_TOPIC_BUDGET = 1_000
MAX_TOPIC_BUDGET = 10_000_000
MIB = 1024 * 1024
HISTORY_BUDGET_KEY = "tree/historyBudgetMiB"
DEFAULT_HISTORY_BUDGET_MIB = DEFAULT_HISTORY_BUDGET // MIB
MIN_HISTORY_BUDGET_MIB = 16
MAX_HISTORY_BUDGET_MIB = 16 * 1024


class AppContext(QObject):
    """Shared state of one window. Views hold a reference and listen to its signals.

    Views never own a connection, a recorder or a core model: they ask the context, which asks
    the workspace.

    Several brokers can be open at once; ``connection`` is the current one (the request panel
    sends through it, the audit feed shows its database). A broker the user disconnects keeps
    its row (an entry) and its topics until it is removed.

    Signals:
        brokersChanged(): a broker was added, removed, connected or disconnected.
        sessionChanged(SessionBase | None): the current connection changed (or there is none).
        auditChanged(BrokerHandle | None): recording started, moved or stopped.
        messageSelected(MessageRecord): a view asks the details pane to show a message.
        topicSelected(TopicNode): the topic tree's current topic (the details pane shows its history).
        regionsChanged(): the list of known regions grew.
    """

    brokersChanged = Signal()
    sessionChanged = Signal(object)
    auditChanged = Signal(object)
    messageSelected = Signal(object)
    topicSelected = Signal(object)
    regionsChanged = Signal()

    def __init__(self, settings: QSettings | None = None, parent: QObject | None = None,
                 workspace: Workspace | None = None) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()
        # The window's workspace keeps its broker connections in a child process (core/connections/child.py).
        self.workspace = workspace if workspace is not None else Workspace(connector=RemoteConnector())
        self.bridge = SummaryBridge(self.workspace, parent=self)
        self.registry = BrokerRegistry(self.workspace)  # the brokers and the rules for opening them
        self.connection: BrokerHandle | None = None  # the current broker, as the views were told
        self.password: str | None = None  # this run only; stored in the OS keychain, never in settings
        self.region_level = 0
        self.regions: list[str] = list(DEFAULT_REGIONS)
        self._audit_states: dict[str, AuditState] = {}  # as last reported by a change summary
        self._closing: Future | None = None  # the workspace closing on its own thread (close_in_background)
        self.topic_budget = DEFAULT_TOPIC_BUDGET
        saved_budget = bounded_int(self.settings, TOPIC_BUDGET_KEY, DEFAULT_TOPIC_BUDGET, MIN_TOPIC_BUDGET,
                                   MAX_TOPIC_BUDGET)
        if saved_budget != DEFAULT_TOPIC_BUDGET:
            self.set_topic_budget(saved_budget, save=False)
        self.history_budget_mib = DEFAULT_HISTORY_BUDGET_MIB
        saved_history = bounded_int(self.settings, HISTORY_BUDGET_KEY, DEFAULT_HISTORY_BUDGET_MIB, MIN_HISTORY_BUDGET_MIB,
                                    MAX_HISTORY_BUDGET_MIB)
        if saved_history != DEFAULT_HISTORY_BUDGET_MIB:
            self.set_history_budget(saved_history, save=False)
        self.bridge.summaryReady.connect(self._on_summary)

    # ----- the current connection ---------------------------------------------------------
    @property
    def session(self) -> SessionBase | None:
        return self.connection.session if self.connection is not None else None

    @property
    def profile(self) -> ConnectionProfile | None:
        return self.connection.profile if self.connection is not None else None

    @property
    def tracker(self) -> RequestTracker | None:
        return self.connection.tracker if self.connection is not None else None

    def connections(self) -> list[BrokerHandle]:
        """Every broker of the workspace, in the order they were added."""
        return list(self.workspace.brokers.values())

    # ----- the brokers: the registry decides, the context tells the views ------------------------
    @property
    def read_only(self) -> bool:
        """Monitor mode for the whole window (--read-only): every broker opens read-only."""
        return self.registry.read_only

    @read_only.setter
    def read_only(self, value: bool) -> None:
        self.registry.read_only = value

    @property
    def refresh_entry(self) -> Callable[[BrokerEntry], BrokerEntry | None] | None:
        return self.registry.refresh

    @refresh_entry.setter
    def refresh_entry(self, refresh: Callable[[BrokerEntry], BrokerEntry | None] | None) -> None:
        self.registry.refresh = refresh

    @property
    def audit(self) -> AuditSettings | None:
        """Set by the audit feed: where every broker records (None: not recording)."""
        return self.registry.audit

    def entries(self) -> list[BrokerEntry]:
        """Every broker of the window, open or disconnected, in the order they were added."""
        return self.registry.entries()

    def entry(self, broker_id: str) -> BrokerEntry | None:
        return self.registry.entry(broker_id)

    def is_open(self, broker_id: str) -> bool:
        return self.registry.is_open(broker_id)

    def connect_broker(self, profile: ConnectionProfile, password: str | None = None,
                       subscriptions=DEFAULT_SUBSCRIPTIONS) -> BrokerHandle:
        """Replace the current connection with one to ``profile`` (started in the background)."""
        self.disconnect_broker()
        return self.add_broker(profile, password, subscriptions, make_current=True)

    def add_broker(self, profile: ConnectionProfile, password: str | None = None, subscriptions=DEFAULT_SUBSCRIPTIONS,
                   make_current: bool = False, region: str = "", audit_filters: tuple[str, ...] | None = None,
                   stored: bool = False, colour: str = "") -> BrokerHandle:
        """Open one more broker; the others are not disturbed. The first one open becomes current.

        ``region`` and ``audit_filters`` come from a saved profile. Raises ``ValueError`` if a broker
        of that name is in the window already.
        """
        return self.open_entry(BrokerEntry(profile, password, tuple(subscriptions), region, audit_filters, stored,
                                           colour), make_current)

    def open_entry(self, entry: BrokerEntry, make_current: bool = False) -> BrokerHandle:
        """Open the broker ``entry`` describes (see ``add_broker``)."""
        connection = self.registry.add(entry)
        self.brokersChanged.emit()
        self.set_current(entry.broker_id if make_current else self.registry.current)
        return connection

    def reconnect(self, broker_id: str) -> BrokerHandle | None:
        """Connect a disconnected broker again, with its topics still in the tree; a saved profile
        connects as it reads now (``refresh_entry``)."""
        was_open = self.is_open(broker_id)
        connection = self.registry.reconnect(broker_id)
        if not was_open and connection is not None:
            self.brokersChanged.emit()
            self.set_current(self.registry.current)
        return connection

    def disconnect(self, broker_id: str) -> None:
        """Disconnect one broker but keep its row and topics (final audit commit and ack, in the background)."""
        if self.is_open(broker_id):
            self._close(broker_id, keep_topics=True)

    def remove_broker(self, broker_id: str) -> None:
        """Close one broker (final audit commit and ack) and remove its row and topics."""
        if self.registry.entry(broker_id) is not None:
            self._close(broker_id, keep_topics=False)

    # ----- subscriptions: every change goes through the workspace's one owner ------------------
    def subscribe(self, broker_id: str, topic_filter: str, qos: int = 0) -> Future:
        """Make ``topic_filter`` one of the user's filters on ``broker_id`` (kept across reconnects and
        saved with the broker). Raises ``TopicError`` for a bad filter."""
        future = self.workspace.subscriptions.subscribe(broker_id, topic_filter, qos)
        self._remember_subscriptions(broker_id)
        future.add_done_callback(lambda _f: self._remember_subscriptions(broker_id))
        return future

    def unsubscribe(self, broker_id: str, topic_filter: str) -> Future:
        """The user drops ``topic_filter``; a tool that holds it keeps it subscribed until it lets go."""
        future = self.workspace.subscriptions.unsubscribe(broker_id, topic_filter)
        self._remember_subscriptions(broker_id)
        return future

    def user_subscriptions(self, broker_id: str) -> dict[str, int]:
        """The user's own filters on ``broker_id`` and their QoS."""
        return self.workspace.subscriptions.user_filters(broker_id)

    def is_subscribed(self, broker_id: str, topic_filter: str) -> bool:
        return self.workspace.subscriptions.is_subscribed(broker_id, topic_filter)

    def hold_subscription(self, broker_id: str, topic_filter: str) -> None:
        """A tool (a $ stream tab, the $SYS view) needs ``topic_filter`` on a broker. Pair with
        ``release_subscription``; the user's own filters are never taken away by it."""
        self.workspace.subscriptions.hold(broker_id, topic_filter)

    def release_subscription(self, broker_id: str, topic_filter: str) -> None:
        self.workspace.subscriptions.release(broker_id, topic_filter)

    # ----- commands to brokers: views go through here, never to a session -----------------------
    def publish(self, broker_id: str, topic: str, payload: bytes | str = b"", qos: int = 0,
                retain: bool = False, properties: MessageProperties | None = None) -> Future:
        """Publish on one broker; raises ``SessionError`` (read-only, not connected) or ``TopicError``."""
        return self.workspace.publish(broker_id, topic, payload, qos, retain, properties)

    def request_rebirth(self, broker_id: str, topic: str) -> Future:
        """Ask the Sparkplug edge node ``topic`` belongs to for its BIRTHs again (an NCMD); raises as ``publish``
        does (a read-only broker refuses), or ``ValueError`` above an edge node."""
        found = edge_node_of(topic)
        if found is None:
            raise ValueError(f"{topic or 'The broker'} is not at or below a Sparkplug edge node")
        command_topic, payload = rebirth_command(*found)
        return self.publish(broker_id, command_topic, payload, qos=0)

    def publish_many(self, broker_id: str, messages: list[OutgoingMessage]) -> Future:
        """Several messages on one broker in one go (a replay's due ones); raises as ``publish`` does."""
        return self.workspace.publish_many(broker_id, messages)

    async def request(self, broker_id: str, topic: str, payload: bytes | str = b"", **options) -> Reply:
        return await self.workspace.request(broker_id, topic, payload, **options)

    async def burst(self, broker_id: str, topic: str, payload: bytes | str, count: int, concurrency: int,
                    **options) -> RttSummary:
        return await self.workspace.burst(broker_id, topic, payload, count, concurrency, **options)

    def clear_retained(self, broker_id: str, topics) -> RetainedClear:
        return self.workspace.clear_retained(broker_id, topics)

    def start_mesh_run(self, broker_ids: list[str], plan: MeshPlan) -> MeshRunProcess:
        """Measure the mesh of the open brokers ``broker_ids`` (``core/bench/mesh.py``): the run opens clients
        of its own with each broker's profile and password, in a child process (its threads never hold the
        window's GIL); returns it started. Raises ``MeshRefused`` (a broker not open, or read-only; bad
        settings) before anything connects."""
        brokers = []
        for broker_id in broker_ids:
            entry = self.registry.entry(broker_id)
            if entry is None or not self.is_open(broker_id):
                raise MeshRefused(f"{broker_id} is not open in the window")
            brokers.append(MeshBroker(broker_id, entry.profile, entry.password, entry.region))
        return MeshRunProcess(brokers, plan).start()

    def replay_sender(self, broker_id: str, replay_id: str) -> WireSenderProcess | None:
        """A sender process for a replay into the open broker ``broker_id``, with its profile and password (not
        started); None where it cannot go (websockets: the replay then goes through the broker's connection).
        Raises ``PermissionError`` for a read-only broker, ``ValueError`` if it is not open."""
        entry = self.registry.entry(broker_id)
        if entry is None or not self.is_open(broker_id):
            raise ValueError(f"{broker_id} is not open in the window")
        if entry.profile.read_only:
            raise PermissionError(f"{broker_id} is read-only: a replay cannot publish to it")
        if entry.profile.transport != "tcp":
            return None
        return WireSenderProcess(entry.profile, entry.password, f"eventscope-replay-{replay_id}")

    def _remember_subscriptions(self, broker_id: str) -> None:
        self.registry.remember_subscriptions(broker_id)  # runs on paho's thread too (a refused SUBACK)

    def _close(self, broker_id: str, keep_topics: bool) -> None:
        if self.connection is not None and self.connection.broker_id == broker_id:
            self.connection = None
        self.registry.close(broker_id, keep_topics)
        self._audit_states.pop(broker_id, None)
        self.brokersChanged.emit()
        self.set_current(self.registry.current)

    def set_current(self, broker_id: str | None) -> None:
        """Make ``broker_id`` the current broker (the request panel sends through it, the feed shows its
        database); the views hear of it only when it changed."""
        connection = self.workspace.broker(broker_id) if broker_id else None
        self.registry.current = broker_id if connection is not None else None
        if connection is self.connection:
            return
        self.connection = connection
        entry = self.registry.entry(broker_id) if broker_id else None
        self.password = entry.password if entry is not None else None
        self.sessionChanged.emit(connection.session if connection is not None else None)
        self.auditChanged.emit(connection)

    def disconnect_broker(self) -> None:
        """Close the current connection and remove it (final audit commit and ack; its last records reach the views)."""
        if self.connection is not None:
            self.remove_broker(self.connection.broker_id)

    # ----- audit ------------------------------------------------------------------------
    def set_audit(self, path: str | Path | None = None, filters: tuple[str, ...] | None = None,
                  max_bytes: int | None = None, db_password: str | None = None,
                  max_payload: int = DEFAULT_PAYLOAD_LIMIT) -> None:
        """Record every connection's audit filters into ``path``: a SQLite file (default: the workspace's
        one database) or the team's ``postgresql://`` URL, with its password in ``db_password``.

        ``max_bytes`` caps the database file; past it, messages wait unacknowledged as on a full disk.
        Payloads are kept whole up to ``max_payload`` bytes; a longer one is cut there and flagged.
        """
        self.registry.set_audit(path, filters, max_bytes, db_password, max_payload)
        if self.connection is not None:
            self.auditChanged.emit(self.connection)

    def set_topic_budget(self, topic_budget: int, save: bool = True) -> None:
        """The most topic levels each broker's tree keeps (clamped to the sensible range), saved for the next start."""
        self.topic_budget = max(MIN_TOPIC_BUDGET, min(MAX_TOPIC_BUDGET, int(topic_budget)))
        self.workspace.set_topic_budget(self.topic_budget)
        if save:
            self.settings.setValue(TOPIC_BUDGET_KEY, self.topic_budget)

    def set_history_budget(self, mib: int, save: bool = True) -> None:
        """The most history (in MiB, as the tree counts it) each broker's tree keeps, clamped to the sensible
        range and saved for the next start. A smaller one shortens every topic's history at once."""
        self.history_budget_mib = max(MIN_HISTORY_BUDGET_MIB, min(MAX_HISTORY_BUDGET_MIB, int(mib)))
        self.workspace.set_history_budget(self.history_budget_mib * MIB)
        if save:
            self.settings.setValue(HISTORY_BUDGET_KEY, self.history_budget_mib)

    def shutdown(self) -> None:
        """Stop ticking and disconnect (final audit commit and ack); if ``close_in_background`` began
        that already, wait for it to end."""
        if self._closing is not None:
            self._closing.result()
            return
        self.bridge.stop()
        self.connection = None
        self.workspace.close()

    def close_in_background(self, then: Callable[[], None] | None = None) -> Future:
        """Stop drawing now, and close the workspace on a worker thread (final audit commits, acks and the
        connection process's end can take seconds after a flood); ``then`` runs there afterwards. The
        window goes at once; the app waits on the returned future (and the thread is not a daemon, so
        the process does not end before the commits are done)."""
        if self._closing is not None:
            return self._closing
        self.bridge.stop_frames()
        self.connection = None
        closing: Future = Future()

        def close() -> None:
            try:
                self.workspace.close()
                if then is not None:
                    then()
            except BaseException as exc:  # noqa: BLE001 - the waiter sees any failure
                closing.set_exception(exc)
            else:
                closing.set_result(None)

        threading.Thread(target=close, name="workspace-close").start()
        self._closing = closing
        return closing

    # ----- regions ------------------------------------------------------------------------
    def _on_summary(self, summary) -> None:
        if summary.new_regions:
            self.note_regions(summary.new_regions)
        changed = False
        for broker in summary.brokers:
            if broker.audit is not None and self._audit_states.get(broker.broker_id) != broker.audit:
                self._audit_states[broker.broker_id] = broker.audit
                changed = True
                if self.connection is not None and self.connection.broker_id == broker.broker_id:
                    self.auditChanged.emit(self.connection)
        if changed:
            self.brokersChanged.emit()  # a row's "not recording" note

    def note_regions(self, regions) -> None:
        """Add regions seen in traffic to the known list."""
        new = [r for r in regions if r and r not in self.regions]
        if new:
            self.regions.extend(new)
            self.regionsChanged.emit()
