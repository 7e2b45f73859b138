"""The live topic tree: a filter box over a QTreeView of the workspace's topics, one root per broker.

The workspace's tick thread applies every batch to the core tree; each change summary then
says what changed. The Qt notifications follow at once while the view is shown; while it is
hidden they are held (the model keeps answering with what Qt already knows) and published in
one go when it is shown again.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QObject, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from eventscope.core.models.topic_forest import TopicForest, broker_of
from eventscope.core.models.topic_tree import TopicNode, TreeFilter
from eventscope.core.mqtt.retained import RetainedClear
from eventscope.core.mqtt.session import SessionError
from eventscope.core.payload_text import decode_utf8
from eventscope.core.sparkplug.commands import edge_node_of
from eventscope.core.topics import TopicError
from eventscope.gui.context import MIB, AppContext
from eventscope.gui.models.topic_tree_model import COL_MESSAGES, COL_RATE, COL_SEEN, COL_TOPIC, COL_VALUE, TopicTreeModel
from eventscope.gui.status_colours import status_style
from eventscope.gui.views.elided_label import ElidedLabel
from eventscope.gui.views.publish_dialog import PublishDialog

REPAINT_MS = 500  # fades the "recently updated" marks and refreshes ages
# Pruned rows (evicted topics, folded Sparkplug aliases) leave at most this often: see TopicTreeModel.
REMOVE_PRUNED_EVERY_S = 1.0
POLL_MS = 50
EXPAND_MATCHES_LIMIT = 500  # expand the ancestors of at most this many matches
MIN_VALUE_WIDTH = 160  # Last value never gets narrower than this while the window shrinks


class TopicFilterProxy(QSortFilterProxyModel):
    """Shows nodes in a visible set computed by the core filter (None = everything).

    Recursive filtering keeps the ancestors of a matching node; the source is never re-sorted.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.matches: set[TopicNode] | None = None
        self.setRecursiveFilteringEnabled(True)
        self.setDynamicSortFilter(False)

    def set_matches(self, matches: set[TopicNode] | None) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.10+; invalidateRowsFilter is deprecated there
            self.beginFilterChange()
            self.matches = matches
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.matches = matches
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:
        if self.matches is None:
            return True
        return self.sourceModel().index(source_row, 0, source_parent).internalPointer() in self.matches


def _mib(size: int) -> str:
    """Bytes as MiB, with a decimal below 10 (a new tree's few kilobytes are not "0")."""
    mib = size / MIB
    return f"{mib:,.1f}" if mib < 10 else f"{mib:,.0f}"


