"""Simulated multi-region traffic for the demo: requests, telemetry, retained status, binary frames,
and one Sparkplug B edge node."""

from __future__ import annotations

import json
import logging
import math
import random
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

from eventscope.core.mqtt.session import MqttSession, SessionError
from eventscope.core.profile import ConnectionProfile
from eventscope.core.records import MessageProperties
from eventscope.core.sparkplug.edge import EdgeTiming, SimulatedEdgeNode

log = logging.getLogger(__name__)

DEMO_REGIONS = ("us-east", "us-west", "eu-central", "ap-south")
DEMO_SERVICES = ("orders", "payments", "inventory")
DEVICES_PER_SERVICE = 4


@dataclass(frozen=True)
class SimulatorRates:
    """Messages per second of each kind, for the whole simulator."""

    requests_per_second: float = 4.0
    telemetry_interval: float = 1.0  # each telemetry topic publishes once per interval
    status_interval: float = 10.0
    binary_interval: float = 5.0
    sparkplug: EdgeTiming = EdgeTiming()


class TrafficSimulator:
    """Publishes demo traffic from one background thread until ``stop()``.

    Requests go to ``{region}/hello/request`` with an MQTT 5 response topic
    ``{region}/hello/response`` and fresh correlation data, as the seed's Elixir nodes do.
    """

    def __init__(self, host: str, port: int, regions=DEMO_REGIONS, rates: SimulatorRates = SimulatorRates(),
                 seed: int | None = None) -> None:
        self.regions = tuple(regions)
        self.rates = rates
        self.published = 0
        self._random = random.Random(seed)
        self._edge_node = SimulatedEdgeNode(random.Random(seed), rates.sparkplug)
        profile = ConnectionProfile(name="simulator", host=host, port=port,
                                    client_id=f"eventscope-sim-{secrets.token_hex(3)}")
        self._session = MqttSession(profile, session_id="simulator", buffer_messages=False)
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by stop() and by a command for the edge node
        self._commands: deque[tuple[str, bytes]] = deque()
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> None:
        self._session.start()
        if not self._session.wait_connected(timeout):
            self._session.stop()
            raise ConnectionError(f"simulator cannot connect: {self._session.status.text}")
        self._session.add_tap(self._on_command)  # the edge node's NCMD (a host asking for a rebirth)
        self._session.subscribe(self._edge_node.command_topic, 1).result(timeout)
        self._thread = threading.Thread(target=self._run, name="demo-simulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        self._session.stop()

    def _publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False,
                 properties: MessageProperties | None = None) -> None:
        try:
            self._session.publish(topic, payload, qos=qos, retain=retain, properties=properties)
            self.published += 1
        except SessionError as exc:  # broker restarting: skip this tick, the session reconnects
            log.debug("simulator publish skipped: %s", exc)

    def _run(self) -> None:
        rates = self.rates
        started = time.monotonic()
        next_request = next_telemetry = next_status = started
        next_binary = started + 1.0
        sequence = 0
        self._publish_retained_config()
        self._publish_all(self._edge_node.birth(started))
        while not self._stop.is_set():
            self._wake.clear()  # before reading commands: one arriving from here on wakes the wait below
            now = time.monotonic()
            while self._commands:
                topic, payload = self._commands.popleft()
                self._publish_all(self._edge_node.command(topic, payload, now))
            self._publish_all(self._edge_node.tick(now))
            if now >= next_request:
                sequence += 1
                self._publish_request(sequence)
                next_request = now + self._random.expovariate(rates.requests_per_second)
            if now >= next_telemetry:
                self._publish_telemetry(now - started)
                next_telemetry = now + rates.telemetry_interval
            if now >= next_status:
                self._publish_status()
                next_status = now + rates.status_interval
            if now >= next_binary:
                region = self._random.choice(self.regions)
                self._publish(f"{region}/camera/frame", bytes(self._random.getrandbits(8) for _ in range(64)))
                next_binary = now + rates.binary_interval
            wake = min(next_request, next_telemetry, next_status, next_binary, self._edge_node.next_due)
            self._wake.wait(max(0.0, wake - time.monotonic()))

    def _on_command(self, record) -> None:
        """Network thread: hand a command to the publishing thread and wake it."""
        if record.topic == self._edge_node.command_topic:
            self._commands.append((record.topic, bytes(record.payload)))
            self._wake.set()

    def _publish_all(self, messages: list[tuple[str, bytes]]) -> None:
        for topic, payload in messages:
            self._publish(topic, payload)

    def _publish_request(self, sequence: int) -> None:
        region = self._random.choice(self.regions)
        body = json.dumps({"greeting": "hello", "from": f"node-{self._random.randint(1, 3)}@{region}", "seq": sequence})
        props = MessageProperties(response_topic=f"{region}/hello/response", correlation_data=secrets.token_bytes(8),
                                  content_type="application/json")
        self._publish(f"{region}/hello/request", body.encode(), qos=1, properties=props)

    def _publish_telemetry(self, elapsed: float) -> None:
        for r_index, region in enumerate(self.regions):
            for s_index, service in enumerate(DEMO_SERVICES):
                for device in range(1, DEVICES_PER_SERVICE + 1):
                    phase = r_index + s_index * 0.7 + device * 0.3
                    body = {
                        "cpu": round(50 + 30 * math.sin(elapsed / 20 + phase) + self._random.uniform(-5, 5), 1),
                        "latency_ms": round(max(1.0, 12 + 8 * math.sin(elapsed / 7 + phase) + self._random.gauss(0, 2)), 2),
                        "queue": self._random.randint(0, 50),
                    }
                    self._publish(f"{region}/{service}/node-{device}/metrics", json.dumps(body).encode())

    def _publish_status(self) -> None:
        for region in self.regions:
            body = json.dumps({"state": "up", "nodes": 3, "at": round(time.time(), 3)})
            self._publish(f"{region}/status", body.encode(), qos=1, retain=True)

    def _publish_retained_config(self) -> None:
        for region in self.regions:
            for service in DEMO_SERVICES:
                body = json.dumps({"replicas": 3, "region": region, "service": service})
                self._publish(f"{region}/{service}/config", body.encode(), qos=1, retain=True)
