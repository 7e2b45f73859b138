"""The main window: connection bar on top, topic tree in the middle, docks around it."""

from __future__ import annotations

import json
import logging

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QScrollArea, QToolBar, QWidget

from core.credentials import CredentialError, load_password, save_password
from core.profile import ConnectionProfile
from core.session import MqttSession, SessionStatus
from gui.context import DEFAULT_SUBSCRIPTIONS, AppContext
from gui.views.audit_feed_view import AuditFeedView
from gui.views.brokers_panel import BrokersPanel
from gui.views.connection_bar import ConnectionBar
from gui.views.details_pane import DetailsPane
from gui.views.profile_manager_dialog import ProfileManagerDialog
from gui.views.request_panel import RequestPanel
from gui.views.status_bar import EventscopeStatusBar
from gui.views.stream_view import StreamView
from gui.views.topic_tree_view import TopicTreeView

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("mainWindow")
        self.setWindowTitle("Eventscope")
        self.resize(1500, 950)

        self.connection_bar = ConnectionBar(context.settings)
        toolbar = QToolBar("Connection", objectName="connectionToolBar")
        toolbar.setMovable(False)
        toolbar.addWidget(self.connection_bar)
        self.addToolBar(Qt.TopToolBarArea, toolbar)

        self.topic_tree = TopicTreeView(context)
        self.setCentralWidget(self.topic_tree)
        self.request_panel = RequestPanel(context)
        self.details_pane = DetailsPane(context)
        self.stream_view = StreamView(context)
        self.audit_feed = AuditFeedView(context)
        self.brokers_panel = BrokersPanel(context)
        self.request_dock = self._dock("Request", "requestDock", self._scrollable(self.request_panel), Qt.LeftDockWidgetArea)
        self.details_dock = self._dock("Details", "detailsDock", self.details_pane, Qt.RightDockWidgetArea)
        self.stream_dock = self._dock("Streams", "streamDock", self.stream_view, Qt.BottomDockWidgetArea)
        self.audit_dock = self._dock("Audit feed", "auditDock", self.audit_feed, Qt.BottomDockWidgetArea)
        self.brokers_dock = self._dock("Brokers", "brokersDock", self.brokers_panel, Qt.BottomDockWidgetArea)
        self.tabifyDockWidget(self.stream_dock, self.audit_dock)
        self.tabifyDockWidget(self.audit_dock, self.brokers_dock)
        self.stream_dock.raise_()

        self.status_bar = EventscopeStatusBar()
        self.setStatusBar(self.status_bar)

        self._build_menus()
        self.connection_bar.connectRequested.connect(self.connect_to)
        self.connection_bar.addRequested.connect(self.add_broker)
        context.sessionChanged.connect(self._on_current_changed)
        context.brokersChanged.connect(self._update_title)
        self.connection_bar.disconnectRequested.connect(self.disconnect_session)
        context.bridge.sessionStatusChanged.connect(self._on_session_status)
        context.bridge.statsChanged.connect(self.status_bar.show_stats)
        context.bridge.start()
        self._restore_layout()

    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self, objectName=name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    @staticmethod
    def _scrollable(widget: QWidget) -> QScrollArea:
        """Tall panels scroll inside their dock instead of stretching the window."""
        area = QScrollArea()
        area.setWidget(widget)
        area.setWidgetResizable(True)
        area.setFrameShape(QScrollArea.NoFrame)
        return area

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        profiles_action = QAction("Connection &profiles…", self, objectName="actionProfiles",
                                  shortcut=QKeySequence("Ctrl+Shift+P"), triggered=self.open_profile_manager)
        file_menu.addAction(profiles_action)
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.Quit, triggered=self.close)
        file_menu.addAction(quit_action)
        view_menu = self.menuBar().addMenu("&View")
        for dock in (self.request_dock, self.details_dock, self.stream_dock, self.audit_dock, self.brokers_dock):
            view_menu.addAction(dock.toggleViewAction())

    def open_profile_manager(self) -> ProfileManagerDialog:
        self.profile_manager = ProfileManagerDialog(parent=self)
        self.profile_manager.openRequested.connect(self.open_stored_profile)
        self.profile_manager.open()
        return self.profile_manager

    # ----- connection -----
    def connect_to(self, profile: ConnectionProfile, password: str | None = None) -> MqttSession:
        """Replace the current broker with one for ``profile`` and start it."""
        self.disconnect_session()
        return self.add_broker(profile, password, make_current=True)

    def open_stored_profile(self, stored, password: str | None = None) -> MqttSession | None:
        """Open a saved profile with its region and audit filters."""
        return self.add_broker(stored.connection, password, region=stored.region, audit_filters=stored.audit_filters)

    def add_broker(self, profile: ConnectionProfile, password: str | None = None, make_current: bool = False,
                   region: str = "", audit_filters: tuple[str, ...] | None = None) -> MqttSession | None:
        """Open ``profile`` beside the brokers already open. A name already open is refused, with the reason."""
        password = self._password_for(profile, password)
        subscriptions = self.context.settings.value("connection/subscriptions", list(DEFAULT_SUBSCRIPTIONS)) or list(DEFAULT_SUBSCRIPTIONS)
        try:
            connection = self.context.add_broker(profile, password, [subscriptions] if isinstance(subscriptions, str)
                                                 else subscriptions, make_current=make_current, region=region,
                                                 audit_filters=audit_filters)
        except ValueError as exc:
            self.connection_bar.show_error(str(exc))
            return None
        self.brokers_panel.select(connection.broker_id)
        return connection.session

    def _password_for(self, profile: ConnectionProfile, password: str | None) -> str | None:
        """A typed password goes to the keychain; with none typed, the keychain's is used."""
        if not profile.username:
            return password
        if password:
            try:
                save_password(profile.name, profile.username, password)
            except CredentialError as exc:
                self.status_bar.showMessage(str(exc), 10000)
            return password
        return load_password(profile.name, profile.username)

    def _on_current_changed(self, session) -> None:
        self.connection_bar.show_status(session.status if session is not None else None)
        self.status_bar.show_status(session.status if session is not None else None)
        self._update_title()

    def _update_title(self) -> None:
        connection = self.context.connection
        if connection is None:
            self.setWindowTitle("Eventscope")
            return
        others = len(self.context.connections()) - 1
        read_only = " (read-only)" if connection.profile.read_only else ""
        more = f" + {others} more broker{'s' if others != 1 else ''}" if others > 0 else ""
        self.setWindowTitle(f"Eventscope — {connection.profile.address}{read_only}{more}")

    def disconnect_session(self) -> None:
        session = self.context.session
        if session is None:
            return
        self.context.disconnect_broker()
        if self.context.session is None:  # the last broker: show how it ended
            self.connection_bar.show_status(session.status)
            self.status_bar.show_status(session.status)

    def _on_session_status(self, session: MqttSession, status: SessionStatus) -> None:
        if session is self.context.session:
            self.connection_bar.show_status(status)
            self.status_bar.show_status(status)

    # ----- persistence -----
    WORKSPACE_KEY = "workspace/brokers"

    def save_workspace(self) -> None:
        """Remember which brokers are open (profiles without passwords), to open them on the next start."""
        profiles = [c.profile.to_dict() for c in self.context.connections() if c.profile.name != "demo"]
        self.context.settings.setValue(self.WORKSPACE_KEY, json.dumps(profiles))

    def restore_workspace(self) -> int:
        """Open the brokers that were open when the window last closed. Returns how many."""
        try:
            saved = json.loads(self.context.settings.value(self.WORKSPACE_KEY, "[]") or "[]")
            profiles = [ConnectionProfile.from_dict(item) for item in saved]
        except (TypeError, ValueError) as exc:  # a hand-edited settings file must not stop start-up
            self.status_bar.showMessage(f"The saved workspace could not be read: {exc}", 10000)
            return 0
        opened = 0
        for profile in profiles:
            opened += self.add_broker(profile) is not None
        return opened

    def _restore_layout(self) -> None:
        geometry = self.context.settings.value("window/geometry")
        state = self.context.settings.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def save_layout(self) -> None:
        self.context.settings.setValue("window/geometry", self.saveGeometry())
        self.context.settings.setValue("window/state", self.saveState())
        self.context.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        self.save_workspace()
        session = self.context.session
        self.context.shutdown()  # final audit commit and ack, then every broker disconnects
        if session is not None:
            self.status_bar.show_status(session.status)
        self.audit_feed.shutdown()
        super().closeEvent(event)
