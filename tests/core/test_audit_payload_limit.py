"""The audit keeps payloads whole up to a cap (16 MiB by default, ``--max-payload``), on a real SQLite file
and a real PostgreSQL, recorded from a real Mosquitto; feeds read previews, exports stream in bounded chunks."""

from __future__ import annotations

import json
import os
import random
import subprocess

import pytest

from eventscope.core.audit.commit_thread import AuditWriter
from eventscope.core.audit.export import ExportJob, read_export
from eventscope.core.audit.feed import FeedReader, FeedRows
from eventscope.core.audit.postgres import is_postgres_url, split_password
from eventscope.core.audit.recorder import AuditRecorder
from eventscope.core.audit.store import (
    DEFAULT_PAYLOAD_LIMIT,
    PAYLOAD_PREVIEW_BYTES,
    READ_CHUNK_BYTES,
    AuditQuery,
)
from eventscope.core.audit.stores import open_reader, open_store
from eventscope.core.cli.db_args import payload_size
from eventscope.core.profile import ConnectionProfile
from eventscope.core.records import MessageRecord
from tests.conftest import publish_raw, wait_until
from tests.helpers.cli import EVENTSCOPE, run

MIB = 1024 * 1024
TOPIC = "us-east/orders/request"


def json_request(min_size: int = 100_000) -> bytes:
    """An order as a JSON request of at least ``min_size`` bytes, as a real client sends one."""
    items, body = [], b""
    while len(body) < min_size:
        n = len(items)
        items.append({"sku": f"SKU-{n:06d}", "qty": n % 7 + 1, "price": round(3.5 + n % 40 * 1.25, 2),
                      "note": f"line {n}: gift wrap, deliver to dock {n % 12}"})
        body = json.dumps({"order": "ord-4711", "customer": "acme", "items": items}).encode()
    return body


def random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture(params=["sqlite", "postgres"])
def location(request, tmp_path) -> str:
    """Where the audit is kept: a SQLite file, or a fresh database on a real PostgreSQL 15."""
    if request.param == "sqlite":
        return str(tmp_path / "audit.sqlite3")
    return request.getfixturevalue("pg_url")


def request_props(i: int = 1) -> dict:
    return {"ResponseTopic": "us-east/orders/response", "CorrelationData": f"o{i}".encode()}


# ----- kept whole ---------------------------------------------------------------------------------


def test_a_100_kb_json_request_through_mosquitto_is_stored_whole(mosquitto, location, tmp_path):
    body = json_request()
    assert len(body) > 100_000 > 64 * 1024  # once cut at 64 KiB
    store = open_store(location)
    recorder = AuditRecorder(store, ConnectionProfile(name="plant", host="127.0.0.1", port=mosquitto.port),
                             filters=("+/orders/request",))
    writer = AuditWriter(recorder, database=location)  # as the window records: on its own commit thread
    writer.start()
    try:
        assert recorder.wait_ready(10), recorder.not_ready_reason
        publish_raw(mosquitto.port, [(TOPIC, body)], [request_props()])
        committed = []

        def taken() -> bool:
            committed.extend(row for summary in writer.take_results() if summary.result for row in summary.result.rows)
            return bool(committed)

        wait_until(taken, timeout=15, message="the request committed")
    finally:
        writer.stop()
        store.close()
    (held,) = committed  # what the writer hands to the feed: a preview, never the 100 KB
    assert held.payload_is_preview and held.payload == body[:PAYLOAD_PREVIEW_BYTES]
    reader = open_reader(location)
    try:
        (row,) = reader.rows_by_id([held.id]).values()
    finally:
        reader.close()
    assert row.payload == body and not row.truncated and row.size == len(body) and not row.payload_is_preview
    assert json.loads(row.payload)["order"] == "ord-4711"

    out = tmp_path / "export.jsonl"  # and the export gives it back whole
    bare, password = split_password(location) if is_postgres_url(location) else (location, None)
    exported = run("audit", "export", "--db", bare, "--db-password-env", "TEST_DB_PASSWORD", "-o", str(out),
                   env={**os.environ, "TEST_DB_PASSWORD": password or ""})
    assert exported.returncode == 0, exported.stderr
    (item,) = read_export(out)
    assert item["payload_bytes"] == body and item["truncated"] is False and item["size"] == len(body)


def test_the_default_keeps_16_mib_whole_and_cuts_17_mib_there(location):
    exactly = random_bytes(16 * MIB, 1)
    beyond = random_bytes(17 * MIB, 2)
    store = open_store(location, max_age_seconds=0)
    try:
        assert store.payload_limit == DEFAULT_PAYLOAD_LIMIT == 16 * MIB
        records = [MessageRecord("big/exactly", exactly, received=1e9),
                   MessageRecord("big/beyond", beyond, received=1e9 + 1)]
        result = store.write_batch(records)
        # The write path hands on the payload it was given: no copy of a 16 MiB payload on the way in.
        assert result.rows[0].payload is exactly
        rows = store.rows_by_id([r.id for r in result.rows])
    finally:
        store.close()
    whole, cut = (rows[r.id] for r in result.rows)
    assert whole.payload == exactly and not whole.truncated and whole.size == 16 * MIB
    assert cut.payload == beyond[:16 * MIB] and cut.truncated and cut.size == 17 * MIB


def test_a_smaller_cap_cuts_there_and_keeps_the_original_size(location):
    store = open_store(location, max_age_seconds=0, payload_limit=1024)
    try:
        result = store.write_batch([MessageRecord("t/small", b"s" * 1024, received=1e9),
                                    MessageRecord("t/large", b"L" * 4096, received=1e9 + 1)])
        small, large = (store.rows_by_id([r.id for r in result.rows])[r.id] for r in result.rows)
    finally:
        store.close()
    assert (small.payload, small.truncated, small.size) == (b"s" * 1024, False, 1024)
    assert (large.payload, large.truncated, large.size) == (b"L" * 1024, True, 4096)


