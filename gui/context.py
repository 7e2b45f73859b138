"""What every view shares: the workspace, the bridge that delivers its summaries, settings, selection."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal

from core.audit_recorder import DEFAULT_AUDIT_FILTERS
from core.audit_store import default_audit_path
from core.profile import ConnectionProfile
from core.request_tracker import RequestTracker
from core.session import MqttSession
from core.workspace import AuditSettings, BrokerConnection, Workspace
from gui.bridge import SummaryBridge

DEFAULT_REGIONS = ("us-east", "us-west", "eu-central", "ap-south")
DEFAULT_SUBSCRIPTIONS = ("#",)


class AppContext(QObject):
    """Shared state of one window. Views hold a reference and listen to its signals.

    Views never own a connection, a recorder or a core model: they ask the context, which asks
    the workspace.

    Signals:
        sessionChanged(MqttSession | None): a new connection replaced the old one (or none).
        auditChanged(BrokerConnection | None): recording started, moved or stopped.
        messageSelected(MessageRecord): a view asks the details pane to show a message.
        topicSelected(TopicNode): the topic tree's current topic (the details pane shows its history).
        regionsChanged(): the list of known regions grew.
    """

    sessionChanged = Signal(object)
    auditChanged = Signal(object)
    messageSelected = Signal(object)
    topicSelected = Signal(object)
    regionsChanged = Signal()

    def __init__(self, settings: QSettings | None = None, parent: QObject | None = None,
                 workspace: Workspace | None = None) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()
        # The window's workspace keeps its broker connections in a child process (see core/connection_process.py).
        self.workspace = workspace if workspace is not None else Workspace(connections_in_process=True)
        self.bridge = SummaryBridge(self.workspace, parent=self)
        self.connection: BrokerConnection | None = None
        self.password: str | None = None  # this run only; stored in the OS keychain, never in settings
        self.audit: AuditSettings | None = None  # set by the audit feed: record every connection
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

    def connect_broker(self, profile: ConnectionProfile, password: str | None = None,
                       subscriptions=DEFAULT_SUBSCRIPTIONS) -> BrokerConnection:
        """Replace the current connection with one to ``profile`` (started in the background)."""
        self.disconnect_broker()
        self.password = password
        self.connection = self.workspace.add_broker(profile, password, subscriptions, audit=self._audit_for(profile))
        self.sessionChanged.emit(self.connection.session)
        self.auditChanged.emit(self.connection)
        return self.connection

    def disconnect_broker(self) -> None:
        """Stop the current connection: final audit commit and ack, and its last records reach the views."""
        connection, self.connection = self.connection, None
        if connection is None:
            return
        self.workspace.remove_broker(connection.broker_id)
        self.bridge.flush()
        self.sessionChanged.emit(None)
        self.auditChanged.emit(None)

    # ----- audit ------------------------------------------------------------------------
    def set_audit(self, path: str | Path | None = None, filters: tuple[str, ...] | None = None,
                  max_bytes: int | None = None) -> None:
        """Record every connection's audit filters into ``path`` (default: one file per profile).

        ``max_bytes`` caps the database file; past it, messages wait unacknowledged as on a full disk.
        """
        self.audit = AuditSettings(Path(path) if path else Path(), tuple(filters or DEFAULT_AUDIT_FILTERS), max_bytes)
        if self.connection is not None:
            self.workspace.set_audit(self.connection.broker_id, self._audit_for(self.connection.profile), self.password)
            self.auditChanged.emit(self.connection)

    def _audit_for(self, profile: ConnectionProfile) -> AuditSettings | None:
        if self.audit is None:
            return None
        path = self.audit.path if str(self.audit.path) not in ("", ".") else default_audit_path(profile.name)
        return AuditSettings(path, self.audit.filters, self.audit.max_bytes)

    def shutdown(self) -> None:
        """Stop ticking and disconnect (final audit commit and ack)."""
        self.bridge.stop()
        self.disconnect_broker()
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
