"""The core topic tree: structure, change summaries, history caps, truncation, rate, filters, retained clears."""

from __future__ import annotations

import random
import subprocess

import pytest

from eventscope.core.models.topic_tree import TopicNode, TopicTree, TreeFilter
from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.retained import clear_retained
from eventscope.core.mqtt.session import MqttSession, ReadOnlyError
from eventscope.core.profile import ConnectionProfile
from eventscope.core.records import MessageRecord
from eventscope.core.topics import FilterSet, TopicError
from tests.conftest import wait_until
from tests.topic_tree_dataset import (
    BIG_SIZE,
    BIG_TOPIC,
    BINARY_PAYLOAD,
    HTML_PAYLOAD,
    HTML_TOPIC,
    INVALID_PAYLOAD,
    INVALID_TOPIC,
    publish_live,
    publish_retained,
)


def rec(topic: str, payload: bytes = b"x", retain: bool = False, received: float = 0.0) -> MessageRecord:
    return MessageRecord(topic=topic, payload=payload, retain=retain, received=received)


def assert_consistent(node: TopicNode, tree: TopicTree) -> None:
    """Parents, names, the order of live children and subtree counts agree everywhere below ``node``."""
    total = node.count
    assert node.live_count == len(node.live_children()) == sum(not child.removed for child in node.child_list)
    for child in node.child_list:
        assert child.parent is node
        if child.removed:  # a tombstone keeps its place but is in no lookup and counts nothing
            assert tree.node(child.topic) is not child
            continue
        assert tree.node(child.topic) is child
        assert child.topic == (f"{node.topic}/{child.name}" if node.parent is not None else child.name)
        assert_consistent(child, tree)
        total += child.subtree_count
    assert node.subtree_count == total


# ----- structure and change summaries ------------------------------------------------------
def test_apply_builds_levels_and_reports_new_rows_per_existing_parent():
    tree = TopicTree()
    first = tree.apply([rec("a/b/c"), rec("a/b/d"), rec("x")])
    assert [(p.topic, f, last) for p, f, last in first.inserted] == [("", 0, 1)]
    assert [n.topic for n in first.created] == ["a", "a/b", "a/b/c", "a/b/d", "x"]
    second = tree.apply([rec("a/b/e"), rec("a/f/g"), rec("a/b/c"), rec("x/y")])
    # New rows under existing parents only; a/f/g rides along with its new parent a/f.
    assert sorted((p.topic, f, last) for p, f, last in second.inserted) == [("a", 1, 1), ("a/b", 2, 2), ("x", 0, 0)]
    assert {n.topic for n in second.updated} == {"a", "a/b", "a/b/c", "x"}
    assert tree.node("a/b/c").count == 2 and tree.node("a").subtree_count == 5 and tree.root.subtree_count == 7
    assert_consistent(tree.root, tree)


def test_fold_moves_history_under_the_new_name_and_leaves_a_tombstone():
    tree = TopicTree(history_count=4)
    tree.apply([rec("d/alias 7", b"1", received=1.0), rec("d/alias 7", b"2", received=3.0), rec("d/other", b"o")])
    tree.apply([rec("d/Temperature", b"3", received=2.0), rec("d/Temperature", b"4", received=4.0)])
    alias = tree.node("d/alias 7")
    assert alias is not None
    used_before = tree.history_used
    changes = tree.fold("d/alias 7", "d/Temperature")
    assert changes.pruned == [alias] and alias.removed and bool(changes)
    assert tree.node("d/alias 7") is None and "alias 7" not in [c.name for c in tree.node("d").live_children()]
    named = tree.node("d/Temperature")
    assert [m.payload for m in named.history] == [b"1", b"3", b"2", b"4"]  # in arrival order, within the cap
    assert named.last.payload == b"4" and named.count == 4
    assert tree.node("d").subtree_count == 5 and tree.root.subtree_count == 5
    assert tree.history_used == used_before  # the same four messages, now under one node
    assert [c.name for c in tree.node("d").live_children()] == ["other", "Temperature"]
    assert {n.topic for n in tree.matching_nodes(TreeFilter("d/+"))} == {"d/other", "d/Temperature"}
    assert_consistent(tree.root, tree)
    # The name can come back: a new node at the end, the tombstone's place untouched.
    tree.apply([rec("d/alias 7", b"5")])
    d_list = tree.node("d").child_list
    assert d_list.index(tree.node("d/alias 7")) == 3 and d_list.index(alias) == 0
    assert_consistent(tree.root, tree)
    assert not tree.fold("d/missing", "d/Temperature") and not tree.fold("d", "d/other")  # d has children


