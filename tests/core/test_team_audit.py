"""The team audit on a real PostgreSQL 15: the store, several recorders at once, the schema, retention,
export, and the set-ups that must fail with a clear message."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from eventscope.core.audit.export import ExportJob, read_export
from eventscope.core.audit.lock import RecorderBusyError
from eventscope.core.audit.postgres import SCHEMA_VERSION, PostgresAuditStore, init_schema, mask_url, split_password
from eventscope.core.audit.store import AuditQuery, AuditStoreError
from eventscope.core.records import MessageProperties, MessageRecord
from tests.conftest import free_port, wait_until
from tests.helpers.cli import EVENTSCOPE
from tests.helpers.postgres import recorder_process


def request(i: int, broker: str, received: float) -> MessageRecord:
    props = MessageProperties(response_topic=f"r/{i}", correlation_data=f"c{i}".encode())
    return MessageRecord("us-east/hello/request", f"req {i}".encode(), qos=1, received=received, properties=props,
                         broker_id=broker)


def reply(i: int, broker: str, received: float) -> MessageRecord:
    return MessageRecord(f"r/{i}", f"rep {i}".encode(), qos=1, received=received,
                         properties=MessageProperties(correlation_data=f"c{i}".encode()), broker_id=broker)


@pytest.fixture
def store(pg_url):
    s = PostgresAuditStore(pg_url)
    yield s
    s.close()


def test_rows_pairings_and_the_mesh_path_read_back_as_from_sqlite(store, pg_url, tmp_path):
    now = time.time()
    first = store.write_batch([request(1, "us-east", now), reply(1, "us-east", now + 0.004)], broker="us-east")
    assert first.inserted == 2 and [p.rtt_ms for p in first.pairings] == [pytest.approx(4.0, abs=0.01)]
    other = PostgresAuditStore(pg_url)  # another recorder, elsewhere in the mesh
    bridged = other.write_batch([request(1, "us-west", now + 0.003)], broker="us-west")
    other.close()
    assert bridged.inserted == 0 and [(s.message_id, s.broker) for s in bridged.sightings] == [(first.first_id, "us-west")]

    (req, rep) = sorted(store.page_before(AuditQuery(), None, 10), key=lambda r: r.id)
    assert ((req.kind, rep.kind) == ("request", "reply") and req.reply_id == rep.id
            and req.rtt_ms == pytest.approx(4.0, abs=0.01))
    assert [b for b, _ in req.path] == ["us-east", "us-west"] and req.path_text().endswith("us-west +3 ms")
    assert store.rows_after(AuditQuery(kind="reply"), 0) == [rep]
    assert store.page_before(AuditQuery(topic="hello/req"), None, 10)[0].id == req.id  # through the topics table
    assert store.page_before(AuditQuery(text="rep 1"), None, 10) == [rep]

    out = tmp_path / "out.jsonl"
    with out.open("w") as fh:
        assert ExportJob(store, AuditQuery(), "jsonl", fh).run() == 2
    exported = read_export(out)
    assert [hop["broker"] for hop in exported[0]["seen_on"]] == ["us-east", "us-west"]


def test_three_recorders_at_once_make_one_entry_per_bridged_message(pg_url):
    """2,000 bridged messages, each recorded by three recorders writing concurrently: 2,000 entries, three
    arrivals each: never 6,000 entries, never 1,999."""
    total, brokers = 2000, ("us-east", "us-west", "eu-central")
    start = time.time()
    errors: list[Exception] = []

    def record(index: int, broker: str) -> None:
        store = None
        try:
            store = PostgresAuditStore(pg_url)  # three recorders starting at once, on an empty database
            for batch in range(0, total, 100):  # batches as a recorder commits them, the brokers in step
                store.write_batch([request(i, broker, start + i * 0.001 + index * 0.002)
                                   for i in range(batch, batch + 100)], broker=broker)
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            if store is not None:
                store.close()

    threads = [threading.Thread(target=record, args=(n, b)) for n, b in enumerate(brokers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    reader = PostgresAuditStore.open_reader(pg_url)
    rows = [r for chunk in reader.iter_rows() for r in chunk]
    reader.close()
    assert len(rows) == total
    assert {len(r.path) for r in rows} == {3} and all({b for b, _ in r.path} == set(brokers) for r in rows)


def test_init_db_is_idempotent_and_a_newer_schema_is_refused_without_writing(pg_url, postgres):
    assert "created" in init_schema(pg_url) and "already in place" in init_schema(pg_url)
    postgres.admin(f"UPDATE eventscope_schema SET version = {SCHEMA_VERSION + 1}", pg_url.rsplit("/", 1)[1])
    with pytest.raises(AuditStoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer") as refused:
        PostgresAuditStore(pg_url)
    assert "Nothing was written" in str(refused.value)
    assert postgres.admin("SELECT count(*) FROM messages", pg_url.rsplit("/", 1)[1]) == [(0,)]


def test_init_db_upgrades_a_version_1_schema_and_its_topics_stay_searchable(pg_url, postgres):
    store = PostgresAuditStore(pg_url)
    odd = 'us-east/a"b{c},d\\e/50%_off'  # quotes, braces, a comma, a backslash and LIKE's own characters
    store.write_batch([request(1, "us-east", time.time()), MessageRecord(odd, b"x", received=time.time())],
                      broker="us-east")
    store.close()
    database = pg_url.rsplit("/", 1)[1]
    # Version 1 as it was: no topics table, a trigram index on every row.
    postgres.admin("DROP TABLE topics; CREATE INDEX messages_topic_trgm ON messages USING gin (topic gin_trgm_ops); "
                   "UPDATE eventscope_schema SET version = 1", database)

    assert init_schema(pg_url) == f"schema upgraded from version 1 to {SCHEMA_VERSION}"
    indexes = {name for (name,) in postgres.admin("SELECT indexname FROM pg_indexes WHERE tablename = 'messages'",
                                                  database)}
    assert "messages_topic_trgm" not in indexes and "messages_topic" in indexes
    reader = PostgresAuditStore.open_reader(pg_url)
    assert [r.topic for r in reader.page_before(AuditQuery(topic='a"b{c},d\\e/50%_'), None, 10)] == [odd]
    assert [r.topic for r in reader.page_before(AuditQuery(topic="hello/request"), None, 10)] == ["us-east/hello/request"]
    assert reader.page_before(AuditQuery(topic="50%x"), None, 10) == []  # % is the text, not a wildcard
    reader.close()


def test_a_recorder_upgrades_a_version_1_database_when_it_opens_and_a_viewer_is_told_why(pg_url, postgres):
    database = pg_url.rsplit("/", 1)[1]
    PostgresAuditStore(pg_url).close()
    postgres.admin("DROP TABLE topics; UPDATE eventscope_schema SET version = 1", database)  # as version 1 left it
    with pytest.raises(AuditStoreError, match="older schema version 1.*audit init-db"):
        PostgresAuditStore.open_reader(pg_url)
    recorder = PostgresAuditStore(pg_url)  # the owner's recorder: upgraded on open, so its first write works
    try:
        assert recorder.write_batch([request(1, "us-east", time.time())], broker="us-east").inserted == 1
        assert recorder.page_before(AuditQuery(topic="hello/request"), None, 5)[0].topic == "us-east/hello/request"
    finally:
        recorder.close()
    assert postgres.admin("SELECT max(version) FROM eventscope_schema", database) == [(SCHEMA_VERSION,)]


def test_one_recorder_per_broker_and_database(store, pg_url):
    first = store.recorder_lock("127.0.0.1:1883")
    first.acquire()
    try:
        with pytest.raises(RecorderBusyError, match="already recording 127.0.0.1:1883"):
            PostgresAuditStore(pg_url).recorder_lock("127.0.0.1:1883").acquire()
        other = store.recorder_lock("127.0.0.1:1884")  # another broker into the same database: fine
        other.acquire()
        other.release()
    finally:
        first.release()
    again = store.recorder_lock("127.0.0.1:1883")
    again.acquire()  # released with its connection
    again.release()


def test_retention_drops_whole_days(store, pg_url, postgres):
    day = 86_400
    # 18:00 UTC today, whatever the clock says: each row then sits 6 h before its day's end, so which
    # days ended more than 1.5 days ago does not depend on when the test runs (it failed just after midnight).
    now = (time.time() // day) * day + 0.75 * day
    store.write_batch([request(i, "e", now - (3 - i) * day) for i in range(4)], broker="e")  # four days
    store.max_age_seconds = 1.5 * day
    assert store.prune(now) == 2  # the two days that ended more than 1.5 days ago
    kept = sorted(r.payload for r in store.page_before(AuditQuery(), None, 10))
    assert kept == [b"req 2", b"req 3"]
    partitions = postgres.admin("SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent "
                                "WHERE p.relname = 'messages'", pg_url.rsplit("/", 1)[1])
    assert partitions == [(2,)]


def test_a_viewer_role_reads_and_can_never_write(pg_url, postgres):
    database = pg_url.rsplit("/", 1)[1]
    init_schema(pg_url)
    subprocess.run([*EVENTSCOPE, "audit", "init-db", pg_url, "--roles"], check=True, capture_output=True, timeout=60)
    postgres.admin("DO $$ BEGIN CREATE ROLE team_viewer LOGIN PASSWORD 'view'; "
                   "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    postgres.admin("GRANT eventscope_viewer TO team_viewer")
    PostgresAuditStore(pg_url).write_batch([request(1, "e", time.time())], broker="e")
    viewer_url = postgres.url(database, user="team_viewer", password="view")
    reader = PostgresAuditStore.open_reader(viewer_url)
    assert [r.payload for r in reader.page_before(AuditQuery(), None, 5)] == [b"req 1"]
    reader.close()
    with pytest.raises(AuditStoreError, match="may not record .* grant it eventscope_recorder"):
        PostgresAuditStore(viewer_url)


# ----- the command line, end to end -----------------------------------------------------------------
def _run(*args: str, env: dict | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([*EVENTSCOPE, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_bad_setups_fail_at_once_with_a_clear_message_and_no_password(postgres, pg_url, mosquitto):
    broker = ["--host", "127.0.0.1", "--port", str(mosquitto.port)]
    database = pg_url.rsplit("/", 1)[1]
    cases = {
        "down": (f"postgresql://postgres@127.0.0.1:{free_port()}/x", {"PGPASSWORD": "whatever"},
                 "is not reachable"),
        "wrong password": (postgres.url(database, password=None), {"PGPASSWORD": "not-the-password"},
                           "user name or password was refused"),
        "TLS not offered": (postgres.url(database, password=None, sslmode="require"),
                            {"PGPASSWORD": "test-superuser-secret"}, "does not offer it"),
    }
    for name, (url, env, expected) in cases.items():
        started = time.monotonic()
        result = _run("audit", "record", *broker, "--db", url, env=env)
        assert result.returncode == 1, (name, result.stderr)
        assert expected in result.stderr and "Traceback" not in result.stderr, (name, result.stderr)
        assert "not-the-password" not in result.stderr and "test-superuser-secret" not in result.stderr
        assert time.monotonic() - started < 5, name  # immediate failures are not retried


def test_a_password_in_the_url_is_masked_everywhere(pg_url):
    assert "test-superuser-secret" not in mask_url(pg_url) and "***" in mask_url(pg_url)
    result = _run("audit", "export", "--db", pg_url.replace("postgres:test", "postgres:wrong"), "--format", "jsonl")
    assert result.returncode == 1 and "wrong" not in result.stderr and "***" in result.stderr


def _publish_requests(port: int, count: int, qos: int = 1) -> None:
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(100)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = []
    for i in range(count):
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = f"c{i}".encode()
        props.ResponseTopic = f"us-east/hello/response/{i}"
        infos.append(client.publish("us-east/hello/request", f"{i}".encode(), qos=qos, properties=props))
    for info in infos:
        info.wait_for_publish(30)
    client.loop_stop()
    client.disconnect()


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return out


def test_two_recorders_beside_two_bridged_brokers_write_one_entry_per_message(mosquitto_mesh, pg_url):
    """us-east and us-west, bridged, each with its own recorder into one database: 2,000 QoS 1 requests
    published on us-east are 2,000 entries, each seen on both brokers."""
    total = 2000
    init_schema(pg_url)
    east = recorder_process(mosquitto_mesh["us-east"].port, pg_url, "us-east")
    west = recorder_process(mosquitto_mesh["us-west"].port, pg_url, "us-west")
    try:
        _publish_requests(mosquitto_mesh["us-east"].port, total)
        reader = PostgresAuditStore.open_reader(pg_url)

        def both_recorded() -> bool:
            rows = [r for chunk in reader.iter_rows() for r in chunk]
            return len(rows) == total and all(len(r.path) == 2 for r in rows)

        wait_until(both_recorded, timeout=60, interval=0.5, message="2,000 entries seen on both brokers")
        rows = [r for chunk in reader.iter_rows() for r in chunk]
        assert sorted(int(r.payload) for r in rows) == list(range(total))
        assert {frozenset(b for b, _ in r.path) for r in rows} == {frozenset({"us-east", "us-west"})}
        reader.close()
    finally:
        _stop(east)
        _stop(west)


def test_the_recorder_rides_out_a_database_restart_and_a_stopped_server(mosquitto, pg_url, postgres):
    """PostgreSQL restarted mid-burst, then frozen (SIGSTOP) for 10 s: the recorder stops acknowledging,
    keeps what arrives, reconnects, and in the end every message is stored once."""
    init_schema(pg_url)
    recorder = recorder_process(mosquitto.port, pg_url)
    try:
        publisher = threading.Thread(target=_publish_requests, args=(mosquitto.port, 3000))
        publisher.start()
        reader = PostgresAuditStore.open_reader(pg_url)
        wait_until(lambda: reader.count() > 200, timeout=30, message="the burst under way")
        reader.close()
        postgres.restart()
        pid = postgres.pid
        assert pid is not None
        os.kill(pid, 19)  # SIGSTOP: the server answers nothing for 10 s
        stopped = time.monotonic()
        wait_until(lambda: time.monotonic() - stopped >= 10, timeout=15, interval=0.2, message="ten seconds")
        os.kill(pid, 18)  # SIGCONT
        publisher.join(60)
        reader = PostgresAuditStore.open_reader(pg_url)
        wait_until(lambda: len({r.payload for chunk in reader.iter_rows() for r in chunk}) == 3000, timeout=90,
                   interval=0.5, message="every message stored after the outage")
        rows = [r for chunk in reader.iter_rows() for r in chunk]
        originals = [r.payload for r in rows if not r.duplicate]
        assert sorted(int(p) for p in originals) == list(range(3000))  # each once; any redelivery is flagged
        reader.close()
    finally:
        _stop(recorder)


def test_a_recorder_killed_mid_burst_and_started_again_loses_nothing(mosquitto_factory, pg_url):
    """kill -9 of the recorder during a QoS 1 burst: what it had not committed was never acknowledged, so
    the broker's persistent session hands it to the restarted recorder; every message is stored once."""
    mosquitto = mosquitto_factory("allow_anonymous true\nmax_queued_messages 100000\n")  # holds the whole burst
    init_schema(pg_url)
    recorder = recorder_process(mosquitto.port, pg_url)
    publisher = threading.Thread(target=_publish_requests, args=(mosquitto.port, 3000))
    publisher.start()
    reader = PostgresAuditStore.open_reader(pg_url)
    try:
        wait_until(lambda: reader.count() > 300, timeout=30, message="the burst under way")
        recorder.kill()  # SIGKILL: no final commit, no goodbye to the broker
        recorder.wait(10)
        recorder = recorder_process(mosquitto.port, pg_url)  # the same database: the same client id, the same session
        publisher.join(60)
        wait_until(lambda: len({r.payload for chunk in reader.iter_rows() for r in chunk}) == 3000, timeout=60,
                   interval=0.5, message="every message stored after the restart")
        originals = [r.payload for chunk in reader.iter_rows() for r in chunk if not r.duplicate]
        assert sorted(int(p) for p in originals) == list(range(3000))
    finally:
        reader.close()
        _stop(recorder)


