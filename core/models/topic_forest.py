"""Every broker's topic tree under one root: the same topic on two brokers is two nodes.

The forest's root has one child per broker (that broker's ``TopicTree`` root, named after it);
below it the tree is exactly the broker's. Records are routed by ``broker_id``. Broker roots
are appended as brokers appear and removed only by ``remove``, which a window learns about
from ``ForestChanges.removed`` (its model keeps its own list of broker rows for that reason).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from eventscope.core.models.topic_tree import (
    DEFAULT_HISTORY_BUDGET,
    DEFAULT_TOPIC_BUDGET,
    TopicNode,
    TopicTree,
    TreeChanges,
    TreeFilter,
)
from eventscope.core.records import MessageRecord


@dataclass(slots=True)
class ForestChanges(TreeChanges):
    """``TreeChanges`` over the whole forest, plus broker roots removed since the last apply."""

    removed: list[TopicNode] = field(default_factory=list)

    def __bool__(self) -> bool:
        # Pruned nodes count too: a BIRTH's folds or a smaller budget change the tree without a message.
        return TreeChanges.__bool__(self) or bool(self.removed)


def broker_of(node: TopicNode) -> TopicNode | None:
    """The broker root above (or at) ``node``; None for the forest's own root."""
    while node.parent is not None and node.parent.parent is not None:
        node = node.parent
    return node if node.parent is not None else None


