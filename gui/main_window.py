"""The main window: the Brokers panel on top, the topic tree in the middle, docks around it."""

from __future__ import annotations

import logging
from concurrent.futures import Future

from PySide6.QtCore import QByteArray, QPoint, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QDockWidget, QInputDialog, QMainWindow, QMessageBox, QWidget

from eventscope.core import __version__
from eventscope.core.mqtt.session import SessionBase, SessionStatus
from eventscope.core.profile import ConnectionProfile
from eventscope.core.profiles.store import ProfileStore
from eventscope.core.workspace.opening import BrokerOpener
from eventscope.gui.context import (
    MAX_HISTORY_BUDGET_MIB,
    MAX_TOPIC_BUDGET,
    MIN_HISTORY_BUDGET_MIB,
    MIN_TOPIC_BUDGET,
    AppContext,
)
from eventscope.gui.in_window_demo import InWindowDemo
from eventscope.gui.settings_migration import migrate_connection_settings
from eventscope.gui.views.add_broker_dialog import AddBrokerDialog
from eventscope.gui.views.audit_feed_view import AuditFeedView
from eventscope.gui.views.brokers_panel import BrokersPanel
from eventscope.gui.views.details_pane import DetailsPane
from eventscope.gui.views.mesh_latency_dialog import MeshLatencyDialog
from eventscope.gui.views.profile_manager_dialog import ProfileManagerDialog
from eventscope.gui.views.request_panel import RequestPanel
from eventscope.gui.views.shortcuts_dialog import ShortcutsDialog
from eventscope.gui.views.status_bar import EventscopeStatusBar
from eventscope.gui.views.stream_view import StreamView
from eventscope.gui.views.subscriptions_dialog import SubscriptionsDialog
from eventscope.gui.views.sys_stats_view import SysStatsView
from eventscope.gui.views.topic_tree_view import TopicTreeView

log = logging.getLogger(__name__)
LAYOUT_VERSION = 2  # raise when the docks change, so an old saved layout does not scramble the new one


