"""What every view shares: the bridge, the current session, settings, and selection."""

from __future__ import annotations

from PySide6.QtCore import QObject, QSettings, Signal

from core.profile import ConnectionProfile
from core.session import MqttSession
from gui.bridge import FlushBridge

DEFAULT_REGIONS = ("us-east", "us-west", "eu-central", "ap-south")


class AppContext(QObject):
    """Shared state of one window. Views hold a reference and listen to its signals.

    Signals:
        sessionChanged(MqttSession | None): a new connection replaced the old one (or none).
        messageSelected(MessageRecord): a view asks the details pane to show a message.
        topicSelected(TopicNode): the topic tree's current topic (the details pane shows its history).
        regionsChanged(): the list of known regions grew.
    """

    sessionChanged = Signal(object)
    messageSelected = Signal(object)
    topicSelected = Signal(object)
    regionsChanged = Signal()

    def __init__(self, settings: QSettings | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()
        self.bridge = FlushBridge(parent=self)
        self.session: MqttSession | None = None
        self.profile: ConnectionProfile | None = None
        self.password: str | None = None  # this run only; stored in the OS keychain, never in settings
        self.region_level = 0
        self.regions: list[str] = list(DEFAULT_REGIONS)

    def set_session(self, session: MqttSession | None, profile: ConnectionProfile | None, password: str | None) -> None:
        old = self.session
        if old is not None:
            self.bridge.detach(old)
        self.session, self.profile, self.password = session, profile, password
        if session is not None:
            self.bridge.attach(session)
        self.sessionChanged.emit(session)

    def note_regions(self, regions) -> None:
        """Add regions seen in traffic to the known list."""
        new = [r for r in regions if r and r not in self.regions]
        if new:
            self.regions.extend(new)
            self.regionsChanged.emit()
