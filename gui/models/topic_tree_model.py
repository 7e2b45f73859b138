"""Qt item model over the core ``TopicTree``. The internal pointer of every index is a ``TopicNode``.

The workspace's tick thread changes the core tree at any time, so the model never reads the
core's child lists for rows Qt knows: it keeps its own list of each parent's rows, and only change
summaries change them. New rows are announced with one ``beginInsertRows`` per parent, pruned ones
(a Sparkplug alias named by its BIRTH, a topic evicted by the topic budget) with one
``beginRemoveRows`` if they are one run of adjacent rows and as one layout change if more (gathered
over ``removal_interval``), and value changes with one ``dataChanged`` span per parent; announcements
may be coalesced over several summaries while the view is hidden.

The top level is the workspace's brokers (``TopicForest``), which can also go away: the model
keeps its own list of top-level nodes and brings it in line with the core when it publishes.
"""

from __future__ import annotations

import html
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import overload

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from eventscope.core.models.topic_tree import TopicNode, TreeChanges
from eventscope.core.payload_text import preview
from eventscope.gui.models.roles import ACCESSIBLE_TEXT, ALIGN_RIGHT, ALIGNMENT, BACKGROUND, DISPLAY, TOOLTIP

# Rate and age apart: one column that said "0.8/s" here and "8s ago" there read as one quantity.
COLUMNS = ("Topic", "Messages", "Last value", "Rate", "Last seen")
COL_TOPIC, COL_MESSAGES, COL_VALUE, COL_RATE, COL_SEEN = range(len(COLUMNS))
NODE_ROLE = Qt.ItemDataRole.UserRole + 1
TOPIC_ROLE = Qt.ItemDataRole.UserRole + 2
PREVIEW_CHARS = 120
# Rows of one parent the view is told about at a time (more as it scrolls to the end). QTreeView lays out
# every row of every expanded parent on each insert or removal, at about 4.5 us a row through a Python
# model, and replaces a churning parent's evicted rows from the held ones: with a dozen large parents
# expanded, 1,000 took 70 ms a layout and eviction passes 150-550 ms; 250 is a few screens of rows.
FETCH_BATCH = 250
HIGHLIGHT_SECONDS = 1.0
HIGHLIGHT = QBrush(QColor(255, 214, 102, 110))
_DISPLAY, _TOOLTIP, _BACKGROUND, _ALIGN, _ACCESSIBLE = DISPLAY, TOOLTIP, BACKGROUND, ALIGNMENT, ACCESSIBLE_TEXT
_NODE, _TOPIC = int(NODE_ROLE), int(TOPIC_ROLE)
_HANDLED_ROLES = frozenset((_DISPLAY, _TOOLTIP, _BACKGROUND, _ALIGN, _ACCESSIBLE, _NODE, _TOPIC))
_RIGHT = ALIGN_RIGHT
_ITEM_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable  # built once: enum arithmetic is slow per call


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted rows as (first, last) runs of adjacent rows."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and runs[-1][1] == row - 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs


