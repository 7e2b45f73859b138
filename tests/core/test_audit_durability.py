"""Durability of ``eventscope audit record``: SIGKILL mid-stream, restart, and nothing is lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter

import paho.mqtt.client as mqtt
import pytest

from tests.conftest import wait_until

TOTAL = 5000


def start_recorder(broker, db) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "eventscope", "audit", "record", "--host", "127.0.0.1", "--port", str(broker.port),
         "--filter", "dur/+/request", "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "audit recorder ready" in line, line + proc.stderr.read() if proc.poll() is not None else line
    return proc


def stored_rows(db) -> list[tuple[bytes, int]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return [(bytes(p), d) for p, d in conn.execute("SELECT payload, duplicate FROM messages")]
    finally:
        conn.close()


def stop_recorder(recorder: subprocess.Popen) -> None:
    """SIGTERM, and a clean exit (0: everything received was stored and acked); kill -9 if it hangs."""
    try:
        recorder.send_signal(signal.SIGTERM)
        assert recorder.wait(15) == 0
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait(10)


def assert_every_message_once_unflagged(rows: list[tuple[bytes, int]], total: int) -> None:
    """Payloads "0".."total-1" are all stored, and every copy beyond the first is flagged duplicate."""
    assert {p for p, _ in rows} == {str(i).encode() for i in range(total)}
    originals = Counter(p for p, dup in rows if not dup)
    assert len(originals) == total and set(originals.values()) == {1}


def publish_all(port: int, done: threading.Event, total: int = TOTAL, seconds: float = 0.0) -> None:
    """A raw paho publisher (not Eventscope's session): ``total`` QoS 1 requests, spread over ``seconds``."""
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(200)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = []
        for i in range(total):
            infos.append(client.publish(f"dur/r{i % 4}/request", str(i).encode(), qos=1))
            if seconds:
                time.sleep(seconds / total)  # pacing the load generator, not synchronising the test
        for info in infos:
            info.wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()
        done.set()


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
