"""Throughput and memory of the embedded broker backends, with real paho clients.

    python -m tests.perf.bench_broker                      # throughput, every installed backend
    python -m tests.perf.bench_broker --backend iotcore    # one backend
    python -m tests.perf.bench_broker --soak 600           # demo-like traffic for 10 min (auto backend)

Throughput: one paho publisher (in its own process, so it does not share the GIL with the
subscriber) sends N QoS 0 messages as fast as it can; one paho subscriber counts them.
The received rate is received / (last arrival - first publish). RSS is the broker child's.

Soak: 4 regions of telemetry (~200 msg/s over ~200 topics, some retained), a few
MQTT 5 requests per second answered by a responder, a monitor on ``demo/#``, per-region
subscribers and a late subscriber reading retained state every minute; broker RSS is
sampled every 10 s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from eventscope.core.demo.embedded_broker import EmbeddedBroker, find_mosquitto, iotcore_available

MIB = 1024 * 1024
REGIONS = ("eu-west", "us-east", "ap-south", "sa-east")
DEVICES_PER_REGION = 50  # 4 x 50 = 200 telemetry topics
TELEMETRY_PER_SECOND = 200
REQUESTS_PER_SECOND = 4
RETAINED_EVERY_NTH_DEVICE = 5  # a fifth of the devices (40) also keep a retained status ...
RETAINED_STATUS_EVERY_N_CYCLES = 10  # ... refreshed every 10 s
QUIET_SECONDS = 2.0  # throughput run ends when nothing arrived for this long
CONNECT_TIMEOUT = 10.0


def connected_client(broker_host: str, port: int, client_id: str, mqtt_version: int = 5) -> mqtt.Client:
    """A paho client with its network loop running, connected (CONNACK received)."""
    protocol = mqtt.MQTTv5 if mqtt_version == 5 else mqtt.MQTTv311
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    connected = threading.Event()
    client.on_connect = lambda *_args: connected.set()
    client.connect(broker_host, port, keepalive=60)
    client.loop_start()
    if not connected.wait(CONNECT_TIMEOUT):
        raise TimeoutError(f"{client_id}: no CONNACK from {broker_host}:{port}")
    return client


def subscribe_and_wait(client: mqtt.Client, topic_filter: str, qos: int = 0) -> None:
    """Subscribe and block until the SUBACK, so nothing published afterwards is missed."""
    acked_mids: set[int] = set()
    previous = client.on_subscribe
    # Installed before subscribing: the SUBACK can arrive before subscribe() returns.
    client.on_subscribe = lambda _c, _u, acked_mid, _codes, _props: acked_mids.add(acked_mid)
    _result, mid = client.subscribe(topic_filter, qos=qos)
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while mid not in acked_mids:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no SUBACK for {topic_filter}")
        time.sleep(0.01)  # polling with a deadline
    client.on_subscribe = previous


def rss_mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / MIB


def selected_backends(choice: str) -> list[str]:
    if choice == "all":
        installed = {"mosquitto": find_mosquitto() is not None, "iotcore": iotcore_available()}
        return [name for name, ok in installed.items() if ok]
    return [EmbeddedBroker(backend=choice).backend]


# -- throughput ------------------------------------------------------------------------


def _publish_burst(host: str, port: int, count: int, payload_bytes: int, started_at, finished_at) -> None:
    """Child process: publish ``count`` QoS 0 messages as fast as paho allows."""
    client = connected_client(host, port, "bench-publisher")
    payload = b"x" * payload_bytes
    started_at.value = time.time()  # wall clock: compared across processes
    info = None
    for _ in range(count):
        info = client.publish("bench/throughput", payload, qos=0)
    info.wait_for_publish(120)  # QoS 0: returns once the last packet is written to the socket
    finished_at.value = time.time()
    client.disconnect()
    client.loop_stop()


@dataclass
class ThroughputResult:
    backend: str
    sent: int
    received: int
    received_per_second: float
    published_per_second: float
    rss_idle_mib: float
    rss_peak_mib: float
    rss_after_mib: float


def run_throughput(backend: str, count: int, payload_bytes: int) -> ThroughputResult:
    with EmbeddedBroker(backend=backend) as broker:
        rss_idle = rss_mib(broker.pid)
        rss_peak = rss_idle
        received = 0
        last_arrival = 0.0

        def on_message(_client, _userdata, _message) -> None:
            nonlocal received, last_arrival
            received += 1
            last_arrival = time.time()

        subscriber = connected_client(broker.host, broker.port, "bench-subscriber")
        subscriber.on_message = on_message
        subscribe_and_wait(subscriber, "bench/#")

        spawn = multiprocessing.get_context("spawn")
        started_at, finished_at = spawn.Value("d", 0.0), spawn.Value("d", 0.0)
        publisher = spawn.Process(
            target=_publish_burst, args=(broker.host, broker.port, count, payload_bytes, started_at, finished_at)
        )
        publisher.start()
        try:
            # Done when everything arrived, or nothing arrived for QUIET_SECONDS after the publisher finished.
            while True:
                rss_peak = max(rss_peak, rss_mib(broker.pid))
                if received >= count:
                    break
                publisher_done = not publisher.is_alive()
                if publisher_done and time.time() - max(last_arrival, finished_at.value) > QUIET_SECONDS:
                    break
                time.sleep(0.1)  # RSS sampling interval
        finally:
            publisher.join(60)
            if publisher.is_alive():
                publisher.kill()
                publisher.join()
        rss_after = rss_mib(broker.pid)
        subscriber.disconnect()
        subscriber.loop_stop()

    elapsed = max(last_arrival - started_at.value, 1e-9)
    publish_elapsed = max(finished_at.value - started_at.value, 1e-9)
    return ThroughputResult(
        backend=backend,
        sent=count,
        received=received,
        received_per_second=received / elapsed,
        published_per_second=count / publish_elapsed,
        rss_idle_mib=rss_idle,
        rss_peak_mib=rss_peak,
        rss_after_mib=rss_after,
    )


def print_throughput_table(results: list[ThroughputResult], payload_bytes: int) -> None:
    print(f"\nQoS 0, {payload_bytes} B payload, 1 paho publisher -> broker -> 1 paho subscriber")
    header = (
        f"{'backend':<10} {'sent':>8} {'received':>9} {'lost %':>7} {'recv msg/s':>11} {'pub msg/s':>10} "
        f"{'RSS idle MiB':>13} {'peak MiB':>9} {'after MiB':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        lost = 100.0 * (r.sent - r.received) / r.sent
        print(
            f"{r.backend:<10} {r.sent:>8} {r.received:>9} {lost:>7.1f} {r.received_per_second:>11,.0f} "
            f"{r.published_per_second:>10,.0f} {r.rss_idle_mib:>13.1f} {r.rss_peak_mib:>9.1f} {r.rss_after_mib:>10.1f}"
        )


# -- soak ------------------------------------------------------------------------------


class DemoTraffic:
    """Demo-like load on one broker, driven from background threads until ``stop()``."""

    def __init__(self, broker: EmbeddedBroker) -> None:
        self.broker = broker
        self.telemetry_sent = 0
        self.monitor_received = 0
        self.region_received = 0
        self.requests_sent = 0
        self.replies_received = 0
        self.retained_fetches: list[int] = []
        self.round_trip_ms: list[float] = []
        self._request_sent_at: dict[bytes, float] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._clients: list[mqtt.Client] = []
        self._counter_lock = threading.Lock()  # paho callbacks of several clients run on their own threads

    def _client(self, client_id: str, mqtt_version: int = 5) -> mqtt.Client:
        client = connected_client(self.broker.host, self.broker.port_for(mqtt_version), client_id, mqtt_version)
        self._clients.append(client)
        return client

    def start(self) -> None:
        monitor = self._client("soak-monitor")  # what the Eventscope window subscribes to
        monitor.on_message = lambda *_: self._count("monitor_received")
        subscribe_and_wait(monitor, "demo/#")
        for region in REGIONS:  # region-filtered streams
            region_client = self._client(f"soak-region-{region}")
            region_client.on_message = lambda *_: self._count("region_received")
            subscribe_and_wait(region_client, f"demo/{region}/telemetry/#")

        responder = self._client("soak-responder")
        responder.on_message = self._answer_request
        subscribe_and_wait(responder, "demo/+/request/#", qos=1)
        requester = self._client("soak-requester")
        requester.on_message = self._on_reply
        subscribe_and_wait(requester, "demo/replies/soak-requester", qos=1)

        devices = self._client("soak-devices", mqtt_version=4)  # devices often speak 3.1.1
        loops = ((self._publish_telemetry, (devices,)), (self._send_requests, (requester,)), (self._fetch_retained, ()))
        for target, args in loops:
            thread = threading.Thread(target=target, args=args, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        for client in self._clients:
            client.disconnect()
            client.loop_stop()

    def _count(self, counter: str) -> None:
        with self._counter_lock:
            setattr(self, counter, getattr(self, counter) + 1)

    def _paced(self, per_second: float):
        """Yield tick numbers at ``per_second`` until stopped (pacing, not synchronisation)."""
        interval = 1.0 / per_second
        next_at = time.monotonic()
        for tick in itertools.count():
            if self._stop.wait(max(0.0, next_at - time.monotonic())):
                return
            yield tick
            next_at += interval

    def _publish_telemetry(self, devices: mqtt.Client) -> None:
        topics = [(region, device) for region in REGIONS for device in range(DEVICES_PER_REGION)]
        batch = 10  # 20 batches/s of 10 messages
        for tick in self._paced(TELEMETRY_PER_SECOND / batch):
            for offset in range(batch):
                region, device = topics[(tick * batch + offset) % len(topics)]
                reading = {"device": device, "region": region, "t": time.time(), "temp": 20 + device % 7}
                payload = json.dumps(reading).encode()
                devices.publish(f"demo/{region}/telemetry/device-{device:03d}", payload, qos=0)
                self.telemetry_sent += 1
                cycle = (tick * batch + offset) // len(topics)  # one cycle per second
                if device % RETAINED_EVERY_NTH_DEVICE == 0 and cycle % RETAINED_STATUS_EVERY_N_CYCLES == 0:
                    status_topic = f"demo/{region}/status/device-{device:03d}"
                    devices.publish(status_topic, b'{"state":"online"}', qos=1, retain=True)

    def _send_requests(self, requester: mqtt.Client) -> None:
        for tick in self._paced(REQUESTS_PER_SECOND):
            region = REGIONS[tick % len(REGIONS)]
            correlation = f"req-{tick}".encode()
            properties = Properties(PacketTypes.PUBLISH)
            properties.ResponseTopic = "demo/replies/soak-requester"
            properties.CorrelationData = correlation
            properties.UserProperty = [("region", region)]
            self._request_sent_at[correlation] = time.monotonic()
            requester.publish(f"demo/{region}/request/ping", b'{"op":"ping"}', qos=1, properties=properties)
            self.requests_sent += 1

    def _answer_request(self, client: mqtt.Client, _userdata, request: mqtt.MQTTMessage) -> None:
        reply = Properties(PacketTypes.PUBLISH)
        reply.CorrelationData = request.properties.CorrelationData
        client.publish(request.properties.ResponseTopic, b'{"op":"pong"}', qos=1, properties=reply)

    def _on_reply(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        sent_at = self._request_sent_at.pop(message.properties.CorrelationData, None)
        if sent_at is not None:
            self.round_trip_ms.append((time.monotonic() - sent_at) * 1000)
        self.replies_received += 1

    def _fetch_retained(self) -> None:
        """Every minute a new client connects and reads the retained state, like a reopened window."""
        for tick in self._paced(1 / 60):
            if tick == 0:
                continue  # let the first retained statuses land
            received = []
            client = connected_client(self.broker.host, self.broker.port, f"soak-late-{tick}")
            # Only the retained copies count, not live status updates arriving meanwhile.
            client.on_message = lambda _c, _u, message: message.retain and received.append(message.topic)
            subscribe_and_wait(client, "demo/+/status/#")
            expected = len(REGIONS) * len(range(0, DEVICES_PER_REGION, RETAINED_EVERY_NTH_DEVICE))
            deadline = time.monotonic() + 5
            while len(received) < expected and time.monotonic() < deadline:
                time.sleep(0.05)  # polling with a deadline
            self.retained_fetches.append(len(received))
            client.disconnect()
            client.loop_stop()


def run_soak(backend: str, seconds: float, sample_interval: float) -> None:
    with EmbeddedBroker(backend=backend) as broker:
        print(f"soak: {broker!r} for {seconds:.0f}s, RSS sampled every {sample_interval:.0f}s", flush=True)
        rss_start = rss_mib(broker.pid)
        traffic = DemoTraffic(broker)
        traffic.start()
        samples = [rss_start]
        started = time.monotonic()
        print(f"{'t s':>6} {'RSS MiB':>8} {'telemetry sent':>15} {'monitor recv':>13} {'replies':>8}", flush=True)
        print(f"{0:>6.0f} {rss_start:>8.1f} {0:>15} {0:>13} {0:>8}", flush=True)
        while (elapsed := time.monotonic() - started) < seconds:
            time.sleep(min(sample_interval, seconds - elapsed))  # sampling interval
            samples.append(rss_mib(broker.pid))
            print(
                f"{time.monotonic() - started:>6.0f} {samples[-1]:>8.1f} {traffic.telemetry_sent:>15} "
                f"{traffic.monitor_received:>13} {traffic.replies_received:>8}",
                flush=True,
            )
        traffic.stop()
        rss_end = rss_mib(broker.pid)

    rtts = sorted(traffic.round_trip_ms) or [float("nan")]
    print(f"\nsoak summary: backend={backend} duration={seconds:.0f}s")
    print(f"  broker RSS MiB: start {rss_start:.1f}  max {max(samples + [rss_end]):.1f}  end {rss_end:.1f}")
    print(f"  telemetry sent {traffic.telemetry_sent}, monitor (demo/#) received {traffic.monitor_received}, "
          f"region subscribers received {traffic.region_received}")
    print(f"  requests {traffic.requests_sent}, replies {traffic.replies_received}, "
          f"RTT ms median {rtts[len(rtts) // 2]:.1f} p99 {rtts[int(len(rtts) * 0.99)]:.1f}")
    expected = len(REGIONS) * len(range(0, DEVICES_PER_REGION, RETAINED_EVERY_NTH_DEVICE))
    print(f"  retained statuses per late subscriber (expected {expected}): {traffic.retained_fetches}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.bench_broker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("all", "auto", "mosquitto", "iotcore"), default=None,
                        help="default: all installed for throughput, auto for --soak")
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--payload-bytes", type=int, default=50)
    parser.add_argument(
        "--soak", type=float, metavar="SECONDS", help="run demo-like traffic instead of the throughput test"
    )
    parser.add_argument("--sample-interval", type=float, default=10.0, help="soak RSS sampling interval in seconds")
    args = parser.parse_args(argv)

    if args.soak:
        for backend in selected_backends(args.backend or "auto"):
            run_soak(backend, args.soak, args.sample_interval)
        return 0
    backends = selected_backends(args.backend or "all")
    results = [run_throughput(backend, args.messages, args.payload_bytes) for backend in backends]
    print_throughput_table(results, args.payload_bytes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
