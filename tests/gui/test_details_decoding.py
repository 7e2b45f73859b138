"""The details pane in the window: Sparkplug DATA by name after a BIRTH (through a real Mosquitto), a decoder
remembered per topic, a coloured side-by-side diff, and several numeric fields on a time axis."""

from __future__ import annotations

import json

from eventscope.core.models.topic_tree import TopicTree
from eventscope.core.profile import ConnectionProfile
from eventscope.core.records import MessageRecord
from eventscope.core.sparkplug.payload import MetricValue, encode_payload
from tests.conftest import publish_raw
from tests.gui.conftest import run_until


def _plant(window, port: int, qloop) -> None:
    """The window on one broker named plant, subscribed to everything."""
    window.add_broker(ConnectionProfile(name="plant", host="127.0.0.1", port=port))
    session = window.context.session
    run_until(qloop, lambda: session.is_connected, message="connected")
    session.subscribe("#").result(10)


def _birth(temperature_name: str) -> bytes:
    return encode_payload([MetricValue(21.5, "Double", name=temperature_name, alias=7),
                           MetricValue(True, "Boolean", name="running", alias=8)], seq=0)


def test_sparkplug_data_by_alias_is_shown_by_name_after_its_birth(window, mosquitto, qloop):
    _plant(window, mosquitto.port, qloop)
    birth = _birth("temperature")
    data = encode_payload([MetricValue(22.25, "Double", alias=7)], seq=1)
    publish_raw(mosquitto.port, [("spBv1.0/factory/DBIRTH/edge-1/pump-1", birth),
                                 ("spBv1.0/factory/DDATA/edge-1/pump-1", data)])
    tree = window.context.workspace.tree
    run_until(qloop, lambda: tree.node("spBv1.0/factory/DDATA/edge-1/pump-1", "plant") is not None, message="DDATA")
    window.details_dock.raise_()
    window.context.topicSelected.emit(tree.node("spBv1.0/factory/DDATA/edge-1/pump-1", "plant"))
    pane = window.details_pane
    text = pane.payload_edit.toPlainText()
    assert "temperature" in text and "22.25" in text  # the alias resolved from the BIRTH
    assert "Sparkplug" in pane.decoder_note.text()


def test_a_decoder_picked_for_one_topic_is_remembered_for_it_alone(window):
    pane = window.details_pane
    pane.context.messageSelected.emit(MessageRecord("a/hex", b'{"x": 1}', received=1.0))
    index = pane.decoder_combo.findData("hex")
    pane.decoder_combo.setCurrentIndex(index)
    pane.decoder_combo.activated.emit(index)  # as a user's pick in the combo box
    assert pane.payload_edit.toPlainText().startswith("00000000")
    pane.context.messageSelected.emit(MessageRecord("b/json", b'{"x": 2}', received=2.0))
    assert pane.decoder_combo.currentData() == "auto" and '"x": 2' in pane.payload_edit.toPlainText()
    pane.context.messageSelected.emit(MessageRecord("a/hex", b'{"x": 3}', received=3.0))
    assert pane.decoder_combo.currentData() == "hex" and pane.payload_edit.toPlainText().startswith("00000000")


def test_diff_is_coloured_side_by_side_and_the_plot_shows_every_field_over_time(window):
    pane = window.details_pane
    tree = TopicTree()
    values = ({"t": 20.0, "h": 40, "unit": "C"}, {"t": 21.0, "h": 41, "unit": "C"})
    tree.apply([MessageRecord("s/t", json.dumps(v, indent=1).encode(), received=1_700_000_000.0 + i)
                for i, v in enumerate(values)])
    pane.show_topic(tree.node("s/t"))
    pane.tabs.setCurrentWidget(pane.diff_tabs)
    removed, added = pane.changed_lines
    assert removed and added and len(pane.diff_old.extraSelections()) == len(removed)
    assert len(pane.diff_new.extraSelections()) == len(added)
    assert '"t": 20.0' in pane.diff_old.toPlainText() and '"t": 21.0' in pane.diff_new.toPlainText()
    pane.plot_field.setCurrentIndex(pane.plot_field.findText("(all numeric fields)"))
    assert len(pane._extra_curves) == 1  # "t" on the main curve, "h" beside it
    xs, _ys = pane._extra_curves[0].getData()
    assert list(xs) == [1_700_000_000.0, 1_700_000_001.0]  # epoch seconds on a date axis