def test_empty_levels_and_leading_slash_are_topics_too():
    tree = TopicTree()
    tree.apply([rec("/lead"), rec("a//b"), rec("a/")])
    assert tree.node("/lead").parent.name == ""
    assert tree.node("a//b").parent.topic == "a/"
    assert tree.node("a/").count == 1
    assert_consistent(tree.root, tree)


def test_random_batches_keep_counts_exact():
    rng = random.Random(7)
    tree = TopicTree()
    expected: dict[str, int] = {}
    for _ in range(30):
        batch = []
        for _ in range(rng.randint(1, 200)):
            topic = "/".join(f"l{rng.randint(0, 3)}" for _ in range(rng.randint(1, 4)))
            batch.append(rec(topic))
            expected[topic] = expected.get(topic, 0) + 1
        tree.apply(batch)
    assert {n.topic: n.count for n in tree.topics()} == expected
    assert tree.total_messages == sum(expected.values())
    assert_consistent(tree.root, tree)


# ----- message keeping ----------------------------------------------------------------------------
def test_history_is_capped_by_count_and_bytes_but_keeps_the_last():
    tree = TopicTree(history_count=5, history_bytes=30)
    tree.apply([rec("t", f"{i:02d}".encode()) for i in range(8)])
    node = tree.node("t")
    assert [m.payload for m in node.history] == [b"03", b"04", b"05", b"06", b"07"]
    assert node.history_bytes == 10
    tree.apply([rec("t", b"y" * 25)])
    assert [m.payload for m in node.history] == [b"06", b"07", b"y" * 25]  # 29 bytes: one more would pass 30
    assert node.history_bytes == 29
    tree.apply([rec("t", b"z" * 100)])
    assert node.last.payload == b"z" * 100 and len(node.history) == 1


def test_large_payload_is_truncated_and_says_so():
    tree = TopicTree(display_limit=1000)
    tree.apply([rec("big", b"a" * 5000), rec("small", b"b" * 1000)])
    big, small = tree.node("big").last, tree.node("small").last
    assert big.truncated and big.original_size == 5000 and big.payload == b"a" * 1000
    assert not small.truncated and small.original_size == 1000


def test_retained_flag_follows_retained_messages_and_clears():
    tree = TopicTree()
    tree.apply([rec("r/1", b"on", retain=True), rec("r/2", b"on", retain=True), rec("r/3", b"live")])
    assert tree.retained_topics() == ["r/1", "r/2"]
    tree.apply([rec("r/1", b"")])  # an empty publish clears a retained message
    assert tree.retained_topics(tree.node("r")) == ["r/2"]
    tree.mark_retained_cleared(["r/2"])
    assert tree.retained_topics() == []


def test_rate_is_an_ewma_of_messages_per_second():
    tree = TopicTree()
    for second in range(60):
        tree.apply([rec("t")] * 10, now_mono=1000.0 + second)
    node = tree.node("t")
    assert node.rate(1059.0) == pytest.approx(10.0, rel=0.15)
    assert node.rate(1059.0 + 30) < 0.1  # decays when the topic goes quiet


# ----- filters --------------------------------------------------------------------------------------
def _filter_tree() -> TopicTree:
    tree = TopicTree()
    tree.apply([rec(t, p) for t, p in [
        ("us/a/temp", b"21"), ("us/b/temp", b"22"), ("us/b/hum", b"50"), ("eu/a/temp", b"19"),
        ("us", b"root"), ("$SYS/broker/version", b"mosquitto"), ("$SYS/load", b"1"), ("eu/a/alarm", b"FIRE"),
    ]])
    return tree


