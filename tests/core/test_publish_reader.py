"""Many PUBLISH packets read at once from a socket's buffer: the same records paho's path would make, in
order, wherever a read cuts the stream; and every packet it cannot read is left whole for paho."""

from __future__ import annotations

import struct
import threading

import pytest

from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.packet_codec import PUBACK, encode_ack, encode_publish
from eventscope.core.mqtt.publish_properties import encode_publish_properties, variable_int
from eventscope.core.mqtt.publish_reader import read_publishes
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import MQTT_V5, MQTT_V311, ConnectionProfile
from eventscope.core.records import NO_PROPERTIES, MessageProperties, MessageRecord
from tests.conftest import publish_raw, wait_until

REQUEST = MessageProperties(response_topic="eu/hello/response", correlation_data=b"\x00\x01id",
                            content_type="application/json", payload_format_indicator=1,
                            message_expiry_interval=30, user_properties=(("region", "eu"), ("\u00fc", "\u00df")))
# 130 bytes of user properties: a properties length of two bytes
LONG = MessageProperties(user_properties=(("k", "v" * 120),))


def _stream(version: int) -> tuple[bytes, list[tuple]]:
    """Packets of every shape the reader takes, and what each record must hold."""
    cases = [
        ("us-east/hello/request", b'{"n": 1}', 1, False, REQUEST if version == MQTT_V5 else NO_PROPERTIES, 7),
        ("telemetry/plain", b"", 0, True, NO_PROPERTIES, 0),
        ("t/\u00e9", "\u20ac".encode() * 100, 0, False, NO_PROPERTIES, 0),  # a two-byte remaining length
        ("t/big", bytes(range(256)) * 80, 1, False, NO_PROPERTIES, 65535),  # three bytes
        ("t/long", b"x", 0, False, LONG if version == MQTT_V5 else NO_PROPERTIES, 0),
    ]
    data = b""
    for topic, payload, qos, retain, props, mid in cases:
        properties = encode_publish_properties(props)
        data += encode_publish(topic.encode(), payload, qos, retain, version, mid, properties)[0]
    return data, [(t, p, q, r, props, mid) for t, p, q, r, props, mid in cases]


def _fields(records: list[MessageRecord]) -> list[tuple]:
    return [(r.topic, r.payload, r.qos, r.retain, r.properties, r.mid) for r in records]


@pytest.mark.parametrize("version", [MQTT_V5, MQTT_V311], ids=["mqtt5", "mqtt311"])
def test_a_stream_cut_at_any_byte_reads_into_the_same_records_in_order(version):
    data, expected = _stream(version)
    whole: list[MessageRecord] = []
    stamps = iter(range(1, 100))
    assert read_publishes(data, 0, version == MQTT_V5, "eu", whole, lambda: float(next(stamps)),
                          lambda: 0.5) == len(data)
    assert _fields(whole) == expected
    assert {(r.broker_id, r.received_mono, r.dup) for r in whole} == {("eu", 0.5, False)}
    # each stamped as it is read, so messages of one read stay apart
    assert [r.received for r in whole] == [1.0, 2.0, 3.0, 4.0, 5.0]
    for cut in range(1, len(data)):
        records: list[MessageRecord] = []
        stopped = read_publishes(data[:cut], 0, version == MQTT_V5, "eu", records)
        # what is left is a packet's start, which the next read completes
        rest = data[stopped:cut] + data[cut:]
        assert read_publishes(rest, 0, version == MQTT_V5, "eu", records) == len(rest)
        assert _fields(records) == expected, f"cut at byte {cut}"


