"""The window on RabbitMQ's MQTT plugin: a broker that withholds retained messages from '#' says so."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import MQTT_V311, ConnectionProfile
from eventscope.gui.models.broker_table_model import NO_RETAINED, NO_RETAINED_TIP, NOTES
from tests.gui.conftest import run_until

pytestmark = pytest.mark.rabbitmq


def _publish_retained(port: int, topic: str, payload: bytes, version: int = MQTT_V311) -> None:
    session = MqttSession(ConnectionProfile(name="retainer", host="127.0.0.1", port=port, mqtt_version=version),
                          buffer_messages=False)
    session.start()
    try:
        assert session.wait_connected(10), session.status
        session.publish(topic, payload, qos=1, retain=True).result(10)
    finally:
        session.stop()


def test_a_broker_that_withholds_retained_messages_from_wildcards_is_flagged(window, qloop, rabbitmq, mosquitto):
    _publish_retained(rabbitmq, "plant/line1/state", b"running")
    _publish_retained(mosquitto.port, "plant/line1/state", b"running", version=5)
    window.add_broker(ConnectionProfile(name="rabbit", host="127.0.0.1", port=rabbitmq, mqtt_version=MQTT_V311))
    window.add_broker(ConnectionProfile(name="mosquitto", host="127.0.0.1", port=mosquitto.port))
    model = window.brokers_panel.model
    # RabbitMQ delivers the retained message only to an exact-topic subscription, so '#' sees nothing:
    # the row says so (with the reason in its tooltip) instead of leaving a silently empty tree.
    run_until(qloop, lambda: NO_RETAINED in (model.index(0, NOTES).data() or ""), timeout=15,
              message="the hint on RabbitMQ's row")
    assert model.index(0, NOTES).data(Qt.ToolTipRole) == NO_RETAINED_TIP
    tree = window.context.workspace.tree
    run_until(qloop, lambda: tree.node("plant/line1/state", "mosquitto") is not None, message="Mosquitto's retained")
    assert tree.node("plant/line1/state", "mosquitto").retained
    assert NO_RETAINED not in (model.index(1, NOTES).data() or "")  # Mosquitto delivers it
