"""The session's own PUBLISH decoding (QoS 0 and 1) makes exactly the records paho's path makes: topic,
payload, QoS, retain, DUP, packet id and every MQTT 5 property, over both protocol versions, against a
real Mosquitto. It has two paths: many packets at once from the socket's read buffer, and the packet
paho framed (the first of a read, or one cut off at its end). QoS 2 still goes through paho (as does a
topic that is not UTF-8, which Mosquitto never forwards)."""

from __future__ import annotations

import pytest

from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import MQTT_V5, MQTT_V311, ConnectionProfile
from tests.conftest import publish_raw, wait_until

MESSAGES = [
    ("fast/plain", b"hello"),
    ("fast/empty", b""),
    ("fast/unicode/\u00e9\u00e8", "\u20ac 10".encode()),
    ("fast/binary", bytes(range(256)) * 40),  # 10 KB: arrives in more than one read
    ("fast/props", b'{"n": 1}'),
    ("fast/retained", b"kept"),
]
PROPERTIES = [None, None, None, None,
              {"ResponseTopic": "fast/reply", "CorrelationData": b"\x00\x01corr", "ContentType": "application/json",
               "UserProperty": [("k", "v"), ("k", "v2"), ("\u00fc", "\u00df")], "MessageExpiryInterval": 60,
               "PayloadFormatIndicator": 1},
              None]


FAST_PATHS = ("buffered", "per packet", "paho")


def _session(port: int, version: int, path: str) -> MqttSession:
    session = MqttSession(ConnectionProfile(name=f"s{version}{path}", host="127.0.0.1", port=port,
                                            mqtt_version=version), buffer=IngestBuffer())
    if path != "buffered":
        session._client.on_publishes_received = None  # each packet framed by paho
    if path == "paho":
        session._client.on_publish_received = None  # and decoded by paho
    return session


@pytest.mark.parametrize("version", [MQTT_V5, MQTT_V311], ids=["mqtt5", "mqtt311"])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_own_decoding_and_pahos_make_the_same_records(mosquitto, version, qos):
    sessions = [_session(mosquitto.port, version, path) for path in FAST_PATHS]
    decoded_here: list[str] = []
    client = sessions[0]._client
    one, many = client.on_publish_received, client.on_publishes_received
    assert one is not None and many is not None
    client.on_publish_received = lambda topic, *rest: (decoded_here.append(topic), one(topic, *rest))
    client.on_publishes_received = lambda records: (decoded_here.extend(r.topic for r in records), many(records))
    try:
        for session in sessions:
            session.start()
            assert session.wait_connected(10), session.status
            session.subscribe("fast/#", qos=qos).result(10)
        publish_raw(mosquitto.port, MESSAGES, PROPERTIES if version == MQTT_V5 else None)
        received: list[list] = [[] for _ in sessions]

        def all_in() -> bool:
            for kept, session in zip(received, sessions):
                kept.extend(session.buffer.drain())
            return all(len(kept) == len(MESSAGES) for kept in received)

        wait_until(all_in, message="every message on every session")
        fast, per_packet, slow = ([(r.topic, r.payload, r.qos, r.retain, r.properties, r.dup, r.mid != 0)
                                   for r in kept] for kept in received)
        assert fast == per_packet == slow
        # Delivered at the lower of the two QoS (the publisher sends at 1): QoS 0 and 1 are decoded here.
        assert len(decoded_here) == len(MESSAGES) and {q for _, _, q, *_ in fast} == {min(qos, 1)}
        assert [(topic, payload) for topic, payload, *_ in fast] == MESSAGES
        assert all(type(payload) is bytes for _, payload, *_ in fast)
        if version == MQTT_V5:
            props = fast[4][4]
            assert props.correlation_data == b"\x00\x01corr" and props.response_topic == "fast/reply"
            assert props.user_properties == (("k", "v"), ("k", "v2"), ("\u00fc", "\u00df"))
            assert props.content_type == "application/json" and props.payload_format_indicator == 1
    finally:
        for session in sessions:
            session.stop()

