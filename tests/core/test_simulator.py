"""The demo simulator publishes every kind of traffic the views need, from all four regions."""

from __future__ import annotations

import json

from eventscope.core.demo.simulator import DEMO_REGIONS, SimulatorRates, TrafficSimulator
from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.payload_text import decode_utf8
from eventscope.core.profile import ConnectionProfile
from tests.conftest import wait_until


def test_simulator_covers_regions_requests_telemetry_retained_and_binary(mosquitto):
    monitor = MqttSession(ConnectionProfile(port=mosquitto.port), buffer=IngestBuffer())
    monitor.subscribe("#")
    monitor.start()
    assert monitor.wait_connected(10)
    simulator = TrafficSimulator("127.0.0.1", mosquitto.port, seed=7,
                                 rates=SimulatorRates(requests_per_second=20, telemetry_interval=0.5, binary_interval=0.2))
    simulator.start()
    seen = []

    def complete() -> bool:
        seen.extend(monitor.buffer.drain())
        request_regions = {r.topic.split("/")[0] for r in seen if r.topic.endswith("/hello/request")}
        return request_regions == set(DEMO_REGIONS) and any(decode_utf8(r.payload) is None for r in seen)

    try:
        wait_until(complete, 15, message="requests from every region and a binary payload")
    finally:
        simulator.stop()
        monitor.stop()
    requests = [r for r in seen if r.topic.endswith("/hello/request")]
    assert all(r.properties.correlation_data and r.properties.response_topic == f"{r.topic.split('/')[0]}/hello/response"
               for r in requests)
    assert len({r.properties.correlation_data for r in requests}) == len(requests)
    metrics = [r for r in seen if r.topic.endswith("/metrics")]
    assert {r.topic.split("/")[0] for r in metrics} == set(DEMO_REGIONS)
    assert isinstance(json.loads(metrics[0].payload)["cpu"], float)
    assert {r.topic for r in seen if r.topic.endswith("/status")} == {f"{region}/status" for region in DEMO_REGIONS}
    assert simulator.published >= len(seen) - 1