@pytest.mark.parametrize("text, expected", [
    ("#", {"us/a/temp", "us/b/temp", "us/b/hum", "eu/a/temp", "us", "eu/a/alarm"}),
    ("+/+/temp", {"us/a/temp", "us/b/temp", "eu/a/temp"}),
    ("us/#", {"us", "us/a/temp", "us/b/temp", "us/b/hum"}),
    ("+/#", {"us/a/temp", "us/b/temp", "us/b/hum", "eu/a/temp", "us", "eu/a/alarm"}),
    ("$SYS/#", {"$SYS/broker/version", "$SYS/load"}),
    ("+/broker/version", set()),
    ("us/+", set()),
    ("temp", {"us/a/temp", "us/b/temp", "eu/a/temp"}),
    ("SYS", {"$SYS/broker/version", "$SYS/load"}),
])
def test_filter_selects_exact_topics_with_the_dollar_rule(text, expected):
    tree = _filter_tree()
    tree_filter = TreeFilter(text)
    assert {n.topic for n in tree.matching_nodes(tree_filter)} == expected
    # Walking the tree and paho's matcher (used for topics that arrive later) must agree.
    assert {n.topic for n in tree.topics() if tree_filter.accepts(n)} == expected


def test_payload_text_filter_and_visible_set_includes_ancestors():
    tree = _filter_tree()
    assert {n.topic for n in tree.matching_nodes(TreeFilter("fire"))} == set()
    matches = tree.matching_nodes(TreeFilter("fire", match_payload=True))
    assert [n.topic for n in matches] == ["eu/a/alarm"]
    assert {n.topic for n in tree.visible_nodes(TreeFilter("fire", match_payload=True))} == {"", "eu", "eu/a", "eu/a/alarm"}


def test_invalid_wildcard_filter_says_why():
    with pytest.raises(TopicError, match="'#' must be the last level"):
        TreeFilter("a/#/b")


def test_wildcard_walk_agrees_with_paho_matcher_on_random_trees():
    rng = random.Random(3)
    tree = TopicTree()
    tree.apply([rec("/".join(rng.choice(["a", "b", "$c", "d"]) for _ in range(rng.randint(1, 4)))) for _ in range(500)])
    for text in ("#", "+", "a/#", "+/b/#", "+/+/+", "$c/#", "$c/+/a", "a/+/+/d", "b/+"):
        filter_set = FilterSet([text])
        expected = {n.topic for n in tree.topics() if filter_set.matches(n.topic)}
        assert {n.topic for n in tree.matching_nodes(TreeFilter(text))} == expected, text


# ----- against a real Mosquitto ------------------------------------------------------------------------------
@pytest.fixture
def session_factory():
    started: list[MqttSession] = []

    def make(port: int, **profile_changes) -> MqttSession:
        profile = ConnectionProfile(name="tree-test", host="127.0.0.1", port=port, **profile_changes)
        session = MqttSession(profile, buffer=IngestBuffer())
        started.append(session)
        return session

    yield make
    for session in started:
        session.stop()


