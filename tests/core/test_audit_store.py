"""The audit store: batched writes, pairing with RTT, duplicates, retention, bad files, full disk, export."""

from __future__ import annotations

import io

import pytest

from eventscope.core.audit.export import ExportJob, export_to_path, read_export, row_to_json
from eventscope.core.audit.store import (
    WAL_CHECKPOINT_PAGES,
    AuditQuery,
    AuditStore,
    AuditStoreFull,
    classify,
    default_audit_path,
)
from eventscope.core.records import MessageProperties, MessageRecord


def request(i: int, t: float, payload: bytes | None = None) -> MessageRecord:
    return MessageRecord("us-east/hello/request", payload if payload is not None else f"req {i}".encode(), qos=1,
                         received=t, properties=MessageProperties(response_topic="us-east/hello/response",
                                                                  correlation_data=f"c{i}".encode()))


def reply(i: int, t: float) -> MessageRecord:
    return MessageRecord("us-east/hello/response", f"rep {i}".encode(), qos=1, received=t,
                         properties=MessageProperties(correlation_data=f"c{i}".encode()))


@pytest.fixture
def store(tmp_path):
    s = AuditStore(tmp_path / "audit.sqlite3", max_age_seconds=0)
    yield s
    s.close()


def test_file_is_wal_with_stable_client_id(tmp_path):
    store = AuditStore(tmp_path / "a.sqlite3")
    client_id = store.client_id
    assert store.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # Checkpoints come every WAL_CHECKPOINT_PAGES pages, not SQLite's default 1,000 (see store.py).
    assert store.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == WAL_CHECKPOINT_PAGES > 1_000
    store.close()
    again = AuditStore(tmp_path / "a.sqlite3")
    assert again.client_id == client_id
    again.close()


def test_default_path_is_one_file_per_profile_in_user_data_dir(isolated_user_dirs):
    path = default_audit_path("127.0.0.1:1883")
    assert path.name == "127.0.0.1_1883.sqlite3"
    assert str(path).startswith(str(isolated_user_dirs))


def test_batch_write_pairs_request_with_reply_and_rtt(store):
    result = store.write_batch([request(1, 100.0), MessageRecord("x/other", b"o", received=100.1), reply(1, 100.25)],
                               broker="mqtt://b:1883")
    assert result.inserted == 3 and result.paired_request_ids == (result.first_id,)
    rows = store.page_before(AuditQuery(), None, 10)
    assert [r.kind for r in rows] == ["reply", "other", "request"]  # newest first
    req = rows[-1]
    assert req.reply_id == rows[0].id
    assert req.rtt_ms == pytest.approx(250.0)
    assert req.broker == "mqtt://b:1883" and req.region == "us-east"
    assert req.to_record().properties.correlation_data == b"c1"


def test_reply_in_a_later_batch_pairs_too(store):
    store.write_batch([request(7, 10.0)])
    result = store.write_batch([reply(7, 10.5)])
    assert len(result.paired_request_ids) == 1
    (req,) = store.page_before(AuditQuery(kind="request"), None, 5)
    assert req.rtt_ms == pytest.approx(500.0)


def test_classify():
    assert classify(request(1, 0)) == "request"
    assert classify(reply(1, 0)) == "reply"
    assert classify(MessageRecord("eventscope/a/reply", b"")) == "reply"
    assert classify(MessageRecord("a/b", b"")) == "other"


def test_payload_display_limit_and_truncated_flag(tmp_path):
    store = AuditStore(tmp_path / "a.sqlite3", payload_limit=10, max_age_seconds=0)
    store.write_batch([MessageRecord("t", b"0123456789ABCDEF")])
    (row,) = store.page_before(AuditQuery(), None, 1)
    assert (row.payload, row.truncated, row.size) == (b"0123456789", True, 16)
    store.close()


def test_redelivery_with_same_content_is_flagged_not_dropped(store):
    original = MessageRecord("a/hello/request", b"p1", qos=1)
    store.write_batch([original])
    store.write_batch([MessageRecord("a/hello/request", b"p1", qos=1, dup=True),  # committed before: duplicate
                       MessageRecord("a/hello/request", b"p2", qos=1, dup=True),  # first stored copy: not one
                       MessageRecord("a/hello/request", b"p1", qos=1)])  # no DUP flag: a legitimate repeat
    rows = list(reversed(store.page_before(AuditQuery(), None, 10)))
    assert [(r.payload, r.duplicate) for r in rows] == [(b"p1", False), (b"p1", True), (b"p2", False), (b"p1", False)]


def test_retention_prunes_in_chunks(tmp_path):
    store = AuditStore(tmp_path / "a.sqlite3", max_rows=50, max_age_seconds=3600)
    for batch in range(4):
        store.write_batch([MessageRecord("t", str(batch * 25 + i).encode(), received=1000.0 + batch) for i in range(25)],
                          now=1000.0 + batch)
    assert store.row_count == 50 == store.count()
    assert store.page_before(AuditQuery(), None, 100)[-1].payload == b"50"
    store.write_batch([MessageRecord("t", b"new", received=99_999.0)], now=99_999.0)  # all older rows are too old
    assert store.count() == 1
    store.close()


