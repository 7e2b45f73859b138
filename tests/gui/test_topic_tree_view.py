"""The topic tree view against a real Mosquitto: model/core agreement, plain-text payloads, filter box,
live updates that keep expansion and selection, hidden catch-up, and the context-menu actions."""

from __future__ import annotations

import subprocess

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QGuiApplication, QTextDocument
from PySide6.QtWidgets import QMessageBox

from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import ConnectionProfile
from eventscope.gui.models.topic_tree_model import COL_MESSAGES, COL_TOPIC, COL_VALUE, TopicTreeModel, value_preview
from eventscope.gui.views.details_pane import DetailsPane
from eventscope.gui.views.topic_tree_view import TopicTreeView
from tests.conftest import publish_raw
from tests.topic_tree_dataset import (
    BIG_SIZE,
    BIG_TOPIC,
    HTML_PAYLOAD,
    HTML_TOPIC,
    INVALID_TOPIC,
    REGIONS,
    publish_live,
    publish_retained,
)

WAIT_MS = 30000


def assert_models_synced(model: TopicTreeModel, parent: QModelIndex = QModelIndex()) -> int:
    """Node for node, the Qt model shows exactly the core tree (like napari's _assert_models_synced)."""
    node = model.node_from_index(parent)
    children = node.live_children()
    assert model.rowCount(parent) == len(children)
    seen = 0
    for row, child in enumerate(children):
        index = model.index(row, COL_TOPIC, parent)
        assert index.internalPointer() is child and model.parent(index) == parent
        assert index.data() == (child.name or "(empty)")
        assert model.index(row, COL_MESSAGES, parent).data() == str(child.subtree_count)
        seen += 1 + assert_models_synced(model, index)
    return seen


def _session(context, port: int, read_only: bool = False, subscribe: str | None = "#") -> MqttSession:
    profile = ConnectionProfile(name="tree", host="127.0.0.1", port=port, read_only=read_only)
    session = context.connect_broker(profile, subscriptions=()).session
    assert session.wait_connected(10), session.status
    if subscribe:
        session.subscribe(subscribe, qos=1).result(10)  # the SUBACK, so nothing published next is missed
    context.bridge.start()
    return session


@pytest.fixture
def tree_view(context, qtbot):
    view = TopicTreeView(context)
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    return view


def _wait_for(qtbot, view: TopicTreeView, topic: str, count: int = 1, announced: bool = True) -> None:
    # The core tree has it, and (unless the view is hidden) a summary has told the Qt model.
    qtbot.waitUntil(lambda: view.tree.node(topic) is not None and view.tree.node(topic).count >= count
                    and (not announced or view.model.index_for_topic(topic).isValid()), timeout=WAIT_MS)


