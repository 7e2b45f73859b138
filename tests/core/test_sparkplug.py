"""Sparkplug B: round trips through a real Mosquitto and ``eventscope sub --decode``, and the session state.

The edge node here is written from the official ``sparkplug_b.proto`` field numbers (a subset,
compiled at run time), not from ``core/sparkplug/payload.py``, so a wrong field number there fails here.
"""

from __future__ import annotations

import pytest

from eventscope.core.decoding.protobuf_schemas import ProtoSchemas
from eventscope.core.decoding.rules import DecoderRule, DecoderRules
from eventscope.core.records import MessageRecord
from eventscope.core.sparkplug.payload import DATATYPE, MetricValue, SparkplugTopic, encode_payload
from eventscope.core.sparkplug.state import UNKNOWN_ALIAS, SparkplugState, unknown_alias_name
from tests.conftest import publish_raw
from tests.helpers.cli_subscriber import jsonl_lines, start_jsonl_sub

SPARKPLUG_SUBSET = """
syntax = "proto2";
package org.eclipse.tahu.protobuf;
message Payload {
  message PropertyValue {
    optional uint32 type = 1;
    optional bool is_null = 2;
    oneof value { uint32 int_value = 3; uint64 long_value = 4; float float_value = 5; double double_value = 6;
                  bool boolean_value = 7; string string_value = 8; }
  }
  message PropertySet { repeated string keys = 1; repeated PropertyValue values = 2; }
  message Metric {
    optional string name = 1;
    optional uint64 alias = 2;
    optional uint64 timestamp = 3;
    optional uint32 datatype = 4;
    optional bool is_null = 7;
    optional PropertySet properties = 9;
    oneof value { uint32 int_value = 10; uint64 long_value = 11; float float_value = 12; double double_value = 13;
                  bool boolean_value = 14; string string_value = 15; bytes bytes_value = 16; }
  }
  optional uint64 timestamp = 1;
  repeated Metric metrics = 2;
  optional uint64 seq = 3;
}
"""


class EdgeNode:
    """Builds Sparkplug payloads with message classes compiled from ``SPARKPLUG_SUBSET``."""

    def __init__(self, tmp_path) -> None:
        (tmp_path / "sparkplug_subset.proto").write_text(SPARKPLUG_SUBSET)
        self.Payload = ProtoSchemas.from_paths([tmp_path / "sparkplug_subset.proto"]).message_class(
            "org.eclipse.tahu.protobuf.Payload")

    def payload(self, seq: int | None, metrics: list[dict]) -> bytes:
        message = self.Payload(timestamp=1_700_000_000_000)
        if seq is not None:
            message.seq = seq
        for spec in metrics:
            message.metrics.add(**spec)
        return message.SerializeToString()


@pytest.mark.mosquitto
def test_sparkplug_session_through_mosquitto_decoded_by_the_cli(mosquitto, tmp_path):
    edge = EdgeNode(tmp_path)
    double, int64, int32 = DATATYPE["Double"], DATATYPE["Int64"], DATATYPE["Int32"]
    quality = {"keys": ["Quality"], "values": [{"type": int32, "int_value": 192}]}
    messages = [
        # DATA before any BIRTH: the alias cannot be named
        ("spBv1.0/plant/DDATA/edge1/pump", edge.payload(7, [{"alias": 1, "datatype": double, "double_value": 1.5}])),
        ("spBv1.0/plant/NBIRTH/edge1", edge.payload(0, [{"name": "bdSeq", "alias": 0, "datatype": int64, "long_value": 3}])),
        ("spBv1.0/plant/DBIRTH/edge1/pump", edge.payload(1, [
            {"name": "Flow", "alias": 1, "datatype": double, "double_value": 2.0, "properties": quality},
            {"name": "Offset", "alias": 2, "datatype": int32, "int_value": (-5) & 0xFFFFFFFF}])),
        ("spBv1.0/plant/DDATA/edge1/pump", edge.payload(2, [{"alias": 1, "datatype": double, "double_value": 2.5},
                                                            {"alias": 2, "datatype": int32, "int_value": 7}])),
        ("spBv1.0/plant/DDATA/edge1/pump", edge.payload(5, [{"alias": 1, "datatype": double, "double_value": 3.0}])),
        ("spBv1.0/plant/DDATA/edge1/pump", b"temperature=21"),  # not a Sparkplug payload
        ("spBv1.0/plant/DDATA/edge1/pump", b"up 12"),  # text that protobuf parses (an unknown field 14)
        ("plant/line1/status", b"\x08running"),  # under a non-Sparkplug topic: never decoded as Sparkplug
        ("spBv1.0/plant/NDEATH/edge1", edge.payload(None, [{"name": "bdSeq", "datatype": int64, "long_value": 3}])),
    ]
    proc = start_jsonl_sub(mosquitto.port, len(messages), "--decode", "spBv1.0/#=sparkplug", "--decode", "#=sparkplug")
    publish_raw(mosquitto.port, messages)
    lines = jsonl_lines(proc)
    assert [line["topic"] for line in lines] == [topic for topic, _ in messages]
    early, nbirth, dbirth, data, gap, malformed, parses_as_protobuf, plain, death = lines

    assert early["decoded"]["metrics"][0]["name"] == "alias 1 (no BIRTH yet)"
    assert early["decode_notes"] == [f"alias 1: {UNKNOWN_ALIAS}"]
    assert nbirth["decoded"]["online"] == "online" and "decode_notes" not in nbirth
    assert dbirth["decoded"]["metrics"][0]["properties"] == {"Quality": 192}
    assert dbirth["decoded"]["metrics"][1]["value"] == -5  # Int32 is two's complement in a uint32
    assert [(m["name"], m["value"]) for m in data["decoded"]["metrics"]] == [("Flow", 2.5), ("Offset", 7)]
    assert data["decoded_by"] == "rule 1: spBv1.0/# → sparkplug" and "decode_notes" not in data
    assert gap["decode_notes"] == ["seq gap: expected 3, got 5"]
    assert gap["decoded"]["metrics"][0]["name"] == "Flow"
    assert malformed["decoded"] is None and malformed["decode_error"].startswith("Not a Sparkplug B payload")
    assert malformed["payload"] == "temperature=21"  # shown raw, never {}
    assert parses_as_protobuf["decoded"] is None and "field 14 is not in the Sparkplug B schema" in (
        parses_as_protobuf["decode_error"])
    assert plain["decoded"] is None and "not under spBv1.0/" in plain["decode_error"]
    assert plain["decoder"] != "sparkplug"
    assert death["decoded"]["online"] == "offline" and "decode_notes" not in death


