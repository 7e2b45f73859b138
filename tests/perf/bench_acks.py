"""Acknowledging QoS 1 messages by hand: paho's ``ack`` per message beside ``MqttSession.ack_many``.

    python -m tests.perf.bench_acks [--messages 20000]

The audit acknowledges each message only after the batch holding it has committed. One Mosquitto
on a free loopback port (no limit on messages in flight); for each protocol and each way in turn, a
manual-ack session subscribes at QoS 1, the load generator (``tests/perf/loadgen.py``: its own
process, pre-encoded packets) publishes N QoS 1 messages, and the session holds them all unacknowledged.
Then the clock starts and every one is acknowledged:

- paho's ``Client.ack(mid, qos)`` per message: one queued 4-byte PUBACK each, a wake-up of the network
  thread each (a socketpair write) and one ``send`` each;
- ``MqttSession.ack_many`` in batches of 1,000 (an audit commit's size): one queued write per batch.

The clock stops when the broker answers a SUBSCRIBE sent after the acks (it reads in order, so it has
read them all). The process CPU over that time is what the acks cost, on the caller's thread and
paho's network thread together.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import MQTT_V5, MQTT_V311, ConnectionProfile
from tests.conftest import MosquittoBroker, free_port
from tests.perf.loadgen import LoadGenerator, request_topics, sequence_of

AUDIT_BATCH = 1_000


def _held(session: MqttSession, count: int, timeout: float = 60.0) -> list:
    records: list = []
    deadline = time.monotonic() + timeout
    while len(records) < count and time.monotonic() < deadline:
        records.extend(session.buffer.drain())
        time.sleep(0.01)  # polling with a deadline
    return records


def bench(port: int, messages: int, version: int, way: str) -> dict:
    profile = ConnectionProfile(port=port, client_id=f"acks-{way}-{version}-{time.monotonic_ns()}", mqtt_version=version)
    session = MqttSession(profile, manual_ack=True)
    session.start()
    try:
        if not session.wait_connected(10):
            raise RuntimeError(f"cannot connect: {session.status}")
        session.subscribe("#", qos=1).result(10)
        gen = LoadGenerator(port, request_topics(), messages, 60, qos=1)
        gen.prepare()
        gen.go()
        records = _held(session, messages)
        gen.wait(60)
        numbers = {sequence_of(r.payload) for r in records}
        started, cpu = time.perf_counter(), time.process_time()
        if way == "paho":
            for record in records:
                session._client.ack(record.mid, record.qos)  # what paho offers: one at a time
        else:
            for first in range(0, len(records), AUDIT_BATCH):
                session.ack_many(records[first:first + AUDIT_BATCH])
        session.subscribe("bench/acks/done", qos=1).result(60)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        return {"received": len(records), "lost": messages - len(numbers - {None}), "seconds": elapsed, "cpu": cpu}
    finally:
        session.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        broker = MosquittoBroker(port=free_port(), workdir=Path(folder), extra_config=(
            "allow_anonymous true\nmax_inflight_messages 0\nmax_queued_messages 1000000\n"))
        broker.start()
        try:
            for version, name in ((MQTT_V311, "3.1.1"), (MQTT_V5, "MQTT 5")):
                for way, label in (("paho", "paho Client.ack, one per message"),
                                   ("many", f"Eventscope ack_many, batches of {AUDIT_BATCH:,}")):
                    rows.append((f"{label} ({name})", name, bench(broker.port, args.messages, version, way)))
        finally:
            broker.stop()
    print(f"\nAcknowledging {args.messages:,} held QoS 1 messages by hand, one Mosquitto, one run\n")
    print(f"{'way':<52} {'received':>9} {'lost':>5} {'ms in all':>9} {'CPU µs/ack':>10} {'vs paho':>8}")
    paho_cpu: dict[str, float] = {}
    for label, version, row in rows:
        per_ack = row["cpu"] / max(1, row["received"]) * 1e6
        paho_cpu.setdefault(version, per_ack)
        print(f"{label:<52} {row['received']:>9,} {row['lost']:>5,} {row['seconds'] * 1000:>9.1f} {per_ack:>10.2f} "
              f"{paho_cpu[version] / per_ack:>7.1f}x")
    print("\n'vs paho': how many times less CPU an acknowledgement takes than paho's own, on the same protocol.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
