"""The MQTT session against a real Mosquitto: connect, subscribe, receive, reconnect, and clear errors."""

from __future__ import annotations

import subprocess

import pytest

from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.session import MqttSession, ReadOnlyError, SessionError, SessionState, reconnect_delay
from eventscope.core.profile import MQTT_V5, MQTT_V311, ConnectionProfile, TlsSettings
from eventscope.core.records import MessageProperties
from eventscope.core.topics import TopicError
from tests.conftest import free_port, wait_for_port, wait_until


def _session(broker, **profile_changes) -> MqttSession:
    profile = ConnectionProfile(host="127.0.0.1", port=broker.port, **profile_changes)
    return MqttSession(profile, buffer=IngestBuffer())


@pytest.fixture
def sessions():
    started: list[MqttSession] = []
    yield started
    for session in started:
        session.stop()


def _start(sessions, session: MqttSession) -> MqttSession:
    sessions.append(session)
    session.start()
    return session


def _drain_until(session: MqttSession, count: int, timeout: float = 10.0) -> list:
    got: list = []

    def enough() -> bool:
        got.extend(session.buffer.drain())
        return len(got) >= count

    wait_until(enough, timeout, message=f"{count} messages")
    return got


@pytest.mark.parametrize("version", [MQTT_V311, MQTT_V5])
def test_subscribe_and_receive_with_both_versions(mosquitto, mosquitto_pub, sessions, version):
    session = _start(sessions, _session(mosquitto, mqtt_version=version))
    assert session.wait_connected(10), session.status
    session.subscribe("us-east/#", qos=1).result(10)
    subprocess.run([mosquitto_pub, "-p", str(mosquitto.port), "-t", "us-east/hello/request", "-m", "hi", "-q", "1"],
                   check=True)
    (record,) = _drain_until(session, 1)
    assert record.topic == "us-east/hello/request"
    assert record.payload == b"hi"
    assert record.qos == 1
    assert record.broker_id == session.session_id


def test_mqtt5_properties_are_kept_on_records(mosquitto, sessions):
    session = _start(sessions, _session(mosquitto))
    assert session.wait_connected(10)
    session.subscribe("props/#").result(10)
    props = MessageProperties(response_topic="r/t", correlation_data=b"\x01\x02", content_type="text/plain",
                              user_properties=(("k", "v"),))
    session.publish("props/a", b"x", qos=1, properties=props).result(10)
    (record,) = _drain_until(session, 1)
    assert record.properties.response_topic == "r/t"
    assert record.properties.correlation_data == b"\x01\x02"
    assert record.properties.content_type == "text/plain"
    assert record.properties.user_properties == (("k", "v"),)


def test_subscription_added_and_removed_while_connected(mosquitto, sessions):
    session = _start(sessions, _session(mosquitto))
    assert session.wait_connected(10)
    session.subscribe("a/#").result(10)
    session.publish("a/1", b"1", qos=1).result(10)
    assert [r.topic for r in _drain_until(session, 1)] == ["a/1"]
    session.subscribe("b/#").result(10)
    session.unsubscribe("a/#").result(10)
    session.publish("a/2", b"2", qos=1).result(10)
    session.publish("b/1", b"3", qos=1).result(10)
    # The b/1 message arrives after a/2 would have, on the same connection, so its arrival proves a/2 was not delivered.
    assert [r.topic for r in _drain_until(session, 1)] == ["b/1"]
    assert session.subscriptions == {"b/#": 0}
    assert session.status.attempt == 0  # no reconnect happened


def test_resubscribes_after_broker_restart(mosquitto, mosquitto_pub, sessions):
    session = _start(sessions, _session(mosquitto))
    assert session.wait_connected(10)
    session.subscribe("r/#").result(10)
    states: list[SessionState] = []
    session.add_status_listener(lambda status: states.append(status.state))
    mosquitto.stop(kill=True)
    wait_until(lambda: not session.is_connected, 10, message="disconnect noticed")
    mosquitto.start()
    wait_until(lambda: session.is_connected, 30, message="reconnected")
    assert SessionState.RECONNECTING in states

    def published_and_received() -> bool:
        subprocess.run([mosquitto_pub, "-p", str(mosquitto.port), "-t", "r/x", "-m", "after"], check=True)
        return any(r.topic == "r/x" for r in session.buffer.drain())

    # The SUBACK of the re-subscription races with our first publish; publishing again until one lands is the condition.
    wait_until(published_and_received, 15, interval=0.2, message="message after restart")


def test_unreachable_broker_reports_refused_and_retries(sessions):
    profile = ConnectionProfile(host="127.0.0.1", port=free_port())
    session = _start(sessions, MqttSession(profile))
    wait_until(lambda: session.status.state is SessionState.RECONNECTING, 10, message="reconnecting")
    assert "refused" in session.status.message.lower()
    assert session.status.attempt >= 1
    assert "Reconnecting (attempt" in session.status.text


def test_unknown_host_is_named(sessions):
    profile = ConnectionProfile(host="no-such-host.invalid", port=1883)
    session = _start(sessions, MqttSession(profile))
    wait_until(lambda: session.status.state is SessionState.RECONNECTING, 15, message="failed attempt")
    assert "Unknown host 'no-such-host.invalid'" in session.status.message


