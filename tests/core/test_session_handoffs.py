"""The session's hand-offs to other threads: taps (copy-on-write) and the manual-ack buffer (never drops)."""

from __future__ import annotations

import pytest

from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import MQTT_V5, MQTT_V311, ConnectionProfile
from tests.conftest import publish_raw, wait_until


def test_a_tap_removed_during_delivery_does_not_hide_the_next_tap(mosquitto):
    session = MqttSession(ConnectionProfile(port=mosquitto.port))
    seen_by_second: list[str] = []

    def first(record):
        session.remove_tap(first)  # a list mutated in place would skip the tap after this one

    session.add_tap(first)
    session.add_tap(lambda record: seen_by_second.append(record.topic))
    session.start()
    try:
        assert session.wait_connected(10)
        session.subscribe("t/#").result(5)
        publish_raw(mosquitto.port, [("t/1", b"a"), ("t/2", b"b")])
        wait_until(lambda: len(seen_by_second) == 2, 5, message="both messages at the second tap")
        assert seen_by_second == ["t/1", "t/2"]
    finally:
        session.stop()


def test_a_manual_ack_session_never_gets_a_buffer_that_drops():
    with pytest.raises(ValueError, match="blocks when full"):
        MqttSession(ConnectionProfile(), buffer=IngestBuffer(10), manual_ack=True)
    assert MqttSession(ConnectionProfile(), manual_ack=True).buffer.block_when_full


@pytest.mark.parametrize("version", [MQTT_V5, MQTT_V311])
def test_acks_sent_as_one_write_settle_exactly_the_messages_acked(mosquitto, version):
    """Mosquitto sends at most 20 unacknowledged QoS 1 messages; when the persistent session resumes it
    redelivers what was not acknowledged, and only that."""
    profile = ConnectionProfile(port=mosquitto.port, client_id=f"acks-{version}", clean_start=False,
                                session_expiry=300, mqtt_version=version)

    def take(session: MqttSession, count: int, ack: bool) -> list:
        records: list = []

        def more() -> bool:
            fresh = session.buffer.drain()
            if ack:
                session.ack_many(fresh)
            records.extend(fresh)
            return len(records) >= count

        wait_until(more, 10, message=f"{count} messages")
        return records

    first = MqttSession(profile, manual_ack=True)
    first.start()
    try:
        assert first.wait_connected(10)
        first.subscribe("acks/#", qos=1).result(5)
        publish_raw(mosquitto.port, [(f"acks/{i}", str(i).encode()) for i in range(50)])
        assert len(take(first, 50, ack=True)) == 50  # past the first 20 only as acks free the window
        publish_raw(mosquitto.port, [(f"acks/{i}", str(i).encode()) for i in range(50, 65)])
        held = take(first, 15, ack=False)
        first.ack_many(held[:10])
        first.ack_many([])  # nothing to send: no packet
        first.subscribe("acks-done", qos=1).result(5)  # answered after the broker read the acks before it
    finally:
        first.stop()
    second = MqttSession(profile, manual_ack=True)
    second.start()
    try:
        assert second.wait_connected(10)
        again = take(second, 5, ack=True)
        assert sorted(int(r.payload) for r in again) == list(range(60, 65))
        assert all(r.dup for r in again)
    finally:
        second.stop()