def test_a_recorder_role_with_insert_and_select_only_records_new_days(pg_url, postgres):
    """The documented set-up: init-db --roles, then a login that has only eventscope_recorder. A new day's
    partition is made through the owner's function; the role may still not create tables itself."""
    database = pg_url.rsplit("/", 1)[1]
    subprocess.run([*EVENTSCOPE, "audit", "init-db", pg_url, "--roles"], check=True, capture_output=True, timeout=60)
    postgres.admin("DO $$ BEGIN CREATE ROLE team_recorder LOGIN PASSWORD 'rec'; "
                   "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    postgres.admin("GRANT eventscope_recorder TO team_recorder")
    recorder = PostgresAuditStore(postgres.url(database, user="team_recorder", password="rec"), max_age_seconds=0)
    now = time.time()
    written = recorder.write_batch([request(i, "us-east", now + i * 86_400) for i in range(3)], broker="us-east")
    assert written.inserted == 3  # three days, three partitions, none there before
    import psycopg

    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        recorder._connection().execute("CREATE TABLE not_allowed (x int)")
    recorder.close()


def test_a_nul_in_a_user_property_does_not_poison_its_batch(store):
    props = MessageProperties(user_properties=(("trace", "a\x00b"),))
    result = store.write_batch([MessageRecord("us-east/x", b"1", received=time.time(), properties=props),
                                request(7, "us-east", time.time())], broker="us-east")
    assert result.inserted == 2
    stored = {r.topic: r for r in store.page_before(AuditQuery(), None, 5)}
    assert stored["us-east/x"].properties["user_properties"] == [["trace", "a\ufffdb"]]


def test_passwords_are_masked_and_split_however_the_url_carries_them():
    from eventscope.core.audit.postgres import split_password

    assert mask_url("postgresql://rec:s3cret@db/audit") == "postgresql://rec:***@db/audit"
    assert mask_url("postgresql://rec@db/audit?sslmode=require&password=s3cret") == \
        "postgresql://rec@db/audit?sslmode=require&password=***"
    assert split_password("postgresql://u:p%40ss@h1:5432,h2:5433/db") == ("postgresql://u@h1:5432,h2:5433/db", "p@ss")
    assert split_password("postgresql://rec@db/audit?password=z&sslmode=require") == \
        ("postgresql://rec@db/audit?sslmode=require", "z")


def test_audit_prune_drops_old_days_as_the_owner(pg_url):
    store = PostgresAuditStore(pg_url, max_age_seconds=0)
    store.write_batch([request(i, "e", time.time() - (5 - i) * 86_400) for i in range(5)], broker="e")
    store.close()
    bare, password = split_password(pg_url)
    result = _run("audit", "prune", "--db", bare, "--db-password-env", "PW",
                  "--max-age", "2d", env={"PW": password or ""})
    assert result.returncode == 0, result.stderr
    assert "pruned 3 rows" in result.stderr
    reader = PostgresAuditStore.open_reader(pg_url)
    assert reader.count() == 2
    reader.close()


def test_requests_and_replies_pair_across_recorders_whichever_commits_first(pg_url):
    """us-east's recorder stores the requests, us-west's the replies; us-west is ahead, so each batch of
    replies is committed before its requests: every request still ends up paired with its reply."""
    total, start = 600, time.time()
    east, west = PostgresAuditStore(pg_url, max_age_seconds=0), PostgresAuditStore(pg_url, max_age_seconds=0)
    for first in range(0, total, 50):
        west.write_batch([reply(i, "us-west", start + i * 0.01 + 0.004) for i in range(first, first + 50)],
                         broker="us-west")
        east.write_batch([request(i, "us-east", start + i * 0.01) for i in range(first, first + 50)],
                         broker="us-east")
    requests = [r for chunk in east.iter_rows(AuditQuery(kind="request")) for r in chunk]
    east.close()
    west.close()
    assert len(requests) == total
    assert all(r.reply_id is not None and r.rtt_ms == pytest.approx(4.0, abs=0.5) for r in requests)
