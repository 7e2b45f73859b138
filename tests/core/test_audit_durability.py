"""Durability of ``eventscope audit record``: SIGKILL mid-stream, restart, and nothing is lost."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from tests.conftest import wait_until
from tests.helpers.audit_recorder import (
    TOTAL,
    assert_every_message_once_unflagged,
    publish_all,
    start_recorder,
    stop_recorder,
    stored_rows,
)


@pytest.mark.mosquitto
def test_sigkill_mid_stream_then_restart_keeps_every_message(mosquitto, tmp_path):
    db = tmp_path / "audit.sqlite3"
    recorder = start_recorder(mosquitto, db)
    published = threading.Event()
    publisher = threading.Thread(target=publish_all, args=(mosquitto.port, published), daemon=True)
    try:
        publisher.start()
        wait_until(lambda: len(stored_rows(db)) >= 300, timeout=30, message="the recorder to store some rows")
        os.kill(recorder.pid, signal.SIGKILL)
        recorder.wait(10)
        at_kill = len(stored_rows(db))
        assert at_kill < TOTAL, "killed too late to test anything"
        assert published.wait(60)
        recorder = start_recorder(mosquitto, db)  # same DB: same client id, so the broker session resumes
        wait_until(lambda: len({p for p, _ in stored_rows(db)}) >= TOTAL, timeout=60,
                   message=f"all {TOTAL} messages stored after the restart")
    finally:
        stop_recorder(recorder)
    rows = stored_rows(db)
    assert_every_message_once_unflagged(rows, TOTAL)
    print(f"rows at kill {at_kill}, stored {len(rows)}, flagged duplicates {len(rows) - TOTAL}")


@pytest.mark.mosquitto
def test_recorder_stops_cleanly_on_sigint(mosquitto, tmp_path):
    recorder = start_recorder(mosquitto, tmp_path / "a.sqlite3")
    recorder.send_signal(signal.SIGINT)
    assert recorder.wait(15) == 0
    assert "audit recorder stopped" in recorder.stdout.read()
