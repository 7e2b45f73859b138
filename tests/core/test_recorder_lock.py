"""One recorder per audit database: a second one is refused with a reason, never a kick loop."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from eventscope.core.audit.lock import RecorderBusyError, RecorderLock
from eventscope.core.audit.recorder import AuditRecorder
from eventscope.core.audit.store import AuditStore
from eventscope.core.connections.handle import AuditSettings
from eventscope.core.profile import ConnectionProfile
from eventscope.core.workspace.workspace import Workspace
from tests.conftest import wait_until
from tests.perf.loadgen import LoadGenerator, request_topics, sequence_of

HAND_OVER_REQUESTS = 20_000


def test_second_lock_on_the_same_database_is_refused_until_released(tmp_path):
    db = tmp_path / "audit.sqlite"
    first, second = RecorderLock(db), RecorderLock(db)
    first.acquire()
    with pytest.raises(RecorderBusyError, match="already recording audit.sqlite"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()


def test_lock_is_held_across_processes(tmp_path):
    db = tmp_path / "audit.sqlite"
    lock = RecorderLock(db)
    lock.acquire()
    try:
        code = ("import sys; from eventscope.core.audit.lock import RecorderLock, RecorderBusyError\n"
                f"try:\n    RecorderLock({str(db)!r}).acquire()\nexcept RecorderBusyError:\n    sys.exit(3)\n")
        assert subprocess.run([sys.executable, "-c", code]).returncode == 3
    finally:
        lock.release()


def test_two_recorders_on_one_database_do_not_both_connect(mosquitto, tmp_path):
    store = AuditStore(tmp_path / "audit.sqlite")
    profile = ConnectionProfile(name="p", port=mosquitto.port)
    first = AuditRecorder(store, profile)
    first.start()
    try:
        assert first.wait_ready(10)
        second = AuditRecorder(store, profile)
        with pytest.raises(RecorderBusyError):
            second.start()
        assert first.session.is_connected
    finally:
        first.stop()
        store.close()


def test_a_symlink_to_the_database_is_the_same_database(tmp_path):
    db = tmp_path / "real.sqlite3"
    db.touch()
    link = tmp_path / "link.sqlite3"
    link.symlink_to(db)
    first, second = RecorderLock(db, "127.0.0.1:1883"), RecorderLock(link, "127.0.0.1:1883")
    first.acquire()
    try:
        with pytest.raises(RecorderBusyError, match="real.sqlite3"):
            second.acquire()
        other_broker = RecorderLock(link, "127.0.0.1:1884")  # another broker may record the same database
        other_broker.acquire()
        other_broker.release()
    finally:
        first.release()


def test_a_slow_resolver_never_holds_the_recorder_lock_up(monkeypatch):
    import socket
    import threading

    from eventscope.core.audit import recorder

    released = threading.Event()

    def stuck(*_args, **_kwargs):  # a resolver that does not answer
        released.wait(30)
        raise OSError("no answer")

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    try:
        assert recorder.broker_key("broker.example", 1883, timeout=0.2) == "broker.example:1883"  # keyed on the name
    finally:
        released.set()
    monkeypatch.undo()
    assert recorder.broker_key("localhost", 1883) in ("127.0.0.1:1883", "::1:1883")  # a quick answer: the address


def test_a_second_workspace_waits_for_the_first_recorder_then_stores_every_request_once(mosquitto_factory, tmp_path):
    """A window started while the last one's connection process still commits: it says why it waits,
    takes over when the first lets go, and the database ends with every request exactly once."""
    broker = mosquitto_factory("allow_anonymous true\nmax_queued_messages 100000\n")
    db = tmp_path / "audit.sqlite3"
    audit = AuditSettings(db, ("+/hello/request",))
    profile = ConnectionProfile(name="b", host="127.0.0.1", port=broker.port)
    first, second = Workspace(), Workspace()
    warnings: list[str] = []

    def tick_second() -> None:
        warnings.extend(delta.warning for delta in second.tick().audit)

    def stored() -> int:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]

    try:
        recording = first.add_broker(profile, subscriptions=(), audit=audit)
        recording.opened.result(10)
        assert recording.recorder.wait_ready(10), recording.audit_notice
        waiting = second.add_broker(profile, subscriptions=(), audit=audit)
        waiting.opened.result(10)
        wait_until(lambda: tick_second() or warnings, message="the second workspace says why it waits")
        assert warnings[0] == ("Another Eventscope is recording audit.sqlite3: this one starts recording as soon "
                               "as that one stops, and the broker keeps the messages meanwhile")
        assert not waiting.recorder.wait_ready(0.2)

        generator = LoadGenerator(broker.port, request_topics(("us-east",)), HAND_OVER_REQUESTS, qos=1, rate=5_000)
        generator.start()
        wait_until(lambda: first.tick() and stored() >= HAND_OVER_REQUESTS // 4, timeout=30,
                   message="the first workspace records")
        first.close()  # its final commit and acknowledgements; the rest stay queued on the broker
        taken_over_at = stored()
        assert taken_over_at < HAND_OVER_REQUESTS, "the hand-over happened after the load ended"
        assert waiting.recorder.wait_ready(10), waiting.recorder.not_ready_reason
        wait_until(lambda: tick_second() or stored() == HAND_OVER_REQUESTS, timeout=60, interval=0.1,
                   message="the second workspace stores the rest")
        wait_until(lambda: tick_second() or warnings[-1] == "", message="the waiting notice goes away")
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            sequences = [sequence_of(bytes(p)) for (p,) in conn.execute("SELECT payload FROM messages")]
        assert sorted(sequences) == list(range(HAND_OVER_REQUESTS)), "a request was lost or stored twice"
    finally:
        first.close()
        second.close()


def test_a_recorder_stopped_under_a_flood_disconnects_cleanly_so_its_last_acks_count(mosquitto_factory, tmp_path):
    """Closing a socket with unread messages resets the connection, and the broker then drops the
    acknowledgements it had not read yet: the next recorder would get those messages again."""
    broker = mosquitto_factory("allow_anonymous true\nmax_queued_messages 100000\nlog_type all\n")
    store = AuditStore(tmp_path / "audit.sqlite")
    recorder = AuditRecorder(store, ConnectionProfile(name="p", port=broker.port), filters=("+/hello/request",))
    recorder.start()
    generator = LoadGenerator(broker.port, request_topics(("us-east",)), 50_000, qos=1, rate=20_000)
    try:
        assert recorder.wait_ready(10)
        generator.start()
        wait_until(lambda: recorder.flush() and recorder.total_written > 2_000, timeout=30,
                   message="the recorder stores part of the flood")
        recorder.stop()  # the flood still runs: messages are on their way in as it says goodbye
        client_id = recorder.client_id
        wait_until(lambda: f"Received DISCONNECT from {client_id}" in broker.log_path.read_text()
                   or f"Client {client_id} closed its connection" in broker.log_path.read_text(),
                   message="the broker sees the recorder leave")
        log = broker.log_path.read_text()
        assert f"Received DISCONNECT from {client_id}" in log and f"Client {client_id} closed its connection" not in log
    finally:
        generator.stop()
        store.close()
