"""An ``eventscope audit record`` child on ``dur/+/request``, its stored rows, and a raw QoS 1 publisher to feed it."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter

import paho.mqtt.client as mqtt

from tests.helpers.cli import EVENTSCOPE

TOTAL = 5000  # messages ``publish_all`` sends unless told otherwise


def start_recorder(broker, db) -> subprocess.Popen:
    proc = subprocess.Popen(
        [*EVENTSCOPE, "audit", "record", "--host", "127.0.0.1", "--port", str(broker.port),
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


def publish_all(port: int, done: threading.Event, total: int = TOTAL, seconds: float = 0.0,
                stop: threading.Event | None = None) -> None:
    """A raw paho publisher (not Eventscope's session): ``total`` QoS 1 requests, spread over ``seconds``;
    ``stop`` ends a paced load early (a test that is over)."""
    stop = stop or threading.Event()
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(200)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = []
        started = time.monotonic()
        for i in range(total):
            infos.append(client.publish(f"dur/r{i % 4}/request", str(i).encode(), qos=1))
            ahead = started + seconds * (i + 1) / total - time.monotonic()
            if ahead > 0 and stop.wait(ahead):  # a paced load: each message at its time, unless the test is over
                return
        for info in infos:
            info.wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()
        done.set()
