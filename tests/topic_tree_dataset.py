"""A known set of topics published to a real Mosquitto, shared by the core and GUI topic-tree tests.

2000 topics over 4 regions, each with a known message count; some retained (published before
the subscriber connects, so they arrive flagged retained), some binary; plus a 16 MiB payload,
an HTML-looking payload and an invalid-UTF-8 payload sent with ``mosquitto_pub -f``.
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt

REGIONS = ("us-east", "us-west", "eu-central", "ap-south")
SITES = 10
DEVICES = 50  # per site: 4 regions x 10 sites x 50 devices = 2000 topics
RETAINED_EVERY = 40
BINARY_EVERY = 97
BIG_TOPIC = "special/big"
BIG_SIZE = 16 * 1024 * 1024
HTML_TOPIC = "special/html"
HTML_PAYLOAD = b"<b>x</b><img src=x>"
INVALID_TOPIC = "special/invalid"
INVALID_PAYLOAD = b"\xff\xfe\xfa not utf-8 \xc3\x28"
BINARY_PAYLOAD = bytes([0, 1, 2, 0xFF, 0x80, 0x10])


def dataset_topics() -> list[str]:
    return [f"{region}/site{s}/dev{d:02d}" for region in REGIONS for s in range(SITES) for d in range(DEVICES)]


@dataclass
class Dataset:
    """What was published: message count per topic, retained topics, binary topics."""

    counts: dict[str, int] = field(default_factory=dict)
    retained: set[str] = field(default_factory=set)
    binary: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _client(port: int) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    connected = threading.Event()
    client.on_connect = lambda *_a: connected.set()
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not connected.wait(10):
        raise TimeoutError("publisher did not connect")
    return client


def _publish_all(port: int, items: list[tuple[str, bytes, bool]]) -> None:
    client = _client(port)
    try:
        infos = [client.publish(topic, payload, qos=1, retain=retain) for topic, payload, retain in items]
        for info in infos:
            info.wait_for_publish(20)
            if not info.is_published():
                raise TimeoutError("publish not acknowledged")
    finally:
        client.disconnect()
        client.loop_stop()


def publish_retained(port: int) -> Dataset:
    """Step 1, before the subscriber connects: one retained message on every RETAINED_EVERY-th topic."""
    data = Dataset()
    items = []
    for i, topic in enumerate(dataset_topics()):
        if i % RETAINED_EVERY == 0:
            items.append((topic, f"retained {i}".encode(), True))
            data.retained.add(topic)
            data.counts[topic] = 1
    _publish_all(port, items)
    return data


def publish_live(port: int, data: Dataset, mosquitto_pub: str, workdir: Path) -> Dataset:
    """Step 2, after the subscriber's SUBACK: 1-3 live messages per topic, then the special payloads."""
    items = []
    for i, topic in enumerate(dataset_topics()):
        messages = 1 + i % 3
        for k in range(messages):
            if i % BINARY_EVERY == 0:
                payload = BINARY_PAYLOAD
                data.binary.add(topic)
            else:
                payload = f"{i}.{k}".encode()
            items.append((topic, payload, False))
        data.counts[topic] = data.counts.get(topic, 0) + messages
    _publish_all(port, items)
    big = workdir / "big.bin"
    big.write_bytes(b"A" * (BIG_SIZE - 1) + b"Z")
    invalid = workdir / "invalid.bin"
    invalid.write_bytes(INVALID_PAYLOAD)
    html = workdir / "html.txt"
    html.write_bytes(HTML_PAYLOAD)
    for topic, path in ((BIG_TOPIC, big), (HTML_TOPIC, html), (INVALID_TOPIC, invalid)):
        subprocess.run([mosquitto_pub, "-p", str(port), "-q", "1", "-t", topic, "-f", str(path)], check=True, timeout=30)
        data.counts[topic] = 1
    return data