class MainWindow(QMainWindow):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._current_id: str | None = None  # the current broker last announced
        self.setObjectName("mainWindow")
        self.setWindowTitle("Eventscope")
        self.resize(1500, 950)

        self._problems: list[str] = []  # from the opener (a compile thread too), shown by _count_brokers
        self.profiles, notice = ProfileStore.load_or_recover()
        migrated = migrate_connection_settings(context.settings, self.profiles)
        self._build_actions()
        # Opening brokers from profiles (keychain, decoder rules, saved workspace) is core policy.
        self.opener = BrokerOpener(context.registry, self._reload_profiles, report=self._problems.append)

        self.topic_tree = TopicTreeView(context)
        self.setCentralWidget(self.topic_tree)
        self.request_panel = RequestPanel(context)
        self.details_pane = DetailsPane(context)
        self.stream_view = StreamView(context)
        self.audit_feed = AuditFeedView(context)
        self.brokers_panel = BrokersPanel(context, self.add_broker_action, self.profiles_action, self.demo_action)
        self.brokers_dock = self._dock("Brokers", "brokersDock", self.brokers_panel, Qt.DockWidgetArea.TopDockWidgetArea)
        self.brokers_panel.roomChanged.connect(lambda: QTimer.singleShot(0, self._fit_brokers_dock))
        self.request_dock = self._dock("Request", "requestDock", self.request_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.details_dock = self._dock("Details", "detailsDock", self.details_pane, Qt.DockWidgetArea.RightDockWidgetArea)
        self.stream_dock = self._dock("Streams", "streamDock", self.stream_view, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.audit_dock = self._dock("Audit feed", "auditDock", self.audit_feed, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._arrange_default_docks()
        self._default_state = self.saveState(LAYOUT_VERSION)

        self.status_bar = EventscopeStatusBar()
        self.setStatusBar(self.status_bar)
        self.brokers_panel.problem.connect(lambda text: self.status_bar.showMessage(text, 15000))

        self._build_menus()
        context.sessionChanged.connect(self._on_current_changed)
        context.brokersChanged.connect(self._update_title)
        context.bridge.sessionStatusChanged.connect(self._on_session_status)
        context.bridge.statsChanged.connect(self.status_bar.show_stats)
        context.bridge.summaryReady.connect(self._count_brokers)
        context.brokersChanged.connect(self._count_brokers)
        context.bridge.start()
        self._restore_layout()
        if notice:
            self.status_bar.showMessage(f"Profiles: {notice}", 15000)
        elif migrated:
            self.status_bar.showMessage(f"Your saved connection is now the profile {migrated!r} (File → Connection "
                                        "profiles)", 10000)

    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self, objectName=name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _arrange_default_docks(self) -> None:
        """The tree in the middle gets the most room; request and details share the right as tabs,
        streams and audit share the bottom. Sizes follow the window, so 1024×700 and 1920×1080 both fit."""
        self.tabifyDockWidget(self.request_dock, self.details_dock)
        self.tabifyDockWidget(self.stream_dock, self.audit_dock)
        self.request_dock.raise_()
        self.stream_dock.raise_()
        self._size_docks()

    def _size_docks(self) -> None:
        width, height = self.width(), self.height()
        self.resizeDocks([self.request_dock], [int(width * 0.42)], Qt.Orientation.Horizontal)
        self.resizeDocks([self.stream_dock], [int(height * 0.29)], Qt.Orientation.Vertical)
        self._fit_brokers_dock()

    def _fit_brokers_dock(self) -> None:
        """The Brokers panel as high as the brokers open (up to a few): no empty rows, no row half hidden."""
        title = max(0, self.brokers_dock.height() - self.brokers_panel.height())  # the dock's own title bar
        self.resizeDocks([self.brokers_dock], [self.brokers_panel.sizeHint().height() + title], Qt.Orientation.Vertical)

    def reset_layout(self) -> None:
        """View → Reset layout: every panel back where it started, sized for the window as it is now."""
        for dock in (self.brokers_dock, self.request_dock, self.details_dock, self.stream_dock, self.audit_dock):
            dock.setFloating(False)
            dock.show()
        self.restoreState(self._default_state, LAYOUT_VERSION)
        self._size_docks()

    def _build_actions(self) -> None:
        # Window-level actions, so their shortcuts work wherever the focus is.
        self.add_broker_action = QAction("&Add broker…", self, objectName="actionAddBroker",
                                         shortcut=QKeySequence("Ctrl+Shift+N"), triggered=self.open_add_broker)
        self.add_broker_action.setToolTip("Connect to one more broker beside the open ones (Ctrl+Shift+N)")
        self.profiles_action = QAction("Connection &profiles…", self, objectName="actionProfiles",
                                       shortcut=QKeySequence("Ctrl+Shift+P"), triggered=self.open_profile_manager)
        self.profiles_action.setToolTip("Create, test, import and export saved brokers (Ctrl+Shift+P)")
        self.toggle_connection_action = QAction("&Connect or disconnect the current broker", self,
                                                objectName="actionToggleConnection",
                                                shortcut=QKeySequence("Ctrl+Shift+C"),
                                                triggered=self.toggle_current_connection)
        self.send_request_action = QAction("&Send request", self, objectName="actionSendRequest",
                                           triggered=self.send_request_from_anywhere)
        self.send_request_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.publish_action = QAction("&Publish…", self, objectName="actionPublishMessage",
                                      shortcut=QKeySequence("Ctrl+Shift+M"), triggered=self.open_publish)
        self.copy_topic_action = QAction("Copy &topic", self, objectName="actionCopySelectedTopic",
                                         shortcut=QKeySequence("Ctrl+Shift+T"), triggered=self.copy_selected_topic)
        self.copy_payload_action = QAction("Copy &payload", self, objectName="actionCopySelectedPayload",
                                           shortcut=QKeySequence("Ctrl+Shift+Y"), triggered=self.copy_selected_payload)
        self.clear_tree_action = QAction("C&lear tree", self, objectName="actionClearTree",
                                         shortcut=QKeySequence("Ctrl+Shift+L"), triggered=self.clear_tree)
        self.clear_tree_action.setToolTip("Forget every topic seen; they come back as messages arrive")
        self.reset_layout_action = QAction("&Reset layout", self, objectName="actionResetLayout",
                                           shortcut=QKeySequence("Ctrl+Shift+R"), triggered=self.reset_layout)
        self.topic_budget_action = QAction("Topic &budget…", self, objectName="actionTopicBudget",
                                           triggered=self.ask_topic_budget)
        self.topic_budget_action.setToolTip("How many topic levels the tree keeps per broker before it evicts the "
                                            "least recently seen")
        self.history_budget_action = QAction("&History budget…", self, objectName="actionHistoryBudget",
                                             triggered=self.ask_history_budget)
        self.history_budget_action.setToolTip("How much message history the tree keeps per broker before every "
                                              "topic's history is shortened")
        self.subscriptions_action = QAction("&Subscriptions…", self, objectName="actionSubscriptions",
                                            shortcut=QKeySequence("Ctrl+Shift+S"), triggered=self.open_subscriptions)
        self.subscriptions_action.setToolTip("Add or remove the selected broker's subscriptions, live")
        self.sys_stats_action = QAction("$&SYS statistics…", self, objectName="actionSysStats",
                                        shortcut=QKeySequence("Ctrl+Shift+B"), triggered=self.open_sys_stats)
        self.mesh_latency_action = QAction("Mesh &latency…", self, objectName="actionMeshLatency",
                                           shortcut=QKeySequence("Ctrl+Shift+H"), triggered=self.open_mesh_latency)
        self.mesh_latency_action.setToolTip("Request/reply between every pair of the open brokers: RTT matrix, "
                                            "hop latencies and RTT over time (Ctrl+Shift+H)")
        # Alt+1…4 bring a panel forward (tabbed docks hide each other).
        self.panel_actions = [
            QAction(f"Show the {name}", self, objectName=f"actionShow{key}", shortcut=QKeySequence(f"Alt+{number}"),
                    triggered=lambda _checked=False, k=key: self.show_panel(k))
            for number, (key, name) in enumerate((("Request", "request panel"), ("Details", "details pane"),
                                                  ("Streams", "streams"), ("Audit", "audit feed")), 1)]
        self.find_action = QAction("&Filter the topic tree", self, objectName="actionFindTopic",
                                   shortcut=QKeySequence.StandardKey.Find, triggered=self.focus_tree_filter)
        self.shortcuts_action = QAction("&Keyboard shortcuts", self, objectName="actionShortcuts",
                                        shortcut=QKeySequence("F1"), triggered=self.show_shortcuts)
        self.about_action = QAction("&About Eventscope", self, objectName="actionAbout", triggered=self.show_about)
        self.demo = InWindowDemo(self)
        self.closing: Future | None = None  # the workspace closing after the window went (closeEvent)
        self.demo_action = QAction("Try the &demo", self, objectName="actionTryDemo", triggered=self.demo.start)
        self.demo_action.setToolTip("Start an embedded broker with simulated traffic in several regions and a "
                                    "replier, and connect to it")
        for action in (self.add_broker_action, self.profiles_action, self.toggle_connection_action,
                       self.send_request_action, self.publish_action, self.copy_topic_action, self.copy_payload_action,
                       self.clear_tree_action, self.find_action, self.shortcuts_action, self.reset_layout_action,
                       self.subscriptions_action, self.sys_stats_action, self.mesh_latency_action,
                       *self.panel_actions):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.addAction(action)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for action in (self.add_broker_action, self.profiles_action, self.toggle_connection_action):
            file_menu.addAction(action)
        file_menu.addAction(self.demo_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self, objectName="actionQuit", shortcut=QKeySequence("Ctrl+Q"),
                              triggered=self.close)
        file_menu.addAction(quit_action)
        edit_menu = self.menuBar().addMenu("&Edit")
        for action in (self.find_action, self.copy_topic_action, self.copy_payload_action, self.clear_tree_action):
            edit_menu.addAction(action)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.reset_layout_action)
        view_menu.addAction(self.topic_budget_action)
        view_menu.addAction(self.history_budget_action)
        view_menu.addSeparator()
        for dock in (self.brokers_dock, self.request_dock, self.details_dock, self.stream_dock, self.audit_dock):
            view_menu.addAction(dock.toggleViewAction())
        tools_menu = self.menuBar().addMenu("&Tools")
        for action in (self.send_request_action, self.publish_action, self.subscriptions_action,
                       self.sys_stats_action, self.mesh_latency_action):
            tools_menu.addAction(action)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)

    def shortcut_table(self) -> list[tuple[str, str]]:
        """Every window shortcut with what it does, from the actions themselves (so Help never drifts): one row
        per action, its keys together."""
        rows = {}
        for action in self.findChildren(QAction):
            keys = [s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts()]
            if any(keys):
                rows[" or ".join(k for k in keys if k)] = action.text().replace("&", "").rstrip("…")
        rows.update({"Ctrl+C": "Copy the selected topic (in the tree)", "Space": "Pause / resume the stream (in it)"})
        return sorted(rows.items())

    def show_shortcuts(self) -> ShortcutsDialog:
        dialog = ShortcutsDialog(self.shortcut_table(), self)
        dialog.open()
        return dialog

    def show_panel(self, which: str) -> None:
        """Alt+1…4: bring the request panel, details, streams or audit feed forward."""
        dock = {"Request": self.request_dock, "Details": self.details_dock, "Streams": self.stream_dock,
                "Audit": self.audit_dock}[which]
        dock.show()
        dock.raise_()

    def show_about(self) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Information, "About Eventscope",
                          f"Eventscope {__version__}\nA desktop event monitor for MQTT event meshes.",
                          QMessageBox.StandardButton.Close, self)
        box.setObjectName("aboutBox")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.open()
        return box

    # ----- window-wide actions -----
    def send_request_from_anywhere(self) -> bool:
        """Ctrl+Enter: bring the request panel forward and send."""
        self.request_dock.show()
        self.request_dock.raise_()
        sent = self.request_panel.send_from_shortcut()
        if not sent:
            self.status_bar.showMessage(self.request_panel.send_button.toolTip(), 5000)
        return sent

    def _chosen_broker(self) -> str | None:
        """The broker selected in the Brokers panel, else the current one."""
        chosen = self.brokers_panel.selected_broker()
        if chosen is None and self.context.connection is not None:
            chosen = self.context.connection.broker_id
        if chosen is None:
            self.status_bar.showMessage("Add a broker first (Ctrl+Shift+N)", 5000)
        return chosen

    def open_subscriptions(self) -> SubscriptionsDialog | None:
        self.subscriptions_dialog = self._broker_tool(SubscriptionsDialog)
        return self.subscriptions_dialog

    def open_sys_stats(self) -> SysStatsView | None:
        self.sys_stats_view = self._broker_tool(SysStatsView)
        return self.sys_stats_view

    def open_mesh_latency(self) -> MeshLatencyDialog:
        """Tools → Mesh latency, on every open broker (a new dialog each time: closing one ends its run)."""
        self.mesh_latency_dialog = MeshLatencyDialog(self.context, self)
        self.mesh_latency_dialog.show()
        return self.mesh_latency_dialog

    def _broker_tool(self, tool):
        """Open a tool (a dialog class taking context and broker id) on the chosen broker."""
        broker_id = self._chosen_broker()
        if broker_id is None:
            return None
        dialog = tool(self.context, broker_id, self)
        dialog.show()
        return dialog

    def focus_tree_filter(self) -> None:
        self.topic_tree.filter_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.topic_tree.filter_edit.selectAll()

    def open_publish(self):
        node = self.topic_tree.current_node()
        if node is None:
            return self.topic_tree.open_publish_dialog("")
        return self.topic_tree.open_publish_dialog(node.topic, self.topic_tree.tree.broker_id_of(node))

    def copy_selected_topic(self) -> None:
        node = self.topic_tree.current_node()
        if node is None:
            self.status_bar.showMessage("Select a topic in the tree to copy it", 5000)
            return
        self.topic_tree.copy_topic(node)

    def copy_selected_payload(self) -> None:
        node = self.topic_tree.current_node()
        if node is None or node.last is None:
            self.status_bar.showMessage("Select a topic with a message to copy its payload", 5000)
            return
        self.topic_tree.copy_payload(node)

    def clear_tree(self) -> None:
        self.context.workspace.clear_topics()
        self.status_bar.showMessage("Tree cleared: topics come back as their messages arrive", 5000)

    def _reload_profiles(self) -> ProfileStore:
        """The profiles file is shared with the CLI: read it afresh whenever a dialog needs it."""
        store, notice = ProfileStore.load_or_recover(self.profiles.path)
        if notice:
            self.status_bar.showMessage(f"Profiles: {notice}", 15000)
        self.profiles = store
        return store

    def open_profile_manager(self) -> ProfileManagerDialog:
        self.profile_manager = ProfileManagerDialog(store=self._reload_profiles(), parent=self)
        self.profile_manager.openRequested.connect(self.open_stored_profile)
        self.profile_manager.open()
        return self.profile_manager

    def open_add_broker(self) -> AddBrokerDialog:
        self.add_broker_dialog = AddBrokerDialog(self._reload_profiles(), self._open_from_dialog, parent=self)
        if self.context.read_only:  # the whole window is a monitor: every broker opens read-only …
            dialog = self.add_broker_dialog
            dialog.form.read_only_check.setEnabled(False)
            dialog.form.read_only_check.setToolTip("The window was started with --read-only: every broker opens "
                                                   "read-only (and without a Last Will)")
            dialog.save_check.setChecked(False)  # … but a monitor run does not rewrite saved profiles
            dialog.save_check.setEnabled(False)
        self.add_broker_dialog.open()
        return self.add_broker_dialog

    def _open_from_dialog(self, stored, password: str | None, saved: bool) -> str | None:
        try:
            self._open_stored(stored, password, saved)
        except ValueError as exc:
            return str(exc)
        return None

    def toggle_current_connection(self) -> None:
        """Ctrl+Shift+C: connect or disconnect the broker selected in the Brokers panel (else the current
        one, else the first); pressed twice, it leaves that broker as it was."""
        chosen = self.brokers_panel.selected_broker()
        if chosen is None and self.context.connection is not None:
            chosen = self.context.connection.broker_id
        entries = self.context.entries()
        if chosen is None and entries:
            chosen = entries[0].broker_id
        if chosen is None:
            self.status_bar.showMessage("No broker yet: add one with Ctrl+Shift+N", 5000)
            return
        self.brokers_panel.select(chosen)
        self.brokers_panel.toggle(chosen)

    def connect_to(self, profile: ConnectionProfile, password: str | None = None) -> SessionBase | None:
        """Open ``profile`` beside the others and make it the current broker."""
        return self.add_broker(profile, password, make_current=True)

    def open_stored_profile(self, stored, password: str | None = None) -> SessionBase | None:
        """Open a saved profile with its region, colour and audit filters."""
        try:
            return self._open_stored(stored, password)
        except ValueError as exc:
            self.status_bar.showMessage(str(exc), 10000)
            return None

    def _open_stored(self, stored, password: str | None, saved: bool | None = None) -> SessionBase:
        connection = self.context.open_entry(self.opener.open_stored(stored, password, saved))
        self.opener.opened(connection, stored)
        self.brokers_panel.select(connection.broker_id)
        return connection.session

    def add_broker(self, profile: ConnectionProfile, password: str | None = None, make_current: bool = False,
                   region: str = "", audit_filters: tuple[str, ...] | None = None) -> SessionBase | None:
        """Open ``profile`` beside the brokers already open. A name already open is refused, with the reason."""
        entry = self.opener.open_profile(profile, password, region, audit_filters)
        try:
            connection = self.context.open_entry(entry, make_current=make_current)
        except ValueError as exc:
            self.status_bar.showMessage(str(exc), 10000)
            return None
        self.brokers_panel.select(connection.broker_id)
        return connection.session

    def update_demo_action(self) -> None:
        """Try the demo is offered while no demo runs (or starts) in this window."""
        self.demo_action.setEnabled(self.demo.available)
        self.brokers_panel.demo_button.setEnabled(self.demo.available)

    def _on_current_changed(self, session) -> None:
        self.status_bar.show_status(session.status if session is not None else None)
        self._update_title()
        current = self.context.connection.broker_id if self.context.connection is not None else None
        previous, self._current_id = self._current_id, current
        if previous is not None and current != previous:  # never moved without saying so
            self.status_bar.showMessage(f"Requests now leave on {current}" if current else "No current broker", 8000)

    def _update_title(self) -> None:
        connection = self.context.connection
        monitor = " (read-only monitor)" if self.context.read_only else ""
        if connection is None:
            self.setWindowTitle("Eventscope" + monitor)
            return
        others = len(self.context.connections()) - 1
        read_only = monitor or (" (read-only)" if connection.profile.read_only else "")
        more = f" + {others} more broker{'s' if others != 1 else ''}" if others > 0 else ""
        self.setWindowTitle(f"Eventscope — {connection.profile.address}{read_only}{more}")

    def disconnect_session(self) -> None:
        """Close the current broker and remove it from the window."""
        session = self.context.session
        if session is None:
            return
        self.context.disconnect_broker()
        if self.context.session is None:  # the last broker: show how it ended
            self.status_bar.show_status(session.status)

    def _count_brokers(self, _summary=None) -> None:
        while self._problems:
            self.status_bar.showMessage(self._problems.pop(0), 15000)
        connected = sum(1 for c in self.context.connections() if c.session.is_connected)
        self.status_bar.show_brokers(connected, len(self.context.entries()))

    def _on_session_status(self, session: SessionBase, status: SessionStatus) -> None:
        if session is self.context.session:
            self.status_bar.show_status(status)

    # ----- persistence -----
    WORKSPACE_KEY = "workspace/brokers"

    def save_workspace(self) -> None:
        """Remember which brokers are open (a --read-only window leaves the saved workspace alone)."""
        saved = self.opener.saved_workspace()
        if saved is not None:
            self.context.settings.setValue(self.WORKSPACE_KEY, saved)

    def restore_workspace(self) -> int:
        """Open the brokers that were open when the window last closed. Returns how many."""
        opened, missing = 0, []
        text = self.context.settings.value(self.WORKSPACE_KEY, "[]")
        for saved in self.opener.read_saved_workspace(text if isinstance(text, str) else None):
            if saved.connection is not None:
                opened += self.add_broker(saved.connection, region=saved.region) is not None
            elif saved.profile_name not in self.profiles.profiles:
                missing.append(saved.profile_name)
            else:
                name = saved.profile_name
                opened += self.open_stored_profile(self.profiles.get(name), self.profiles.password(name)) is not None
        self._count_brokers()  # what could not be read shows now
        if missing:
            self.status_bar.showMessage(f"Saved profile{'s' if len(missing) > 1 else ''} no longer there: "
                                        f"{', '.join(missing)}", 10000)
        return opened

    def _restore_layout(self) -> None:
        """Size and place the window as it was, but never larger than this screen or off it.

        Size and position are kept as plain values rather than ``saveGeometry``: restoring that blob
        before the window is shown lost the frame each run and shrank the window.
        """
        settings = self.context.settings
        settings.remove("window/geometry")  # the old blob, see above
        size, pos = settings.value("window/size"), settings.value("window/pos")
        screen = (self.screen() or QGuiApplication.primaryScreen()).availableGeometry()
        if isinstance(size, QSize) and size.isValid():
            self.resize(min(size.width(), screen.width()), min(size.height(), screen.height()))
        if isinstance(pos, QPoint) and screen.contains(pos):
            self.move(pos)
        self.start_maximized = settings.value("window/maximized", False, type=bool)
        state = settings.value("window/state")
        self._size_docks_when_shown = not (isinstance(state, QByteArray) and self.restoreState(state, LAYOUT_VERSION))

    def save_layout(self) -> None:
        settings = self.context.settings
        settings.setValue("window/maximized", self.isMaximized())
        if not self.isMaximized():
            settings.setValue("window/size", self.size())
            settings.setValue("window/pos", self.pos())
        settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        settings.sync()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._size_docks_when_shown:  # no saved layout, or one for other docks: the default, sized now
            self._size_docks_when_shown = False
            QTimer.singleShot(0, self._size_docks)

    def ask_topic_budget(self) -> None:
        """View → Topic budget…: the most topic levels a broker's tree keeps (saved for the next start)."""
        budget = self._ask_budget("Topic budget", "Topic levels kept per broker (past it, the least recently seen go):",
                                  self.context.topic_budget, MIN_TOPIC_BUDGET, MAX_TOPIC_BUDGET, 10_000)
        if budget is not None:
            self.context.set_topic_budget(budget)
            self.status_bar.showMessage(f"The tree keeps at most {budget:,} topic levels per broker", 5000)

    def ask_history_budget(self) -> None:
        """View → History budget…: the most message history a broker's tree keeps (saved for the next start)."""
        budget = self._ask_budget("History budget",
                                  "Message history kept per broker, in MiB (past it, every topic keeps fewer):",
                                  self.context.history_budget_mib, MIN_HISTORY_BUDGET_MIB, MAX_HISTORY_BUDGET_MIB, 64)
        if budget is not None:
            self.context.set_history_budget(budget)
            self.status_bar.showMessage(f"The tree keeps at most {budget:,} MiB of message history per broker", 5000)

    def _ask_budget(self, title: str, label: str, value: int, lowest: int, highest: int, step: int) -> int | None:
        """The number the user chose in a small dialog, or None if they cancelled."""
        budget, accepted = QInputDialog.getInt(self, title, label, value, lowest, highest, step)
        return budget if accepted else None

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        self.save_workspace()
        # The window goes at once: the final audit commits and acks, every broker's disconnect and then
        # the in-window demo's end run on a worker thread, which the app waits for before it exits.
        self.closing = self.context.close_in_background(then=self.demo.stop)
        self.audit_feed.shutdown()
        super().closeEvent(event)