@pytest.mark.mosquitto
def test_sparkplug_is_decoded_by_topic_without_a_rule_and_text_elsewhere_stays_text(mosquitto, tmp_path):
    edge = EdgeNode(tmp_path)
    messages = [("spBv1.0/g/NDATA/n", edge.payload(4, [{"name": "Up", "datatype": DATATYPE["Boolean"],
                                                        "boolean_value": True}])),
                ("factory/a", b"{}"), ("factory/b", b"hello")]
    proc = start_jsonl_sub(mosquitto.port, 3, "--decode", "factory/#=auto")
    publish_raw(mosquitto.port, messages)
    spark, empty_json, text = jsonl_lines(proc)
    assert spark["decoder"] == "sparkplug" and spark["decoded"]["metrics"][0]["value"] is True
    assert spark["decoded_by"] == "Sparkplug B topic (spBv1.0/)"
    assert (empty_json["decoder"], empty_json["decoded"]) == ("json", {})  # a real {} is still {}
    assert (text["decoder"], text["decoded"]) == ("text", None)


def _record(topic: str, payload: bytes, broker: str = "east") -> MessageRecord:
    return MessageRecord(topic, payload, broker_id=broker)


def _birth(state: SparkplugState, broker: str = "east", bd_seq: int = 1, seq: int = 0) -> None:
    state.observe(_record("spBv1.0/g/NBIRTH/n", encode_payload([MetricValue(bd_seq, "Int64", "bdSeq")], seq=seq), broker))


def test_seq_wraps_from_255_to_0_without_a_gap():
    state = SparkplugState()
    _birth(state, seq=254)
    notes = [state.observe(_record("spBv1.0/g/NDATA/n", encode_payload([], seq=s))).notes for s in (255, 0, 1)]
    assert notes == [(), (), ()]
    assert state.observe(_record("spBv1.0/g/NDATA/n", encode_payload([], seq=3))).notes == ("seq gap: expected 2, got 3",)
    assert state.node("east", "g", "n").seq_gaps == 1


def test_data_without_a_datatype_takes_the_births_so_negative_ints_stay_negative(tmp_path):
    edge = EdgeNode(tmp_path)
    state = SparkplugState()
    _birth(state)
    state.observe(_record("spBv1.0/g/DBIRTH/n/d", encode_payload([MetricValue(0, "Int16", "Offset", 3)], seq=1)))
    # DATA as the spec recommends it: alias and value, no datatype
    data = edge.payload(2, [{"alias": 3, "int_value": (-12) & 0xFFFFFFFF}])
    (metric,) = state.observe(_record("spBv1.0/g/DDATA/n/d", data)).value["metrics"]
    assert (metric["name"], metric["datatype"], metric["value"]) == ("Offset", "Int16", -12)


def test_a_stale_ndeath_with_another_bdseq_leaves_the_node_online():
    state = SparkplugState()
    _birth(state, bd_seq=4)
    stale = state.observe(_record("spBv1.0/g/NDEATH/n", encode_payload([MetricValue(3, "Int64", "bdSeq")])))
    assert stale.notes == ("bdSeq 3 does not match the NBIRTH's 4: a stale NDEATH, the node stays online",)
    assert state.device("east", "g", "n").online is True
    state.observe(_record("spBv1.0/g/NDEATH/n", encode_payload([MetricValue(4, "Int64", "bdSeq")])))
    assert state.device("east", "g", "n").online is False


