"""The session's hand-offs to other threads: taps (copy-on-write) and the manual-ack buffer (never drops)."""

from __future__ import annotations

import pytest

from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import ConnectionProfile
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