def test_query_filters(store):
    store.write_batch([request(1, 1.0), reply(1, 2.0), MessageRecord("eu-west/hello/request", b"needle here", received=3.0)])
    assert [r.topic for r in store.page_before(AuditQuery(region="eu-west"), None, 10)] == ["eu-west/hello/request"]
    assert [r.payload for r in store.page_before(AuditQuery(text="needle"), None, 10)] == [b"needle here"]
    assert [r.kind for r in store.page_before(AuditQuery(topic="response"), None, 10)] == ["reply"]
    assert store.count(AuditQuery(since=2.0)) == 2


def test_corrupt_file_is_moved_aside_and_a_fresh_store_starts(tmp_path):
    path = tmp_path / "audit.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    store = AuditStore(path, max_age_seconds=0)
    assert "moved to" in store.notice and "could not be read" in store.notice
    aside = list(tmp_path.glob("audit.sqlite3.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")
    store.write_batch([MessageRecord("t", b"ok")])
    assert store.count() == 1
    store.close()


def test_full_disk_raises_and_writes_nothing(tmp_path):
    store = AuditStore(tmp_path / "a.sqlite3", max_age_seconds=0)
    pages = store.connection.execute("PRAGMA page_count").fetchone()[0]
    store.connection.execute(f"PRAGMA max_page_count={pages + 2}")
    with pytest.raises(AuditStoreFull, match="full"):
        store.write_batch([MessageRecord("t", bytes(2000)) for _ in range(50)])
    assert store.count() == 0 and store.row_count == 0
    store.connection.execute("PRAGMA max_page_count=1000000")
    store.write_batch([MessageRecord("t", b"ok")])  # recovers when space comes back
    assert store.count() == 1
    store.close()


def test_export_round_trip_csv_and_jsonl(store, tmp_path):
    records = [request(1, 1.0), reply(1, 1.01), MessageRecord("bin/x", bytes(range(256)), received=2.0),
               MessageRecord("a/b", "a,\"quoted\"\nline <b>é</b>".encode(), retain=True, received=3.0)]
    store.write_batch(records, broker="mqtt://h:1")
    expected = [row_to_json(r) for chunk in store.iter_rows() for r in chunk]
    for fmt in ("csv", "jsonl"):
        path = tmp_path / f"out.{fmt}"
        assert export_to_path(store, AuditQuery(), fmt, path) == 4
        back = read_export(path)
        assert [item.pop("payload_bytes") for item in back] == [r.payload for r in records]
        assert back == expected
    assert expected[0]["rtt_ms"] == pytest.approx(10.0) and expected[2]["payload_encoding"] == "base64"


def test_export_job_runs_in_cancellable_chunks(store):
    store.write_batch([MessageRecord("t", str(i).encode(), received=float(i)) for i in range(25)])
    out = io.StringIO()
    job = ExportJob(store, AuditQuery(), "jsonl", out, chunk=10)
    assert job.total == 25
    assert job.step() and job.written == 10  # stop here = cancel: only whole chunks were written
    assert len(out.getvalue().splitlines()) == 10
    job.run()
    assert job.written == 25


def test_a_message_bridged_to_other_brokers_is_one_row_with_its_path(tmp_path):
    from eventscope.core.records import MessageProperties

    store = AuditStore(tmp_path / "mesh.sqlite3", max_age_seconds=0)
    props = MessageProperties(response_topic="r", correlation_data=b"c1")
    first = store.write_batch([MessageRecord("us-east/hello/request", b"hi", qos=1, received=100.0, properties=props)],
                              broker="us-east")
    later = store.write_batch([MessageRecord("us-east/hello/request", b"hi", qos=1, received=100.043,
                                             properties=props)], broker="us-west")
    again = store.write_batch([MessageRecord("us-east/hello/request", b"hi", qos=1, received=100.051,
                                             properties=props)], broker="eu-central")
    assert first.inserted == 1 and later.inserted == 0 and again.inserted == 0
    assert [(s.message_id, s.broker) for s in later.sightings + again.sightings] == [
        (first.first_id, "us-west"), (first.first_id, "eu-central")]
    (row,) = store.page_before(AuditQuery(), None, 10)
    assert row.path_text() == "us-east +0 ms → us-west +43 ms → eu-central +51 ms"
    # Outside the mesh window, or on the same broker, a repeat is a message of its own.
    store.write_batch([MessageRecord("us-east/hello/request", b"hi", received=200.0, properties=props)], broker="us-west")
    store.write_batch([MessageRecord("us-east/hello/request", b"hi", received=200.5, properties=props)], broker="us-west")
    assert store.count() == 3


def test_copies_from_several_brokers_in_one_batch_are_one_row_and_its_sightings(tmp_path):
    store = AuditStore(tmp_path / "mixed.sqlite3", max_age_seconds=0)
    props = MessageProperties(response_topic="r", correlation_data=b"c1")
    copies = [MessageRecord("us-east/hello/request", b"hi", qos=1, received=100.0 + i / 100, properties=props,
                            broker_id=broker) for i, broker in enumerate(("us-east", "us-west", "us-east", "eu-central"))]
    result = store.write_batch(copies)  # no broker given: each record's own
    # us-east's second copy is a message of its own (a repeat on one broker is not a mesh copy).
    assert result.inserted == 2 and [(s.message_id, s.broker) for s in result.sightings] == [
        (result.first_id, "us-west"), (result.first_id, "eu-central")]
    store.close()


def test_a_changed_region_level_applies_to_the_next_batch_of_a_topic_already_seen(store):
    first = store.write_batch([request(1, 100.0)])
    store.region_level = 1
    second = store.write_batch([request(2, 100.5)])
    store.region_level = 5  # deeper than the topic: no region
    third = store.write_batch([request(3, 101.0)])
    assert [first.rows[0].region, second.rows[0].region, third.rows[0].region] == ["us-east", "hello", ""]
    assert [r.kind for r in (first.rows[0], second.rows[0], third.rows[0])] == ["request"] * 3


def test_a_copy_written_by_another_connection_is_a_sighting_too(tmp_path):
    """Two recorders in two processes write one file, each on its own connection: each sees the other's rows."""
    path = tmp_path / "mesh.sqlite3"
    east, west = AuditStore(path, max_age_seconds=0), AuditStore(path, max_age_seconds=0)
    first = east.write_batch([MessageRecord("us-east/hello/request", b"hi", received=100.0)], broker="us-east")
    crossed = west.write_batch([MessageRecord("us-east/hello/request", b"hi", received=100.04)], broker="us-west")
    assert crossed.inserted == 0 and [(s.message_id, s.broker) for s in crossed.sightings] == [(first.first_id, "us-west")]
    own = west.write_batch([MessageRecord("us-west/hello/request", b"yo", received=100.5)], broker="us-west")
    back = east.write_batch([MessageRecord("us-west/hello/request", b"yo", received=100.6)], broker="us-east")
    assert back.inserted == 0 and [s.message_id for s in back.sightings] == [own.first_id]
    east.close()
    west.close()
    reopened = AuditStore(path, max_age_seconds=0)  # nothing held in memory yet: the window is read from the file
    again = reopened.write_batch([MessageRecord("us-east/hello/request", b"hi", received=101.0)], broker="eu-central")
    assert again.inserted == 0 and [s.message_id for s in again.sightings] == [first.first_id]
    assert reopened.count() == 2
    reopened.close()


def test_a_redelivered_copy_is_found_after_a_restart_and_the_old_content_index_is_dropped(tmp_path):
    path = tmp_path / "audit.sqlite3"
    store = AuditStore(path, max_age_seconds=0)
    store.write_batch([MessageRecord("a/hello/request", b"p1", qos=1, received=100.0)], broker="east")
    store.connection.execute("CREATE INDEX messages_content ON messages (content_hash)")  # as earlier versions had
    store.close()
    store = AuditStore(path, max_age_seconds=0)
    indexes = {row[0] for row in store.connection.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "messages_content" not in indexes and "messages_received" in indexes
    # Long after the mesh window: the copy is found among the broker's newest rows.
    result = store.write_batch([MessageRecord("a/hello/request", b"p1", qos=1, dup=True, received=5000.0),
                                MessageRecord("a/hello/request", b"p9", qos=1, dup=True, received=5000.1)], broker="east")
    assert result.duplicates == 1
    assert [(r.payload, r.duplicate) for r in reversed(store.page_before(AuditQuery(), None, 10))] == [
        (b"p1", False), (b"p1", True), (b"p9", False)]
    store.close()


def test_rows_that_were_never_stored_or_were_pruned_are_no_copy_to_point_at(tmp_path):
    store = AuditStore(tmp_path / "a.sqlite3", max_rows=2, max_age_seconds=0)
    pages = store.connection.execute("PRAGMA page_count").fetchone()[0]
    store.connection.execute(f"PRAGMA max_page_count={pages + 2}")
    with pytest.raises(AuditStoreFull):
        store.write_batch([MessageRecord("t", b"lost", received=100.0)] + [MessageRecord("t", bytes(2000))] * 50,
                          broker="east")
    store.connection.execute("PRAGMA max_page_count=1000000")
    assert store.write_batch([MessageRecord("t", b"lost", received=100.1)], broker="west").inserted == 1
    store.write_batch([MessageRecord("t", b"old", received=100.2)], broker="east")
    store.write_batch([MessageRecord("t", b"x", received=100.3), MessageRecord("t", b"y", received=100.4)],
                      broker="east")  # max_rows 2: 'lost' and 'old' are pruned
    copy = store.write_batch([MessageRecord("t", b"old", received=100.5)], broker="west")
    assert copy.inserted == 1 and copy.sightings == ()
    assert [r.payload for r in reversed(store.page_before(AuditQuery(), None, 10))] == [b"y", b"old"]
    store.close()