def test_dataset_model_agrees_with_core_and_payloads_stay_plain(context, mosquitto, mosquitto_pub, qtbot, qtmodeltester,
                                                              tmp_path, tree_view):
    resets: list[int] = []
    tree_view.model.modelReset.connect(lambda: resets.append(1))
    qtmodeltester.check(tree_view.model)  # also watches every insert and dataChanged that follows
    pane = DetailsPane(context)
    qtbot.addWidget(pane)
    pane.show()
    data = publish_retained(mosquitto.port)
    session = _session(context, mosquitto.port)
    publish_live(mosquitto.port, data, mosquitto_pub, tmp_path)
    qtbot.waitUntil(lambda: tree_view.tree.total_messages >= data.total, timeout=WAIT_MS)
    context.bridge.flush()
    assert session.buffer.stats().dropped == 0
    assert {n.topic: n.count for n in tree_view.tree.topics()} == data.counts
    assert assert_models_synced(tree_view.model) == len(tree_view.tree)
    qtmodeltester.check(tree_view.model)
    assert resets == []
    assert set(REGIONS) <= set(context.regions)

    model = tree_view.model
    html_value = model.index_for_topic(HTML_TOPIC).siblingAtColumn(COL_VALUE)
    assert html_value.data() == HTML_PAYLOAD.decode()
    tooltip = QTextDocument()
    tooltip.setHtml(html_value.data(Qt.ToolTipRole))
    assert tooltip.toPlainText() == HTML_PAYLOAD.decode()  # escaped: no bold, no image
    assert model.index_for_topic(BIG_TOPIC).siblingAtColumn(COL_VALUE).data().startswith(f"[truncated, {BIG_SIZE} B]")
    binary_topic = sorted(data.binary)[0]
    assert model.index_for_topic(binary_topic).siblingAtColumn(COL_VALUE).data() == "[6 B binary] 00 01 02 ff 80 10"

    assert tree_view.select_topic(HTML_TOPIC)
    qtbot.waitUntil(lambda: pane.topic_edit.text() == HTML_TOPIC)
    assert pane.payload_edit.toPlainText() == HTML_PAYLOAD.decode()
    assert tree_view.select_topic(BIG_TOPIC)
    qtbot.waitUntil(lambda: pane.topic_edit.text() == BIG_TOPIC)
    assert pane.size_label.text() == f"{BIG_SIZE} B"
    assert pane.truncated_label.text() == f"truncated: showing the first {1024 * 1024} of {BIG_SIZE} B"
    assert tree_view.select_topic(INVALID_TOPIC)
    qtbot.waitUntil(lambda: pane.topic_edit.text() == INVALID_TOPIC)
    assert pane.payload_edit.toPlainText().startswith("00000000  ff fe fa 20 6e 6f 74")
    assert pane.decoder_note.text() == "auto: Hex dump"

    # The wildcard filter gives exactly the expected set; $SYS-style topics are not reached by '+'.
    qtbot.keyClicks(tree_view.filter_edit, "+/site3/+")
    assert tree_view.match_label.text() == "200 topics match"
    assert tree_view.matching_topics == {t for t in data.counts if "/site3/" in t}
    site3 = tree_view.proxy.mapFromSource(model.index_for_topic("us-east/site3"))
    assert site3.isValid() and tree_view.view.isExpanded(site3)
    assert tree_view.proxy.rowCount(site3) == 50
    broker = tree_view.proxy.index(0, 0)  # the one broker's root
    assert tree_view.proxy.rowCount() == 1 and tree_view.proxy.rowCount(broker) == len(REGIONS)  # 'special' is hidden


def test_live_updates_keep_expansion_selection_and_filter(connected_context, qtbot, qtmodeltester, tree_view):
    session = connected_context.session
    session.subscribe("$app/#", qos=1).result(10)  # '#' never reaches $-topics
    qtmodeltester.check(tree_view.model)
    for topic in ("plant/line1/temp", "plant/line2/temp", "$app/info", "office/temp"):
        session.publish(topic, b"20", qos=1).result(10)
    _wait_for(qtbot, tree_view, "office/temp")
    assert tree_view.select_topic("plant/line2/temp")
    line2 = tree_view.view.currentIndex().parent()
    assert tree_view.view.isExpanded(line2)
    scroll_before = tree_view.view.verticalScrollBar().value()
    for i in range(30):
        session.publish("plant/line2/temp", str(21 + i).encode(), qos=1)
        session.publish(f"plant/line2/new{i}", b"1", qos=1)
    _wait_for(qtbot, tree_view, "plant/line2/new29")
    _wait_for(qtbot, tree_view, "plant/line2/temp", 31)
    connected_context.bridge.flush()
    current = tree_view.current_node()
    assert current is not None and current.topic == "plant/line2/temp"
    assert tree_view.view.isExpanded(line2) and tree_view.view.verticalScrollBar().value() == scroll_before
    assert tree_view.model.index_for_topic("plant/line2/temp").siblingAtColumn(COL_MESSAGES).data() == "31"
    assert assert_models_synced(tree_view.model) == len(tree_view.tree)

    tree_view.filter_edit.setFocus()
    qtbot.keyClicks(tree_view.filter_edit, "temp")
    assert tree_view.matching_topics == {"plant/line1/temp", "plant/line2/temp", "office/temp"}
    # A topic arriving while filtered shows up when it matches, and counts.
    session.publish("lab/temp", b"5", qos=1)
    _wait_for(qtbot, tree_view, "lab/temp")
    qtbot.waitUntil(lambda: tree_view.match_label.text() == "4 topics match")
    assert tree_view.proxy.mapFromSource(tree_view.model.index_for_topic("lab/temp")).isValid()
    tree_view.filter_edit.clear()
    qtbot.keyClicks(tree_view.filter_edit, "#")
    assert "$app/info" not in tree_view.matching_topics
    tree_view.filter_edit.clear()
    qtbot.keyClicks(tree_view.filter_edit, "$app/#")
    assert tree_view.matching_topics == {"$app/info"}
    tree_view.filter_edit.setText("a/#/b")
    assert tree_view.match_label.text().endswith("'#' must be the last level")