def test_real_broker_dataset_counts_truncation_and_filters(mosquitto, mosquitto_pub, session_factory, tmp_path):
    data = publish_retained(mosquitto.port)
    session = session_factory(mosquitto.port)
    session.start()
    assert session.wait_connected(10), session.status
    session.subscribe("#", qos=1).result(10)
    session.subscribe("$SYS/broker/version", qos=1).result(10)
    publish_live(mosquitto.port, data, mosquitto_pub, tmp_path)
    tree = TopicTree()

    def all_arrived() -> bool:
        tree.apply(session.buffer.drain())
        return tree.total_messages >= data.total + 1  # + the $SYS version

    wait_until(all_arrived, 30, message=f"{data.total} dataset messages")
    assert session.buffer.stats().dropped == 0
    counts = {n.topic: n.count for n in tree.topics() if not n.topic.startswith("$")}
    assert counts == data.counts
    assert set(tree.retained_topics()) == data.retained | {"$SYS/broker/version"}  # Mosquitto retains it
    for region in ("us-east", "us-west", "eu-central", "ap-south"):
        assert tree.node(region).subtree_count == sum(c for t, c in data.counts.items() if t.startswith(region + "/"))
    assert_consistent(tree.root, tree)
    big = tree.node(BIG_TOPIC).last
    assert big.truncated and big.original_size == BIG_SIZE and len(big.payload) == tree.display_limit
    assert tree.node(HTML_TOPIC).last.payload == HTML_PAYLOAD
    assert tree.node(INVALID_TOPIC).last.payload == INVALID_PAYLOAD
    assert all(tree.node(t).last.payload == BINARY_PAYLOAD for t in data.binary)
    # $SYS is kept and viewable, and '#' does not reach it.
    assert tree.node("$SYS/broker/version").count == 1
    everything = {n.topic for n in tree.matching_nodes(TreeFilter("#"))}
    assert everything == set(data.counts)
    assert {n.topic for n in tree.matching_nodes(TreeFilter("$SYS/#"))} == {"$SYS/broker/version"}
    assert {n.topic for n in tree.matching_nodes(TreeFilter("+/site3/+"))} == {t for t in data.counts if "/site3/" in t}


def test_recursive_retained_clear_removes_exactly_the_subtree(mosquitto, mosquitto_sub, session_factory):
    session = session_factory(mosquitto.port)
    session.start()
    assert session.wait_connected(10)
    for topic in ("keep/a", "zone/a", "zone/b/c", "zone/b/d"):
        session.publish(topic, b"state", qos=1, retain=True).result(10)
    session.publish("zone/live", b"not retained", qos=1).result(10)
    session.subscribe("#", qos=1).result(10)
    tree = TopicTree()
    wait_until(lambda: tree.apply(session.buffer.drain()) is not None and len(tree.retained_topics()) == 4,
               message="four retained topics")
    under_zone = tree.retained_topics(tree.node("zone"))
    assert sorted(under_zone) == ["zone/a", "zone/b/c", "zone/b/d"]
    operation = clear_retained(session, under_zone)
    wait_until(lambda: operation.done, message="retained clears acknowledged")
    assert sorted(operation.cleared) == sorted(under_zone) and not operation.failed
    assert operation.summary() == "Cleared 3 retained messages"
    fresh = subprocess.run([mosquitto_sub, "-p", str(mosquitto.port), "-t", "#", "-v", "--retained-only", "-W", "2"],
                           capture_output=True, text=True, timeout=15)
    assert fresh.stdout.splitlines() == ["keep/a state"]


def test_read_only_session_cannot_clear_retained(mosquitto, session_factory):
    session = session_factory(mosquitto.port, read_only=True)
    with pytest.raises(ReadOnlyError):
        clear_retained(session, ["a"])


def test_history_budget_shortens_every_ring_but_keeps_the_last_message():
    from eventscope.core.models.message_history import ENTRY_OVERHEAD

    entry = 10 + ENTRY_OVERHEAD
    tree = TopicTree(history_count=8, history_budget=50 * entry)  # 20 topics x 8 would need 160 entries
    for round_ in range(8):
        tree.apply([MessageRecord(f"t/{i}", b"%010d" % (round_ * 100 + i)) for i in range(20)])
    assert tree.effective_history_count == 2
    assert tree.history_used <= tree.history_budget
    assert tree.history_used == sum(len(m.payload) + ENTRY_OVERHEAD
                                    for n in tree.topics() for m in n.history)
    node = tree.node("t/7")
    assert [m.payload for m in node.history] == [b"%010d" % 607, b"%010d" % 707]
    assert node.count == 8  # counts are never trimmed


