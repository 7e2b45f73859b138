"""EmbeddedBroker against real broker processes and real paho clients (no mocks).

Every test runs for both backends. Mosquitto tests are skipped when it is not installed,
unless EVENTSCOPE_REQUIRE_MOSQUITTO=1, which turns the skip into a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from eventscope.core.demo.embedded_broker import BrokerStartError, EmbeddedBroker, find_mosquitto, loopback_port_in_use
from tests.conftest import free_port, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIRE_MOSQUITTO = os.environ.get("EVENTSCOPE_REQUIRE_MOSQUITTO") == "1"
TIMEOUT = 5.0


@pytest.fixture(params=[pytest.param("mosquitto", marks=pytest.mark.mosquitto), "iotcore"])
def backend(request) -> str:
    if request.param == "mosquitto" and find_mosquitto() is None:
        if REQUIRE_MOSQUITTO:
            pytest.fail("mosquitto is not installed but EVENTSCOPE_REQUIRE_MOSQUITTO=1")
        pytest.skip("mosquitto is not installed; set EVENTSCOPE_REQUIRE_MOSQUITTO=1 to fail instead")
    return request.param


@pytest.fixture
def broker(backend) -> Iterator[EmbeddedBroker]:
    embedded = EmbeddedBroker(backend=backend).start()
    yield embedded
    embedded.stop()


class TestClient:
    """A connected paho client that records what it receives."""

    __test__ = False  # not a pytest test class

    def __init__(self, broker: EmbeddedBroker, mqtt_version: int, client_id: str) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._connected = threading.Event()
        self._acked_mids: set[int] = set()
        protocol = mqtt.MQTTv5 if mqtt_version == 5 else mqtt.MQTTv311
        self.paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        self.paho.on_connect = self._on_connect
        self.paho.on_subscribe = lambda _c, _u, mid, _codes, _props: self._acked_mids.add(mid)
        self.paho.on_message = lambda _c, _u, message: self.messages.append(message)
        self.paho.connect(broker.host, broker.port_for(mqtt_version), keepalive=30)
        self.paho.loop_start()
        wait_until(self._connected.is_set, TIMEOUT, message=f"{client_id} CONNACK (MQTT v{mqtt_version})")

    def _on_connect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        if not reason_code.is_failure:
            self._connected.set()

    def subscribe(self, topic_filter: str) -> None:
        _result, mid = self.paho.subscribe(topic_filter, qos=1)
        wait_until(lambda: mid in self._acked_mids, TIMEOUT, message=f"SUBACK for {topic_filter}")

    def wait_for_messages(self, count: int = 1) -> list[mqtt.MQTTMessage]:
        wait_until(lambda: len(self.messages) >= count, TIMEOUT, message=f"{count} message(s)")
        return self.messages

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


@pytest.fixture
def connect(broker) -> Iterator:
    """Connect paho clients to the broker; all are disconnected at teardown."""
    clients: list[TestClient] = []

    def make(client_id: str, mqtt_version: int = 5) -> TestClient:
        client = TestClient(broker, mqtt_version, client_id)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _is_gone(pid: int) -> bool:
    """True if ``pid`` no longer runs (a zombie awaiting an absent reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_auto_picks_mosquitto_when_installed() -> None:
    expected = "mosquitto" if find_mosquitto() else "iotcore"
    assert EmbeddedBroker().backend == expected


def test_port_for_maps_protocol_versions(backend) -> None:
    embedded = EmbeddedBroker(backend=backend)
    assert embedded.port_for(5) == embedded.port
    assert embedded.port_for(4) == embedded.port_v311
    assert (embedded.port_v311 == embedded.port) == (backend == "mosquitto")
    assert embedded.url == f"mqtt://127.0.0.1:{embedded.port}"
    with pytest.raises(ValueError):
        embedded.port_for(6)


def test_start_then_stop_releases_the_ports(backend) -> None:
    port = free_port()
    with EmbeddedBroker(port=port, backend=backend) as embedded:
        assert embedded.is_running and embedded.pid is not None
        assert embedded.backend == backend
        for listening_port in (embedded.port, embedded.port_v311):
            socket.create_connection(("127.0.0.1", listening_port), timeout=TIMEOUT).close()
        ports = (embedded.port, embedded.port_v311)
    assert not embedded.is_running
    assert not any(loopback_port_in_use(p) for p in ports)
    # The same port can be taken again straight away.
    EmbeddedBroker(port=port, backend=backend).start().stop()


def test_v5_request_reply_keeps_response_topic_correlation_data_and_user_properties(connect) -> None:
    responder = connect("responder")
    requester = connect("requester")
    responder.subscribe("eventscope/test/request/#")
    requester.subscribe("eventscope/test/reply/requester")

    def reply(client, _userdata, request: mqtt.MQTTMessage) -> None:
        reply_properties = Properties(PacketTypes.PUBLISH)
        reply_properties.CorrelationData = request.properties.CorrelationData
        reply_properties.UserProperty = [("handled-by", "responder")]
        client.publish(request.properties.ResponseTopic, b"pong:" + request.payload, qos=1, properties=reply_properties)
        responder.messages.append(request)

    responder.paho.on_message = reply
    request_properties = Properties(PacketTypes.PUBLISH)
    request_properties.ResponseTopic = "eventscope/test/reply/requester"
    request_properties.CorrelationData = b"\x00corr-42\xff"
    request_properties.UserProperty = [("region", "eu-west"), ("trace", "abc")]
    request_properties.ContentType = "application/json"
    requester.paho.publish("eventscope/test/request/ping", b"ping", qos=1, properties=request_properties)

    request = responder.wait_for_messages()[0]
    assert request.properties.ResponseTopic == "eventscope/test/reply/requester"
    assert request.properties.CorrelationData == b"\x00corr-42\xff"
    assert request.properties.UserProperty == [("region", "eu-west"), ("trace", "abc")]
    assert request.properties.ContentType == "application/json"

    answer = requester.wait_for_messages()[0]
    assert answer.topic == "eventscope/test/reply/requester"
    assert answer.payload == b"pong:ping"
    assert answer.properties.CorrelationData == b"\x00corr-42\xff"
    assert answer.properties.UserProperty == [("handled-by", "responder")]


def test_v311_client_publishes_and_subscribes_on_its_port(connect) -> None:
    subscriber_v311 = connect("subscriber-v311", mqtt_version=4)
    subscriber_v5 = connect("subscriber-v5", mqtt_version=5)
    publisher_v311 = connect("publisher-v311", mqtt_version=4)
    subscriber_v311.subscribe("eventscope/test/legacy/+")
    subscriber_v5.subscribe("eventscope/test/legacy/+")

    publisher_v311.paho.publish("eventscope/test/legacy/a", b"from 3.1.1", qos=1)

    for subscriber in (subscriber_v311, subscriber_v5):
        message = subscriber.wait_for_messages()[0]
        assert (message.topic, message.payload) == ("eventscope/test/legacy/a", b"from 3.1.1")


def test_retained_message_reaches_late_subscriber(connect) -> None:
    publisher = connect("publisher")
    publisher.paho.publish("eventscope/test/status", b"online", qos=1, retain=True).wait_for_publish(TIMEOUT)

    late = connect("late-subscriber")
    late.subscribe("eventscope/test/#")

    message = late.wait_for_messages()[0]
    assert (message.topic, message.payload, message.retain) == ("eventscope/test/status", b"online", True)


def test_start_on_busy_port_raises_naming_the_port(backend) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy_port = squatter.getsockname()[1]
        embedded = EmbeddedBroker(port=busy_port, backend=backend)
        with pytest.raises(BrokerStartError, match=str(busy_port)):
            embedded.start()
        assert not embedded.is_running and embedded.pid is None


def test_start_on_port_of_running_broker_raises(broker) -> None:
    with pytest.raises(BrokerStartError, match=str(broker.port)):
        EmbeddedBroker(port=broker.port, backend=broker.backend).start()
    assert broker.is_running


def test_stop_is_idempotent(backend) -> None:
    embedded = EmbeddedBroker(backend=backend)
    embedded.stop()  # never started
    embedded.start()
    embedded.stop()
    embedded.stop()
    assert not embedded.is_running and embedded.pid is None


def test_child_processes_are_gone_after_stop(backend) -> None:
    own_children_before = {child.pid for child in psutil.Process().children(recursive=True)}
    embedded = EmbeddedBroker(backend=backend).start()
    broker_pid = embedded.pid
    assert psutil.pid_exists(broker_pid)
    started = {child.pid for child in psutil.Process().children(recursive=True)} - own_children_before
    assert broker_pid in started

    embedded.stop()

    for pid in started:  # the broker and, for Mosquitto, its watchdog
        assert _is_gone(pid), f"process {pid} still runs after stop()"


def test_broker_dies_when_its_owner_is_killed(backend, tmp_path) -> None:
    owner_script = (
        "import threading\n"
        "from eventscope.core.demo.embedded_broker import EmbeddedBroker\n"
        f"broker = EmbeddedBroker(backend={backend!r}).start()\n"
        "print(broker.pid, broker.port, flush=True)\n"
        "threading.Event().wait()\n"  # block until this test kills the owner
    )
    # The killed owner cannot remove its broker's temp dir; keep it inside tmp_path.
    owner_env = {**os.environ, "TMPDIR": str(tmp_path)}
    owner = subprocess.Popen(
        [sys.executable, "-c", owner_script], cwd=REPO_ROOT, env=owner_env, stdout=subprocess.PIPE, text=True
    )
    try:
        broker_pid, port = map(int, owner.stdout.readline().split())
        assert not _is_gone(broker_pid)
        owner.kill()  # SIGKILL: no atexit, no cleanup: only the pipe/watchdog can help
        owner.wait(TIMEOUT)
        wait_until(lambda: _is_gone(broker_pid), TIMEOUT, message=f"broker {broker_pid} to exit after its owner died")
        wait_until(lambda: not loopback_port_in_use(port), TIMEOUT, message=f"port {port} to be released")
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(TIMEOUT)
        owner.stdout.close()
