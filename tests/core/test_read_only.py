"""Read-only holds on every path: the CLI flag (top level or per command), a read-only profile, and
the session itself. The broker logs every PUBLISH it receives, so "nothing was sent" is checked
where it matters: on the broker."""

from __future__ import annotations

import os

import pytest

from eventscope.core.mqtt.session import MqttSession, ReadOnlyError
from eventscope.core.profile import ConnectionProfile
from eventscope.core.profiles.store import ProfileStore, StoredProfile
from eventscope.core.requests.replier import Replier, echo_handler
from tests.conftest import publish_raw, wait_until
from tests.helpers.cli import run

LOGGING_CONFIG = "allow_anonymous true\nlog_type all\nconnection_messages true\n"


@pytest.fixture
def logging_broker(mosquitto_factory):
    return mosquitto_factory(LOGGING_CONFIG)


def publishes_logged(broker, client_prefix: str = "") -> list[str]:
    lines = broker.log_path.read_text(errors="replace").splitlines()
    return [line for line in lines if f"Received PUBLISH from {client_prefix}" in line]


def test_the_broker_log_shows_a_cli_publish(logging_broker):
    """The control: a writable pub is seen in the log, so an empty log below means nothing was sent."""
    result = run("pub", "--port", str(logging_broker.port), "--client-id", "writable-pub", "-t", "a/b", "-m", "x")
    assert result.returncode == 0, result.stderr
    wait_until(lambda: publishes_logged(logging_broker, "writable-pub"), 5, message="the PUBLISH in the log")


PUBLISHING_COMMANDS = {
    "top-level flag, pub": ["--read-only", "pub", "-t", "a/b", "-m", "x", "-q", "1"],
    "command flag, pub": ["pub", "--read-only", "-t", "a/b", "-m", "x"],
    "top-level flag, request": ["--read-only", "request", "-t", "a/request", "-m", "x", "--timeout", "1"],
    "top-level flag, reply": ["--read-only", "reply", "--filter", "a/request"],
    "command flag, request": ["request", "--read-only", "-t", "a/request", "-m", "x", "--timeout", "1"],
}


@pytest.mark.parametrize("argv", PUBLISHING_COMMANDS.values(), ids=PUBLISHING_COMMANDS.keys())
def test_read_only_cli_commands_refuse_and_send_nothing(logging_broker, argv):
    result = run(*argv, "--port", str(logging_broker.port), "--client-id", "ro-cli", timeout=20)
    assert result.returncode == 1, result.stderr
    assert "read-only" in result.stderr and "Traceback" not in result.stderr
    assert publishes_logged(logging_broker) == []


def test_a_read_only_profile_stays_read_only_in_the_cli(logging_broker):
    store = ProfileStore.load()
    store.put(StoredProfile(ConnectionProfile(name="monitor", port=logging_broker.port, read_only=True)))
    result = run("pub", "--profile", "monitor", "-t", "a/b", "-m", "x", env={**os.environ})
    assert result.returncode == 1
    assert "monitor is read-only" in result.stderr
    assert publishes_logged(logging_broker) == []


def test_a_read_only_session_refuses_every_publish_path(logging_broker):
    """The replier, and even paho's own publish on the session's client, are refused below the session API."""
    session = MqttSession(ConnectionProfile(port=logging_broker.port, read_only=True, client_id="ro-session"))
    session.start()
    try:
        assert session.wait_connected(10)
        replier = Replier(session, "+/hello/request", "hello/response", echo_handler)
        replier.start().result(5)
        publish_raw(logging_broker.port, [("us-east/hello/request", b"ping")])
        wait_until(lambda: replier.failed >= 1, 5, message="the replier to try and be refused")
        with pytest.raises(ReadOnlyError):
            session._client.publish("a/b", b"x")
        with pytest.raises(ReadOnlyError):
            session.publish("a/b", b"x")
        replier.stop()
    finally:
        session.stop()
    assert publishes_logged(logging_broker, "ro-session") == []
