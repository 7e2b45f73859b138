"""kill -9 of the real window in a QoS 1 burst: when it starts again, the audit holds every message."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading

from tests.conftest import publish_raw, wait_until

BURST = 5_000


def _window(port: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "eventscope", "--connect", f"127.0.0.1:{port}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def _stored(db) -> set[bytes]:
    if not db.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return {bytes(p) for (p,) in conn.execute("SELECT payload FROM messages WHERE duplicate=0")}
    except sqlite3.Error:
        return set()  # not created yet


def test_killing_the_window_mid_burst_loses_no_audited_message(mosquitto, tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    db = tmp_path / "data" / "eventscope" / "audit" / "workspace.sqlite3"
    window = _window(mosquitto.port, env)
    restarted = None
    try:
        # The recorder is subscribed once a probe reaches its database.
        wait_until(lambda: publish_raw(mosquitto.port, [("us-east/hello/request", b"probe")]) or b"probe" in _stored(db),
                   timeout=60, interval=0.5, message="the window's recorder")
        payloads = [f"burst {i:05d}".encode() for i in range(BURST)]
        publisher = threading.Thread(target=publish_raw, args=(mosquitto.port,
                                                               [("us-east/hello/request", p) for p in payloads]))
        publisher.start()
        wait_until(lambda: len(_stored(db)) > BURST // 4, timeout=60, message="part of the burst stored")
        os.killpg(window.pid, signal.SIGKILL)  # the window and its connection process's group, mid-burst
        window.wait(10)
        publisher.join(60)
        assert not publisher.is_alive()
        assert not set(payloads) <= _stored(db)  # the kill came before the burst was all stored …
        restarted = _window(mosquitto.port, env)
        wait_until(lambda: set(payloads) <= _stored(db), timeout=90, interval=0.5,
                   message="every message of the burst in the audit after the restart")  # … and nothing was lost
    finally:
        for process in (window, restarted):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
