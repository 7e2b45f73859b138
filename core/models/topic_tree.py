"""The live topic tree: one node per topic level, updated from flush batches in one pass.

Nodes keep an ordered child list; a child is found by its topic in the tree's one index of every node
(a dict per parent cost 140 bytes for each of the 100,000 levels of a device tree with one child each).
New children are appended, which lets ``apply`` report new nodes as one row range per parent.

Nodes leave in two ways: ``fold`` (a provisional name, such as a Sparkplug alias, replaced by the
real one) and the topic budget (the least recently seen leaves are evicted). A node that goes is
marked ``removed`` and leaves the lookups by name and topic at once; it stays in its parent's
``child_list`` as a tombstone until tombstones dominate that list, which is then rebuilt. Item
models keep their own rows and learn of both from ``TreeChanges`` (``created``, ``pruned``).

Readers on other threads: the workspace applies batches on its tick thread while the window
reads. Each field is replaced by one assignment (a rebuilt child list too), and every method
that walks the whole tree first copies the node index with one C-level ``list()`` call (atomic
under the GIL), so a reader never sees a dict change size under it. A reader sees values at
least as new as the summary that announced the node.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import compress
from operator import attrgetter, not_
from sys import intern
from typing import cast

from eventscope.core.models.message_history import ENTRY_OVERHEAD, MessageHistory, TopicMessage
from eventscope.core.records import MessageProperties, MessageRecord
from eventscope.core.topics import FilterSet, TopicError, validate_filter

DEFAULT_HISTORY_COUNT = 100
DEFAULT_HISTORY_BYTES = 2 * 1024 * 1024  # per topic
DEFAULT_DISPLAY_LIMIT = 1024 * 1024  # payload bytes kept per message; the rest is cut, and marked
# All topics' history together stays within this many bytes (payloads plus each kept message's own
# cost, ENTRY_OVERHEAD), so 100k busy topics cannot grow the app into gigabytes. Within it 2,000 topics
# keep 50 messages of 500 B each, 20,000 topics 12 of 200 B, and 100,000 topics 6 of 50 B: a tree of
# 100,000 topics then takes about 160 MiB in all (``tests/perf/bench_topic_tree``).
DEFAULT_HISTORY_BUDGET = 64 * 1024 * 1024
RATE_TIME_CONSTANT = 5.0  # seconds; the EWMA rate forgets old traffic on this scale
# Topic levels kept at most. Per-request reply topics, ids in topic names and device churn would
# otherwise grow the tree for as long as the window runs; past it the least recently seen leaves go.
DEFAULT_TOPIC_BUDGET = 250_000
EVICT_DOWN_TO = 0.9  # of the budget: eviction runs in batches, not once per new topic
EVICT_CHUNK = 2_000  # topics looked at per apply while evicting
TOMBSTONES_FREED_PER_APPLY = 2_000  # see TopicTree._compact
HISTORY_TRIM_CHUNK = 10_000  # topics whose history is shortened per apply (see TopicTree._shrink_history)


# A leaf's children: shared and immutable. Most nodes are leaves, and an empty list of their own costs
# about 60 bytes; ``add_child`` gives a node a real one when its first child comes.
_NO_CHILD_LIST = cast("list[TopicNode]", ())
_is_removed = attrgetter("removed")


class TopicNode:
    """One topic level. ``count`` is messages on this exact topic; ``subtree_count`` includes descendants."""

    __slots__ = ("name", "topic", "parent", "live_count", "child_list", "count", "subtree_count",
                 "retained", "history", "updated_mono", "removed", "evicted", "shown_row", "_rate")

    def __init__(self, name: str, topic: str, parent: TopicNode | None) -> None:
        self.name = name
        self.topic = topic
        self.parent = parent
        self.live_count = 0  # children not pruned
        self.child_list: list[TopicNode] = _NO_CHILD_LIST
        self.count = 0
        self.subtree_count = 0
        self.retained = False
        self.history: MessageHistory | None = None
        self.updated_mono = 0.0  # when its last messages came (and its rate was last brought up to date)
        self.removed = False  # pruned from the tree (a tombstone until its parent's list is compacted)
        self.evicted = 0  # topics below this node that the topic budget evicted (their counts stay here)
        self.shown_row = -1  # where a front end's item model shows this node; written by that model only
        self._rate = 0.0

    def __repr__(self) -> str:
        return f"TopicNode({self.topic!r}, count={self.count}, subtree={self.subtree_count})"

    def rate(self, now_mono: float | None = None) -> float:
        """Messages per second on this topic, an exponentially weighted moving average."""
        if self._rate == 0.0:
            return 0.0
        now = time.monotonic() if now_mono is None else now_mono
        return self._rate * math.exp(-max(0.0, now - self.updated_mono) / RATE_TIME_CONSTANT)

    def add_messages(self, messages: int, now_mono: float) -> None:
        """Count ``messages`` that came at ``now_mono``."""
        # A decaying counter: k messages add k/tau; in steady state it equals the arrival rate.
        self._rate = self.rate(now_mono) + messages / RATE_TIME_CONSTANT
        self.updated_mono = now_mono
        self.count += messages

    @property
    def last(self) -> TopicMessage | None:
        """The newest message on this exact topic (its history always keeps it), or None."""
        history = self.history
        return history.newest() if history is not None else None

    @property
    def history_bytes(self) -> int:
        """The payload bytes of this topic's kept messages."""
        history = self.history
        return history.payload_bytes if history is not None else 0

    def add_child(self, child: TopicNode) -> None:
        if self.child_list is _NO_CHILD_LIST:
            self.child_list = []
        self.child_list.append(child)
        self.live_count += 1

    def forget_children(self) -> None:
        self.child_list, self.live_count = _NO_CHILD_LIST, 0

    def live_children(self) -> list[TopicNode]:
        """Children in row order, without the ones pruned from the tree (one pass in C: lists of 100,000)."""
        children = self.child_list
        if len(children) == self.live_count:  # no tombstones: the usual case
            return list(children)
        return list(compress(children, map(not_, map(_is_removed, children))))

    def child_topic(self, name: str, tree_root: TopicNode) -> str:
        """The topic of this node's child ``name``: a tree root's children are named by their level alone."""
        return name if self is tree_root else f"{self.topic}/{name}"

    def walk(self) -> Iterator[TopicNode]:
        """This node and every live descendant, depth first, in row order."""
        stack: list[TopicNode] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.live_children()))

    def ancestors(self) -> Iterator[TopicNode]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    @property
    def is_root(self) -> bool:
        return self.parent is None


