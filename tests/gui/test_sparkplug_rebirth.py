"""Sparkplug on a late connect: the window connects after the edge node's BIRTHs, so its DATA comes by alias.
Each unknown alias is a node of its own (never one shared name); Request rebirth sends the NCMD, the demo edge
node answers with its BIRTHs, and the metrics get their names. A read-only broker refuses the request."""

from __future__ import annotations

import pytest

from eventscope.core.demo.simulator import SimulatorRates, TrafficSimulator
from eventscope.core.mqtt.session import ReadOnlyError
from eventscope.core.profile import ConnectionProfile
from eventscope.core.sparkplug.edge import EdgeTiming
from eventscope.core.sparkplug.state import is_unnamed_metric
from eventscope.gui.main_window import MainWindow
from tests.gui.conftest import run_until
from tests.helpers.replay import Listener

METRICS = "spBv1.0/demo-plant/metrics/edge-1/pump-1"


def _child_names(model, node) -> list[str]:
    parent = model.node_index(node)
    return [model.index(row, 0, parent).data() for row in range(model.rowCount(parent))]


@pytest.fixture
def edge_node(mosquitto):
    """The demo's traffic (and its Sparkplug edge node), started before any window connects."""
    rates = SimulatorRates(requests_per_second=1.0, telemetry_interval=5.0, status_interval=30.0, binary_interval=30.0,
                           sparkplug=EdgeTiming(data_interval=0.2, gap_every=0, rebirth_interval=600.0))
    simulator = TrafficSimulator("127.0.0.1", mosquitto.port, rates=rates, seed=5)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.mark.parametrize("read_only", [False, True], ids=["read-write", "read-only"])
def test_a_late_connect_names_aliases_after_a_rebirth_request(qtbot, context, qloop, mosquitto, edge_node, read_only):
    commands = Listener(mosquitto.port, "spBv1.0/+/NCMD/#")
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    try:
        window.add_broker(ConnectionProfile(name="plant", host="127.0.0.1", port=mosquitto.port, read_only=read_only))
        run_until(qloop, lambda: context.session is not None and context.session.is_connected, message="connected")
        tree = context.workspace.tree
        alias_topic = f"{METRICS}/alias 1 (no BIRTH yet)"
        run_until(qloop, lambda: tree.node(alias_topic, "plant") is not None, 15, message="a DATA metric by alias")
        assert tree.node(f"{METRICS}/alias 2 (no BIRTH yet)", "plant") is not None  # one node per alias
        assert not any("unknown alias" in node.topic for node in tree.trees["plant"].root.walk())
        view = window.topic_tree
        run_until(qloop, lambda: view.select_topic(alias_topic), message="the alias node shown")
        pane = window.details_pane
        window.details_dock.raise_()
        run_until(qloop, lambda: pane.rebirth_button.isVisible(), message="Request rebirth offered in the details")
        menu = view.build_context_menu(tree.node(alias_topic, "plant"))
        rebirth = next(a for a in menu.actions() if a.objectName() == "actionRequestRebirth")
        if read_only:
            assert not rebirth.isEnabled()
            with pytest.raises(ReadOnlyError):
                context.request_rebirth("plant", alias_topic)
            pane.rebirth_button.click()
            assert pane.decoder_note.text().startswith("Rebirth not requested") and "read-only" in pane.decoder_note.text()
            assert commands.messages == []
            return
        assert rebirth.isEnabled()
        alias_arrivals = {message.received for message in tree.node(alias_topic, "plant").history or ()}
        rebirth.trigger()
        run_until(qloop, lambda: len(commands.messages) == 1, message="the NCMD at the broker")
        assert commands.messages[0][0] == "spBv1.0/demo-plant/NCMD/edge-1"
        run_until(qloop, lambda: tree.node(f"{METRICS}/Flow", "plant") is not None, 15, message="metrics by name")
        assert tree.node(f"{METRICS}/Running", "plant") is not None
        # The alias nodes leave the tree and the view; their values moved under the names.
        run_until(qloop, lambda: tree.node(alias_topic, "plant") is None, message="the alias node pruned")
        device = tree.node(METRICS, "plant")
        assert not any(is_unnamed_metric(child.name) for child in device.live_children())
        model = view.model
        run_until(qloop, lambda: not any(is_unnamed_metric(name) for name in _child_names(model, device)),
                  message="the alias rows gone from the view")
        assert sorted(_child_names(model, device)) == sorted(child.name for child in device.live_children())
        # The values that came by alias 1 are now in one named metric's history.
        assert alias_arrivals and any(alias_arrivals <= {message.received for message in child.history or ()}
                                      for child in device.live_children())
        run_until(qloop, lambda: "Rebirth requested" in view.status_label.text(), message="the status line says so")
    finally:
        commands.close()
