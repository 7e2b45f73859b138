"""Sparkplug metric nodes: each named metric of a BIRTH or DATA gets its own node in the topic tree."""

from __future__ import annotations

import json

from eventscope.core.records import MessageRecord
from eventscope.core.sparkplug.payload import NAMESPACE as SPARKPLUG_ROOT
from eventscope.core.sparkplug.state import unknown_alias_name

SPARKPLUG_PREFIX = SPARKPLUG_ROOT + "/"
METRICS_LEVEL = "metrics"  # the tree branch where each Sparkplug metric gets its own node
NODE_METRICS = "(node)"  # an edge node's own metrics, beside its devices


def _metrics_base(topic) -> str:
    return f"{SPARKPLUG_PREFIX}{topic.group}/{METRICS_LEVEL}/{topic.edge_node}/{topic.device or NODE_METRICS}"


def alias_folds(message) -> list[tuple[str, str]]:
    """For a BIRTH: (node of an alias not named until now, node of its name) for each aliased metric.

    Metrics that arrived by alias before any BIRTH were kept under ``alias N (no BIRTH yet)``; the
    BIRTH names them, and the tree moves their history under the name."""
    topic = message.topic
    if topic.is_state or not topic.message_type.endswith("BIRTH"):
        return []
    base = _metrics_base(topic)
    return [(f"{base}/{unknown_alias_name(metric['alias'])}", f"{base}/{metric['name']}")
            for metric in message.value.get("metrics", ()) if metric.get("name") and "alias" in metric]


def metric_records(record: MessageRecord, message) -> list[MessageRecord]:
    """A Sparkplug BIRTH or DATA as one record per named metric, under a ``metrics`` branch of its group:
    ``spBv1.0/{group}/metrics/{edge node}/{device}/{metric}`` (``metrics`` is no Sparkplug message type,
    so it never meets a real topic). The tree then shows each metric with its last value and history."""
    topic = message.topic
    if topic.is_state or not topic.message_type.endswith(("BIRTH", "DATA")):
        return []
    base = _metrics_base(topic)
    out = []
    for metric in message.value.get("metrics", ()):
        name = metric.get("name")
        if not name or "value" not in metric:
            continue
        value = metric["value"]
        text = json.dumps(value) if isinstance(value, (bool, dict, list)) or value is None else str(value)
        out.append(MessageRecord(f"{base}/{name}", text.encode("utf-8"), record.qos, False, record.received,
                                 record.received_mono, broker_id=record.broker_id))
    return out
