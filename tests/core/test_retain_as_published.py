"""MQTT 5 subscriptions ask for retain-as-published: a retained message published while the monitor watches
is marked retained in the tree (3.1.1 cannot ask, and the broker clears the flag on live copies)."""

from __future__ import annotations

from eventscope.core.profile import MQTT_V311, ConnectionProfile
from eventscope.core.workspace.workspace import Workspace
from tests.conftest import wait_until


def _live_retained(mosquitto, version: int) -> bool:
    workspace = Workspace()
    try:
        connection = workspace.add_broker(ConnectionProfile(name="m", host="127.0.0.1", port=mosquitto.port,
                                                            mqtt_version=version), subscriptions=())
        assert connection.session.wait_connected(10)
        connection.session.subscribe("plant/#", qos=1).result(10)
        publisher = workspace.add_broker(ConnectionProfile(name="p", host="127.0.0.1", port=mosquitto.port),
                                         subscriptions=())
        assert publisher.session.wait_connected(10)
        publisher.session.publish(f"plant/v{version}/state", b"running", qos=1, retain=True).result(10)
        wait_until(lambda: workspace.tick_now() is not None and
                   workspace.tree.node(f"plant/v{version}/state", "m") is not None, message="the live message")
        return workspace.tree.node(f"plant/v{version}/state", "m").retained
    finally:
        workspace.close()


def test_a_live_retained_publish_is_shown_retained_on_mqtt5(mosquitto):
    assert _live_retained(mosquitto, 5) is True


def test_mqtt311_cannot_ask_so_the_live_copy_is_not_marked(mosquitto):
    assert _live_retained(mosquitto, MQTT_V311) is False
