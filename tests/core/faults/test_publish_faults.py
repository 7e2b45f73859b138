"""Fault suite, publish class: denied publishes, wildcard topics, bad QoS. The broker's answer is the truth."""

from __future__ import annotations

import pytest

from tests.helpers.cli import run


@pytest.mark.parametrize("qos", [1, 2])
def test_a_denied_publish_fails_with_the_brokers_reason(acl_broker, qos):
    result = run("pub", "--port", str(acl_broker.port), "-t", "denied/x", "-m", "x", "-q", str(qos))
    assert result.returncode == 1, result.stderr
    assert "refused the publish" in result.stderr and "Not authorized" in result.stderr
    assert "published" not in result.stderr.replace("refused the publish", "") and "Traceback" not in result.stderr


def test_a_denied_qos0_publish_cannot_be_confirmed_but_reaches_no_one(acl_broker, mosquitto_sub):
    """MQTT has no answer to a QoS 0 publish: the broker drops it, and the log says so."""
    result = run("pub", "--port", str(acl_broker.port), "-t", "denied/x", "-m", "x", "-q", "0")
    assert result.returncode == 0, result.stderr
    assert "Denied PUBLISH" in acl_broker.log_path.read_text(errors="replace")


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_an_allowed_publish_on_the_same_broker_is_delivered(acl_broker, qos):
    result = run("pub", "--port", str(acl_broker.port), "-t", "allowed/x", "-m", "x", "-q", str(qos))
    assert result.returncode == 0, result.stderr
    assert "published 1 bytes to allowed/x" in result.stderr


BAD_PUBLISH_ARGUMENTS = {
    "wildcard +": ["-t", "a/+/b"],
    "wildcard #": ["-t", "a/#"],
    "empty topic": ["-t", ""],
    "qos 3": ["-t", "a", "-q", "3"],
    "topic of 65,536 bytes": ["-t", "a" * 65536],
}


@pytest.mark.parametrize("argv", BAD_PUBLISH_ARGUMENTS.values(), ids=BAD_PUBLISH_ARGUMENTS.keys())
def test_bad_publish_arguments_exit_2_before_connecting(argv):
    # Port 1 is never an MQTT broker: a command that got as far as connecting would exit 1, not 2.
    result = run("pub", "--port", "1", "-m", "x", *argv)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() and "Traceback" not in result.stderr
