"""Fixtures shared by core and GUI tests: real broker processes on free loopback ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REQUIRE_MOSQUITTO = os.environ.get("EVENTSCOPE_REQUIRE_MOSQUITTO") == "1"
MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)  # polling with a deadline, not synchronisation
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def wait_until(condition, timeout: float = 10.0, interval: float = 0.02, message: str = "condition") -> None:
    """Poll ``condition`` until it is truthy or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)  # polling with a deadline, not synchronisation
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@dataclass
class MosquittoBroker:
    """A real Mosquitto process started for a test; stopped by its PID."""

    port: int
    workdir: Path
    extra_config: str = ""
    process: subprocess.Popen | None = None
    host: str = "127.0.0.1"
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> None:
        config = self.workdir / "mosquitto.conf"
        # As root, Mosquitto drops to user 'mosquitto', which cannot read the test's private temp dir.
        run_as = "user root\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
        config.write_text(
            run_as
            + f"listener {self.port} 127.0.0.1\n"
            f"persistence true\npersistence_location {self.workdir}/\n"
            f"log_dest file {self.log_path}\n"
            "max_queued_messages 100000\n"
            + (self.extra_config or "allow_anonymous true\n")
        )
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.stop()
            raise

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def _require_mosquitto() -> None:
    if MOSQUITTO is None:
        if REQUIRE_MOSQUITTO:
            pytest.fail("mosquitto is not installed but EVENTSCOPE_REQUIRE_MOSQUITTO=1")
        pytest.skip("mosquitto is not installed (apt-get install mosquitto); "
                    "set EVENTSCOPE_REQUIRE_MOSQUITTO=1 to fail instead")


def _client_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if REQUIRE_MOSQUITTO:
            pytest.fail(f"{name} is not installed but EVENTSCOPE_REQUIRE_MOSQUITTO=1")
        pytest.skip(f"{name} is not installed (apt-get install mosquitto-clients)")
    return path


@pytest.fixture
def mosquitto_factory(tmp_path) -> Iterator:
    """Start Mosquitto brokers with extra config lines; all are stopped at teardown."""
    _require_mosquitto()
    started: list[MosquittoBroker] = []

    def start(extra_config: str = "", port: int | None = None) -> MosquittoBroker:
        workdir = tmp_path / f"mosquitto{len(started)}"
        workdir.mkdir()
        broker = MosquittoBroker(port=port or free_port(), workdir=workdir, extra_config=extra_config)
        broker.start()
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


MESH_REGIONS = ("us-east", "us-west", "eu-central")


@pytest.fixture
def mosquitto_mesh(mosquitto_factory) -> dict[str, MosquittoBroker]:
    """Three regional Mosquittos joined into a mesh: us-west and eu-central bridge to the us-east hub.

    The bridges carry ``+/hello/#`` both ways over MQTT 5 (so response topic and correlation data
    survive) with TCP_NODELAY; anything else stays on its own broker.
    """
    hub = mosquitto_factory("allow_anonymous true\nset_tcp_nodelay true\n")
    mesh = {MESH_REGIONS[0]: hub}
    for region in MESH_REGIONS[1:]:
        mesh[region] = mosquitto_factory(
            "allow_anonymous true\nset_tcp_nodelay true\n"
            f"connection {region}-to-hub\naddress 127.0.0.1:{hub.port}\ntopic +/hello/# both 1\n"
            "bridge_protocol_version mqttv50\ncleansession true\ntry_private true\nrestart_timeout 1\n")
    for region in MESH_REGIONS[1:]:
        wait_until(lambda r=region: f"{r}-to-hub" in hub.log_path.read_text(errors="replace"), timeout=15,
                   message=f"the {region} bridge to connect")
    return mesh


@pytest.fixture
def mosquitto(mosquitto_factory) -> MosquittoBroker:
    """A real anonymous Mosquitto on a free loopback port."""
    return mosquitto_factory()


@pytest.fixture
def mosquitto_pub() -> str:
    return _client_tool("mosquitto_pub")


@pytest.fixture
def mosquitto_sub() -> str:
    return _client_tool("mosquitto_sub")


@pytest.fixture
def mosquitto_rr() -> str:
    return _client_tool("mosquitto_rr")


