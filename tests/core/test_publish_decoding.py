"""The session's own PUBLISH decoding (QoS 0 and 1) makes exactly the records paho's path makes: topic,
payload, QoS, retain, DUP, packet id and every MQTT 5 property, over both protocol versions, against a
real Mosquitto. QoS 2 still goes through paho (as does a topic that is not UTF-8, which Mosquitto never
forwards)."""

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


def _session(port: int, version: int, fast: bool) -> MqttSession:
    session = MqttSession(ConnectionProfile(name=f"s{version}{fast}", host="127.0.0.1", port=port,
                                            mqtt_version=version), buffer=IngestBuffer())
    if not fast:
        session._client.on_publish_received = None  # paho decodes every message
    return session


@pytest.mark.parametrize("version", [MQTT_V5, MQTT_V311], ids=["mqtt5", "mqtt311"])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_own_decoding_and_pahos_make_the_same_records(mosquitto, version, qos):
    sessions = [_session(mosquitto.port, version, fast) for fast in (True, False)]
    decoded_here: list[str] = []
    own = sessions[0]._client.on_publish_received
    assert own is not None
    sessions[0]._client.on_publish_received = lambda topic, *rest: (decoded_here.append(topic), own(topic, *rest))
    try:
        for session in sessions:
            session.start()
            assert session.wait_connected(10), session.status
            session.subscribe("fast/#", qos=qos).result(10)
        publish_raw(mosquitto.port, MESSAGES, PROPERTIES if version == MQTT_V5 else None)
        received: list[list] = [[], []]

        def all_in() -> bool:
            for kept, session in zip(received, sessions):
                kept.extend(session.buffer.drain())
            return all(len(kept) == len(MESSAGES) for kept in received)

        wait_until(all_in, message="every message on both sessions")
        fast, slow = ([(r.topic, r.payload, r.qos, r.retain, r.properties, r.dup, r.mid != 0) for r in kept]
                      for kept in received)
        assert fast == slow
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

