"""``eventscope audit export --decode``: each exported row carries its decoded form; without it, nothing changes."""

from __future__ import annotations

import csv
import io
import json
import subprocess

from eventscope.core.audit.store import AuditStore
from eventscope.core.records import MessageRecord
from eventscope.core.sparkplug.payload import MetricValue, encode_payload
from tests.helpers.cli import EVENTSCOPE


def _store_with_a_sparkplug_session(path) -> None:
    store = AuditStore(path)
    store.write_batch([
        MessageRecord("spBv1.0/g/NBIRTH/n", encode_payload([MetricValue(0, "Int64", "bdSeq")], seq=0), received=1.0),
        MessageRecord("spBv1.0/g/DBIRTH/n/d", encode_payload([MetricValue(1.0, name="Flow", alias=4)], seq=1), received=2.0),
        MessageRecord("spBv1.0/g/DDATA/n/d", encode_payload([MetricValue(2.5, alias=4)], seq=2), received=3.0),
        MessageRecord("notes/x", b"<b>plain</b>", received=4.0),
    ], broker="", now=10.0)
    store.close()


def _export(db, *extra: str) -> str:
    done = subprocess.run(EVENTSCOPE + ["audit", "export", "--db", str(db), *extra], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_audit_export_with_decode_resolves_sparkplug_aliases_in_jsonl_and_csv(tmp_path):
    db = tmp_path / "audit.sqlite3"
    _store_with_a_sparkplug_session(db)
    rows = [json.loads(line) for line in _export(db, "--format", "jsonl", "--decode", "spBv1.0/#=sparkplug").splitlines()]
    by_topic = {row["topic"]: row for row in rows}
    data = by_topic["spBv1.0/g/DDATA/n/d"]
    assert data["decoded"]["metrics"][0] == {"alias": 4, "datatype": "Double", "value": 2.5, "name": "Flow"}
    assert data["decoded_by"] == "rule 1: spBv1.0/# → sparkplug"
    assert (by_topic["notes/x"]["decoder"], by_topic["notes/x"]["decoded"]) == ("text", None)
    table = list(csv.DictReader(io.StringIO(_export(db, "--format", "csv", "--decode", "spBv1.0/#=sparkplug"))))
    data_cells = next(cells for cells in table if cells["topic"] == "spBv1.0/g/DDATA/n/d")
    assert json.loads(data_cells["decoded"])["metrics"][0]["name"] == "Flow" and data_cells["decoder"] == "sparkplug"


def test_audit_export_without_decode_has_no_decoded_fields(tmp_path):
    db = tmp_path / "audit.sqlite3"
    _store_with_a_sparkplug_session(db)
    rows = [json.loads(line) for line in _export(db, "--format", "jsonl").splitlines()]
    assert len(rows) == 4 and not any("decoded" in row or "decoder" in row for row in rows)
