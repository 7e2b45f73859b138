"""Sparkplug B session state per broker: metric aliases from BIRTHs, seq gaps, bdSeq, node online/offline.

``SparkplugState.observe(record)`` must see every ``spBv1.0/`` record of its brokers in arrival
order (the workspace tick or the CLI loop does that, never the GUI thread); it returns the
message decoded with its aliases resolved and its health notes. ``resolve(record)`` decodes
again later without changing the state (for a details pane showing an older message).

Keys are (broker, group, edge node[, device]): the same node seen through two brokers of a
mesh is two sessions, each with its own seq.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from eventscope.core.records import MessageRecord
from eventscope.core.sparkplug.payload import (
    SparkplugError,
    SparkplugTopic,
    parse_payload,
    payload_to_dict,
    retype,
    timestamp_note,
)

UNKNOWN_ALIAS = "no BIRTH seen since connect"  # why an alias has no name yet


UNNAMED_SUFFIX = " (no BIRTH yet)"


def is_unnamed_metric(name: str) -> bool:
    """Whether a metric (or its tree node) is an alias no BIRTH has named yet."""
    return name.endswith(UNNAMED_SUFFIX)


def unknown_alias_name(alias: int) -> str:
    """What an alias is called until a BIRTH names it: one per alias, never one shared name, so the tree
    keeps each alias's values apart (and a rebirth request gets them their names)."""
    return f"alias {alias}{UNNAMED_SUFFIX}"
SEQ_MODULO = 256
SEQ_VERDICTS_KEPT = 100_000  # seq notes (gaps) kept from arrival for a later look
BDSEQ_METRIC = "bdSeq"


@dataclass
class DeviceState:
    """What a node's or device's last BIRTH said, and each metric's last value (for the tree)."""

    names_by_alias: dict[int, str] = field(default_factory=dict)
    datatypes: dict[str, str] = field(default_factory=dict)
    last_values: dict[str, Any] = field(default_factory=dict)
    online: bool = False
    birth_seen: bool = False


@dataclass
class NodeState:
    """One edge node's session: its own metrics, its devices, seq and bdSeq."""

    node: DeviceState = field(default_factory=DeviceState)
    devices: dict[str, DeviceState] = field(default_factory=dict)
    last_seq: int | None = None
    bd_seq: int | None = None
    seq_gaps: int = 0


@dataclass(frozen=True, slots=True)
class SparkplugMessage:
    """A decoded Sparkplug message: the payload as plain values with names filled in, and notes."""

    topic: SparkplugTopic
    value: dict
    notes: tuple[str, ...] = ()


# A flood repeats a few hundred topics: parse each once (SparkplugTopic is immutable).
_parse_topic = lru_cache(maxsize=4096)(SparkplugTopic.parse)


