"""The embedded demo: its broker, simulator and replier, on both broker backends."""

from __future__ import annotations

import json

import pytest

from eventscope.core.demo.embedded_broker import find_mosquitto
from eventscope.core.demo.environment import DemoEnvironment
from eventscope.core.demo.simulator import DEMO_REGIONS
from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import ConnectionProfile
from eventscope.core.records import MessageProperties
from tests.conftest import REQUIRE_MOSQUITTO, wait_until

BACKENDS = [
    "iotcore",
    pytest.param("mosquitto", marks=pytest.mark.skipif(find_mosquitto() is None and not REQUIRE_MOSQUITTO,
                                                        reason="mosquitto is not installed")),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_demo_traffic_covers_every_region_and_requests_get_replies(backend):
    with DemoEnvironment(backend=backend) as demo:
        assert demo.broker.backend == backend
        watcher = MqttSession(ConnectionProfile(port=demo.broker.port), buffer=IngestBuffer())
        watcher.subscribe("#")
        watcher.start()
        try:
            assert watcher.wait_connected(10), watcher.status
            seen = []

            def all_regions_and_a_reply() -> bool:
                seen.extend(watcher.buffer.drain())
                regions = {r.topic.split("/")[0] for r in seen if r.topic.endswith("/hello/request")}
                return regions == set(DEMO_REGIONS) and any(r.topic.endswith("/hello/response") for r in seen)

            wait_until(all_regions_and_a_reply, 15, message="requests from four regions and a reply")
            replies = [r for r in seen if r.topic.endswith("/hello/response")]
            requests = {r.properties.correlation_data: r for r in seen if r.topic.endswith("/hello/request")}
            reply = next(r for r in replies if r.properties.correlation_data in requests)
            body = json.loads(reply.payload)
            request = requests[reply.properties.correlation_data]
            assert body["region"] == request.topic.split("/")[0]
            assert json.loads(body["request"]) == json.loads(request.payload)
        finally:
            watcher.stop()
    assert not demo.broker.is_running


def test_demo_broker_round_trips_mqtt5_properties():
    with DemoEnvironment() as demo:
        session = MqttSession(ConnectionProfile(port=demo.broker.port), buffer=IngestBuffer())
        session.start()
        try:
            assert session.wait_connected(10)
            session.subscribe("probe/#").result(10)
            session.publish("probe/x", b"1", qos=1, properties=MessageProperties(
                response_topic="probe/reply", correlation_data=b"\x00\x01")).result(10)
            got = []
            wait_until(lambda: got.extend(session.buffer.drain()) or got, 10, message="probe message")
            assert got[0].properties.response_topic == "probe/reply"
            assert got[0].properties.correlation_data == b"\x00\x01"
        finally:
            session.stop()
