"""Selecting any kind of node at 1024×700 never widens the window: long notes, properties and topics are
elided in the details pane (whole in their tooltips), and the tree keeps its share of the width."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QApplication

from eventscope.core.profile import ConnectionProfile
from eventscope.core.sparkplug.payload import MetricValue, encode_payload
from eventscope.gui.main_window import MainWindow
from tests.conftest import publish_raw
from tests.gui.conftest import run_until

LONG = "x" * 300
TOPICS = {
    "plant/json": json.dumps({"temperature": 21.5, "note": LONG}).encode(),
    "plant/binary": bytes(range(256)) * 4,
    "spBv1.0/factory/DDATA/edge-1/pump-1": encode_payload([MetricValue(22.25, "Double", alias=7)], seq=5),
    "plant/" + "very-long-level-" * 12 + "end": b"1",
    "plant/with-properties": b"{}",
}


def test_no_node_widens_the_window_at_1024x700(qtbot, context, mosquitto, qloop):
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port))
    window.resize(1024, 700)
    window.show()
    window.reset_layout()
    session = context.session
    run_until(qloop, lambda: session.is_connected, message="connected")
    session.subscribe("#").result(10)
    properties = [None] * len(TOPICS)
    properties[-1] = {"CorrelationData": bytes(200), "ResponseTopic": "reply/" + "r" * 200,
                      "UserProperty": [("trace", LONG)]}
    publish_raw(mosquitto.port, list(TOPICS.items()), properties)
    session.publish("plant/deleted", b"kept", qos=1, retain=True).result(10)
    tree = context.workspace.tree
    run_until(qloop, lambda: all(tree.node(t, "east") is not None for t in [*TOPICS, "plant/deleted"]),
              message="every topic in the tree")
    window.details_dock.raise_()
    view = window.topic_tree
    shown = ["east", *TOPICS, "plant/deleted"]
    session.publish("plant/deleted", b"", qos=1, retain=True).result(10)  # a deleted retained message
    for topic in shown:
        if topic == "east":  # the broker's root
            view.view.setCurrentIndex(view.view.model().index(0, 0))
        else:
            run_until(qloop, lambda t=topic: view.select_topic(t), message=f"{topic} in the tree view")
        QApplication.processEvents()
        assert (window.width(), window.height()) == (1024, 700), f"{topic} widened the window to {window.width()}"
        assert view.width() >= 0.3 * 1024, f"{topic}: the tree shrank to {view.width()} px"
    pane = window.details_pane
    assert view.select_topic("spBv1.0/factory/DDATA/edge-1/pump-1")
    QApplication.processEvents()
    assert pane.decoder_note.toolTip() == pane.decoder_note.text() != ""  # the whole note, on hover
    window.close()