@pytest.fixture
def password_broker(mosquitto_factory, tmp_path):
    passwd = tmp_path / "passwd"
    passwd.touch()
    passwd.chmod(0o700)
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "alice", "s3cret"], check=True)
    return mosquitto_factory(f"allow_anonymous false\npassword_file {passwd}\n")


@pytest.mark.parametrize("version", [MQTT_V311, MQTT_V5])
def test_bad_credentials_stop_with_a_clear_message(password_broker, sessions, version):
    profile = ConnectionProfile(host="127.0.0.1", port=password_broker.port, username="alice", mqtt_version=version)
    session = _start(sessions, MqttSession(profile, password="wrong"))
    wait_until(lambda: session.status.state is SessionState.DISCONNECTED, 10, message="refused")
    assert session.status.message in ("Bad user name or password", "Not authorised to connect")
    assert not session.is_connected


def test_good_credentials_connect(password_broker, sessions):
    profile = ConnectionProfile(host="127.0.0.1", port=password_broker.port, username="alice")
    session = _start(sessions, MqttSession(profile, password="s3cret"))
    assert session.wait_connected(10), session.status


def test_untrusted_tls_certificate_is_refused_with_reason(mosquitto_factory, tmp_path, sessions):
    key, cert = tmp_path / "server.key", tmp_path / "server.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    broker = mosquitto_factory(f"allow_anonymous true\ncertfile {cert}\nkeyfile {key}\n")
    profile = ConnectionProfile(host="127.0.0.1", port=broker.port, tls=TlsSettings(enabled=True))
    session = _start(sessions, MqttSession(profile))
    wait_until(lambda: session.status.state is SessionState.DISCONNECTED, 15, message="TLS refusal")
    assert "certificate" in session.status.message.lower()
    insecure = ConnectionProfile(host="127.0.0.1", port=broker.port, tls=TlsSettings(enabled=True, verify=False))
    session2 = _start(sessions, MqttSession(insecure))
    assert session2.wait_connected(10), session2.status


def test_read_only_session_never_publishes(mosquitto, sessions):
    session = _start(sessions, _session(mosquitto, read_only=True))
    assert session.wait_connected(10)
    with pytest.raises(ReadOnlyError):
        session.publish("a/b", b"x")


@pytest.mark.parametrize("topic", ["a/+/b", "a/#", "", "a\x00b", "x" * 65536])
def test_invalid_publish_topics_are_refused_before_sending(mosquitto, sessions, topic):
    session = _start(sessions, _session(mosquitto))
    assert session.wait_connected(10)
    with pytest.raises(TopicError):
        session.publish(topic, b"x")


@pytest.mark.parametrize("topic_filter", ["a/#/b", "a+", "a/b#", ""])
def test_invalid_filters_are_refused_before_sending(mosquitto, sessions, topic_filter):
    session = _start(sessions, _session(mosquitto))
    with pytest.raises(TopicError):
        session.subscribe(topic_filter)
    assert session.subscriptions == {}


def test_publish_while_disconnected_says_so():
    session = MqttSession(ConnectionProfile(port=free_port()))
    with pytest.raises(SessionError, match="Not connected"):
        session.publish("a/b", b"x")


def test_reconnect_delay_grows_with_jitter_and_is_capped():
    delays = [reconnect_delay(n) for n in range(1, 20)]
    assert delays[0] <= 0.5
    assert max(delays) <= 30.0
    assert delays[-1] >= 15.0
    assert len({round(reconnect_delay(8), 6) for _ in range(20)}) > 1


def test_listener_that_never_answers_times_out_with_a_reason(sessions):
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.05)  # the acceptor checks for the end of the test between waits
    accepted: list[socket.socket] = []
    done = threading.Event()

    def accept_and_say_nothing() -> None:
        while not done.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    acceptor = threading.Thread(target=accept_and_say_nothing)
    acceptor.start()
    profile = ConnectionProfile(host="127.0.0.1", port=server.getsockname()[1])
    session = MqttSession(profile)
    session.connack_timeout = 0.5
    _start(sessions, session)
    try:
        wait_until(lambda: "no MQTT answer from" in session.status.message, 15, message="CONNACK timeout")
        assert session.status.state is SessionState.RECONNECTING
    finally:
        session.stop()
        # The acceptor ends before the socket it waits on is closed (closing it under a waiting
        # accept() was the "Bad file descriptor" a later test was blamed for).
        done.set()
        acceptor.join(5)
        server.close()
        for conn in accepted:
            conn.close()


def test_websockets_transport_connects_and_receives(mosquitto_factory, sessions):
    ws_port = free_port()
    broker = mosquitto_factory(f"allow_anonymous true\nlistener {ws_port} 127.0.0.1\nprotocol websockets\n")
    wait_for_port(ws_port)
    profile = ConnectionProfile(host="127.0.0.1", port=ws_port, transport="websockets", ws_path="/mqtt")
    session = _start(sessions, MqttSession(profile, buffer=IngestBuffer()))
    assert session.wait_connected(10), session.status
    assert profile.address == f"ws://127.0.0.1:{ws_port}"
    session.subscribe("ws/#").result(10)
    session.publish("ws/hello", b"over websockets", qos=1).result(10)
    assert [r.payload for r in _drain_until(session, 1)] == [b"over websockets"]
    assert broker.port != ws_port