def test_hidden_view_keeps_the_core_current_and_catches_up_when_shown(connected_context, qtbot, qtmodeltester, tree_view):
    session = connected_context.session
    qtmodeltester.check(tree_view.model)
    session.publish("h/a", b"1", qos=1)
    _wait_for(qtbot, tree_view, "h/a")
    tree_view.hide()
    for i in range(20):
        session.publish(f"h/b{i}/c", b"2", qos=1)
    session.publish("h/a", b"3", qos=1)
    _wait_for(qtbot, tree_view, "h/b19/c", announced=False)
    _wait_for(qtbot, tree_view, "h/a", 2, announced=False)
    connected_context.bridge.flush()  # every summary so far reaches the hidden view
    assert tree_view.stale
    h = tree_view.model.index_for_topic("h")
    assert tree_view.model.rowCount(h) == 1  # Qt has not been told yet
    tree_view.show()
    assert not tree_view.stale
    assert assert_models_synced(tree_view.model) == len(tree_view.tree)


def test_keyboard_copy_and_enter_expand(connected_context, qtbot, tree_view):
    connected_context.session.publish("k/child", b"1", qos=1)
    _wait_for(qtbot, tree_view, "k/child")
    assert tree_view.select_topic("k")
    tree_view.view.setFocus()
    qtbot.keyClick(tree_view.view, Qt.Key_Return)
    assert tree_view.view.isExpanded(tree_view.view.currentIndex())
    qtbot.keyClick(tree_view.view, Qt.Key_Down)
    assert tree_view.current_node().topic == "k/child"
    qtbot.keyClick(tree_view.view, Qt.Key_C, Qt.ControlModifier)
    assert QGuiApplication.clipboard().text() == "k/child"


def _action(menu, name: str):
    (action,) = [a for a in menu.actions() if a.objectName() == name]
    return action


def test_recursive_retained_delete_clears_exactly_the_subtree(context, mosquitto, mosquitto_sub, qtbot, tree_view):
    session = _session(context, mosquitto.port)
    for topic in ("keep/x", "zone/a", "zone/b/c", "zone/b/d"):
        session.publish(topic, b"on", qos=1, retain=True).result(10)
    session.publish("zone/live", b"live", qos=1).result(10)
    # A second subscription delivers the retained messages flagged retained.
    session.subscribe("zone/#", qos=1).result(10)
    session.subscribe("keep/#", qos=1).result(10)
    qtbot.waitUntil(lambda: len(tree_view.tree.retained_topics()) == 4, timeout=WAIT_MS)
    zone = tree_view.tree.node("zone")
    menu = tree_view.build_context_menu(zone)
    delete_all = _action(menu, "actionDeleteRetainedRecursive")
    assert delete_all.isEnabled() and "(3)" in delete_all.text()
    delete_all.trigger()
    box = tree_view.confirm_box
    assert box is not None and box.text() == "Clear 3 retained topics under zone?"
    qtbot.mouseClick(box.button(QMessageBox.Yes), Qt.LeftButton)
    qtbot.waitUntil(lambda: tree_view.status_label.text() == "Cleared 3 retained messages", timeout=WAIT_MS)
    assert tree_view.tree.retained_topics() == ["keep/x"]
    fresh = subprocess.run([mosquitto_sub, "-p", str(mosquitto.port), "-t", "#", "-v", "--retained-only", "-W", "2"],
                           capture_output=True, text=True, timeout=15)
    assert fresh.stdout.splitlines() == ["keep/x on"]
    # The cleared topics say so, instead of showing an empty value.
    qtbot.waitUntil(lambda: tree_view.tree.node("zone/a").last.payload == b"", timeout=WAIT_MS)
    assert value_preview(tree_view.tree.node("zone/a")) == "(retained message cleared)"
    assert value_preview(tree_view.tree.node("keep/x")) == "on"


