"""Three regional brokers joined by bridges: a request crosses the mesh and its reply comes back elsewhere."""

from __future__ import annotations

import asyncio

from eventscope.core.connections.remote import RemoteConnector
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import ConnectionProfile
from eventscope.core.requests.replier import Replier
from eventscope.core.workspace.workspace import Workspace
from tests.conftest import MESH_REGIONS, publish_raw, wait_until


def _open_mesh(workspace: Workspace, mesh) -> None:
    for region in MESH_REGIONS:
        connection = workspace.add_broker(ConnectionProfile(name=region, host="127.0.0.1", port=mesh[region].port),
                                          subscriptions=())
        assert connection.session.wait_connected(10), connection.session.status
        connection.session.subscribe("#").result(10)


def test_a_request_sent_on_us_east_is_answered_from_us_west(mosquitto_mesh):
    west = MqttSession(ConnectionProfile(name="replier", host="127.0.0.1", port=mosquitto_mesh["us-west"].port),
                       buffer_messages=False)
    west.start()
    assert west.wait_connected(10)
    replier = Replier(west, topic_filter="+/hello/request", handler=lambda record: b"hello from us-west")
    replier.start().result(10)
    workspace = Workspace(connector=RemoteConnector())
    try:
        _open_mesh(workspace, mosquitto_mesh)
        tracker = workspace.broker("us-east").tracker
        reply = asyncio.run(tracker.request("us-east/hello/request", b"hi", timeout=10))
        assert reply.payload == b"hello from us-west" and reply.correlated
        assert (reply.sent_on, reply.received_on) == ("us-east", "us-west")
        assert reply.rtt > 0
    finally:
        workspace.close()
        replier.stop()
        west.stop()


def test_a_bridged_message_is_seen_on_every_broker_it_crosses(mosquitto_mesh):
    workspace = Workspace()
    try:
        _open_mesh(workspace, mosquitto_mesh)
        # The local one first: by the time the bridged one is seen everywhere, the local one (earlier, on the
        # same broker and bridge connections) is in too, wherever it went.
        publish_raw(mosquitto_mesh["us-west"].port, [("us-west/local/only", b"stays")])
        publish_raw(mosquitto_mesh["us-west"].port, [("us-west/hello/request", b"crossing")])
        forest = workspace.tree

        def seen_on(topic: str) -> set[str]:
            workspace.tick()
            return {broker for broker in MESH_REGIONS if forest.node(topic, broker) is not None}

        wait_until(lambda: seen_on("us-west/hello/request") == set(MESH_REGIONS), message="the request on all three")
        assert seen_on("us-west/local/only") == {"us-west"}  # not bridged
    finally:
        workspace.close()


def test_the_audit_holds_one_entry_per_bridged_message_with_each_arrival(mosquitto_mesh, tmp_path):
    import sqlite3

    from eventscope.core.connections.handle import AuditSettings

    db = tmp_path / "workspace.sqlite3"
    workspace = Workspace()
    try:
        for region in MESH_REGIONS:
            connection = workspace.add_broker(
                ConnectionProfile(name=region, host="127.0.0.1", port=mosquitto_mesh[region].port), subscriptions=(),
                audit=AuditSettings(db, ("+/hello/request",)))
            connection.opened.result(10)
            assert connection.recorder.wait_ready(10), connection.audit_notice
        publish_raw(mosquitto_mesh["us-west"].port, [("us-west/hello/request", b"crossing")],
                    [{"ResponseTopic": "us-west/hello/response", "CorrelationData": b"x1"}])
        sightings = []

        def seen_everywhere() -> bool:
            for delta in workspace.tick().audit:
                sightings.extend(delta.sightings)
            return len(sightings) == 2

        wait_until(seen_everywhere, message="the request seen on all three brokers")
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT COUNT(*) FROM messages").fetchone() == (1,)  # one entry
        from eventscope.core.audit.store import AuditQuery, AuditStore

        reader = AuditStore.open_reader(db)
        (row,) = reader.page_before(AuditQuery(), None, 10)
        reader.close()
        # Arrival order within a millisecond depends on thread scheduling: check the hops, not their order.
        assert {broker for broker, _ in row.path} == set(MESH_REGIONS)
        assert row.path_text().count(" → ") == 2 and " +0 ms" in row.path_text()
    finally:
        workspace.close()


def test_cli_request_crosses_the_mesh_to_a_cli_replier(mosquitto_mesh):
    import subprocess
    import sys

    eventscope = [sys.executable, "-m", "eventscope"]
    east, west = mosquitto_mesh["us-east"].port, mosquitto_mesh["us-west"].port
    replier = subprocess.Popen(eventscope + ["reply", "--port", str(west), "--filter", "+/hello/request",
                                             "--reply-payload", "pong from us-west"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "serving +/hello/request" in replier.stderr.readline()  # printed once its SUBACK is in
        ask = eventscope + ["request", "--broker", f"us-east=127.0.0.1:{east}", "--topic", "us-east/hello/request",
                            "--payload", "ping", "--timeout", "5"]
        answered = subprocess.run(ask + ["--reply-broker", f"us-west=127.0.0.1:{west}"], capture_output=True,
                                  text=True, timeout=60)
        assert answered.returncode == 0, answered.stderr
        assert answered.stdout == "pong from us-west\n"
        assert " via us-west in " in answered.stderr and " ms" in answered.stderr
        # Without the reply broker the reply never comes back to us-east: the mesh only bridges +/hello/#.
        alone = subprocess.run(ask[:-2] + ["--timeout", "1"], capture_output=True, text=True, timeout=60)
        assert alone.returncode == 1 and "No reply" in alone.stderr
    finally:
        replier.terminate()
        replier.wait(10)


def test_cli_audit_record_over_the_mesh_keeps_one_entry_per_bridged_message(mosquitto_mesh, tmp_path):
    import signal
    import sqlite3
    import subprocess
    import sys

    db = tmp_path / "mesh.sqlite3"
    brokers = [arg for region in ("us-east", "us-west") for arg in
               ("--broker", f"{region}=127.0.0.1:{mosquitto_mesh[region].port}")]
    recorder = subprocess.Popen([sys.executable, "-m", "eventscope", "audit", "record", *brokers,
                                 "--filter", "+/hello/request", "--db", str(db)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = recorder.stdout.readline()
        assert "audit recorder ready" in ready and "brokers=us-east,us-west" in ready, ready + recorder.stderr.read()
        publish_raw(mosquitto_mesh["us-west"].port, [("us-west/hello/request", f"r{i}".encode()) for i in range(5)],
                    [{"CorrelationData": f"c{i}".encode(), "ResponseTopic": "x/reply"} for i in range(5)])

        def counts() -> tuple[int, int]:
            with sqlite3.connect(db) as conn:
                return (conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0],
                        conn.execute("SELECT COUNT(*) FROM sightings").fetchone()[0])

        wait_until(lambda: counts() == (5, 5), message="five entries, each seen on both brokers")
    finally:
        recorder.send_signal(signal.SIGTERM)
        out, _ = recorder.communicate(timeout=20)
    assert recorder.returncode == 0 and "5 rows written" in out
    with sqlite3.connect(db) as conn:
        assert {b for (b,) in conn.execute("SELECT broker FROM messages UNION SELECT broker FROM sightings")} == {
            "us-east", "us-west"}