class TopicTreeView(QWidget):
    """Topic tree with filter box, context menu and keyboard actions.

    Signals:
        filterApplied(int): the filter changed; how many topics match.
        actionFinished(str): a publish, subscribe or retained clear finished; the result text.
    """

    filterApplied = Signal(int)
    actionFinished = Signal(str)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("topicTree")
        self.setAccessibleName("Topic tree")
        self.tree: TopicForest = context.workspace.tree  # read only: the tick thread writes it
        self.model = TopicTreeModel(self.tree, self)
        self.model.removal_interval = REMOVE_PRUNED_EVERY_S
        self.model.root_label = self._broker_label
        self.proxy = TopicFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.stale = False
        self.tree_filter: TreeFilter | None = None
        self._place: TopicNode | None = None  # the last node selected before a filter
        self.confirm_box: QMessageBox | None = None
        self.publish_dialog: PublishDialog | None = None
        self._operations: list[tuple[Future | RetainedClear, Callable[[Any], None]]] = []  # (operation, callback)

        self.filter_edit = QLineEdit(objectName="topicFilter")
        self.filter_edit.setPlaceholderText("Filter: MQTT wildcard (a/+/b, x/#) or text  (Ctrl+F)")
        self.filter_edit.setClearButtonEnabled(True)
        self.payload_check = QCheckBox("Payload", objectName="topicFilterPayload")
        self.payload_check.setToolTip("Also match text in the last payload")
        self.match_label = QLabel("", objectName="topicMatchCount")
        self.match_label.setTextFormat(Qt.TextFormat.PlainText)
        self.view = QTreeView(objectName="topicTreeView")
        self.view.setModel(self.model)  # the proxy sits in between only while a filter is active
        self.view.setUniformRowHeights(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.setAllColumnsShowFocus(True)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_TOPIC, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(COL_MESSAGES, 70)
        header.resizeSection(COL_RATE, 60)
        header.resizeSection(COL_SEEN, 72)
        header.setSectionResizeMode(COL_VALUE, QHeaderView.ResizeMode.Stretch)
        self._topic_width_set_by_user = False
        header.sectionResized.connect(self._on_section_resized)
        self.status_label = QLabel("", objectName="topicTreeStatus")
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.breadcrumb = ElidedLabel(objectName="topicBreadcrumb", mode=Qt.TextElideMode.ElideLeft)
        # Shown once the topic budget evicts: the tree no longer holds every topic seen, and says so.
        self.budget_label = ElidedLabel(objectName="topicBudgetNote", mode=Qt.TextElideMode.ElideRight)
        self.budget_label.setEnabled(False)  # the palette's muted text colour
        self.budget_label.hide()
        self._evicted_shown = 0
        # How much of the history budget is in use (the fullest broker's), and how short histories are kept now.
        self.history_label = QLabel("", objectName="topicHistoryUse")
        self.history_label.setTextFormat(Qt.TextFormat.PlainText)
        self.history_label.setEnabled(False)  # the palette's muted text colour
        # What an empty tree waits for, over its blank area: no topics yet, or none matching the filter.
        self.empty_note = QLabel("", self.view.viewport(), objectName="topicTreeEmpty")
        self.empty_note.setTextFormat(Qt.TextFormat.PlainText)
        self.empty_note.setWordWrap(True)
        self.empty_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_note.setEnabled(False)  # drawn in the palette's muted text colour
        self.view.viewport().installEventFilter(self)
        self.breadcrumb.setAccessibleName("Selected topic")

        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.payload_check)
        top.addWidget(self.match_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.breadcrumb, 1)
        bottom.addWidget(self.budget_label, 1)
        bottom.addWidget(self.history_label)
        bottom.addWidget(self.status_label)
        layout.addLayout(bottom)

        self.filter_edit.textChanged.connect(self._on_filter_changed)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self.filter_edit, activated=self.filter_edit.clear,
                  context=Qt.ShortcutContext.WidgetShortcut)
        self.payload_check.toggled.connect(self._on_filter_changed)
        self.view.customContextMenuRequested.connect(self._on_context_menu)
        # A large parent shows its rows a batch at a time: the next batch comes when its last row is in view.
        # Later, not in the signal: the view emits expanded() from inside its own layout pass (expandAll), and
        # rows inserted then would change the item list that pass is walking (a crash).
        self._fetch_soon = QTimer(self, singleShot=True, interval=0)
        self._fetch_soon.timeout.connect(self._fetch_where_in_view)
        self.view.verticalScrollBar().valueChanged.connect(lambda _value: self._fetch_soon.start())
        self.view.expanded.connect(lambda _index: self._fetch_soon.start())
        self.view.selectionModel().currentChanged.connect(self._on_current_changed)
        self.view.installEventFilter(self)
        context.bridge.summaryReady.connect(self._on_summary)
        context.sessionChanged.connect(self._on_session_changed)
        self._repaint = QTimer(self)
        self._repaint.setInterval(REPAINT_MS)
        self._repaint.timeout.connect(self._on_repaint)
        self._repaint.start()
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._on_poll)
        self._update_empty_note()

    # ----- live updates ---------------------------------------------------------------
    def _on_summary(self, summary) -> None:
        changes = summary.tree
        if not changes:
            return
        if self.tree_filter is not None and self.proxy.matches is not None:
            self._update_matches(changes)
        self.model.note_changes(changes)
        if changes.pruned:
            self._show_budget()
        if self.isVisible():
            self.model.publish_changes(self.rows_on_screen())
            # After this frame, not in it: the first visualRect() lays out every shown row again when rows
            # came or went under an expanded parent, and that is as much work again as the frame itself.
            self._fetch_soon.start()
        else:
            self.stale = True
        self._update_empty_note()

    def _fetch_where_in_view(self) -> None:
        """Fetch the next rows of every expanded large parent whose last shown row is on screen."""
        model, shown_model = self.model, self.view.model()
        viewport = self.view.viewport().rect()
        for parent in model.held_parents():
            parent_index = self._from_source(model.node_index(parent))
            if not parent_index.isValid() or not self.view.isExpanded(parent_index):
                continue
            shown = shown_model.rowCount(parent_index)
            last = shown_model.index(shown - 1, 0, parent_index) if shown else parent_index
            if self.view.visualRect(last).intersects(viewport):
                model.fetch_more(parent)

    def _show_budget(self) -> None:
        evicted = getattr(self.tree, "evicted_total", 0)
        if evicted == self._evicted_shown:
            return
        self._evicted_shown = evicted
        budget = getattr(self.tree, "topic_budget", 0)
        self.budget_label.setText(f"{evicted:,} old topics evicted (budget {budget:,})")
        self.budget_label.setToolTip(f"The tree keeps at most {budget:,} topic levels per broker: past it, the "
                                     f"least recently seen topics go ({evicted:,} so far). Their parents keep the "
                                     "counts. Change it in View → Topic budget…")
        self.budget_label.setVisible(evicted > 0)

    def show_history_use(self) -> None:
        """The fullest broker's history against the budget; every broker's in the tooltip."""
        use = self.tree.history_use()
        if not use:
            self.history_label.hide()
            return
        budget = self.tree.history_budget
        broker_id, (used, kept) = max(use.items(), key=lambda item: item[1][0])
        text = f"History {_mib(used)} of {budget / MIB:,.0f} MiB"
        full_count = next(iter(self.tree.trees.values())).history_count
        if kept < full_count:
            text += f", {kept:,} per topic"
        lines = [f"{broker}: {_mib(b_used)} MiB, up to {b_kept:,} messages per topic"
                 for broker, (b_used, b_kept) in sorted(use.items())]
        self.history_label.setText(text if len(use) == 1 else f"{text} ({broker_id})")
        self.history_label.setToolTip(
            f"Message history kept per broker: at most {budget / MIB:,.0f} MiB, counted as payloads plus a fixed "
            f"overhead per message. Past it, every topic keeps fewer messages (at most {full_count:,}).\n"
            + "\n".join(lines) + "\nChange it in View → History budget…")
        self.history_label.show()

    def _update_empty_note(self) -> None:
        shown = self.view.model()
        if shown is not None and shown.rowCount() > 0:
            self.empty_note.hide()
            return
        text = self.filter_edit.text().strip()
        self.empty_note.setText(f"No topic matches \"{text}\". Clear the filter (Esc) to see the whole tree."
                                if text and self.tree_filter is not None else
                                "No topics yet. They appear here as messages arrive: add a broker, or try the "
                                "demo (File → Try the demo).")
        self.empty_note.setGeometry(self.view.viewport().rect().adjusted(16, 16, -16, -16))
        self.empty_note.show()

    def rows_on_screen(self) -> set[TopicNode]:
        """Nodes of the rows inside the viewport: the only ones whose value changes are announced."""
        view = self.view
        index = view.indexAt(view.viewport().rect().topLeft())
        bottom = view.viewport().rect().bottom()
        shown: set[TopicNode] = set()
        while index.isValid() and view.visualRect(index).top() <= bottom:
            shown.add(self.model.node_from_index(self._to_source(index)))
            index = view.indexBelow(index)
        return shown

    def _update_matches(self, changes) -> None:
        matches = self.proxy.matches
        flt = self.tree_filter
        if matches is None or flt is None:  # the caller only comes here with both set
            return
        before = len(matches)
        for node in changes.created:
            if node.count and flt.accepts(node):
                matches.add(node)
        changed_membership = False
        if flt.match_payload:
            for node in changes.updated:
                if node.count and flt.accepts(node) != (node in matches):
                    matches.symmetric_difference_update((node,))
                    changed_membership = True
        if changed_membership:
            self.proxy.set_matches(matches)
        if len(matches) != before or changed_membership:
            self._show_match_count()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.catch_up()

    def catch_up(self) -> None:
        """Tell Qt what changed while the view was hidden."""
        if self.model.has_pending_changes:
            self.model.publish_changes(self.rows_on_screen())
        self.stale = False

    def _on_repaint(self) -> None:
        if self.isVisible():
            if self.model.removals_due:  # rows pruned by the last summaries, when none has come since
                self.model.publish_changes(self.rows_on_screen())
            self.show_history_use()
            self.view.viewport().update()  # visible rows only: fades marks, refreshes ages

    # ----- filter ---------------------------------------------------------------------
    def _on_find_shortcut(self) -> None:
        self.filter_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.filter_edit.selectAll()

    def _on_filter_changed(self, *_args) -> None:
        self.set_filter(self.filter_edit.text(), self.payload_check.isChecked())

    def set_filter(self, text: str, match_payload: bool = False) -> None:
        """Show only topics matching ``text`` (wildcard filter or substring), and their ancestors."""
        self.catch_up()
        selected = self.current_node()
        if selected is not None:  # the user's place, for when the filter goes (a filter matching nothing loses it)
            self._place = selected
        if not text.strip():
            self.tree_filter = None
            self.proxy.set_matches(None)
            self._show_through(self.model)
            self.match_label.setText("")
            self.filter_edit.setStyleSheet("")
            self.filterApplied.emit(sum(1 for _ in self.tree.topics()))
            self._update_empty_note()
            return
        try:
            tree_filter = TreeFilter(text, match_payload)
        except TopicError as exc:
            self.match_label.setText(str(exc))
            self.filter_edit.setStyleSheet(f"QLineEdit {{ {status_style('error')} }}")
            return
        self.filter_edit.setStyleSheet("")
        self.tree_filter = tree_filter
        matches = set(self.tree.matching_nodes(tree_filter))
        self.proxy.set_matches(matches)
        self._show_through(self.proxy)
        self._show_match_count()
        self._expand_matches(list(matches)[:EXPAND_MATCHES_LIMIT])
        self.filterApplied.emit(len(matches))
        self._update_empty_note()

    def _show_through(self, model) -> None:
        """Put the proxy in the view only while filtering: through a proxy every painted cell
        costs an extra source ``index()`` call, which dominated repaints of a large expanded tree."""
        if self.view.model() is model:
            return
        current = self.current_node() or self._place
        self.view.setModel(model)
        self.view.selectionModel().currentChanged.connect(self._on_current_changed)
        if current is not None:
            self.select_topic(current.topic)

    def _to_source(self, index: QModelIndex) -> QModelIndex:
        return self.proxy.mapToSource(index) if self.view.model() is self.proxy else index

    def _from_source(self, index: QModelIndex) -> QModelIndex:
        return self.proxy.mapFromSource(index) if self.view.model() is self.proxy else index

    def _show_match_count(self) -> None:
        count = len(self.proxy.matches or ())
        self.match_label.setText(f"{count} topic{'s' if count != 1 else ''} match")

    def _expand_matches(self, nodes: list[TopicNode]) -> None:
        expanded: set[TopicNode] = set()
        for node in nodes:
            for ancestor in node.ancestors():
                if ancestor.parent is None or ancestor in expanded or not self.model.is_known(ancestor):
                    continue
                expanded.add(ancestor)
                self.view.expand(self._from_source(self.model.node_index(ancestor)))

    @property
    def matching_topics(self) -> set[str]:
        """Topics the current filter shows (all topics with no filter)."""
        if self.proxy.matches is None:
            return {node.topic for node in self.tree.topics()}
        return {node.topic for node in self.proxy.matches}

    # ----- selection ------------------------------------------------------------------
    def current_node(self) -> TopicNode | None:
        index = self.view.currentIndex()
        if not index.isValid():
            return None
        return self.model.node_from_index(self._to_source(index))

    def select_topic(self, topic: str) -> bool:
        """Make ``topic`` current (expanding its ancestors). False if it is not shown."""
        self.catch_up()
        node = self.tree.node(topic)
        if node is not None:
            self.model.show_node(node)  # deep in a large parent, its row may be held back until fetched
        source = self.model.index_for_topic(topic)
        index = self._from_source(source)
        if not index.isValid():
            return False
        parent = index.parent()
        while parent.isValid():
            self.view.expand(parent)
            parent = parent.parent()
        self.view.setCurrentIndex(index)
        self.view.scrollTo(index)
        return True

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            node = self.model.node_from_index(self._to_source(current))
            self.breadcrumb.setText(self._breadcrumb(node))
            self.context.topicSelected.emit(node)

    @staticmethod
    def _breadcrumb(node: TopicNode) -> str:
        """"us-east › orders › node-1 › metrics": the broker, then every level, for deep topics."""
        broker = broker_of(node)
        levels = [broker.name] if broker is not None else []
        if node is not broker and node.topic:
            levels += node.topic.split("/")
        return " › ".join(levels)

    # ----- column widths ------------------------------------------------------------------
    def _on_section_resized(self, section: int, _old: int, _new: int) -> None:
        if section == COL_TOPIC and not self._sizing_topic:
            self._topic_width_set_by_user = True

    _sizing_topic = False

    def resizeEvent(self, event) -> None:
        """The Topic column takes about 45% of the width (until the user drags it), so Last value stays on screen."""
        super().resizeEvent(event)
        header = self.view.header()
        width = self.view.viewport().width()
        # Last value keeps room to be read, even after the user widened Topic and the window then shrank.
        widest_topic = width - sum(header.sectionSize(c) for c in (COL_MESSAGES, COL_RATE, COL_SEEN)) - MIN_VALUE_WIDTH
        wanted = (max(140, int(width * 0.45)) if not self._topic_width_set_by_user
                  else min(header.sectionSize(COL_TOPIC), max(140, widest_topic)))
        if wanted != header.sectionSize(COL_TOPIC):
            self._sizing_topic = True
            header.resizeSection(COL_TOPIC, wanted)
            self._sizing_topic = False

    # ----- keyboard ---------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.view.viewport() and event.type() == QEvent.Type.Resize and self.empty_note.isVisible():
            self.empty_note.setGeometry(self.view.viewport().rect().adjusted(16, 16, -16, -16))
        if watched is self.view and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            if event.matches(QKeySequence.StandardKey.Copy):
                self.copy_topic()
                return True
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                index = self.view.currentIndex()
                if index.isValid():
                    self.view.setExpanded(index.siblingAtColumn(0), not self.view.isExpanded(index.siblingAtColumn(0)))
                return True
        return super().eventFilter(watched, event)

    def copy_topic(self, node: TopicNode | None = None) -> None:
        node = node or self.current_node()
        if node is not None:
            QGuiApplication.clipboard().setText(node.topic)

    def copy_payload(self, node: TopicNode) -> None:
        """The last payload as text; binary or invalid UTF-8 as hex, never lossy replacement characters."""
        if node.last is None:
            return
        payload = node.last.payload
        text = decode_utf8(payload)
        QGuiApplication.clipboard().setText(text if text is not None else payload.hex(" "))

    # ----- context menu -------------------------------------------------------------------
    def _on_context_menu(self, pos) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        menu = self.build_context_menu(self.model.node_from_index(self._to_source(index)))
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def _broker_label(self, node: TopicNode) -> str:
        """A broker's root row: its name, and its region when the profile gives one."""
        connection = self.context.workspace.broker(node.name)
        region = connection.region if connection is not None else ""
        return f"{node.name} · {region}" if region and region != node.name else node.name

    def session_for(self, node: TopicNode):
        """The session of the broker ``node`` belongs to (None if that broker is gone)."""
        connection = self.context.workspace.broker(self.tree.broker_id_of(node) or "")
        return connection.session if connection is not None else None

    def build_context_menu(self, node: TopicNode) -> QMenu:
        """The actions for ``node``; publishing ones are disabled for read-only or absent sessions."""
        session = self.session_for(node)
        can_publish = session is not None and not session.read_only
        menu = QMenu(self)
        copy = QAction("Copy topic", menu, objectName="actionCopyTopic")
        copy.triggered.connect(lambda: self.copy_topic(node))
        copy_payload = QAction("Copy last payload", menu, objectName="actionCopyPayload", enabled=node.last is not None)
        copy_payload.triggered.connect(lambda: self.copy_payload(node))
        publish = QAction("Publish to this topic…", menu, objectName="actionPublish", enabled=can_publish)
        publish.triggered.connect(lambda: self.open_publish_dialog(node.topic, self.tree.broker_id_of(node)))
        subtree = f"{node.topic}/#"
        broker_id = self.tree.broker_id_of(node) or ""
        subscribed = session is not None and self.context.is_subscribed(broker_id, subtree)
        subscribe = QAction(f"{'Unsubscribe from' if subscribed else 'Subscribe to'} {subtree}", menu,
                            objectName="actionUnsubscribeSubtree" if subscribed else "actionSubscribeSubtree",
                            enabled=session is not None)
        subscribe.triggered.connect(lambda: self.set_subtree_subscribed(node, not subscribed))
        delete_one = QAction("Delete retained message", menu, objectName="actionDeleteRetained",
                             enabled=can_publish and node.retained)
        delete_one.triggered.connect(lambda: self.ask_delete_retained(node, recursive=False))
        for action in (publish, delete_one):
            action.setEnabled(action.isEnabled() and bool(node.topic))  # a broker's own row is no topic
        retained_below = len(self.tree.retained_topics(node)) if can_publish else 0
        delete_all = QAction(f"Delete retained messages below ({retained_below})…", menu,
                             objectName="actionDeleteRetainedRecursive", enabled=can_publish and retained_below > 0)
        delete_all.triggered.connect(lambda: self.ask_delete_retained(node, recursive=True))
        rebirth = QAction("Request rebirth (Sparkplug)", menu, objectName="actionRequestRebirth",
                          enabled=can_publish and edge_node_of(node.topic) is not None)
        rebirth.setToolTip("Ask this edge node to send its BIRTHs again, so metrics sent by alias get their names")
        rebirth.triggered.connect(lambda: self.request_rebirth(node))
        for action in (copy, copy_payload, publish, subscribe, delete_one, delete_all, rebirth):
            menu.addAction(action)
        return menu

    def request_rebirth(self, node: TopicNode) -> None:
        """Send the Sparkplug rebirth request for ``node``'s edge node; the result shows in the status line."""
        broker_id = self.tree.broker_id_of(node) or ""
        try:
            future = self.context.request_rebirth(broker_id, node.topic)
        except (SessionError, ValueError) as exc:
            self._report(f"Rebirth not requested: {exc}")
            return
        group, edge_node = edge_node_of(node.topic) or ("", "")
        self._watch(future, lambda f: self._report(
            f"Rebirth requested from {group}/{edge_node}" if f.exception() is None
            else f"Rebirth not requested: {f.exception()}"))

    def open_publish_dialog(self, topic: str, broker_id: str | None = None) -> PublishDialog:
        """The publish form for ``broker_id`` (default: the current broker)."""
        if broker_id is None and self.context.connection is not None:
            broker_id = self.context.connection.broker_id
        self.publish_dialog = PublishDialog(self.context, broker_id, topic, self)
        self.publish_dialog.published.connect(lambda t: self._report(f"Published to {t}"))
        self.publish_dialog.open()
        return self.publish_dialog

    def set_subtree_subscribed(self, node: TopicNode, subscribe: bool) -> None:
        """Subscribe to (or drop) ``node``'s subtree on the live connection, without reconnecting."""
        broker_id = self.tree.broker_id_of(node)
        if broker_id is None or self.session_for(node) is None:
            return
        subtree = f"{node.topic}/#"
        try:
            future = (self.context.subscribe(broker_id, subtree) if subscribe
                      else self.context.unsubscribe(broker_id, subtree))
        except (SessionError, TopicError) as exc:
            self._report(f"Cannot {'subscribe to' if subscribe else 'unsubscribe from'} {subtree}: {exc}")
            return
        verb = "Subscribed to" if subscribe else "Unsubscribed from"
        self._watch(future, lambda f: self._report(
            f"{verb} {subtree}" if f.exception() is None else f"{subtree}: {f.exception()}"))

    def ask_delete_retained(self, node: TopicNode, recursive: bool) -> QMessageBox:
        """Ask before clearing; the box says how many retained topics will be cleared."""
        topics = self.tree.retained_topics(node) if recursive else [node.topic]
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete retained messages",
                          f"Clear {len(topics)} retained topic{'s' if len(topics) != 1 else ''}"
                          f"{' under' if recursive else ':'} {node.topic}?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("confirmDeleteRetained")
        box.setTextFormat(Qt.TextFormat.PlainText)  # topics are user data: never markup
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(lambda result: self._on_delete_confirmed(result, topics, self.tree.broker_id_of(node)))
        self.confirm_box = box
        box.open()
        return box

    def _on_delete_confirmed(self, result: int, topics: list[str], broker_id: str | None) -> None:
        self.confirm_box = None
        if result != QMessageBox.StandardButton.Yes:
            return
        self.delete_retained(topics, broker_id)

    def delete_retained(self, topics: list[str], broker_id: str | None = None) -> RetainedClear | None:
        """Clear retained ``topics`` on ``broker_id`` (default: the current connection)."""
        connection = self.context.workspace.broker(broker_id) if broker_id else self.context.connection
        if connection is None:
            self._report("Not connected")
            return None
        try:
            operation = self.context.clear_retained(connection.broker_id, topics)
        except SessionError as exc:
            self._report(str(exc))
            return None

        def finished(op: RetainedClear) -> None:
            cleared = list(op.cleared)
            broker = broker_id or (connection.broker_id if connection is not None else None)
            applied = self.context.workspace.post(lambda: self.tree.mark_retained_cleared(cleared, broker))
            # Reported once the tick has applied it, so the tree never contradicts the status line.
            summary = op.summary()
            self._watch(applied, lambda _future: self._report(summary))

        self._watch(operation, finished)
        return operation

    # ----- futures --------------------------------------------------------------------------
    def _watch(self, pending: Future | RetainedClear, callback: Callable[[Any], None]) -> None:
        self._operations.append((pending, callback))
        self._poll.start()

    def _on_poll(self) -> None:
        still = []
        for pending, callback in self._operations:
            if pending.done if isinstance(pending, RetainedClear) else pending.done():  # a property there
                callback(pending)
            else:
                still.append((pending, callback))
        self._operations = still
        if not still:
            self._poll.stop()

    def _report(self, text: str) -> None:
        self.status_label.setText(text)
        self.actionFinished.emit(text)

    def _on_session_changed(self, _session) -> None:
        self.status_label.setText("")
