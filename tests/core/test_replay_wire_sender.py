"""The replay's own sender process against real Mosquittos: order, bytes and MQTT 5 properties at QoS 0/1/2
and on MQTT 3.1.1, replies compared through a workspace, a cancel that stops at once, and the refusals."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import pytest

from eventscope.core.audit.store import AuditQuery, AuditStore
from eventscope.core.profile import MQTT_V311, ConnectionProfile
from eventscope.core.records import REPLAY_PROPERTY
from eventscope.core.replay.engine import Replayer, ReplyWatcher, plan
from eventscope.core.replay.wire_sender import WireSenderProcess
from tests.conftest import wait_until
from tests.helpers.replay import Listener, Replier, recorded_audit


def _items(tmp_path, count: int, spacing: float = 0.01):
    db = tmp_path / "audit.sqlite3"
    recorded_audit(db, count, spacing=spacing)
    store = AuditStore(db)
    try:
        return plan(store, AuditQuery(kind="request"))[1]
    finally:
        store.close()


def _never(*_message):
    raise AssertionError("a replay with its own sender never publishes through the broker's connection")


@pytest.mark.parametrize("qos,version", [(0, 5), (1, 5), (2, 5), (1, MQTT_V311)],
                         ids=["qos0", "qos1", "qos2", "mqtt311-qos1"])
def test_every_message_arrives_once_in_order_with_its_bytes_and_properties(mosquitto, tmp_path, qos, version):
    items = [replace(item, qos=qos) for item in _items(tmp_path, 3_000)]
    profile = ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port, mqtt_version=version)
    listener = Listener(mosquitto.port, "us-east/hello/request")
    try:
        summary = Replayer(_never, items, None, wire=WireSenderProcess(profile, None, "wire-test")).run("wire")
        wait_until(lambda: len(listener.messages) >= len(items), message="every replayed message")
    finally:
        listener.close()
    assert [p for _, p, _, _ in listener.messages] == [json.dumps({"n": i}).encode() for i in range(3_000)]
    assert summary.counts == {"sent": 3_000} and summary.undelivered == 0 and not summary.error
    props = listener.messages[7][3]
    if version == 5:
        assert props.ResponseTopic == "us-east/hello/response" and props.CorrelationData == b"c7"
        assert props.ContentType == "application/json"
        assert (REPLAY_PROPERTY, f"wire:{items[7].audit_id}") in [tuple(p) for p in props.UserProperty] or any(
            key == REPLAY_PROPERTY for key, _ in props.UserProperty)
    else:
        assert not hasattr(props, "UserProperty")  # 3.1.1 has no properties to carry


def test_replies_to_the_sender_s_requests_are_compared(mosquitto, tmp_path):
    from eventscope.core.mqtt.session import MqttSession

    items = _items(tmp_path, 300)
    profile = ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port)
    replier = Replier(mosquitto.port, change_every=10)
    session = MqttSession(replace(profile, name="replies"))
    watcher = ReplyWatcher()
    try:
        session.start()
        assert session.wait_connected(10), session.status
        watcher.watch([session], ["us-east/hello/response"], 10)
        summary = Replayer(_never, items, None, watcher=watcher, timeout=10,
                           wire=WireSenderProcess(profile, None, "wire-compare")).run("compare")
    finally:
        replier.close()
        session.stop()
    assert summary.counts == {"same": 270, "different": 30} and summary.exit_code == 3
    assert all(r.rtt_now_ms is not None and r.rtt_now_ms >= 0 for r in summary.results)


def test_speed_one_keeps_the_schedule_and_cancel_stops_sending_at_once(mosquitto, tmp_path):
    items = _items(tmp_path, 2_000, spacing=0.005)  # 10 s of traffic at 200 msg/s
    profile = ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port)
    listener = Listener(mosquitto.port, "us-east/hello/request")
    run = Replayer(_never, items, 1.0, wire=WireSenderProcess(profile, None, "wire-cancel")).start("cancel")
    try:
        wait_until(lambda: len(listener.messages) >= 400, message="two seconds of the schedule")
        run.cancel()
        cancelled_at = time.time()
        summary = run.future.result(10)
        wait_until(lambda: len(listener.messages) >= len(summary.results), message="every message the sender reported")
    finally:
        listener.close()
    assert summary.cancelled and 400 <= len(summary.results) < 2_000
    # The sender's own send times: nothing went out later than 100 ms after the cancel, and the broker got
    # exactly what the sender reported (arrival times at a subscriber would add a loaded machine's delays).
    assert max(r.sent_at for r in summary.results) <= cancelled_at + 0.1
    assert len(listener.messages) == len(summary.results)
    sent = [r.sent_at for r in summary.results]
    assert (sent[-1] - sent[0]) / (len(sent) - 1) == pytest.approx(0.005, abs=0.002)  # the recorded spacing


def test_a_read_only_or_unreachable_target_is_refused_with_its_reason(tmp_path, mosquitto_factory):
    broker = mosquitto_factory("allow_anonymous true\nlog_type all\n")
    read_only = ConnectionProfile(name="east", host="127.0.0.1", port=broker.port, read_only=True)
    with pytest.raises(PermissionError, match="read-only"):
        WireSenderProcess(read_only, None, "wire-refused")
    assert "Received PUBLISH" not in broker.log_path.read_text(errors="replace")

    from tests.conftest import free_port

    closed = ConnectionProfile(name="gone", host="127.0.0.1", port=free_port())
    items = _items(tmp_path, 5)
    with pytest.raises(ConnectionError, match="127.0.0.1"):
        Replayer(_never, items, None, wire=WireSenderProcess(closed, None, "wire-closed")).run("closed")


def test_a_broker_that_goes_mid_replay_ends_it_with_the_reason(mosquitto_factory, tmp_path):
    broker = mosquitto_factory()
    items = _items(tmp_path, 4_000, spacing=0.001)  # 4 s at 1,000 msg/s
    profile = ConnectionProfile(name="east", host="127.0.0.1", port=broker.port)
    listener = Listener(broker.port, "us-east/hello/request")
    run = Replayer(_never, items, 1.0, wire=WireSenderProcess(profile, None, "wire-lost")).start("lost")
    wait_until(lambda: len(listener.messages) >= 500, message="the replay under way")
    threading.Thread(target=listener.close, daemon=True).start()
    broker.stop()
    summary = run.future.result(30)
    assert summary.error and "lost" in summary.error and len(summary.results) < len(items)
    assert "stopped early" in summary.text()
