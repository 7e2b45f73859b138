"""Several brokers recording into the workspace's one SQLite file share one writer: one connection whose
batches take turns, so no broker's write meets SQLite's lock ("database is locked") and none retries."""

from __future__ import annotations

import logging
import sqlite3

from eventscope.core.connections.handle import AuditSettings
from eventscope.core.profile import ConnectionProfile
from eventscope.core.workspace.workspace import Workspace
from tests.conftest import wait_until
from tests.perf.loadgen import LoadGenerator, request_topics, sequence_of

PER_BROKER = 20_000


def test_three_brokers_flooding_one_database_never_contend_for_its_lock(mosquitto_factory, tmp_path, caplog):
    brokers = [mosquitto_factory("allow_anonymous true\nmax_queued_messages 100000\n") for _ in range(3)]
    db = tmp_path / "workspace.sqlite3"
    workspace = Workspace()
    caplog.set_level(logging.WARNING, logger="eventscope")
    try:
        connections = []
        for index, broker in enumerate(brokers):
            connection = workspace.add_broker(ConnectionProfile(name=f"b{index}", host="127.0.0.1", port=broker.port),
                                              subscriptions=(), audit=AuditSettings(db, ("+/hello/request",)))
            connection.opened.result(10)
            assert connection.recorder.wait_ready(10), connection.audit_notice
            connections.append(connection)
        stores = {connection.recorder.store.shared_store for connection in connections}
        assert len(stores) == 1  # one store, one SQLite connection, for the three brokers
        # Topics of their own per broker: the same payload on two brokers would be one bridged message.
        generators = [LoadGenerator(broker.port, request_topics((f"region{index}",)), PER_BROKER, qos=1, rate=10_000)
                      for index, broker in enumerate(brokers)]
        for generator in generators:
            generator.start()

        def stored() -> int:
            workspace.tick()  # collects the writers' results, as the window's frames do
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                return conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]

        wait_until(lambda: stored() == 3 * PER_BROKER, timeout=90, interval=0.2, message="every request stored")
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            for index in range(3):
                sequences = {sequence_of(bytes(p)) for (p,) in conn.execute(
                    "SELECT payload FROM messages WHERE broker = ?", (f"b{index}",))}
                assert sequences == set(range(PER_BROKER)), f"b{index} lost or repeated requests"
        failures = [r.getMessage() for r in caplog.records if "audit write failed" in r.getMessage()
                    or "locked" in r.getMessage()]
        assert failures == []
    finally:
        workspace.close()
    # The shared store closed with its last user: the file is no longer held open for writing.
    with sqlite3.connect(db) as conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
