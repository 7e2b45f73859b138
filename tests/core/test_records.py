"""The hot paths' record builder makes the same immutable record as the dataclass's own constructor, and
records cross the connection process's wire whole."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from eventscope.core.connections.wire import pack, unpack
from eventscope.core.records import NO_PROPERTIES, MessageProperties, MessageRecord, build_record

REQUEST = MessageProperties(response_topic="eu/hello/response", correlation_data=b"\x00id",
                            user_properties=(("k", "v"),))


@pytest.mark.parametrize("properties", [NO_PROPERTIES, REQUEST], ids=["plain", "with properties"])
def test_the_builder_makes_the_constructors_record(properties):
    fields = ("eu/hello/request", b'{"n": 1}', 1, True, 1700000000.25, 12.5, properties, "eu", 42, True)
    built, constructed = build_record(*fields), MessageRecord(*fields)
    assert built == constructed and hash(built) == hash(constructed) and repr(built) == repr(constructed)
    assert dataclasses.astuple(built) == dataclasses.astuple(constructed)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.topic = "elsewhere"  # pyright: ignore[reportAttributeAccessIssue]
    assert pickle.loads(pickle.dumps(built)) == constructed


@pytest.mark.parametrize("properties", [NO_PROPERTIES, REQUEST], ids=["plain", "with properties"])
def test_a_record_crosses_the_wire_whole(properties):
    record = MessageRecord("us-east/telemetry/7", bytes(range(256)), 0, False, 1700000000.5, 3.25, properties,
                           "us-east", 0, False)
    item = pickle.loads(pickle.dumps(pack(record)))
    assert unpack("us-east", item) == record
    assert unpack("us-east", item).properties is NO_PROPERTIES or properties is not NO_PROPERTIES


def test_the_audit_row_builder_makes_the_constructors_row():
    from eventscope.core.audit.store import AuditRow, build_audit_row

    fields = (7, 1700000000.5, "us-east", "us-east/hello/request", "us-east", "request", 1, True, b"\x00c",
              "us-east/hello/response", b'{"n": 1}', False, 8, False, {"content_type": "json"}, 9, 1.25,
              (("eu", 1700000000.75),), True)
    built, constructed = build_audit_row(*fields), AuditRow(*fields)
    assert built == constructed and repr(built) == repr(constructed)
    assert built.path == [("us-east", 1700000000.5), ("eu", 1700000000.75)]
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.kind = "reply"  # pyright: ignore[reportAttributeAccessIssue]