def publish_raw(port: int, messages: list[tuple[str, bytes]], properties: list[dict | None] | None = None) -> None:
    """Publish with a plain paho MQTT 5 client (QoS 1, waits for every PUBACK): an outside publisher,
    like the devices Eventscope watches. ``properties`` holds paho property names per message."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = []
        for i, (topic, payload) in enumerate(messages):
            props = None
            if properties and properties[i]:
                props = Properties(PacketTypes.PUBLISH)
                for name, value in properties[i].items():
                    setattr(props, name, value)
            infos.append(client.publish(topic, payload, qos=1, properties=props))
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Keep settings, data and keychain writes of every test out of the user's real directories."""
    home = tmp_path_factory.mktemp("home")
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    return home


RABBITMQ = "/usr/lib/rabbitmq/bin/rabbitmq-server"
REQUIRE_RABBITMQ = os.environ.get("EVENTSCOPE_REQUIRE_RABBITMQ") == "1"
RABBITMQ_START_SECONDS = 60


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory):
    """RabbitMQ's MQTT plugin (3.1.1) on a free loopback port, started once per run; yields the MQTT port.

    It runs in a private folder with its own epmd pinned to loopback (by default epmd listens on
    every interface and outlives the broker); both are stopped by their process group.
    """
    if not Path(RABBITMQ).exists() or shutil.which("epmd") is None:
        if REQUIRE_RABBITMQ:
            pytest.fail("rabbitmq-server is not installed but EVENTSCOPE_REQUIRE_RABBITMQ=1")
        pytest.skip("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
    home = tmp_path_factory.mktemp("rabbitmq")
    epmd_port, amqp, mqtt, dist = free_port(), free_port(), free_port(), free_port()
    (home / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{amqp}\nmqtt.listeners.tcp.default = 127.0.0.1:{mqtt}\n"
        "mqtt.allow_anonymous = true\nloopback_users = none\n")
    (home / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")
    env = dict(os.environ, HOME=str(home), RABBITMQ_NODENAME=f"eventscope{mqtt}@localhost",
               RABBITMQ_CONFIG_FILE=str(home / "rabbitmq"), RABBITMQ_ENABLED_PLUGINS_FILE=str(home / "enabled_plugins"),
               RABBITMQ_MNESIA_BASE=str(home / "mnesia"), RABBITMQ_LOG_BASE=str(home / "log"),
               RABBITMQ_FEATURE_FLAGS_FILE=str(home / "feature_flags"),
               RABBITMQ_PLUGINS_EXPAND_DIR=str(home / "plugins-expand"), RABBITMQ_PID_FILE=str(home / "pid"),
               RABBITMQ_NODE_IP_ADDRESS="127.0.0.1", RABBITMQ_DIST_PORT=str(dist),
               RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
               ERL_EPMD_PORT=str(epmd_port), ERL_EPMD_ADDRESS="127.0.0.1")
    epmd = subprocess.Popen(["epmd", "-port", str(epmd_port), "-address", "127.0.0.1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = open(home / "server.log", "w")
    server = subprocess.Popen([RABBITMQ], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(mqtt, timeout=RABBITMQ_START_SECONDS)
        yield mqtt
    except TimeoutError:
        pytest.fail(f"RabbitMQ did not listen within {RABBITMQ_START_SECONDS} s: "
                    f"{(home / 'server.log').read_text()[-2000:]}")
    finally:
        for process in (server, epmd):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(10)
        log.close()


REQUIRE_POSTGRES = os.environ.get("EVENTSCOPE_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server (Debian's), started once per run on a free loopback port; stopped by PID."""
    from tests.helpers.postgres import PostgresServer, find_pg_bin

    bin_dir = find_pg_bin()
    if bin_dir is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL's server is not installed but EVENTSCOPE_REQUIRE_POSTGRES=1")
        pytest.skip("PostgreSQL's server is not installed (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="pip install 'eventscope[postgres]'")
    server = PostgresServer(bin_dir, free_port())
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.remove()


@pytest.fixture
def pg_url(postgres, request):
    """A fresh, empty database on the test server; its superuser URL."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50] + f"_{os.getpid()}"
    postgres.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    postgres.admin(f'CREATE DATABASE "{name}"')
    return postgres.url(name)
