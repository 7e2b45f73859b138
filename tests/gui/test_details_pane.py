"""The details pane: any view's message, a tree topic's history/plot/diff, decoders, and plain text everywhere."""

from __future__ import annotations

import json

import cbor2
import pytest
from PySide6.QtCore import Qt

from eventscope.core.models.topic_tree import TopicTree
from eventscope.core.records import MessageProperties, MessageRecord
from eventscope.gui.views.details_pane import DetailsPane
from tests.conftest import wait_until

HTML = "<b>x</b><img src=x>"


@pytest.fixture
def pane(context, qtbot):
    widget = DetailsPane(context)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_message_from_any_view_is_shown_as_plain_text(context, pane):
    props = MessageProperties(content_type="text/html", user_properties=(("k", "<i>v</i>"),))
    context.messageSelected.emit(MessageRecord("streams/<b>t</b>", HTML.encode(), qos=1, retain=True, received=1.0,
                                               properties=props))
    assert pane.topic_edit.text() == "streams/<b>t</b>"
    assert pane.payload_edit.toPlainText() == HTML
    assert pane.qos_label.text() == "QoS 1" and pane.retain_label.text() == "retained"
    assert pane.size_label.text() == f"{len(HTML)} B" and pane.truncated_label.text() == ""
    assert json.loads(pane.properties_label.text()) == {"content_type": "text/html", "user_properties": [["k", "<i>v</i>"]]}
    for label in (pane.qos_label, pane.retain_label, pane.size_label, pane.properties_label, pane.truncated_label,
                  pane.time_label, pane.decoder_note):
        assert label.textFormat() == Qt.PlainText


def test_decoder_switch_and_fallback(context, pane, qtbot):
    payload = cbor2.dumps({"temp": 21})
    context.messageSelected.emit(MessageRecord("cbor/t", payload, received=1.0))
    assert pane.decoder_note.text() == "auto: Hex dump"
    assert pane.payload_edit.toPlainText().startswith("00000000  a1 64 74 65 6d 70")
    pane.decoder_combo.setCurrentIndex(pane.decoder_combo.findData("cbor"))
    assert json.loads(pane.payload_edit.toPlainText()) == {"temp": 21}
    pane.decoder_combo.setCurrentIndex(pane.decoder_combo.findData("json"))
    assert pane.decoder_note.text().startswith("Not valid JSON")
    pane.decoder_combo.setCurrentIndex(pane.decoder_combo.findData("base64"))
    assert pane.payload_edit.toPlainText() == "oWR0ZW1wFQ=="


def test_tree_topic_shows_history_plot_and_diff_and_follows_new_messages(context, pane, qtbot):
    tree = TopicTree()
    tree.apply([MessageRecord("s/t", json.dumps({"v": v, "unit": "C"}).encode(), received=100.0 + v) for v in (1, 2, 3)])
    node = tree.node("s/t")
    context.topicSelected.emit(node)
    assert pane.history_list.count() == 3
    assert pane.plot_field.currentText() == "v"
    assert pane.plotted_values == [1.0, 2.0, 3.0]
    assert json.loads(pane.payload_edit.toPlainText()) == {"v": 3, "unit": "C"}
    assert pane.diff_edit.toPlainText() == ""  # worked out only when the Diff tab is opened
    pane.tabs.setCurrentWidget(pane.diff_tabs)
    assert '-  "v": 2,' in pane.diff_edit.toPlainText() and '+  "v": 3,' in pane.diff_edit.toPlainText()
    pane.history_list.setCurrentRow(2)  # the oldest: nothing before it
    assert json.loads(pane.payload_edit.toPlainText())["v"] == 1
    assert pane.diff_edit.toPlainText() == "(no previous message to compare with)"
    pane.history_list.setCurrentRow(0)
    tree.apply([MessageRecord("s/t", b'{"v": 10, "unit": "C"}', received=200.0)])
    qtbot.waitUntil(lambda: pane.history_list.count() == 4)
    assert json.loads(pane.payload_edit.toPlainText())["v"] == 10
    assert pane.plotted_values == [1.0, 2.0, 3.0, 10.0]


def test_plain_numbers_plot_and_history_items_are_literal(context, pane):
    tree = TopicTree()
    tree.apply([MessageRecord("n", str(v).encode(), received=float(v)) for v in (5, 7.5)] +
               [MessageRecord("n", HTML.encode(), received=9.0)])
    context.topicSelected.emit(tree.node("n"))
    assert pane.plot_field.currentText() == "(payload)"
    assert pane.plotted_values == [5.0, 7.5]
    assert pane.history_list.item(0).text().endswith(HTML)
    assert pane.payload_edit.toPlainText() == HTML
    assert pane.plot_note.text() == "2 numeric values of 3"


def test_truncated_and_binary_messages(context, pane):
    tree = TopicTree(display_limit=64)
    tree.apply([MessageRecord("big", b"\x00\xff" * 100, received=1.0)])
    context.topicSelected.emit(tree.node("big"))
    assert pane.truncated_label.text() == "truncated: showing the first 64 of 200 B"
    assert pane.payload_edit.toPlainText().splitlines()[0] == ("00000000  00 ff 00 ff 00 ff 00 ff 00 ff 00 ff 00 ff 00 ff"
                                                               "  ................")
    wait_until(lambda: pane.size_label.text() == "200 B")


def test_a_16_mib_audit_row_shows_its_first_mebibyte_and_its_whole_size(context, pane):
    from eventscope.core.models.topic_tree import DEFAULT_DISPLAY_LIMIT

    payload = b'{"blob": "' + b"x" * (16 * 1024 * 1024) + b'"}'
    context.messageSelected.emit(MessageRecord("audit/big", payload, received=1.0))
    assert pane.size_label.text() == f"{len(payload)} B"
    assert pane.truncated_label.text() == f"truncated: showing the first {DEFAULT_DISPLAY_LIMIT} of {len(payload)} B"
    assert DEFAULT_DISPLAY_LIMIT <= len(pane.payload_edit.toPlainText()) < DEFAULT_DISPLAY_LIMIT + 1024
    assert pane.minimumSizeHint().width() < 500  # the note is elided: it never widens the pane


def test_a_large_diff_compares_a_bounded_number_of_lines(context, pane):
    rows = [{"id": i, "s": "x"} for i in range(1_500)]  # about 6,000 pretty-printed lines
    tree = TopicTree()
    tree.apply([MessageRecord("big/t", json.dumps(rows).encode(), received=1.0),
                MessageRecord("big/t", json.dumps(rows[:-1] + [{"id": -1, "s": "y"}]).encode(), received=2.0)])
    context.topicSelected.emit(tree.node("big/t"))
    pane.tabs.setCurrentWidget(pane.diff_tabs)
    assert pane.diff_edit.toPlainText().endswith("(compared the first 2,000 lines only)")
    assert pane.diff_old.document().blockCount() == 2_000
