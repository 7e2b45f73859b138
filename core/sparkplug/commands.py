"""Sparkplug B commands an application sends to an edge node: here, the rebirth request.

A host that connects after an edge node's BIRTH cannot name its DATA metrics (they come by alias). It
asks for a rebirth with an NCMD whose ``Node Control/Rebirth`` metric is true (Sparkplug B 3.0, 6.4.11);
the edge node answers with NBIRTH and every DBIRTH.
"""

from __future__ import annotations

from eventscope.core.sparkplug.payload import (
    NAMESPACE,
    MetricValue,
    SparkplugError,
    encode_payload,
    parse_payload,
    payload_to_dict,
)

REBIRTH_METRIC = "Node Control/Rebirth"


def rebirth_command(group: str, edge_node: str) -> tuple[str, bytes]:
    """The NCMD topic and payload that ask ``edge_node`` of ``group`` to send its BIRTHs again."""
    return (f"{NAMESPACE}/{group}/NCMD/{edge_node}",
            encode_payload([MetricValue(True, "Boolean", name=REBIRTH_METRIC)]))


def asks_rebirth(payload: bytes) -> bool:
    """Whether an NCMD payload asks for a rebirth."""
    try:
        message = parse_payload(payload)
    except SparkplugError:
        return False
    return any(m.get("name") == REBIRTH_METRIC and m.get("value") is True for m in payload_to_dict(message)["metrics"])


def edge_node_of(topic: str) -> tuple[str, str] | None:
    """(group, edge node) of any topic at or below an edge node in the Sparkplug namespace, including the
    tree's ``metrics`` branch; None above that level."""
    levels = topic.split("/")
    if len(levels) < 4 or levels[0] != NAMESPACE or levels[1] == "STATE":
        return None
    return levels[1], levels[3]
