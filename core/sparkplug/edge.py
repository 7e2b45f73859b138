"""A simulated Sparkplug B edge node for the demo: one node, two devices, the whole session life.

It produces (topic, payload) pairs and never publishes itself, so the simulator owns the
connection and tests can drive it with a made-up clock. What a newcomer sees in the demo:
NBIRTH and DBIRTH with names and aliases, DDATA by alias only (named by the decoder),
an occasional skipped seq (flagged as a gap), and every few minutes a DDEATH then a re-BIRTH.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from eventscope.core.sparkplug.commands import asks_rebirth
from eventscope.core.sparkplug.payload import NAMESPACE, MetricValue, encode_payload

DEMO_GROUP = "demo-plant"
DEMO_EDGE_NODE = "edge-1"
# device -> (metric name, datatype) in alias order (aliases start at 1 per device)
DEMO_DEVICES = {
    "pump-1": (("Flow", "Double"), ("Pressure", "Float"), ("Running", "Boolean"), ("Starts", "Int32")),
    "press-2": (("Force", "Double"), ("Temperature", "Float"), ("Mode", "String")),
}


@dataclass(frozen=True)
class EdgeTiming:
    data_interval: float = 2.0  # seconds between DDATA rounds
    gap_every: int = 25  # every Nth DDATA round skips one seq number
    rebirth_interval: float = 180.0  # seconds between a device's DDEATH and re-BIRTH cycles


class SimulatedEdgeNode:
    """Call ``birth(now)`` once, then ``tick(now)`` often; both return the messages to publish."""

    def __init__(self, rng: random.Random, timing: EdgeTiming = EdgeTiming(), group: str = DEMO_GROUP,
                 edge_node: str = DEMO_EDGE_NODE) -> None:
        self.timing = timing
        self._random = rng
        self._node_topic = f"{NAMESPACE}/{group}/{{kind}}/{edge_node}"
        self._seq = 0
        self._bd_seq = 0
        self._rounds = 0
        self._next_data = 0.0
        self._next_rebirth = 0.0
        self._dead: str = ""  # the device between its DDEATH and re-BIRTH
        self._starts = 0

    @property
    def next_due(self) -> float:
        """When ``tick`` next has something to send."""
        return min(self._next_data, self._next_rebirth)

    def _topic(self, kind: str, device: str = "") -> str:
        topic = self._node_topic.format(kind=kind)
        return f"{topic}/{device}" if device else topic

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq = (self._seq + 1) % 256
        return seq

    def birth(self, now: float) -> list[tuple[str, bytes]]:
        """NBIRTH (seq 0, with bdSeq) and a DBIRTH per device."""
        self._seq = 0
        out = [(self._topic("NBIRTH"), encode_payload(
            [MetricValue(self._bd_seq, "Int64", "bdSeq"), MetricValue("1.0", "String", "Node Control/Version")],
            seq=self._next_seq(), timestamp=int(now * 1000)))]
        out += [self._device_birth(device, now) for device in DEMO_DEVICES]
        self._next_data = now + self.timing.data_interval
        self._next_rebirth = now + self.timing.rebirth_interval
        return out

    @property
    def command_topic(self) -> str:
        """Where hosts send this node its commands (NCMD)."""
        return self._topic("NCMD")

    def command(self, topic: str, payload: bytes, now: float) -> list[tuple[str, bytes]]:
        """Answer an NCMD as a real edge node does: a rebirth request gets NBIRTH and every DBIRTH again."""
        if topic != self.command_topic or not asks_rebirth(payload):
            return []
        self._dead = ""  # a rebirth brings every device back
        return self.birth(now)

    def _device_birth(self, device: str, now: float) -> tuple[str, bytes]:
        metrics = [MetricValue(value, datatype, name, alias)
                   for alias, ((name, datatype), value)
                   in enumerate(zip(DEMO_DEVICES[device], self._values(device, now)), 1)]
        return self._topic("DBIRTH", device), encode_payload(metrics, seq=self._next_seq(), timestamp=int(now * 1000))

    def _values(self, device: str, now: float) -> list:
        wave = math.sin(now / 30)
        if device == "pump-1":
            return [round(40 + 10 * wave + self._random.uniform(-1, 1), 2), round(2.5 + 0.3 * wave, 3),
                    self._random.random() > 0.05, self._starts]
        return [round(800 + 50 * wave + self._random.uniform(-5, 5), 1), round(60 + 5 * wave, 2),
                self._random.choice(("auto", "auto", "auto", "manual"))]

    def tick(self, now: float) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        if now >= self._next_rebirth:
            out += self._death_or_rebirth(now)
        if now >= self._next_data:
            self._rounds += 1
            if self.timing.gap_every and self._rounds % self.timing.gap_every == 0:
                self._next_seq()  # a lost message, as a flaky link would show it
            for device in DEMO_DEVICES:
                if device != self._dead:
                    out.append(self._device_data(device, now))
            self._next_data = now + self.timing.data_interval
        return out

    def _device_data(self, device: str, now: float) -> tuple[str, bytes]:
        """DDATA by alias only: names come from the DBIRTH."""
        metrics = [MetricValue(value, datatype, alias=alias)
                   for alias, ((_, datatype), value) in enumerate(zip(DEMO_DEVICES[device], self._values(device, now)), 1)]
        return self._topic("DDATA", device), encode_payload(metrics, seq=self._next_seq(), timestamp=int(now * 1000))

    def _death_or_rebirth(self, now: float) -> list[tuple[str, bytes]]:
        if not self._dead:
            self._dead = "press-2"
            self._next_rebirth = now + max(self.timing.data_interval * 3, 1.0)
            return [(self._topic("DDEATH", self._dead), encode_payload([], seq=self._next_seq(),
                                                                        timestamp=int(now * 1000)))]
        device, self._dead = self._dead, ""
        self._starts += 1
        self._next_rebirth = now + self.timing.rebirth_interval
        return [self._device_birth(device, now)]
