"""Three regional brokers joined by bridges: a request crosses the mesh and its reply comes back elsewhere."""

from __future__ import annotations

import asyncio

from core.profile import ConnectionProfile
from core.replier import Replier
from core.session import MqttSession
from core.workspace import Workspace
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
    workspace = Workspace(connections_in_process=True)
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
        publish_raw(mosquitto_mesh["us-west"].port, [("us-west/hello/request", b"crossing")])
        publish_raw(mosquitto_mesh["us-west"].port, [("us-west/local/only", b"stays")])
        forest = workspace.tree

        def seen_on(topic: str) -> set[str]:
            workspace.tick()
            return {broker for broker in MESH_REGIONS if forest.node(topic, broker) is not None}

        wait_until(lambda: seen_on("us-west/hello/request") == set(MESH_REGIONS), message="the request on all three")
        assert seen_on("us-west/local/only") == {"us-west"}  # not bridged
    finally:
        workspace.close()
