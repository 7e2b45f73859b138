"""Ingest throughput: Eventscope beside a raw paho subscriber and mosquitto_sub, on the same load.

    python -m tests.perf.bench_ingest [--messages 200000] [--size 60]

One Mosquitto on a free loopback port. For each subscriber in turn, the load generator
(``tests/perf/loadgen.py``: its own process, pre-encoded PUBLISH packets, large ``sendall``
batches) sends the same N QoS 0 requests over ``{region}/hello/request`` flat out, once the
subscriber holds its SUBACK. Every payload carries a sequence number, so each row counts what
was lost. A row's rate is messages received / (last arrival - first arrival); quote the ratios
of one run, not the absolute numbers (the machine is shared).

- mosquitto_sub: the C client subscribed to '#', output to a file, sequence numbers counted after.
- eventscope sub: the command line's subscriber, the same way (``-t '#'``, a payload a line).
- raw paho: a paho 2.x client subscribed to '#' whose on_message only counts.
- Eventscope session: MqttSession -> IngestBuffer (immutable records), drained at ~30 Hz.
(Flat out at QoS 1, Mosquitto 2.0 disconnects the publisher "due to out of memory"; the
window benchmark paces QoS 1 instead.)

- Eventscope full path (all in one process, and with the connections in a child process as
  the window runs them): a ``Workspace`` ticking on its worker thread (tree + a '+/hello/request'
  stream) with the audit recorder on: every request is also committed to SQLite and acked.
  The row's rate counts a message once it is in the tree *and* committed to the audit store.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from eventscope.core.connections.handle import AuditSettings
from eventscope.core.connections.remote import RemoteConnector
from eventscope.core.models.stream_filter import StreamFilter
from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import MQTT_V5, MQTT_V311, ConnectionProfile
from eventscope.core.workspace.workspace import Workspace
from tests.conftest import MOSQUITTO, MosquittoBroker, free_port
from tests.perf.loadgen import LoadGenerator, SequenceCounter, request_topics, sequence_of

FLUSH_SECONDS = 1 / 30
IDLE_SECONDS = 3.0  # a subscriber that received nothing for this long has all it will get


def _load(port: int, messages: int, size: int) -> LoadGenerator:
    gen = LoadGenerator(port, request_topics(), messages, size, qos=0)
    gen.prepare()
    return gen


def _wait_quiet(progress, done, timeout: float = 120.0) -> None:
    """Wait until ``done()`` or until ``progress()`` stops growing for IDLE_SECONDS."""
    deadline = time.monotonic() + timeout
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline and not done():
        value = progress()
        if value != last:
            last, last_change = value, time.monotonic()
        elif time.monotonic() - last_change > IDLE_SECONDS:
            return
        time.sleep(0.05)  # polling with a deadline


def bench_mosquitto_sub(port: int, messages: int, size: int, workdir: Path) -> dict:
    tool = shutil.which("mosquitto_sub")
    if tool is None:
        return {}
    return _bench_command("mosquitto_sub (C)", [tool, "-p", str(port), "-t", "#", "-C", str(messages + 1)],
                          port, messages, size, workdir)


def bench_eventscope_sub(port: int, messages: int, size: int, workdir: Path, version: int) -> dict:
    """``eventscope sub -t '#'``: the command line's subscriber, printing each payload as mosquitto_sub does."""
    command = [sys.executable, "-m", "eventscope", "sub", "-p", str(port), "-t", "#", "-C", str(messages + 1),
               "-V", "5" if version == MQTT_V5 else "311"]
    return _bench_command(f"eventscope sub ({_version(version)})", command, port, messages, size, workdir)


