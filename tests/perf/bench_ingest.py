"""Ingest throughput: Eventscope beside a raw paho subscriber and mosquitto_sub, on the same load.

    python -m tests.perf.bench_ingest [--messages 200000] [--size 50]

One Mosquitto on a free loopback port. For each subscriber in turn, a publisher in its own
process sends the same N QoS 0 messages of S bytes as fast as it can, once the subscriber
holds its SUBACK. Each row is N received / (last arrival - first publish), from one run;
quote the ratios, not the absolute numbers (the machine is shared).

- mosquitto_sub: the C client, output to /dev/null, counted with -C.
- raw paho: a paho 2.x client whose on_message only counts.
- Eventscope session: MqttSession -> IngestBuffer (immutable records), drained at ~30 Hz.
- Eventscope session + tree: as above, each drain applied to the core topic tree.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from core.ingest import IngestBuffer
from core.profile import ConnectionProfile
from core.session import MqttSession
from tests.conftest import MOSQUITTO, MosquittoBroker, free_port

TOPICS = 1000
FLUSH_SECONDS = 1 / 30


def _publisher(port: int, messages: int, size: int, ready: multiprocessing.Event, started) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{port}")
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    ready.wait()
    payload = b"x" * size
    started.value = time.time()
    for i in range(messages):
        while client.publish(f"bench/{i % TOPICS}", payload).rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            time.sleep(0.001)  # back-pressure from paho's queue, not synchronisation
    time.sleep(0.5)  # let the socket drain before disconnecting
    client.disconnect()
    client.loop_stop()


def _run_publisher(port: int, messages: int, size: int):
    ctx = multiprocessing.get_context("spawn")
    ready, started = ctx.Event(), ctx.Value("d", 0.0)
    process = ctx.Process(target=_publisher, args=(port, messages, size, ready, started), daemon=True)
    process.start()
    return process, ready, started


def bench_mosquitto_sub(port: int, messages: int, size: int) -> tuple[int, float]:
    tool = shutil.which("mosquitto_sub")
    if tool is None:
        return 0, float("nan")
    # A retained marker tells us the subscription is in place before the load starts.
    subprocess.run(["mosquitto_pub", "-p", str(port), "-t", "bench/ready", "-m", "1", "-r"], check=True)
    sub = subprocess.Popen([tool, "-p", str(port), "-t", "bench/#", "-C", str(messages + 1)],
                           stdout=subprocess.PIPE, bufsize=0)
    sub.stdout.readline()
    subprocess.run(["mosquitto_pub", "-p", str(port), "-t", "bench/ready", "-n", "-r"], check=True)
    process, ready, started = _run_publisher(port, messages, size)
    ready.set()
    received = 0
    while sub.stdout.read(65536):
        pass  # mosquitto_sub exits after -C messages
    end = time.time()
    sub.wait(30)
    process.join(30)
    received = messages if sub.returncode == 0 else 0
    return received, end - started.value


def bench_raw_paho(port: int, messages: int, size: int, protocol=mqtt.MQTTv311) -> tuple[int, float]:
    count = [0]
    last = [0.0]
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(client, userdata, message):
        count[0] += 1
        if count[0] >= messages:
            last[0] = time.time()
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-raw-{port}", protocol=protocol)
    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe("bench/#")
    subscribed.wait(10)
    process, ready, started = _run_publisher(port, messages, size)
    ready.set()
    done.wait(120)
    process.join(30)
    client.disconnect()
    client.loop_stop()
    return count[0], (last[0] or time.time()) - started.value


def bench_eventscope(port: int, messages: int, size: int, with_tree: bool) -> tuple[int, float]:
    tree = None
    if with_tree:
        from core.topic_tree import TopicTree

        tree = TopicTree()
    session = MqttSession(ConnectionProfile(host="127.0.0.1", port=port), buffer=IngestBuffer())  # MQTT 5
    session.start()
    session.wait_connected(10)
    session.subscribe("bench/#").result(10)
    process, ready, started = _run_publisher(port, messages, size)
    ready.set()
    received = 0
    last = 0.0
    deadline = time.monotonic() + 120
    while received < messages and time.monotonic() < deadline:
        time.sleep(FLUSH_SECONDS)  # the GUI's flush cadence
        batch = session.buffer.drain()
        if batch:
            last = batch[-1].received
            received += len(batch)
            if tree is not None:
                tree.apply(batch)
    process.join(30)
    session.stop()
    return received, (last or time.time()) - started.value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=50)
    args = parser.parse_args(argv)
    if MOSQUITTO is None:
        print("mosquitto is not installed")
        return 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(port=free_port(), workdir=Path(tmp))
        broker.start()
        try:
            rows.append(("mosquitto_sub (C)", *bench_mosquitto_sub(broker.port, args.messages, args.size)))
            rows.append(("raw paho subscriber (MQTT 5)", *bench_raw_paho(broker.port, args.messages, args.size, mqtt.MQTTv5)))
            rows.append(("raw paho subscriber (3.1.1)", *bench_raw_paho(broker.port, args.messages, args.size)))
            rows.append(("Eventscope session+buffer", *bench_eventscope(broker.port, args.messages, args.size, False)))
            try:
                rows.append(("Eventscope session+buffer+tree", *bench_eventscope(broker.port, args.messages, args.size, True)))
            except ImportError:
                pass
        finally:
            broker.stop()
    paho_rate = rows[1][1] / rows[1][2]
    print(f"\nIngest: {args.messages:,} x {args.size} B QoS 0 over {TOPICS} topics, one Mosquitto, one run\n")
    print(f"{'subscriber':34} {'received':>10} {'seconds':>8} {'msg/s':>10} {'vs paho':>8}")
    for name, received, seconds in rows:
        rate = received / seconds if seconds > 0 else 0.0
        print(f"{name:34} {received:>10,} {seconds:>8.2f} {rate:>10,.0f} {rate / paho_rate:>7.2f}x")
    print("\n'vs paho' is against the raw paho MQTT 5 subscriber; Eventscope speaks MQTT 5 here.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
