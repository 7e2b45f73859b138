"""The tree model when the core prunes a node: one row removed where Qt shows it, rows after it move up,
new rows still arrive in ranges, and a node pruned before Qt heard of it never appears."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex

from eventscope.core.models.topic_forest import TopicForest
from eventscope.core.records import MessageRecord
from eventscope.gui.models.topic_tree_model import TopicTreeModel


def _rec(topic: str, payload: bytes = b"1", received: float = 0.0) -> MessageRecord:
    return MessageRecord(topic=topic, payload=payload, received=received, broker_id="plant")


def _names(model: TopicTreeModel, topic: str) -> list[str]:
    parent = model.index_for_topic(topic, "plant")
    assert parent.isValid()
    return [model.index(row, 0, parent).data() for row in range(model.rowCount(parent))]


def _publish(model: TopicTreeModel, changes) -> None:
    model.note_changes(changes)
    model.publish_changes()


def test_a_pruned_row_leaves_and_later_rows_keep_their_place(qtmodeltester):
    forest = TopicForest()
    model = TopicTreeModel(forest)
    qtmodeltester.check(model)
    _publish(model, forest.apply([_rec("d/alias 1"), _rec("d/alias 2"), _rec("d/Flow"), _rec("d/Speed")]))
    assert _names(model, "d") == ["alias 1", "alias 2", "Flow", "Speed"]
    flow = model.index_for_topic("d/Flow", "plant")
    kept = QPersistentModelIndex(flow)
    removed: list[tuple[int, int]] = []
    model.rowsRemoved.connect(lambda parent, first, last: removed.append((first, last)))

    _publish(model, forest.fold([("plant", "d/alias 1", "d/Flow"), ("plant", "d/alias 2", "d/Speed")]))
    assert _names(model, "d") == ["Flow", "Speed"]
    assert removed == [(0, 1)]  # adjacent rows go in one run
    assert kept.isValid() and kept.row() == 0 and kept.data() == "Flow"
    assert model.index_for_topic("d/alias 1", "plant").isValid() is False

    # New children after the pruning come in one range at the end of the rows Qt shows.
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda parent, first, last: inserted.append((first, last)))
    _publish(model, forest.apply([_rec("d/Level"), _rec("d/Pressure"), _rec("d/Flow")]))
    assert _names(model, "d") == ["Flow", "Speed", "Level", "Pressure"]
    assert inserted == [(2, 3)]
    assert model.parent(model.index_for_topic("d/Pressure", "plant")) == model.index_for_topic("d", "plant")


def test_a_node_pruned_before_qt_heard_of_it_never_shows(qtmodeltester):
    forest = TopicForest()
    model = TopicTreeModel(forest)
    qtmodeltester.check(model)
    _publish(model, forest.apply([_rec("d/Flow")]))
    # Two ticks before the window publishes: an alias arrives, then a BIRTH folds it away.
    model.note_changes(forest.apply([_rec("d/alias 3"), _rec("d/Speed"), _rec("e/x")]))
    model.note_changes(forest.fold([("plant", "d/alias 3", "d/Speed")]))
    model.publish_changes()
    assert _names(model, "d") == ["Flow", "Speed"]
    assert _names(model, "e") == ["x"]
    assert model.index_for_topic("d/Speed", "plant").row() == 1


def test_scattered_rows_leave_in_one_layout_change_and_persistent_indexes_follow(qtmodeltester):
    forest = TopicForest()
    model = TopicTreeModel(forest)
    qtmodeltester.check(model)
    names = [f"m{i}" for i in range(10)]
    _publish(model, forest.apply([_rec(f"d/{name}") for name in names] + [_rec("d/m3/child")]))
    kept = {name: QPersistentModelIndex(model.index_for_topic(f"d/{name}", "plant")) for name in ("m3", "m8")}
    child = QPersistentModelIndex(model.index_for_topic("d/m3/child", "plant"))
    leaving = QPersistentModelIndex(model.index_for_topic("d/m5", "plant"))
    removed: list[tuple[int, int]] = []
    layouts: list[str] = []
    model.rowsRemoved.connect(lambda parent, first, last: removed.append((first, last)))
    model.layoutChanged.connect(lambda *_: layouts.append("changed"))
    changes = forest.fold([("plant", "d/m1", "d/m0"), ("plant", "d/m2", "d/m0"), ("plant", "d/m5", "d/m0"),
                           ("plant", "d/m9", "d/m0")])
    _publish(model, changes)
    # Three runs of rows: one layout change (each beginRemoveRows would walk every persistent index).
    assert removed == [] and layouts == ["changed"]
    assert _names(model, "d") == ["m0", "m3", "m4", "m6", "m7", "m8"]
    for row, name in enumerate(_names(model, "d")):
        index = model.index_for_topic(f"d/{name}", "plant")
        assert index.row() == row and model.parent(index) == model.index_for_topic("d", "plant")
    assert (kept["m3"].row(), kept["m3"].data(), kept["m8"].row(), kept["m8"].data()) == (1, "m3", 5, "m8")
    assert child.isValid() and child.data() == "child" and child.parent() == QModelIndex(kept["m3"])
    assert not leaving.isValid()
    assert _names(model, "d/m3") == ["child"]  # a moved row keeps its children


def test_one_run_of_rows_leaves_with_remove_rows(qtmodeltester):
    forest = TopicForest()
    model = TopicTreeModel(forest)
    qtmodeltester.check(model)
    _publish(model, forest.apply([_rec(f"d/m{i}") for i in range(5)]))
    removed: list[tuple[int, int]] = []
    model.rowsRemoved.connect(lambda parent, first, last: removed.append((first, last)))
    _publish(model, forest.fold([("plant", "d/m2", "d/m0"), ("plant", "d/m3", "d/m0")]))
    assert removed == [(2, 3)]
    assert _names(model, "d") == ["m0", "m1", "m4"]


def _assert_synced(model: TopicTreeModel, node, parent=None) -> None:
    from PySide6.QtCore import QModelIndex

    parent = parent if parent is not None else QModelIndex()
    children = node.live_children()
    assert [model.index(row, 0, parent).internalPointer() for row in range(model.rowCount(parent))] == children
    for row, child in enumerate(children):
        index = model.index(row, 0, parent)
        assert model.parent(index) == parent
        _assert_synced(model, child, index)


def test_topic_churn_past_the_budget_keeps_the_model_in_step(qtmodeltester):
    forest = TopicForest(topic_budget=60)
    model = TopicTreeModel(forest)
    qtmodeltester.check(model)
    device = 0
    for round_ in range(12):
        # Some rounds publish after every tick, others only after three (a hidden view catches up):
        # evictions, rebuilt child lists and new rows then arrive together.
        for _ in range(1 if round_ % 2 else 3):
            batch = [_rec(f"churn/{region}/device-{device + i}/temp") for i in range(5) for region in ("e", "w")]
            device += 5
            model.note_changes(forest.apply(batch, now_mono=float(device)))
        model.publish_changes()
        _assert_synced(model, forest.root)
    tree = forest.trees["plant"]
    assert tree.evicted_total > 0 and len(tree) <= 60
    churn = tree.node("churn")
    assert churn.subtree_count == device * 2
    assert len(churn.child_list) <= 2 * churn.live_count + 16  # tombstones do not pile up


def test_a_large_parent_shows_a_batch_and_the_rest_as_the_view_scrolls():
    from eventscope.gui.models.topic_tree_model import FETCH_BATCH

    forest = TopicForest()
    model = TopicTreeModel(forest)
    total = FETCH_BATCH * 2 + FETCH_BATCH // 2
    _publish(model, forest.apply([_rec(f"big/t{i:05d}") for i in range(total)]))
    big = model.index_for_topic("big", "plant")
    assert model.rowCount(big) == FETCH_BATCH and model.holds_more(big.internalPointer()) == total - FETCH_BATCH
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda parent, first, last: inserted.append((first, last)))
    _publish(model, forest.apply([_rec("big/newest")]))
    assert inserted == [] and model.rowCount(big) == FETCH_BATCH  # held: no layout for rows nobody scrolled to
    model.fetch_more(big.internalPointer())
    assert inserted == [(FETCH_BATCH, 2 * FETCH_BATCH - 1)]
    model.fetch_more(big.internalPointer())
    assert model.rowCount(big) == total + 1 and not model.holds_more(big.internalPointer())
    assert _names(model, "big")[-1] == "newest"


def test_held_rows_fill_in_as_shown_ones_are_evicted_and_a_deep_topic_can_be_shown():
    from eventscope.gui.models.topic_tree_model import FETCH_BATCH

    forest = TopicForest(topic_budget=FETCH_BATCH + 600)
    model = TopicTreeModel(forest)
    for batch in range(4):
        _publish(model, forest.apply([_rec(f"big/t{batch * 500 + i:05d}") for i in range(500)],
                                     now_mono=float(batch)))
    tree = forest.trees["plant"]
    assert tree.evicted_total > 0
    big = tree.node("big")
    kept = big.live_children()
    shown = _names(model, "big")
    assert len(shown) == min(FETCH_BATCH, len(kept)) and shown == [c.name for c in kept[:len(shown)]]
    newest = kept[-1]
    assert not model.index_for_topic(newest.topic, "plant").isValid()
    assert model.show_node(newest) and model.index_for_topic(newest.topic, "plant").isValid()


def test_a_held_queue_under_churn_never_holds_more_evicted_topics_than_live_ones():
    from eventscope.gui.models.topic_tree_model import FETCH_BATCH

    forest = TopicForest(topic_budget=FETCH_BATCH * 4)
    model = TopicTreeModel(forest)
    tree = forest.trees.get("plant")
    for tick in range(40):
        _publish(model, forest.apply([_rec(f"churn/t{tick * 300 + i:06d}") for i in range(300)],
                                     now_mono=float(tick)))
        tree = forest.trees["plant"]
        churn = tree.node("churn")
        held = model._held.get(churn, ())
        live_held = sum(1 for node in held if not node.removed)
        assert len(held) - live_held <= max(live_held, 300)  # dead entries are compacted away, a tick at most late
    assert tree.evicted_total > 5 * FETCH_BATCH
    shown = _names(model, "churn")
    assert shown == [node.name for node in churn.live_children()[:len(shown)]]


def test_rows_pruned_by_an_eviction_pass_leave_together_once_the_interval_has_passed(qtmodeltester):
    """An eviction pass prunes shown rows on every tick; each announcement makes the view lay out every shown
    row again. With a ``removal_interval`` the rows stay (pruned nodes showing their last values) until it has
    passed, then leave in one announcement, and held rows fill in after them."""
    from eventscope.gui.models.topic_tree_model import FETCH_BATCH

    forest = TopicForest(topic_budget=FETCH_BATCH + 100)
    model = TopicTreeModel(forest)
    qtmodeltester.check(model)
    model.removal_interval = 3600.0  # nothing is due within the test ...
    announcements: list[str] = []
    model.rowsRemoved.connect(lambda *_: announcements.append("removed"))
    model.layoutChanged.connect(lambda *_: announcements.append("layout"))
    _publish(model, forest.apply([_rec(f"churn/t{i:05d}") for i in range(FETCH_BATCH + 50)], now_mono=0.0))
    first_shown = _names(model, "churn")
    assert len(first_shown) == FETCH_BATCH
    for tick in range(1, 6):  # every tick evicts the oldest topics, which are the rows shown first
        _publish(model, forest.apply([_rec(f"churn/n{tick}-{i:03d}") for i in range(60)], now_mono=float(tick)))
    tree = forest.trees["plant"]
    churn = tree.node("churn")
    assert tree.evicted_total > 0
    evicted_shown = [name for name in first_shown if tree.node(f"churn/{name}") is None]
    assert evicted_shown, "the pass evicted some of the rows shown"
    # ... except the first announcement of the run (the interval starts there), so rows evicted after it wait.
    assert announcements.count("removed") + announcements.count("layout") <= 1
    waiting = [name for name in _names(model, "churn") if tree.node(f"churn/{name}") is None]
    assert waiting and model.has_pending_changes and model.removals_due is False

    model.removal_interval = 0.0  # ... now it has passed
    before = len(announcements)
    model.publish_changes()
    assert len(announcements) == before + 1  # every waiting row in one announcement
    shown = _names(model, "churn")
    assert shown == [node.name for node in churn.live_children()[:FETCH_BATCH]]  # held rows filled in after them
    assert not model.has_pending_changes
