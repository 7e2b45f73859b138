"""The few MQTT packets a hand-driven client (bench, replay sender) sends and reads, encoded by hand
(MQTT 3.1.1 and 5.0).

Such a client talks to the socket itself, without paho: paho builds and queues every PUBLISH
in Python (tens of microseconds each), which would make the tool, not the broker, the limit.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from eventscope.core.mqtt.publish_properties import variable_int
from eventscope.core.profile import MQTT_V5

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14

PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"
RECEIVE_MAXIMUM_PROPERTY = 0x21
DEFAULT_RECEIVE_MAXIMUM = 65535


def _text(value: str) -> bytes:
    data = value.encode("utf-8")
    return struct.pack("!H", len(data)) + data


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + variable_int(len(body)) + body


def encode_connect(client_id: str, mqtt_version: int, keepalive: int, username: str = "",
                   password: str | None = None) -> bytes:
    """CONNECT with a clean start; MQTT 5 with no properties."""
    flags = 0x02 | (0x80 if username else 0) | (0x40 if username and password is not None else 0)
    level = 5 if mqtt_version == MQTT_V5 else 4
    body = _text("MQTT") + bytes((level, flags)) + struct.pack("!H", keepalive)
    if mqtt_version == MQTT_V5:
        body += b"\x00"
    body += _text(client_id)
    if username:
        body += _text(username)
        if password is not None:
            body += _text(password)
    return _packet(CONNECT << 4, body)


def encode_publish(topic: bytes, payload: bytes, qos: int, retain: bool, mqtt_version: int,
                   packet_id: int = 1, properties: bytes = b"\x00") -> tuple[bytes, int, int]:
    """A PUBLISH; also the offsets of its packet id (-1 at QoS 0) and of its payload within it.
    ``properties``: MQTT 5's properties section, length first (``encode_publish_properties``)."""
    variable = struct.pack("!H", len(topic)) + topic
    id_at = -1
    if qos:
        id_at = len(variable)
        variable += struct.pack("!H", packet_id)
    if mqtt_version == MQTT_V5:
        variable += properties
    length = variable_int(len(variable) + len(payload))
    head = 1 + len(length)
    first = (PUBLISH << 4) | (qos << 1) | (1 if retain else 0)
    packet = bytes((first,)) + length + variable + payload
    return packet, (head + id_at if qos else -1), head + len(variable)


def encode_subscribe(topic_filter: str, qos: int, mqtt_version: int, packet_id: int = 1) -> bytes:
    body = struct.pack("!H", packet_id)
    if mqtt_version == MQTT_V5:
        body += b"\x00"
    body += _text(topic_filter) + bytes((qos,))
    return _packet((SUBSCRIBE << 4) | 0x02, body)


def encode_ack(kind: int, packet_id: int) -> bytes:
    """PUBACK, PUBREC, PUBREL or PUBCOMP with reason 0 (the short form, valid in both versions)."""
    return bytes(((kind << 4) | (0x02 if kind == PUBREL else 0), 2)) + struct.pack("!H", packet_id)


def decode_length(data: bytes | bytearray, at: int) -> tuple[int, int] | None:
    """A Variable Byte Integer at ``at``: (value, offset after it), or None if ``data`` ends first."""
    value = shift = 0
    for index in range(at, min(at + 4, len(data))):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, index + 1
        shift += 7
    if len(data) >= at + 4:
        raise ValueError("malformed remaining length")
    return None


@dataclass(frozen=True, slots=True)
class Packet:
    kind: int
    flags: int
    body: bytes


class PacketReader:
    """Splits a byte stream into packets (for the acknowledgements a client waits for, not the hot path)."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[Packet]:
        self._pending += data
        packets = []
        position = 0
        pending = self._pending
        while True:
            decoded = decode_length(pending, position + 1) if len(pending) > position + 1 else None
            if decoded is None:
                break
            length, start = decoded
            end = start + length
            if end > len(pending):
                break
            first = pending[position]
            packets.append(Packet(first >> 4, first & 0x0F, bytes(pending[start:end])))
            position = end
        del pending[:position]
        return packets


@dataclass(frozen=True, slots=True)
class Connack:
    reason: int
    receive_maximum: int = DEFAULT_RECEIVE_MAXIMUM


def decode_connack(body: bytes, mqtt_version: int) -> Connack:
    if len(body) < 2:
        raise ValueError("short CONNACK")
    reason = body[1]
    if mqtt_version != MQTT_V5 or reason:
        return Connack(reason)
    receive_maximum = DEFAULT_RECEIVE_MAXIMUM
    decoded = decode_length(body, 2)
    if decoded is not None:
        length, at = decoded
        end = at + length
        while at < end:
            identifier = body[at]
            at += 1
            if identifier == RECEIVE_MAXIMUM_PROPERTY:
                receive_maximum = struct.unpack_from("!H", body, at)[0]
            at += _property_size(identifier, body, at)
    return Connack(reason, receive_maximum)


# MQTT 5 property identifiers by the size of their value (2.2.2.2); the rest are strings or binary.
_BYTE_PROPERTIES = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A}
_TWO_BYTE_PROPERTIES = {0x13, 0x21, 0x22, 0x23}
_FOUR_BYTE_PROPERTIES = {0x02, 0x11, 0x18, 0x27}
_PAIR_PROPERTIES = {0x26}
_VARIABLE_INT_PROPERTIES = {0x0B}


def _property_size(identifier: int, body: bytes, at: int) -> int:
    if identifier in _BYTE_PROPERTIES:
        return 1
    if identifier in _TWO_BYTE_PROPERTIES:
        return 2
    if identifier in _FOUR_BYTE_PROPERTIES:
        return 4
    if identifier in _VARIABLE_INT_PROPERTIES:
        decoded = decode_length(body, at)
        return (decoded[1] - at) if decoded else len(body) - at
    if identifier in _PAIR_PROPERTIES:
        first = 2 + struct.unpack_from("!H", body, at)[0]
        return first + 2 + struct.unpack_from("!H", body, at + first)[0]
    return 2 + struct.unpack_from("!H", body, at)[0]


def suback_codes(body: bytes, mqtt_version: int) -> bytes:
    """The SUBACK's return codes (one per filter): 0-2 granted QoS, 0x80 and above refused."""
    at = 2
    if mqtt_version == MQTT_V5:
        decoded = decode_length(body, at)
        if decoded is None:
            return b""
        length, at = decoded
        at += length
    return body[at:]


def reason_of(packet: Packet) -> int:
    """An acknowledgement's reason code (MQTT 5; 0 when the short form leaves it out)."""
    return packet.body[2] if len(packet.body) > 2 else 0
