"""The core workspace against a real Mosquitto, with no QApplication: one tick, one exact change summary."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from eventscope.core.audit.recorder import FlushSummary
from eventscope.core.audit.store import AuditStore
from eventscope.core.connections.handle import AuditSettings
from eventscope.core.connections.priority import CONNECTION_NICE
from eventscope.core.connections.remote import RemoteConnector
from eventscope.core.models.stream import Stream
from eventscope.core.models.stream_filter import StreamFilter
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import ConnectionProfile
from eventscope.core.records import MessageRecord
from eventscope.core.requests.replier import Replier
from eventscope.core.workspace.workspace import Workspace
from tests.conftest import publish_raw, wait_until


@pytest.fixture
def workspace():
    ws = Workspace()
    yield ws
    ws.close()


def connect(workspace: Workspace, port: int, **options):
    connection = workspace.add_broker(ConnectionProfile(name="ws", host="127.0.0.1", port=port), subscriptions=(),
                                      **options)
    assert connection.session.wait_connected(10), connection.session.status
    connection.session.subscribe("#").result(10)
    return connection


def test_one_tick_reports_exact_rows_and_evictions(workspace, mosquitto):
    stream_id = workspace.add_stream(StreamFilter("+/hello/request"), capacity=5)
    connection = connect(workspace, mosquitto.port)
    requests = [(f"{('us-east', 'eu-west')[i % 2]}/hello/request", f"r{i}".encode()) for i in range(8)]
    publish_raw(mosquitto.port, requests + [("us-east/telemetry/t1", b"21.5")])
    wait_until(lambda: connection.buffer.stats().received == 9, message="nine records buffered")

    summary = workspace.tick()
    assert summary.messages == 9
    broker_root, *created = summary.tree.created  # the broker's own root first: one root per broker
    assert broker_root.name == "ws" and broker_root.parent is workspace.tree.root
    assert {node.topic for node in created} == {
        "us-east", "eu-west", "us-east/hello", "eu-west/hello", "us-east/hello/request", "eu-west/hello/request",
        "us-east/telemetry", "us-east/telemetry/t1"}
    assert summary.tree.inserted == [(workspace.tree.root, 0, 0)]  # the new broker row covers its subtree
    assert set(summary.new_regions) == {"us-east", "eu-west"}
    (delta,) = summary.stream_deltas(stream_id)
    # Capacity 5: the first three requests were evicted within the same pass and never shown.
    assert delta.reset is None and delta.evicted == 0
    assert [r.payload for r in delta.appended] == [b"r3", b"r4", b"r5", b"r6", b"r7"]
    assert {(c.region, c.count) for c in delta.regions} == {("us-east", 4), ("eu-west", 4)}
    assert summary.broker("ws").received == 9 and summary.dropped == 0

    publish_raw(mosquitto.port, [("eu-west/hello/request", f"n{i}".encode()) for i in range(3)])
    wait_until(lambda: connection.buffer.stats().received == 12, message="three more")
    summary = workspace.tick()
    (delta,) = summary.stream_deltas(stream_id)
    assert delta.evicted == 3 and [r.payload for r in delta.appended] == [b"n0", b"n1", b"n2"]
    assert summary.tree.created == [] and summary.tree.inserted == []
    assert workspace.tree.node("eu-west/hello/request") in summary.tree.updated
    assert [r.payload for r in workspace.stream(stream_id).records()] == [b"r6", b"r7", b"n0", b"n1", b"n2"]


def test_stream_commands_run_on_the_tick_and_come_back_as_a_reset(workspace):
    stream_id = workspace.add_stream(StreamFilter("+/hello/request"))
    workspace.feed(MessageRecord(f"{region}/hello/request", region.encode()) for region in ("a", "b", "a", "c"))
    assert [len(d.appended) for d in workspace.tick().stream_deltas(stream_id)] == [4]
    done = workspace.change_stream(stream_id, lambda stream: stream.set_regions({"a"}))
    assert not done.done()  # nothing changes until the tick thread runs it
    (delta,) = workspace.tick().stream_deltas(stream_id)
    assert done.done() and [r.payload for r in delta.reset] == [b"a", b"a"]
    workspace.change_stream(stream_id, Stream.pause)
    workspace.feed([MessageRecord("a/hello/request", b"later")])
    (delta,) = workspace.tick().stream_deltas(stream_id)
    assert delta.paused and delta.waiting == 1 and not delta.appended
    workspace.change_stream(stream_id, Stream.resume)
    (delta,) = workspace.tick().stream_deltas(stream_id)
    assert [r.payload for r in delta.appended] == [b"later"] and delta.evicted == 0


def test_audit_commits_reach_the_summary_with_their_pairing(workspace, mosquitto, tmp_path):
    db = tmp_path / "audit.sqlite3"
    connection = connect(workspace, mosquitto.port, audit=AuditSettings(db))
    assert connection.recorder.wait_ready(10)
    publish_raw(mosquitto.port, [("us-east/hello/request", b"ping"), ("us-east/hello/response", b"pong")],
            [{"ResponseTopic": "us-east/hello/response", "CorrelationData": b"c1"}, {"CorrelationData": b"c1"}])
    rows, pairings = [], []

    def committed() -> bool:
        for delta in workspace.tick().audit:
            rows.extend(delta.rows)
            pairings.extend(delta.pairings)
        return len(rows) == 2

    wait_until(committed, message="two committed rows")
    assert [(r.kind, r.topic, r.payload) for r in rows] == [
        ("request", "us-east/hello/request", b"ping"), ("reply", "us-east/hello/response", b"pong")]
    assert [(p.request_id, p.reply_id) for p in pairings] == [(rows[0].id, rows[1].id)]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT reply_id FROM messages WHERE id=?", (rows[0].id,)).fetchone() == (rows[1].id,)


def test_audit_results_keep_the_store_they_were_committed_to_when_the_audit_moves(tmp_path):
    """Results cross the child's pipe and wait for a tick: by then the connection may record elsewhere,
    or nowhere. Each result says where it was committed; the feed is told that, not the current store."""
    old_path, new_path = tmp_path / "old.sqlite3", tmp_path / "new.sqlite3"
    old, new = AuditStore(old_path), AuditStore(new_path)
    try:
        def committed(store: AuditStore, path, *payloads: bytes) -> FlushSummary:
            result = store.write_batch([MessageRecord("us-east/hello/request", p, qos=1) for p in payloads])
            return FlushSummary(len(payloads), result.inserted, result=result, database=path)

        results = [committed(old, old_path, b"a1", b"a2"), committed(old, old_path, b"a3"),
                   committed(new, new_path, b"b1")]
        deltas = Workspace._audit_deltas("east", new_path, results)  # the connection already records into new
        assert [(d.path, [r.payload for r in d.rows], d.committed) for d in deltas] == [
            (old_path, [b"a1", b"a2", b"a3"], 3), (new_path, [b"b1"], 1)]
        stopped = Workspace._audit_deltas("east", None, results[:1])  # recording stopped before the tick
        assert [(d.path, len(d.rows)) for d in stopped] == [(old_path, 2)]
    finally:
        old.close()
        new.close()


def test_worker_thread_waits_for_each_summary_to_be_taken(workspace):
    """Backpressure: a window that does not take summaries never has more than one waiting."""
    workspace.interval = 0.001
    workspace.feed([MessageRecord("x/1", b"1")])
    workspace.start()
    wait_until(lambda: workspace._summary is not None, message="a first summary")
    workspace.feed([MessageRecord("x/2", b"2")])
    first = workspace.take_summary()
    assert (first.tick, first.messages) == (1, 1)  # x/2 was not ticked while this summary waited
    wait_until(lambda: workspace._summary is not None, message="the next summary")
    assert workspace.take_summary().messages == 1
    merged = workspace.tick_now()
    assert merged is not None and merged.messages == 0


def test_a_summary_taken_until_applied_holds_the_next_tick_until_the_window_says_so(workspace, monkeypatch):
    """A window applies each summary on its own thread; a tick running meanwhile would take the interpreter lock
    from it at every call from Qt into Python. The next tick waits for it, but not for ever."""
    import concurrent.futures

    import eventscope.core.workspace.workspace as workspace_module

    monkeypatch.setattr(workspace_module, "APPLY_WAIT", 30.0)  # longer than any wait below
    workspace.interval = 0.001
    workspace.feed([MessageRecord("x/1", b"1")])
    workspace.start()
    wait_until(lambda: workspace._summary is not None, message="a first summary")
    assert workspace.take_summary(until_applied=True).messages == 1
    ticked = workspace.post(lambda: "ticked")  # runs in the next tick
    with pytest.raises(concurrent.futures.TimeoutError):
        ticked.result(timeout=0.3)  # held: the window is still applying
    workspace.summary_applied()
    assert ticked.result(timeout=5) == "ticked"

    monkeypatch.setattr(workspace_module, "APPLY_WAIT", 0.05)  # a window that never says so
    wait_until(lambda: workspace._summary is not None, message="the next summary")
    assert workspace.take_summary(until_applied=True) is not None
    assert workspace.post(lambda: "anyway").result(timeout=5) == "anyway"


def test_connections_in_a_child_process_behave_like_local_ones(mosquitto, tmp_path):
    connector = RemoteConnector()
    workspace = Workspace(connector=connector)
    try:
        connection = workspace.add_broker(ConnectionProfile(name="child", host="127.0.0.1", port=mosquitto.port),
                                          audit=AuditSettings(tmp_path / "a.sqlite3", ("+/hello/request",)))
        assert connection.session.wait_connected(10), connection.session.status
        connection.opened.result(10)
        assert connection.recorder.wait_ready(10)
        pid = connector.pid
        assert pid != os.getpid()
        connection.session.subscribe("extra/#").result(10)
        assert "extra/#" in connection.session.subscriptions
        connection.session.publish("us-east/hello/request", b"from the window", qos=1).result(10)
        applied, committed = [], []

        def caught_up() -> bool:
            summary = workspace.tick()
            applied.extend(node.topic for node in summary.tree.created)
            committed.extend(row.payload for delta in summary.audit for row in delta.rows)
            return "us-east/hello/request" in applied and committed == [b"from the window"]

        wait_until(caught_up, message="the record in the tree and in the audit")
        assert workspace.tree.node("us-east/hello/request").count == 1
    finally:
        workspace.close()
    assert connector.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_connection_process_per_broker_runs_each_broker_apart_and_ends_them_all(mosquitto_mesh, tmp_path):
    connector = RemoteConnector(per_broker=True)
    workspace = Workspace(connector=connector)
    regions = sorted(mosquitto_mesh)
    try:
        connections = [workspace.add_broker(ConnectionProfile(name=region, host="127.0.0.1",
                                                              port=mosquitto_mesh[region].port))
                       for region in regions]
        for connection in connections:
            assert connection.session.wait_connected(10), connection.session.status
        pids = connector.pids
        assert len(set(pids)) == len(regions) and os.getpid() not in pids
        for connection, region in zip(connections, regions):
            connection.session.publish(f"{region}/telemetry/one", region.encode()).result(10)

        def both_arrived() -> bool:
            workspace.tick()
            return all(workspace.tree.node(f"{region}/telemetry/one", connection.broker_id) is not None
                       for connection, region in zip(connections, regions))

        wait_until(both_arrived, message="each broker's message from its own process")
    finally:
        workspace.close()
    assert connector.pids == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="POSIX niceness")
def test_the_connection_process_and_every_thread_of_it_run_below_the_window(mosquitto):
    window_nice = os.getpriority(os.PRIO_PROCESS, 0)
    connector = RemoteConnector()
    workspace = Workspace(connector=connector)
    try:
        connection = workspace.add_broker(ConnectionProfile(name="nice", host="127.0.0.1", port=mosquitto.port))
        assert connection.session.wait_connected(10), connection.session.status
        pid = connector.pid
        assert pid is not None and pid != os.getpid()
        threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
        assert len(threads) >= 3  # the main thread, paho's network thread, the sender...
        expected = min(19, window_nice + CONNECTION_NICE)
        assert {tid: os.getpriority(os.PRIO_PROCESS, tid) for tid in threads} == dict.fromkeys(threads, expected)
        assert os.getpriority(os.PRIO_PROCESS, 0) == window_nice  # the window keeps its own
    finally:
        workspace.close()


def test_request_through_the_child_process_gets_its_reply(mosquitto, qloop_free):
    import asyncio

    replier_session = MqttSession(ConnectionProfile(host="127.0.0.1", port=mosquitto.port), buffer_messages=False)
    replier_session.start()
    assert replier_session.wait_connected(10)
    replier = Replier(replier_session, handler=lambda record: b"pong:" + record.payload)
    replier.start().result(10)
    workspace = Workspace(connector=RemoteConnector())
    try:
        connection = workspace.add_broker(ConnectionProfile(name="rq", host="127.0.0.1", port=mosquitto.port))
        assert connection.session.wait_connected(10)
        reply = asyncio.run(connection.tracker.request("us-east/hello/request", b"ping", timeout=5))
        assert reply.payload == b"pong:ping" and reply.correlated and reply.rtt > 0
        assert reply.reply_topic == connection.tracker.default_reply_topic()
    finally:
        workspace.close()
        replier.stop()
        replier_session.stop()


@pytest.fixture
def qloop_free():
    """asyncio.run needs no loop of the test's."""
    return None