class TopicForest:
    """One ``TopicTree`` per broker, each hung under a shared root."""

    def __init__(self, **tree_options) -> None:
        self._tree_options = tree_options
        self.root = TopicNode("", "", None)
        self.trees: dict[str, TopicTree] = {}
        self._removed: list[TopicNode] = []
        self._between: ForestChanges = ForestChanges()  # changes made outside ``apply``, reported by the next one

    # ----- brokers -----
    def tree(self, broker_id: str) -> TopicTree:
        """The broker's tree, created (and hung under the root) on first use."""
        tree = self.trees.get(broker_id)
        if tree is None:
            tree = TopicTree(**self._tree_options)
            broker_root = tree.root
            broker_root.name = broker_id
            broker_root.parent = self.root
            self.root.add_child(broker_root)
            self.trees = {**self.trees, broker_id: tree}
        return tree

    def remove(self, broker_id: str) -> None:
        """Drop a broker's tree; the next ``apply`` reports its root in ``removed``."""
        tree = self.trees.get(broker_id)
        if tree is None:
            return
        self.trees = {k: v for k, v in self.trees.items() if k != broker_id}
        broker_root = tree.root
        self.root.child_list = [n for n in self.root.child_list if n is not broker_root]
        self.root.live_count -= 1
        self.root.subtree_count -= broker_root.subtree_count
        self._removed.append(broker_root)

    # ----- updates -----
    def apply(self, batch: Iterable[MessageRecord], now_mono: float | None = None) -> ForestChanges:
        """Route each record to its broker's tree; one ``ForestChanges`` for all of them."""
        by_broker: dict[str, list[MessageRecord]] = {}
        for record in batch:
            by_broker.setdefault(record.broker_id, []).append(record)
        changes, self._between = self._between, ForestChanges()
        changes.removed, self._removed = self._removed, []
        first_new = len(self.root.child_list)
        for broker_id, records in by_broker.items():
            is_new = broker_id not in self.trees
            tree = self.tree(broker_id)
            part = tree.apply(records, now_mono)
            if is_new:
                changes.created.append(tree.root)
            else:
                changes.inserted.extend(part.inserted)
                changes.updated.append(tree.root)
            changes.created.extend(part.created)
            changes.updated.extend(part.updated)
            changes.pruned.extend(part.pruned)
            changes.messages += part.messages
        if len(self.root.child_list) > first_new:
            changes.inserted.insert(0, (self.root, first_new, len(self.root.child_list) - 1))
        self.root.subtree_count = sum(t.root.subtree_count for t in self.trees.values())
        return changes

    def set_topic_budget(self, topic_budget: int) -> None:
        """Every broker's tree keeps at most ``topic_budget`` topic levels (call on the tick thread); what a
        smaller budget evicts at once is reported by the next ``apply``."""
        self._tree_options = {**self._tree_options, "topic_budget": topic_budget}
        for tree in self.trees.values():
            part = tree.set_topic_budget(topic_budget)
            self._between.pruned.extend(part.pruned)
            self._between.updated.extend(part.updated)

    def set_history_budget(self, history_budget: int) -> None:
        """Every broker's tree keeps at most ``history_budget`` counted bytes of history (call on the tick thread)."""
        if history_budget < 1:
            raise ValueError("the history budget must be positive")
        self._tree_options = {**self._tree_options, "history_budget": history_budget}
        for tree in self.trees.values():
            tree.set_history_budget(history_budget)

    @property
    def memory_releases(self) -> int:
        """Times the trees let go of much memory at once (see ``TopicTree.memory_releases``)."""
        return sum(tree.memory_releases for tree in self.trees.values())

    @property
    def history_budget(self) -> int:
        return int(self._tree_options.get("history_budget", DEFAULT_HISTORY_BUDGET))

    def history_use(self) -> dict[str, tuple[int, int]]:
        """Per broker: (counted bytes of history kept, messages a topic's history holds at most now)."""
        return {broker_id: (tree.history_used, tree.effective_history_count) for broker_id, tree in self.trees.items()}

    @property
    def topic_budget(self) -> int:
        return int(self._tree_options.get("topic_budget", DEFAULT_TOPIC_BUDGET))

    @property
    def evicted_total(self) -> int:
        return sum(tree.evicted_total for tree in self.trees.values())

    @property
    def evicting(self) -> bool:
        return any(tree.evicting for tree in self.trees.values())

    def fold(self, folds: Iterable[tuple[str, str, str]]) -> ForestChanges:
        """``TopicTree.fold`` for each (broker, old topic, new topic), as one set of forest changes."""
        changes = ForestChanges()
        for broker_id, old_topic, new_topic in folds:
            tree = self.trees.get(broker_id)
            if tree is None:
                continue
            part = tree.fold(old_topic, new_topic)
            if part.pruned:
                changes.pruned.extend(part.pruned)
                changes.updated.extend((*part.updated, tree.root))
        return changes

    # ----- lookup -----
    def __len__(self) -> int:
        """Nodes below the root: broker roots and every topic level."""
        return sum(len(tree) + 1 for tree in self.trees.values())

    def node(self, topic: str, broker_id: str | None = None) -> TopicNode | None:
        """``topic`` on ``broker_id`` (or on the first broker that has it)."""
        if broker_id is not None:
            tree = self.trees.get(broker_id)
            return tree.node(topic) if tree is not None else None
        for tree in self.trees.values():
            found = tree.node(topic)
            if found is not None:
                return found
        return None

    def topics(self) -> Iterator[TopicNode]:
        for tree in self.trees.values():
            yield from tree.topics()

    @property
    def total_messages(self) -> int:
        return sum(tree.total_messages for tree in self.trees.values())

    def matching_nodes(self, tree_filter: TreeFilter) -> list[TopicNode]:
        return [node for tree in self.trees.values() for node in tree.matching_nodes(tree_filter)]

    def retained_topics(self, node: TopicNode | None = None) -> list[str]:
        if node is None or node is self.root:
            return [topic for tree in self.trees.values() for topic in tree.retained_topics()]
        tree = self.tree_of(node)
        return tree.retained_topics(node) if tree is not None else []

    def tree_of(self, node: TopicNode) -> TopicTree | None:
        broker_root = broker_of(node)
        return self.trees.get(broker_root.name) if broker_root is not None else None

    def broker_id_of(self, node: TopicNode) -> str | None:
        broker_root = broker_of(node)
        return broker_root.name if broker_root is not None else None

    def mark_retained_cleared(self, topics: Iterable[str], broker_id: str | None = None) -> None:
        for broker, tree in self.trees.items():
            if broker_id is None or broker == broker_id:
                tree.mark_retained_cleared(topics)