class SparkplugState:
    """Alias tables and session health of every Sparkplug node seen, keyed by broker."""

    def __init__(self) -> None:
        self._nodes: dict[tuple[str, str, str], NodeState] = {}
        self._hosts: dict[tuple[str, str], bool] = {}  # (broker, host id) -> primary host online
        # (broker, topic, arrival time) -> its seq notes on arrival, when it had any. A message looked at later is judged
        # as it arrived, not against the node's seq now (which made every older DATA a false "seq gap").
        self._seq_verdicts: OrderedDict[tuple[str, str, float], tuple[str, ...]] = OrderedDict()

    # ----- reading --------------------------------------------------------------------------
    def node(self, broker: str, group: str, edge_node: str) -> NodeState | None:
        return self._nodes.get((broker, group, edge_node))

    def device(self, broker: str, group: str, edge_node: str, device: str = "") -> DeviceState | None:
        node = self.node(broker, group, edge_node)
        if node is None:
            return None
        return node.devices.get(device) if device else node.node

    def host_online(self, broker: str, host: str) -> bool | None:
        return self._hosts.get((broker, host))

    def nodes(self) -> list[tuple[str, str, str]]:
        """(broker, group, edge node) of every node seen."""
        return list(self._nodes)

    def resolve(self, record: MessageRecord) -> SparkplugMessage:
        """The message decoded with the aliases known now; the state is not changed."""
        return self._decode(record, update=False)

    # ----- learning -------------------------------------------------------------------------
    def observe(self, record: MessageRecord) -> SparkplugMessage:
        """Decode ``record`` and apply it to the session state. Raises ``SparkplugError`` on a bad payload."""
        return self._decode(record, update=True)

    def observe_seq(self, record: MessageRecord) -> None:
        """Only the session bookkeeping of a DATA message: its seq (gaps) and the node's online state.

        The cheap half of ``observe`` (a parse, no value conversion), for floods: the values of a
        DATA matter only for what is shown, so the workspace converts only each device's newest one
        (``observe_values``). Raises ``SparkplugError`` on a bad payload.
        """
        topic = _parse_topic(record.topic)
        if topic is None or topic.message_type not in ("NDATA", "DDATA"):
            raise SparkplugError(f"{record.topic!r} is not a Sparkplug DATA topic")
        payload = parse_payload(record.payload)
        node = self._nodes.setdefault((record.broker_id, topic.group, topic.edge_node), NodeState())
        # payload's class is built at run time from a descriptor: a type checker cannot see its fields.
        seq = payload.seq if payload.HasField("seq") else None  # pyright: ignore[reportAttributeAccessIssue]
        self._keep_verdict(record, self._check_seq(node, seq, topic.message_type, True))
        target = self._target(node, topic, create=True)
        assert target is not None  # create=True always gives one
        self._apply_online(node, target, topic.message_type)

    def observe_values(self, record: MessageRecord) -> SparkplugMessage:
        """``observe`` without the seq check (``observe_seq`` did it): names and last values only."""
        return self._decode(record, update=True, check_seq=False)

    def _keep_verdict(self, record: MessageRecord, notes: list[str] | tuple[str, ...]) -> None:
        if not notes:  # nearly every message: nothing to keep (a missing verdict reads as no note)
            return
        verdicts = self._seq_verdicts
        verdicts[(record.broker_id, record.topic, record.received)] = tuple(notes)
        if len(verdicts) > SEQ_VERDICTS_KEPT:
            verdicts.popitem(last=False)

    def forget_broker(self, broker: str) -> None:
        """Drop what ``broker`` taught (on reconnect: aliases are valid only after a new BIRTH)."""
        for key in [k for k in self._nodes if k[0] == broker]:
            del self._nodes[key]
        for key in [k for k in self._hosts if k[0] == broker]:
            del self._hosts[key]

    def _decode(self, record: MessageRecord, update: bool, check_seq: bool = True) -> SparkplugMessage:
        topic = SparkplugTopic.parse(record.topic)
        if topic is None:
            raise SparkplugError(f"{record.topic!r} is not a Sparkplug B topic (spBv1.0/group/TYPE/node[/device])")
        if topic.is_state:
            return self._state_message(record, topic, update)
        value = payload_to_dict(parse_payload(record.payload))
        key = (record.broker_id, topic.group, topic.edge_node)
        node = self._nodes.get(key)
        if node is None:
            node = NodeState()
            if update:
                self._nodes[key] = node
        notes: list[str] = []
        kind = topic.message_type
        target = self._target(node, topic, create=update)
        if kind in ("NBIRTH", "DBIRTH"):
            if update:
                assert target is not None  # _target created it (create=update)
                target.names_by_alias = {m["alias"]: m["name"] for m in value["metrics"] if "alias" in m and "name" in m}
                target.datatypes = {m["name"]: m["datatype"] for m in value["metrics"] if "name" in m}
                target.birth_seen = True
            if kind == "NBIRTH":
                notes += self._check_bdseq_birth(node, value, update)
        elif target is not None:
            self._name_metrics(target, value["metrics"], notes)
        else:
            self._name_metrics(DeviceState(), value["metrics"], notes)
        if kind == "NDEATH":
            notes += self._check_bdseq_death(node, value, update)
        elif kind not in ("NCMD", "DCMD") and check_seq:
            if update:
                verdict = self._check_seq(node, value.get("seq"), kind, True)
                self._keep_verdict(record, verdict)
            else:  # judged at arrival; a message not seen arrive (or long ago) is not judged
                verdict = self._seq_verdicts.get((record.broker_id, record.topic, record.received), ())
            notes += verdict
        if update and target is not None:
            self._apply_online(node, target, kind)
            for metric in value["metrics"]:
                if "name" in metric:
                    target.last_values[metric["name"]] = metric["value"]
        online = self._online_text(node, topic)
        if online:
            value["online"] = online
        stamp = timestamp_note(value)
        return SparkplugMessage(topic, value, (*notes, stamp) if stamp else tuple(notes))

    @staticmethod
    def _target(node: NodeState, topic: SparkplugTopic, create: bool) -> DeviceState | None:
        if not topic.is_device:
            return node.node
        if topic.device not in node.devices and create:
            node.devices[topic.device] = DeviceState()
        return node.devices.get(topic.device)

    @staticmethod
    def _name_metrics(target: DeviceState, metrics: list[dict], notes: list[str]) -> None:
        """Name aliased metrics from the BIRTH, and type those that left their datatype to the BIRTH."""
        unknown = []
        for metric in metrics:
            if "name" not in metric and "alias" in metric:
                name = target.names_by_alias.get(metric["alias"])
                if name is None:
                    metric["name"] = unknown_alias_name(metric["alias"])
                    unknown.append(str(metric["alias"]))
                    continue
                metric["name"] = name
            birth_type = target.datatypes.get(metric.get("name", ""))
            if metric["datatype"] == "Unknown" and birth_type:
                metric["datatype"] = birth_type
                metric["value"] = retype(metric["value"], birth_type)
        if unknown:
            notes.append(f"alias {', '.join(unknown)}: {UNKNOWN_ALIAS}")

    @staticmethod
    def _check_seq(node: NodeState, seq: int | None, kind: str, update: bool) -> list[str]:
        if seq is None:
            return [f"{kind} has no seq"]
        notes = []
        if kind != "NBIRTH" and node.last_seq is not None:
            expected = (node.last_seq + 1) % SEQ_MODULO
            if seq != expected:
                notes.append(f"seq gap: expected {expected}, got {seq}")
                if update:
                    node.seq_gaps += 1
        if update:
            node.last_seq = seq % SEQ_MODULO
        return notes

    @staticmethod
    def _bdseq(value: dict) -> int | None:
        for metric in value["metrics"]:
            if metric.get("name") == BDSEQ_METRIC and isinstance(metric.get("value"), int):
                return metric["value"]
        return None

    def _check_bdseq_birth(self, node: NodeState, value: dict, update: bool) -> list[str]:
        bd_seq = self._bdseq(value)
        if update:
            node.bd_seq = bd_seq
        return [] if bd_seq is not None else ["NBIRTH has no bdSeq metric"]

    def _check_bdseq_death(self, node: NodeState, value: dict, update: bool) -> list[str]:
        bd_seq = self._bdseq(value)
        if bd_seq is None:
            return ["NDEATH has no bdSeq metric"]
        if node.bd_seq is not None and bd_seq != node.bd_seq:
            return [f"bdSeq {bd_seq} does not match the NBIRTH's {node.bd_seq}: a stale NDEATH, the node stays online"]
        if update:
            node.node.online = False
            for device in node.devices.values():
                device.online = False
        return []

    @staticmethod
    def _apply_online(node: NodeState, target: DeviceState, kind: str) -> None:
        if kind in ("NBIRTH", "DBIRTH"):
            target.online = True
        elif kind == "DDEATH":
            target.online = False

    @staticmethod
    def _online_text(node: NodeState, topic: SparkplugTopic) -> str:
        target = node.devices.get(topic.device) if topic.is_device else node.node
        if target is None or not (target.birth_seen or topic.message_type.endswith("DEATH")):
            return ""
        return "online" if target.online else "offline"

    def _state_message(self, record: MessageRecord, topic: SparkplugTopic, update: bool) -> SparkplugMessage:
        """``spBv1.0/STATE/{host}``: JSON ``{"online": bool, "timestamp": ms}`` (Sparkplug 3.0)."""
        try:
            value = json.loads(record.payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise SparkplugError(f"A STATE payload is JSON {{\"online\": true|false, \"timestamp\": ms}}: {exc}") from None
        if not isinstance(value, dict) or not isinstance(value.get("online"), bool):
            raise SparkplugError('A STATE payload is JSON {"online": true|false, "timestamp": ms}')
        if update:
            self._hosts[(record.broker_id, topic.host)] = value["online"]
        return SparkplugMessage(topic, value)
