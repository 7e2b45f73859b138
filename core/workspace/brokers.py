"""The brokers of one window or tool, open or disconnected, and the rules for opening them.

``BrokerRegistry`` keeps an entry per broker (what it takes to connect it again), forces every
broker read-only in a monitor (``read_only``: no path may lose it, and a Last Will would publish
too), picks the current broker, and decides where each broker's audit is recorded. The window's
context adapts it to Qt signals; nothing here knows about Qt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eventscope.core.audit.postgres import is_postgres_url
from eventscope.core.audit.store import DEFAULT_PAYLOAD_LIMIT, default_audit_path
from eventscope.core.connections.handle import AuditSettings, BrokerHandle
from eventscope.core.profile import DEFAULT_AUDIT_FILTERS, ConnectionProfile
from eventscope.core.workspace.workspace import Workspace

DEFAULT_SUBSCRIPTIONS = ("#",)
WORKSPACE_AUDIT_NAME = "workspace"  # one audit database for every broker of the window, with a broker column


@dataclass
class BrokerEntry:
    """A broker, open or disconnected: what it takes to connect it again."""

    profile: ConnectionProfile
    password: str | None = None  # this run only; stored in the OS keychain, never in settings
    subscriptions: tuple = DEFAULT_SUBSCRIPTIONS  # the user's filters, or (filter, QoS) pairs
    region: str = ""
    audit_filters: tuple[str, ...] | None = None
    stored: bool = False  # opened from a saved profile (the workspace remembers it by name)
    colour: str = ""

    @property
    def broker_id(self) -> str:
        return self.profile.name


class BrokerRegistry:
    """Every broker of a workspace, open or disconnected, in the order they were added.

    ``refresh`` (optional) gives an entry as its saved profile reads now, so a reconnect picks up a
    password or CA file fixed meanwhile; ``audit`` (None: not recording) says where every broker records.
    """

    def __init__(self, workspace: Workspace, read_only: bool = False,
                 refresh: Callable[[BrokerEntry], BrokerEntry | None] | None = None) -> None:
        self.workspace = workspace
        self.read_only = read_only  # monitor mode: every broker opens read-only, however it is added
        self.refresh = refresh
        # optional: called with each broker connected again, e.g. to load its profile's decoder rules as they read now
        self.reopened: Callable[[BrokerHandle], None] | None = None
        self.audit: AuditSettings | None = None
        self.current: str | None = None
        self._entries: dict[str, BrokerEntry] = {}

    # ----- reading -------------------------------------------------------------------------
    def entries(self) -> list[BrokerEntry]:
        return list(self._entries.values())

    def entry(self, broker_id: str) -> BrokerEntry | None:
        return self._entries.get(broker_id)

    def is_open(self, broker_id: str) -> bool:
        return self.workspace.broker(broker_id) is not None

    def current_connection(self) -> BrokerHandle | None:
        return self.workspace.broker(self.current) if self.current else None

    # ----- opening and closing ---------------------------------------------------------------
    def add(self, entry: BrokerEntry) -> BrokerHandle:
        """Open one more broker; the others are not disturbed. The first one open becomes current.
        Raises ``ValueError`` if a broker of that name is here already."""
        if entry.broker_id in self._entries:
            raise ValueError(f"A broker named {entry.broker_id!r} is already in the window")
        entry.profile = self._monitored(entry.profile)
        connection = self._open(entry)
        self._entries[entry.broker_id] = entry
        if self.current_connection() is None:
            self.current = entry.broker_id
        return connection

    def reconnect(self, broker_id: str) -> BrokerHandle | None:
        """Connect a disconnected broker again, with its topics still in the tree (and, for a saved
        profile, the profile as it reads now)."""
        entry = self._entries.get(broker_id)
        if entry is None or self.is_open(broker_id):
            return self.workspace.broker(broker_id)
        if self.refresh is not None:
            entry = self.refresh(entry) or entry
            entry.profile = self._monitored(entry.profile)
            self._entries[broker_id] = entry
        connection = self._open(entry)
        if self.reopened is not None:
            self.reopened(connection)
        if self.current_connection() is None:
            self.current = broker_id
        return connection

    def close(self, broker_id: str, keep_topics: bool) -> bool:
        """Disconnect (``keep_topics``: the row and its topics stay) or remove a broker. Returns whether
        it was the current one; then the first broker still open becomes current."""
        was_current = self.current == broker_id
        self.workspace.remove_broker(broker_id, keep_topics=keep_topics)
        if not keep_topics:
            self._entries.pop(broker_id, None)
        if was_current:
            remaining = list(self.workspace.brokers)
            self.current = remaining[0] if remaining else None
        return was_current

    def remember_subscriptions(self, broker_id: str) -> None:
        """Keep the user's filters on the entry, for the next start (safe from any thread)."""
        entry = self._entries.get(broker_id)
        if entry is not None:
            entry.subscriptions = tuple(self.workspace.subscriptions.user_filters(broker_id).items())

    # ----- audit -----------------------------------------------------------------------------
    def set_audit(self, path: str | Path | None = None, filters: tuple[str, ...] | None = None,
                  max_bytes: int | None = None, db_password: str | None = None,
                  max_payload: int = DEFAULT_PAYLOAD_LIMIT) -> None:
        """Record every broker's audit filters into ``path``: a SQLite file (default: the workspace's one
        database) or the team's ``postgresql://`` URL (its password apart, in ``db_password``), keeping
        payloads whole up to ``max_payload`` bytes."""
        location: str | Path = path if is_postgres_url(path) else Path(path) if path else Path()
        self.audit = AuditSettings(location, tuple(filters or DEFAULT_AUDIT_FILTERS), max_bytes, db_password,
                                   max_payload)
        for broker_id in list(self.workspace.brokers):
            entry = self._entries.get(broker_id)
            if entry is not None:
                self.workspace.set_audit(broker_id, self.audit_for(entry), entry.password)

    def audit_for(self, entry: BrokerEntry) -> AuditSettings | None:
        """Where ``entry``'s broker records, with its profile's own filters when it has some."""
        if self.audit is None:
            return None
        if self.read_only and is_postgres_url(self.audit.path):
            return None  # a monitor reads the team's database as a viewer and never writes to it
        path = self.audit.path if str(self.audit.path) not in ("", ".") else default_audit_path(WORKSPACE_AUDIT_NAME)
        filters = tuple(entry.audit_filters) if entry.audit_filters else self.audit.filters
        return AuditSettings(path, filters, self.audit.max_bytes, self.audit.db_password, self.audit.max_payload)

    # ----- rules -----------------------------------------------------------------------------
    def _monitored(self, profile: ConnectionProfile) -> ConnectionProfile:
        if self.read_only and not profile.read_only:  # a will would publish too
            return profile.with_changes(read_only=True, will_topic="")
        return profile

    def _open(self, entry: BrokerEntry) -> BrokerHandle:
        return self.workspace.add_broker(entry.profile, entry.password, entry.subscriptions,
                                         audit=self.audit_for(entry), region=entry.region)
