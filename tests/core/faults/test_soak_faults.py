"""Fault suite, soak class (the CLI and core side): broker restarts under a running ``sub``, and
kill -9 of the audit recorder again and again in the middle of a QoS 1 burst."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

from tests.conftest import publish_raw, wait_until
from tests.helpers.audit_recorder import (
    assert_every_message_once_unflagged,
    publish_all,
    start_recorder,
    stop_recorder,
    stored_rows,
)
from tests.helpers.cli import EVENTSCOPE

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


def test_twenty_recorder_kills_in_a_qos1_burst_lose_nothing_and_flag_every_duplicate(mosquitto, tmp_path):
    db = tmp_path / "audit.sqlite3"
    recorder = start_recorder(mosquitto, db)  # the first start creates the durable broker session
    published, over = threading.Event(), threading.Event()
    threading.Thread(target=publish_all, args=(mosquitto.port, published, BURST, 12.0, over), daemon=True).start()
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
    finally:
        over.set()
        stop_recorder(recorder)
    assert_every_message_once_unflagged(stored_rows(db), BURST)