def format_age(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s ago"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def value_preview(node: TopicNode) -> str:
    message = node.last
    if message is None:  # a level without a message of its own; the topic budget may have evicted below it
        if not node.evicted:
            return ""
        return f"({node.evicted:,} evicted {'topic' if node.evicted == 1 else 'topics'} not shown)"
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
        # Below the top: each parent's rows as Qt knows them. Each node's ``shown_row`` says where it is
        # (checked before use: while several ranges of one parent go, it can be briefly behind).
        self._children: dict[TopicNode, list[TopicNode]] = {}
        self._waiting: dict[TopicNode, list[TopicNode]] = {}  # known parent -> new children to announce
        # Parents Qt does not know (new, or held back below a large parent) -> their children so far, which
        # come along when the parent is announced. Kept apart so a frame never walks them.
        self._unseen: dict[TopicNode, list[TopicNode]] = {}
        # Large parents are lazy: Qt is told about FETCH_BATCH rows of a parent at first, the rest are held
        # until the view scrolls to the end (fetchMore). An expanded parent of 100k churning topics would
        # otherwise make the view lay out 100k rows on every insert and every eviction.
        self._held: dict[TopicNode, deque[TopicNode]] = {}
        self._limit: dict[TopicNode, int] = {}  # rows a parent may show, once raised by fetchMore
        self._held_lost: dict[TopicNode, int] = {}  # pruned nodes still in a parent's held queue
        self._announcing = False  # while publishing: a view's fetchMore (called from a signal) waits for the next frame
        self._pruned: list[TopicNode] = []  # noted, not yet looked at
        self._leaving: dict[TopicNode, None] = {}  # pruned nodes whose rows Qt knows, in the order they went
        # Seconds between announcements of pruned rows (0: with every publish). Each announcement under an
        # expanded parent makes the view lay out every shown row again, and an eviction pass prunes shown
        # rows on every tick for half a second: a window gathers them into one announcement a second.
        self.removal_interval = 0.0
        self._removed_at = -float("inf")  # monotonic time of the last announcement of pruned rows
        # Nodes whose rows just went, kept alive until the next publish: an index's internal pointer does
        # not hold its node, and a view may read an index it kept until its delayed relayout runs.
        self._released: list[TopicNode] = []
        self._dirty: set[TopicNode] = set()
        self._preview_cache: dict[TopicNode, tuple[int, str]] = {}
        # optional: the text of a top-level (broker) row, given its node
        self.root_label: Callable[[TopicNode], str] | None = None
        for node in self._top:
            self._adopt(node)

    def _adopt(self, node: TopicNode) -> None:
        """Qt is told about ``node`` with the live children it has now, and theirs (a snapshot of the lists)."""
        stack = [node]
        while stack:
            current = stack.pop()
            stack.extend(self._take_rows(current, current.live_children()))

    def _take_rows(self, parent: TopicNode, new: list[TopicNode]) -> list[TopicNode]:
        """Append ``new`` to ``parent``'s rows up to its limit (the rest is held); the rows taken.
        Inside an announcement of ``parent`` or its ancestor: no signal of its own."""
        self._held.setdefault(parent, deque()).extend(new)
        taken = self._pop_held(parent, self._room(parent))
        self._append_rows(parent, taken)
        return taken

    def _room(self, parent: TopicNode) -> int:
        return self._limit.get(parent, FETCH_BATCH) - len(self._children.get(parent, ()))

    def _pop_held(self, parent: TopicNode, room: int) -> list[TopicNode]:
        """Up to ``room`` held children of ``parent``, oldest first, skipping any pruned while held."""
        held = self._held[parent]
        taken: list[TopicNode] = []
        while held and len(taken) < room:
            child = held.popleft()
            if not child.removed and child.parent is parent:
                taken.append(child)
        if not held:
            del self._held[parent]
            self._held_lost.pop(parent, None)
        return taken

    def _append_rows(self, parent: TopicNode, children: list[TopicNode]) -> None:
        if not children:
            return
        rows = self._children.setdefault(parent, [])
        for child in children:
            child.shown_row = len(rows)
            rows.append(child)

    # ----- change announcements ----------------------------------------------------
    def note_changes(self, changes: TreeChanges) -> None:
        """Remember what a tick changed; ``publish_changes`` tells Qt."""
        root = self.tree.root
        waiting, unseen = self._waiting, self._unseen
        for node in changes.created:  # parents come before their children, siblings in row order
            parent = node.parent
            if parent is None or parent is root:
                continue  # the top level is brought in line at publish time (only the root has no parent)
            queue = waiting if parent in waiting else unseen if parent in unseen else (
                waiting if self.is_known(parent) else unseen)
            children = queue.get(parent)
            if children is None:
                queue[parent] = [node]
            else:
                children.append(node)
        self._pruned.extend(changes.pruned)
        self._dirty.update(changes.updated)

    @property
    def has_pending_changes(self) -> bool:
        return (bool(self._waiting or self._dirty or self._pruned or self._leaving)
                or self._top != self.tree.root.child_list)

    @property
    def removals_due(self) -> bool:
        """Pruned rows wait, and ``removal_interval`` has passed since the last announcement of them."""
        return bool(self._pruned or self._leaving) and time.monotonic() - self._removed_at >= self.removal_interval

    def publish_changes(self, shown: set[TopicNode] | None = None) -> None:
        """Removed rows first (if ``removals_due``; until then a pruned node keeps its row and shows its
        last values), then one beginInsertRows per grown parent, then one dataChanged span per parent.

        ``shown``: if given, value changes are announced only for these nodes (the rows a view
        has on screen); the rest is read fresh by ``data()`` when it scrolls into view.
        """
        self._released = []
        self._announcing = True
        try:
            self._sync_top()
            if self._pruned:
                self._forget_pruned()
            if self._leaving and self.removals_due:
                self._removed_at = time.monotonic()
                self._remove_leaving()
            self._insert_waiting()
        finally:
            self._announcing = False
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        if shown is not None:
            dirty &= shown
        last_column = len(COLUMNS) - 1
        root = self.tree.root
        spans: dict[TopicNode, list[int]] = {}
        for node in dirty:
            parent = node.parent
            if parent is None:
                continue
            if parent is root:
                if node in self._top:
                    row = self._top.index(node)
                    self.dataChanged.emit(self.index(row, 0), self.index(row, last_column))
                continue
            row = self._known_row(node)
            if row is None or not self.is_known(parent):
                continue
            span = spans.get(parent)
            if span is None:
                spans[parent] = [row, row]
            elif row < span[0]:
                span[0] = row
            elif row > span[1]:
                span[1] = row
        for parent, (first, last) in spans.items():
            parent_index = self.node_index(parent)
            self.dataChanged.emit(self.index(first, 0, parent_index), self.index(last, last_column, parent_index))

    def _insert_waiting(self) -> None:
        """New children of parents Qt knows, one range per parent (up to its limit; the rest is held);
        unknown parents' children wait for them. A parent that lost rows takes held ones in their place."""
        for parent in list(self._waiting):
            if parent not in self._waiting:
                continue
            if not self.is_known(parent):  # no longer shown (its broker went): its children wait with it
                self._unseen.setdefault(parent, []).extend(self._waiting.pop(parent))
                continue
            new = self._new_children(parent, self._waiting.pop(parent))
            if new:
                self._held.setdefault(parent, deque()).extend(new)
        for parent in list(self._held):
            if parent in self._held and self.is_known(parent):
                self._announce_held(parent)

    def _announce_held(self, parent: TopicNode) -> None:
        """Held children of ``parent`` up to its limit, as one inserted range. Taking them from the held
        queue first is safe: Qt knows only the rows in ``_children``."""
        room = self._room(parent)
        new = self._pop_held(parent, room) if room > 0 else []
        if not new:
            return
        first = len(self._children.get(parent, ()))
        self.beginInsertRows(self.node_index(parent), first, first + len(new) - 1)
        self._append_rows(parent, new)
        for child in new:
            self._reveal(child)
        self.endInsertRows()

    # Not Qt's canFetchMore/fetchMore: QTreeView calls those on every layout of an expanded parent, so
    # the rows held back would all come in within a few frames. The view asks when its end is in sight.
    def holds_more(self, node: TopicNode) -> int:
        """How many of ``node``'s children are held back (0 for most)."""
        return len(self._held.get(node, ()))

    def held_parents(self) -> list[TopicNode]:
        return list(self._held)

    def fetch_more(self, node: TopicNode) -> None:
        """The next FETCH_BATCH held children of ``node`` as rows (the view scrolled to its last row)."""
        if node not in self._held or self._announcing or not self.is_known(node):
            return
        self._limit[node] = len(self._children.get(node, ())) + FETCH_BATCH
        self._announcing = True
        try:
            self._announce_held(node)
        finally:
            self._announcing = False

    def show_node(self, node: TopicNode) -> bool:
        """Fetch held rows until ``node`` and its ancestors are shown (to select a topic deep in a large
        parent). False if it is not in the tree any more."""
        chain = [node, *node.ancestors()]
        for current in reversed(chain[:-1]):  # from the top level down
            parent = current.parent
            assert parent is not None  # every node of the chain but the root has one
            while not self.is_known(current):
                if parent not in self._held or current.removed:
                    return False
                self.fetch_more(parent)
        return True

    def _new_children(self, parent: TopicNode, nodes: list[TopicNode]) -> list[TopicNode]:
        # Pruned before Qt heard of them, or already shown (a model made while summaries were on their way).
        return [n for n in nodes if not n.removed and n.parent is parent and self._known_row(n) is None]

    def _reveal(self, node: TopicNode) -> None:
        """``node`` was just announced: the children that waited for it come with it (up to the limit)."""
        stack = [node]
        while stack:
            current = stack.pop()
            waiting = self._unseen.pop(current, None)
            if not waiting:
                continue
            new = self._new_children(current, waiting)
            if new:
                stack.extend(self._take_rows(current, new))

    def _forget_pruned(self) -> None:
        """Pruned nodes Qt never heard of are forgotten at once; pruned rows wait in ``_leaving``."""
        pruned, self._pruned = self._pruned, []
        leaving = self._leaving
        going = set(pruned)
        known_parents: dict[TopicNode, bool] = {}
        held_lost: Counter[TopicNode] = Counter()
        for node in pruned:
            parent = node.parent
            if parent in going or parent in leaving:  # its parent goes too, and takes this one with it
                continue
            row = None
            if parent is not None:
                known = known_parents.get(parent)
                if known is None:
                    known = known_parents[parent] = self.is_known(parent)
                row = self._known_row(node) if known else None
            if row is None:
                self._forget_subtree(node)  # never shown (or its parent went): nothing for Qt to hear
                if parent in self._held:
                    held_lost[parent] += 1  # type: ignore[index]  # parent is not None here
                continue
            leaving[node] = None
        for parent, lost in held_lost.items():  # held rows that were evicted before anyone scrolled to them
            self._compact_held(parent, lost)

    def _remove_leaving(self) -> None:
        """Rows of pruned nodes leave. One run of adjacent rows goes with beginRemoveRows; more than one,
        as one layout change. Qt walks every persistent index up to the root (a Python ``parent()`` per
        level) for each beginRemoveRows, and a view keeps one per expanded row: evicting a few hundred
        scattered rows under an expanded tree took 0.5 s that way, and one layout change takes one pass."""
        leaving, self._leaving = self._leaving, {}
        by_parent: dict[TopicNode, list[int]] = {}
        for node in leaving:
            parent = node.parent
            row = self._known_row(node) if parent is not None and self.is_known(parent) else None
            if row is None:  # its broker's rows went meanwhile
                self._forget_subtree(node)
                continue
            by_parent.setdefault(parent, []).append(row)  # type: ignore[arg-type]  # parent is not None here
        runs = {parent: _runs(sorted(set(rows))) for parent, rows in by_parent.items() if parent in self._children}
        if sum(len(parent_runs) for parent_runs in runs.values()) == 1:
            self._remove_run(*next(iter(runs.items())))
        elif runs:
            self._remove_as_layout_change(runs)

    def _compact_held(self, parent: TopicNode, lost: int) -> None:
        """Count ``lost`` more pruned nodes in ``parent``'s held queue; rebuild it once they are half of it.
        Taking held rows skips pruned ones anyway; rebuilding a queue of 50,000 churning topics on every tick
        took most of a frame, and never rebuilding it would keep every evicted topic alive."""
        held = self._held.get(parent)
        if held is None:
            self._held_lost.pop(parent, None)
            return
        lost += self._held_lost.get(parent, 0)
        if lost * 2 < len(held):
            self._held_lost[parent] = lost
            return
        self._held_lost.pop(parent, None)
        kept = deque(child for child in held if not child.removed)
        if kept:
            self._held[parent] = kept
        else:
            del self._held[parent]

    def _remove_run(self, parent: TopicNode, runs: list[tuple[int, int]]) -> None:
        rows = self._children[parent]
        first, last = runs[0]
        self.beginRemoveRows(self.node_index(parent), first, last)
        gone = rows[first:last + 1]
        del rows[first:last + 1]
        for child in rows[first:]:
            child.shown_row -= last - first + 1
        for node in gone:
            self._forget_subtree(node)
        self.endRemoveRows()
        if not rows:
            del self._children[parent]

    def _remove_as_layout_change(self, runs: dict[TopicNode, list[tuple[int, int]]]) -> None:
        """Remove many runs at once: persistent indexes of the rows that went become invalid, the others
        follow their node to its new row."""
        self.layoutAboutToBeChanged.emit()
        before = self.persistentIndexList()
        for parent, parent_runs in runs.items():
            rows = self._children[parent]
            leaving = {row for first, last in parent_runs for row in range(first, last + 1)}
            for row in leaving:
                self._forget_subtree(rows[row])
            kept = [node for row, node in enumerate(rows) if row not in leaving]
            for row, node in enumerate(kept):
                node.shown_row = row
            if kept:
                self._children[parent] = kept
            else:
                del self._children[parent]
        root, after = self.tree.root, []
        for index in before:
            node = index.internalPointer()
            row = None if node.parent is root else self._known_row(node)
            if node.parent is root:
                after.append(index)  # the top level is not touched here
            elif row is None:
                after.append(QModelIndex())
            else:
                after.append(self.createIndex(row, index.column(), node))
        self.changePersistentIndexList(before, after)
        self.layoutChanged.emit()

    def _forget_subtree(self, node: TopicNode) -> None:
        """Drop what the model kept about ``node`` and everything below it (its own rows and the ones
        waiting: the core may have emptied a pruned node's lists already)."""
        stack = [node]
        while stack:
            gone = stack.pop()
            self._released.append(gone)
            stack.extend(self._children.get(gone, ()))
            stack.extend(self._waiting.get(gone, ()))
            stack.extend(self._unseen.pop(gone, ()))
            stack.extend(self._held.pop(gone, ()))
            self._held_lost.pop(gone, None)
            self._limit.pop(gone, None)
            gone.shown_row = -1
            self._children.pop(gone, None)
            self._waiting.pop(gone, None)
            self._dirty.discard(gone)
            self._preview_cache.pop(gone, None)

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

    def _known_row(self, node: TopicNode) -> int | None:
        """``node``'s row among its parent's rows as Qt knows them, or None (not below the top level)."""
        row = node.shown_row
        if row < 0:
            return None
        rows = self._children.get(node.parent)  # type: ignore[arg-type]  # None finds nothing
        if rows is None:
            return None
        if row < len(rows) and rows[row] is node:
            return row
        try:  # another model over the same tree moved it, or a run of removals is under way
            row = rows.index(node)
        except ValueError:
            return None
        node.shown_row = row
        return row

    def is_known(self, node: TopicNode) -> bool:
        """Whether Qt has been told about ``node`` (and every node above it)."""
        root = self.tree.root
        while node.parent is not None:
            if node.parent is root:
                return node in self._top
            if self._known_row(node) is None:
                return False
            node = node.parent
        return node is root

    # ----- navigation ----------------------------------------------------------------
    def node_index(self, node: TopicNode, column: int = 0) -> QModelIndex:
        if node.parent is None:
            return QModelIndex()
        return self.createIndex(self._row_of(node), column, node)

    def _row_of(self, node: TopicNode) -> int:
        if node.parent is self.tree.root:
            return self._top.index(node)
        row = self._known_row(node)
        return row if row is not None else 0

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
        rows = self._children.get(parent.internalPointer())
        if rows is None or row >= len(rows):
            return QModelIndex()
        return self.createIndex(row, column, rows[row])

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
        rows = self._children.get(parent.internalPointer())
        return len(rows) if rows is not None else 0

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return len(COLUMNS)

    def hasChildren(self, parent: QModelIndex = QModelIndex()) -> bool:
        # Called for every row on every layout: answered here, not through rowCount().
        if not parent.isValid():
            return bool(self._top)
        return parent.column() == 0 and parent.internalPointer() in self._children

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
        held = self._held.get(node)
        if held and not node.history:
            shown = len(self._children.get(node, ()))
            evicted = f"; {node.evicted:,} evicted not shown" if node.evicted else ""
            return f"({shown:,} of {shown + len(held):,} topics shown: scroll to the last one for more{evicted})"
        cached = self._preview_cache.get(node)
        count = node.count  # a new last message always counts one more
        if cached is not None and cached[0] == count:
            return cached[1]
        text = value_preview(node)
        self._preview_cache[node] = (count, text)
        return text

    @staticmethod
    def _rate(node: TopicNode) -> str:
        if not node.history:
            return ""
        rate = node.rate()
        return f"{rate:.1f}/s" if rate >= 0.1 else "–"

    @staticmethod
    def _seen(node: TopicNode) -> str:
        last = node.last
        if last is None:
            return ""
        return format_age(max(0.0, time.time() - last.received))