@dataclass(slots=True)
class TreeChanges:
    """What one ``apply`` changed.

    ``inserted``: (parent, first_row, last_row) for parents that existed before the batch; nodes
    created under a node that is itself new are covered by that node's insertion.
    ``created``: every new node, parents before children. ``updated``: nodes whose message,
    counts or subtree counts changed (existing before the batch), in no particular order.
    ``pruned``: nodes that left the tree (now tombstones in their parent's ``child_list``).
    """

    inserted: list[tuple[TopicNode, int, int]] = field(default_factory=list)
    created: list[TopicNode] = field(default_factory=list)
    updated: list[TopicNode] = field(default_factory=list)
    messages: int = 0
    pruned: list[TopicNode] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.messages or self.inserted or self.pruned)

class TopicTree:
    """Every topic seen, as a tree of ``TopicNode``s, with per-topic history and rate.

    ``history_count`` and ``history_bytes`` cap each topic's history ring (the last message is
    always kept). ``history_budget`` caps all rings together: when it is passed, every ring is
    shortened (``effective_history_count`` halves, as many times as it takes to fit) rather than memory
    growing without bound.
    ``display_limit`` caps the payload bytes kept per message; larger payloads are
    cut, and marked ``truncated`` with their ``original_size``.
    """

    def __init__(self, history_count: int = DEFAULT_HISTORY_COUNT, history_bytes: int = DEFAULT_HISTORY_BYTES,
                 display_limit: int = DEFAULT_DISPLAY_LIMIT, history_budget: int = DEFAULT_HISTORY_BUDGET,
                 topic_budget: int = DEFAULT_TOPIC_BUDGET) -> None:
        if history_count < 1 or history_bytes < 1 or display_limit < 1 or history_budget < 1 or topic_budget < 1:
            raise ValueError("history, display and topic limits must be positive")
        self.topic_budget = topic_budget
        self.evicted_total = 0  # topics the budget evicted since the start
        self._evicting = False  # a pass under way, continued by the next apply
        # Topics with messages, least recently seen first (moved to the end as messages arrive).
        self._recency: OrderedDict[TopicNode, None] = OrderedDict()
        self._tombstones: list[TopicNode] = []  # dropped from compacted child lists, freed a few per apply
        self._trimming: list[TopicNode] = []  # topics whose history is still to be shortened to the halved count
        # Times it let go of much memory at once (a chunk of rings shortened, or topics evicted down to the
        # budget): the owner may hand the freed heap back to the system after each.
        self.memory_releases = 0
        self.history_count = history_count
        self.effective_history_count = history_count
        self.history_budget = history_budget
        self.history_used = 0  # bytes, as the budget counts them
        self._ring_lengths = [0] * (history_count + 1)  # how many topics keep 0, 1, 2 … messages
        self.history_bytes = history_bytes
        self.display_limit = display_limit
        self.root = TopicNode("", "", None)
        self._by_topic: dict[str, TopicNode] = {}
        self.retained_seen = 0  # retained messages received: none under '#' hints at a broker that withholds them

    # ----- lookup ---------------------------------------------------------------
    def __len__(self) -> int:
        """Number of nodes (topic levels), not counting the root."""
        return len(self._by_topic)

    def node(self, topic: str) -> TopicNode | None:
        return self._by_topic.get(topic)

    def topics(self) -> Iterator[TopicNode]:
        """Nodes that received at least one message (real topics, not just path levels)."""
        return (node for node in self._all_nodes() if node.count)

    def _all_nodes(self) -> list[TopicNode]:
        return list(self._by_topic.values())  # one C call: safe while the tick thread adds nodes

    @property
    def total_messages(self) -> int:
        return self.root.subtree_count

    # ----- updates -----------------------------------------------------------------
    def apply(self, batch: Iterable[MessageRecord], now_mono: float | None = None) -> TreeChanges:
        """Apply one flush batch in one pass and say what changed."""
        now = time.monotonic() if now_mono is None else now_mono
        changes = TreeChanges()
        first_new_row: dict[TopicNode, int] = {}
        created: set[TopicNode] = set()
        per_node: dict[TopicNode, int] = {}
        by_topic = self._by_topic
        limit = self.display_limit
        for record in batch:
            node = by_topic.get(record.topic)
            if node is None:
                node = self._create_path(record.topic, first_new_row, created, changes.created)
            payload = record.payload
            size = len(payload)
            if record.retain:
                node.retained = size > 0
                self.retained_seen += 1
            elif size == 0:
                # An empty publish is how a retained message is cleared; live copies lose the retain flag.
                node.retained = False
            if size > limit:
                self._store_history(node, payload[:limit], record.received, record.qos, record.retain,
                                    record.properties, size)
            else:
                self._store_history(node, payload, record.received, record.qos, record.retain, record.properties)
            per_node[node] = per_node.get(node, 0) + 1
        updated: set[TopicNode] = set()
        recency = self._recency
        for node, messages in per_node.items():
            if node in recency:
                recency.move_to_end(node)
            else:
                recency[node] = None
            node.add_messages(messages, now)
            walker: TopicNode | None = node
            while walker is not None:
                walker.subtree_count += messages
                if walker not in created:
                    updated.add(walker)
                walker = walker.parent
        updated.discard(self.root)
        changes.updated = list(updated)
        changes.inserted = [(parent, first, len(parent.child_list) - 1) for parent, first in first_new_row.items()]
        changes.messages = sum(per_node.values())
        if self._trimming or self.history_used > self.history_budget:
            self._shrink_history()
        if self._evicting or len(self._by_topic) > self.topic_budget:
            self._evict(changes)
        self._free_some_tombstones()
        return changes

    def set_topic_budget(self, topic_budget: int) -> TreeChanges:
        """A new budget (tick thread); a smaller one evicts at once."""
        if topic_budget < 1:
            raise ValueError("the topic budget must be positive")
        self.topic_budget = topic_budget
        changes = TreeChanges()
        while len(self._by_topic) > topic_budget or self._evicting:  # the whole pass at once: the user asked
            before = len(changes.pruned)
            self._evict(changes)
            if len(changes.pruned) == before:
                break
        return changes

    def set_history_budget(self, history_budget: int) -> None:
        """A new cap on all topics' history together, in counted bytes (tick thread). A smaller one shortens
        every ring at once; a larger one lets shortened rings grow back to ``history_count`` as messages come."""
        if history_budget < 1:
            raise ValueError("the history budget must be positive")
        self.history_budget = history_budget
        self.effective_history_count = self.history_count
        self._trimming = []
        if self.history_used > history_budget:
            self._shrink_history(at_once=True)  # the user asked: the whole pass now

    @property
    def evicting(self) -> bool:
        """Whether the tree is at its topic budget (new topics push the least recently seen out)."""
        return self.evicted_total > 0 and len(self._by_topic) >= int(self.topic_budget * EVICT_DOWN_TO)

    def _evict(self, changes: TreeChanges) -> None:
        """Prune the least recently seen topics until the tree is back to ``EVICT_DOWN_TO`` of its budget,
        at most ``EVICT_CHUNK`` a call: a pass goes on over the next applies, so no tick holds the
        interpreter for long (the window's thread needs it to draw).

        Their ancestors keep their counts; each parent counts the topics that went from under it
        (``evicted``). A level left without children or messages of its own goes with its last child.
        A topic that has topics below it is passed over until they are gone.
        """
        target = int(self.topic_budget * EVICT_DOWN_TO)
        recency = self._recency
        parents: set[TopicNode] = set()
        root = self.root
        steps = EVICT_CHUNK
        while len(self._by_topic) > target and recency and steps > 0:
            steps -= 1
            node = next(iter(recency))
            if node.live_count:  # not a leaf: seen as recent for now
                recency.move_to_end(node)
                continue
            while True:  # the topic, then each level it leaves empty
                parent = node.parent
                assert parent is not None  # the root is never a key of the index
                self._prune(node)
                changes.pruned.append(node)
                parent.evicted += node.evicted + (1 if node.count else 0)
                self.evicted_total += 1 if node.count else 0
                parents.add(parent)
                if parent is root or parent.live_count or parent.count:
                    break
                node = parent
        self._evicting = len(self._by_topic) > target
        if not self._evicting:
            self.memory_releases += 1
        for parent in parents:
            if not parent.removed:
                self._compact(parent)
        changes.updated.extend(p for p in parents if not p.removed and p is not root)

    def _compact(self, parent: TopicNode) -> None:
        """Drop tombstones from a child list they have come to dominate: one pass in C (``live_children``).
        The tombstones are freed over the next applies, not here: freeing 25,000 at once held the interpreter
        for 40 ms, and four churning parents compact in the same tick (a Python pass over their lists took
        70 ms more)."""
        if len(parent.child_list) <= 2 * parent.live_count + 16:
            return
        self._tombstones.extend(parent.child_list)  # live ones too: they are kept alive by the tree anyway
        parent.child_list = parent.live_children()

    def _free_some_tombstones(self) -> None:
        if self._tombstones:
            del self._tombstones[-TOMBSTONES_FREED_PER_APPLY:]

    def _shrink_history(self, at_once: bool = False) -> None:
        """Halve every ring until all history fits the budget (the last message always stays): as many halvings
        at once as the rings' lengths say are needed (``_fitting_count``), so one pass usually does. At most
        ``HISTORY_TRIM_CHUNK`` topics are shortened per call, the rest by the next applies (or all ``at_once``):
        shortening 240,000 topics took one apply 59 ms, all of it holding the interpreter against the window.
        Meanwhile each new message keeps its own topic's ring to the halved count."""
        steps = HISTORY_TRIM_CHUNK
        while at_once or steps > 0:
            if not self._trimming:
                if self.history_used <= self.history_budget or self.effective_history_count <= 1:
                    return
                self.effective_history_count = self._fitting_count()
                self._trimming = list(self._by_topic.values())  # one C-level copy: shortened from the end
            keep = self.effective_history_count
            trimming = self._trimming
            while trimming and (at_once or steps > 0):
                node = trimming.pop()
                steps -= 1
                history = node.history
                while history is not None and len(history) > keep:
                    self._drop_oldest(node)
            self.memory_releases += 1  # a chunk's buffers: handed back as they go, not after the whole pass

    @property
    def history_kept(self) -> int:
        """Messages in every topic's history together."""
        return sum(length * topics for length, topics in enumerate(self._ring_lengths))

    def _fitting_count(self) -> int:
        """The kept count halved once, and again while the rings cut to it would still not fit the budget,
        reckoned from how many rings have each length, each message at the average size. A pass per halving
        took 100,000 topics from 100 to 6 in four passes (eight rounds of messages), the first two shortening
        nothing while the rings grew 40 % past the budget."""
        count = max(1, self.effective_history_count // 2)
        kept = self.history_kept
        if not kept:
            return count
        per_message = self.history_used / kept
        rings = [(length, topics) for length, topics in enumerate(self._ring_lengths) if topics and length]
        while count > 1 and sum(min(length, count) * topics for length, topics in rings) * per_message > self.history_budget:
            count //= 2
        return count

    def _drop_oldest(self, node: TopicNode) -> None:
        history = node.history
        assert history is not None  # called only for a node with messages in its history
        length = len(history)
        self._ring_lengths[length] -= 1
        self._ring_lengths[length - 1] += 1
        self.history_used -= history.pop_oldest() + ENTRY_OVERHEAD

    def _create_path(self, topic: str, first_new_row: dict, created: set, created_list: list) -> TopicNode:
        node = self.root
        by_topic = self._by_topic
        start = 0
        while True:
            end = topic.find("/", start)
            path = topic if end < 0 else topic[:end]
            child = by_topic.get(path)
            if child is None:
                if node not in created and node not in first_new_row:
                    first_new_row[node] = len(node.child_list)
                # Interned: the same level names (device ids, metric names) recur under thousands of parents.
                child = TopicNode(intern(topic[start:] if end < 0 else topic[start:end]), path, node)
                node.add_child(child)
                by_topic[path] = child
                created.add(child)
                created_list.append(child)
            node = child
            if end < 0:
                return node
            start = end + 1

    def _store_history(self, node: TopicNode, payload: bytes, received: float, qos: int, retain: bool,
                       properties: MessageProperties, original_size: int = -1) -> None:
        history = node.history
        if history is None:
            history = node.history = MessageHistory()
            self._ring_lengths[0] += 1
        while len(history) >= self.effective_history_count:  # more than one while a halving is under way
            self._drop_oldest(node)
        length = history.append(payload, received, qos, retain, properties, original_size)
        self._ring_lengths[length - 1] -= 1
        self._ring_lengths[length] += 1
        self.history_used += len(payload) + ENTRY_OVERHEAD
        while len(history) > 1 and history.payload_bytes > self.history_bytes:
            self._drop_oldest(node)

    def fold(self, old_topic: str, new_topic: str) -> TreeChanges:
        """Move ``old_topic``'s messages into ``new_topic`` and prune the old node.

        For a node that was named provisionally (a Sparkplug alias before its BIRTH): its history
        joins the named node's, in arrival order, and the old node leaves. Nothing happens unless
        both exist and the old one has no children of its own.
        """
        changes = TreeChanges()
        old = self._by_topic.get(old_topic)
        new = self._by_topic.get(new_topic)
        if old is None or new is None or old is new or old.live_children():
            return changes
        if old.history:
            self._merge_history(new, old)
        if old.count:
            new.count += old.count
            self._add_subtree_count(new, old.count)
            self._add_subtree_count(old, -old.count)
        self._prune(old)
        changes.pruned.append(old)
        changes.updated = [n for n in (new, *new.ancestors(), *old.ancestors()) if n is not self.root]
        return changes

    @staticmethod
    def _add_subtree_count(node: TopicNode, messages: int) -> None:
        walker: TopicNode | None = node
        while walker is not None:
            walker.subtree_count += messages
            walker = walker.parent

    def _merge_history(self, into: TopicNode, source: TopicNode) -> None:
        """``source``'s kept messages join ``into``'s, oldest first, within the same caps."""
        merged = sorted([*(source.history or ()), *(into.history or ())], key=lambda m: m.received)
        for node in (source, into):
            while node.history:
                self._drop_oldest(node)
        into.history = None  # made again, and counted, by its first message
        for message in merged:
            self._store_history(into, message.payload, message.received, message.qos, message.retain,
                                message.properties, message.original_size if message.truncated else -1)

    def _prune(self, node: TopicNode) -> None:
        """Take ``node`` out of every lookup; its parent keeps it as a tombstone in ``child_list``."""
        parent = node.parent
        assert parent is not None  # the root is never pruned
        if not node.removed:
            parent.live_count -= 1
        node.removed = True
        # Readers only look it up by key or copy it with one C-level call, so a delete is safe.
        if self._by_topic.get(node.topic) is node:
            del self._by_topic[node.topic]
        self._recency.pop(node, None)
        while node.history:
            self._drop_oldest(node)
        # Only pruned tombstones are left below it: let them go, so no parent-child reference cycle
        # outlives the node (the workspace freezes long-lived objects, and a frozen cycle is never freed).
        node.forget_children()

    def mark_retained_cleared(self, topics: Iterable[str]) -> None:
        for topic in topics:
            node = self._by_topic.get(topic)
            if node is not None:
                node.retained = False

    def retained_topics(self, node: TopicNode | None = None) -> list[str]:
        """Topics at or under ``node`` that hold a retained message, as far as this tree saw."""
        start = node or self.root
        return [n.topic for n in start.walk() if n.retained and not n.is_root]

    # ----- filtering -------------------------------------------------------------
    def matching_nodes(self, tree_filter: TreeFilter) -> list[TopicNode]:
        """Topics (nodes with messages) that ``tree_filter`` accepts."""
        if tree_filter.topic_filter == "#":  # the common case, without walking: everything but $-topics
            return [n for n in self._all_nodes() if n.count and not n.topic.startswith("$")]
        if tree_filter.topic_filter is not None:
            return [n for n in _walk_filter(self.root, tree_filter.topic_filter.split("/"), self._by_topic) if n.count]
        return [n for n in self._all_nodes() if n.count and tree_filter.accepts(n)]

    def visible_nodes(self, tree_filter: TreeFilter) -> set[TopicNode]:
        """Matching topics plus all their ancestors: what a filtered tree shows."""
        visible: set[TopicNode] = set()
        for node in self.matching_nodes(tree_filter):
            while node is not None and node not in visible:
                visible.add(node)
                node = node.parent
        return visible


def _walk_filter(root: TopicNode, levels: list[str], by_topic: dict[str, TopicNode]) -> Iterator[TopicNode]:
    """Nodes whose topic matches the filter levels, walking the tree instead of testing each topic.

    Follows MQTT's rules: '+' is one level, a trailing '#' is the parent level and everything
    below, and a filter starting with a wildcard never matches a topic starting with '$'.
    """
    stack: list[tuple[TopicNode, int]] = [(root, 0)]
    last = len(levels)
    while stack:
        node, depth = stack.pop()
        if depth == last:
            yield node
            continue
        level = levels[depth]
        at_root = depth == 0
        if level == "#":
            if not at_root:
                yield node
            for child in node.live_children():
                if at_root and child.name.startswith("$"):
                    continue
                yield from child.walk()
        elif level == "+":
            for child in node.live_children():
                if at_root and child.name.startswith("$"):
                    continue
                stack.append((child, depth + 1))
        else:
            child = by_topic.get(node.child_topic(level, root))
            if child is not None:
                stack.append((child, depth + 1))


class TreeFilter:
    """What the tree's filter box holds, compiled once.

    Text containing '+' or '#' is an MQTT wildcard filter (compiled into paho's matcher via
    ``FilterSet``; the tree itself is matched by walking it level by level). Anything else is a
    case-insensitive substring of the topic, and optionally of the last payload.
    """

    def __init__(self, text: str, match_payload: bool = False) -> None:
        self.text = text
        self.match_payload = match_payload
        self.topic_filter: str | None = None
        self._filter_set: FilterSet | None = None
        if "+" in text or "#" in text:
            try:
                validate_filter(text)
            except TopicError:
                raise
            self.topic_filter = text
            self._filter_set = FilterSet([text])
        self._needle = text.lower()
        self._needle_bytes = self._needle.encode("utf-8")

    @property
    def is_wildcard(self) -> bool:
        return self.topic_filter is not None

    def accepts(self, node: TopicNode) -> bool:
        """Whether one topic matches (for topics that arrive after the filter was set)."""
        if self._filter_set is not None:
            return self._filter_set.matches(node.topic)
        if self._needle in node.topic.lower():
            return True
        if self.match_payload and node.history is not None:
            return self._needle_bytes in node.history.newest_payload().lower()
        return False