# ----- --max-payload ------------------------------------------------------------------------------


def recorder_cli(port: int, location: str, *options: str) -> subprocess.Popen:
    """``eventscope audit record`` into ``location`` (a URL's password through the environment); returns once ready."""
    bare, password = split_password(location) if is_postgres_url(location) else (location, None)
    proc = subprocess.Popen([*EVENTSCOPE, "audit", "record", "--host", "127.0.0.1", "--port", str(port),
                             "-t", "+/orders/request", "--db", bare, "--db-password-env", "TEST_DB_PASSWORD", *options],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TEST_DB_PASSWORD": password or ""})
    line = proc.stdout.readline() if proc.stdout else ""
    assert "audit recorder ready" in line, line + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
    return proc


def test_max_payload_1k_on_the_command_line_cuts_a_4_kb_payload(mosquitto, location):
    body = json_request(4096)[:4096]
    recorder = recorder_cli(mosquitto.port, location, "--max-payload", "1K")
    try:
        publish_raw(mosquitto.port, [(TOPIC, body)], [request_props()])
        reader = open_reader(location)
        try:
            wait_until(lambda: reader.newest_id() > 0, timeout=15, message="the request recorded")
            (row,) = reader.page_before(AuditQuery(), None, 10)
        finally:
            reader.close()
    finally:
        recorder.terminate()
        _, err = recorder.communicate(timeout=30)
    assert recorder.returncode == 0, err
    assert row.payload == body[:1024] and row.truncated and row.size == 4096


@pytest.mark.parametrize("value", ["0", "abc", "1.5M", "1G", "300M", "-5", ""])
def test_a_bad_max_payload_is_a_usage_error(value, tmp_path):
    result = run("audit", "record", "--db", str(tmp_path / "a.sqlite3"), f"--max-payload={value}")
    assert result.returncode == 2, result.stderr
    assert "--max-payload" in result.stderr and "Traceback" not in result.stderr
    assert "size" in result.stderr
    assert not (tmp_path / "a.sqlite3").exists()  # refused before anything was opened


def test_sizes_read_as_bytes_kib_and_mib():
    assert [payload_size(text) for text in ("65536", "64K", "64k", "1KiB", "16M", "2 MiB", "256M")] == [
        65536, 65536, 65536, 1024, 16 * MIB, 2 * MIB, 256 * MIB]


# ----- reading large payloads ---------------------------------------------------------------------


def test_a_feed_reads_previews_and_a_row_whole_only_when_opened(location):
    needle = b"needle-past-the-preview"
    body = json_request()[:-2] + b', "' + needle + b'"]'  # the text searched for is at the very end
    store = open_store(location, max_age_seconds=0)
    try:
        result = store.write_batch([MessageRecord(TOPIC, body, received=1e9),
                                    MessageRecord(TOPIC, b'{"small": 1}', received=1e9 + 1)])
    finally:
        store.close()
    big_id, small_id = (r.id for r in result.rows)
    reader = FeedReader(location)
    try:
        page = reader.first_page(AuditQuery()).result(30)
        rows = {r.id: r for r in page.rows}
        assert rows[big_id].payload == body[:PAYLOAD_PREVIEW_BYTES] and rows[big_id].payload_is_preview
        assert rows[big_id].size == len(body) and not rows[big_id].truncated
        assert rows[small_id].payload == b'{"small": 1}' and not rows[small_id].payload_is_preview
        assert reader.whole_row(big_id).result(30).payload == body

        query = AuditQuery(text=needle.decode())
        (found,) = reader.first_page(query).result(30).rows  # the store searches the whole payload
        assert found.id == big_id and found.payload_is_preview
        # A live row holds a preview without the text: only the store can say whether it matches.
        feed = FeedRows()
        assert feed.fresh_rows([found], query) == ([], []) and feed.undecided([found], query) == [big_id]
        assert [r.id for r in reader.rows_matching(query, [big_id, small_id]).result(30).rows] == [big_id]
        assert feed.undecided([rows[small_id]], query) == []  # a whole payload decides for itself
    finally:
        reader.close()


def test_exports_read_large_payloads_in_byte_bounded_chunks(location, tmp_path):
    payloads = [random_bytes(8 * MIB, seed) for seed in range(6)]
    store = open_store(location, max_age_seconds=0)
    try:
        store.write_batch([MessageRecord(f"big/{i}", p, received=1e9 + i) for i, p in enumerate(payloads)])
        store.write_batch([MessageRecord(f"small/{i}", f"s{i}".encode(), received=1e9 + 10 + i) for i in range(3)])
    finally:
        store.close()
    reader = open_reader(location)
    try:
        chunks = list(reader.iter_rows(AuditQuery()))
        # 8 MiB rows: four fill READ_CHUNK_BYTES (32 MiB), never all six (48 MiB) at once
        assert [len(c) for c in chunks] == [4, 5] and 4 * 8 * MIB == READ_CHUNK_BYTES
        assert [r.payload for c in chunks for r in c] == payloads + [b"s0", b"s1", b"s2"]
        out = tmp_path / "export.jsonl"
        with out.open("w", encoding="utf-8") as fh:
            assert ExportJob(reader, AuditQuery(), "jsonl", fh).run() == 9
    finally:
        reader.close()
    assert [item["payload_bytes"] for item in read_export(out)][:6] == payloads