def _bench_command(name: str, command: list[str], port: int, messages: int, size: int, workdir: Path) -> dict:
    """A subscriber program that prints one payload a line: its output goes to a file, counted after."""
    out_path = workdir / "subscriber.out"
    marker = "bench/ready"
    with open(out_path, "wb") as out:
        sub = subprocess.Popen(command, stdout=out)
        gen = _load(port, messages, size)
        # The marker's arrival proves the subscription is in place before the load starts.
        deadline = time.monotonic() + 30
        while out_path.stat().st_size == 0 and time.monotonic() < deadline:
            subprocess.run(["mosquitto_pub", "-p", str(port), "-t", marker, "-m", "ready"], check=True)
            time.sleep(0.1)  # polling with a deadline
        gen.go()
        _wait_quiet(lambda: out_path.stat().st_size, lambda: sub.poll() is not None)
        end = out_path.stat().st_mtime
        if sub.poll() is None:
            sub.kill()
        sub.wait(10)
    gen.wait(30)
    counter = SequenceCounter(messages)
    for line in out_path.read_bytes().splitlines():
        counter.note(line, 0.0)
    return _row(name, counter.received, counter.lost, end - gen.started_at, gen)


def bench_raw_paho(port: int, messages: int, size: int, protocol: int) -> dict:
    counter = SequenceCounter(messages)
    subscribed = threading.Event()

    def on_message(client, userdata, message):
        counter.note(message.payload, time.time())

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-raw-{port}-{protocol}", protocol=protocol)
    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe("#")
    subscribed.wait(10)
    gen = _load(port, messages, size)
    gen.go()
    _wait_quiet(lambda: counter.received, lambda: counter.received >= messages)
    gen.wait(30)
    client.disconnect()
    client.loop_stop()
    name = f"raw paho subscriber ({'MQTT 5' if protocol == mqtt.MQTTv5 else '3.1.1'})"
    return _row(name, counter.received, counter.lost, counter.last - gen.started_at, gen)


def bench_session(port: int, messages: int, size: int, version: int) -> dict:
    profile = ConnectionProfile(host="127.0.0.1", port=port, mqtt_version=version)
    session = MqttSession(profile, buffer=IngestBuffer())
    session.start()
    session.wait_connected(10)
    session.subscribe("#").result(10)
    counter = SequenceCounter(messages)
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            time.sleep(FLUSH_SECONDS)  # the frame cadence
            for record in session.buffer.drain():
                counter.note(record.payload, record.received)

    consumer = threading.Thread(target=drain, daemon=True)
    consumer.start()
    gen = _load(port, messages, size)
    gen.go()
    _wait_quiet(lambda: counter.received, lambda: counter.received >= messages)
    stop.set()
    consumer.join(5)
    gen.wait(30)
    session.stop()
    return _row(f"Eventscope session+buffer ({_version(version)})", counter.received, counter.lost,
                counter.last - gen.started_at, gen)


def bench_workspace(port: int, messages: int, size: int, version: int, workdir: Path, in_child: bool) -> dict:
    """The whole core path: worker-thread ticks into tree and stream, audit committed on the writer thread.

    ``in_child``: the broker connections run in the connection process, as in the window.
    """
    db = workdir / f"audit-{version}-{in_child}.sqlite3"
    workspace = Workspace(connector=RemoteConnector() if in_child else None)
    workspace.add_stream(StreamFilter("+/hello/request"))
    profile = ConnectionProfile(name=f"bench-{version}", host="127.0.0.1", port=port, mqtt_version=version)
    connection = workspace.add_broker(profile, audit=AuditSettings(db, ("+/hello/request",)))
    connection.session.wait_connected(10)
    connection.opened.result(10)
    connection.recorder.wait_ready(10)
    for future in [connection.session.subscribe("#")]:
        future.result(10)
    applied = [0]
    committed = [0]
    last = [0.0]
    stop = threading.Event()

    def consume() -> None:  # the window's part: take each summary (this drives the worker's backpressure)
        while not stop.is_set():
            summary = workspace.take_summary()
            if summary is None:
                time.sleep(0.005)  # polling with a deadline
                continue
            applied[0] += summary.messages
            committed[0] += sum(delta.committed for delta in summary.audit)
            if summary.messages or summary.audit:
                last[0] = time.time()

    workspace.start()
    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    gen = _load(port, messages, size)
    gen.go()
    _wait_quiet(lambda: applied[0] + committed[0], lambda: applied[0] >= messages and committed[0] >= messages)
    stop.set()
    consumer.join(5)
    gen.wait(30)
    dropped = connection.buffer.stats().dropped
    workspace.close()
    with sqlite3.connect(db) as conn:
        stored = {sequence_of(bytes(p)) for (p,) in conn.execute("SELECT payload FROM messages")}
    audit_lost = messages - len(stored - {None})
    where = "connections in a child process" if in_child else "all in one process"
    row = _row(f"Eventscope full path, {where} ({_version(version)})", min(applied[0], committed[0]),
               max(messages - applied[0], audit_lost), last[0] - gen.started_at, gen)
    row["note"] = f"tree {applied[0]:,} (dropped {dropped:,}), audit {committed[0]:,} committed, {audit_lost:,} missing"
    return row


