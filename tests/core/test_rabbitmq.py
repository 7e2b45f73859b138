"""A second, independent broker implementation: RabbitMQ's MQTT plugin (MQTT 3.1.1 only in 3.10).

The ``rabbitmq`` fixture (tests/conftest.py) starts it once per run on loopback ports.
"""

from __future__ import annotations

import asyncio

import pytest

from eventscope.core.connections.remote import RemoteConnector
from eventscope.core.models.stream_filter import StreamFilter
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import MQTT_V311, ConnectionProfile
from eventscope.core.requests.replier import Replier
from eventscope.core.workspace.workspace import Workspace
from tests.conftest import wait_until

pytestmark = pytest.mark.rabbitmq


def test_tree_stream_and_uncorrelated_request_reply_on_rabbitmq(rabbitmq):
    profile = ConnectionProfile(name="rabbit", host="127.0.0.1", port=rabbitmq, mqtt_version=MQTT_V311)
    replier_session = MqttSession(profile.with_changes(name="replier"), buffer_messages=False)
    replier_session.start()
    assert replier_session.wait_connected(10), replier_session.status
    replier = Replier(replier_session, topic_filter="+/hello/request", handler=lambda record: b"pong")
    replier.start().result(10)
    workspace = Workspace(connector=RemoteConnector())
    try:
        stream_id = workspace.add_stream(StreamFilter("+/hello/request"))
        connection = workspace.add_broker(profile, subscriptions=("#",))
        assert connection.session.wait_connected(10), connection.session.status
        wait_until(lambda: connection.session.subscriptions == {"#": 0}, message="subscribed")
        # 3.1.1 has no correlation data: the fixed reply topic's next message is the reply.
        reply = asyncio.run(connection.tracker.request("us-east/hello/request", b"ping", timeout=10))
        assert reply.payload == b"pong" and not reply.correlated and reply.reply_topic == "hello/response"
        rows = []

        def seen() -> bool:
            summary = workspace.tick()
            rows.extend(r.topic for d in summary.stream_deltas(stream_id) for r in d.appended)
            return workspace.tree.node("hello/response", "rabbit") is not None and rows
        wait_until(seen, message="the request and reply in the tree and the stream")
        assert rows == ["us-east/hello/request"]
        assert workspace.tree.node("us-east/hello/request", "rabbit").count == 1
    finally:
        workspace.close()
        replier.stop()
        replier_session.stop()