def test_child_stores_and_acks_what_arrived_when_the_window_is_killed(mosquitto, tmp_path):
    """kill -9 of the window's process: the child sees its pipe close, commits, acks and exits;
    a recorder started again on the same database gets the rest from the broker."""
    db = tmp_path / "a.sqlite3"
    script = textwrap.dedent(f"""
        import sys, threading
        from eventscope.core.profile import ConnectionProfile
        from eventscope.core.connections.handle import AuditSettings
        from eventscope.core.connections.remote import RemoteConnector
        from eventscope.core.workspace.workspace import Workspace
        if __name__ == "__main__":
            connector = RemoteConnector()
            ws = Workspace(connector=connector)
            c = ws.add_broker(ConnectionProfile(name="k", host="127.0.0.1", port={mosquitto.port}),
                              audit=AuditSettings(r"{db}", ("k/+/request",)))
            c.opened.result(10)
            assert c.recorder.wait_ready(10)
            print(connector.pid, flush=True)
            threading.Event().wait()  # until the test kills this process
    """)
    window = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child_pid = int(window.stdout.readline())
    publish_raw(mosquitto.port, [(f"k/{i % 3}/request", f"m{i}".encode()) for i in range(300)])
    window.send_signal(signal.SIGKILL)
    window.wait(10)

    def gone() -> bool:
        try:
            os.kill(child_pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(gone, timeout=20, message="the orphaned child to exit")

    def stored() -> set[bytes]:
        with sqlite3.connect(db) as conn:
            return {bytes(p) for (p,) in conn.execute("SELECT payload FROM messages WHERE duplicate=0")}

    before = len(stored())
    assert before > 0  # the child committed what it had
    workspace = Workspace()
    try:
        workspace.add_broker(ConnectionProfile(name="k", host="127.0.0.1", port=mosquitto.port), subscriptions=(),
                             audit=AuditSettings(db, ("k/+/request",)))
        wait_until(lambda: len(stored()) == 300, timeout=20, message="every message stored after the restart")
    finally:
        workspace.close()


def test_two_brokers_are_two_roots_and_removing_one_removes_its_root(workspace, mosquitto_factory):
    east, west = mosquitto_factory(), mosquitto_factory()
    for name, broker in (("east", east), ("west", west)):
        connection = workspace.add_broker(ConnectionProfile(name=name, host="127.0.0.1", port=broker.port),
                                          subscriptions=())
        assert connection.session.wait_connected(10)
        connection.session.subscribe("#").result(10)
    publish_raw(east.port, [("shared/topic", b"from east")])
    publish_raw(west.port, [("shared/topic", b"from west"), ("shared/topic", b"again")])
    forest = workspace.tree
    wait_until(lambda: workspace.tick() and forest.total_messages == 3, message="three messages in the forest")
    assert [node.name for node in forest.root.child_list] == ["east", "west"] or \
        [node.name for node in forest.root.child_list] == ["west", "east"]
    east_node, west_node = forest.node("shared/topic", "east"), forest.node("shared/topic", "west")
    assert east_node is not west_node
    assert (east_node.count, east_node.last.payload) == (1, b"from east")
    assert (west_node.count, west_node.last.payload) == (2, b"again")
    assert forest.broker_id_of(west_node) == "west"

    east_root = forest.trees["east"].root
    workspace.remove_broker("east")
    summary = workspace.tick()
    assert summary.tree.removed == [east_root]
    assert [node.name for node in forest.root.child_list] == ["west"] and forest.root.live_count == 1
    assert forest.node("shared/topic", "east") is None and forest.node("shared/topic") is west_node
    publish_raw(west.port, [("shared/topic", b"west goes on")])
    wait_until(lambda: workspace.tick() and west_node.count == 3, message="west undisturbed")


def test_a_sparkplug_flood_checks_every_seq_but_converts_only_the_newest_data(workspace):
    from eventscope.core.sparkplug.payload import MetricValue, encode_payload

    birth = encode_payload([MetricValue(1.0, "Double", name="flow", alias=1)], seq=0)
    data = [encode_payload([MetricValue(float(v), "Double", alias=1)], seq=seq) for v, seq in ((2, 1), (3, 2), (4, 4))]
    topic = "spBv1.0/plant/{}/edge/pump"
    workspace.feed([MessageRecord(topic.format("DBIRTH"), birth, broker_id="b", received=1.0)] +
                   [MessageRecord(topic.format("DDATA"), payload, broker_id="b", received=2.0 + i)
                    for i, payload in enumerate(data)])
    wait_until(lambda: workspace.tick() is not None and workspace.tree.node("spBv1.0/plant/metrics/edge/pump/flow", "b"),
               message="the metric node")
    node = workspace.sparkplug.node("b", "plant", "edge")
    assert node.seq_gaps == 1 and node.last_seq == 4  # every DATA's seq was checked (2 → 4 is a gap)
    metric = workspace.tree.node("spBv1.0/plant/metrics/edge/pump/flow", "b")
    assert [m.payload for m in metric.history] == [b"1.0", b"4.0"]  # the BIRTH, then only the newest DATA
    assert workspace.sparkplug.device("b", "plant", "edge", "pump").last_values == {"flow": 4.0}


def test_a_broker_opened_again_under_its_name_at_once_gets_its_own_records(mosquitto):
    """Disconnect and connect again before the child has answered the close: what the child still sends
    about the earlier connection stays with it, and the new one receives its own messages."""
    workspace = Workspace(connector=RemoteConnector())
    try:
        profile = ConnectionProfile(name="again", host="127.0.0.1", port=mosquitto.port)
        first = workspace.add_broker(profile, subscriptions=(("a/#", 0),))
        assert first.session.wait_connected(10)
        workspace.remove_broker("again", keep_topics=True)
        second = workspace.add_broker(profile)  # the same name, before the close was answered
        wait_until(lambda: first.closed, message="the first one closed")
        assert second.session.wait_connected(10)
        second.session.subscribe("a/#").result(10)
        publish_raw(mosquitto.port, [("a/b", b"for the second")])
        seen: list[bytes] = []
        wait_until(lambda: seen.extend(r.payload for r in second.buffer.drain()) or b"for the second" in seen,
                   message="the second connection's record")
        assert first.buffer.drain() == []
    finally:
        workspace.close()


def test_the_tick_hands_freed_memory_back_once_after_a_tree_shortened_its_history(workspace, monkeypatch):
    import eventscope.core.workspace.workspace as workspace_module

    handed_back = []
    monkeypatch.setattr(workspace_module, "return_freed_memory", lambda: handed_back.append(True) or True)
    workspace.feed(MessageRecord(f"plant/line-{i}", b"x" * 1_000) for i in range(50) for _ in range(4))
    workspace.tick()
    assert handed_back == []  # 200 KB of history: well within the default budget
    workspace.set_history_budget(60_000)  # every ring shortened at once, on the next tick
    workspace.tick()
    assert len(handed_back) == 1
    workspace.feed([MessageRecord("plant/line-0", b"y")])
    workspace.tick()
    assert len(handed_back) == 1  # nothing more was let go of