def test_aliases_are_kept_per_broker_and_device_and_resolve_does_not_change_the_state():
    state = SparkplugState()
    _birth(state, "east")
    state.observe(_record("spBv1.0/g/DBIRTH/n/d1", encode_payload([MetricValue(1.0, name="Flow", alias=9)], seq=1)))
    ddata = _record("spBv1.0/g/DDATA/n/d1", encode_payload([MetricValue(2.0, alias=9)], seq=2))
    assert state.resolve(ddata).value["metrics"][0]["name"] == "Flow"
    unknown = unknown_alias_name(9)
    assert state.resolve(_record(ddata.topic, ddata.payload, "west")).value["metrics"][0]["name"] == unknown
    other_device = _record("spBv1.0/g/DDATA/n/d2", ddata.payload)
    assert state.resolve(other_device).value["metrics"][0]["name"] == unknown
    assert state.node("east", "g", "n").last_seq == 1  # resolve left it alone
    state.observe(ddata)
    assert state.device("east", "g", "n", "d1").last_values == {"Flow": 2.0}
    state.forget_broker("east")
    assert state.resolve(ddata).value["metrics"][0]["name"] == unknown


def test_state_messages_say_whether_the_host_is_online_and_bad_ones_are_errors():
    rules = DecoderRules([DecoderRule("spBv1.0/#", "sparkplug")])
    rules.observe(_record("spBv1.0/STATE/scada", b'{"online": true, "timestamp": 1}'))
    assert rules.sparkplug.host_online("east", "scada") is True
    bad = rules.observe(_record("spBv1.0/STATE/scada", b"ONLINE"))
    assert bad.error.startswith("A STATE payload is JSON") and bad.text == "ONLINE"


@pytest.mark.parametrize("topic, parsed", [
    ("spBv1.0/g/DDATA/n/d", SparkplugTopic("g", "DDATA", "n", "d")),
    ("spBv1.0/g/NBIRTH/n", SparkplugTopic("g", "NBIRTH", "n")),
    ("spBv1.0/STATE/host", SparkplugTopic("", "STATE", host="host")),
    ("spBv1.0/g/NDATA/n/d", None),  # a node message with a device level
    ("spBv1.0/g/DDATA/n", None),  # a device message without one
    ("spBv1.0/g/HELLO/n", None),
    ("spAv1.0/g/NDATA/n", None),
    ("factory/g/NDATA/n", None),
])
def test_topic_parsing(topic, parsed):
    assert SparkplugTopic.parse(topic) == parsed


def test_a_message_looked_at_later_keeps_the_seq_verdict_of_its_arrival():
    state = SparkplugState()
    _birth(state, seq=0)
    arrived = [MessageRecord("spBv1.0/g/NDATA/n", encode_payload([], seq=s), received=100.0 + s, broker_id="east")
               for s in (1, 2, 4, 5)]
    assert [state.observe(r).notes for r in arrived] == [(), (), ("seq gap: expected 3, got 4",), ()]
    # Later (the details pane, the history): judged as they arrived, not against the node's seq now (5).
    assert [state.resolve(r).notes for r in arrived] == [(), (), ("seq gap: expected 3, got 4",), ()]
    never_seen = MessageRecord("spBv1.0/g/NDATA/n", encode_payload([], seq=1), received=1.0, broker_id="east")
    assert state.resolve(never_seen).notes == ()  # not judged rather than judged wrong
    fast = MessageRecord("spBv1.0/g/NDATA/n", encode_payload([], seq=9), received=200.0, broker_id="east")
    state.observe_seq(fast)  # a flood's cheap path keeps its verdict too
    assert state.resolve(fast).notes == ("seq gap: expected 6, got 9",)


@pytest.mark.parametrize("stamp, noted", [(1_765_000_000_000, False), (42, True), (1_765_000_000, True)],
                         ids=["epoch ms", "counted from boot", "seconds"])
def test_a_timestamp_that_is_not_epoch_milliseconds_is_said_to_be_a_plain_number(stamp, noted):
    from eventscope.core.decoding.decoders import decode_payload

    payload = encode_payload([MetricValue(1.0, "Double", name="Flow")], seq=0, timestamp=stamp)
    state = SparkplugState()
    notes = state.observe(_record("spBv1.0/g/NBIRTH/n", payload)).notes
    expected = [f"timestamp {stamp} is not epoch milliseconds (shown as the number it is)"] if noted else []
    assert [n for n in notes if n.startswith("timestamp")] == expected
    decoded = decode_payload(payload, "sparkplug")
    assert decoded.value["timestamp"] == stamp  # the number itself, never a made-up date
    assert [n for n in decoded.notes if n.startswith("timestamp")] == expected
