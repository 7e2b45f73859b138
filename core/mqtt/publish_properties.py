"""MQTT 5 PUBLISH properties, encoded once here instead of by paho's ``Properties``.

paho's ``Properties`` builds its name tables for every instance and walks them on every ``pack``:
about 45 µs a message, two thirds of a publish, and the ceiling of a replay's sending rate.
``PackedPublishProperties`` holds the encoded bytes (MQTT 5.0, 2.2.2 and 3.3.2.3) and hands them
to paho as they are; the bytes equal paho's own.
"""

from __future__ import annotations

import struct

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from eventscope.core.records import NO_PROPERTIES, MessageProperties

# Property identifiers, in the order paho writes them.
_PAYLOAD_FORMAT, _EXPIRY, _CONTENT_TYPE, _RESPONSE_TOPIC, _CORRELATION, _USER = 1, 2, 3, 8, 9, 38


def variable_int(value: int) -> bytes:
    """MQTT's Variable Byte Integer (1.5.5): seven bits a byte, low first."""
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _binary(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise ValueError(f"An MQTT property holds at most 65,535 bytes, not {len(data):,}")
    return struct.pack("!H", len(data)) + data


def _text(value: str) -> bytes:
    return _binary(value.encode("utf-8"))


class PackedPublishProperties(Properties):
    """PUBLISH properties as bytes paho sends unchanged (it only ever calls ``pack``)."""

    packed: bytes

    def __init__(self, packed: bytes) -> None:  # no super().__init__(): its tables are the cost this class avoids
        object.__setattr__(self, "packetType", PacketTypes.PUBLISH)
        object.__setattr__(self, "packed", packed)

    def pack(self) -> bytes:
        return self.packed

    def isEmpty(self) -> bool:  # noqa: N802 (paho's name)
        return len(self.packed) <= 1

    def __str__(self) -> str:  # paho's walks its name tables, which this class does not have
        return f"[packed PUBLISH properties, {len(self.packed)} bytes]"

    __repr__ = __str__


def encode_publish_properties(props: MessageProperties) -> bytes:
    """The properties section of a PUBLISH: its length, then each property set."""
    body = bytearray()
    if props.payload_format_indicator is not None:
        if props.payload_format_indicator not in (0, 1):
            raise ValueError("PayloadFormatIndicator must be 0 or 1")
        body += bytes((_PAYLOAD_FORMAT, props.payload_format_indicator))
    if props.message_expiry_interval:
        body += bytes((_EXPIRY,)) + struct.pack("!L", props.message_expiry_interval)
    if props.content_type:
        body += bytes((_CONTENT_TYPE,)) + _text(props.content_type)
    if props.response_topic:
        body += bytes((_RESPONSE_TOPIC,)) + _text(props.response_topic)
    if props.correlation_data is not None:
        body += bytes((_CORRELATION,)) + _binary(props.correlation_data)
    for key, value in props.user_properties or ():
        body += bytes((_USER,)) + _text(key) + _text(value)
    return variable_int(len(body)) + bytes(body)


def to_publish_properties(props: MessageProperties | None) -> Properties | None:
    if props is None or props == NO_PROPERTIES:
        return None
    return PackedPublishProperties(encode_publish_properties(props))
