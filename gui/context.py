"""What every view shares: the workspace, the bridge that delivers its summaries, settings, selection."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal

from eventscope.core.audit.store import default_audit_path
from eventscope.core.connections.handle import AuditSettings, BrokerHandle
from eventscope.core.connections.remote import RemoteConnector
from eventscope.core.mqtt.retained import RetainedClear
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import DEFAULT_AUDIT_FILTERS, ConnectionProfile
from eventscope.core.requests.rtt_stats import RttSummary
from eventscope.core.requests.tracker import Reply, RequestTracker
from eventscope.core.workspace.workspace import Workspace
from eventscope.gui.bridge import SummaryBridge

DEFAULT_REGIONS = ("us-east", "us-west", "eu-central", "ap-south")
DEFAULT_SUBSCRIPTIONS = ("#",)
WORKSPACE_AUDIT_NAME = "workspace"  # one audit database for every broker of the window, with a broker column


@dataclass
class BrokerEntry:
    """A broker of the window, open or disconnected: what it takes to connect it again."""

    profile: ConnectionProfile
    password: str | None = None  # this run only; stored in the OS keychain, never in settings
    subscriptions: tuple[str, ...] = DEFAULT_SUBSCRIPTIONS
    region: str = ""
    audit_filters: tuple[str, ...] | None = None
    stored: bool = False  # opened from a saved profile (the workspace remembers it by name)
    colour: str = ""

    @property
    def broker_id(self) -> str:
        return self.profile.name


class AppContext(QObject):
    """Shared state of one window. Views hold a reference and listen to its signals.

    Views never own a connection, a recorder or a core model: they ask the context, which asks
    the workspace.

    Several brokers can be open at once; ``connection`` is the current one (the request panel
    sends through it, the audit feed shows its database). A broker the user disconnects keeps
    its row (an entry) and its topics until it is removed.

    Signals:
        brokersChanged(): a broker was added, removed, connected or disconnected.
        sessionChanged(MqttSession | None): the current connection changed (or there is none).
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
        # The window's workspace keeps its broker connections in a child process (see core/connections/process.py).
        self.workspace = workspace if workspace is not None else Workspace(connector=RemoteConnector())
        self.bridge = SummaryBridge(self.workspace, parent=self)
        self.connection: BrokerHandle | None = None
        self.password: str | None = None  # this run only; stored in the OS keychain, never in settings
        self._entries: dict[str, BrokerEntry] = {}
        self.audit: AuditSettings | None = None  # set by the audit feed: record every connection
        self.read_only = False  # monitor mode for the whole window (--read-only): every broker opens read-only
        self.refresh_entry: Callable[[BrokerEntry], BrokerEntry | None] | None = None
        self.region_level = 0
        self.regions: list[str] = list(DEFAULT_REGIONS)
        self.bridge.summaryReady.connect(self._on_summary)

    # ----- the current connection ---------------------------------------------------------
    @property
    def session(self) -> MqttSession | None:
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

    def entries(self) -> list[BrokerEntry]:
        """Every broker of the window, open or disconnected, in the order they were added."""
        return list(self._entries.values())

    def entry(self, broker_id: str) -> BrokerEntry | None:
        return self._entries.get(broker_id)

    def is_open(self, broker_id: str) -> bool:
        return self.workspace.broker(broker_id) is not None

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
        if profile.name in self._entries:
            raise ValueError(f"A broker named {profile.name!r} is already in the window")
        if self.read_only and not profile.read_only:  # no path may lose monitor mode (a will would publish too)
            profile = profile.with_changes(read_only=True, will_topic="")
        entry = BrokerEntry(profile, password, tuple(subscriptions), region, audit_filters, stored, colour)
        connection = self._open(entry)
        self._entries[entry.broker_id] = entry
        self.brokersChanged.emit()
        if make_current or self.connection is None:
            self.set_current(connection.broker_id)
        return connection

    def _open(self, entry: BrokerEntry) -> BrokerHandle:
        return self.workspace.add_broker(entry.profile, entry.password, entry.subscriptions,
                                         audit=self._audit_for(entry.profile, entry.audit_filters), region=entry.region)

    def reconnect(self, broker_id: str) -> BrokerHandle | None:
        """Connect a disconnected broker again, with its topics still in the tree.

        A broker opened from a saved profile connects with the profile as saved now (``refresh_entry``,
        set by the window), so a password or CA file fixed in the profile manager takes effect."""
        entry = self._entries.get(broker_id)
        if entry is None or self.is_open(broker_id):
            return self.workspace.broker(broker_id)
        if self.refresh_entry is not None:
            entry = self.refresh_entry(entry) or entry
            if self.read_only and not entry.profile.read_only:
                entry.profile = entry.profile.with_changes(read_only=True, will_topic="")
            self._entries[broker_id] = entry
        connection = self._open(entry)
        self.brokersChanged.emit()
        if self.connection is None:
            self.set_current(broker_id)
        return connection

    def disconnect(self, broker_id: str) -> None:
        """Disconnect one broker but keep its row and topics (final audit commit and ack first)."""
        if not self.is_open(broker_id):
            return
        self._close(broker_id, keep_topics=True)

    def remove_broker(self, broker_id: str) -> None:
        """Close one broker (final audit commit and ack) and remove its row and topics."""
        if broker_id not in self._entries:
            return
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
                retain: bool = False) -> Future:
        """Publish on one broker; raises ``SessionError`` (read-only, not connected) or ``TopicError``."""
        return self.workspace.publish(broker_id, topic, payload, qos, retain)

    async def request(self, broker_id: str, topic: str, payload: bytes | str = b"", **options) -> Reply:
        return await self.workspace.request(broker_id, topic, payload, **options)

    async def burst(self, broker_id: str, topic: str, payload: bytes | str, count: int, concurrency: int,
                    **options) -> RttSummary:
        return await self.workspace.burst(broker_id, topic, payload, count, concurrency, **options)

    def clear_retained(self, broker_id: str, topics) -> RetainedClear:
        return self.workspace.clear_retained(broker_id, topics)

    def _remember_subscriptions(self, broker_id: str) -> None:
        # Runs on paho's thread too (a refused SUBACK): a single tuple assignment, read by the GUI thread.
        entry = self._entries.get(broker_id)
        if entry is not None:
            entry.subscriptions = tuple(self.workspace.subscriptions.user_filters(broker_id).items())

    def _close(self, broker_id: str, keep_topics: bool) -> None:
        was_current = self.connection is not None and self.connection.broker_id == broker_id
        if was_current:
            self.connection = None
        self.workspace.remove_broker(broker_id, keep_topics=keep_topics)
        if not keep_topics:
            del self._entries[broker_id]
        self.bridge.flush()
        self.brokersChanged.emit()
        if was_current:
            remaining = self.connections()
            self.set_current(remaining[0].broker_id if remaining else None)

    def set_current(self, broker_id: str | None) -> None:
        connection = self.workspace.broker(broker_id) if broker_id else None
        if connection is self.connection and connection is not None:
            return
        self.connection = connection
        entry = self._entries.get(broker_id) if broker_id else None
        self.password = entry.password if entry is not None else None
        self.sessionChanged.emit(connection.session if connection is not None else None)
        self.auditChanged.emit(connection)

    def disconnect_broker(self) -> None:
        """Close the current connection and remove it (final audit commit and ack; its last records reach the views)."""
        if self.connection is not None:
            self.remove_broker(self.connection.broker_id)

    # ----- audit ------------------------------------------------------------------------
    def set_audit(self, path: str | Path | None = None, filters: tuple[str, ...] | None = None,
                  max_bytes: int | None = None) -> None:
        """Record every connection's audit filters into ``path`` (default: the workspace's one database).

        ``max_bytes`` caps the database file; past it, messages wait unacknowledged as on a full disk.
        """
        self.audit = AuditSettings(Path(path) if path else Path(), tuple(filters or DEFAULT_AUDIT_FILTERS), max_bytes)
        for connection in self.connections():
            entry = self._entries.get(connection.broker_id)
            self.workspace.set_audit(connection.broker_id,
                                     self._audit_for(connection.profile, entry.audit_filters if entry else None),
                                     entry.password if entry else None)
        if self.connection is not None:
            self.auditChanged.emit(self.connection)

    def _audit_for(self, profile: ConnectionProfile, filters: tuple[str, ...] | None = None) -> AuditSettings | None:
        if self.audit is None:
            return None
        path = self.audit.path if str(self.audit.path) not in ("", ".") else default_audit_path(WORKSPACE_AUDIT_NAME)
        return AuditSettings(path, tuple(filters) if filters else self.audit.filters, self.audit.max_bytes)

    def shutdown(self) -> None:
        """Stop ticking and disconnect (final audit commit and ack)."""
        self.bridge.stop()
        self.connection = None
        self.workspace.close()

    # ----- regions ------------------------------------------------------------------------
    def _on_summary(self, summary) -> None:
        if summary.new_regions:
            self.note_regions(summary.new_regions)

    def note_regions(self, regions) -> None:
        """Add regions seen in traffic to the known list."""
        new = [r for r in regions if r and r not in self.regions]
        if new:
            self.regions.extend(new)
            self.regionsChanged.emit()