def _version(version: int) -> str:
    return "MQTT 5" if version == MQTT_V5 else "3.1.1"


def _row(name: str, received: int, lost: int, seconds: float, gen: LoadGenerator) -> dict:
    return {"name": name, "received": received, "lost": lost, "seconds": seconds,
            "rate": received / seconds if seconds > 0 else 0.0, "send_rate": gen.send_rate}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=60)
    parser.add_argument("--only", choices=("sub", "cli", "paho", "session", "workspace"), action="append",
                        help="run only these rows (repeatable)")
    args = parser.parse_args(argv)
    if MOSQUITTO is None:
        print("mosquitto is not installed")
        return 1
    wanted = set(args.only or ("sub", "cli", "paho", "session", "workspace"))
    rows = []
    n, size = args.messages, args.size
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(port=free_port(), workdir=Path(tmp),
                                 extra_config="allow_anonymous true\nmax_queued_messages 1000000\n")
        broker.start()
        try:
            if "sub" in wanted:
                rows.append(bench_mosquitto_sub(broker.port, n, size, Path(tmp)))
            for version, protocol in ((MQTT_V311, mqtt.MQTTv311), (MQTT_V5, mqtt.MQTTv5)):
                if "paho" in wanted:
                    rows.append(bench_raw_paho(broker.port, n, size, protocol))
                if "cli" in wanted:
                    rows.append(bench_eventscope_sub(broker.port, n, size, Path(tmp), version))
                if "session" in wanted:
                    rows.append(bench_session(broker.port, n, size, version))
                if "workspace" in wanted:
                    for in_child in (False, True):
                        rows.append(bench_workspace(broker.port, n, size, version, Path(tmp), in_child))
        finally:
            broker.stop()
    rows = [r for r in rows if r]
    print(f"\nIngest: {n:,} x {size} B QoS 0 requests over {len(request_topics())} region topics, "
          "one Mosquitto, one run; the generator pre-encodes and sends flat out\n")
    paho = {_version(v): next((r["rate"] for r in rows if r["name"] == f"raw paho subscriber ({_version(v)})"), 0.0)
            for v in (MQTT_V311, MQTT_V5)}
    print(f"{'subscriber':62} {'received':>10} {'lost':>8} {'seconds':>8} {'msg/s':>10} {'vs paho':>8} {'gen msg/s':>10}")
    for row in rows:
        reference = next((rate for key, rate in paho.items() if key in row["name"]), paho["3.1.1"])
        ratio = row["rate"] / reference if reference else 0.0
        print(f"{row['name']:62} {row['received']:>10,} {row['lost']:>8,} {row['seconds']:>8.2f} {row['rate']:>10,.0f} "
              f"{ratio:>7.2f}x {row['send_rate']:>10,.0f}")
        if row.get("note"):
            print(f"{'':64}{row['note']}")
    print("\n'vs paho' compares with the raw paho subscriber of the same protocol version (mosquitto_sub: 3.1.1).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
