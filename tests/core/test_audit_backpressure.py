"""The audit path never drops a QoS 1 message: a full buffer stops the network thread instead."""

from __future__ import annotations

import sqlite3

from eventscope.core.audit.recorder import AuditRecorder
from eventscope.core.audit.store import AuditStore
from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.profile import ConnectionProfile
from tests.conftest import publish_raw, wait_until


def test_a_full_audit_buffer_loses_nothing(mosquitto, tmp_path):
    store = AuditStore(tmp_path / "a.sqlite3")
    buffer = IngestBuffer(max_count=10, block_when_full=True)
    recorder = AuditRecorder(store, ConnectionProfile(name="bp", host="127.0.0.1", port=mosquitto.port),
                             filters=("bp/#",), buffer=buffer)
    recorder.start()
    try:
        assert recorder.wait_ready(10)
        publish_raw(mosquitto.port, [(f"bp/{i % 4}", f"m{i}".encode()) for i in range(400)])
        wait_until(lambda: buffer.stats().stalled > 0, message="the network thread waiting for room")
        assert len(buffer) == 10  # nobody flushed yet: the buffer is full and nothing was dropped

        def stored() -> int:
            recorder.flush()
            return store.row_count

        wait_until(lambda: stored() == 400, timeout=20, message="all 400 stored")
        assert buffer.stats().dropped == 0
    finally:
        recorder.stop()
        store.close()
    with sqlite3.connect(tmp_path / "a.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(DISTINCT payload) FROM messages").fetchone() == (400,)