def test_subscribe_and_unsubscribe_a_subtree_while_connected(context, mosquitto, qtbot, tree_view):
    session = _session(context, mosquitto.port, subscribe="seen/first")
    session.subscribe("marker", qos=1).result(10)
    session.publish("seen/first", b"1", qos=1).result(10)
    _wait_for(qtbot, tree_view, "seen/first")
    seen = tree_view.tree.node("seen")
    _action(tree_view.build_context_menu(seen), "actionSubscribeSubtree").trigger()
    qtbot.waitUntil(lambda: tree_view.status_label.text() == "Subscribed to seen/#", timeout=WAIT_MS)
    session.publish("seen/second", b"2", qos=1).result(10)
    _wait_for(qtbot, tree_view, "seen/second")
    _action(tree_view.build_context_menu(seen), "actionUnsubscribeSubtree").trigger()
    qtbot.waitUntil(lambda: tree_view.status_label.text() == "Unsubscribed from seen/#", timeout=WAIT_MS)
    assert "seen/#" not in session.subscriptions
    session.publish("seen/third", b"3", qos=1).result(10)
    session.publish("marker", b"after", qos=1).result(10)
    _wait_for(qtbot, tree_view, "marker")  # arrives after seen/third would have
    assert tree_view.tree.node("seen/third") is None


def test_publish_dialog_from_the_menu_and_read_only_disables_it(context, mosquitto, qtbot, tree_view):
    session = _session(context, mosquitto.port)
    session.publish("dev/cmd", b"old", qos=1).result(10)
    _wait_for(qtbot, tree_view, "dev/cmd")
    node = tree_view.tree.node("dev/cmd")
    menu = tree_view.build_context_menu(node)
    assert _action(menu, "actionDeleteRetained").isEnabled() is False  # not retained
    _action(menu, "actionPublish").trigger()
    dialog = tree_view.publish_dialog
    qtbot.addWidget(dialog)
    assert dialog.topic_edit.text() == "dev/cmd"
    qtbot.keyClicks(dialog.payload_edit, "<i>new</i>")
    dialog.retain_check.setChecked(True)
    qtbot.mouseClick(dialog.send_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: tree_view.status_label.text() == "Published to dev/cmd", timeout=WAIT_MS)
    _wait_for(qtbot, tree_view, "dev/cmd", 2)
    assert node.last.payload == b"<i>new</i>"

    read_only = _session(context, mosquitto.port, read_only=True)
    assert context.session is read_only
    menu = tree_view.build_context_menu(node)
    assert not _action(menu, "actionPublish").isEnabled()
    assert not _action(menu, "actionDeleteRetained").isEnabled()
    assert not _action(menu, "actionDeleteRetainedRecursive").isEnabled()
    assert _action(menu, "actionCopyTopic").isEnabled()


