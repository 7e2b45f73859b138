"""Falling behind: a broker that sends faster than its messages are read and shown says so, and by how much."""

from __future__ import annotations

import math
import threading

import pytest

from eventscope.core.models.backlog import (
    BEHIND_AFTER,
    BEHIND_UNREAD_BYTES,
    BEHIND_WAITING_FLOOR,
    CAUGHT_UP_AFTER,
    BacklogWatch,
)
from eventscope.core.profile import ConnectionProfile
from eventscope.core.workspace.workspace import Workspace
from tests.conftest import publish_raw, wait_until


def test_a_backlog_must_last_before_the_broker_is_said_to_fall_behind_and_must_clear_before_it_catches_up():
    watch = BacklogWatch()
    over = BEHIND_UNREAD_BYTES * 4
    assert not watch.update(over, 0, 0, 0, 1000.0, now=10.0).falling_behind  # a burst, so far
    assert not watch.update(0, 0, 0, 0, 1000.0, now=10.5).falling_behind  # and it cleared: no flicker
    watch.update(over, 0, 0, 0, 1000.0, now=11.0)
    behind = watch.update(over, 0, 0, 0, 1000.0, now=11.0 + BEHIND_AFTER)
    assert behind.falling_behind and behind.text.startswith("falling behind")
    assert watch.update(0, 0, 0, 0, 1000.0, now=12.5).falling_behind  # not caught up at the first quiet sample
    assert not watch.update(0, 0, 0, 0, 1000.0, now=12.5 + CAUGHT_UP_AFTER).falling_behind
    assert watch.update(0, 0, 0, 0, 1000.0, now=20.0).text == ""


def test_records_read_but_not_shown_count_once_they_pass_a_second_of_the_current_rate():
    watch = BacklogWatch()
    rate = 50_000.0
    for now in (0.0, BEHIND_AFTER):
        backlog = watch.update(0, 0, 0, 40_000, rate, now)
    assert not backlog.falling_behind  # less than a second of traffic waits
    for now in (5.0, 5.0 + BEHIND_AFTER):
        backlog = watch.update(0, 0, 0, 80_000, rate, now)
    assert backlog.falling_behind and backlog.seconds == pytest.approx(80_000 / rate)
    assert "80,000 messages wait to be shown" in backlog.detail
    slow = BacklogWatch()
    for now in (0.0, BEHIND_AFTER):
        backlog = slow.update(0, 0, 0, BEHIND_WAITING_FLOOR - 1, 10.0, now)
    assert not backlog.falling_behind  # a slow broker's few waiting records are no backlog


def test_how_far_behind_is_the_unread_bytes_as_messages_at_the_current_rate():
    watch = BacklogWatch()
    watch.update(0, 1_000_000, 10_000, 0, 10_000.0, now=0.0)
    watch.update(0, 3_000_000, 30_000, 0, 10_000.0, now=1.0)  # 100 socket bytes a message
    watch.update(2_000_000, 4_000_000, 40_000, 0, 10_000.0, now=2.0)
    backlog = watch.update(2_000_000, 4_000_000, 40_000, 5_000, 10_000.0, now=2.0 + BEHIND_AFTER)
    assert backlog.seconds == pytest.approx((20_000 + 5_000) / 10_000)
    assert backlog.text == "falling behind ~2.5 s"
    assert "1.9 MiB wait unread in the connection's socket and 5,000 messages wait to be shown" in backlog.detail
    stopped = BacklogWatch()
    stopped.update(BEHIND_UNREAD_BYTES, 0, 0, 0, 0.0, now=0.0)
    backlog = stopped.update(BEHIND_UNREAD_BYTES, 0, 0, 0, 0.0, now=BEHIND_AFTER)
    assert math.isinf(backlog.seconds) and backlog.text == "falling behind: 64 KiB unread"


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
