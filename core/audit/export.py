"""Export audit rows to CSV or JSONL, with the same fields and payload encoding as ``eventscope sub``.

Fields: time, topic, region, qos, retain, payload (UTF-8 text, or base64 with
payload_encoding "base64"), properties, plus kind, broker, correlation (hex), rtt_ms,
duplicate, truncated (the stored payload is only the first part), size (the original payload's bytes) and
seen_on (the mesh path: every broker the message crossed, each with its own arrival time). CSV has the
same columns (payload_encoding always present, properties and seen_on as JSON).

With decoder rules (``ExportJob(..., rules=...)``) each row also carries its decoded form, as
``eventscope sub --decode`` prints it: decoder, decoded, and decoded_by, decode_error and
decode_notes when set (CSV: the columns in ``DECODED_COLUMNS``, the value as JSON).

``ExportJob`` writes in chunks so a GUI can drive it from its event loop and cancel it. A chunk is at most
``EXPORT_CHUNK`` rows and about ``READ_CHUNK_BYTES`` of payload (the store bounds both), and each row is
written out before the next is turned into text, so large payloads pass through one at a time.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING

from eventscope.core.audit.store import AuditQuery, AuditRow, AuditStore
from eventscope.core.decoding.decoders import json_default
from eventscope.core.decoding.rules import DecoderRules, export_fields
from eventscope.core.payload_text import decode_from_export, encode_for_export
from eventscope.core.records import MessageProperties, MessageRecord

if TYPE_CHECKING:
    from eventscope.core.audit.postgres import PostgresAuditStore

FORMATS = ("csv", "jsonl")
CSV_COLUMNS = ("time", "topic", "region", "qos", "retain", "payload", "payload_encoding", "properties",
               "kind", "broker", "correlation", "rtt_ms", "duplicate", "truncated", "size", "seen_on")
DECODED_COLUMNS = ("decoder", "decoded", "decoded_by", "decode_error")
EXPORT_CHUNK = 2_000


def row_to_json(row: AuditRow) -> dict:
    """One row in the same shape as ``eventscope sub --format jsonl`` plus the audit fields."""
    payload, encoding = encode_for_export(row.payload)
    out = {
        "time": datetime.fromtimestamp(row.received, timezone.utc).isoformat(),
        "topic": row.topic,
        "region": row.region,
        "qos": row.qos,
        "retain": row.retain,
        "payload": payload,
        "properties": row.properties,
    }
    if encoding == "base64":
        out["payload_encoding"] = "base64"
    out.update(kind=row.kind, broker=row.broker, correlation=row.correlation.hex() if row.correlation is not None else None,
               rtt_ms=row.rtt_ms, duplicate=row.duplicate, truncated=row.truncated, size=row.size,
               seen_on=[{"broker": broker, "time": datetime.fromtimestamp(received, timezone.utc).isoformat()}
                        for broker, received in row.path])  # the mesh path: every broker, by its own arrival time
    return out


def decoded_row(row: AuditRow, rules: DecoderRules) -> dict:
    """``row_to_json`` plus the decoded form. Rows go through ``rules.observe`` in export order (arrival),
    so Sparkplug aliases resolve from the BIRTHs exported before them."""
    record = MessageRecord(row.topic, row.payload, row.qos, row.retain, row.received, broker_id=row.broker,
                           properties=MessageProperties(content_type=row.properties.get("content_type")))
    return {**row_to_json(row), **export_fields(rules.observe(record))}


def _csv_cells(item: dict, columns: tuple[str, ...] = CSV_COLUMNS) -> list:
    cells = dict(item)
    if "decoder" in item:
        cells["decoded"] = json.dumps(item["decoded"], ensure_ascii=False, default=json_default)
        cells.setdefault("decoded_by", "")
        cells.setdefault("decode_error", "")
    cells.setdefault("payload_encoding", "utf-8")
    cells["properties"] = json.dumps(item["properties"], ensure_ascii=False, sort_keys=True)
    cells["retain"] = int(item["retain"])
    cells["duplicate"] = int(item["duplicate"])
    cells["truncated"] = int(item["truncated"])
    cells["correlation"] = item["correlation"] or ""
    cells["rtt_ms"] = "" if item["rtt_ms"] is None else repr(item["rtt_ms"])
    cells["seen_on"] = json.dumps(item["seen_on"], ensure_ascii=False)
    return [cells[c] for c in columns]


def read_export(path: str | Path) -> list[dict]:
    """Read an export back into the JSONL shape (payload decoded to bytes under 'payload_bytes')."""
    path = Path(path)
    out: list[dict] = []
    with path.open(newline="", encoding="utf-8") as fh:
        if path.suffix == ".csv" or fh.read(1) != "{":
            fh.seek(0)
            for cells in csv.DictReader(fh):
                item = {
                    "time": cells["time"], "topic": cells["topic"], "region": cells["region"], "qos": int(cells["qos"]),
                    "retain": cells["retain"] == "1", "payload": cells["payload"],
                    "properties": json.loads(cells["properties"]), "kind": cells["kind"], "broker": cells["broker"],
                    "correlation": cells["correlation"] or None,
                    "rtt_ms": float(cells["rtt_ms"]) if cells["rtt_ms"] else None,
                    "duplicate": cells["duplicate"] == "1",
                }
                if "truncated" in cells:  # exports before these columns have neither
                    item.update(truncated=cells["truncated"] == "1", size=int(cells["size"]))
                if "seen_on" in cells:
                    item["seen_on"] = json.loads(cells["seen_on"])
                if cells["payload_encoding"] == "base64":
                    item["payload_encoding"] = "base64"
                out.append(item)
        else:
            fh.seek(0)
            out = [json.loads(line) for line in fh if line.strip()]
    for item in out:
        item["payload_bytes"] = decode_from_export(item["payload"], item.get("payload_encoding", "utf-8"))
    return out


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


def parse_since(text: str, now: float | None = None) -> float:
    """Epoch seconds from '1700000000', an ISO time, or a duration ago such as '15m', '2h', '1d'."""
    text = text.strip()
    now = time.time() if now is None else now
    match = _DURATION.match(text)
    if match:
        return now - float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"Cannot read the time {text!r}: use an ISO time, epoch seconds or a duration like 15m") from exc
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a local time, as typed
    return moment.timestamp()


class ExportJob:
    """Writes every row matching ``query`` to ``out`` in chunks: call ``step()`` until it returns False."""

    def __init__(self, store: AuditStore | PostgresAuditStore, query: AuditQuery, fmt: str, out: IO[str],
                 chunk: int = EXPORT_CHUNK,
                 rules: DecoderRules | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"Unknown export format {fmt!r}: use csv or jsonl")
        self.fmt = fmt
        self.out = out
        try:
            self.total = store.count(query)
        except sqlite3.DatabaseError:  # a damaged file: the total is unknown, the readable rows still go out
            self.total = 0
        self.written = 0
        self.skipped: list[int] = []  # ids of rows a damaged file would not give up
        self._chunks = store.readable_rows(query, chunk, self.skipped)
        self._rules = rules
        self._columns = CSV_COLUMNS + DECODED_COLUMNS if rules is not None else CSV_COLUMNS
        self._csv = csv.writer(out) if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(self._columns)
        self.done = False

    def step(self) -> bool:
        """Write one chunk. Returns True while there is more to write."""
        if self.done:
            return False
        rows = next(self._chunks, None)
        if rows is None:
            self.done = True
            self.out.flush()
            return False
        items = (row_to_json(r) if self._rules is None else decoded_row(r, self._rules) for r in rows)
        if self._csv is not None:
            self._csv.writerows(_csv_cells(item, self._columns) for item in items)
        else:
            self.out.writelines(json.dumps(item, ensure_ascii=False, default=json_default) + "\n" for item in items)
        self.written += len(rows)
        return True

    def run(self) -> int:
        while self.step():
            pass
        return self.written


def export_to_path(store: AuditStore, query: AuditQuery, fmt: str, path: str | Path) -> int:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        return ExportJob(store, query, fmt, fh).run()
