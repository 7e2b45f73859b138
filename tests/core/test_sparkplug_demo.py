"""The demo's Sparkplug edge node: births, data by alias, a seq gap, a DDEATH and re-BIRTH, as the decoder sees them."""

from __future__ import annotations

import random

import pytest

from eventscope.core.decoding.rules import DecoderRules
from eventscope.core.demo.simulator import SimulatorRates, TrafficSimulator
from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import ConnectionProfile
from eventscope.core.records import MessageRecord
from eventscope.core.sparkplug.edge import DEMO_DEVICES, EdgeTiming, SimulatedEdgeNode
from eventscope.core.sparkplug.payload import MetricValue, encode_payload
from tests.conftest import wait_until


def test_the_edge_node_session_decodes_by_name_with_a_gap_and_a_rebirth():
    edge = SimulatedEdgeNode(random.Random(1), EdgeTiming(data_interval=1.0, gap_every=3, rebirth_interval=10.0))
    rules = DecoderRules()
    decoded = {}
    for now in range(0, 16):
        batch = edge.birth(0.0) if now == 0 else edge.tick(float(now))
        for topic, payload in batch:
            decoded.setdefault(topic.split("/")[2], []).append((now, rules.observe(MessageRecord(topic, payload))))
    assert {d.value["metrics"][0]["name"] for _, d in decoded["DBIRTH"]} == {"Flow", "Force"}
    names = {m["name"] for _, d in decoded["DDATA"] for m in d.value["metrics"]}
    assert names == {name for metrics in DEMO_DEVICES.values() for name, _ in metrics}
    assert not any("no BIRTH" in name for name in names)
    gaps = [now for now, d in decoded["DDATA"] if any(n.startswith("seq gap") for n in d.notes)]
    assert gaps == [3, 6, 9, 12, 15]  # once per third round, on the round's first device
    ((death_at, death),) = decoded["DDEATH"]
    assert death_at == 10 and death.value["online"] == "offline"
    rebirth_at, rebirth = decoded["DBIRTH"][-1]
    assert rebirth_at == 13 and rebirth.value["online"] == "online"
    assert rules.sparkplug.device("", "demo-plant", "edge-1", "press-2").online


@pytest.mark.mosquitto
def test_the_demo_simulator_publishes_the_edge_node(mosquitto):
    monitor = MqttSession(ConnectionProfile(port=mosquitto.port), buffer=IngestBuffer())
    monitor.subscribe("spBv1.0/#")
    monitor.start()
    assert monitor.wait_connected(10)
    rates = SimulatorRates(requests_per_second=1, sparkplug=EdgeTiming(data_interval=0.05, gap_every=4))
    simulator = TrafficSimulator("127.0.0.1", mosquitto.port, seed=3, rates=rates)
    rules = DecoderRules()
    seen = []

    def named_data_and_a_gap() -> bool:
        seen.extend(rules.observe(record) for record in monitor.buffer.drain())
        data = [d for d in seen if "metrics" in (d.value or {}) and d.value["metrics"] and "alias" in d.value["metrics"][0]]
        return any(n.startswith("seq gap") for d in seen for n in d.notes) and any(
            d.value["metrics"][0].get("name") == "Flow" and "online" in d.value for d in data)

    simulator.start()
    try:
        wait_until(named_data_and_a_gap, 15, message="named DDATA and a seq gap from the demo edge node")
    finally:
        simulator.stop()
        monitor.stop()
    assert all(d.decoder == "sparkplug" and not d.error for d in seen)


def test_the_edge_node_answers_a_rebirth_request_with_every_birth():
    from eventscope.core.sparkplug.commands import edge_node_of, rebirth_command

    edge = SimulatedEdgeNode(random.Random(1), EdgeTiming(data_interval=1.0))
    edge.birth(0.0)
    topic, payload = rebirth_command("demo-plant", "edge-1")
    assert topic == edge.command_topic == "spBv1.0/demo-plant/NCMD/edge-1"
    answer = edge.command(topic, payload, 5.0)
    assert [t.split("/")[2] for t, _ in answer] == ["NBIRTH", "DBIRTH", "DBIRTH"]
    assert edge.command("spBv1.0/demo-plant/NCMD/edge-2", payload, 6.0) == []  # another node's command
    other = encode_payload([MetricValue(True, "Boolean", name="Node Control/Reboot")])
    assert edge.command(topic, other, 7.0) == []  # not a rebirth
    assert edge_node_of("spBv1.0/demo-plant/metrics/edge-1/pump-1/alias 1 (no BIRTH yet)") == ("demo-plant", "edge-1")
    assert edge_node_of("spBv1.0/demo-plant") is None and edge_node_of("plant/a/b/c") is None