def test_a_profile_rule_decodes_protobuf_with_the_users_own_proto(window, mosquitto, qloop, tmp_path):
    from eventscope.core.decoding.protobuf_schemas import ProtoSchemas
    from eventscope.core.decoding.rules import DecoderRule
    from eventscope.core.profiles.store import StoredProfile

    (tmp_path / "telemetry.proto").write_text(
        'syntax = "proto3";\npackage acme;\nmessage Telemetry { double temp = 1; string site = 2; }\n')
    message_class = ProtoSchemas.from_paths([tmp_path]).message_class("acme.Telemetry")
    payload = message_class(temp=19.5, site="hall 3").SerializeToString()
    stored = StoredProfile(ConnectionProfile(name="factory", host="127.0.0.1", port=mosquitto.port),
                           decoder_rules=(DecoderRule.parse("factory/+/telemetry=protobuf:acme.Telemetry"),),
                           proto_paths=(str(tmp_path),))
    session = window.open_stored_profile(stored)
    run_until(qloop, lambda: session.is_connected, message="connected")
    session.subscribe("#").result(10)
    publish_raw(mosquitto.port, [("factory/line1/telemetry", payload)])
    tree = window.context.workspace.tree
    run_until(qloop, lambda: tree.node("factory/line1/telemetry", "factory") is not None, message="the message")
    pane = window.details_pane

    def shown() -> bool:  # the schemas compile on a worker thread; show the topic until they are in
        pane.show_topic(tree.node("factory/line1/telemetry", "factory"))
        return "hall 3" in pane.payload_edit.toPlainText()

    run_until(qloop, shown, timeout=30, message="the decoded message")
    assert "19.5" in pane.payload_edit.toPlainText()
    assert pane.decoder_note.text() == "decoded by rule 1: factory/+/telemetry → protobuf acme.Telemetry"


def test_a_sparkplug_device_expands_into_its_metrics_with_values_to_plot(window, mosquitto, qloop):
    _plant(window, mosquitto.port, qloop)
    birth = _birth("sensors/temperature")
    publish_raw(mosquitto.port, [("spBv1.0/factory/DBIRTH/edge-1/pump-1", birth)] +
                [("spBv1.0/factory/DDATA/edge-1/pump-1", encode_payload([MetricValue(v, "Double", alias=7)], seq=i))
                 for i, v in enumerate((22.0, 22.5, 23.0), start=1)])
    tree = window.context.workspace.tree
    metric = "spBv1.0/factory/metrics/edge-1/pump-1/sensors/temperature"
    run_until(qloop, lambda: tree.node(metric, "plant") is not None and tree.node(metric, "plant").last.payload == b"23.0",
              message="the metric's node with the newest DATA value")
    assert tree.node("spBv1.0/factory/metrics/edge-1/pump-1/running", "plant").last.payload == b"true"
    pane = window.details_pane
    pane.show_topic(tree.node(metric, "plant"))
    values = pane.plotted_values  # the BIRTH's value, then the newest DATA value of each frame
    assert values[0] == 21.5 and values[-1] == 23.0 and set(values) <= {21.5, 22.0, 22.5, 23.0}
    run_until(qloop, lambda: window.topic_tree.select_topic(metric), message="the metric in the tree view")


def test_sparkplug_history_is_decoded_and_seq_notes_are_those_of_arrival_shown_at_the_top(window, mosquitto, qloop):
    _plant(window, mosquitto.port, qloop)
    data = "spBv1.0/factory/DDATA/edge-1/pump-1"
    seqs = (1, 2, 3, 5)  # 4 was lost: only the last DATA has a gap
    publish_raw(mosquitto.port, [("spBv1.0/factory/DBIRTH/edge-1/pump-1", _birth("temperature"))] +
                [(data, encode_payload([MetricValue(20.0 + s, "Double", alias=7)], seq=s)) for s in seqs])
    tree = window.context.workspace.tree
    run_until(qloop, lambda: tree.node(data, "plant") is not None and tree.node(data, "plant").count == len(seqs),
              message="every DATA")
    window.details_dock.raise_()
    pane = window.details_pane
    pane.show_topic(tree.node(data, "plant"))
    rows = [pane.history_list.item(i).text() for i in range(pane.history_list.count())]
    assert len(rows) == len(seqs) and all('"temperature"' in row and "binary" not in row for row in rows), rows
    assert "seq gap: expected 4, got 5" in pane.decoder_note.text()  # the newest, beside how it decoded
    assert "seq gap" not in pane.payload_edit.toPlainText()  # not below the payload, out of view
    for row in range(1, len(seqs)):  # the older ones arrived in order: no false gap against the newest seq
        pane.history_list.setCurrentRow(row)
        assert "seq gap" not in pane.decoder_note.text(), (row, pane.decoder_note.text())


def test_a_message_picked_elsewhere_shows_its_topics_history_when_the_tree_has_it(window, mosquitto, qloop):
    _plant(window, mosquitto.port, qloop)
    publish_raw(mosquitto.port, [("plant/line1/temp", f"{20 + i}".encode()) for i in range(3)])
    tree = window.context.workspace.tree
    run_until(qloop, lambda: tree.node("plant/line1/temp", "plant") is not None
              and tree.node("plant/line1/temp", "plant").count == 3, message="three messages in the tree")
    pane = window.details_pane
    window.context.messageSelected.emit(MessageRecord("plant/line1/temp", b"21", received=1.0, broker_id="plant"))
    assert pane.history_list.count() == 3 and pane.payload_edit.toPlainText() == "21"  # as an audit row does
    window.context.messageSelected.emit(MessageRecord("never/seen", b"x", received=2.0, broker_id="plant"))
    assert [pane.history_list.item(i).text() for i in range(pane.history_list.count())] == [
        "No history here: this topic has not arrived since the window started"]
