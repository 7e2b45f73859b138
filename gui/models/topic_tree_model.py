"""Qt item model over the core ``TopicTree``. The internal pointer of every index is a ``TopicNode``.

The workspace's tick thread grows the core tree at any time, so the model never asks the tree
how many children a node has: it keeps its own count of the rows Qt has been told about, and
only change summaries move those counts. New rows are announced with one ``beginInsertRows``
per parent and value changes with one ``dataChanged`` span per parent, and announcements may
be coalesced over several summaries while the view is hidden.

The top level is the workspace's brokers (``TopicForest``), which can also go away: the model
keeps its own list of top-level nodes and brings it in line with the core when it publishes.
Below it, a node the core prunes stays in its parent's ``child_list`` as a tombstone, so rows Qt
knows never shift under it; a parent that lost a child gets its own list of the rows Qt shows.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import overload

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from eventscope.core.models.topic_tree import TopicNode, TreeChanges, row_ranges
from eventscope.core.payload_text import preview
from eventscope.gui.models.roles import ACCESSIBLE_TEXT, ALIGN_RIGHT, ALIGNMENT, BACKGROUND, DISPLAY, TOOLTIP

# Rate and age apart: one column that said "0.8/s" here and "8s ago" there read as one quantity.
COLUMNS = ("Topic", "Messages", "Last value", "Rate", "Last seen")
COL_TOPIC, COL_MESSAGES, COL_VALUE, COL_RATE, COL_SEEN = range(len(COLUMNS))
NODE_ROLE = Qt.ItemDataRole.UserRole + 1
TOPIC_ROLE = Qt.ItemDataRole.UserRole + 2
PREVIEW_CHARS = 120
HIGHLIGHT_SECONDS = 1.0
HIGHLIGHT = QBrush(QColor(255, 214, 102, 110))
_DISPLAY, _TOOLTIP, _BACKGROUND, _ALIGN, _ACCESSIBLE = DISPLAY, TOOLTIP, BACKGROUND, ALIGNMENT, ACCESSIBLE_TEXT
_NODE, _TOPIC = int(NODE_ROLE), int(TOPIC_ROLE)
_HANDLED_ROLES = frozenset((_DISPLAY, _TOOLTIP, _BACKGROUND, _ALIGN, _ACCESSIBLE, _NODE, _TOPIC))
_RIGHT = ALIGN_RIGHT
_ITEM_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable  # built once: enum arithmetic is slow per call


def format_age(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s ago"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def value_preview(node: TopicNode) -> str:
    message = node.last
    if message is None:
        return ""
    if not message.payload:  # an empty publish is how a retained message is deleted
        was_retained = message.retain or any(old.retain and old.payload for old in node.history or ())
        return "(retained message cleared)" if was_retained else "(empty)"
    text = preview(message.payload, PREVIEW_CHARS)
    if message.truncated:
        text = f"[truncated, {message.original_size} B] {text}"
    return text


class TopicTreeModel(QAbstractItemModel):
    """Columns: topic level, messages in the subtree, last value (one plain line), rate or age."""

    def __init__(self, tree, parent: QObject | None = None) -> None:
        """``tree``: a ``TopicForest`` (one top-level row per broker) or a single ``TopicTree``."""
        super().__init__(parent)
        self.tree = tree
        self._top: list[TopicNode] = list(tree.root.child_list)  # top-level rows Qt knows, in order
        self._rows: dict[TopicNode, int] = {}  # children Qt knows, per parent below the top (absent: none)
        self._inserts: dict[TopicNode, int] = {}  # known parents -> row count to announce
        self._hidden_rows: dict[TopicNode, int] = {}  # nodes Qt does not know yet -> their children so far
        # Parents that lost a child: the children Qt shows, in order, and each one's row among them.
        # ``_rows`` still counts the parent's child_list entries taken in, tombstones included.
        self._shown: dict[TopicNode, list[TopicNode]] = {}
        self._shown_rows: dict[TopicNode, dict[TopicNode, int]] = {}
        self._pruned: list[TopicNode] = []
        self._dirty: set[TopicNode] = set()
        self._preview_cache: dict[TopicNode, tuple[object, str]] = {}
        # optional: the text of a top-level (broker) row, given its node
        self.root_label: Callable[[TopicNode], str] | None = None
        self._adopt_existing(tree.root)

    def _adopt_existing(self, node: TopicNode) -> None:
        """A model made over a tree that already has nodes knows them all (a snapshot of the lists)."""
        stack = list(self._top) if node is self.tree.root else [node]
        while stack:
            current = stack.pop()
            children = list(current.child_list)
            if children:
                self._take_children(current, children)
                stack.extend(child for child in children if not child.removed)

    # ----- change announcements ----------------------------------------------------
    def note_changes(self, changes: TreeChanges) -> None:
        """Remember what a tick changed; ``publish_changes`` tells Qt."""
        grown: dict[TopicNode, int] = {}
        root = self.tree.root
        for node in changes.created:  # parents come before their children
            parent = node.parent
            if parent is None or parent is root:
                continue  # the top level is brought in line at publish time (only the root has no parent)
            if node.row + 1 > grown.get(parent, 0):
                grown[parent] = node.row + 1
        for parent, count in grown.items():
            if self.is_known(parent):
                if count > self._inserts.get(parent, 0):
                    self._inserts[parent] = count
            elif count > self._hidden_rows.get(parent, 0):
                self._hidden_rows[parent] = count
        self._pruned.extend(changes.pruned)
        self._dirty.update(changes.updated)

    @property
    def has_pending_changes(self) -> bool:
        return bool(self._inserts or self._dirty or self._pruned) or self._top != self.tree.root.child_list

    def publish_changes(self, shown: set[TopicNode] | None = None) -> None:
        """One beginInsertRows per grown parent, then one dataChanged span per parent.

        ``shown``: if given, value changes are announced only for these nodes (the rows a view
        has on screen); the rest is read fresh by ``data()`` when it scrolls into view.
        """
        self._sync_top()
        self._remove_pruned()
        inserts, self._inserts = self._inserts, {}
        for parent, count in inserts.items():
            if not self.is_known(parent):  # its broker went away meanwhile
                continue
            first = self._rows.get(parent, 0)
            if count <= first:
                continue
            new = [child for child in parent.child_list[first:count] if not child.removed]
            if not new:
                self._rows[parent] = count
                continue
            if len(new) < count - first and parent not in self._shown:
                self._show_own_rows(parent)  # a tombstone among the new rows: Qt's rows stop being child rows
            shown_first = self.rowCount(self.node_index(parent))
            self.beginInsertRows(self.node_index(parent), shown_first, shown_first + len(new) - 1)
            self._rows[parent] = count
            own_rows = self._shown.get(parent)
            if own_rows is not None:
                rows = self._shown_rows[parent]
                for child in new:
                    rows[child] = len(own_rows)
                    own_rows.append(child)
            for child in new:
                self._reveal(child)
            self.endInsertRows()
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        if shown is not None:
            dirty &= shown
        last_column = len(COLUMNS) - 1
        root = self.tree.root
        for node in dirty:
            if node.parent is root and node in self._top:
                row = self._top.index(node)
                self.dataChanged.emit(self.index(row, 0), self.index(row, last_column))
        below = [n for n in dirty if n.parent is not root and n.parent is not None and self.is_known(n)]
        for parent, first, last in self._row_ranges(below):
            parent_index = self.node_index(parent)
            self.dataChanged.emit(self.index(first, 0, parent_index), self.index(last, last_column, parent_index))

    def _row_ranges(self, nodes: list[TopicNode]) -> list[tuple[TopicNode, int, int]]:
        """``row_ranges`` in the rows Qt shows (a parent with its own rows counts them itself)."""
        if not self._shown:
            return row_ranges(nodes)
        plain = [n for n in nodes if n.parent not in self._shown]
        spans = row_ranges(plain)
        own: dict[TopicNode, list[int]] = {}
        for node in nodes:
            parent = node.parent
            if parent in self._shown:
                assert parent is not None
                row = self._shown_rows[parent][node]
                span = own.setdefault(parent, [row, row])
                span[0], span[1] = min(span[0], row), max(span[1], row)
        return spans + [(parent, first, last) for parent, (first, last) in own.items()]

    def _sync_top(self) -> None:
        """Remove top-level rows the core dropped, then append the ones it added (one range each)."""
        current = list(self.tree.root.child_list)  # one C-level copy: the tick thread may change it
        present = set(current)
        for row in range(len(self._top) - 1, -1, -1):
            node = self._top[row]
            if node not in present:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._top[row]
                self._forget_subtree(node)
                self.endRemoveRows()
        known = set(self._top)
        new = [node for node in current if node not in known]
        if new:
            first = len(self._top)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self._top.extend(new)
            for node in new:
                self._reveal(node)
            self.endInsertRows()

    def _remove_pruned(self) -> None:
        """One beginRemoveRows per pruned node Qt shows (pruning is rare: a Sparkplug BIRTH naming aliases)."""
        pruned, self._pruned = self._pruned, []
        for node in pruned:
            parent = node.parent
            if parent is None or not self.is_known(node):
                continue  # never shown: the insert that would show it skips tombstones
            if parent not in self._shown:
                self._show_own_rows(parent)
            row = self._shown_rows[parent][node]
            self.beginRemoveRows(self.node_index(parent), row, row)
            shown = self._shown[parent]
            del shown[row]
            self._shown_rows[parent] = {child: index for index, child in enumerate(shown)}
            self._forget_subtree(node)
            self.endRemoveRows()

    def _forget_subtree(self, node: TopicNode) -> None:
        """Drop what the model kept about ``node`` and everything below it, tombstones included."""
        stack = [node]
        while stack:
            gone = stack.pop()
            stack.extend(gone.child_list)
            self._rows.pop(gone, None)
            self._hidden_rows.pop(gone, None)
            self._shown.pop(gone, None)
            self._shown_rows.pop(gone, None)
            self._inserts.pop(gone, None)
            self._dirty.discard(gone)
            self._preview_cache.pop(gone, None)

    def _show_own_rows(self, parent: TopicNode) -> None:
        """From now on ``parent``'s rows are a list of its own, not positions in its child_list."""
        # Until now Qt's rows were the child_list prefix, tombstones included: those go when their
        # pruning is announced.
        shown = parent.child_list[:self._rows.get(parent, 0)]
        self._shown[parent] = shown
        self._shown_rows[parent] = {child: index for index, child in enumerate(shown)}

    def _take_children(self, parent: TopicNode, children: list[TopicNode]) -> None:
        """Qt is told about ``parent`` with these children (a prefix of its child_list)."""
        self._rows[parent] = len(children)
        if any(child.removed for child in children):
            shown = [child for child in children if not child.removed]
            self._shown[parent] = shown
            self._shown_rows[parent] = {child: index for index, child in enumerate(shown)}

    def _reveal(self, node: TopicNode) -> None:
        """``node`` was just announced: the children it had at its last summary come with it."""
        stack = [node]
        while stack:
            current = stack.pop()
            count = self._hidden_rows.pop(current, 0)
            if count:
                children = current.child_list[:count]
                self._take_children(current, children)
                stack.extend(child for child in children if not child.removed)

    def is_known(self, node: TopicNode) -> bool:
        """Whether Qt has been told about ``node`` (its row is within its parent's announced rows)."""
        root = self.tree.root
        while node.parent is not None:
            parent = node.parent
            if parent is root:
                return node in self._top
            shown_rows = self._shown_rows.get(parent)
            if shown_rows is not None:
                if node not in shown_rows:
                    return False
            elif node.row >= self._rows.get(parent, 0):
                return False
            node = parent
        return node is root

    # ----- navigation ----------------------------------------------------------------
    def node_index(self, node: TopicNode, column: int = 0) -> QModelIndex:
        if node.parent is None:
            return QModelIndex()
        return self.createIndex(self._row_of(node), column, node)

    def _row_of(self, node: TopicNode) -> int:
        parent = node.parent
        if parent is self.tree.root:
            return self._top.index(node)
        shown_rows = self._shown_rows.get(parent)  # type: ignore[arg-type]  # not the root: it has a parent
        return node.row if shown_rows is None else shown_rows.get(node, node.row)

    def node_from_index(self, index: QModelIndex | QPersistentModelIndex) -> TopicNode:
        return index.internalPointer() if index.isValid() else self.tree.root

    def index_for_topic(self, topic: str, broker_id: str | None = None) -> QModelIndex:
        node = self.tree.node(topic, broker_id) if broker_id is not None else self.tree.node(topic)
        return self.node_index(node) if node is not None and self.is_known(node) else QModelIndex()

    # ----- QAbstractItemModel ------------------------------------------------------
    def index(self, row: int, column: int, parent: QModelIndex = QModelIndex()) -> QModelIndex:
        if column < 0 or column >= len(COLUMNS) or row < 0:
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, self._top[row]) if row < len(self._top) else QModelIndex()
        if parent.column() != 0:
            return QModelIndex()
        node = parent.internalPointer()
        shown = self._shown.get(node)
        if shown is not None:
            return self.createIndex(row, column, shown[row]) if row < len(shown) else QModelIndex()
        if row >= self._rows.get(node, 0):
            return QModelIndex()
        return self.createIndex(row, column, node.child_list[row])

    @overload
    def parent(self) -> QObject | None: ...
    @overload
    def parent(self, index: QModelIndex) -> QModelIndex: ...
    def parent(self, index: QModelIndex | None = None) -> QModelIndex | QObject | None:  # noqa: A003 - Qt override
        if index is None:  # QObject.parent()
            return super().parent()
        if not index.isValid():
            return QModelIndex()
        parent = index.internalPointer().parent
        if parent is None or parent.parent is None:
            return QModelIndex()
        return self.createIndex(self._row_of(parent), 0, parent)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        if not parent.isValid():
            return len(self._top)
        if parent.column() != 0:
            return 0
        node = parent.internalPointer()
        shown = self._shown.get(node)
        return len(shown) if shown is not None else self._rows.get(node, 0)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return len(COLUMNS)

    def hasChildren(self, parent: QModelIndex = QModelIndex()) -> bool:
        return self.rowCount(parent) > 0

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return _ITEM_FLAGS

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(COLUMNS):
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        role = int(role)
        if role not in _HANDLED_ROLES or not index.isValid():
            return None
        node: TopicNode = index.internalPointer()
        column = index.column()
        if role == _DISPLAY:
            if column == COL_TOPIC:
                if self.root_label is not None and node.parent is self.tree.root:
                    return self.root_label(node)
                return node.name if node.name else "(empty)"
            if column == COL_MESSAGES:
                return str(node.subtree_count)
            if column == COL_VALUE:
                return self._preview(node)
            if column == COL_RATE:
                return self._rate(node)
            if column == COL_SEEN:
                return self._seen(node)
            return None
        if role == _BACKGROUND:
            if node.updated_mono and time.monotonic() - node.updated_mono < HIGHLIGHT_SECONDS:
                return HIGHLIGHT
            return None
        if role == _NODE:
            return node
        if role == _TOPIC:
            return node.topic
        if role == _TOOLTIP:
            # Qt guesses rich text in tooltips, so the text is escaped: the payload shows literally.
            text = node.topic if column != COL_VALUE else self._preview(node)
            return f"<p style='white-space:pre-wrap'>{html.escape(text)}</p>"
        if role == _ALIGN and column in (COL_MESSAGES, COL_RATE):
            return _RIGHT
        if role == _ACCESSIBLE and column == COL_TOPIC:
            return node.topic
        return None

    def _preview(self, node: TopicNode) -> str:
        cached = self._preview_cache.get(node)
        if cached is not None and cached[0] is node.last:
            return cached[1]
        text = value_preview(node)
        self._preview_cache[node] = (node.last, text)
        return text

    @staticmethod
    def _rate(node: TopicNode) -> str:
        if node.last is None:
            return ""
        rate = node.rate()
        return f"{rate:.1f}/s" if rate >= 0.1 else "–"

    @staticmethod
    def _seen(node: TopicNode) -> str:
        if node.last is None:
            return ""
        return format_age(max(0.0, time.time() - node.last.received))