def test_rings_are_shortened_in_one_pass_and_each_letting_go_is_counted_for_the_owner():
    from eventscope.core.models.message_history import ENTRY_OVERHEAD

    tree = TopicTree(history_count=8, history_budget=50 * (10 + ENTRY_OVERHEAD), topic_budget=1_000)
    tree.apply([MessageRecord(f"t/{i}", b"%010d" % i) for i in range(20)])
    assert tree.memory_releases == 0  # nothing shortened yet
    for round_ in range(1, 8):
        tree.apply([MessageRecord(f"t/{i}", b"%010d" % (round_ * 100 + i)) for i in range(20)])
    # Rings of 3 on average, 20 % over the budget: 8 -> 4 -> 2 in one pass (one chunk), not a pass per halving.
    assert tree.effective_history_count == 2 and tree.memory_releases == 1
    assert tree.history_kept == 40 == sum(len(n.history) for n in tree.topics())
    tree.set_topic_budget(10)
    assert len(tree) <= 10 and tree.memory_releases == 2


def test_a_few_long_rings_among_many_short_ones_are_cut_no_further_than_the_budget_needs():
    from eventscope.core.models.message_history import ENTRY_OVERHEAD

    entry = 10 + ENTRY_OVERHEAD
    tree = TopicTree(history_count=8, history_budget=150 * entry)
    tree.apply([MessageRecord(f"cold/{i}", b"%010d" % i) for i in range(100)])  # 100 rings of one message
    for round_ in range(8):
        tree.apply([MessageRecord(f"hot/{i}", b"%010d" % (round_ * 100 + i)) for i in range(10)])
    # Cut to 4, the hot rings and the cold ones fit (140 messages); their average (under 2) would have cut to 1.
    assert tree.effective_history_count == 4
    assert [len(tree.node(f"hot/{i}").history) for i in range(10)] == [4] * 10
    assert tree.history_used == 140 * entry and tree.history_kept == 140


def test_a_new_history_budget_shortens_every_ring_at_once_and_a_larger_one_lets_them_grow_back():
    from eventscope.core.models.message_history import ENTRY_OVERHEAD
    from eventscope.core.models.topic_forest import TopicForest

    entry = 10 + ENTRY_OVERHEAD
    forest = TopicForest(history_count=8)
    for round_ in range(8):
        forest.apply([MessageRecord(f"t/{i}", b"%010d" % (round_ * 100 + i), broker_id="east") for i in range(20)])
    assert forest.history_use() == {"east": (160 * entry, 8)}
    forest.set_history_budget(50 * entry)  # 20 topics x 8 need 160 entries: every ring is cut, now
    tree = forest.trees["east"]
    assert forest.history_budget == 50 * entry and tree.history_budget == 50 * entry
    used, kept = forest.history_use()["east"]
    assert kept == 2 and used == 40 * entry
    assert [m.payload for m in tree.node("t/7").history] == [b"%010d" % 607, b"%010d" % 707]
    assert forest.tree("west").history_budget == 50 * entry  # a broker added later gets the same budget
    forest.set_history_budget(1000 * entry)
    for round_ in range(8, 12):
        forest.apply([MessageRecord(f"t/{i}", b"%010d" % (round_ * 100 + i), broker_id="east") for i in range(20)])
    assert forest.history_use()["east"] == (120 * entry, 8)  # 2 kept + 4 new per topic: growing back to 8
    with pytest.raises(ValueError):
        forest.set_history_budget(0)
    assert forest.history_budget == 1000 * entry  # a refused budget changes nothing


def test_the_topic_budget_evicts_the_least_recently_seen_leaves_and_parents_keep_their_counts():
    tree = TopicTree(topic_budget=20)
    # 2 regions x 8 devices, each a device level and a temp leaf: 2 + 16 + 16 = 34 levels, seen in order.
    for i in range(8):
        tree.apply([rec(f"{region}/device-{i}/temp", b"1") for region in ("east", "west")], now_mono=float(i))
    assert len(tree) <= 20 and tree.evicted_total > 0 and tree.evicting
    east = tree.node("east")
    assert east is not None and east.subtree_count == 8  # every message still counted
    assert tree.root.subtree_count == 16
    kept = sorted(n.topic for n in tree.topics())
    gone = [f"east/device-{i}/temp" for i in range(8) if f"east/device-{i}/temp" not in kept]
    assert gone and gone == [f"east/device-{i}/temp" for i in range(len(gone))]  # the oldest went first
    assert east.evicted + tree.node("west").evicted == tree.evicted_total
    assert tree.node(gone[0]) is None and tree.node(gone[0].rsplit("/", 1)[0]) is None  # its empty parent too
    assert not any(n.removed for n in tree.root.walk())  # walks see no tombstone
    # A topic seen again comes back as a new node.
    tree.apply([rec(gone[0], b"2")], now_mono=100.0)
    assert tree.node(gone[0]).count == 1


