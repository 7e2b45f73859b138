"""Fault suite, data classes: hostile payloads, topics, filters and MQTT 5 properties, through the core
(decoders, tree, previews, export) and end to end through a real Mosquitto and the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from eventscope.core.audit.export import read_export, row_to_json
from eventscope.core.audit.store import AuditStore
from eventscope.core.cli.tree_cmd import tree_json_text, tree_to_text
from eventscope.core.decoding.decoders import decode_payload, numeric_fields, numeric_value
from eventscope.core.demo.embedded_broker import EmbeddedBroker, iotcore_available
from eventscope.core.models.topic_tree import TopicTree
from eventscope.core.payload_text import decode_from_export, encode_for_export, preview
from eventscope.core.records import MessageProperties, MessageRecord
from eventscope.core.topics import FilterSet, TopicError, validate_filter, validate_topic
from tests.conftest import publish_raw
from tests.helpers.cli import EVENTSCOPE, run

# What a terminal must never get raw: C0 controls (but tab and line breaks), DEL and C1 controls.
RAW_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

def finish(proc: subprocess.Popen, timeout: float = 30) -> tuple:
    """The child's output once it exits; killed (by its PID) if it does not, so no test leaves it behind."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise


PAYLOADS = {
    "invalid UTF-8": b"\xff\xfe\xc3\x28",
    "empty": b"",
    "NUL": b"before\x00after",
    "16 MB": b"x" * (16 * 1024 * 1024),
    "markup": b"<b>bold</b><script>alert(1)</script>",
    "deep JSON arrays": b"[" * 1000 + b"]" * 1000,
    "deep JSON objects": b'{"a":' * 1000 + b"1" + b"}" * 1000,
    "number overflow": b'{"big": 1e999, "huge": ' + b"9" * 5000 + b"}",
    "C0 escape sequence": b"\x1b[31mred\x1b[0m",
    "C1 control": "\u009b31mred".encode(),
    "DEL": b"a\x7fb",
}


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_a_hostile_payload_decodes_previews_and_exports_safely(payload):
    decoded = decode_payload(payload)
    assert isinstance(decoded.text, str)
    assert isinstance(numeric_fields(payload), list) and numeric_value(payload, "a") is None
    shown = preview(payload)
    assert not RAW_CONTROL.search(shown) and len(shown) < 400
    text, encoding = encode_for_export(payload)
    assert decode_from_export(text, encoding) == payload
    if payload.startswith(b"<b>"):
        assert decoded.decoder == "text" and decoded.text == payload.decode()  # shown as text, never rendered


def test_deep_nesting_is_refused_with_the_reason_by_the_json_decoder():
    decoded = decode_payload(PAYLOADS["deep JSON arrays"], "json")
    assert decoded.decoder == "hex" and "nested deeper than" in decoded.error


