"""The connection child's wire format: records cross the pipe as compact tuples, not objects.

Pickling a tuple of builtins is several times cheaper than pickling a dataclass per record.
"""

from __future__ import annotations

from eventscope.core.records import NO_PROPERTIES, MessageRecord, build_record

SEND_INTERVAL = 0.015  # seconds between record batches from the child
STATS_INTERVAL = 0.25  # seconds between tracker statistics


def pack(record: MessageRecord) -> tuple:
    props = record.properties
    return (record.topic, record.payload, record.qos, record.retain, record.received, record.received_mono,
            None if props is NO_PROPERTIES else props, record.mid, record.dup)


def unpack(broker_id: str, item: tuple) -> MessageRecord:
    topic, payload, qos, retain, received, received_mono, props, mid, dup = item
    return build_record(topic, payload, qos, retain, received, received_mono, props or NO_PROPERTIES, broker_id, mid, dup)
