"""``eventscope tree`` against a real Mosquitto: JSON and text output of retained and live topics."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import free_port


def _tree(port: int, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eventscope", "tree", "--host", "127.0.0.1", "--port", str(port),
                           "--seconds", "1", *extra], capture_output=True, text=True, timeout=30)


def _publish(mosquitto_pub: str, port: int, topic: str, payload: str, retain: bool = True) -> None:
    subprocess.run([mosquitto_pub, "-p", str(port), "-q", "1", "-t", topic, "-m", payload] + (["-r"] if retain else []),
                   check=True, timeout=10)


def _find(node: dict, topic: str) -> dict | None:
    if node["topic"] == topic:
        return node
    for child in node["children"]:
        found = _find(child, topic)
        if found is not None:
            return found
    return None


def test_tree_json_lists_every_node_with_counts(mosquitto, mosquitto_pub):
    _publish(mosquitto_pub, mosquitto.port, "us-east/dev1/temp", "21.5")
    _publish(mosquitto_pub, mosquitto.port, "us-east/dev2/temp", "<b>x</b>")
    _publish(mosquitto_pub, mosquitto.port, "eu-central/dev1/temp", "19")
    result = _tree(mosquitto.port, "--format", "json", "--filter", "us-east/#")
    assert result.returncode == 0, result.stderr
    root = json.loads(result.stdout)
    assert root["subtree_count"] == 2 and root["topic"] == ""
    assert [c["name"] for c in root["children"]] == ["us-east"]
    leaf = _find(root, "us-east/dev2/temp")
    assert leaf == {"name": "temp", "topic": "us-east/dev2/temp", "count": 1, "subtree_count": 1,
                    "retained": True, "preview": "<b>x</b>", "children": []}
    assert _find(root, "us-east")["count"] == 0 and _find(root, "us-east")["subtree_count"] == 2


def test_tree_text_is_indented(mosquitto, mosquitto_pub):
    _publish(mosquitto_pub, mosquitto.port, "a/b", "1")
    result = _tree(mosquitto.port, "--format", "text")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["a (0/1)", "  b (1/1) [retained] = 1"]


def test_tree_reports_bad_filter_and_unreachable_broker():
    bad = _tree(1883, "--filter", "a/#/b")
    assert bad.returncode == 2 and "'#' must be the last level" in bad.stderr
    down = _tree(free_port(), "--connect-timeout", "1")
    assert down.returncode == 1 and "Cannot connect" in down.stderr
