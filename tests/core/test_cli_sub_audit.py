"""``eventscope sub`` region filtering and ``eventscope audit export`` against real processes."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import pytest

from eventscope.core.audit.export import row_to_json
from eventscope.core.audit.store import AuditStore
from eventscope.core.records import MessageProperties, MessageRecord
from tests.helpers.cli import EVENTSCOPE
from tests.helpers.region_topics import REGION_TOPICS


@pytest.mark.mosquitto
def test_sub_jsonl_keeps_exactly_the_selected_regions_in_order(mosquitto, mosquitto_pub):
    proc = subprocess.Popen(
        EVENTSCOPE + ["sub", "--port", str(mosquitto.port), "--filter", "+/hello/request",
                      "--regions", "us-east,eu-west", "--format", "jsonl", "--count", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "subscribed to +/hello/request" in proc.stderr.readline()
        for i, topic in enumerate(REGION_TOPICS + ["eu-west/hello/request"]):
            subprocess.run([mosquitto_pub, "-p", str(mosquitto.port), "-t", topic, "-m", f"m{i}", "-q", "1"], check=True)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(r["topic"], r["region"], r["payload"]) for r in lines] == [
        ("us-east/hello/request", "us-east", "m0"), ("eu-west/hello/request", "eu-west", "m1"),
        ("eu-west/hello/request", "eu-west", "m6")]
    assert set(lines[0]) == {"time", "broker", "topic", "region", "qos", "retain", "payload", "properties"}
    assert lines[0]["broker"] == f"127.0.0.1:{mosquitto.port}"
    assert proc.returncode == 0


@pytest.mark.mosquitto
def test_sub_region_level_one(mosquitto, mosquitto_pub):
    proc = subprocess.Popen(
        EVENTSCOPE + ["sub", "--port", str(mosquitto.port), "--filter", "fleet/+/hello/request", "--region-level", "1",
                      "--regions", "us-east", "--format", "jsonl", "--count", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "subscribed" in proc.stderr.readline()
        for topic in ("fleet/eu-west/hello/request", "fleet/us-east/hello/request"):
            subprocess.run([mosquitto_pub, "-p", str(mosquitto.port), "-t", topic, "-m", topic, "-q", "1"], check=True)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    (line,) = [json.loads(x) for x in out.splitlines()]
    assert (line["topic"], line["region"]) == ("fleet/us-east/hello/request", "us-east")


def _filled_store(path) -> list[dict]:
    store = AuditStore(path)
    store.write_batch([
        MessageRecord("us-east/hello/request", b"ping <b>1</b>", qos=1, received=1_700_000_000.0,
                      properties=MessageProperties(response_topic="us-east/hello/response", correlation_data=b"\x01")),
        MessageRecord("us-east/hello/response", b"pong", qos=1, received=1_700_000_000.125,
                      properties=MessageProperties(correlation_data=b"\x01")),
        MessageRecord("eu-west/hello/request", b"\xff\x00bin", received=1_700_000_100.0),
    ], broker="mqtt://127.0.0.1:1883", now=1_700_000_200.0)
    expected = [row_to_json(r) for chunk in store.iter_rows() for r in chunk]
    store.close()
    return expected


def test_audit_export_cli_csv_and_jsonl_give_the_same_rows(tmp_path):
    db = tmp_path / "audit.sqlite3"
    expected = _filled_store(db)
    jsonl = subprocess.run(EVENTSCOPE + ["audit", "export", "--db", str(db), "--format", "jsonl"],
                           capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in jsonl.splitlines()]
    assert rows == expected
    assert rows[0]["rtt_ms"] == pytest.approx(125.0) and rows[0]["correlation"] == "01"
    assert rows[2]["payload_encoding"] == "base64"
    out = subprocess.run(EVENTSCOPE + ["audit", "export", "--db", str(db), "--format", "csv"],
                         capture_output=True, text=True, check=True).stdout
    table = list(csv.DictReader(io.StringIO(out)))
    assert [r["topic"] for r in table] == [r["topic"] for r in expected]
    assert [r["payload"] for r in table] == [r["payload"] for r in expected]
    assert [r["kind"] for r in table] == ["request", "reply", "request"]


def test_audit_export_cli_since_and_grep(tmp_path):
    db = tmp_path / "audit.sqlite3"
    _filled_store(db)
    out = subprocess.run(EVENTSCOPE + ["audit", "export", "--db", str(db), "--format", "jsonl",
                                       "--since", "1700000050", "--grep", "bin"],
                         capture_output=True, text=True, check=True).stdout
    assert [json.loads(x)["topic"] for x in out.splitlines()] == ["eu-west/hello/request"]
    out = subprocess.run(EVENTSCOPE + ["audit", "export", "--db", str(db), "--format", "jsonl", "--grep", "pong"],
                         capture_output=True, text=True, check=True).stdout
    assert [json.loads(x)["payload"] for x in out.splitlines()] == ["pong"]


def test_audit_export_missing_db_fails_clearly(tmp_path):
    result = subprocess.run(EVENTSCOPE + ["audit", "export", "--db", str(tmp_path / "none.sqlite3")],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "No audit database" in result.stderr