def test_a_smaller_budget_evicts_at_once_and_tombstones_do_not_pile_up():
    tree = TopicTree()
    for batch in range(50):
        tree.apply([rec(f"churn/device-{batch * 100 + i}") for i in range(100)], now_mono=float(batch))
    churn = tree.node("churn")
    assert len(churn.child_list) == 5000
    changes = tree.set_topic_budget(1000)
    assert len(tree) <= 1000 and len(changes.pruned) >= 4000
    # Rebuilt as its tombstones came to dominate it: few tombstones are left, the live ones in their order.
    assert len(churn.child_list) <= 2 * churn.live_count + 16 < 5000
    assert churn.live_children() == [tree.node(f"churn/{c.name}") for c in churn.child_list if not c.removed]
    assert [c.name for c in churn.live_children()] == sorted((c.name for c in churn.live_children()),
                                                             key=lambda name: int(name.split("-")[1]))
    assert churn.evicted == len(changes.pruned) and churn.subtree_count == 5000
    with pytest.raises(ValueError):
        tree.set_topic_budget(0)


def test_forest_changes_that_only_prune_still_count_as_changes():
    from eventscope.core.models.topic_forest import TopicForest

    forest = TopicForest()
    forest.apply([MessageRecord("d/alias 1", b"1", broker_id="b"), MessageRecord("d/Flow", b"2", broker_id="b")])
    changes = forest.fold([("b", "d/alias 1", "d/Flow")])
    assert changes.pruned and changes.messages == 0 and bool(changes)  # a view must not skip it
    forest.set_topic_budget(1)
    assert bool(forest.apply([]))  # what the smaller budget evicted arrives with the next apply


def test_a_large_tree_shortens_its_history_over_several_applies_and_then_fits_its_budget(monkeypatch):
    """Halving every ring of 250,000 topics in one apply held the interpreter long enough to stall the window;
    a chunk of topics per apply does it over several, and a topic with a new message is shortened at once."""
    from eventscope.core.models import topic_tree
    from eventscope.core.models.message_history import ENTRY_OVERHEAD

    monkeypatch.setattr(topic_tree, "HISTORY_TRIM_CHUNK", 30)
    entry = 10 + ENTRY_OVERHEAD
    tree = TopicTree(history_count=8, history_budget=500 * entry)
    for round_ in range(5):  # 100 topics x 5 = 500 entries: exactly the budget
        tree.apply([MessageRecord(f"t/{i:03d}", b"%010d" % (round_ * 1000 + i)) for i in range(100)])
    assert tree.history_used == 500 * entry and tree.effective_history_count == 8
    tree.apply([MessageRecord("t/000", b"%010d" % 5000)])  # one more: over the budget, the halving starts
    assert tree.effective_history_count == 4
    tree.apply([MessageRecord("t/000", b"%010d" % 6000)])  # its turn comes last: a new message shortens it now
    lengths = [len(tree.node(f"t/{i:03d}").history) for i in range(100)]
    assert sum(1 for n in lengths if n > 4) > 30, "not every ring is shortened in one apply"
    assert lengths[0] == 4
    applies = 2
    while tree.history_used > tree.history_budget or any(len(n.history) > 4 for n in tree.topics()):
        tree.apply([])
        applies += 1
        assert applies < 10
    assert applies >= 3  # 101 topics, 30 an apply
    assert tree.history_used == sum(len(m.payload) + ENTRY_OVERHEAD for n in tree.topics() for m in n.history)
    assert tree.history_used <= tree.history_budget and tree.effective_history_count == 4
    assert [m.payload for m in tree.node("t/007").history] == [b"%010d" % (r * 1000 + 7) for r in range(1, 5)]
