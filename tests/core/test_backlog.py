"""Falling behind: a broker that sends faster than its messages are read and shown says so, and by how much."""

from __future__ import annotations

import sqlite3
import threading

from eventscope.core.connections.handle import AuditSettings
from eventscope.core.models.backlog import (
    BEHIND_AFTER,
    BEHIND_UNREAD_BYTES,
    BEHIND_WAITING_FLOOR,
    CAUGHT_UP_AFTER,
    FLAT_OUT_MIN_READS,
    BacklogWatch,
)
from eventscope.core.profile import ConnectionProfile
from eventscope.core.workspace.workspace import Workspace
from tests.conftest import publish_raw, wait_until


def test_a_backlog_must_last_before_the_broker_is_said_to_fall_behind_and_must_clear_before_it_catches_up():
    watch = BacklogWatch()
    over = BEHIND_UNREAD_BYTES * 4
    assert not watch.update(10.0, unread_bytes=over).falling_behind  # a burst, so far
    assert not watch.update(10.5).falling_behind  # and it cleared: no flicker
    watch.update(11.0, unread_bytes=over)
    behind = watch.update(11.0 + BEHIND_AFTER, unread_bytes=over)
    assert behind.falling_behind and behind.text == f"falling behind for {BEHIND_AFTER:.0f} s"
    assert "wait unread in the connection's socket" in behind.detail
    assert watch.update(12.5).falling_behind  # not caught up at the first quiet sample
    assert not watch.update(12.5 + CAUGHT_UP_AFTER).falling_behind
    assert watch.update(20.0).text == "" and watch.update(20.0).detail == ""


def test_a_connection_that_finds_a_backlog_at_nearly_every_read_is_reading_flat_out():
    watch = BacklogWatch()
    reads = full = 0
    backlog = watch.update(0.0)
    for second in range(1, 5):  # a reader that keeps up: a large read now and then
        reads, full = reads + 1_000, full + 100
        backlog = watch.update(float(second), reads=reads, full_reads=full)
    assert not backlog.flat_out and not backlog.falling_behind
    for second in range(5, 9):  # every read finds a backlog; the socket is drained each time, so nothing waits
        reads, full = reads + 200, full + 199
        backlog = watch.update(float(second), reads=reads, full_reads=full)
    assert backlog.flat_out and backlog.falling_behind and backlog.behind_for == 3.0
    assert "its connection reads flat out" in backlog.detail and backlog.text == "falling behind for 3 s"
    quiet = BacklogWatch()
    for second in range(5):  # a connection with a few large messages: too few reads to tell
        backlog = quiet.update(float(second), reads=second * (FLAT_OUT_MIN_READS - 1),
                               full_reads=second * (FLAT_OUT_MIN_READS - 1))
    assert not backlog.flat_out and not backlog.falling_behind


def test_records_read_but_not_shown_count_once_they_pass_a_second_of_the_current_rate():
    watch = BacklogWatch()
    rate = 50_000.0
    for now in (0.0, BEHIND_AFTER):
        backlog = watch.update(now, waiting=40_000, rate=rate)
    assert not backlog.falling_behind  # less than a second of traffic waits
    for now in (5.0, 5.0 + BEHIND_AFTER):
        backlog = watch.update(now, waiting=80_000, rate=rate)
    assert backlog.falling_behind and "80,000 messages wait to be shown" in backlog.detail
    slow = BacklogWatch()
    for now in (0.0, BEHIND_AFTER):
        backlog = slow.update(now, waiting=BEHIND_WAITING_FLOOR - 1, rate=10.0)
    assert not backlog.falling_behind  # a slow broker's few waiting records are no backlog


def test_a_broker_whose_messages_wait_unread_is_reported_falling_behind_then_caught_up_with_nothing_lost(mosquitto):
    """End to end on a real broker: the session's network thread stops reading (a tap that waits, as a
    saturated parser would), the socket fills, and the tick's summary says so until the reader catches up."""
    workspace = Workspace()
    release = threading.Event()
    try:
        connection = workspace.add_broker(ConnectionProfile(name="slow", host="127.0.0.1", port=mosquitto.port),
                                          subscriptions=())
        assert connection.session.wait_connected(10), connection.session.status
        connection.session.subscribe("load/#").result(10)
        connection.session.add_tap(lambda record: release.wait(30))
        messages = [(f"load/{i}", bytes(1024)) for i in range(400)]  # 400 KiB: more than the socket holds
        publish_raw(mosquitto.port, messages)
        summaries = []

        def reported(falling_behind: bool):
            def check() -> bool:
                summaries.append(workspace.tick().brokers[0])
                return summaries[-1].backlog.falling_behind is falling_behind
            return check

        wait_until(reported(True), timeout=10, message="the broker reported falling behind")
        behind = summaries[-1].backlog
        assert behind.unread_bytes >= BEHIND_UNREAD_BYTES
        assert "KiB wait unread in the connection's socket" in behind.detail
        release.set()
        wait_until(reported(False), timeout=CAUGHT_UP_AFTER + 10, message="the broker caught up")
        assert summaries[-1].backlog.unread_bytes == 0
        wait_until(lambda: workspace.tick().brokers[0].received == len(messages), message="every message read")
        assert workspace.tick().brokers[0].dropped == 0
    finally:
        release.set()
        workspace.close()


