"""Fault suite, soak class (the CLI and core side): broker restarts under a running ``sub``, and
kill -9 of the audit recorder again and again in the middle of a QoS 1 burst."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter

import paho.mqtt.client as mqtt

from tests.conftest import publish_raw, wait_until
from tests.core.test_audit_durability import start_recorder, stored_rows
from tests.core.test_cli_basics import EVENTSCOPE

RESTARTS = 20
KILLS = 20
BURST = 2000
RESUBSCRIBED_WITHIN = 2.0  # seconds after the broker listens again


class LineReader:
    """Collects a child's stdout lines on a thread, so the test can wait on them."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def seen(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))


def test_sub_resubscribes_after_every_broker_restart_under_traffic(mosquitto):
    sub = subprocess.Popen([*EVENTSCOPE, "sub", "--port", str(mosquitto.port), "-t", "soak/#", "--format", "text"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "subscribed to" in sub.stderr.readline()
        out = LineReader(sub.stdout)
        worst = 0.0
        for round_ in range(RESTARTS):
            mosquitto.restart()
            back = time.monotonic()
            # Traffic that only a resubscribed session sees: published until it arrives.
            wait_until(lambda r=round_: publish_raw(mosquitto.port, [(f"soak/r{r}", b"traffic")]) or out.seen(f"soak/r{r} "),
                       timeout=10, interval=0.05, message=f"traffic after restart {round_ + 1}")
            worst = max(worst, time.monotonic() - back)
        assert worst < RESUBSCRIBED_WITHIN, f"slowest resubscription took {worst:.2f} s"
        assert sub.poll() is None, "sub must still be running after every restart"
    finally:
        sub.terminate()
        sub.wait(15)


def paced_burst(port: int, total: int, seconds: float, done: threading.Event) -> None:
    """QoS 1 requests spread over ``seconds``, so that many recorder kills land inside the burst."""
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = []
        for i in range(total):
            infos.append(client.publish(f"dur/r{i % 4}/request", str(i).encode(), qos=1))
            time.sleep(seconds / total)  # pacing the load generator, not synchronising the test
        for info in infos:
            info.wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()
        done.set()


def test_twenty_recorder_kills_in_a_qos1_burst_lose_nothing_and_flag_every_duplicate(mosquitto, tmp_path):
    db = tmp_path / "audit.sqlite3"
    recorder = start_recorder(mosquitto, db)  # the first start creates the durable broker session
    published = threading.Event()
    threading.Thread(target=paced_burst, args=(mosquitto.port, BURST, 12.0, published), daemon=True).start()
    try:
        for _ in range(KILLS):
            before = len(stored_rows(db))
            wait_until(lambda: len(stored_rows(db)) > before, timeout=30, message="the recorder to store more rows")
            os.kill(recorder.pid, signal.SIGKILL)
            recorder.wait(10)
            recorder = start_recorder(mosquitto, db)
        assert published.wait(60)
        wait_until(lambda: len({p for p, _ in stored_rows(db)}) >= BURST, timeout=60,
                   message=f"all {BURST} messages stored")
        recorder.send_signal(signal.SIGTERM)
        assert recorder.wait(15) == 0
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait(10)
    rows = stored_rows(db)
    assert {p for p, _ in rows} == {str(i).encode() for i in range(BURST)}
    originals = Counter(p for p, dup in rows if not dup)
    assert len(originals) == BURST and set(originals.values()) == {1}  # every extra copy is flagged
