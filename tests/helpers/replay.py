"""What the replay tests share: a recorded audit, an independent subscriber, and a replier that may change
some of its answers."""

from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from eventscope.core.audit.store import AuditStore
from eventscope.core.records import MessageProperties, MessageRecord


def recorded_audit(path, count: int, spacing: float = 0.01, start: float = 1_700_000_000.0) -> None:
    """``count`` requests on ``us-east/hello/request``, each answered (``{"n": i, "status": "ok"}``), recorded."""
    store = AuditStore(path, max_age_seconds=0)
    records = []
    for i in range(count):
        at = start + i * spacing
        records.append(MessageRecord("us-east/hello/request", json.dumps({"n": i}).encode(), qos=1, received=at,
                                     properties=MessageProperties(response_topic="us-east/hello/response",
                                                                  correlation_data=f"c{i}".encode(),
                                                                  content_type="application/json")))
        records.append(MessageRecord("us-east/hello/response", json.dumps({"status": "ok", "n": i}).encode(), qos=1,
                                     received=at + 0.002, properties=MessageProperties(correlation_data=f"c{i}".encode())))
    store.write_batch(records, broker="us-east")
    store.close()


class Listener:
    """An independent paho subscriber: what reached the broker, in order, with arrival times."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[str, bytes, float, object]] = []
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, m.payload, time.monotonic(),
                                                                            m.properties))
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_args: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(topic, 1)
        assert subscribed.wait(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Replier:
    """Answers ``us-east/hello/request`` on its response topic with its correlation data; every tenth answer
    differs from the recorded one when ``change_every`` is 10."""

    def __init__(self, port: int, change_every: int = 0) -> None:
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.change_every = change_every
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_args: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe("+/hello/request", 1)
        assert subscribed.wait(10)

    def _on_message(self, _client, _userdata, message) -> None:
        n = json.loads(message.payload)["n"]
        status = "changed" if self.change_every and n % self.change_every == 0 else "ok"
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = message.properties.CorrelationData
        self.client.publish(message.properties.ResponseTopic, json.dumps({"n": n, "status": status}).encode(), qos=1,
                            properties=props)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