def test_every_hostile_payload_survives_sub_end_to_end(mosquitto):
    """One subscriber, every payload: text output has no raw control character, JSONL gives back each byte."""
    names = list(PAYLOADS)
    for fmt in ("text", "jsonl"):
        proc = subprocess.Popen([*EVENTSCOPE, "sub", "--port", str(mosquitto.port), "-t", "payload/#", "--format", fmt,
                                 "--count", str(len(names))], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert b"subscribed to" in proc.stderr.readline()
        publish_raw(mosquitto.port, [(f"payload/{i}", PAYLOADS[name]) for i, name in enumerate(names)])
        out, err = finish(proc, 60)
        assert proc.returncode == 0, err
        text = out.decode("utf-8")
        if fmt == "text":
            assert not RAW_CONTROL.search(text) and len(text.splitlines()) == len(names)
        else:
            rows = {row["topic"]: row for row in map(json.loads, text.splitlines())}
            for i, name in enumerate(names):
                row = rows[f"payload/{i}"]
                assert decode_from_export(row["payload"], row.get("payload_encoding", "utf-8")) == PAYLOADS[name], name


@pytest.fixture
def lenient_broker():
    """The embedded iotcore broker: unlike Mosquitto, it passes control characters in topics on."""
    if not iotcore_available():
        pytest.skip("the iotcore broker is not installed")
    broker = EmbeddedBroker(backend="iotcore").start()
    yield broker
    broker.stop()


CONTROL_TOPIC = "ctl/a\x1b[2Jb\u009bc\x7f"


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_control_characters_in_a_topic_never_reach_the_terminal_raw(lenient_broker, fmt):
    proc = subprocess.Popen([*EVENTSCOPE, "sub", "--port", str(lenient_broker.port), "-t", "ctl/#", "--count", "1",
                             "--format", fmt], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert b"subscribed to" in proc.stderr.readline()
    publish_raw(lenient_broker.port, [(CONTROL_TOPIC, "x\u009by".encode())])
    out, err = finish(proc)
    assert proc.returncode == 0, err
    line = out.decode("utf-8")
    assert not RAW_CONTROL.search(line)
    if fmt == "text":
        assert line.startswith("ctl/a\\x1b[2Jb\\x9bc\\x7f ")
    else:  # escaped the JSON way: the same values come back
        row = json.loads(line)
        assert row["topic"] == CONTROL_TOPIC
        assert decode_from_export(row["payload"], row.get("payload_encoding", "utf-8")) == "x\u009by".encode()


def test_a_16_mb_payload_stored_truncated_exports_its_flag_and_original_size(tmp_path):
    store = AuditStore(tmp_path / "audit.sqlite3", payload_limit=64 * 1024)  # the default keeps 16 MiB whole
    store.write_batch([MessageRecord("big/blob", PAYLOADS["16 MB"], received=time.time())])
    store.close()
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"export.{fmt}"
        result = run("audit", "export", "--db", str(tmp_path / "audit.sqlite3"), "--format", fmt, "-o", str(out))
        assert result.returncode == 0, result.stderr
        (row,) = read_export(out)
        assert row["truncated"] is True and row["size"] == 16 * 1024 * 1024
        assert len(row["payload_bytes"]) == 64 * 1024


# ----- topics ------------------------------------------------------------------------

TOPICS = {
    "65,535 bytes": "t/" + "x" * 65533,
    "1,500 levels": "/".join(["level"] * 1500),
    "empty levels": "a//b/",
    "leading slash": "/a/b",
    "$ topic": "$SYS/broker/uptime",
    "unicode and spaces": "région/東京/ a b /🙂",
    "control characters": "a\x1bb/c\x9bd",
}


@pytest.mark.parametrize("topic", TOPICS.values(), ids=TOPICS.keys())
def test_a_hostile_topic_goes_through_the_tree_and_its_output(topic):
    validate_topic(topic)
    tree = TopicTree()
    tree.apply([MessageRecord(topic, b"1")])
    assert tree.node(topic) is not None and tree.node(topic).count == 1
    lines = tree_to_text(tree.root).splitlines()
    assert len(lines) == topic.count("/") + 1 and not RAW_CONTROL.search("\n".join(lines))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)  # only the test's own json.loads recurses per level
    try:
        parsed = json.loads(tree_json_text(tree.root))
    finally:
        sys.setrecursionlimit(limit)
    depth, node = 0, parsed
    while node["children"]:
        (node,) = node["children"]
        depth += 1
    assert node["topic"] == topic and depth == topic.count("/") + 1


def test_a_topic_of_65536_bytes_is_refused():
    with pytest.raises(TopicError):
        validate_topic("x" * 65536)


def test_dollar_topics_are_never_matched_by_a_leading_wildcard():
    assert not FilterSet(["#"]).matches("$SYS/broker/uptime")
    assert not FilterSet(["+/broker/uptime"]).matches("$SYS/broker/uptime")
    assert FilterSet(["$SYS/#"]).matches("$SYS/broker/uptime")


MOSQUITTO_TOPIC_LEVELS = 200  # Mosquitto's own limit (TOPIC_HIERARCHY_LIMIT); 1,000+ levels are tested in the core


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_deep_topic_prints_through_tree_end_to_end(mosquitto, fmt):
    levels = MOSQUITTO_TOPIC_LEVELS - 1
    topic = "/".join(["d"] * levels)
    proc = subprocess.Popen([*EVENTSCOPE, "tree", "--port", str(mosquitto.port), "-t", "d/#", "--seconds", "1.5",
                             "--format", fmt], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert "subscribed to" in proc.stderr.readline()
    publish_raw(mosquitto.port, [(topic, b"deep")])
    out, err = finish(proc)
    assert proc.returncode == 0 and "Traceback" not in err
    if fmt == "text":
        assert len(out.splitlines()) == levels and out.splitlines()[-1].strip() == "d (1/1) = deep"
    else:
        assert out.count('"children": [') == levels + 1 and f'"topic": "{topic}"' in out


# ----- filters -------------------------------------------------------------------------

BAD_FILTERS = ["a/#/b", "a+/b", "#/a", "", "a/b#"]


@pytest.mark.parametrize("topic_filter", BAD_FILTERS)
def test_a_bad_filter_is_refused_before_connecting(topic_filter):
    with pytest.raises(TopicError):
        validate_filter(topic_filter)
    for command in (["sub", "-t", topic_filter], ["audit", "record", "--filter", topic_filter]):
        result = run(*command, "--port", "1")  # port 1: a command that tried to connect would exit 1
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr.strip() and "Traceback" not in result.stderr


# ----- MQTT 5 properties ---------------------------------------------------------------

PROPERTIES = {
    "1,000 user properties": {"UserProperty": [(f"key{i}", f"value{i}") for i in range(1000)]},
    "a 60 KB user property value": {"UserProperty": [("big", "v" * 60_000)]},
    "a 60 KB correlation data": {"CorrelationData": b"c" * 60_000, "ResponseTopic": "r" * 1000},
}


@pytest.mark.parametrize("properties", PROPERTIES.values(), ids=PROPERTIES.keys())
def test_large_properties_arrive_whole_and_export_whole(mosquitto, tmp_path, properties):
    proc = subprocess.Popen([*EVENTSCOPE, "sub", "--port", str(mosquitto.port), "-t", "props/#", "--format", "jsonl",
                             "--count", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert "subscribed to" in proc.stderr.readline()
    publish_raw(mosquitto.port, [("props/x", b"p")], [properties])
    out, err = finish(proc)
    assert proc.returncode == 0, err
    got = json.loads(out)["properties"]
    if "UserProperty" in properties:
        assert [tuple(p) for p in got["user_properties"]] == properties["UserProperty"]
    else:
        assert got["response_topic"] == properties["ResponseTopic"]
    store = AuditStore(tmp_path / "audit.sqlite3")
    props = MessageProperties(user_properties=tuple(properties.get("UserProperty", ())),
                              correlation_data=properties.get("CorrelationData"))
    store.write_batch([MessageRecord("props/x", b"p", received=time.time(), properties=props)])
    (rows,) = list(store.iter_rows())
    exported = row_to_json(rows[0])
    store.close()
    assert len(exported["properties"].get("user_properties", [])) == len(properties.get("UserProperty", ()))