def test_copy_payload_action_copies_text_or_hex(connected_context, qtbot, tree_view):
    connected_context.session.publish("cp/text", b"<b>plain</b>", qos=1)
    connected_context.session.publish("cp/bin", b"\xff\x00\x10", qos=1)
    _wait_for(qtbot, tree_view, "cp/bin")
    _wait_for(qtbot, tree_view, "cp/text")
    for topic, expected in (("cp/text", "<b>plain</b>"), ("cp/bin", "ff 00 10")):
        node = tree_view.tree.node(topic)
        _action(tree_view.build_context_menu(node), "actionCopyPayload").trigger()
        assert QGuiApplication.clipboard().text() == expected
    parent = tree_view.tree.node("cp")
    assert not _action(tree_view.build_context_menu(parent), "actionCopyPayload").isEnabled()


def test_each_broker_is_a_root_and_leaves_with_its_broker(context, qtbot, qtmodeltester, tree_view, mosquitto_factory):
    brokers = {name: mosquitto_factory() for name in ("east", "west")}
    for name, broker in brokers.items():
        session = context.workspace.add_broker(ConnectionProfile(name=name, host="127.0.0.1", port=broker.port),
                                               subscriptions=()).session
        assert session.wait_connected(10)
        session.subscribe("#").result(10)
    context.bridge.start()
    qtmodeltester.check(tree_view.model)
    for name, broker in brokers.items():
        publish_raw(broker.port, [("plant/temp", name.encode())])
    model = tree_view.model
    qtbot.waitUntil(lambda: model.index_for_topic("plant/temp", "east").isValid()
                    and model.index_for_topic("plant/temp", "west").isValid(), timeout=WAIT_MS)
    roots = {model.index(row, 0).data(): model.index(row, 0) for row in range(model.rowCount())}
    assert set(roots) == {"east", "west"}
    east_value = model.index_for_topic("plant/temp", "east").siblingAtColumn(2).data()
    west_value = model.index_for_topic("plant/temp", "west").siblingAtColumn(2).data()
    assert (east_value, west_value) == ("east", "west")  # the same topic on two brokers is two nodes
    removed = []
    model.rowsRemoved.connect(lambda parent, first, last: removed.append((parent.isValid(), first, last)))
    east_row = roots["east"].row()
    context.workspace.remove_broker("east")
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=WAIT_MS)
    assert removed == [(False, east_row, east_row)]
    assert model.index(0, 0).data() == "west" and model.index_for_topic("plant/temp", "east").isValid() is False
    assert assert_models_synced(model) == len(tree_view.tree)


def test_expand_all_over_a_large_parent_then_scrolling_to_its_end_fetches_the_next_rows(context, mosquitto, qtbot,
                                                                                         tree_view):
    """expandAll() emits expanded() from inside the view's layout pass; the view fetches held rows after
    it, not inside it (rows inserted during that pass crashed the window in a soak)."""
    from eventscope.gui.models.topic_tree_model import FETCH_BATCH

    total = FETCH_BATCH + 200
    _session(context, mosquitto.port)
    publish_raw(mosquitto.port, [(f"fleet/device-{n}/temp", b"21") for n in range(total)] + [("zz/last", b"1")])
    qtbot.waitUntil(lambda: tree_view.model.index_for_topic("zz/last").isValid(), timeout=WAIT_MS)
    fleet = tree_view.model.index_for_topic("fleet")
    assert tree_view.model.rowCount(fleet) == FETCH_BATCH  # the rest is held until it is scrolled to
    tree_view.view.expandAll()
    qtbot.waitUntil(lambda: tree_view.view.isExpanded(tree_view.model.index(FETCH_BATCH - 1, 0, fleet)), timeout=WAIT_MS)
    assert tree_view.model.rowCount(fleet) == FETCH_BATCH  # nothing on screen asked for more
    tree_view.view.scrollTo(tree_view.model.index(FETCH_BATCH - 1, 0, fleet))
    qtbot.waitUntil(lambda: tree_view.model.rowCount(fleet) == total, timeout=WAIT_MS)
    assert tree_view.model.index(total - 1, 0, fleet).data() == f"device-{total - 1}"
    assert assert_models_synced(tree_view.model) == len(tree_view.tree)
