"""Replay from the audit against real Mosquittos: rewriting, order and bytes, timing, comparing replies,
fresh correlation data and the read-only refusal; and the rules and the diff on their own."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace

import pytest

from eventscope.core.audit.store import classify
from eventscope.core.records import REPLAY_PROPERTY, MessageProperties, MessageRecord
from eventscope.core.replay.compare import compare_replies
from eventscope.core.replay.rewrite import RewriteRules
from tests.conftest import wait_until
from tests.helpers.cli import EVENTSCOPE
from tests.helpers.replay import Listener, Replier, recorded_audit


def replay(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([*EVENTSCOPE, "audit", "replay", *args], capture_output=True, text=True, timeout=timeout)


def test_a_rewritten_replay_reaches_another_broker_in_order_byte_for_byte(mosquitto_factory, tmp_path):
    db = tmp_path / "audit.sqlite3"
    recorded_audit(db, 500)
    target = mosquitto_factory()
    listener = Listener(target.port, "staging-us-east/#")
    try:
        result = replay("--db", str(db), "--to", f"staging=mqtt://127.0.0.1:{target.port}", "--speed", "max",
                        "--rewrite", "us-east/=staging-us-east/")
        assert result.returncode == 0, result.stderr
        wait_until(lambda: len(listener.messages) >= 500, message="500 replayed requests")
    finally:
        listener.close()
    assert [(t, p) for t, p, _, _ in listener.messages] == [
        ("staging-us-east/hello/request", json.dumps({"n": i}).encode()) for i in range(500)]
    props = listener.messages[0][3]
    assert props.ResponseTopic == "staging-us-east/hello/response" and props.CorrelationData == b"c0"
    assert props.ContentType == "application/json"
    assert any(key == REPLAY_PROPERTY for key, _ in props.UserProperty)  # the audit records it as a replay
    assert "500 of 500 sent" in result.stderr


def test_speed_one_keeps_the_recorded_spacing(mosquitto, tmp_path):
    db = tmp_path / "audit.sqlite3"
    recorded_audit(db, 30, spacing=0.1)  # 2.9 s of traffic
    listener = Listener(mosquitto.port, "us-east/hello/request")
    try:
        result = replay("--db", str(db), "--to", f"east=mqtt://127.0.0.1:{mosquitto.port}", "--speed", "1")
        assert result.returncode == 0, result.stderr
        wait_until(lambda: len(listener.messages) >= 30, message="30 replayed requests")
    finally:
        listener.close()
    arrivals = [at for _, _, at, _ in listener.messages]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert arrivals[-1] - arrivals[0] == pytest.approx(2.9, abs=0.15)
    assert max(abs(gap - 0.1) for gap in gaps) < 0.05  # the sender's own p99 error is in its summary
    assert "timing error p99" in result.stderr


@pytest.mark.parametrize("fresh", [False, True], ids=["recorded-correlation", "fresh-correlation"])
def test_compare_finds_exactly_the_replies_that_changed(mosquitto, tmp_path, fresh):
    db = tmp_path / "audit.sqlite3"
    recorded_audit(db, 500)
    replier = Replier(mosquitto.port, change_every=10)
    try:
        result = replay("--db", str(db), "--to", f"east=mqtt://127.0.0.1:{mosquitto.port}", "--speed", "max",
                        "--compare", "--format", "jsonl", *(["--fresh-correlation"] if fresh else []))
    finally:
        replier.close()
    assert result.returncode == 3, result.stderr  # some replies differ: a CI gate fails
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    outcomes = {line["audit_id"]: line["outcome"] for line in lines}
    assert len(outcomes) == 500 and list(outcomes.values()).count("different") == 50
    assert list(outcomes.values()).count("same") == 450
    different = [line for line in lines if line["outcome"] == "different"]
    assert all(line["diff"] == ['changed $.status: "ok" → "changed"'] for line in different)
    assert all(line["rtt_now_ms"] is not None and line["rtt_then_ms"] == pytest.approx(2.0, abs=0.01)
               for line in lines)
    assert "450 same, 50 different" in result.stderr


def test_a_read_only_target_refuses_before_connecting(mosquitto_factory, tmp_path):
    db = tmp_path / "audit.sqlite3"
    recorded_audit(db, 5)
    broker = mosquitto_factory("allow_anonymous true\nlog_type all\n")
    result = replay("--db", str(db), "--to", f"east=mqtt://127.0.0.1:{broker.port}", "--read-only")
    assert result.returncode == 1 and "read-only" in result.stderr
    assert "Received PUBLISH" not in broker.log_path.read_text(errors="replace")


def test_bad_input_is_refused_with_its_reason(tmp_path):
    db = tmp_path / "audit.sqlite3"
    recorded_audit(db, 2)
    assert replay("--db", str(db), "--speed", "fast").returncode == 2
    bad_rule = replay("--db", str(db), "--rewrite", "no-equals-sign")
    assert bad_rule.returncode == 2 and "FROM=TO" in bad_rule.stderr
    empty = replay("--db", str(db), "-t", "nothing/like/this")
    assert empty.returncode == 1 and "nothing to replay" in empty.stderr
    dry = replay("--db", str(db), "--dry-run", "--rewrite", "us-east/=qa/")
    assert dry.returncode == 0 and [json.loads(line)["topic"] for line in dry.stdout.splitlines()] == [
        "qa/hello/request", "qa/hello/request"]


def test_rewrite_rules_and_the_json_aware_diff():
    rules = RewriteRules.parse(["us-east/=staging-us-east/", "us-=lab-"])
    assert rules.apply("us-east/hello/request") == "staging-us-east/hello/request"  # the first match wins
    assert rules.apply("us-west/x") == "lab-west/x" and rules.apply("eu/x") == "eu/x"
    assert compare_replies(b'{"a": 1, "b": [1, 2]}', b'{"b": [1, 2], "a": 1}').same  # key order ignored
    diff = compare_replies(b'{"a": 1, "b": {"c": 2}}', b'{"a": 1, "b": {"c": 3}, "d": 0}')
    assert diff.differences == ("changed $.b.c: 2 → 3", "added $.d")
    assert compare_replies(b"\xff", b"\xfe").text() == "payload 1 B → 1 B"


def test_the_audit_records_a_replayed_message_as_a_replay():
    props = MessageProperties(user_properties=((REPLAY_PROPERTY, "ab12:7"),), response_topic="r")
    assert classify(MessageRecord("us-east/hello/request", b"x", properties=props)) == "replay"


def test_a_replay_from_the_team_database(mosquitto, pg_url):
    import os

    from eventscope.core.audit.postgres import PostgresAuditStore, split_password

    store = PostgresAuditStore(pg_url, max_age_seconds=0)  # recorded in 2023: kept, whatever the retention
    store.write_batch([MessageRecord("us-east/hello/request", json.dumps({"n": i}).encode(), qos=1,
                                     received=1_700_000_000.0 + i * 0.01) for i in range(20)], broker="us-east")
    store.close()
    bare, password = split_password(pg_url)
    listener = Listener(mosquitto.port, "us-east/hello/request")
    try:
        result = subprocess.run([*EVENTSCOPE, "audit", "replay", "--db", bare,
                                 "--db-password-env", "TEAM_DB_PASSWORD", "--to",
                                 f"east=mqtt://127.0.0.1:{mosquitto.port}", "--speed", "max"],
                                capture_output=True, text=True, timeout=60,
                                env={**os.environ, "TEAM_DB_PASSWORD": password or ""})
        assert result.returncode == 0, result.stderr
        wait_until(lambda: len(listener.messages) >= 20, message="20 replayed requests")
    finally:
        listener.close()
    assert [p for _, p, _, _ in listener.messages] == [json.dumps({"n": i}).encode() for i in range(20)]


def test_messages_due_together_cross_to_the_connection_process_in_one_call(mosquitto, tmp_path):
    """Flat out through a connection in another process: sends go in batches, every message arrives once,
    in order; a batch holding a message the broker must never get sends the others and reports that one."""
    from eventscope.core.audit.store import AuditQuery, AuditStore
    from eventscope.core.connections.remote import RemoteConnector
    from eventscope.core.profile import ConnectionProfile
    from eventscope.core.replay.engine import Replayer, plan
    from eventscope.core.workspace.workspace import Workspace

    db = tmp_path / "audit.sqlite3"
    recorded_audit(db, 2_000)
    store = AuditStore(db)
    _, items = plan(store, AuditQuery(kind="request"))
    store.close()
    bad = 700
    items[bad] = replace(items[bad], topic="us-east/+/not-a-topic")  # a wildcard: refused before sending
    workspace = Workspace(connector=RemoteConnector())
    listener = Listener(mosquitto.port, "us-east/hello/request")
    calls: list[int] = []
    try:
        connection = workspace.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port))
        assert connection.session.wait_connected(10), connection.session.status

        def publish_many(messages):
            calls.append(len(messages))
            return workspace.publish_many("east", messages)

        summary = Replayer(lambda *message: workspace.publish("east", *message), items, None,
                           publish_many=publish_many).run("batch")
        wait_until(lambda: len(listener.messages) >= len(items) - 1, message="every valid message")
    finally:
        listener.close()
        workspace.close()
    assert [p for _, p, _, _ in listener.messages] == [json.dumps({"n": i}).encode() for i in range(2_000) if i != bad]
    assert len(calls) < len(items) / 5 and max(calls) > 1  # batched: far fewer crossings than messages
    errors = [(r.item.topic, r.error) for r in summary.results if r.error]
    assert len(errors) == 1 and errors[0][0] == "us-east/+/not-a-topic" and "wildcard" in errors[0][1].lower()
    assert len(summary.results) == len(items)