@pytest.mark.parametrize("packet", [
    pytest.param(encode_publish(b"q2", b"x", 2, False, MQTT_V311, 5)[0], id="QoS 2"),
    pytest.param(encode_ack(PUBACK, 9), id="a PUBACK"),
    pytest.param(encode_publish(b"t/\xff\xfe", b"x", 0, False, MQTT_V311)[0], id="a topic that is not UTF-8"),
    pytest.param(bytes((0x30, 0x80, 0x80, 0x80, 0x80, 0x01)) + b"\x00", id="a remaining length of five bytes"),
    pytest.param(bytes((0x30, 4, 0, 9, 0x61, 0x62)), id="a topic longer than its packet"),
    pytest.param(encode_publish(b"t", b"x", 0, False, MQTT_V5, properties=b"\x02\x0b\x81")[0] + b"\x01",
                 id="a subscription identifier over 127"),
    pytest.param(encode_publish(b"t", b"x", 0, False, MQTT_V5, properties=b"\x03\x08\x00\x09")[0],
                 id="a property longer than its section"),
    pytest.param(encode_publish(b"t", b"x", 0, False, MQTT_V5, properties=b"\x02\x2a\x01")[0],
                 id="a property it does not read"),
])
def test_a_packet_it_does_not_read_is_left_whole_after_the_records_before_it(packet):
    ahead = encode_publish(b"before", b"1", 0, False, MQTT_V5)[0]
    behind = encode_publish(b"after", b"2", 0, False, MQTT_V5)[0]
    records: list[MessageRecord] = []
    stopped = read_publishes(ahead + packet + behind, 0, True, "b", records)
    assert stopped == len(ahead)
    assert [r.topic for r in records] == ["before"]


def test_subscription_identifiers_and_a_topic_alias_are_read():
    properties = b"\x0b\x05\x0b\x7f\x23\x00\x03"
    packet = encode_publish(b"", b"v", 0, False, MQTT_V5, properties=variable_int(len(properties)) + properties)[0]
    records: list[MessageRecord] = []
    assert read_publishes(packet, 0, True, "b", records) == len(packet)
    assert records[0].properties == MessageProperties(subscription_identifiers=(5, 127), topic_alias=3)
    assert records[0].topic == ""


def test_a_packet_id_and_the_dup_flag_are_kept():
    packet = bytearray(encode_publish(b"again", b"x", 1, False, MQTT_V311, 0x1234)[0])
    packet[0] |= 0x08
    records: list[MessageRecord] = []
    read_publishes(bytes(packet), 0, False, "b", records)
    assert (records[0].mid, records[0].dup, records[0].qos) == (0x1234, True, 1)
    assert struct.pack("!H", records[0].mid) == b"\x12\x34"


@pytest.mark.parametrize("version", [MQTT_V5, MQTT_V311], ids=["mqtt5", "mqtt311"])
def test_a_burst_that_waited_in_the_socket_is_read_many_packets_at_a_time_with_none_lost(mosquitto, version):
    """End to end on a real Mosquitto: the network thread stops (a tap that waits) while 2,000 messages
    arrive, so each read then brings hundreds of packets; every message arrives once, in order."""
    buffer = IngestBuffer()
    session = MqttSession(ConnectionProfile(name="burst", host="127.0.0.1", port=mosquitto.port,
                                            mqtt_version=version), buffer=buffer)
    client = session._client
    many = client.on_publishes_received
    assert many is not None
    batches: list[int] = []
    client.on_publishes_received = lambda records: (batches.append(len(records)), many(records))
    release = threading.Event()
    session.add_tap(lambda record: release.wait(30))
    try:
        session.start()
        assert session.wait_connected(10), session.status
        session.subscribe("burst/#", qos=0).result(10)
        messages = [(f"burst/{i % 50}", str(i).encode()) for i in range(2_000)]
        publisher = threading.Thread(target=publish_raw, args=(mosquitto.port, messages))
        publisher.start()
        wait_until(lambda: session.socket_reading().unread > 4096, message="messages waiting in the socket")
        release.set()
        publisher.join(30)
        received: list[MessageRecord] = []
        wait_until(lambda: received.extend(buffer.drain()) or len(received) >= len(messages),
                   message="every message")
        assert [(r.topic, r.payload) for r in received] == messages
        assert buffer.stats().dropped == 0
        assert max(batches) > 100  # hundreds of packets from one read
        assert sum(batches) > len(messages) // 2
    finally:
        release.set()
        session.stop()
