"""A second, independent broker implementation: RabbitMQ's MQTT plugin (MQTT 3.1.1 only in 3.10).

The fixture starts RabbitMQ as root in a private folder on free loopback ports, with its own
epmd pinned to loopback (by default epmd listens on every interface and outlives the broker),
and stops both by their process group.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from core.profile import MQTT_V311, ConnectionProfile
from core.replier import Replier
from core.session import MqttSession
from core.stream_filter import StreamFilter
from core.workspace import Workspace
from tests.conftest import free_port, wait_for_port, wait_until

RABBITMQ = "/usr/lib/rabbitmq/bin/rabbitmq-server"
REQUIRE = os.environ.get("EVENTSCOPE_REQUIRE_RABBITMQ") == "1"
START_SECONDS = 60

pytestmark = pytest.mark.rabbitmq


@pytest.fixture(scope="module")
def rabbitmq(tmp_path_factory):
    if not Path(RABBITMQ).exists() or shutil.which("epmd") is None:
        if REQUIRE:
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
        wait_for_port(mqtt, timeout=START_SECONDS)
        yield mqtt
    except TimeoutError:
        pytest.fail(f"RabbitMQ did not listen within {START_SECONDS} s: {(home / 'server.log').read_text()[-2000:]}")
    finally:
        for process in (server, epmd):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(10)
        log.close()


def test_tree_stream_and_uncorrelated_request_reply_on_rabbitmq(rabbitmq):
    profile = ConnectionProfile(name="rabbit", host="127.0.0.1", port=rabbitmq, mqtt_version=MQTT_V311)
    replier_session = MqttSession(profile.with_changes(name="replier"), buffer_messages=False)
    replier_session.start()
    assert replier_session.wait_connected(10), replier_session.status
    replier = Replier(replier_session, topic_filter="+/hello/request", handler=lambda record: b"pong")
    replier.start().result(10)
    workspace = Workspace(connections_in_process=True)
    try:
        stream_id = workspace.add_stream(StreamFilter("+/hello/request"))
        connection = workspace.add_broker(profile, subscriptions=("#",))
        assert connection.session.wait_connected(10), connection.session.status
        wait_until(lambda: connection.session.subscriptions == {"#": 0}, message="subscribed")
        # 3.1.1 has no correlation data: the fixed reply topic's next message is the reply.
        reply = asyncio.run(connection.tracker.request("us-east/hello/request", b"ping", timeout=10))
        assert reply.payload == b"pong" and not reply.correlated and reply.reply_topic == "hello/response"
        rows = []

        def seen() -> bool:
            summary = workspace.tick()
            rows.extend(r.topic for d in summary.stream_deltas(stream_id) for r in d.appended)
            return workspace.tree.node("hello/response", "rabbit") is not None and rows
        wait_until(seen, message="the request and reply in the tree and the stream")
        assert rows == ["us-east/hello/request"]
        assert workspace.tree.node("us-east/hello/request", "rabbit").count == 1
    finally:
        workspace.close()
        replier.stop()
        replier_session.stop()
