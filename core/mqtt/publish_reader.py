"""PUBLISH packets read straight out of a socket's read buffer, many to a call, into message records.

paho frames each packet with several small reads and a dict of state, then hands it to a handler:
about 7 µs a message before anything else is done with it. Here one loop walks the bytes a socket
read returned and makes a ``MessageRecord`` of every whole QoS 0 or 1 PUBLISH in them, about 2 µs
a message, on MQTT 3.1.1 and 5.

It stops at the first packet it leaves to paho, and says where: a packet of another type, QoS 2, a
topic that is not UTF-8, an MQTT 5 property it does not read, anything malformed (paho then reports
the protocol error), or a packet cut off at the end of the buffer.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from eventscope.core.records import NO_PROPERTIES, MessageProperties, MessageRecord, build_record

_PUBLISH = 0x30
_QOS_BITS = 0x06
_QOS_2 = 0x04
_MAX_LENGTH_BYTES = 4  # a Variable Byte Integer is at most four bytes (MQTT 1.5.5)

_unpack_u32 = struct.Struct("!L").unpack_from


def read_publishes(data: bytes, at: int, mqtt5: bool, broker_id: str, out: list[MessageRecord],
                   wall_clock: Callable[[], float] = time.time, clock: Callable[[], float] = time.monotonic) -> int:
    """Append a record for each whole QoS 0/1 PUBLISH in ``data`` from ``at`` on, in order, to ``out``.

    Returns the offset of the first byte not read: the end of ``data``, or the start of the packet
    left to paho. Each record is stamped as it is read, as paho's path does: an arrival time tells
    messages of one topic apart (the Sparkplug seq notes are kept by it).
    """
    size = len(data)
    append = out.append
    record = build_record
    while at + 2 <= size:
        first = data[at]
        if first & 0xF0 != _PUBLISH or first & _QOS_BITS in (_QOS_2, _QOS_BITS):
            return at
        byte = data[at + 1]
        body = at + 2
        length = byte & 0x7F
        shift = 7
        while byte & 0x80:
            if body >= size or shift >= 7 * _MAX_LENGTH_BYTES:
                return at  # cut off here, or malformed: paho reads it and says which
            byte = data[body]
            body += 1
            length |= (byte & 0x7F) << shift
            shift += 7
        end = body + length
        if end > size or length < 2:
            return at
        topic_end = body + 2 + ((data[body] << 8) | data[body + 1])
        if topic_end > end:
            return at
        try:
            topic = data[body + 2:topic_end].decode("utf-8")
        except UnicodeDecodeError:
            return at
        qos = (first >> 1) & 0x03
        mid = 0
        position = topic_end
        if qos:
            if position + 2 > end:
                return at
            mid = (data[position] << 8) | data[position + 1]
            position += 2
        properties = NO_PROPERTIES
        if mqtt5:
            if position >= end:
                return at
            byte = data[position]
            position += 1
            properties_length = byte & 0x7F
            if byte & 0x80:  # 128 bytes of properties or more
                if position >= end:
                    return at
                byte = data[position]
                position += 1
                if byte & 0x80:
                    return at  # 16 KiB of properties or more: paho's path reads them
                properties_length |= byte << 7
            if properties_length:
                properties_end = position + properties_length
                decoded = _properties(data, position, properties_end) if properties_end <= end else None
                if decoded is None:
                    return at
                properties = decoded
                position = properties_end
        append(record(topic, data[position:end], qos, bool(first & 0x01), wall_clock(), clock(), properties,
                      broker_id, mid, bool(first & 0x08)))
        at = end
    return at


def _properties(data: bytes, at: int, end: int) -> MessageProperties | None:
    """The PUBLISH properties between ``at`` and ``end``, or None for any the caller leaves to paho."""
    response_topic = content_type = None
    correlation_data = None
    payload_format = expiry = topic_alias = None
    user: list[tuple[str, str]] = []
    subscription_ids: list[int] = []
    try:
        while at < end:
            identifier = data[at]
            at += 1
            if identifier == 0x08:
                response_topic, at = _text(data, at, end)
            elif identifier == 0x09:
                correlation_data, at = _binary(data, at, end)
            elif identifier == 0x03:
                content_type, at = _text(data, at, end)
            elif identifier == 0x26:
                key, at = _text(data, at, end)
                value, at = _text(data, at, end)
                user.append((key, value))
            elif identifier == 0x01:
                payload_format = data[at]
                at += 1
            elif identifier == 0x02:
                expiry = _unpack_u32(data, at)[0]
                at += 4
            elif identifier == 0x23:
                topic_alias = (data[at] << 8) | data[at + 1]
                at += 2
            elif identifier == 0x0B:
                value = data[at]
                at += 1
                if value & 0x80:
                    return None
                subscription_ids.append(value)
            else:
                return None
    except (IndexError, struct.error, UnicodeDecodeError, ValueError):
        return None
    if at != end:
        return None
    return MessageProperties(response_topic, correlation_data, content_type, payload_format, expiry,
                             tuple(user), tuple(subscription_ids), topic_alias)


def _binary(data: bytes, at: int, end: int) -> tuple[bytes, int]:
    stop = at + 2 + ((data[at] << 8) | data[at + 1])
    if stop > end:
        raise ValueError("property runs past its section")
    return data[at + 2:stop], stop


def _text(data: bytes, at: int, end: int) -> tuple[str, int]:
    value, stop = _binary(data, at, end)
    return value.decode("utf-8"), stop
