"""Protobuf: a .proto written here, compiled at run time, decoded by ``eventscope sub``; the raw view; bad input."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from eventscope.core.decoding.decoders import decode_payload
from eventscope.core.decoding.protobuf_raw import MAX_FIELDS, RawDecodeError, decode_raw, raw_text
from eventscope.core.decoding.protobuf_schemas import ProtoDecodeError, ProtoSchemaError, ProtoSchemas
from eventscope.core.decoding.rules import DecoderRule, DecoderRuleError, DecoderRules, protobuf_type_from_content_type
from eventscope.core.records import MessageProperties, MessageRecord
from tests.conftest import publish_raw
from tests.helpers.cli import EVENTSCOPE
from tests.helpers.cli_subscriber import jsonl_lines, start_jsonl_sub

TELEMETRY_PROTO = """
syntax = "proto3";
package acme;
import "google/protobuf/timestamp.proto";
import "units.proto";

message Telemetry {
  double temp = 1;
  Unit unit = 2;
  int64 count = 3;
  google.protobuf.Timestamp at = 4;
  repeated string tags = 5;
  bytes blob = 6;
}

message Tree { Tree child = 1; int32 depth = 2; }
"""
UNITS_PROTO = 'syntax = "proto3";\npackage acme;\nenum Unit { UNIT_UNSPECIFIED = 0; CELSIUS = 1; }\n'
TYPE_CT = "application/x-protobuf; messageType=acme.Telemetry"


@pytest.fixture
def proto_dir(tmp_path):
    folder = tmp_path / "protos"
    folder.mkdir()
    (folder / "telemetry.proto").write_text(TELEMETRY_PROTO)
    (folder / "units.proto").write_text(UNITS_PROTO)
    return folder


@pytest.fixture
def schemas(proto_dir) -> ProtoSchemas:
    return ProtoSchemas.from_paths([proto_dir])


def _telemetry(schemas: ProtoSchemas, **fields) -> bytes:
    return schemas.message_class("acme.Telemetry")(**fields).SerializeToString()


def test_a_folder_of_protos_compiles_at_run_time_with_its_imports(schemas):
    assert {"acme.Telemetry", "acme.Tree", "google.protobuf.Timestamp"} <= set(schemas.message_types)
    value, notes = schemas.decode(_telemetry(schemas, temp=21.5, unit=1, count=3, tags=["a"]), "acme.Telemetry")
    assert value == {"temp": 21.5, "unit": "CELSIUS", "count": "3", "tags": ["a"]}  # int64 as the JSON mapping says
    assert notes == ()


def test_a_proto_that_does_not_compile_says_where(tmp_path):
    (tmp_path / "broken.proto").write_text('syntax = "proto3";\nmessage A { strin x = 1; }\n')
    with pytest.raises(ProtoSchemaError, match=r"broken\.proto:2.*strin"):
        ProtoSchemas.from_paths([tmp_path / "broken.proto"])
    with pytest.raises(ProtoSchemaError, match="No such file or folder"):
        ProtoSchemas.from_paths([tmp_path / "missing"])


def test_a_descriptor_set_made_elsewhere_is_read_without_compiling(tmp_path, proto_dir):
    from eventscope.core.decoding.protobuf_schemas import compile_protos

    (tmp_path / "schema.pb").write_bytes(compile_protos(proto_dir, ["telemetry.proto"]))
    loaded = ProtoSchemas.from_paths([tmp_path / "schema.pb"])
    assert loaded.decode(_telemetry(loaded, temp=1.0), "acme.Telemetry")[0] == {"temp": 1.0}


@pytest.mark.mosquitto
def test_sub_jsonl_decodes_a_topic_by_rule_and_another_by_content_type(mosquitto, proto_dir, schemas):
    proc = start_jsonl_sub(mosquitto.port, 4, "--decode", "factory/#=protobuf:acme.Telemetry", "--proto-path",
                           str(proto_dir))
    good = _telemetry(schemas, temp=-4.25, unit=1, tags=["north"])
    publish_raw(mosquitto.port, [("factory/line1/telemetry", good), ("factory/line1/telemetry", good[:-3]),
                                 ("lab/probe", good), ("lab/other", b"plain text")],
                [None, None, {"ContentType": TYPE_CT}, None])
    by_rule, truncated, by_type, plain = jsonl_lines(proc)
    assert by_rule["decoded"] == {"temp": -4.25, "unit": "CELSIUS", "tags": ["north"]}
    assert by_rule["decoded_by"] == "rule 1: factory/# → protobuf acme.Telemetry"
    assert by_rule["decoder"] == "protobuf" and by_rule["payload_encoding"] == "base64"
    assert truncated["decoded"] is None
    assert truncated["decode_error"].startswith(f"Not a valid acme.Telemetry ({len(good) - 3} B)")
    assert by_type["decoded"]["temp"] == -4.25 and by_type["decoded_by"] == f"content type {TYPE_CT}"
    assert plain["decoder"] == "text" and plain["decoded"] is None and "decode_error" not in plain


def test_sub_refuses_a_rule_whose_type_is_not_in_the_protos(proto_dir):
    done = subprocess.run(EVENTSCOPE + ["sub", "--port", "1", "--decode", "a/#=protobuf:acme.Missing",
                                        "--proto-path", str(proto_dir)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "No message type 'acme.Missing'" in done.stderr and "acme.Telemetry" in done.stderr
    assert "Traceback" not in done.stderr


def test_decode_raw_shows_field_numbers_wire_types_and_values(schemas):
    payload = _telemetry(schemas, temp=21.5, unit=1, tags=["hello"], at={"seconds": 5})
    fields = decode_raw(payload).fields
    assert [(f["field"], f["wire_type"]) for f in fields] == [(1, "i64"), (2, "varint"), (4, "len"), (5, "len")]
    assert fields[0]["as_float"] == 21.5 and fields[2]["message"] == [{"field": 1, "wire_type": "varint", "value": 5}]
    assert raw_text(fields).splitlines() == ["1: 0x4035800000000000 (21.5)", "2: 1", "4 {", "  1: 5", "}", '5: "hello"']


def test_a_protobuf_content_type_without_a_schema_gives_the_raw_view():
    record = MessageRecord("lab/x", b"\x08\x96\x01", properties=MessageProperties(content_type=TYPE_CT))
    decoded = DecoderRules().decode(record)
    assert (decoded.decoder, decoded.text) == ("protobuf-raw", "1: 150")
    assert decoded.rule_description.endswith("(no schema loaded for acme.Telemetry)")
    assert decode_payload(b"\x08\x96\x01", "auto", "application/x-protobuf").text == "1: 150"
    assert protobuf_type_from_content_type("application/json; messageType=x.Y") is None


def test_the_first_matching_rule_wins_and_rules_round_trip_through_a_profile(schemas):
    rules = DecoderRules([DecoderRule.parse("factory/+/raw=protobuf-raw"),
                          DecoderRule.parse("factory/#=protobuf:acme.Telemetry"), DecoderRule.parse("#=hex")], schemas)
    assert rules.rule_for("factory/a/raw")[0] == 1 and rules.rule_for("factory/a/b")[0] == 2
    assert rules.rule_for("$SYS/broker/uptime") is None  # a leading wildcard never matches a $ topic
    stored = json.loads(json.dumps(rules.to_list()))
    assert DecoderRules.rules_from_list(stored) == rules.rules
    with pytest.raises(DecoderRuleError, match="FILTER=DECODER"):
        DecoderRule.parse("factory/#")
    with pytest.raises(DecoderRuleError, match="unknown decoder 'yaml'"):
        DecoderRule.parse("factory/#=yaml")


# ----- bad input: a clear message, never a crash ---------------------------------------------
def test_a_truncated_message_is_an_error_and_the_bytes_are_shown_raw(schemas):
    payload = _telemetry(schemas, temp=1.0, tags=["abcdef"])[:-2]
    with pytest.raises(ProtoDecodeError, match=r"Not a valid acme\.Telemetry"):
        schemas.decode(payload, "acme.Telemetry")
    decoded = DecoderRules([DecoderRule("t", "protobuf", "acme.Telemetry")], schemas).decode(MessageRecord("t", payload))
    assert decoded.value is None and decoded.error.startswith("Not a valid acme.Telemetry")
    assert decoded.text.startswith("00000000  09 00 00 00")  # the raw bytes, as a hex dump


def test_the_wrong_message_type_says_which_fields_do_not_fit(schemas):
    tree = schemas.message_class("acme.Tree")(depth=3, child={"depth": 4}).SerializeToString()
    value, notes = schemas.decode(tree, "acme.Telemetry")
    assert notes == ("field 1 not in acme.Telemetry (or of another wire type): is it the right message type?",)
    assert value == {"unit": 3}  # field 2 happens to fit; the note says not to trust it


def test_deep_nesting_gives_a_message_not_a_crash(schemas):
    payload = b"\x10\x01"
    for _ in range(5000):  # 5000 levels, far past protobuf's limit of 100
        payload = b"\x0a" + _varint(len(payload)) + payload
    with pytest.raises(ProtoDecodeError, match=r"Not a valid acme\.Tree"):
        schemas.decode(payload, "acme.Tree")
    raw = decode_raw(payload)
    assert raw.notes == ("messages nested deeper than 64 levels are shown as bytes",)


def test_a_16_mb_payload_decodes_in_bounded_text_and_random_bytes_fail_fast(schemas):
    big = _telemetry(schemas, temp=1.0, blob=b"\xab" * (16 * 1024 * 1024))
    started = time.monotonic()
    decoded = DecoderRules([DecoderRule("t", "protobuf", "acme.Telemetry")], schemas).decode(MessageRecord("t", big))
    assert decoded.error == "" and decoded.value["temp"] == 1.0
    assert len(decoded.value["blob"]) > 22_000_000  # the value keeps all of it (base64)
    assert len(decoded.text) < 10_000 and "chars)" in decoded.text  # the text shortens it
    with pytest.raises(RawDecodeError, match=r"Not Protobuf wire format \(16777216 B\)"):
        decode_raw(b"\xff" * (16 * 1024 * 1024))
    many = decode_raw(b"\x08\x01" * (8 * 1024 * 1024))
    assert len(many.fields) == MAX_FIELDS and many.notes[0].startswith(f"stopped after {MAX_FIELDS} fields")
    assert time.monotonic() - started < 30


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