def test_an_audit_whose_reader_waited_for_room_is_falling_behind_and_says_so():
    watch = BacklogWatch(audit=True)
    watch.update(0.0, waiting=500, stalls=0)
    assert not watch.update(0.5, waiting=500, stalls=0).falling_behind
    watch.update(1.0, waiting=500, stalls=40)  # the reader waited for room: the writer is the limit
    behind = watch.update(1.0 + BEHIND_AFTER, waiting=500, stalls=90)
    assert behind.falling_behind and behind.blocked
    assert behind.text == f"audit falling behind for {BEHIND_AFTER:.0f} s"
    assert "500 messages wait to be written" in behind.detail and "waits for room" in behind.detail
    assert "max_queued_messages" in behind.detail  # where the broker's limit is, before it drops
    steady = 1.0 + BEHIND_AFTER
    assert watch.update(steady + 1, waiting=0, stalls=90).falling_behind  # no new stalls, not yet caught up
    assert not watch.update(steady + 1 + CAUGHT_UP_AFTER, waiting=0, stalls=90).falling_behind


def test_an_audit_whose_writer_writes_nearly_all_the_time_is_falling_behind():
    """The broker's small in-flight window keeps what waits in the client small: the writer's busy time
    tells instead."""
    keeping_up, lagging = BacklogWatch(audit=True), BacklogWatch(audit=True)
    for second in range(4):
        keeping_up.update(float(second), waiting=20, writing=second * 0.3)
        lagging.update(float(second), waiting=20, writing=second * 0.95)
    assert not keeping_up.update(4.0, waiting=20, writing=1.2).falling_behind
    behind = lagging.update(4.0, waiting=20, writing=3.8)
    assert behind.falling_behind and behind.writing_flat_out
    assert "writing takes all its time, 20 messages wait to be written" in behind.detail


def test_an_audit_that_writes_slower_than_its_broker_sends_is_reported_falling_behind_with_nothing_lost(
        mosquitto, tmp_path):
    """End to end on a real broker: the audit's writer is held back (a slow disk or database), the audited
    messages wait to be written, and the broker's summary says the audit falls behind until it has caught up
    and every message is stored."""
    workspace = Workspace()
    writable = threading.Event()
    database = tmp_path / "audit.sqlite3"
    try:
        connection = workspace.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port),
                                          subscriptions=(), audit=AuditSettings(database, ("audited/#",)))
        assert connection.recorder.wait_ready(10), connection.recorder.not_ready_reason
        store = connection.recorder.store
        write = store.write_batch

        def held_back_write(*args, **kwargs):
            writable.wait(60)
            return write(*args, **kwargs)

        store.write_batch = held_back_write
        messages = [(f"audited/{i % 20}", str(i).encode()) for i in range(2_000)]
        publish_raw(mosquitto.port, messages)
        summaries = []

        def audit_reported(falling_behind: bool):
            def check() -> bool:
                audit = workspace.tick().brokers[0].audit
                summaries.append(audit)
                return audit is not None and audit.backlog.falling_behind is falling_behind
            return check

        wait_until(audit_reported(True), timeout=20, message="the audit reported falling behind")
        behind = summaries[-1].backlog
        assert behind.writing_flat_out and behind.waiting > 0
        assert "writing takes all its time" in behind.detail and "messages wait to be written" in behind.detail
        assert not workspace.tick().brokers[0].backlog.falling_behind  # the views keep up: only the audit lags
        writable.set()
        wait_until(audit_reported(False), timeout=CAUGHT_UP_AFTER + 30, message="the audit caught up")

        def stored() -> int:
            with sqlite3.connect(database) as conn:
                return conn.execute("SELECT COUNT(*) FROM messages WHERE topic LIKE 'audited/%'").fetchone()[0]

        wait_until(lambda: workspace.tick() is not None and stored() == len(messages), timeout=30,
                   message="every audited message stored")
    finally:
        writable.set()
        workspace.close()
